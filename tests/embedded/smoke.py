"""smoke.py - end-to-end smoke test of one embedded build, on loopback.

    /usr/bin/python3 tests/embedded/smoke.py BUILD_DIR [--qemu EMULATOR]
        [--arch arm|aarch64|x86_64] [--multi link|arg] [--rss]

The three programs of BUILD_DIR (run by EMULATOR, e.g. qemu-arm-static,
called directly; or natively) do one task through the private broker:
the tasker accepts it (202), a worker downloads it over HTTPS from a
private nginx that speaks TLS 1.3 ONLY, verifying the certificate against
the test CA, and the middleman pushes the `done` notification to a
WebSocket client. Checked: the programs are of the expected architecture,
the file's bytes and SHA-256, nginx's record of the connection (TLSv1.3 and
the cipher), a bad certificate still fails (verification is on), and a
clean exit 0 of each program on SIGTERM.

--multi link: the programs are BUILD_DIR/multi/<prog> links to the
multi-call `warren` (dispatch on argv[0]); --multi arg: BUILD_DIR/warren
<prog> (dispatch on the first argument).
--rss: also prints each program's resident memory at rest (VmRSS, native
runs only), the worker holding Debian's whole CA bundle after a download:
figures for the report, not a check (only the download is checked).

Needs the broker and nginx of tests/env (tests/embedded/run.sh starts
them). Prints "ok NAME" / "FAIL NAME: why", then "N passed, N failed".
"""

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integ"))
import harness  # noqa: E402
from harness import ENV  # noqa: E402

import websockets  # noqa: E402

# ELF e_machine of each architecture we build for.
MACHINES = {"arm": 0x28, "aarch64": 0xB7, "x86_64": 0x3E}
# Port of the TLS-1.3-only nginx: base+40 (base+10..14 are tests/env's
# nginx, base+20..29 the harness's extra brokers).
TLS13_OFFSET = 40
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"

results = []


def check(name, fn):
    """Runs one check; a check passes by returning."""
    harness.CURRENT_TEST = "embedded-" + name
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported
        results.append(False)
        print("FAIL %s: %s" % (name, str(e) or repr(e)), flush=True)
        return False
    results.append(True)
    print("ok   %s" % name, flush=True)
    return True


class Tls13Nginx:
    """A private nginx: TLS 1.3 only, certificate for localhost from the
    test CA, the test docroot, and an access log naming the protocol."""

    def __init__(self):
        self.port = ENV.port_base + TLS13_OFFSET
        self.dir = os.path.join(ENV.state, "embedded-nginx")
        self.log = os.path.join(self.dir, "access.log")
        pki = os.path.dirname(ENV.ca_file)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write("""# written by tests/embedded/smoke.py
daemon on;
user root;
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 64; }
http {
    default_type application/octet-stream;
    log_format proto '$ssl_protocol $ssl_cipher "$request" $status $body_bytes_sent';
    access_log %(d)s/access.log proto;
    client_body_temp_path %(d)s/tmp/body;
    proxy_temp_path %(d)s/tmp/proxy;
    fastcgi_temp_path %(d)s/tmp/fastcgi;
    uwsgi_temp_path %(d)s/tmp/uwsgi;
    scgi_temp_path %(d)s/tmp/scgi;
    server {
        listen 127.0.0.1:%(port)d ssl;
        ssl_protocols TLSv1.3;
        ssl_certificate %(pki)s/localhost.crt;
        ssl_certificate_key %(pki)s/localhost.key;
        root %(www)s;
    }
}
""" % {"d": self.dir, "port": self.port, "pki": pki, "www": ENV.docroot})

    def start(self):
        self.stop()
        if os.path.exists(self.log):
            os.unlink(self.log)
        subprocess.run(["nginx", "-c", self.conf, "-e", os.path.join(self.dir, "error.log")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        harness.wait_for(lambda: harness.port_open(self.port), 10, "TLS 1.3 nginx")

    def stop(self):
        pidfile = os.path.join(self.dir, "nginx.pid")
        try:
            pid = int(open(pidfile).read())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, 15)
            harness.wait_for(lambda: not os.path.exists("/proc/%d" % pid), 10,
                             "nginx to stop")
        except ProcessLookupError:
            pass

    def log_lines(self):
        try:
            return open(self.log).read().splitlines()
        except OSError:
            return []


def elf_machine(path):
    with open(os.path.realpath(path), "rb") as f:
        head = f.read(20)
    assert head[:4] == b"\x7fELF", "%s is not an ELF file" % path
    return int.from_bytes(head[18:20], "little")


class Programs:
    """How to start a program of this build: emulator, multi-call style."""

    def __init__(self, build, qemu, multi):
        self.build = os.path.abspath(build)
        self.qemu = shutil.which(qemu) if qemu else None
        assert self.qemu or not qemu, "%s not found (sh port/deps.sh embedded)" % qemu
        self.multi = multi

    def argv(self, prog):
        if self.multi == "link":
            exe = [os.path.join(self.build, "multi", prog)]
        elif self.multi == "arg":
            exe = [os.path.join(self.build, "warren"), prog]
        else:
            exe = [os.path.join(self.build, prog)]
        return ([self.qemu] if self.qemu else []) + exe

    def binary(self, prog):
        return self.argv(prog)[1 if self.qemu else 0]

    def start(self, prog, args, port=None, wait_log=None, timeout=30):
        argv = self.argv(prog)
        return harness.start_program(argv[0], argv[1:] + list(args), port=port,
                                     wait_log=wait_log, timeout=timeout)


async def ws_wait_done(port, task_id, timeout):
    """Notifications of task_id from the middleman's WebSocket until `done`
    or `failed`; returns them all."""
    seen = []
    uri = "ws://127.0.0.1:%d/ws?task=%s" % (port, task_id)
    async with websockets.connect(uri, open_timeout=timeout) as ws:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "no done/failed within %ss; got %s" % (
                timeout, [n.get("status") for n in seen])
            msg = json.loads(await asyncio.wait_for(ws.recv(), left))
            if msg.get("id") != task_id:
                continue
            seen.append(msg)
            if msg.get("status") in ("done", "failed"):
                return seen


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--qemu")
    ap.add_argument("--arch", default="x86_64", choices=sorted(MACHINES))
    ap.add_argument("--multi", choices=("link", "arg"))
    ap.add_argument("--rss", action="store_true")
    a = ap.parse_args()
    label = "%s%s" % (os.path.basename(os.path.abspath(a.build)),
                      "/multi-" + a.multi if a.multi else "")
    progs = Programs(a.build, a.qemu, a.multi)
    nginx = Tls13Nginx()
    started = {}
    state = {}

    def architecture():
        for p in ("tasker", "worker", "middleman"):
            m = elf_machine(progs.binary(p))
            assert m == MACHINES[a.arch], "%s: e_machine 0x%x, want 0x%x" % (
                progs.binary(p), m, MACHINES[a.arch])

    def start_all():
        harness.purge("tasks")
        harness.purge("notifications")
        nginx.start()
        url = ENV.amqp_url
        started["middleman"] = progs.start(
            "middleman", ["--listen", "127.0.0.1:{port}", "--amqp", url,
                          "--interval", "0"], port="auto")
        started["tasker"] = progs.start(
            "tasker", ["--listen", "127.0.0.1:{port}", "--amqp", url], port="auto")
        state["dir"] = harness.fresh_dir("downloads")
        started["worker"] = progs.start(
            "worker", ["--amqp", url, "--dir", state["dir"], "--ca-file", ENV.ca_file],
            wait_log="broker connection ready", timeout=60)
        # Everyone on the broker before the task is posted.
        harness.wait_for(lambda: harness.http("GET", started["tasker"].port,
                                              "/health")[0] == 200,
                         30, "tasker's broker connection")
        harness.wait_for(lambda: harness.http("GET", started["middleman"].port,
                                              "/health")[0] == 200,
                         30, "middleman's broker connection")

    def task_over_tls13():
        url = "https://localhost:%d/1m.bin" % nginx.port
        status, _, body = harness.http_json(
            "POST", started["tasker"].port, "/task",
            body={"name": "embedded smoke " + label, "arg": url,
                  "taskType": "download"})
        assert status == 202, "POST /task: %s %s" % (status, body)
        task_id = body["id"]
        seen = asyncio.run(ws_wait_done(started["middleman"].port, task_id, 90))
        done = seen[-1]
        assert done["status"] == "done", "task failed: %s" % done.get("error")
        want = ENV.sha256("1m.bin")
        assert done["sha256"] == want, "sha256 %s, want %s" % (done["sha256"], want)
        path = done["file"]
        assert os.path.dirname(path) == state["dir"], "file %s not in --dir" % path
        data = open(path, "rb").read()
        assert hashlib.sha256(data).hexdigest() == want, "file bytes differ"
        assert [n["status"] for n in seen][0] in ("queued", "started", "progress",
                                                 "done"), seen
        lines = [x for x in nginx.log_lines() if '"GET /1m.bin ' in x]
        assert lines, "nginx saw no GET /1m.bin"
        assert all(x.startswith("TLSv1.3 ") for x in lines), lines
        assert " 200 1048576" in lines[-1], lines[-1]
        state["cipher"] = lines[-1].split()[1]

    def bad_certificate_fails():
        # The same worker, a server whose certificate names another host:
        # the download must fail (verification is on, not just encryption).
        url = "https://localhost:%d/small.txt" % ENV.https_wrong_port
        status, _, body = harness.http_json(
            "POST", started["tasker"].port, "/task",
            body={"name": "wrong host", "arg": url, "taskType": "download"})
        assert status == 202, body
        seen = asyncio.run(ws_wait_done(started["middleman"].port, body["id"], 90))
        assert seen[-1]["status"] == "failed", seen[-1]
        assert "host name" in seen[-1]["error"] or "certificate" in seen[-1]["error"], \
            seen[-1]["error"]

    def rss_at_rest():
        # The worker loads its CA bundle at the first HTTPS download: a
        # fresh worker with Debian's whole bundle (plus the test CA) does
        # one, then all three rest.
        started["worker"].stop(timeout=20)
        bundle = os.path.join(harness.fresh_dir("ca"), "bundle.crt")
        with open(bundle, "wb") as out:
            for f in (SYSTEM_CA, ENV.ca_file):
                out.write(open(f, "rb").read())
        started["worker"] = progs.start(
            "worker", ["--amqp", ENV.amqp_url, "--dir", harness.fresh_dir("rss"),
                       "--ca-file", bundle],
            wait_log="broker connection ready", timeout=60)
        url = "https://localhost:%d/1m.bin" % nginx.port
        status, _, body = harness.http_json(
            "POST", started["tasker"].port, "/task",
            body={"name": "rss", "arg": url, "taskType": "download"})
        assert status == 202, body
        seen = asyncio.run(ws_wait_done(started["middleman"].port, body["id"], 90))
        assert seen[-1]["status"] == "done", seen[-1]
        time.sleep(2)
        ncert = open(SYSTEM_CA).read().count("BEGIN CERTIFICATE")
        for p, what in (("tasker", ""), ("middleman", ""),
                        ("worker", "(%d CAs loaded, after a 1 MB TLS 1.3 download)" % (ncert + 1))):
            print("  RSS at rest %-10s %-9s %6d KiB %s" % (
                label, p, vm_rss_kib(started[p].pid), what), flush=True)

    def clean_exit():
        for p in ("worker", "tasker", "middleman"):
            started[p].stop(timeout=20)

    ok = check("%s: programs are %s ELF" % (label, a.arch), architecture)
    ok = ok and check("%s: start (broker, TLS 1.3 nginx)" % label, start_all)
    if ok:
        check("%s: task -> worker over TLS 1.3 -> WebSocket done" % label,
              task_over_tls13)
        check("%s: certificate for another host fails the task" % label,
              bad_certificate_fails)
        if a.rss and not a.qemu:
            check("%s: worker with Debian's CA bundle (RSS figures)" % label, rss_at_rest)
        check("%s: SIGTERM, exit 0" % label, clean_exit)
    if "cipher" in state:
        print("  %s: TLS 1.3 cipher negotiated with nginx: %s" % (label, state["cipher"]))
    harness.cleanup()
    nginx.stop()
    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())

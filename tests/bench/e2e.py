#!/usr/bin/python3
"""tests/bench/e2e.py - 200 x 1 MiB end to end, warren beside the plain Go
version (../shared/seed-go), interleaved in one run: what bench_e2e.sh runs.

For each round and each implementation: a fresh tasker, middleman and two
workers (each its own folder) on the private broker of the test environment
and its nginx; N tasks POSTed one after the other over one keep-alive
connection (seed-go/tools/bench.py's loop); the time
from the first POST until every file is whole (its final name, full size)
is the figure, as measure.sh's `all_files_whole_s`. The files' SHA-256 are
checked afterwards. The queues are deleted between implementations (the two
declare them differently).

Usage: e2e.py ROUNDS N IMPL...   IMPL = warren | go | warren@DIR (the
worker of another build, for experiments)
Environment: BUILD, SEED_GO_OUT (bin/ of build.sh), WARREN_TEST_ENV and
env.sh's variables, WARREN_BENCH_DIR, WARREN_E2E_WORKER_ARGS (extra
arguments for warren's workers, for experiments), WARREN_E2E_WORKER_PREFIX
(a command the workers run under: strace -f -c -o FILE...).
Prints one line per run and a table with min/median/max and the ratio
warren/Go per round (lower is better for warren).
"""
import hashlib
import http.client
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
GO_BIN = os.path.join(os.environ.get("SEED_GO_OUT", os.path.join(ROOT, "build", "seed-go")), "bin")
STATE = os.environ["WARREN_TEST_ENV"]
AMQP = os.environ["WARREN_TEST_AMQP_URL"] + "/"
HTTP = int(os.environ["WARREN_TEST_HTTP_PORT"])
DOCROOT = os.environ["WARREN_TEST_DOCROOT"]
BASE = int(os.environ["WARREN_TEST_PORT_BASE"])
TASKER = ("127.0.0.1", BASE + 8)
MIDDLEMAN = ("127.0.0.1", BASE + 9)
WORK = os.path.join(os.environ.get("WARREN_BENCH_DIR", os.path.join(STATE, "bench")), "e2e")



def post(prefix, n, urlfmt):
    """seed-go/tools/bench.py's POST loop (that file runs on import)."""
    conn = http.client.HTTPConnection(*TASKER, timeout=30)
    codes = {}
    for i in range(n):
        body = json.dumps({"name": "%s%04d" % (prefix, i), "arg": urlfmt.format(i=i),
                           "taskType": "download"})
        conn.request("POST", "/task", body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        codes[r.status] = codes.get(r.status, 0) + 1
    conn.close()
    return {"codes": codes}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def wait_port(addr, timeout=20):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            socket.create_connection(addr, 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("e2e: nothing listens on %s:%d" % addr)


def ctl(*args):
    subprocess.run(["sh", os.path.join(ROOT, "tests/env/broker.sh"), "ctl", *args],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def commands(impl, dirs):
    t = "%s:%d" % TASKER
    m = "%s:%d" % MIDDLEMAN
    if impl == "go":
        return ([os.path.join(GO_BIN, "tasker-stripped"), "-listen", t, "-amqp", AMQP],
                [os.path.join(GO_BIN, "middleman-stripped"), AMQP, "notifications", m],
                [[os.path.join(GO_BIN, "worker-stripped"), "-amqp", AMQP, "-dir", d]
                 for d in dirs])
    extra = shlex.split(os.environ.get("WARREN_E2E_WORKER_ARGS", ""))
    pre = shlex.split(os.environ.get("WARREN_E2E_WORKER_PREFIX", ""))
    wbuild = impl.split("@", 1)[1] if "@" in impl else BUILD
    return ([os.path.join(BUILD, "tasker"), "--listen", t, "--amqp", AMQP],
            [os.path.join(BUILD, "middleman"), "--listen", m, "--amqp", AMQP],
            [pre + [os.path.join(wbuild, "worker"), "--amqp", AMQP, "--dir", d] + extra
             for d in dirs])


def cpu_s(pid):
    """User + system CPU seconds of a process and its reaped children."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in v[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def broker_pid():
    """The broker's beam.smp (child of broker.sh's leader), or None."""
    out = subprocess.run(["sh", os.path.join(ROOT, "tests/env/broker.sh"), "status"],
                         capture_output=True, text=True).stdout.split()
    pids = [w for w in out if w.isdigit()]
    if not pids:
        return None
    kids = subprocess.run(["pgrep", "-P", pids[0]], capture_output=True, text=True).stdout.split()
    return int(kids[0]) if kids else int(pids[0])


def run_once(impl, n, src, want, logdir):
    tag = impl.replace("/", "_")
    dirs = [os.path.join(WORK, tag, "w1"), os.path.join(WORK, tag, "w2")]
    for d in dirs:
        subprocess.run(["rm", "-rf", d])
        os.makedirs(d)
    for q in ("tasks", "notifications"):
        ctl("delete_queue", q)
    tasker, middleman, workers = commands(impl, dirs)
    procs = []
    try:
        for i, cmd in enumerate([middleman, tasker] + workers):
            log = open(os.path.join(logdir, "%s-%d.log" % (tag, i)), "ab")
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=log,
                                          stdin=subprocess.DEVNULL,
                                          start_new_session=True))
        wait_port(TASKER)
        wait_port(MIDDLEMAN)
        time.sleep(1.5)  # the workers connected and consuming
        bpid = broker_pid()
        cpu0 = [cpu_s(p.pid) for p in procs] + [cpu_s(bpid) if bpid else 0.0]
        size = os.path.getsize(src)
        names = ["f%04d.bin" % i for i in range(n)]
        t0 = time.time()
        res = post(impl, n, "http://127.0.0.1:%d/e2e/f{i:04d}.bin" % HTTP)
        posted = time.time() - t0
        where = {}
        while len(where) < n and time.time() - t0 < 60:
            for name in names:
                if name in where:
                    continue
                for d in dirs:
                    try:
                        if os.path.getsize(os.path.join(d, name)) == size:
                            where[name] = (d, time.time())
                            break
                    except OSError:
                        pass
            time.sleep(0.01)
        t_files = max((t for _, t in where.values()), default=time.time())
        time.sleep(0.2)  # the last confirms and acks
        cpu1 = [cpu_s(p.pid) for p in procs] + [cpu_s(bpid) if bpid else 0.0]
        cpu = [b - a for a, b in zip(cpu0, cpu1)]
        good = sum(1 for name, (d, _) in where.items()
                   if sha256(os.path.join(d, name)) == want)
        return {"impl": impl, "codes": res["codes"], "posted_s": round(posted, 3),
                "whole_s": round(t_files - t0, 3), "files": len(where), "sha_ok": good,
                "per_dir": [sum(1 for dd, _ in where.values() if dd == d) for d in dirs],
                "cpu": {"middleman": cpu[0], "tasker": cpu[1], "workers": cpu[2] + cpu[3],
                        "broker": cpu[4]}}
    finally:
        # each in its own group: a WARREN_E2E_WORKER_PREFIX's child too
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def stats(v):
    s = sorted(v)
    return s[0], s[len(s) // 2], s[-1]


def main():
    rounds, n, impls = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    os.makedirs(WORK, exist_ok=True)
    logdir = os.path.join(WORK, "logs")
    os.makedirs(logdir, exist_ok=True)
    src_dir = os.path.join(DOCROOT, "e2e")
    src = os.path.join(src_dir, "big.bin")
    if not os.path.exists(os.path.join(src_dir, "f%04d.bin" % (n - 1))):
        os.makedirs(src_dir, exist_ok=True)
        with open(src, "wb") as f:
            f.write(os.urandom(1 << 20))
        for i in range(n):
            p = os.path.join(src_dir, "f%04d.bin" % i)
            if not os.path.exists(p):
                os.link(src, p)
    want = sha256(src)
    runs = {i: [] for i in impls}
    for r in range(rounds):
        for impl in impls:
            res = run_once(impl, n, src, want, logdir)
            print("round %d %-6s posted %.2f s, all files whole %.2f s, %d/%d sha ok, "
                  "per worker %s, POST codes %s; CPU s %s" % (
                      r + 1, impl, res["posted_s"], res["whole_s"], res["sha_ok"], n,
                      res["per_dir"], res["codes"],
                      " ".join("%s %.2f" % kv for kv in res["cpu"].items())),
                  flush=True)
            runs[impl].append(res)
    print("\n%d x 1 MiB end to end, 2 workers, %d rounds interleaved" % (n, rounds))
    print("%-7s %-22s %-22s" % ("impl", "whole s min/med/max", "posted s min/med/max"))
    for impl in impls:
        w = stats([x["whole_s"] for x in runs[impl]])
        p = stats([x["posted_s"] for x in runs[impl]])
        print("%-7s %-22s %-22s" % (impl, "%.2f / %.2f / %.2f" % w, "%.2f / %.2f / %.2f" % p))
    if "go" in runs and "warren" in runs:
        ratios = [a["whole_s"] / b["whole_s"] for a, b in zip(runs["warren"], runs["go"])]
        print("warren/go per round: %s; min/med/max %.2f / %.2f / %.2f (lower is better)"
              % (" ".join("%.2f" % x for x in ratios), *stats(ratios)))


if __name__ == "__main__":
    main()

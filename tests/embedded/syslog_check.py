"""syslog_check.py BINDIR - `--syslog` of the three programs, as a router's
logread would see it.

    /usr/bin/python3 tests/embedded/syslog_check.py build/x86_64

Each program of BINDIR runs with --syslog in a private mount namespace
(unshare -m) whose /dev holds a datagram socket `log` bound by this script
(and /dev/null, /dev/urandom, /dev/zero bound from the host), so neither the
system's /dev nor a system logger is touched. Checked: the first message
arrives with facility LOG_DAEMON, the program name as ident with its pid,
nothing goes to stderr, and the program still exits 0 on SIGTERM.
Needs root (mount namespaces) and the broker of tests/env for the URL in
WARREN_TEST_AMQP_URL. Prints "ok"/"FAIL" lines, then "N passed, N failed".
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

LOG_DAEMON = 3
base = int(os.environ.get("WARREN_TEST_PORT_BASE", "25700"))
amqp = os.environ.get("WARREN_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:%d" % base)
results = []


def report(ok, name, why=""):
    results.append(ok)
    print(("ok   %s" if ok else "FAIL %s: " + why) % name, flush=True)


def check_program(bindir, prog, args):
    d = tempfile.mkdtemp(prefix="warren-syslog-")
    dev = os.path.join(d, "dev")
    os.makedirs(dev)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(os.path.join(dev, "log"))
    sock.settimeout(15)
    binds = ""
    for n in ("null", "zero", "urandom", "random"):
        open(os.path.join(dev, n), "w").close()
        binds += "mount --bind /dev/%s %s/%s && " % (n, dev, n)
    script = binds + 'mount --bind %s /dev && exec "$@"' % dev
    exe = os.path.join(bindir, prog)
    p = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                          script, "sh", exe, "--syslog"] + args,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    name = "syslog: %s" % prog
    try:
        try:
            msg = sock.recv(4096).decode("utf-8", "replace")
        except socket.timeout:
            msg = None
        if msg is None:
            report(False, name, "no message on /dev/log in 15 s")
            return
        # "<PRI>IDENT[PID]: MESSAGE" (warren's log.c; syslogd adds the time)
        # or "<PRI>Mmm dd hh:mm:ss IDENT[PID]: MESSAGE" (syslog(3))
        m = re.match(r"<(\d+)>(?:\w{3} [ \d]\d \d\d:\d\d:\d\d )?(\S+)\[(\d+)\]: (.*)", msg)
        if not m:
            report(False, name, "unexpected format %r" % msg)
            return
        pri, ident, pid = int(m.group(1)), m.group(2), int(m.group(3))
        problems = []
        if pri >> 3 != LOG_DAEMON:
            problems.append("facility %d, want LOG_DAEMON (3)" % (pri >> 3))
        if ident != prog:
            problems.append("ident %r, want %r" % (ident, prog))
        if pid != p.pid:
            problems.append("pid %d, want %d" % (pid, p.pid))
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        err = p.stderr.read().decode("utf-8", "replace")
        if rc != 0:
            problems.append("exit %s after SIGTERM" % rc)
        if err.strip():
            problems.append("wrote to stderr: %r" % err[:200])
        if problems:
            report(False, name, "; ".join(problems) + " (message %r)" % msg)
        else:
            report(True, name + " (LOG_DAEMON, ident %s[pid]: %s)" % (ident, m.group(4)[:50]))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        sock.close()
        shutil.rmtree(d, ignore_errors=True)


def main():
    bindir = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="warren-syslog-dl-")
    check_program(bindir, "tasker", ["--amqp", amqp, "--listen", "127.0.0.1:%d" % (base + 45)])
    check_program(bindir, "middleman", ["--amqp", amqp, "--listen", "127.0.0.1:%d" % (base + 46)])
    check_program(bindir, "worker", ["--amqp", amqp, "--dir", work])
    shutil.rmtree(work, ignore_errors=True)
    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())

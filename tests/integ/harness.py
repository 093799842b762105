"""harness.py - what every integration test of warren stands on.

Integration tests are files tests/integ/test_*.py; tests/integ/run.py runs each
module-level function named test_* in file order, with a timeout (120 s unless
decorated with @timeout(N)), and prints "ok   name (1.2s)" or "FAIL name: why"
and the traceback, then "N passed, N failed". A test passes by returning and
fails by raising (use plain `assert`). Optional module-level setup_module() and
teardown_module() run once around a file's tests. Run them with
`sh tests/run.sh [PATTERN...]` (starts broker + nginx, runs unit binaries too)
or `/usr/bin/python3 tests/integ/run.py [PATTERN...]` (starts broker + nginx
itself when they are not up, stops them at the end). PATTERNs are substrings
of "module.function" names, e.g. `test_tasker` or `redirect`.
Only the standard library and pika are used; run with /usr/bin/python3.

After every test run.py calls cleanup(): programs the test started are killed
(SIGKILL; under sanitizers a report in their log fails the test), TCP servers
stopped, extra brokers stopped. So a test only needs to stop() a program when
it wants to check its clean exit. What setup_module() starts (a shared
tasker, say) lives until the module's last test and teardown_module() are done.

ENV - the test environment (attributes, all set before tests import):
    ENV.root             repository root (absolute)
    ENV.build            build dir (absolute; $BUILD, default build)
    ENV.sanitize         True when the build has ASan/UBSan
    ENV.state            state dir of this port base (build/test-env/<base>)
    ENV.port_base        WARREN_TEST_PORT_BASE (default 25700)
    ENV.amqp_url         amqp://guest:guest@127.0.0.1:<base>  (the private node)
    ENV.amqp_port        its port
    ENV.http_port        nginx http on 127.0.0.1 and [::1]            (base+10)
    ENV.https_port       https, good cert for localhost/127.0.0.1/::1  (base+11)
    ENV.https_wrong_port      https, cert for wrong.example            (base+12)
    ENV.https_unknown_port    https, cert from an unknown CA           (base+13)
    ENV.https_expired_port    https, expired cert from the test CA     (base+14)
    ENV.https_ecdsa_port      https, ECDSA chain (P-256 leaf, P-384 CA) (base+15)
    ENV.https_ecdsa12_port    the same, TLS 1.2 only                   (base+16)
    ENV.ca_file          the test CA (PEM) to give to --ca-file
    ENV.ca_bundle        the test CA and the test ECDSA CA in one PEM file
    ENV.docroot          nginx docroot: small.txt, empty.txt, 1m.bin, 10m.bin,
                         each with NAME.sha256 (hex) beside; dir/nested.txt;
                         "with space.txt". See tests/env/nginx.sh for the extra
                         locations (/slow/, /redir/..., /status/N,
                         /disposition/..., /auth/ (user:pass), /echo).
    ENV.logs             <state>/logs: one folder per test holding its
                         programs' logs (<name>-<n>.log) and fresh dirs;
                         emptied when the next run starts
    ENV.tasker, ENV.worker, ENV.middleman   paths of the built programs
    ENV.bin(name)        path of $BUILD/<name> (programs)
    ENV.url(path, tls=False, host="127.0.0.1")  nginx URL of a docroot path
    ENV.sha256(name)     the hex sha256 of a docroot file (from NAME.sha256,
                         or computed)

Waiting and ports:
    free_port() -> int                 an unused TCP port on 127.0.0.1
    wait_for(pred, timeout=10, what="", interval=0.05) -> pred's truthy value,
        or AssertionError("timed out after Ns waiting for <what>")
    port_open(port, host="127.0.0.1") -> bool
    @timeout(seconds)                  per-test timeout for run.py
    rss_kib(pid) -> int                a process's resident set (VmRSS), KiB

Programs:
    start_program(name, args=(), env=None, port=None, wait_log=None,
                  cwd=None, timeout=15, stdin=None) -> Proc
        name: a program in $BUILD (tasker, worker, middleman) or an
        absolute path. port: None (do not wait), an int
        (wait until 127.0.0.1:port accepts) or "auto" (allocate a free port,
        substitute "{port}" in args and env values, and wait for it).
        wait_log: a regex to wait for in the log instead / as well.
        env: added to a clean copy of os.environ without any WARREN_*
        variable (WARREN_TEST_* kept), so settings are explicit.
        stdout and stderr both go to the log file.
    start_tasker(*args, env=None, amqp=None, connected=False) -> Proc   --listen 127.0.0.1:<auto>
        --amqp ENV.amqp_url, plus args; waits for the port, and with
        connected=True for GET /health 200 (the broker connection).
    wait_tasker_connected(p, token="", timeout=30) -> p
    start_middleman(*args, env=None, amqp=None) -> Proc   the same
    start_worker(*args, env=None, amqp=None, dir=None, wait_log=None) -> Proc
        --amqp, --dir (default: a fresh dir under the test's log dir, in
        Proc.dir), --ca-file ENV.ca_file, plus args. No port to wait for.
    run_program(name, args=(), env=None, timeout=60, cwd=None, input=None)
        -> subprocess.CompletedProcess (stdout/stderr bytes); one-shot runs
        (e.g. `worker --get URL`, `--help`); sanitizer reports in stderr fail.
    Proc: .name .proc (Popen) .pid .port .log (path) .dir (worker)
          .log_text() -> str; .wait_log(regex, timeout=10) -> re.Match;
          .alive() -> bool; .stop(timeout=10, expect=0): SIGTERM, assert exit
          status == expect within timeout and (under sanitizers) no report in
          the log; .kill(sig=SIGKILL): kill and reap, no checks;
          .signal(sig); .wait(timeout) -> returncode.

HTTP:
    http(method, port, path, body=None, headers=None, host="127.0.0.1",
         timeout=10) -> (status, headers dict with lowercase names, body bytes)
         body may be bytes, str, or a dict/list (sent as JSON).
    http_json(...) -> (status, headers, parsed JSON or None)
    raw_exchange(port, data, read_timeout=2, host="127.0.0.1") -> bytes
         sends data as is, returns all bytes until the peer closes or
         read_timeout passes without data.
    raw_connect(port, host="127.0.0.1", timeout=5) -> socket
    parse_responses(data) -> [(status, headers, body), ...]  splits raw bytes
         holding pipelined HTTP/1.1 responses (Content-Length bodies only).

AMQP (pika BlockingConnection, a fresh connection per call; default the
private node, or url=...). The topology is the programs' (TOPOLOGY): `tasks`
and `tasks.dead` quorum queues (tasks dead-letters through exchange
warren.dead), `notifications` and `warren.control` streams; every helper
declares a queue with the programs' arguments. A stream cannot be purged or
basic.get'ed and keeps what is read: the harness remembers, per URL and
stream, the offset after the last message it returned (get/get_all/drain)
and reads from there with a consumer (x-stream-offset); purge() deletes and
declares the stream again and starts over at its offset 0. A stream read
"to the end" (drain, queue_depth) stops after STREAM_IDLE (0.4) s without
a delivery.
    amqp_connect(url=None) -> pika.BlockingConnection
    declare_topology(url=None)        all of TOPOLOGY, the exchange, the binding
    is_stream(queue) -> bool
    purge(queue, url=None)            queue: declare + purge; stream: delete +
                                      declare, read from its start again
    publish(queue, body, persistent=True, properties=None, url=None)
        body: bytes, str or dict/list (JSON); properties: dict of
        pika.BasicProperties fields (content_type, message_id, ...);
        timestamp set to now unless given
    get(queue, timeout=5, ack=True, url=None) -> (body bytes, properties) or None
        (stream: the next after the position; ack=False keeps the position)
    A queue left with other arguments by an older version (a test node's
    state outlives versions) is deleted and declared anew by these helpers;
    run.py declares the topology on the private node before any test.
    get_all(queue, count, timeout=10, url=None) -> list of (body, props):
        waits until count messages arrived (AssertionError if fewer)
    drain(queue, url=None) -> list of (body, props) there now (stream:
        after the position, which moves past them)
    queue_depth(queue, url=None) -> int (ready messages; stream: messages
        after the harness's position, which stays)
    delete_queue(queue, url=None)
    broker_ctl(*args, broker=None) -> stdout str; rabbitmqctl on the node
    broker_stop_app() / broker_start_app()  simulate an outage and recovery
        (start waits until AMQP accepts logins again)
    Broker(offset, consumer_timeout_ms=None): another private node on
        port base+offset (dist port +1); offsets 20..29 and 60..99 are free
        for tests (base+10..16 are nginx's, base+30..35 the test cluster's,
        base+40..46 the embedded suite's; with the default base, base+50 is
        where `make bench` puts its broker; other people's bases may follow).
        .start() .stop() .url .port .ctl(*args). Stopped by cleanup().

Hostile servers:
    TCPServer(handler, host="127.0.0.1", port=0, tls=None) -> server started;
        .port; handler(sock, addr, server) runs in a thread per connection;
        the socket is closed after it returns. .connections (count),
        .errors (exceptions from handlers), .requests (list, for handlers to
        append to), .stop(). tls: "localhost" | "wrong" | "unknown" |
        "expired" (certificate from tests/env/nginx.sh) or an SSLContext.
    read_request(sock, limit=65536) -> (request_line str, headers dict lower,
        raw head bytes) or None when the peer closed first.
    send_all(sock, data) / sleep-friendly helpers are plain socket calls.
"""

import atexit
import hashlib
import http.client as _httpclient
import json
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import threading
import time

try:
    import pika
except ImportError:  # pragma: no cover - tests that use AMQP will fail
    pika = None

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# run.py sets the current test's name so logs are named after it.
CURRENT_TEST = "none"

_SIGKILL = signal.SIGKILL

_SAN_PATTERNS = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
    r"SUMMARY: (Address|Undefined|Leak)Sanitizer")


# ---------------------------------------------------------------- ENV

class _Env:
    """The test environment; see the module docstring."""

    def __init__(self):
        self.root = ROOT
        build = os.environ.get("BUILD", "build")
        self.build = build if os.path.isabs(build) else os.path.join(ROOT, build)
        self.port_base = int(os.environ.get("WARREN_TEST_PORT_BASE", "25700"))
        self.state = os.environ.get("WARREN_TEST_ENV") or os.path.join(
            ROOT, "build", "test-env", str(self.port_base))
        self.state = os.path.abspath(self.state)
        b = self.port_base
        self.amqp_port = b
        self.amqp_url = "amqp://guest:guest@127.0.0.1:%d" % b
        self.http_port = b + 10
        self.https_port = b + 11
        self.https_wrong_port = b + 12
        self.https_unknown_port = b + 13
        self.https_expired_port = b + 14
        self.https_ecdsa_port = b + 15
        self.https_ecdsa12_port = b + 16
        self.ca_file = os.path.join(self.state, "pki", "ca.crt")
        self.ca_bundle = os.path.join(self.state, "pki", "bundle.crt")
        self.pki = os.path.join(self.state, "pki")
        self.docroot = os.path.join(self.state, "www")
        self.logs = os.environ.get("WARREN_TEST_LOGS") or os.path.join(
            self.state, "logs")
        self.sanitize = _detect_sanitize(self.build)
        self.tasker = os.path.join(self.build, "tasker")
        self.worker = os.path.join(self.build, "worker")
        self.middleman = os.path.join(self.build, "middleman")

    def bin(self, name):
        """Path of a built program; AssertionError if not built."""
        if os.path.isabs(name):
            return name
        p = os.path.join(self.build, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
        raise AssertionError("%s is not built in %s" % (name, self.build))

    def url(self, path, tls=False, host="127.0.0.1", port=None):
        """URL of nginx's docroot path (e.g. "small.txt" or "/redir/abs")."""
        if port is None:
            port = self.https_port if tls else self.http_port
        if ":" in host and not host.startswith("["):
            host = "[%s]" % host
        return "%s://%s:%d/%s" % ("https" if tls else "http", host, port,
                                  path.lstrip("/"))

    def sha256(self, name):
        """Hex sha256 of a docroot file."""
        p = os.path.join(self.docroot, name)
        if os.path.exists(p + ".sha256"):
            with open(p + ".sha256") as f:
                return f.read().strip()
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()


def _detect_sanitize(build):
    v = os.environ.get("WARREN_TEST_SANITIZE") or os.environ.get("SANITIZE")
    if v is not None and v != "":
        return v == "1"
    lib = os.path.join(build, "libwarren.a")
    try:
        with open(lib, "rb") as f:
            return b"__asan_" in f.read()
    except OSError:
        return False


ENV = _Env()


# ---------------------------------------------------------------- waiting

def timeout(seconds):
    """Decorator: this test's time limit in run.py (default 120 s)."""
    def deco(fn):
        fn.timeout = seconds
        return fn
    return deco


def free_port():
    """An unused TCP port on 127.0.0.1 (the kernel's choice)."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_open(port, host="127.0.0.1"):
    """True when host:port accepts a TCP connection."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def rss_kib(pid):
    """The resident set of process pid, in KiB (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def wait_for(pred, timeout=10, what="condition", interval=0.05):
    """Call pred() until it returns something truthy; return that value.
    AssertionError naming `what` after `timeout` seconds. Exceptions from
    pred propagate."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %gs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


# ---------------------------------------------------------------- programs

_started = []      # Procs, servers, brokers of the current test (cleanup())
_lock = threading.Lock()


def _register(obj):
    with _lock:
        _started.append(obj)
    return obj


def _test_log_dir():
    d = os.path.join(ENV.logs, re.sub(r"[^A-Za-z0-9_.-]", "_", CURRENT_TEST))
    os.makedirs(d, exist_ok=True)
    return d


def _log_path(name):
    d = _test_log_dir()
    base = os.path.basename(name)
    n = 1
    while True:
        p = os.path.join(d, "%s-%d.log" % (base, n))
        if not os.path.exists(p):
            return p
        n += 1


def _child_env(extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WARREN_") or k.startswith("WARREN_TEST_")}
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
    return env


def sanitizer_report(text):
    """The first sanitizer report line in text, or None."""
    m = _SAN_PATTERNS.search(text)
    if not m:
        return None
    start = text.rfind("\n", 0, m.start()) + 1
    end = text.find("\n", m.end())
    return text[start:end if end >= 0 else len(text)]


class Proc:
    """A started program; see the module docstring."""

    def __init__(self, name, argv, env, port, log, cwd, stdin):
        self.name = name
        self.argv = argv
        self.port = port
        self.log = log
        self.dir = None
        self._logf = open(log, "wb")
        self._logf.write(("# %s\n" % " ".join(argv)).encode())
        self._logf.flush()
        self.proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=self._logf, stderr=subprocess.STDOUT,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            start_new_session=True)
        self.pid = self.proc.pid

    def __repr__(self):
        return "<Proc %s pid %d>" % (self.name, self.pid)

    def log_text(self):
        """Everything the program wrote so far (stdout and stderr)."""
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def wait_log(self, pattern, timeout=10):
        """Wait until regex `pattern` appears in the log; return the match.
        Fails early if the program exits without printing it."""
        rx = re.compile(pattern)

        def seen():
            m = rx.search(self.log_text())
            if m:
                return m
            if not self.alive():
                raise AssertionError(
                    "%s exited (%s) before logging /%s/; log:\n%s"
                    % (self.name, self.proc.returncode, pattern,
                       _tail(self.log_text())))
            return None
        return wait_for(seen, timeout, "/%s/ in %s's log" % (pattern, self.name))

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout=10):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %gs" % (self.name, timeout))

    def check_sanitizer(self):
        """AssertionError when the log holds a sanitizer report."""
        if ENV.sanitize:
            text = self.log_text()
            rep = sanitizer_report(text[text.find("\n") + 1:])
            if rep:
                raise AssertionError("%s: sanitizer report: %s\n%s"
                                     % (self.name, rep, _tail(self.log_text(), 60)))

    def stop(self, timeout=10, expect=0):
        """SIGTERM; assert exit status `expect` within `timeout` seconds and,
        under sanitizers, no report in the log."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not exit within %gs of SIGTERM; log:\n%s"
                                 % (self.name, timeout, _tail(self.log_text())))
        finally:
            self._close()
        self.check_sanitizer()
        if rc != expect:
            raise AssertionError("%s exited with %s, expected %s; log:\n%s"
                                 % (self.name, _rc_text(rc), expect,
                                    _tail(self.log_text())))
        return rc

    def kill(self, sig=_SIGKILL):
        """Send sig (SIGKILL by default) and reap; no checks."""
        if self.alive():
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
        if sig == _SIGKILL:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            self._close()

    def _close(self):
        try:
            self._logf.close()
        except OSError:
            pass

    def _cleanup(self):
        self.kill()
        self.check_sanitizer()


def _rc_text(rc):
    if rc is not None and rc < 0:
        try:
            return "signal %s" % signal.Signals(-rc).name
        except ValueError:
            return "signal %d" % -rc
    return str(rc)


def _tail(text, lines=30):
    return "\n".join(text.splitlines()[-lines:])


def _subst(v, port):
    return v.replace("{port}", str(port)) if isinstance(v, str) else v


def start_program(name, args=(), env=None, port=None, wait_log=None,
                  cwd=None, timeout=15, stdin=None):
    """Start a program; see the module docstring."""
    path = ENV.bin(name)
    if port == "auto":
        port = free_port()
    args = [_subst(str(a), port) for a in args]
    if env:
        env = {k: _subst(v, port) for k, v in env.items()}
    argv = [path] + args
    p = _register(Proc(os.path.basename(path), argv, _child_env(env), port,
                       _log_path(path), cwd, stdin))

    def up():
        if not p.alive():
            raise AssertionError("%s exited (%s) at start; log:\n%s"
                                 % (p.name, _rc_text(p.proc.returncode),
                                    _tail(p.log_text())))
        return port_open(port)
    if port is not None:
        wait_for(up, timeout, "%s to accept on port %d" % (p.name, port))
    if wait_log:
        p.wait_log(wait_log, timeout)
    return p


def start_tasker(*args, env=None, amqp=None, timeout=15, connected=False):
    """tasker --listen 127.0.0.1:<free port> --amqp <url> ARGS; waits until
    it accepts. It listens at once and connects to the broker in the
    background, answering 503 until then: connected=True also waits for
    GET /health to say 200 (with the --token or WARREN_TOKEN it was given)."""
    p = start_program("tasker", ["--listen", "127.0.0.1:{port}",
                                 "--amqp", amqp or ENV.amqp_url] + list(args),
                      env=env, port="auto", timeout=timeout)
    if connected:
        wait_tasker_connected(p, _token_of(args, env), timeout=max(timeout, 30))
    return p


def _token_of(args, env):
    args = list(args)
    if "--token" in args:
        return args[args.index("--token") + 1]
    return (env or {}).get("WARREN_TOKEN", "")


def wait_tasker_connected(p, token="", timeout=30):
    """Waits until tasker p answers GET /health with 200 (connected)."""
    hdrs = {"Authorization": "Bearer " + token} if token else {}
    wait_for(lambda: http("GET", p.port, "/health", headers=hdrs)[0] == 200,
             timeout, "%s to connect to the broker" % p.name, interval=0.1)
    return p


def start_middleman(*args, env=None, amqp=None, timeout=15):
    """middleman --listen 127.0.0.1:<free port> --amqp <url> ARGS; waits."""
    return start_program("middleman", ["--listen", "127.0.0.1:{port}",
                                       "--amqp", amqp or ENV.amqp_url] + list(args),
                         env=env, port="auto", timeout=timeout)


def start_worker(*args, env=None, amqp=None, dir=None, wait_log=None, timeout=15):
    """worker --amqp <url> --dir <dir> --ca-file <test CA> ARGS.
    dir defaults to a fresh folder under the test's log dir (Proc.dir)."""
    if dir is None:
        dir = _fresh_dir("downloads")
    p = start_program("worker", ["--amqp", amqp or ENV.amqp_url, "--dir", dir,
                                 "--ca-file", ENV.ca_file] + list(args),
                      env=env, wait_log=wait_log, timeout=timeout)
    p.dir = dir
    return p


def _fresh_dir(prefix):
    d = _test_log_dir()
    n = 1
    while os.path.exists(os.path.join(d, "%s-%d" % (prefix, n))):
        n += 1
    path = os.path.join(d, "%s-%d" % (prefix, n))
    os.makedirs(path)
    return path


def fresh_dir(prefix="dir"):
    """A new empty directory under the current test's log dir."""
    return _fresh_dir(prefix)


def run_program(name, args=(), env=None, timeout=60, cwd=None, input=None):
    """Run a program to completion; CompletedProcess with bytes stdout/stderr.
    AssertionError on timeout or (under sanitizers) a report in stderr."""
    argv = [ENV.bin(name)] + [str(a) for a in args]
    try:
        r = subprocess.run(argv, env=_child_env(env), cwd=cwd, input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=None if input is not None else subprocess.DEVNULL,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s did not finish within %gs" % (" ".join(argv), timeout))
    if ENV.sanitize:
        rep = sanitizer_report(r.stderr.decode("utf-8", "replace"))
        if rep:
            raise AssertionError("%s: sanitizer report: %s\n%s" % (
                argv[0], rep, _tail(r.stderr.decode("utf-8", "replace"), 60)))
    return r


# ---------------------------------------------------------------- HTTP

def http(method, port, path, body=None, headers=None, host="127.0.0.1",
         timeout=10):
    """One request on a new connection: (status, headers lowercased, body)."""
    hdrs = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    conn = _httpclient.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def http_json(method, port, path, body=None, headers=None, host="127.0.0.1",
              timeout=10):
    """As http(), the body parsed as JSON (None if empty or not JSON)."""
    st, h, data = http(method, port, path, body, headers, host, timeout)
    try:
        obj = json.loads(data.decode("utf-8")) if data else None
    except ValueError:
        obj = None
    return st, h, obj


def raw_connect(port, host="127.0.0.1", timeout=5):
    """A connected TCP socket (IPv6 when host has a colon)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def raw_exchange(port, data, read_timeout=2, host="127.0.0.1"):
    """Send data as is; return every byte received until the peer closes or
    read_timeout seconds pass with nothing new."""
    s = raw_connect(port, host)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return _read_until_quiet(s, read_timeout)
    finally:
        s.close()


def _read_until_quiet(s, read_timeout):
    out = bytearray()
    while True:
        r, _, _ = select.select([s], [], [], read_timeout)
        if not r:
            break
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


def read_available(sock, read_timeout=2):
    """Bytes from sock until it closes or is quiet for read_timeout."""
    return _read_until_quiet(sock, read_timeout)


def parse_responses(data):
    """Split raw bytes into [(status, headers lowercased, body)]; bodies by
    Content-Length (none when absent, e.g. 1xx/204/304 or HEAD)."""
    out = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            raise AssertionError("incomplete response head: %r" % data[:200])
        head = data[:end].decode("iso-8859-1").split("\r\n")
        data = data[end + 4:]
        status = int(head[0].split()[1])
        hdrs = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        out.append((status, hdrs, data[:n]))
        data = data[n:]
    return out


# ---------------------------------------------------------------- AMQP

def _need_pika():
    if pika is None:
        raise AssertionError("python3-pika is not installed (sh port/deps.sh test)")


def amqp_connect(url=None):
    """A pika BlockingConnection to the private node (or url)."""
    _need_pika()
    params = pika.URLParameters(url or ENV.amqp_url)
    params.connection_attempts = 3
    params.retry_delay = 0.5
    params.socket_timeout = 5
    params.blocked_connection_timeout = 10
    return pika.BlockingConnection(params)


class _Channel:
    def __init__(self, url):
        self.conn = amqp_connect(url)

    def __enter__(self):
        self.ch = self.conn.channel()
        return self.ch

    def __exit__(self, *exc):
        try:
            self.conn.close()
        except Exception:
            pass


# What the programs declare (config.h; ../shared/INTERFACE.md, "RabbitMQ
# topology"): the harness declares the same, or the broker refuses the
# declaration (406 PRECONDITION_FAILED). Other queues: durable, no arguments.
DEAD_EXCHANGE = "warren.dead"
TOPOLOGY = {
    "tasks": {"x-queue-type": "quorum", "x-delivery-limit": 5,
              "x-dead-letter-exchange": DEAD_EXCHANGE},
    "tasks.dead": {"x-queue-type": "quorum"},
    "notifications": {"x-queue-type": "stream", "x-max-age": "7D",
                      "x-max-length-bytes": 256 * 1024 * 1024},
    "warren.control": {"x-queue-type": "stream", "x-max-age": "7D"},
}

# Stream reading: (url, queue) -> the next offset to read (after the last
# message get/get_all/drain returned); "first" until the harness read any.
_stream_pos = {}
STREAM_IDLE = 0.4   # s without a delivery that ends a read "to the end"


def is_stream(queue):
    return TOPOLOGY.get(queue, {}).get("x-queue-type") == "stream"


def _declare(ch, queue):
    """Declare queue as the programs do. One left with other arguments by an
    older version (a test node's state outlives versions: the classic
    `tasks` of before the quorum queue) is deleted and declared anew."""
    args = TOPOLOGY.get(queue)
    try:
        probe = ch.connection.channel()
        probe.queue_declare(queue=queue, durable=True, arguments=args)
        probe.close()
    except pika.exceptions.ChannelClosedByBroker as e:
        if e.reply_code != 406:
            raise
        fix = ch.connection.channel()
        fix.queue_delete(queue)
        fix.close()
    ch.queue_declare(queue=queue, durable=True, arguments=args)


def declare_topology(url=None):
    """Declare what the programs declare: exchange warren.dead (fanout) bound
    to quorum queue tasks.dead, quorum queue tasks, streams notifications and
    warren.control."""
    with _Channel(url) as ch:
        ch.exchange_declare(DEAD_EXCHANGE, "fanout", durable=True)
        for q in TOPOLOGY:
            _declare(ch, q)
        ch.queue_bind("tasks.dead", DEAD_EXCHANGE)


def purge(queue, url=None):
    """Drop the messages of queue: a queue is declared and purged; a stream
    (which cannot be purged) is deleted and declared again with the same
    arguments, and the harness reads it from its start again. A program
    consuming the stream is cancelled by the broker and consumes again."""
    with _Channel(url) as ch:
        if is_stream(queue):
            ch.queue_delete(queue)
            _declare(ch, queue)
            _stream_pos[(url or ENV.amqp_url, queue)] = 0
            return
        _declare(ch, queue)
        ch.queue_purge(queue)


def empty_tasks_and_notifications():
    """purge("tasks") and purge("notifications"): the set-up and tear-down
    of the worker's test modules."""
    purge("tasks")
    purge("notifications")


def delete_queue(queue, url=None):
    with _Channel(url) as ch:
        ch.queue_delete(queue)
    _stream_pos.pop((url or ENV.amqp_url, queue), None)


def publish(queue, body, persistent=True, properties=None, url=None):
    """Publish to the default exchange with routing key queue (with
    publisher confirms, so it is in the queue on return). The timestamp
    property is set (now) unless given, as the programs set it."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    props = dict(properties or {})
    if persistent:
        props.setdefault("delivery_mode", 2)
    props.setdefault("timestamp", int(time.time()))
    with _Channel(url) as ch:
        _declare(ch, queue)
        ch.confirm_delivery()
        ch.basic_publish("", queue, body, pika.BasicProperties(**props))


SEQ_STRIDE = 64   # config.h's NOTIFY_SEQ_STRIDE


def seq_at(offset, index=0):
    """The seq the middleman gives the index-th notification of the stream
    message at offset (config.h's NOTIFY_SEQ_STRIDE)."""
    return offset * SEQ_STRIDE + 1 + index


def split_notes(body):
    """A notifications message's notifications, each as its own bytes: the
    body, or the objects of its JSON array (the tasker's `queued` ones,
    gathered for TASKER_QUEUED_GATHER_MS)."""
    if not body.lstrip().startswith(b"["):
        return [body]
    try:
        text, dec, out = body.decode(), json.JSONDecoder(), []
        i = text.index("[") + 1
        while True:
            while text[i] in " \t\r\n,":
                i += 1
            if text[i] == "]":
                return out
            _, j = dec.raw_decode(text, i)
            out.append(text[i:j].encode())
            i = j
    except (ValueError, IndexError):
        return [body]   # not an array: as it is (a test's garbage)


def _stream_read(queue, url, count=None, timeout=10, advance=True, split=True):
    """Notifications (body, properties) of stream queue after the harness's
    position, a message's array split (split_notes): `count` of them, or
    more when the last message held several (AssertionError if fewer come
    within timeout), or, count None, all until STREAM_IDLE s pass without
    one. advance: move the position past them. split False: the messages
    as they are. A consumer with manual acks (a stream's credit)."""
    key = (url or ENV.amqp_url, queue)
    pos = _stream_pos.get(key, "first")
    out = []
    nxt = pos if isinstance(pos, int) else 0
    deadline = time.monotonic() + timeout
    with _Channel(url) as ch:
        _declare(ch, queue)
        ch.basic_qos(prefetch_count=1000)
        wait = STREAM_IDLE if count is None else 0.2
        for method, props, body in ch.consume(
                queue, arguments={"x-stream-offset": pos}, inactivity_timeout=wait):
            if method is None:
                if count is None or time.monotonic() >= deadline:
                    break
                continue
            ch.basic_ack(method.delivery_tag)
            off = (props.headers or {}).get("x-stream-offset", nxt)
            if off < nxt:
                continue   # a stream starts at its chunk: before the offset asked
            nxt = off + 1
            out.extend((b, props) for b in (split_notes(body) if split else [body]))
            if count is not None and len(out) >= count:
                break
        # no cancel: pika's would nack what is pending, which a stream
        # answers by closing the connection; closing it is enough
    if count is not None and len(out) < count:
        raise AssertionError("got %d of %d messages from %s in %gs: %r"
                             % (len(out), count, queue, timeout,
                                [b for b, _ in out][:5]))
    if advance:
        _stream_pos[key] = nxt
    return out


def get(queue, timeout=5, ack=True, url=None):
    """One message from queue, waiting up to timeout: (body, properties) or
    None. ack=False leaves it unacknowledged (requeued on return; on a
    stream: the harness's position stays before it)."""
    if is_stream(queue):
        try:
            return _stream_read(queue, url, 1, timeout, advance=ack)[0]
        except AssertionError:
            return None
    deadline = time.monotonic() + timeout
    with _Channel(url) as ch:
        _declare(ch, queue)
        while True:
            method, props, body = ch.basic_get(queue, auto_ack=ack)
            if method is not None:
                return body, props
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)


def get_all(queue, count, timeout=10, url=None):
    """Exactly `count` messages (acked), waiting up to timeout for them."""
    if is_stream(queue):
        return _stream_read(queue, url, count, timeout)
    out = []
    deadline = time.monotonic() + timeout
    with _Channel(url) as ch:
        _declare(ch, queue)
        while len(out) < count:
            method, props, body = ch.basic_get(queue, auto_ack=True)
            if method is not None:
                out.append((body, props))
                continue
            if time.monotonic() >= deadline:
                raise AssertionError("got %d of %d messages from %s in %gs: %r"
                                     % (len(out), count, queue, timeout,
                                        [b for b, _ in out][:5]))
            time.sleep(0.05)
    return out


def drain(queue, url=None, split=True):
    """All messages ready in queue now (acked); on a stream, those after
    the harness's position, read until STREAM_IDLE s bring nothing (split
    False: a message's array as it is, see split_notes)."""
    if is_stream(queue):
        return _stream_read(queue, url, split=split)
    out = []
    with _Channel(url) as ch:
        _declare(ch, queue)
        while True:
            method, props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                return out
            out.append((body, props))


def stream_messages(queue, url=None):
    """The messages (not split) of stream queue after the harness's
    position, read until STREAM_IDLE s bring nothing; the position kept."""
    return [b for b, _ in _stream_read(queue, url, advance=False, split=False)]


def queue_depth(queue, url=None):
    """Ready messages in queue (declaring it if missing); on a stream, the
    messages after the harness's position (read, the position kept: a
    program reading the stream does not lower it)."""
    if is_stream(queue):
        return len(_stream_read(queue, url, advance=False))
    with _Channel(url) as ch:
        _declare(ch, queue)
        return ch.queue_declare(queue=queue, passive=True).method.message_count


def _broker_script(broker, *args, check=True, timeout=120):
    env = dict(os.environ)
    if broker is not None:
        env["WARREN_TEST_PORT_BASE"] = str(broker.port)
        env["WARREN_TEST_ENV"] = broker.state
        if broker.consumer_timeout_ms:
            env["WARREN_CONSUMER_TIMEOUT_MS"] = str(broker.consumer_timeout_ms)
    else:
        env["WARREN_TEST_PORT_BASE"] = str(ENV.port_base)
        env["WARREN_TEST_ENV"] = ENV.state
    r = subprocess.run(["sh", os.path.join(ROOT, "tests", "env", "broker.sh")] +
                       list(args), env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError("broker.sh %s failed (%d): %s%s" % (
            " ".join(args), r.returncode, r.stdout.decode(), r.stderr.decode()))
    return r.stdout.decode()


def broker_ctl(*args, broker=None):
    """rabbitmqctl ARGS against the private node (or broker); its stdout."""
    return _broker_script(broker, "ctl", *args)


def _amqp_login_ok(url):
    try:
        amqp_connect(url).close()
        return True
    except Exception:
        return False


def broker_stop_app(broker=None):
    """Stop the RabbitMQ application (the node stays): connections drop and
    the AMQP port refuses, as in an outage."""
    broker_ctl("stop_app", broker=broker)
    port = broker.port if broker else ENV.amqp_port
    wait_for(lambda: not port_open(port), 30, "AMQP port %d to close" % port)


def _queues_usable(url):
    """True once every queue of TOPOLOGY can be declared: just after
    start_app a stream or quorum queue may still answer 404 "home node ...
    is down or inaccessible" for a moment while logins already work."""
    try:
        with _Channel(url) as ch:
            for q in TOPOLOGY:
                _declare(ch, q)
        return True
    except pika.exceptions.ChannelClosedByBroker as e:
        if e.reply_code != 404:
            raise
        return False
    except pika.exceptions.AMQPConnectionError:
        return False


def broker_start_app(broker=None):
    """Start the application again; wait until guest can log in and the
    queues are back."""
    broker_ctl("start_app", broker=broker)
    url = broker.url if broker else ENV.amqp_url
    wait_for(lambda: _amqp_login_ok(url), 60, "the broker to accept logins")
    wait_for(lambda: _queues_usable(url), 60, "the queues to be usable again",
             interval=0.3)


def close_all_connections(reason="test", broker=None):
    """Make the broker close every client connection (programs reconnect)."""
    broker_ctl("close_all_connections", reason, broker=broker)


class Broker:
    """Another private node on port base+offset (e.g. with a short
    consumer_timeout). start() is idempotent; stopped by cleanup()."""

    def __init__(self, offset, consumer_timeout_ms=None):
        self.port = ENV.port_base + offset
        self.url = "amqp://guest:guest@127.0.0.1:%d" % self.port
        self.consumer_timeout_ms = consumer_timeout_ms
        self.state = os.path.join(ENV.state, "broker-%d" % self.port)

    def start(self):
        _register(self)
        _broker_script(self, "start")

        def declared():   # over an older version's queues; a restarted
            try:          # node's streams come back a little after it
                declare_topology(url=self.url)
                return True
            except Exception:
                return False
        wait_for(declared, 60, "the topology declared on %s" % self.url, interval=0.5)
        return self

    def stop(self):
        _broker_script(self, "stop")

    def ctl(self, *args):
        return _broker_script(self, "ctl", *args)

    def _cleanup(self):
        self.stop()


# ---------------------------------------------------------------- TCP servers

def tls_context(cert="localhost"):
    """A server SSLContext with a certificate from the test PKI."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(ENV.pki, cert + ".crt"),
                        os.path.join(ENV.pki, cert + ".key"))
    return ctx


class TCPServer:
    """A threaded scriptable server for hostile-server tests; see the module
    docstring. handler(sock, addr, server)."""

    def __init__(self, handler, host="127.0.0.1", port=0, tls=None, backlog=64):
        self.handler = handler
        self.connections = 0
        self.errors = []
        self.requests = []
        self._threads = []
        self._socks = set()
        self._stopping = False
        if isinstance(tls, str):
            tls = tls_context(tls)
        self.tls = tls
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(backlog)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()
        _register(self)

    def url(self, path="/", scheme=None):
        scheme = scheme or ("https" if self.tls else "http")
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s://%s:%d/%s" % (scheme, host, self.port, path.lstrip("/"))

    def _accept_loop(self):
        while not self._stopping:
            try:
                s, addr = self.sock.accept()
            except OSError:
                return
            if self._stopping:
                s.close()
                return
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(s, addr), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, s, addr):
        try:
            if self.tls:
                s.settimeout(10)
                s = self.tls.wrap_socket(s, server_side=True)
            s.settimeout(30)
            self._socks.add(s)
            self.handler(s, addr, self)
        except Exception as e:  # recorded for the test to inspect
            if not self._stopping:
                self.errors.append(e)
        finally:
            self._socks.discard(s)
            try:
                s.close()
            except OSError:
                pass

    def stop(self):
        self._stopping = True
        try:
            # shutdown wakes the thread blocked in accept(); close alone
            # would leave the port listening until the next connection.
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._acceptor.join(2)
        try:
            self.sock.close()
        except OSError:
            pass
        for s in list(self._socks):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(2)

    def _cleanup(self):
        self.stop()


def read_request(sock, limit=65536):
    """Read one request head: (request line, headers lowercased, raw head)
    or None if the peer closed before a full head."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > limit:
            raise AssertionError("request head over %d bytes" % limit)
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, socket.timeout):
            return None
        if not chunk:
            return None
        data += chunk
    head = data[:data.index(b"\r\n\r\n")].decode("iso-8859-1").split("\r\n")
    hdrs = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return head[0], hdrs, data


# ---------------------------------------------------------------- cleanup

def detach():
    """Take what was started so far out of the next cleanup(); run.py uses
    it so that programs started in setup_module() serve the module's tests."""
    with _lock:
        objs = list(_started)
        _started.clear()
    return objs


def cleanup(objs=None):
    """Stop everything the current test started (run.py calls this after
    each test). Returns the problems found on the way (a sanitizer report in
    a program's log, a server that failed to stop): run.py fails a test that
    passed otherwise with them."""
    if objs is None:
        with _lock:
            objs = list(_started)
            _started.clear()
    objs = list(reversed(objs))
    problems = []
    for o in objs:
        try:
            o._cleanup()
        except Exception as e:  # keep cleaning the rest
            problems.append("cleanup of %r: %s" % (o, e))
    return problems


atexit.register(cleanup)


# ---------------------------------------------------------------- cluster
# The three-node test cluster of tests/env/cluster.sh (node i: AMQP port
# base+30+2i, node name warren<port>@localhost). Not started by run.py:
# tests/cluster/run.sh and the fault suite start it (cluster_start) when it
# is not running. Tests that use it: tests/cluster/, faults 7 and 8.

def cluster_sh(*args, check=True, timeout=180):
    """tests/env/cluster.sh ARGS for this port base; its stdout."""
    env = dict(os.environ, WARREN_TEST_PORT_BASE=str(ENV.port_base))
    r = subprocess.run(["sh", os.path.join(ROOT, "tests", "env", "cluster.sh")] +
                       [str(a) for a in args], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError("cluster.sh %s failed (%d): %s%s" % (
            " ".join(map(str, args)), r.returncode, r.stdout.decode(),
            r.stderr.decode()))
    return r.stdout.decode()


def cluster_running():
    return cluster_sh("status", check=False).startswith("running")


def cluster_urls():
    """The AMQP URLs of nodes 0, 1, 2."""
    return ["amqp://guest:guest@127.0.0.1:%d" % (ENV.port_base + 30 + 2 * i)
            for i in range(3)]


def cluster_amqp(*order):
    """An --amqp list naming the nodes in that order, e.g. cluster_amqp(1, 2,
    0): node 1 first, the others to fail over to."""
    urls = cluster_urls()
    return ",".join(urls[i] for i in order)


def cluster_node_of(name):
    """Node index (0-2) of a node name such as warren25732@localhost."""
    m = re.match(r"warren(\d+)@", name or "")
    return (int(m.group(1)) - ENV.port_base - 30) // 2 if m else None


def cluster_queue(queue, node=None):
    """{"type", "leader" (node index), "members", "online" (indexes),
    "messages" (ready and unacknowledged)} of a queue as the first answering
    node (or `node`) reports it; None if absent."""
    for n in ([node] if node is not None else range(3)):
        r = cluster_sh("ctl", n, "list_queues", "name", "type", "leader", "members",
                       "online", "messages", "--formatter", "json", check=False)
        try:
            rows = json.loads(r)
        except ValueError:
            continue
        for q in rows:
            if q.get("name") == queue:
                return {"type": q.get("type"),
                        "leader": cluster_node_of(q.get("leader")),
                        "members": sorted(cluster_node_of(m) for m in q.get("members") or []),
                        "online": sorted(cluster_node_of(m) for m in q.get("online") or []),
                        "messages": q.get("messages")}
        return None
    return None


def cluster_delete_queues(*queues):
    """Delete queues (absent ones are fine) so that programs declare them
    afresh; streams cannot be purged, so tests start from nothing this way."""
    for q in queues:
        for url in cluster_urls():
            try:
                delete_queue(q, url=url)
                break
            except Exception:  # node down or queue absent: try the next
                continue

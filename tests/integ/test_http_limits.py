"""Connection limits that queue instead of refusing (issue 10 item 4) and
accept() out of descriptors (issue 11 item 5): at the cap the servers stop
accepting and leave new clients in the listen backlog, closing the
longest-idle keep-alive connection first; 1000 keep-alive tasker clients
and 1000 WebSocket upgrades opening in the same instant are all served with
the defaults; a slow-loris crowd at the cap locks a well-behaved client out
for no longer than the request timeout; with too few descriptors the
server neither spins nor floods its log."""

import os
import re
import resource
import selectors
import socket
import time

from harness import (ENV, Proc, _child_env, _log_path, _register, free_port,
                     http, port_open, purge, timeout, wait_for)
from test_middleman import note, publish_notes, start, wait_seq
from test_tasker import enc, req, tasker, task

REQUEST_TIMEOUT_S = 10  # HTTP_REQUEST_TIMEOUT_S


def setup_module():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(8192, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    purge("tasks")
    purge("notifications")


def teardown_module():
    purge("tasks")
    purge("notifications")


def connect_many(port, n):
    """n sockets connecting at once (non-blocking), then blocking again."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
    return socks


def exchange_all(socks, data, complete, deadline_s=120):
    """Sends data on every socket, then reads on all until complete(buf) is
    true for each. Returns the buffers (None for a socket closed early)."""
    sel = selectors.DefaultSelector()
    bufs = {}
    pending = {}
    for s in socks:
        pending[s] = data(s) if callable(data) else data
        bufs[s] = b""
        sel.register(s, selectors.EVENT_WRITE)
    left = set(socks)
    deadline = time.monotonic() + deadline_s
    while left and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=1):
            s = key.fileobj
            if ev & selectors.EVENT_WRITE:
                try:
                    n = s.send(pending[s])
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    sel.unregister(s)
                    left.discard(s)
                    bufs[s] = None
                    continue
                pending[s] = pending[s][n:]
                if not pending[s]:
                    sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                chunk = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            if not chunk:
                sel.unregister(s)
                left.discard(s)
                if not complete(bufs[s]):
                    bufs[s] = None
                continue
            bufs[s] += chunk
            if complete(bufs[s]):
                sel.unregister(s)
                left.discard(s)
    sel.close()
    return [bufs[s] if s not in left else None for s in socks]


def one_response(buf):
    """True once buf holds a whole HTTP response with Content-Length."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", buf[:end])
    return m is not None and len(buf) >= end + 4 + int(m.group(1))


def status_of(buf):
    return int(buf.split(b" ", 2)[1]) if buf else None


@timeout(300)
def test_1000_keepalive_clients_two_posts_each():
    p = tasker()
    purge("tasks")
    socks = connect_many(p.port, 1000)
    try:
        for round_ in (1, 2):
            got = exchange_all(socks, lambda s: req("POST", "/task", enc(task())),
                               one_response)
            st = [status_of(b) for b in got]
            bad = [x for x in st if x != 202]
            assert not bad, "round %d: %d of 1000 not 202: %r" % (
                round_, len(bad), sorted(set(map(str, bad))))
    finally:
        for s in socks:
            s.close()
    wait_for(lambda: http("GET", p.port, "/health")[0] == 200, 10, "serving")
    assert not re.search(r"\"POST /task\" 503 ", p.log_text())
    assert "overloaded" not in p.log_text()


def ws_request(port, key):
    return ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n" % (port, key)).encode()


@timeout(300)
def test_1000_websocket_upgrades_at_once_all_get_101_and_a_push():
    mm = start("--interval", "0")
    publish_notes([note("limits-before", "queued")])
    wait_seq(mm.port, 1)
    socks = connect_many(mm.port, 1000)
    try:
        key = "dGhlIHNhbXBsZSBub25jZQ=="

        def upgraded_with_frame(buf):
            end = buf.find(b"\r\n\r\n")
            return end >= 0 and b"limits-before" in buf[end:]
        got = exchange_all(socks, ws_request(mm.port, key), upgraded_with_frame)
        st = [status_of(b) for b in got]
        bad = [x for x in st if x != 101]
        assert not bad, "%d of 1000 not 101: %r" % (len(bad), sorted(set(map(str, bad))))
        # a live push reaches all of them
        publish_notes([note("limits-after", "done")])
        got = exchange_all(socks, b"", lambda b: b"limits-after" in b)
        assert all(b is not None for b in got), \
            "%d clients without the push" % sum(b is None for b in got)
    finally:
        for s in socks:
            s.close()
    assert http("GET", mm.port, "/health")[0] == 200


@timeout(120)
def test_idle_keepalive_closed_first_at_the_cap():
    """1024 idle connections fill the cap: the next client is served (once
    they have been idle for a second), and the connection idle the longest
    is the one closed for it."""
    p = tasker()
    conns = []
    try:
        for _ in range(1024):
            conns.append(socket.create_connection(("127.0.0.1", p.port), timeout=10))
            if len(conns) == 1:
                time.sleep(0.2)  # the first one is idle the longest
        st, _, _ = http("GET", p.port, "/health", timeout=30)
        assert st == 200, st
        conns[0].settimeout(5)
        assert conns[0].recv(100) == b"", "the oldest idle connection stayed open"
        conns[512].sendall(req("GET", "/health"))
        conns[512].settimeout(5)
        got = conns[512].recv(4096)
        assert got.startswith(b"HTTP/1.1 200"), got
    finally:
        for s in conns:
            s.close()


@timeout(180)
def test_slow_loris_crowd_at_cap_does_not_lock_out():
    """1024 clients each send part of a request head and stop: they hold
    every slot (they are not idle, so not reusable). A well-behaved client
    connecting then waits in the backlog and is served once the crowd is
    dropped at the request timeout, not refused."""
    p = tasker()
    crowd = connect_many(p.port, 1024)
    try:
        for s in crowd:
            s.setblocking(True)
            s.sendall(b"POST /task HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        wait_for(lambda: p.log_text().count("\n") > 0, 5, "log")
        time.sleep(0.5)
        t0 = time.monotonic()
        c = socket.create_connection(("127.0.0.1", p.port), timeout=60)
        c.sendall(req("GET", "/health"))
        c.settimeout(REQUEST_TIMEOUT_S * 4)
        got = c.recv(4096)
        waited = time.monotonic() - t0
        c.close()
        assert got.startswith(b"HTTP/1.1 200"), got[:100]
        print("well-behaved client served after %.1f s" % waited)
        assert waited < REQUEST_TIMEOUT_S * 3, waited
        # the crowd is dropped with 408 at the request timeout
        s = crowd[-1]
        s.settimeout(REQUEST_TIMEOUT_S * 3)
        assert s.recv(4096).startswith(b"HTTP/1.1 408")
    finally:
        for s in crowd:
            s.close()
    assert "too many connections" not in p.log_text()


@timeout(120)
def test_accept_out_of_descriptors_no_spin():
    """Under `prlimit --nofile=40`, 80 clients at once: accept() fails with
    EMFILE; the tasker logs it once, does not spin, and serves everyone as
    descriptors free up."""
    port = free_port()
    argv = ["prlimit", "--nofile=40:40", "--", ENV.bin("tasker"), "--listen",
            "127.0.0.1:%d" % port, "--amqp", ENV.amqp_url]
    p = _register(Proc("tasker", argv, _child_env(None), port,
                       _log_path("tasker"), None, None))
    wait_for(lambda: port_open(port), 15, "the tasker to listen")
    wait_for(lambda: http("GET", port, "/health")[0] == 200, 20, "broker up")
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10)
             for _ in range(80)]
    try:
        wait_for(lambda: "new connections wait" in p.log_text(), 10, "EMFILE logged")
        with open("/proc/%d/stat" % p.pid) as f:
            f0 = f.read().split()
        time.sleep(3)
        with open("/proc/%d/stat" % p.pid) as f:
            f1 = f.read().split()
        ticks = (int(f1[13]) + int(f1[14])) - (int(f0[13]) + int(f0[14]))
        cpu_s = ticks / os.sysconf("SC_CLK_TCK")
        assert cpu_s < 1.0, "spinning: %.2f s of CPU in 3 s" % cpu_s
        assert p.log_text().count("new connections wait") == 1, p.log_text()[-2000:]
        assert "hard limit 40" in p.log_text()
        for s in socks[:60]:
            s.close()
        # the ones left in the backlog are accepted and served
        for s in socks[60:]:
            s.sendall(req("GET", "/health"))
            s.settimeout(10)
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for s in socks:
            s.close()
    assert http("GET", port, "/health")[0] == 200


@timeout(60)
def test_answer_pipelined_before_websocket_upgrade_is_sent():
    """Issue 11 item 8: GET /health pipelined before GET /ws on one
    connection: its 200 comes first, then the 101 and the stream."""
    mm = start()
    publish_notes([note("before-upgrade", "queued")])
    wait_seq(mm.port, 1)
    s = socket.create_connection(("127.0.0.1", mm.port), timeout=10)
    try:
        s.sendall(req("GET", "/health") +
                  ws_request(mm.port, "dGhlIHNhbXBsZSBub25jZQ=="))
        got = b""
        deadline = time.monotonic() + 10
        while b"before-upgrade" not in got and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        ok, up = got.find(b"HTTP/1.1 200"), got.find(b"HTTP/1.1 101")
        assert 0 == ok < up, got[:300]
        assert b"before-upgrade" in got[up:], got[:300]
    finally:
        s.close()
    assert http("GET", mm.port, "/health")[0] == 200

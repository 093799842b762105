"""The middleman's WebSocket server (RFC 6455): conformance with an
independent client (Debian's python3-websockets), every protocol error
through a raw-socket client (after each, a fresh client is served), many
clients, a client that never reads, pings of idle clients."""

import asyncio
import json
import socket
import struct
import time

import websockets

from harness import http, timeout, wait_for
import wsraw
from wsraw import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT,
                   RawWS, close_payload)
from test_middleman import S, note, publish_notes, served, start, wait_seq


def setup_one(*args):
    mm = start("--interval", "0", *args)
    publish_notes([note("w1", "queued")])
    wait_seq(mm.port, 1)
    return mm


def assert_served(mm):
    """A fresh client is served: it gets the stored notifications."""
    msgs = served(mm.port)
    assert msgs and json.loads(msgs[0])["id"] == "w1"
    assert mm.alive()


def close_code(exc):
    rcvd = getattr(exc, "rcvd", None)
    return rcvd.code if rcvd is not None else getattr(exc, "code", None)


# ---------------------------------------------------------------- conformance

def test_independent_client():
    mm = setup_one()
    uri = "ws://127.0.0.1:%d/ws" % mm.port

    async def main():
        async with websockets.connect(uri, ping_interval=None) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert first["id"] == "w1" and first["seq"] == S(1)
            # our ping is answered
            pong = await ws.ping(b"hello")
            await asyncio.wait_for(pong, 5)
            # messages from the client, whole or fragmented, are accepted
            # (and ignored): the connection goes on
            await ws.send("text from the client \u00e9")
            await ws.send(b"\x00\x01binary")
            await ws.send(iter(["frag", "mented ", "\u00e9t\u00e9"]))
            await ws.send("x" * 65536)  # the largest message allowed
            publish_notes([note("w2", "queued")])
            nxt = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert nxt["id"] == "w2" and nxt["seq"] == S(2)
        assert ws.close_code == 1000, ws.close_code

        # since= and task= with the same client
        async with websockets.connect(uri + "?since=%d" % S(1), ping_interval=None) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["seq"] == S(2)

        # one byte over the message limit: 1009
        async with websockets.connect(uri, ping_interval=None, max_size=None) as ws:
            await ws.send("x" * 65537)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            except websockets.exceptions.ConnectionClosed as e:
                assert close_code(e) == 1009, e
    asyncio.run(main())
    assert_served(mm)
    mm.stop()


def test_server_close_handshake_with_independent_client():
    mm = setup_one()

    async def main():
        ws = await websockets.connect("ws://127.0.0.1:%d/ws" % mm.port,
                                      ping_interval=None)
        await ws.recv()
        mm.signal(15)  # SIGTERM: the server closes with 1001
        try:
            await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError("no close")
        except websockets.exceptions.ConnectionClosedOK as e:
            assert close_code(e) == 1001
        await ws.wait_closed()
    asyncio.run(main())
    assert mm.wait(10) == 0
    mm.stop()


# ---------------------------------------------------------------- protocol errors

P126 = b"p" * 126

# (what, frames to send, expected close code)
ERRORS = [
    ("unmasked frame", [wsraw.frame(OP_TEXT, "hi", mask=False)], 1002),
    ("RSV1 set", [wsraw.frame(OP_TEXT, "hi", rsv=4)], 1002),
    ("RSV2 set", [wsraw.frame(OP_TEXT, "hi", rsv=2)], 1002),
    ("RSV3 set", [wsraw.frame(OP_TEXT, "hi", rsv=1)], 1002),
    ("opcode 3", [wsraw.frame(3, "x")], 1002),
    ("opcode 11", [wsraw.frame(11, "x")], 1002),
    ("fragmented ping", [wsraw.frame(OP_PING, "x", fin=False)], 1002),
    ("126-byte ping", [wsraw.frame(OP_PING, P126)], 1002),
    ("126-byte close", [wsraw.frame(OP_CLOSE, close_payload(1000, P126[:124]))], 1002),
    ("continuation without a start", [wsraw.frame(OP_CONT, "x")], 1002),
    ("new message inside a fragmented one",
     [wsraw.frame(OP_TEXT, "a", fin=False), wsraw.frame(OP_TEXT, "b")], 1002),
    ("invalid UTF-8 in one frame", [wsraw.frame(OP_TEXT, b"ok \xed\xa0\x80")], 1007),
    ("invalid UTF-8 split across fragments",
     [wsraw.frame(OP_TEXT, b"ok \xf0\x9f", fin=False),
      wsraw.frame(OP_CONT, b"\x98\x80\xc0\xaf")], 1007),
    ("UTF-8 cut at the end of the message",
     [wsraw.frame(OP_TEXT, b"ok \xe2\x82", fin=False), wsraw.frame(OP_CONT, b"")], 1007),
    ("close code 999", [wsraw.frame(OP_CLOSE, close_payload(999))], 1002),
    ("close code 1005", [wsraw.frame(OP_CLOSE, close_payload(1005))], 1002),
    ("close code 1006", [wsraw.frame(OP_CLOSE, close_payload(1006))], 1002),
    ("close code 5000", [wsraw.frame(OP_CLOSE, close_payload(5000))], 1002),
    ("1-byte close payload", [wsraw.frame(OP_CLOSE, b"\x03")], 1002),
    ("close reason not UTF-8", [wsraw.frame(OP_CLOSE, close_payload(1000, b"\xff"))], 1007),
    ("oversize message", [wsraw.frame(OP_BINARY, b"x" * 65537)], 1009),
    ("oversize announced, nothing sent",
     [wsraw.frame(OP_TEXT, b"", length=1 << 40)], 1009),
    ("oversize over fragments",
     [wsraw.frame(OP_TEXT, b"x" * 40000, fin=False),
      wsraw.frame(OP_CONT, b"x" * 30000)], 1009),
    ("64-bit length with the top bit set",
     [wsraw.frame(OP_BINARY, b"", length=1 << 63)], 1002),
]


def test_protocol_errors():
    mm = setup_one()
    for what, frames, code in ERRORS:
        c = RawWS(mm.port)
        assert c.status == 101
        assert json.loads(c.recv_text())["id"] == "w1"
        for f in frames:
            try:
                c.send(f)
            except OSError:
                break  # the server may close before reading it all
        try:
            c.expect_close(code)
        except AssertionError as e:
            raise AssertionError("%s: %s" % (what, e))
        c.close()
        assert_served(mm)
    log = mm.log_text()
    assert "closing with 1002" in log and "closing with 1007" in log and \
        "closing with 1009" in log
    mm.stop()


def test_handshake_errors():
    mm = setup_one()
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    cases = [
        ({"Sec-WebSocket-Version": "8"}, 426),
        ({"Sec-WebSocket-Version": "14"}, 426),
        ({"Sec-WebSocket-Version": None}, 400),
        ({"Sec-WebSocket-Key": None}, 400),
        ({"Sec-WebSocket-Key": "short"}, 400),
        ({"Sec-WebSocket-Key": "!!!!" + key[4:]}, 400),
        ({"Upgrade": None}, 400),
        ({"Upgrade": "h2c"}, 400),
        ({"Connection": "keep-alive"}, 400),
    ]
    for hdrs, want in cases:
        c = RawWS(mm.port, headers=hdrs, key=key)
        assert c.status == want, (hdrs, c.status)
        if want == 426:
            assert c.headers.get("sec-websocket-version") == "13", c.headers
        c.close()
        assert_served(mm)
    # a plain GET, a POST, HTTP/1.0
    assert http("GET", mm.port, "/ws")[0] == 400
    raw = ("POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"
           % key).encode()
    from harness import raw_exchange
    assert raw_exchange(mm.port, raw).startswith(b"HTTP/1.1 400")
    raw = raw.replace(b"POST /ws HTTP/1.1", b"GET /ws HTTP/1.0")
    assert b" 400 " in raw_exchange(mm.port, raw).split(b"\r\n")[0]
    # Firefox's Connection header, lower-case upgrade token
    c = RawWS(mm.port, headers={"Connection": "keep-alive, Upgrade", "Upgrade": "WebSocket"})
    assert c.status == 101
    c.close()
    assert_served(mm)
    mm.stop()


def test_control_frames_and_close_handshake():
    mm = setup_one()
    # ping answered with the same payload, even inside a fragmented message
    c = RawWS(mm.port)
    c.recv_text()
    c.send_frame(OP_TEXT, "frag", fin=False)
    c.send_frame(OP_PING, b"\x00\xffpayload")
    c.send_frame(OP_PONG, b"unsolicited")
    c.send_frame(OP_CONT, " ment", fin=True)
    c.send_frame(OP_PING, b"p" * 125)
    fin, op, payload = c.recv_frame()
    assert (fin, op, payload) == (True, OP_PONG, b"\x00\xffpayload")
    fin, op, payload = c.recv_frame()
    assert (op, payload) == (OP_PONG, b"p" * 125)
    publish_notes([note("w2", "queued")])
    assert json.loads(c.recv_text())["seq"] == S(2)
    # a close from the client is echoed, then the server closes TCP
    c.send_frame(OP_CLOSE, close_payload(1000, b"bye"))
    fin, op, payload = c.recv_frame()
    assert op == OP_CLOSE and payload[:2] == struct.pack("!H", 1000)
    c.expect_eof(3)
    c.close()
    for code in (1001, 3000, 4999):
        c = RawWS(mm.port)
        c.send_frame(OP_CLOSE, close_payload(code))
        assert c.expect_close(code) == ""
        c.close()
    # an empty close gets an empty close back
    c = RawWS(mm.port)
    c.send_frame(OP_CLOSE, b"")
    while True:
        fin, op, payload = c.recv_frame()
        if op == OP_CLOSE:
            break
    assert payload == b""
    c.expect_eof(3)
    c.close()
    # frames sent right behind the handshake request are read too
    c = RawWS(mm.port, extra=wsraw.frame(OP_PING, b"early"))
    frames = [c.recv_frame() for _ in range(3)]
    assert (True, OP_PONG, b"early") in frames, frames
    c.close()
    # a client that leaves without a close frame is simply forgotten
    c = RawWS(mm.port)
    c.send(wsraw.frame(OP_TEXT, "half")[:3])
    c.close()
    assert_served(mm)
    mm.stop()


# ---------------------------------------------------------------- many clients

@timeout(180)
def test_200_clients():
    mm = setup_one()
    clients = [RawWS(mm.port, timeout=10) for _ in range(200)]
    for c in clients:
        assert c.status == 101
        assert json.loads(c.recv_text(10))["seq"] == S(1)
    publish_notes([note("many", "queued")])
    for c in clients:
        m = json.loads(c.recv_text(10))
        assert m["id"] == "many" and m["seq"] == S(2)
    for c in clients:
        c.close()
    assert_served(mm)
    mm.stop()


@timeout(180)
def test_client_that_never_reads_does_not_delay_others():
    mm = start("--interval", "0")
    # the slow one: a small receive window, and it never reads
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", mm.port))
    slow.sendall(("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    fast = RawWS(mm.port)
    wait_for(lambda: mm.log_text().count(": open (") == 2, 5, "both clients open")
    pad = "x" * 30000
    n = 400  # 12 MB: far past the slow one's socket buffers and backlog
    # were a write to the slow one to block, the fast one would starve
    # once its own socket buffers were full
    for i in range(0, n, 20):
        publish_notes([note("big%d" % j, "progress", pad=pad) for j in range(i, i + 20)])
        for j in range(i, i + 20):
            m = json.loads(fast.recv_text(10))
            assert m["seq"] == S(j + 1)
    # it costs nothing meanwhile (a position in the store); after
    # WS_STALL_TIMEOUT_S (30) behind (its socket full) it is dropped
    mm.wait_log("too slow: behind for too long", 45)
    slow.close()
    fast.close()
    assert_served_after = served(mm.port)
    assert len(assert_served_after) == n
    mm.stop()


@timeout(200)
def test_idle_clients_pinged_dead_ones_dropped():
    """WS_PING_INTERVAL_S (30) of silence brings a ping; a client that does
    not answer within WS_PONG_TIMEOUT_S (30) is dropped; one that answers
    stays."""
    mm = setup_one()
    alive, dead = RawWS(mm.port), RawWS(mm.port)
    alive.recv_text()
    dead.recv_text()
    t0 = time.monotonic()
    fin, op, payload = dead.recv_frame(timeout=45)
    assert op == OP_PING, op
    assert time.monotonic() - t0 > 25
    fin, op, payload = alive.recv_frame(timeout=10)
    assert op == OP_PING
    alive.send_frame(OP_PONG, payload)
    dead.expect_eof(45)
    mm.wait_log("no answer to ping")
    publish_notes([note("still", "queued")])
    assert json.loads(alive.recv_text(40))["id"] == "still"
    alive.close()
    mm.stop()


@timeout(180)
def test_client_limit():
    """WS_MAX_CLIENTS (1024) at once; the next one is answered 503 before
    any upgrade, and is served again once a place is free."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    mm = setup_one()
    clients = [RawWS(mm.port, timeout=10) for _ in range(1024)]
    assert all(c.status == 101 for c in clients)
    extra = RawWS(mm.port)
    assert extra.status == 503, extra.status
    assert "retry-after" in extra.headers
    extra.close()
    # HTTP still answers meanwhile
    assert http("GET", mm.port, "/health")[0] == 200
    clients.pop().close()
    wait_for(lambda: mm.log_text().count("the client left") >= 1, 5, "a place freed")
    assert_served(mm)
    for c in clients:
        c.close()
    mm.stop()

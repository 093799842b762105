"""wsraw.py - a raw-socket WebSocket client for tests: it sends exactly the
bytes a test asks for (bad frames included) and checks what the server
sends back byte by byte. Standard library only."""

import base64
import hashlib
import os
import socket
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None):
    """A client frame; rsv is the 3-bit RSV field, length overrides the
    announced length (the payload is sent as given)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0x0F)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + body


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Closed(Exception):
    """The server closed the TCP connection."""


class RawWS:
    """One connection. After the constructor, .status is the HTTP status of
    the handshake answer and .headers its headers (lowercase names)."""

    def __init__(self, port, path="/ws", headers=None, host="127.0.0.1",
                 timeout=5, key=None, version="13", extra=b""):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port)]
        hdrs = {"Upgrade": "websocket", "Connection": "Upgrade",
                "Sec-WebSocket-Key": self.key,
                "Sec-WebSocket-Version": version}
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            if v is not None:
                lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + extra)
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed("closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        head = head.decode("iso-8859-1").split("\r\n")
        self.status = int(head[0].split()[1])
        self.headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if self.status == 101:
            assert self.headers.get("sec-websocket-accept") == accept_for(self.key), \
                self.headers
            assert self.headers.get("upgrade", "").lower() == "websocket"

    def send(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.sock.sendall(frame(opcode, payload, **kw))

    def _need(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no frame in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed("connection closed with %d bytes pending" % len(self.buf))
            self.buf += chunk

    def recv_frame(self, timeout=5):
        """(fin, opcode, payload) of the next frame; the server must not
        mask nor set RSV bits. Raises Closed at EOF, socket.timeout."""
        deadline = time.monotonic() + timeout
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        assert b1 & 0x80 == 0, "masked frame from the server"
        assert b0 & 0x70 == 0, "RSV bits from the server"
        n, pos = b1 & 0x7F, 2
        if n == 126:
            self._need(4, deadline)
            n, pos = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, pos = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(pos + n, deadline)
        payload = self.buf[pos:pos + n]
        self.buf = self.buf[pos + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv_text(self, timeout=5):
        """The next text message (answering pings on the way)."""
        while True:
            fin, op, payload = self.recv_frame(timeout)
            if op == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            assert op == OP_TEXT and fin, (op, fin, payload)
            return payload.decode()

    def expect_close(self, code, timeout=5):
        """Skips text frames until a close frame; asserts its code, answers
        it, and asserts the server then closes the TCP connection."""
        deadline = time.monotonic() + timeout
        while True:
            fin, op, payload = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if op == OP_CLOSE:
                break
            assert op in (OP_TEXT, OP_PING), "unexpected opcode %d" % op
        got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        assert got == code, "close code %s, want %s (payload %r)" % (got, code, payload)
        if len(payload) > 2:
            payload[2:].decode("utf-8")  # the reason must be UTF-8
        try:
            self.send_frame(OP_CLOSE, payload[:2])
        except OSError:
            pass
        self.expect_eof(timeout)
        return payload[2:].decode()

    def expect_eof(self, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "the server did not close the connection"
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return
            if not chunk:
                return

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

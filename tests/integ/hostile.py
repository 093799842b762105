"""hostile.py - a scripted, misbehaving HTTP server for the worker's tests.

Script(step, step, ...) starts a harness.TCPServer (threads, loopback, TLS
optional) that answers the n-th connection with the n-th step (the last step
repeats), after reading its request head. Every request is recorded in
.requests as (request line, headers dict with lowercase names). Steps are
functions step(sock, request) built by the helpers below; they write what a
broken or hostile server would write: wrong framing, short bodies, stalls,
huge heads, bad chunk sizes, redirects, Retry-After...

    s = Script(resp(503, headers={"Retry-After": "1"}), resp(200, b"ok"))
    run the worker on s.url("/file.bin")
    assert len(s.requests) == 2
"""

import time

from harness import TCPServer, read_request


def _head(status, headers, reason="X", version="HTTP/1.1"):
    lines = ["%s %d %s" % (version, status, reason)]
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _pairs(headers):
    if headers is None:
        return []
    if isinstance(headers, dict):
        return list(headers.items())
    return list(headers)


def resp(status=200, body=b"", headers=None, length=True, version="HTTP/1.1",
         linger=0):
    """A whole response; Content-Length added unless length=False."""
    def step(sock, req):
        hs = _pairs(headers)
        if length:
            hs.append(("Content-Length", str(len(body))))
        sock.sendall(_head(status, hs, version=version) + body)
        if linger:
            time.sleep(linger)
    return step


def raw(*parts, pause=0.0, then_sleep=0.0):
    """Sends the byte strings in parts, pausing between them, then sleeps
    (a stall) before the connection is closed."""
    def step(sock, req):
        for i, p in enumerate(parts):
            if i and pause:
                time.sleep(pause)
            sock.sendall(p)
        if then_sleep:
            time.sleep(then_sleep)
    return step


def chunked(chunks, trailers=b"", extensions=False, headers=None):
    """A chunked response of the given chunks (bytes each)."""
    def step(sock, req):
        hs = _pairs(headers) + [("Transfer-Encoding", "chunked")]
        out = _head(200, hs)
        for i, c in enumerate(chunks):
            ext = (';name=%d;flag' % i).encode() if extensions else b""
            out += b"%x%s\r\n%s\r\n" % (len(c), ext, c)
        out += b"0" + (b";last=1" if extensions else b"") + b"\r\n" + trailers + b"\r\n"
        sock.sendall(out)
    return step


def ranged(body, etag='"v1"', cut=None, headers=None):
    """Serves body like a static file server: 200 with an ETag, or 206 for
    a Range request whose If-Range matches; with cut=N a 200 stops after N
    bytes (a truncated transfer)."""
    def step(sock, req):
        line, hdrs, _ = req
        rng = hdrs.get("range", "")
        hs = _pairs(headers) + [("ETag", etag)]
        if rng.startswith("bytes=") and hdrs.get("if-range") == etag:
            start = int(rng[6:].split("-")[0])
            if start >= len(body):
                sock.sendall(_head(416, hs + [("Content-Range", "bytes */%d" % len(body)),
                                              ("Content-Length", "0")]))
                return
            part = body[start:]
            hs += [("Content-Range", "bytes %d-%d/%d" % (start, len(body) - 1, len(body))),
                   ("Content-Length", str(len(part)))]
            sock.sendall(_head(206, hs) + part)
            return
        hs.append(("Content-Length", str(len(body))))
        data = body if cut is None else body[:cut]
        sock.sendall(_head(200, hs) + data)
    return step


class Script:
    def __init__(self, *steps, tls=None, host="127.0.0.1"):
        self.steps = list(steps)
        self.requests = []
        self.server = TCPServer(self._handle, host=host, tls=tls)
        self.port = self.server.port

    def _handle(self, sock, addr, server):
        req = read_request(sock)
        if req is None:
            return
        self.requests.append((req[0], req[1]))
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        step(sock, req)

    def url(self, path="/", userinfo=None):
        u = self.server.url(path)
        if userinfo:
            scheme, rest = u.split("://", 1)
            u = "%s://%s@%s" % (scheme, userinfo, rest)
        return u

    def stop(self):
        self.server.stop()

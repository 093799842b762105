"""A chunk-size line is RFC 9112's grammar or an error (issue 12 item 5):
hex digits, optional extensions (;name[=value] with a token or a
quoted-string), then CRLF. `a GARBAGE`, a bare CR and white space before
the line end are refused in the tasker's request bodies (400, connection
closed, the server still serves) and in the worker's responses (a clear
failure, not retried); well-formed extensions still pass on both sides."""


from hostile import Script, raw
from test_tasker import (Raw, assert_serves, check_error_body, enc, purge_all,
                         req, task, tasker)
from test_worker_get import done, failed

BAD_LINES = [b"%x GARBAGE", b"%x\r\r", b"%x ", b"%x;", b"%x;n=", b"%x;n=v w",
             b"%x;n=\"open"]


def setup_module():
    purge_all()


def teardown_module():
    purge_all()


def test_request_body_bad_chunk_size_line_400():
    p = tasker()
    body = enc(task())
    for line in BAD_LINES:
        size = line % len(body)
        c = Raw(p.port)
        try:
            c.send(req("POST", "/task", b"", {"Transfer-Encoding": "chunked"}) +
                   size + b"\n" + body + b"\r\n0\r\n\r\n")
            st, h, resp = c.read_response(timeout=5)
            assert st == 400, (size, st, resp)
            assert "chunked" in check_error_body(h, resp)
            assert c.closed(), size
        finally:
            c.close()
    assert_serves(p.port)


def test_request_body_good_extensions_202():
    p = tasker()
    body = enc(task())
    size = b"%x ; n = v ; q=\"a \\\" b\" ;flag" % len(body)
    c = Raw(p.port)
    try:
        c.send(req("POST", "/task", b"", {"Transfer-Encoding": "chunked"}) +
               size + b"\r\n" + body + b"\r\n0\r\n\r\n")
        st, _, resp = c.read_response(timeout=5)
        assert st == 202, resp
    finally:
        c.close()


HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_response_bad_chunk_size_line_fails_clearly():
    for line in BAD_LINES:
        s = Script(raw(HEAD + (line % 5) + b"\nhello\r\n0\r\n\r\n"))
        res, err = failed(s.url("/bad.bin"), "--retries", "2")
        assert "chunked" in res["error"], (line, res["error"])
        assert len(s.requests) == 1, line  # malformed: not retried


def test_response_good_extensions_pass():
    s = Script(raw(HEAD + b"5 ;a=b; q=\"x;y\\\"\"\r\nhello\r\n0;last\r\n\r\n"))
    res, data, _ = done(s.url("/good.bin"))
    assert data == b"hello"

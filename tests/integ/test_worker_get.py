"""The worker's downloader on its own (`worker --get`, issue 3), against the
test nginx (HTTP and HTTPS with the test CA) and the hostile server of
hostile.py: framing (Content-Length, chunked with extensions and trailers,
close-delimited HTTP/1.0), 1xx, redirects, retries and Retry-After,
permanent errors, timeouts, limits, TLS verification, resume with Range and
If-Range, names, and the promise that no partial file is ever left."""

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import time

from harness import ENV, fresh_dir, run_program, timeout
from hostile import Script, chunked, ranged, raw, resp


def leftovers(d):
    """Files a finished run must not leave: .part, .meta, .done."""
    return [f for f in os.listdir(d) if re.match(r"^\..*\.(part|meta|done)$", f)]


def get(url, *args, dir=None, expect_rc=None, tmo=60, ca=None):
    """worker --get URL in a fresh dir; (result JSON, stderr text, dir)."""
    d = dir or fresh_dir("get")
    argv = ["--get", url, "--dir", d, "--ca-file", ca or ENV.ca_file] + list(args)
    r = run_program("worker", argv, timeout=tmo)
    err = r.stderr.decode(errors="replace")
    out = r.stdout.decode()
    lines = [l for l in out.splitlines() if l.strip()]
    assert len(lines) == 1, "want one JSON line, got %r (stderr %s)" % (out, err)
    res = json.loads(lines[0])
    want = 0 if res["status"] == "done" else 1
    assert r.returncode == (expect_rc if expect_rc is not None else want), (r.returncode, res, err)
    assert res["status"] in ("done", "failed")
    assert res["arg"] == url and res["taskType"] == "download"
    assert not leftovers(d), leftovers(d)
    return res, err, d


def done(url, *args, **kw):
    res, err, d = get(url, *args, **kw)
    assert res["status"] == "done", (res, err)
    with open(res["file"], "rb") as f:
        data = f.read()
    assert hashlib.sha256(data).hexdigest() == res["sha256"]
    assert res["bytes"] == len(data)
    if "-o" not in args and "--output" not in args:
        assert os.path.dirname(res["file"]) == os.path.realpath(d)
    return res, data, err


def failed(url, *args, **kw):
    res, err, d = get(url, *args, **kw)
    assert res["status"] == "failed", res
    assert res["error"]
    # nothing but what was there before: no final file
    assert not [f for f in os.listdir(d) if not f.startswith(".")], os.listdir(d)
    return res, err


def docfile(name):
    with open(os.path.join(ENV.docroot, name), "rb") as f:
        return f.read()


# ---------------------------------------------------------------- nginx

def test_http_small_file():
    res, data, _ = done(ENV.url("small.txt"))
    assert data == docfile("small.txt")
    assert res["sha256"] == ENV.sha256("small.txt")
    assert res["total"] == len(data)
    assert os.path.basename(res["file"]) == "small.txt"
    assert re.match(r"^[^:]+:\d+$", res["worker"])
    assert isinstance(res["time"], int) and res["time"] > 1.6e12


def test_https_10m_and_ipv6():
    res, data, err = done(ENV.url("10m.bin", tls=True, host="localhost"))
    assert res["sha256"] == ENV.sha256("10m.bin")
    # an address in the URL is checked against the certificate's IP entries
    res, data, err = done(ENV.url("1m.bin", tls=True, host="127.0.0.1"))
    assert res["sha256"] == ENV.sha256("1m.bin")
    res, data, err = done(ENV.url("1m.bin", tls=True, host="::1"))
    assert res["sha256"] == ENV.sha256("1m.bin")


def test_https_ecdsa_chain_tls13_and_tls12():
    """A P-256 certificate under a P-384 CA (signed with SHA-384), the CA
    found in a PEM bundle of two; on a server that speaks TLS 1.3 and 1.2
    and on one that speaks 1.2 only. The worker logs what was negotiated:
    with mbedTLS 3.6 (static builds) 1.3 where it can, 1.2 otherwise; with
    Debian's 2.28, 1.2 and an ECDSA suite."""
    for port, only12 in ((ENV.https_ecdsa_port, False), (ENV.https_ecdsa12_port, True)):
        url = "https://localhost:%d/1m.bin" % port
        res, data, err = done(url, ca=ENV.ca_bundle)
        assert res["sha256"] == ENV.sha256("1m.bin")
        m = re.search(r"TLS with localhost:%d: TLSv1\.([23]), (\S+)" % port, err)
        assert m, err
        if only12:
            assert m.group(1) == "2", err
        if m.group(1) == "2":
            assert "ECDHE-ECDSA" in m.group(2), err
        # the RSA test CA alone does not vouch for it
        res, err = failed(url)
        assert "unknown CA" in res["error"], res
    # the bundle serves the RSA chain as well
    res, data, err = done(ENV.url("small.txt", tls=True, host="localhost"), ca=ENV.ca_bundle)
    assert data == docfile("small.txt")


def test_http_ipv6_literal():
    res, data, _ = done("http://[::1]:%d/small.txt" % ENV.http_port)
    assert data == docfile("small.txt")


def test_empty_file_and_names():
    res, data, _ = done(ENV.url("empty.txt"))
    assert data == b"" and res["bytes"] == 0
    assert res["sha256"] == hashlib.sha256(b"").hexdigest()
    res, data, _ = done(ENV.url("with%20space.txt"))
    assert os.path.basename(res["file"]) == "with space.txt"
    d = fresh_dir("names")
    for want in ("small.txt", "small.txt.1", "small.txt.2"):
        res, _, _ = done(ENV.url("small.txt"), dir=d)
        assert os.path.basename(res["file"]) == want


def test_output_file():
    d = fresh_dir("out")
    target = os.path.join(d, "sub", "x.bin")
    res, data, _ = done(ENV.url("1m.bin"), "-o", target, dir=d)
    assert res["file"] == os.path.realpath(target)
    assert not leftovers(os.path.dirname(target))
    # -o replaces what is there, like wget -O and curl -o
    res, data, _ = done(ENV.url("small.txt"), "--output", target, dir=d)
    with open(target, "rb") as f:
        assert f.read() == docfile("small.txt")


@timeout(60)
def test_tls_verification_failures_are_permanent():
    for port, what in ((ENV.https_wrong_port, "does not match the host name"),
                       (ENV.https_unknown_port, "unknown CA"),
                       (ENV.https_expired_port, "expired")):
        t0 = time.time()
        res, err = failed("https://localhost:%d/small.txt" % port)
        assert what in res["error"], res["error"]
        assert "try 2" not in err, err  # no retry
        assert time.time() - t0 < 5
    # the system bundle does not know the test CA
    r = run_program("worker", ["--get", ENV.url("small.txt", tls=True, host="localhost"),
                               "--dir", fresh_dir("sys"), "--retries", "0"])
    res = json.loads(r.stdout)
    assert res["status"] == "failed" and "unknown CA" in res["error"], res


def test_bad_ca_file():
    """A CA file that cannot be used fails the download, naming the file
    and why; the same run loads a good one in PEM or DER."""
    d = fresh_dir("ca")
    empty = os.path.join(d, "empty.pem")
    open(empty, "w").close()
    junk = os.path.join(d, "junk.pem")
    with open(junk, "w") as f:
        f.write("not a certificate\n" * 100)
    bad_pem = os.path.join(d, "bad.pem")
    with open(bad_pem, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    for ca, why in (("/nonexistent.pem", "No such file"), (d, "not a regular file"),
                    (empty, "empty"), (junk, ""), (bad_pem, "")):
        r = run_program("worker", ["--get", ENV.url("small.txt", tls=True, host="localhost"),
                                   "--dir", d, "--ca-file", ca])
        res = json.loads(r.stdout)
        assert r.returncode == 1 and res["status"] == "failed", (ca, res)
        assert "cannot load CA file " + ca + ": " in res["error"], (ca, res)
        # some words after the colon, whatever the build's mbedTLS says
        assert res["error"].split(ca + ": ", 1)[1].strip(), (ca, res)
        assert why in res["error"], (ca, res)
        assert not leftovers(d)
    # the test CA in DER, and in a PEM bundle after a broken certificate
    der = os.path.join(d, "ca.der")
    subprocess.run(["openssl", "x509", "-in", ENV.ca_file, "-outform", "DER", "-out", der],
                   check=True)
    bundle = os.path.join(d, "bundle.pem")
    with open(bundle, "w") as f, open(ENV.ca_file) as ca:
        f.write(open(bad_pem).read() + ca.read())
    for ca in (der, bundle):
        res, data, _ = done(ENV.url("small.txt", tls=True, host="localhost"),
                            dir=fresh_dir("ca-ok"), ca=ca)
        assert data == docfile("small.txt"), ca


def test_redirects():
    for path in ("redir/abs", "redir/rel", "redir/chain/1", "redir/301",
                 "redir/303", "redir/307", "redir/308"):
        res, data, _ = done(ENV.url(path))
        assert data == docfile("small.txt"), path
        assert os.path.basename(res["file"]) == "small.txt"
    res, err = failed(ENV.url("redir/chain6"))
    assert "too many redirects" in res["error"]
    res, err = failed(ENV.url("redir/loop"))
    assert "too many redirects" in res["error"]


def test_404_not_retried_and_other_4xx():
    s = Script(resp(404, b"nope"))
    res, err = failed(s.url("/x"), "--retries", "3")
    assert "404" in res["error"]
    assert len(s.requests) == 1
    res, err = failed(ENV.url("status/403"))
    assert "403" in res["error"]


@timeout(60)
def test_503_retried_with_backoff_and_counted():
    s = Script(resp(503))
    t0 = time.time()
    res, err = failed(s.url("/x"), "--retries", "2")
    took = time.time() - t0
    assert len(s.requests) == 3  # one try and two retries
    assert "503" in res["error"] and "3 tries" in res["error"], res["error"]
    assert took >= 3.0, took  # backoff 1 s then 2 s
    # a transient error that clears: done on the third try
    s = Script(resp(502), resp(500), resp(200, b"finally"))
    res, data, err = done(s.url("/f.txt"), "--retries", "3")
    assert data == b"finally" and len(s.requests) == 3
    assert "try 2 of 4" in err and "try 3 of 4" in err


@timeout(60)
def test_retry_after_honoured():
    s = Script(resp(503, headers={"Retry-After": "3"}), resp(200, b"ok"))
    t0 = time.time()
    res, data, err = done(s.url("/x"))
    took = time.time() - t0
    assert data == b"ok" and len(s.requests) == 2
    assert took >= 2.9, took  # not the 1 s backoff
    # 429 with an HTTP date in the past: at once
    past = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() - 100))
    s = Script(resp(429, headers={"Retry-After": past}), resp(200, b"ok"))
    t0 = time.time()
    done(s.url("/x"))
    assert time.time() - t0 < 1.0
    # nginx's /retry-after/503 then gives up after the tries
    res, err = failed(ENV.url("retry-after/503"), "--retries", "1")
    assert "503" in res["error"]


def test_connection_refused_is_transient():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    res, err = failed("http://127.0.0.1:%d/x" % port, "--retries", "1")
    assert "refused" in res["error"] and "2 tries" in res["error"], res["error"]


def test_unknown_host_is_permanent():
    res, err = failed("http://no-such-host.invalid/x", "--retries", "3")
    assert "no-such-host.invalid" in res["error"]
    assert "try 2" not in err


# ---------------------------------------------------------------- framing

def test_chunked_with_extensions_and_trailers():
    parts = [b"hello ", b"chunked ", b"x" * 70000, b"world"]
    s = Script(chunked(parts, extensions=True,
                       trailers=b"X-Trailer: 1\r\nX-Other: two\r\n"))
    res, data, _ = done(s.url("/c.bin"))
    assert data == b"".join(parts)
    assert res["total"] is None


def test_chunked_split_in_tiny_writes():
    body = b"3;a=b\r\nabc\r\n1\r\nd\r\n0\r\nT: v\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    pieces = [head[:10], head[10:]] + [body[i:i + 1] for i in range(len(body))]
    s = Script(raw(*pieces, pause=0.01))
    res, data, _ = done(s.url("/t.bin"))
    assert data == b"abcd"


def test_bogus_chunk_size():
    s = Script(raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"zz\r\nhello\r\n0\r\n\r\n"))
    res, err = failed(s.url("/bogus"), "--retries", "2")
    assert "chunked" in res["error"], res["error"]
    assert len(s.requests) == 1  # a malformed answer is not retried


def test_chunked_cut_short_is_retried():
    s = Script(raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"))
    res, err = failed(s.url("/cut"), "--retries", "1")
    assert "chunked" in res["error"] and len(s.requests) == 2


def test_body_shorter_than_content_length():
    s = Script(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly 20 bytes here.."))
    res, err = failed(s.url("/short"), "--retries", "1")
    assert "closed after 20 of 100 bytes" in res["error"], res["error"]
    assert len(s.requests) == 2


def test_bytes_past_content_length_ignored():
    s = Script(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA-GARBAGE"))
    res, data, _ = done(s.url("/x"))
    assert data == b"hello"


def test_http10_close_delimited():
    s = Script(raw(b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\n", b"one ", b"two ",
                   b"three", pause=0.05))
    res, data, _ = done(s.url("/old.txt"))
    assert data == b"one two three"
    assert res["total"] is None


def test_100_continue_then_200():
    s = Script(raw(b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 102 Processing\r\n"
                   b"X: y\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
                   pause=0.05))
    res, data, _ = done(s.url("/x"))
    assert data == b"abc"


def test_101_and_garbage_heads_fail():
    for bad in (b"HTTP/1.1 101 Switching\r\n\r\n", b"SSH-2.0-OpenSSH\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
                b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n"):
        s = Script(raw(bad))
        res, err = failed(s.url("/x"), "--retries", "2")
        assert len(s.requests) == 1, bad


def test_headers_over_the_limit():
    big = b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"a" * 20000 + b"\r\n\r\nbody"
    s = Script(raw(big))
    res, err = failed(s.url("/x"))
    assert "larger than 16384" in res["error"], res["error"]
    many = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(3000))
    s = Script(raw(many, then_sleep=1))
    res, err = failed(s.url("/x"))
    assert "larger than" in res["error"]


@timeout(60)
def test_stall_mid_body_hits_idle_timeout():
    s = Script(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"a" * 100,
                   then_sleep=6))
    t0 = time.time()
    res, err = failed(s.url("/stall"), "--timeout", "2", "--retries", "0")
    took = time.time() - t0
    assert "no data from the server for 2 s" in res["error"], res["error"]
    assert 1.5 < took < 5.5, took
    # a server that never answers at all
    s = Script(raw(b"", then_sleep=6))
    res, err = failed(s.url("/silent"), "--timeout", "1", "--retries", "0")
    assert "no data" in res["error"]


def test_slow_but_steady_is_not_a_timeout():
    s = Script(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", b"a", b"b", b"c",
                   b"d", b"e", pause=0.6))
    res, data, _ = done(s.url("/x"), "--timeout", "1")
    assert data == b"abcde"


# ---------------------------------------------------------------- names, auth

def test_content_disposition_made_safe():
    res, data, _ = done(ENV.url("disposition/evil"))
    assert os.path.basename(res["file"]) == "evil"
    res, data, _ = done(ENV.url("disposition/good"))
    assert os.path.basename(res["file"]) == "report.txt"
    for value, want in (('attachment; filename=".hidden"', "hidden"),
                        ('attachment; filename="a\\\\b/../../c.txt"', "c.txt"),
                        ("attachment; filename*=UTF-8''%E2%82%AC.txt", "\u20ac.txt"),
                        ('attachment; filename="..."', "index.html"),
                        ('attachment; filename="/etc/passwd"', "passwd")):
        s = Script(resp(200, b"x", headers={"Content-Disposition": value}))
        res, data, _ = done(s.url("/dl"))
        assert os.path.basename(res["file"]) == want, (value, res["file"])
    s = Script(resp(200, b"x"))
    res, data, _ = done(s.url("/a/..%2F..%2Fetc%2Fshadow"))
    assert os.path.basename(res["file"]) == "shadow"
    res, data, _ = done(s.url("/"))
    assert os.path.basename(res["file"]) == "index.html"


def test_userinfo_becomes_basic_auth():
    res, data, _ = done(ENV.url("auth/small.txt").replace("http://", "http://user:pass@"))
    assert data == docfile("small.txt")
    res, err = failed(ENV.url("auth/small.txt").replace("http://", "http://user:bad@"))
    assert "401" in res["error"]
    s = Script(resp(200, b"x"))
    done(s.url("/e", userinfo="Aladdin:open%20sesame"))
    assert s.requests[0][1]["authorization"] == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    # never in the log
    res, err = failed(ENV.url("status/500").replace("http://", "http://user:s3cret@"),
                      "--retries", "1")
    assert "s3cret" not in err


def test_credentials_not_carried_to_another_host():
    other = Script(resp(200, b"elsewhere"))
    # 127.0.0.1 -> localhost is another host: no Authorization there
    first = Script(resp(302, headers={"Location": "http://localhost:%d/y" % other.port}))
    res, data, _ = done(first.url("/x", userinfo="u:p"))
    assert data == b"elsewhere"
    assert "authorization" in first.requests[0][1]
    assert "authorization" not in other.requests[0][1]
    # a relative redirect stays on the origin: credentials kept
    rel = Script(resp(301, headers={"Location": "../z"}), resp(200, b"same"))
    res, data, _ = done(rel.url("/a/b", userinfo="u:p"))
    assert rel.requests[1][0].startswith("GET /z ")
    assert rel.requests[1][1].get("authorization") == "Basic dTpw"


def test_request_head():
    s = Script(resp(200, b"x"))
    done(s.url("/p/q?a=1&b=%20"))
    line, h = s.requests[0]
    assert line == "GET /p/q?a=1&b=%20 HTTP/1.1"
    assert h["host"] == "127.0.0.1:%d" % s.port
    assert h["user-agent"].startswith("warren/")
    assert h["accept-encoding"] == "identity"
    assert "range" not in h


# ---------------------------------------------------------------- limits

def test_sha256_expected():
    res, data, _ = done(ENV.url("1m.bin"), "--sha256", ENV.sha256("1m.bin").upper())
    res, err = failed(ENV.url("1m.bin"), "--sha256", "0" * 64)
    assert "SHA-256 mismatch" in res["error"] and ENV.sha256("1m.bin") in res["error"]


def test_max_size():
    # announced too big: refused at the head
    res, err = failed(ENV.url("1m.bin"), "--max-size", "1000")
    assert "--max-size" in res["error"]
    # unannounced (chunked): stopped mid-stream
    s = Script(chunked([b"a" * 4000] * 10))
    res, err = failed(s.url("/big"), "--max-size", "10000")
    assert "--max-size" in res["error"]
    res, data, _ = done(ENV.url("1m.bin"), "--max-size", str(1 << 20))


def test_deny_private():
    res, err = failed(ENV.url("small.txt"), "--deny-private")
    assert "private address" in res["error"] and "127.0.0.1" in res["error"]
    res, err = failed("http://[::1]:%d/small.txt" % ENV.http_port, "--deny-private")
    assert "private address" in res["error"]
    res, err = failed("http://localhost:%d/small.txt" % ENV.http_port, "--deny-private")
    assert "private address" in res["error"]
    env = dict(os.environ, WARREN_DENY_PRIVATE="1")
    r = subprocess.run([ENV.worker, "--get", ENV.url("small.txt"), "--dir", fresh_dir("d")],
                       capture_output=True, env=env, timeout=30)
    assert json.loads(r.stdout)["status"] == "failed"


@timeout(60)
def test_disk_full_removes_the_partial_file():
    d = fresh_dir("full")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", d],
                      capture_output=True).returncode != 0:
        print("skip: cannot mount a tmpfs here")
        return
    try:
        # --min-free 0: the write's ENOSPC itself, not the guard
        res, err = failed(ENV.url("10m.bin"), "--min-free", "0", dir=d)
        assert "disk full" in res["error"], res["error"]
        assert os.listdir(d) == [], os.listdir(d)
        res, data, _ = done(ENV.url("small.txt"), "--min-free", "0", dir=d)
        print("disk full checked on a 2 MiB tmpfs")
    finally:
        subprocess.run(["umount", d])


# ---------------------------------------------------------------- resume

def test_resume_after_a_cut_with_range_and_if_range():
    body = os.urandom(300000)
    s = Script(ranged(body, cut=123456), ranged(body))
    res, data, err = done(s.url("/r.bin"), "--retries", "1")
    assert data == body
    assert res["sha256"] == hashlib.sha256(body).hexdigest()
    assert "range" not in s.requests[0][1]
    assert s.requests[1][1]["range"] == "bytes=123456-"
    assert s.requests[1][1]["if-range"] == '"v1"'


def test_resume_answered_with_200_restarts_from_zero():
    body = os.urandom(100000)
    s = Script(ranged(body, cut=5000), resp(200, body))
    res, data, err = done(s.url("/r.bin"), "--retries", "1")
    assert data == body and s.requests[1][1]["range"] == "bytes=5000-"


def test_resume_with_wrong_content_range_restarts():
    body = os.urandom(50000)
    bad206 = raw(b"HTTP/1.1 206 Partial\r\nContent-Range: bytes 0-49999/50000\r\n"
                 b"Content-Length: 50000\r\n\r\n" + body)
    s = Script(ranged(body, cut=1000), bad206, resp(200, body, headers={"ETag": '"v1"'}))
    res, data, err = done(s.url("/r.bin"), "--retries", "1")
    assert data == body
    assert len(s.requests) == 3
    assert "range" not in s.requests[2][1]  # asked again without Range
    assert "restarting" in err


def test_resume_416_with_whole_part_is_complete():
    body = os.urandom(20000)
    # the first answer promises one byte more than it sends: all the data is
    # there but the transfer looks cut; the retry's Range gets a 416 */N.
    cut = raw(b"HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Length: 20001\r\n\r\n" + body)
    s = Script(cut, ranged(body))
    res, data, err = done(s.url("/r.bin"), "--retries", "1")
    assert data == body and res["total"] == 20000
    assert s.requests[1][1]["range"] == "bytes=20000-"


def test_weak_etag_no_resume():
    body = os.urandom(10000)
    s = Script(ranged(body, etag='W/"weak"', cut=100), resp(200, body))
    res, data, err = done(s.url("/w.bin"), "--retries", "1")
    assert data == body and "range" not in s.requests[1][1]


# ---------------------------------------------------------------- cli

def test_cli():
    r = run_program("worker", ["--version"])
    assert r.returncode == 0 and r.stdout.startswith(b"worker (warren) ")
    r = run_program("worker", ["--help"])
    assert r.returncode == 0 and b"--on-complete" in r.stdout and b"--get" in r.stdout
    for bad in (["--get", "ftp://x/"], ["--get", "http://exa mple/"],
                ["--bogus"], ["--concurrency", "0"], ["--retries", "x"],
                ["-o", "f"], ["--get", ENV.url("x"), "--sha256", "abc"],
                ["--amqp", "http://x"], ["--on-complete", "/nonexistent"],
                ["--get", ENV.url("x"), "extra"]):
        r = run_program("worker", bad)
        assert r.returncode == 2, (bad, r.returncode)
        assert len(r.stderr.decode().strip().splitlines()) == 1, (bad, r.stderr)


# ---------------------------------------------------------------- large files

def bigfile(mib):
    """<docroot>/<mib>m.bin made by nginx.sh (kept between runs)."""
    subprocess.run(["sh", os.path.join(ENV.root, "tests", "env", "nginx.sh"), "bigfile",
                    str(mib)], check=True, capture_output=True,
                   env=dict(os.environ, WARREN_TEST_PORT_BASE=str(ENV.port_base),
                            WARREN_TEST_ENV=ENV.state))
    return "%dm.bin" % mib


HELPER = re.compile(r"SHA-256 goes on in a helper process from byte (\d+)")


def helper_cpus():
    """The helper is used with FETCH_HASHER_MIN_CPUS (2) CPUs or more."""
    return (os.cpu_count() or 1) >= 2


@timeout(120)
def test_large_file_hashed_by_the_helper_process():
    # past FETCH_HASHER_MIN (16 MiB) the digest moves to a helper process
    name = bigfile(40)
    for tls in (False, True):
        res, data, err = done(ENV.url(name, tls=tls, host="localhost"),
                              "--sha256", ENV.sha256(name))
        assert res["sha256"] == ENV.sha256(name)
        m = HELPER.search(err)
        if helper_cpus():
            assert m and int(m.group(1)) >= 16 << 20, err
        else:
            assert not m, err


@timeout(120)
def test_large_resume_and_restart_with_the_helper():
    body = os.urandom(40 << 20)
    want = hashlib.sha256(body).hexdigest()
    s = Script(ranged(body, cut=25 << 20), ranged(body))
    res, data, err = done(s.url("/big.bin"), "--retries", "1", "--sha256", want)
    assert s.requests[1][1]["range"] == "bytes=%d-" % (25 << 20)
    # the helper took over past 16 MiB and kept going across the resume
    assert not helper_cpus() or len(HELPER.findall(err)) == 1, err
    # the retry is answered 200: the helper starts over with the file
    s = Script(ranged(body, cut=25 << 20), resp(200, body))
    res, data, err = done(s.url("/big.bin"), "--retries", "1", "--sha256", want)
    assert len(s.requests) == 2
    assert not helper_cpus() or HELPER.search(err), err


@timeout(120)
def test_large_body_until_close_spliced():
    # past 16 MiB, with the helper hashing, a body that is not chunked goes
    # from the socket to the file by splice (FETCH_SPLICE): here one without
    # a Content-Length (until the close), whole and hashed; then the same
    # stopped by --max-size mid-stream
    body = os.urandom(24 << 20)
    want = hashlib.sha256(body).hexdigest()
    s = Script(resp(body=body, length=False), resp(body=body, length=False))
    res, data, err = done(s.url("/big.bin"), "--sha256", want)
    assert data == body
    assert not helper_cpus() or HELPER.search(err), err
    res, err = failed(s.url("/big.bin"), "--max-size", str(20 << 20))
    assert "--max-size" in res["error"], res


def test_sigterm_during_get_leaves_nothing():
    d = fresh_dir("term")
    p = subprocess.Popen([ENV.worker, "--get", ENV.url("slow/10m.bin?rate=1000000"),
                          "--dir", d], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline and not [f for f in os.listdir(d) if f.endswith(".part")]:
        time.sleep(0.05)
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 1, (p.returncode, err)
    res = json.loads(out)
    assert res["status"] == "failed" and "interrupted" in res["error"]
    assert os.listdir(d) == [], os.listdir(d)


NS_SERVER = r'''
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/hop":
            self.send_response(302)
            self.send_header("Location", sys.argv[3])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"inner")
    def log_message(self, *a):
        pass
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
'''


@timeout(60)
def test_deny_private_judges_each_hop_in_a_netns():
    """In a network namespace of our own, a "public" address (TEST-NET-2,
    198.51.100.1, on the namespace's lo) redirects to 127.0.0.1 there:
    --deny-private follows the first hop and refuses the second."""
    ns = "warren-w%d" % os.getpid()
    def ip(*a):
        return subprocess.run(["ip"] + list(a), capture_output=True)
    if ip("netns", "add", ns).returncode != 0:
        print("skip: cannot create a network namespace")
        return
    procs = []
    try:
        for cmd in (["-n", ns, "link", "set", "lo", "up"],
                    ["-n", ns, "addr", "add", "198.51.100.1/32", "dev", "lo"]):
            assert ip(*cmd).returncode == 0, cmd
        for host, port in (("198.51.100.1", 8080), ("127.0.0.1", 8081)):
            procs.append(subprocess.Popen(
                ["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", NS_SERVER, host,
                 str(port), "http://127.0.0.1:8081/inner.txt"]))
        time.sleep(1.0)
        d = fresh_dir("ns")
        def run(*extra):
            r = subprocess.run(["ip", "netns", "exec", ns, ENV.worker, "--get",
                                "http://198.51.100.1:8080/hop", "--dir", d,
                                "--retries", "0"] + list(extra),
                               capture_output=True, timeout=30)
            return json.loads(r.stdout)
        res = run()
        assert res["status"] == "done", res
        assert open(res["file"], "rb").read() == b"inner"
        res = run("--deny-private")
        assert res["status"] == "failed", res
        assert "127.0.0.1" in res["error"] and "private" in res["error"], res
        assert not leftovers(d)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        ip("netns", "del", ns)


# ---------------------------------------------------------------- deadline

def test_deadline_ends_a_trickle_the_idle_timeout_never_sees():
    # a byte every 0.5 s of 1000: 8 minutes, never 2 s of silence
    s = Script(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
                   *([b"a"] * 1000), pause=0.5))
    t0 = time.time()
    res, err = failed(s.url("/trickle"), "--timeout", "2", "--deadline", "3",
                      "--retries", "3")
    took = time.time() - t0
    assert "not finished within --deadline (3 s)" in res["error"], res["error"]
    assert len(s.requests) == 1  # not retried: it would only end the same way
    assert took < 30, took       # long before the trickle's end
    # the same trickle, short enough, with the deadline off: done
    s = Script(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", b"a", b"b",
                   b"c", b"d", pause=0.5))
    res, data, _ = done(s.url("/short"), "--timeout", "2", "--deadline", "0")
    assert data == b"abcd"


def test_deadline_ends_endless_100_continue_heads():
    s = Script(raw(*([b"HTTP/1.1 100 Continue\r\n\r\n"] * 400), pause=0.1))
    res, err = failed(s.url("/continue"), "--timeout", "2", "--deadline", "2")
    assert "--deadline" in res["error"] and "0 bytes" in res["error"], res["error"]


def test_deadline_option_checked():
    r = run_program("worker", ["--get", "http://x/", "--deadline", "-1"])
    assert r.returncode == 2 and b"--deadline" in r.stderr, r.stderr
    r = run_program("worker", ["--help"])
    assert b"--deadline N" in r.stdout and b"WARREN_DEADLINE" in r.stdout

"""A batch of 1000 realistic tasks (issue 10 item 0): the tasker takes a
1 MiB array (1000 tasks with 200-byte URLs and 100-byte names) and
validates it element by element as it arrives, with or without chunked
framing; the 400 still names the first bad element at the end of a large
array, and a body over the limit is a 413. Peak RSS while taking a full
1 MiB array is measured and logged (and bounded outside sanitizer builds)."""

import json
import threading
import time

from harness import ENV, http, queue_depth, timeout, wait_for
from test_tasker import (UUID4, Raw, assert_serves, check_error_body, enc,
                         purge_all, req, tasker, unique)

LIMIT = 1048576


def setup_module():
    purge_all()


def teardown_module():
    purge_all()


def realistic(i, url_len=200, name_len=100):
    """A task with a URL of url_len bytes and a name of name_len bytes."""
    base = ENV.url("small.txt") + "?i=%d&pad=" % i
    name = ("batch-%d-" % i + unique())[:name_len].ljust(name_len, "n")
    return {"name": name, "arg": base + "p" * (url_len - len(base)),
            "taskType": "download"}


def big_array(n=1000):
    return [realistic(i) for i in range(n)]


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def chunked(body, size=4096):
    out = b""
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += b"%x;ext=\"v\"\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def post_raw(port, data, read_timeout=60):
    c = Raw(port, timeout=read_timeout)
    try:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a 413 comes before the whole body is read
        return c.read_response(timeout=read_timeout)
    finally:
        c.close()


@timeout(240)
def test_1000_realistic_tasks_accepted():
    p = tasker()
    purge_all()
    arr = big_array()
    body = enc(arr)
    assert 300000 < len(body) <= LIMIT, len(body)
    st, h, raw = http("POST", p.port, "/task", body=body, timeout=120)
    assert st == 202, (st, raw[:300])
    ids = json.loads(raw.decode())
    assert isinstance(ids, list) and len(ids) == 1000, len(ids)
    assert all(UUID4.match(x["id"]) and x["status"] == "queued" for x in ids)
    assert len(set(x["id"] for x in ids)) == 1000
    wait_for(lambda: queue_depth("tasks") == 1000, 30, "1000 tasks queued")
    assert_serves(p.port)


@timeout(240)
def test_1000_tasks_chunked_accepted():
    p = tasker()
    purge_all()
    body = enc(big_array())
    st, h, raw = post_raw(p.port, req("POST", "/task", b"",
                                      {"Transfer-Encoding": "chunked"}) + chunked(body))
    assert st == 202, (st, raw[:300])
    assert len(json.loads(raw.decode())) == 1000
    assert_serves(p.port)


@timeout(240)
def test_full_1mib_array_peak_rss():
    """A body of exactly the limit: 1000 tasks padded with white space
    between elements. The peak RSS of the tasker is logged."""
    p = tasker()
    purge_all()
    before = vm_hwm_kib(p.pid)
    body = enc(big_array())
    body = body[:-1] + b" " * (LIMIT - len(body)) + b"]"
    assert len(body) == LIMIT, len(body)
    st, h, raw = http("POST", p.port, "/task", body=body, timeout=120)
    assert st == 202, (st, raw[:300])
    assert len(json.loads(raw.decode())) == 1000
    after = vm_hwm_kib(p.pid)
    print("tasker peak RSS: %d KiB before, %d KiB after a 1 MiB array of 1000 tasks"
          % (before, after))
    with open(p.log + ".rss", "w") as f:
        f.write("%d %d\n" % (before, after))
    if not ENV.sanitize:
        assert after < 6 * 1024, after
    assert_serves(p.port)


@timeout(240)
def test_bad_last_element_of_large_array_named():
    p = tasker()
    purge_all()
    arr = big_array()
    arr[999]["arg"] = "ftp://127.0.0.1/x"
    st, h, raw = http("POST", p.port, "/task", body=enc(arr), timeout=120)
    assert st == 400, (st, raw[:300])
    msg = check_error_body(h, raw)
    assert "element 999" in msg and "arg" in msg, msg
    arr[999]["arg"] = ENV.url("small.txt")
    arr[998]["extra"] = 1
    body = enc(arr)
    st, h, raw = post_raw(p.port, req("POST", "/task", b"",
                                      {"Transfer-Encoding": "chunked"}) + chunked(body, 1000))
    assert st == 400, (st, raw[:300])
    msg = check_error_body(h, raw)
    assert "element 998" in msg and "extra" in msg, msg
    assert queue_depth("tasks") == 0, "a refused batch queued nothing"
    assert_serves(p.port)


@timeout(120)
def test_over_limit_413():
    p = tasker()
    body = enc(big_array(1000))
    body = body[:-1] + b" " * (LIMIT + 1 - len(body)) + b"]"
    assert len(body) == LIMIT + 1
    st, h, raw = post_raw(p.port, req("POST", "/task", body))
    assert st == 413, (st, raw[:200])
    assert str(LIMIT) in check_error_body(h, raw)
    st, h, raw = post_raw(p.port, req("POST", "/task", b"",
                                      {"Transfer-Encoding": "chunked"}) + chunked(body))
    assert st == 413, (st, raw[:200])
    check_error_body(h, raw)
    # other paths keep the small limit: nothing is gathered beyond it
    st, h, raw = post_raw(p.port, req("POST", "/health", b"x" * 65537))
    assert st == 413, (st, raw[:200])
    assert_serves(p.port)


@timeout(240)
def test_1000_tasks_with_long_urls_fill_1mib_and_are_accepted():
    """1000 tasks with 900-byte URLs: about 2 MB of AMQP frames (each task
    and its notification carry the URL), more than the broker connection's
    output buffer: published in slices as the loop writes them out."""
    p = tasker()
    purge_all()
    arr = [realistic(i, url_len=900) for i in range(1000)]
    body = enc(arr)
    assert 1000000 < len(body) <= LIMIT, len(body)
    st, h, raw = http("POST", p.port, "/task", body=body, timeout=120)
    assert st == 202, (st, raw[:300])
    assert len(json.loads(raw.decode())) == 1000
    wait_for(lambda: queue_depth("tasks") == 1000, 30, "1000 tasks queued")
    assert_serves(p.port)


@timeout(300)
def test_crowd_posting_1000_task_arrays_at_once():
    """60 clients post a 1000-task array of 1 MB each (900-byte URLs) at
    once: 60 MB in all. The tasker holds at most TASKER_INTAKE_BYTES (4 MiB)
    of such bodies at a time; the others wait, unread, and are taken in
    turn as the earlier ones are stored, and one that has waited 5 s is
    answered 503 with Retry-After, nothing of it queued. Every answer is a
    202 listing 1000 tasks or that 503; exactly the 202s' tasks are queued;
    the tasker's peak RSS grows by less than 16 MiB (before, it held every
    body it was sent: 100 such clients took it to 100 MB); it answers
    /health while the crowd waits, and a refused client's retry is stored."""
    n = 60
    p = tasker()
    purge_all()
    body = enc([realistic(i, url_len=900) for i in range(1000)])
    assert 1000000 < len(body) <= LIMIT, len(body)
    before = vm_hwm_kib(p.pid)
    results = [None] * n

    def one(i):
        c = Raw(p.port, timeout=120)
        try:
            try:
                c.send(req("POST", "/task", body))
            except (BrokenPipeError, ConnectionResetError):
                pass  # a 503 comes before its body is read: the rest is refused
            results[i] = c.read_response(timeout=120)
        finally:
            c.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    st, _, raw = http("GET", p.port, "/health", timeout=10)
    assert st == 200, (st, raw)
    for t in threads:
        t.join(150)
    after = vm_hwm_kib(p.pid)
    stored = refused = 0
    for r in results:
        assert r is not None, "a client got no answer"
        st, h, raw = r
        if st == 202:
            assert len(json.loads(raw.decode())) == 1000
            stored += 1
        else:
            assert st == 503, (st, raw[:200])
            assert "too many requests at once" in check_error_body(h, raw)
            assert int(h["retry-after"]) > 0, h
            refused += 1
    print("%d arrays of %d bytes at once: %d stored, %d answered 503; "
          "peak RSS %d -> %d KiB" % (n, len(body), stored, refused, before, after))
    assert stored >= 4, "the intake took too few: %d" % stored
    wait_for(lambda: queue_depth("tasks") == 1000 * stored, 60,
             "exactly the 202s' tasks queued")
    if not ENV.sanitize:
        assert after - before < 16 * 1024, (before, after)
    if refused:
        st, h, raw = http("POST", p.port, "/task", body=body, timeout=120)
        assert st == 202, (st, raw[:300])
    assert_serves(p.port)


@timeout(120)
def test_bodies_without_the_token_hold_no_room():
    """With --token, POST /task bodies without it are read and dropped as
    they arrive, answered 401, and hold none of the intake's room: 8
    clients without the token announce 1 MiB bodies and stall after 1 KB
    (before, the first three held 3 MiB of the 4 MiB bound, the others
    waited, and a client with the token posting a 1 MB array waited 5 s for
    a 503); the client with the token is stored, and each stalled client,
    once it sends the rest, gets 401 and can go on over the same
    connection."""
    token = "s3cret-room"
    p = tasker("--token", token)
    purge_all()
    head = req("POST", "/task", headers={"Content-Type": "application/json",
                                         "Content-Length": str(LIMIT)})
    stalled = []
    try:
        for _ in range(8):
            c = Raw(p.port, timeout=30)
            c.send(head + b"[" + b" " * 1023)
            stalled.append(c)
        time.sleep(0.5)  # their heads are read, their bodies begun
        body = enc([realistic(i, url_len=900) for i in range(1000)])
        t0 = time.time()
        st, _, raw = http("POST", p.port, "/task", body=body, timeout=30,
                          headers={"Authorization": "Bearer " + token})
        assert st == 202, (st, raw[:300], "after %.1f s" % (time.time() - t0))
        assert len(json.loads(raw.decode())) == 1000
        for c in stalled:
            c.send(b" " * (LIMIT - 1025) + b"]")
            st, h, raw = c.read_response(timeout=30)
            assert st == 401, (st, raw[:200])
            assert h.get("www-authenticate") == "Bearer", h
            c.send(req("GET", "/health", headers={"Authorization": "Bearer " + token}))
            st, _, raw = c.read_response(timeout=10)
            assert st == 200, (st, raw[:200])
    finally:
        for c in stalled:
            c.close()
    wait_for(lambda: queue_depth("tasks") == 1000, 30, "the 1000 tasks queued")
    st, _, raw = http("POST", p.port, "/task", body=enc(realistic(1)), timeout=30,
                      headers={"Authorization": "Bearer " + token})
    assert st == 202, (st, raw[:300])  # still serving

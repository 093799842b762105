"""The middleman: store, seq, push interval, since/task, /tasks, journal,
history bound, token, options. Notifications are published straight to the
private broker's `notifications` queue with pika."""

import gzip
import json
import os
import signal
import socket
import time

from harness import (ENV, _declare, amqp_connect, http, http_json, purge,
                     run_program, start_middleman, timeout, wait_for,
                     fresh_dir, seq_at, SEQ_STRIDE)
import wsraw


def note(task, status, **kw):
    d = {"id": task, "name": "task " + task, "taskType": "download",
         "arg": "http://127.0.0.1/%s.bin" % task, "status": status,
         "time": int(time.time() * 1000)}
    d.update(kw)
    return d


def served_page():
    """The page as the build made it from src/page.html: $BUILD/gen/page.html."""
    with open(os.path.join(ENV.build, "gen", "page.html"), "rb") as f:
        return f.read()


def publish_notes(notes):
    """Publishes each (dict, str or bytes) to `notifications`; returns the
    bodies as sent."""
    import pika
    conn = amqp_connect()
    ch = conn.channel()
    _declare(ch, "notifications")   # the stream, as the programs declare it
    bodies = []
    for n in notes:
        body = n if isinstance(n, bytes) else (
            n.encode() if isinstance(n, str) else json.dumps(n).encode())
        ch.basic_publish("", "notifications", body,
                         pika.BasicProperties(delivery_mode=2,
                                              content_type="application/json"))
        bodies.append(body)
    conn.close()
    return bodies


def with_seq(body, seq):
    """What the middleman stores for body: the same bytes plus seq."""
    return body.decode().rstrip()[:-1] + ',"seq":%d}' % seq


def S(n):
    """The seq of the n-th message of a fresh stream (from 1), one
    notification each: its offset x NOTIFY_SEQ_STRIDE + 1."""
    return seq_at(n - 1)


def max_seq(port):
    st, _, tasks = http_json("GET", port, "/tasks")
    assert st == 200
    return max([t["seq"] for t in tasks] or [0])


def wait_seq(port, seq, t=10):
    wait_for(lambda: max_seq(port) >= seq, t, "seq %d stored" % seq)


def start(*args, **kw):
    purge("notifications")
    return start_middleman(*args, **kw)


def served(port, path="/ws", headers=None):
    """A fresh client gets the whole history: returns its messages."""
    c = wsraw.RawWS(port, path, headers=headers)
    assert c.status == 101, c.status
    want = max_seq(port)
    msgs = []
    while not msgs or json.loads(msgs[-1])["seq"] < want:
        msgs.append(c.recv_text())
    c.close()
    return msgs


# ---------------------------------------------------------------- store

def test_order_and_seq():
    mm = start("--interval", "0")
    notes = [note("a", "queued"), note("a", "started", worker="h:1", bytes=0, total=None),
             note("b", "queued"), note("a", "progress", bytes=5, total=10)]
    bodies = publish_notes(notes)
    wait_seq(mm.port, S(4))
    msgs = served(mm.port)
    assert msgs == [with_seq(b, S(i + 1)) for i, b in enumerate(bodies)], msgs
    # seq goes on, in arrival order
    c = wsraw.RawWS(mm.port)
    for _ in range(4):
        c.recv_text()
    more = publish_notes([note("c", "queued"), note("b", "started")])
    assert c.recv_text() == with_seq(more[0], S(5))
    assert c.recv_text() == with_seq(more[1], S(6))
    # bytes are kept as sent: spacing, key order, unicode, nested values
    odd = b'{ "status" :"done","id":"z\\u00e9","x":[1,{"y":null}],"name":"\xc3\xa9t\xc3\xa9" }  '
    publish_notes([odd])
    assert c.recv_text() == odd.decode().rstrip()[:-1] + ',"seq":%d}' % S(7)
    c.close()
    mm.stop()


def test_invalid_notifications_dropped():
    mm = start("--interval", "0")
    bad = [b"not json", b"[1,2]", b'{"status":"queued"}', b'{"id":"x"}',
           b'{"id":"x","status":"queued","seq":3}', b'{"id":7,"status":"queued"}',
           b'{"id":"x","status":"queued"} trailing', b"\xff\xfe",
           b'{"id":"x","status":"queued","name":"\xc3"}',
           b'{"id":"' + b"a" * 200 + b'","status":"queued"}',
           b'{"id":"x","status":"queued","pad":"' + b"p" * 70000 + b'"}']
    publish_notes(bad + [note("good", "queued")])
    wait_seq(mm.port, 1)
    # the bad ones are gone from the queue (no redelivery loop); each took
    # its seq (its stream offset), the oversized one unless mq.c refused it
    st, _, t = http_json("GET", mm.port, "/tasks")
    assert [x["id"] for x in t] == ["good"]
    assert t[0]["seq"] in (S(len(bad)), S(len(bad) + 1)), t
    wait_for(lambda: mm.log_text().count("notification dropped") >= len(bad), 5,
             "every bad one dropped")
    assert mm.log_text().count("notification dropped") == len(bad)
    mm.stop()


def test_array_message_numbered_per_notification():
    """A stream message may be a JSON array of notifications (the tasker
    gathers its `queued` ones): each is stored and sent on its own, seq
    offset x NOTIFY_SEQ_STRIDE + 1 + its index; a bad one inside is dropped
    alone; an array that is not one of objects, or longer than the stride,
    is dropped whole; since= inside a message gives the rest of it."""
    mm = start("--interval", "0")
    arr = [note("a1", "queued"), note("a2", "queued"), note("a3", "queued")]
    mixed = [note("m1", "queued"), {"id": "m2"}, note("m3", "queued")]
    too_many = [note("t%d" % i, "queued") for i in range(SEQ_STRIDE + 1)]
    publish_notes([json.dumps(arr), note("single", "queued"),
                   json.dumps(mixed),
                   '[{"id":"b1","status":"queued"},1]', "[]",
                   '[{"id":"b2","status":"queued"}',
                   json.dumps(too_many),
                   ' [ %s ] ' % json.dumps(note("sp", "queued")),
                   note("last", "queued")])
    wait_seq(mm.port, S(9))
    got = [json.loads(m) for m in served(mm.port)]
    assert [(m["id"], m["seq"]) for m in got] == [
        ("a1", S(1)), ("a2", S(1) + 1), ("a3", S(1) + 2), ("single", S(2)),
        ("m1", S(3)), ("m3", S(3) + 2), ("sp", S(8)), ("last", S(9))], got
    # each as it was in the array, its seq added
    assert got[1] == dict(arr[1], seq=S(1) + 1)
    log = mm.log_text()
    assert log.count("notification dropped") == 5, log
    assert "an array, not of objects" in log and "an empty array" in log
    assert "an array of more than %d" % SEQ_STRIDE in log
    # one ack per message: a second one would close the channel
    assert "closed by the broker" not in log, log
    c = wsraw.RawWS(mm.port, "/ws?since=%d" % (S(1) + 1))
    assert [json.loads(c.recv_text())["id"] for _ in range(2)] == ["a3", "single"]
    c.close()
    st, _, t = http_json("GET", mm.port, "/tasks?since=%d" % S(1))
    assert [x["id"] for x in t] == ["a2", "a3", "single", "m1", "m3", "sp", "last"], t
    mm.stop()


def test_batching_at_interval():
    mm = start("--interval", "3")
    c = wsraw.RawWS(mm.port)
    # find a push: a marker arrives right after a tick
    publish_notes([note("mark", "queued")])
    c.recv_text(timeout=5)
    tick = time.monotonic()
    a = time.monotonic()
    publish_notes([note("x", "queued")])
    time.sleep(0.5)
    publish_notes([note("x", "started")])
    first = c.recv_text(timeout=5)
    t1 = time.monotonic()
    second = c.recv_text(timeout=5)
    t2 = time.monotonic()
    assert json.loads(first)["status"] == "queued"
    assert json.loads(second)["status"] == "started"
    # one push: together, and not before the interval had run its course
    assert t2 - t1 < 0.2, (t1, t2)
    assert t1 - a > 1.0, "pushed at once, not at the interval"
    assert t1 - tick < 3.6
    c.close()
    mm.stop()


def test_open_sends_everything_stored():
    """A client that connects between two pushes gets at once all that is
    stored, including what the others get only at the next push."""
    mm = start("--interval", "5")
    early = wsraw.RawWS(mm.port)
    publish_notes([note("s1", "queued")])
    wait_seq(mm.port, 1)
    t0 = time.monotonic()
    late = wsraw.RawWS(mm.port)
    assert json.loads(late.recv_text(3))["id"] == "s1"
    assert time.monotonic() - t0 < 2
    # the early one gets it at the push, then both go on together
    assert json.loads(early.recv_text(7))["id"] == "s1"
    publish_notes([note("s2", "queued")])
    assert json.loads(early.recv_text(7))["seq"] == S(2)
    assert json.loads(late.recv_text(7))["seq"] == S(2)
    early.close()
    late.close()
    mm.stop()


def test_interval_zero_pushes_at_once():
    mm = start("--interval", "0")
    c = wsraw.RawWS(mm.port)
    for i in range(5):
        t0 = time.monotonic()
        publish_notes([note("n%d" % i, "queued")])
        m = json.loads(c.recv_text())
        assert m["seq"] == S(i + 1) and m["id"] == "n%d" % i
        assert time.monotonic() - t0 < 1.0
    c.close()
    mm.stop()


def test_since_and_task():
    mm = start("--interval", "0")
    publish_notes([note("a", "queued"), note("b", "queued"), note("a", "started"),
                   note("b", "started"), note("a", "done")])
    wait_seq(mm.port, S(5))
    c = wsraw.RawWS(mm.port, "/ws?since=%d" % S(3))
    assert [json.loads(c.recv_text())["seq"] for _ in range(2)] == [S(4), S(5)]
    c2 = wsraw.RawWS(mm.port, "/ws?task=b")
    assert [json.loads(c2.recv_text())["seq"] for _ in range(2)] == [S(2), S(4)]
    c3 = wsraw.RawWS(mm.port, "/ws?since=%d&task=a" % S(2))
    assert [json.loads(c3.recv_text())["seq"] for _ in range(2)] == [S(3), S(5)]
    c4 = wsraw.RawWS(mm.port, "/ws?since=%d" % S(99))
    # live: the filter holds for new ones too
    publish_notes([note("a", "x1"), note("b", "x2")])
    assert json.loads(c.recv_text())["seq"] == S(6)
    assert json.loads(c.recv_text())["seq"] == S(7)
    assert json.loads(c2.recv_text())["seq"] == S(7)
    assert json.loads(c3.recv_text())["seq"] == S(6)
    publish_notes([note("a", "x3")])
    assert json.loads(c3.recv_text())["seq"] == S(8)
    # since beyond the last seq: nothing until seq passes it
    try:
        got = c4.recv_text(timeout=0.5)
        raise AssertionError("since=%d got %s" % (S(99), got))
    except socket.timeout:
        pass
    for bad in ("/ws?since=x", "/ws?since=-1", "/ws?since=", "/ws?task=",
                "/ws?since=99999999999999999999999"):
        r = wsraw.RawWS(mm.port, bad)
        assert r.status == 400, (bad, r.status)
        r.close()
    for x in (c, c2, c3, c4):
        x.close()
    mm.stop()


def test_tasks_endpoints():
    mm = start("--interval", "0")
    st, _, body = http_json("GET", mm.port, "/tasks")
    assert st == 200 and body == []
    publish_notes([note("t1", "queued"), note("t2", "queued"),
                   note("t1", "progress", bytes=3, total=9)])
    wait_seq(mm.port, S(3))
    st, h, body = http_json("GET", mm.port, "/tasks")
    assert st == 200 and h["content-type"].startswith("application/json")
    assert [(t["id"], t["status"], t["seq"]) for t in body] == \
        [("t2", "queued", S(2)), ("t1", "progress", S(3))]
    st, _, t = http_json("GET", mm.port, "/tasks/t1")
    assert st == 200 and t["status"] == "progress" and t["bytes"] == 3
    st, _, t = http_json("GET", mm.port, "/tasks/nope")
    assert st == 404 and "error" in t
    assert http("GET", mm.port, "/tasks/")[0] == 404
    # the id in the path is percent-decoded
    publish_notes([note("with space/\u00e9", "queued")])
    wait_seq(mm.port, S(4))
    st, _, t = http_json("GET", mm.port, "/tasks/with%20space%2F%C3%A9")
    assert st == 200 and t["id"] == "with space/\u00e9", (st, t)
    assert http("GET", mm.port, "/tasks/%zz")[0] == 404
    assert http("GET", mm.port, "/tasks/%2")[0] == 404
    assert http("GET", mm.port, "/nowhere")[0] == 404
    st, h, _ = http("POST", mm.port, "/tasks", body="{}")
    assert st == 405 and "GET" in h["allow"]
    assert http("DELETE", mm.port, "/tasks/t1")[0] == 405
    st, h, b = http("HEAD", mm.port, "/tasks")
    assert st == 200 and b == b""
    st, h, b = http_json("GET", mm.port, "/health")
    assert st == 200 and b == {"amqp": "up"}
    st, h, gz = http("GET", mm.port, "/", headers={"Accept-Encoding": "gzip"})
    assert st == 200 and h["content-type"].startswith("text/html")
    # stored and sent gzip-compressed: the whole page as built from
    # src/page.html (indentation and one-line comments left out)
    assert h["content-encoding"] == "gzip" and h["vary"] == "Accept-Encoding"
    b = gzip.decompress(gz)
    assert int(h["content-length"]) == len(gz) < len(b) // 2
    assert b == served_page()
    # small: the page with its submit form, controls and windowed rows (issue 13)
    assert b"new WebSocket" in b and len(b) < 12288
    # no external assets: nothing is fetched from elsewhere
    assert b"src=" not in b and b"href=\"http" not in b and b"@import" not in b
    mm.stop()


def test_health_down_when_broker_unreachable():
    mm = start_middleman(amqp="amqp://guest:guest@127.0.0.1:1")
    st, h, b = http_json("GET", mm.port, "/health")
    assert st == 503 and b == {"amqp": "down"}
    # still serves the page, the tasks and WebSocket clients meanwhile
    assert http("GET", mm.port, "/", headers={"Accept-Encoding": "gzip"})[0] == 200
    c = wsraw.RawWS(mm.port)
    assert c.status == 101
    c.close()
    mm.stop()


# ---------------------------------------------------------------- journal

def _journal_round(stopper):
    path = os.path.join(fresh_dir("journal"), "notes.journal")
    mm = start("--interval", "0", "--journal", path)
    bodies = publish_notes([note("j%d" % i, "queued") for i in range(5)])
    wait_seq(mm.port, S(5))
    stopper(mm)
    assert os.path.getsize(path) > 0
    mm2 = start_middleman("--interval", "0", "--journal", path)
    msgs = served(mm2.port)
    assert msgs == [with_seq(b, S(i + 1)) for i, b in enumerate(bodies)]
    # seq continues: no gap, no duplicate
    more = publish_notes([note("j5", "queued")])
    wait_seq(mm2.port, S(6))
    st, _, t = http_json("GET", mm2.port, "/tasks/j5")
    assert t["seq"] == S(6)
    mm2.stop()
    return path, bodies + more


def test_journal_restart():
    _journal_round(lambda p: p.stop())


def test_journal_kill9():
    path, bodies = _journal_round(lambda p: p.kill(signal.SIGKILL))
    # a crash in the middle of a write: a torn last record is cut off
    with open(path, "ab") as f:
        f.write(b"00000040 1234abcd {\"id\":\"torn")
    mm = start_middleman("--interval", "0", "--journal", path)
    mm.wait_log("torn or damaged tail cut off")
    msgs = served(mm.port)
    assert msgs == [with_seq(b, S(i + 1)) for i, b in enumerate(bodies)]
    publish_notes([note("after", "queued")])
    wait_seq(mm.port, S(7))
    mm.kill()
    mm = start_middleman("--interval", "0", "--journal", path)
    assert max_seq(mm.port) == S(7)
    mm.stop()


@timeout(180)
def test_journal_kill9_under_load():
    """kill -9 while notifications stream in: after the restart every seq
    is there once, from 1, and whatever was acknowledged is in the journal
    (the rest is still in the queue)."""
    path = os.path.join(fresh_dir("journal"), "load.journal")
    mm = start("--interval", "0", "--journal", path, "--history", "100000")
    total = 3000
    publish_notes([note("k%d" % (i % 50), "progress", n=i) for i in range(total)])
    wait_for(lambda: max_seq(mm.port) > S(300), 20, "some stored")
    mm.kill(signal.SIGKILL)
    mm = start_middleman("--interval", "0", "--journal", path, "--history", "100000")
    # after a restart the rest comes in (read again from the journal's position)
    wait_for(lambda: max_seq(mm.port) >= S(total), 60, "all stored")
    c = wsraw.RawWS(mm.port)
    seqs, ns = [], set()
    while not seqs or seqs[-1] < max_seq(mm.port):
        m = json.loads(c.recv_text())
        seqs.append(m["seq"])
        ns.add(m["n"])
    assert seqs == [S(i + 1) for i in range(len(seqs))]
    assert ns == set(range(total)), "lost: %s" % sorted(set(range(total)) - ns)[:10]
    c.close()
    mm.stop()


def test_journal_compaction():
    path = os.path.join(fresh_dir("journal"), "c.journal")
    args = ("--interval", "0", "--journal", path, "--history", "10", "--tasks", "50")
    mm = start(*args)
    # JOURNAL_SLACK (1000) over the history and the tasks: a compaction
    publish_notes([note("c%d" % i, "queued") for i in range(1100)])
    wait_seq(mm.port, S(1100), 30)
    mm.wait_log("journal: compacted")
    mm.stop()
    with open(path, "rb") as f:
        records = f.read().count(b"\n")
    assert records < 200, records
    mm = start_middleman(*args)
    msgs = served(mm.port)
    # the 50 kept tasks (whose last 10 are also the history)
    assert [json.loads(m)["seq"] for m in msgs] == [S(n) for n in range(1051, 1101)]
    mm.stop()


def test_journal_in_use_and_unwritable():
    path = os.path.join(fresh_dir("journal"), "busy.journal")
    mm = start("--journal", path)
    r = run_program("middleman", ["--listen", "127.0.0.1:0", "--amqp", ENV.amqp_url,
                                  "--journal", path], timeout=20)
    assert r.returncode == 1 and b"in use" in r.stderr, r.stderr
    mm.stop()
    r = run_program("middleman", ["--listen", "127.0.0.1:0", "--amqp", ENV.amqp_url,
                                  "--journal", "/nonexistent/dir/j"], timeout=20)
    assert r.returncode == 1 and b"/nonexistent/dir/j" in r.stderr


# ---------------------------------------------------------------- history

def test_history_bound():
    """--tasks 5 keeps 5 tasks; a client starting before the history (3)
    gets the kept tasks' states up to where the history takes over."""
    mm = start("--interval", "0", "--history", "3", "--tasks", "5")
    publish_notes([note("h%d" % i, "queued") for i in range(8)])
    wait_seq(mm.port, S(8))
    assert [json.loads(m)["seq"] for m in served(mm.port)] == [S(n) for n in (4, 5, 6, 7, 8)]
    st, _, t = http_json("GET", mm.port, "/tasks")
    assert sorted(x["id"] for x in t) == ["h3", "h4", "h5", "h6", "h7"]
    assert http("GET", mm.port, "/tasks/h0")[0] == 404
    mm.stop()


def test_history_replay_then_catch_up():
    """A client from inside the history gets every notification after its
    since; from before the history, the state of each task changed since
    (superseded progress skipped), then the history."""
    mm = start("--interval", "0", "--history", "3")
    publish_notes([note("p", "queued"),                  # 1
                   note("p", "started"),                 # 2
                   note("p", "progress", bytes=1),       # 3
                   note("q", "queued"),                  # 4
                   note("p", "progress", bytes=2),       # 5
                   note("p", "progress", bytes=3),       # 6
                   note("p", "progress", bytes=4)])      # 7
    wait_seq(mm.port, S(7))
    since = lambda n: served(mm.port, "/ws?since=%d" % S(n))
    assert [json.loads(m)["seq"] for m in since(4)] == [S(5), S(6), S(7)]
    assert [json.loads(m)["seq"] for m in since(1)] == [S(4), S(5), S(6), S(7)]
    assert [json.loads(m)["seq"] for m in served(mm.port)] == [S(4), S(5), S(6), S(7)]
    mm.stop()


def raw_get(port, head):
    """GET / with exactly the header lines head: (status line, headers, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(("GET / HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n"
               % head).encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode().split("\r\n")
    hdrs = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return lines[0], hdrs, body


def test_page_accept_encoding():
    """The page is stored gzip-compressed: sent so to a request that accepts
    gzip, or that has no Accept-Encoding (RFC 9110: any coding will do);
    406 with a message that says what to ask for when gzip is excluded."""
    mm = start("--interval", "0")
    page = served_page()
    for head in ("", "Accept-Encoding: gzip, deflate, br\r\n",
                 "Accept-Encoding: x-gzip\r\n", "Accept-Encoding: identity;q=0.5, *\r\n"):
        st, h, b = raw_get(mm.port, head)
        assert st.split()[1] == "200", (head, st)
        assert h["content-encoding"] == "gzip" and h["vary"] == "Accept-Encoding", h
        assert gzip.decompress(b) == page, head
    for head in ("Accept-Encoding: identity\r\n", "Accept-Encoding: \r\n",
                 "Accept-Encoding: gzip;q=0, identity\r\n", "Accept-Encoding: br, *;q=0\r\n"):
        st, h, b = raw_get(mm.port, head)
        assert st == "HTTP/1.1 406 Not Acceptable", (head, st)
        assert h["vary"] == "Accept-Encoding" and "content-encoding" not in h, h
        assert b"Accept-Encoding: gzip" in b and b"curl --compressed" in b, b
    # Python's http.client says "identity" unless told otherwise
    st, h, b = http("GET", mm.port, "/")
    assert st == 406 and b"gzip" in b
    st, h, b = http("HEAD", mm.port, "/", headers={"Accept-Encoding": "gzip"})
    assert st == 200 and b == b"" and h["content-encoding"] == "gzip"
    assert int(h["content-length"]) < len(page) // 2
    mm.stop()


# ---------------------------------------------------------------- token

def test_token():
    mm = start("--interval", "0", "--token", "s3cret")
    publish_notes([note("tk", "queued")])
    for path in ("/tasks", "/tasks/tk", "/health", "/", "/nowhere"):
        st, h, _ = http("GET", mm.port, path)
        assert st == 401 and "bearer" in h.get("www-authenticate", "").lower(), (path, st)
        st, _, _ = http("GET", mm.port, path, headers={"Authorization": "Bearer wrong"})
        assert st == 401
    auth = {"Authorization": "Bearer s3cret"}
    wait_for(lambda: http("GET", mm.port, "/tasks/tk", headers=auth)[0] == 200, 10,
             "stored")
    assert http("GET", mm.port, "/health", headers=auth)[0] == 200
    # the page, as a browser opens it, takes the token in its URL
    assert http("GET", mm.port, "/?token=s3cret", headers={"Accept-Encoding": "gzip"})[0] == 200
    assert http("GET", mm.port, "/?token=s3cre", headers={"Accept-Encoding": "gzip"})[0] == 401
    # /ws: 401 before any upgrade without it; bearer header or ?token= work
    for path, hdrs in (("/ws", None), ("/ws?token=nope", None),
                       ("/ws", {"Authorization": "Bearer nope"})):
        c = wsraw.RawWS(mm.port, path, headers=hdrs)
        assert c.status == 401, (path, c.status)
        c.close()
    for path, hdrs in (("/ws?token=s3cret", None), ("/ws", auth),
                       ("/ws?since=0&token=s3cret&task=tk", None)):
        c = wsraw.RawWS(mm.port, path, headers=hdrs)
        assert c.status == 101
        assert json.loads(c.recv_text())["id"] == "tk"
        c.close()
    # the token is checked before the upgrade is: a bad upgrade without it
    c = wsraw.RawWS(mm.port, "/ws", version="8")
    assert c.status == 401
    mm.stop()
    # from the environment too
    mm = start("--interval", "0", env={"WARREN_TOKEN": "envtok"})
    assert http("GET", mm.port, "/tasks")[0] == 401
    assert http("GET", mm.port, "/tasks", headers={"Authorization": "Bearer envtok"})[0] == 200
    mm.stop()


# ---------------------------------------------------------------- options

def test_options():
    r = run_program("middleman", ["--help"])
    assert r.returncode == 0
    for opt in (b"--interval", b"--history", b"--journal", b"--token", b"--listen",
                b"--amqp", b"--heartbeat", b"--syslog", b"WARREN_INTERVAL"):
        assert opt in r.stdout, opt
    r = run_program("middleman", ["--version"])
    assert r.returncode == 0 and r.stdout.count(b"\n") == 1
    for bad in (["--interval", "x"], ["--history", "0"], ["--history", "-1"],
                ["--listen", "nope:"], ["--amqp", "http://x"], ["--bogus"],
                ["--journal", ""], ["extra"]):
        r = run_program("middleman", bad)
        assert r.returncode == 2, (bad, r.returncode)
        assert r.stderr.count(b"\n") == 1, (bad, r.stderr)
    r = run_program("middleman", [], env={"WARREN_INTERVAL": "abc"})
    assert r.returncode == 2


def test_settings_from_environment():
    purge("notifications")
    path = os.path.join(fresh_dir("journal"), "env.journal")
    from harness import start_program
    mm = start_program("middleman", [], port="auto",
                       env={"WARREN_MIDDLEMAN_LISTEN": "127.0.0.1:{port}",
                            "WARREN_AMQP_URL": ENV.amqp_url,
                            "WARREN_INTERVAL": "0", "WARREN_HISTORY": "2",
                            "WARREN_TASKS": "2",
                            "WARREN_JOURNAL": path})
    publish_notes([note("e%d" % i, "queued") for i in range(3)])
    wait_seq(mm.port, S(3))
    assert [json.loads(m)["seq"] for m in served(mm.port)] == [S(2), S(3)]
    assert os.path.getsize(path) > 0
    mm.stop()


def test_sigterm_closes_clients():
    mm = start("--interval", "0")
    c = wsraw.RawWS(mm.port)
    assert c.status == 101
    mm.signal(signal.SIGTERM)
    c.expect_close(1001)
    assert mm.wait(10) == 0
    mm.stop()

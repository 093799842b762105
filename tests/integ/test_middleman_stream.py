"""The middleman on the stream `notifications` (issue 14 item 3): a
notification's seq comes from its stream offset (offset x NOTIFY_SEQ_STRIDE
+ 1 + its index in the message), the same on every middleman,
whenever it started and whether or not it keeps a journal (a restart with
one resumes where it was, one without reads the stream again from its
first message); a notification published twice is shown once, however
much came between; a paused task starts again; a dead-lettered task is
recorded `failed` once, under the same seq on every middleman."""

import json
import os
import time
import uuid

from harness import (SEQ_STRIDE, amqp_connect, fresh_dir, http, http_json,
                     purge, start_middleman, start_tasker, timeout, wait_for)
import wsraw


def prefix():
    return "s" + uuid.uuid4().hex[:8] + "-"


def note(task, status, t, **kw):
    d = {"id": task, "name": "task " + task, "taskType": "download",
         "arg": "http://127.0.0.1/%s.bin" % task, "status": status, "time": t}
    d.update(kw)
    return d


def publish_stream(notes):
    """Publishes each (dict or bytes) to the stream, confirmed; the
    middlemen running have declared it. Returns the bodies."""
    import pika
    conn = amqp_connect()
    ch = conn.channel()
    ch.confirm_delivery()
    bodies = []
    for n in notes:
        body = n if isinstance(n, bytes) else json.dumps(n).encode()
        ch.basic_publish("", "notifications", body,
                         pika.BasicProperties(delivery_mode=2,
                                              content_type="application/json"))
        bodies.append(body)
    conn.close()
    return bodies


def task(port, tid):
    st, _, t = http_json("GET", port, "/tasks/" + tid)
    return t if st == 200 else None


def tasks_of(port, pre):
    """{id: (status, seq)} of the tasks whose id starts with pre."""
    st, _, ts = http_json("GET", port, "/tasks")
    assert st == 200
    return {t["id"]: (t["status"], t["seq"]) for t in ts if t["id"].startswith(pre)}


def history_of(port, pre, last_id):
    """What a new page gets ([(seq, id, status)] of ids starting with pre),
    read until task last_id's state has come."""
    want = task(port, last_id)["seq"]
    c = wsraw.RawWS(port)
    assert c.status == 101
    out, seq = [], 0
    while seq < want:
        m = json.loads(c.recv_text(10))
        assert m["seq"] > seq, "seq going back: %d after %d" % (m["seq"], seq)
        seq = m["seq"]
        if m["id"].startswith(pre):
            out.append((m["seq"], m["id"], m["status"]))
    c.close()
    return out


def has(port, tid, status=None):
    t = task(port, tid)
    return t is not None and (status is None or t["status"] == status)


def test_same_seq_on_every_middleman_restarts_with_and_without_journal():
    pre = prefix()
    path = os.path.join(fresh_dir("stream"), "mm.journal")
    a = start_middleman("--interval", "0")
    j = start_middleman("--interval", "0", "--journal", path)
    t0 = int(time.time() * 1000)
    first = [note(pre + "a", "queued", t0), b"not json",
             note(pre + "a", "started", t0 + 1, worker="h:1", bytes=0, total=10),
             note(pre + "b", "queued", t0 + 2),
             note(pre + "a", "done", t0 + 3, bytes=10, total=10)]
    bodies = publish_stream(first)
    publish_stream([bodies[-1]])  # the same done again: a lost confirm
    publish_stream([note(pre + "c", "queued", t0 + 4)])
    for mm in (a, j):
        wait_for(lambda: has(mm.port, pre + "c"), 20, "the first batch")
    j.stop()
    publish_stream([note(pre + "b", "failed", t0 + 5, error="x"),
                    note(pre + "d", "queued", t0 + 6)])
    wait_for(lambda: has(a.port, pre + "d"), 20, "the second batch on A")
    # the journal one resumes after what it handled, from its journal
    j = start_middleman("--interval", "0", "--journal", path)
    assert "reading from offset 0" not in j.log_text(), j.log_text()
    wait_for(lambda: has(j.port, pre + "d"), 20, "the second batch after the restart")
    # one started now, and A restarted without a journal: from the first
    late = start_middleman("--interval", "0")
    a.stop()
    a = start_middleman("--interval", "0")
    for mm in (late, a):
        wait_for(lambda: has(mm.port, pre + "d"), 30, "everything from the first")
    want = {pre + "a": "done", pre + "b": "failed", pre + "c": "queued",
            pre + "d": "queued"}
    states = [tasks_of(mm.port, pre) for mm in (a, j, late)]
    assert {k: v[0] for k, v in states[0].items()} == want, states[0]
    assert states[0] == states[1] == states[2], states
    hist = [history_of(mm.port, pre, pre + "d") for mm in (a, j, late)]
    assert hist[0] == hist[1] == hist[2], hist
    # the invalid one and the copy left gaps; the done is there once
    seqs = [s for s, _, _ in hist[0]]
    assert seqs[1] - seqs[0] == 2 * SEQ_STRIDE and \
        seqs[4] - seqs[3] == 2 * SEQ_STRIDE, hist[0]
    assert [x[1:] for x in hist[0]].count((pre + "a", "done")) == 1, hist[0]
    assert "done of %sa already stored; not again" % pre in a.log_text()
    for mm in (a, j, late):
        assert http("GET", mm.port, "/health")[0] == 200
        mm.stop()


def test_published_twice_shown_once_however_far_apart():
    pre = prefix()
    mm = start_middleman("--interval", "0", "--history", "5000")
    publish_stream([note(pre + "start", "queued", 1)])
    wait_for(lambda: has(mm.port, pre + "start"), 20, "the start")
    live = wsraw.RawWS(mm.port, "/ws?since=%d" % task(mm.port, pre + "start")["seq"])
    t0 = int(time.time() * 1000)
    done = note(pre + "x", "done", t0, bytes=5, total=5)
    prog = note(pre + "y", "progress", t0, bytes=3, total=9)
    publish_stream([done, prog])
    # more than the history and the old dedup window between the copies
    publish_stream([note(pre + "f%d" % i, "queued", t0) for i in range(600)])
    publish_stream([done, prog,
                    note(pre + "y", "progress", t0 + 1000, bytes=3, total=9),
                    note(pre + "y", "started", t0 + 2000, bytes=3, total=9),
                    note(pre + "z", "queued", t0)])
    wait_for(lambda: has(mm.port, pre + "z"), 20, "all stored")
    seen = []
    while not seen or seen[-1] != (pre + "z", "queued"):
        m = json.loads(live.recv_text(10))
        seen.append((m["id"], m["status"]))
    live.close()
    assert seen.count((pre + "x", "done")) == 1, "done shown twice"
    # progress: once per byte count; a new attempt's started is new
    assert [s for i, s in seen if i == pre + "y"] == ["progress", "started"], seen
    assert task(mm.port, pre + "y")["status"] == "started"
    mm.stop()


def test_paused_task_starts_again_finals_never_go_back():
    pre = prefix()
    tid = pre + "p"
    mm = start_middleman("--interval", "0")
    t0 = int(time.time() * 1000)
    publish_stream([note(tid, "queued", t0),
                    note(tid, "started", t0 + 1, worker="h:1", bytes=0, total=9),
                    note(tid, "progress", t0 + 2, worker="h:1", bytes=4, total=9),
                    note(tid, "paused", t0 + 3, worker="h:1", bytes=5, total=9)])
    wait_for(lambda: has(mm.port, tid, "paused"), 20, "paused")
    publish_stream([note(tid, "started", t0 + 100, worker="h:2", bytes=5, total=9)])
    wait_for(lambda: has(mm.port, tid, "started"), 20, "started again")
    # a progress of the first attempt arriving late does not hide it
    publish_stream([note(tid, "progress", t0 + 2, worker="h:1", bytes=4, total=9),
                    note(tid, "progress", t0 + 101, worker="h:2", bytes=7, total=9)])
    wait_for(lambda: has(mm.port, tid, "progress"), 20, "progress again")
    assert task(mm.port, tid)["bytes"] == 7
    publish_stream([note(tid, "done", t0 + 102, worker="h:2", bytes=9, total=9),
                    note(tid, "started", t0 + 500, worker="h:3", bytes=0, total=9),
                    note(tid, "cancelled", t0 + 501),
                    note(pre + "end", "queued", t0)])
    wait_for(lambda: has(mm.port, pre + "end"), 20, "the end")
    assert task(mm.port, tid)["status"] == "done"
    st, _, ts = http_json("GET", mm.port, "/tasks?status=paused,cancelled")
    assert st == 200 and not [t for t in ts if t["id"].startswith(pre)], ts
    mm.stop()


def queue_depth(queue):
    """Ready messages in queue (passive: whatever its type)."""
    conn = amqp_connect()
    try:
        return conn.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        conn.close()


def _dead_letter(body):
    import pika
    conn = amqp_connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("warren.dead", "tasks", body,
                     pika.BasicProperties(delivery_mode=2,
                                          content_type="application/json"))
    conn.close()


def test_dead_letter_failed_once_same_seq_on_two_middlemen():
    pre = prefix()
    a = start_middleman("--interval", "0")
    b = start_middleman("--interval", "0")
    tid = str(uuid.uuid4())
    body = json.dumps({"id": tid, "name": pre + "poison",
                       "arg": "http://127.0.0.1/poison.bin",
                       "taskType": "download"}).encode()
    _dead_letter(body)
    for mm in (a, b):
        wait_for(lambda: has(mm.port, tid, "failed"), 20, "failed")
    ta, tb = task(a.port, tid), task(b.port, tid)
    assert ta == tb, (ta, tb)
    assert ta["error"] == "gave up after 5 deliveries", ta
    assert (ta["name"], ta["arg"], ta["taskType"]) == (
        pre + "poison", "http://127.0.0.1/poison.bin", "download"), ta
    assert isinstance(ta["time"], int) and ta["time"] > 0
    wait_for(lambda: queue_depth("tasks.dead") == 0, 10, "the dead letter acked")
    # the same task dead-lettered again: already failed, not a second one
    _dead_letter(body)
    wait_for(lambda: queue_depth("tasks.dead") == 0, 10, "the second one acked")
    wait_for(lambda: "dead-lettered, but already failed" in a.log_text() +
             b.log_text(), 10, "the second one seen")
    # a dead letter that is not a task is dropped, the middlemen serve on
    _dead_letter(b"not a task")
    wait_for(lambda: "dead letter dropped" in a.log_text() + b.log_text(), 10,
             "the bad one dropped")
    wait_for(lambda: queue_depth("tasks.dead") == 0, 10, "the bad one gone")
    publish_stream([note(pre + "end", "queued", 1)])
    for mm in (a, b):
        wait_for(lambda: has(mm.port, pre + "end"), 20, "the end")
        hist = history_of(mm.port, "", pre + "end")
        assert [h for h in hist if h[1] == tid] == [(ta["seq"], tid, "failed")], hist
        mm.stop()


def test_task_over_the_delivery_limit_ends_failed():
    """A real task through the quorum queue `tasks`: a consumer that hands
    it back (reject, requeue) at every delivery; the broker dead-letters
    it past x-delivery-limit and the middleman records it failed."""
    import pika
    mm = start_middleman("--interval", "0")
    tid = str(uuid.uuid4())
    body = json.dumps({"id": tid, "name": "hand back", "arg": "http://127.0.0.1/x",
                       "taskType": "download"}).encode()
    conn = amqp_connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("", "tasks", body, pika.BasicProperties(
        delivery_mode=2, content_type="application/json", message_id=tid))
    deliveries = 0
    deadline = time.monotonic() + 30
    while not has(mm.port, tid, "failed") and time.monotonic() < deadline:
        method, props, got = ch.basic_get("tasks", auto_ack=False)
        if method is None:
            time.sleep(0.05)
        elif props.message_id == tid:
            deliveries += 1
            ch.basic_reject(method.delivery_tag, requeue=True)
        else:
            ch.basic_ack(method.delivery_tag)  # another test's leftover
    conn.close()
    t = task(mm.port, tid)
    assert t and t["status"] == "failed", t
    assert t["error"] == "gave up after 5 deliveries"
    assert deliveries in (5, 6), deliveries
    print("    handed back %d times, then dead-lettered" % deliveries, flush=True)
    mm.stop()


def moved_aside(pre, name, records):
    """A journal of records (an older warren's), a middleman started on it:
    checks that it was moved aside, its task not kept, and that a new
    notification (pre + "new") is stored. Returns (path, middleman)."""
    import zlib
    path = os.path.join(fresh_dir("stream"), name)
    with open(path, "wb") as f:
        for rec in records:
            f.write(b"%08x %08x " % (len(rec), zlib.crc32(rec)) + rec + b"\n")
    mm = start_middleman("--interval", "0", "--journal", path)
    mm.wait_log("from an older warren")
    assert os.path.exists(path + ".old")
    assert http("GET", mm.port, "/tasks/" + pre + "old")[0] == 404
    publish_stream([note(pre + "new", "queued", 2)])
    wait_for(lambda: has(mm.port, pre + "new"), 20, "stored")
    return path, mm


def test_journal_of_an_older_warren_moved_aside():
    """A journal whose seq was an arrival count (no position record) cannot
    say where to resume: it is moved to PATH.old and the store rebuilt from
    the stream; the new journal then resumes as any other."""
    pre = prefix()
    path, mm = moved_aside(pre, "old.journal",
                           [json.dumps(note(pre + "old", "queued", 1, seq=1)).encode()])
    seq = task(mm.port, pre + "new")["seq"]
    mm.stop()
    mm = start_middleman("--interval", "0", "--journal", path)
    assert "older warren" not in mm.log_text()
    # from the message of the last one handled (skipped as handled)
    assert "reading from offset %d" % ((seq - 1) // SEQ_STRIDE) in mm.log_text(), \
        mm.log_text()
    assert task(mm.port, pre + "new")["seq"] == seq
    mm.stop()


def test_journal_numbered_offset_plus_one_moved_aside():
    """A journal of the warren before NOTIFY_SEQ_STRIDE (seq = offset + 1,
    position records "@ HANDLED FROM") is moved aside too: its seqs and
    position mean something else now."""
    pre = prefix()
    _, mm = moved_aside(pre, "plus1.journal",
                        [b"@ 0 1", json.dumps(note(pre + "old", "queued", 1, seq=1)).encode(),
                         b"@ 1 1"])
    assert task(mm.port, pre + "new")["seq"] % SEQ_STRIDE == 1
    assert http("GET", mm.port, "/health")[0] == 200
    mm.stop()


@timeout(120)
def test_tasker_batches_queued_each_shown_once_with_its_own_seq():
    """POSTs through the tasker (an array of 300, then 8 one by one): their
    `queued` notifications reach the middleman gathered in stream messages,
    and each is a task of its own at /tasks and a frame of its own at a
    WebSocket client, seqs unique and increasing, every id once."""
    purge("tasks")
    mm = start_middleman("--interval", "0")
    tk = start_tasker(connected=True)
    c = wsraw.RawWS(mm.port)
    assert c.status == 101
    pre = prefix()
    one = lambda i: {"name": pre + str(i), "arg": "http://127.0.0.1/x", "taskType": "download"}
    st, _, arr = http_json("POST", tk.port, "/task", body=json.dumps([one(i) for i in range(300)]))
    assert st == 202 and len(arr) == 300, (st, arr)
    ids = [o["id"] for o in arr]
    for i in range(300, 308):
        st, _, o = http_json("POST", tk.port, "/task", body=json.dumps(one(i)))
        assert st == 202, o
        ids.append(o["id"])
    frames, seqs = {}, []
    while len(frames) < len(ids):
        m = json.loads(c.recv_text(20))
        if m["id"] in ids:
            assert m["id"] not in frames and m["status"] == "queued", m
            frames[m["id"]] = m
            seqs.append(m["seq"])
    assert seqs == sorted(set(seqs)), seqs[:80]
    # gathered: fewer stream messages than notifications (a seq's message
    # is its (seq - 1) // stride)
    assert len({(s - 1) // SEQ_STRIDE for s in seqs}) <= 8 + 20, seqs[:80]
    st, _, listed = http_json("GET", mm.port, "/tasks?status=queued")
    mine = [t for t in listed if t["id"] in frames]
    assert sorted(t["id"] for t in mine) == sorted(ids)
    assert all(frames[t["id"]]["seq"] == t["seq"] and t["name"].startswith(pre)
               for t in mine), mine[:3]
    c.close()
    purge("tasks")
    for p in (tk, mm):
        assert http("GET", p.port, "/health")[0] == 200
        p.stop()

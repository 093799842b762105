"""The worker and the control stream `warren.control` (issue 13 items 1-3,
../shared/INTERFACE.md "The worker", /work/notes/s4/API.md sections 2-4):
cancel a queued, a running, a finished and an unknown task, and one
cancelled before any worker runs; pause with downloads running and tasks
queued, resumed with Range; a pause read again by a worker that starts
later; the rate limit over 20 MiB and changed at run time. Control
messages are published here directly, as the tasker publishes them.

The stream keeps every message: each test that pauses or sets a rate
resumes and lifts it before it ends, whatever happens (later workers read
the stream from its start)."""

import os
import time
import uuid

from harness import (ENV, http_json, publish, purge, queue_depth, start_tasker,
                     start_worker, timeout, wait_for)
from hostile import Script, _head
from test_worker_mq import Notes, leftovers, new_task, part_size, send, settled, slow

MiB = 1 << 20
CONTROL = "warren.control"


def control(op, **kw):
    """Publishes a control message (API.md section 2) and returns it."""
    m = dict(op=op, time=int(time.time() * 1000), **kw)
    publish(CONTROL, m, properties={"message_id": str(uuid.uuid4()),
                                    "content_type": "application/json"})
    return m


def reset():
    control("resume")
    control("rate", limit=0)


def setup_module():
    purge("tasks")
    purge("notifications")
    reset()


def teardown_module():
    reset()
    purge("tasks")
    purge("notifications")


def ready_worker(*args, **kw):
    """A worker that has read the control stream to its end."""
    return start_worker(*args, wait_log=CONTROL + " read to its end", **kw)


def statuses(notes, tid):
    return [n["status"] for n in notes.of(tid)]


def final(notes, tid, tmo=30):
    def f():
        return next((n for n in notes.of(tid)
                     if n["status"] in ("done", "failed", "cancelled")), None)
    return wait_for(f, tmo, "final notification of " + tid, interval=0.2)


def slow_ranged(body, rate, etag='"r1"'):
    """A hostile.Script step: body at rate bytes/s, 206 for a Range request
    whose If-Range matches (as nginx does), so a resume is visible in
    Script.requests. Stops quietly when the worker hangs up."""
    def step(sock, req):
        _, hdrs, _ = req
        rng = hdrs.get("range", "")
        start = 0
        hs = [("ETag", etag)]
        if rng.startswith("bytes=") and hdrs.get("if-range") == etag:
            start = int(rng[6:].split("-")[0])
            hs.append(("Content-Range", "bytes %d-%d/%d" % (start, len(body) - 1,
                                                             len(body))))
        hs.append(("Content-Length", str(len(body) - start)))
        try:
            sock.sendall(_head(206 if start else 200, hs))
            piece = max(1, rate // 20)
            for i in range(start, len(body), piece):
                sock.sendall(body[i:i + piece])
                time.sleep(0.05)
        except OSError:
            pass
    return step


# ---------------------------------------------------------------- cancel

@timeout(60)
def test_cancel_queued_task_never_downloaded():
    """With one slot busy, a task waits in the queue; cancelled there, it is
    acked with `cancelled` when it is delivered, never started, no file."""
    notes = Notes()
    w = ready_worker()
    a = new_task(slow("1m.bin", 512 * 1024))
    b = new_task(ENV.url("small.txt"))
    send(a)
    wait_for(lambda: "started" in statuses(notes, a["id"]), 10, "a started")
    send(b)
    control("cancel", id=b["id"])
    n = final(notes, b["id"])
    assert n["status"] == "cancelled", n
    assert statuses(notes, b["id"]) == ["cancelled"], notes.of(b["id"])
    assert "error" not in n and "file" not in n, n
    assert final(notes, a["id"])["status"] == "done"
    wait_for(settled, 10, "both acked", interval=0.2)
    assert sorted(os.listdir(w.dir)) == ["1m.bin"], os.listdir(w.dir)
    w.stop()


@timeout(60)
def test_cancel_running_download_stops_within_a_second():
    notes = Notes()
    w = ready_worker()
    t = new_task(slow("10m.bin", 1024 * 1024))
    send(t)
    wait_for(lambda: part_size(w.dir, t["id"]) > 256 * 1024, 15, "256 KiB in")
    m = control("cancel", id=t["id"])
    n = final(notes, t["id"])
    took = n["time"] - m["time"]
    print("cancelled %d ms after the cancel was published, at %d bytes" % (
        took, n["bytes"]))
    assert n["status"] == "cancelled", n
    assert 0 < n["bytes"] < 10 * MiB, n
    assert took < 1000, took
    wait_for(settled, 10, "acked", interval=0.2)
    assert os.listdir(w.dir) == [], os.listdir(w.dir)  # no .part, no .meta
    assert "%s: cancelled at" % t["id"] in w.log_text()
    w.stop()


@timeout(60)
def test_cancel_finished_task_stays_done():
    notes = Notes()
    w = ready_worker()
    t = new_task(ENV.url("small.txt"))
    send(t)
    assert final(notes, t["id"])["status"] == "done"
    control("cancel", id=t["id"])
    w.wait_log("%s: cancel: (finished|not held)" % t["id"])
    assert statuses(notes, t["id"])[-1] == "done", notes.of(t["id"])
    assert os.listdir(w.dir) == ["small.txt"], os.listdir(w.dir)
    w.stop()


@timeout(60)
def test_cancel_unknown_id_changes_nothing():
    notes = Notes()
    w = ready_worker()
    ghost = str(uuid.uuid4())
    control("cancel", id=ghost)
    w.wait_log("%s: cancel: not held here" % ghost)
    assert notes.of(ghost) == []
    t = new_task(ENV.url("small.txt"))  # the worker goes on
    send(t)
    assert final(notes, t["id"])["status"] == "done"
    w.stop()


@timeout(60)
def test_cancel_before_any_worker_runs():
    """The cancel is on the stream before the worker starts: it reads the
    stream to its marker before it takes a task, so the task is not
    downloaded."""
    notes = Notes()
    t = new_task(ENV.url("small.txt"))
    send(t)
    control("cancel", id=t["id"])
    w = start_worker()
    n = final(notes, t["id"])
    assert n["status"] == "cancelled", n
    assert statuses(notes, t["id"]) == ["cancelled"], notes.of(t["id"])
    wait_for(settled, 10, "acked", interval=0.2)
    assert os.listdir(w.dir) == []
    w.stop()


@timeout(60)
def test_through_the_tasker():
    """End to end: POST /task, then DELETE /task/<id> while it downloads
    (`cancelled`, no .part); POST /control pause and resume around a
    second task, which waits in the queue meanwhile."""
    notes = Notes()
    tk = start_tasker(connected=True)
    w = ready_worker()
    try:
        st, _, a = http_json("POST", tk.port, "/task", {
            "name": "cancel me", "arg": slow("10m.bin", 1024 * 1024),
            "taskType": "download"})
        assert st == 202, (st, a)
        wait_for(lambda: part_size(w.dir, a["id"]) > 0, 15, "a running")
        st, _, r = http_json("DELETE", tk.port, "/task/" + a["id"])
        assert st == 202 and r == {"id": a["id"], "status": "cancelling"}, (st, r)
        assert final(notes, a["id"])["status"] == "cancelled"
        assert http_json("POST", tk.port, "/control", {"op": "pause"})[0] == 202
        w.wait_log("paused: taking no task")
        st, _, b = http_json("POST", tk.port, "/task", {
            "name": "later", "arg": ENV.url("small.txt"), "taskType": "download"})
        assert st == 202, (st, b)
        wait_for(lambda: queue_depth("tasks") == 1, 5, "b queued")
    finally:
        http_json("POST", tk.port, "/control", {"op": "resume"})
    assert final(notes, b["id"])["status"] == "done"
    # its `queued` (gathered by the tasker for TASKER_QUEUED_GATHER_MS) may
    # come after the worker's `started` once resumed
    assert "queued" in [x["status"] for x in notes.of(b["id"])]
    assert os.listdir(w.dir) == ["small.txt"], os.listdir(w.dir)
    w.stop()


# ---------------------------------------------------------------- pause

@timeout(90)
def test_pause_two_running_three_queued_then_resume():
    """Two downloads running and three tasks queued: pause stops both
    (`paused`, .part kept, both tasks back in the queue, acked), nothing
    is downloaded while paused; resume finishes all five, the two with a
    Range request from where they stopped."""
    notes = Notes()
    body = os.urandom(512 * 1024)
    srv = Script(slow_ranged(body, 300 * 1024))
    w = ready_worker("--concurrency", "2")
    try:
        run = [new_task(srv.url("/run%d.bin" % i)) for i in range(2)]
        queued = [new_task(ENV.url("small.txt")) for _ in range(3)]
        for t in run + queued:
            send(t)
        for t in run:
            wait_for(lambda: part_size(w.dir, t["id"]) > 64 * 1024, 15, "64 KiB in")
        control("pause")
        paused = [wait_for(lambda: next((n for n in notes.of(t["id"])
                                         if n["status"] == "paused"), None),
                           10, "paused") for t in run]
        wait_for(lambda: queue_depth("tasks") == 5, 10, "all five in the queue")
        sizes = [part_size(w.dir, t["id"]) for t in run]
        for p, size in zip(paused, sizes):
            assert 0 < p["bytes"] == size < len(body), (p, size)
        nreq = len(srv.requests)
        time.sleep(1.5)  # nothing moves while paused
        assert [part_size(w.dir, t["id"]) for t in run] == sizes
        assert len(srv.requests) == nreq and queue_depth("tasks") == 5
        for t in queued:
            assert notes.of(t["id"]) == [], notes.of(t["id"])
    finally:
        control("resume")
    for t in run + queued:
        assert final(notes, t["id"])["status"] == "done", notes.of(t["id"])
    for t, p in zip(run, paused):
        n = final(notes, t["id"])
        assert n["sha256"] == __import__("hashlib").sha256(body).hexdigest()
        seq = statuses(notes, t["id"])
        again = notes.of(t["id"])[seq.index("paused") + 1]
        assert again["status"] == "started" and again["bytes"] == p["bytes"], again
    ranges = [h.get("range") for _, h in srv.requests if h.get("range")]
    assert sorted(ranges) == sorted("bytes=%d-" % p["bytes"] for p in paused), \
        srv.requests
    wait_for(settled, 10, "all acked, the originals of the two too", interval=0.2)
    assert not leftovers(w.dir)
    w.stop()


@timeout(60)
def test_pause_read_again_by_a_worker_started_later():
    notes = Notes()
    try:
        control("pause")
        w = start_worker(wait_log=CONTROL + " read to its end; paused")
        t = new_task(ENV.url("small.txt"))
        send(t)
        time.sleep(1.5)
        assert notes.of(t["id"]) == [] and queue_depth("tasks") == 1
    finally:
        control("resume")
    assert final(notes, t["id"])["status"] == "done"
    w.stop()


# ---------------------------------------------------------------- rate

def rate_between(seq, t0, t1):
    """Bytes per second between the first and last progress-like
    notifications whose time is within [t0, t1]."""
    pts = [(n["time"], n["bytes"]) for n in seq
           if n["status"] in ("progress", "done") and t0 <= n["time"] <= t1]
    assert len(pts) >= 2, seq
    (ta, ba), (tb, bb) = pts[0], pts[-1]
    return (bb - ba) / ((tb - ta) / 1000.0), tb - ta


@timeout(90)
def test_rate_limit_20_mib_at_2_mib_per_second():
    """20 MiB under --rate-limit 2M: 10 s, within 10 %, from the worker's own
    progress notifications (bytes and times)."""
    from test_worker_get import bigfile
    name = bigfile(20)
    notes = Notes()
    w = ready_worker("--rate-limit", "2M")
    t = new_task(ENV.url(name))
    send(t)
    n = final(notes, t["id"], tmo=60)
    assert n["status"] == "done" and n["bytes"] == 20 * MiB, n
    seq = notes.of(t["id"])
    first = next(x for x in seq if x["status"] == "progress")
    rate, ms = rate_between(seq, first["time"], n["time"])
    start = seq[0]["time"]
    print("20 MiB in %d ms (started -> done); %.0f B/s over the last %d ms, "
          "%.3f of the limit" % (n["time"] - start, rate, ms, rate / (2 * MiB)))
    assert 0.9 * 2 * MiB <= rate <= 1.1 * 2 * MiB, rate
    assert 9000 <= n["time"] - start <= 11000, n["time"] - start
    w.stop()


@timeout(90)
def test_rate_changed_at_run_time():
    """10 MiB under --rate-limit 1M; after two progress notifications
    {"op":"rate","limit":2M}: the rate measured from the notifications
    follows (1 MiB/s before, 2 MiB/s from a second after the change)."""
    notes = Notes()
    w = ready_worker("--rate-limit", "1M")
    try:
        t = new_task(ENV.url("10m.bin"))
        send(t)
        wait_for(lambda: len([n for n in notes.of(t["id"])
                              if n["status"] == "progress"]) >= 2, 15, "2 s at 1M")
        m = control("rate", limit=2 * MiB)
        w.wait_log("rate limit %d bytes/s" % (2 * MiB))
        n = final(notes, t["id"], tmo=30)
        assert n["status"] == "done", n
        seq = notes.of(t["id"])
        before, ms0 = rate_between(seq, 0, m["time"])
        after, ms1 = rate_between(seq, m["time"] + 1000, n["time"])
        print("before: %.0f B/s over %d ms, after: %.0f B/s over %d ms" % (
            before, ms0, after, ms1))
        assert 0.8 * MiB <= before <= 1.1 * MiB, before
        assert 0.8 * 2 * MiB <= after <= 1.1 * 2 * MiB, after
    finally:
        control("rate", limit=0)
    w.stop()

"""What a worker reports while it tries (issue 10 item 5): `started` goes
out when the worker takes a task, before any lookup or connection, so a task
that fails at once (connection refused, unknown host) still shows which
worker took it; each retry shows in a `progress` with the attempt number
and the last error, never more than once a second. And the whole-download
deadline's `failed` (issue 12 item 6; the --get cases are in
test_worker_get)."""

import json
import os
import re

from harness import drain, free_port, start_worker, timeout, wait_for
from harness import empty_tasks_and_notifications
from hostile import Script, raw, resp
from test_worker_lookup import tasks_left
from test_worker_mq import Notes, new_task, send, slow


# every test starts and ends on an empty `tasks` and a fresh stream
setup_module = teardown_module = empty_tasks_and_notifications


def still_serving(w):
    """The worker still takes a task and reports it done; then stops it."""
    s = Script(resp(200, b"fine"))
    t = new_task(s.url("/ok.bin"))
    send(t)
    n = Notes().final(t["id"])
    assert n["status"] == "done" and n["bytes"] == 4, n
    w.stop()


def check_started_first(seq, w):
    st = [x["status"] for x in seq]
    assert st[0] == "started", st
    s = seq[0]
    assert re.match(r"^[^:]+:%d$" % w.pid, s["worker"]), s
    assert s["bytes"] == 0 and s["total"] is None, s
    return st


@timeout(90)
def test_started_before_a_refused_connection_then_retries_in_progress():
    notes = Notes()
    w = start_worker("--retries", "2")
    t = new_task("http://127.0.0.1:%d/x.bin" % free_port())  # nothing listens
    send(t)
    n = notes.final(t["id"], tmo=60)
    assert n["status"] == "failed" and "refused" in n["error"], n
    seq = notes.of(t["id"])
    st = check_started_first(seq, w)
    prog = [x for x in seq if x["status"] == "progress"]
    # tries 2 and 3 announced, each with what failed the one before
    assert [p["attempt"] for p in prog] == [2, 3], seq
    for p in prog:
        assert "refused" in p["error"] and p["worker"] == seq[0]["worker"], p
    for a, b in zip(seq, seq[1:]):
        if a["status"] == b["status"] == "progress":
            assert b["time"] - a["time"] >= 1000
    assert st[-1] == "failed" and len(st) == 4, st
    w.stop()


@timeout(60)
def test_started_before_an_unknown_host():
    notes = Notes()
    w = start_worker()
    t = new_task("http://no-such-host.invalid/x.bin")
    send(t)
    n = notes.final(t["id"])
    assert n["status"] == "failed", n
    st = check_started_first(notes.of(t["id"]), w)
    assert st == ["started", "failed"], st
    w.stop()


@timeout(60)
def test_started_and_a_quick_failure_go_in_one_message():
    """`started` waits up to WORKER_NOTE_GATHER_MS for company: a final
    notification that comes first takes it along, in one stream message
    (a JSON array), the started before the failed."""
    w = start_worker("--retries", "0")
    t = new_task("http://127.0.0.1:%d/x.bin" % free_port())  # nothing listens
    send(t)
    mine = []

    def failed_seen():
        mine.extend(b for b, _ in drain("notifications", split=False)
                    if t["id"].encode() in b)
        return any(b'"failed"' in b for b in mine)
    wait_for(failed_seen, 30, "the failed notification", interval=0.3)
    assert len(mine) == 1, mine
    arr = json.loads(mine[0])
    assert isinstance(arr, list), arr
    assert [(n["id"], n["status"]) for n in arr] == [(t["id"], "started"),
                                                    (t["id"], "failed")], arr
    assert "refused" in arr[1]["error"] and arr[0]["bytes"] == 0, arr
    still_serving(w)


def refused_batch(n, *worker_args):
    """n tasks whose server refuses at once, queued before a worker with
    --retries 0 and worker_args starts; waits for their n failed
    notifications. (tasks, worker, the stream messages naming them)."""
    port = free_port()  # nothing listens
    ts = [new_task("http://127.0.0.1:%d/b%d.bin" % (port, i)) for i in range(n)]
    for t in ts:
        send(t)
    w = start_worker("--retries", "0", *worker_args)
    ids = [t["id"].encode() for t in ts]
    msgs = []

    def finals_seen():
        msgs.extend(b for b, _ in drain("notifications", split=False)
                    if any(i in b for i in ids))
        return sum(b.count(b'"failed"') for b in msgs) >= n
    wait_for(finals_seen, 30, "%d failed notifications" % n, interval=0.3)
    return ts, w, msgs


@timeout(60)
def test_finals_of_a_batch_share_a_message_and_every_task_is_acked():
    """A final notification waits with the gathered notes (up to
    WORKER_NOTE_GATHER_MS) while the worker holds fewer deliveries than its
    prefetch: three tasks queued before a worker with --concurrency 3
    (prefetch 5) starts, each refused at once with --retries 0, leave fewer
    stream messages than tasks, one of them holding two finals or more;
    every task is acked (none left in `tasks`), each task's started
    precedes its failed, and the worker then still takes a task."""
    ts, w, msgs = refused_batch(3, "--concurrency", "3")
    assert len(msgs) < 3, msgs
    parsed = [json.loads(b) for b in msgs]
    assert any(isinstance(a, list) and sum(n["status"] == "failed" for n in a) >= 2
               for a in parsed), msgs
    flat = [n for a in parsed for n in (a if isinstance(a, list) else [a])]
    for t in ts:
        seq = [n["status"] for n in flat if n["id"] == t["id"]]
        assert seq == ["started", "failed"], (t["id"], seq, msgs)
    wait_for(lambda: tasks_left() == 0, 15, "the three tasks acked (none in tasks)",
             interval=0.5)
    still_serving(w)


@timeout(60)
def test_a_final_goes_at_once_when_the_worker_holds_its_whole_prefetch():
    """With as many deliveries held as its prefetch allows, the broker
    delivers nothing more before an ack: a final notification then goes at
    once instead of waiting for company. Three tasks queued before a worker
    with --concurrency 1 (prefetch 3) starts, each refused at once: the
    first stream message holds the first task's started and failed and
    nothing else; all three end failed and acked."""
    ts, w, msgs = refused_batch(3)
    first = json.loads(msgs[0])
    first = first if isinstance(first, list) else [first]
    assert len(first) == 2 and first[0]["id"] == first[1]["id"], msgs
    assert [n["status"] for n in first] == ["started", "failed"], msgs
    wait_for(lambda: tasks_left() == 0, 15, "the three tasks acked (none in tasks)",
             interval=0.5)
    w.stop()


@timeout(60)
def test_started_of_a_long_download_goes_without_waiting_for_its_end():
    """A gathered `started` with no final notification behind it goes when
    the gathering ends (WORKER_NOTE_GATHER_MS), not with the final: seen
    while the download (1 MiB at 128 KiB/s, ~8 s) still runs."""
    notes = Notes()
    w = start_worker()
    t = new_task(slow("1m.bin", 128 * 1024))
    send(t)
    seen = wait_for(lambda: [n["status"] for n in notes.of(t["id"])], 4, "its started",
                    interval=0.1)
    assert seen == ["started"], seen
    n = notes.final(t["id"])
    assert n["status"] == "done" and n["bytes"] == 1 << 20, n
    w.stop()


@timeout(60)
def test_a_retry_that_succeeds_reports_its_attempt():
    notes = Notes()
    s = Script(resp(503, b"busy", headers={"Retry-After": "1"}), resp(200, b"ok now"))
    w = start_worker()
    t = new_task(s.url("/r.bin"))
    send(t)
    n = notes.final(t["id"])
    assert n["status"] == "done" and n["bytes"] == 6, n
    seq = notes.of(t["id"])
    check_started_first(seq, w)
    prog = [x for x in seq if x["status"] == "progress"]
    assert prog and prog[0]["attempt"] == 2 and "503" in prog[0]["error"], seq
    assert "attempt" not in n and "error" not in n
    w.stop()


@timeout(90)
def test_deadline_fails_a_trickle_and_frees_the_slot():
    """issue 12 item 6: WARREN_DEADLINE (here 3 s) ends a download that a
    server trickles a byte at a time, as a clear `failed`; the slot then
    takes the next task."""
    notes = Notes()
    s = Script(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
                   *([b"a"] * 1000), pause=0.4), resp(200, b"next one"))
    w = start_worker("--timeout", "2", env={"WARREN_DEADLINE": "3"})
    t = new_task(s.url("/trickle.bin"))
    send(t)
    n = notes.final(t["id"], tmo=40)
    assert n["status"] == "failed", n
    assert "not finished within --deadline (3 s)" in n["error"], n
    assert 0 < n["bytes"] < 1000, n
    t2 = new_task(s.url("/next.bin"))
    send(t2)
    n2 = notes.final(t2["id"])
    assert n2["status"] == "done" and n2["bytes"] == 8, n2
    assert not [f for f in os.listdir(w.dir) if f.endswith(".part")]
    w.stop()

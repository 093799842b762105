"""The worker with RabbitMQ (issue 3, ../shared/INTERFACE.md "The worker", "RabbitMQ
topology", "Task and notification messages"): notifications in order with
their fields, acknowledgement only after the final notification, two
workers sharing tasks, a worker killed mid-download and the task finished by
another with a Range request, SIGTERM, consumer_timeout on a broker that
closes the channel after a few seconds, a broker outage mid-download, the
done record, the SQLite hook, and no partial file left behind."""

import contextlib
import hashlib
import json
import os
import re
import signal
import sqlite3
import time
import uuid

from harness import (ENV, Broker, broker_ctl, broker_start_app, broker_stop_app,
                     drain, fresh_dir, publish, purge, queue_depth,
                     start_worker, timeout, wait_for)
from harness import empty_tasks_and_notifications
from amqpcut import AmqpCut
from hostile import Script, resp

HOOK = os.path.join(ENV.root, "port", "hooks", "sqlite-import")


# every test starts and ends on an empty `tasks` and a fresh stream
setup_module = teardown_module = empty_tasks_and_notifications


def leftovers(d):
    return [f for f in os.listdir(d) if re.match(r"^\..*\.(part|meta|done)$", f)]


def new_task(url, name=None, **kw):
    t = {"id": str(uuid.uuid4()), "name": name or "task " + url, "arg": url,
         "taskType": "download"}
    t.update(kw)
    return t


def send(t, url=None):
    publish("tasks", t, properties={"message_id": t["id"],
                                    "content_type": "application/json"}, url=url)


class Notes:
    """Notifications read off the queue, kept in arrival order."""

    def __init__(self, url=None):
        self.url = url
        self.all = []

    def poll(self):
        for body, _ in drain("notifications", url=self.url):
            self.all.append(json.loads(body))

    def of(self, tid):
        self.poll()
        return [n for n in self.all if n["id"] == tid]

    def final(self, tid, tmo=30):
        def f():
            return next((n for n in self.of(tid) if n["status"] in ("done", "failed")),
                        None)
        return wait_for(f, tmo, "final notification of " + tid, interval=0.3)


def unacked(queue="tasks", broker=None):
    out = (broker.ctl if broker else broker_ctl)("list_queues", "name",
                                                 "messages_unacknowledged")
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == queue:
            return int(parts[1])
    return 0


def settled(broker=None, url=None):
    return queue_depth("tasks", url=url) == 0 and unacked(broker=broker) == 0


def slow(name, rate):
    return ENV.url("slow/%s?rate=%d" % (name, rate))


def part_size(d, tid):
    p = os.path.join(d, ".%s.part" % tid)
    return os.path.getsize(p) if os.path.exists(p) else -1


def check_file(n, name):
    assert n["status"] == "done", n
    assert n["sha256"] == ENV.sha256(name), n
    with open(n["file"], "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == n["sha256"]


# ---------------------------------------------------------------- basics

@timeout(60)
def test_notifications_and_ack_after_done():
    purge("tasks")
    notes = Notes()
    w = start_worker()
    t = new_task(slow("10m.bin", 1024 * 1024), name="ten \u00e9 \"megs\"")
    send(t)
    # while it downloads (10 s), the task is delivered but not acknowledged
    # (a quorum queue's count shows in rabbitmqctl at its statistics interval)
    wait_for(lambda: unacked() == 1, 10, "the task unacked during the download",
             interval=0.2)
    n = notes.final(t["id"])
    check_file(n, "10m.bin")
    wait_for(lambda: settled(), 10, "tasks queue empty and acked", interval=0.3)
    seq = notes.of(t["id"])
    statuses = [x["status"] for x in seq]
    assert statuses[0] == "started" and statuses[-1] == "done", statuses
    assert statuses.count("progress") >= 2, statuses
    assert set(statuses) == {"started", "progress", "done"}, statuses
    prog = [x for x in seq if x["status"] == "progress"]
    for a, b in zip(prog, prog[1:]):
        assert b["time"] - a["time"] >= 1000, (a["time"], b["time"])
        assert b["bytes"] >= a["bytes"]
    for x in seq:
        assert x["name"] == t["name"] and x["arg"] == t["arg"]
        assert x["taskType"] == "download"
        assert re.match(r"^[^:]+:%d$" % w.pid, x["worker"]), x["worker"]
        # started goes out before the server is asked: no size yet
        assert x["total"] == (None if x["status"] == "started" else 10485760)
        assert isinstance(x["time"], int)
    assert seq[0]["bytes"] == 0
    assert n["bytes"] == 10485760 and "hook_status" not in n
    assert n["file"] == os.path.join(os.path.realpath(w.dir), "10m.bin")
    assert not leftovers(w.dir)
    w.stop()


@timeout(60)
def test_failed_task_is_acked_with_error():
    purge("tasks")
    notes = Notes()
    w = start_worker("--retries", "1")
    t = new_task(ENV.url("status/404"))
    send(t)
    n = notes.final(t["id"])
    assert n["status"] == "failed" and "404" in n["error"], n
    assert "file" not in n and "sha256" not in n
    t2 = new_task(ENV.url("1m.bin"), sha256="0" * 64)
    send(t2)
    n = notes.final(t2["id"])
    assert n["status"] == "failed" and "SHA-256 mismatch" in n["error"]
    wait_for(lambda: settled(), 10, "acked", interval=0.3)
    assert os.listdir(w.dir) == []
    w.stop()


@timeout(60)
def test_malformed_task_dropped_worker_goes_on():
    purge("tasks")
    notes = Notes()
    w = start_worker()
    publish("tasks", b"{not json")
    publish("tasks", {"id": "x", "name": "n", "arg": "http://a/", "taskType": "download"})
    t = new_task(ENV.url("small.txt"))
    send(t)
    check_file(notes.final(t["id"]), "small.txt")
    wait_for(lambda: settled(), 10, "all settled", interval=0.3)
    assert w.alive()
    assert "malformed task" in w.log_text()
    w.stop()


@timeout(90)
def test_two_workers_share_20_tasks():
    purge("tasks")
    notes = Notes()
    d = fresh_dir("shared")
    a = start_worker(dir=d)
    b = start_worker(dir=d)
    tasks = [new_task(slow("1m.bin", 4 * 1024 * 1024), name="share %d" % i)
             for i in range(20)]
    for t in tasks:
        send(t)
    finals = [notes.final(t["id"], tmo=60) for t in tasks]
    by = {}
    for n in finals:
        check_file(n, "1m.bin")
        by.setdefault(n["worker"], 0)
        by[n["worker"]] += 1
    assert len(by) == 2, by
    assert min(by.values()) >= 5, by
    names = sorted(os.path.basename(n["file"]) for n in finals)
    assert len(set(names)) == 20  # 1m.bin, 1m.bin.1, ... none overwritten
    wait_for(lambda: settled(), 10, "acked", interval=0.3)
    assert not leftovers(d)
    a.stop()
    b.stop()


# ---------------------------------------------------------------- crashes

@timeout(90)
def test_sigkill_mid_download_resumed_by_another_worker():
    purge("tasks")
    notes = Notes()
    d = fresh_dir("crash")
    a = start_worker(dir=d)
    t = new_task(slow("10m.bin", 1024 * 1024))
    send(t)
    wait_for(lambda: part_size(d, t["id"]) > 2 * 1024 * 1024, 20,
             "2 MiB in the .part", interval=0.1)
    a.kill(signal.SIGKILL)
    have = part_size(d, t["id"])
    assert have > 0
    assert os.path.exists(os.path.join(d, ".%s.meta" % t["id"]))  # the validator
    # the broker hands the task to the next worker, which resumes it
    t2 = dict(t)
    b = start_worker(dir=d)
    m = b.wait_log(r"%s: resuming at byte (\d+)" % t["id"], timeout=20)
    assert int(m.group(1)) >= have
    # redelivered (the quorum queue counted the delivery): looked for on
    # the stream, no final there, taken
    assert "%s: redelivered (delivery 2); looking for its final" % t["id"] in b.log_text()
    assert "%s: no final notification on the stream; taking it" % t["id"] in b.log_text()
    n = notes.final(t["id"], tmo=30)
    check_file(n, "10m.bin")
    assert n["worker"].endswith(":%d" % b.pid)
    assert os.path.basename(n["file"]) == "10m.bin"
    wait_for(lambda: settled(), 10, "acked", interval=0.3)
    assert not leftovers(d)
    assert t2 == t
    b.stop()


@timeout(90)
def test_sigterm_requeues_and_keeps_the_part():
    purge("tasks")
    notes = Notes()
    d = fresh_dir("term")
    a = start_worker(dir=d)
    t = new_task(slow("10m.bin", 1024 * 1024))
    send(t)
    wait_for(lambda: part_size(d, t["id"]) > 1024 * 1024, 20, "1 MiB", interval=0.1)
    t0 = time.time()
    a.stop(timeout=5)  # exit status 0
    assert time.time() - t0 < 3
    assert "kept for a resume" in a.log_text()
    assert part_size(d, t["id"]) > 0
    wait_for(lambda: queue_depth("tasks") == 1, 10, "the task requeued", interval=0.3)
    assert [x["status"] for x in notes.of(t["id"])] == ["started"] or \
        set(x["status"] for x in notes.of(t["id"])) <= {"started", "progress"}
    b = start_worker(dir=d)
    b.wait_log(r"resuming at byte", timeout=20)
    check_file(notes.final(t["id"]), "10m.bin")
    wait_for(lambda: settled(), 10, "acked", interval=0.3)
    assert not leftovers(d)
    b.stop()


@timeout(120)
def test_consumer_timeout_long_download_not_lost_nor_doubled():
    br = Broker(50, consumer_timeout_ms=2000).start()
    # RabbitMQ checks the timeout on the channel tick (60 s by default)
    br.ctl("eval", "application:set_env(rabbit, channel_tick_interval, 500).")
    purge("tasks", url=br.url)
    purge("notifications", url=br.url)
    notes = Notes(url=br.url)
    w = start_worker(amqp=br.url)
    t = new_task(slow("10m.bin", 1024 * 1024))
    send(t, url=br.url)
    w.wait_log(r"redelivered while in progress here", timeout=30)
    n = notes.final(t["id"], tmo=60)
    check_file(n, "10m.bin")
    text = w.log_text()
    assert "delivery acknowledgement on channel 1 timed out" in text
    assert text.count("%s: downloading " % t["id"]) == 1, text  # one download only
    wait_for(lambda: settled(broker=br, url=br.url), 20, "acked at last", interval=0.5)
    assert sorted(os.listdir(w.dir)) == ["10m.bin"]
    assert len([x for x in notes.of(t["id"]) if x["status"] == "done"]) == 1
    w.stop()


@timeout(120)
def test_broker_outage_mid_download():
    purge("tasks")
    notes = Notes()
    w = start_worker("--heartbeat", "5")
    t = new_task(slow("10m.bin", 2 * 1024 * 1024))
    send(t)
    wait_for(lambda: part_size(w.dir, t["id"]) > 512 * 1024, 20, "started", interval=0.1)
    broker_stop_app()
    try:
        wait_for(lambda: "done: " in w.log_text(), 30, "the download to finish offline",
                 interval=0.3)
    finally:
        broker_start_app()
    n = notes.final(t["id"], tmo=40)
    check_file(n, "10m.bin")
    wait_for(lambda: settled(), 30, "acked after the outage", interval=0.5)
    assert sorted(os.listdir(w.dir)) == ["10m.bin"]
    assert w.log_text().count("%s: downloading " % t["id"]) == 1
    w.stop()


@timeout(60)
def test_redelivery_of_a_finished_task_is_settled_without_download():
    purge("tasks")
    notes = Notes()
    s = Script(resp(200, b"payload"))
    w = start_worker()
    t = new_task(s.url("/p.bin"))
    send(t)
    n = notes.final(t["id"])
    assert n["status"] == "done"
    send(t)  # the same task again: this process remembers it
    w.wait_log(r"redelivered after it finished", timeout=10)
    wait_for(lambda: settled(), 10, "acked", interval=0.3)
    assert len(s.requests) == 1
    # a done record left by a worker that died before its ack
    t2 = new_task(s.url("/q.bin"))
    f = os.path.join(w.dir, "q.bin")
    with open(f, "wb") as fh:
        fh.write(b"payload")
    sha = hashlib.sha256(b"payload").hexdigest()
    with open(os.path.join(w.dir, ".%s.done" % t2["id"]), "w") as fh:
        fh.write("%s\n%s\n7\n%d\n" % (f, sha, os.stat(f).st_ino))
    send(t2)
    n = notes.final(t2["id"])
    assert n["status"] == "done" and n["file"] == f and n["sha256"] == sha
    assert n["bytes"] == 7
    assert len(s.requests) == 1  # no second download
    wait_for(lambda: settled(), 10, "acked", interval=0.3)
    wait_for(lambda: not leftovers(w.dir), 5, "done record cleared")
    w.stop()


# ---------------------------------------------------------------- hooks

@timeout(60)
def test_sqlite_hook_records_each_download():
    purge("tasks")
    notes = Notes()
    dbdir = fresh_dir("db")
    db = os.path.join(dbdir, "warren.sqlite")
    wrapper = os.path.join(dbdir, "hook.sh")
    with open(wrapper, "w") as f:  # the hook's settings: a wrapper's, not the worker's
        f.write("#!/bin/sh\nWARREN_SQLITE_DB='%s' exec '%s'\n" % (db, HOOK))
    os.chmod(wrapper, 0o755)
    w = start_worker("--on-complete", wrapper, env={"WARREN_SQLITE_DB": "/nonexistent/db"})
    ts = [new_task(ENV.url("small.txt"), name="it's \"quoted\"; DROP TABLE x;--"),
          new_task(ENV.url("1m.bin"))]
    for t in ts:
        send(t)
    finals = [notes.final(t["id"]) for t in ts]
    for n in finals:
        assert n["status"] == "done" and n["hook_status"] == 0, n
    con = sqlite3.connect(db)
    rows = {r[0]: r for r in con.execute(
        "select id, name, url, file, size, sha256, time from downloads")}
    con.close()
    assert len(rows) == 2
    for t, n in zip(ts, finals):
        r = rows[t["id"]]
        assert r[1] == t["name"] and r[2] == t["arg"] and r[3] == n["file"]
        assert r[4] == n["bytes"] and r[5] == n["sha256"]
        assert abs(r[6] - time.time()) < 120
    w.stop()


@timeout(60)
def test_hook_status_and_environment():
    purge("tasks")
    notes = Notes()
    d = fresh_dir("hook")
    out = os.path.join(d, "env.txt")
    script = os.path.join(d, "hook.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nenv | grep '^WARREN_' | sort > '%s'\nexit 3\n" % out)
    os.chmod(script, 0o755)
    w = start_worker("--on-complete", script,
                     env={"WARREN_TOKEN": "s3cret", "WARREN_DIR": d,
                          "WARREN_CA_FILE": ENV.ca_file, "WARREN_HEARTBEAT": "30"})
    t = new_task(ENV.url("small.txt"), name="$(touch /tmp/pwned) `id`")
    send(t)
    n = notes.final(t["id"])
    assert n["status"] == "done" and n["hook_status"] == 3, n
    env = dict(l.split("=", 1) for l in open(out).read().splitlines())
    assert env["WARREN_ID"] == t["id"] and env["WARREN_NAME"] == t["name"]
    assert env["WARREN_URL"] == t["arg"] and env["WARREN_FILE"] == n["file"]
    assert env["WARREN_SHA256"] == n["sha256"] and env["WARREN_SIZE"] == "31"
    # only the six: none of the worker's settings (credentials, paths)
    assert sorted(env) == ["WARREN_FILE", "WARREN_ID", "WARREN_NAME",
                           "WARREN_SHA256", "WARREN_SIZE", "WARREN_URL"], env
    wait_for(lambda: settled(), 10, "acked", interval=0.3)
    w.stop()


@timeout(60)
def test_concurrency_and_sigterm_while_idle():
    purge("tasks")
    notes = Notes()
    w = start_worker("--concurrency", "3")
    ts = [new_task(slow("1m.bin", 512 * 1024)) for _ in range(3)]
    t0 = time.time()
    for t in ts:
        send(t)
    for t in ts:
        check_file(notes.final(t["id"]), "1m.bin")
    # three at once: about 2 s in all, not 6
    assert time.time() - t0 < 5.5, time.time() - t0
    wait_for(lambda: settled(), 10, "acked", interval=0.3)
    w.stop()


@timeout(120)
def test_sigkill_with_a_large_part_resumed():
    # the next worker hashes the 20+ MiB already there in its helper process
    # while the rest of the file arrives
    from test_worker_get import bigfile
    name = bigfile(40)
    purge("tasks")
    notes = Notes()
    d = fresh_dir("bigcrash")
    a = start_worker(dir=d)
    t = new_task(slow(name, 8 * 1024 * 1024), sha256=ENV.sha256(name))
    send(t)
    wait_for(lambda: part_size(d, t["id"]) > 20 * 1024 * 1024, 30, "20 MiB", interval=0.1)
    a.kill(signal.SIGKILL)
    b = start_worker(dir=d)
    b.wait_log(r"%s: resuming at byte" % t["id"], timeout=20)
    check_file(notes.final(t["id"], tmo=60), name)
    if (os.cpu_count() or 1) >= 2:   # FETCH_HASHER_MIN_CPUS
        assert "SHA-256 goes on in a helper process from byte 0" in b.log_text()
    wait_for(lambda: settled(), 10, "acked", interval=0.3)
    assert not leftovers(d)
    b.stop()


def test_zz_no_partial_file_left_by_the_suite():
    # every folder the worker tests of this run downloaded into
    left = []
    for top, dirs, files in os.walk(ENV.logs):
        left += [os.path.join(top, f) for f in files
                 if re.match(r"^\..*\.(part|meta|done)$", f)]
    assert not left, left


@timeout(150)
def test_consumer_timeout_two_workers_one_folder():
    """Redeliveries bounce between two workers sharing a folder while one of
    them downloads: the other waits on the .part lock, then settles the task
    from the done record. One download, one file, everything acked."""
    br = Broker(50, consumer_timeout_ms=2000).start()
    br.ctl("eval", "application:set_env(rabbit, channel_tick_interval, 500).")
    purge("tasks", url=br.url)
    purge("notifications", url=br.url)
    notes = Notes(url=br.url)
    d = fresh_dir("bounce")
    a = start_worker(amqp=br.url, dir=d)
    b = start_worker(amqp=br.url, dir=d)
    t = new_task(slow("10m.bin", 1024 * 1024))
    send(t, url=br.url)
    n = notes.final(t["id"], tmo=90)
    check_file(n, "10m.bin")
    wait_for(lambda: settled(broker=br, url=br.url), 60, "acked at last", interval=0.5)
    logs = a.log_text() + b.log_text()
    assert logs.count("%s: downloading " % t["id"]) == 1, logs
    assert sorted(os.listdir(d)) == ["10m.bin"], os.listdir(d)
    finals = [x for x in notes.of(t["id"]) if x["status"] in ("done", "failed")]
    assert all(x["status"] == "done" and x["sha256"] == n["sha256"] for x in finals)
    a.stop()
    b.stop()


# ---------------------------------------------------------------- in doubt

@contextlib.contextmanager
def cut_while_downloading(mode):
    """Worker A behind AmqpCut(mode) downloading a task of about 2 s, and
    worker B (other folder) started beside it, on emptied queues: yields
    (notes, cut, a, b, task); the cut is closed after."""
    purge("tasks")
    purge("notifications")
    notes = Notes()
    cut = AmqpCut(ENV.amqp_port, mode)
    try:
        a = start_worker(amqp=cut.url, wait_log=r"broker connection ready")
        t = new_task(slow("1m.bin", 512 * 1024))   # about 2 s
        send(t)
        a.wait_log(r"%s: downloading" % t["id"], timeout=10)
        b = start_worker(wait_log=r"broker connection ready")
        yield notes, cut, a, b, t
    finally:
        cut.close()


def in_doubt_case(mode):
    """Worker A's connection is cut just after it published its `done`
    (amqpcut.py): in "confirm" mode the broker stored it but A never hears
    so; in "ack" mode A's ack of the task is lost. Either way the broker
    requeues the task and hands it to worker B (other folder) while A
    reconnects. B must not download it again: it finds A's `done` on the
    notifications stream and acks the task; A keeps its file (in "confirm"
    mode it finds its own `done` on the stream too). One `done`, one file,
    everything acked."""
    with cut_while_downloading(mode) as (notes, cut, a, b, t):
        n = notes.final(t["id"], tmo=30)
        wait_for(lambda: cut.fired.is_set(), 10, "the cut")
        wait_for(lambda: settled(), 30, "the task acked", interval=0.3)
        time.sleep(1.5)  # a second `done`, if any, arrives now
        finals = [x for x in notes.of(t["id"]) if x["status"] in ("done", "failed")]
        assert finals == [n], finals   # one `done`
        assert n["status"] == "done" and n["worker"].endswith(":%d" % a.pid), n
        check_file(n, "1m.bin")
        assert os.listdir(b.dir) == [], os.listdir(b.dir)
        assert "%s: downloading" % t["id"] not in b.log_text(), b.log_text()
        b.wait_log(r"%s: already done by another worker \(its notification is on "
                   r"the stream\); acknowledging without a download" % t["id"])
        if mode == "confirm":
            # A finds its own `done` on the stream: keeps the file, clears its record
            a.wait_log(r"%s: our done is stored \(only its confirm was lost\)" % t["id"],
                       timeout=15)
        wait_for(lambda: sorted(os.listdir(a.dir)) == ["1m.bin"], 10,
                 "A's folder: the file, no record")
        assert a.log_text().count("%s: downloading" % t["id"]) == 1
        a.stop()
        b.stop()


@timeout(90)
def test_final_stored_but_confirm_lost_not_done_twice():
    in_doubt_case("confirm")


@timeout(90)
def test_final_confirmed_but_ack_lost_not_done_twice():
    in_doubt_case("ack")


@timeout(90)
def test_final_lost_then_done_by_another_worker_copy_dropped():
    """Worker A's connection is cut as its `done` goes out: the broker
    stores none of it. It requeues the task to worker B (other folder),
    which finds no final notification on the stream, downloads it and
    reports it done. A, reconnected and not handed the task back, looks for
    its `done` on the stream and finds B's, which names B's file: A drops
    its copy. One `done`, one file (B's), everything acked. Before, A took
    any `done` of the task for its own and kept its file too (seen in the
    fault suite's broker restarts: two files for one task)."""
    with cut_while_downloading("lost") as (notes, cut, a, b, t):
        n = notes.final(t["id"], tmo=30)
        assert cut.fired.is_set()
        assert n["status"] == "done" and n["worker"].endswith(":%d" % b.pid), n
        check_file(n, "1m.bin")
        assert os.path.dirname(n["file"]) == os.path.realpath(b.dir), n
        a.wait_log(r"%s: done by another worker into %s: dropping this copy"
                   % (t["id"], re.escape(n["file"])), timeout=20)
        wait_for(lambda: os.listdir(a.dir) == [], 10, "A's folder empty")
        wait_for(lambda: settled(), 30, "the task acked", interval=0.3)
        time.sleep(1.5)  # a second `done`, if any, arrives now
        finals = [x for x in notes.of(t["id"]) if x["status"] in ("done", "failed")]
        assert finals == [n], finals   # one `done`
        assert sorted(os.listdir(b.dir)) == ["1m.bin"], os.listdir(b.dir)
        a.stop()
        b.stop()

"""The worker's lookup of a redelivered task's final notification on the
`notifications` stream (issue 14 item 2; src/lookup.c): a task the quorum
queue redelivers (here: taken by a consumer that closes without acking, so
its x-delivery-count is 1) whose final notification is on the stream is
acknowledged without a download and without a second notification; one
whose final is not there is downloaded once. Nothing goes back to `tasks`:
its delivery count stays where it was. The amqpcut cases (a worker's
connection cut right after its `done`) are in test_worker_mq.py."""

import json
import time
import uuid

from harness import (amqp_connect, broker_ctl, drain, empty_tasks_and_notifications, publish,
                     start_worker, timeout, wait_for)
from hostile import Script, resp


MINE = set()   # the ids of this module's tasks


# every test starts and ends on an empty `tasks` and a fresh stream
setup_module = teardown_module = empty_tasks_and_notifications


def new_task(url):
    return {"id": str(uuid.uuid4()), "name": "lookup", "arg": url, "taskType": "download"}


def redelivered(t):
    """Publishes task t and takes it once without acking: the quorum queue
    then redelivers it (redelivered flag, x-delivery-count 1)."""
    MINE.add(t["id"])
    publish("tasks", t, properties={"message_id": t["id"],
                                    "content_type": "application/json"})
    conn = amqp_connect()
    ch = conn.channel()
    ch.basic_qos(prefetch_count=100)
    for method, props, body in ch.consume("tasks", inactivity_timeout=5):
        assert method is not None, "the task was not delivered"
        tid = json.loads(body).get("id")
        if tid == t["id"]:
            break
        if tid not in MINE:
            # a task an earlier test's killed worker left: dropped
            ch.basic_ack(method.delivery_tag)
    conn.close()   # unacked: back to the queue, counted


def tasks_left():
    """Messages of `tasks`, ready or unacknowledged."""
    for line in broker_ctl("list_queues", "name", "messages").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "tasks":
            return int(parts[1])
    raise AssertionError("no tasks queue")


def note(t, status, **kw):
    d = {"id": t["id"], "name": t["name"], "arg": t["arg"], "taskType": "download",
         "status": status, "time": int(time.time() * 1000), "worker": "elsewhere:1"}
    d.update(kw)
    return d


def finals(tid):
    return [n for n in (json.loads(b) for b, _ in drain("notifications"))
            if n["id"] == tid and n["status"] in ("done", "failed", "cancelled")]


@timeout(60)
def test_final_on_the_stream_acked_without_download():
    s = Script(resp(200, b"payload"))
    tasks = {}
    for status in ("done", "failed", "cancelled"):
        t = new_task(s.url("/%s.bin" % status))
        redelivered(t)
        publish("notifications", note(t, status))
        tasks[status] = t
    drain("notifications")   # the harness's position: after these
    w = start_worker()
    for status, t in tasks.items():
        w.wait_log(r"%s: already %s by another worker \(its notification is on the "
                   r"stream\); acknowledging without a download" % (t["id"], status),
                   timeout=20)
    wait_for(lambda: tasks_left() == 0, 20, "tasks acked", interval=0.3)
    assert s.requests == [], s.requests
    assert not [t for t in tasks.values() if "%s: downloading" % t["id"] in w.log_text()]
    assert all(finals(t["id"]) == [] for t in tasks.values())   # none again
    assert "lookup: " in w.log_text()
    w.stop()


@timeout(60)
def test_final_inside_an_array_acked_without_download():
    """A worker sends its final notification in one message with the notes
    it gathered (a JSON array): the lookup reads every one of them."""
    s = Script(resp(200, b"payload"))
    t = new_task(s.url("/in-array.bin"))
    other = new_task(s.url("/other.bin"))
    redelivered(t)
    publish("notifications", [note(other, "started"),
                              note(t, "done", file="/elsewhere/in-array.bin",
                                   sha256="0" * 64, bytes=7),
                              note(other, "progress")])
    drain("notifications")
    w = start_worker()
    w.wait_log(r"%s: already done by another worker \(its notification is on the "
               r"stream\); acknowledging without a download" % t["id"], timeout=20)
    wait_for(lambda: tasks_left() == 0, 20, "task acked", interval=0.3)
    assert s.requests == [], s.requests
    assert finals(t["id"]) == []   # not reported again
    w.stop()


@timeout(60)
def test_no_final_on_the_stream_downloaded_once():
    s = Script(resp(200, b"payload"))
    t = new_task(s.url("/x.bin"))
    publish("notifications", note(t, "started"))   # not a final one
    redelivered(t)
    drain("notifications")
    w = start_worker()
    w.wait_log(r"%s: redelivered \(delivery 2\); looking for its final" % t["id"], timeout=20)
    w.wait_log(r"%s: no final notification on the stream; taking it" % t["id"], timeout=20)
    got = wait_for(lambda: finals(t["id"]), 20, "its done")
    assert [n["status"] for n in got] == ["done"], got
    wait_for(lambda: tasks_left() == 0, 20, "acked", interval=0.3)
    assert finals(t["id"]) == []   # no second one
    assert len(s.requests) == 1, s.requests
    assert w.log_text().count("%s: downloading" % t["id"]) == 1
    w.stop()

"""What a long-running deployment meets around the broker connection
(issue 11 items 3 and 4): a 100 MB message on `notifications` or `tasks` is
rejected from its announced size, its body never buffered (RSS measured
before and after), and the programs go on with the next message; a
resolver child never outlives its parent's resources: a tasker killed while
its broker's name is being looked up (a nameserver that never answers)
restarts at once on the same port."""

import json
import os
import socket
import time
import uuid

from harness import (ENV, _declare, amqp_connect, http_json, purge, queue_depth,
                     rss_kib, start_middleman, start_program, start_worker,
                     timeout, wait_for)

BIG = 100 * 1024 * 1024


def publish_raw(queue, bodies, props=None):
    import pika
    conn = amqp_connect()
    ch = conn.channel()
    _declare(ch, queue)   # the programs' arguments (a stream, a quorum queue)
    for b in bodies:
        ch.basic_publish("", queue, b, pika.BasicProperties(
            delivery_mode=2, content_type="application/json", **(props or {})))
    conn.close()


def note(tid, status):
    return json.dumps({"id": tid, "name": "n", "taskType": "download",
                       "arg": "http://127.0.0.1/x", "status": status,
                       "time": int(time.time() * 1000)}).encode()


@timeout(180)
def test_100mb_notification_rejected_unbuffered():
    purge("notifications")
    mm = start_middleman("--interval", "0")
    wait_for(lambda: http_json("GET", mm.port, "/health")[0] == 200, 15, "middleman up")
    publish_raw("notifications", [note("warm", "queued")])
    wait_for(lambda: len(http_json("GET", mm.port, "/tasks")[2]) == 1, 15, "warm stored")
    before = rss_kib(mm.pid)
    publish_raw("notifications", [b'{"id":"big","pad":"' + b"p" * BIG + b'"}',
                                  note("after", "done")])
    wait_for(lambda: any(t["id"] == "after" for t in http_json("GET", mm.port, "/tasks")[2]),
             60, "the next notification stored", interval=0.5)
    after = rss_kib(mm.pid)
    mm.wait_log(r"of %d bytes on notifications is over the limit" % (BIG + 21), timeout=5)
    # (a stream keeps its messages: "after" stored is the proof the
    # middleman's position moved past the big one)
    print("middleman RSS %d KiB before, %d KiB after a 100 MB message" % (before, after))
    assert after - before < 4096, (before, after)
    mm.stop()


@timeout(180)
def test_100mb_task_rejected_unbuffered():
    purge("tasks")
    purge("notifications")
    w = start_worker()
    w.wait_log(r"broker connection ready", timeout=15)
    before = rss_kib(w.pid)
    good = {"id": str(uuid.uuid4()), "name": "after", "arg": ENV.url("small.txt"),
            "taskType": "download"}
    publish_raw("tasks", [b'{"id":"big","pad":"' + b"p" * BIG + b'"}'])
    publish_raw("tasks", [json.dumps(good).encode()], {"message_id": good["id"]})
    w.wait_log(r"%s: done" % good["id"], timeout=60)
    after = rss_kib(w.pid)
    assert "over the limit" in w.log_text()
    wait_for(lambda: queue_depth("tasks") == 0, 10, "the big one gone")
    print("worker RSS %d KiB before, %d KiB after a 100 MB message" % (before, after))
    assert after - before < 4096, (before, after)
    w.stop()


@timeout(90)
def test_tasker_killed_mid_lookup_restarts_on_the_same_port():
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind(("127.0.0.78", 53))    # takes queries, answers none
    conf = os.path.join(ENV.logs, "resolv-never.conf")
    with open(conf, "w") as f:
        f.write("nameserver 127.0.0.78\noptions timeout:25 attempts:1\n")
    try:
        p = start_program("/usr/bin/unshare", [
            "--mount", "sh", "-c",
            'mount --bind "$0" /etc/resolv.conf && exec "$@"', conf,
            ENV.tasker, "--listen", "127.0.0.1:{port}",
            "--amqp", "amqp://guest:guest@broker.warren-test:5672"],
            port="auto")
        dns.settimeout(10)
        assert dns.recv(512)         # the lookup is under way, and hangs
        port = p.port
        p.kill()                     # SIGKILL: no cleanup of its own
        t0 = time.monotonic()
        q = start_program(ENV.tasker, ["--listen", "127.0.0.1:%d" % port,
                                       "--amqp", ENV.amqp_url], port=port, timeout=5)
        assert time.monotonic() - t0 < 5
        assert "Address already in use" not in q.log_text()
        assert http_json("GET", port, "/health")[0] in (200, 503)
        q.stop()
    finally:
        dns.close()

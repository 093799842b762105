"""When the broker pushes back (issue 11 item 1), against a real RabbitMQ of
this module's own (an alarm must not disturb the shared node): a memory
alarm (connection.blocked) keeps the tasker answering at once (503 with
Retry-After, /health says "blocked" within 1 s) and the worker downloading,
and the tasks posted before and after the alarm complete once it is lifted;
a broker frozen with SIGSTOP is declared dead after a deadline while the
tasker keeps answering; basic.cancel (the queue deleted) makes the worker
declare and consume again; a channel.close from the broker (consumer_timeout)
costs the channel, not the connection."""

import json
import os
import signal
import time

from harness import (ENV, Broker, drain, http_json, purge, start_middleman, start_tasker,
                     start_worker, timeout, wait_for, wait_tasker_connected)

BR = None


def setup_module():
    global BR
    BR = Broker(60).start()  # base+60, +61: clear of the cluster (base+30..35)


def teardown_module():
    if BR:
        alarm(False)
        BR.stop()


def alarm(on):
    """Raises or clears the memory alarm and waits until the node says so,
    so that a later test never starts under a stale alarm."""
    # a watermark below what the node uses raises the memory alarm at once
    BR.ctl("set_vm_memory_high_watermark", "0.0000001" if on else "0.4")

    def node_agrees():
        out = BR.ctl("eval", "rabbit_alarm:get_alarms().")
        return ("memory" in out) == on
    wait_for(node_agrees, 60, "the memory alarm %s" % ("raised" if on else "cleared"),
             interval=0.3)


def task(url, name="t"):
    return {"name": name, "arg": url, "taskType": "download"}


def timed(fn, *a, **kw):
    t0 = time.monotonic()
    r = fn(*a, **kw)
    return r, time.monotonic() - t0


def finals(ids, tmo=60):
    """Waits for a done notification of every id; returns them by id."""
    seen = {}

    def all_done():
        for body, _ in drain("notifications", url=BR.url):
            n = json.loads(body)
            if n["status"] in ("done", "failed"):
                seen.setdefault(n["id"], []).append(n)
        return all(i in seen for i in ids)
    wait_for(all_done, tmo, "final notifications of %s" % ids, interval=0.3)
    return seen


def beam_pid():
    out = BR.ctl("eval", "list_to_integer(os:getpid()).")
    return int(out.strip().splitlines()[-1])


def thaw(pid):
    """SIGCONT, then waits until the node answers again, so that a failure
    while frozen cannot leave a later test a stopped broker."""
    os.kill(pid, signal.SIGCONT)

    def answers():
        try:
            return beam_pid() == pid
        except AssertionError:   # rabbitmqctl failed: not yet
            return False
    wait_for(answers, 60, "the broker answering again", interval=0.5)


@timeout(240)
def test_memory_alarm_answers_at_once_and_completes_after():
    purge("tasks", url=BR.url)
    purge("notifications", url=BR.url)
    w = start_worker(amqp=BR.url)
    t = start_tasker(amqp=BR.url, connected=True)
    st, _, before = http_json("POST", t.port, "/task", task(ENV.url("small.txt"), "before"))
    assert st == 202, before
    try:
        alarm(True)
        # RabbitMQ blocks a connection at its first publish during the alarm:
        # that POST too is answered at once (503, the task may be stored)
        def blocked_503():
            (st, h, body), took = timed(http_json, "POST", t.port, "/task",
                                        task(ENV.url("small.txt"), "first"), timeout=5)
            assert took < 1.0, took
            assert st in (202, 503), (st, body)
            return st == 503 and "retry-after" in h
        wait_for(blocked_503, 60, "a 503 for the alarm", interval=0.5)
        t.wait_log(r"blocked \(", timeout=10)
        for _ in range(10):
            (st, h, body), took = timed(http_json, "GET", t.port, "/health", timeout=5)
            assert took < 1.0, took
            assert st == 503 and body == {"amqp": "blocked"}, (st, body)
            (st, h, body), took = timed(http_json, "POST", t.port, "/task",
                                        task(ENV.url("small.txt"), "during"), timeout=5)
            assert took < 1.0, took
            assert st == 503 and "retry-after" in h, (st, h, body)
            assert "blocked" in body["error"], body
            time.sleep(0.3)
    finally:
        alarm(False)
    t.wait_log(r"unblocked", timeout=30)
    st, _, after = http_json("POST", t.port, "/task", task(ENV.url("small.txt"), "after"))
    assert st == 202, after
    got = finals([before["id"], after["id"]])
    for i in (before["id"], after["id"]):
        assert [n["status"] for n in got[i]] == ["done"], got[i]
    (st, _, body), took = timed(http_json, "GET", t.port, "/health", timeout=5)
    assert st == 200 and body == {"amqp": "up"}, body
    assert "reconnecting" not in t.log_text()
    t.stop()
    w.stop()


@timeout(240)
def test_worker_downloads_through_an_alarm_and_publishes_after():
    purge("tasks", url=BR.url)
    purge("notifications", url=BR.url)
    w = start_worker(amqp=BR.url)
    t = start_tasker(amqp=BR.url, connected=True)
    # 2 MiB at 512 KiB/s: the download spans the alarm
    st, _, res = http_json("POST", t.port, "/task",
                           task(ENV.url("slow/10m.bin?rate=1048576"), "through"))
    assert st == 202, res
    w.wait_log(r"%s: downloading" % res["id"], timeout=20)
    try:
        alarm(True)
        w.wait_log(r"blocked \(", timeout=30)
        w.wait_log(r"%s: done" % res["id"], timeout=60)
        time.sleep(1)
        assert not [b for b, _ in drain("notifications", url=BR.url)
                    if json.loads(b).get("status") == "done"], "published while blocked"
    finally:
        alarm(False)
    got = finals([res["id"]])
    assert got[res["id"]][0]["sha256"] == ENV.sha256("10m.bin")
    w.stop()
    t.stop()


@timeout(240)
def test_broker_frozen_is_declared_dead_and_the_tasker_answers():
    t = start_tasker("--heartbeat", "60", amqp=BR.url, connected=True)
    st, _, _ = http_json("POST", t.port, "/task", task(ENV.url("small.txt")))
    assert st == 202
    pid = beam_pid()
    try:
        os.kill(pid, signal.SIGSTOP)
        # the POST is published into a socket nobody reads: 503 within the
        # confirm deadline, and the loop answers /health meanwhile
        t0 = time.monotonic()
        st, h, body = http_json("POST", t.port, "/task", task(ENV.url("small.txt")),
                                timeout=30)
        assert st == 503 and "retry-after" in h, (st, body)
        assert time.monotonic() - t0 < 15
        t.wait_log(r"publisher confirm timed out|read nothing", timeout=30)
        for _ in range(10):
            (st, _, body), took = timed(http_json, "GET", t.port, "/health", timeout=5)
            assert took < 1.0, took
            assert st == 503 and body == {"amqp": "down"}, body
            time.sleep(0.5)
    finally:
        thaw(pid)
    wait_for(lambda: http_json("GET", t.port, "/health")[0] == 200, 60, "up again",
             interval=0.5)
    st, _, _ = http_json("POST", t.port, "/task", task(ENV.url("small.txt")))
    assert st == 202
    t.stop()


@timeout(120)
def test_consumer_cancelled_by_queue_deletion_consumes_again():
    purge("tasks", url=BR.url)
    w = start_worker(amqp=BR.url)
    t = start_tasker(amqp=BR.url, connected=True)
    w.wait_log(r"connected to broker", timeout=20)
    from harness import delete_queue
    delete_queue("tasks", url=BR.url)
    w.wait_log(r"cancelled by the broker; consuming again", timeout=20)
    st, _, res = http_json("POST", t.port, "/task", task(ENV.url("small.txt")))
    assert st == 202, res
    w.wait_log(r"%s: done" % res["id"], timeout=30)
    assert "reconnecting" not in w.log_text()
    w.stop()
    t.stop()


@timeout(180)
def test_channel_close_keeps_the_connection():
    br = Broker(62, consumer_timeout_ms=2000).start()
    # RabbitMQ checks the timeout on the channel tick (60 s by default)
    br.ctl("eval", "application:set_env(rabbit, channel_tick_interval, 500).")
    purge("tasks", url=br.url)
    purge("notifications", url=br.url)
    w = start_worker("--heartbeat", "5", amqp=br.url)
    t = start_tasker(amqp=br.url, connected=True)
    st, _, res = http_json("POST", t.port, "/task",
                           task(ENV.url("slow/10m.bin?rate=2097152"), "long"))
    assert st == 202
    w.wait_log(r"channel 1 closed by the broker: 406", timeout=60)
    w.wait_log(r"\(channel 2\)", timeout=20)
    w.wait_log(r"%s: done" % res["id"], timeout=60)
    text = w.log_text()
    assert "reconnecting" not in text, text
    # the connection's heartbeats went on: the broker still lists one
    # connection of the worker's, the same one
    assert text.count("connected to broker") == 2, text
    w.stop()
    t.stop()


@timeout(120)
def test_shutdown_with_a_confirm_outstanding():
    """SIGTERM while a POST waits for a confirm that cannot come (the broker
    frozen): after the grace period the tasker exits 0, the waiting client
    gets its 503, and nothing is used after it was freed (ASan build)."""
    import threading
    t = start_tasker(amqp=BR.url, connected=True)
    st, _, _ = http_json("POST", t.port, "/task", task(ENV.url("small.txt")))
    assert st == 202
    pid = beam_pid()
    got = []
    try:
        os.kill(pid, signal.SIGSTOP)
        th = threading.Thread(target=lambda: got.append(
            http_json("POST", t.port, "/task", task(ENV.url("small.txt")), timeout=30)))
        th.start()
        time.sleep(1)                # published, waiting for its confirm
        t.stop(timeout=20)           # exit 0, no sanitizer report
        th.join(30)
    finally:
        thaw(pid)
    assert got and got[0][0] == 503, got


def queue_args(queue, args, url):
    from harness import amqp_connect, delete_queue
    delete_queue(queue, url=url)
    conn = amqp_connect(url)
    conn.channel().queue_declare(queue, durable=True, arguments=args)
    conn.close()


@timeout(150)
def test_queue_with_other_arguments_said_once_retried_slowly():
    """issue 14 item 4: a 406 on a declaration (here the classic `tasks` an
    older warren declared, where warren wants a quorum queue) is one clear
    line naming the queue, what it is (RabbitMQ's words) and what it should
    be, and how to remove it; then quiet slow retries, and the program comes
    up once it is fixed."""
    from harness import delete_queue
    queue_args("tasks", {}, BR.url)   # durable, classic: an older warren's
    try:
        t = start_tasker(amqp=BR.url)
        t.wait_log(r"queue 'tasks' exists with other arguments", timeout=20)
        time.sleep(3)
        text = t.log_text()
        assert text.count("exists with other arguments") == 1, text
        assert text.count("PRECONDITION_FAILED") == 1, text   # one line, no echo
        assert "rabbitmqctl delete_queue tasks" in text, text
        # what it is, in RabbitMQ's words (the first argument that differs)
        assert "inequivalent arg" in text and "but current is" in text, text
        assert ("it must be a durable quorum queue (x-queue-type quorum, "
                "x-delivery-limit 5, x-dead-letter-exchange warren.dead)") in text, text
        assert "trying again every 30 s" in text, text
        st, _, body = http_json("GET", t.port, "/health")
        assert st == 503 and body == {"amqp": "down"}, body
        st, _, _ = http_json("POST", t.port, "/task", task(ENV.url("small.txt")))
        assert st == 503
    finally:
        delete_queue("tasks", url=BR.url)
    t.wait_log(r"the queues are as warren declares them now", timeout=60)
    wait_tasker_connected(t)
    assert t.log_text().count("exists with other arguments") == 1
    t.stop()


@timeout(60)
def test_old_notifications_queue_named_with_the_stream_it_must_be():
    """The classic `notifications` of an older warren: the line says the
    stream warren wants, with its retention."""
    from harness import delete_queue
    queue_args("notifications", {}, BR.url)
    try:
        m = start_middleman(amqp=BR.url)
        m.wait_log(r"queue 'notifications' exists with other arguments", timeout=20)
        text = m.log_text()
        assert ("it must be a durable stream (x-queue-type stream, x-max-age 7D, "
                "x-max-length-bytes 268435456)") in text, text
        assert "rabbitmqctl delete_queue notifications" in text, text
        assert "inequivalent arg" in text and "but current is" in text, text
        m.stop()   # (the recovery is the test above's)
    finally:
        delete_queue("notifications", url=BR.url)


@timeout(150)
def test_cluster_urls_fail_over_in_turn_password_hidden():
    """issue 14 item 1: --amqp URL,URL,URL: a node that does not answer is
    passed over at once, the next one used; when it fails the next after
    it; logs name the node and never a password."""
    from harness import free_port
    dead = free_port()
    pw = "Secret-Dead-7"
    urls = "amqp://guest:%s@127.0.0.1:%d,%s,%s" % (pw, dead, BR.url, ENV.amqp_url)
    t = start_tasker(amqp=urls, connected=True)
    t.wait_log(r"connected to broker amqp://guest:\*\*\*@127\.0\.0\.1:%d " % BR.port,
               timeout=5)
    assert "amqp://guest:***@127.0.0.1:%d" % dead in t.log_text()
    st, _, _ = http_json("POST", t.port, "/task", task(ENV.url("small.txt")))
    assert st == 202
    # the node in use drops us: the next one takes over
    BR.ctl("close_all_connections", "failover test")
    t.wait_log(r"connected to broker amqp://guest:\*\*\*@127\.0\.0\.1:%d " % ENV.amqp_port,
               timeout=30)
    wait_for(lambda: http_json("POST", t.port, "/task", task(ENV.url("small.txt")))[0] == 202,
             30, "a 202 through the next node", interval=0.3)
    t.stop()
    text = t.log_text().split("\n", 1)[1]      # line 1: the harness's argv
    assert pw not in text and "guest:guest" not in text, text

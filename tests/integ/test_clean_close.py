"""Each program, stopped with SIGTERM, closes its broker connections the
AMQP way: connection.close, then the broker's close-ok awaited (at most
MQ_CLOSE_WAIT_MS) before the socket goes. RabbitMQ then logs the close at
info level. A program that closes its socket right after sending its close
makes the broker log "client unexpectedly closed TCP connection" instead,
and frames it sent just before may be lost with the reset (the tasker's
gathered `queued` notifications: test_tasker's SIGTERM test). The README
promises the same close for the worker and the middleman; the middleman is
stopped here just after it connected, with 19,200 notifications of the
stream to read, the worker once it has read warren.control. Checked in the
broker's own log, by the local port of each of the program's connections.
Each test fails against programs that skip the wait."""

import json
import os
import re
import time
import uuid

from harness import (ENV, amqp_connect, purge, start_middleman, start_tasker,
                     start_worker, wait_for)


def broker_log():
    return os.path.join(ENV.state, "broker", "log", "node.log")


def log_size():
    try:
        return os.path.getsize(broker_log())
    except OSError:
        return 0


def amqp_ports(pid):
    """Local ports of process pid's TCP connections to the broker."""
    inodes = set()
    fds = "/proc/%d/fd" % pid
    for fd in os.listdir(fds):
        try:
            link = os.readlink(os.path.join(fds, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[9] in inodes and int(f[2].rsplit(":", 1)[1], 16) == ENV.amqp_port:
                ports.append(int(f[1].rsplit(":", 1)[1], 16))
    return ports


def close_seen(since, port):
    """(level, abrupt) of the broker's log entry for the close of the
    connection from local port, written after byte since; None before."""
    with open(broker_log(), errors="replace") as f:
        f.seek(since)
        text = f.read()
    m = re.search(r"\[(\w+)\] (<[\d.]+>) closing AMQP connection <[\d.]+> "
                  r"\(127\.0\.0\.1:%d -> " % port, text)
    if not m:
        return None
    # the reason, when there is one, is the entry's next line
    rest = text[m.end():m.end() + 400].split("\n")
    abrupt = any("client unexpectedly closed TCP connection" in ln
                 for ln in rest[1:3] if m.group(2) in ln)
    return m.group(1), abrupt


def stop_and_check(p, since, want_connections):
    def connected():
        ports = amqp_ports(p.pid)
        return ports if len(ports) >= want_connections else None

    ports = wait_for(connected, 20, "%s's broker connections" % p.name)
    p.stop()
    for port in ports:
        level, abrupt = wait_for(lambda: close_seen(since, port), 20,
                                 "the broker's log of %s's close (port %d)" % (p.name, port))
        assert not abrupt and level == "info", \
            "%s (port %d): the broker saw %s" % (
                p.name, port, "its TCP connection end abruptly" if abrupt else level)
    return ports


def test_tasker_sigterm_closes_both_connections_cleanly():
    since = log_size()
    p = start_tasker(connected=True)
    ports = stop_and_check(p, since, 2)   # tasks, and the queued notifications
    assert len(ports) == 2, ports


def test_worker_sigterm_closes_cleanly():
    since = log_size()
    p = start_worker()
    p.wait_log(r"taking tasks", timeout=20)
    stop_and_check(p, since, 1)


def backlog(messages):
    """Publishes messages JSON arrays of 64 `queued` notifications to the
    stream (confirmed), for a middleman to read."""
    import pika
    conn = amqp_connect()
    ch = conn.channel()
    ch.confirm_delivery()
    now = int(time.time() * 1000)
    for _ in range(messages):
        notes = [{"id": str(uuid.uuid4()), "name": "backlog", "taskType": "download",
                  "arg": "http://127.0.0.1/backlog.bin", "status": "queued", "time": now}
                 for _ in range(64)]
        ch.basic_publish("", "notifications", json.dumps(notes).encode(),
                         pika.BasicProperties(delivery_mode=2,
                                              content_type="application/json"))
    conn.close()


def test_middleman_sigterm_with_a_backlog_closes_cleanly():
    purge("notifications")      # declared, and empty
    try:
        backlog(300)            # 19,200 notifications
        since = log_size()
        p = start_middleman("--interval", "0")
        p.wait_log(r"connected to broker", timeout=20)
        stop_and_check(p, since, 1)
    finally:
        purge("notifications")  # later middlemen need not read them

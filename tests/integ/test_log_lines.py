"""Logs cannot be forged (issue 12, item 4): text from outside that reaches
a log line - a request path, a decoded ?task=, a task message's keys - is escaped by log.c, so each event stays one line. Each
test sends control characters (\\n, \\r, ESC) and checks that every line
of the program's log has the form of a log line and that the escaped text
is there; then that the program still serves."""

import re

from harness import (declare_topology, http, publish, purge, raw_exchange,
                     start_middleman, start_tasker, start_worker, wait_for)
import wsraw

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ (info|warn|error): ")


def assert_lines(text):
    """Every line of text is a log line (nothing forged, nothing split)."""
    for line in text.splitlines():
        if line.startswith("# "):  # the harness's command line
            continue
        assert LINE.match(line), "not a log line: %r\n%s" % (line, text)
    assert "\r" not in text and "\x1b" not in text, repr(text)


def test_tasker_request_paths():
    p = start_tasker()
    forged = "2026-01-01T00:00:00.000Z tasker info: forged"
    for req in (b"GET /a\rb HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /a\n" + forged.encode() + b" HTTP/1.1\r\n\r\n",
                b"GET /a\x1b[2Jb HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /\xc2\x85next\xe2\x80\xa8line HTTP/1.1\r\nHost: x\r\n\r\n",
                b"POST /task HTTP/1.1\r\nHost: x\r\nContent-Length: 41\r\n\r\n"
                b'{"name":"a\\nb\\r","arg":"x\\n","taskType":1}'):
        raw_exchange(p.port, req)
    wait_for(lambda: p.log_text().count('"POST /task"') >= 1, 5, "the POST's log line")
    text = p.log_text()
    assert_lines(text)
    assert forged not in text.splitlines(), text
    assert http("GET", p.port, "/nowhere")[0] == 404


def test_middleman_decoded_task_filter():
    mm = start_middleman("--interval", "0")
    mm.wait_log("connected to broker", 15)  # so that /health answers 200
    c = wsraw.RawWS(mm.port, "/ws?task=id%0D%0A2026-01-01T00:00:00.000Z%20x%20info:%20forged%1B%5B2J")
    assert c.status == 101, c.status
    mm.wait_log(r"ws .*open", 5)
    c.close()
    text = mm.log_text()
    assert_lines(text)
    assert "task id\\r\\n2026-01-01T00:00:00.000Z x info: forged\\x1b[2J" in text, text
    assert http("GET", mm.port, "/health")[0] == 200


def test_worker_task_message_keys():
    """A task message on the queue with a key holding \\n and \\r: the
    worker names the key when it drops the message, on one line."""
    declare_topology()
    purge("tasks")
    w = start_worker(wait_log="broker connection ready")
    publish("tasks", b'{"id":"0b6f7c0e-2d55-4a57-9c8e-6f0f3b1a7d42","name":"n",'
            b'"arg":"http://127.0.0.1:9/x","taskType":"download",'
            b'"k\\nw error: forged\\r\\u001b[2J":1}')
    w.wait_log(r"dropping a malformed task message", 10)
    text = w.log_text()
    assert_lines(text)
    assert 'unknown key "k\\nw error: forged\\r\\x1b[2J"' in text, text
    assert w.alive()
    purge("tasks")

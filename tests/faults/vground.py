#!/usr/bin/python3
"""vground.py - the round tests/faults/valgrind.sh runs with BUILD pointing at
valgrind wrappers of the programs: every code path a day on a router meets,
then SIGTERM so that each program exits by itself (valgrind's leak check
runs at exit). Exit status 0 when every step went as it must; valgrind's
own findings are read from its logs by valgrind.sh."""

import json
import os
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integ"))
sys.path.insert(0, HERE)

import harness as H  # noqa: E402
import wsraw  # noqa: E402
from faults import Ledger, WsCollector, reset_queues, submit, task  # noqa: E402

SLOW = 90  # valgrind runs the programs 20-50 times slower


def step(what):
    print("    %s" % what, flush=True)


def main():
    H.CURRENT_TEST = "valgrind_round"
    os.makedirs(H.ENV.logs, exist_ok=True)
    reset_queues()
    journal = os.path.join(H.fresh_dir("journal"), "notes.journal")
    mm = H.start_middleman("--interval", "0", "--journal", journal, timeout=SLOW)
    tasker = H.start_tasker(timeout=SLOW, connected=True)
    shared = H.fresh_dir("shared")
    w1 = H.start_worker("--concurrency", "2", dir=shared,
                        wait_log="broker connection ready", timeout=SLOW)
    ledger = Ledger()
    col = WsCollector(ledger, lambda: mm.port)
    col.connected.wait(SLOW)

    step("tasker: good, array, bad, limits, HTTP/1.1 features")
    small = H.ENV.sha256("small.txt")
    tasks = [
        task(H.ENV.url("small.txt"), "small", small),
        task(H.ENV.url("small.txt", tls=True), "https", small),
        task(H.ENV.url("/redir/chain/1"), "redirects"),
        task(H.ENV.url("/status/404"), "missing"),
        task(H.ENV.url("/disposition/evil"), "evil name"),
        task(H.ENV.url("small.txt"), "bad sum", "0" * 64),
    ]
    for t in tasks:
        assert submit(ledger, tasker.port, t, timeout=SLOW)[0] == 202
    st, _, body = H.http_json("POST", tasker.port, "/task",
                              [task(H.ENV.url("1m.bin"), "a%d" % i) for i in range(3)],
                              timeout=SLOW)
    assert st == 202 and len(body) == 3, (st, body)
    ledger.accepted += [b["id"] for b in body]
    for bad, want in ((b"{", 400), (b'{"name":"x"}', 400), (b"[]", 400),
                      (b"x" * 70000, 400),            # one task over 8 KiB of JSON
                      (b"x" * ((1 << 20) + 1), 413)):  # HTTP_MAX_BODY + 1
        assert H.http("POST", tasker.port, "/task", bad, timeout=SLOW)[0] == want
    assert H.http("GET", tasker.port, "/nope", timeout=SLOW)[0] == 404
    assert H.http("GET", tasker.port, "/task", timeout=SLOW)[0] == 405
    one = json.dumps(task(H.ENV.url("small.txt"), "chunked")).encode()
    raw = (b"POST /task HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           b"Expect: 100-continue\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(one), one) +
           b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"y" * 9000 + b"\r\n\r\n")
    out = H.raw_exchange(tasker.port, raw, read_timeout=10)
    assert b" 202 " in out and b" 431 " in out, out[:300]
    ledger.accepted += re.findall(r'"id": ?"([0-9a-f-]{36})"', out.decode("latin-1"))

    step("worker: a slow download killed, resumed by a second worker")
    st, slow_id = submit(ledger, tasker.port,
                         task(H.ENV.url("/slow/1m.bin?rate=131072"), "slow",
                              H.ENV.sha256("1m.bin")), timeout=SLOW)
    assert st == 202
    part = os.path.join(shared, ".%s.part" % slow_id)
    H.wait_for(lambda: os.path.exists(part) and os.path.getsize(part) > 200000,
               SLOW, "the slow download to start")
    w1.kill(signal.SIGKILL)
    w2 = H.start_worker("--concurrency", "2", dir=shared,
                        wait_log="broker connection ready", timeout=SLOW)

    step("broker: every connection closed once")
    time.sleep(2)
    H.close_all_connections("valgrind round")
    H.wait_for(lambda: ledger.all_final(), 3 * SLOW, "every task to end", interval=0.5)
    assert any(n["status"] == "done" for n in ledger.finals(slow_id))

    step("middleman: pages, since, task filter, bad frames")
    for path, want in (("/", 200), ("/tasks", 200), ("/tasks/" + slow_id, 200),
                       ("/tasks/nope", 404), ("/health", 200), ("/x", 404)):
        assert H.http("GET", mm.port, path, timeout=SLOW)[0] == want, path
    c = wsraw.RawWS(mm.port, "/ws?since=3&task=" + slow_id, timeout=SLOW)
    assert c.status == 101
    json.loads(c.recv_text(timeout=SLOW))
    c.send_frame(wsraw.OP_PING, b"p")
    while True:
        fin, op, payload = c.recv_frame(timeout=SLOW)
        if op == wsraw.OP_PONG:
            assert payload == b"p"
            break
    c.send_frame(wsraw.OP_TEXT, b"\xc3\x28")
    c.expect_close(1007, timeout=SLOW)
    c.close()
    col.stop()

    step("SIGTERM: each program exits 0 by itself")
    for p in (w2, tasker, mm):
        p.stop(timeout=SLOW)
    mm = H.start_middleman("--interval", "0", "--journal", journal, timeout=SLOW)
    assert H.http_json("GET", mm.port, "/tasks/" + slow_id, timeout=SLOW)[0] == 200
    mm.stop(timeout=SLOW)
    done = sum(1 for i in ledger.accepted
               if any(n["status"] == "done" for n in ledger.finals(i)))
    step("%d tasks, %d done, WebSocket notifications %d" % (
        len(ledger.accepted), done, sum(len(v) for v in ledger.notes.values())))
    H.cleanup()
    return 0


if __name__ == "__main__":
    try:
        rc = main()
    except BaseException:
        import traceback
        traceback.print_exc()
        H.cleanup()
        rc = 1
    sys.exit(rc)

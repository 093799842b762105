"""The middleman's task store (issue 10): a burst of 1000 tasks reaches
every WebSocket client whole, with the default settings and with a tiny
history; GET /tasks lists every kept task (?status=, ?since=); a task's
state only moves forward; --tasks evicts the task finished longest ago;
the journal keeps the compacted state across a restart.

Notifications are published straight to `notifications` as a tasker and
two workers would send them for a 1000-task array: 1000 `queued`, then
`started` and `done` of each task."""

import json
import os
import select
import socket
import time

from harness import (fresh_dir, http, http_json, raw_exchange, rss_kib, timeout,
                     wait_for)
from test_middleman import S, note, publish_notes, start, start_middleman
import wsraw

N = 1000


def batch_notes(prefix, n=N):
    notes = [note("%s%d" % (prefix, i), "queued") for i in range(n)]
    for i in range(n):
        notes.append(note("%s%d" % (prefix, i), "started", worker="h:%d" % (i % 2),
                          bytes=0, total=10))
        notes.append(note("%s%d" % (prefix, i), "done", worker="h:%d" % (i % 2),
                          bytes=10, total=10, file="/d/%s%d" % (prefix, i),
                          sha256="0" * 64))
    return notes


def collect_finals(c, ids, t=90):
    """Reads c until it has a final of every id; checks seq order."""
    finals, last = set(), 0
    wait = time.monotonic() + t
    while not ids <= finals:
        left = wait - time.monotonic()
        assert left > 0, "%d of %d finals" % (len(finals & ids), len(ids))
        m = json.loads(c.recv_text(left))
        assert m["seq"] > last, (m["seq"], last)
        last = m["seq"]
        if m["status"] in ("done", "failed", "cancelled"):
            finals.add(m["id"])
    return last


def tasks(port, query=""):
    st, _, t = http_json("GET", port, "/tasks" + query)
    assert st == 200, st
    return t


def _burst(*args):
    mm = start(*args)
    publish_notes([note("before", "done")])
    wait_for(lambda: len(tasks(mm.port)) == 1, 20, "first task")
    before = tasks(mm.port)[0]["seq"]
    early = wsraw.RawWS(mm.port)
    assert early.status == 101
    publish_notes(batch_notes("b"))
    ids = {"b%d" % i for i in range(N)}
    collect_finals(early, ids)
    early.close()
    # clients connecting afterwards: no since, and a since from before
    for path in ("/ws", "/ws?since=%d" % before):
        c = wsraw.RawWS(mm.port, path)
        assert c.status == 101
        collect_finals(c, ids, 30)
        c.close()
    listed = tasks(mm.port)
    assert len(listed) == N + 1
    assert sum(t["status"] == "done" for t in listed) == N + 1
    assert {t["id"] for t in listed} == ids | {"before"}
    assert [t["seq"] for t in listed] == sorted(t["seq"] for t in listed)
    # filters: by status, by seq, both
    assert len(tasks(mm.port, "?status=done")) == N + 1
    assert tasks(mm.port, "?status=queued,started,progress") == []
    assert [t["id"] for t in tasks(mm.port, "?since=%d" % before)] == \
        [t["id"] for t in listed[1:]]
    assert len(tasks(mm.port, "?status=done,failed&since=%d" % listed[-2]["seq"])) == 1
    mm.stop()


@timeout(240)
def test_burst_of_1000_tasks_default_settings():
    _burst()


@timeout(240)
def test_burst_of_1000_tasks_history_10():
    _burst("--history", "10")


def test_tasks_query_errors():
    mm = start("--interval", "0")
    publish_notes([note("q1", "queued")])
    wait_for(lambda: len(tasks(mm.port)) == 1, 10, "stored")
    for q in ("?status=", "?status=finished", "?status=done,", "?status=Done",
              "?since=-1", "?since=x", "?since=", "?since=99999999999999999999"):
        st, _, body = http_json("GET", mm.port, "/tasks" + q)
        assert st == 400 and "error" in body, (q, st)
    assert len(tasks(mm.port, "?since=0")) == 1
    assert http("GET", mm.port, "/health")[0] == 200
    mm.stop()


def test_state_only_moves_forward():
    """A worker's done can arrive before the tasker's queued: the task stays
    done in /tasks and for a fresh client, though the queued is in the
    history (a client that keeps up sees both, in seq order)."""
    mm = start("--interval", "0")
    live = wsraw.RawWS(mm.port)
    publish_notes([note("f", "started"), note("f", "done"), note("f", "queued"),
                   note("f", "progress", bytes=1)])
    got = [json.loads(live.recv_text(10))["status"] for _ in range(4)]
    assert got == ["started", "done", "queued", "progress"]
    st, _, t = http_json("GET", mm.port, "/tasks/f")
    assert st == 200 and t["status"] == "done" and t["seq"] == S(2)
    assert [x["status"] for x in tasks(mm.port)] == ["done"]
    live.close()
    mm.stop()


def test_tasks_bound_evicts_finished_first():
    mm = start("--interval", "0", "--tasks", "3", "--history", "2")
    publish_notes([note("a", "queued"), note("b", "done"), note("c", "started"),
                   note("d", "queued")])
    wait_for(lambda: tasks(mm.port) and tasks(mm.port)[-1]["id"] == "d", 10, "d")
    # b finished; a (queued) and c (running) are older changes but stay
    assert [t["id"] for t in tasks(mm.port)] == ["a", "c", "d"]
    assert http("GET", mm.port, "/tasks/b")[0] == 404
    publish_notes([note("e", "queued")])  # none finished: a changed first
    wait_for(lambda: tasks(mm.port)[-1]["id"] == "e", 10, "e")
    assert [t["id"] for t in tasks(mm.port)] == ["c", "d", "e"]
    # a fresh client gets every kept task (the history holds only 2)
    c = wsraw.RawWS(mm.port)
    assert [json.loads(c.recv_text())["id"] for _ in range(3)] == ["c", "d", "e"]
    c.close()
    mm.stop()


@timeout(240)
def test_journal_restart_keeps_1000_tasks():
    path = os.path.join(fresh_dir("journal"), "store.journal")
    mm = start("--interval", "0", "--journal", path, "--history", "10")
    publish_notes(batch_notes("j"))
    wait_for(lambda: len(tasks(mm.port, "?status=done")) == N, 60, "1000 done")
    # 3000 records: over the kept state by more than JOURNAL_SLACK
    mm.wait_log("journal: compacted", 30)
    mm.stop()
    mm = start_middleman("--interval", "0", "--journal", path, "--history", "10")
    listed = tasks(mm.port)
    assert len(listed) == N and all(t["status"] == "done" for t in listed)
    c = wsraw.RawWS(mm.port)
    collect_finals(c, {"j%d" % i for i in range(N)}, 30)
    c.close()
    # the compacted journal goes on, and survives again
    publish_notes(batch_notes("k", 400))
    wait_for(lambda: len(tasks(mm.port, "?status=done")) == N + 400, 60, "1400 done")
    mm.stop()
    with open(path, "rb") as f:
        records = f.read().count(b"\n")
    assert records < 3 * (N + 400), records
    mm = start_middleman("--interval", "0", "--journal", path, "--history", "10")
    assert len(tasks(mm.port, "?status=done")) == N + 400
    mm.stop()


def split_responses(data, heads):
    """The (status, headers, body) of pipelined answers in data; heads[i]
    says whether answer i is to a HEAD (no body)."""
    out = []
    for head in heads:
        end = data.index(b"\r\n\r\n")
        lines = data[:end].decode().split("\r\n")
        h = dict(l.split(": ", 1) for l in lines[1:])
        n = 0 if head else int(h["Content-Length"])
        out.append((int(lines[0].split()[1]), h, data[end + 4:end + 4 + n]))
        data = data[end + 4 + n:]
    assert data == b"", data[:200]
    return out


@timeout(120)
def test_large_tasks_answer_pipelined_and_head():
    """GET /tasks with 1000 tasks (289 KB, sent from the kept notifications
    themselves: the pipeline waits behind it) pipelined before and after
    other requests and as HEAD: every answer whole and in order. Before,
    the requests after a large answer that the socket took at once were
    never answered."""
    mm = start()
    publish_notes(batch_notes("p"))
    wait_for(lambda: sum(t["status"] == "done" for t in tasks(mm.port)) == N, 60,
             "1000 tasks done")
    whole = json.dumps(tasks(mm.port)).encode()
    reqs = [("GET", "/tasks"), ("GET", "/health"), ("HEAD", "/tasks"),
            ("GET", "/tasks"), ("GET", "/tasks?status=queued")]
    data = b"".join(b"%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (m.encode(), p.encode())
                    for m, p in reqs)
    got = split_responses(raw_exchange(mm.port, data), [m == "HEAD" for m, _ in reqs])
    assert [g[0] for g in got] == [200] * 5, [g[0] for g in got]
    assert json.dumps(json.loads(got[0][2])).encode() == whole
    assert json.loads(got[1][2]) == {"amqp": "up"}
    assert got[2][1]["Content-Length"] == got[0][1]["Content-Length"] and got[2][2] == b""
    assert got[3][2] == got[0][2]
    assert json.loads(got[4][2]) == []
    assert len(got[0][2]) == int(got[0][1]["Content-Length"]) > 100000
    assert tasks(mm.port)[0]["id"] == "p0"   # still serving
    mm.stop()



def _slow_get(port, path):
    """A client that asks and then does not read (a 4 KB receive buffer)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    return s


def _read_answer(s, t=60):
    """Reads one Content-Length answer whole: (head, body)."""
    s.settimeout(t)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, "closed before the head"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = s.recv(1 << 20)
        assert chunk, "closed %d bytes short" % (length - len(body))
        body += chunk
    assert len(body) == length, (len(body), length)
    return head, body


@timeout(300)
def test_tasks_answer_to_a_crowd_of_slow_clients():
    """40 clients ask GET /tasks of 10,000 kept tasks (a 3.3 MB answer
    each) at once and do not read: the middleman's memory grows by what it
    keeps per answer (a list of refs: it sends from the notifications
    themselves), not by 40 answers built whole. While they wait, 100 new tasks evict
    the 100 oldest: each answer, read afterwards, still lists exactly the
    10,000 tasks kept when it was asked for, in seq order. One that never
    reads is dropped after the idle timeout. The middleman serves
    throughout, and lists the store as it is now."""
    n, crowd = 10000, 40
    mm = start()
    notes = [note("k%05d" % i, "done", worker="host:1", bytes=1 << 20,
                  total=1 << 20, file="/srv/downloads/k%05d.bin" % i,
                  sha256="%064x" % i) for i in range(n)]
    publish_notes(notes)
    wait_for(lambda: http("GET", mm.port, "/tasks/k%05d" % (n - 1))[0] == 200, 120,
             "the 10,000 tasks stored")
    whole = http("GET", mm.port, "/tasks")[2]
    listed = json.loads(whole)
    assert [t["id"] for t in listed] == ["k%05d" % i for i in range(n)]
    before = rss_kib(mm.pid)
    clients = [_slow_get(mm.port, "/tasks") for _ in range(crowd)]
    for s in clients:  # every one answered: its first bytes are waiting
        assert select.select([s], [], [], 20)[0], "no answer began"
    time.sleep(1)
    grown = rss_kib(mm.pid) - before
    print("%d slow clients of a %d-byte answer: RSS %d -> %d KiB (+%d)"
          % (crowd, len(whole), before, before + grown, grown))
    # built whole, the answers alone would take crowd x 3.3 MB = 130 MB
    assert grown < 16 * 1024, "RSS grew by %d KiB" % grown
    publish_notes([note("new%03d" % i, "done") for i in range(100)])
    wait_for(lambda: http("GET", mm.port, "/tasks/new099")[0] == 200, 60,
             "the new tasks stored")
    assert http("GET", mm.port, "/tasks/k00000")[0] == 404  # evicted
    stalled = clients.pop()  # never reads: dropped after the idle timeout
    for s in clients:
        head, body = _read_answer(s)
        assert head.startswith(b"HTTP/1.1 200 "), head[:40]
        assert body == whole, "an answer differs from the snapshot"
        s.close()
    now = tasks(mm.port)
    assert len(now) == n
    assert now[0]["id"] == "k00100" and now[-1]["id"] == "new099"
    # its answer half sent, the stalled client is dropped after
    # HTTP_IDLE_TIMEOUT_S (15 s) without progress, and what it held freed
    # (the sanitizer build's leak check at exit)
    stalled.settimeout(40)
    got, t0 = 0, time.monotonic()
    try:
        time.sleep(16)
        while True:
            chunk = stalled.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
    except ConnectionResetError:
        pass
    assert time.monotonic() - t0 < 40, "the stalled client was never dropped"
    assert got < len(whole), "the stalled client got its whole answer"
    assert http("GET", mm.port, "/health")[0] == 200
    mm.stop()

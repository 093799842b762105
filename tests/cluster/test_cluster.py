"""test_cluster.py - warren on the three-node test cluster (issue 14):
tasks submitted through one node are done by workers connected to the
others; two middlemen connected to different nodes show the same tasks with
the same seq; a page moving from one middleman to the other with ?since=
sees every notification once.

Run by tests/cluster/run.sh (which starts tests/env/cluster.sh), not by
`make check`. Each test deletes the queues first: a stream cannot be purged,
and the programs declare what they use afresh.
"""

import json
import socket
import threading
import time

import harness as H
import wsraw

QUEUES = ("tasks", "tasks.dead", "notifications", "warren.control")
FINAL = ("done", "failed", "cancelled")


def setup_module():
    assert H.cluster_running(), "the test cluster is not running (tests/cluster/run.sh starts it)"


def fresh():
    H.cluster_delete_queues(*QUEUES)


def node_port(i):
    return H.ENV.port_base + 30 + 2 * i


def declarable_on(i):
    """True when node i takes a declaration of every queue as the programs
    make it (False while one of them has no replica there yet)."""
    import pika
    try:
        with H._Channel(H.cluster_urls()[i]) as ch:
            for q in QUEUES:
                ch.queue_declare(queue=q, durable=True, arguments=H.TOPOLOGY.get(q))
        return True
    except pika.exceptions.ChannelClosedByBroker as e:
        if "replica" in str(e) or e.reply_code == 404:
            return False
        raise


def connected_port(p):
    """The AMQP port of the node a program last said it connected to."""
    import re
    m = re.findall(r"connected to broker \S*:(\d+)", p.log_text())
    return int(m[-1]) if m else None


class Page(threading.Thread):
    """A WebSocket client of a middleman, as a browser page: records every
    notification it is sent, in order."""

    def __init__(self, port, since=None):
        super().__init__(daemon=True)
        path = "/ws" if since is None else "/ws?since=%d" % since
        self.ws = wsraw.RawWS(port, path, timeout=10)
        assert self.ws.status == 101, self.ws.status
        self.notes = []
        self.stopping = False
        self.closed = None
        self.start()

    def run(self):
        while not self.stopping:
            try:
                text = self.ws.recv_text(timeout=0.5)
            except socket.timeout:
                continue
            except (OSError, wsraw.Closed) as e:
                self.closed = e
                return
            self.notes.append(json.loads(text))

    def stop(self):
        self.stopping = True
        self.join(5)
        try:
            self.ws.sock.close()
        except OSError:
            pass

    def finals(self):
        return {n["id"] for n in self.notes if n.get("status") in FINAL}

    def last_seq(self):
        return max((n["seq"] for n in self.notes), default=0)


def history(port, quiet=1.5):
    """Everything a middleman sends a new page: [(seq, id, status)]."""
    p = Page(port)
    n = -1
    while n != len(p.notes):  # until nothing more comes for `quiet` s
        n = len(p.notes)
        time.sleep(quiet)
    p.stop()
    return [(x["seq"], x["id"], x["status"]) for x in p.notes]


def tasks_of(port):
    st, _, body = H.http_json("GET", port, "/tasks")
    assert st == 200, st
    return {t["id"]: t for t in body}


def submit_batch(tasker, n, name="c"):
    tasks = [{"name": "%s%d" % (name, i), "arg": H.ENV.url("small.txt"),
              "taskType": "download", "sha256": H.ENV.sha256("small.txt")}
             for i in range(n)]
    st, _, body = H.http_json("POST", tasker.port, "/task", tasks, timeout=30)
    assert st == 202, (st, body)
    return [t["id"] for t in body]


def all_done(port, ids):
    t = tasks_of(port)
    return all(t.get(i, {}).get("status") == "done" for i in ids)


@H.timeout(180)
def test_tasks_cross_nodes():
    """Tasks posted to a tasker on node 0 are done by workers connected to
    nodes 1 and 2; `tasks` is a quorum queue with a member on every node."""
    fresh()
    tasker = H.start_tasker(amqp=H.cluster_amqp(0, 1, 2))
    mm = H.start_middleman("--interval", "0", amqp=H.cluster_amqp(0, 1, 2))
    H.wait_for(lambda: H.http("GET", tasker.port, "/health")[0] == 200, 30, "the tasker up")
    # the queues the tasker just declared get their replicas on nodes 1 and
    # 2 a moment later; until then a worker there is refused ("does not have
    # a replica on the local node") and rightly moves on to the next node
    H.wait_for(lambda: declarable_on(1) and declarable_on(2), 30,
               "the queues' replicas on nodes 1 and 2", interval=0.3)
    w1 = H.start_worker(amqp=H.cluster_amqp(1, 2, 0), wait_log="broker connection ready",
                        timeout=30)
    w2 = H.start_worker(amqp=H.cluster_amqp(2, 0, 1), wait_log="broker connection ready",
                        timeout=30)
    H.wait_for(lambda: H.http("GET", tasker.port, "/health")[0] == 200, 30, "the tasker up")
    assert connected_port(tasker) == node_port(0), tasker.log_text()[-500:]
    assert connected_port(w1) == node_port(1), w1.log_text()[-500:]
    assert connected_port(w2) == node_port(2), w2.log_text()[-500:]
    ids = submit_batch(tasker, 20)
    H.wait_for(lambda: all_done(mm.port, ids), 90, "20 tasks done")
    by = {}
    for i, t in tasks_of(mm.port).items():
        if i in ids:
            by.setdefault(t["worker"].rsplit(":", 1)[1], []).append(i)
    assert set(by) <= {str(w1.pid), str(w2.pid)}, by.keys()
    assert len(by) == 2, "one worker did all 20: %s" % {k: len(v) for k, v in by.items()}
    q = H.cluster_queue("tasks")
    assert q and q["type"] == "quorum", q
    assert q["members"] == [0, 1, 2], q
    n = H.cluster_queue("notifications")
    assert n and n["type"] == "stream" and n["members"] == [0, 1, 2], n
    print("    20 tasks via node 0: %s by the worker on node 1, %s on node 2; "
          "tasks leader on node %s" % (len(by[str(w1.pid)]), len(by[str(w2.pid)]),
                                       q["leader"]), flush=True)


@H.timeout(180)
def test_two_middlemen_same_seq():
    """Two middlemen on nodes 1 and 2 both see every task, each
    notification under the same seq."""
    fresh()
    a = H.start_middleman("--interval", "0", amqp=H.cluster_amqp(1, 2, 0))
    b = H.start_middleman("--interval", "0", amqp=H.cluster_amqp(2, 0, 1))
    tasker = H.start_tasker(amqp=H.cluster_amqp(0, 1, 2))
    H.start_worker("--concurrency", "4", amqp=H.cluster_amqp(0, 1, 2),
                   wait_log="broker connection ready", timeout=30)
    H.wait_for(lambda: H.http("GET", tasker.port, "/health")[0] == 200, 30, "the tasker up")
    ids = submit_batch(tasker, 30)
    H.wait_for(lambda: all_done(a.port, ids), 90, "30 tasks done at middleman A")
    H.wait_for(lambda: all_done(b.port, ids), 30, "30 tasks done at middleman B")
    ta, tb = tasks_of(a.port), tasks_of(b.port)
    assert set(ta) == set(tb) == set(ids), (len(ta), len(tb))
    diff = [(i, ta[i]["status"], ta[i]["seq"], tb[i]["status"], tb[i]["seq"])
            for i in ids if (ta[i]["status"], ta[i]["seq"]) != (tb[i]["status"], tb[i]["seq"])]
    assert not diff, "tasks differ (id, A status, A seq, B status, B seq): %s" % diff[:5]
    ha, hb = history(a.port), history(b.port)
    assert len(ha) >= 3 * len(ids), len(ha)  # queued, started, done at least
    assert ha == hb, "histories differ; first difference: %s" % next(
        ((x, y) for x, y in zip(ha, hb) if x != y), (len(ha), len(hb)))
    seqs = [s for s, _, _ in ha]
    assert seqs == sorted(set(seqs)), "seq not increasing: %s" % seqs[:20]
    print("    both middlemen: %d tasks, the same %d notifications, seq %d..%d"
          % (len(ta), len(ha), seqs[0], seqs[-1]), flush=True)


@H.timeout(180)
def test_page_moves_between_middlemen():
    """A page reads middleman A while tasks flow, then moves to middleman B
    with ?since=<its last seq>: it sees every notification exactly once."""
    fresh()
    a = H.start_middleman("--interval", "0", amqp=H.cluster_amqp(1, 2, 0))
    b = H.start_middleman("--interval", "0", amqp=H.cluster_amqp(2, 0, 1))
    tasker = H.start_tasker(amqp=H.cluster_amqp(0, 1, 2))
    H.start_worker("--concurrency", "2", amqp=H.cluster_amqp(1, 2, 0),
                   wait_log="broker connection ready", timeout=30)
    H.wait_for(lambda: H.http("GET", tasker.port, "/health")[0] == 200, 30, "the tasker up")
    page = Page(a.port)
    ids = []
    errors = []

    def submitter():
        try:
            for k in range(8):
                ids.extend(submit_batch(tasker, 5, "m%d-" % k))
                time.sleep(0.3)
        except Exception as e:  # reported by the test below
            errors.append(e)

    th = threading.Thread(target=submitter, daemon=True)
    th.start()
    H.wait_for(lambda: len(page.notes) >= 40, 60, "40 notifications at middleman A")
    page.stop()
    since = page.last_seq()
    first = page.notes
    th.join(60)
    assert not errors, errors
    page2 = Page(b.port, since=since)
    H.wait_for(lambda: set(ids) <= ({n["id"] for n in first if n["status"] in FINAL}
                                    | page2.finals()), 90, "every task final at the page")
    time.sleep(1.5)  # duplicates, if any, arrive now
    page2.stop()
    seen = [(n["seq"], n["id"], n["status"]) for n in first + page2.notes]
    ref = history(b.port)
    seqs = [s for s, _, _ in seen]
    assert seqs == sorted(set(seqs)), "seq repeated or going back at the move: %s" % [
        s for s in seqs if seqs.count(s) > 1][:10]
    assert set(seen) == set(ref), "the page missed %s; got extra %s" % (
        sorted(set(ref) - set(seen))[:5], sorted(set(seen) - set(ref))[:5])
    print("    %d notifications on A up to seq %d, %d more on B with ?since=%d; "
          "%d in all, each once" % (len(first), since, len(page2.notes), since,
                                     len(seen)), flush=True)

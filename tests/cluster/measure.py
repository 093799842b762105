#!/usr/bin/python3
"""measure.py [--build DIR] [--cluster] [--runs N] - issue 14's figures: the
tasker's intake and a 1000-task batch end to end, on the private single node
of this port base or on the three-node test cluster (tests/env/cluster.sh,
which must be running). A benchmark, not a test: it prints figures and
asserts nothing but that the batch ends.

  intake  wrk -c32 posts one task per request for 10 s (2 s warm-up) to a
          tasker alone (no worker, no middleman): tasks answered 202 per
          second (each one confirmed by the broker)
  batch   a middleman (--interval 0), two workers (--concurrency 8) and a
          WebSocket client; one POST of a 1000-task array (each task its own
          tiny file on nginx); seconds from the POST until the client has a
          final notification of every task

On the cluster the tasker is connected to node 0, the middleman and worker 1
to node 1, worker 2 to node 2 (each with the other nodes after, for
failover). The queues are deleted before each run so that each program
declares them afresh (any topology, old or new). --build runs another build
(e.g. a scratch worktree of an older commit). Needs nginx and (single node)
the broker of tests/env; run through tests/cluster/run.sh measure or with
WARREN_TEST_PORT_BASE set.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integ"))

import harness as H  # noqa: E402
import wsraw  # noqa: E402

QUEUES = ("tasks", "tasks.dead", "notifications", "warren.control")
BATCH = 1000


def delete_queues(url):
    for q in QUEUES:
        try:
            H.delete_queue(q, url=url)
        except Exception:  # absent, or the node refuses: nothing to delete
            pass


def batch_files():
    d = os.path.join(H.ENV.docroot, "measure")
    os.makedirs(d, exist_ok=True)
    for i in range(BATCH):
        p = os.path.join(d, "t%d.txt" % i)
        if not os.path.exists(p):
            with open(p, "w") as f:
                f.write("measure file %d\n" % i)


def intake(build, amqp, seconds=10):
    """Tasks answered 202 per second by a tasker alone under wrk -c32."""
    t = H.start_program(os.path.join(build, "tasker"),
                        ["--listen", "127.0.0.1:{port}", "--amqp", amqp], port="auto")
    H.wait_for(lambda: H.http("GET", t.port, "/health")[0] == 200, 30, "tasker up")
    body = json.dumps({"name": "intake", "arg": H.ENV.url("small.txt"),
                       "taskType": "download"})
    lua = os.path.join(H.ENV.state, "measure-post.lua")
    with open(lua, "w") as f:
        f.write("wrk.method = \"POST\"\nwrk.body = '%s'\n"
                "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
                "done = function(s, l, r)\n"
                "  io.write(string.format(\"WRK requests=%%d duration_us=%%d "
                "status=%%d socket=%%d\\n\", s.requests, s.duration, "
                "s.errors.status, s.errors.connect + s.errors.read + "
                "s.errors.write + s.errors.timeout))\nend\n" % body)
    url = "http://127.0.0.1:%d/task" % t.port
    subprocess.run(["wrk", "-t2", "-c32", "-d2s", "-s", lua, url],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = subprocess.run(["wrk", "-t2", "-c32", "-d%ds" % seconds, "-s", lua, url],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode()
    m = re.search(r"WRK requests=(\d+) duration_us=(\d+) status=(\d+) socket=(\d+)", out)
    assert m, out
    req, us, bad, sock = map(int, m.groups())
    t.stop()
    return (req - bad) / (us / 1e6), bad, sock


class Client(threading.Thread):
    """A WebSocket client of the middleman: first final per task id."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.ws = wsraw.RawWS(port, "/ws", timeout=10)
        assert self.ws.status == 101
        self.finals = {}
        self.stopping = False
        self.start()

    def run(self):
        while not self.stopping:
            try:
                n = json.loads(self.ws.recv_text(timeout=1))
            except (OSError, ValueError, wsraw.Closed):
                continue
            if n.get("status") in ("done", "failed", "cancelled"):
                self.finals.setdefault(n.get("id"), (n.get("status"), time.monotonic()))


def batch(build, amqp_mm, amqp_workers, amqp_tasker):
    """Seconds from the POST of BATCH tasks until a page has every final."""
    mm = H.start_program(os.path.join(build, "middleman"), [
        "--listen", "127.0.0.1:{port}", "--amqp", amqp_mm, "--interval", "0",
        "--history", "10000"], port="auto")
    ws = []
    for a in amqp_workers:
        ws.append(H.start_program(os.path.join(build, "worker"), [
            "--amqp", a, "--dir", H.fresh_dir("dl"), "--concurrency", "8"],
            wait_log="broker connection ready", timeout=30))
    t = H.start_program(os.path.join(build, "tasker"), [
        "--listen", "127.0.0.1:{port}", "--amqp", amqp_tasker], port="auto")
    H.wait_for(lambda: H.http("GET", t.port, "/health")[0] == 200, 30, "tasker up")
    H.wait_for(lambda: H.http("GET", mm.port, "/health")[0] == 200, 30, "middleman up")
    c = Client(mm.port)
    tasks = [{"name": "m%d" % i, "arg": H.ENV.url("measure/t%d.txt" % i),
              "taskType": "download"} for i in range(BATCH)]
    t0 = time.monotonic()
    st, _, body = H.http_json("POST", t.port, "/task", tasks, timeout=60)
    t_202 = time.monotonic() - t0
    assert st == 202, (st, body)
    ids = [x["id"] for x in body]
    H.wait_for(lambda: all(i in c.finals for i in ids), 300, "every final", 0.05)
    took = max(c.finals[i][1] for i in ids) - t0
    c.stopping = True
    done = sum(1 for i in ids if c.finals[i][0] == "done")
    H.cleanup()
    return took, t_202, done


def main(argv):
    build = H.ENV.build
    cluster = "--cluster" in argv
    runs = 3
    for i, a in enumerate(argv):
        if a == "--build":
            build = os.path.abspath(argv[i + 1])
        if a == "--runs":
            runs = int(argv[i + 1])
    H.ENV.logs = os.path.join(H.ENV.state, "measure-logs")
    H.CURRENT_TEST = "measure"
    if cluster:
        urls = H.cluster_urls() if hasattr(H, "cluster_urls") else subprocess.run(
            ["sh", os.path.join(ROOT, "tests", "env", "cluster.sh"), "urls"],
            stdout=subprocess.PIPE, check=True).stdout.decode().strip().split(",")

        def on(*order):
            return ",".join(urls[k] for k in order)
        a_tasker, a_mm, a_w = on(0, 1, 2), on(1, 2, 0), [on(1, 2, 0), on(2, 0, 1)]
        reset = urls[0]
    else:
        a_tasker = a_mm = H.ENV.amqp_url
        a_w = [H.ENV.amqp_url] * 2
        reset = H.ENV.amqp_url
    batch_files()
    where = "cluster" if cluster else "single"
    rev = subprocess.run(["git", "-C", os.path.dirname(build), "rev-parse", "--short",
                          "HEAD"], stdout=subprocess.PIPE).stdout.decode().strip()
    for k in range(runs):
        delete_queues(reset)
        rate, bad, sock = intake(build, a_tasker)
        delete_queues(reset)
        took, t_202, done = batch(build, a_mm, a_w, a_tasker)
        delete_queues(reset)
        print("measure %s %s run %d: intake %.0f tasks/s (non-202 %d, socket "
              "errors %d); batch of %d: 202 in %.2f s, all finals at the page in "
              "%.2f s (%d done)" % (where, rev, k + 1, rate, bad, sock, BATCH, t_202,
                                    took, done), flush=True)
    H.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

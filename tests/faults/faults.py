#!/usr/bin/python3
"""faults.py [PATTERN...] - warren's fault-injection suite (issue 6), against
the private RabbitMQ and nginx of tests/env and the three built programs.

Scenarios (functions scenario_*; PATTERNs are substrings of their names):
  1 worker_killed      a worker SIGKILLed mid-download; another one sharing
                       its folder resumes it with Range; SHA-256 right
  2 broker_restarts    WARREN_FAULTS_TASKS (1000) tasks through the tasker
                       while the broker is stopped and started twice: every
                       202 ends done once, refusals are 503s
  3 disk_full          a small tmpfs as --dir: the big download fails with
                       a clear error, no partial file stays, the next succeeds
  4 link_cut           a worker in its own network namespace (veth pair,
                       10.213.x.y/30) loses its link mid-download: the broker
                       notices by heartbeats, a worker on the "other host"
                       finishes the task, the cut-off one recovers
  5 middleman_killed   the middleman SIGKILLed while notifications flow,
                       restarted on its journal: a client coming back with
                       ?since= sees every notification exactly once
  6 soak               WARREN_SOAK_SECONDS (600) of mixed tasks from many
                       clients while workers are killed and restarted at
                       random: nothing lost, RSS and fds flat, all answering
  7 cluster_leader_killed  WARREN_FAULTS_CLUSTER_TASKS (1000) tasks on the
                       three-node cluster (tests/env/cluster.sh) while the
                       node holding the leader of `tasks` (and the tasker's
                       and the middleman's connections) is killed with
                       kill -9, then restarted; workers on the other nodes:
                       every 202 ends done once, refusals are 503s, the
                       programs move to another node within 3 heartbeats,
                       202s again within 4 while 2 of 3 nodes are up
  8 cluster_middleman_killed  two middlemen on different nodes; one
                       SIGKILLed twice while notifications flow and
                       restarted on its journal: both pages see every
                       notification once, under the same seq
  9 poison_task        a task whose worker dies at each delivery (SIGKILL
                       at `started`) ends `failed`, "gave up after 5
                       deliveries", after at most 6 deliveries
  alarms               TASKS tasks while RabbitMQ's memory alarm comes and
                       goes three times: every 202 ends done once, refusals
                       are 503s within the client's timeout, /health answers
                       within 1 s throughout
  security_secrets_not_shown   token and AMQP password given through the
                       environment: in no command line (ps) and no log line
  security_names_stay_in_dir   hostile names and symlinks planted in --dir:
                       every file lands in --dir, nothing outside is touched

Scenarios 1-4 and 6 count what a client of the middleman sees (a
WebSocket with ?since= reconnection); 5 is about the middleman itself.
Each scenario prints a count line
  "counts <name>: submitted N, 202 N, done N, failed N, lost N, duplicated N"
(lost: answered 202 but never finished; duplicated: ids with more than one
`done`, plus final files beyond one per finished id) and passes only when
lost and duplicated are 0 and its own checks hold - except duplicates that
the at-least-once window explains (a worker the test SIGKILLed within 2 s
after its `done`, before the ack: the broker hands the task on), which are
shown in the count line and allowed. Then "ok name" or "FAIL
name: why" as in tests/integ/run.py, and the last line "N passed, N failed".

Environment: WARREN_SOAK_SECONDS (600; CI sets 60), WARREN_FAULTS_TASKS
(1000), WARREN_FAULTS_CLUSTER_TASKS (1000), WARREN_FAULTS_SAMPLE (seconds between RSS/fd samples in the soak:
60, or a sixth of the soak when shorter), and the WARREN_TEST_* of the
harness. Needs root for scenarios 3 (mount) and 4 (ip netns).
Run with /usr/bin/python3 (Debian's, with pika).
"""

import calendar
import hashlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integ"))

import harness as H  # noqa: E402
import run as R  # noqa: E402
import wsraw  # noqa: E402

SOAK_SECONDS = int(os.environ.get("WARREN_SOAK_SECONDS", "600"))
TASKS = int(os.environ.get("WARREN_FAULTS_TASKS", "1000"))
FINAL = ("done", "failed")


# ---------------------------------------------------------------- ledger

class Ledger:
    """What clients were told and what the notifications say.

    submitted: POSTs made; accepted: ids answered 202; refused: 503s;
    other: any other answer or none (silence: a connection error, timeout);
    notes: id -> list of notifications seen for it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.submitted = 0
        self.accepted = []
        self.refused = 0
        self.other = []
        self.notes = {}
        self.sent = {}      # id -> (monotonic time of the 202, task name)
        self.killed = {}    # pid -> wall time (s) the test SIGKILLed it
        self.killed_dirs = {}  # pid -> the download folder of a worker killed
        self.finished = {}  # id -> monotonic time its first final was seen
        self.node_kills = []  # wall times (s) the test killed a broker node
        self.by_broker = set()  # see lost_at_failover()

    def note(self, n):
        with self.lock:
            self.notes.setdefault(n.get("id"), []).append(n)
            if n.get("status") in FINAL:
                self.finished.setdefault(n.get("id"), time.monotonic())

    def slowest(self, k=5):
        """The k tasks that took longest from 202 to their end."""
        with self.lock:
            t = [(self.finished[i] - s[0], s[1], i) for i, s in self.sent.items()
                 if i in self.finished]
        return sorted(t, reverse=True)[:k]

    def finals(self, tid):
        with self.lock:
            return [n for n in self.notes.get(tid, []) if n.get("status") in FINAL]

    def all_final(self, ids=None):
        ids = self.accepted if ids is None else ids
        return all(self.finals(i) for i in ids)

    def explained(self, dones):
        """True when a second `done` is the at-least-once window at work: the
        worker that reported the first one was SIGKILLed by the test within
        2 s after it, before its acknowledgement could reach the broker, and
        the broker handed the task to another worker."""
        try:
            pid = int(dones[0]["worker"].rsplit(":", 1)[1])
        except (KeyError, ValueError, IndexError):
            return False
        k = self.killed.get(pid)
        return k is not None and 0 <= k * 1000 - dones[0]["time"] <= 2000

    def kill(self, worker):
        """SIGKILLs a worker, noting when and in which folder."""
        self.killed[worker.pid] = time.time()
        self.killed_dirs[worker.pid] = getattr(worker, "dir", None)
        worker.kill(signal.SIGKILL)

    def left_by_kill(self, d):
        """Final files in folder d that the at-least-once window explains: a
        worker of d made the file and its .done record, and was SIGKILLed by
        the test within 2 s after, before its `done` went out; the task was
        redelivered to a worker of another folder and done there. The record
        is still there (it goes when the task is acknowledged) and names the
        file; the task's `done` names another file."""
        real = os.path.realpath(d)  # records hold the resolved path
        kills = [t for pid, t in self.killed.items() if self.killed_dirs.get(pid) == d]
        left = set()
        for rec in hidden_files(d):
            if not rec.endswith(".done"):
                continue
            path = os.path.join(d, rec)
            try:
                made = os.stat(path).st_mtime
                with open(path) as f:
                    file = f.readline().rstrip("\n")
            except OSError:
                continue
            tid = rec[1:-len(".done")]
            dones = [n for n in self.finals(tid) if n["status"] == "done"]
            if (os.path.dirname(file) == real and os.path.exists(file)
                    and dones and all(n.get("file") != file for n in dones)
                    and any(0 <= k - made <= 2 for k in kills)):
                left.add(os.path.basename(file))
        return left

    def lost_at_failover(self):
        """Ids whose `done` no one saw although a worker logged it done (so
        it had the broker's confirm: the worker acks only then) within
        [-1, +2] s of a node kill: RabbitMQ 3.10 can lose a stream message
        it confirmed as its leader is killed (rabbitmq-server#9457, open).
        The worker has acknowledged the task; its file is there."""
        if not self.node_kills:
            return set()
        with self.lock:
            seen = {i for i, ns in self.notes.items()
                    if any(n.get("status") == "done" for n in ns)}
        rx = re.compile(r"^(\S+)Z worker info: ([0-9a-f-]{36}): done: ", re.M)
        lost = set()
        for p in list(H._started):
            if getattr(p, "name", "") != "worker":
                continue
            for stamp, tid in rx.findall(p.log_text()):
                if tid in seen:
                    continue
                t = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + \
                    float("0" + stamp[19:])
                if any(-1 <= t - k <= 2 for k in self.node_kills):
                    lost.add(tid)
        return lost

    def counts(self, dirs=()):
        """(done, failed, lost, duplicated, of which explained) over the
        accepted ids; see explained() and lost_at_failover(): a task whose
        `done` the broker lost counts neither as lost nor its file as a
        duplicate, and is reported."""
        done = failed = lost = dup = explained = 0
        by_broker = self.lost_at_failover()
        self.by_broker = by_broker
        done_ids = set()
        extra_dones = 0
        for tid in self.accepted:
            f = self.finals(tid)
            dones = [n for n in f if n["status"] == "done"]
            if dones:
                done += 1
                done_ids.add(tid)
            elif f:
                failed += 1
            elif tid not in by_broker:
                lost += 1
            if len(dones) > 1:
                dup += 1
                extra_dones += len(dones) - 1
                explained += self.explained(dones)
        # final files beyond one per finished id that no second `done`
        # explains (a copy made without a notification is a duplicate too)
        files = sum(len(final_files(d)) for d in dirs)
        wanted = len(done_ids | set(self.done_ids_unrequested()) | by_broker) + extra_dones
        if dirs and files > wanted:
            dup += files - wanted
            explained += min(files - wanted, sum(len(self.left_by_kill(d)) for d in dirs))
        return done, failed, lost, dup, explained

    def done_ids_unrequested(self):
        """Ids done that no client was told about (a 503 whose message was
        stored after all): at-least-once allows them."""
        acc = set(self.accepted)
        with self.lock:
            return [i for i, ns in self.notes.items()
                    if i not in acc and any(n.get("status") == "done" for n in ns)]

    def line(self, name, dirs=()):
        done, failed, lost, dup, explained = self.counts(dirs)
        s = ("counts %s: submitted %d, 202 %d, done %d, failed %d, lost %d, "
             "duplicated %d" % (name, self.submitted, len(self.accepted), done,
                                failed, lost, dup))
        extra = []
        if explained:
            extra.append("%d of the duplicates: worker SIGKILLed between its "
                         "final file and the ack (at-least-once)" % explained)
        if self.by_broker:
            extra.append("%d `done` confirmed as the node was killed and lost by the "
                         "broker (rabbitmq-server#9457): %s"
                         % (len(self.by_broker), ", ".join(sorted(self.by_broker)[:3])))
        if self.refused:
            extra.append("503 %d" % self.refused)
        if self.other:
            extra.append("other answers %d (%s)" % (len(self.other),
                                                    ", ".join(sorted(set(map(str, self.other)))[:5])))
        unreq = self.done_ids_unrequested()
        if unreq:
            extra.append("done without a 202 %d" % len(unreq))
        if extra:
            s += " [" + "; ".join(extra) + "]"
        print(s, flush=True)
        _summary.append(s)
        return done, failed, lost, dup, explained

    def check(self, name, dirs=(), stream_urls=()):
        """Fails on a loss, or on a duplicate that the at-least-once window
        (explained()) does not account for."""
        done, failed, lost, dup, explained = self.line(name, dirs)
        dup -= explained
        if lost:
            missing = [i for i in self.accepted if not self.finals(i)][:5]
            raise AssertionError("%s: %d task(s) answered 202 never finished, e.g. %s"
                                 % (name, lost, missing))
        if dup:
            twice = [i for i in self.accepted
                     if len([n for n in self.finals(i) if n["status"] == "done"]) > 1][:5]
            for i in twice:
                for n in self.finals(i):
                    print("    %s: %s by %s at %s" % (i, n.get("status"), n.get("worker"),
                                                  n.get("time")), flush=True)
            self.show_unnamed_files(dirs, stream_urls)
            raise AssertionError("%s: %d duplicate(s), e.g. ids done twice %s"
                                 % (name, dup, twice))
        return done, failed


    def show_unnamed_files(self, dirs, stream_urls=()):
        """Prints the final files that no `done` names (the middleman keeps
        one `done` per task, so a second download shows only on disk), what
        the notifications stream itself holds of them (read from the first
        of stream_urls that answers), and what the workers' logs say."""
        with self.lock:
            named = {n.get("file") for ns in self.notes.values() for n in ns
                     if n.get("status") == "done"}
        stream = []
        for url in stream_urls:
            try:
                stream = [json.loads(b) for b, _ in
                          H._stream_read("notifications", url, None, 20, advance=False)]
                print("    %d notifications on the stream (read from %s)" % (len(stream), url),
                      flush=True)
                break
            except Exception as e:  # a diagnosis only: the next node
                print("    stream unread from %s: %s" % (url, e), flush=True)
        workers = [p for p in list(H._started) if getattr(p, "name", "") == "worker"]
        for d in dirs:
            left = self.left_by_kill(d)
            for f in sorted(final_files(d)):
                path = os.path.join(d, f)
                if path in named:
                    continue
                print("    no done names %s%s" % (path, " (left by a worker killed before "
                                                  "its done went out)" if f in left else ""),
                      flush=True)
                ids = {n.get("id") for n in stream if n.get("file") == path}
                for n in stream:
                    if n.get("id") in ids:
                        print("      stream: %s" % json.dumps(n, sort_keys=True), flush=True)
                for p in workers:
                    if getattr(p, "dir", None) != d:
                        continue
                    for ln in p.log_text().splitlines():
                        if f in ln:
                            print("      %s" % ln, flush=True)
                            ids |= set(re.findall(r"\b[0-9a-f]{8}-[0-9a-f-]{27}\b", ln))
                for q in workers:
                    for ln in q.log_text().splitlines():
                        if any(i and i in ln for i in ids):
                            print("      [%s] %s" % (os.path.basename(q.dir), ln), flush=True)


_summary = []


def final_files(d):
    """Final (not hidden) files in a download folder."""
    try:
        return [f for f in os.listdir(d) if not f.startswith(".")]
    except FileNotFoundError:
        return []


def hidden_files(d):
    try:
        return [f for f in os.listdir(d) if f.startswith(".")]
    except FileNotFoundError:
        return []


class WsCollector(threading.Thread):
    """A WebSocket client of the middleman recording every notification
    (and its seq) in a ledger; when the connection drops it comes back
    with ?since=<last seq>, as a browser page would."""

    def __init__(self, ledger, port_fn):
        super().__init__(daemon=True)
        self.ledger = ledger
        self.port_fn = port_fn  # the middleman's port now (it may restart)
        self.stopping = False
        self.last_seq = 0
        self.seqs = []
        self.reconnects = 0
        self.since = []       # the ?since= of each reconnection
        self.connected = threading.Event()
        self.start()

    def run(self):
        while not self.stopping:
            try:
                path = "/ws" if not self.last_seq else "/ws?since=%d" % self.last_seq
                c = wsraw.RawWS(self.port_fn(), path, timeout=5)
                if c.status != 101:
                    c.close()
                    time.sleep(0.2)
                    continue
                self.connected.set()
                while not self.stopping:
                    try:
                        text = c.recv_text(timeout=1)
                    except socket.timeout:
                        continue
                    n = json.loads(text)
                    seq = n.get("seq", 0)
                    self.seqs.append(seq)
                    if seq > self.last_seq:
                        self.last_seq = seq
                    self.ledger.note(n)
                c.close()
            except (OSError, wsraw.Closed, AssertionError, ValueError):
                pass
            if not self.stopping:
                self.reconnects += 1
                self.since.append(self.last_seq)
                self.connected.clear()
                time.sleep(0.2)

    def stop(self):
        self.stopping = True
        self.join(5)


def observe(ledger):
    """What a person watching sees: a middleman (pushing at once, with a
    history that holds the whole scenario) and a WebSocket client of it
    recording every notification into ledger. Counting here rather than in
    the queue is deliberate: `notifications` is at-least-once (a publish
    whose confirm is lost must be sent again), the middleman is where one
    task's events become the single story a client reads."""
    H.purge("notifications")
    port = H.free_port()
    mm = H.start_program("middleman", [
        "--listen", "127.0.0.1:%d" % port, "--amqp", H.ENV.amqp_url,
        "--interval", "0", "--history", "100000"], port=port)
    col = WsCollector(ledger, lambda: port)
    assert col.connected.wait(10), "no WebSocket to the middleman"
    return mm, col


def submit(ledger, port, task, timeout=10):  # noqa: F811 (task: the body)
    """POSTs one task; records the answer; returns (status, id or None)."""
    with ledger.lock:
        ledger.submitted += 1
    try:
        st, _, body = H.http_json("POST", port, "/task", task, timeout=timeout)
    except Exception as e:  # silence: no answer at all
        with ledger.lock:
            ledger.other.append(type(e).__name__)
        return None, None
    with ledger.lock:
        if st == 202 and isinstance(body, dict) and body.get("id"):
            ledger.accepted.append(body["id"])
            ledger.sent[body["id"]] = (time.monotonic(), task.get("name"))
            return st, body["id"]
        if st == 503:
            ledger.refused += 1
        else:
            ledger.other.append(st)
    return st, None


def task(url, name="fault", sha256=None):
    t = {"name": name, "arg": url, "taskType": "download"}
    if sha256:
        t["sha256"] = sha256
    return t


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def reset_queues():
    """Every scenario starts from empty queues and no standing control: a
    `pause` or `rate` left in warren.control by an earlier suite on this
    broker would hold the scenario's workers (a worker replays the stream
    when it starts)."""
    H.declare_topology()
    H.purge("tasks")
    H.purge("notifications")
    H.purge("warren.control")


def proc_sample(pid):
    """(RSS in KiB, open fds) of a process, or None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        fds = len(os.listdir("/proc/%d/fd" % pid))
        return rss, fds
    except (OSError, AttributeError):
        return None


def wait_ledger(ledger, ids, timeout, what):
    try:
        H.wait_for(lambda: ledger.all_final(ids), timeout, what, interval=0.5)
    except AssertionError as e:
        left = [i for i in (ledger.accepted if ids is None else ids) if not ledger.finals(i)]
        raise AssertionError("%s: %d without a final, e.g. %s" % (
            e, len(left), [(i, [n.get("status") for n in ledger.notes.get(i, [])])
                           for i in left[:5]])) from None


# ---------------------------------------------------------------- 1

@H.timeout(180)
def scenario_1_worker_killed():
    """SIGKILL a worker mid-download; another worker sharing --dir resumes
    the .part with Range and the file's SHA-256 is right."""
    reset_queues()
    ledger = Ledger()
    mm, col = observe(ledger)
    try:
        tasker = H.start_tasker(connected=True)
        shared = H.fresh_dir("shared")
        w1 = H.start_worker("--heartbeat", "5", dir=shared)
        want = H.ENV.sha256("10m.bin")
        url = H.ENV.url("/slow/10m.bin?rate=2097152")  # 5 s in all
        st, tid = submit(ledger, tasker.port, task(url, "big", want))
        assert st == 202, st
        part = os.path.join(shared, ".%s.part" % tid)
        H.wait_for(lambda: os.path.exists(part) and os.path.getsize(part) > 3 << 20,
                   30, "3 MB in the part file")
        w1.kill(signal.SIGKILL)
        killed_at = os.path.getsize(part)
        w2 = H.start_worker("--heartbeat", "5", dir=shared)
        wait_ledger(ledger, [tid], 60, "the task to finish on the second worker")
        col.stop()
        done = [n for n in ledger.finals(tid) if n["status"] == "done"]
        assert done, ledger.finals(tid)
        n = done[0]
        assert n["worker"].endswith(":%d" % w2.pid), (n["worker"], w2.pid)
        assert n["sha256"] == want, n
        assert file_sha256(n["file"]) == want
        m = w2.wait_log(r"resuming at byte (\d+)", 5)
        resumed = int(m.group(1))
        assert 0 < resumed <= killed_at + (1 << 20), (resumed, killed_at)
        assert not hidden_files(shared), hidden_files(shared)
        print("    killed with %d bytes in the part; resumed at byte %d with Range"
              % (killed_at, resumed), flush=True)
        ledger.check("worker_killed", [shared])
    finally:
        col.stop()


# ---------------------------------------------------------------- 2

@H.timeout(600)
def scenario_2_broker_restarts():
    """TASKS tasks, paced, while the broker's application is stopped and
    started twice; every 202 ends done exactly once, refusals are 503."""
    reset_queues()
    ledger = Ledger()
    mm, col = observe(ledger)
    try:
        tasker = H.start_tasker("--heartbeat", "5", connected=True)
        dirs = []
        for _ in range(2):
            w = H.start_worker("--concurrency", "8", "--heartbeat", "5")
            dirs.append(w.dir)
        url = H.ENV.url("small.txt")
        want = H.ENV.sha256("small.txt")
        span = max(20.0, TASKS / 25.0)       # seconds of submitting
        outages = (span * 0.2, span * 0.6)   # when the broker goes away
        clients = 8
        per = TASKS // clients
        t0 = time.monotonic()

        def client(k):
            for i in range(per if k else TASKS - per * (clients - 1)):
                due = t0 + span * (i * clients + k) / TASKS
                time.sleep(max(0, due - time.monotonic()))
                submit(ledger, tasker.port, task(url, "t%d-%d" % (k, i), want))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for at in outages:
            time.sleep(max(0, t0 + at - time.monotonic()))
            H.broker_stop_app()
            time.sleep(3)
            # during the outage the tasker says so
            st, _, _ = H.http("GET", tasker.port, "/health")
            assert st == 503, "tasker /health %s with the broker down" % st
            H.broker_start_app()
        for t in threads:
            t.join()
        print("    submitted in %.0f s with 2 outages; %d refused with 503"
              % (time.monotonic() - t0, ledger.refused), flush=True)
        H.wait_tasker_connected(tasker)   # it sees the broker again
        wait_ledger(ledger, None, 300, "every accepted task to finish")
        time.sleep(2)  # late duplicates, if any, arrive now
        col.stop()
        assert not ledger.other, "answers other than 202/503: %r" % ledger.other[:10]
        assert ledger.refused > 0, "no 503 at all: the outages did not bite"
        ledger.check("broker_restarts", dirs)
    finally:
        col.stop()


# ---------------------------------------------------------------- alarms

@H.timeout(600)
def scenario_alarms():
    """TASKS tasks, paced, while RabbitMQ's memory alarm is raised and
    lifted three times (connection.blocked): every 202 ends done exactly
    once, every other answer is a 503 within the client's timeout, and the
    tasker's /health answers within 1 s throughout."""
    reset_queues()
    ledger = Ledger()
    mm, col = observe(ledger)
    health = {"polls": 0, "slowest": 0.0, "late": [], "states": set()}
    stop = threading.Event()
    refusals = []   # seconds each 503 took

    def alarm(on):
        H.broker_ctl("set_vm_memory_high_watermark", "0.0000001" if on else "0.4")

    try:
        tasker = H.start_tasker("--heartbeat", "5", connected=True)
        dirs = [H.start_worker("--concurrency", "8", "--heartbeat", "5").dir
                for _ in range(2)]
        url = H.ENV.url("small.txt")
        want = H.ENV.sha256("small.txt")
        span = max(20.0, TASKS / 25.0)
        alarms = (span * 0.15, span * 0.45, span * 0.75)
        clients = 8
        per = TASKS // clients
        t0 = time.monotonic()

        def poll_health():
            while not stop.is_set():
                a = time.monotonic()
                try:
                    st, _, body = H.http_json("GET", tasker.port, "/health", timeout=1)
                    health["states"].add(body.get("amqp") if isinstance(body, dict) else st)
                except Exception as e:  # no answer within 1 s
                    health["late"].append(type(e).__name__)
                took = time.monotonic() - a
                health["polls"] += 1
                health["slowest"] = max(health["slowest"], took)
                if took > 1.0:
                    health["late"].append(round(took, 3))
                time.sleep(0.25)

        def client(k):
            for i in range(per if k else TASKS - per * (clients - 1)):
                due = t0 + span * (i * clients + k) / TASKS
                time.sleep(max(0, due - time.monotonic()))
                a = time.monotonic()
                st, _ = submit(ledger, tasker.port, task(url, "a%d-%d" % (k, i), want))
                if st == 503:
                    refusals.append(time.monotonic() - a)

        hp = threading.Thread(target=poll_health, daemon=True)
        hp.start()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for at in alarms:
            time.sleep(max(0, t0 + at - time.monotonic()))
            alarm(True)
            time.sleep(4)
            alarm(False)
        for t in threads:
            t.join()
        stop.set()
        hp.join(5)
        wait_ledger(ledger, None, 300, "every accepted task to finish")
        time.sleep(2)  # late duplicates, if any, arrive now
        col.stop()
        print("    submitted in %.0f s with 3 alarms of 4 s; %d refused with 503 "
              "(slowest %.2f s); /health polled %d times, slowest %.3f s, states %s"
              % (time.monotonic() - t0, ledger.refused, max(refusals or [0]),
                 health["polls"], health["slowest"], sorted(map(str, health["states"]))),
              flush=True)
        assert not ledger.other, "answers other than 202/503: %r" % ledger.other[:10]
        assert ledger.refused > 0, "no 503 at all: the alarms did not bite"
        assert "blocked" in health["states"], health["states"]
        assert not health["late"], "/health late or unanswered: %r" % health["late"][:10]
        ledger.check("alarms", dirs)
    finally:
        stop.set()
        alarm(False)
        col.stop()


# ---------------------------------------------------------------- 3

@H.timeout(180)
def scenario_3_disk_full():
    """--dir on a 4 MiB tmpfs: 10m.bin fails with a clear error and leaves
    no partial file; small.txt and 1m.bin then succeed."""
    reset_queues()
    ledger = Ledger()
    mm, col = observe(ledger)
    mnt = H.fresh_dir("tmpfs")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755",
                        "warren-faults", mnt], stderr=subprocess.PIPE)
    if r.returncode != 0:
        col.stop()
        print("SKIP scenario_3_disk_full: cannot mount a tmpfs: %s"
              % r.stderr.decode().strip(), flush=True)
        _summary.append("SKIP disk_full (no tmpfs mount here)")
        return
    try:
        tasker = H.start_tasker(connected=True)
        # --min-free 0: the write's own ENOSPC is what this scenario
        # covers (the guard has its own test, test_worker_limits)
        w = H.start_worker("--retries", "1", "--min-free", "0", dir=mnt)
        st, big = submit(ledger, tasker.port, task(H.ENV.url("10m.bin"), "too big"))
        assert st == 202
        wait_ledger(ledger, [big], 60, "the big download to end")
        f = ledger.finals(big)
        assert [n["status"] for n in f] == ["failed"], f
        err = f[0].get("error", "")
        assert re.search(r"space|ENOSPC|full", err, re.I), "unclear error: %r" % err
        assert not os.listdir(mnt), "left behind: %r" % os.listdir(mnt)
        print("    10m.bin on 4 MiB: failed: %s" % err, flush=True)
        ids = []
        for name in ("small.txt", "1m.bin"):
            st, tid = submit(ledger, tasker.port,
                             task(H.ENV.url(name), name, H.ENV.sha256(name)))
            assert st == 202
            ids.append(tid)
            wait_ledger(ledger, [tid], 60, name)
            d = [n for n in ledger.finals(tid) if n["status"] == "done"]
            assert d, ledger.finals(tid)
        assert sorted(final_files(mnt)) == ["1m.bin", "small.txt"], os.listdir(mnt)
        assert w.alive()
        col.stop()
        done, failed = ledger.check("disk_full", [mnt])
        assert (done, failed) == (2, 1), (done, failed)
    finally:
        col.stop()
        H.cleanup()  # the worker holds files on the mount
        subprocess.run(["umount", "-l", mnt])


# ---------------------------------------------------------------- 4

class Relay:
    """A TCP relay from (host, port) to 127.0.0.1:to_port, in the root
    namespace: what crosses the veth link to the private broker and nginx
    (both listen on loopback only). Transparent: when one side closes or
    fails, the other is closed too."""

    def __init__(self, host, port, to_port):
        self.to_port = to_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.conns = []
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                a, _ = self.sock.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(("127.0.0.1", self.to_port), 5)
            except OSError:
                a.close()
                continue
            self.conns += [a, b]
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self._pump, args=(x, y), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass


def ip(*args, ns=None, check=True):
    argv = ["ip"] + (["netns", "exec", ns, "ip"] if ns else []) + list(args)
    return subprocess.run(argv, check=check, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)


class TestHost:
    """A network namespace joined to the root one by a veth pair, with
    addresses in a private /30 derived from the port base: root side .1,
    namespace side .2. Nothing is routed anywhere else."""

    def __init__(self):
        b = H.ENV.port_base
        self.ns = "warren-f%d" % b
        self.root_if = "wf%da" % b
        self.ns_if = "wf%db" % b
        net = (b // 50) % 64 * 4  # a /30 per port base
        self.root_ip = "10.213.%d.%d" % ((b // 3200) % 256, net + 1)
        self.ns_ip = "10.213.%d.%d" % ((b // 3200) % 256, net + 2)
        self.remove()
        try:
            ip("netns", "add", self.ns)
            ip("link", "add", self.root_if, "type", "veth", "peer", "name", self.ns_if)
            ip("link", "set", self.ns_if, "netns", self.ns)
            ip("addr", "add", self.root_ip + "/30", "dev", self.root_if)
            ip("link", "set", self.root_if, "up")
            ip("addr", "add", self.ns_ip + "/30", "dev", self.ns_if, ns=self.ns)
            ip("link", "set", self.ns_if, "up", ns=self.ns)
            ip("link", "set", "lo", "up", ns=self.ns)
        except subprocess.CalledProcessError:
            self.remove()
            raise

    def link(self, up):
        ip("link", "set", self.root_if, "up" if up else "down")

    def remove(self):
        ip("link", "del", self.root_if, check=False)
        ip("netns", "del", self.ns, check=False)


@H.timeout(240)
def scenario_4_link_cut():
    """A worker in its own namespace loses its link mid-download: the broker
    notices through heartbeats, the task completes on the other host, and
    the cut-off worker works again once the link is back."""
    reset_queues()
    try:
        host = TestHost()
    except subprocess.CalledProcessError as e:
        # without root / CAP_NET_ADMIN (an unprivileged container)
        print("SKIP scenario_4_link_cut: cannot make a network namespace: %s"
              % e.stderr.decode().strip(), flush=True)
        _summary.append("SKIP link_cut (no network namespaces here)")
        return
    ledger = Ledger()
    mm, col = observe(ledger)
    relays = []
    try:
        relays.append(Relay(host.root_ip, H.ENV.amqp_port, H.ENV.amqp_port))
        relays.append(Relay(host.root_ip, H.ENV.http_port, H.ENV.http_port))
        amqp = "amqp://guest:guest@%s:%d" % (host.root_ip, H.ENV.amqp_port)
        tasker = H.start_tasker(connected=True)
        d1 = H.fresh_dir("host1")
        w1 = H.start_program("/usr/sbin/ip", [
            "netns", "exec", host.ns, H.ENV.worker, "--amqp", amqp, "--dir", d1,
            "--heartbeat", "2", "--timeout", "5", "--retries", "10"],
            wait_log="broker connection ready")
        want = H.ENV.sha256("10m.bin")
        url = "http://%s:%d/slow/10m.bin?rate=1048576" % (host.root_ip, H.ENV.http_port)
        st, tid = submit(ledger, tasker.port, task(url, "across the link", want))
        assert st == 202
        part = os.path.join(d1, ".%s.part" % tid)
        H.wait_for(lambda: os.path.exists(part) and os.path.getsize(part) > 1 << 20,
                   30, "the cut-off worker to be downloading")
        d2 = H.fresh_dir("host2")
        w2 = H.start_worker("--heartbeat", "2", dir=d2)
        host.link(False)
        t_cut = time.monotonic()
        wait_ledger(ledger, [tid], 90, "the task to finish on the other host")
        took = time.monotonic() - t_cut
        done = [n for n in ledger.finals(tid) if n["status"] == "done"]
        assert done and done[0]["worker"].endswith(":%d" % w2.pid), ledger.finals(tid)
        assert done[0]["sha256"] == want
        host.link(True)
        # the cut-off worker comes back; the old task must not come back
        # with it as a second result
        w1.wait_log(r"broker connection ready(.|\n)*broker connection ready", 60)
        time.sleep(8)  # give it the time to finish or fail its old download
        w2.stop()
        st, tid2 = submit(ledger, tasker.port, task(
            "http://%s:%d/small.txt" % (host.root_ip, H.ENV.http_port), "after",
            H.ENV.sha256("small.txt")))
        assert st == 202
        wait_ledger(ledger, [tid2], 60, "the recovered worker to take a task")
        d = [n for n in ledger.finals(tid2) if n["status"] == "done"]
        assert d and d[0]["worker"].endswith(":%d" % w1.pid), ledger.finals(tid2)
        time.sleep(1)
        col.stop()
        print("    link cut with the task on host 1: done on host 2 %.0f s later; "
              "host 1 back and working" % took, flush=True)
        late = [n["status"] for n in ledger.notes.get(tid, [])
                if n.get("worker", "").endswith(":%d" % w1.pid)
                and n["status"] in FINAL]
        if late:
            print("    host 1 still reported the old task: %s" % late, flush=True)
        ledger.check("link_cut", [d1, d2])
        assert not late, "the cut-off worker reported %s for a task done elsewhere" % late
    finally:
        col.stop()
        H.cleanup()
        for r in relays:
            r.stop()
        host.remove()


# ---------------------------------------------------------------- 5

@H.timeout(240)
def scenario_5_middleman_killed():
    """kill -9 the middleman while notifications stream in; restarted on its
    journal, a client that comes back with ?since= sees each notification
    exactly once."""
    H.purge("notifications")
    journal = os.path.join(H.fresh_dir("journal"), "notes.journal")
    port = H.free_port()
    args = ["--listen", "127.0.0.1:%d" % port, "--amqp", H.ENV.amqp_url,
            "--interval", "0", "--history", "100000", "--journal", journal]
    mm = H.start_program("middleman", args, port=port)
    ledger = Ledger()
    col = WsCollector(ledger, lambda: port)
    col.connected.wait(10)
    total, kills = 4000, 4
    ids = ["n%05d-%s" % (i, uuid.uuid4().hex[:8]) for i in range(total)]
    pub_done = threading.Event()

    def publisher():
        import pika
        conn = H.amqp_connect()
        ch = conn.channel()
        H._declare(ch, "notifications")   # the stream, as the programs declare it
        ch.confirm_delivery()
        for i, tid in enumerate(ids):
            body = json.dumps({"id": tid, "name": "n", "taskType": "download",
                               "arg": "http://127.0.0.1/x", "status": "queued",
                               "time": int(time.time() * 1000)})
            ch.basic_publish("", "notifications", body,
                             pika.BasicProperties(delivery_mode=2))
            if i % 50 == 49:
                time.sleep(0.05)  # ~1000/s: a few seconds of flow
        conn.close()
        pub_done.set()

    pt = threading.Thread(target=publisher, daemon=True)
    pt.start()
    try:
        for k in range(kills):
            H.wait_for(lambda: len(col.seqs) > total * (k + 1) // (kills + 2), 30,
                       "notifications to flow")
            mm.kill(signal.SIGKILL)
            time.sleep(0.5)
            mm = H.start_program("middleman", args, port=port)
        pub_done.wait(60)
        H.wait_for(lambda: len(set(ledger.notes) & set(ids)) == total, 60,
                   "every notification at the client", interval=0.2)
        time.sleep(2)  # duplicates, if any, arrive now
        col.stop()
        seen = {i: len(ledger.notes.get(i, [])) for i in ids}
        twice = [i for i, c in seen.items() if c > 1]
        missing = [i for i, c in seen.items() if c == 0]
        seqs = col.seqs
        backwards = sum(1 for a, b in zip(seqs, seqs[1:]) if b <= a)
        line = ("counts middleman_killed: published %d, seen %d, lost %d, "
                "duplicated %d [kills %d, reconnects %d, seq not increasing %d]"
                % (total, sum(1 for c in seen.values() if c), len(missing),
                   len(twice), kills, col.reconnects, backwards))
        print(line, flush=True)
        _summary.append(line)
        assert col.reconnects >= kills, col.reconnects
        assert not missing, "lost: %s" % missing[:5]
        assert not twice, "seen twice: %s (seqs %s; came back with since=%s)" % (
            twice[:5], [[n.get("seq") for n in ledger.notes[i]] for i in twice[:5]],
            col.since)
        assert backwards == 0
    finally:
        col.stop()


# ---------------------------------------------------------------- 6

@H.timeout(SOAK_SECONDS + 600)
def scenario_6_soak():
    """SOAK_SECONDS of mixed tasks from many clients while workers are
    SIGKILLed and restarted at random; then every 202 is final once, RSS
    and fds of the long-lived programs are flat, everything answers."""
    reset_queues()
    ledger = Ledger()
    tasker = H.start_tasker("--heartbeat", "10", connected=True)
    mm_port = H.free_port()
    mm = H.start_program("middleman", [
        "--listen", "127.0.0.1:%d" % mm_port, "--amqp", H.ENV.amqp_url,
        "--interval", "0"], port=mm_port)
    col = WsCollector(ledger, lambda: mm_port)
    col.connected.wait(10)
    shared = H.fresh_dir("shared")
    steady = H.start_worker("--concurrency", "2", "--retries", "1",
                            "--timeout", "10", dir=shared)
    flaky_args = ("--concurrency", "2", "--retries", "1", "--timeout", "10")
    flaky = [H.start_worker(*flaky_args, dir=shared), H.start_worker(*flaky_args)]
    dirs = [shared, flaky[1].dir]
    rnd = random.Random(int(os.environ.get("WARREN_FAULTS_SEED", "6")))
    small, one = H.ENV.sha256("small.txt"), H.ENV.sha256("1m.bin")
    mix = [
        (50, lambda: task(H.ENV.url("small.txt"), "good", small)),
        (8, lambda: task(H.ENV.url("1m.bin"), "good 1m", one)),
        (8, lambda: task(H.ENV.url("/slow/1m.bin?rate=262144"), "slow", one)),
        (10, lambda: task(H.ENV.url("/status/404"), "missing")),
        (8, lambda: task("http://127.0.0.1:1/refused", "refused")),
        (8, lambda: task(H.ENV.url("small.txt"), "bad sum", "0" * 64)),
        (8, lambda: task(H.ENV.url("/slow/small.txt?rate=64"), "trickle")),  # ~3 s
    ]
    weights = [w for w, _ in mix]
    stop = threading.Event()
    bad_requests = [0]

    def client(k):
        r = random.Random(k)
        while not stop.is_set():
            if r.random() < 0.03:  # now and then a client sends garbage
                st, _, _ = H.http("POST", tasker.port, "/task", b"{\"name\": ",
                                  timeout=10)
                assert st == 400, st
                bad_requests[0] += 1
            else:
                submit(ledger, tasker.port, r.choices(mix, weights)[0][1]())
            stop.wait(r.uniform(0.3, 1.5))

    clients = [threading.Thread(target=client, args=(k,), daemon=True)
               for k in range(6)]
    every = int(os.environ.get("WARREN_FAULTS_SAMPLE", "0")) or min(60, max(5, SOAK_SECONDS // 6))
    samples = {"tasker": [], "middleman": [], "worker": []}
    procs = {"tasker": tasker, "middleman": mm, "worker": steady}
    t0 = time.monotonic()
    next_sample = t0
    kills = 0
    for c in clients:
        c.start()
    try:
        while time.monotonic() - t0 < SOAK_SECONDS:
            now = time.monotonic()
            if now >= next_sample:
                for name, p in procs.items():
                    samples[name].append(proc_sample(p.pid))
                next_sample += every
            time.sleep(rnd.uniform(3, 12))
            i = rnd.randrange(len(flaky))
            ledger.kill(flaky[i])
            kills += 1
            time.sleep(rnd.uniform(0, 2))
            d = flaky[i].dir
            flaky[i] = H.start_worker(*flaky_args, dir=d)
        stop.set()
        for c in clients:
            c.join(30)
        for name, p in procs.items():
            samples[name].append(proc_sample(p.pid))
        t_end = time.monotonic()
        wait_ledger(ledger, None, 300, "every accepted task to finish")
        print("    the last tasks ended %.0f s after submissions stopped; slowest: %s"
              % (time.monotonic() - t_end, ", ".join(
                  "%s %.0f s" % (name, dt) for dt, name, _ in ledger.slowest())),
              flush=True)
        time.sleep(2)
        # all three still answer
        assert H.http("GET", tasker.port, "/health")[0] == 200
        assert H.http("GET", mm_port, "/health")[0] == 200
        st, tid = submit(ledger, tasker.port, task(H.ENV.url("small.txt"), "last", small))
        assert st == 202
        wait_ledger(ledger, [tid], 60, "a last task after the soak")
        col.stop()
        print("    %d s, %d workers killed, %d bad requests answered 400, "
              "WebSocket reconnects %d" % (SOAK_SECONDS, kills, bad_requests[0],
                                          col.reconnects), flush=True)
        growth = []
        for name, s in samples.items():
            s = [x for x in s if x]
            line = "    %-9s RSS KiB %s  fds %s" % (
                name, " ".join(str(x[0]) for x in s), " ".join(str(x[1]) for x in s))
            print(line, flush=True)
            _summary.append(line.strip())
            assert len(s) >= 3, "%s died during the soak" % name
            # flat: from the second sample (warmed up) to the last
            base, last = s[1], s[-1]
            if last[0] > base[0] * 1.10 + 1024:
                growth.append("%s RSS %d -> %d KiB" % (name, base[0], last[0]))
            if last[1] > base[1] + 4:
                growth.append("%s fds %d -> %d" % (name, base[1], last[1]))
        ledger.check("soak", dirs)
        assert not growth, "growth: " + "; ".join(growth)
        assert steady.alive() and tasker.alive() and mm.alive()
    finally:
        stop.set()
        col.stop()


# ---------------------------------------------------------------- 7, 8: cluster

CLUSTER_QUEUES = ("tasks", "tasks.dead", "notifications", "warren.control")
CLUSTER_TASKS = int(os.environ.get("WARREN_FAULTS_CLUSTER_TASKS", "1000"))
_cluster_started = []


def need_cluster():
    """The three-node test cluster (tests/env/cluster.sh), started when it is
    not running (about a minute; stopped again at the end of the run)."""
    if not H.cluster_running():
        print("    starting the three-node cluster", flush=True)
        H.cluster_sh("start", timeout=300)
        _cluster_started.append(1)
    H.cluster_delete_queues(*CLUSTER_QUEUES)


def new_connection(p, since_len, port):
    """True when p's log, after offset since_len, says it connected to a
    node whose port is not `port`."""
    return any(int(x) != port for x in re.findall(
        r"connected to broker \S*:(\d+)", p.log_text()[since_len:]))


@H.timeout(900)
def scenario_7_cluster_leader_killed():
    """CLUSTER_TASKS tasks, paced over 30 s, while the node holding the
    leader of `tasks` (the tasker's and the middleman's node) is killed with
    kill -9 at 20 %, and restarted once all are submitted; the workers are on
    the other nodes. Every 202 ends done exactly once; the tasker and the
    middleman move to another node within 3 heartbeats; the two nodes left (a
    majority) take tasks again (202s within 4 heartbeats of the kill);
    clients see only 503s meanwhile."""
    need_cluster()
    ledger = Ledger()
    hb = 5
    order = [0, 1, 2]
    # the tasker declares `tasks` first: its leader is the tasker's node
    tasker = H.start_tasker("--heartbeat", str(hb), amqp=H.cluster_amqp(*order),
                            timeout=30, connected=True)
    q = H.wait_for(lambda: (H.cluster_queue("tasks") or {}).get("leader") is not None
                   and H.cluster_queue("tasks"), 30, "the leader of tasks")
    lead = q["leader"]
    others = [n for n in order if n != lead]
    mm_port = H.free_port()
    mm = H.start_program("middleman", [
        "--listen", "127.0.0.1:%d" % mm_port, "--heartbeat", str(hb),
        "--amqp", H.cluster_amqp(lead, *others), "--interval", "0",
        "--history", "100000"], port=mm_port)
    col = WsCollector(ledger, lambda: mm_port)
    try:
        assert col.connected.wait(10), "no WebSocket to the middleman"
        dirs = []
        for k in range(2):
            w = H.start_worker("--concurrency", "8", "--heartbeat", str(hb),
                               amqp=H.cluster_amqp(others[k], others[1 - k], lead),
                               wait_log="broker connection ready", timeout=30)
            dirs.append(w.dir)
        url = H.ENV.url("small.txt")
        want = H.ENV.sha256("small.txt")
        span = max(30.0, CLUSTER_TASKS / 33.0)
        clients = 8
        per = CLUSTER_TASKS // clients
        t0 = time.monotonic()
        answered = []  # (monotonic time, status) of every answer

        def client(k):
            for i in range(per if k else CLUSTER_TASKS - per * (clients - 1)):
                due = t0 + span * (i * clients + k) / CLUSTER_TASKS
                time.sleep(max(0, due - time.monotonic()))
                st, _ = submit(ledger, tasker.port, task(url, "c%d-%d" % (k, i), want))
                answered.append((time.monotonic(), st))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        time.sleep(max(0, t0 + span * 0.2 - time.monotonic()))
        marks = {p: len(p.log_text()) for p in (tasker, mm)}
        dead = H.ENV.port_base + 30 + 2 * lead
        t_kill = time.monotonic()
        ledger.node_kills.append(time.time())
        H.cluster_sh("kill", lead)
        # a 202 answered over a second after the SIGKILL was confirmed by
        # the nodes left, not by the dead one
        t_dead = time.monotonic() + 1.0
        moved = {}
        deadline = t_kill + 60
        while len(moved) < 2 and time.monotonic() < deadline:
            for p in (tasker, mm):
                if p not in moved and new_connection(p, marks[p], dead):
                    moved[p] = time.monotonic() - t_kill
            time.sleep(0.1)
        assert len(moved) == 2, "not moved to another node within 60 s: %s" % [
            p.name for p in (tasker, mm) if p not in moved]
        # the node stays down until every task is submitted: 2 of 3 nodes
        # are a majority, so tasks must be taken again meanwhile
        for t in threads:
            t.join()
        t_end = time.monotonic()
        later = sorted(t for t, st in answered if st == 202 and t > t_dead)
        again = later[0] - t_kill if later else None
        refused_down = sum(1 for t, st in answered if st != 202 and t > t_dead)
        q2 = H.cluster_queue("tasks", others[0]) or {}
        t_restart = time.monotonic()
        H.cluster_sh("restart", lead, timeout=300)
        restart_took = time.monotonic() - t_restart
        print("    node %d (leader of tasks; tasker, middleman) killed at %.0f s of %.0f s "
              "of submitting: tasker on another node after %.1f s, middleman after "
              "%.1f s (heartbeat %d s), leader now on node %s; with the node down: "
              "first 202 %s s after the kill, %d answers 202, %d refused with 503; "
              "node restarted after the submissions, back in %.0f s"
              % (lead, span * 0.2, span, moved[tasker], moved[mm], hb,
                 q2.get("leader"), "%.1f" % again if again is not None else "never",
                 len(later), refused_down, restart_took), flush=True)
        assert again is not None, \
            "no 202 in the %.0f s after the kill with 2 of 3 nodes up" % (t_end - t_kill)
        wait_ledger(ledger, None, 300, "every accepted task to finish")
        # the collector listens until the restarted node is back: a task
        # answered 503 but stored after all may be done only now, and its
        # file is counted below
        q3 = H.wait_for(lambda: (H.cluster_queue("tasks") or {}).get("online") == [0, 1, 2]
                        and H.cluster_queue("tasks"), 60, "the restarted node back in tasks")
        H.wait_for(lambda: (H.cluster_queue("tasks") or {}).get("messages") == 0, 60,
                   "tasks empty (every stored task settled)", interval=0.5)
        time.sleep(2)  # late duplicates, if any, arrive now
        col.stop()
        assert not ledger.other, "answers other than 202/503: %r" % ledger.other[:10]
        assert max(moved.values()) <= 3 * hb, "failover took %s s (heartbeat %d s)" % (
            sorted(moved.values()), hb)
        assert again <= 4 * hb, "202s only %.1f s after the kill" % again
        print("    tasks members online again: %s, leader node %d" % (q3["online"],
                                                                   q3["leader"]), flush=True)
        ledger.check("cluster_leader_killed", dirs, H.cluster_urls())
    finally:
        col.stop()


@H.timeout(300)
def scenario_8_cluster_middleman_killed():
    """Two middlemen on different nodes, each with its journal; one is
    killed with kill -9 twice while notifications flow and restarted. Pages
    on the other see everything once; the restarted one catches up from its
    position: its page (coming back with ?since=) also sees each
    notification once, under the same seq as on the other middleman."""
    need_cluster()
    ports = [H.free_port(), H.free_port()]
    journals = [os.path.join(H.fresh_dir("journal"), "notes.journal") for _ in ports]

    def args(k):
        return ["--listen", "127.0.0.1:%d" % ports[k], "--interval", "0",
                "--history", "100000", "--journal", journals[k],
                "--amqp", H.cluster_amqp(*([1, 2, 0] if k == 0 else [2, 0, 1]))]

    mms = [H.start_program("middleman", args(k), port=ports[k]) for k in (0, 1)]
    for p in ports:
        H.wait_for(lambda p=p: H.http("GET", p, "/health")[0] == 200, 30, "middleman up")
    ledgers = [Ledger(), Ledger()]
    cols = [WsCollector(ledgers[k], lambda k=k: ports[k]) for k in (0, 1)]
    total, kills = 3000, 2
    ids = ["m%05d-%s" % (i, uuid.uuid4().hex[:8]) for i in range(total)]
    pub_done = threading.Event()
    pub_error = []

    def publisher():
        import pika
        try:
            conn = H.amqp_connect(H.cluster_urls()[0])
            ch = conn.channel()
            ch.confirm_delivery()
            for i, tid in enumerate(ids):
                body = json.dumps({"id": tid, "name": "n", "taskType": "download",
                                   "arg": "http://127.0.0.1/x", "status": "queued",
                                   "time": int(time.time() * 1000)})
                ch.basic_publish("", "notifications", body,
                                 pika.BasicProperties(delivery_mode=2,
                                                      content_type="application/json"))
                if i % 50 == 49:
                    time.sleep(0.05)
            conn.close()
        except Exception as e:  # reported below
            pub_error.append(e)
        pub_done.set()

    try:
        for c in cols:
            assert c.connected.wait(10), "no WebSocket to a middleman"
        pt = threading.Thread(target=publisher, daemon=True)
        pt.start()
        for k in range(kills):
            H.wait_for(lambda: len(cols[0].seqs) > total * (k + 1) // (kills + 2), 60,
                       "notifications to flow")
            mms[0].kill(signal.SIGKILL)
            time.sleep(0.5)
            mms[0] = H.start_program("middleman", args(0), port=ports[0])
        pub_done.wait(120)
        assert not pub_error, pub_error
        for k in (0, 1):
            H.wait_for(lambda k=k: len(set(ledgers[k].notes) & set(ids)) == total, 90,
                       "every notification at middleman %s's page" % "AB"[k], interval=0.2)
        time.sleep(2)  # duplicates, if any, arrive now
        for c in cols:
            c.stop()
        seqs_of = []
        for k in (0, 1):
            seen = {i: [n.get("seq") for n in ledgers[k].notes.get(i, [])] for i in ids}
            twice = [i for i, s in seen.items() if len(s) > 1]
            s = cols[k].seqs
            back = sum(1 for a, b in zip(s, s[1:]) if b <= a)
            line = ("counts cluster_middleman_killed %s: published %d, seen %d, lost %d, "
                    "duplicated %d [kills %d, reconnects %d, seq not increasing %d]"
                    % ("AB"[k], total, sum(1 for x in seen.values() if x),
                       sum(1 for x in seen.values() if not x), len(twice),
                       kills if k == 0 else 0, cols[k].reconnects, back))
            print(line, flush=True)
            _summary.append(line)
            assert not twice, "page of %s saw twice: %s" % ("AB"[k], [
                (i, seen[i]) for i in twice[:5]])
            assert back == 0, "seq not increasing at %s's page" % "AB"[k]
            seqs_of.append({i: s[0] for i, s in seen.items()})
        assert cols[0].reconnects >= kills, cols[0].reconnects
        differ = [(i, seqs_of[0][i], seqs_of[1][i]) for i in ids
                  if seqs_of[0][i] != seqs_of[1][i]]
        assert not differ, "seq differs between the middlemen (id, A, B): %s" % differ[:5]
    finally:
        for c in cols:
            c.stop()


# ---------------------------------------------------------------- 9

@H.timeout(300)
def scenario_9_poison_task():
    """A poison task: every worker that takes it dies (here: SIGKILLed as
    soon as it reports `started`). After 5 deliveries the broker
    dead-letters it and the middleman records `failed`, "gave up after 5
    deliveries", instead of the task going round forever; other tasks still
    run."""
    for q in CLUSTER_QUEUES:
        H.delete_queue(q)
    ledger = Ledger()
    mm, col = observe(ledger)
    try:
        tasker = H.start_tasker(connected=True)
        st, tid = submit(ledger, tasker.port,
                         task(H.ENV.url("/slow/10m.bin?rate=262144"), "poison"))
        assert st == 202, st
        shared = H.fresh_dir("shared")
        kills = 0
        while not ledger.finals(tid) and kills < 7:
            w = H.start_worker("--heartbeat", "5", dir=shared)

            def taken(w=w):
                return ledger.finals(tid) or any(
                    n.get("status") == "started" and
                    n.get("worker", "").endswith(":%d" % w.pid)
                    for n in ledger.notes.get(tid, []))
            H.wait_for(taken, 60, "the poison task taken or given up")
            if ledger.finals(tid):
                break
            w.kill(signal.SIGKILL)
            kills += 1
        wait_ledger(ledger, [tid], 30, "the poison task given up")
        f = ledger.finals(tid)
        assert [n["status"] for n in f] == ["failed"], f
        assert "gave up after 5 deliveries" in f[0].get("error", ""), f[0]
        assert kills <= 6, "%d workers killed before it was given up" % kills
        # it does not come back: the last worker takes a good task, not it
        w = H.start_worker("--heartbeat", "5", dir=shared)
        st, good = submit(ledger, tasker.port, task(H.ENV.url("small.txt"), "good",
                                                    H.ENV.sha256("small.txt")))
        assert st == 202
        wait_ledger(ledger, [good], 60, "a good task after the poison one")
        time.sleep(1)
        col.stop()
        again = [n for n in ledger.notes.get(tid, [])
                 if n.get("worker", "").endswith(":%d" % w.pid)]
        assert not again, "the poison task came back: %s" % again
        print("    %d workers killed as they took it; then failed: %s"
              % (kills, f[0].get("error")), flush=True)
        line = ("counts poison_task: deliveries killed %d, final %s" %
                (kills, f[0]["status"]))
        _summary.append(line)
        ledger.check("poison_task", [])
    finally:
        col.stop()


# ---------------------------------------------------------------- security

@H.timeout(180)
def security_secrets_not_shown():
    """Token and AMQP password given through the environment appear in no
    command line (ps, /proc/PID/cmdline) and in no log line - through
    logins, refused logins, reconnections, 401s and a download with
    credentials in its URL."""
    user = "warren-sec"
    pw = "pw-%s" % uuid.uuid4().hex
    token = "tok-%s" % uuid.uuid4().hex
    H.broker_ctl("add_user", user, pw)
    try:
        H.broker_ctl("set_permissions", "-p", "/", user, ".*", ".*", ".*")
        reset_queues()
        url = "amqp://%s:%s@127.0.0.1:%d" % (user, pw, H.ENV.amqp_port)
        bad = "amqp://%s:wrong-%s@127.0.0.1:%d" % (user, pw, H.ENV.amqp_port)
        env = {"WARREN_AMQP_URL": url, "WARREN_TOKEN": token}
        tasker = H.start_program("tasker", ["--listen", "127.0.0.1:{port}"],
                                 env=env, port="auto")
        mm = H.start_program("middleman", ["--listen", "127.0.0.1:{port}",
                                           "--interval", "0"], env=env, port="auto")
        d = H.fresh_dir("downloads")
        w = H.start_program("worker", ["--dir", d, "--ca-file", H.ENV.ca_file],
                            env={"WARREN_AMQP_URL": url},
                            wait_log="broker connection ready")
        refused = H.start_program("worker", ["--dir", H.fresh_dir("refused")],
                                  env={"WARREN_AMQP_URL": bad})
        auth = {"Authorization": "Bearer " + token}
        H.wait_tasker_connected(tasker, token, 15)   # it logged in
        # wrong and right tokens, on both servers
        wrong = {"Authorization": "Bearer wrong-" + token}
        t = task(H.ENV.url("/auth/small.txt").replace("://", "://user:pass@"), "auth")
        assert H.http("POST", tasker.port, "/task", t, headers=wrong)[0] == 401
        st, _, body = H.http_json("POST", tasker.port, "/task", t, headers=auth)
        assert st == 202, st
        assert H.http("GET", mm.port, "/tasks", headers=wrong)[0] == 401
        assert H.http("GET", mm.port, "/tasks?token=wrong-" + token)[0] == 401
        H.wait_for(lambda: any(n.get("status") == "done" for n in H.http_json(
            "GET", mm.port, "/tasks", headers=auth)[2] or []), 30, "the download")
        c = wsraw.RawWS(mm.port, "/ws?token=wrong-" + token)
        assert c.status == 401, c.status
        c.close()
        c = wsraw.RawWS(mm.port, "/ws?token=" + token)  # the token in a URL
        assert c.status == 101, c.status
        assert json.loads(c.recv_text())["id"] == body["id"]
        c.close()
        # a reconnection logs the broker URL again
        H.close_all_connections("security test")
        for p in (tasker, mm, w):
            H.wait_for(lambda p=p: len(re.findall("broker connection ready|connected to broker",
                                                  p.log_text())) >= 2 or
                       p.log_text().count("amqp: up") >= 2, 30,
                       "%s to reconnect" % p.name)
        time.sleep(1)
        ps = subprocess.run(["ps", "-eo", "pid,args"], stdout=subprocess.PIPE).stdout.decode()
        leaks = []
        for p in (tasker, mm, w, refused):
            with open("/proc/%d/cmdline" % p.pid, "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
            text = p.log_text()
            for what, secret in (("AMQP password", pw), ("token", token),
                                 ("URL password", "user:pass@")):
                if secret in cmd:
                    leaks.append("%s in %s's command line" % (what, p.name))
                if secret in text:
                    line = [x for x in text.splitlines() if secret in x][0]
                    leaks.append("%s in %s's log: %s" % (what, p.name, line[:160]))
        for secret in (pw, token):
            if secret in ps:
                leaks.append("a secret in ps output")
        assert "***" in w.log_text() or user in w.log_text(), \
            "the worker never named its broker (nothing to check)"
        assert refused.alive(), "a refused login must not end the worker"
        print("    checked: 4 programs, command lines, ps, logs (%d lines) after "
              "logins, a refused login, reconnections, 401s, a download with "
              "credentials" % sum(len(p.log_text().splitlines())
                                  for p in (tasker, mm, w, refused)), flush=True)
        assert not leaks, "; ".join(leaks)
    finally:
        H.cleanup()
        H.broker_ctl("delete_user", user)


@H.timeout(60)
def security_names_stay_in_dir():
    """Downloaded names never leave --dir: hostile Content-Disposition and
    URL paths, and symlinks planted in --dir under the names the files
    will take (dangling, and to a file outside) are never followed."""
    d = H.fresh_dir("dir")
    outside = H.fresh_dir("outside")
    victim = os.path.join(outside, "victim")
    with open(victim, "w") as f:
        f.write("keep me\n")
    os.symlink(os.path.join(outside, "created"), os.path.join(d, "small.txt"))
    os.symlink(victim, os.path.join(d, "evil"))
    os.symlink(outside, os.path.join(d, "sub"))
    urls = [H.ENV.url("small.txt"), H.ENV.url("/disposition/evil"),
            H.ENV.url("small.txt").replace("small.txt", "sub%2F..%2F..%2Fsmall.txt"),
            H.ENV.url("/redir/rel")]
    files = []
    for u in urls:
        r = H.run_program("worker", ["--get", u, "--dir", d], timeout=30)
        res = json.loads(r.stdout)
        if res["status"] == "done":
            files.append(res["file"])
    assert len(files) >= 3, files
    for f in files:
        assert os.path.dirname(f) == d, f
        assert not os.path.islink(f) and os.path.isfile(f), f
    with open(victim) as f:
        assert f.read() == "keep me\n"
    assert sorted(os.listdir(outside)) == ["victim"], os.listdir(outside)
    print("    %d downloads beside 3 planted symlinks: all in --dir, as %s"
          % (len(files), ", ".join(os.path.basename(f) for f in files)), flush=True)


# ---------------------------------------------------------------- runner

def main(argv):
    signal.signal(signal.SIGTERM, R._terminate)
    patterns = [a for a in argv if not a.startswith("-")]
    started = []
    if not os.environ.get("WARREN_TEST_ENV_READY"):
        started = R.start_env()
    os.environ.setdefault("WARREN_TEST_LOGS", os.path.join(H.ENV.state, "faults-logs"))
    H.ENV.logs = os.environ["WARREN_TEST_LOGS"]
    R.clear_logs(H.ENV.logs)
    fns = [(n, f) for n, f in sorted(globals().items())
           if n.startswith(("scenario_", "security_")) and callable(f)
           and (not patterns or any(p in n for p in patterns))]
    passed = failed = 0
    try:
        for name, fn in fns:
            H.CURRENT_TEST = name
            t0 = time.monotonic()
            res = R.run_one(fn, name, getattr(fn, "timeout", 120))
            problems = H.cleanup()
            if res is None and problems:
                res = (problems[0].split("\n")[0], "\n".join(problems))
            dt = time.monotonic() - t0
            if res is None:
                passed += 1
                print("ok   %s (%.1fs)" % (name, dt), flush=True)
            else:
                failed += 1
                R.report_fail(name, res[0], res[1])
    except KeyboardInterrupt:
        H.cleanup()
        failed += 1
        print("interrupted", flush=True)
    finally:
        R.stop_env(started)
        if _cluster_started:
            H.cluster_sh("stop", check=False)
    print("== summary")
    for s in _summary:
        print(s)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

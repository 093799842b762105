"""The worker's limits (issue 13 items 3 and 4): --min-free, the disk guard,
on a small tmpfs (the tests run as root; skipped otherwise), and the option
checks of --min-free, --rate-limit and --quiet."""

import os
import subprocess
import tempfile

from harness import purge, run_program, start_worker, timeout
from harness import empty_tasks_and_notifications
from hostile import Script, chunked, resp
from test_worker_mq import Notes, new_task, send

MiB = 1 << 20


# every test starts and ends on an empty `tasks` and a fresh stream
setup_module = teardown_module = empty_tasks_and_notifications


def leftovers(d):
    return sorted(n for n in os.listdir(d) if n.startswith("."))


@timeout(120)
def test_min_free_on_a_small_tmpfs():
    if os.geteuid() != 0:
        print("SKIP: mounting a tmpfs needs root")
        return
    d = tempfile.mkdtemp(prefix="warren-minfree-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", d], check=True)
    w = None
    try:
        notes = Notes()
        small = os.urandom(MiB)
        fits = Script(resp(200, small))
        big = Script(resp(200, b"x" * (7 * MiB)))
        grows = Script(chunked([b"y" * 65536] * 112))  # 7 MiB, no length
        after = Script(resp(200, b"after"))
        w = start_worker("--min-free", "2M", dir=d)
        ts = [new_task(fits.url("/fits.bin")), new_task(big.url("/big.bin")),
              new_task(grows.url("/grows.bin")), new_task(after.url("/after.bin"))]
        for t in ts:
            send(t)
        n = [notes.final(t["id"], tmo=60) for t in ts]
        assert n[0]["status"] == "done" and n[0]["bytes"] == MiB, n[0]
        with open(os.path.join(d, "fits.bin"), "rb") as f:
            assert f.read() == small
        # Content-Length known: fails before a byte is written, not retried
        e = n[1]
        assert e["status"] == "failed", e
        assert "not enough disk space" in e["error"], e
        assert "%d more bytes" % (7 * MiB) in e["error"], e
        assert "--min-free keeps %d" % (2 * MiB) in e["error"], e
        assert e["bytes"] == 0 and len(big.requests) == 1, (e, big.requests)
        # chunked: fails as it grows past the limit, not retried
        g = n[2]
        assert g["status"] == "failed" and "not enough disk space" in g["error"], g
        assert "--min-free keeps %d" % (2 * MiB) in g["error"], g
        assert 0 < g["bytes"] < 7 * MiB, g
        assert len(grows.requests) == 1, grows.requests
        # the next task is tried normally
        assert n[3]["status"] == "done" and n[3]["bytes"] == 5, n[3]
        # no .part or bookkeeping left by the failures, the space is back
        assert leftovers(d) == [], leftovers(d)
        assert sorted(os.listdir(d)) == ["after.bin", "fits.bin"], os.listdir(d)
        w.stop()
        w = None
    finally:
        if w:
            w.kill()
        subprocess.run(["umount", d], check=False)
        os.rmdir(d)


@timeout(30)
def test_limit_options_checked():
    bad = [("--min-free", "12X"), ("--min-free", "-1"), ("--min-free", ""),
           ("--min-free", "1 M"), ("--min-free", "99999999999999999999G"),
           ("--rate-limit", "2Q"), ("--rate-limit", "-5"), ("--rate-limit", "2G0"),
           ("--rate-limit", "2000G"), ("--quiet", "25:00-01:00"),
           ("--quiet", "01:00-01:00"), ("--quiet", "1:00-02:00"),
           ("--quiet", "01:00-02:00,"), ("--quiet", "01:00-02:00;03:00-04:00")]
    for opt, val in bad:
        r = run_program("worker", [opt, val])
        err = r.stderr.decode()
        assert r.returncode == 2, (opt, val, r)
        assert err.count("\n") == 1 and opt in err, (opt, val, err)
    r = run_program("worker", ["--help"])
    assert b"--min-free" in r.stdout and b"--rate-limit" in r.stdout and \
        b"--quiet" in r.stdout, r.stdout
    r = run_program("worker", [], env={"WARREN_MIN_FREE": "5T"})
    assert r.returncode == 2 and b"--min-free" in r.stderr, r


@timeout(90)
def test_rate_limit_shared_by_two_downloads():
    """Two 6 MiB downloads at once under --rate-limit 4M take 3 s: the
    rate, from the worker's own timestamps (first `started` to last `done`)
    and the bytes it reports, is between 0.8 and 1.1 times the limit."""
    from test_worker_get import bigfile
    from harness import ENV
    name = bigfile(6)
    limit = 4 * MiB
    notes = Notes()
    w = start_worker("--concurrency", "2", "--rate-limit", "4M")
    ts = [new_task(ENV.url(name)), new_task(ENV.url(name))]
    for t in ts:
        send(t)
    fin = [notes.final(t["id"], tmo=60) for t in ts]
    for n in fin:
        assert n["status"] == "done" and n["bytes"] == 6 * MiB, n
    seqs = [notes.of(t["id"]) for t in ts]
    t0 = min(s[0]["time"] for s in seqs)
    assert all(s[0]["status"] == "started" for s in seqs), seqs
    t1 = max(n["time"] for n in fin)
    total = sum(n["bytes"] for n in fin)
    rate = total / ((t1 - t0) / 1000.0)
    print("%d bytes in %d ms: %.0f B/s, %.3f of the limit" % (
        total, t1 - t0, rate, rate / limit))
    assert 0.8 * limit <= rate <= 1.1 * limit, (rate, limit, t1 - t0)
    # the two shared the bucket: both progressed, neither waited for the other
    for s in seqs:
        prog = [x for x in s if x["status"] == "progress"]
        assert prog and 0 < prog[0]["bytes"] < 6 * MiB, s
    w.stop()


@timeout(60)
def test_quiet_hours_all_day_download_nothing():
    """Windows covering the whole day: the worker never consumes `tasks`
    (as under a control pause): a task sent stays in the queue, untouched."""
    from harness import queue_depth, wait_for
    import time
    notes = Notes()
    w = start_worker("--quiet", "00:00-12:00,12:00-00:00",
                     wait_log="quiet hours begin")
    t = new_task("http://127.0.0.1:1/never.bin")
    send(t)
    time.sleep(3)
    assert notes.of(t["id"]) == [], notes.of(t["id"])
    assert os.listdir(w.dir) == [], os.listdir(w.dir)
    assert queue_depth("tasks") == 1  # ready, never delivered
    w.stop()
    wait_for(lambda: queue_depth("tasks") == 1, 10, "the task still queued")
    purge("tasks")


@timeout(90)
def test_quiet_window_begins_during_a_download():
    """With WARREN_TEST_QUIET_MINUTE_MS=1000 the worker's day starts at
    00:00 and a minute lasts 1 s: the window 00:03-00:06 begins 3 s after
    the start, during a 1 MiB download at 200 kB/s. The download stops
    as under a control pause: `paused`, its .part kept, the task back in
    the queue; at the window's end the worker takes it again and resumes
    with a Range request; the file is whole."""
    from harness import ENV, queue_depth, wait_for
    notes = Notes()
    w = start_worker("--quiet", "00:03-00:06",
                     env={"WARREN_TEST_QUIET_MINUTE_MS": "1000"})
    t = new_task(ENV.url("slow/1m.bin?rate=200000"))
    send(t)
    wait_for(lambda: "paused" in [x["status"] for x in notes.of(t["id"])], 20,
             "paused", interval=0.1)
    assert queue_depth("tasks") == 1  # re-published, the delivery acked
    n = notes.final(t["id"], tmo=60)
    assert n["status"] == "done" and n["bytes"] == MiB, n
    assert n["sha256"] == ENV.sha256("1m.bin"), n
    seq = notes.of(t["id"])
    st = [x["status"] for x in seq]
    assert "paused" in st, st
    p = seq[st.index("paused")]
    assert 0 < p["bytes"] < MiB, p
    again = [x for x in seq[st.index("paused"):] if x["status"] == "started"]
    assert again and again[0]["bytes"] == p["bytes"], seq
    # the pause lasted the window (3 test minutes, less the tick's slack)
    assert again[0]["time"] - p["time"] >= 2500, (p, again[0])
    log = w.log_text()
    assert "quiet hours begin" in log and "quiet hours end" in log, log
    assert "resuming at byte %d" % p["bytes"] in log, log
    w.stop()


def test_help_descriptions_line_up():
    """Every --help puts each option's description at column 25: an
    option too wide for the column (--quiet HH:MM-HH:MM[,...]) has it on
    the next line, never glued to its own text."""
    for prog in ("worker", "tasker", "middleman"):
        lines = run_program(prog, ["--help"]).stdout.decode().splitlines()
        opts = [i for i, l in enumerate(lines) if l.startswith("  --")]
        assert len(opts) > 4, (prog, lines)
        for i in opts:
            line = lines[i]
            if len(line) > 25 and line[24] == " " and line[25] != " ":
                continue  # option, padding, description
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            assert line.rstrip() == line and " " * 25 == nxt[:25] and nxt[25:26].strip(), \
                (prog, line, nxt)

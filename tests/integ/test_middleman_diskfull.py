"""The middleman's journal on a full disk (issue 11 item 2): a tiny tmpfs
holds the journal. While it is full, notifications are held unacknowledged
and retried (one log line per change of state, not one per notification),
more than the prefetch (256) of them do not stall the consumer for good,
and the middleman keeps serving what it has; once there is room again, a
`done` published while the disk was full reaches /tasks, and the journal
has it after a restart."""

import json
import os
import subprocess
import time

from harness import fresh_dir, http, http_json, timeout, wait_for
from test_middleman import S, note, publish_notes, start, start_middleman
import wsraw

MNT = None


def setup_module():
    global MNT
    MNT = fresh_dir("diskfull")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", MNT],
                       capture_output=True)
    if r.returncode != 0:
        MNT = None


def teardown_module():
    if MNT:
        subprocess.run(["umount", "-l", MNT])


def fill(path):
    """Writes path until the file system is full."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass


def full_after_one(journal, first):
    """A middleman with --journal MNT/journal that stored notification
    `first`, then the file system filled: (middleman, journal path, the
    filler file)."""
    assert MNT, "cannot mount a tmpfs (the test needs root)"
    path = os.path.join(MNT, journal)
    mm = start("--interval", "0", "--journal", path)
    publish_notes([note(first, "queued")])
    wait_for(lambda: task(mm.port, first), 10, "stored before the disk fills")
    filler = os.path.join(MNT, "filler")
    fill(filler)
    return mm, path, filler


def task(port, tid):
    st, _, t = http_json("GET", port, "/tasks/" + tid)
    return t if st == 200 else None


@timeout(180)
def test_journal_on_full_disk():
    mm, path, filler = full_after_one("j.journal", "before")
    # more than the prefetch while full, the done last
    publish_notes([note("f%d" % i, "queued") for i in range(300)] +
                  [note("full-done", "done", bytes=1, total=1)])
    mm.wait_log("journal: No space left on device: notifications held", 20)
    # it keeps serving what it has
    assert task(mm.port, "before")["status"] == "queued"
    assert task(mm.port, "full-done") is None
    assert http("GET", mm.port, "/health")[0] == 200
    c = wsraw.RawWS(mm.port)
    assert c.status == 101 and json.loads(c.recv_text())["id"] == "before"
    c.close()
    # retried with backoff (a few times in 3 s), logged once
    time.sleep(3)
    assert mm.log_text().count("No space left on device") == 1, mm.log_text()
    os.unlink(filler)
    mm.wait_log("journal: writable again", 30)
    wait_for(lambda: task(mm.port, "full-done"), 30, "the done stored after all")
    st, _, listed = http_json("GET", mm.port, "/tasks")
    assert len(listed) == 302, len(listed)
    assert [t["seq"] for t in listed] == [S(n) for n in range(1, 303)]
    assert mm.log_text().count("No space left on device") == 1
    mm.stop()
    mm = start_middleman("--interval", "0", "--journal", path)
    assert task(mm.port, "full-done")["status"] == "done"
    st, _, listed = http_json("GET", mm.port, "/tasks")
    assert len(listed) == 302
    mm.stop()


@timeout(180)
def test_disk_full_in_the_middle_of_an_array():
    """A message holding 40 notifications (the tasker gathers its `queued`
    ones) meets a disk with room for only some of them: those are stored,
    the rest wait, and once there is room every one is there once, each
    with its own seq, also after a restart."""
    mm, path, filler = full_after_one("a.journal", "first")
    os.truncate(filler, os.path.getsize(filler) - 4096)  # one page of room
    arr = [note("a%02d" % i, "queued", pad="p" * 200) for i in range(40)]
    publish_notes([json.dumps(arr)])
    mm.wait_log("journal: No space left on device: notifications held", 20)
    some = [i for i in range(40) if task(mm.port, "a%02d" % i)]
    assert 0 < len(some) < 40 and some == list(range(len(some))), some
    os.unlink(filler)
    mm.wait_log("journal: writable again", 30)
    wait_for(lambda: task(mm.port, "a39"), 30, "the rest stored")
    want = [("first", S(1))] + [("a%02d" % i, S(2) + i) for i in range(40)]
    st, _, listed = http_json("GET", mm.port, "/tasks")
    assert [(t["id"], t["seq"]) for t in listed] == want, listed
    assert "closed by the broker" not in mm.log_text(), mm.log_text()
    mm.stop()
    mm = start_middleman("--interval", "0", "--journal", path)
    st, _, listed = http_json("GET", mm.port, "/tasks")
    assert [(t["id"], t["seq"]) for t in listed] == want, listed
    mm.stop()

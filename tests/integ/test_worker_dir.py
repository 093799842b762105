"""A download folder shared with hostile users (issue 12 items 1-3): a
symbolic link to a victim file outside --dir planted under each name the
worker uses (.part, .meta, .done, .done.tmp, .wait, the final name), before
the task or while the server holds the response head; a planted done record
with a plausible file; --dir itself a symbolic link; orphaned bookkeeping
files swept at start. Each case checks the victim is byte for byte
unchanged, no final file is a link, and the task ends done with the right
SHA-256 or failed with a clear error. (The hook's clean environment is in
test_worker_mq.test_hook_status_and_environment and unit/test_hook.c.)"""

import hashlib
import os
import re
import threading
import time

from harness import ENV, fresh_dir, run_program, start_worker, timeout, wait_for
from harness import empty_tasks_and_notifications
from hostile import Script, _head
from test_worker_mq import Notes, new_task, send, settled

BODY = b"the real body\n" * 1000
SHA = hashlib.sha256(BODY).hexdigest()
SECRET = b"ssh-ed25519 AAAAC3Nza victim@elsewhere\n"


# every test starts and ends on an empty `tasks` and a fresh stream
setup_module = teardown_module = empty_tasks_and_notifications


def gated(gate, body=BODY, etag='"e1"'):
    """A response held until gate is set (20 s at most), with an ETag (so
    a .meta is written) and a Last-Modified."""
    def step(sock, req):
        gate.wait(20)
        sock.sendall(_head(200, [("ETag", etag),
                                 ("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
                                 ("Content-Length", str(len(body)))]) + body)
    return step


def victim():
    d = fresh_dir("victim")
    p = os.path.join(d, "authorized_keys")
    with open(p, "wb") as f:
        f.write(SECRET)
    return p


def intact(p):
    with open(p, "rb") as f:
        assert f.read() == SECRET, "the victim outside --dir was written"
    assert os.stat(p).st_nlink == 1


def plant(d, name, target):
    p = os.path.join(d, name)
    if os.path.lexists(p):
        os.unlink(p)
    os.symlink(target, p)


def links_in(d):
    return [f for f in os.listdir(d) if os.path.islink(os.path.join(d, f))]


def check_outcome(n, d):
    """done with the right digest and a real file in d, or failed clearly."""
    if n["status"] == "failed":
        assert re.search(r"replaced|removed|not a file", n["error"]), n
        return
    assert n["status"] == "done", n
    assert n["sha256"] == SHA, n
    f = n["file"]
    assert os.path.dirname(f) == os.path.realpath(d)
    assert not os.path.islink(f), "the final file is a link"
    with open(f, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == SHA


def case(w, notes, name, when, file="p.bin"):
    """One task; a link planted under name (with {id}) before the task or
    while the response head is held."""
    v = victim()
    gate = threading.Event()
    s = Script(gated(gate))
    t = new_task(s.url("/" + file))
    planted = name.format(id=t["id"])
    if when == "before":
        plant(w.dir, planted, v)
        gate.set()
    send(t)
    if when == "during":
        wait_for(lambda: s.requests, 15, "the request")
        plant(w.dir, planted, v)
        gate.set()
    n = notes.final(t["id"])
    intact(v)
    check_outcome(n, w.dir)
    wait_for(lambda: settled(), 15, "acked", interval=0.3)
    return n


@timeout(180)
def test_links_planted_under_every_name_before_and_during():
    notes = Notes()
    w = start_worker()
    outcomes = {}
    for name in (".{id}.part", ".{id}.meta", ".{id}.done", ".{id}.done.tmp",
                 ".{id}.wait", "p.bin"):
        for when in ("before", "during"):
            n = case(w, notes, name, when)
            outcomes[(name, when)] = n["status"]
            # only links the test planted at names the worker had no more
            # use for may remain (p.bin, a late .wait): none it made
            for f in links_in(w.dir):
                assert f == "p.bin" or f.endswith(".wait"), (name, when, links_in(w.dir))
    # A link swapped in for the .part mid-download fails the task clearly;
    # everything else is downloaded afresh and done.
    assert outcomes.pop((".{id}.part", "during")) in ("done", "failed")
    assert set(outcomes.values()) == {"done"}, outcomes
    assert "not a file this worker wrote" in w.log_text()
    w.stop()


@timeout(60)
def test_planted_done_record_never_settles():
    notes = Notes()
    w = start_worker()
    s = Script(gated(_set()))
    t = new_task(s.url("/q.bin"))
    # a plausible file and record, of another user (the worker is root here)
    f = os.path.join(w.dir, "q.bin")
    with open(f, "wb") as fh:
        fh.write(b"forged")
    rec = os.path.join(w.dir, ".%s.done" % t["id"])
    with open(rec, "w") as fh:
        fh.write("%s\n%s\n6\n%d\n" % (f, hashlib.sha256(b"forged").hexdigest(),
                                      os.stat(f).st_ino))
    if os.geteuid() == 0:
        os.chown(f, 65534, 65534)
        os.chown(rec, 65534, 65534)
    else:  # a hard link is as foreign: the record has two names
        os.link(rec, rec + ".x")
    send(t)
    n = notes.final(t["id"])
    assert n["status"] == "done" and n["sha256"] == SHA, n
    assert n["file"] != f and len(s.requests) == 1  # downloaded, not settled
    with open(f, "rb") as fh:
        assert fh.read() == b"forged"
    wait_for(lambda: settled(), 15, "acked", interval=0.3)
    wait_for(lambda: not os.path.exists(rec), 5, "our own done record cleared")
    w.stop()


def _set():
    e = threading.Event()
    e.set()
    return e


@timeout(60)
def test_dir_given_as_a_symlink_is_resolved_once():
    notes = Notes()
    real = fresh_dir("real")
    other = fresh_dir("other")
    link = os.path.join(fresh_dir("links"), "downloads")
    os.symlink(real, link)
    w = start_worker(dir=link, wait_log="downloading into")
    # the link moved elsewhere after start: the worker keeps its folder
    os.unlink(link)
    os.symlink(other, link)
    s = Script(gated(_set()))
    t = new_task(s.url("/r.bin"))
    send(t)
    n = notes.final(t["id"])
    assert n["status"] == "done" and n["file"] == os.path.join(real, "r.bin"), n
    assert os.listdir(other) == []
    wait_for(lambda: settled(), 15, "acked", interval=0.3)
    w.stop()


@timeout(60)
def test_dir_refused_at_start_without_proc():
    """The worker names --dir through /proc/self/fd (README, sizes): where
    /proc is not mounted (a mount namespace with an empty tmpfs on it) it
    refuses --dir at start, saying why, and exits non-zero; the same folder
    with /proc is taken. (Not under the sanitizers: their runtime reads
    /proc itself before main.)"""
    if ENV.sanitize:
        return
    d = fresh_dir("noproc")
    ns = ["--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    r = run_program("/usr/bin/unshare", ns + [
        "sh", "-c", 'mount -t tmpfs none /proc && exec "$@"', "sh",
        ENV.bin("worker"), "--amqp", ENV.amqp_url, "--dir", d], timeout=20)
    err = r.stderr.decode(errors="replace")
    assert r.returncode != 0, (r.returncode, err)
    assert "no absolute path from /proc/self/fd" in err and d in err, err
    w = start_worker(dir=d, wait_log="downloading into")
    w.stop()


@timeout(60)
def test_orphans_older_than_a_day_swept_at_start():
    d = fresh_dir("orphans")
    old_id = "0afe0000-0000-4000-8000-000000000000"
    new_id = "0afe1111-0000-4000-8000-000000000000"
    old = [".%s.%s" % (old_id, e) for e in ("part", "meta", "done", "wait")]
    new = [".%s.part" % new_id, "keep.bin", ".notes.part"]
    for f in old + new:
        with open(os.path.join(d, f), "w") as fh:
            fh.write("x")
    two_days = time.time() - 2 * 86400
    for f in old + ["keep.bin", ".notes.part"]:
        os.utime(os.path.join(d, f), (two_days, two_days))
    w = start_worker(dir=d)
    wait_for(lambda: not any(os.path.exists(os.path.join(d, f)) for f in old), 10,
             "orphans removed")
    assert sorted(os.listdir(d)) == sorted(new)
    assert w.log_text().count("by a task not held here") == 4
    w.stop()
    for f in new:  # the suite's own check for leftovers looks everywhere
        os.unlink(os.path.join(d, f))

"""The worker's limits (issue 13 items 3 and 4): --min-free, the disk guard,
on a small tmpfs (the tests run as root; skipped otherwise), and the option
checks of --min-free, --rate-limit and --quiet."""

import os
import subprocess
import tempfile

from harness import purge, run_program, start_worker, timeout
from hostile import Script, chunked, resp
from test_worker_mq import Notes, new_task, send

MiB = 1 << 20


def setup_module():
    purge("tasks")
    purge("notifications")


def teardown_module():
    purge("tasks")
    purge("notifications")


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
           ("--min-free", "1 M"), ("--min-free", "99999999999999999999G")]
    for opt, val in bad:
        r = run_program("worker", [opt, val])
        err = r.stderr.decode()
        assert r.returncode == 2, (opt, val, r)
        assert err.count("\n") == 1 and opt in err, (opt, val, err)
    r = run_program("worker", ["--help"])
    assert b"--min-free" in r.stdout, r.stdout
    r = run_program("worker", [], env={"WARREN_MIN_FREE": "5T"})
    assert r.returncode == 2 and b"--min-free" in r.stderr, r

"""Hostile bytes at the middleman (issue 12 item 5): a 20-digit seq in a
journal is refused (out of range), not wrapped; a notification at exactly
the size limit (64 KiB) is taken live and again on replay; a notification
that gives a key twice is refused. After each, the middleman still serves.
(The page and an id such as __proto__: test_middleman_browser.)"""

import json
import os
import zlib

from harness import SEQ_STRIDE, fresh_dir, http, http_json, wait_for
from test_middleman import S, note, publish_notes, start, start_middleman
import wsraw

NOTIFY_MAX_SIZE = 65536


def record(payload):
    """One journal record: LLLLLLLL CCCCCCCC payload\\n (journal.h)."""
    return b"%08x %08x " % (len(payload), zlib.crc32(payload)) + payload + b"\n"


def serves(port):
    assert http("GET", port, "/health")[0] == 200
    c = wsraw.RawWS(port)
    assert c.status == 101
    c.close()


def test_journal_seq_out_of_range():
    path = os.path.join(fresh_dir("journal"), "range.journal")
    good = b'{"id":"a","status":"queued","seq":1}'
    with open(path, "wb") as f:
        f.write(record(b"@ 0 1 %d" % SEQ_STRIDE))  # a position first: this version's
        f.write(record(good))
        for seq in (b"99999999999999999999", b"18446744073709551617",
                    b"9223372036854775808", b"9007199254740992"):
            f.write(record(b'{"id":"big","status":"done","seq":' + seq + b"}"))
    mm = start("--interval", "0", "--journal", path)
    log = mm.log_text()
    assert log.count("record skipped: bad \"seq\"") == 4, log
    st, _, t = http_json("GET", mm.port, "/tasks")
    assert [x["id"] for x in t] == ["a"], t
    assert http("GET", mm.port, "/tasks/big")[0] == 404
    # seq goes on from the last good one, not from a wrapped number: the
    # stream is read from the message of the journal's position (offset 0,
    # whose seq 1 was handled: skipped)
    publish_notes([note("behind", "queued"), note("next", "queued")])
    wait_for(lambda: http("GET", mm.port, "/tasks/next")[0] == 200, 10, "stored")
    assert http_json("GET", mm.port, "/tasks/next")[2]["seq"] == S(2)
    assert http("GET", mm.port, "/tasks/behind")[0] == 404
    serves(mm.port)
    mm.stop()


def test_size_limit_live_and_replay():
    path = os.path.join(fresh_dir("journal"), "size.journal")
    mm = start("--interval", "0", "--journal", path)
    head = json.dumps(note("max", "done"))[:-1] + ', "pad": "'
    exact = head + "x" * (NOTIFY_MAX_SIZE - len(head) - 2) + '"}'
    assert len(exact.encode()) == NOTIFY_MAX_SIZE
    over = head + "x" * (NOTIFY_MAX_SIZE - len(head) - 1) + '"}'
    publish_notes([exact, over, note("after", "queued")])
    wait_for(lambda: http("GET", mm.port, "/tasks/after")[0] == 200, 10, "stored")
    assert http("GET", mm.port, "/tasks/max")[0] == 200
    # refused one byte over (by mq.c before buffering, or by the store)
    log = mm.log_text()
    assert "notification over 65536 bytes" in log or "over the limit of 65536" in log, log
    serves(mm.port)
    mm.stop()
    # replayed: the same notification passes again (with its seq added)
    mm = start_middleman("--interval", "0", "--journal", path)
    assert "record skipped" not in mm.log_text(), mm.log_text()
    st, _, t = http_json("GET", mm.port, "/tasks/max")
    assert st == 200 and len(t["pad"]) > 65000
    assert [x["id"] for x in http_json("GET", mm.port, "/tasks")[2]] == ["max", "after"]
    mm.stop()


def test_duplicate_key_refused():
    mm = start("--interval", "0")
    publish_notes(['{"id":"x1","status":"queued","id":"x2"}',
                   '{"id":"y","status":"queued","status":"done"}',
                   '{"id":"z","status":"queued","n":1,"n":2}',
                   '{"id":"w","status":"queued","i\\u0064":"v"}',
                   note("ok", "queued")])
    wait_for(lambda: http("GET", mm.port, "/tasks/ok")[0] == 200, 10, "stored")
    assert mm.log_text().count("a key appears twice") == 4, mm.log_text()
    st, _, t = http_json("GET", mm.port, "/tasks")
    assert [x["id"] for x in t] == ["ok"] and t[0]["seq"] == S(5)  # offset 4
    serves(mm.port)
    mm.stop()

"""Integration tests of the tasker's control endpoints (issue 13 items 1-3,
../shared/INTERFACE.md "Control"): DELETE /task/<id> and POST /control
publish one message each to the stream `warren.control` and answer 202 only
once it is confirmed; every bad input gets 400 with a message that says what
is wrong, and the server keeps serving; wrong methods 405 with Allow; the
token; CORS for the middleman's page (preflight, and
Access-Control-Allow-Origin on every answer); 503 without a broker.

The good cases read the stream back (a consumer from `first`, manual acks)
and compare the message byte for byte with the 202's body or the id."""

import json
import re
import time
import uuid

from harness import (ENV, drain, free_port, get_all, http, http_json, purge,
                     raw_exchange, start_tasker)

CONTROL = "warren.control"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
_tasker = {}


# ---------------------------------------------------------------- the stream

def next_control(count=1):
    """The next count messages of warren.control after the harness's
    position: [(body, properties)]."""
    return get_all(CONTROL, count)


def as_obj(body):
    """A stream message as a dict ({} when not a JSON object)."""
    try:
        obj = json.loads(body)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


def assert_only_resumes():
    """What reached the stream since the last read: only the resumes that
    assert_serves sends (nothing refused was published)."""
    ops = [as_obj(b) for b, _ in drain(CONTROL)]
    assert all(o.get("op") == "resume" and list(o) == ["op", "time"] for o in ops), ops


def check_props(props):
    """Persistent JSON, with a fresh uuid as message_id."""
    assert props.delivery_mode == 2, props
    assert props.content_type == "application/json", props
    assert props.message_id and UUID.match(props.message_id), props


def check_time(ms):
    now = time.time() * 1000
    assert isinstance(ms, int) and now - 60000 < ms <= now + 1000, ms


# ---------------------------------------------------------------- helpers

def setup_module():
    purge(CONTROL)  # the harness reads it from its start


def teardown_module():
    # the pauses published here would stop every worker a later module
    # starts (a worker reads the stream from its start)
    purge(CONTROL)


def tasker(*args, amqp=None):
    """A tasker connected to the broker (one per argument list, reused)."""
    key = (args, amqp)
    p = _tasker.get(key)
    if p is None or not p.alive():
        p = start_tasker(*args, amqp=amqp, connected=amqp is None)
        _tasker[key] = p
    return p


def error_of(h, raw):
    """The message of a JSON error answer, asserting its shape."""
    assert h.get("content-type", "").startswith("application/json"), h
    obj = json.loads(raw.decode("utf-8"))
    assert isinstance(obj, dict) and list(obj) == ["error"], obj
    assert isinstance(obj["error"], str) and obj["error"], obj
    return obj["error"]


def assert_serves(port, headers=None):
    """The server still answers, and still publishes: a pause is confirmed."""
    st, _, obj = http_json("GET", port, "/health", headers=headers)
    assert st == 200 and obj == {"amqp": "up"}, (st, obj)
    st, _, raw = http("POST", port, "/control", body=b'{"op":"resume"}', headers=headers)
    assert st == 202, (st, raw)


def assert_refused(port, method, path, body, status, *fragments, headers=None):
    """The request gets status, CORS and a JSON error holding every fragment
    (case-sensitive: the messages quote keys); the server serves on."""
    st, h, raw = http(method, port, path, body=body, headers=headers)
    assert st == status, "%s %s %r: %d %r" % (method, path, body, st, raw)
    assert h.get("access-control-allow-origin") == "*", h
    msg = error_of(h, raw)
    for f in fragments:
        assert f in msg, "%s %s %r: error %r lacks %r" % (method, path, body, msg, f)
    assert_serves(port)
    return h, msg


# ---------------------------------------------------------------- cancel

def test_cancel_is_published_then_answered():
    p = tasker()
    drain(CONTROL)
    fresh = str(uuid.uuid4())
    for tid in (ID, fresh):  # an unknown task: 202 all the same
        st, h, raw = http("DELETE", p.port, "/task/" + tid)
        assert st == 202, (st, raw)
        assert h.get("access-control-allow-origin") == "*", h
        assert json.loads(raw) == {"id": tid, "status": "cancelling"}, raw
        [(body, props)] = next_control()
        msg = json.loads(body)
        assert list(msg) == ["op", "id", "time"], msg
        assert msg["op"] == "cancel" and msg["id"] == tid, msg
        check_time(msg["time"])
        check_props(props)


def test_cancel_bad_ids_are_400():
    p = tasker()
    assert_refused(p.port, "DELETE", "/task/", None, 400, "missing task id")
    for bad in ("xyz", ID.upper(), ID + "0", ID[:-1], ID.replace("-", ""),
                ID + "/x", "%30" + ID[1:], ID[:8] + "_" + ID[9:],
                "g" + ID[1:], "../health"):
        assert_refused(p.port, "DELETE", "/task/" + bad, None, 400,
                       "bad task id", "lowercase UUID")
    assert_only_resumes()


# ---------------------------------------------------------------- POST /control

def test_pause_resume_rate_are_published_as_answered():
    p = tasker()
    drain(CONTROL)
    for body, want in ((b'{"op":"pause"}', {"op": "pause"}),
                       (b' {"op" : "resume"}\n', {"op": "resume"}),
                       (b'{"op":"rate","limit":2000000}', {"op": "rate", "limit": 2000000}),
                       (b'{"limit":0,"op":"rate"}', {"op": "rate", "limit": 0})):
        st, h, raw = http("POST", p.port, "/control", body=body)
        assert st == 202, (body, st, raw)
        assert h.get("access-control-allow-origin") == "*", h
        answer = json.loads(raw)
        check_time(answer.pop("time"))
        assert answer == want, (body, raw)
        # what landed on the stream is the answer, byte for byte
        [(got, props)] = next_control()
        assert got == raw.rstrip(b"\n"), (got, raw)
        check_props(props)


BAD_CONTROL = (
    (b"pause", "body is not valid JSON"),
    (b"", "body is not valid JSON"),
    (b'{"op":"pause"', "body is not valid JSON"),
    (b'{"op":"pause",}', "body is not valid JSON"),
    (b'{"op":"pause"} {"op":"pause"}', "body is not valid JSON"),
    (b'[{"op":"pause"}]', "body must be a JSON object"),
    (b'"pause"', "body must be a JSON object"),
    (b"{}", 'missing key "op"'),
    (b'{"op":null}', '"op" must be a string'),
    (b'{"op":["pause"]}', '"op" must be a string'),
    (b'{"op":"stop"}', 'unknown "op" "stop": use "pause", "resume" or "rate"'),
    (b'{"op":"PAUSE"}', 'unknown "op" "PAUSE"'),
    (b'{"op":"marker","worker":"h:1","nonce":"00"}', 'unknown "op" "marker"'),
    (b'{"op":"cancel","id":"' + ID.encode() + b'"}', "DELETE /task/<id>"),
    (b'{"op":"pause","op":"resume"}', 'duplicate key "op"'),
    (b'{"op":"pause","force":true}', 'unknown key "force" for op "pause"'),
    (b'{"op":"resume","limit":5}', 'unknown key "limit" for op "resume"'),
    (b'{"op":"pause","time":5}', 'unknown key "time" for op "pause"'),
    (b'{"op":"rate"}', 'missing key "limit"'),
    (b'{"op":"rate","limit":-1}', '"limit" must not be negative'),
    (b'{"op":"rate","limit":1.5}', '"limit" must be a whole number'),
    (b'{"op":"rate","limit":2e6}', '"limit" must be a whole number'),
    (b'{"op":"rate","limit":"2000000"}', '"limit" must be an integer >= 0'),
    (b'{"op":"rate","limit":true}', '"limit" must be an integer >= 0'),
    (b'{"op":"rate","limit":null}', '"limit" must be an integer >= 0'),
    (b'{"op":"rate","limit":{}}', '"limit" must be an integer >= 0'),
    (b'{"op":"rate","limit":1234567890123456789}', '"limit" is too large'),
    (b'{"op":"rate","limit":1,"limit":2}', 'duplicate key "limit"'),
    (b'{"op":"rate","limit":1,"burst":2}', 'unknown key "burst" for op "rate"'),
)


def test_control_bad_bodies_are_400():
    p = tasker()
    drain(CONTROL)
    for body, fragment in BAD_CONTROL:
        assert_refused(p.port, "POST", "/control", body, 400, fragment)
    assert_only_resumes()


def test_refused_control_is_not_published():
    # the message after the refused bodies is the next good one
    p = tasker()
    drain(CONTROL)
    for body in (b'{"op":"rate","limit":7,"x":1}', b'{"op":"rate","limit":7.0}',
                 b'{"op":"rate","limit":7,"limit":7}'):
        assert http("POST", p.port, "/control", body=body)[0] == 400
    st, _, raw = http("POST", p.port, "/control", body=b'{"op":"rate","limit":8}')
    assert st == 202, (st, raw)
    [(got, _)] = next_control()
    assert got == raw.rstrip(b"\n"), (got, raw)
    assert drain(CONTROL) == []


# ---------------------------------------------------------------- methods, token

def test_wrong_methods_405_with_allow():
    p = tasker()
    for method, path, allow, use in (
            ("GET", "/control", "POST", "use POST for /control"),
            ("PUT", "/control", "POST", "use POST for /control"),
            ("DELETE", "/control", "POST", "use POST for /control"),
            ("GET", "/task/" + ID, "DELETE", "use DELETE for /task/<id>"),
            ("POST", "/task/" + ID, "DELETE", "use DELETE for /task/<id>"),
            ("PUT", "/task/" + ID, "DELETE", "use DELETE for /task/<id>"),
            ("DELETE", "/task", "POST", "use POST for /task"),
            ("DELETE", "/health", "GET", "use GET for /health")):
        h, _ = assert_refused(p.port, method, path, b"{}", 405, use)
        assert allow in h.get("allow", ""), (method, path, h)
        assert "OPTIONS" in h["allow"], h
    assert_refused(p.port, "DELETE", "/tasks/" + ID, None, 404, "no such path")
    assert_refused(p.port, "POST", "/control/", b'{"op":"pause"}', 404, "no such path")


def test_token_guards_control_not_preflight():
    p = tasker("--token", "s3cret")
    good = {"Authorization": "Bearer s3cret"}
    for method, path, body in (("DELETE", "/task/" + ID, None),
                               ("POST", "/control", b'{"op":"pause"}'),
                               ("POST", "/control", b"not even json")):
        for hdrs in ({}, {"Authorization": "Bearer wrong"}):
            st, h, raw = http(method, p.port, path, body=body, headers=hdrs)
            assert st == 401, (method, path, hdrs, st, raw)
            assert "bearer token" in error_of(h, raw)
            assert h.get("access-control-allow-origin") == "*", h
            assert h.get("www-authenticate") == "Bearer", h
    # a preflight carries no token: it is answered all the same
    st, h, _ = http("OPTIONS", p.port, "/control")
    assert st == 204 and "POST" in h["access-control-allow-methods"], (st, h)
    st, _, raw = http("DELETE", p.port, "/task/" + ID, headers=good)
    assert st == 202, (st, raw)
    st, _, raw = http("POST", p.port, "/control", body=b'{"op":"resume"}', headers=good)
    assert st == 202, (st, raw)
    assert_serves(p.port, headers=good)


# ---------------------------------------------------------------- CORS

def test_cors_preflight_and_every_answer():
    p = tasker()
    page = {"Origin": "http://127.0.0.1:8081", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"}
    for path, methods in (("/task", "POST"), ("/task/" + ID, "DELETE"),
                          ("/control", "POST"), ("/health", "GET")):
        st, h, raw = http("OPTIONS", p.port, path, headers=page)
        assert st == 204 and raw == b"", (path, st, raw)
        assert "content-length" not in h, h
        assert h.get("access-control-allow-origin") == "*", h
        assert methods in h.get("access-control-allow-methods", ""), h
        allowed = [x.strip().lower() for x in h["access-control-allow-headers"].split(",")]
        assert "authorization" in allowed and "content-type" in allowed, h
        assert int(h["access-control-max-age"]) > 0, h
    assert_refused(p.port, "OPTIONS", "/nowhere", None, 404, "no such path")
    # the answers a page may see carry it too: 202, 400, 404, 405, 413
    st, h, _ = http("POST", p.port, "/task", headers={"Origin": page["Origin"]},
                    body=json.dumps({"name": "cors", "arg": ENV.url("small.txt"),
                                     "taskType": "download"}))
    assert st == 202 and h.get("access-control-allow-origin") == "*", (st, h)
    out = raw_exchange(p.port, b"POST /control HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 50000000\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413 "), out
    assert b"\r\nAccess-Control-Allow-Origin: *\r\n" in out.split(b"\r\n\r\n")[0], out
    # and so do the server's own answers to malformed requests
    out = raw_exchange(p.port, b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 "), out
    assert b"\r\nAccess-Control-Allow-Origin: *\r\n" in out.split(b"\r\n\r\n")[0], out
    assert_serves(p.port)


# ---------------------------------------------------------------- no broker

def test_503_without_broker_but_400_first():
    p = tasker(amqp="amqp://guest:guest@127.0.0.1:%d" % free_port())
    for method, path, body in (("DELETE", "/task/" + ID, None),
                               ("POST", "/control", b'{"op":"pause"}'),
                               ("POST", "/control", b'{"op":"rate","limit":5}')):
        st, h, raw = http(method, p.port, path, body=body)
        assert st == 503, (method, path, st, raw)
        assert "unreachable" in error_of(h, raw)
        assert int(h["retry-after"]) > 0, h
        assert h.get("access-control-allow-origin") == "*", h
    # bad input is 400 whether or not the broker is there
    st, h, raw = http("DELETE", p.port, "/task/nope")
    assert st == 400 and "bad task id" in error_of(h, raw), (st, raw)
    st, h, raw = http("POST", p.port, "/control", body=b'{"op":"rate","limit":-3}')
    assert st == 400 and "negative" in error_of(h, raw), (st, raw)
    assert http("GET", p.port, "/health")[0] == 503
    assert p.alive()

"""Checks of the test environment itself: nginx, its certificates, the
private broker and the harness helpers the program tests rely on."""

import hashlib
import os
import socket
import ssl
import subprocess
import time

from harness import (ENV, TCPServer, broker_ctl, drain, free_port, get,
                     get_all, http, parse_responses, port_open, publish, purge,
                     queue_depth, raw_exchange, read_request, wait_for)

Q = "warren_harness_selftest"


def _curl(url, *extra):
    return subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                           "--cacert", ENV.ca_file] + list(extra) + [url],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=20)


def test_nginx_http_static_range_and_ipv6():
    st, h, body = http("GET", ENV.http_port, "/small.txt")
    assert st == 200, st
    with open(os.path.join(ENV.docroot, "small.txt"), "rb") as f:
        assert body == f.read()
    assert "etag" in h and "last-modified" in h, h
    st, h, body = http("GET", ENV.http_port, "/1m.bin", headers={"Range": "bytes=10-19"})
    assert st == 206 and len(body) == 10, (st, len(body))
    assert h["content-range"] == "bytes 10-19/1048576", h
    st, _, body = http("GET", ENV.http_port, "/1m.bin", host="::1")
    assert st == 200 and hashlib.sha256(body).hexdigest() == ENV.sha256("1m.bin")


def test_nginx_locations():
    st, h, _ = http("GET", ENV.http_port, "/redir/rel")
    assert st == 302 and h["location"] == "../small.txt", (st, h)
    st, h, _ = http("GET", ENV.http_port, "/retry-after/503")
    assert st == 503 and h["retry-after"] == "1", (st, h)
    st, h, _ = http("GET", ENV.http_port, "/disposition/evil")
    assert st == 200 and "../../etc/evil" in h["content-disposition"]
    st, _, _ = http("GET", ENV.http_port, "/auth/small.txt")
    assert st == 401
    st, _, _ = http("GET", ENV.http_port, "/auth/small.txt",
                    headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert st == 200


def test_tls_ports_verify_as_expected():
    assert _curl(ENV.url("small.txt", tls=True, host="localhost")).stdout == b"200"
    assert _curl(ENV.url("small.txt", tls=True, host="::1")).stdout == b"200"
    for port, why in ((ENV.https_wrong_port, b"subject name"),
                      (ENV.https_unknown_port, b"local issuer"),
                      (ENV.https_expired_port, b"expired")):
        r = _curl("https://localhost:%d/small.txt" % port)
        assert r.returncode == 60, (port, r.returncode, r.stderr)
        assert why in r.stderr, (port, r.stderr)


def test_amqp_publish_get_depth():
    purge(Q)
    publish(Q, {"n": 1}, properties={"content_type": "application/json",
                                     "message_id": "m1"})
    publish(Q, b"two")
    assert queue_depth(Q) == 2
    body, props = get(Q)
    assert body == b'{"n": 1}' and props.delivery_mode == 2
    assert props.content_type == "application/json" and props.message_id == "m1"
    assert [b for b, _ in get_all(Q, 1)] == [b"two"]
    assert get(Q, timeout=0.2) is None
    assert drain(Q) == []
    assert Q in broker_ctl("list_queues", "name")


def test_tcp_server_and_raw_exchange():
    def handler(sock, addr, server):
        req = read_request(sock)
        server.requests.append(req[0])
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
                     b"HTTP/1.1 204 No Content\r\n\r\n")
    srv = TCPServer(handler)
    data = raw_exchange(srv.port, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", 1)
    resp = parse_responses(data)
    assert [(s, b) for s, _, b in resp] == [(200, b"hi"), (204, b"")], resp
    assert srv.requests == ["GET /x HTTP/1.1"] and srv.connections == 1
    srv.stop()
    assert not port_open(srv.port)


def test_tls_tcp_server_uses_test_pki():
    def handler(sock, addr, server):
        read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    srv = TCPServer(handler, tls="localhost")
    ctx = ssl.create_default_context(cafile=ENV.ca_file)
    with socket.create_connection(("127.0.0.1", srv.port), 5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200")


def test_wait_for_names_what_it_waited_for():
    t0 = time.monotonic()
    try:
        wait_for(lambda: False, 0.2, "the impossible")
    except AssertionError as e:
        assert "the impossible" in str(e)
    else:
        raise AssertionError("wait_for did not raise")
    assert time.monotonic() - t0 < 2
    assert not port_open(free_port())


def test_broker_outage_and_recovery():
    from harness import broker_start_app, broker_stop_app
    broker_stop_app()
    try:
        assert not port_open(ENV.amqp_port)
    finally:
        broker_start_app()
    purge(Q)
    publish(Q, b"after")
    assert get(Q)[0] == b"after"


def test_second_broker_with_short_consumer_timeout():
    from harness import Broker
    b = Broker(20, consumer_timeout_ms=2000).start()
    assert "{ok,2000}" in b.ctl("eval", "application:get_env(rabbit, consumer_timeout).")
    purge("tasks", url=b.url)
    publish("tasks", b"x", url=b.url)
    assert queue_depth("tasks", url=b.url) == 1
    b.stop()
    assert not port_open(b.port)

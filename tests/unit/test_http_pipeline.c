/*
 * test_http_pipeline - the server's pipelining with deferred answers
 * (http_defer / http_resume): answers leave in request order whatever
 * order the handler gives them in, a deferred request does not hold up the
 * next, parsing pauses at HTTP_MAX_PIPELINE owed answers, and a deferred
 * `Connection: close` request ends the pipeline. Streamed answers
 * (http_respond_source): sent from the source's memory only as the
 * client reads them, the pipeline after them answered once they are all
 * out, 503 behind a deferred answer still owed, not read at all for HEAD; a
 * source shorter or longer than announced closes the connection, and
 * every source is freed once, the client gone or not.
 *
 * A real server on 127.0.0.1 and a blocking client socket; the loop is
 * turned by hand.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "check.h"
#include "client.h"
#include "config.h"
#include "http.h"
#include "loop.h"

/* The handler: /d/<n> is deferred (its ticket kept), anything else is
 * answered at once with its path as the body. */
struct srv {
	loop_t *loop;
	http_server_t *http;
	uint64_t tickets[64];
	char names[64][16];
	int deferred, calls;
};

static int resume(struct srv *s, int i);

/* A streamed body of `total` bytes, 'a' to 'z' over and over, in pieces
 * of up to 4 KB pointing into one pattern; ends halfway (`fail`) or a
 * byte short (`lie`) or goes on 1000 bytes longer (`long`). */
struct src {
	size_t total, sent, end;
	char pat[4096 + 26];
};
static size_t produced, sources_live;

static int src_gather(void *arg, struct iovec *iov, int max)
{
	struct src *g = arg;
	int n = 0;
	for (size_t pos = g->sent; pos < g->end && n < max; n++) {
		size_t len = g->end - pos < 4096 ? g->end - pos : 4096;
		iov[n].iov_base = g->pat + pos % 26;
		iov[n].iov_len = len;
		pos += len;
	}
	return n;
}

static void src_advance(void *arg, size_t n)
{
	struct src *g = arg;
	g->sent += n;
	produced += n;
}

static void src_drop(void *arg)
{
	sources_live--;
	free(arg);
}

/* /s/N, /fail/N, /lie/N, /long/N: a streamed answer of N bytes. */
static int streamed(http_conn_t *c, const struct http_request *r)
{
	static const char *const kinds[] = { "/s/", "/fail/", "/lie/", "/long/" };
	for (int k = 0; k < 4; k++) {
		size_t kl = strlen(kinds[k]);
		if (r->path_len <= kl || memcmp(r->path, kinds[k], kl))
			continue;
		struct src *g = calloc(1, sizeof(*g));
		if (!g)
			return 0;
		g->total = g->end = strtoul(r->path + kl, NULL, 10);
		if (k == 1)
			g->end = g->total / 2;
		if (k == 2)
			g->end = g->total - 1;
		if (k == 3)
			g->end = g->total + 1000;
		for (size_t i = 0; i < sizeof(g->pat); i++)
			g->pat[i] = (char)('a' + i % 26);
		sources_live++;
		struct http_source src = { src_gather, src_advance, src_drop, g };
		http_respond_source(c, 200, "text/plain", g->total, &src);
		return 1;
	}
	return 0;
}

static void handler(http_conn_t *c, const struct http_request *r, void *arg)
{
	struct srv *s = arg;
	s->calls++;
	if (r->path_len == 5 && !memcmp(r->path, "/nest", 5)) {
		/* answering another connection's request from inside this
		 * handler (as a failed publish answers the waiting ones) */
		resume(s, 0);
		http_respond(c, 200, "text/plain", r->path, r->path_len, NULL);
		return;
	}
	if (r->path_len == 3 && !memcmp(r->path, "/up", 3)) {
		/* a protocol switch: the socket leaves the server */
		buf_t rest = BUF_INIT;
		int fd = http_detach(c, &rest);
		if (fd >= 0) {
			static const char up[] = "HTTP/1.1 101 Switching Protocols\r\n\r\nUP";
			CHECK_INT(send(fd, up, sizeof(up) - 1, 0), (long long)sizeof(up) - 1);
			close(fd);
		}
		buf_free(&rest);
		return;
	}
	if (streamed(c, r))
		return;
	if (r->path_len > 3 && !memcmp(r->path, "/d/", 3) && s->deferred < 64) {
		snprintf(s->names[s->deferred], sizeof(s->names[0]), "%.*s",
			 (int)(r->path_len - 3), r->path + 3);
		s->tickets[s->deferred++] = http_defer(c);
		return;
	}
	http_respond(c, 200, "text/plain", r->path, r->path_len, NULL);
}

static void turn(struct srv *s)
{
	for (int i = 0; i < 20; i++)
		loop_once(s->loop, 5);
}

/* Answers deferred request i with its name as the body; 0, or -1 when its
 * connection is gone. */
static int resume(struct srv *s, int i)
{
	http_conn_t *c = http_resume(s->http, s->tickets[i]);
	if (!c)
		return -1;
	http_respond(c, 200, "text/plain", s->names[i], strlen(s->names[i]), NULL);
	return 0;
}

static void send_all(int fd, const char *s)
{
	size_t n = strlen(s);
	CHECK_INT(send(fd, s, n, 0), (long long)n);
}

/* What the server sent so far (without waiting), appended to got. */
static size_t drain(int fd, char *got, size_t cap, size_t have)
{
	for (;;) {
		ssize_t n = recv(fd, got + have, cap - 1 - have, MSG_DONTWAIT);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	got[have] = 0;
	return have;
}

/* The bodies of the responses in got, joined with '|' ("!" for a closed
 * connection is added by the caller). Content-Length framing only. */
static void bodies(const char *got, char *out, size_t cap)
{
	out[0] = 0;
	const char *p = got;
	while ((p = strstr(p, "HTTP/1.1 "))) {
		const char *cl = strstr(p, "Content-Length: ");
		const char *end = strstr(p, "\r\n\r\n");
		if (!cl || !end)
			break;
		int len = atoi(cl + 16);
		end += 4;
		if ((size_t)len <= strlen(end)) {
			size_t o = strlen(out);
			snprintf(out + o, cap - o, "%s%.*s", o ? "|" : "", len, end);
		}
		p = end + len;
	}
}

static void test_answers_in_request_order(struct srv *s, int port)
{
	int fd = tcp_client(port);
	char got[8192], seen[512];
	size_t have = 0;
	s->deferred = s->calls = 0;
	send_all(fd, "GET /d/a HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /now HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /d/b HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /d/c HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
	turn(s);
	/* every request reached the handler although /d/a is still owed */
	CHECK_INT(s->calls, 5);
	CHECK_INT(s->deferred, 3);
	/* answered last first: nothing may leave before /d/a's answer */
	CHECK_INT(resume(s, 2), 0);
	CHECK_INT(resume(s, 1), 0);
	turn(s);
	have = drain(fd, got, sizeof(got), have);
	CHECK_INT(have, 0);
	CHECK_INT(resume(s, 0), 0);
	turn(s);
	have = drain(fd, got, sizeof(got), have);
	bodies(got, seen, sizeof(seen));
	CHECK_STR(seen, "a|/now|b|c|/later");
	/* a ticket answered already resumes nothing */
	CHECK(http_resume(s->http, s->tickets[0]) == NULL);
	close(fd);
}

static void test_pipeline_bound(struct srv *s, int port)
{
	int fd = tcp_client(port);
	char req[64], got[65536], seen[4096];
	s->deferred = s->calls = 0;
	for (int i = 0; i < HTTP_MAX_PIPELINE + 4; i++) {
		snprintf(req, sizeof(req), "GET /d/%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
		send_all(fd, req);
	}
	turn(s);
	/* one slot stays free for the answer of the request being read */
	CHECK_INT(s->calls, HTTP_MAX_PIPELINE - 1);
	CHECK_INT(resume(s, 0), 0);
	turn(s);
	CHECK_INT(s->calls, HTTP_MAX_PIPELINE);
	for (int i = 1; i < HTTP_MAX_PIPELINE + 4; i++) {
		turn(s);
		if (i < s->deferred)
			CHECK_INT(resume(s, i), 0);
	}
	turn(s);
	CHECK_INT(s->calls, HTTP_MAX_PIPELINE + 4);
	for (int i = 0; i < s->deferred; i++)
		if (http_resume(s->http, s->tickets[i]))
			resume(s, i);
	turn(s);
	size_t have = drain(fd, got, sizeof(got), 0);
	bodies(got, seen, sizeof(seen));
	char want[4096] = "";
	for (int i = 0; i < HTTP_MAX_PIPELINE + 4; i++) {
		size_t o = strlen(want);
		snprintf(want + o, sizeof(want) - o, "%s%d", i ? "|" : "", i);
	}
	CHECK_STR(seen, want);
	CHECK(have > 0);
	close(fd);
}

static void test_deferred_close_ends_the_pipeline(struct srv *s, int port)
{
	int fd = tcp_client(port);
	char got[8192], seen[512];
	s->deferred = s->calls = 0;
	send_all(fd, "GET /d/x HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /d/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
		     "GET /never HTTP/1.1\r\nHost: x\r\n\r\n");
	turn(s);
	CHECK_INT(s->calls, 2); /* nothing parsed after the closing request */
	CHECK_INT(resume(s, 1), 0);
	CHECK_INT(resume(s, 0), 0);
	turn(s);
	size_t have = drain(fd, got, sizeof(got), 0);
	bodies(got, seen, sizeof(seen));
	CHECK_STR(seen, "x|last");
	CHECK(strstr(got, "Connection: close") != NULL);
	char c;
	CHECK_INT(recv(fd, &c, 1, 0), 0); /* closed by the server */
	CHECK(have > 0);
	close(fd);
}

static void test_client_gone_while_owed(struct srv *s, int port)
{
	int fd = tcp_client(port);
	s->deferred = s->calls = 0;
	send_all(fd, "GET /d/1 HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /d/2 HTTP/1.1\r\nHost: x\r\n\r\n");
	turn(s);
	CHECK_INT(s->deferred, 2);
	close(fd);
	turn(s);
	/* the connection stays for its owed answers, which then go nowhere */
	resume(s, 1);
	resume(s, 0);
	turn(s);
	CHECK_INT(http_server_conns(s->http), 0);
}

/* Issue 11 item 7: an answer given from inside another connection's
 * handler must not dispatch that connection's next request there and
 * then (a nested dispatch made the outer request look detached, and its
 * client got no answer). */
static void test_answer_from_a_handler_does_not_nest(struct srv *s, int port)
{
	int b = tcp_client(port), a = tcp_client(port);
	char req[64], got[65536], seen[4096];
	s->deferred = s->calls = 0;
	/* b: more deferred requests than the pipeline bound: the rest wait */
	for (int i = 0; i < HTTP_MAX_PIPELINE + 1; i++) {
		snprintf(req, sizeof(req), "GET /d/%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
		send_all(b, req);
	}
	turn(s);
	CHECK_INT(s->calls, HTTP_MAX_PIPELINE - 1);
	send_all(a, "GET /nest HTTP/1.1\r\nHost: x\r\n\r\n");
	turn(s);
	size_t have = drain(a, got, sizeof(got), 0);
	bodies(got, seen, sizeof(seen));
	CHECK_STR(seen, "/nest");
	CHECK(have > 0);
	/* b goes on: its waiting requests are dispatched from the loop */
	CHECK_INT(s->calls, HTTP_MAX_PIPELINE + 1);
	for (int i = 1; i < s->deferred; i++)
		resume(s, i);
	turn(s);
	for (int i = 0; i < s->deferred; i++)
		if (http_resume(s->http, s->tickets[i]))
			resume(s, i);
	turn(s);
	have = drain(b, got, sizeof(got), 0);
	bodies(got, seen, sizeof(seen));
	char want[4096] = "";
	for (int i = 0; i < HTTP_MAX_PIPELINE + 1; i++) {
		size_t o = strlen(want);
		snprintf(want + o, sizeof(want) - o, "%s%d", i ? "|" : "", i);
	}
	CHECK_STR(seen, want);
	/* the server still answers a and b */
	send_all(a, "GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
	turn(s);
	have = drain(a, got, sizeof(got), 0);
	bodies(got, seen, sizeof(seen));
	CHECK_STR(seen, "/again");
	close(a);
	close(b);
	turn(s);
}

/* Issue 11 item 8: answers owed before an upgrade request (one given at
 * once, one deferred) are sent before the socket leaves the server. */
static void test_answers_before_an_upgrade_are_sent(struct srv *s, int port)
{
	int fd = tcp_client(port);
	char got[8192] = "";
	s->deferred = s->calls = 0;
	send_all(fd, "GET /now HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /d/late HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\n\r\n");
	turn(s);
	CHECK_INT(s->calls, 2); /* the upgrade waits for /d/late's answer */
	CHECK_INT(resume(s, 0), 0);
	turn(s);
	CHECK_INT(s->calls, 3);
	size_t have = 0;
	for (int i = 0; i < 50 && !strstr(got, "UP"); i++) {
		have = drain(fd, got, sizeof(got), have);
		turn(s);
	}
	const char *now = strstr(got, "/now"), *late = strstr(got, "late");
	const char *up = strstr(got, "101 Switching");
	CHECK(now && late && up && now < late && late < up);
	close(fd);
}

/* The body of the one response in got[0..have): its length, 0 when it is
 * not all there; checks its bytes are the source's pattern. */
static size_t pattern_body(const char *got, size_t have, size_t *body_at)
{
	const char *end = strstr(got, "\r\n\r\n");
	const char *cl = strstr(got, "Content-Length: ");
	if (!end || !cl)
		return 0;
	size_t len = strtoul(cl + 16, NULL, 10), at = (size_t)(end + 4 - got);
	*body_at = at;
	if (have < at + len)
		return 0;
	size_t bad = 0;
	for (size_t i = 0; i < len; i++)
		bad += got[at + i] != (char)('a' + i % 26);
	CHECK_INT(bad, 0);
	return len;
}

/* A 32 MB answer to a client that does not read is produced only as far
 * as the socket takes it; read, it is whole, and the request pipelined
 * after it is answered after it. */
static void test_streamed_answer_follows_the_reader(struct srv *s, int port)
{
	enum { BIG = 32 << 20 };
	int fd = tcp_client(port);
	produced = 0;
	send_all(fd, "GET /s/33554432 HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
	s->calls = 0;
	for (int i = 0; i < 10; i++)
		turn(s);
	/* the socket buffers (a few MB on loopback), not the answer */
	CHECK(produced > 0 && produced < BIG / 4);
	CHECK_INT(s->calls, 1); /* /after waits behind it */
	CHECK_INT(sources_live, 1);
	char *got = malloc(BIG + 4096);
	size_t have = 0, at = 0, len = 0;
	for (int i = 0; i < 100000; i++) {
		have = drain(fd, got, BIG + 4096, have);
		if (!len)
			len = pattern_body(got, have, &at);
		if (len && strstr(got + at + len, "/after"))
			break;
		loop_once(s->loop, 1);
	}
	CHECK_INT(len, BIG);
	CHECK_INT(produced, BIG);
	CHECK_INT(sources_live, 0);
	CHECK_INT(s->calls, 2);
	CHECK(have > at + BIG && strstr(got + at + BIG, "\r\n\r\n/after") != NULL);
	free(got);
	close(fd);
}

/* HEAD: the head alone, nothing read; behind a deferred request still
 * owed: 503, in order; Connection: close: all of it, then closed. */
static void test_streamed_answer_head_owed_and_close(struct srv *s, int port)
{
	int fd = tcp_client(port);
	char got[65536], seen[4096];
	s->deferred = s->calls = 0;
	produced = 0;
	send_all(fd, "HEAD /s/1000 HTTP/1.1\r\nHost: x\r\n\r\n");
	turn(s);
	size_t have = drain(fd, got, sizeof(got), 0);
	CHECK(strstr(got, "Content-Length: 1000\r\n") != NULL);
	CHECK(have > 4 && !memcmp(got + have - 4, "\r\n\r\n", 4));
	CHECK_INT(produced, 0);
	CHECK_INT(sources_live, 0);
	send_all(fd, "GET /d/first HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /s/20000 HTTP/1.1\r\nHost: x\r\n\r\n");
	turn(s);
	CHECK_INT(sources_live, 0);
	CHECK_INT(resume(s, 0), 0);
	turn(s);
	have = drain(fd, got, sizeof(got), 0);
	bodies(got, seen, sizeof(seen));
	CHECK_STR(seen, "first|{\"error\":\"cannot stream behind a deferred "
		  "answer\"}\n");
	CHECK(strstr(got, "HTTP/1.1 503 ") != NULL);
	close(fd);
	fd = tcp_client(port);
	send_all(fd, "GET /s/30 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	turn(s);
	have = drain(fd, got, sizeof(got), 0);
	bodies(got, seen, sizeof(seen));
	CHECK_STR(seen, "abcdefghijklmnopqrstuvwxyzabcd");
	char c;
	CHECK_INT(recv(fd, &c, 1, 0), 0); /* closed after it */
	CHECK_INT(sources_live, 0);
	CHECK(have > 30);
	close(fd);
}

/* A source that ends short of its announced length closes the connection
 * after what it had; one that goes on longer, before sending any of it;
 * one whose client leaves is freed; the server goes on serving. */
static void test_streamed_answer_failures(struct srv *s, int port)
{
	static const char *const paths[] = { "/fail/100000", "/lie/100000",
					     "/long/100000" };
	char got[262144], seen[64];
	for (int k = 0; k < 3; k++) {
		int fd = tcp_client(port);
		char req[64];
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[k]);
		send_all(fd, req);
		size_t have = 0, at = 0;
		ssize_t n = 1;
		for (int i = 0; i < 200 && n != 0; i++) {
			turn(s);
			n = recv(fd, got + have, sizeof(got) - 1 - have, MSG_DONTWAIT);
			if (n > 0)
				have += (size_t)n;
		}
		got[have] = 0;
		CHECK_INT(n, 0); /* closed by the server */
		CHECK_INT(pattern_body(got, have, &at), 0); /* short */
		CHECK(k == 2 ? have == at : have > at && have < at + 100000);
		CHECK_INT(sources_live, 0);
		close(fd);
	}
	int fd = tcp_client(port);
	send_all(fd, "GET /s/33554432 HTTP/1.1\r\nHost: x\r\n\r\n");
	turn(s);
	CHECK_INT(sources_live, 1);
	close(fd);
	for (int i = 0; i < 10 && sources_live; i++)
		turn(s);
	CHECK_INT(sources_live, 0);
	fd = tcp_client(port);
	send_all(fd, "GET /still HTTP/1.1\r\nHost: x\r\n\r\n");
	turn(s);
	drain(fd, got, sizeof(got), 0);
	bodies(got, seen, sizeof(seen));
	CHECK_STR(seen, "/still");
	close(fd);
}

int main(void)
{
	struct srv s = { 0 };
	signal(SIGPIPE, SIG_IGN); /* as the programs do: see http_respond_source */
	char err[128];
	s.loop = loop_new();
	struct http_server_config cfg = { "127.0.0.1:0", 8, handler, &s, 0 };
	s.http = http_server_new(s.loop, &cfg, err, sizeof(err));
	if (!s.loop || !s.http) {
		fprintf(stderr, "server: %s\n", err);
		return 2;
	}
	int port = http_server_port(s.http);
	test_answers_in_request_order(&s, port);
	test_pipeline_bound(&s, port);
	test_deferred_close_ends_the_pipeline(&s, port);
	test_client_gone_while_owed(&s, port);
	test_answer_from_a_handler_does_not_nest(&s, port);
	test_answers_before_an_upgrade_are_sent(&s, port);
	test_streamed_answer_follows_the_reader(&s, port);
	test_streamed_answer_head_owed_and_close(&s, port);
	test_streamed_answer_failures(&s, port);
	http_server_free(s.http);
	loop_free(s.loop);
	return check_report();
}

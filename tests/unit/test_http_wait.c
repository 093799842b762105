/*
 * test_http_wait - a body the program has no room for waits (the body
 * reader's begin answers -1): its request is not read on, gets no
 * `100 Continue`, and is not asked again until the program calls
 * http_server_room_for_bodies(); then the one waiting longest goes first,
 * and the next ones follow while there is room. A request that waits
 * HTTP_OVERLOAD_S is answered 503 with Retry-After and closed; a client
 * that leaves while waiting is forgotten. Other requests are served
 * throughout.
 *
 * A real server on 127.0.0.1 and blocking client sockets; the loop is
 * turned by hand.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "client.h"
#include "config.h"
#include "http.h"
#include "loop.h"

/* The program: bodies of POST /r take their announced length from a room
 * of `room` bytes, kept after the answer until release(). */
struct body {
	uint64_t len, got;
};

struct srv {
	loop_t *loop;
	http_server_t *http;
	uint64_t room;
	int asked;               /* calls of begin for /r */
	struct body *held[8];    /* answered, room not yet given back */
	int nheld;
};

static int begin(const struct http_request *req, uint64_t len, void *arg, void **state)
{
	struct srv *s = arg;
	if (!http_path_is(req, "/r"))
		return 0;
	s->asked++;
	if (len > s->room)
		return -1;
	struct body *b = calloc(1, sizeof(*b));
	if (!b)
		return 0;
	b->len = len;
	s->room -= len;
	*state = b;
	return 1;
}

static void feed(void *state, const char *data, size_t len)
{
	(void)data;
	((struct body *)state)->got += len;
}

static struct srv *dropping; /* the server a dropped body gives room back to */

static void drop(void *state)
{
	struct body *b = state;
	dropping->room += b->len;
	free(b);
	http_server_room_for_bodies(dropping->http);
}

static const struct http_body_reader reader = { begin, feed, drop };

static void handler(http_conn_t *c, const struct http_request *r, void *arg)
{
	struct srv *s = arg;
	char msg[64];
	int n;
	if (r->body_state) {
		struct body *b = r->body_state;
		n = snprintf(msg, sizeof(msg), "took %llu", (unsigned long long)b->got);
		s->held[s->nheld++] = b;
	} else {
		n = snprintf(msg, sizeof(msg), "%.*s", (int)r->path_len, r->path);
	}
	http_respond(c, 200, "text/plain", msg, (size_t)n, NULL);
}

/* Gives back the room of the oldest held body. */
static void release(struct srv *s)
{
	struct body *b = s->held[0];
	memmove(s->held, s->held + 1, (size_t)--s->nheld * sizeof(s->held[0]));
	s->room += b->len;
	free(b);
	http_server_room_for_bodies(s->http);
}

static void turn(struct srv *s, int ms)
{
	for (int i = 0; i < ms / 5; i++)
		loop_once(s->loop, 5);
}

enum { WHOLE, EXPECT, HEAD_ONLY };

/* POST /r announcing a body of len bytes ('x'): sent whole, or the head
 * alone, with Expect: 100-continue or without. */
static int post(int port, size_t len, int how)
{
	int expect = how == EXPECT;
	char head[160], body[256];
	int fd = tcp_client(port);
	int n = snprintf(head, sizeof(head), "POST /r HTTP/1.1\r\nHost: x\r\n%s"
			 "Content-Length: %zu\r\n\r\n",
			 expect ? "Expect: 100-continue\r\n" : "", len);
	CHECK_INT(send(fd, head, (size_t)n, 0), n);
	if (how == WHOLE) {
		memset(body, 'x', len);
		CHECK_INT(send(fd, body, len, 0), (long long)len);
	}
	return fd;
}

/* What the server sent so far (without waiting); "" when nothing, and
 * "closed" appended when it closed. */
static const char *got(int fd, char *buf, size_t cap)
{
	size_t have = 0;
	for (;;) {
		ssize_t n = recv(fd, buf + have, cap - 1 - have, MSG_DONTWAIT);
		if (n == 0) {
			snprintf(buf + have, cap - have, "closed");
			return buf;
		}
		if (n < 0)
			break;
		have += (size_t)n;
	}
	buf[have] = 0;
	return buf;
}

static int answered(const char *text, const char *status, const char *body)
{
	const char *end = strstr(text, "\r\n\r\n");
	return !strncmp(text, status, strlen(status)) && end && !strcmp(end + 4, body);
}

/* A room of room bytes, all taken by a body that was answered and is
 * still held: the connection that sent it. */
static int fill_room(struct srv *s, int port, uint64_t room)
{
	char buf[4096], want[32];
	s->room = room;
	int fd = post(port, (size_t)room, WHOLE);
	turn(s, 100);
	snprintf(want, sizeof(want), "took %llu", (unsigned long long)room);
	CHECK(answered(got(fd, buf, sizeof(buf)), "HTTP/1.1 200", want));
	return fd;
}

static void test_waits_then_oldest_first(struct srv *s, int port)
{
	char buf[4096];
	s->asked = 0;
	int a = fill_room(s, port, 60);
	s->room = 40;
	/* no room for 50 while the 60 are held: both wait, unread */
	int b = post(port, 50, WHOLE);
	turn(s, 50);
	int c = post(port, 50, WHOLE);
	turn(s, 100);
	CHECK_STR(got(b, buf, sizeof(buf)), "");
	CHECK_STR(got(c, buf, sizeof(buf)), "");
	CHECK_INT(s->asked, 3);
	/* a request without a body reader's body is served meanwhile */
	int g = tcp_client(port);
	CHECK_INT(send(g, "GET /now HTTP/1.1\r\nHost: x\r\n\r\n", 30, 0), 30);
	turn(s, 50);
	CHECK(answered(got(g, buf, sizeof(buf)), "HTTP/1.1 200", "/now"));
	/* asked again only once room is given back: not at every sweep */
	turn(s, 1200);
	CHECK_INT(s->asked, 3);
	/* the 60 back: b (the older) goes first, then c fits too */
	release(s);
	turn(s, 100);
	CHECK(answered(got(b, buf, sizeof(buf)), "HTTP/1.1 200", "took 50"));
	CHECK(answered(got(c, buf, sizeof(buf)), "HTTP/1.1 200", "took 50"));
	CHECK_INT(s->asked, 5);
	release(s);
	release(s);
	CHECK_INT(s->room, 100);
	/* kept alive: the next request on b is served */
	CHECK_INT(send(b, "GET /again HTTP/1.1\r\nHost: x\r\n\r\n", 32, 0), 32);
	turn(s, 50);
	CHECK(answered(got(b, buf, sizeof(buf)), "HTTP/1.1 200", "/again"));
	close(a);
	close(b);
	close(c);
	close(g);
}

static void test_no_continue_while_waiting(struct srv *s, int port)
{
	char buf[4096];
	int a = fill_room(s, port, 10);
	int b = post(port, 20, EXPECT);
	turn(s, 100);
	CHECK_STR(got(b, buf, sizeof(buf)), ""); /* no 100 Continue yet */
	s->room = 20; /* as if held elsewhere; the held 10 go back too */
	release(s);
	turn(s, 100);
	CHECK_STR(got(b, buf, sizeof(buf)), "HTTP/1.1 100 Continue\r\n\r\n");
	char body[20];
	memset(body, 'y', sizeof(body));
	CHECK_INT(send(b, body, sizeof(body), 0), 20);
	turn(s, 100);
	CHECK(answered(got(b, buf, sizeof(buf)), "HTTP/1.1 200", "took 20"));
	release(s);
	s->room = 100;
	close(a);
	close(b);
}

static void test_client_gone_while_waiting(struct srv *s, int port)
{
	char buf[4096];
	int a = fill_room(s, port, 40);
	int gone = post(port, 30, HEAD_ONLY);
	turn(s, 50);
	int b = post(port, 30, WHOLE);
	turn(s, 50);
	/* seen only once it is let in and read on: a truncated body, whose
	 * room goes back at once, to b */
	close(gone);
	release(s);
	turn(s, 200);
	CHECK(answered(got(b, buf, sizeof(buf)), "HTTP/1.1 200", "took 30"));
	CHECK_INT(s->nheld, 1);
	release(s);
	CHECK_INT(s->room, 40);
	s->room = 100;
	close(a);
	close(b);
}

static void test_503_after_waiting_too_long(struct srv *s, int port)
{
	char buf[4096];
	int a = fill_room(s, port, 10);
	int b = post(port, 20, WHOLE);
	turn(s, (HTTP_OVERLOAD_S - 1) * 1000);
	CHECK_STR(got(b, buf, sizeof(buf)), "");
	turn(s, 2500);
	const char *text = got(b, buf, sizeof(buf));
	CHECK(!strncmp(text, "HTTP/1.1 503 ", 13));
	CHECK(strstr(text, "Retry-After: ") != NULL);
	CHECK(strstr(text, "Connection: close\r\n") != NULL);
	CHECK(strstr(text, "too many requests at once") != NULL);
	CHECK(strstr(text, "}\nclosed") != NULL);
	/* the room given back later wakes nobody, and the server serves */
	release(s);
	CHECK_INT(send(a, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n", 32, 0), 32);
	turn(s, 100);
	CHECK(answered(got(a, buf, sizeof(buf)), "HTTP/1.1 200", "/after"));
	close(a);
	close(b);
}

int main(void)
{
	struct srv s = { 0 };
	signal(SIGPIPE, SIG_IGN);
	char err[128];
	s.loop = loop_new();
	struct http_server_config cfg = { "127.0.0.1:0", 16, handler, &s, 0 };
	s.http = http_server_new(s.loop, &cfg, err, sizeof(err));
	if (!s.loop || !s.http) {
		fprintf(stderr, "server: %s\n", err);
		return 2;
	}
	http_server_read_bodies(s.http, &reader);
	dropping = &s;
	int port = http_server_port(s.http);
	test_waits_then_oldest_first(&s, port);
	test_no_continue_while_waiting(&s, port);
	test_client_gone_while_waiting(&s, port);
	test_503_after_waiting_too_long(&s, port);
	while (s.nheld)
		release(&s);
	http_server_free(s.http);
	loop_free(s.loop);
	return check_report();
}

/* test_push.c - WebSocket clients over a socketpair, no broker, no HTTP
 * server: what is committed and published arrives in seq order, ?task=
 * filters, pings are answered, a close is echoed, a protocol error closes
 * with 1002, a client that stops reading is dropped. */
#include "check.h"
#include "loop.h"
#include "push.h"
#include "store.h"
#include "ws.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char err[128];
static const char hello[] = "HTTP/1.1 101 Switching Protocols\r\n\r\n";

static uint64_t add(store_t *s, const char *id, const char *status)
{
	char js[256];
	snprintf(js, sizeof(js), "{\"id\":\"%s\",\"status\":\"%s\"}", id, status);
	struct store_entry *e = store_entry_new(s, js, strlen(js), store_last_seq(s) + 1, err, sizeof(err));
	if (!e)
		return 0;
	uint64_t seq = e->seq;
	store_insert(s, e);
	return seq;
}

static void commit(push_t *p, store_t *s)
{
	push_commit(p, store_last_seq(s));
}

/* A connected pair: sv[0] for the push, sv[1] the test's client side. */
static int pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	return 0;
}

static void spin(loop_t *loop)
{
	for (int i = 0; i < 5; i++)
		loop_once(loop, 10);
}

/* What the client side has received so far, appended to a buffer. */
struct rx {
	char data[1 << 20];
	size_t len, off;
	int eof;
};

static void drain(int fd, struct rx *r)
{
	for (;;) {
		ssize_t n = read(fd, r->data + r->len, sizeof(r->data) - r->len - 1);
		if (n > 0) {
			r->len += (size_t)n;
			continue;
		}
		if (n == 0)
			r->eof = 1;
		break;
	}
	r->data[r->len] = '\0';
}

/* Takes the next server frame: its opcode, payload copied to out
 * (NUL-terminated). -1 when no whole frame is there. */
static int next_frame(struct rx *r, char *out, size_t outlen)
{
	const uint8_t *p = (const uint8_t *)r->data + r->off;
	size_t avail = r->len - r->off, h = 2, len;
	if (avail < 2)
		return -1;
	len = p[1] & 0x7f;
	if (len == 126) {
		if (avail < 4)
			return -1;
		len = (size_t)p[2] << 8 | p[3];
		h = 4;
	}
	if (avail < h + len || len >= outlen)
		return -1;
	memcpy(out, p + h, len);
	out[len] = '\0';
	r->off += h + len;
	return p[0] & 0x0f;
}

/* A masked client frame. */
static void send_frame(int fd, int b0, const void *payload, size_t len)
{
	uint8_t f[256], mask[4] = { 1, 2, 3, 4 };
	size_t n = 0;
	f[n++] = (uint8_t)b0;
	f[n++] = (uint8_t)(0x80 | len);
	memcpy(f + n, mask, 4);
	n += 4;
	for (size_t i = 0; i < len; i++)
		f[n++] = ((const uint8_t *)payload)[i] ^ mask[i % 4];
	CHECK_INT(write(fd, f, n), (long long)n);
}

/* Reads the hello, then the ids of the text frames that follow, as
 * "seq:id,seq:id". */
static const char *texts(struct rx *r)
{
	static char out[4096];
	char f[70000];
	size_t n = 0;
	out[0] = '\0';
	if (r->off == 0 && r->len >= strlen(hello))
		r->off = strlen(hello);
	while (next_frame(r, f, sizeof(f)) == WS_OP_TEXT) {
		const char *id = strstr(f, "\"id\":\"");
		const char *seq = strstr(f, "\"seq\":");
		if (!id || !seq)
			return "bad frame";
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%d:%.*s",
				      n ? "," : "", atoi(seq + 6), 2, id + 6);
	}
	return out;
}

static void test_publish_order_and_filter(void)
{
	loop_t *loop = loop_new();
	store_t *s = store_new(100, 100);
	push_t *p = push_new(loop, s, NULL);
	struct rx *all = calloc(1, sizeof(*all)), *one = calloc(1, sizeof(*one));
	struct rx *late = calloc(1, sizeof(*late));
	int a[2], b[2], c[2];
	CHECK(pair(a) == 0 && pair(b) == 0 && pair(c) == 0);
	add(s, "t1", "queued");
	add(s, "t2", "queued");
	commit(p, s);
	CHECK_INT(push_attach(p, a[0], "a", hello, strlen(hello), NULL, 0, 0, NULL), 0);
	CHECK_INT(push_attach(p, b[0], "b", hello, strlen(hello), NULL, 0, 0, "t2"), 0);
	CHECK_INT(push_clients(p), 2);
	spin(loop);
	drain(a[1], all);
	drain(b[1], one);
	CHECK(memcmp(all->data, hello, strlen(hello)) == 0);
	CHECK_STR(texts(all), "1:t1,2:t2");
	CHECK_STR(texts(one), "2:t2");

	/* committed but not published: only a new client gets it at once */
	add(s, "t1", "started");
	add(s, "t2", "done");
	commit(p, s);
	CHECK_INT(push_attach(p, c[0], "c", hello, strlen(hello), NULL, 0, 2, NULL), 0);
	spin(loop);
	drain(a[1], all);
	drain(c[1], late);
	CHECK_STR(texts(all), "");
	CHECK_STR(texts(late), "3:t1,4:t2");
	push_publish(p);
	spin(loop);
	drain(a[1], all);
	drain(b[1], one);
	CHECK_STR(texts(all), "3:t1,4:t2");
	CHECK_STR(texts(one), "4:t2");

	push_free(p);
	drain(a[1], all);
	CHECK(all->eof);
	close(a[1]);
	close(b[1]);
	close(c[1]);
	store_free(s);
	loop_free(loop);
	free(all);
	free(one);
	free(late);
}

static void test_ping_close_and_errors(void)
{
	loop_t *loop = loop_new();
	store_t *s = store_new(10, 10);
	push_t *p = push_new(loop, s, NULL);
	struct rx *r = calloc(1, sizeof(*r));
	char f[256];
	int a[2];
	CHECK(pair(a) == 0);
	/* a ping sent right behind the handshake (leftover bytes) */
	uint8_t ping[] = { 0x89, 0x82, 0, 0, 0, 0, 'h', 'i' };
	CHECK_INT(push_attach(p, a[0], "a", hello, strlen(hello), ping,
			      sizeof(ping), 0, NULL), 0);
	spin(loop);
	drain(a[1], r);
	r->off = strlen(hello);
	CHECK_INT(next_frame(r, f, sizeof(f)), WS_OP_PONG);
	CHECK_STR(f, "hi");

	send_frame(a[1], 0x89, "yo", 2);
	spin(loop);
	drain(a[1], r);
	CHECK_INT(next_frame(r, f, sizeof(f)), WS_OP_PONG);
	CHECK_STR(f, "yo");

	/* a close is echoed with its code, and the server closes */
	uint8_t code[2] = { 0x03, 0xe8 };
	send_frame(a[1], 0x88, code, 2);
	spin(loop);
	drain(a[1], r);
	CHECK_INT(next_frame(r, f, sizeof(f)), WS_OP_CLOSE);
	CHECK(memcmp(f, code, 2) == 0);
	CHECK(r->eof);
	CHECK_INT(push_clients(p), 0);
	close(a[1]);

	/* an unmasked frame is a protocol error: 1002, then gone at EOF */
	memset(r, 0, sizeof(*r));
	CHECK(pair(a) == 0);
	CHECK_INT(push_attach(p, a[0], "a", hello, strlen(hello), NULL, 0, 0, NULL), 0);
	uint8_t bad[] = { 0x81, 0x01, 'x' };
	CHECK_INT(write(a[1], bad, sizeof(bad)), 3);
	spin(loop);
	drain(a[1], r);
	r->off = strlen(hello);
	CHECK_INT(next_frame(r, f, sizeof(f)), WS_OP_CLOSE);
	CHECK_INT(((uint8_t)f[0] << 8) | (uint8_t)f[1], 1002);
	CHECK(r->eof); /* our side shut down writing */
	close(a[1]);
	spin(loop);
	CHECK_INT(push_clients(p), 0);

	/* close_all: a close frame (1001) and no new client */
	memset(r, 0, sizeof(*r));
	CHECK(pair(a) == 0);
	CHECK_INT(push_attach(p, a[0], "a", hello, strlen(hello), NULL, 0, 0, NULL), 0);
	push_close_all(p, WS_CLOSE_GOING_AWAY, "bye");
	spin(loop);
	drain(a[1], r);
	r->off = strlen(hello);
	CHECK_INT(next_frame(r, f, sizeof(f)), WS_OP_CLOSE);
	CHECK_INT(((uint8_t)f[0] << 8) | (uint8_t)f[1], 1001);
	CHECK_STR(f + 2, "bye");
	close(a[1]);
	spin(loop);
	CHECK_INT(push_clients(p), 0);

	push_free(p);
	store_free(s);
	loop_free(loop);
	free(r);
}

static void burst(store_t *s, const char *status)
{
	for (int i = 0; i < 1000; i++) {
		char js[400];
		snprintf(js, sizeof(js), "{\"id\":\"t%d\",\"status\":\"%s\",\"name\":"
			 "\"%0200d\"}", i, status, i);
		store_insert(s, store_entry_new(s, js, strlen(js), store_last_seq(s) + 1, err, sizeof(err)));
	}
}

/* The finals among the frames received, all in seq order: -1 if not. */
static int finals(struct rx *x)
{
	static char seen[1000];
	char *f = malloc(100000);
	int n = 0;
	uint64_t last = 0;
	memset(seen, 0, sizeof(seen));
	x->off = strlen(hello);
	while (next_frame(x, f, 100000) == WS_OP_TEXT) {
		const char *seq = strstr(f, "\"seq\":");
		uint64_t sq = seq ? strtoull(seq + 6, NULL, 10) : 0;
		if (sq <= last)
			n = -100000;
		last = sq;
		if (strstr(f, "\"done\"") && !seen[atoi(f + 8)]++)
			n++;
	}
	free(f);
	return n;
}

/* A client that stalls while bursts far larger than the history go by,
 * then reads: it is caught up with every task's final state, in seq
 * order; another client is not delayed. One that never reads is dropped
 * after stall_ms. */
static void test_burst_and_stall(void)
{
	loop_t *loop = loop_new();
	store_t *s = store_new(100, 10000);
	struct push_config cfg = { .stall_ms = 1000, .tick_ms = 50 };
	push_t *p = push_new(loop, s, &cfg);
	struct rx *rf = calloc(1, sizeof(*rf)), *rs = calloc(1, sizeof(*rs));
	int slow[2], fast[2], dead[2];
	CHECK(pair(slow) == 0 && pair(fast) == 0 && pair(dead) == 0);
	CHECK_INT(push_attach(p, slow[0], "slow", hello, strlen(hello), NULL, 0, 0, NULL), 0);
	CHECK_INT(push_attach(p, fast[0], "fast", hello, strlen(hello), NULL, 0, 0, NULL), 0);
	CHECK_INT(push_attach(p, dead[0], "dead", hello, strlen(hello), NULL, 0, 0, NULL), 0);
	burst(s, "queued");
	commit(p, s);
	push_publish(p);
	for (int i = 0; i < 20; i++) {
		loop_once(loop, 2);
		drain(fast[1], rf);
		drain(slow[1], rs);
	}
	/* the slow one stops reading */
	burst(s, "started");
	burst(s, "done");
	commit(p, s);
	push_publish(p);
	for (int64_t t0 = loop_now(loop); loop_now(loop) - t0 < 200;) {
		loop_once(loop, 2);
		drain(fast[1], rf);
	}
	CHECK_INT(finals(rf), 1000);
	for (int64_t t0 = loop_now(loop); loop_now(loop) - t0 < 1500;) {
		loop_once(loop, 10);
		drain(fast[1], rf);
		drain(slow[1], rs);
	}
	CHECK_INT(finals(rs), 1000);
	/* the dead one never read: dropped; the others stay */
	CHECK_INT(push_clients(p), 2);
	push_free(p);
	close(slow[1]);
	close(fast[1]);
	close(dead[1]);
	store_free(s);
	loop_free(loop);
	free(rf);
	free(rs);
}

static void add_at(store_t *s, uint64_t seq, const char *id, const char *status)
{
	char js[256];
	snprintf(js, sizeof(js), "{\"id\":\"%s\",\"status\":\"%s\"}", id, status);
	struct store_entry *e = store_entry_new(s, js, strlen(js), seq, err, sizeof(err));
	CHECK(e != NULL);
	if (e)
		store_insert(s, e);
}

/* seq is the stream offset + 1: gaps where nothing was stored. Clients
 * from any position, in a gap or not, live or catching up, get what
 * follows it once, in seq order. */
static void test_seq_gaps(void)
{
	loop_t *loop = loop_new();
	store_t *s = store_new(3, 100);
	push_t *p = push_new(loop, s, NULL);
	struct rx *r[4];
	int sv[4][2];
	uint64_t since[4] = { 0, 5, 11, 40 };
	add_at(s, 3, "t1", "queued");
	add_at(s, 10, "t2", "queued");
	add_at(s, 11, "t1", "done");
	commit(p, s);
	for (int i = 0; i < 4; i++) {
		r[i] = calloc(1, sizeof(*r[i]));
		CHECK(pair(sv[i]) == 0);
		CHECK_INT(push_attach(p, sv[i][0], "x", hello, strlen(hello), NULL, 0,
				      since[i], NULL), 0);
	}
	spin(loop);
	for (int i = 0; i < 4; i++)
		drain(sv[i][1], r[i]);
	CHECK_STR(texts(r[0]), "3:t1,10:t2,11:t1");
	CHECK_STR(texts(r[1]), "10:t2,11:t1");
	CHECK_STR(texts(r[2]), "");
	CHECK_STR(texts(r[3]), "");
	/* more than the history between two pushes: past a gap, the live
	 * ones catch up on the tasks' states */
	add_at(s, 20, "t3", "queued");
	add_at(s, 25, "t2", "done");
	add_at(s, 31, "t4", "queued");
	add_at(s, 42, "t3", "done");
	commit(p, s);
	push_publish(p);
	spin(loop);
	for (int i = 0; i < 4; i++)
		drain(sv[i][1], r[i]);
	CHECK_STR(texts(r[0]), "25:t2,31:t4,42:t3");
	CHECK_STR(texts(r[2]), "25:t2,31:t4,42:t3");
	CHECK_STR(texts(r[3]), "42:t3");
	push_free(p);
	for (int i = 0; i < 4; i++) {
		close(sv[i][1]);
		free(r[i]);
	}
	store_free(s);
	loop_free(loop);
}

int main(void)
{
	test_publish_order_and_filter();
	test_ping_close_and_errors();
	test_burst_and_stall();
	test_seq_gaps();
	return check_report();
}

/*
 * wsburst - load client for bench_burst.sh (issue 10): C WebSocket clients
 * on the middleman watch batches of tasks posted to the tasker.
 *
 * Opens C clients, then for each phase POSTs K arrays of N tasks (task g
 * downloads URL/tG.txt, g counting from 0 over all phases) to the tasker and waits until every client has received a final
 * notification (done, failed or cancelled) of every task posted so far.
 * Reports per phase the seconds from the first POST until the last client
 * is complete, and the push latency of every frame received (receive wall
 * time minus the notification's "time", so it includes the worker, the
 * broker and the middleman's --interval).
 *
 *   wsburst -p WS_PORT -t TASKER_PORT -u URL [-c CLIENTS] [-w WAIT_S]
 *           PHASE...        (a phase is KxN: K arrays of N tasks)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_IDS (1 << 16)        /* tasks over all phases */
#define CARRY 8192
#define NBUCKETS 600000          /* latency histogram, 1 ms buckets */

struct client {
	int fd;
	size_t len;
	uint8_t carry[CARRY];
	uint8_t *finals;             /* bitset over task indexes */
	long nfinals, frames, bad;
};

static char ids[MAX_IDS][37];
static int32_t slots[2 * MAX_IDS];   /* hash: id -> index + 1 */
static int nids;
static uint32_t hist[NBUCKETS];
static uint64_t nlat;

static void die(const char *what)
{
	fprintf(stderr, "wsburst: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* The index of a 36-byte id, added when new (add) and there is room;
 * else -1. */
static int find_id(const char *id, int add)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 36; i++)
		h = (h ^ (uint8_t)id[i]) * 16777619u;
	for (uint32_t i = h % (2 * MAX_IDS);; i = (i + 1) % (2 * MAX_IDS)) {
		if (!slots[i]) {
			if (!add || nids == MAX_IDS)
				return -1;
			memcpy(ids[nids], id, 36);
			slots[i] = ++nids;
			return nids - 1;
		}
		if (!memcmp(ids[slots[i] - 1], id, 36))
			return slots[i] - 1;
	}
}

static int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int ws_open(int port)
{
	int fd = tcp_connect(port);
	char req[256];
	int n = snprintf(req, sizeof(req),
			 "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n", port);
	if (write(fd, req, (size_t)n) != n)
		die("write");
	char head[512];
	size_t hl = 0;
	while (hl < 4 || memcmp(head + hl - 4, "\r\n\r\n", 4) != 0) {
		if (hl == sizeof(head) - 1 || read(fd, head + hl, 1) != 1)
			die("handshake");
		hl++;
	}
	head[hl] = '\0';
	if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
		fprintf(stderr, "wsburst: handshake answer: %s\n", head);
		exit(1);
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		die("nonblock");
	return fd;
}

/* POSTs an array of n tasks; interns the ids of the 202 answer. */
static void post_array(int port, const char *url, int n)
{
	static int g;
	size_t cap = (size_t)n * (strlen(url) + 128) + 64, len = 0;
	char *body = malloc(cap), *ans = malloc(1 << 20);
	if (!body || !ans)
		die("malloc");
	len += (size_t)snprintf(body + len, cap - len, "[");
	for (int i = 0; i < n; i++, g++)
		len += (size_t)snprintf(body + len, cap - len,
					"%s{\"name\":\"burst %d\",\"arg\":\"%s/t%d.txt\","
					"\"taskType\":\"download\"}", i ? "," : "", g, url, g);
	len += (size_t)snprintf(body + len, cap - len, "]");
	int fd = tcp_connect(port);
	char head[256];
	int hn = snprintf(head, sizeof(head), "POST /task HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			  "Content-Type: application/json\r\nContent-Length: %zu\r\n"
			  "Connection: close\r\n\r\n", len);
	if (write(fd, head, (size_t)hn) != hn)
		die("post");
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, body + off, len - off);
		if (w <= 0)
			die("post body");
		off += (size_t)w;
	}
	size_t got = 0;
	for (ssize_t r; (r = read(fd, ans + got, (1 << 20) - 1 - got)) > 0;)
		got += (size_t)r;
	ans[got] = '\0';
	close(fd);
	if (strncmp(ans, "HTTP/1.1 202", 12) != 0) {
		fprintf(stderr, "wsburst: POST answered %.60s\n", ans);
		exit(1);
	}
	int seen = 0;
	for (char *p = ans; (p = strstr(p, "\"id\":\"")); p += 42) {
		if (find_id(p + 6, 1) < 0) {
			fprintf(stderr, "wsburst: too many tasks\n");
			exit(1);
		}
		seen++;
	}
	if (seen != n) {
		fprintf(stderr, "wsburst: %d ids in the answer, not %d\n", seen, n);
		exit(1);
	}
	free(body);
	free(ans);
}

static void on_message(struct client *c, const char *p, size_t len, int64_t now)
{
	const char *id = memmem(p, len, "\"id\":\"", 6);
	const char *t = memmem(p, len, "\"time\":", 7);
	c->frames++;
	if (!id || (size_t)(p + len - id) < 42) {
		c->bad++;
		return;
	}
	if (t) {
		int64_t lat = now - strtoll(t + 7, NULL, 10);
		size_t b = lat < 0 ? 0 : (size_t)lat;
		hist[b < NBUCKETS ? b : NBUCKETS - 1]++;
		nlat++;
	}
	if (!memmem(p, len, "\"status\":\"done\"", 15) &&
	    !memmem(p, len, "\"status\":\"failed\"", 17) &&
	    !memmem(p, len, "\"status\":\"cancelled\"", 20))
		return;
	int i = find_id(id + 6, 0);
	if (i < 0)
		return; /* not one of ours (an earlier run's) */
	if (!(c->finals[i / 8] & (1u << (i % 8)))) {
		c->finals[i / 8] |= (uint8_t)(1u << (i % 8));
		c->nfinals++;
	}
}

/* Answers a ping, as a browser does (the middleman drops clients that
 * stay silent). A zero mask: the payload goes as is. */
static void pong(struct client *c, const uint8_t *p, size_t len)
{
	uint8_t f[2 + 4 + 125];
	if (len > 125)
		return;
	f[0] = 0x8A;
	f[1] = (uint8_t)(0x80 | len);
	memset(f + 2, 0, 4);
	memcpy(f + 6, p, len);
	if (write(c->fd, f, 6 + len) != (ssize_t)(6 + len))
		c->bad++;
}

static void readable(struct client *c)
{
	for (;;) {
		ssize_t r = read(c->fd, c->carry + c->len, CARRY - c->len);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0) {
			c->bad++;
			close(c->fd);
			c->fd = -1;
			return;
		}
		c->len += (size_t)r;
		int64_t now = wall_ms();
		size_t off = 0;
		while (c->len - off >= 2) {
			const uint8_t *f = c->carry + off;
			size_t plen = f[1] & 0x7F, h = 2;
			if (plen == 126) {
				if (c->len - off < 4)
					break;
				plen = (size_t)f[2] << 8 | f[3];
				h = 4;
			}
			if (plen == 127 || h + plen > CARRY) {
				c->bad++;
				c->len = off = 0;
				break;
			}
			if (c->len - off < h + plen)
				break;
			if ((f[0] & 0x0F) == 1)
				on_message(c, (const char *)f + h, plen, now);
			else if ((f[0] & 0x0F) == 9)
				pong(c, f + h, plen);
			off += h + plen;
		}
		memmove(c->carry, c->carry + off, c->len - off);
		c->len -= off;
	}
}

static double pct(double p)
{
	uint64_t want = (uint64_t)(p * (double)nlat), seen = 0;
	for (size_t i = 0; i < NBUCKETS; i++) {
		seen += hist[i];
		if (seen > want || (seen == nlat && nlat))
			return (double)i;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int port = 0, tport = 0, nclients = 1000, wait_s = 600, o;
	const char *url = NULL;
	while ((o = getopt(argc, argv, "p:t:u:c:w:")) != -1) {
		switch (o) {
		case 'p': port = atoi(optarg); break;
		case 't': tport = atoi(optarg); break;
		case 'u': url = optarg; break;
		case 'c': nclients = atoi(optarg); break;
		case 'w': wait_s = atoi(optarg); break;
		default: return 2;
		}
	}
	if (port <= 0 || tport <= 0 || !url || nclients <= 0 || optind == argc) {
		fprintf(stderr, "usage: wsburst -p WS_PORT -t TASKER_PORT -u URL [-c N] KxN...\n");
		return 2;
	}
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	struct client *cl = calloc((size_t)nclients, sizeof(*cl));
	int ep = epoll_create1(0);
	if (!cl || ep < 0)
		die("setup");
	for (int i = 0; i < nclients; i++) {
		cl[i].fd = ws_open(port);
		cl[i].finals = calloc(MAX_IDS / 8, 1);
		if (!cl[i].finals)
			die("calloc");
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cl[i] };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev) < 0)
			die("epoll_ctl");
	}
	printf("CONNECTED clients=%d\n", nclients);
	fflush(stdout);
	struct epoll_event evs[256];
	for (int ph = optind; ph < argc; ph++) {
		int k = 0, n = 0;
		if (sscanf(argv[ph], "%dx%d", &k, &n) != 2 || k <= 0 || n <= 0) {
			fprintf(stderr, "wsburst: bad phase %s\n", argv[ph]);
			return 2;
		}
		memset(hist, 0, sizeof(hist));
		nlat = 0;
		int64_t t0 = mono_us(), deadline = t0 + (int64_t)wait_s * 1000000;
		for (int b = 0; b < k; b++)
			post_array(tport, url, n);
		double post_s = (double)(mono_us() - t0) / 1e6;
		long complete = 0;
		while (mono_us() < deadline) {
			complete = 0;
			for (int i = 0; i < nclients; i++)
				complete += cl[i].nfinals >= nids;
			if (complete == nclients)
				break;
			int m = epoll_wait(ep, evs, 256, 100);
			for (int i = 0; i < m; i++)
				readable(evs[i].data.ptr);
		}
		long frames = 0, bad = 0, lost = 0;
		for (int i = 0; i < nclients; i++) {
			frames += cl[i].frames;
			bad += cl[i].bad;
			lost += cl[i].fd < 0;
			cl[i].frames = 0;
		}
		printf("PHASE tasks=%d arrays=%d posted_s=%.2f seconds=%.2f complete=%ld "
		       "clients=%d frames=%ld bad=%ld closed=%ld p50_ms=%.0f p99_ms=%.0f "
		       "max_ms=%.0f\n", k * n, k, post_s, (double)(mono_us() - t0) / 1e6,
		       complete, nclients, frames, bad, lost, pct(0.5), pct(0.99), pct(1.0));
		fflush(stdout);
		if (complete != nclients)
			return 1;
	}
	return 0;
}

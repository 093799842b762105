/*
 * wsload - load client for the middleman benchmark (bench_middleman.sh).
 *
 * Opens C WebSocket clients on the middleman, then publishes R
 * notifications a second for D seconds straight to the broker's
 * `notifications` queue (rabbitmq-c, persistent), each carrying its publish
 * time on this process's monotonic clock. Every client reads every frame
 * (epoll, one thread); the latency of each delivery is receive time minus
 * publish time, so it covers broker, middleman and the client's own reading.
 * Checks that every client received every notification, in order.
 * Prints one line of key=value results.
 *
 *   wsload -u AMQP_URL -p WS_PORT [-c CLIENTS] [-r RATE] [-d SECONDS]
 *          [-s PAYLOAD_BYTES] [-w WAIT_S]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#define BUCKET_US 10             /* latency histogram resolution */
#define NBUCKETS (1000000)       /* up to 10 s */
#define CARRY 4096

struct client {
	int fd;
	size_t len;                  /* carried bytes of a partial frame */
	uint8_t carry[CARRY];
	long got, last_n, disorder, bad;
};

static uint32_t hist[NBUCKETS];

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what)
{
	fprintf(stderr, "wsload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void amqp_check(amqp_rpc_reply_t r, const char *what)
{
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		fprintf(stderr, "wsload: %s failed (%d)\n", what, r.reply_type);
		exit(1);
	}
}

static amqp_connection_state_t broker(const char *url_in)
{
	struct amqp_connection_info ci;
	char *url = strdup(url_in);
	if (!url || amqp_parse_url(url, &ci) != AMQP_STATUS_OK) {
		fprintf(stderr, "wsload: bad URL\n");
		exit(2);
	}
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	if (!s || amqp_socket_open(s, ci.host, ci.port) != AMQP_STATUS_OK) {
		fprintf(stderr, "wsload: cannot reach the broker\n");
		exit(1);
	}
	amqp_check(amqp_login(c, ci.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
			      ci.user, ci.password), "login");
	amqp_channel_open(c, 1);
	amqp_check(amqp_get_rpc_reply(c), "channel.open");
	/* the stream as the programs declare it (src/mq.c), emptied the only
	 * way a stream can be: deleted and declared again */
	amqp_table_entry_t e[3];
	e[0].key = amqp_cstring_bytes("x-queue-type");
	e[0].value.kind = AMQP_FIELD_KIND_UTF8;
	e[0].value.value.bytes = amqp_cstring_bytes("stream");
	e[1].key = amqp_cstring_bytes("x-max-age");
	e[1].value.kind = AMQP_FIELD_KIND_UTF8;
	e[1].value.value.bytes = amqp_cstring_bytes("7D");
	e[2].key = amqp_cstring_bytes("x-max-length-bytes");
	e[2].value.kind = AMQP_FIELD_KIND_I64;
	e[2].value.value.i64 = 256LL * 1024 * 1024;
	amqp_table_t args = { 3, e };
	amqp_queue_delete(c, 1, amqp_cstring_bytes("notifications"), 0, 0);
	amqp_check(amqp_get_rpc_reply(c), "queue.delete");
	amqp_queue_declare(c, 1, amqp_cstring_bytes("notifications"), 0, 1, 0, 0, args);
	amqp_check(amqp_get_rpc_reply(c), "queue.declare");
	free(url);
	return c;
}

/* A blocking connect and handshake; the socket is then non-blocking. */
static int ws_open(int port)
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
	char req[256];
	int n = snprintf(req, sizeof(req),
			 "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n", port);
	if (write(fd, req, (size_t)n) != n)
		die("write");
	/* read the answer's head byte by byte: nothing of the stream after
	 * it may be eaten (the store is empty, but be exact) */
	char head[512];
	size_t hl = 0;
	while (hl < 4 || memcmp(head + hl - 4, "\r\n\r\n", 4) != 0) {
		if (hl == sizeof(head) - 1 || read(fd, head + hl, 1) != 1) {
			fprintf(stderr, "wsload: handshake failed\n");
			exit(1);
		}
		hl++;
	}
	head[hl] = '\0';
	if (strncmp(head, "HTTP/1.1 101", 12) != 0 ||
	    !strstr(head, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")) {
		fprintf(stderr, "wsload: bad handshake answer: %s\n", head);
		exit(1);
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		die("nonblock");
	return fd;
}

static long field(const char *p, size_t len, const char *key)
{
	const char *k = memmem(p, len, key, strlen(key));
	return k ? strtol(k + strlen(key), NULL, 10) : -1;
}

/* One text frame's payload from client c. */
static void on_message(struct client *c, const uint8_t *p, size_t len, int64_t t)
{
	long n = field((const char *)p, len, "\"n\":");
	long sent = field((const char *)p, len, "\"t_us\":");
	if (n < 0 || sent < 0) {
		c->bad++;
		return;
	}
	if (n != c->last_n + 1)
		c->disorder++;
	c->last_n = n;
	c->got++;
	int64_t lat = t - sent;
	size_t b = lat < 0 ? 0 : (size_t)(lat / BUCKET_US);
	hist[b < NBUCKETS ? b : NBUCKETS - 1]++;
}

/* Parses whole frames from c->carry. */
static void parse(struct client *c, int64_t t)
{
	size_t off = 0;
	while (c->len - off >= 2) {
		const uint8_t *f = c->carry + off;
		size_t plen = f[1] & 0x7F, h = 2;
		if (plen == 126) {
			if (c->len - off < 4)
				break;
			plen = (size_t)f[2] << 8 | f[3];
			h = 4;
		} else if (plen == 127) {
			c->bad++;
			c->len = 0;
			return;
		}
		if (c->len - off < h + plen)
			break;
		if ((f[0] & 0x0F) == 1)
			on_message(c, f + h, plen, t);
		off += h + plen;
	}
	memmove(c->carry, c->carry + off, c->len - off);
	c->len -= off;
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
		parse(c, now_us());
		if (c->len == CARRY) {
			c->bad++; /* a frame larger than we expect */
			c->len = 0;
		}
	}
}

static void publish(amqp_connection_state_t conn, long n, size_t pad)
{
	static char body[8192], padding[4096];
	if (!padding[0])
		memset(padding, 'x', sizeof(padding) - 1);
	int64_t t = now_us();
	int len = snprintf(body, sizeof(body),
			   "{\"id\":\"bench-%ld\",\"status\":\"progress\",\"n\":%ld,\"t_us\":%lld,"
			   "\"name\":\"bench\",\"taskType\":\"download\",\"time\":%lld,"
			   "\"pad\":\"%.*s\"}", n % 50, n, (long long)t,
			   (long long)(time(NULL) * 1000LL), (int)pad, padding);
	amqp_basic_properties_t props;
	props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
	props.delivery_mode = 2;
	props.content_type = amqp_cstring_bytes("application/json");
	amqp_bytes_t b = { (size_t)len, body };
	if (amqp_basic_publish(conn, 1, amqp_cstring_bytes(""),
			       amqp_cstring_bytes("notifications"), 0, 0, &props, b) != 0) {
		fprintf(stderr, "wsload: publish failed\n");
		exit(1);
	}
}

static double pct(double p, uint64_t total)
{
	uint64_t want = (uint64_t)(p * (double)total), seen = 0;
	for (size_t i = 0; i < NBUCKETS; i++) {
		seen += hist[i];
		if (seen > want || (seen == total && total))
			return (double)(i * BUCKET_US + BUCKET_US / 2) / 1000.0;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	int port = 0, nclients = 1000, rate = 100, secs = 30, wait_s = 15;
	size_t pad = 200;
	int o;
	while ((o = getopt(argc, argv, "u:p:c:r:d:s:w:")) != -1) {
		switch (o) {
		case 'u': url = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'c': nclients = atoi(optarg); break;
		case 'r': rate = atoi(optarg); break;
		case 'd': secs = atoi(optarg); break;
		case 's': pad = (size_t)atol(optarg); break;
		case 'w': wait_s = atoi(optarg); break;
		default: return 2;
		}
	}
	if (!url || port <= 0 || nclients <= 0 || rate <= 0 || secs <= 0 || pad > 4000) {
		fprintf(stderr, "usage: wsload -u AMQP_URL -p PORT [-c N] [-r RATE] [-d S] [-s BYTES]\n");
		return 2;
	}
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);

	amqp_connection_state_t conn = broker(url);
	struct client *cl = calloc((size_t)nclients, sizeof(*cl));
	int ep = epoll_create1(0);
	if (!cl || ep < 0)
		die("setup");
	int64_t t0 = now_us();
	for (int i = 0; i < nclients; i++) {
		cl[i].fd = ws_open(port);
		cl[i].last_n = -1;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cl[i] };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev) < 0)
			die("epoll_ctl");
	}
	double connect_s = (double)(now_us() - t0) / 1e6;
	/* the clients are in; RSS is read now by the script */
	printf("CONNECTED clients=%d seconds=%.2f\n", nclients, connect_s);
	fflush(stdout);
	sleep(1);

	long total = (long)rate * secs, sent = 0;
	int64_t start = now_us(), period = 1000000 / rate;
	int64_t end_wait = 0;
	struct epoll_event evs[256];
	for (;;) {
		int64_t t = now_us();
		while (sent < total && t >= start + sent * period) {
			publish(conn, sent, pad);
			sent++;
			t = now_us();
		}
		if (sent == total && !end_wait)
			end_wait = t + (int64_t)wait_s * 1000000;
		long done = 0;
		for (int i = 0; i < nclients; i++)
			done += cl[i].got >= total || cl[i].fd < 0;
		if (sent == total && (done == nclients || t >= end_wait))
			break;
		int64_t next = sent < total ? start + sent * period : t + 100000;
		int ms = (int)((next - t + 999) / 1000);
		int n = epoll_wait(ep, evs, 256, ms < 0 ? 0 : ms);
		for (int i = 0; i < n; i++)
			readable(evs[i].data.ptr);
	}
	int64_t elapsed = now_us() - start;

	uint64_t got = 0, disorder = 0, bad = 0, full = 0, lost_clients = 0;
	for (int i = 0; i < nclients; i++) {
		got += (uint64_t)cl[i].got;
		disorder += (uint64_t)cl[i].disorder;
		bad += (uint64_t)cl[i].bad;
		full += cl[i].got == total;
		lost_clients += cl[i].fd < 0;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("RESULT cpu_s=%.1f clients=%d rate=%d seconds=%d published=%ld expected=%llu "
	       "delivered=%llu complete_clients=%llu disorder=%llu bad=%llu closed=%llu "
	       "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f elapsed_s=%.2f\n",
	       cpu, nclients, rate, secs, sent, (unsigned long long)total * (unsigned long long)nclients,
	       (unsigned long long)got, (unsigned long long)full,
	       (unsigned long long)disorder, (unsigned long long)bad,
	       (unsigned long long)lost_clients,
	       pct(0.50, got), pct(0.90, got), pct(0.99, got), pct(1.0, got),
	       (double)elapsed / 1e6);
	for (int i = 0; i < nclients; i++)
		if (cl[i].fd >= 0)
			close(cl[i].fd);
	free(cl);
	amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
	return 0;
}

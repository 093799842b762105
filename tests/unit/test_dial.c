/* test_dial.c - dial over loopback (connected, refused, filtered, timed
 * out, cancelled, an unknown name) and the private-address test of
 * --deny-private (src/net.c); the socket helpers it uses. */
#include "check.h"
#include "dial.h"
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

struct outcome {
	int done, fd, permanent;
	char error[256];
};

static void on_dial(void *arg, int fd, const char *error, int permanent)
{
	struct outcome *o = arg;
	o->done = 1;
	o->fd = fd;
	o->permanent = permanent;
	snprintf(o->error, sizeof(o->error), "%s", error ? error : "");
}

/* Dials host:port and runs the loop until the outcome (10 s at most). */
static struct outcome run(loop_t *l, const char *host, unsigned port, int64_t timeout_ms,
			  dial_filter_fn filter)
{
	struct outcome o = { 0, -1, 0, "" };
	dial_t *d = dial_start(l, host, port, timeout_ms, filter, on_dial, &o);
	CHECK(d != NULL);
	CHECK(!o.done); /* never from inside dial_start */
	for (int i = 0; i < 1000 && !o.done; i++)
		loop_once(l, 10);
	CHECK(o.done);
	return o;
}

/* A listening socket on 127.0.0.1 with a kernel-chosen port. */
static int listener(int backlog, unsigned *port)
{
	char err[128];
	int fd = net_listen("127.0.0.1:0", err, sizeof(err));
	CHECK(fd >= 0);
	CHECK(listen(fd, backlog) == 0);
	*port = (unsigned)net_local_port(fd);
	return fd;
}

static const char *refuse_all(const struct sockaddr *sa)
{
	(void)sa;
	return "not today";
}

static const char *deny_private(const struct sockaddr *sa)
{
	return net_addr_is_private(sa) ? "private address" : NULL;
}

static void test_dial(void)
{
	loop_t *l = loop_new();
	unsigned port;
	int lfd = listener(16, &port);

	struct outcome o = run(l, "127.0.0.1", port, 2000, NULL);
	CHECK(o.fd >= 0);
	CHECK(fcntl(o.fd, F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(o.fd, F_GETFD) & FD_CLOEXEC);
	CHECK_INT(net_nodelay(o.fd), 0);
	CHECK_INT(net_socket_error(o.fd), 0);
	close(o.fd);

	/* the filter refuses every address: permanent, and it says why */
	o = run(l, "127.0.0.1", port, 2000, refuse_all);
	CHECK_INT(o.fd, -1);
	CHECK(o.permanent);
	CHECK(strstr(o.error, "refused to connect to 127.0.0.1:") != NULL);
	CHECK(strstr(o.error, "not today") != NULL);
	o = run(l, "127.0.0.1", port, 2000, deny_private);
	CHECK(o.permanent && strstr(o.error, "private address"));
	close(lfd);

	/* nothing listens any more: refused, worth a retry later */
	o = run(l, "127.0.0.1", port, 2000, NULL);
	CHECK_INT(o.fd, -1);
	CHECK(!o.permanent);
	CHECK(strstr(o.error, "cannot connect to 127.0.0.1:") != NULL);
	CHECK(strstr(o.error, strerror(ECONNREFUSED)) != NULL);

	/* a full backlog drops the SYN: the connect times out */
	lfd = listener(0, &port);
	struct outcome filler[4];
	int nfill = 0;
	for (; nfill < 4; nfill++) {
		filler[nfill] = run(l, "127.0.0.1", port, 300, NULL);
		if (filler[nfill].fd < 0)
			break;
	}
	CHECK(nfill < 4);
	CHECK(strstr(filler[nfill].error, "timed out after 300 ms") != NULL);
	CHECK(!filler[nfill].permanent);
	for (int i = 0; i < nfill; i++)
		close(filler[i].fd);

	/* cancelled while connecting: no callback, no fd left behind */
	struct outcome c = { 0, -1, 0, "" };
	dial_t *d = dial_start(l, "127.0.0.1", port, 5000, NULL, on_dial, &c);
	for (int i = 0; i < 5; i++)
		loop_once(l, 10);
	dial_cancel(d);
	for (int i = 0; i < 5; i++)
		loop_once(l, 10);
	CHECK(!c.done);
	close(lfd);

	/* a name that cannot exist (RFC 6761): permanent */
	o = run(l, "nowhere.invalid", 80, 2000, NULL);
	CHECK_INT(o.fd, -1);
	CHECK(strstr(o.error, "nowhere.invalid") != NULL);
	loop_free(l);
}

static void test_pipe(void)
{
	int p[2];
	CHECK_INT(net_pipe(p), 0);
	CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(p[1], F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
	CHECK(fcntl(p[1], F_GETFD) & FD_CLOEXEC);
	char b;
	CHECK(read(p[0], &b, 1) < 0 && errno == EAGAIN);
	close(p[0]);
	close(p[1]);
}

static int priv4(const char *a)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	inet_pton(AF_INET, a, &in.sin_addr);
	return net_addr_is_private((struct sockaddr *)&in);
}

static int priv6(const char *a)
{
	struct sockaddr_in6 in = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, a, &in.sin6_addr);
	return net_addr_is_private((struct sockaddr *)&in);
}

static void test_private(void)
{
	const char *yes4[] = { "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1",
			       "172.31.255.255", "192.168.1.1", "169.254.169.254",
			       "0.0.0.0", "100.64.0.1", "224.0.0.1", "255.255.255.255" };
	const char *no4[] = { "8.8.8.8", "172.15.0.1", "172.32.0.1", "192.169.0.1",
			      "100.128.0.1", "1.1.1.1", "223.255.255.255" };
	for (size_t i = 0; i < sizeof(yes4) / sizeof(*yes4); i++)
		CHECK(priv4(yes4[i]));
	for (size_t i = 0; i < sizeof(no4) / sizeof(*no4); i++)
		CHECK(!priv4(no4[i]));
	CHECK(priv6("::1"));
	CHECK(priv6("::"));
	CHECK(priv6("fe80::1"));
	CHECK(priv6("fd00::1"));
	CHECK(priv6("fc12::1"));
	CHECK(priv6("fec0::1"));
	CHECK(priv6("ff02::1"));
	CHECK(priv6("::ffff:127.0.0.1"));
	CHECK(priv6("::ffff:10.0.0.1"));
	CHECK(priv6("64:ff9b::192.168.0.1"));
	CHECK(!priv6("2001:db8::1"));
	CHECK(!priv6("2606:4700::1111"));
	CHECK(!priv6("::ffff:8.8.8.8"));
	CHECK(!priv6("64:ff9b::8.8.8.8"));
}

int main(void)
{
	test_dial();
	test_pipe();
	test_private();
	return check_report();
}

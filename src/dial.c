/*
 * dial.c - resolve, then connect to each address in turn; see dial.h.
 */
#include "dial.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "resolve.h"

struct dial {
	loop_t *loop;
	dial_fn cb;
	void *arg;
	dial_filter_fn accept_addr;
	int64_t timeout_ms;
	resolve_t *lookup;
	struct resolve_result addrs;
	int next;               /* the next address to try */
	int refused;            /* addresses the filter refused */
	int fd;                 /* the connect in progress, or -1 */
	uint64_t timer;         /* its timeout, or the deferred report */
	char error[256];        /* the last error, for a person */
	int permanent;
};

static void close_attempt(dial_t *d)
{
	loop_timer_cancel(d->loop, d->timer);
	d->timer = 0;
	if (d->fd >= 0) {
		loop_unwatch(d->loop, d->fd);
		close(d->fd);
		d->fd = -1;
	}
}

/* Frees the dial, then reports (the callee may start another at once). */
static void report(dial_t *d, int fd)
{
	dial_fn cb = d->cb;
	void *arg = d->arg;
	char error[sizeof(d->error)];
	int permanent = d->permanent;
	snprintf(error, sizeof(error), "%s", d->error);
	free(d);
	cb(arg, fd, fd >= 0 ? NULL : error, permanent);
}

static void try_next(dial_t *d);

/* Records why the current address failed; goes on with the next. */
static void attempt_failed(dial_t *d, const char *why)
{
	char addr[80];
	const struct resolve_addr *a = &d->addrs.addr[d->next - 1];
	net_addr_str((const struct sockaddr *)&a->sa, addr, sizeof(addr));
	snprintf(d->error, sizeof(d->error), "cannot connect to %s: %s", addr, why);
	close_attempt(d);
	try_next(d);
}

static void on_writable(loop_t *loop, int fd, int events, void *arg)
{
	(void)loop, (void)events;
	dial_t *d = arg;
	int err = net_socket_error(fd);
	if (err) {
		attempt_failed(d, strerror(err));
		return;
	}
	loop_unwatch(d->loop, fd);
	d->fd = -1;
	loop_timer_cancel(d->loop, d->timer);
	d->timer = 0;
	report(d, fd);
}

static void on_timeout(loop_t *loop, void *arg)
{
	(void)loop;
	dial_t *d = arg;
	char why[64];
	d->timer = 0;
	if (d->timeout_ms % 1000 == 0)
		snprintf(why, sizeof(why), "timed out after %lld s",
			 (long long)(d->timeout_ms / 1000));
	else
		snprintf(why, sizeof(why), "timed out after %lld ms", (long long)d->timeout_ms);
	attempt_failed(d, why);
}

/* Starts a connect to address a: 0 when under way, else -1 with d->error. */
static int connect_to(dial_t *d, const struct resolve_addr *a)
{
	char addr[80];
	net_addr_str((const struct sockaddr *)&a->sa, addr, sizeof(addr));
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(d->error, sizeof(d->error), "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&a->sa, a->len) < 0 && errno != EINPROGRESS) {
		snprintf(d->error, sizeof(d->error), "cannot connect to %s: %s", addr,
			 strerror(errno));
		close(fd);
		return -1;
	}
	if (loop_watch(d->loop, fd, LOOP_WRITE, on_writable, d) < 0) {
		close(fd);
		snprintf(d->error, sizeof(d->error), "out of memory");
		return -1;
	}
	d->fd = fd;
	d->timer = loop_timer(d->loop, d->timeout_ms, on_timeout, d);
	if (!d->timer) {
		close_attempt(d);
		snprintf(d->error, sizeof(d->error), "out of memory");
		return -1;
	}
	return 0;
}

static void try_next(dial_t *d)
{
	while (d->next < d->addrs.n) {
		const struct resolve_addr *a = &d->addrs.addr[d->next++];
		const char *no = d->accept_addr ? d->accept_addr((const struct sockaddr *)&a->sa)
						: NULL;
		if (no) {
			char addr[80];
			net_addr_str((const struct sockaddr *)&a->sa, addr, sizeof(addr));
			snprintf(d->error, sizeof(d->error), "refused to connect to %s: %s", addr, no);
			d->refused++;
			continue;
		}
		if (connect_to(d, a) == 0)
			return;
	}
	d->permanent = d->refused == d->addrs.n;
	if (!d->error[0])
		snprintf(d->error, sizeof(d->error), "no address to connect to");
	report(d, -1);
}

static void on_resolved(void *arg, const struct resolve_result *r)
{
	dial_t *d = arg;
	d->lookup = NULL;
	if (r->n == 0) {
		snprintf(d->error, sizeof(d->error), "%s", r->error);
		d->permanent = r->permanent;
		report(d, -1);
		return;
	}
	d->addrs = *r;
	try_next(d);
}

dial_t *dial_start(loop_t *loop, const char *host, unsigned port, int64_t timeout_ms,
		   dial_filter_fn accept_addr, dial_fn cb, void *arg)
{
	dial_t *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->loop = loop;
	d->cb = cb;
	d->arg = arg;
	d->accept_addr = accept_addr;
	d->timeout_ms = timeout_ms;
	d->fd = -1;
	/* resolve_start reports from the loop, so dial does too */
	d->lookup = resolve_start(loop, host, port, on_resolved, d);
	if (!d->lookup) {
		free(d);
		return NULL;
	}
	return d;
}

void dial_cancel(dial_t *d)
{
	if (!d)
		return;
	resolve_cancel(d->lookup);
	close_attempt(d);
	free(d);
}

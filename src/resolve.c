/*
 * resolve.c - asynchronous name resolution through a forked child; see
 * resolve.h. The child writes one struct resolve_result (about 1.2 KiB)
 * into the pipe and exits; the parent collects it across as many reads as
 * it takes, then reaps the child.
 */
#include "resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "net.h"

struct resolve {
	loop_t *loop;
	resolve_fn cb;
	void *arg;
	pid_t pid;              /* child, or -1 */
	int fd;                 /* read end of the pipe, or -1 */
	uint64_t timer;         /* deferred delivery of a ready result */
	uint64_t deadline;      /* kills a lookup that takes too long */
	char host[256];         /* for the error message */
	size_t got;
	struct resolve_result res;
};

/* getaddrinfo into r (runs in the child, or in place). */
static void lookup(const char *host, unsigned port, struct resolve_result *r)
{
	struct addrinfo hints, *ai, *res;
	char portstr[8];
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
	snprintf(portstr, sizeof(portstr), "%u", port);
	memset(r, 0, sizeof(*r));
	int rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc == EAI_NONAME || rc == EAI_FAMILY) {
		/* AI_ADDRCONFIG hides ::1 on a host with only loopback IPv6. */
		hints.ai_flags = AI_NUMERICSERV;
		rc = getaddrinfo(host, portstr, &hints, &res);
	}
	if (rc != 0) {
		r->permanent = rc == EAI_NONAME;
		snprintf(r->error, sizeof(r->error), "cannot resolve %s: %s", host,
			 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return;
	}
	for (ai = res; ai && r->n < RESOLVE_MAX_ADDRS; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(r->addr[0].sa))
			continue;
		memcpy(&r->addr[r->n].sa, ai->ai_addr, ai->ai_addrlen);
		r->addr[r->n].len = ai->ai_addrlen;
		r->n++;
	}
	freeaddrinfo(res);
	if (r->n == 0)
		snprintf(r->error, sizeof(r->error), "cannot resolve %s: no address", host);
}

/* Closes every descriptor but 0-2 and keep (in the child): a lookup that
 * hangs must not keep the parent's listening socket, broker connection or
 * journal lock alive after the parent died. */
static void close_all_but(int keep)
{
#ifdef SYS_close_range
	if ((keep == 3 || syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) == 0) &&
	    syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0)
		return;
#endif
	/* The limit as sysconf(_SC_OPEN_MAX) reads it, without sysconf's
	 * table (1 KB of a static tasker or middleman). */
	struct rlimit rl;
	long max = getrlimit(RLIMIT_NOFILE, &rl) != 0 ? 1024 :
		   rl.rlim_cur == RLIM_INFINITY ? 65536 : (long)rl.rlim_cur;
	for (long fd = 3; fd < max; fd++)
		if (fd != keep)
			close((int)fd);
}

static void deliver(resolve_t *r)
{
	resolve_fn cb = r->cb;
	void *arg = r->arg;
	struct resolve_result res = r->res;
	free(r);
	cb(arg, &res);
}

static void on_ready_timer(loop_t *loop, void *arg)
{
	(void)loop;
	resolve_t *r = arg;
	r->timer = 0;
	deliver(r);
}

static void reap(resolve_t *r)
{
	loop_timer_cancel(r->loop, r->deadline);
	r->deadline = 0;
	if (r->fd >= 0) {
		loop_unwatch(r->loop, r->fd);
		close(r->fd);
		r->fd = -1;
	}
	if (r->pid > 0) {
		while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
			;
		r->pid = -1;
	}
}

static void on_pipe(loop_t *loop, int fd, int events, void *arg)
{
	(void)loop, (void)events;
	resolve_t *r = arg;
	ssize_t n = read(fd, (char *)&r->res + r->got, sizeof(r->res) - r->got);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		r->got += (size_t)n;
		if (r->got < sizeof(r->res))
			return;
	}
	/* Whole result, EOF or an error: the child is done either way. */
	reap(r);
	if (r->got != sizeof(r->res)) {
		memset(&r->res, 0, sizeof(r->res));
		snprintf(r->res.error, sizeof(r->res.error), "name lookup failed");
	} else if (r->res.n < 0 || r->res.n > RESOLVE_MAX_ADDRS) {
		r->res.n = 0;
	}
	deliver(r);
}

/* A lookup still running after RESOLVE_TIMEOUT_S: DNS that never answers
 * must not hold a download, or the broker connection, forever. */
static void on_deadline(loop_t *loop, void *arg)
{
	(void)loop;
	resolve_t *r = arg;
	r->deadline = 0;
	kill(r->pid, SIGKILL);
	reap(r);
	memset(&r->res, 0, sizeof(r->res));
	snprintf(r->res.error, sizeof(r->res.error), "cannot resolve %.150s: no answer within %d s",
		 r->host, RESOLVE_TIMEOUT_S);
	deliver(r);
}

/* Converts a numeric address at once; 1 when host was one. */
static int numeric(const char *host, unsigned port, struct resolve_result *res)
{
	struct addrinfo hints, *ai;
	char portstr[8];
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	if (getaddrinfo(host, portstr, &hints, &ai) != 0)
		return 0;
	memset(res, 0, sizeof(*res));
	memcpy(&res->addr[0].sa, ai->ai_addr, ai->ai_addrlen);
	res->addr[0].len = ai->ai_addrlen;
	res->n = 1;
	freeaddrinfo(ai);
	return 1;
}

resolve_t *resolve_start(loop_t *loop, const char *host, unsigned port,
			 resolve_fn cb, void *arg)
{
	resolve_t *r = calloc(1, sizeof(*r));
	int p[2];
	if (!r)
		return NULL;
	r->loop = loop;
	r->cb = cb;
	r->arg = arg;
	r->pid = -1;
	r->fd = -1;
	if (numeric(host, port, &r->res) || net_pipe(p) < 0)
		goto in_place;
	r->pid = fork();
	if (r->pid == 0) {
		struct resolve_result res;
		/* The loop's handlers would write into the parent's signal pipe. */
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		/* the hard deadline also holds when the parent was killed */
		signal(SIGALRM, SIG_DFL);
		alarm(RESOLVE_TIMEOUT_S);
		close_all_but(p[1]);
		lookup(host, port, &res);
		const char *w = (const char *)&res;
		size_t left = sizeof(res);
		while (left > 0) {
			ssize_t n = write(p[1], w, left);
			if (n <= 0 && errno != EINTR)
				break;
			if (n > 0) {
				w += n;
				left -= (size_t)n;
			}
		}
		_exit(0);
	}
	close(p[1]);
	if (r->pid < 0) {
		close(p[0]);
		goto in_place;
	}
	r->fd = p[0];
	snprintf(r->host, sizeof(r->host), "%s", host);
	r->deadline = loop_timer(loop, RESOLVE_TIMEOUT_S * 1000, on_deadline, r);
	if (!r->deadline || loop_watch(loop, r->fd, LOOP_READ, on_pipe, r) < 0) {
		resolve_cancel(r);
		return NULL;
	}
	return r;
in_place:
	if (r->res.n == 0)
		lookup(host, port, &r->res);
	r->timer = loop_timer(loop, 0, on_ready_timer, r);
	if (!r->timer) {
		free(r);
		return NULL;
	}
	return r;
}

void resolve_cancel(resolve_t *r)
{
	if (!r)
		return;
	if (r->pid > 0)
		kill(r->pid, SIGKILL);
	reap(r);
	loop_timer_cancel(r->loop, r->timer);
	free(r);
}

/*
 * hasher.c - SHA-256 in a helper process; see hasher.h.
 *
 * Commands go down a pipe as fixed 16-byte records {op, n}; the helper
 * handles them in order, so a RESTART sent after the caller truncated the
 * file discards whatever the helper read before it. ADVANCE records carry
 * a growing offset, so one that does not fit in a full pipe is simply
 * dropped (the next one says more); RESTART and FINISH wait for room.
 * The digest comes back on a second pipe that the loop watches.
 */
#include "hasher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "net.h"
#include "os.h"

enum { OP_ADVANCE = 1, OP_RESTART = 2, OP_FINISH = 3 };

struct cmd {
	uint32_t op;
	uint32_t pad;
	uint64_t n;
};

struct hasher {
	loop_t *loop;
	pid_t pid;
	int cmd_fd;             /* write end of the command pipe */
	int res_fd;             /* read end of the digest pipe */
	uint64_t sent;          /* last ADVANCE offset sent */
	hasher_fn cb;
	void *arg;
	char hex[65];
	size_t got;
};

int hasher_useful(int min_cpus)
{
	return os_cpus() >= min_cpus;
}

/* ---- the helper --------------------------------------------------------- */

static int read_cmd(int fd, struct cmd *c)
{
	size_t got = 0;
	while (got < sizeof(*c)) {
		ssize_t n = read(fd, (char *)c + got, sizeof(*c) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

__attribute__((noreturn))
static void helper(int cmd_fd, int res_fd, int fd, sha256_t st, uint64_t done)
{
	static unsigned char buf[HASHER_READ_SIZE];
	struct cmd c;
	signal(SIGTERM, SIG_DFL); /* not the loop's handler: its pipe is the parent's */
	signal(SIGINT, SIG_DFL);
	/* Keep no socket of the parent's open behind its back. */
	long max = os_open_max();
	for (int i = 3; i < (max > 0 && max < 4096 ? max : 4096); i++)
		if (i != cmd_fd && i != res_fd && i != fd)
			close(i);
	while (read_cmd(cmd_fd, &c) == 0) {
		if (c.op == OP_RESTART) {
			sha256_init(&st);
			done = 0;
			continue;
		}
		while (done < c.n) {
			size_t want = c.n - done < sizeof(buf) ? (size_t)(c.n - done) : sizeof(buf);
			ssize_t n = pread(fd, buf, want, (off_t)done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break; /* truncated under us: a RESTART follows */
			sha256_update(&st, buf, (size_t)n);
			done += (uint64_t)n;
		}
		if (c.op == OP_FINISH) {
			char hex[65];
			if (done != c.n)
				_exit(1);
			sha256_hex(&st, hex);
			if (write(res_fd, hex, 64) != 64)
				_exit(1);
			_exit(0);
		}
	}
	_exit(0);
}

/* ---- the caller's side ---------------------------------------------------- */

hasher_t *hasher_start(loop_t *loop, int fd, const sha256_t *state, uint64_t upto)
{
	int cp[2], rp[2];
	hasher_t *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	if (pipe(cp) < 0) {
		free(h);
		return NULL;
	}
	if (pipe(rp) < 0) {
		close(cp[0]);
		close(cp[1]);
		free(h);
		return NULL;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(cp[1]);
		close(rp[0]);
		helper(cp[0], rp[1], fd, *state, upto);
	}
	close(cp[0]);
	close(rp[1]);
	if (pid < 0) {
		close(cp[1]);
		close(rp[0]);
		free(h);
		return NULL;
	}
	h->loop = loop;
	h->pid = pid;
	h->cmd_fd = cp[1];
	h->res_fd = rp[0];
	h->sent = upto;
	net_nonblock(h->cmd_fd);
	net_nonblock(h->res_fd);
	return h;
}

/* Sends c; waits for room when must (up to a few seconds). 0, or -1. */
static int send_cmd(hasher_t *h, const struct cmd *c, int must)
{
	for (int tries = 0; tries < 10; tries++) {
		ssize_t n = write(h->cmd_fd, c, sizeof(*c));
		if (n == (ssize_t)sizeof(*c))
			return 0;
		if (n >= 0 || (errno != EAGAIN && errno != EINTR) || !must)
			return -1; /* records are far below PIPE_BUF: never partial */
		struct pollfd p = { .fd = h->cmd_fd, .events = POLLOUT };
		poll(&p, 1, 500);
	}
	return -1;
}

void hasher_advance(hasher_t *h, uint64_t upto)
{
	if (upto - h->sent < HASHER_STEP)
		return;
	struct cmd c = { OP_ADVANCE, 0, upto };
	if (send_cmd(h, &c, 0) == 0)
		h->sent = upto;
}

int hasher_restart(hasher_t *h)
{
	struct cmd c = { OP_RESTART, 0, 0 };
	h->sent = 0;
	return send_cmd(h, &c, 1);
}

static void reap(hasher_t *h)
{
	if (h->res_fd >= 0) {
		loop_unwatch(h->loop, h->res_fd);
		close(h->res_fd);
		h->res_fd = -1;
	}
	if (h->cmd_fd >= 0) {
		close(h->cmd_fd);
		h->cmd_fd = -1;
	}
	if (h->pid > 0) {
		while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
			;
		h->pid = -1;
	}
}

static void on_result(loop_t *loop, int fd, int events, void *arg)
{
	hasher_t *h = arg;
	(void)loop, (void)events;
	ssize_t n = read(fd, h->hex + h->got, 64 - h->got);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		h->got += (size_t)n;
		if (h->got < 64)
			return;
	}
	/* The digest, or EOF / an error: the helper is done either way. */
	reap(h);
	h->hex[h->got == 64 ? 64 : 0] = '\0';
	int ok = h->got == 64 && strspn(h->hex, "0123456789abcdef") == 64;
	h->cb(h->arg, ok ? h->hex : NULL);
}

int hasher_finish(hasher_t *h, uint64_t total, hasher_fn cb, void *arg)
{
	struct cmd c = { OP_FINISH, 0, total };
	h->cb = cb;
	h->arg = arg;
	if (send_cmd(h, &c, 1) < 0 ||
	    loop_watch(h->loop, h->res_fd, LOOP_READ, on_result, h) < 0)
		return -1;
	return 0;
}

void hasher_free(hasher_t *h)
{
	if (!h)
		return;
	if (h->pid > 0)
		kill(h->pid, SIGKILL);
	reap(h);
	free(h);
}

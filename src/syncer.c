/*
 * syncer.c - fsync in a helper process; see syncer.h.
 *
 * Each request goes down a UNIX stream socket as one byte with the
 * descriptor attached (SCM_RIGHTS); the helper syncs, closes its copy and
 * answers the fsync's errno as one int, in order. The caller's side keeps
 * its own duplicate of every descriptor until the answer comes, so that
 * when the helper goes away the syncs it had are done in place instead.
 */
#include "syncer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "os.h"

struct req {
	struct req *next;
	uint64_t id;
	syncer_fn cb;
	void *arg;
};

/* One fsync to do, shared by the requests that wait for it. */
struct file {
	struct file *next;
	dev_t dev;
	ino_t ino;
	int fd;                 /* our duplicate, closed once synced */
	struct req *reqs;
};

struct syncer {
	loop_t *loop;
	pid_t pid;              /* the helper, or -1 */
	int sock;               /* our end of its socket, or -1 */
	int broken;             /* no helper: sync in place */
	uint64_t in_place;      /* the timer that does it */
	struct file *sent;      /* at the helper, in the order sent */
	struct file *queued;    /* not sent yet: its file is being synced */
	struct file *firing;    /* whose callbacks run now */
	uint64_t next_id;
	unsigned char reply[sizeof(int)];
	size_t got;
};

/* ---- the helper --------------------------------------------------------- */

__attribute__((noreturn))
static void helper(int sock)
{
	/* A Ctrl-C or a signal to the process group is the worker's to
	 * handle: the syncs under way finish, and the helper goes when the
	 * worker closes its socket (or kills it). */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	/* Keep no socket of the parent's open behind its back (a broker
	 * connection must close when the worker dies). */
	long max = os_open_max();
	for (int i = 3; i < (max > 0 && max < 4096 ? max : 4096); i++)
		if (i != sock)
			close(i);
	for (;;) {
		char byte;
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct iovec iov = { &byte, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
		ssize_t n = recvmsg(sock, &m, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0); /* the caller is gone */
		int fd = -1;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(fd));
		int err = EBADF;
		if (fd >= 0) {
			while ((err = fsync(fd) == 0 ? 0 : errno) == EINTR)
				;
			close(fd);
		}
		for (size_t off = 0; off < sizeof(err);) {
			ssize_t w = send(sock, (char *)&err + off, sizeof(err) - off, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				_exit(0);
			off += (size_t)w;
		}
	}
}

/* ---- the caller's side ---------------------------------------------------- */

static void on_reply(loop_t *loop, int fd, int events, void *arg);
static void pump(syncer_t *s);

syncer_t *syncer_new(loop_t *loop)
{
	syncer_t *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->loop = loop;
	s->pid = -1;
	s->sock = -1;
	return s;
}

static int start_helper(syncer_t *s)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		helper(sv[1]);
	}
	close(sv[1]);
	if (pid < 0 || net_nonblock(sv[0]) < 0 ||
	    loop_watch(s->loop, sv[0], LOOP_READ, on_reply, s) < 0) {
		if (pid > 0) {
			kill(pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		close(sv[0]);
		return -1;
	}
	s->pid = pid;
	s->sock = sv[0];
	return 0;
}

static void stop_helper(syncer_t *s)
{
	if (s->sock >= 0) {
		loop_unwatch(s->loop, s->sock);
		close(s->sock);
		s->sock = -1;
	}
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
		s->pid = -1;
	}
	s->got = 0;
}

static void free_file(struct file *f)
{
	while (f->reqs) {
		struct req *r = f->reqs;
		f->reqs = r->next;
		free(r);
	}
	close(f->fd);
	free(f);
}

/* Calls back every request of f (taken off the lists) with err. */
static void fire(syncer_t *s, struct file *f, int err)
{
	s->firing = f;
	while (f->reqs) {
		struct req *r = f->reqs;
		f->reqs = r->next;
		r->cb(r->arg, err);
		free(r);
	}
	s->firing = NULL;
	free_file(f);
}

/* Syncs everything pending from the loop, sent first (the older). */
static void on_in_place(loop_t *loop, void *arg)
{
	syncer_t *s = arg;
	(void)loop;
	s->in_place = 0;
	while (s->sent || s->queued) {
		struct file **head = s->sent ? &s->sent : &s->queued;
		struct file *f = *head;
		*head = f->next;
		int err;
		while ((err = fsync(f->fd) == 0 ? 0 : errno) == EINTR)
			;
		fire(s, f, err);
	}
}

/* The helper cannot be used (or started): everything in place from now. */
static void go_in_place(syncer_t *s, const char *why)
{
	if (!s->broken)
		log_warn("sync helper %s; syncing files in the event loop", why);
	s->broken = 1;
	stop_helper(s);
	/* what was at the helper goes first, in its order */
	struct file **t = &s->sent;
	while (*t)
		t = &(*t)->next;
	*t = s->queued;
	s->queued = NULL;
	if (s->sent && !s->in_place)
		s->in_place = loop_timer(s->loop, 0, on_in_place, s);
	/* out of memory for a timer: the next syncer_sync tries again */
}

static int same(const struct file *a, const struct file *b)
{
	return a->dev == b->dev && a->ino == b->ino;
}

/* Sends f to the helper: 0, 1 when the socket is full (try later), -1. */
static int send_file(syncer_t *s, struct file *f)
{
	char byte = 0;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &f->fd, sizeof(int));
	for (;;) {
		ssize_t n = sendmsg(s->sock, &m, MSG_NOSIGNAL);
		if (n == 1)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 1 : -1;
	}
}

/* Sends each queued file whose file is not being synced already. */
static void pump(syncer_t *s)
{
	if (s->broken)
		return;
	struct file **p = &s->queued;
	while (*p) {
		struct file *f = *p, **t = &s->sent;
		int busy = 0;
		for (; *t; t = &(*t)->next)
			busy |= same(*t, f);
		if (busy) {
			p = &f->next;
			continue;
		}
		int rc = send_file(s, f);
		if (rc == 1)
			return; /* the next answer makes room */
		if (rc < 0) {
			go_in_place(s, "unreachable");
			return;
		}
		*p = f->next;
		f->next = NULL;
		*t = f;
	}
}

static void on_reply(loop_t *loop, int fd, int events, void *arg)
{
	syncer_t *s = arg;
	(void)loop, (void)events;
	for (;;) {
		ssize_t n = read(fd, s->reply + s->got, sizeof(s->reply) - s->got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0 || !s->sent) {
			go_in_place(s, n <= 0 ? "exited" : "answered out of turn");
			return;
		}
		s->got += (size_t)n;
		if (s->got < sizeof(s->reply))
			continue;
		s->got = 0;
		int err;
		memcpy(&err, s->reply, sizeof(err));
		struct file *f = s->sent;
		s->sent = f->next;
		fire(s, f, err);
		if (s->broken)
			return; /* a callback's request found the helper gone */
	}
	pump(s);
}

uint64_t syncer_sync(syncer_t *s, int fd, syncer_fn cb, void *arg)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return 0;
	struct req *r = malloc(sizeof(*r));
	if (!r)
		return 0;
	*r = (struct req){ NULL, ++s->next_id, cb, arg };
	/* A sync of this file that has not started yet serves this request
	 * too: it starts after it. */
	struct file **p = &s->queued;
	for (; *p; p = &(*p)->next) {
		if ((*p)->dev == st.st_dev && (*p)->ino == st.st_ino) {
			struct req **q = &(*p)->reqs;
			while (*q)
				q = &(*q)->next;
			*q = r;
			return r->id;
		}
	}
	struct file *f = calloc(1, sizeof(*f));
	if (f)
		f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (!f || f->fd < 0) {
		free(f);
		free(r);
		return 0;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->reqs = r;
	*p = f;
	if (!s->broken && s->pid < 0 && start_helper(s) < 0)
		go_in_place(s, "cannot start");
	if (s->broken) {
		go_in_place(s, "");
		return r->id;
	}
	pump(s);
	return r->id;
}

static int drop_req(struct file *f, uint64_t id)
{
	for (; f; f = f->next) {
		for (struct req **q = &f->reqs; *q; q = &(*q)->next) {
			if ((*q)->id == id) {
				struct req *r = *q;
				*q = r->next;
				free(r);
				return 1;
			}
		}
	}
	return 0;
}

void syncer_cancel(syncer_t *s, uint64_t id)
{
	if (!s || !id)
		return;
	if (!drop_req(s->sent, id) && !drop_req(s->queued, id) && s->firing) {
		struct file *f = s->firing, *next = f->next;
		f->next = NULL; /* off its list already: look at it alone */
		drop_req(f, id);
		f->next = next;
	}
}

void syncer_free(syncer_t *s)
{
	if (!s)
		return;
	stop_helper(s);
	loop_timer_cancel(s->loop, s->in_place);
	struct file *lists[] = { s->sent, s->queued };
	for (int i = 0; i < 2; i++) {
		while (lists[i]) {
			struct file *f = lists[i];
			lists[i] = f->next;
			free_file(f);
		}
	}
	free(s);
}

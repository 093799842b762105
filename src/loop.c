/*
 * loop.c - poll() event loop with a timer heap and self-pipe signals.
 *
 * Watches live in an fd-indexed table; the pollfd array is kept compact so
 * poll() sees only live fds. Dispatch works from a copy of what poll()
 * reported, and each entry carries the watch generation, so a callback that
 * closes another fd (which may be reused at once) never gets a stale event.
 */
#include "loop.h"
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

struct watch {
	loop_fd_fn fn;
	void *arg;
	int mask;
	int pidx;      /* index in loop->pfd, -1 when not watched */
	uint32_t gen;  /* bumped at each watch/unwatch of this fd */
};

struct fired {
	int fd;
	int events;
	uint32_t gen;
};

struct timer {
	int64_t when;
	uint64_t seq;          /* order of setting: ties of when run FIFO */
	loop_timer_fn fn;      /* one-shot, or NULL */
	loop_every_fn every;   /* periodic, or NULL */
	void *arg;
	uint32_t gen;
	int hidx;      /* index in loop->heap, TIMER_FREE or TIMER_RUNNING */
	int cancelled; /* a periodic timer cancelled from its own callback */
	int next_free;
};

enum { TIMER_FREE = -1, TIMER_RUNNING = -2 };

struct loop {
	struct watch *w;
	int wcap;
	struct pollfd *pfd;
	struct fired *fired; /* grown only in loop_once, never by callbacks */
	int npfd, pcap, fcap;

	struct timer *t;
	int tcap, tfree;
	int *heap;
	int nheap;
	uint64_t tseq;     /* next timer's seq */

	int sigfd[2];
	loop_signal_fn sigfn[LOOP_NSIG];
	void *sigarg[LOOP_NSIG];

	int64_t now;
	int stop;
};

/* The one process-wide fact a signal handler can reach: where to write. */
static int signal_pipe_wr = -1;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t loop_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

loop_t *loop_new(void)
{
	loop_t *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->tfree = -1;
	l->sigfd[0] = l->sigfd[1] = -1;
	l->now = mono_ms();
	return l;
}

void loop_free(loop_t *l)
{
	if (!l)
		return;
	if (l->sigfd[0] >= 0) {
		signal_pipe_wr = -1;
		close(l->sigfd[0]);
		close(l->sigfd[1]);
	}
	free(l->w);
	free(l->pfd);
	free(l->fired);
	free(l->t);
	free(l->heap);
	free(l);
}

int64_t loop_now(loop_t *l) { return l->now; }

int64_t loop_refresh_now(loop_t *l) { return l->now = mono_ms(); }

void loop_stop(loop_t *l) { l->stop = 1; }

/* ---- fd watches ---- */

static int grow_watches(loop_t *l, int fd)
{
	if (fd < l->wcap)
		return 0;
	int ncap = l->wcap ? l->wcap : 64;
	while (ncap <= fd)
		ncap *= 2;
	struct watch *nw = realloc(l->w, (size_t)ncap * sizeof(*nw));
	if (!nw)
		return -1;
	for (int i = l->wcap; i < ncap; i++)
		nw[i] = (struct watch){ .pidx = -1 };
	l->w = nw;
	l->wcap = ncap;
	return 0;
}

static int grow_pollfds(loop_t *l)
{
	if (l->npfd < l->pcap)
		return 0;
	int ncap = l->pcap ? l->pcap * 2 : 64;
	struct pollfd *np = realloc(l->pfd, (size_t)ncap * sizeof(*np));
	if (!np)
		return -1;
	l->pfd = np;
	l->pcap = ncap;
	return 0;
}

/* A quiet fd is stored negated so poll() skips it (no POLLHUP spinning). */
static int pfd_fd(const struct pollfd *p) { return p->fd < 0 ? ~p->fd : p->fd; }

static void set_pfd(loop_t *l, int fd, int mask);

static short poll_events(int mask)
{
	return (short)(((mask & LOOP_READ) ? POLLIN : 0) |
		       ((mask & LOOP_WRITE) ? POLLOUT : 0));
}

int loop_watch(loop_t *l, int fd, int mask, loop_fd_fn fn, void *arg)
{
	if (fd < 0 || grow_watches(l, fd) < 0)
		return -1;
	struct watch *w = &l->w[fd];
	if (w->pidx < 0) {
		if (grow_pollfds(l) < 0)
			return -1;
		w->pidx = l->npfd++;
		l->pfd[w->pidx].fd = fd;
		w->gen++;
	}
	w->fn = fn;
	w->arg = arg;
	set_pfd(l, fd, mask);
	return 0;
}

static void set_pfd(loop_t *l, int fd, int mask)
{
	struct pollfd *p = &l->pfd[l->w[fd].pidx];
	l->w[fd].mask = mask;
	p->fd = mask ? fd : ~fd;
	p->events = poll_events(mask);
}

void loop_mask(loop_t *l, int fd, int mask)
{
	if (fd < 0 || fd >= l->wcap || l->w[fd].pidx < 0)
		return;
	set_pfd(l, fd, mask);
}

void loop_unwatch(loop_t *l, int fd)
{
	if (fd < 0 || fd >= l->wcap || l->w[fd].pidx < 0)
		return;
	int i = l->w[fd].pidx, last = --l->npfd;
	if (i != last) {
		l->pfd[i] = l->pfd[last];
		l->w[pfd_fd(&l->pfd[i])].pidx = i;
	}
	l->w[fd].pidx = -1;
	l->w[fd].gen++;
	l->w[fd].fn = NULL;
}

/* ---- timers: a binary min-heap of slot indexes; id = gen << 32 | slot ---- */

static int heap_less(loop_t *l, int a, int b)
{
	const struct timer *x = &l->t[l->heap[a]], *y = &l->t[l->heap[b]];
	return x->when < y->when || (x->when == y->when && x->seq < y->seq);
}

static void heap_swap(loop_t *l, int a, int b)
{
	int tmp = l->heap[a];
	l->heap[a] = l->heap[b];
	l->heap[b] = tmp;
	l->t[l->heap[a]].hidx = a;
	l->t[l->heap[b]].hidx = b;
}

static void heap_up(loop_t *l, int i)
{
	while (i > 0 && heap_less(l, i, (i - 1) / 2)) {
		heap_swap(l, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(loop_t *l, int i)
{
	for (;;) {
		int m = i, c1 = 2 * i + 1, c2 = 2 * i + 2;
		if (c1 < l->nheap && heap_less(l, c1, m))
			m = c1;
		if (c2 < l->nheap && heap_less(l, c2, m))
			m = c2;
		if (m == i)
			return;
		heap_swap(l, i, m);
		i = m;
	}
}

/* Takes the timer at heap index i out of the heap; returns its slot. */
static int heap_take(loop_t *l, int i)
{
	int slot = l->heap[i];
	int last = --l->nheap;
	if (i != last) {
		heap_swap(l, i, last);
		heap_down(l, i);
		heap_up(l, i);
	}
	return slot;
}

/* Puts a timer (out of the heap) into it, due at when, after every timer
 * already due then. */
static void heap_put(loop_t *l, int slot, int64_t when)
{
	struct timer *t = &l->t[slot];
	t->when = when;
	t->seq = l->tseq++;
	t->hidx = l->nheap;
	l->heap[l->nheap++] = slot;
	heap_up(l, t->hidx);
}

/* Frees a slot: its id is stale from now on. */
static void slot_free(loop_t *l, int slot)
{
	l->t[slot].hidx = TIMER_FREE;
	l->t[slot].gen++;
	l->t[slot].next_free = l->tfree;
	l->tfree = slot;
}

static int grow_timers(loop_t *l)
{
	int ncap = l->tcap ? l->tcap * 2 : 32;
	struct timer *nt = realloc(l->t, (size_t)ncap * sizeof(*nt));
	if (!nt)
		return -1;
	l->t = nt;
	int *nh = realloc(l->heap, (size_t)ncap * sizeof(*nh));
	if (!nh)
		return -1;
	l->heap = nh;
	for (int i = ncap - 1; i >= l->tcap; i--) {
		l->t[i] = (struct timer){ .hidx = TIMER_FREE, .next_free = l->tfree };
		l->tfree = i;
	}
	l->tcap = ncap;
	return 0;
}

static uint64_t timer_add(loop_t *l, int64_t ms, loop_timer_fn fn,
			  loop_every_fn every, void *arg)
{
	if (l->tfree < 0 && grow_timers(l) < 0)
		return 0;
	int slot = l->tfree;
	struct timer *t = &l->t[slot];
	l->tfree = t->next_free;
	t->fn = fn;
	t->every = every;
	t->arg = arg;
	t->cancelled = 0;
	heap_put(l, slot, mono_ms() + (ms > 0 ? ms : 0));
	return ((uint64_t)(t->gen + 1) << 32) | (uint32_t)slot;
}

uint64_t loop_timer(loop_t *l, int64_t ms, loop_timer_fn fn, void *arg)
{
	return timer_add(l, ms, fn, NULL, arg);
}

uint64_t loop_every(loop_t *l, int64_t ms, loop_every_fn fn, void *arg)
{
	return timer_add(l, ms, NULL, fn, arg);
}

void loop_timer_cancel(loop_t *l, uint64_t id)
{
	if (!id)
		return;
	uint32_t slot = (uint32_t)id, gen = (uint32_t)(id >> 32) - 1;
	if (slot >= (uint32_t)l->tcap || l->t[slot].hidx == TIMER_FREE ||
	    l->t[slot].gen != gen)
		return;
	if (l->t[slot].hidx == TIMER_RUNNING) /* from its own callback */
		l->t[slot].cancelled = 1;
	else
		slot_free(l, heap_take(l, l->t[slot].hidx));
}

/* Runs the timers due at the start of the pass (when <= now) that were set
 * before it began, in (when, order set): a timer set or re-armed by one of
 * them waits for the next pass, so a 0 ms timer cannot starve the fds. */
static void run_timers(loop_t *l)
{
	uint64_t before = l->tseq;
	while (l->nheap > 0 && l->t[l->heap[0]].when <= l->now &&
	       l->t[l->heap[0]].seq < before) {
		int slot = heap_take(l, 0);
		struct timer *t = &l->t[slot];
		void *arg = t->arg;
		if (t->fn) {
			loop_timer_fn fn = t->fn;
			slot_free(l, slot);
			fn(l, arg);
			continue;
		}
		t->hidx = TIMER_RUNNING;
		int64_t next = t->every(l, arg);
		t = &l->t[slot]; /* the callback may have grown the table */
		if (t->cancelled || next < 0)
			slot_free(l, slot);
		else
			heap_put(l, slot, l->now + next);
	}
}

/* ---- signals ---- */

static void on_signal(int signo)
{
	int saved = errno;
	unsigned char b = (unsigned char)signo;
	if (signal_pipe_wr >= 0 && write(signal_pipe_wr, &b, 1) < 0) {
		/* pipe full: a signal of this kind is already pending */
	}
	errno = saved;
}

static void drain_signals(loop_t *l, int fd, int events, void *arg)
{
	(void)events;
	(void)arg;
	unsigned char b[16];
	ssize_t n;
	while ((n = read(fd, b, sizeof(b))) > 0)
		for (ssize_t i = 0; i < n; i++)
			if (b[i] < LOOP_NSIG && l->sigfn[b[i]])
				l->sigfn[b[i]](l, b[i], l->sigarg[b[i]]);
}

int loop_signal(loop_t *l, int signo, loop_signal_fn fn, void *arg)
{
	if (signo <= 0 || signo >= LOOP_NSIG)
		return -1;
	if (l->sigfd[0] < 0) {
		if (net_pipe(l->sigfd) < 0)
			return -1;
		signal_pipe_wr = l->sigfd[1];
		if (loop_watch(l, l->sigfd[0], LOOP_READ, drain_signals, NULL) < 0)
			return -1;
	}
	l->sigfn[signo] = fn;
	l->sigarg[signo] = arg;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	return sigaction(signo, &sa, NULL);
}

/* ---- the loop ---- */

static int next_timeout(loop_t *l, int max_wait_ms)
{
	if (l->nheap == 0)
		return max_wait_ms;
	int64_t d = l->t[l->heap[0]].when - mono_ms();
	if (d < 0)
		d = 0;
	if (max_wait_ms >= 0 && d > max_wait_ms)
		d = max_wait_ms;
	return d > 86400000 ? 86400000 : (int)d;
}

int loop_once(loop_t *l, int max_wait_ms)
{
	if (l->fcap < l->npfd) {
		struct fired *nf = realloc(l->fired, (size_t)l->pcap * sizeof(*nf));
		if (!nf)
			return -1;
		l->fired = nf;
		l->fcap = l->pcap;
	}
	int n = poll(l->pfd, (nfds_t)l->npfd, next_timeout(l, max_wait_ms));
	l->now = mono_ms();
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	int nf = 0;
	for (int i = 0; i < l->npfd && nf < n; i++) {
		short re = l->pfd[i].revents;
		if (!re)
			continue;
		int ev = 0;
		if (re & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
			ev |= LOOP_READ;
		if (re & (POLLOUT | POLLERR | POLLHUP))
			ev |= LOOP_WRITE;
		if (re & (POLLERR | POLLHUP | POLLNVAL))
			ev |= LOOP_ERROR;
		int fd = l->pfd[i].fd;
		l->fired[nf++] = (struct fired){ fd, ev, l->w[fd].gen };
	}
	for (int i = 0; i < nf; i++) {
		struct fired f = l->fired[i];
		struct watch *w = &l->w[f.fd];
		if (w->pidx < 0 || w->gen != f.gen || !w->fn)
			continue;
		/* an error is delivered as whatever the watcher waits for */
		int ev = f.events & w->mask;
		if (f.events & LOOP_ERROR)
			ev |= w->mask | LOOP_ERROR;
		if (ev & (LOOP_READ | LOOP_WRITE))
			w->fn(l, f.fd, ev, w->arg);
	}
	/* A 0 ms timer set by an fd callback is due at the clock of its
	 * setting, which may be a millisecond past the poll's return: read
	 * the clock again so that it runs in this pass, as loop.h promises. */
	l->now = mono_ms();
	run_timers(l);
	return 0;
}

int loop_run(loop_t *l)
{
	l->stop = 0;
	while (!l->stop)
		if (loop_once(l, -1) < 0)
			return -1;
	return 0;
}

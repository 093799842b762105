/* test_loop.c - timers in order, cancellation, periodic timers, the order
 * of 0 ms timers stated in loop.h, fd watches, signals. */
#include "check.h"
#include "loop.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static char order[16];
static int norder;

static void mark(loop_t *l, void *arg)
{
	(void)l;
	order[norder++] = *(const char *)arg;
}

static void test_timers(void)
{
	loop_t *l = loop_new();
	static const char a = 'a', b = 'b', c = 'c', d = 'd';
	loop_timer(l, 30, mark, (void *)&c);
	loop_timer(l, 10, mark, (void *)&a);
	uint64_t cancelled = loop_timer(l, 15, mark, (void *)&d);
	loop_timer(l, 20, mark, (void *)&b);
	loop_timer_cancel(l, cancelled);
	loop_timer_cancel(l, cancelled); /* twice is harmless */
	while (norder < 3)
		loop_once(l, 100);
	order[norder] = '\0';
	CHECK_STR(order, "abc");
	/* an id from a fired timer does not cancel a new timer in its slot */
	uint64_t again = loop_timer(l, 1, mark, (void *)&d);
	loop_timer_cancel(l, cancelled);
	CHECK(again != cancelled);
	while (norder < 4)
		loop_once(l, 100);
	CHECK_INT(order[3], 'd');
	loop_free(l);
}

static int reads;
static void on_read(loop_t *l, int fd, int ev, void *arg)
{
	(void)arg;
	char ch;
	CHECK(ev & LOOP_READ);
	if (read(fd, &ch, 1) == 1)
		reads++;
	if (reads == 2)
		loop_stop(l);
}

static void test_fds(void)
{
	loop_t *l = loop_new();
	int p[2];
	CHECK_INT(pipe(p), 0);
	CHECK_INT(loop_watch(l, p[0], LOOP_READ, on_read, NULL), 0);
	CHECK_INT(write(p[1], "xy", 2), 2);
	loop_run(l);
	CHECK_INT(reads, 2);
	/* a quiet fd is not reported, even when readable */
	loop_mask(l, p[0], 0);
	CHECK_INT(write(p[1], "z", 1), 1);
	loop_once(l, 20);
	CHECK_INT(reads, 2);
	loop_unwatch(l, p[0]);
	loop_unwatch(l, p[0]);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

static int got_signal;
static void on_sig(loop_t *l, int signo, void *arg)
{
	(void)arg;
	got_signal = signo;
	loop_stop(l);
}

static void test_signal(void)
{
	loop_t *l = loop_new();
	CHECK_INT(loop_signal(l, SIGUSR1, on_sig, NULL), 0);
	raise(SIGUSR1);
	loop_run(l);
	CHECK_INT(got_signal, SIGUSR1);
	loop_free(l);
}

/* ---- the order of one iteration (loop.h) ---- */

static char seen[64];
static int nseen;
static void note(char c) { if (nseen < (int)sizeof(seen) - 1) seen[nseen++] = c; }
static void note_timer(loop_t *l, void *arg) { (void)l; note(*(const char *)arg); }

static void on_fd_sets_timer(loop_t *l, int fd, int ev, void *arg)
{
	(void)ev;
	char c;
	if (read(fd, &c, 1) == 1)
		note(c);
	loop_timer(l, 0, note_timer, arg); /* as mq.c's cork does */
}

static void test_zero_ms_order(void)
{
	loop_t *l = loop_new();
	int p1[2], p2[2];
	CHECK(pipe(p1) == 0 && pipe(p2) == 0);
	static const char x = 'x', y = 'y';
	loop_watch(l, p1[0], LOOP_READ, on_fd_sets_timer, (void *)&x);
	loop_watch(l, p2[0], LOOP_READ, on_fd_sets_timer, (void *)&y);
	CHECK(write(p1[1], "A", 1) == 1 && write(p2[1], "B", 1) == 1);
	nseen = 0;
	CHECK_INT(loop_once(l, 1000), 0);
	seen[nseen] = '\0';
	/* both fd callbacks, then their timers in the order set, in ONE pass */
	CHECK_INT(nseen, 4);
	CHECK(strchr("AB", seen[0]) && strchr("AB", seen[1]));
	CHECK((seen[0] == 'A') == (seen[2] == 'x'));
	CHECK((seen[1] == 'B') == (seen[3] == 'y'));
	loop_unwatch(l, p1[0]);
	loop_unwatch(l, p2[0]);
	close(p1[0]); close(p1[1]); close(p2[0]); close(p2[1]);

	/* many timers due at once: FIFO, whatever the heap's shape */
	static const char digits[] = "0123456789abcdefghij";
	nseen = 0;
	for (int i = 0; i < 20; i++)
		loop_timer(l, 0, note_timer, (void *)&digits[i]);
	while (nseen < 20)
		loop_once(l, 100);
	seen[nseen] = '\0';
	CHECK_STR(seen, digits);
	loop_free(l);
}

/* A timer that sets a 0 ms timer: the new one waits for the next pass. */
static void sets_zero(loop_t *l, void *arg)
{
	note('s');
	loop_timer(l, 0, note_timer, arg);
}

static void test_no_starving(void)
{
	loop_t *l = loop_new();
	static const char z = 'z';
	nseen = 0;
	loop_timer(l, 0, sets_zero, (void *)&z);
	while (nseen == 0)
		loop_once(l, 100);
	CHECK_INT(nseen, 1);
	loop_once(l, 100);
	CHECK_INT(nseen, 2);
	CHECK_INT(seen[1], 'z');
	loop_free(l);
}

/* ---- periodic timers ---- */

struct every {
	int runs, stop_after, cancel_at, grow_at;
	int64_t period;
	uint64_t id;
	int64_t last, min_gap;
};

static void nop_timer(loop_t *l, void *arg) { (void)l; (void)arg; }

static int64_t tick(loop_t *l, void *arg)
{
	struct every *e = arg;
	int64_t now = loop_now(l);
	if (e->runs && now - e->last < e->min_gap)
		e->min_gap = now - e->last;
	e->last = now;
	e->runs++;
	if (e->runs == e->grow_at) /* the timer table grows under us */
		for (int i = 0; i < 200; i++)
			loop_timer(l, 100000, nop_timer, NULL);
	if (e->runs == e->cancel_at)
		loop_timer_cancel(l, e->id); /* stops, whatever we return */
	return e->runs == e->stop_after ? LOOP_TIMER_STOP : e->period;
}

static void test_every(void)
{
	loop_t *l = loop_new();

	/* runs until it returns LOOP_TIMER_STOP; periods are kept */
	struct every e = { .stop_after = 4, .period = 10, .grow_at = 2,
			   .min_gap = 1000000 };
	e.id = loop_every(l, 0, tick, &e);
	CHECK(e.id != 0);
	for (int i = 0; i < 200 && e.runs < 4; i++)
		loop_once(l, 100);
	CHECK_INT(e.runs, 4);
	CHECK(e.min_gap >= 10);
	loop_once(l, 30);
	CHECK_INT(e.runs, 4);
	loop_timer_cancel(l, e.id); /* stopped: harmless */

	/* cancelled from outside */
	struct every f = { .period = 1, .min_gap = 1000000 };
	f.id = loop_every(l, 0, tick, &f);
	while (f.runs < 2)
		loop_once(l, 100);
	loop_timer_cancel(l, f.id);
	int runs = f.runs;
	loop_once(l, 20);
	CHECK_INT(f.runs, runs);

	/* cancelled from its own callback */
	struct every g = { .period = 1, .cancel_at = 3, .min_gap = 1000000 };
	g.id = loop_every(l, 0, tick, &g);
	for (int i = 0; i < 100 && g.runs < 3; i++)
		loop_once(l, 100);
	loop_once(l, 20);
	loop_once(l, 20);
	CHECK_INT(g.runs, 3);

	/* a period of 0 runs once per pass, not in a loop within one */
	struct every h = { .period = 0, .min_gap = 1000000 };
	h.id = loop_every(l, 0, tick, &h);
	while (h.runs == 0)
		loop_once(l, 100);
	for (int i = 0; i < 5; i++) {
		int before = h.runs;
		loop_once(l, 100);
		CHECK_INT(h.runs, before + 1);
	}
	loop_timer_cancel(l, h.id);
	/* the id of a stopped timer does not cancel its slot's next timer */
	static const char q = 'q';
	nseen = 0;
	loop_timer(l, 0, note_timer, (void *)&q);
	loop_timer_cancel(l, g.id);
	loop_timer_cancel(l, h.id);
	while (nseen == 0)
		loop_once(l, 100);
	CHECK_INT(seen[0], 'q');
	loop_free(l);
}

int main(void)
{
	test_timers();
	test_zero_ms_order();
	test_no_starving();
	test_every();
	test_fds();
	test_signal();
	return check_report();
}

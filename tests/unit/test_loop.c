/* test_loop.c - timers in order, cancellation, fd watches, signals. */
#include "check.h"
#include "loop.h"

#include <signal.h>
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

int main(void)
{
	test_timers();
	test_fds();
	test_signal();
	return check_report();
}

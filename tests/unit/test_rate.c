/* test_rate.c - the --rate-limit token bucket (arithmetic, then on a real
 * loop with the limit changed at run time) and opt_size's byte counts. */
#include "check.h"
#include "opt.h"
#include "rate.h"

#include "../../config.h"

static void test_bucket(void)
{
	struct rate_bucket b;
	rate_bucket_set(&b, 1000, 0);
	CHECK_INT((long long)b.burst, 1000 * RATE_BURST_MS / 1000);
	CHECK_INT((long long)rate_bucket_grant(&b, 1 << 20), (long long)b.burst);
	rate_bucket_take(&b, b.burst);
	CHECK_INT((long long)rate_bucket_grant(&b, 10), 0);
	/* 1000 B/s: 1 byte per ms, fractions kept across refills */
	rate_bucket_refill(&b, 30);
	CHECK_INT(b.tokens, 30);
	rate_bucket_take(&b, 30);
	rate_bucket_set(&b, 300, 0);
	rate_bucket_take(&b, b.burst);
	for (int t = 1; t <= 10; t++)
		rate_bucket_refill(&b, t); /* 0.3 byte per ms */
	CHECK_INT(b.tokens, 3);
	/* capped at the burst however long it waited, no overflow */
	rate_bucket_set(&b, RATE_MAX, 0);
	rate_bucket_take(&b, 5);
	rate_bucket_refill(&b, 3600 * 1000);
	CHECK_INT(b.tokens, (long long)b.burst);
	/* a clock that goes back earns nothing */
	rate_bucket_set(&b, 1000, 500);
	rate_bucket_take(&b, b.burst);
	rate_bucket_refill(&b, 100);
	CHECK_INT(b.tokens, 0);
	/* a tiny limit still lets a byte through */
	rate_bucket_set(&b, 1, 0);
	CHECK_INT((long long)b.burst, 1);
	CHECK_INT((long long)rate_bucket_grant(&b, 100), 1);
	/* no limit: everything, and taking changes nothing */
	rate_bucket_set(&b, 0, 0);
	rate_bucket_take(&b, 1 << 30);
	CHECK_INT((long long)rate_bucket_grant(&b, 12345), 12345);
}

/* A reader that takes what it is granted, in reads of at most 64 KiB, and
 * waits when the bucket is empty, as a throttled download does. */
struct reader {
	rate_t *r;
	struct rate_waiter w;
	uint64_t got;
	int wakes;
};

static void read_some(struct reader *rd)
{
	for (int i = 0; i < 1000; i++) { /* a socket drains: so does this */
		size_t n = rate_grant(rd->r, 65536);
		if (!n) {
			CHECK_INT(rate_wait(rd->r, &rd->w), 0);
			return;
		}
		rate_take(rd->r, n);
		rd->got += n;
	}
}

static void on_wake(void *arg)
{
	struct reader *rd = arg;
	rd->wakes++;
	read_some(rd);
}

static void on_stop(loop_t *loop, void *arg)
{
	(void)arg;
	loop_stop(loop);
}

static void on_change(loop_t *loop, void *arg)
{
	(void)loop;
	rate_set(arg, 400000);
}

static void test_on_loop(void)
{
	loop_t *loop = loop_new();
	rate_t *r = rate_new(loop, 200000);
	CHECK_INT((long long)rate_limit(r), 200000);
	struct reader a = { r, { 0 }, 0, 0 }, b = { r, { 0 }, 0, 0 };
	a.w.wake = on_wake, a.w.arg = &a;
	b.w.wake = on_wake, b.w.arg = &b;
	read_some(&a);
	read_some(&b);
	CHECK(a.w.queued && b.w.queued);
	/* 1 s at 200 kB/s, then 1 s at 400 kB/s: 600 kB plus one burst */
	loop_timer(loop, 1000, on_change, r);
	loop_timer(loop, 2000, on_stop, NULL);
	int64_t t0 = loop_now(loop);
	loop_run(loop);
	double secs = (double)(loop_now(loop) - t0) / 1000;
	uint64_t got = a.got + b.got;
	uint64_t most = 200000 * RATE_BURST_MS / 1000 + 400000 * RATE_BURST_MS / 1000 +
			(uint64_t)(200000 + 400000 * (secs - 1));
	CHECK(got <= most);
	CHECK(got >= 600000 * 9 / 10);
	/* both readers took turns: neither starved */
	CHECK(a.got > got / 4 && b.got > got / 4);
	CHECK(a.wakes > 10 && b.wakes > 10);
	printf("# %.2f s: %llu bytes (a %llu, b %llu), %d + %d wakes\n", secs,
	       (unsigned long long)got, (unsigned long long)a.got,
	       (unsigned long long)b.got, a.wakes, b.wakes);
	/* a cancelled waiter is never woken again */
	rate_cancel(r, &a.w);
	rate_cancel(r, &a.w);
	CHECK(!a.w.queued);
	int wakes = a.wakes;
	loop_timer(loop, 200, on_stop, NULL);
	loop_run(loop);
	CHECK_INT(a.wakes, wakes);
	/* lifting the limit wakes the waiter, which then reads freely */
	rate_set(r, 0);
	loop_timer(loop, 200, on_stop, NULL);
	uint64_t before = b.got;
	b.got = 0;
	rate_take(r, 1);
	CHECK_INT((long long)rate_grant(r, 77), 77);
	loop_run(loop);
	CHECK(!b.w.queued);
	(void)before;
	rate_free(r);
	rate_free(NULL);
	CHECK_INT((long long)rate_grant(NULL, 5), 5);
	loop_free(loop);
}

static void test_opt_size(void)
{
	unsigned long long v;
	CHECK_INT(opt_size("0", &v), 0);
	CHECK_INT((long long)v, 0);
	CHECK_INT(opt_size("123", &v), 0);
	CHECK_INT((long long)v, 123);
	CHECK_INT(opt_size("2k", &v), 0);
	CHECK_INT((long long)v, 2048);
	CHECK_INT(opt_size("2K", &v), 0);
	CHECK_INT((long long)v, 2048);
	CHECK_INT(opt_size("64M", &v), 0);
	CHECK_INT((long long)v, 64LL << 20);
	CHECK_INT(opt_size("3G", &v), 0);
	CHECK_INT((long long)v, 3LL << 30);
	const char *bad[] = { "", "k", "-1", "+1", " 1", "1 ", "1m", "1g", "1KB",
			      "1.5M", "1T", "0x10", "18446744073709551616",
			      "17179869184G", NULL };
	for (int i = 0; bad[i]; i++)
		CHECK_INT(opt_size(bad[i], &v), -1);
	CHECK_INT(opt_size("18446744073709551615", &v), 0);
	CHECK(v == 18446744073709551615ULL);
}

int main(void)
{
	test_bucket();
	test_opt_size();
	test_on_loop();
	return check_report();
}

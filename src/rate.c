/* rate.c - the shared token bucket of --rate-limit; see rate.h. */
#include "rate.h"
#include "../config.h"

#include <stdlib.h>

/* ---- the arithmetic --------------------------------------------------------- */

void rate_bucket_set(struct rate_bucket *b, uint64_t limit, int64_t now_ms)
{
	b->limit = limit;
	b->burst = limit * RATE_BURST_MS / 1000;
	if (b->burst < 1)
		b->burst = 1;
	b->tokens = (int64_t)b->burst;
	b->last_ms = now_ms;
	b->frac = 0;
}

void rate_bucket_refill(struct rate_bucket *b, int64_t now_ms)
{
	int64_t el = now_ms - b->last_ms;
	if (el <= 0)
		return; /* the same millisecond, or a clock that went back */
	b->last_ms = now_ms;
	if (el > 1000)
		el = 1000; /* the bucket is full long before: no overflow */
	uint64_t earned = b->limit * (uint64_t)el + b->frac;
	b->tokens += (int64_t)(earned / 1000);
	b->frac = earned % 1000;
	if (b->tokens >= (int64_t)b->burst) {
		b->tokens = (int64_t)b->burst;
		b->frac = 0;
	}
}

size_t rate_bucket_grant(const struct rate_bucket *b, size_t want)
{
	if (!b->limit)
		return want;
	if (b->tokens <= 0)
		return 0;
	return (uint64_t)b->tokens < want ? (size_t)b->tokens : want;
}

void rate_bucket_take(struct rate_bucket *b, size_t n)
{
	if (b->limit)
		b->tokens -= (int64_t)n;
}

/* ---- on the loop --------------------------------------------------------------- */

struct rate {
	loop_t *loop;
	struct rate_bucket b;
	uint64_t timer;                 /* refill, while not full or waited on */
	struct rate_waiter *head, *tail;
};

rate_t *rate_new(loop_t *loop, uint64_t limit)
{
	rate_t *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->loop = loop;
	rate_bucket_set(&r->b, limit, loop_now(loop));
	return r;
}

void rate_free(rate_t *r)
{
	if (!r)
		return;
	loop_timer_cancel(r->loop, r->timer);
	free(r);
}

static struct rate_waiter *pop(rate_t *r)
{
	struct rate_waiter *w = r->head;
	if (w) {
		r->head = w->next;
		if (!r->head)
			r->tail = NULL;
		w->next = NULL;
		w->queued = 0;
	}
	return w;
}

/* Every RATE_TICK_MS while needed: refill, then wake waiters in turn while
 * tokens last. Each one woken reads what it may and, with the bucket
 * empty again, queues itself at the back, so downloads take turns. */
static int64_t on_refill(loop_t *loop, void *arg)
{
	rate_t *r = arg;
	rate_bucket_refill(&r->b, loop_now(loop));
	struct rate_waiter *w;
	while (rate_bucket_grant(&r->b, 1) > 0 && (w = pop(r)))
		w->wake(w->arg); /* may cancel others: they leave the queue */
	if (!r->head && (!r->b.limit || r->b.tokens >= (int64_t)r->b.burst)) {
		r->timer = 0;
		return LOOP_TIMER_STOP;
	}
	return RATE_TICK_MS;
}

static int arm(rate_t *r)
{
	if (r->timer)
		return 0;
	r->b.last_ms = loop_now(r->loop); /* full until now: nothing earned */
	r->timer = loop_every(r->loop, RATE_TICK_MS, on_refill, r);
	return r->timer ? 0 : -1;
}

void rate_set(rate_t *r, uint64_t limit)
{
	rate_bucket_set(&r->b, limit, loop_now(r->loop));
	if (r->head)
		arm(r); /* already armed when it has waiters: harmless */
}

uint64_t rate_limit(const rate_t *r)
{
	return r ? r->b.limit : 0;
}

size_t rate_grant(rate_t *r, size_t want)
{
	return r ? rate_bucket_grant(&r->b, want) : want;
}

void rate_take(rate_t *r, size_t n)
{
	if (!r || !r->b.limit || !n)
		return;
	rate_bucket_take(&r->b, n);
	arm(r); /* on ENOMEM the bucket stays low and rate_wait reports it */
}

int rate_wait(rate_t *r, struct rate_waiter *w)
{
	if (w->queued)
		return 0;
	w->next = NULL;
	w->queued = 1;
	if (r->tail)
		r->tail->next = w;
	else
		r->head = w;
	r->tail = w;
	if (arm(r) < 0) {
		rate_cancel(r, w);
		return -1;
	}
	return 0;
}

void rate_cancel(rate_t *r, struct rate_waiter *w)
{
	if (!r || !w->queued)
		return;
	struct rate_waiter *prev = NULL;
	for (struct rate_waiter *k = r->head; k; prev = k, k = k->next) {
		if (k != w)
			continue;
		if (prev)
			prev->next = k->next;
		else
			r->head = k->next;
		if (r->tail == k)
			r->tail = prev;
		break;
	}
	w->next = NULL;
	w->queued = 0;
}

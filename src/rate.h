/*
 * rate - the worker's bandwidth limit (--rate-limit): one token bucket on
 * the event loop shared by all of a process's downloads. A download asks
 * how much it may read (rate_grant), reads at most that, reports it
 * (rate_take); with nothing granted it stops reading (removes its read
 * interest) and waits (rate_wait) until the refill timer has put tokens
 * back. No sleeping, no busy waiting: while the bucket is empty nothing
 * polls the sockets, and the timer runs only while the bucket is not full.
 */
#ifndef WARREN_RATE_H
#define WARREN_RATE_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

/* The arithmetic, apart from the loop (unit-tested alone). */
struct rate_bucket {
	uint64_t limit;         /* bytes per second; 0: no limit */
	uint64_t burst;         /* most tokens held: RATE_BURST_MS worth, >= 1 */
	int64_t tokens;         /* bytes that may be read now */
	int64_t last_ms;        /* clock of the last refill */
	uint64_t frac;          /* byte-milliseconds not yet a whole byte */
};

/* Sets the limit (0: none) as of now_ms; the bucket starts full. */
void rate_bucket_set(struct rate_bucket *b, uint64_t limit, int64_t now_ms);
/* Adds the tokens earned since the last refill, up to the burst. */
void rate_bucket_refill(struct rate_bucket *b, int64_t now_ms);
/* Of want bytes, how many may be read now (want when there is no limit). */
size_t rate_bucket_grant(const struct rate_bucket *b, size_t want);
/* n bytes were read. */
void rate_bucket_take(struct rate_bucket *b, size_t n);

typedef struct rate rate_t;

/* A download waiting for tokens: embedded in it, woken once. */
struct rate_waiter {
	struct rate_waiter *next;
	void (*wake)(void *arg);        /* may read, wait again or end */
	void *arg;
	int queued;
};

/* A bucket of limit bytes/s (0: none) on loop, or NULL on ENOMEM. */
rate_t *rate_new(loop_t *loop, uint64_t limit);
void rate_free(rate_t *r);
/* Changes the limit from now on (a control message); waiting downloads are
 * woken at the next refill, or at once when the limit is lifted. */
void rate_set(rate_t *r, uint64_t limit);
uint64_t rate_limit(const rate_t *r);
/* As the rate_bucket_ functions; r may be NULL (no limit). */
size_t rate_grant(rate_t *r, size_t want);
void rate_take(rate_t *r, size_t n);
/* Queues w to be woken when tokens are back (the caller has stopped
 * reading). 0, or -1 when the refill timer cannot be set (ENOMEM). */
int rate_wait(rate_t *r, struct rate_waiter *w);
/* Takes w out of the queue (its download ends); harmless when not queued. */
void rate_cancel(rate_t *r, struct rate_waiter *w);

#endif

/*
 * lookup - finds tasks' final notifications (done, failed, cancelled) on
 * the `notifications` stream, for a worker that got a task redelivered:
 * the worker that had it may have finished it and lost only the confirm of
 * its `done` or its ack with its connection. Found: the task is settled
 * without a second download or a second notification.
 *
 * A lookup reads the stream with a temporary stream consumer from the
 * task's publish time (its timestamp property) minus WORKER_LOOKUP_MARGIN_S,
 * and ends at the first notification stamped after the moment it was asked
 * (the stream's end as it was then), after WORKER_LOOKUP_IDLE_MS without a
 * notification (an idle stream's end), or after WORKER_LOOKUP_MAX_MS at
 * most (a long backlog: the task is then downloaded; at-least-once holds).
 * Lookups asked while one reads join it when it began early enough, else
 * the next one covers them all: one consumer at a time.
 */
#ifndef WARREN_LOOKUP_H
#define WARREN_LOOKUP_H

#include <stdint.h>

#include "loop.h"
#include "mq.h"

typedef struct lookup lookup_t;

/* The answer to lookup_ask: status is the final status found ("done",
 * "failed" or "cancelled"), or NULL when none was (download it); file is
 * the file that notification names ("" when none). Called from the loop,
 * never from inside lookup_ask. */
typedef void (*lookup_fn)(void *cookie, const char *status, const char *file);

lookup_t *lookup_new(loop_t *loop, mq_t *mq, lookup_fn fn);
/* Stops reading; pending requests are dropped unanswered. */
void lookup_free(lookup_t *lk);

/* Looks for task id's final notification from Unix time since_s on
 * (0: unknown, from the stream's first). 0, or -1 out of memory. The
 * cookie names the request (one per cookie). */
int lookup_ask(lookup_t *lk, const char *id, int64_t since_s, void *cookie);
/* Forgets the request of cookie (its job is gone); no answer follows. */
void lookup_cancel(lookup_t *lk, void *cookie);

#endif

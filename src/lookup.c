/*
 * lookup.c - final notifications looked for on the `notifications` stream;
 * see lookup.h.
 *
 * One session at a time: a stream consumer from the earliest time asked
 * (minus the margin), every request of the session checked against every
 * notification read. The session ends at the first notification stamped
 * after the latest request was asked (seconds: the one being stamped in
 * that very second is read), or when the stream is idle or the session
 * long; its requests not found are answered NULL, and the requests that
 * came too late to join start the next session.
 */
#include "lookup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "json.h"
#include "log.h"

struct req {
	struct req *next;
	char id[40];
	int64_t since;          /* Unix s; 0 = from the first */
	void *cookie;
	int in_session;
};

struct lookup {
	loop_t *loop;
	mq_t *mq;
	lookup_fn fn;
	struct req *reqs;
	int consumer;           /* the session's, or -1 */
	int64_t from_s;         /* where it reads from (Unix s), 0 = first */
	int64_t end_s;          /* it ends at a notification stamped after this */
	int64_t began_ms, last_ms;  /* loop clock: the session's start, its last delivery */
	unsigned long read;     /* notifications it read */
	uint64_t tick, kick;
};

static void begin(lookup_t *lk);

static void on_kick(loop_t *loop, void *arg)
{
	lookup_t *lk = arg;
	(void)loop;
	lk->kick = 0;
	if (lk->consumer < 0 && lk->reqs)
		begin(lk);
}

/* A session soon (from the loop: answers never come from inside a call). */
static void kick(lookup_t *lk)
{
	if (!lk->kick)
		lk->kick = loop_timer(lk->loop, 0, on_kick, lk);
}

/* Unlinks r and answers it. */
static void answer(lookup_t *lk, struct req *r, const char *status, const char *file)
{
	for (struct req **p = &lk->reqs; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			break;
		}
	}
	void *cookie = r->cookie;
	free(r);
	lk->fn(cookie, status, file); /* may ask or cancel */
}

/* The session is over: what it did not find is not there. */
static void finish(lookup_t *lk, const char *why)
{
	mq_unsubscribe(lk->mq, lk->consumer);
	lk->consumer = -1;
	loop_timer_cancel(lk->loop, lk->tick);
	lk->tick = 0;
	log_info("lookup: %lu notifications read in %lld ms (%s)", lk->read,
		 (long long)(loop_now(lk->loop) - lk->began_ms), why);
	for (;;) {
		struct req *r = lk->reqs;
		while (r && !r->in_session)
			r = r->next;
		if (!r)
			break;
		answer(lk, r, NULL, "");
	}
	if (lk->reqs)
		kick(lk);
}

/* The stream's end as it was when asked, by the clock: idle, or too long. */
static int64_t on_tick(loop_t *loop, void *arg)
{
	lookup_t *lk = arg;
	int64_t now = loop_now(loop);
	if (!mq_is_up(lk->mq)) {
		/* nothing can come while the broker is away: that is no end
		 * (the consumer reads again from its start once back) */
		lk->last_ms = now;
		lk->began_ms += WORKER_LOOKUP_IDLE_MS / 4;
		return WORKER_LOOKUP_IDLE_MS / 4;
	}
	if (now - lk->last_ms >= WORKER_LOOKUP_IDLE_MS) {
		lk->tick = 0; /* stopped by the return below */
		finish(lk, "the stream is idle");
		return LOOP_TIMER_STOP;
	}
	if (now - lk->began_ms >= WORKER_LOOKUP_MAX_MS) {
		lk->tick = 0;
		finish(lk, "time is up");
		return LOOP_TIMER_STOP;
	}
	return WORKER_LOOKUP_IDLE_MS / 4;
}

static struct mq_start session_start(void *arg)
{
	const lookup_t *lk = arg;
	if (!lk->from_s)
		return (struct mq_start){ MQ_FROM_FIRST, 0 };
	return (struct mq_start){ MQ_FROM_TIME, lk->from_s };
}

/* What a notification says of its task. */
struct note {
	char id[40], status[16];
	char file[4096];        /* "" when it names none */
};

/* The id, status and file of a notification; 0, or -1 when it has no id
 * or no status. */
static int note_fields(const char *js, size_t len, struct note *n)
{
	jsmntok_t t[WORKER_LOOKUP_TOKENS];
	int count = json_parse(js, len, t, WORKER_LOOKUP_TOKENS);
	int got = 0;
	n->file[0] = '\0';
	if (count < 1 || t[0].type != JSMN_OBJECT)
		return -1;
	for (int i = 1; i + 1 < count; i = json_skip(t, i + 1)) {
		if (t[i + 1].type != JSMN_STRING)
			continue;
		if (json_tok_is(js, &t[i], "id"))
			got += json_tok_str(js, &t[i + 1], n->id, sizeof(n->id)) >= 0;
		else if (json_tok_is(js, &t[i], "status"))
			got += json_tok_str(js, &t[i + 1], n->status, sizeof(n->status)) >= 0;
		else if (json_tok_is(js, &t[i], "file") &&
			 json_tok_str(js, &t[i + 1], n->file, sizeof(n->file)) < 0)
			n->file[0] = '\0';
	}
	return got == 2 ? 0 : -1;
}

/* The first request of the session for id (any, id NULL), or NULL. */
static struct req *in_session(const lookup_t *lk, const char *id)
{
	for (struct req *r = lk->reqs; r; r = r->next)
		if (r->in_session && (!id || !strcmp(r->id, id)))
			return r;
	return NULL;
}

static int is_final(const char *status)
{
	return !strcmp(status, "done") || !strcmp(status, "failed") ||
	       !strcmp(status, "cancelled");
}

/* Answers the requests for the task of one notification, when final. */
static void check_note(lookup_t *lk, const char *js, size_t len)
{
	struct note n;
	if (note_fields(js, len, &n) == 0 && is_final(n.status)) {
		struct req *r;
		/* answer() may change the list: look again from its head */
		while ((r = in_session(lk, n.id)))
			answer(lk, r, n.status, n.file);
	}
}

static void on_note(const struct mq_delivery *d, void *arg)
{
	lookup_t *lk = arg;
	mq_ack(lk->mq, d->tag); /* a stream's credit */
	if (lk->consumer < 0)
		return; /* read before the cancel took effect */
	lk->read++;
	lk->last_ms = loop_now(lk->loop);
	/* one notification, or an array of them (a worker's or the tasker's
	 * gathered ones) */
	size_t pos = 0, start, end;
	int r = json_array_item(d->body, d->len, &pos, &start, &end);
	if (r < 0)
		check_note(lk, d->body, d->len);
	for (; r == 1; r = json_array_item(d->body, d->len, &pos, &start, &end))
		check_note(lk, d->body + start, end - start);
	if (lk->consumer >= 0 && d->timestamp > lk->end_s)
		finish(lk, "read past the time asked");
	else if (lk->consumer >= 0 && !in_session(lk, NULL))
		finish(lk, "all found");
}

static void begin(lookup_t *lk)
{
	int64_t from = INT64_MAX;
	for (struct req *r = lk->reqs; r; r = r->next)
		if (r->since < from)
			from = r->since;
	lk->from_s = from > WORKER_LOOKUP_MARGIN_S ? from - WORKER_LOOKUP_MARGIN_S : 0;
	lk->end_s = loop_wall_ms() / 1000;
	lk->began_ms = lk->last_ms = loop_now(lk->loop);
	lk->read = 0;
	struct mq_consumer c = { .queue = QUEUE_NOTIFICATIONS, .prefetch = WORKER_LOOKUP_PREFETCH,
				 .stream = 1, .start = session_start, .on_deliver = on_note,
				 .arg = lk };
	lk->consumer = mq_subscribe(lk->mq, &c);
	lk->tick = lk->consumer >= 0 ? loop_every(lk->loop, WORKER_LOOKUP_IDLE_MS / 4, on_tick, lk)
				      : 0;
	for (struct req *r = lk->reqs; r; r = r->next)
		r->in_session = 1;
	if (lk->consumer < 0 || !lk->tick) {
		log_error("lookup: no consumer for the notifications stream; downloading");
		finish(lk, "no consumer");
	}
}

lookup_t *lookup_new(loop_t *loop, mq_t *mq, lookup_fn fn)
{
	lookup_t *lk = calloc(1, sizeof(*lk));
	if (!lk)
		return NULL;
	lk->loop = loop;
	lk->mq = mq;
	lk->fn = fn;
	lk->consumer = -1;
	return lk;
}

void lookup_free(lookup_t *lk)
{
	if (!lk)
		return;
	if (lk->consumer >= 0)
		mq_unsubscribe(lk->mq, lk->consumer);
	loop_timer_cancel(lk->loop, lk->tick);
	loop_timer_cancel(lk->loop, lk->kick);
	while (lk->reqs) {
		struct req *r = lk->reqs;
		lk->reqs = r->next;
		free(r);
	}
	free(lk);
}

int lookup_ask(lookup_t *lk, const char *id, int64_t since_s, void *cookie)
{
	struct req *r = calloc(1, sizeof(*r));
	if (!r)
		return -1;
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->since = since_s > 0 ? since_s : 0;
	r->cookie = cookie;
	r->next = lk->reqs;
	lk->reqs = r;
	/* join the session reading now when it began early enough; it then
	 * reads on to a notification stamped after this request too */
	int64_t from = r->since > WORKER_LOOKUP_MARGIN_S ? r->since - WORKER_LOOKUP_MARGIN_S : 0;
	if (lk->consumer >= 0 && from >= lk->from_s) {
		r->in_session = 1;
		lk->end_s = loop_wall_ms() / 1000;
		return 0;
	}
	kick(lk);
	return 0;
}

void lookup_cancel(lookup_t *lk, void *cookie)
{
	for (struct req **p = &lk->reqs; *p; p = &(*p)->next) {
		if ((*p)->cookie == cookie) {
			struct req *r = *p;
			*p = r->next;
			free(r);
			return;
		}
	}
}

/*
 * middleman - consumes `notifications`, keeps every task's latest state
 * and the recent notifications (store.c; across restarts with --journal)
 * and pushes them to WebSocket clients every --interval seconds; serves
 * the live page, /tasks and /health over HTTP.
 *
 * A stream message holds one notification, or a JSON array of up to
 * NOTIFY_SEQ_STRIDE (the tasker's `queued` ones, gathered: a stream write
 * costs the broker as much as the task's own). A notification's seq is
 * its message's stream offset x NOTIFY_SEQ_STRIDE + 1 + its index in the
 * message, the same on every middleman. A message is acknowledged to the
 * broker only once stored
 * (and, with a journal, written and fdatasync'ed: deliveries that arrive
 * together are committed with one sync). Clients are pushed only what is
 * committed.
 *
 * The journal holds the stored notifications and position records
 * "@ HANDLED HISTORY_FROM STRIDE": the seq of the last notification handled
 * (stored, or dropped as a copy or invalid), from whose message a restart
 * resumes reading the stream, where the history starts (a compacted
 * journal lacks what only the history held), and NOTIFY_SEQ_STRIDE. A
 * journal starts with one, which tells it from an older warren's (seq an
 * arrival count, or the offset + 1).
 *
 * WebSocket clients leave the HTTP server at the upgrade and belong to
 * push.c from then on.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "http.h"
#include "journal.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "mq.h"
#include "net.h"
#include "opt.h"
#include "os.h"
#include "page.h"
#include "push.h"
#include "store.h"
#include "task.h"
#include "url.h"
#include "webpage.h"
#include "ws.h"

#define PROG "middleman"

struct middleman {
	loop_t *loop;
	http_server_t *http;
	mq_t *mq;
	store_t *store;
	push_t *push;
	journal_t *journal;
	const char *token;
	buf_t page;                  /* page.html, --tasker-url written in, gzip */
	unsigned long interval;
	/* committed: stored (journaled and synced) and acknowledged */
	uint64_t committed_seq, pushed_seq;
	/* the seq of the last notification handled (stored or dropped):
	 * reading resumes at the offset after it, i.e. at offset handled */
	uint64_t handled;
	uint64_t journaled;          /* the last handled that the journal has */
	size_t replayed;             /* records seen while opening the journal */
	int old_journal;             /* its first record is no position */
	unsigned conn_gen;           /* counts lost connections */
	int behind_logged;           /* offsets far behind the position: said */
	struct dead *dead;           /* MIDDLEMAN_DEAD_PREFETCH dead letters */
	uint64_t *acks;              /* delivery tags waiting for the commit */
	size_t nacks, acks_cap;
	uint64_t commit_timer;
	/* while the journal fails (disk full, I/O error) deliveries wait
	 * here, in order and unacknowledged, and are retried with backoff */
	struct parked **parked;
	size_t nparked;
	int journal_failing;         /* the state, logged once per change */
	int notes;                   /* the consumer of `notifications` */
	int reading_paused;          /* parking full: not reading the stream */
	int sync_failed;             /* the acks wait for a sync that failed */
	uint64_t retry_timer;
	int64_t retry_ms;
	size_t compact_at;           /* records at the last failed compaction */
	int stopping;
	int64_t stop_deadline;
};

/* A delivery the journal could not take yet. */
struct parked {
	uint64_t tag;
	uint64_t seq;
	size_t len;
	char body[];
};

static const char json_type[] = "application/json";

/* Every --interval seconds: what was committed since goes to the clients. */
static int64_t on_push_tick(loop_t *loop, void *arg)
{
	struct middleman *m = arg;
	(void)loop;
	if (m->committed_seq > m->pushed_seq) {
		m->pushed_seq = m->committed_seq;
		push_publish(m->push);
	}
	return (int64_t)m->interval * 1000;
}

/* ---- WebSocket upgrade ---- */

static int query_token_ok(const struct http_request *req, const char *token)
{
	char given[256];
	if (http_query_param(req, "token", given, sizeof(given)) != 1)
		return 0;
	return http_secret_equal(given, strlen(given), token, strlen(token));
}

/* ?since=SEQ (0 when absent). 0, or -1 when it is not a whole number. */
static int since_param(const struct http_request *req, uint64_t *since)
{
	char v[32];
	int r = http_query_param(req, "since", v, sizeof(v));
	*since = 0;
	if (r == 0)
		return 0;
	char *end;
	errno = 0;
	unsigned long long s = strtoull(v, &end, 10);
	if (r < 0 || !*v || *end || errno || v[0] == '-')
		return -1;
	*since = s;
	return 0;
}

/* Parses ?since= and ?task=. 0, or -1 with a reason. */
static int ws_params(const struct http_request *req, uint64_t *since,
		     char *task, size_t tasklen, const char **why)
{
	if (since_param(req, since) < 0) {
		*why = "since must be a whole number";
		return -1;
	}
	task[0] = '\0';
	int r = http_query_param(req, "task", task, tasklen);
	if (r < 0 || (r == 1 && !task[0])) {
		*why = "task must be a task id";
		return -1;
	}
	return 0;
}

static void upgrade(struct middleman *m, http_conn_t *hc,
		    const struct http_request *req)
{
	char task[NOTIFY_MAX_ID + 1];
	const char *why = NULL;
	uint64_t since;
	if (ws_params(req, &since, task, sizeof(task), &why) < 0) {
		http_respond_error(hc, 400, why, NULL);
		return;
	}
	push_upgrade(m->push, hc, req, since, task[0] ? task : NULL);
}

/* ---- notifications ---- */

/* A position record: "@ HANDLED HISTORY_FROM STRIDE" (NOTIFY_SEQ_STRIDE:
 * a journal numbered otherwise is an older warren's). */
static size_t position_record(const struct middleman *m, char *out, size_t cap)
{
	int n = snprintf(out, cap, "@ %llu %llu %u", (unsigned long long)m->handled,
			 (unsigned long long)store_history_start(m->store),
			 (unsigned)NOTIFY_SEQ_STRIDE);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Reads a position record. 0, or -1 when rec is not one. */
static int parse_position(const char *rec, size_t len, uint64_t *handled,
			  uint64_t *from)
{
	char b[64], *end;
	if (len < 2 || len >= sizeof(b) || rec[0] != '@' || rec[1] != ' ')
		return -1;
	memcpy(b, rec, len);
	b[len] = '\0';
	errno = 0;
	unsigned long long h = strtoull(b + 2, &end, 10);
	if (*end != ' ' || !(end[1] >= '0' && end[1] <= '9'))
		return -1;
	unsigned long long f = strtoull(end + 1, &end, 10);
	if (*end != ' ' || !(end[1] >= '0' && end[1] <= '9'))
		return -1;
	unsigned long long stride = strtoull(end + 1, &end, 10);
	if (*end || errno || h > STORE_MAX_SEQ || f > STORE_MAX_SEQ + 1 ||
	    stride != NOTIFY_SEQ_STRIDE)
		return -1;
	*handled = h;
	*from = f;
	return 0;
}

struct compact_iter {
	struct middleman *m;
	uint64_t seq;
	int started;
	char pos[64];
};

/* The journal keeps exactly what the store holds: a position record,
 * then the history and every task's state, merged in seq order. */
static const char *compact_next(void *arg, size_t *len)
{
	struct compact_iter *it = arg;
	if (!it->started) {
		it->started = 1;
		*len = position_record(it->m, it->pos, sizeof(it->pos));
		return it->pos;
	}
	store_t *s = it->m->store;
	struct store_entry *h = store_at(s, store_after(s, it->seq));
	struct store_entry *t = store_task_after(s, it->seq);
	struct store_entry *e = !h ? t : !t ? h : h->seq < t->seq ? h : t;
	if (!e)
		return NULL;
	it->seq = e->seq;
	*len = e->len;
	return e->text;
}

static void park_drop(struct middleman *m)
{
	for (size_t i = 0; i < m->nparked; i++)
		free(m->parked[i]);
	m->nparked = 0;
}

static void retry_journal(loop_t *loop, void *arg);

/* The journal failed with err: from now on deliveries are parked, and
 * retried with backoff until it takes them. */
static void journal_failed(struct middleman *m, int err)
{
	if (!m->journal_failing) {
		log_error("journal: %s: notifications held unacknowledged and "
			  "retried until it has room", strerror(err));
		m->journal_failing = 1;
		m->retry_ms = JOURNAL_RETRY_MIN_MS;
	} else if (m->retry_ms < JOURNAL_RETRY_MAX_MS) {
		m->retry_ms *= 2;
		if (m->retry_ms > JOURNAL_RETRY_MAX_MS)
			m->retry_ms = JOURNAL_RETRY_MAX_MS;
	}
	if (!m->retry_timer)
		m->retry_timer = loop_timer(m->loop, m->retry_ms, retry_journal, m);
}

/* Commits what was stored since the last commit: one sync, the acks, the
 * push (at once with --interval 0), and compaction when due. */
static void commit(loop_t *loop, void *arg)
{
	struct middleman *m = arg;
	(void)loop;
	m->commit_timer = 0;
	if (m->journal && m->handled > m->journaled) {
		/* the last ones were dropped: where to resume. Best effort:
		 * without it a restart reads them again and drops them again */
		char rec[64];
		size_t n = position_record(m, rec, sizeof(rec));
		if (n && journal_append(m->journal, rec, n) == 0)
			m->journaled = m->handled;
	}
	if (m->journal && journal_sync(m->journal) < 0) {
		/* nothing is acknowledged before it is stored: the acks wait
		 * for a sync that works */
		m->sync_failed = 1;
		journal_failed(m, errno);
		return;
	}
	for (size_t i = 0; i < m->nacks; i++)
		mq_ack(m->mq, m->acks[i]);
	m->nacks = 0;
	m->committed_seq = store_last_seq(m->store);
	push_commit(m->push, m->committed_seq);
	if (m->interval == 0) {
		m->pushed_seq = m->committed_seq;
		push_publish(m->push);
	}
	/* after a failed compaction (no room for the copy), try again only
	 * JOURNAL_SLACK records later, not at every commit */
	if (m->journal &&
	    journal_records(m->journal) > store_count(m->store) +
	    store_tasks(m->store) + JOURNAL_SLACK &&
	    journal_records(m->journal) >= m->compact_at + JOURNAL_SLACK) {
		struct compact_iter it = { .m = m };
		size_t before = journal_records(m->journal);
		m->compact_at = 0;
		if (journal_compact(m->journal, compact_next, &it) < 0) {
			m->compact_at = before;
			log_error("journal: compaction failed: %s", strerror(errno));
		} else
			log_info("journal: compacted %zu records to %zu", before,
				 journal_records(m->journal));
	}
}

/* Queues tag's ack for the commit; tag 0 (none: mq never gives it) is
 * nothing to do. */
static int add_ack(struct middleman *m, uint64_t tag)
{
	if (!tag)
		return 0;
	if (m->nacks == m->acks_cap) {
		size_t ncap = m->acks_cap ? m->acks_cap * 2 : MIDDLEMAN_PREFETCH;
		uint64_t *na = realloc(m->acks, ncap * sizeof(*na));
		if (!na)
			return -1;
		m->acks = na;
		m->acks_cap = ncap;
	}
	m->acks[m->nacks++] = tag;
	return 0;
}

/* Commits soon: what was handled since the last commit. */
static void commit_soon(struct middleman *m)
{
	if (!m->commit_timer)
		m->commit_timer = loop_timer(m->loop, 0, commit, m);
}

/* The stream offset of the message holding notification seq. */
static uint64_t offset_of(uint64_t seq)
{
	return (seq - 1) / NOTIFY_SEQ_STRIDE;
}

/* Done with a delivery that is not stored: acknowledged at the commit. */
static void drop(struct middleman *m, uint64_t tag, uint64_t seq)
{
	if (add_ack(m, tag) < 0)
		log_error("out of memory");
	m->handled = seq;
	commit_soon(m);
}

/* Stores notification seq (or drops a bad one, or a copy) and queues the
 * ack of tag (0: none, for all but a message's last notification). -1
 * when the journal failed: nothing was stored, errno says why. */
static int store_one(struct middleman *m, uint64_t seq, uint64_t tag,
		     const char *body, size_t len)
{
	char err[160];
	if (seq <= m->handled) {
		/* handled before: a stream may start before the offset asked
		 * (at its chunk's first); or the stream is a new one */
		if (offset_of(seq) + MIDDLEMAN_BEHIND_WARN < offset_of(m->handled) &&
		    !m->behind_logged) {
			log_warn("stream offset %llu is behind the position %llu: "
				 "skipped (a stream deleted and declared again? "
				 "then remove the journal)",
				 (unsigned long long)offset_of(seq),
				 (unsigned long long)offset_of(m->handled));
			m->behind_logged = 1;
		}
		if (add_ack(m, tag) == 0)
			commit_soon(m);
		return 0;
	}
	struct store_entry *e = store_entry_new(m->store, body, len, seq,
						err, sizeof(err));
	if (!e) {
		log_warn("notification dropped: %s", err);
		drop(m, tag, seq);
		return 0;
	}
	/* published twice (a worker whose confirm was lost sends the same
	 * bytes again): readers must not see it twice */
	if (store_is_copy(m->store, e)) {
		log_info("%s of %.*s already stored; not again",
			 store_status_name((enum store_status)e->status),
			 (int)e->id_len, e->id);
		store_entry_unref(e);
		drop(m, tag, seq);
		return 0;
	}
	if (add_ack(m, tag) < 0) {
		/* left unacked: the broker keeps it for a later connection */
		store_entry_unref(e);
		log_error("out of memory");
		return 0;
	}
	if (m->journal && journal_append(m->journal, e->text, e->len) < 0) {
		int saved = errno;
		if (tag)
			m->nacks--;
		store_entry_unref(e);
		errno = saved;
		return -1;
	}
	if (m->journal)
		m->journaled = seq;
	m->handled = seq;
	store_insert(m->store, e);
	commit_soon(m);
	return 0;
}

/* Stores a message's notifications: the message itself, or each object
 * of its array, numbered seq, seq + 1, ... (an array not well formed, or
 * longer than NOTIFY_SEQ_STRIDE, is dropped whole). -1 as store_one: the
 * message is kept and given again; what of it was stored is then skipped
 * (seq <= handled). */
static int store_message(struct middleman *m, uint64_t seq, uint64_t tag,
			 const char *body, size_t len)
{
	size_t pos = 0, start, end, n = 0;
	int r;
	while (pos < len && (body[pos] == ' ' || body[pos] == '\t' ||
			     body[pos] == '\n' || body[pos] == '\r'))
		pos++;
	if (pos == len || body[pos] != '[')
		return store_one(m, seq, tag, body, len);
	pos = 0;
	while ((r = json_array_item(body, len, &pos, &start, &end)) == 1)
		n++;
	if (r < 0 || n == 0 || n > NOTIFY_SEQ_STRIDE) {
		log_warn("notification dropped: %s", r < 0 ? "an array, not of objects"
			 : n ? "an array of more than " OPT_STR_OF(NOTIFY_SEQ_STRIDE)
			 : "an empty array");
		drop(m, tag, seq);
		return 0;
	}
	pos = 0;
	for (size_t i = 0; i < n; i++) {
		json_array_item(body, len, &pos, &start, &end);
		if (store_one(m, seq + i, i == n - 1 ? tag : 0, body + start,
			      end - start) < 0)
			return -1;
	}
	return 0;
}

/* Keeps a delivery for later, in order; handed back to the broker when
 * it cannot be kept. */
static void park(struct middleman *m, const struct mq_delivery *d,
		 uint64_t seq)
{
	struct parked *p = NULL;
	if (m->nparked < JOURNAL_MAX_PARKED && (p = malloc(sizeof(*p) + d->len))) {
		p->tag = d->tag;
		p->seq = seq;
		p->len = d->len;
		memcpy(p->body, d->body, d->len);
		m->parked[m->nparked++] = p;
		return;
	}
	/* full: reading stops and starts again from the last handled offset
	 * once the journal takes the parked ones (a stream requeues nothing) */
	if (!m->reading_paused) {
		log_warn("journal: %zu notifications held; reading paused", m->nparked);
		m->reading_paused = 1;
		mq_consume(m->mq, m->notes, 0);
	}
	mq_ack(m->mq, d->tag);
}

/* Tries the journal again: the failed sync, then the parked deliveries. */
static void retry_journal(loop_t *loop, void *arg)
{
	struct middleman *m = arg;
	m->retry_timer = 0;
	if (m->sync_failed) {
		m->sync_failed = 0;
		commit(loop, m);
		if (m->sync_failed)
			return; /* failed again: commit re-armed the retry */
	}
	size_t done = 0;
	for (; done < m->nparked; done++) {
		struct parked *p = m->parked[done];
		if (store_message(m, p->seq, p->tag, p->body, p->len) < 0) {
			memmove(m->parked, m->parked + done,
				(m->nparked - done) * sizeof(*m->parked));
			m->nparked -= done;
			journal_failed(m, errno);
			return;
		}
		free(p);
	}
	m->nparked = 0;
	m->journal_failing = 0;
	log_info("journal: writable again; %zu held notifications stored", done);
	if (m->reading_paused) {
		m->reading_paused = 0;
		mq_consume(m->mq, m->notes, 1);
	}
}

/* The seq of a message's first notification: its stream offset x
 * NOTIFY_SEQ_STRIDE + 1 (the same on every middleman). */
static uint64_t seq_of(const struct middleman *m, const struct mq_delivery *d)
{
	if (d->offset >= 0)
		return (uint64_t)d->offset * NOTIFY_SEQ_STRIDE + 1;
	/* not a stream: arrival order */
	return (m->handled + NOTIFY_SEQ_STRIDE - 1) / NOTIFY_SEQ_STRIDE *
	       NOTIFY_SEQ_STRIDE + 1 + m->nparked * NOTIFY_SEQ_STRIDE;
}

/* Where reading `notifications` starts, asked at each (re)subscription:
 * at the message of the last notification handled (what of it was handled
 * is skipped), or the stream's first. */
static struct mq_start notes_start(void *arg)
{
	const struct middleman *m = arg;
	if (!m->handled)
		return (struct mq_start){ MQ_FROM_FIRST, 0 };
	return (struct mq_start){ MQ_FROM_OFFSET, (int64_t)offset_of(m->handled) };
}

static void on_deliver(const struct mq_delivery *d, void *arg)
{
	struct middleman *m = arg;
	uint64_t seq = seq_of(m, d);
	if (m->journal_failing) {
		park(m, d, seq);
		return;
	}
	if (store_message(m, seq, d->tag, d->body, d->len) < 0) {
		int err = errno;
		park(m, d, seq);
		journal_failed(m, err);
	}
}

/* ---- dead letters ---- */

/*
 * A task dead-lettered to tasks.dead (delivered x-delivery-limit times
 * without an outcome) becomes a failed notification, published to the
 * stream so that every middleman stores it with the same seq (the queue
 * gives each dead letter to one middleman only); the dead letter is
 * acknowledged once the broker has confirmed that notification. While it
 * cannot be published (broker blocked, or a nack) it is held and tried
 * again every MIDDLEMAN_DEAD_RETRY_MS.
 */
enum { DEAD_FREE, DEAD_WAITING, DEAD_INFLIGHT };

/* The error of a dead-lettered task's failed notification. */
#define DEAD_ERROR "gave up after " OPT_STR_OF(TASKS_DELIVERY_LIMIT) " deliveries"

struct dead {
	struct middleman *m;
	int state;
	unsigned gen;                /* the connection its tag belongs to */
	uint64_t tag;
	char id[37];
	buf_t note;                  /* the failed notification */
};

static void dead_free(struct dead *dl)
{
	buf_free(&dl->note);
	dl->state = DEAD_FREE;
}

static void dead_publish(struct dead *dl);

static void on_dead_confirm(void *cookie, int ok)
{
	struct dead *dl = cookie;
	struct middleman *m = dl->m;
	if (dl->gen != m->conn_gen) {
		dead_free(dl); /* its tag died with its connection */
		return;
	}
	if (ok) {
		mq_ack(m->mq, dl->tag);
		log_info("task %s: dead-lettered, recorded as failed", dl->id);
		dead_free(dl);
		return;
	}
	dl->state = DEAD_WAITING; /* the retry timer tries it again */
}

static void dead_publish(struct dead *dl)
{
	struct middleman *m = dl->m;
	if (mq_publish(m->mq, QUEUE_NOTIFICATIONS, dl->note.data, dl->note.len,
		       dl->id, on_dead_confirm, dl) == 0)
		dl->state = DEAD_INFLIGHT;
	else
		dl->state = DEAD_WAITING;
}

static int64_t dead_retry(loop_t *loop, void *arg)
{
	struct middleman *m = arg;
	(void)loop;
	for (size_t i = 0; i < MIDDLEMAN_DEAD_PREFETCH; i++)
		if (m->dead[i].state == DEAD_WAITING)
			dead_publish(&m->dead[i]);
	return MIDDLEMAN_DEAD_RETRY_MS;
}

/* Builds the failed notification of task body t into dl->note. */
static int dead_note(struct dead *dl, const struct task *t)
{
	struct task_event ev = { .task = t, .status = "failed",
				 .time_ms = loop_wall_ms(),
				 .error = DEAD_ERROR, .hook_status = -1 };
	buf_reset(&dl->note);
	return task_event_json(&dl->note, &ev);
}

static void on_dead(const struct mq_delivery *d, void *arg)
{
	struct middleman *m = arg;
	char err[160];
	struct task *t = malloc(sizeof(*t));
	if (!t || task_parse_message(d->body, d->len, t, err, sizeof(err)) < 0) {
		log_warn("dead letter dropped: %s", t ? err : "out of memory");
		mq_reject(m->mq, d->tag, !t);
		free(t);
		return;
	}
	const struct store_entry *e = store_task(m->store, t->id, strlen(t->id));
	if (e && (e->status == STORE_DONE || e->status == STORE_FAILED ||
		  e->status == STORE_CANCELLED)) {
		/* its outcome is known: a worker finished it after all */
		log_info("task %s: dead-lettered, but already %s", t->id,
			 store_status_name((enum store_status)e->status));
		mq_ack(m->mq, d->tag);
		free(t);
		return;
	}
	struct dead *dl = NULL;
	for (size_t i = 0; i < MIDDLEMAN_DEAD_PREFETCH && !dl; i++)
		if (m->dead[i].state == DEAD_FREE)
			dl = &m->dead[i];
	if (!dl || dead_note(dl, t) < 0) {
		/* more than the prefetch (not from this broker) or ENOMEM */
		log_error("dead letter of task %s held back: %s", t->id,
			  dl ? "out of memory" : "no room");
		mq_reject(m->mq, d->tag, 1);
		free(t);
		return;
	}
	dl->m = m;
	dl->gen = m->conn_gen;
	dl->tag = d->tag;
	memcpy(dl->id, t->id, sizeof(dl->id));
	free(t);
	dead_publish(dl);
}

/* The broker connection went away: the tags of parked deliveries and of
 * held dead letters are void (the broker queues those messages again). */
static void on_mq_state(int up, void *arg)
{
	struct middleman *m = arg;
	if (up)
		return;
	park_drop(m);
	m->conn_gen++;
	for (size_t i = 0; i < MIDDLEMAN_DEAD_PREFETCH; i++)
		if (m->dead[i].state == DEAD_WAITING)
			dead_free(&m->dead[i]);
	/* in flight: freed by their confirm (ok = 0 now the link is gone) */
}

/* ---- HTTP ---- */

static int list_gather(void *l, struct iovec *iov, int max)
{
	return store_list_gather(l, iov, max);
}

static void list_advance(void *l, size_t n) { store_list_advance(l, n); }

static void list_drop(void *l) { store_list_free(l); }

/* GET /tasks[?status=a,b][&since=SEQ] */
static void task_list(struct middleman *m, http_conn_t *c,
		      const struct http_request *req)
{
	char v[128];
	unsigned mask = ~0u;
	uint64_t since = 0;
	int r = http_query_param(req, "status", v, sizeof(v));
	if (r < 0 || (r == 1 && store_status_mask(v, strlen(v), &mask) < 0)) {
		http_respond_error(c, 400, "status must be a comma-separated list of "
				   "queued, started, progress, paused, done, failed, cancelled",
				   NULL);
		return;
	}
	if (since_param(req, &since) < 0) {
		http_respond_error(c, 400, "since must be a whole number", NULL);
		return;
	}
	/* 10,000 tasks are megabytes: taken as a list of refs (80 KB), sent
	 * from the entries as the client reads them */
	store_list_t *l = store_list_new(m->store, mask, since);
	if (!l) {
		http_respond_error(c, 503, "out of memory", NULL);
		return;
	}
	struct http_source src = { list_gather, list_advance, list_drop, l };
	http_respond_source(c, 200, json_type, store_list_size(l), &src);
}

static void tasks(struct middleman *m, http_conn_t *c, const struct http_request *req)
{
	if (http_path_is(req, "/tasks")) {
		task_list(m, c, req);
		return;
	}
	char id[NOTIFY_MAX_ID + 1];
	int len = url_pct_decode_strict(req->path + 7, req->path_len - 7, id, sizeof(id));
	const struct store_entry *e = len > 0 ? store_task(m->store, id, (size_t)len) : NULL;
	if (!e) {
		http_respond_error(c, 404, "no such task", NULL);
		return;
	}
	http_respond(c, 200, json_type, e->text, e->len + 1, NULL); /* and "\n" */
}

static int get_only(http_conn_t *c, const struct http_request *req)
{
	if (http_method_is(req, "GET") || http_method_is(req, "HEAD"))
		return 1;
	http_respond_error(c, 405, "use GET", "Allow: GET, HEAD\r\n");
	return 0;
}

static void handle(http_conn_t *c, const struct http_request *req, void *arg)
{
	struct middleman *m = arg;
	int page = http_path_is(req, "/"), ws = http_path_is(req, "/ws");
	/* a browser gives the page and its socket the token in the URL */
	if (m->token && !http_bearer_ok(req, m->token) &&
	    !((page || ws) && query_token_ok(req, m->token))) {
		http_respond_error(c, 401, "missing or wrong bearer token",
				   "WWW-Authenticate: Bearer\r\n");
	} else if (ws) {
		upgrade(m, c, req);
	} else if (page) {
		if (!get_only(c, req))
			;
		else if (!http_accepts_gzip(req))
			http_respond_error(c, 406, "the page is stored gzip-compressed only: "
					   "ask with Accept-Encoding: gzip (curl --compressed)",
					   "Vary: Accept-Encoding\r\n");
		else
			http_respond(c, 200, "text/html; charset=utf-8",
				     m->page.data, m->page.len,
				     "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n"
				     "Cache-Control: no-cache\r\n");
	} else if (http_path_is(req, "/tasks") ||
		   (req->path_len > 7 && !memcmp(req->path, "/tasks/", 7))) {
		if (get_only(c, req))
			tasks(m, c, req);
	} else if (http_path_is(req, "/health")) {
		if (get_only(c, req))
			http_respond_health(c, mq_is_up(m->mq) ? "up" : "down");
	} else {
		http_respond_error(c, 404, "no such path: try /, /ws, /tasks or /health",
				   NULL);
	}
}

/* ---- start and stop ---- */

static void replay_record(const char *rec, size_t len, void *arg)
{
	struct middleman *m = arg;
	char err[160];
	uint64_t handled, from;
	int pos = parse_position(rec, len, &handled, &from) == 0;
	if (m->replayed++ == 0 && !pos)
		m->old_journal = 1;
	if (m->old_journal)
		return;
	if (pos) {
		if (handled > m->handled)
			m->handled = handled;
		store_history_from(m->store, from);
		return;
	}
	struct store_entry *e = store_entry_load(m->store, rec, len, err, sizeof(err));
	if (!e) {
		log_warn("journal: record skipped: %s", err);
		return;
	}
	if (e->seq > m->handled)
		m->handled = e->seq;
	store_insert(m->store, e);
}

/* Moves an older warren's journal (seq an arrival count, no position)
 * aside to PATH.old and starts a new one: the stream has the notifications
 * of its retention. 0, or -1. */
static int journal_aside(struct middleman *m, const char *path)
{
	char old[4096];
	journal_close(m->journal);
	m->journal = NULL;
	if (snprintf(old, sizeof(old), "%s.old", path) >= (int)sizeof(old) ||
	    rename(path, old) < 0) {
		log_error("journal %s: from an older warren, and cannot be moved "
			  "aside: %s", path, strerror(errno));
		return -1;
	}
	log_warn("journal %s: from an older warren (no stream position): moved "
		 "to %s; the store is rebuilt from the stream", path, old);
	/* none of its records went into the store */
	m->replayed = 0;
	m->old_journal = 0;
	return 0;
}

static int open_journal(struct middleman *m, const char *path)
{
	char err[300];
	m->journal = journal_open(path, replay_record, m, err, sizeof(err));
	if (m->journal && m->old_journal) {
		if (journal_aside(m, path) < 0)
			return -1;
		m->journal = journal_open(path, replay_record, m, err, sizeof(err));
	}
	if (!m->journal) {
		log_error("journal: %s", err);
		return -1;
	}
	if (journal_records(m->journal) == 0) {
		/* marks the journal as this version's */
		char rec[64];
		size_t n = position_record(m, rec, sizeof(rec));
		if (journal_append(m->journal, rec, n) < 0 ||
		    journal_sync(m->journal) < 0) {
			log_error("journal %s: %s", path, strerror(errno));
			return -1;
		}
	}
	m->journaled = m->handled;
	if (journal_dropped(m->journal))
		log_warn("journal: %llu bytes of a torn or damaged tail cut off",
			 (unsigned long long)journal_dropped(m->journal));
	log_info("journal %s: %zu records, %zu tasks, last seq %llu, "
		 "reading from offset %llu", path,
		 journal_records(m->journal), store_tasks(m->store),
		 (unsigned long long)store_last_seq(m->store),
		 (unsigned long long)(m->handled ? offset_of(m->handled) : 0));
	m->committed_seq = m->pushed_seq = store_last_seq(m->store);
	return 0;
}

/* Every SHUTDOWN_POLL_MS after SIGTERM: stops the loop once every
 * WebSocket client is gone or the grace is over. */
static int64_t check_stopped(loop_t *loop, void *arg)
{
	struct middleman *m = arg;
	if (push_clients(m->push) && loop_now(loop) < m->stop_deadline)
		return SHUTDOWN_POLL_MS;
	loop_stop(loop);
	return LOOP_TIMER_STOP;
}

static void on_stop_signal(loop_t *loop, int signo, void *arg)
{
	struct middleman *m = arg;
	if (m->stopping)
		return;
	m->stopping = 1;
	log_info("signal %d: finishing", signo);
	http_server_stop_listening(m->http);
	if (m->commit_timer) {
		loop_timer_cancel(loop, m->commit_timer);
		commit(loop, m);
	}
	push_close_all(m->push, WS_CLOSE_GOING_AWAY, "server stopping");
	m->stop_deadline = loop_now(loop) + MIDDLEMAN_SHUTDOWN_GRACE_MS;
	if (check_stopped(loop, m) != LOOP_TIMER_STOP &&
	    !loop_every(loop, SHUTDOWN_POLL_MS, check_stopped, m))
		loop_stop(loop); /* out of memory: stop without waiting */
}

int main(int argc, char **argv)
{
	const char *amqp = DEFAULT_AMQP_URL, *listen = DEFAULT_MIDDLEMAN_LISTEN;
	const char *token = NULL, *journal = NULL, *tasker_url = NULL;
	unsigned long heartbeat = DEFAULT_HEARTBEAT, interval = DEFAULT_INTERVAL;
	unsigned long history = DEFAULT_HISTORY, ntasks = DEFAULT_TASKS;
	int use_syslog = 0;
	const struct opt opts[] = {
		OPT_ROW_AMQP(&amqp),
		{ "listen", "WARREN_MIDDLEMAN_LISTEN", OPT_STR, &listen, 0, "[ADDR:]PORT", "HTTP and WebSocket address (default " DEFAULT_MIDDLEMAN_LISTEN ")" },
		{ "token", "WARREN_TOKEN", OPT_STR, &token, 0, "SECRET", "require Authorization: Bearer SECRET (or ?token=SECRET for / and /ws)" },
		{ "interval", "WARREN_INTERVAL", OPT_UINT, &interval, MIDDLEMAN_MAX_INTERVAL_S, "N", "seconds between pushes, 0 = at once (default " OPT_STR_OF(DEFAULT_INTERVAL) ")" },
		{ "history", "WARREN_HISTORY", OPT_UINT, &history, MIDDLEMAN_MAX_HISTORY, "N", "notifications kept for replay (default " OPT_STR_OF(DEFAULT_HISTORY) ")" },
		{ "tasks", "WARREN_TASKS", OPT_UINT, &ntasks, MIDDLEMAN_MAX_TASKS, "N", "tasks whose latest state is kept; when full, the one finished longest ago goes (default " OPT_STR_OF(DEFAULT_TASKS) ")" },
		{ "tasker-url", "WARREN_TASKER_URL", OPT_STR, &tasker_url, 0, "URL", "the tasker, for the page's submit and control buttons (default: the page's host, port 8080)" },
		{ "journal", "WARREN_JOURNAL", OPT_STR, &journal, 0, "PATH", "keep notifications across restarts in PATH" },
		OPT_ROW_HEARTBEAT(&heartbeat),
		OPT_ROW_SYSLOG(&use_syslog),
		OPT_ROW_END
	};
	int first = opt_parse(PROG, "Keeps task notifications and pushes them to browsers over WebSocket.",
			      opts, argc, argv);
	if (first < argc)
		opt_fail(PROG, "unexpected argument '%s' (try --help)", argv[first]);
	char err[256];
	if (mq_check_url(amqp, err, sizeof(err)) < 0)
		opt_fail(PROG, "--amqp: %s", err);
	if (net_check_listen(listen) < 0)
		opt_fail(PROG, "--listen: bad address '%s' (want [ADDR:]PORT)", listen);
	if (history < 1)
		opt_fail(PROG, "--history: must be at least 1");
	if (ntasks < 1)
		opt_fail(PROG, "--tasks: must be at least 1");
	if (journal && !*journal)
		opt_fail(PROG, "--journal: empty path");
	if (token && !*token)
		token = NULL;
	const char *why;
	if (tasker_url && webpage_check_tasker_url(tasker_url, &why) < 0)
		opt_fail(PROG, "--tasker-url: %s: '%s'", why, tasker_url);

	log_open(PROG, use_syslog);
	signal(SIGPIPE, SIG_IGN);
	long nofile = os_raise_nofile();
	if (nofile >= 0 && nofile < WS_MAX_CLIENTS + MIDDLEMAN_HTTP_CONNS + 16)
		log_warn("only %ld open files allowed: fewer WebSocket clients fit", nofile);

	struct middleman m = { .token = token, .interval = interval };
	int rc = 1;
	m.loop = loop_new();
	m.store = store_new(history, ntasks);
	m.parked = calloc(JOURNAL_MAX_PARKED, sizeof(*m.parked));
	m.dead = calloc(MIDDLEMAN_DEAD_PREFETCH, sizeof(*m.dead));
	if (!m.parked || !m.dead) {
		log_error("out of memory");
		goto out;
	}
	if (webpage_build(tasker_url, &m.page) < 0) {
		log_error("page: out of memory, or page.html lacks its tasker meta tag");
		goto out;
	}
	m.push = m.loop && m.store ? push_new(m.loop, m.store, NULL) : NULL;
	if (!m.push) {
		log_error("out of memory");
		goto out;
	}
	if (journal && open_journal(&m, journal) < 0)
		goto out;
	push_commit(m.push, m.committed_seq);
	struct http_server_config hc = { listen, MIDDLEMAN_HTTP_CONNS, handle, &m,
					 WS_MAX_CLIENTS };
	m.http = http_server_new(m.loop, &hc, err, sizeof(err));
	if (!m.http) {
		log_error("%s", err);
		goto out;
	}
	/* pushed every --interval anyway: a few ms more before a notification
	 * is read cost nothing, and read in batches it costs less */
	struct mq_config mc = { .url = amqp, .heartbeat = (unsigned)heartbeat,
				.on_state = on_mq_state, .arg = &m, .name = PROG,
				.read_batch_ms = interval ? MIDDLEMAN_READ_BATCH_MS : 0 };
	struct mq_consumer nc = { .queue = QUEUE_NOTIFICATIONS,
				  .prefetch = MIDDLEMAN_PREFETCH, .stream = 1,
				  .start = notes_start, .on_deliver = on_deliver, .arg = &m };
	struct mq_consumer dc = { .queue = QUEUE_TASKS_DEAD,
				  .prefetch = MIDDLEMAN_DEAD_PREFETCH,
				  .on_deliver = on_dead, .arg = &m };
	m.mq = mq_new(m.loop, &mc, err, sizeof(err));
	if (!m.mq || (m.notes = mq_subscribe(m.mq, &nc)) < 0 ||
	    mq_subscribe(m.mq, &dc) < 0) {
		log_error("%s", m.mq ? "out of consumers" : err);
		goto out;
	}
	loop_signal(m.loop, SIGTERM, on_stop_signal, &m);
	loop_signal(m.loop, SIGINT, on_stop_signal, &m);
	if ((interval > 0 &&
	     !loop_every(m.loop, (int64_t)interval * 1000, on_push_tick, &m)) ||
	    !loop_every(m.loop, MIDDLEMAN_DEAD_RETRY_MS, dead_retry, &m)) {
		log_error("out of memory");
		goto out;
	}
	log_info("listening on %s (port %d), push every %lus, history %lu, tasks %lu",
		 listen, http_server_port(m.http), interval, history, ntasks);
	rc = loop_run(m.loop) < 0 ? 1 : 0;
out:
	push_free(m.push);
	/* mq first, as in the tasker: its teardown may still call back */
	if (m.mq)
		mq_free(m.mq);
	if (m.http)
		http_server_free(m.http);
	journal_close(m.journal);
	store_free(m.store);
	free(m.acks);
	if (m.parked)
		park_drop(&m);
	free(m.parked);
	for (size_t i = 0; m.dead && i < MIDDLEMAN_DEAD_PREFETCH; i++)
		buf_free(&m.dead[i].note);
	free(m.dead);
	buf_free(&m.page);
	if (m.loop)
		loop_free(m.loop);
	log_info("stopped");
	return rc;
}

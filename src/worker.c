/*
 * worker - takes download tasks from the `tasks` queue, downloads them
 * (fetch.c), reports on `notifications`, and acknowledges a task only once
 * its final notification (done or failed) is confirmed by the broker.
 *
 * Everything runs in one poll() loop: up to --concurrency downloads, their
 * hooks, and the AMQP connection (heartbeats, confirms), so a two-hour
 * download never costs the broker connection.
 *
 * A task's life:  [HELD] -> PENDING (delivered, waiting for a download slot)
 *   -> FETCH (downloading) -> HOOK (--on-complete running) -> FINAL
 *   (publishing done/failed, then ack) -> freed.
 * BUSY: another worker sharing --dir holds the task's .part; we keep the
 * delivery and look again every WORKER_BUSY_RETRY_MS until it is done there
 * (then settle from its done record) or released (then resume it here).
 *
 * Redeliveries: when the broker closes the channel (consumer_timeout) or
 * the connection drops, every delivery tag becomes void but downloads go
 * on. The broker redelivers the task; a delivery whose id is already a job
 * here is attached to it (its tag replaces the void one), a recently
 * finished id is acked at once, and a task with a done record in --dir is
 * settled from the record. No task is downloaded twice into one folder.
 *
 * HELD: a redelivery (redelivered flag or x-delivery-count) of a task
 * unknown here. The worker that had it may have finished it and lost only
 * the confirm of its `done` or its ack with its connection. Its final
 * notification is then on the `notifications` stream: lookup.c looks for
 * it from the task's publish time on. Found (done, failed or cancelled):
 * the task is acked, neither downloaded nor reported again. Not found by
 * the stream's end: it is downloaded here. Nothing goes back to `tasks`: a
 * quorum queue counts every return toward its x-delivery-limit.
 *
 * Control (the stream warren.control, read from its first message): at
 * start the worker publishes a marker there and takes no task until the
 * marker comes back, so a cancel or a pause issued before it started is
 * honoured; then it follows the stream, resuming after the last offset it
 * handled when it reconnects. A cancelled id is remembered (a bounded set)
 * and a task of that id is settled as `cancelled`, never downloaded;
 * a running download of it stops and its .part goes. Pause (or a --quiet
 * window) stops consuming `tasks`; running downloads stop, keep their
 * .part, and every task held goes BACK to the queue: re-published,
 * confirmed, then `paused` for those that were running, then acked (a
 * requeue would count toward the quorum queue's delivery limit).
 *
 * SIGTERM/SIGINT: running downloads stop at once (their .part is kept for a
 * resume), hooks and final notifications get WORKER_STOP_GRACE_MS, then the
 * connection closes, which requeues every unacknowledged task; exit 0.
 *
 * `worker --get URL [-o FILE]` is get.c's.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "control.h"
#include "fetch.h"
#include "get.h"
#include "hook.h"
#include "log.h"
#include "lookup.h"
#include "loop.h"
#include "mq.h"
#include "opt.h"
#include "os.h"
#include "part.h"
#include "quiet.h"
#include "rate.h"
#include "syncer.h"
#include "task.h"
#include "url.h"

#define PROG "worker"

/* J_BACK: being handed back to the queue for a pause (see Control). */
enum job_state { J_HELD, J_PENDING, J_BUSY, J_FETCH, J_SYNC, J_HOOK, J_FINAL, J_BACK };

struct worker;

struct job {
	struct job *next;
	struct worker *w;
	struct task task;
	struct url url;         /* task.arg, parsed once */
	char shown[TASK_MAX_URL + 1]; /* the same without password, for logs */
	enum job_state state;
	uint64_t tag;           /* current delivery; valid when has_tag */
	int has_tag;
	struct part part;
	fetch_t *fetch;
	hook_t *hook;
	uint64_t timer;         /* HELD hand-back, BUSY re-check, FINAL and
				 * BACK re-publish */
	uint64_t orphan_timer;  /* delivery void since a reconnection */
	buf_t final;            /* the final notification, built once: a
				 * re-publish sends the very same bytes */
	int publishing;         /* final notification (BACK: the task) gathered
				 * or awaiting its confirm */
	struct job *sent_next;  /* next final of its message (w->finals, then
				 * on_final_confirm's list) */
	int ok;
	int cancelled;          /* the final notification is `cancelled` */
	int64_t paused_ms;      /* BACK: wall clock when its download stopped,
				 * 0 when it was not running (no `paused`) */
	char error[320];
	char file[PATH_MAX];
	char sha256[65];
	uint64_t bytes;
	int64_t total;
	int hook_status;
	int busy_logged;
	int64_t published;      /* the task's timestamp property (Unix s), 0 unknown */
	int looking;            /* a lookup (lookup.c) of its final is pending */
};

struct worker {
	loop_t *loop;
	mq_t *mq;
	lookup_t *lookup;       /* finals of redelivered tasks, on the stream */
	struct fetch_ctx fctx;
	struct part_dir dir;
	const char *hook_path;
	unsigned concurrency;
	char ident[300];        /* host:pid */
	struct job *jobs;
	unsigned running;
	buf_t notes;            /* gathered notifications: "[" and objects
				 * separated by commas (see note_add) */
	unsigned notes_n;
	struct job *finals;     /* those whose final notification is among the
				 * gathered notes, linked by sent_next */
	uint64_t notes_timer;   /* publishes them when the gathering ends */
	int stopping;
	int64_t stop_deadline;
	struct quiet quiet;     /* --quiet windows */
	int quiet_now;          /* in one: nothing downloads */
	int taking;             /* consuming `tasks` (see update_taking) */
	int tasks_sub;          /* its subscription, -1 before the first */
	int control_paused;     /* the stream's last pause/resume */
	int control_ready;      /* our marker came back: the stream is read */
	int64_t control_offset; /* last control message handled, -1: none */
	int64_t rate_set_ms;    /* wall clock of an explicit --rate-limit, 0:
				 * none (older rate messages do not change it) */
	char nonce[17];         /* of our marker */
	int marker_publishing;
	uint64_t marker_timer;  /* publishes the marker again */
	char cancelled[WORKER_CANCELLED_MAX][37]; /* ids, oldest overwritten */
	unsigned cancelled_next;
	int64_t test_minute_ms; /* WARREN_TEST_QUIET_MINUTE_MS, else 0 */
	int64_t test_since;     /* loop clock when the test clock began */
	struct recent {         /* ids seen lately, oldest overwritten */
		char id[37];
		int settled;    /* finished here: a redelivery is acked */
	} recent[WORKER_RECENT_MAX];
	unsigned recent_next;
};

static void schedule(struct worker *w);
static void publish_final(struct job *j);
static void on_final_confirm(void *cookie, int ok);
static int64_t on_republish(loop_t *loop, void *arg);
static void check_stopped(struct worker *w);
static void hand_back(struct job *j);

/* ---- notifications -------------------------------------------------------- */

/*
 * Notifications are gathered in w->notes and go as one stream message (a
 * JSON array: the middleman numbers each): a stream write, and its
 * confirm, cost the broker about as much whatever the message holds.
 * started, progress and paused are best effort (not confirmed); they wait
 * for up to WORKER_NOTE_GATHER_MS. A final notification (done, failed,
 * cancelled) joins them too, so that the tasks of a batch share their
 * messages and confirms; it goes at once when this worker holds as many
 * deliveries as its prefetch allows, since an ack is then what lets the
 * broker deliver the next task. The message is confirmed when it
 * holds a final notification, and each of those tasks is then acked. A
 * task's notes still reach the stream in order: its final goes after them.
 */

/* Empties the gathered notes; final notifications among them were not
 * sent: their jobs try again (on_republish) or, with the connection gone,
 * wait for their redelivery. */
static void notes_reset(struct worker *w)
{
	for (struct job *j = w->finals; j; j = j->sent_next) {
		j->publishing = 0;
		if (j->has_tag && !w->stopping && !j->timer)
			j->timer = loop_every(w->loop, 1000, on_republish, j);
	}
	w->finals = NULL;
	buf_reset(&w->notes);
	w->notes_n = 0;
	loop_timer_cancel(w->loop, w->notes_timer);
	w->notes_timer = 0;
}

/* Publishes the gathered notes (dropped when the broker is away): the
 * note itself when there is one, else an array; confirmed when it holds
 * final notifications. */
static void notes_flush(struct worker *w)
{
	int one = w->notes_n == 1;
	struct job *f = w->finals;
	if (w->notes_n && w->mq && mq_is_up(w->mq) && (one || buf_puts(&w->notes, "]") == 0) &&
	    mq_publish(w->mq, QUEUE_NOTIFICATIONS, w->notes.data + one, w->notes.len - one,
		       NULL, f ? on_final_confirm : NULL, f) == 0)
		w->finals = NULL; /* sent: on_final_confirm has them */
	notes_reset(w);
}

static void on_notes_timer(loop_t *loop, void *arg)
{
	struct worker *w = arg;
	(void)loop;
	w->notes_timer = 0;
	notes_flush(w);
}

/* Gathers one note; they go when the gathering ends, at once when now,
 * and when a message has no room for more. -1 when out of memory: not
 * gathered (a best-effort note is then dropped, as when the broker is
 * away). */
static int note_add(struct worker *w, const buf_t *note, int now)
{
	size_t mark = w->notes.len;
	if (buf_append(&w->notes, w->notes_n ? "," : "[", 1) < 0 ||
	    buf_append(&w->notes, note->data, note->len) < 0) {
		w->notes.len = mark;
		return -1;
	}
	w->notes_n++;
	if (now || w->notes_n + 1 >= NOTIFY_SEQ_STRIDE ||
	    w->notes.len >= WORKER_NOTE_BATCH_BYTES ||
	    (!w->notes_timer &&
	     !(w->notes_timer = loop_timer(w->loop, WORKER_NOTE_GATHER_MS,
					   on_notes_timer, w))))
		notes_flush(w);
	return 0;
}

/* Unacknowledged deliveries of `tasks` the broker lets us hold. */
static unsigned prefetch(const struct worker *w)
{
	return w->concurrency + WORKER_PREFETCH_AHEAD;
}

/* Whether we hold as many deliveries as the broker lets us: it delivers
 * no other task before an ack. */
static int holding_all(const struct worker *w)
{
	unsigned n = 0;
	for (const struct job *j = w->jobs; j; j = j->next)
		n += j->has_tag != 0;
	return n >= prefetch(w);
}

/* Gathers j's final notification (confirmed: on_final_confirm acks). It
 * waits with the notes unless its ack is what the broker waits for to
 * deliver the next task. 0, or -1 when out of memory or refused at once
 * (the broker's flow control). */
static int final_add(struct worker *w, struct job *j)
{
	/* (listed last first: they are acked in any order) */
	j->sent_next = w->finals;
	w->finals = j;
	j->publishing = 1;
	if (note_add(w, &j->final, w->stopping || !w->taking || holding_all(w)) < 0) {
		w->finals = j->sent_next;
		j->publishing = 0;
	}
	return j->publishing ? 0 : -1; /* (a refused flush reset it) */
}

/* Gathers a started/progress/paused notification (paused goes at once:
 * the task is back in the queue, and another worker's `started` must not
 * overtake it). p: where the download stands, NULL before it has begun. */
static void notify(struct job *j, const char *status, const struct fetch_progress *p)
{
	struct worker *w = j->w;
	if (!w->mq || !mq_is_up(w->mq))
		return;
	buf_t b = BUF_INIT;
	struct task_event ev = {
		.task = &j->task, .status = status,
		.time_ms = p ? p->time_ms : loop_wall_ms(),
		.worker = w->ident, .has_bytes = 1, .bytes = (int64_t)j->bytes,
		.total = j->total, .hook_status = -1,
		.attempt = p && p->attempt > 1 ? p->attempt : 0,
		.error = p ? p->last_error : NULL,
	};
	if (task_event_json(&b, &ev) == 0)
		note_add(w, &b, !strcmp(status, "paused"));
	buf_free(&b);
}

static int final_json(struct job *j, buf_t *b)
{
	struct task_event ev = {
		.task = &j->task,
		.status = j->cancelled ? "cancelled" : j->ok ? "done" : "failed",
		.time_ms = loop_wall_ms(), .worker = j->w->ident, .has_bytes = 1,
		.bytes = (int64_t)j->bytes, .total = j->total,
		.file = j->ok ? j->file : NULL, .sha256 = j->ok ? j->sha256 : NULL,
		.error = j->ok || j->cancelled ? NULL : j->error,
		.hook_status = j->hook_status,
	};
	return task_event_json(b, &ev);
}

/* ---- jobs ------------------------------------------------------------------ */

static struct job *find_job(struct worker *w, const char *id)
{
	for (struct job *j = w->jobs; j; j = j->next)
		if (!strcmp(j->task.id, id))
			return j;
	return NULL;
}

static void free_job(struct job *j)
{
	struct worker *w = j->w;
	for (struct job **p = &w->jobs; *p; p = &(*p)->next) {
		if (*p == j) {
			*p = j->next;
			break;
		}
	}
	if (j->fetch) {
		fetch_cancel(j->fetch);
		w->running--;
	}
	hook_cancel(j->hook);
	if (w->lookup)
		lookup_cancel(w->lookup, j);
	part_close(&j->part);
	loop_timer_cancel(w->loop, j->timer);
	loop_timer_cancel(w->loop, j->orphan_timer);
	buf_free(&j->final);
	free(j);
}

/* The entry of id in the ring of recent ids; with add, a new one (the
 * oldest overwritten) when it is not there. NULL otherwise. */
static struct recent *recent(struct worker *w, const char *id, int add)
{
	for (unsigned i = 0; i < WORKER_RECENT_MAX; i++)
		if (!strcmp(w->recent[i].id, id))
			return &w->recent[i];
	if (!add)
		return NULL;
	struct recent *r = &w->recent[w->recent_next];
	w->recent_next = (w->recent_next + 1) % WORKER_RECENT_MAX;
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->settled = 0;
	return r;
}

static void remember_settled(struct worker *w, const char *id)
{
	struct recent *r = recent(w, id, 1);
	r->settled = 1;
}

static int was_settled(struct worker *w, const char *id)
{
	struct recent *r = recent(w, id, 0);
	return r && r->settled;
}

/* Acks the job's delivery; the done record is then no longer needed. */
static void ack_job(struct job *j)
{
	struct worker *w = j->w;
	if (j->has_tag && w->mq && mq_ack(w->mq, j->tag) == 0) {
		part_done_clear(&w->dir, j->task.id);
		return;
	}
	/* The delivery went void with a lost connection: the broker redelivers
	 * the task, and the settled list or the done record answers it. */
	log_info("%s: final notification stored; the delivery will be settled on "
		 "redelivery", j->task.id);
}

/* cookie: the first of the jobs whose final notifications the message
 * held, linked by sent_next: each is acked, or published again. */
static void on_final_confirm(void *cookie, int ok)
{
	for (struct job *j = cookie, *next; j; j = next) {
		struct worker *w = j->w;
		next = j->sent_next; /* (j is freed, or gathered again) */
		j->publishing = 0;
		if (!ok) {
			if (w->stopping)
				continue;
			log_warn("%s: final notification not confirmed; publishing again",
				 j->task.id);
			loop_timer_cancel(w->loop, j->timer);
			j->timer = 0;
			publish_final(j);
			continue;
		}
		remember_settled(w, j->task.id);
		ack_job(j);
		free_job(j);
		if (w->stopping)
			check_stopped(w);
	}
}

/* Publishes the final notification: 1 when it went out (on_final_confirm
 * acks) or cannot be ours to send, 0 when it must be tried again. */
static int try_publish_final(struct job *j)
{
	struct worker *w = j->w;
	/* Without a live delivery the task may be another worker's by now:
	 * only its redelivery to us (on_deliver) lets us report it. */
	if (!j->has_tag)
		return 1;
	/* a confirm lost with the broker may hide a stored copy: the same
	 * bytes let the middleman see the second one for what it is */
	if (!j->final.len && final_json(j, &j->final) < 0)
		buf_reset(&j->final);
	return j->final.len && mq_is_up(w->mq) && final_add(w, j) == 0;
}

/* Every second while the final notification cannot go out. */
static int64_t on_republish(loop_t *loop, void *arg)
{
	struct job *j = arg;
	(void)loop;
	if (j->w->stopping || try_publish_final(j)) {
		j->timer = 0;
		return LOOP_TIMER_STOP;
	}
	return 1000;
}

/* Publishes the final notification; on_final_confirm acks. While the
 * broker is away, tries again every second (and at reconnection). */
static void publish_final(struct job *j)
{
	struct worker *w = j->w;
	if (j->publishing || j->timer)
		return;
	j->state = J_FINAL;
	if (try_publish_final(j) || w->stopping || j->timer)
		return; /* (a failed flush may have set the timer) */
	j->timer = loop_every(w->loop, 1000, on_republish, j);
	if (!j->timer)
		log_error("%s: out of memory: the final notification waits for "
			  "the next reconnection", j->task.id);
}

static void job_failed(struct job *j, const char *error)
{
	log_warn("%s: failed: %s", j->task.id, error);
	j->ok = 0;
	snprintf(j->error, sizeof(j->error), "%s", error);
	publish_final(j);
}

/* ---- hook -------------------------------------------------------------------- */

static void on_hook_done(void *arg, int status)
{
	struct job *j = arg;
	j->hook = NULL;
	j->hook_status = status;
	if (status)
		log_warn("%s: %s exited with status %d", j->task.id, j->w->hook_path, status);
	publish_final(j);
}

static void run_hook(struct job *j)
{
	struct worker *w = j->w;
	char id[64], name[TASK_MAX_NAME + 16], url[TASK_MAX_URL + 16],
		file[PATH_MAX + 16], sha[80], size[48], err[300];
	snprintf(id, sizeof(id), "WARREN_ID=%s", j->task.id);
	snprintf(name, sizeof(name), "WARREN_NAME=%s", j->task.name);
	snprintf(url, sizeof(url), "WARREN_URL=%s", j->task.arg);
	snprintf(file, sizeof(file), "WARREN_FILE=%s", j->file);
	snprintf(sha, sizeof(sha), "WARREN_SHA256=%s", j->sha256);
	snprintf(size, sizeof(size), "WARREN_SIZE=%llu", (unsigned long long)j->bytes);
	const char *vars[] = { id, name, url, file, sha, size, NULL };
	j->state = J_HOOK;
	j->hook = hook_start(w->loop, w->hook_path, vars, HOOK_TIMEOUT_S, on_hook_done,
			     j, err, sizeof(err));
	if (!j->hook) {
		log_warn("%s: %s", j->task.id, err);
		j->hook_status = 127;
		publish_final(j);
	}
}

/* ---- download ------------------------------------------------------------- */

/* The first response head (`started` went out when the task was taken). */
static void on_started(void *arg, uint64_t bytes, int64_t total)
{
	struct job *j = arg;
	j->bytes = bytes;
	j->total = total;
	if (bytes)
		log_info("%s: resuming at byte %llu of %lld", j->task.id,
			 (unsigned long long)bytes, (long long)total);
}

/* fetch.c throttles these (PROGRESS_INTERVAL_MS, on the clock of p->time_ms). */
static void on_progress(void *arg, const struct fetch_progress *p)
{
	struct job *j = arg;
	j->bytes = p->bytes;
	j->total = p->total;
	notify(j, "progress", p);
}

/* The file and its folder synced (J_SYNC ran while the next download
 * went on): the download is durable. */
static void on_finished(void *arg, const char *err)
{
	struct job *j = arg;
	if (err) {
		part_remove(&j->part);
		job_failed(j, err);
		return;
	}
	j->ok = 1;
	log_info("%s: done: %s (%llu bytes, sha256 %s)", j->task.id, j->file,
		 (unsigned long long)j->bytes, j->sha256);
	if (j->w->hook_path)
		run_hook(j);
	else
		publish_final(j);
}

static void on_fetched(void *arg, const struct fetch_result *r)
{
	struct job *j = arg;
	struct worker *w = j->w;
	j->fetch = NULL;
	w->running--;
	j->bytes = r->bytes;
	j->total = r->total;
	if (!r->ok) {
		part_remove(&j->part);
		job_failed(j, r->error);
	} else {
		memcpy(j->sha256, r->sha256, sizeof(j->sha256));
		j->state = J_SYNC;
		part_finish_async(&j->part, r->name, r->sha256, r->bytes, j->file,
				  sizeof(j->file), on_finished, j);
	}
	schedule(w);
}

static void on_busy_timer(loop_t *loop, void *arg);

/* Settles the job from a done record of --dir. */
static void settle_from_record(struct job *j, const struct part_record *rec)
{
	snprintf(j->file, sizeof(j->file), "%s", rec->file);
	memcpy(j->sha256, rec->sha256, sizeof(j->sha256));
	j->bytes = rec->bytes;
	log_info("%s: already downloaded to %s; settling", j->task.id, j->file);
	j->ok = 1;
	j->total = (int64_t)j->bytes;
	publish_final(j);
}

/* Claims the part and starts the download; 0, or -1 when the slot is not
 * used (busy elsewhere, settled, or failed). */
static int start_job(struct job *j)
{
	struct worker *w = j->w;
	struct part_record rec;
	char err[320];
	int rc = part_claim(&j->part, &w->dir, j->task.id, &rec, err, sizeof(err));
	if (rc == PART_DONE) {
		settle_from_record(j, &rec);
		return -1;
	}
	if (rc == PART_BUSY) {
		if (!j->busy_logged)
			log_info("%s: another worker is downloading it into %s; waiting",
				 j->task.id, w->dir.path);
		j->busy_logged = 1;
		j->state = J_BUSY;
		j->timer = loop_timer(w->loop, WORKER_BUSY_RETRY_MS, on_busy_timer, j);
		return -1;
	}
	if (rc < 0) {
		job_failed(j, err);
		return -1;
	}
	struct fetch_request req = { &j->url, j->shown, j->task.sha256 };
	struct fetch_callbacks cb = { on_started, on_progress, on_fetched, j };
	j->fetch = fetch_start(&w->fctx, &req, &j->part, &cb, err, sizeof(err));
	if (!j->fetch) {
		part_remove(&j->part);
		job_failed(j, err);
		return -1;
	}
	log_info("%s: downloading %s", j->task.id, j->shown);
	j->state = J_FETCH;
	w->running++;
	/* Before any lookup or connection (they start from the loop), so
	 * that a task failing at once still shows which worker took it. */
	j->bytes = j->part.size;
	notify(j, "started", NULL);
	return 0;
}

static void on_busy_timer(loop_t *loop, void *arg)
{
	struct job *j = arg;
	(void)loop;
	j->timer = 0;
	j->state = J_PENDING; /* look again when a slot is free */
	schedule(j->w);
}

/* Starts pending jobs while download slots are free. */
static void schedule(struct worker *w)
{
	while (!w->stopping && w->taking && w->running < w->concurrency) {
		struct job *j = NULL;
		for (struct job *k = w->jobs; k; k = k->next)
			if (k->state == J_PENDING)
				j = k; /* the list is newest first: take the oldest */
		if (!j)
			break;
		j->state = J_BUSY; /* not pending any more, whatever happens */
		start_job(j);
	}
}

/* A HELD job's lookup of its final notification is no longer wanted. */
static void stop_lookup(struct job *j)
{
	if (j->looking)
		lookup_cancel(j->w->lookup, j);
	j->looking = 0;
}

/* Stops the job's download; its .part stays open (locked) for the caller. */
static void stop_fetch(struct job *j)
{
	fetch_cancel(j->fetch);
	j->fetch = NULL;
	j->w->running--;
	j->bytes = j->part.size;
}

/* ---- cancel ------------------------------------------------------------------ */

static int is_cancelled(const struct worker *w, const char *id)
{
	for (unsigned i = 0; i < WORKER_CANCELLED_MAX; i++)
		if (!strcmp(w->cancelled[i], id))
			return 1;
	return 0;
}

static void remember_cancelled(struct worker *w, const char *id)
{
	if (is_cancelled(w, id))
		return;
	snprintf(w->cancelled[w->cancelled_next], sizeof(w->cancelled[0]), "%s", id);
	w->cancelled_next = (w->cancelled_next + 1) % WORKER_CANCELLED_MAX;
}

/* Final notification `cancelled`, then the ack (publish_final). */
static void settle_cancelled(struct job *j)
{
	stop_lookup(j);
	loop_timer_cancel(j->w->loop, j->timer);
	j->timer = 0;
	j->ok = 0;
	j->cancelled = 1;
	publish_final(j);
}

/* A delivered task that was cancelled: a .part left by a pause is removed
 * unless another process holds it (then that one cancels it). */
static void drop_cancelled(struct job *j)
{
	struct worker *w = j->w;
	char err[320];
	int rc = part_open(&j->part, &w->dir, j->task.id, err, sizeof(err));
	if (rc == 0)
		part_remove(&j->part);
	log_info("%s: cancelled; not downloading it", j->task.id);
	settle_cancelled(j);
}

/* A control cancel: the job of that id, when there is one, stops. */
static void cancel_task(struct worker *w, const char *id)
{
	remember_cancelled(w, id);
	struct job *j = find_job(w, id);
	if (!j || j->state == J_SYNC || j->state == J_HOOK || j->state == J_FINAL ||
	    j->state == J_BACK) {
		/* unknown here or finished: nothing changes; going back to the
		 * queue: its copy is cancelled where it is delivered */
		if (w->control_ready)
			log_info("%s: cancel: %s", id, !j ? "not held here" :
				 j->state == J_BACK ? "going back to the queue" :
				 "finished; unchanged");
		return;
	}
	if (j->state == J_FETCH) {
		stop_fetch(j);
		part_remove(&j->part);
		log_info("%s: cancelled at %llu bytes; .part removed", j->task.id,
			 (unsigned long long)j->bytes);
	} else {
		if (j->state == J_BUSY && j->busy_logged)
			part_wait_clear(&w->dir, j->task.id);
		log_info("%s: cancelled before it started", j->task.id);
	}
	settle_cancelled(j);
	schedule(w);
}

/* ---- pause: handing tasks back ------------------------------------------------ */

static void on_back_confirm(void *cookie, int ok);

/* Re-publishes the task to `tasks`: 0 when it went out, -1 to try again. */
static int try_back(struct job *j)
{
	struct worker *w = j->w;
	buf_t b = BUF_INIT;
	int rc = -1;
	if (mq_is_up(w->mq) && task_message_json(&b, &j->task) == 0 &&
	    mq_publish(w->mq, QUEUE_TASKS, b.data, b.len, j->task.id,
		       on_back_confirm, j) == 0) {
		j->publishing = 1;
		rc = 0;
	}
	buf_free(&b);
	return rc;
}

/* Every second while the task cannot be re-published (broker blocked).
 * A job whose delivery went void is freed by on_mq_state, timer and all. */
static int64_t on_back_retry(loop_t *loop, void *arg)
{
	struct job *j = arg;
	(void)loop;
	if (j->w->stopping || try_back(j) == 0) {
		j->timer = 0;
		return LOOP_TIMER_STOP;
	}
	return 1000;
}

static void back_later(struct job *j)
{
	j->timer = loop_every(j->w->loop, 1000, on_back_retry, j);
	if (!j->timer)
		log_error("%s: out of memory: the task goes back to the queue when "
			  "the connection closes", j->task.id);
}

/* The copy is stored: `paused` for a download that was running, then the
 * ack of the original. Unconfirmed: again, unless the delivery went void
 * (the broker requeued the original itself) or the worker stops. */
static void on_back_confirm(void *cookie, int ok)
{
	struct job *j = cookie;
	struct worker *w = j->w;
	j->publishing = 0;
	if (!ok && w->stopping)
		return;
	if (!ok && j->has_tag) {
		log_warn("%s: task not confirmed back in the queue; again", j->task.id);
		if (try_back(j) < 0)
			back_later(j);
		return;
	}
	if (ok && j->paused_ms) {
		struct fetch_progress p = { .bytes = j->bytes, .total = j->total,
					    .time_ms = j->paused_ms };
		notify(j, "paused", &p);
	}
	if (ok && j->has_tag)
		mq_ack(w->mq, j->tag);
	free_job(j);
	if (w->stopping)
		check_stopped(w);
}

/* Pause: a running download stops and keeps its .part; the task goes back
 * to the queue (see Control). Downloaded ones (SYNC, HOOK, FINAL) go on. */
static void hand_back(struct job *j)
{
	struct worker *w = j->w;
	if (j->state == J_SYNC || j->state == J_HOOK || j->state == J_FINAL ||
	    j->state == J_BACK)
		return; /* downloaded: it finishes */
	if (j->state == J_FETCH) {
		stop_fetch(j);
		j->paused_ms = loop_wall_ms();
		log_info("%s: paused at %llu bytes; %s kept", j->task.id,
			 (unsigned long long)j->bytes, j->part.path);
		part_close(&j->part);
	} else if (j->state == J_BUSY && j->busy_logged) {
		part_wait_clear(&w->dir, j->task.id);
	}
	stop_lookup(j);
	loop_timer_cancel(w->loop, j->timer);
	j->timer = 0;
	if (!j->has_tag) {
		/* the broker has requeued it with our lost connection */
		if (j->paused_ms)
			notify(j, "paused", NULL);
		free_job(j);
		return;
	}
	j->state = J_BACK;
	if (try_back(j) < 0)
		back_later(j);
}

/* ---- control ----------------------------------------------------------------- */

static void on_tasks(const struct mq_delivery *d, void *arg);

/*
 * Takes tasks, or stops taking them and hands back what is held, as the
 * control stream (read to our marker, then pause/resume) and the quiet
 * hours say. Called whenever one of them changes.
 */
static void update_taking(struct worker *w)
{
	int want = w->control_ready && !w->control_paused && !w->quiet_now &&
		   !w->stopping;
	if (want == w->taking)
		return;
	if (want) {
		if (w->tasks_sub < 0) {
			struct mq_consumer c = {
				.queue = QUEUE_TASKS,
				.prefetch = prefetch(w),
				.on_deliver = on_tasks, .arg = w,
			};
			w->tasks_sub = mq_subscribe(w->mq, &c);
			if (w->tasks_sub < 0) {
				log_error("cannot subscribe to %s (MQ_MAX_CONSUMERS)",
					  QUEUE_TASKS);
				return;
			}
		} else if (mq_consume(w->mq, w->tasks_sub, 1) < 0) {
			log_error("cannot consume %s again", QUEUE_TASKS);
			return;
		}
		w->taking = 1;
		log_info("taking tasks");
		schedule(w);
		return;
	}
	w->taking = 0;
	if (w->tasks_sub >= 0 && mq_consume(w->mq, w->tasks_sub, 0) < 0)
		log_error("cannot stop consuming %s", QUEUE_TASKS);
	log_info("paused: taking no task%s", w->jobs ? "; handing back those held" : "");
	struct job *next;
	for (struct job *j = w->jobs; j; j = next) {
		next = j->next;
		hand_back(j);
	}
}

static void publish_marker(struct worker *w);

static void on_marker_again(loop_t *loop, void *arg)
{
	struct worker *w = arg;
	(void)loop;
	w->marker_timer = 0;
	publish_marker(w);
}

static void on_marker_confirm(void *cookie, int ok)
{
	struct worker *w = cookie;
	w->marker_publishing = 0;
	if (ok || w->control_ready || w->stopping || w->marker_timer)
		return;
	/* at the next connection, or in a second when this one is up */
	if (mq_is_up(w->mq))
		w->marker_timer = loop_timer(w->loop, 1000, on_marker_again, w);
}

/* Our marker on the control stream: when it comes back, everything
 * published there before the worker started has been read. */
static void publish_marker(struct worker *w)
{
	struct control_msg m = { .op = CONTROL_MARKER };
	char body[512];
	if (w->control_ready || w->marker_publishing || !mq_is_up(w->mq))
		return;
	snprintf(m.worker, sizeof(m.worker), "%s", w->ident);
	snprintf(m.nonce, sizeof(m.nonce), "%s", w->nonce);
	size_t n = control_encode(&m, body, sizeof(body));
	if (n == 0 || n >= sizeof(body)) {
		log_error("cannot encode the control marker");
		return;
	}
	if (mq_publish(w->mq, QUEUE_CONTROL, body, n, NULL, on_marker_confirm, w) == 0)
		w->marker_publishing = 1;
	else if (!w->marker_timer)
		w->marker_timer = loop_timer(w->loop, 1000, on_marker_again, w);
}

/* m was issued at time_ms (Unix ms, 0: unknown). */
static void apply_control(struct worker *w, const struct control_msg *m, int64_t time_ms)
{
	switch (m->op) {
	case CONTROL_CANCEL:
		cancel_task(w, m->id);
		break;
	case CONTROL_PAUSE:
	case CONTROL_RESUME:
		w->control_paused = m->op == CONTROL_PAUSE;
		update_taking(w);
		break;
	case CONTROL_RATE:
		if (time_ms && time_ms < w->rate_set_ms)
			break; /* the --rate-limit of our start is newer */
		if (rate_limit(w->fctx.rate) != m->limit) {
			if (w->control_ready) /* a replay is told once, at its end */
				log_info("rate limit %llu bytes/s (control; 0 = none)",
					 (unsigned long long)m->limit);
			rate_set(w->fctx.rate, m->limit > RATE_MAX ? RATE_MAX : m->limit);
		}
		break;
	case CONTROL_MARKER:
		if (w->control_ready || strcmp(m->worker, w->ident) ||
		    strcmp(m->nonce, w->nonce))
			break; /* another worker's, or an older one of ours */
		w->control_ready = 1;
		loop_timer_cancel(w->loop, w->marker_timer);
		w->marker_timer = 0;
		log_info("%s read to its end%s; rate limit %llu bytes/s (0 = none)",
			 QUEUE_CONTROL, w->control_paused ? "; paused" : "",
			 (unsigned long long)rate_limit(w->fctx.rate));
		update_taking(w);
		break;
	default:
		break; /* an op of a later version */
	}
}

/* Every control message, in stream order; each is acked (a stream's
 * consumer credit comes back with the acks). */
static void on_control(const struct mq_delivery *d, void *arg)
{
	struct worker *w = arg;
	struct control_msg m;
	char err[256];
	if (d->offset < 0 || d->offset > w->control_offset) {
		if (control_parse(d->body, d->len, &m, err, sizeof(err)) < 0)
			log_warn("ignoring a control message: %s", err);
		else if (!w->stopping)
			apply_control(w, &m, m.time ? m.time : d->timestamp * 1000);
		if (d->offset >= 0)
			w->control_offset = d->offset;
	}
	mq_ack(w->mq, d->tag);
}

/* Where the control stream is read from at each (re)subscription. */
static struct mq_start control_start(void *arg)
{
	const struct worker *w = arg;
	if (w->control_offset < 0)
		return (struct mq_start){ MQ_FROM_FIRST, 0 };
	return (struct mq_start){ MQ_FROM_OFFSET, w->control_offset + 1 };
}

/* ---- the broker ------------------------------------------------------------- */

static void drop_or_keep(struct job *j, const char *status, const char *file);

/* lookup.c's answer for a HELD job: its final status found on the stream,
 * or NULL (not there: download it); for a finished orphan, drop_or_keep. */
static void on_lookup(void *cookie, const char *status, const char *file)
{
	struct job *j = cookie;
	struct worker *w = j->w;
	j->looking = 0;
	if (j->state == J_FINAL) {
		drop_or_keep(j, status, file);
		return;
	}
	if (!status) {
		log_info("%s: no final notification on the stream; taking it", j->task.id);
		j->state = J_PENDING;
		schedule(w);
		return;
	}
	log_info("%s: already %s by another worker (its notification is on the stream); "
		 "acknowledging without a download", j->task.id, status);
	remember_settled(w, j->task.id);
	if (j->has_tag)
		mq_ack(w->mq, j->tag);
	free_job(j);
}

static void on_tasks(const struct mq_delivery *d, void *arg)
{
	struct worker *w = arg;
	struct task t;
	char err[256];
	if (w->stopping)
		return; /* requeued when we close */
	if (task_parse_message(d->body, d->len, &t, err, sizeof(err)) < 0) {
		log_error("dropping a malformed task message: %s", err);
		mq_reject(w->mq, d->tag, 0);
		return;
	}
	struct job *j = find_job(w, t.id);
	if (j && j->state == J_BACK)
		j = NULL; /* our copy, back early: a job of its own */
	if (j) {
		log_info("%s: redelivered while in progress here; keeping the download",
			 t.id);
		j->tag = d->tag;
		j->has_tag = 1;
		loop_timer_cancel(w->loop, j->orphan_timer);
		j->orphan_timer = 0;
		if (j->looking && j->state == J_FINAL) { /* ours again: no need */
			lookup_cancel(w->lookup, j);
			j->looking = 0;
		}
		if (j->state == J_FINAL)
			publish_final(j); /* finished while its delivery was void */
		return;
	}
	if (was_settled(w, t.id)) {
		log_info("%s: redelivered after it finished; acknowledging", t.id);
		if (mq_ack(w->mq, d->tag) == 0)
			part_done_clear(&w->dir, t.id);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		mq_reject(w->mq, d->tag, 1);
		return;
	}
	const char *why;
	if (url_parse(t.arg, strlen(t.arg), &j->url, &why) < 0) { /* task.c checked it */
		log_error("%s: dropping a task with a bad URL: %s", t.id, why);
		mq_reject(w->mq, d->tag, 0);
		free(j);
		return;
	}
	url_format(&j->url, 0, j->shown, sizeof(j->shown)); /* no password in logs */
	j->w = w;
	j->task = t;
	j->tag = d->tag;
	j->has_tag = 1;
	j->part.fd = -1;
	j->total = -1;
	j->hook_status = -1;
	j->state = J_PENDING;
	j->published = d->timestamp;
	j->next = w->jobs;
	w->jobs = j;
	struct part_record rec;
	if (is_cancelled(w, t.id) && !part_done_read(&w->dir, t.id, &rec)) {
		drop_cancelled(j);
	} else if (!w->taking) {
		hand_back(j); /* delivered before the pause took effect */
	} else if ((d->redelivered || d->delivery_count) && w->lookup &&
		   lookup_ask(w->lookup, t.id, d->timestamp, j) == 0) {
		j->looking = 1;
		log_info("%s: redelivered (delivery %u); looking for its final notification "
			 "on the stream", t.id, d->delivery_count + 1);
		j->state = J_HELD;
		return;
	}
	schedule(w);
}

/* A finished job whose delivery went void and was not handed back: the
 * final notification found on the stream (lookup.c), or NULL. Our `done`,
 * naming this file: this copy is the task's, kept. Not there, or another
 * worker's (it found none of ours in time and downloaded the task again,
 * into another file): this copy goes, and the task is reported once. */
static void drop_or_keep(struct job *j, const char *status, const char *file)
{
	struct worker *w = j->w;
	if (status && (strcmp(status, "done") || strcmp(file, j->file))) {
		log_warn("%s: %s by another worker%s%s: dropping this copy", j->task.id,
			 status, *file ? " into " : "", file);
		remember_settled(w, j->task.id);
		part_drop_final(&w->dir, j->file);
	} else if (status) {
		log_info("%s: our %s is stored (only its confirm was lost); keeping %s",
			 j->task.id, status, j->file);
		remember_settled(w, j->task.id);
	} else {
		log_warn("%s: not handed back after reconnecting and no final notification "
			 "stored: another worker has it; dropping this copy", j->task.id);
		part_drop_final(&w->dir, j->file);
	}
	part_done_clear(&w->dir, j->task.id);
	free_job(j);
	schedule(w);
}

/*
 * A job whose delivery went void with the broker connection and was not
 * handed back to us within WORKER_ORPHAN_GRACE_MS of reconnecting: the
 * broker gave the task to another consumer. Unless a worker sharing our
 * folder waits for this very download (its wait marker), we step aside so
 * that the task is reported once and downloaded into one place.
 */
static void on_orphan_grace(loop_t *loop, void *arg)
{
	struct job *j = arg;
	struct worker *w = j->w;
	struct part_record rec;
	(void)loop;
	j->orphan_timer = 0;
	if (j->has_tag)
		return;
	int finished = j->state == J_FINAL && j->ok;
	if (finished && !part_done_read(&w->dir, j->task.id, &rec)) {
		/* a neighbour settled it from our done record */
		remember_settled(w, j->task.id);
		free_job(j);
		return;
	}
	if (j->state == J_HOOK || part_wait_exists(&w->dir, j->task.id)) {
		j->orphan_timer = loop_timer(w->loop, WORKER_ORPHAN_GRACE_MS,
					     on_orphan_grace, j);
		return;
	}
	if (finished) {
		/* our `done` may be stored (only its confirm lost): then the
		 * worker given the task found it on the stream and acked it, and
		 * this file is the one; else that worker downloads it */
		if (!j->looking && lookup_ask(w->lookup, j->task.id, j->published, j) == 0)
			j->looking = 1;
		if (j->looking)
			return;
		drop_or_keep(j, NULL, "");
		return;
	}
	log_warn("%s: not handed back after reconnecting: another worker has it; "
		 "dropping this download", j->task.id);
	if (j->fetch || j->part.fd >= 0) {
		part_remove(&j->part);
	}
	free_job(j);
	schedule(w);
}

static void on_mq_state(int up, void *arg)
{
	struct worker *w = arg;
	if (up) {
		log_info("broker connection ready");
		publish_marker(w);
		for (struct job *j = w->jobs; j; j = j->next)
			if (!j->has_tag && !j->orphan_timer)
				j->orphan_timer = loop_timer(w->loop, WORKER_ORPHAN_GRACE_MS,
							     on_orphan_grace, j);
		return;
	}
	/* Our deliveries are requeued by the broker: downloads go on (their
	 * redelivery is attached to them), waiting ones are dropped, and so are
	 * the gathered notes (best effort; they would come late; the final
	 * ones among them go again on redelivery). */
	struct job *next;
	for (struct job *j = w->jobs; j; j = next) {
		next = j->next;
		j->has_tag = 0;
		loop_timer_cancel(w->loop, j->orphan_timer);
		j->orphan_timer = 0;
		if (j->state == J_HELD || j->state == J_PENDING || j->state == J_BUSY ||
		    (j->state == J_BACK && !j->publishing)) {
			if (j->state == J_BUSY && j->busy_logged)
				part_wait_clear(&w->dir, j->task.id);
			free_job(j);
		}
	}
	notes_reset(w);
}

/* ---- stopping ----------------------------------------------------------------- */

static void check_stopped(struct worker *w)
{
	for (struct job *j = w->jobs; j; j = j->next)
		if (loop_now(w->loop) < w->stop_deadline && (j->publishing || j->hook))
			return;
	loop_stop(w->loop);
}

/* Every SHUTDOWN_POLL_MS after SIGTERM, until check_stopped stops the loop. */
static int64_t on_stop_tick(loop_t *loop, void *arg)
{
	(void)loop;
	check_stopped(arg);
	return SHUTDOWN_POLL_MS;
}

static void on_signal(loop_t *loop, int signo, void *arg)
{
	struct worker *w = arg;
	(void)loop;
	if (w->stopping)
		return;
	w->stopping = 1;
	w->stop_deadline = loop_now(w->loop) + WORKER_STOP_GRACE_MS;
	log_info("signal %d: stopping", signo);
	struct job *next;
	for (struct job *j = w->jobs; j; j = next) {
		next = j->next;
		if (j->state == J_FETCH)
			log_info("%s: interrupted at %llu bytes; %s kept for a resume",
				 j->task.id, (unsigned long long)j->part.size, j->part.path);
		if (j->state == J_FINAL && !j->publishing) {
			/* One last try while the connection is there. */
			loop_timer_cancel(w->loop, j->timer);
			j->timer = 0;
			if (mq_is_up(w->mq))
				publish_final(j);
		}
		if (j->state != J_HOOK && !j->publishing)
			free_job(j); /* a task going back waits for its confirm */
	}
	notes_flush(w); /* gathered final notifications go now */
	check_stopped(w);
	if (!loop_every(w->loop, SHUTDOWN_POLL_MS, on_stop_tick, w))
		loop_stop(w->loop); /* out of memory: stop without waiting */
}

/* ---- quiet hours ------------------------------------------------------------- */

/* The minute of the local day, and the ms until the next one. Tests set
 * WARREN_TEST_QUIET_MINUTE_MS: the day then starts at 00:00 when the
 * worker does and a minute lasts that many ms, so a window can begin
 * during a download within seconds. */
static unsigned quiet_minute(struct worker *w, int64_t *next_ms)
{
	if (w->test_minute_ms) {
		int64_t el = loop_now(w->loop) - w->test_since;
		*next_ms = w->test_minute_ms - el % w->test_minute_ms;
		return (unsigned)((el / w->test_minute_ms) % 1440);
	}
	struct tm tm;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	time_t t = ts.tv_sec;
	localtime_r(&t, &tm);
	*next_ms = (60 - tm.tm_sec) * 1000LL - ts.tv_nsec / 1000000 + 50;
	if (*next_ms <= 0)
		*next_ms = 1000; /* a leap second */
	return (unsigned)(tm.tm_hour * 60 + tm.tm_min);
}

/* At every minute of local time (so a clock or time-zone change is seen
 * within one): enters or leaves quiet hours, which pause the worker as a
 * control pause does (a download resumes with Range at the window's end
 * if this worker takes the task again, or starts again elsewhere). */
static int64_t on_quiet_tick(loop_t *loop, void *arg)
{
	struct worker *w = arg;
	(void)loop;
	int64_t next_ms;
	unsigned left;
	int in = quiet_at(&w->quiet, quiet_minute(w, &next_ms), &left);
	if (in != w->quiet_now) {
		w->quiet_now = in;
		log_info("quiet hours %s for %u min", in ? "begin" : "end", left);
		update_taking(w);
	}
	return next_ms;
}

/* ---- main ------------------------------------------------------------------ */

/* mkdir -p path, then opens it once (resolving links) as the folder. */
static int make_dir(const char *path, struct part_dir *d, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "path too long");
		return -1;
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		goto fail;
	if (part_dir_open(d, tmp, err, errlen) < 0)
		return -1;
	if (faccessat(d->fd, ".", W_OK | X_OK, 0) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "%s", strerror(errno));
	return -1;
}

/* Orphan sweeps: tasks held here are not orphans. */
static int job_held(const char *id, void *arg)
{
	return find_job(arg, id) != NULL;
}

/* At start, then every WORKER_SWEEP_INTERVAL_S. */
static int64_t on_sweep(loop_t *loop, void *arg)
{
	struct worker *w = arg;
	(void)loop;
	part_sweep(&w->dir, WORKER_ORPHAN_AGE_S, job_held, w);
	return (int64_t)WORKER_SWEEP_INTERVAL_S * 1000;
}

int main(int argc, char **argv)
{
	static struct worker w;
	const char *amqp = DEFAULT_AMQP_URL, *dir = DEFAULT_DIR,
		   *ca_file = DEFAULT_CA_FILE, *hook = NULL, *get = NULL, *output = NULL,
		   *sha256 = NULL, *min_free = DEFAULT_MIN_FREE,
		   *rate_limit = NULL, *quiet = NULL; /* NULL: not given */
	unsigned long concurrency = DEFAULT_CONCURRENCY, max_size = DEFAULT_MAX_SIZE,
		      retries = DEFAULT_RETRIES, timeout = DEFAULT_TIMEOUT,
		      deadline = DEFAULT_DEADLINE, heartbeat = DEFAULT_HEARTBEAT;
	int deny_private = 0, use_syslog = 0;
	const struct opt opts[] = {
		OPT_ROW_AMQP(&amqp),
		{ "dir", "WARREN_DIR", OPT_STR, &dir, 0, "PATH",
		  "download folder, created if missing (default " DEFAULT_DIR ")" },
		{ "concurrency", "WARREN_CONCURRENCY", OPT_UINT, &concurrency,
		  WORKER_MAX_CONCURRENCY, "N", "downloads at once (default " OPT_STR_OF(DEFAULT_CONCURRENCY) ")" },
		{ "ca-file", "WARREN_CA_FILE", OPT_STR, &ca_file, 0, "PATH",
		  "CA bundle for https, PEM (default " DEFAULT_CA_FILE ")" },
		{ "max-size", "WARREN_MAX_SIZE", OPT_UINT, &max_size, ULONG_MAX, "N",
		  "largest download in bytes, 0 = no limit (default " OPT_STR_OF(DEFAULT_MAX_SIZE) ")" },
		{ "retries", "WARREN_RETRIES", OPT_UINT, &retries, WORKER_MAX_RETRIES, "N",
		  "tries again after a transient error (default " OPT_STR_OF(DEFAULT_RETRIES) ")" },
		{ "timeout", "WARREN_TIMEOUT", OPT_UINT, &timeout, WORKER_MAX_TIMEOUT_S, "N",
		  "seconds a download may receive nothing (default " OPT_STR_OF(DEFAULT_TIMEOUT) ")" },
		{ "deadline", "WARREN_DEADLINE", OPT_UINT, &deadline, WORKER_MAX_DEADLINE_S, "N",
		  "seconds a whole download may take, retries included (0: none; "
		  "default " OPT_STR_OF(DEFAULT_DEADLINE) ")" },
		{ "min-free", "WARREN_MIN_FREE", OPT_STR, &min_free, 0, "N",
		  "bytes a download must leave free on --dir's file system, "
		  "k/M/G suffixes (default " DEFAULT_MIN_FREE ")" },
		{ "rate-limit", "WARREN_RATE_LIMIT", OPT_STR, &rate_limit, 0, "N",
		  "bytes per second over all downloads, k/M/G suffixes, 0 = no limit "
		  "(default " DEFAULT_RATE_LIMIT ")" },
		{ "quiet", "WARREN_QUIET", OPT_STR, &quiet, 0, "HH:MM-HH:MM[,...]",
		  "local hours when the worker pauses as a control pause does "
		  "(a window may cross midnight)" },
		OPT_ROW_HEARTBEAT(&heartbeat),
		{ "on-complete", "WARREN_ON_COMPLETE", OPT_STR, &hook, 0, "PATH",
		  "program run after each download (no shell)" },
		{ "deny-private", "WARREN_DENY_PRIVATE", OPT_FLAG, &deny_private, 0, NULL,
		  "refuse loopback, link-local and private addresses" },
		OPT_ROW_SYSLOG(&use_syslog),
		{ "get", NULL, OPT_STR, &get, 0, "URL",
		  "download URL once without a broker, print the result as JSON" },
		{ "output", NULL, OPT_STR, &output, 0, "FILE",
		  "with --get: write to FILE (also -o FILE)" },
		{ "sha256", NULL, OPT_STR, &sha256, 0, "HEX",
		  "with --get: the SHA-256 the file must have" },
		OPT_ROW_END
	};
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-o"))
			argv[i] = "--output";
	int first = opt_parse(PROG, "Downloads the tasks of the `tasks` queue "
			      "(or one URL with --get), following the control "
			      "stream `" QUEUE_CONTROL "` (cancel, pause, resume, "
			      "rate).", opts, argc, argv);
	if (first < argc)
		opt_fail(PROG, "unexpected argument '%s' (try --help)", argv[first]);
	if (concurrency == 0)
		opt_fail(PROG, "--concurrency: at least 1");
	if (timeout == 0)
		opt_fail(PROG, "--timeout: at least 1 second");
	if ((output || sha256) && !get)
		opt_fail(PROG, "%s needs --get URL", output ? "-o/--output" : "--sha256");
	if (sha256 && (strlen(sha256) != 64 || strspn(sha256, "0123456789abcdefABCDEF") != 64))
		opt_fail(PROG, "--sha256: want 64 hexadecimal characters");
	unsigned long long min_free_bytes;
	if (opt_size(min_free, &min_free_bytes) < 0)
		opt_fail(PROG, "--min-free: want a byte count such as 64M (suffixes k, M, "
			 "G: powers of 1024), not '%s'", min_free);
	int rate_given = rate_limit != NULL;
	if (!rate_given)
		rate_limit = DEFAULT_RATE_LIMIT;
	unsigned long long rate_bytes;
	if (opt_size(rate_limit, &rate_bytes) < 0 || rate_bytes > RATE_MAX)
		opt_fail(PROG, "--rate-limit: want bytes per second such as 2M (suffixes "
			 "k, M, G: powers of 1024; 0 = no limit), not '%s'", rate_limit);
	char err[256];
	if (quiet && quiet_parse(quiet, &w.quiet, err, sizeof(err)) < 0)
		opt_fail(PROG, "--quiet: %s", err);
	struct url u;
	const char *why;
	if (get && url_parse(get, strlen(get), &u, &why) < 0)
		opt_fail(PROG, "--get: %s", why);
	if (!get && mq_check_url(amqp, err, sizeof(err)) < 0)
		opt_fail(PROG, "--amqp: %s", err);
	if (hook && access(hook, X_OK) < 0)
		opt_fail(PROG, "--on-complete: %s is not an executable file", hook);

	log_open(PROG, use_syslog);
	signal(SIGPIPE, SIG_IGN);
	if (output) {
		/* The part file goes beside the output, so rename() stays in one
		 * file system. */
		char tmp[PATH_MAX];
		snprintf(tmp, sizeof(tmp), "%s", output);
		char *slash = strrchr(tmp, '/');
		dir = slash ? (slash == tmp ? "/" : (*slash = '\0', tmp)) : ".";
		if (make_dir(dir, &w.dir, err, sizeof(err)) < 0)
			opt_fail(PROG, "-o: cannot write into %s: %s", dir, err);
	} else if (make_dir(dir, &w.dir, err, sizeof(err)) < 0) {
		opt_fail(PROG, "--dir: cannot use %s: %s", dir, err);
	}
	w.loop = loop_new();
	if (!w.loop) {
		log_error("out of memory");
		return 1;
	}
	w.hook_path = hook;
	w.concurrency = (unsigned)concurrency;
	w.fctx = (struct fetch_ctx){
		.loop = w.loop, .ca_file = ca_file, .retries = (unsigned)retries,
		.timeout_s = (unsigned)timeout, .deadline_s = (unsigned)deadline,
		.max_size = max_size, .min_free = min_free_bytes,
		.deny_private = deny_private,
	};
	w.fctx.rate = rate_new(w.loop, rate_bytes);
	if (!w.fctx.rate) {
		log_error("out of memory");
		return 1;
	}
	char host[256];
	os_hostname(host, sizeof(host));
	snprintf(w.ident, sizeof(w.ident), "%s:%ld", host, (long)getpid());
	unsigned char nonce[8];
	if (os_random(nonce, sizeof(nonce)) < 0) {
		log_error("no random bytes for the control marker");
		return 1;
	}
	for (size_t i = 0; i < sizeof(nonce); i++)
		snprintf(w.nonce + 2 * i, 3, "%02x", nonce[i]);
	w.tasks_sub = -1;
	w.control_offset = -1;
	if (rate_given)
		w.rate_set_ms = loop_wall_ms();

	int status = 0;
	if (get) {
		struct get_config gc = { &w.fctx, &w.dir, get, &u, output, sha256, w.ident };
		status = get_run(&gc);
	} else {
		loop_signal(w.loop, SIGTERM, on_signal, &w);
		loop_signal(w.loop, SIGINT, on_signal, &w);
		/* files synced off the loop (NULL: in it) */
		syncer_t *syncer = syncer_new(w.loop);
		part_dir_async(&w.dir, syncer);
		struct mq_config mc = {
			.url = amqp, .heartbeat = (unsigned)heartbeat,
			.on_state = on_mq_state, .arg = &w, .name = w.ident,
		};
		w.mq = mq_new(w.loop, &mc, err, sizeof(err));
		if (!w.mq) {
			log_error("%s", err);
			return 1;
		}
		/* `tasks` waits for our marker to come back (update_taking) */
		struct mq_consumer control = {
			.queue = QUEUE_CONTROL, .prefetch = WORKER_CONTROL_PREFETCH,
			.stream = 1, .start = control_start, .on_deliver = on_control,
			.arg = &w,
		};
		if (mq_subscribe(w.mq, &control) < 0) {
			log_error("cannot subscribe to %s", QUEUE_CONTROL);
			return 1;
		}
		w.lookup = lookup_new(w.loop, w.mq, on_lookup);
		if (!w.lookup) {
			log_error("out of memory");
			return 1;
		}
		log_info("downloading into %s, %u at once", w.dir.path, w.concurrency);
		on_sweep(w.loop, &w);
		if (!loop_every(w.loop, (int64_t)WORKER_SWEEP_INTERVAL_S * 1000, on_sweep, &w)) {
			log_error("out of memory");
			return 1;
		}
		const char *tm = getenv("WARREN_TEST_QUIET_MINUTE_MS");
		if (tm && atoi(tm) > 0) {
			w.test_minute_ms = atoi(tm);
			w.test_since = loop_now(w.loop);
		}
		if (w.quiet.n && !loop_every(w.loop, 0, on_quiet_tick, &w)) {
			log_error("out of memory");
			return 1;
		}
		loop_run(w.loop);
		/* The connection first: its close requeues what we did not ack,
		 * and pending confirms are failed while their jobs still exist. */
		lookup_free(w.lookup); /* its consumer first */
		w.lookup = NULL;
		notes_flush(&w);
		mq_free(w.mq);
		w.mq = NULL;
		while (w.jobs)
			free_job(w.jobs);
		buf_free(&w.notes);
		part_dir_async(&w.dir, NULL);
		syncer_free(syncer);
		log_info("stopped");
	}
	tls_config_free(w.fctx.tls);
	rate_free(w.fctx.rate);
	part_dir_close(&w.dir);
	loop_free(w.loop);
	return status;
}

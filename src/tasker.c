/*
 * tasker - accepts download tasks over HTTP and queues them on RabbitMQ.
 *
 * POST /task validates the body as it arrives (one task or an array, all
 * or none; see task_stream in task.h), publishes each task persistently to
 * `tasks` and its `queued` notification to `notifications` (gathered for
 * TASKER_QUEUED_GATHER_MS, as one stream message, sent once the task is
 * confirmed: a task answered 503 is not shown queued), and answers 202 only
 * when the broker has confirmed every task. The answer is deferred while
 * confirms are outstanding; many requests' confirms are in flight at once.
 * The notifications go over a second connection: RabbitMQ serves each
 * channel in one Erlang process, and there a `queued` notification (a
 * stream write as costly as the task's own) sat between every task and its
 * confirm. That connection is not in confirm mode: nothing waits on a
 * notification (the task is what 202 promises), and the broker's confirm
 * bookkeeping for it is saved.
 *
 * DELETE /task/<id> and POST /control publish one control message each to
 * the stream `warren.control` (control.h), answered 202 once confirmed.
 * Every answer carries Access-Control-Allow-Origin and OPTIONS answers a
 * preflight, so that the middleman's page (another origin) can call it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "control.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "mq.h"
#include "net.h"
#include "opt.h"
#include "task.h"

#define PROG "tasker"

/* A gathered `queued` notification. It leaves once its task is confirmed
 * (an array's tasks: once the broker has answered for all); a task the
 * broker refused never shows as queued, unless memory ran out meanwhile.
 * The tasks of an array answered 503 that the broker did store show. */
struct gathered {
	char id[37];
	enum { NOTE_PENDING, NOTE_CONFIRMED, NOTE_DROPPED } state;
	size_t off, len;        /* its bytes in tasker.queued */
};

struct tasker {
	loop_t *loop;
	http_server_t *http;
	mq_t *mq;
	mq_t *notes;            /* the connection for notifications, opened
				 * once the first is up: a topology refused
				 * (406) is then reported once, not twice */
	struct mq_config notes_cfg;
	const char *token;
	int stopping;
	int64_t stop_deadline;
	int publishing;         /* batches with tasks still to publish */
	buf_t queued;           /* `queued` notifications gathered, back to
				 * back (gathered[] says where each is) */
	struct gathered *gathered;
	int nqueued, gathered_cap;
	int nconfirmed;         /* gathered ones whose task is confirmed, */
	size_t confirmed_len;   /* and their bytes */
	uint64_t queued_timer;  /* publishes the confirmed ones
				 * TASKER_QUEUED_GATHER_MS after the first */
	size_t intake_held;     /* bytes the intakes hold (TASKER_INTAKE_BYTES) */
};

/* A POST /task body being validated, then published: what it may hold
 * counts against TASKER_INTAKE_BYTES until the broker has answered for its
 * last task (the tasks go at the last publish, their `queued`
 * notifications, about as large, wait for the confirms), so that a crowd
 * posting large arrays at once waits instead of filling the memory. */
struct intake {
	struct tasker *t;
	size_t held;
	task_stream_t *ts;
};

struct batch;

/* One task of a batch: its id (all the answer needs: a struct task is
 * 2.4 KB, and hundreds of batches may await their confirms) and the
 * broker's answer for it, the cookie of its publish. */
struct batch_task {
	char id[37];
	uint8_t stored;         /* the broker confirmed it */
	struct batch *b;
};

/* One POST /task whose confirms are awaited. */
struct batch {
	struct tasker *t;
	uint64_t ticket;
	int is_array;
	int count, pending, failed;
	struct batch_task *tasks;
	struct intake *in;      /* the validated tasks, until all are out;
				 * the room they held, until the answer */
	size_t cursor;          /* the next one in in->ts */
	int next;               /* its index */
	int64_t give_up;        /* a publish refused (full output) until then
				 * is tried again, after it fails the batch */
};

static const char json_type[] = "application/json";

static void queued_settle(struct tasker *t, const char *id, int ok);
static void intake_free(struct intake *in);

static void batch_answer(struct batch *b)
{
	/* a task stored is shown queued, even when others of its array
	 * were refused and the answer is 503 */
	for (int i = 0; i < b->next; i++)
		queued_settle(b->t, b->tasks[i].id, b->tasks[i].stored);
	intake_free(b->in);
	http_conn_t *c = http_resume(b->t->http, b->ticket);
	if (c && b->failed) {
		http_respond_unavailable(c, "the broker did not confirm the task");
	} else if (c) {
		buf_t out = BUF_INIT;
		int fail = b->is_array && buf_puts(&out, "[") < 0;
		for (int i = 0; i < b->count && !fail; i++)
			fail = buf_printf(&out, "%s{\"id\":\"%s\",\"status\":\"queued\"}",
					  i ? "," : "", b->tasks[i].id) < 0;
		fail = fail || (b->is_array && buf_puts(&out, "]") < 0) ||
		       buf_puts(&out, "\n") < 0;
		if (fail)
			http_respond_error(c, 503, "out of memory", NULL);
		else
			http_respond(c, 202, json_type, out.data, out.len, NULL);
		buf_free(&out);
	}
	free(b->tasks);
	free(b);
}

/* One publish, or the hold while they go out, settled: the answer once
 * all are. */
static void batch_settle(struct batch *b)
{
	if (--b->pending == 0)
		batch_answer(b);
}

static void on_task_confirm(void *cookie, int ok)
{
	struct batch_task *bt = cookie;
	bt->stored = (uint8_t)ok;
	if (!ok)
		bt->b->failed = 1;
	batch_settle(bt->b);
}

static void on_queued_timer(loop_t *loop, void *arg);

/* Publishes n notifications gathered in msg ("[" and the notes separated
 * by commas): one stream message, a JSON array when there are several (the
 * middleman numbers each), the notification itself when there is one. */
static void publish_queued(struct tasker *t, buf_t *msg, int n, const char *first)
{
	mq_t *nq = t->notes && mq_is_up(t->notes) && !mq_is_blocked(t->notes)
		   ? t->notes : t->mq;
	if (n == 1)
		mq_publish(nq, QUEUE_NOTIFICATIONS, msg->data + 1, msg->len - 1, first,
			   NULL, NULL);
	else if (n > 1 && buf_puts(msg, "]") == 0)
		mq_publish(nq, QUEUE_NOTIFICATIONS, msg->data, msg->len, NULL, NULL, NULL);
	buf_reset(msg);
}

/* Publishes the `queued` notifications gathered whose tasks are confirmed
 * (all but the dropped ones when `all`: memory ran out), in messages of at
 * most NOTIFY_SEQ_STRIDE notifications and TASKER_QUEUED_BATCH_BYTES. The
 * ones still awaiting their confirm stay for a later round, however many:
 * none goes before the broker has the task. They are informative (the task
 * is what 202 promises): they take the tasks' connection while their own
 * is not there, and one lost with a connection is not sent again. */
static void queued_flush(struct tasker *t, int all)
{
	if (t->queued_timer) {
		loop_timer_cancel(t->loop, t->queued_timer);
		t->queued_timer = 0;
	}
	buf_t msg = BUF_INIT;
	char first[37];
	int n = 0, kept = 0, fail = 0;
	size_t kept_len = 0;
	for (int i = 0; i < t->nqueued; i++) {
		struct gathered *g = &t->gathered[i];
		const char *note = t->queued.data + g->off;
		if (g->state == NOTE_DROPPED)
			continue;
		if (all || g->state == NOTE_CONFIRMED) {
			if (n && (n == NOTIFY_SEQ_STRIDE ||
				  msg.len + g->len + 2 > TASKER_QUEUED_BATCH_BYTES)) {
				if (!fail)
					publish_queued(t, &msg, n, first);
				n = 0;
			}
			/* out of memory (fail): lost like ones on a broken connection */
			fail = fail || buf_puts(&msg, n ? "," : "[") < 0 ||
			       buf_append(&msg, note, g->len) < 0;
			if (n++ == 0)
				memcpy(first, g->id, sizeof(first));
			continue;
		}
		memmove(t->queued.data + kept_len, note, g->len); /* leftwards */
		g->off = kept_len;
		kept_len += g->len;
		t->gathered[kept++] = *g;
	}
	if (!fail)
		publish_queued(t, &msg, n, first);
	buf_free(&msg);
	t->queued.len = kept_len;
	t->nqueued = kept;
	t->nconfirmed = 0;
	t->confirmed_len = 0;
	if (kept && !(t->queued_timer = loop_timer(t->loop, TASKER_QUEUED_RECHECK_MS,
						   on_queued_timer, t)))
		queued_flush(t, 1); /* no timer: at once */
}

static void on_queued_timer(loop_t *loop, void *arg)
{
	struct tasker *t = arg;
	(void)loop;
	t->queued_timer = 0;
	queued_flush(t, 0);
}

/* The broker's answer for a task: its `queued` notification, if still
 * gathered, may go (ok: stored) or never will (refused). A message's
 * worth of confirmed ones goes at once. */
static void queued_settle(struct tasker *t, const char *id, int ok)
{
	for (int i = 0; i < t->nqueued; i++) {
		struct gathered *g = &t->gathered[i];
		if (g->state != NOTE_PENDING || memcmp(g->id, id, sizeof(g->id)) != 0)
			continue;
		g->state = ok ? NOTE_CONFIRMED : NOTE_DROPPED;
		if (!ok)
			return;
		t->nconfirmed++;
		t->confirmed_len += g->len + 1;
		if (t->nconfirmed >= NOTIFY_SEQ_STRIDE ||
		    t->confirmed_len >= TASKER_QUEUED_BATCH_BYTES)
			queued_flush(t, 0);
		return;
	}
}

/* Adds a `queued` notification to those being gathered, until its task's
 * confirm. */
static void queued_add(struct tasker *t, const char *note, size_t len,
		       const char *id)
{
	if (t->nqueued == t->gathered_cap) {
		int cap = t->gathered_cap ? 2 * t->gathered_cap : NOTIFY_SEQ_STRIDE;
		struct gathered *more = realloc(t->gathered, (size_t)cap * sizeof(*more));
		if (!more)
			return; /* out of memory: lost like one on a broken connection */
		t->gathered = more;
		t->gathered_cap = cap;
	}
	size_t off = t->queued.len;
	if (buf_append(&t->queued, note, len) < 0)
		return;
	struct gathered *g = &t->gathered[t->nqueued++];
	memcpy(g->id, id, sizeof(g->id));
	g->state = NOTE_PENDING;
	g->off = off;
	g->len = len;
	if (!t->queued_timer &&
	    !(t->queued_timer = loop_timer(t->loop, TASKER_QUEUED_GATHER_MS,
					   on_queued_timer, t)))
		queued_flush(t, 1); /* no timer: at once */
}

/* Publishes a task and adds its `queued` notification to the message being
 * gathered. 0, or -1 when the broker is not there to take it. */
static int publish_task(struct tasker *t, struct batch *b, struct task *task,
			buf_t *scratch)
{
	buf_reset(scratch);
	struct batch_task *bt = &b->tasks[b->next];
	bt->b = b;
	bt->stored = 0;
	if (task_message_json(scratch, task) < 0 ||
	    mq_publish(t->mq, QUEUE_TASKS, scratch->data, scratch->len, task->id,
		       on_task_confirm, bt) < 0)
		return -1;
	b->pending++;
	struct task_event ev = { .task = task, .status = "queued",
				 .time_ms = loop_wall_ms(), .hook_status = -1 };
	buf_reset(scratch);
	if (task_event_json(scratch, &ev) == 0)
		queued_add(t, scratch->data, scratch->len, task->id);
	return 0;
}

/* An intake for a body of len bytes, or NULL: out of memory, or beyond
 * TASKER_INTAKE_BYTES while others hold some (one always fits). */
static struct intake *intake_new(struct tasker *t, uint64_t len)
{
	size_t cost = task_stream_cost(len < HTTP_MAX_BODY ? len : HTTP_MAX_BODY);
	if (t->intake_held && t->intake_held + cost > TASKER_INTAKE_BYTES)
		return NULL;
	struct intake *in = malloc(sizeof(*in));
	if (in)
		in->ts = task_stream_new();
	if (!in || !in->ts) {
		free(in);
		return NULL;
	}
	in->t = t;
	in->held = cost;
	t->intake_held += cost;
	return in;
}

/* The state of a body whose request is answered 401: read and dropped as
 * it arrives, held nowhere and counted against nothing, so that clients
 * without the token cannot make the others wait. */
static struct intake unauthorized;

/* The tasks are all published: their memory goes, the room they held stays
 * counted (intake_free gives it back). */
static void intake_drop_tasks(struct intake *in)
{
	task_stream_free(in->ts);
	in->ts = NULL;
}

static void intake_free(struct intake *in)
{
	if (!in || in == &unauthorized)
		return;
	struct tasker *t = in->t;
	t->intake_held -= in->held;
	task_stream_free(in->ts);
	free(in);
	http_server_room_for_bodies(t->http);
}

/* Validates the body as the server hands it over (or, when the intake
 * could not be allocated at the start, the body gathered whole). */
static int take_tasks(struct tasker *t, const struct http_request *req,
		      struct intake **in, int *is_array, char *err, size_t errlen)
{
	*in = req->body_state;
	if (!*in) {
		*in = intake_new(t, req->body_len);
		if (!*in) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		task_stream_feed((*in)->ts, req->body, req->body_len);
	}
	return task_stream_end((*in)->ts, is_array, err, errlen);
}

/* Publishes the next TASKER_PUBLISH_SLICE tasks of b, then lets the loop
 * write them to the broker before the next slice: a 1 MiB batch never
 * sits whole in the connection's output buffer (bounded by
 * MQ_MAX_OUTBUF; a publish refused there is tried again shortly). */
static int64_t publish_slice(loop_t *loop, void *arg)
{
	struct batch *b = arg;
	struct tasker *t = b->t;
	buf_t scratch = BUF_INIT;
	int64_t again = 0;
	for (int n = 0; b->next < b->count && !b->failed; n++) {
		if (n == TASKER_PUBLISH_SLICE) {
			again = 1;
			break;
		}
		size_t at = b->cursor;
		struct task task;
		if (!task_stream_next(b->in->ts, &b->cursor, &task) || task_new_id(task.id) < 0) {
			b->failed = 1;
			break;
		}
		if (publish_task(t, b, &task, &scratch) < 0) {
			b->cursor = at;
			if (mq_is_up(t->mq) && !mq_is_blocked(t->mq) &&
			    loop_now(loop) < b->give_up)
				again = TASKER_PUBLISH_RETRY_MS;
			else
				b->failed = 1;
			break;
		}
		memcpy(b->tasks[b->next++].id, task.id, sizeof(task.id));
	}
	buf_free(&scratch);
	if (again && !b->failed)
		return again;
	intake_drop_tasks(b->in); /* all out: the room is kept until the answer */
	t->publishing--;
	batch_settle(b); /* release the hold; answers if all settled */
	return LOOP_TIMER_STOP;
}

/* 1 when the broker can take a publish now; else answers 503. */
static int broker_ready(struct tasker *t, http_conn_t *c)
{
	if (mq_is_up(t->mq) && !mq_is_blocked(t->mq))
		return 1;
	http_respond_unavailable(c, mq_is_up(t->mq) ? "the broker is blocked (a memory or "
				 "disk alarm): try again later" : "the broker is unreachable");
	return 0;
}

/* A control message whose confirm the answer awaits. */
struct control_wait {
	struct tasker *t;
	uint64_t ticket;
	size_t len;
	char answer[256];      /* the 202's body */
};

static void on_control_confirm(void *cookie, int ok)
{
	struct control_wait *w = cookie;
	http_conn_t *c = http_resume(w->t->http, w->ticket);
	if (ok)
		log_info("control: %.*s", (int)w->len - 1, w->answer);
	if (c && ok)
		http_respond(c, 202, json_type, w->answer, w->len, NULL);
	else if (c)
		http_respond_unavailable(c, "the broker did not confirm the control message");
	free(w);
}

/* Publishes m (stamped now) to warren.control; the 202 (answer, or the
 * message itself when NULL) waits for the broker's confirm. */
static void publish_control(struct tasker *t, http_conn_t *c,
			    struct control_msg *m, const char *answer)
{
	if (!broker_ready(t, c))
		return;
	m->time = loop_wall_ms();
	char body[256], mid[37];
	size_t n = control_encode(m, body, sizeof(body));
	struct control_wait *w = n ? malloc(sizeof(*w)) : NULL;
	if (!w || task_new_id(mid) < 0) {
		free(w);
		http_respond_error(c, 503, n ? "out of memory" : "cannot encode the message", NULL);
		return;
	}
	w->t = t;
	w->ticket = http_defer(c);
	int len = snprintf(w->answer, sizeof(w->answer), "%s\n", answer ? answer : body);
	w->len = len > 0 && (size_t)len < sizeof(w->answer) ? (size_t)len : 0;
	if (!w->len ||
	    mq_publish(t->mq, QUEUE_CONTROL, body, n, mid, on_control_confirm, w) < 0) {
		free(w);
		http_respond_unavailable(c, "the broker cannot take the message now: try again");
	}
}

/* DELETE /task/<id>: a cancel for any id of the tasker's form, known or
 * not (the workers know which tasks exist; a stale cancel changes nothing). */
static void delete_task(struct tasker *t, http_conn_t *c, const struct http_request *req)
{
	const char *id = req->path + 6;
	size_t n = req->path_len - 6;
	if (n == 0) {
		http_respond_error(c, 400, "missing task id: DELETE /task/<id>", NULL);
		return;
	}
	if (!control_id_valid(id, n)) {
		http_respond_error(c, 400, "bad task id: DELETE /task/<id> wants an id as "
				   "POST /task gave it (a lowercase UUID, 36 characters)", NULL);
		return;
	}
	struct control_msg m = { .op = CONTROL_CANCEL };
	memcpy(m.id, id, 36);
	char answer[80];
	snprintf(answer, sizeof(answer), "{\"id\":\"%s\",\"status\":\"cancelling\"}", m.id);
	publish_control(t, c, &m, answer);
}

/* POST /control: {"op":"pause"}, {"op":"resume"}, {"op":"rate","limit":N}. */
static void post_control(struct tasker *t, http_conn_t *c, const struct http_request *req)
{
	char err[256];
	struct control_msg m;
	if (control_parse_request(req->body ? req->body : "", req->body_len, &m,
				  err, sizeof(err)) < 0) {
		http_respond_error(c, 400, err, NULL);
		return;
	}
	publish_control(t, c, &m, NULL);
}

static void post_task(struct tasker *t, http_conn_t *c, const struct http_request *req)
{
	char err[256];
	struct intake *in;
	int is_array;
	int count = take_tasks(t, req, &in, &is_array, err, sizeof(err));
	if (count < 0) {
		int status = in ? 400 : 503; /* no intake: out of memory */
		intake_free(in);
		http_respond_error(c, status, err, NULL);
		return;
	}
	if (!broker_ready(t, c)) {
		intake_free(in);
		return;
	}
	struct batch *b = calloc(1, sizeof(*b));
	if (b)
		b->tasks = malloc((size_t)count * sizeof(*b->tasks));
	if (!b || !b->tasks) {
		free(b);
		intake_free(in);
		http_respond_error(c, 503, "out of memory", NULL);
		return;
	}
	b->t = t;
	b->count = count;
	b->is_array = is_array;
	b->in = in;
	b->ticket = http_defer(c);
	b->pending = 1; /* held until every publish is out */
	b->give_up = loop_now(t->loop) + TASKER_PUBLISH_WAIT_MS;
	t->publishing++;
	int64_t next = publish_slice(t->loop, b);
	if (next != LOOP_TIMER_STOP && !loop_every(t->loop, next, publish_slice, b)) {
		b->failed = 1; /* out of memory: what is out is answered */
		publish_slice(t->loop, b);
	}
}

/* POST /task bodies are validated as they arrive, never held whole, and
 * wait while TASKER_INTAKE_BYTES are held. */
static int body_begin(const struct http_request *req, uint64_t len, void *arg,
		      void **state)
{
	struct tasker *t = arg;
	if (!http_path_is(req, "/task") || !http_method_is(req, "POST"))
		return 0;
	if (!http_bearer_ok(req, t->token)) {
		*state = &unauthorized;
		return 1;
	}
	*state = intake_new(t, len);
	if (*state)
		return 1;
	/* at the bound: wait; out of memory: gathered, up to
	 * HTTP_MAX_BUFFERED_BODY */
	return t->intake_held ? -1 : 0;
}

static void body_feed(void *state, const char *data, size_t len)
{
	struct intake *in = state;
	if (in != &unauthorized)
		task_stream_feed(in->ts, data, len);
}

static void body_drop(void *state) { intake_free(state); }

static const struct http_body_reader task_reader = { body_begin, body_feed, body_drop };

/* The tasker's paths, and the methods each takes. */
static const struct route {
	const char *path;       /* "/task/" matches "/task/<anything>" */
	const char *methods;    /* for Allow and CORS preflights */
	const char *use;        /* the 405's advice */
} routes[] = {
	{ "/task", "POST, OPTIONS", "use POST for /task" },
	{ "/task/", "DELETE, OPTIONS", "use DELETE for /task/<id>" },
	{ "/control", "POST, OPTIONS", "use POST for /control" },
	{ "/health", "GET, HEAD, OPTIONS", "use GET for /health" },
	{ NULL, NULL, NULL }
};

static const struct route *route_of(const struct http_request *req)
{
	for (const struct route *r = routes; r->path; r++) {
		size_t n = strlen(r->path);
		int prefix = r->path[n - 1] == '/';
		if (prefix ? req->path_len >= n && !memcmp(req->path, r->path, n)
			   : http_path_is(req, r->path))
			return r;
	}
	return NULL;
}

static void handle(http_conn_t *c, const struct http_request *req, void *arg)
{
	struct tasker *t = arg;
	const struct route *r = route_of(req);
	int auth = http_bearer_ok(req, t->token);
	if (r == &routes[0] && auth && http_method_is(req, "POST")) {
		post_task(t, c, req); /* owns req->body_state */
		return;
	}
	intake_free(req->body_state);
	if (!r) {
		http_respond_error(c, 404, "no such path: try POST /task, DELETE /task/<id>, "
				   "POST /control or GET /health", NULL);
	} else if (http_method_is(req, "OPTIONS")) {
		/* a browser's preflight carries no token: it asks what is allowed */
		http_respond_preflight(c, r->methods);
	} else if (!auth) {
		http_respond_error(c, 401, "missing or wrong bearer token",
				   "WWW-Authenticate: Bearer\r\n");
	} else if (r == &routes[1] && http_method_is(req, "DELETE")) {
		delete_task(t, c, req);
	} else if (r == &routes[2] && http_method_is(req, "POST")) {
		post_control(t, c, req);
	} else if (r == &routes[3] && (http_method_is(req, "GET") || http_method_is(req, "HEAD"))) {
		http_respond_health(c, mq_state_name(t->mq));
	} else {
		char allow[64];
		snprintf(allow, sizeof(allow), "Allow: %s\r\n", r->methods);
		http_respond_error(c, 405, r->use, allow);
	}
}

static void on_mq_state(int up, void *arg)
{
	struct tasker *t = arg;
	char err[256];
	if (up && !t->notes && !t->stopping &&
	    !(t->notes = mq_new(t->loop, &t->notes_cfg, err, sizeof(err))))
		log_warn("notifications share the tasks' connection: %s", err);
}

/* Every SHUTDOWN_POLL_MS after SIGTERM: stops the loop once every confirm
 * is in or the grace is over, the `queued` notifications gathered sent
 * (mq_free writes them out before its close). */
static int64_t check_stopped(loop_t *loop, void *arg)
{
	struct tasker *t = arg;
	if ((mq_inflight(t->mq) || (t->notes && mq_inflight(t->notes)) || t->publishing) &&
	    loop_now(loop) < t->stop_deadline)
		return SHUTDOWN_POLL_MS;
	queued_flush(t, 0); /* the confirmed ones: the rest get 503 */
	loop_stop(loop);
	return LOOP_TIMER_STOP;
}

static void on_stop_signal(loop_t *loop, int signo, void *arg)
{
	struct tasker *t = arg;
	if (t->stopping)
		return;
	t->stopping = 1;
	log_info("signal %d: finishing", signo);
	http_server_stop_listening(t->http);
	t->stop_deadline = loop_now(loop) + TASKER_SHUTDOWN_GRACE_MS;
	if (check_stopped(loop, t) != LOOP_TIMER_STOP &&
	    !loop_every(loop, SHUTDOWN_POLL_MS, check_stopped, t))
		loop_stop(loop); /* out of memory: stop without waiting */
}

int main(int argc, char **argv)
{
	const char *amqp = DEFAULT_AMQP_URL, *listen = DEFAULT_TASKER_LISTEN;
	const char *token = NULL;
	unsigned long heartbeat = DEFAULT_HEARTBEAT;
	int use_syslog = 0;
	const struct opt opts[] = {
		OPT_ROW_AMQP(&amqp),
		{ "listen", "WARREN_TASKER_LISTEN", OPT_STR, &listen, 0, "[ADDR:]PORT", "HTTP address (default " DEFAULT_TASKER_LISTEN ")" },
		{ "token", "WARREN_TOKEN", OPT_STR, &token, 0, "SECRET", "require Authorization: Bearer SECRET" },
		OPT_ROW_HEARTBEAT(&heartbeat),
		OPT_ROW_SYSLOG(&use_syslog),
		OPT_ROW_END
	};
	int first = opt_parse(PROG, "Accepts download tasks over HTTP and queues them on RabbitMQ.\n"
			      "POST /task queues tasks; DELETE /task/<id> cancels one; POST /control\n"
			      "{\"op\":\"pause\"}, {\"op\":\"resume\"} or {\"op\":\"rate\",\"limit\":N} (bytes/s, 0 = none)\n"
			      "reaches every worker; GET /health.",
			      opts, argc, argv);
	if (first < argc)
		opt_fail(PROG, "unexpected argument '%s' (try --help)", argv[first]);
	char err[256];
	if (mq_check_url(amqp, err, sizeof(err)) < 0)
		opt_fail(PROG, "--amqp: %s", err);
	if (net_check_listen(listen) < 0)
		opt_fail(PROG, "--listen: bad address '%s' (want [ADDR:]PORT)", listen);
	if (token && !*token)
		token = NULL;

	log_open(PROG, use_syslog);
	signal(SIGPIPE, SIG_IGN);
	struct tasker t = { .token = token };
	t.loop = loop_new();
	if (!t.loop) {
		log_error("out of memory");
		return 1;
	}
	struct http_server_config hc = { listen, HTTP_MAX_CONNS, handle, &t, 0 };
	t.http = http_server_new(t.loop, &hc, err, sizeof(err));
	if (!t.http) {
		log_error("%s", err);
		return 1;
	}
	http_server_read_bodies(t.http, &task_reader);
	http_server_cors(t.http, TASKER_CORS_ORIGIN);
	struct mq_config mc = { .url = amqp, .heartbeat = (unsigned)heartbeat, .name = PROG };
	t.notes_cfg = mc;
	t.notes_cfg.name = PROG "-notes";
	t.notes_cfg.unconfirmed = 1; /* nothing waits on a `queued` notification */
	mc.on_state = on_mq_state;
	mc.arg = &t;
	t.mq = mq_new(t.loop, &mc, err, sizeof(err));
	if (!t.mq) {
		log_error("%s", err);
		return 1;
	}
	loop_signal(t.loop, SIGTERM, on_stop_signal, &t);
	loop_signal(t.loop, SIGINT, on_stop_signal, &t);
	log_info("listening on %s (port %d)", listen, http_server_port(t.http));
	int rc = loop_run(t.loop);
	/* the broker first: its teardown answers the requests still waiting
	 * for a confirm, through the HTTP server */
	mq_free(t.mq);
	mq_free(t.notes);
	buf_free(&t.queued);
	free(t.gathered);
	http_server_free(t.http);
	loop_free(t.loop);
	log_info("stopped");
	return rc < 0 ? 1 : 0;
}

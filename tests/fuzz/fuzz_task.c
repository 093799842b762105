/*
 * fuzz_task - the JSON a client POSTs to the tasker (task_parse_request)
 * and the task messages a worker takes from the queue (task_parse_message),
 * over the same bytes.
 *
 * Invariants checked besides memory safety:
 * - an accepted body holds 1..TASK_MAX_BATCH tasks, each as the interface
 *   says: name 1..TASK_MAX_NAME bytes of valid UTF-8 without NUL, arg a URL
 *   url_parse accepts, taskType "download", sha256 empty or 64 lowercase
 *   hex digits;
 * - what the tasker then publishes (task_message_json) is accepted by the
 *   worker (task_parse_message) and gives back the same task, and a
 *   message the worker accepts survives the same round trip;
 * - the notifications written for a task (task_event_json) are valid JSON
 *   and valid UTF-8;
 * - a refusal comes with a message for a person: non-empty, valid UTF-8
 *   (it goes into a JSON answer), within the buffer;
 * - the same bytes as a control message (control_parse) and as the body of
 *   POST /control (control_parse_request): what either accepts is
 *   written back by control_encode as JSON its reader gives back equal.
 */
#include <string.h>

#include "control.h"
#include "json.h"
#include "task.h"
#include "url.h"
#include "utf8.h"
#include "fuzz.h"

static void check_task(const struct task *t, int with_id)
{
	size_t n = strlen(t->name);
	FUZZ_ASSERT(n >= 1 && n <= TASK_MAX_NAME && utf8_valid(t->name, n));
	struct url u;
	const char *why;
	FUZZ_ASSERT(url_parse(t->arg, strlen(t->arg), &u, &why) == 0);
	FUZZ_ASSERT(strcmp(t->type, "download") == 0);
	n = strlen(t->sha256);
	FUZZ_ASSERT(n == 0 || n == 64);
	for (size_t i = 0; i < n; i++)
		FUZZ_ASSERT((t->sha256[i] >= '0' && t->sha256[i] <= '9') ||
			    (t->sha256[i] >= 'a' && t->sha256[i] <= 'f'));
	if (with_id)
		FUZZ_ASSERT(strlen(t->id) == 36);
}

static int same_task(const struct task *a, const struct task *b)
{
	return !strcmp(a->id, b->id) && !strcmp(a->name, b->name) &&
	       !strcmp(a->arg, b->arg) && !strcmp(a->type, b->type) &&
	       !strcmp(a->sha256, b->sha256);
}

static void check_json(const buf_t *b)
{
	static jsmntok_t toks[64];
	FUZZ_ASSERT(utf8_valid(buf_head(b), buf_used(b)));
	FUZZ_ASSERT(json_parse(buf_head(b), buf_used(b), toks, 64) > 0);
}

/* The message the tasker publishes goes back through the worker's parser. */
static void round_trip(const struct task *t)
{
	buf_t b = BUF_INIT;
	struct task back;
	char err[256];
	FUZZ_ASSERT(task_message_json(&b, t) == 0);
	check_json(&b);
	int rc = task_parse_message(buf_head(&b), buf_used(&b), &back, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "refused: %s\n%.*s\n", err, (int)buf_used(&b), buf_head(&b));
	FUZZ_ASSERT(rc == 0);
	FUZZ_ASSERT(same_task(t, &back));

	/* and every notification about it is JSON */
	static const char *status[] = { "queued", "started", "done", "failed" };
	for (int i = 0; i < 4; i++) {
		struct task_event ev = { t, status[i], 1700000000000LL, "host:1", i > 0,
					 12345, i == 1 ? -1 : 99999, NULL, NULL, NULL, -1, 0 };
		if (i == 2) {
			ev.file = "/tmp/d/x";
			ev.sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
			ev.hook_status = 0;
		}
		if (i == 3)
			ev.error = t->name; /* any text a person may read */
		buf_reset(&b);
		FUZZ_ASSERT(task_event_json(&b, &ev) == 0);
		check_json(&b);
	}
	buf_free(&b);
}

static void check_refusal(const char *err, size_t errlen)
{
	size_t n = strnlen(err, errlen);
	FUZZ_ASSERT(n > 0 && n < errlen);
	FUZZ_ASSERT(utf8_valid(err, n));
}

/* An accepted control message survives control_encode and control_parse. */
static void control_round_trip(const struct control_msg *m)
{
	char out[1024], err[256];
	struct control_msg back;
	if (m->op == CONTROL_UNKNOWN)
		return; /* skipped by readers, never written */
	size_t n = control_encode(m, out, sizeof(out));
	FUZZ_ASSERT(n > 0 && n == strlen(out) && utf8_valid(out, n));
	FUZZ_ASSERT(control_parse(out, n, &back, err, sizeof(err)) == 0);
	FUZZ_ASSERT(back.op == m->op && back.limit == m->limit &&
		    !strcmp(back.id, m->id) && !strcmp(back.worker, m->worker) &&
		    !strcmp(back.nonce, m->nonce));
	FUZZ_ASSERT(back.time == (m->op == CONTROL_MARKER ? 0 : m->time));
}

static void fuzz_control(const char *body, size_t size)
{
	struct control_msg m;
	char err[256];
	memset(err, 0, sizeof(err));
	if (control_parse(body, size, &m, err, sizeof(err)) == 0)
		control_round_trip(&m);
	else
		check_refusal(err, sizeof(err));
	memset(err, 0, sizeof(err));
	if (control_parse_request(body, size, &m, err, sizeof(err)) == 0) {
		FUZZ_ASSERT(m.op == CONTROL_PAUSE || m.op == CONTROL_RESUME ||
			    m.op == CONTROL_RATE);
		FUZZ_ASSERT(m.time == 0);
		control_round_trip(&m);
	} else {
		check_refusal(err, sizeof(err));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct task *tasks = NULL, msg;
	int is_array = -1;
	char err[256];

	memset(err, 0, sizeof(err));
	int n = task_parse_request(body, size, &tasks, &is_array, err, sizeof(err));
	if (n < 0) {
		FUZZ_ASSERT(n == -1 && tasks == NULL);
		check_refusal(err, sizeof(err));
	} else {
		FUZZ_ASSERT(n >= 1 && n <= TASK_MAX_BATCH && tasks);
		FUZZ_ASSERT(is_array == 0 || is_array == 1);
		FUZZ_ASSERT(is_array || n == 1);
		for (int i = 0; i < n; i++) {
			check_task(&tasks[i], 0);
			strcpy(tasks[i].id, "0f8fad5b-d9cb-469f-a165-70867728950e");
			round_trip(&tasks[i]);
		}
		free(tasks);
	}

	memset(err, 0, sizeof(err));
	if (task_parse_message(body, size, &msg, err, sizeof(err)) == 0) {
		check_task(&msg, 1);
		round_trip(&msg);
	} else {
		check_refusal(err, sizeof(err));
	}
	fuzz_control(body, size);
	return 0;
}

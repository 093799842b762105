/*
 * task - warren's messages: strict validation of POSTed tasks (one object or
 * an array of 1..TASK_MAX_BATCH, all or none) straight from jsmn tokens, the
 * task message of the `tasks` queue, and notification JSON.
 */
#ifndef WARREN_TASK_H
#define WARREN_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

struct task {
	char id[37];                    /* UUIDv4, lowercase */
	char name[TASK_MAX_NAME + 1];   /* decoded UTF-8 */
	char arg[TASK_MAX_URL + 1];     /* decoded URL */
	char type[16];                  /* "download" */
	char sha256[65];                /* lowercase hex, "" when absent */
};

/*
 * Validates a POST /task body. On success returns the number of tasks
 * (>= 1), *tasks a malloc'ed array the caller frees, *is_array whether the
 * body was an array. Ids are NOT assigned (see task_new_id). On failure
 * returns -1 and writes a message for a person into err, naming the index
 * of the first bad element for an array. (task_stream over the whole.)
 */
int task_parse_request(const char *body, size_t len, struct task **tasks,
		       int *is_array, char *err, size_t errlen);

/*
 * The same validation as the body arrives, in pieces of any size: each
 * element of the array is checked once whole (an element is at most
 * TASK_MAX_ELEMENT bytes of JSON), and only the validated tasks are kept,
 * packed (their strings, not a struct task each), until task_stream_end
 * gives the all-or-nothing verdict. Errors keep the precedence of a
 * whole-body parse: not JSON, then the array's size, then the first bad
 * element by its index.
 */
typedef struct task_stream task_stream_t;

/* NULL on ENOMEM. */
task_stream_t *task_stream_new(void);
/* Takes the next len bytes of the body; never fails (errors are kept for
 * task_stream_end, and later bytes are only scanned). */
void task_stream_feed(task_stream_t *s, const char *p, size_t len);
/* After the last byte: the number of tasks (>= 1) and *is_array, or -1
 * with a message in err as task_parse_request. */
int task_stream_end(task_stream_t *s, int *is_array, char *err, size_t errlen);
/* After a successful task_stream_end: copies the next task into t (from
 * *cursor, 0 at first) and returns 1, or 0 after the last one. */
int task_stream_next(const task_stream_t *s, size_t *cursor, struct task *t);
void task_stream_free(task_stream_t *s);
/* The most memory a stream holds for a body of len bytes: its fixed part
 * and the kept tasks, which are never longer than their JSON. */
size_t task_stream_cost(uint64_t len);

/*
 * Parses a task message from the `tasks` queue (the validated fields plus
 * "id"). 0, or -1 with a reason in err.
 */
int task_parse_message(const char *body, size_t len, struct task *t,
		       char *err, size_t errlen);

/* Writes a fresh random UUIDv4 into id (37 bytes). 0, or -1. The random
 * bytes come from a pool refilled by os_random: a forked child must not
 * draw ids (it would repeat its parent's). */
int task_new_id(char id[37]);

/* Appends the task message: {"id","name","arg","taskType"[,"sha256"]}. */
int task_message_json(buf_t *out, const struct task *t);

/* One notification (../shared/INTERFACE.md, "Task and notification messages"). */
struct task_event {
	const struct task *task;
	const char *status;     /* queued, started, progress, done, failed */
	int64_t time_ms;        /* Unix time, ms */
	const char *worker;     /* "host:pid", or NULL to omit */
	int has_bytes;          /* emit bytes and total */
	int64_t bytes;
	int64_t total;          /* -1: null */
	const char *file;       /* done: absolute path, else NULL */
	const char *sha256;     /* done: hex, else NULL */
	const char *error;      /* failed: for a person; progress: the last
				 * failed try's; else NULL */
	int hook_status;        /* done with a hook: its status; -1 to omit */
	unsigned attempt;       /* progress after a failed try: the try running
				 * or next (from 2); 0 to omit (last: positional
				 * initializers elsewhere stop before it) */
};

/* Appends the notification as one JSON object. 0, or -1 on ENOMEM. */
int task_event_json(buf_t *out, const struct task_event *ev);

#endif

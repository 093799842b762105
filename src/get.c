/* get.c - worker --get: one download, the result as JSON; see get.h. */
#include "get.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "loop.h"
#include "task.h"

struct get {
	const struct get_config *c;
	loop_t *loop;
	struct task task;
	struct part part;
	fetch_t *fetch;
	int ok;
	char error[320];
	char file[PATH_MAX];
	char sha256[65];
	uint64_t bytes;
	int64_t total;
};

/* Prints the result and ends the loop. */
static void report(struct get *g)
{
	buf_t b = BUF_INIT;
	struct task_event ev = {
		.task = &g->task, .status = g->ok ? "done" : "failed",
		.time_ms = loop_wall_ms(), .worker = g->c->ident, .has_bytes = 1,
		.bytes = (int64_t)g->bytes, .total = g->total,
		.file = g->ok ? g->file : NULL, .sha256 = g->ok ? g->sha256 : NULL,
		.error = g->ok ? NULL : g->error, .hook_status = -1,
	};
	if (task_event_json(&b, &ev) == 0 && buf_puts(&b, "\n") == 0)
		fwrite(b.data, 1, b.len, stdout);
	fflush(stdout);
	buf_free(&b);
	loop_stop(g->loop);
}

static void failed(struct get *g, const char *error)
{
	log_warn("%s: failed: %s", g->task.id, error);
	snprintf(g->error, sizeof(g->error), "%s", error);
	part_remove(&g->part);
	report(g);
}

static void on_done(void *arg, const struct fetch_result *r)
{
	struct get *g = arg;
	char err[320];
	g->fetch = NULL;
	g->bytes = r->bytes;
	g->total = r->total;
	if (!r->ok) {
		failed(g, r->error);
		return;
	}
	memcpy(g->sha256, r->sha256, sizeof(g->sha256));
	const char *out = g->c->output;
	int rc = out ? part_finish_as(&g->part, out, g->file, sizeof(g->file), err,
				      sizeof(err))
		     : part_finish(&g->part, r->name, NULL, r->bytes, g->file,
				   sizeof(g->file), err, sizeof(err));
	if (rc < 0) {
		failed(g, err);
		return;
	}
	g->ok = 1;
	log_info("%s: done: %s (%llu bytes, sha256 %s)", g->task.id, g->file,
		 (unsigned long long)g->bytes, g->sha256);
	report(g);
}

static void on_signal(loop_t *loop, int signo, void *arg)
{
	struct get *g = arg;
	char msg[64];
	(void)loop;
	log_info("signal %d: stopping", signo);
	fetch_cancel(g->fetch);
	g->fetch = NULL;
	snprintf(msg, sizeof(msg), "interrupted by signal %d", signo);
	failed(g, msg);
}

int get_run(const struct get_config *c)
{
	static struct get g; /* the one download of the process */
	char err[320];
	g.c = c;
	g.loop = c->fctx->loop;
	g.total = -1;
	g.part.fd = -1;
	if (task_new_id(g.task.id) < 0) {
		fprintf(stderr, "worker: cannot make a task id\n");
		return 1;
	}
	snprintf(g.task.arg, sizeof(g.task.arg), "%s", c->url);
	snprintf(g.task.type, sizeof(g.task.type), "download");
	snprintf(g.task.name, sizeof(g.task.name), "get");
	for (size_t i = 0; c->sha256 && i < 64; i++)
		g.task.sha256[i] = (char)(c->sha256[i] | 0x20); /* lowercase */
	loop_signal(g.loop, SIGTERM, on_signal, &g);
	loop_signal(g.loop, SIGINT, on_signal, &g);
	char shown[TASK_MAX_URL + 1] = "";
	url_format(c->parsed, 0, shown, sizeof(shown)); /* no password in logs */
	int rc = part_open(&g.part, c->dir, g.task.id, err, sizeof(err));
	if (rc != 0) {
		failed(&g, rc > 0 ? "the partial file is locked by another process" : err);
		return 1;
	}
	struct fetch_request req = { c->parsed, shown, g.task.sha256 };
	struct fetch_callbacks cb = { NULL, NULL, on_done, &g };
	g.fetch = fetch_start(c->fctx, &req, &g.part, &cb, err, sizeof(err));
	if (!g.fetch) {
		failed(&g, err);
		return 1;
	}
	log_info("%s: downloading %s", g.task.id, shown);
	loop_run(g.loop);
	return g.ok ? 0 : 1;
}

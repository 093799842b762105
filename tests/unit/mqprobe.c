/*
 * mqprobe - drives src/mq.c for the integration tests (tests/integ/
 * test_mq_stream.py): a few subscriptions on one connection, their
 * deliveries printed one per line, commands read from stdin. Not a unit
 * test (the runner runs only test_*); built with them by `make unit`.
 *
 *   mqprobe [--hold] [--read-batch MS] URL SPEC...
 *   SPEC  QUEUE:PREFETCH[:FROM]   FROM (a stream consumer): first, last,
 *         next, N (offset) or tN (Unix seconds)
 *   --hold   deliveries are not acked until the `ack` command
 *   --read-batch MS   mq_config.read_batch_ms
 *
 * Output lines: `up`, `down`, `deliver c=ID off=N ts=N dc=N re=0|1 id=ID
 * body=BODY`, `published ok=0|1`, `sub ID` (a subscription's id).
 * Commands: `pause ID`, `resume ID`, `unsub ID`, `ack` (the held ones),
 * `requeue` (reject the held ones, requeued), `publish QUEUE BODY`, `quit`.
 *
 * A stream consumer resumes after the last offset it printed: its start()
 * answers MQ_FROM_OFFSET last + 1 once it has one, as a program must.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "mq.h"

#define MAX_HELD 4096

struct probe;

struct cons {
	struct probe *p;
	int id;
	struct mq_start from;   /* as given */
	int64_t last;           /* last offset printed, -1 none */
};

struct probe {
	loop_t *loop;
	mq_t *mq;
	int hold;
	struct cons cons[MQ_MAX_CONSUMERS];
	int ncons;
	uint64_t held[MAX_HELD];
	size_t nheld;
	char line[8192];
	size_t used;
};

static struct mq_start start(void *arg)
{
	struct cons *c = arg;
	if (c->last >= 0)
		return (struct mq_start){ MQ_FROM_OFFSET, c->last + 1 };
	return c->from;
}

static void on_deliver(const struct mq_delivery *d, void *arg)
{
	struct cons *c = arg;
	struct probe *p = c->p;
	printf("deliver c=%d off=%lld ts=%lld dc=%u re=%d id=%s body=%.*s\n", d->consumer,
	       (long long)d->offset, (long long)d->timestamp, d->delivery_count,
	       d->redelivered, d->message_id ? d->message_id : "-", (int)d->len, d->body);
	fflush(stdout);
	if (d->offset >= 0)
		c->last = d->offset;
	if (p->hold && p->nheld < MAX_HELD)
		p->held[p->nheld++] = d->tag;
	else
		mq_ack(p->mq, d->tag);
}

static void on_state(int up, void *arg)
{
	struct probe *p = arg;
	if (!up)
		p->nheld = 0; /* void tags */
	printf("%s\n", up ? "up" : "down");
	fflush(stdout);
}

static void on_published(void *cookie, int ok)
{
	(void)cookie;
	printf("published ok=%d\n", ok);
	fflush(stdout);
}

static int parse_spec(struct probe *p, char *spec, struct mq_consumer *mc)
{
	char *prefetch = strchr(spec, ':');
	if (!prefetch)
		return -1;
	*prefetch++ = '\0';
	char *from = strchr(prefetch, ':');
	if (from)
		*from++ = '\0';
	struct cons *c = &p->cons[p->ncons];
	c->p = p;
	c->last = -1;
	*mc = (struct mq_consumer){ .queue = spec, .prefetch = (unsigned)atoi(prefetch),
				    .on_deliver = on_deliver, .arg = c };
	if (!from)
		return 0;
	mc->stream = 1;
	mc->start = start;
	if (!strcmp(from, "first"))
		c->from.from = MQ_FROM_FIRST;
	else if (!strcmp(from, "last"))
		c->from.from = MQ_FROM_LAST;
	else if (!strcmp(from, "next"))
		c->from.from = MQ_FROM_NEXT;
	else if (from[0] == 't')
		c->from = (struct mq_start){ MQ_FROM_TIME, atoll(from + 1) };
	else
		c->from = (struct mq_start){ MQ_FROM_OFFSET, atoll(from) };
	return 0;
}

static void command(struct probe *p, char *cmd)
{
	char *arg = strchr(cmd, ' ');
	if (arg)
		*arg++ = '\0';
	if (!strcmp(cmd, "quit")) {
		loop_stop(p->loop);
	} else if (!strcmp(cmd, "pause") && arg) {
		mq_consume(p->mq, atoi(arg), 0);
	} else if (!strcmp(cmd, "resume") && arg) {
		mq_consume(p->mq, atoi(arg), 1);
	} else if (!strcmp(cmd, "unsub") && arg) {
		mq_unsubscribe(p->mq, atoi(arg));
	} else if (!strcmp(cmd, "ack") || !strcmp(cmd, "requeue")) {
		for (size_t i = 0; i < p->nheld; i++)
			if (cmd[0] == 'a')
				mq_ack(p->mq, p->held[i]);
			else
				mq_reject(p->mq, p->held[i], 1);
		p->nheld = 0;
	} else if (!strcmp(cmd, "publish") && arg && strchr(arg, ' ')) {
		char *body = strchr(arg, ' ');
		*body++ = '\0';
		if (mq_publish(p->mq, arg, body, strlen(body), NULL, on_published, p) < 0) {
			printf("published ok=0\n");
			fflush(stdout);
		}
	} else {
		fprintf(stderr, "mqprobe: unknown command '%s'\n", cmd);
	}
}

static void on_stdin(loop_t *loop, int fd, int events, void *arg)
{
	struct probe *p = arg;
	(void)events;
	ssize_t n = read(fd, p->line + p->used, sizeof(p->line) - 1 - p->used);
	if (n <= 0) {
		loop_stop(loop);
		return;
	}
	p->used += (size_t)n;
	char *nl;
	while ((nl = memchr(p->line, '\n', p->used))) {
		*nl = '\0';
		command(p, p->line);
		size_t rest = p->used - (size_t)(nl + 1 - p->line);
		memmove(p->line, nl + 1, rest);
		p->used = rest;
	}
	if (p->used == sizeof(p->line) - 1)
		p->used = 0; /* an overlong line: dropped */
}

int main(int argc, char **argv)
{
	static struct probe p;
	char err[256];
	int i = 1;
	unsigned read_batch = 0;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--hold"))
			p.hold = 1;
		else if (!strcmp(argv[i], "--read-batch") && i + 1 < argc)
			read_batch = (unsigned)atoi(argv[++i]);
		else
			break;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: mqprobe [--hold] [--read-batch MS] URL "
			"QUEUE:PREFETCH[:FROM]...\n");
		return 2;
	}
	const char *url = argv[i++];
	log_open("mqprobe", 0);
	signal(SIGPIPE, SIG_IGN);
	p.loop = loop_new();
	struct mq_config mc = { .url = url, .heartbeat = 10, .on_state = on_state, .arg = &p,
				.name = "mqprobe", .read_batch_ms = read_batch };
	if (!p.loop || !(p.mq = mq_new(p.loop, &mc, err, sizeof(err)))) {
		fprintf(stderr, "mqprobe: %s\n", p.loop ? err : "out of memory");
		return 1;
	}
	for (; i < argc && p.ncons < MQ_MAX_CONSUMERS; i++) {
		struct mq_consumer c;
		if (parse_spec(&p, argv[i], &c) < 0) {
			fprintf(stderr, "mqprobe: bad spec '%s'\n", argv[i]);
			return 2;
		}
		p.cons[p.ncons].id = mq_subscribe(p.mq, &c);
		printf("sub %d\n", p.cons[p.ncons].id);
		p.ncons++;
	}
	fflush(stdout);
	if (loop_watch(p.loop, 0, LOOP_READ, on_stdin, &p) < 0) {
		fprintf(stderr, "mqprobe: out of memory\n");
		return 1;
	}
	loop_run(p.loop);
	mq_free(p.mq);
	loop_free(p.loop);
	return 0;
}

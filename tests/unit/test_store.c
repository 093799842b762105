/* test_store.c - task states and history: seq, the order of states,
 * bounds, eviction order, memory, catch-up from any position. */
#include "check.h"
#include "buf.h"
#include "store.h"

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* e's id as a C string (it is not NUL-terminated in the entry). */
static const char *id_of(const struct store_entry *e)
{
	static char id[NOTIFY_MAX_ID + 1];
	snprintf(id, sizeof(id), "%.*s", (int)e->id_len, e->id);
	return id;
}

static char err[128];

/* Adds {"id":id,"status":status}; returns the entry's seq, or 0. */
static uint64_t add(store_t *s, const char *id, const char *status)
{
	char js[256];
	snprintf(js, sizeof(js), "{\"id\": \"%s\", \"status\": \"%s\"}", id, status);
	struct store_entry *e = store_entry_new(s, js, strlen(js), store_last_seq(s) + 1, err, sizeof(err));
	if (!e)
		return 0;
	uint64_t seq = e->seq;
	store_insert(s, e);
	return seq;
}

/* The seqs held, as "1,2,3". */
static const char *seqs(const store_t *s)
{
	static char out[1024];
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < store_count(s); i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%llu", i ? "," : "",
				      (unsigned long long)store_at(s, i)->seq);
	return out;
}

static void test_seq_and_text(void)
{
	store_t *s = store_new(10, 100);
	const char *js = "{\"id\":\"t1\", \"status\":\"queued\",\"name\":\"caf\xc3\xa9\",\"total\":null}";
	struct store_entry *e = store_entry_new(s, js, strlen(js), store_last_seq(s) + 1, err, sizeof(err));
	CHECK(e != NULL);
	CHECK_INT(e->seq, 1);
	/* the text, then "\n" and NUL; a comma before it, for lists */
	CHECK_STR(e->text, "{\"id\":\"t1\", \"status\":\"queued\",\"name\":\"caf\xc3\xa9\",\"total\":null,\"seq\":1}\n");
	CHECK_INT(e->len, strlen(e->text) - 1);
	CHECK_INT(e->text[-1], ',');
	CHECK_STR(id_of(e), "t1");
	/* no escapes: the id is read from the text, not copied */
	CHECK(e->id > e->text && e->id < e->text + e->len);
	store_insert(s, e);
	CHECK_INT(add(s, "t1", "started"), 2);
	CHECK_INT(add(s, "t2", "queued"), 3);
	CHECK_INT(store_last_seq(s), 3);
	CHECK_STR(seqs(s), "1,2,3");

	/* whitespace around the object; an escaped id is decoded */
	js = "  {\"status\":\"done\" , \"id\":\"t\\u0033\"}\n";
	e = store_entry_new(s, js, strlen(js), store_last_seq(s) + 1, err, sizeof(err));
	CHECK(e != NULL);
	CHECK_STR(e->text, "{\"status\":\"done\" , \"id\":\"t\\u0033\",\"seq\":4}\n");
	CHECK_STR(id_of(e), "t3");
	CHECK(e->id > e->text + e->len); /* decoded: a copy */
	store_insert(s, e);
	CHECK(store_task(s, "t3", 2) == e);

	/* rejected: not JSON, not an object, no id, empty id, id not a
	 * string, no status, seq already there, too long an id, too big */
	const char *bad[] = {
		"", "{", "[1]", "\"x\"", "{\"status\":\"queued\"}",
		"{\"id\":\"\",\"status\":\"queued\"}",
		"{\"id\":5,\"status\":\"queued\"}",
		"{\"id\":\"t\"}",
		"{\"id\":\"t\",\"status\":1}",
		"{\"id\":\"t\",\"status\":\"queued\",\"seq\":9}",
		"{\"id\":\"t\",\"status\":\"queued\"} x",
		"{\"id\":\"t\",\"status\":\"queued\",\"name\":\"\xff\"}",
		/* a key twice (a browser would take the last, we the first) */
		"{\"id\":\"t\",\"status\":\"queued\",\"id\":\"u\"}",
		"{\"id\":\"t\",\"status\":\"queued\",\"i\\u0064\":\"u\"}",
		"{\"id\":\"t\",\"x\":1,\"status\":\"queued\",\"x\":2}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = store_entry_new(s, bad[i], strlen(bad[i]), store_last_seq(s) + 1, err, sizeof(err));
		CHECK(e == NULL);
		if (e)
			store_entry_unref(e);
		CHECK(err[0] != '\0');
		err[0] = '\0';
	}
	char longid[400];
	snprintf(longid, sizeof(longid), "{\"id\":\"%0200d\",\"status\":\"x\"}", 0);
	CHECK(store_entry_new(s, longid, strlen(longid), 9, err, sizeof(err)) == NULL);
	size_t biglen = 70000;
	char *big = malloc(biglen + 1);
	memset(big, ' ', biglen);
	memcpy(big, "{\"id\":\"t\",\"status\":\"x\"}", 23);
	CHECK(store_entry_new(s, big, biglen, 9, err, sizeof(err)) == NULL);
	free(big);
	/* nothing rejected took a seq */
	CHECK_INT(add(s, "t4", "queued"), 5);
	store_free(s);
}

static void test_with_seq(void)
{
	store_t *s = store_new(10, 10);
	const char *js = "{\"id\":\"a\",\"status\":\"queued\",\"seq\":7}";
	struct store_entry *e = store_entry_load(s, js, strlen(js), err, sizeof(err));
	CHECK(e != NULL);
	CHECK_INT(e->seq, 7);
	CHECK_INT(e->len, strlen(js));
	CHECK(memcmp(e->text, js, e->len) == 0 && !strcmp(e->text + e->len, "\n"));
	store_insert(s, e);
	/* seq continues after the restored one */
	CHECK_INT(add(s, "a", "started"), 8);
	/* a stored seq must grow, and must be there */
	const char *bad[] = {
		"{\"id\":\"a\",\"status\":\"queued\",\"seq\":8}",
		"{\"id\":\"a\",\"status\":\"queued\"}",
		"{\"id\":\"a\",\"status\":\"queued\",\"seq\":-1}",
		"{\"id\":\"a\",\"status\":\"queued\",\"seq\":0}",
		"{\"id\":\"a\",\"status\":\"queued\",\"seq\":09}",
		"{\"id\":\"a\",\"status\":\"queued\",\"seq\":9.5}",
		"{\"id\":\"a\",\"status\":\"queued\",\"seq\":\"9\"}",
		/* 20 digits: out of range (ERANGE), never wrapped */
		"{\"id\":\"a\",\"status\":\"queued\",\"seq\":18446744073709551617}",
		"{\"id\":\"a\",\"status\":\"queued\",\"seq\":99999999999999999999}",
		/* 2^53: past what a page's JavaScript holds exactly */
		"{\"id\":\"a\",\"status\":\"queued\",\"seq\":9007199254740992}",
		"{\"id\":\"a\",\"status\":\"queued\",\"seq\":9,\"seq\":10}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = store_entry_load(s, bad[i], strlen(bad[i]), err, sizeof(err));
		CHECK(e == NULL);
		if (e)
			store_entry_unref(e);
	}
	/* the largest seq is taken, and then no seq can follow it */
	js = "{\"id\":\"a\",\"status\":\"done\",\"seq\":9007199254740991}";
	e = store_entry_load(s, js, strlen(js), err, sizeof(err));
	CHECK(e != NULL);
	store_insert(s, e);
	CHECK_INT(add(s, "b", "queued"), 0);
	CHECK(strstr(err, "seq would pass") != NULL);
	store_free(s);
}

/* A notification of exactly NOTIFY_MAX_SIZE bytes is taken live, and its
 * stored text (with seq) is taken back on replay; one byte more is refused. */
static void test_size_limit_live_and_replay(void)
{
	store_t *s = store_new(10, 10), *r = store_new(10, 10);
	for (int extra = 0; extra <= 1; extra++) {
		size_t len = NOTIFY_MAX_SIZE + (size_t)extra;
		char *js = malloc(len + 1);
		const char *head = "{\"id\":\"big\",\"status\":\"done\",\"pad\":\"";
		memset(js, 'x', len);
		memcpy(js, head, strlen(head));
		memcpy(js + len - 2, "\"}", 2);
		js[len] = '\0';
		struct store_entry *e = store_entry_new(s, js, len, 1, err, sizeof(err));
		CHECK((e != NULL) == !extra);
		if (e) {
			struct store_entry *back = store_entry_load(r, e->text, e->len,
								    err, sizeof(err));
			CHECK(back != NULL);
			if (back) {
				CHECK_INT(back->len, e->len);
				store_entry_unref(back);
			}
			store_entry_unref(e);
		}
		free(js);
	}
	store_free(s);
	store_free(r);
}

/* The history is the last N notifications, whatever their tasks. */
static void test_history_ring(void)
{
	store_t *s = store_new(3, 100);
	for (int i = 1; i <= 10; i++) {
		char id[8];
		snprintf(id, sizeof(id), "t%d", i);
		CHECK_INT(add(s, id, "queued"), i);
	}
	CHECK_INT(store_count(s), 3);
	CHECK_STR(seqs(s), "8,9,10");
	CHECK_INT(store_after(s, 0), 0);
	CHECK_INT(store_after(s, 8), 1);
	CHECK_INT(store_after(s, 10), 3);
	/* the tasks stay, though their notifications left the history */
	CHECK_INT(store_tasks(s), 10);
	CHECK(store_task(s, "t1", 2) != NULL);
	CHECK_INT(store_replayable(s, 6), 0);
	CHECK_INT(store_replayable(s, 7), 1);
	CHECK_INT(store_replayable(s, 10), 1);
	store_free(s);
}

/* queued < started < progress/paused < final: a notification behind the
 * state goes into the history only; a second final one too. */
static void test_state_moves_forward(void)
{
	store_t *s = store_new(100, 100);
	add(s, "a", "started");                  /* 1 */
	add(s, "a", "queued");                   /* 2: late, behind */
	CHECK_INT(store_task(s, "a", 1)->seq, 1);
	add(s, "a", "progress");                 /* 3 */
	add(s, "a", "paused");                   /* 4: same rank, replaces */
	CHECK_INT(store_task(s, "a", 1)->seq, 4);
	add(s, "a", "progress");                 /* 5 */
	add(s, "a", "started");                  /* 6: behind */
	CHECK_INT(store_task(s, "a", 1)->seq, 5);
	add(s, "a", "done");                     /* 7 */
	add(s, "a", "queued");                   /* 8 */
	add(s, "a", "progress");                 /* 9 */
	add(s, "a", "failed");                   /* 10: a second final */
	CHECK_INT(store_task(s, "a", 1)->seq, 7);
	CHECK_INT(store_task(s, "a", 1)->status, STORE_DONE);
	/* a done before its queued (different connections) */
	add(s, "b", "done");                     /* 11 */
	add(s, "b", "queued");                   /* 12 */
	CHECK_INT(store_task(s, "b", 1)->status, STORE_DONE);
	CHECK_INT(store_count(s), 12);           /* all in the history */
	CHECK_INT(store_tasks(s), 2);
	store_free(s);
}

static const char *task_ids(const store_t *s)
{
	static char out[1024];
	size_t n = 0;
	out[0] = '\0';
	for (struct store_entry *e = store_task_after(s, 0); e;
	     e = store_task_after(s, e->seq))
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%.*s", n ? "," : "",
				      (int)e->id_len, e->id);
	return out;
}

/* Full: the task finished longest ago goes; never a running or queued one
 * while an older finished one remains; none finished: the oldest change. */
static void test_eviction_order(void)
{
	store_t *s = store_new(2, 4);
	add(s, "q", "queued");
	add(s, "d1", "done");
	add(s, "r", "started");
	add(s, "d2", "failed");
	CHECK_STR(task_ids(s), "q,d1,r,d2");
	add(s, "n", "queued");                   /* d1 finished first */
	CHECK_STR(task_ids(s), "q,r,d2,n");
	add(s, "q", "progress");                 /* q moves: no eviction */
	CHECK_STR(task_ids(s), "r,d2,n,q");
	add(s, "m", "queued");                   /* d2, though r and n are older */
	CHECK_STR(task_ids(s), "r,n,q,m");
	add(s, "o", "queued");                   /* none finished: r changed first */
	CHECK_STR(task_ids(s), "n,q,m,o");
	add(s, "z", "done");                     /* only the newcomer finished: n */
	CHECK_STR(task_ids(s), "q,m,o,z");
	add(s, "y", "queued");                   /* z now the oldest finished */
	CHECK_STR(task_ids(s), "q,m,o,y");
	CHECK(store_task(s, "z", 1) == NULL);
	CHECK_INT(store_tasks(s), 4);
	/* churn through the slot array: compaction keeps order and lookups */
	for (int i = 0; i < 1000; i++) {
		char id[16];
		snprintf(id, sizeof(id), "c%d", i % 6);
		add(s, id, i % 3 ? "progress" : "queued");
	}
	CHECK_INT(store_tasks(s), 4);
	int bad = 0;
	uint64_t prev = 0;
	for (struct store_entry *e = store_task_after(s, 0); e;
	     prev = e->seq, e = store_task_after(s, e->seq))
		if (e->seq <= prev || store_task(s, e->id, e->id_len) != e)
			bad++;
	CHECK_INT(bad, 0);
	store_free(s);
}

/* A reader at any position that takes store_next() until there is
 * nothing newer ends with every kept task's state, in seq order. */
static void test_catch_up_from_any_position(void)
{
	store_t *s = store_new(50, 300);
	unsigned seed = 11;
	static const char *st[] = { "queued", "started", "progress", "done" };
	for (int i = 0; i < 1200; i++) {
		char id[16];
		seed = seed * 1103515245 + 12345;
		int t = (int)((seed >> 8) % 250);
		snprintf(id, sizeof(id), "t%d", t);
		add(s, id, st[(seed >> 4) % 4]);
	}
	int bad = 0, replayed = 0;
	for (uint64_t pos = 0; pos <= store_last_seq(s); pos++) {
		/* the seqs the reader takes, in increasing order */
		static char taken[1201];
		memset(taken, 0, sizeof(taken));
		uint64_t at = pos;
		replayed += store_replayable(s, pos);
		for (struct store_entry *e; (e = store_next(s, at)); at = e->seq) {
			if (e->seq <= at)
				bad++;
			taken[e->seq] = 1;
		}
		if (pos < store_last_seq(s) && at != store_last_seq(s))
			bad++;
		/* every task changed after pos: its state was taken */
		for (struct store_entry *e = store_task_after(s, pos); e;
		     e = store_task_after(s, e->seq))
			if (!taken[e->seq])
				bad++;
		/* from the history on, nothing of it is skipped */
		for (size_t i = store_after(s, pos); store_replayable(s, pos) &&
		     i < store_count(s); i++)
			if (!taken[store_at(s, i)->seq])
				bad++;
	}
	CHECK_INT(bad, 0);
	CHECK_INT(replayed, 51); /* positions 1150..1200 replay the history */
	store_free(s);
}

/* Reads l as a socket taking up to room bytes a time would (3 pieces of
 * iovec at most per gather): 0, or -1 when its size was not as announced. */
static int list_read(store_list_t *l, buf_t *b, size_t room)
{
	struct iovec iov[3];
	int n;
	size_t start = b->len;
	while ((n = store_list_gather(l, iov, 3)) > 0) {
		size_t took = 0;
		for (int i = 0; i < n && took < room; i++) {
			size_t k = iov[i].iov_len < room - took ? iov[i].iov_len : room - took;
			buf_append(b, iov[i].iov_base, k);
			took += k;
		}
		store_list_advance(l, took);
	}
	int ok = b->len - start == store_list_size(l) ? 0 : -1;
	buf_append(b, "", 1);
	return ok;
}

/* The whole list as a client reading `room` bytes at a time gets it,
 * NUL-terminated in b (emptied first); checks the size it announced. */
static int list_json(store_t *s, buf_t *b, unsigned mask, uint64_t since,
		     size_t room)
{
	store_list_t *l = store_list_new(s, mask, since);
	b->len = b->off = 0;
	int ok = list_read(l, b, room);
	store_list_free(l);
	return ok;
}

static void test_listing(void)
{
	store_t *s = store_new(10, 10);
	add(s, "a", "queued");   /* 1 */
	add(s, "b", "queued");   /* 2 */
	add(s, "a", "done");     /* 3 */
	add(s, "c", "weird");    /* 4 */
	add(s, "b", "failed");   /* 5 */
	buf_t b = BUF_INIT;
	CHECK_INT(list_json(s, &b, ~0u, 0, 1), 0);
	CHECK_STR(b.data, "[{\"id\": \"a\", \"status\": \"done\",\"seq\":3},"
		  "{\"id\": \"c\", \"status\": \"weird\",\"seq\":4},"
		  "{\"id\": \"b\", \"status\": \"failed\",\"seq\":5}]\n");
	unsigned mask;
	CHECK_INT(store_status_mask("done,failed", 11, &mask), 0);
	CHECK_INT(mask, (1u << STORE_DONE) | (1u << STORE_FAILED));
	CHECK_INT(list_json(s, &b, mask, 3, 1000), 0);
	CHECK_STR(b.data, "[{\"id\": \"b\", \"status\": \"failed\",\"seq\":5}]\n");
	CHECK_INT(list_json(s, &b, 1u << STORE_QUEUED, 0, 1), 0);
	CHECK_STR(b.data, "[]\n");
	/* a list is what the store held when it was made: a task that moves
	 * on or is evicted afterwards is written as it was, and once */
	store_list_t *l = store_list_new(s, ~0u, 0);
	add(s, "c", "done");     /* 6 */
	for (int i = 0; i < 12; i++) {  /* evicts a, c and b */
		char id[8];
		snprintf(id, sizeof(id), "n%d", i);
		add(s, id, "done");
	}
	CHECK(store_task(s, "a", 1) == NULL);
	b.len = 0;
	CHECK_INT(list_read(l, &b, 7), 0);
	CHECK_STR(b.data, "[{\"id\": \"a\", \"status\": \"done\",\"seq\":3},"
		  "{\"id\": \"c\", \"status\": \"weird\",\"seq\":4},"
		  "{\"id\": \"b\", \"status\": \"failed\",\"seq\":5}]\n");
	CHECK_INT(store_list_gather(l, NULL, 0), 0);
	store_list_free(l);
	buf_free(&b);
	CHECK_INT(store_status_mask("done", 4, &mask), 0);
	CHECK_INT(mask, 1u << STORE_DONE);
	CHECK_INT(store_status_mask("", 0, &mask), -1);
	CHECK_INT(store_status_mask("done,", 5, &mask), -1);
	CHECK_INT(store_status_mask("Done", 4, &mask), -1);
	CHECK_INT(store_status_mask("finished", 8, &mask), -1);
	store_free(s);
}

/* Memory stays bounded by --tasks and --history, whatever goes through:
 * 100,000 tasks through a store of 10,000; and what a task costs. */
static void test_memory_per_task(void)
{
#ifdef __GLIBC__
	struct mallinfo2 m0 = mallinfo2();
#endif
	store_t *s = store_new(DEFAULT_HISTORY, DEFAULT_TASKS);
	/* a done notification as a worker sends it (~330 bytes) */
	const char *fmt = "{\"id\":\"%08d-1c3a-4b7e-9f00-5a2b3c4d5e6f\",\"name\":"
		"\"download rabbitmq wikipedia page\",\"arg\":\"https://fr.wikipedia.org/"
		"wiki/RabbitMQ\",\"taskType\":\"download\",\"status\":\"done\",\"time\":"
		"1733140000000,\"worker\":\"router:1234\",\"bytes\":123456,\"total\":123456,"
		"\"file\":\"/srv/downloads/RabbitMQ\",\"sha256\":\"%064d\"}";
	size_t text = 0;
	for (int i = 0; i < 100000; i++) {
		char js[600];
		int n = snprintf(js, sizeof(js), fmt, i, i);
		struct store_entry *e = store_entry_new(s, js, (size_t)n, store_last_seq(s) + 1, err, sizeof(err));
		if (i == 0)
			text = e->len;
		store_insert(s, e);
	}
	CHECK_INT(store_tasks(s), DEFAULT_TASKS);
	CHECK_INT(store_count(s), DEFAULT_HISTORY);
	CHECK(text > 300 && text < 400); /* the size the figure below is for */
#ifdef __GLIBC__
	struct mallinfo2 m1 = mallinfo2();
	size_t used = m1.uordblks + m1.hblkhd - m0.uordblks - m0.hblkhd;
	size_t per = used / DEFAULT_TASKS;
	printf("store: %zu tasks of %zu-byte notifications: %zu bytes, %zu per task\n",
	       (size_t)DEFAULT_TASKS, text, used, per);
	CHECK(per < text + 300);
#endif
	store_free(s);
}

/* A reader's ref keeps an evicted entry alive. */
static void test_refs(void)
{
	store_t *s = store_new(2, 1);
	add(s, "a", "queued");
	struct store_entry *e = store_at(s, 0);
	store_entry_ref(e);
	add(s, "b", "queued");
	add(s, "c", "queued");
	CHECK_STR(seqs(s), "2,3");
	CHECK_STR(id_of(e), "a"); /* still readable (ASan checks this) */
	CHECK_INT(e->seq, 1);
	store_entry_unref(e);
	store_at(s, 0)->refs++;
	e = store_at(s, 0);
	store_free(s);
	CHECK_STR(id_of(e), "b");
	store_entry_unref(e);
}

/* Many tasks through a small history: index deletions keep lookups right. */
static void test_index_churn(void)
{
	store_t *s = store_new(64, 150);
	unsigned seed = 7;
	int bad = 0;
	for (int i = 0; i < 20000; i++) {
		char id[16];
		seed = seed * 1103515245 + 12345;
		snprintf(id, sizeof(id), "task%u", (seed >> 8) % 200);
		add(s, id, (seed & 0x100) ? "progress" : "started");
		const struct store_entry *l = store_task(s, id, strlen(id));
		if (!l || l->seq != store_last_seq(s))
			bad++;
	}
	CHECK_INT(bad, 0);
	CHECK_INT(store_count(s), 64);
	CHECK_INT(store_tasks(s), 150);
	/* every task state is found by its id, in seq order */
	int mismatch = 0;
	uint64_t at = 0;
	size_t n = 0;
	for (struct store_entry *e; (e = store_task_after(s, at)); at = e->seq, n++)
		if (store_task(s, e->id, e->id_len) != e || !e->latest)
			mismatch++;
	CHECK_INT(mismatch, 0);
	CHECK_INT(n, 150);
	store_free(s);
}

/* One entry with seq (or 0 when refused). */
static uint64_t add_at(store_t *s, uint64_t seq, const char *js)
{
	struct store_entry *e = store_entry_new(s, js, strlen(js), seq, err, sizeof(err));
	if (!e)
		return 0;
	store_insert(s, e);
	return seq;
}

/* 1 when js, as the next notification, repeats what its task says. */
static int is_copy(store_t *s, const char *js)
{
	struct store_entry *e = store_entry_new(s, js, strlen(js),
						store_last_seq(s) + 1, err, sizeof(err));
	if (!e)
		return -1;
	int r = store_is_copy(s, e);
	store_entry_unref(e);
	return r;
}

/* seq is the caller's (the stream offset + 1): gaps anywhere, the
 * history and catching up work across them. */
static void test_seq_gaps(void)
{
	store_t *s = store_new(4, 10);
	CHECK_INT(add_at(s, 3, "{\"id\":\"a\",\"status\":\"queued\"}"), 3);
	CHECK_INT(add_at(s, 7, "{\"id\":\"b\",\"status\":\"queued\"}"), 7);
	CHECK_INT(add_at(s, 8, "{\"id\":\"a\",\"status\":\"done\"}"), 8);
	CHECK_STR(store_at(s, 1)->text, "{\"id\":\"b\",\"status\":\"queued\",\"seq\":7}\n");
	/* not above the last one, 0, or past 2^53 - 1: refused */
	CHECK_INT(add_at(s, 8, "{\"id\":\"c\",\"status\":\"queued\"}"), 0);
	CHECK(strstr(err, "not above") != NULL);
	CHECK_INT(add_at(s, 5, "{\"id\":\"c\",\"status\":\"queued\"}"), 0);
	CHECK_INT(add_at(s, 0, "{\"id\":\"c\",\"status\":\"queued\"}"), 0);
	CHECK_INT(add_at(s, STORE_MAX_SEQ + 1, "{\"id\":\"c\",\"status\":\"queued\"}"), 0);
	CHECK(strstr(err, "seq would pass") != NULL);
	CHECK_STR(seqs(s), "3,7,8");
	/* a gap is no loss: every position replays from the history */
	for (uint64_t pos = 0; pos <= 8; pos++)
		CHECK_INT(store_replayable(s, pos), 1);
	CHECK_INT(store_next(s, 0)->seq, 3);
	CHECK_INT(store_next(s, 3)->seq, 7);
	CHECK_INT(store_next(s, 4)->seq, 7);
	CHECK(store_next(s, 8) == NULL);
	CHECK_INT(store_after(s, 5), 1);
	/* the history overflows past a gap: positions before what left it
	 * catch up on the tasks */
	CHECK_INT(add_at(s, 20, "{\"id\":\"c\",\"status\":\"queued\"}"), 20);
	CHECK_INT(add_at(s, 30, "{\"id\":\"d\",\"status\":\"queued\"}"), 30);
	CHECK_STR(seqs(s), "7,8,20,30");
	CHECK_INT(store_history_start(s), 4);
	CHECK_INT(store_replayable(s, 2), 0);
	CHECK_INT(store_replayable(s, 3), 1);
	CHECK_INT(store_next(s, 2)->seq, 7);   /* b's state (a's is 8) */
	CHECK_INT(store_next(s, 21)->seq, 30);
	/* a compacted journal says its history starts later */
	store_history_from(s, 20);
	CHECK_INT(store_replayable(s, 8), 0);
	CHECK_INT(store_replayable(s, 19), 1);
	store_history_from(s, 10); /* never back */
	CHECK_INT(store_history_start(s), 20);
	CHECK_INT(store_last_seq(s), 30);
	store_free(s);
}

/* A notification published twice is known by its task and status (and
 * bytes or time), however much came between: not by arrival order. */
static void test_copy_by_task_and_status(void)
{
	store_t *s = store_new(20, 2000);
	const char *done = "{\"id\":\"t1\",\"status\":\"done\",\"time\":5}";
	add(s, "t1", "queued");
	CHECK_INT(is_copy(s, "{\"id\":\"t1\",\"status\":\"queued\",\"time\":9}"), 1);
	CHECK_INT(is_copy(s, done), 0);
	add_at(s, store_last_seq(s) + 1, done);
	for (int i = 0; i < 1000; i++) { /* far beyond the history */
		char id[16];
		snprintf(id, sizeof(id), "o%d", i);
		add(s, id, "queued");
	}
	CHECK_INT(is_copy(s, done), 1);
	/* the same final once per task, whatever its other fields */
	CHECK_INT(is_copy(s, "{\"id\":\"t1\",\"status\":\"done\",\"time\":6}"), 1);
	CHECK_INT(is_copy(s, "{\"id\":\"t1\",\"status\":\"failed\"}"), 0);
	CHECK_INT(is_copy(s, "{\"id\":\"t2\",\"status\":\"done\",\"time\":5}"), 0);
	/* progress and paused: once per byte count */
	const char *p1 = "{\"id\":\"p\",\"status\":\"progress\",\"time\":1,\"bytes\":100}";
	add_at(s, store_last_seq(s) + 1, p1);
	CHECK_INT(is_copy(s, p1), 1);
	CHECK_INT(is_copy(s, "{\"id\":\"p\",\"status\":\"progress\",\"time\":2,\"bytes\":100}"), 1);
	CHECK_INT(is_copy(s, "{\"id\":\"p\",\"status\":\"progress\",\"time\":2,\"bytes\":101}"), 0);
	CHECK_INT(is_copy(s, "{\"id\":\"p\",\"status\":\"paused\",\"time\":2,\"bytes\":100}"), 0);
	/* without bytes: only the same text */
	const char *p2 = "{\"id\":\"p2\",\"status\":\"progress\",\"n\":1}";
	add_at(s, store_last_seq(s) + 1, p2);
	CHECK_INT(is_copy(s, p2), 1);
	CHECK_INT(is_copy(s, "{\"id\":\"p2\",\"status\":\"progress\",\"n\":2}"), 0);
	/* started: once per attempt (its time) */
	const char *s1 = "{\"id\":\"r\",\"status\":\"started\",\"time\":10,\"bytes\":0}";
	add_at(s, store_last_seq(s) + 1, s1);
	CHECK_INT(is_copy(s, s1), 1);
	CHECK_INT(is_copy(s, "{\"id\":\"r\",\"status\":\"started\",\"time\":11,\"bytes\":0}"), 0);
	/* a status warren does not know: only the very same text */
	const char *w = "{\"id\":\"w\",\"status\":\"weird\",\"x\":1}";
	add_at(s, store_last_seq(s) + 1, w);
	CHECK_INT(is_copy(s, w), 1);
	CHECK_INT(is_copy(s, "{\"id\":\"w\",\"status\":\"weird\",\"x\":2}"), 0);
	store_free(s);
}

/* paused -> started -> progress -> done (a paused task taken again);
 * the later time wins among the running states, finals never go back. */
static void test_paused_starts_again(void)
{
	store_t *s = store_new(100, 100);
	const char *seq_of[] = {
		"{\"id\":\"a\",\"status\":\"queued\",\"time\":1000}",
		"{\"id\":\"a\",\"status\":\"started\",\"time\":1001}",
		"{\"id\":\"a\",\"status\":\"progress\",\"time\":1002,\"bytes\":5}",
		"{\"id\":\"a\",\"status\":\"paused\",\"time\":1003,\"bytes\":7}",
		"{\"id\":\"a\",\"status\":\"started\",\"time\":2000,\"bytes\":7}",
		"{\"id\":\"a\",\"status\":\"progress\",\"time\":2001,\"bytes\":9}",
	};
	for (size_t i = 0; i < 6; i++) {
		uint64_t q = add_at(s, i + 1, seq_of[i]);
		CHECK_INT(q, i + 1);
		CHECK_INT(store_task(s, "a", 1)->seq, q);
	}
	/* a progress of the first attempt, late: history only */
	add_at(s, 7, "{\"id\":\"a\",\"status\":\"progress\",\"time\":1002,\"bytes\":6}");
	CHECK_INT(store_task(s, "a", 1)->seq, 6);
	/* a queued, even a later one, never replaces a running state */
	add_at(s, 8, "{\"id\":\"a\",\"status\":\"queued\",\"time\":9999}");
	CHECK_INT(store_task(s, "a", 1)->seq, 6);
	/* a worker's crash, another attempt without paused: it starts again */
	add_at(s, 9, "{\"id\":\"a\",\"status\":\"started\",\"time\":3000,\"bytes\":0}");
	CHECK_INT(store_task(s, "a", 1)->seq, 9);
	add_at(s, 10, "{\"id\":\"a\",\"status\":\"done\",\"time\":3005}");
	/* finals never go back, whatever the time */
	add_at(s, 11, "{\"id\":\"a\",\"status\":\"started\",\"time\":4000}");
	add_at(s, 12, "{\"id\":\"a\",\"status\":\"cancelled\",\"time\":4001}");
	CHECK_INT(store_task(s, "a", 1)->seq, 10);
	/* without times: paused -> started still starts again */
	add(s, "b", "progress");
	add(s, "b", "paused");
	uint64_t q = add(s, "b", "started");
	CHECK_INT(store_task(s, "b", 1)->seq, q);
	add(s, "b", "cancelled");
	CHECK_INT(store_task(s, "b", 1)->status, STORE_CANCELLED);
	CHECK_INT(store_count(s), 16);
	store_free(s);
}

int main(void)
{
	test_seq_gaps();
	test_copy_by_task_and_status();
	test_paused_starts_again();
	test_seq_and_text();
	test_with_seq();
	test_size_limit_live_and_replay();
	test_history_ring();
	test_state_moves_forward();
	test_eviction_order();
	test_catch_up_from_any_position();
	test_listing();
	test_memory_per_task();
	test_refs();
	test_index_churn();
	return check_report();
}

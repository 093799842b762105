/* test_store.c - notification history: seq, bound, eviction order, index. */
#include "check.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>

static char err[128];

/* Adds {"id":id,"status":status}; returns the entry's seq, or 0. */
static uint64_t add(store_t *s, const char *id, const char *status)
{
	char js[256];
	snprintf(js, sizeof(js), "{\"id\": \"%s\", \"status\": \"%s\"}", id, status);
	struct store_entry *e = store_entry_new(s, js, strlen(js), 0, err, sizeof(err));
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
	store_t *s = store_new(10);
	const char *js = "{\"id\":\"t1\", \"status\":\"queued\",\"name\":\"caf\xc3\xa9\",\"total\":null}";
	struct store_entry *e = store_entry_new(s, js, strlen(js), 0, err, sizeof(err));
	CHECK(e != NULL);
	CHECK_INT(e->seq, 1);
	CHECK_STR(e->text, "{\"id\":\"t1\", \"status\":\"queued\",\"name\":\"caf\xc3\xa9\",\"total\":null,\"seq\":1}");
	CHECK_INT(e->len, strlen(e->text));
	CHECK_STR(e->id, "t1");
	store_insert(s, e);
	CHECK_INT(add(s, "t1", "started"), 2);
	CHECK_INT(add(s, "t2", "queued"), 3);
	CHECK_INT(store_last_seq(s), 3);
	CHECK_STR(seqs(s), "1,2,3");
	CHECK_INT(store_bytes(s), store_at(s, 2)->end);
	CHECK_INT(store_at(s, 0)->end + store_at(s, 1)->len, store_at(s, 1)->end);

	/* whitespace around the object; an escaped id is decoded */
	js = "  {\"status\":\"done\" , \"id\":\"t\\u0033\"}\n";
	e = store_entry_new(s, js, strlen(js), 0, err, sizeof(err));
	CHECK(e != NULL);
	CHECK_STR(e->text, "{\"status\":\"done\" , \"id\":\"t\\u0033\",\"seq\":4}");
	CHECK_STR(e->id, "t3");
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
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = store_entry_new(s, bad[i], strlen(bad[i]), 0, err, sizeof(err));
		CHECK(e == NULL);
		if (e)
			store_entry_unref(e);
		CHECK(err[0] != '\0');
		err[0] = '\0';
	}
	char longid[400];
	snprintf(longid, sizeof(longid), "{\"id\":\"%0200d\",\"status\":\"x\"}", 0);
	CHECK(store_entry_new(s, longid, strlen(longid), 0, err, sizeof(err)) == NULL);
	size_t biglen = 70000;
	char *big = malloc(biglen + 1);
	memset(big, ' ', biglen);
	memcpy(big, "{\"id\":\"t\",\"status\":\"x\"}", 23);
	CHECK(store_entry_new(s, big, biglen, 0, err, sizeof(err)) == NULL);
	free(big);
	/* nothing rejected took a seq */
	CHECK_INT(add(s, "t4", "queued"), 5);
	store_free(s);
}

static void test_with_seq(void)
{
	store_t *s = store_new(10);
	const char *js = "{\"id\":\"a\",\"status\":\"queued\",\"seq\":7}";
	struct store_entry *e = store_entry_new(s, js, strlen(js), 1, err, sizeof(err));
	CHECK(e != NULL);
	CHECK_INT(e->seq, 7);
	CHECK_STR(e->text, js);
	store_insert(s, e);
	/* seq continues after the restored one */
	CHECK_INT(add(s, "a", "started"), 8);
	/* a stored seq must grow, and must be there */
	const char *older = "{\"id\":\"a\",\"status\":\"queued\",\"seq\":8}";
	CHECK(store_entry_new(s, older, strlen(older), 1, err, sizeof(err)) == NULL);
	const char *none = "{\"id\":\"a\",\"status\":\"queued\"}";
	CHECK(store_entry_new(s, none, strlen(none), 1, err, sizeof(err)) == NULL);
	const char *neg = "{\"id\":\"a\",\"status\":\"queued\",\"seq\":-1}";
	CHECK(store_entry_new(s, neg, strlen(neg), 1, err, sizeof(err)) == NULL);
	store_free(s);
}

static void test_bound_plain(void)
{
	store_t *s = store_new(3);
	for (int i = 1; i <= 10; i++) {
		char id[8];
		snprintf(id, sizeof(id), "t%d", i);
		CHECK_INT(add(s, id, "queued"), i);
	}
	CHECK_INT(store_count(s), 3);
	CHECK_STR(seqs(s), "8,9,10");
	/* tasks whose only entry left are forgotten */
	CHECK(store_task(s, "t1", 2) == NULL);
	CHECK(store_task(s, "t7", 2) == NULL);
	CHECK(store_task(s, "t8", 2) != NULL);
	store_free(s);
}

static void test_superseded_progress_first(void)
{
	store_t *s = store_new(5);
	add(s, "a", "queued");    /* 1 */
	add(s, "a", "started");   /* 2 */
	add(s, "a", "progress");  /* 3 */
	add(s, "b", "progress");  /* 4 */
	add(s, "a", "progress");  /* 5: supersedes 3 */
	CHECK_STR(seqs(s), "1,2,3,4,5");
	add(s, "b", "progress");  /* 6: supersedes 4; 3 goes */
	CHECK_STR(seqs(s), "1,2,4,5,6");
	add(s, "a", "done");      /* 7: supersedes 5; 4 goes */
	CHECK_STR(seqs(s), "1,2,5,6,7");
	add(s, "c", "queued");    /* 8: 5 goes */
	CHECK_STR(seqs(s), "1,2,6,7,8");
	/* 6 is b's latest: not superseded, so the oldest goes */
	add(s, "c", "started");   /* 9 */
	CHECK_STR(seqs(s), "2,6,7,8,9");
	/* a non-progress event is never "superseded" */
	add(s, "c", "done");      /* 10: 2 (a started) is oldest */
	CHECK_STR(seqs(s), "6,7,8,9,10");

	CHECK_INT(store_task(s, "a", 1)->seq, 7);
	CHECK_INT(store_task(s, "b", 1)->seq, 6);
	CHECK_INT(store_task(s, "c", 1)->seq, 10);
	CHECK(store_task(s, "d", 1) == NULL);
	buf_t b = BUF_INIT;
	CHECK_INT(store_tasks_json(s, &b), 0);
	buf_append(&b, "", 1);
	CHECK_STR(b.data, "[{\"id\": \"b\", \"status\": \"progress\",\"seq\":6},"
		  "{\"id\": \"a\", \"status\": \"done\",\"seq\":7},"
		  "{\"id\": \"c\", \"status\": \"done\",\"seq\":10}]");
	buf_free(&b);
	store_free(s);

	s = store_new(1);
	add(s, "a", "progress");
	add(s, "a", "progress");
	CHECK_STR(seqs(s), "2");
	CHECK_INT(store_task(s, "a", 1)->seq, 2);
	buf_t e = BUF_INIT;
	store_free(s);
	s = store_new(4);
	store_tasks_json(s, &e);
	CHECK_INT(e.len, 2);
	CHECK(memcmp(e.data, "[]", 2) == 0);
	buf_free(&e);
	store_free(s);
}

static void test_after(void)
{
	store_t *s = store_new(100);
	for (int i = 0; i < 50; i++)
		add(s, i % 2 ? "x" : "y", "progress");
	/* 1..48 alternate x/y; superseded ones are kept while there is room */
	CHECK_INT(store_count(s), 50);
	CHECK_INT(store_after(s, 0), 0);
	CHECK_INT(store_after(s, 10), 10);
	CHECK_INT(store_after(s, 50), 50);
	CHECK_INT(store_after(s, 1000), 50);
	store_free(s);
}

/* A reader's ref keeps an evicted entry alive. */
static void test_refs(void)
{
	store_t *s = store_new(2);
	add(s, "a", "queued");
	struct store_entry *e = store_at(s, 0);
	store_entry_ref(e);
	add(s, "b", "queued");
	add(s, "c", "queued");
	CHECK_STR(seqs(s), "2,3");
	CHECK_STR(e->id, "a"); /* still readable (ASan checks this) */
	CHECK_INT(e->seq, 1);
	store_entry_unref(e);
	store_at(s, 0)->refs++;
	e = store_at(s, 0);
	store_free(s);
	CHECK_STR(e->id, "b");
	store_entry_unref(e);
}

/* Many tasks through a small history: index deletions keep lookups right. */
static void test_index_churn(void)
{
	store_t *s = store_new(64);
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
	/* every entry's latest flag agrees with the index, seqs increase */
	int mismatch = 0;
	for (size_t i = 0; i < store_count(s); i++) {
		struct store_entry *e = store_at(s, i);
		const struct store_entry *l = store_task(s, e->id, strlen(e->id));
		if ((l == e) != (e->latest != 0))
			mismatch++;
		if (i && store_at(s, i - 1)->seq >= e->seq)
			mismatch++;
	}
	CHECK_INT(mismatch, 0);
	store_free(s);
}

static void test_copy_of_redelivery(void)
{
	store_t *s = store_new(20);
	const char *a = "{\"id\":\"t1\",\"status\":\"done\",\"time\":5}";
	const char *b = "{\"id\":\"t1\",\"status\":\"done\",\"time\":6}";
	const char *c = "{\"id\":\"t2\",\"status\":\"queued\",\"time\":5}";
	store_insert(s, store_entry_new(s, a, strlen(a), 0, err, sizeof(err)));
	store_insert(s, store_entry_new(s, c, strlen(c), 0, err, sizeof(err)));
	for (int i = 0; i < 9; i++) /* seq grows a digit: 10 and over */
		store_insert(s, store_entry_new(s, c, strlen(c), 0, err, sizeof(err)));
	struct store_entry *again = store_entry_new(s, a, strlen(a), 0, err, sizeof(err));
	struct store_entry *other = store_entry_new(s, b, strlen(b), 0, err, sizeof(err));
	CHECK(again && other);
	CHECK_INT(store_has_copy(s, again, 11), 1);  /* t1 is the 11th newest */
	CHECK_INT(store_has_copy(s, again, 10), 0);  /* outside a shorter window */
	CHECK_INT(store_has_copy(s, other, 11), 0);  /* another event of the task */
	store_entry_unref(again);
	store_entry_unref(other);
	store_free(s);
}

int main(void)
{
	test_copy_of_redelivery();
	test_seq_and_text();
	test_with_seq();
	test_bound_plain();
	test_superseded_progress_first();
	test_after();
	test_refs();
	test_index_churn();
	return check_report();
}

/*
 * store.c - bounded notification history; see store.h.
 *
 * Entries sit in seq order in a window arr[start .. start+count) of an
 * array twice the history, so dropping the oldest is start++ and the window
 * slides back only once per history's worth of inserts. Superseded progress
 * entries are also on a doubly linked FIFO. The task index is an
 * open-addressing hash table (linear probing, backward-shift deletion)
 * from task id to the task's latest entry.
 */
#include "store.h"
#include "config.h"
#include "json.h"
#include "utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
	size_t history;
	struct store_entry **arr;
	size_t cap, start, count;
	struct store_entry *sup_head, *sup_tail;
	struct store_entry **index;   /* hash table of latest entries */
	size_t index_cap;             /* power of two >= 2 * (history + 1) */
	uint64_t last_seq;
	uint64_t bytes;
};

store_t *store_new(size_t history)
{
	if (history < 1 || history > SIZE_MAX / 8)
		return NULL;
	store_t *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->history = history;
	s->cap = 2 * (history + 1);
	s->index_cap = 16;
	while (s->index_cap < 2 * (history + 1))
		s->index_cap *= 2;
	s->arr = calloc(s->cap, sizeof(*s->arr));
	s->index = calloc(s->index_cap, sizeof(*s->index));
	if (!s->arr || !s->index) {
		store_free(s);
		return NULL;
	}
	return s;
}

void store_free(store_t *s)
{
	if (!s)
		return;
	if (s->arr)
		for (size_t i = 0; i < s->count; i++)
			store_entry_unref(s->arr[s->start + i]);
	free(s->arr);
	free(s->index);
	free(s);
}

void store_entry_ref(struct store_entry *e) { e->refs++; }

void store_entry_unref(struct store_entry *e)
{
	if (e && --e->refs == 0)
		free(e);
}

/* ---- task index ---- */

static size_t hash_id(const char *id, size_t len)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)id[i]) * 1099511628211ULL;
	return (size_t)h;
}

/* The slot holding id, or the empty slot where it would go. */
static size_t index_slot(const store_t *s, const char *id, size_t len)
{
	size_t mask = s->index_cap - 1, i = hash_id(id, len) & mask;
	while (s->index[i]) {
		const char *k = s->index[i]->id;
		if (strlen(k) == len && memcmp(k, id, len) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

static void index_remove(store_t *s, size_t i)
{
	size_t mask = s->index_cap - 1, j = i;
	s->index[i] = NULL;
	/* shift back later entries of the cluster that may no longer be
	 * reachable from their home slot */
	for (;;) {
		j = (j + 1) & mask;
		if (!s->index[j])
			return;
		const char *k = s->index[j]->id;
		size_t home = hash_id(k, strlen(k)) & mask;
		/* can slot i hold j's entry? yes unless home lies in (i, j] */
		int movable = i <= j ? (home <= i || home > j)
				     : (home <= i && home > j);
		if (movable) {
			s->index[i] = s->index[j];
			s->index[j] = NULL;
			i = j;
		}
	}
}

const struct store_entry *store_task(const store_t *s, const char *id,
				     size_t id_len)
{
	return s->index[index_slot(s, id, id_len)];
}

/* ---- superseded list ---- */

static void sup_append(store_t *s, struct store_entry *e)
{
	e->superseded = 1;
	e->sup_next = NULL;
	e->sup_prev = s->sup_tail;
	if (s->sup_tail)
		s->sup_tail->sup_next = e;
	else
		s->sup_head = e;
	s->sup_tail = e;
}

static void sup_unlink(store_t *s, struct store_entry *e)
{
	if (!e->superseded)
		return;
	if (e->sup_prev)
		e->sup_prev->sup_next = e->sup_next;
	else
		s->sup_head = e->sup_next;
	if (e->sup_next)
		e->sup_next->sup_prev = e->sup_prev;
	else
		s->sup_tail = e->sup_prev;
	e->superseded = 0;
	e->sup_prev = e->sup_next = NULL;
}

/* ---- entries ---- */

/* Reads "id", "status" and (with_seq) "seq" from the top-level object. */
static int read_fields(const char *js, const jsmntok_t *t, int ntok,
		       char *id, size_t idlen, int *progress, int64_t *seq,
		       int with_seq, char *err, size_t errlen)
{
	int have_id = 0, have_status = 0, have_seq = 0;
	if (ntok < 1 || t[0].type != JSMN_OBJECT) {
		snprintf(err, errlen, "not a JSON object");
		return -1;
	}
	for (int i = 1; i < ntok; i = json_skip(t, i + 1)) {
		const jsmntok_t *k = &t[i], *v = &t[i + 1];
		if (json_tok_is(js, k, "id") && !have_id) {
			if (v->type != JSMN_STRING ||
			    json_tok_str(js, v, id, idlen) <= 0) {
				snprintf(err, errlen, "\"id\" must be a string of 1 to %zu bytes",
					 idlen - 1);
				return -1;
			}
			have_id = 1;
		} else if (json_tok_is(js, k, "status") && !have_status) {
			if (v->type != JSMN_STRING) {
				snprintf(err, errlen, "\"status\" must be a string");
				return -1;
			}
			*progress = json_tok_is(js, v, "progress");
			have_status = 1;
		} else if (json_tok_is(js, k, "seq")) {
			if (!with_seq || have_seq || json_tok_int(js, v, seq) < 0 ||
			    *seq <= 0) {
				snprintf(err, errlen, with_seq ? "bad \"seq\"" :
					 "a new notification cannot carry \"seq\"");
				return -1;
			}
			have_seq = 1;
		}
	}
	if (!have_id || !have_status || (with_seq && !have_seq)) {
		snprintf(err, errlen, "missing \"%s\"", !have_id ? "id" :
			 !have_status ? "status" : "seq");
		return -1;
	}
	return 0;
}

struct store_entry *store_entry_new(store_t *s, const char *json, size_t len,
				    int with_seq, char *err, size_t errlen)
{
	jsmntok_t toks[NOTIFY_MAX_TOKENS];
	char id[NOTIFY_MAX_ID + 1];
	int progress = 0;
	int64_t seq = 0;

	if (len > NOTIFY_MAX_SIZE) {
		snprintf(err, errlen, "notification over %d bytes", NOTIFY_MAX_SIZE);
		return NULL;
	}
	/* it travels in WebSocket text frames, which must be UTF-8 */
	if (!utf8_valid(json, len)) {
		snprintf(err, errlen, "not UTF-8");
		return NULL;
	}
	int ntok = json_parse(json, len, toks, NOTIFY_MAX_TOKENS);
	if (ntok < 0) {
		snprintf(err, errlen, ntok == -2 ? "too many JSON tokens" :
			 "invalid JSON");
		return NULL;
	}
	if (read_fields(json, toks, ntok, id, sizeof(id), &progress, &seq,
			with_seq, err, errlen) < 0)
		return NULL;
	if (with_seq && (uint64_t)seq <= s->last_seq) {
		snprintf(err, errlen, "seq %" PRId64 " not above %" PRIu64,
			 seq, s->last_seq);
		return NULL;
	}

	/* text: the object as received (with_seq: as stored), plus seq */
	const char *obj = json + toks[0].start;
	size_t objlen = (size_t)(toks[0].end - toks[0].start);
	char tail[32] = "";
	if (!with_seq) {
		seq = (int64_t)(s->last_seq + 1);
		/* "{}" cannot get here: it has no id */
		snprintf(tail, sizeof(tail), ",\"seq\":%" PRId64 "}", seq);
		objlen--; /* the closing brace, rewritten after seq */
	}
	size_t tlen = strlen(tail), idl = strlen(id);
	struct store_entry *e = malloc(sizeof(*e) + objlen + tlen + 1 + idl + 1);
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memset(e, 0, sizeof(*e));
	char *text = (char *)(e + 1);
	memcpy(text, obj, objlen);
	memcpy(text + objlen, tail, tlen + 1);
	memcpy(text + objlen + tlen + 1, id, idl + 1);
	e->seq = (uint64_t)seq;
	e->len = objlen + tlen;
	e->text = text;
	e->id = text + e->len + 1;
	e->progress = progress;
	e->refs = 1;
	return e;
}

/* Length of e's text before its ,"seq":N} tail. */
static size_t text_without_seq(const struct store_entry *e)
{
	char tail[32];
	int n = snprintf(tail, sizeof(tail), ",\"seq\":%" PRIu64 "}", e->seq);
	return n > 0 && e->len >= (size_t)n ? e->len - (size_t)n : 0;
}

int store_has_copy(const store_t *s, const struct store_entry *e, size_t window)
{
	size_t n = text_without_seq(e), count = s->count;
	for (size_t i = 0; i < window && i < count; i++) {
		const struct store_entry *o = s->arr[s->start + count - 1 - i];
		if (strcmp(o->id, e->id) == 0 && text_without_seq(o) == n &&
		    memcmp(o->text, e->text, n) == 0)
			return 1;
	}
	return 0;
}

/* Removes the entry at window index i from the history. */
static void remove_at(store_t *s, size_t i)
{
	struct store_entry *e = s->arr[s->start + i];
	if (i < s->count / 2) {
		memmove(s->arr + s->start + 1, s->arr + s->start,
			i * sizeof(*s->arr));
		s->arr[s->start++] = NULL;
	} else {
		memmove(s->arr + s->start + i, s->arr + s->start + i + 1,
			(s->count - i - 1) * sizeof(*s->arr));
		s->arr[s->start + s->count - 1] = NULL;
	}
	s->count--;
	sup_unlink(s, e);
	if (e->latest) {
		e->latest = 0;
		index_remove(s, index_slot(s, e->id, strlen(e->id)));
	}
	store_entry_unref(e);
}

static void evict_one(store_t *s)
{
	if (s->sup_head)
		remove_at(s, store_after(s, s->sup_head->seq - 1));
	else
		remove_at(s, 0);
}

void store_insert(store_t *s, struct store_entry *e)
{
	/* slide the window back to the front when it reaches the end */
	if (s->start + s->count == s->cap) {
		memmove(s->arr, s->arr + s->start, s->count * sizeof(*s->arr));
		memset(s->arr + s->count, 0, s->start * sizeof(*s->arr));
		s->start = 0;
	}
	s->bytes += e->len;
	e->end = s->bytes;
	s->last_seq = e->seq;
	s->arr[s->start + s->count++] = e;

	size_t slot = index_slot(s, e->id, strlen(e->id));
	struct store_entry *prev = s->index[slot];
	if (prev) {
		prev->latest = 0;
		if (prev->progress)
			sup_append(s, prev);
	}
	s->index[slot] = e;
	e->latest = 1;

	while (s->count > s->history)
		evict_one(s);
}

/* ---- reading ---- */

size_t store_count(const store_t *s) { return s->count; }

struct store_entry *store_at(const store_t *s, size_t i)
{
	return i < s->count ? s->arr[s->start + i] : NULL;
}

size_t store_after(const store_t *s, uint64_t seq)
{
	size_t lo = 0, hi = s->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->arr[s->start + mid]->seq <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t store_last_seq(const store_t *s) { return s->last_seq; }
uint64_t store_bytes(const store_t *s) { return s->bytes; }

int store_tasks_json(const store_t *s, buf_t *out)
{
	int first = 1;
	if (buf_append(out, "[", 1) < 0)
		return -1;
	for (size_t i = 0; i < s->count; i++) {
		const struct store_entry *e = s->arr[s->start + i];
		if (!e->latest)
			continue;
		if ((!first && buf_append(out, ",", 1) < 0) ||
		    buf_append(out, e->text, e->len) < 0)
			return -1;
		first = 0;
	}
	return buf_append(out, "]", 1);
}

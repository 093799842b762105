/*
 * store.c - bounded task states and notification history; see store.h.
 *
 * The history is a ring of `history` entry pointers in seq order.
 *
 * The tasks are an array of slots {seq, entry} in seq order: a task whose
 * state changes gets a new slot at the end and its old slot is emptied (it
 * keeps its seq, so binary search still works); when the array is full it
 * is compacted, which at most every quarter of `tasks` inserts costs one
 * pass. Finished tasks are also on a doubly linked list, oldest first, the
 * eviction order. The index is an open-addressing hash table (linear
 * probing, backward-shift deletion) from task id to the task's state.
 */
#include "store.h"
#include "config.h"
#include "json.h"
#include "utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	uint64_t seq;
	struct store_entry *e;  /* NULL: the task moved on or was evicted */
};

struct store {
	/* history: ring of hist_cap entries from hist_start */
	struct store_entry **hist;
	size_t hist_cap, hist_start, hist_count;
	uint64_t hist_from;           /* every seq >= this one is in it */
	/* tasks */
	size_t max_tasks, ntasks;
	struct slot *slots;
	size_t slots_cap, slots_len;
	size_t first_live;            /* slots before it are all empty */
	struct store_entry *fin_head, *fin_tail;
	struct store_entry **index;   /* hash table of task states */
	size_t index_cap;             /* power of two >= 1.5 * tasks + 2 */
	uint64_t last_seq;
};

static const char *const status_names[] = {
	"queued", "started", "progress", "paused", "done", "failed", "cancelled"
};

/* The order a task's state moves in. */
static int rank(enum store_status st)
{
	switch (st) {
	case STORE_QUEUED: return 0;
	case STORE_STARTED: return 1;
	case STORE_DONE: case STORE_FAILED: case STORE_CANCELLED: return 3;
	default: return 2;
	}
}

store_t *store_new(size_t history, size_t tasks)
{
	if (history < 1 || tasks < 1 || history > SIZE_MAX / 16 ||
	    tasks > UINT32_MAX / 2) /* slots are uint32_t, 1.25 per task */
		return NULL;
	store_t *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->hist_cap = history;
	s->hist_from = 1;
	s->max_tasks = tasks;
	/* room for a quarter of empty slots before a compaction */
	s->slots_cap = tasks + tasks / 4 + 16;
	s->index_cap = 16;
	/* load at most 2/3: a power of two from 1.5 x, not 2 x, saves
	 * 128 KB at 10,000 tasks; linear probing still takes ~2 probes */
	while (s->index_cap < tasks + tasks / 2 + 2)
		s->index_cap *= 2;
	s->hist = calloc(history, sizeof(*s->hist));
	s->slots = calloc(s->slots_cap, sizeof(*s->slots));
	s->index = calloc(s->index_cap, sizeof(*s->index));
	if (!s->hist || !s->slots || !s->index) {
		store_free(s);
		return NULL;
	}
	return s;
}

void store_free(store_t *s)
{
	if (!s)
		return;
	if (s->hist)
		for (size_t i = 0; i < s->hist_count; i++)
			store_entry_unref(store_at(s, i));
	if (s->slots)
		for (size_t i = 0; i < s->slots_len; i++)
			store_entry_unref(s->slots[i].e);
	free(s->hist);
	free(s->slots);
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
		const struct store_entry *k = s->index[i];
		if (k->id_len == len && memcmp(k->id, id, len) == 0)
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
		const struct store_entry *k = s->index[j];
		size_t home = hash_id(k->id, k->id_len) & mask;
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

struct store_entry *store_task(const store_t *s, const char *id,
				     size_t id_len)
{
	return s->index[index_slot(s, id, id_len)];
}

/* ---- entries ---- */

static enum store_status status_of(const char *js, const jsmntok_t *v)
{
	for (int i = 0; i < STORE_OTHER; i++)
		if (json_tok_is(js, v, status_names[i]))
			return (enum store_status)i;
	return STORE_OTHER;
}

/* A stored seq: 1 to STORE_MAX_SEQ in plain decimal; an overflow is an
 * error (ERANGE), never a wrap. */
static int read_seq(const char *js, const jsmntok_t *v, uint64_t *seq)
{
	uint64_t n = 0;
	if (v->type != JSMN_PRIMITIVE || v->end <= v->start || js[v->start] == '0')
		return -1;
	for (int i = v->start; i < v->end; i++) {
		unsigned d = (unsigned)(js[i] - '0');
		if (d > 9 || n > (STORE_MAX_SEQ - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*seq = n;
	return 0;
}

/* 1 when two top-level keys of the object are the same once decoded. */
static int duplicate_key(const char *js, const jsmntok_t *t, int ntok)
{
	char a[NOTIFY_MAX_KEY + 1], b[NOTIFY_MAX_KEY + 1];
	for (int i = 1; i < ntok; i = json_skip(t, i + 1)) {
		int la = json_tok_str(js, &t[i], a, sizeof(a));
		for (int j = json_skip(t, i + 1); j < ntok; j = json_skip(t, j + 1)) {
			int lb = json_tok_str(js, &t[j], b, sizeof(b));
			/* keys too long to decode are compared as written */
			if (la < 0 || lb < 0 ?
			    t[i].end - t[i].start == t[j].end - t[j].start &&
			    !memcmp(js + t[i].start, js + t[j].start,
				    (size_t)(t[i].end - t[i].start)) :
			    la == lb && !memcmp(a, b, (size_t)la))
				return 1;
		}
	}
	return 0;
}

/* Reads "id", "status" and (with_seq) "seq" from the top-level object. */
static int read_fields(const char *js, const jsmntok_t *t, int ntok,
		       char *id, size_t idlen, enum store_status *status,
		       uint64_t *seq, int with_seq, char *err, size_t errlen)
{
	int have_id = 0, have_status = 0, have_seq = 0;
	if (ntok < 1 || t[0].type != JSMN_OBJECT) {
		snprintf(err, errlen, "not a JSON object");
		return -1;
	}
	if (duplicate_key(js, t, ntok)) {
		snprintf(err, errlen, "a key appears twice");
		return -1;
	}
	for (int i = 1; i < ntok; i = json_skip(t, i + 1)) {
		const jsmntok_t *k = &t[i], *v = &t[i + 1];
		if (json_tok_is(js, k, "id")) {
			if (v->type != JSMN_STRING ||
			    json_tok_str(js, v, id, idlen) <= 0) {
				snprintf(err, errlen, "\"id\" must be a string of 1 to %zu bytes",
					 idlen - 1);
				return -1;
			}
			have_id = 1;
		} else if (json_tok_is(js, k, "status")) {
			if (v->type != JSMN_STRING) {
				snprintf(err, errlen, "\"status\" must be a string");
				return -1;
			}
			*status = status_of(js, v);
			have_status = 1;
		} else if (json_tok_is(js, k, "seq")) {
			if (!with_seq || read_seq(js, v, seq) < 0) {
				snprintf(err, errlen, with_seq ?
					 "bad \"seq\" (1 to %" PRIu64 ")" :
					 "a new notification cannot carry \"seq\"",
					 (uint64_t)STORE_MAX_SEQ);
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

/* The value token of the "id" key (read_fields made sure there is one). */
static const jsmntok_t *id_token(const char *js, const jsmntok_t *t, int ntok)
{
	for (int i = 1; i < ntok; i = json_skip(t, i + 1))
		if (json_tok_is(js, &t[i], "id"))
			return &t[i + 1];
	return &t[0]; /* not reached */
}

/* Makes an entry; seq 0: a stored one, whose "seq" is read from json. */
static struct store_entry *make_entry(store_t *s, const char *json, size_t len,
				      uint64_t seq, char *err, size_t errlen)
{
	jsmntok_t toks[NOTIFY_MAX_TOKENS];
	char id[NOTIFY_MAX_ID + 1];
	enum store_status status = STORE_OTHER;
	int with_seq = seq == 0;

	/* a stored one carries ,"seq":N more than it came with: the same
	 * notification passes on replay as it passed live */
	if (len > NOTIFY_MAX_SIZE + (with_seq ? STORE_SEQ_ROOM : 0)) {
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
	if (read_fields(json, toks, ntok, id, sizeof(id), &status, &seq,
			with_seq, err, errlen) < 0)
		return NULL;
	if (seq > STORE_MAX_SEQ) {
		snprintf(err, errlen, "seq would pass %" PRIu64,
			 (uint64_t)STORE_MAX_SEQ);
		return NULL;
	}
	if (seq <= s->last_seq) {
		snprintf(err, errlen, "seq %" PRIu64 " not above %" PRIu64,
			 seq, s->last_seq);
		return NULL;
	}

	/* text: the object as received (with_seq: as stored), plus seq */
	const char *obj = json + toks[0].start;
	size_t objlen = (size_t)(toks[0].end - toks[0].start);
	char tail[32] = "";
	if (!with_seq) {
		/* "{}" cannot get here: it has no id */
		snprintf(tail, sizeof(tail), ",\"seq\":%" PRIu64 "}", seq);
		objlen--; /* the closing brace, rewritten after seq */
	}
	size_t tlen = strlen(tail), idl = strlen(id);
	/* an id without escapes is read from the text, not copied */
	const jsmntok_t *raw = id_token(json, toks, ntok);
	size_t idoff = (size_t)(raw->start - toks[0].start);
	int copy = (size_t)(raw->end - raw->start) != idl ||
		   memcmp(json + raw->start, id, idl) != 0;
	struct store_entry *e = malloc(sizeof(*e) + 1 + objlen + tlen + 2 +
				       (copy ? idl : 0));
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memset(e, 0, sizeof(*e));
	/* ",{...}\n\0": a list sends ",{...}" and GET /tasks/<id> "{...}\n"
	 * from the text itself */
	char *text = (char *)(e + 1) + 1;
	text[-1] = ',';
	memcpy(text, obj, objlen);
	memcpy(text + objlen, tail, tlen);
	e->len = (uint32_t)(objlen + tlen);
	memcpy(text + e->len, "\n", 2);
	if (copy)
		memcpy(text + e->len + 2, id, idl);
	e->seq = seq;
	e->text = text;
	e->id = copy ? text + e->len + 2 : text + idoff;
	e->id_len = (uint16_t)idl;
	e->status = status;
	e->refs = 1;
	return e;
}

struct store_entry *store_entry_new(store_t *s, const char *json, size_t len,
				    uint64_t seq, char *err, size_t errlen)
{
	if (seq == 0) {
		snprintf(err, errlen, "seq 0");
		return NULL;
	}
	return make_entry(s, json, len, seq, err, errlen);
}

struct store_entry *store_entry_load(store_t *s, const char *json, size_t len,
				     char *err, size_t errlen)
{
	return make_entry(s, json, len, 0, err, errlen);
}

/* What orders and tells apart a task's notifications besides their
 * status: "time" (ms; -1 when absent or not an integer) and the raw
 * "bytes" token (empty when absent). */
struct facts {
	int64_t time;
	const char *bytes;
	size_t bytes_len;
};

/* Reads e's facts from its text (valid: it was parsed when made). */
static void facts_of(const struct store_entry *e, struct facts *f)
{
	jsmntok_t t[NOTIFY_MAX_TOKENS];
	f->time = -1;
	f->bytes = "";
	f->bytes_len = 0;
	int n = json_parse(e->text, e->len, t, NOTIFY_MAX_TOKENS);
	for (int i = 1; i < n; i = json_skip(t, i + 1)) {
		const jsmntok_t *v = &t[i + 1];
		if (json_tok_is(e->text, &t[i], "time")) {
			if (json_tok_int(e->text, v, &f->time) < 0 || f->time < 0)
				f->time = -1;
		} else if (json_tok_is(e->text, &t[i], "bytes")) {
			f->bytes = e->text + v->start;
			f->bytes_len = (size_t)(v->end - v->start);
		}
	}
}

/* Length of e's text before its ,"seq":N} tail. */
static size_t text_without_seq(const struct store_entry *e)
{
	char tail[32];
	int n = snprintf(tail, sizeof(tail), ",\"seq\":%" PRIu64 "}", e->seq);
	return n > 0 && e->len >= (size_t)n ? e->len - (size_t)n : 0;
}

int store_is_copy(const store_t *s, const struct store_entry *e)
{
	const struct store_entry *o = store_task(s, e->id, e->id_len);
	if (!o || o->status != e->status)
		return 0;
	struct facts fo, fe;
	switch (e->status) {
	case STORE_QUEUED: case STORE_DONE: case STORE_FAILED:
	case STORE_CANCELLED:
		return 1; /* once per task */
	case STORE_STARTED: /* once per attempt: a new one starts later */
		facts_of(o, &fo);
		facts_of(e, &fe);
		return fo.time == fe.time;
	case STORE_PROGRESS: case STORE_PAUSED: /* once per byte count */
		facts_of(o, &fo);
		facts_of(e, &fe);
		if (fo.bytes_len && fe.bytes_len)
			return fo.bytes_len == fe.bytes_len &&
			       memcmp(fo.bytes, fe.bytes, fe.bytes_len) == 0;
		break; /* no "bytes" to tell them apart: as unknown */
	default:
		break;
	}
	/* otherwise only the very same text */
	size_t n = text_without_seq(e);
	return text_without_seq(o) == n && memcmp(o->text, e->text, n) == 0;
}

/* ---- tasks ---- */

static void fin_unlink(store_t *s, struct store_entry *e)
{
	if (e->fin_prev)
		e->fin_prev->fin_next = e->fin_next;
	else if (s->fin_head == e)
		s->fin_head = e->fin_next;
	if (e->fin_next)
		e->fin_next->fin_prev = e->fin_prev;
	else if (s->fin_tail == e)
		s->fin_tail = e->fin_prev;
	e->fin_prev = e->fin_next = NULL;
}

static void fin_append(store_t *s, struct store_entry *e)
{
	e->fin_next = NULL;
	e->fin_prev = s->fin_tail;
	if (s->fin_tail)
		s->fin_tail->fin_next = e;
	else
		s->fin_head = e;
	s->fin_tail = e;
}

/* Drops the empty slots. */
static void compact_slots(store_t *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->slots_len; i++) {
		if (!s->slots[i].e)
			continue;
		s->slots[n] = s->slots[i];
		s->slots[n].e->slot = (uint32_t)n;
		n++;
	}
	s->slots_len = n;
	s->first_live = 0;
}

/* Takes e (a task's state) out of the tasks and drops the tasks' ref. */
static void task_remove(store_t *s, struct store_entry *e)
{
	s->slots[e->slot].e = NULL;
	if (rank(e->status) == 3)
		fin_unlink(s, e);
	e->latest = 0;
	s->ntasks--;
	store_entry_unref(e);
}

/* The task that finished longest ago, else (none, or only the newest
 * entry, e_new, finished) the one changed longest ago. */
static void evict_task(store_t *s, const struct store_entry *e_new)
{
	struct store_entry *e = s->fin_head;
	if (!e || e == e_new) {
		while (!s->slots[s->first_live].e)
			s->first_live++;
		e = s->slots[s->first_live].e;
	}
	index_remove(s, index_slot(s, e->id, e->id_len));
	task_remove(s, e);
}

/* 1 when e is ahead of prev, its task's state. Finals never go back;
 * queued is first; between started, progress and paused the later time
 * wins (a paused task that is taken again starts again), by rank when the
 * times are equal or missing. */
static int moves_forward(const struct store_entry *prev,
			 const struct store_entry *e)
{
	int rp = rank(prev->status), re = rank(e->status);
	if (rp == 3 || re == 0)
		return rp == 0 && re == 0; /* (a queued again: the newer one) */
	if (re == 3 || rp == 0)
		return 1;
	struct facts fp, fe;
	facts_of(prev, &fp);
	facts_of(e, &fe);
	if (fp.time >= 0 && fe.time >= 0 && fp.time != fe.time)
		return fe.time > fp.time;
	return re >= rp || (prev->status == STORE_PAUSED &&
			    e->status == STORE_STARTED);
}

/* Makes e its task's state if it moves the task forward. */
static void task_update(store_t *s, struct store_entry *e)
{
	size_t i = index_slot(s, e->id, e->id_len);
	struct store_entry *prev = s->index[i];
	if (prev) {
		if (!moves_forward(prev, e))
			return; /* behind the state, or a second final one */
		task_remove(s, prev);
	}
	if (s->slots_len == s->slots_cap)
		compact_slots(s);
	store_entry_ref(e);
	e->latest = 1;
	e->slot = (uint32_t)s->slots_len;
	s->slots[s->slots_len++] = (struct slot){ e->seq, e };
	if (rank(e->status) == 3)
		fin_append(s, e);
	s->index[i] = e;
	s->ntasks++;
	if (s->ntasks > s->max_tasks)
		evict_task(s, e);
}

size_t store_tasks(const store_t *s) { return s->ntasks; }

/* Index of the first slot with seq > seq. */
static size_t slot_after(const store_t *s, uint64_t seq)
{
	size_t lo = 0, hi = s->slots_len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->slots[mid].seq <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct store_entry *store_task_after(const store_t *s, uint64_t seq)
{
	for (size_t i = slot_after(s, seq); i < s->slots_len; i++)
		if (s->slots[i].e)
			return s->slots[i].e;
	return NULL;
}

/* ---- history ---- */

void store_insert(store_t *s, struct store_entry *e)
{
	/* seqs may leave gaps (the stream offsets of notifications not
	 * stored): the history is still whole */
	s->last_seq = e->seq;
	task_update(s, e);
	if (s->hist_count == s->hist_cap) {
		struct store_entry *old = s->hist[s->hist_start];
		s->hist_start = (s->hist_start + 1) % s->hist_cap;
		s->hist_count--;
		if (old->seq + 1 > s->hist_from)
			s->hist_from = old->seq + 1;
		store_entry_unref(old);
	}
	s->hist[(s->hist_start + s->hist_count++) % s->hist_cap] = e;
}

size_t store_count(const store_t *s) { return s->hist_count; }

struct store_entry *store_at(const store_t *s, size_t i)
{
	return i < s->hist_count ? s->hist[(s->hist_start + i) % s->hist_cap] : NULL;
}

size_t store_after(const store_t *s, uint64_t seq)
{
	size_t lo = 0, hi = s->hist_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (store_at(s, mid)->seq <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t store_last_seq(const store_t *s) { return s->last_seq; }

void store_history_from(store_t *s, uint64_t seq)
{
	if (seq > s->hist_from)
		s->hist_from = seq;
}

uint64_t store_history_start(const store_t *s) { return s->hist_from; }

int store_replayable(const store_t *s, uint64_t seq)
{
	return seq + 1 >= s->hist_from;
}

struct store_entry *store_next(const store_t *s, uint64_t seq)
{
	if (store_replayable(s, seq))
		return store_at(s, store_after(s, seq));
	return store_task_after(s, seq);
}

/* ---- listing ---- */

const char *store_status_name(enum store_status st)
{
	return st < STORE_OTHER ? status_names[st] : "other";
}

int store_status_mask(const char *list, size_t len, unsigned *mask)
{
	*mask = 0;
	size_t i = 0;
	for (;;) {
		size_t j = i;
		while (j < len && list[j] != ',')
			j++;
		int found = -1;
		for (int k = 0; k < STORE_OTHER && found < 0; k++)
			if (strlen(status_names[k]) == j - i &&
			    !memcmp(status_names[k], list + i, j - i))
				found = k;
		if (found < 0)
			return -1;
		*mask |= 1u << found;
		if (j == len)
			return 0;
		i = j + 1;
	}
}

/* ---- task lists ---- */

struct store_list {
	size_t n;                   /* entries */
	uint64_t size;              /* bytes of the whole array */
	size_t piece, off;          /* where the next byte to send is */
	struct store_entry *e[];    /* each with a ref */
};

/* The task states newer than since with a status in mask: how many, and
 * into l (when not NULL) each with a ref, and the bytes of the array. */
static size_t select_tasks(const store_t *s, unsigned mask, uint64_t since,
			   store_list_t *l)
{
	size_t n = 0;
	for (size_t i = slot_after(s, since); i < s->slots_len; i++) {
		struct store_entry *t = s->slots[i].e;
		if (t && (mask & (1u << t->status))) {
			if (l) {
				store_entry_ref(t);
				l->e[n] = t;
				l->size += t->len + (n > 0);
			}
			n++;
		}
	}
	return n;
}

store_list_t *store_list_new(const store_t *s, unsigned mask, uint64_t since)
{
	size_t n = select_tasks(s, mask, since, NULL);
	store_list_t *l = malloc(sizeof(*l) + n * sizeof(l->e[0]));
	if (!l)
		return NULL;
	l->piece = l->off = 0;
	l->size = 3; /* "[", "]", "\n" */
	l->n = select_tasks(s, mask, since, l);
	return l;
}

/* The array's pieces: "[", the entries (each after the first with the
 * comma before its text), "]\n". */
static const char *piece_at(const store_list_t *l, size_t p, size_t *len)
{
	if (p == 0 || p > l->n) {
		*len = p ? 2 : 1;
		return p ? "]\n" : "[";
	}
	const struct store_entry *e = l->e[p - 1];
	*len = e->len + (p > 1);
	return e->text - (p > 1);
}

uint64_t store_list_size(const store_list_t *l) { return l->size; }

int store_list_gather(store_list_t *l, struct iovec *iov, int max)
{
	int n = 0;
	for (size_t p = l->piece; p < l->n + 2 && n < max; p++, n++) {
		size_t len;
		const char *at = piece_at(l, p, &len);
		size_t skip = p == l->piece ? l->off : 0;
		iov[n].iov_base = (void *)(at + skip);
		iov[n].iov_len = len - skip;
	}
	return n;
}

void store_list_advance(store_list_t *l, size_t sent)
{
	while (sent && l->piece < l->n + 2) {
		size_t len;
		piece_at(l, l->piece, &len);
		size_t rest = len - l->off;
		if (sent < rest) {
			l->off += sent;
			return;
		}
		sent -= rest;
		l->piece++;
		l->off = 0;
	}
}

void store_list_free(store_list_t *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		store_entry_unref(l->e[i]);
	free(l);
}

/*
 * control.c - control messages of stream `warren.control`, strict over
 * jsmn tokens; see control.h.
 *
 * One walk over the object serves both parsers: a reader of the stream
 * skips what it does not know (forward compatible), a request refuses it
 * (a person typed it and wants to hear what is wrong).
 */
#include "control.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "utf8.h"

enum {
	K_OP = 1,
	K_ID = 2,
	K_LIMIT = 4,
	K_TIME = 8,
	K_WORKER = 16,
	K_NONCE = 32
};

static const struct key {
	const char *name;
	int bit;
} keys[] = {
	{ "op", K_OP }, { "id", K_ID }, { "limit", K_LIMIT }, { "time", K_TIME },
	{ "worker", K_WORKER }, { "nonce", K_NONCE }, { NULL, 0 }
};

/* Per op (indexed by enum control_op): its name, the keys it has and the
 * keys it must have. */
static const struct op {
	const char *name;
	int has, needs;
} ops[] = {
	[CONTROL_UNKNOWN] = { NULL, K_OP, K_OP },
	[CONTROL_CANCEL] = { "cancel", K_OP | K_ID | K_TIME, K_OP | K_ID },
	[CONTROL_PAUSE] = { "pause", K_OP | K_TIME, K_OP },
	[CONTROL_RESUME] = { "resume", K_OP | K_TIME, K_OP },
	[CONTROL_RATE] = { "rate", K_OP | K_LIMIT | K_TIME, K_OP | K_LIMIT },
	[CONTROL_MARKER] = { "marker", K_OP | K_WORKER | K_NONCE, K_OP | K_WORKER | K_NONCE },
};
#define NOPS ((int)(sizeof(ops) / sizeof(ops[0])))

/* Tokens enough for every known key and a few a newer tasker may add. */
#define CONTROL_TOKENS 48

struct walk {
	const char *js;
	jsmntok_t toks[CONTROL_TOKENS];
	int strict;          /* a request: unknown ops and keys are errors */
	const char *what;    /* "body" or "control message", for messages */
	char op[16];         /* the op's name as sent, when it fits */
	char *err;
	size_t errlen;
};

static int fail(struct walk *w, const char *fmt, const char *arg)
{
	snprintf(w->err, w->errlen, fmt, arg ? arg : "");
	return -1;
}

int control_id_valid(const char *s, size_t len)
{
	if (len != 36)
		return 0;
	for (size_t i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		int hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
		if (dash ? s[i] != '-' : !hex)
			return 0;
	}
	return 1;
}

/* The key at token t as one of keys[], or NULL. */
static const struct key *find_key(const struct walk *w, const jsmntok_t *t)
{
	char name[16];
	if (json_tok_str(w->js, t, name, sizeof(name)) < 0)
		return NULL;
	for (const struct key *k = keys; k->name; k++)
		if (!strcmp(k->name, name))
			return k;
	return NULL;
}

/* An unknown key, named when it can be shown. */
static int fail_key(struct walk *w, const jsmntok_t *t, const char *op)
{
	char shown[40], msg[128];
	int n = json_tok_str(w->js, t, shown, sizeof(shown));
	if (n < 0 || !utf8_valid(shown, (size_t)n) || memchr(shown, 0, (size_t)n))
		snprintf(msg, sizeof(msg), "unknown key for op \"%s\"", op);
	else
		snprintf(msg, sizeof(msg), "unknown key \"%s\" for op \"%s\"", shown, op);
	return fail(w, "%s", msg);
}

/*
 * A JSON number token as a whole number >= 0 of at most 18 digits (no
 * overflow). 0, or -1 with the error for key written.
 */
static int get_count(struct walk *w, const jsmntok_t *t, const char *key,
		     const char *unit, uint64_t *out)
{
	char msg[96];
	const char *p = w->js + t->start;
	int n = t->end - t->start;
	int number = t->type == JSMN_PRIMITIVE && n > 0 &&
		     (*p == '-' || (*p >= '0' && *p <= '9'));
	snprintf(msg, sizeof(msg), "\"%s\" must be an integer >= 0 (%s)", key, unit);
	if (!number)
		return fail(w, "%s", msg);
	if (*p == '-') {
		snprintf(msg, sizeof(msg), "\"%s\" must not be negative", key);
		return fail(w, "%s", msg);
	}
	uint64_t v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9') {
			snprintf(msg, sizeof(msg), "\"%s\" must be a whole number "
				 "(no fraction or exponent)", key);
			return fail(w, "%s", msg);
		}
		if (i == 18) {
			snprintf(msg, sizeof(msg), "\"%s\" is too large", key);
			return fail(w, "%s", msg);
		}
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return 0;
}

/* A string value of 1..outlen-1 bytes of UTF-8 without NUL. Its length, or
 * -1 with the error written. */
static int get_string(struct walk *w, const jsmntok_t *t, const char *key,
		      char *out, size_t outlen)
{
	char msg[96];
	int n = t->type == JSMN_STRING ? json_tok_str(w->js, t, out, outlen) : -3;
	if (n == -3)
		snprintf(msg, sizeof(msg), "\"%s\" must be a string", key);
	else if (n == -2)
		snprintf(msg, sizeof(msg), "\"%s\" is longer than %zu bytes", key, outlen - 1);
	else if (n < 0)
		snprintf(msg, sizeof(msg), "\"%s\" has a bad escape", key);
	else if (n == 0)
		snprintf(msg, sizeof(msg), "\"%s\" is empty", key);
	else if (!utf8_valid(out, (size_t)n) || memchr(out, 0, (size_t)n))
		snprintf(msg, sizeof(msg), "\"%s\" is not valid UTF-8 text", key);
	else
		return n;
	return fail(w, "%s", msg);
}

static int is_lower_hex(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

static int get_value(struct walk *w, const jsmntok_t *v, int bit,
		     struct control_msg *m)
{
	uint64_t u;
	switch (bit) {
	case K_ID: {
		int n = get_string(w, v, "id", m->id, sizeof(m->id));
		if (n < 0 || !control_id_valid(m->id, (size_t)n))
			return fail(w, "\"id\" must be a task id (a lowercase UUID)", NULL);
		return 0;
	}
	case K_LIMIT:
		return get_count(w, v, "limit", "bytes per second, 0 = no limit", &m->limit);
	case K_TIME:
		if (get_count(w, v, "time", "Unix time in ms", &u) < 0)
			return -1;
		m->time = (int64_t)u;
		return 0;
	case K_WORKER:
		return get_string(w, v, "worker", m->worker, sizeof(m->worker)) < 0 ? -1 : 0;
	case K_NONCE:
		if (get_string(w, v, "nonce", m->nonce, sizeof(m->nonce)) < 0)
			return -1;
		if (!is_lower_hex(m->nonce))
			return fail(w, "\"nonce\" must be lowercase hexadecimal", NULL);
		return 0;
	}
	return -1;
}

/* The op named by the string token t: its index, CONTROL_UNKNOWN, or -1. */
static int find_op(struct walk *w, const jsmntok_t *t)
{
	if (t->type != JSMN_STRING)
		return fail(w, "\"op\" must be a string", NULL);
	int n = json_tok_str(w->js, t, w->op, sizeof(w->op));
	if (n == -1)
		return fail(w, "\"op\" has a bad escape", NULL);
	if (n < 0 || !utf8_valid(w->op, (size_t)n) || memchr(w->op, 0, (size_t)n))
		w->op[0] = '\0'; /* too long or not text: not shown */
	for (int i = 1; n >= 0 && i < NOPS; i++)
		if (!strcmp(ops[i].name, w->op))
			return i;
	return CONTROL_UNKNOWN;
}

/*
 * Walks the object: duplicates first (any known key), then the op, then
 * every key against it. 0 with *m filled, or -1.
 */
static int walk_object(struct walk *w, size_t len, struct control_msg *m)
{
	int n = json_parse(w->js, len, w->toks, CONTROL_TOKENS);
	if (n == -1)
		return fail(w, "%s is not valid JSON", w->what);
	if (n == -2 && w->toks[0].type == JSMN_OBJECT)
		return fail(w, "%s has too many keys", w->what);
	if (n == -2 || w->toks[0].type != JSMN_OBJECT)
		return fail(w, "%s must be a JSON object", w->what);
	memset(m, 0, sizeof(*m));
	int seen = 0, op_at = -1;
	for (int i = 0, k = 1; i < w->toks[0].size; i++, k = json_skip(w->toks, k + 1)) {
		const struct key *key = find_key(w, &w->toks[k]);
		if (!key)
			continue;
		if (seen & key->bit)
			return fail(w, "duplicate key \"%s\"", key->name);
		seen |= key->bit;
		if (key->bit == K_OP)
			op_at = k + 1;
	}
	if (op_at < 0)
		return fail(w, "missing key \"op\"", NULL);
	int op = find_op(w, &w->toks[op_at]);
	if (op < 0)
		return -1;
	m->op = (enum control_op)op;
	if (op == CONTROL_UNKNOWN)
		return 0; /* the caller decides */
	/* a request has no "time": the tasker stamps it */
	int has = ops[op].has & ~(w->strict ? K_TIME : 0);
	for (int i = 0, k = 1; i < w->toks[0].size; i++, k = json_skip(w->toks, k + 1)) {
		const struct key *key = find_key(w, &w->toks[k]);
		if (!key || !(has & key->bit)) {
			if (w->strict)
				return fail_key(w, &w->toks[k], ops[op].name);
			continue;
		}
		if (key->bit != K_OP && get_value(w, &w->toks[k + 1], key->bit, m) < 0)
			return -1;
	}
	for (const struct key *key = keys; key->name; key++)
		if ((ops[op].needs & key->bit) && !(seen & key->bit))
			return fail(w, "missing key \"%s\"", key->name);
	return 0;
}

int control_parse(const char *json, size_t len, struct control_msg *out,
		  char *err, size_t errlen)
{
	struct walk w = { .js = json, .strict = 0, .what = "control message",
			  .err = err, .errlen = errlen };
	return walk_object(&w, len, out);
}

int control_parse_request(const char *json, size_t len, struct control_msg *out,
			  char *err, size_t errlen)
{
	struct walk w = { .js = json, .strict = 1, .what = "body", .err = err,
			  .errlen = errlen };
	if (walk_object(&w, len, out) < 0)
		return -1;
	if (out->op == CONTROL_CANCEL)
		return fail(&w, "\"op\": \"cancel\" is DELETE /task/<id>, not POST /control", NULL);
	if (out->op == CONTROL_UNKNOWN || out->op == CONTROL_MARKER) {
		if (w.op[0])
			return fail(&w, "unknown \"op\" \"%s\": use \"pause\", \"resume\" or \"rate\"", w.op);
		return fail(&w, "unknown \"op\": use \"pause\", \"resume\" or \"rate\"", NULL);
	}
	return 0;
}

/* Appends "key":"value" (escaped) after a comma. */
static int put_str(buf_t *b, const char *key, const char *val)
{
	return json_put_key(b, key, 0) < 0 || json_put_str(b, val, strlen(val)) < 0
		       ? -1 : 0;
}

/* 1 when m's fields are what control_parse accepts back for its op. */
static int encodable(const struct control_msg *m)
{
	size_t wn = strnlen(m->worker, sizeof(m->worker));
	size_t nn = strnlen(m->nonce, sizeof(m->nonce));
	switch (m->op) {
	case CONTROL_CANCEL:
		return control_id_valid(m->id, strnlen(m->id, sizeof(m->id)));
	case CONTROL_RATE:
		return m->limit <= 999999999999999999ULL;
	case CONTROL_MARKER:
		return wn > 0 && wn < sizeof(m->worker) && utf8_valid(m->worker, wn) &&
		       nn > 0 && nn < sizeof(m->nonce) && is_lower_hex(m->nonce);
	case CONTROL_PAUSE:
	case CONTROL_RESUME:
		return 1;
	default:
		return 0;
	}
}

size_t control_encode(const struct control_msg *m, char *out, size_t cap)
{
	if (!encodable(m) || m->time < 0 || m->time > 999999999999999999LL)
		return 0;
	buf_t b = BUF_INIT;
	int fail = buf_printf(&b, "{\"op\":\"%s\"", ops[m->op].name) < 0;
	if (m->op == CONTROL_CANCEL)
		fail |= put_str(&b, "id", m->id) < 0;
	if (m->op == CONTROL_RATE)
		fail |= buf_printf(&b, ",\"limit\":%llu", (unsigned long long)m->limit) < 0;
	if (m->op == CONTROL_MARKER)
		fail |= put_str(&b, "worker", m->worker) < 0 ||
			put_str(&b, "nonce", m->nonce) < 0;
	if (m->time && m->op != CONTROL_MARKER)
		fail |= buf_printf(&b, ",\"time\":%lld", (long long)m->time) < 0;
	fail |= buf_puts(&b, "}") < 0;
	size_t n = fail || b.len >= cap ? 0 : b.len;
	if (n) {
		memcpy(out, b.data, n);
		out[n] = '\0';
	}
	buf_free(&b);
	return n;
}

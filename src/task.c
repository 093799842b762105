/*
 * task.c - strict task validation over jsmn tokens (a POST /task array
 * element by element as it arrives), task and notification JSON; see
 * task.h.
 */
#include "task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "os.h"
#include "url.h"
#include "utf8.h"

enum {
	F_NAME = 1,
	F_ARG = 2,
	F_TYPE = 4,
	F_SHA = 8,
	F_ID = 16
};

static const struct field {
	const char *key;
	int bit;
} fields[] = {
	{ "name", F_NAME }, { "arg", F_ARG }, { "taskType", F_TYPE },
	{ "sha256", F_SHA }, { "id", F_ID }, { NULL, 0 }
};

/* Error context: "element 3: " for arrays, "" for a single object. */
struct verr {
	char *msg;
	size_t len;
	int index; /* -1 when not in an array */
};

static int fail(struct verr *e, const char *fmt, const char *arg)
{
	char what[200];
	snprintf(what, sizeof(what), fmt, arg ? arg : "");
	if (e->index >= 0)
		snprintf(e->msg, e->len, "element %d: %s", e->index, what);
	else
		snprintf(e->msg, e->len, "%s", what);
	return -1;
}

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

static int valid_uuid(const char *s)
{
	static const int dash[] = { 8, 13, 18, 23 };
	if (strlen(s) != 36)
		return 0;
	for (int i = 0, d = 0; i < 36; i++) {
		if (d < 4 && i == dash[d]) {
			if (s[i] != '-')
				return 0;
			d++;
		} else if (!is_hex(s + i, 1)) {
			return 0;
		}
	}
	return 1;
}

/* Decodes a string value into out (outlen = max + 1); messages name the key. */
static int get_string(const char *js, const jsmntok_t *t, const char *key,
		      char *out, size_t outlen, struct verr *e)
{
	if (t->type != JSMN_STRING)
		return fail(e, "\"%s\" must be a string", key);
	int n = json_tok_str(js, t, out, outlen);
	if (n == -2) {
		char what[64];
		snprintf(what, sizeof(what), "\"%s\" is longer than %zu bytes", key,
			 outlen - 1);
		return fail(e, "%s", what);
	}
	if (n < 0)
		return fail(e, "\"%s\" has a bad escape", key);
	if (!utf8_valid(out, (size_t)n))
		return fail(e, "\"%s\" is not valid UTF-8", key);
	if (memchr(out, '\0', (size_t)n))
		return fail(e, "\"%s\" contains a NUL character", key);
	return n;
}

static int check_value(const char *js, const jsmntok_t *v, int bit,
		       struct task *t, struct verr *e)
{
	switch (bit) {
	case F_NAME: {
		int n = get_string(js, v, "name", t->name, sizeof(t->name), e);
		if (n < 0)
			return -1;
		if (n == 0)
			return fail(e, "\"name\" is empty", NULL);
		return 0;
	}
	case F_ARG: {
		int n = get_string(js, v, "arg", t->arg, sizeof(t->arg), e);
		if (n < 0)
			return -1;
		struct url u;
		const char *why;
		if (url_parse(t->arg, (size_t)n, &u, &why) < 0)
			return fail(e, "\"arg\": %s", why);
		return 0;
	}
	case F_TYPE:
		if (get_string(js, v, "taskType", t->type, sizeof(t->type), e) < 0)
			return -1;
		if (strcmp(t->type, "download") != 0)
			return fail(e, "unknown \"taskType\": only \"download\" exists", NULL);
		return 0;
	case F_SHA:
		if (get_string(js, v, "sha256", t->sha256, sizeof(t->sha256), e) < 0 ||
		    strlen(t->sha256) != 64 || !is_hex(t->sha256, 64))
			return fail(e, "\"sha256\" must be 64 hexadecimal characters", NULL);
		for (char *p = t->sha256; *p; p++)
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
		return 0;
	case F_ID:
		if (get_string(js, v, "id", t->id, sizeof(t->id), e) < 0 ||
		    !valid_uuid(t->id))
			return fail(e, "\"id\" must be a UUID", NULL);
		return 0;
	}
	return -1;
}

/* Validates the object at toks[*i]; advances *i past it. */
static int check_object(const char *js, const jsmntok_t *toks, int *i,
			int allowed, struct task *t, struct verr *e)
{
	const jsmntok_t *obj = &toks[*i];
	if (obj->type != JSMN_OBJECT)
		return fail(e, "a task must be a JSON object", NULL);
	memset(t, 0, sizeof(*t));
	int seen = 0, k = *i + 1;
	for (int n = 0; n < obj->size; n++) {
		char key[16];
		const struct field *f = NULL;
		if (json_tok_str(js, &toks[k], key, sizeof(key)) >= 0)
			for (f = fields; f->key && strcmp(f->key, key); f++)
				;
		if (!f || !f->key || !(f->bit & allowed)) {
			char shown[40] = "";
			int kn = json_tok_str(js, &toks[k], shown, sizeof(shown));
			if (kn < 0 || !utf8_valid(shown, (size_t)kn) || memchr(shown, 0, (size_t)kn))
				return fail(e, "unknown key", NULL);
			return fail(e, "unknown key \"%s\"", shown);
		}
		if (seen & f->bit)
			return fail(e, "duplicate key \"%s\"", f->key);
		seen |= f->bit;
		if (check_value(js, &toks[k + 1], f->bit, t, e) < 0)
			return -1;
		k = json_skip(toks, k + 1);
	}
	int need = F_NAME | F_ARG | F_TYPE | (allowed & F_ID);
	for (const struct field *f = fields; f->key; f++)
		if ((need & f->bit) && !(seen & f->bit))
			return fail(e, "missing key \"%s\"", f->key);
	*i = k;
	return 0;
}

/* ---- the body of POST /task, as it arrives ------------------------------ */

enum {
	SS_START,    /* before the first value */
	SS_OPEN,     /* after '[': an element or ']' */
	SS_NEXT,     /* after ',': an element */
	SS_AFTER,    /* after an element: ',' or ']' */
	SS_ELEM,     /* inside an element (or the single top-level value) */
	SS_END       /* after the whole value: only white space */
};

struct task_stream {
	int state;
	int is_array;
	int syntax_bad;          /* not JSON: wins over everything else */
	int count;               /* elements seen */
	int bad_index;           /* first bad element, -1 while none */
	char bad[200];           /* its error */
	/* the element being read */
	size_t elen;
	int too_big;             /* over TASK_MAX_ELEMENT: only scanned */
	int depth, in_str, esc;
	struct task scratch;
	buf_t kept;              /* validated tasks: name\0arg\0type\0sha\0 */
	char elem[TASK_MAX_ELEMENT];
};

task_stream_t *task_stream_new(void)
{
	task_stream_t *s = malloc(sizeof(*s));
	if (!s)
		return NULL;
	s->state = SS_START;
	s->is_array = s->syntax_bad = s->count = 0;
	s->bad_index = -1;
	s->bad[0] = '\0';
	s->elen = 0;
	s->too_big = s->depth = s->in_str = s->esc = 0;
	buf_t empty = BUF_INIT;
	s->kept = empty;
	return s;
}

void task_stream_free(task_stream_t *s)
{
	if (!s)
		return;
	buf_free(&s->kept);
	free(s);
}

size_t task_stream_cost(uint64_t len)
{
	return sizeof(struct task_stream) + (size_t)len;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void elem_error(task_stream_t *s, const char *msg)
{
	s->bad_index = s->count - 1;
	snprintf(s->bad, sizeof(s->bad), "%s", msg);
}

/* Packs a validated task: its strings one after the other. */
static int keep(task_stream_t *s, const struct task *t)
{
	const char *f[4] = { t->name, t->arg, t->type, t->sha256 };
	for (int i = 0; i < 4; i++)
		if (buf_append(&s->kept, f[i], strlen(f[i]) + 1) < 0)
			return -1;
	return 0;
}

/* A whole element (or the single top-level value) in elem: checked as
 * strict JSON, then as a task while no element before it was bad. */
static void elem_done(task_stream_t *s)
{
	s->state = s->is_array ? SS_AFTER : SS_END;
	if (s->too_big) {
		if (s->bad_index < 0 && s->count <= TASK_MAX_BATCH) {
			char msg[128];
			snprintf(msg, sizeof(msg), "larger than %d bytes of JSON "
				 "(\"name\" is at most %d bytes, \"arg\" at most %d)",
				 TASK_MAX_ELEMENT, TASK_MAX_NAME, TASK_MAX_URL);
			elem_error(s, msg);
		}
		return;
	}
	/* an object of the 4 keys a task may have is 9 tokens; more means an
	 * unknown or duplicate key, reported by check_object from the first */
	jsmntok_t toks[32];
	int n = json_parse(s->elem, s->elen, toks, 32);
	if (n == -1) {
		s->syntax_bad = 1;
		return;
	}
	if (s->bad_index >= 0 || s->count > TASK_MAX_BATCH)
		return; /* the verdict is known: only the JSON is checked */
	if (n == -2) {
		elem_error(s, toks[0].type == JSMN_OBJECT ? "too many keys"
			   : "a task must be a JSON object");
		return;
	}
	if (!s->is_array && toks[0].type != JSMN_OBJECT) {
		elem_error(s, "body must be a task object or an array of tasks");
		return;
	}
	char msg[200];
	struct verr e = { msg, sizeof(msg), -1 };
	int i = 0;
	if (check_object(s->elem, toks, &i, F_NAME | F_ARG | F_TYPE | F_SHA,
			 &s->scratch, &e) < 0)
		elem_error(s, msg);
	else if (keep(s, &s->scratch) < 0)
		elem_error(s, "out of memory");
}

/* One byte of an element; returns 1 when the byte ends the element
 * without belonging to it (a primitive's delimiter), else 0. */
static int elem_byte(task_stream_t *s, char c)
{
	if (!s->in_str && s->depth == 0 && s->elen > 0 &&
	    (c == ',' || c == ']' || c == '}' || is_ws(c)))
		return 1; /* after a number or literal */
	if (s->elen < sizeof(s->elem))
		s->elem[s->elen++] = c;
	else
		s->too_big = 1;
	if (s->in_str) {
		if (s->esc)
			s->esc = 0;
		else if (c == '\\')
			s->esc = 1;
		else if (c == '"')
			s->in_str = 0;
		else
			return 0;
		if (!s->in_str && s->depth == 0)
			elem_done(s);
		return 0;
	}
	if (c == '"') {
		s->in_str = 1;
	} else if (c == '{' || c == '[') {
		s->depth++;
	} else if (c == '}' || c == ']') {
		if (--s->depth <= 0) {
			if (s->depth < 0)
				s->syntax_bad = 1;
			elem_done(s);
		}
	}
	return 0;
}

static void elem_start(task_stream_t *s)
{
	s->count++;
	s->elen = 0;
	s->too_big = s->depth = s->in_str = s->esc = 0;
	s->state = SS_ELEM;
}

/* One byte outside any element. */
static void between(task_stream_t *s, char c)
{
	if (is_ws(c))
		return;
	switch (s->state) {
	case SS_START:
		if (c == '[') {
			s->is_array = 1;
			s->state = SS_OPEN;
			return;
		}
		elem_start(s);
		elem_byte(s, c);
		return;
	case SS_OPEN:
		if (c == ']') {
			s->state = SS_END;
			return;
		}
		/* fall through */
	case SS_NEXT:
		if (c == ']' || c == ',') {
			s->syntax_bad = 1; /* "[,": "[1,]" */
			return;
		}
		elem_start(s);
		elem_byte(s, c);
		return;
	case SS_AFTER:
		if (c == ',')
			s->state = SS_NEXT;
		else if (c == ']')
			s->state = SS_END;
		else
			s->syntax_bad = 1;
		return;
	default:
		s->syntax_bad = 1; /* something after the value */
	}
}

void task_stream_feed(task_stream_t *s, const char *p, size_t len)
{
	for (size_t i = 0; i < len && !s->syntax_bad; i++) {
		if (s->state != SS_ELEM) {
			between(s, p[i]);
			continue;
		}
		if (elem_byte(s, p[i])) {
			elem_done(s); /* a primitive ended */
			between(s, p[i]);
		}
	}
}

int task_stream_end(task_stream_t *s, int *is_array, char *err, size_t errlen)
{
	if (s->state == SS_ELEM && !s->in_str && s->depth == 0 && s->elen > 0 &&
	    !s->is_array)
		elem_done(s); /* a top-level number or literal */
	*is_array = s->is_array;
	if (s->syntax_bad || s->state != SS_END) {
		snprintf(err, errlen, "body is not valid JSON");
		return -1;
	}
	if (s->is_array && s->count == 0) {
		snprintf(err, errlen, "empty array: send 1 to %d tasks", TASK_MAX_BATCH);
		return -1;
	}
	if (s->count > TASK_MAX_BATCH) {
		snprintf(err, errlen, "array of %d tasks: at most %d", s->count,
			 TASK_MAX_BATCH);
		return -1;
	}
	if (s->bad_index >= 0) {
		if (s->is_array)
			snprintf(err, errlen, "element %d: %s", s->bad_index, s->bad);
		else
			snprintf(err, errlen, "%s", s->bad);
		return -1;
	}
	return s->count;
}

/* Copies the NUL-terminated string at *at into out (size n), moving on. */
static void unpack(const buf_t *b, size_t *at, char *out, size_t n)
{
	const char *p = b->data + *at;
	size_t len = strlen(p);
	if (len >= n)
		len = n - 1; /* cannot happen: validated against the same sizes */
	memcpy(out, p, len);
	out[len] = '\0';
	*at += strlen(p) + 1;
}

int task_stream_next(const task_stream_t *s, size_t *cursor, struct task *t)
{
	if (*cursor >= s->kept.len)
		return 0;
	memset(t, 0, sizeof(*t));
	unpack(&s->kept, cursor, t->name, sizeof(t->name));
	unpack(&s->kept, cursor, t->arg, sizeof(t->arg));
	unpack(&s->kept, cursor, t->type, sizeof(t->type));
	unpack(&s->kept, cursor, t->sha256, sizeof(t->sha256));
	return 1;
}

int task_parse_request(const char *body, size_t len, struct task **tasks,
		       int *is_array, char *err, size_t errlen)
{
	*tasks = NULL;
	*is_array = 0;
	task_stream_t *s = task_stream_new();
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	task_stream_feed(s, body, len);
	int count = task_stream_end(s, is_array, err, errlen);
	if (count > 0) {
		*tasks = malloc((size_t)count * sizeof(**tasks));
		size_t cursor = 0;
		for (int i = 0; *tasks && i < count; i++)
			task_stream_next(s, &cursor, &(*tasks)[i]);
		if (!*tasks) {
			snprintf(err, errlen, "out of memory");
			count = -1;
		}
	}
	task_stream_free(s);
	return count;
}

int task_parse_message(const char *body, size_t len, struct task *t,
		       char *err, size_t errlen)
{
	jsmntok_t toks[16];
	int n = json_parse(body, len, toks, 16);
	if (n < 0) {
		snprintf(err, errlen, "task message is not a valid JSON object");
		return -1;
	}
	struct verr e = { err, errlen, -1 };
	int i = 0;
	return check_object(body, toks, &i, F_NAME | F_ARG | F_TYPE | F_SHA | F_ID,
			    t, &e);
}

int task_new_id(char id[37])
{
	/* random bytes drawn TASK_ID_POOL at a time: one getrandom() per
	 * request was a fifth of the tasker's system calls under load */
	static unsigned char pool[TASK_ID_POOL];
	static size_t left;
	if (left < 16) {
		if (os_random(pool, sizeof(pool)) < 0)
			return -1;
		left = sizeof(pool);
	}
	unsigned char r[16];
	left -= 16;
	memcpy(r, pool + left, 16);
	memset(pool + left, 0, 16); /* an id's bytes are not kept */
	r[6] = (unsigned char)((r[6] & 0x0F) | 0x40); /* version 4 */
	r[8] = (unsigned char)((r[8] & 0x3F) | 0x80); /* RFC 4122 variant */
	static const char hex[] = "0123456789abcdef";
	char *o = id;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[r[i] >> 4];
		*o++ = hex[r[i] & 15];
	}
	*o = '\0';
	return 0;
}

static int put_str_field(buf_t *b, const char *key, const char *val)
{
	return json_put_key(b, key, 0) < 0 || json_put_str(b, val, strlen(val)) < 0
		       ? -1 : 0;
}

/* The fields every message about a task starts with. */
static int put_task_fields(buf_t *b, const struct task *t)
{
	if (buf_append(b, "{", 1) < 0 || json_put_key(b, "id", 1) < 0 ||
	    json_put_str(b, t->id, strlen(t->id)) < 0 ||
	    put_str_field(b, "name", t->name) < 0 ||
	    put_str_field(b, "arg", t->arg) < 0 ||
	    put_str_field(b, "taskType", t->type) < 0)
		return -1;
	return 0;
}

int task_message_json(buf_t *out, const struct task *t)
{
	if (put_task_fields(out, t) < 0)
		return -1;
	if (t->sha256[0] && put_str_field(out, "sha256", t->sha256) < 0)
		return -1;
	return buf_append(out, "}", 1);
}

int task_event_json(buf_t *out, const struct task_event *ev)
{
	if (put_task_fields(out, ev->task) < 0 ||
	    put_str_field(out, "status", ev->status) < 0 ||
	    buf_printf(out, ",\"time\":%lld", (long long)ev->time_ms) < 0)
		return -1;
	if (ev->worker && put_str_field(out, "worker", ev->worker) < 0)
		return -1;
	if (ev->has_bytes) {
		if (buf_printf(out, ",\"bytes\":%lld", (long long)ev->bytes) < 0)
			return -1;
		if (ev->total < 0 ? buf_puts(out, ",\"total\":null") < 0
				  : buf_printf(out, ",\"total\":%lld", (long long)ev->total) < 0)
			return -1;
	}
	if (ev->file && put_str_field(out, "file", ev->file) < 0)
		return -1;
	if (ev->sha256 && put_str_field(out, "sha256", ev->sha256) < 0)
		return -1;
	if (ev->error && put_str_field(out, "error", ev->error) < 0)
		return -1;
	if (ev->attempt && buf_printf(out, ",\"attempt\":%u", ev->attempt) < 0)
		return -1;
	if (ev->hook_status >= 0 &&
	    buf_printf(out, ",\"hook_status\":%d", ev->hook_status) < 0)
		return -1;
	return buf_append(out, "}", 1);
}

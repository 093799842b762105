/*
 * task.c - strict task validation over jsmn tokens, task and notification
 * JSON; see task.h.
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

static int tokenize(const char *body, size_t len, jsmntok_t **toks,
		    char *err, size_t errlen)
{
	/* every token takes at least two bytes of text, so this bounds it */
	size_t ntoks = len / 2 + 2;
	if (ntoks > TASK_MAX_TOKENS)
		ntoks = TASK_MAX_TOKENS;
	*toks = malloc(ntoks * sizeof(**toks));
	if (!*toks) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int n = json_parse(body, len, *toks, (unsigned)ntoks);
	if (n == -2)
		snprintf(err, errlen, "too many JSON values (at most %d tasks)",
			 TASK_MAX_BATCH);
	else if (n < 0)
		snprintf(err, errlen, "body is not valid JSON");
	if (n < 0) {
		free(*toks);
		*toks = NULL;
	}
	return n;
}

int task_parse_request(const char *body, size_t len, struct task **tasks,
		       int *is_array, char *err, size_t errlen)
{
	jsmntok_t *toks;
	*tasks = NULL;
	if (tokenize(body, len, &toks, err, errlen) < 0)
		return -1;
	int count = 1, i = 0, rc = -1;
	*is_array = toks[0].type == JSMN_ARRAY;
	if (*is_array) {
		count = toks[0].size;
		i = 1;
		if (count == 0) {
			snprintf(err, errlen, "empty array: send 1 to %d tasks", TASK_MAX_BATCH);
			goto out;
		}
		if (count > TASK_MAX_BATCH) {
			snprintf(err, errlen, "array of %d tasks: at most %d",
				 count, TASK_MAX_BATCH);
			goto out;
		}
	} else if (toks[0].type != JSMN_OBJECT) {
		snprintf(err, errlen, "body must be a task object or an array of tasks");
		goto out;
	}
	*tasks = malloc((size_t)count * sizeof(**tasks));
	if (!*tasks) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (int k = 0; k < count; k++) {
		struct verr e = { err, errlen, *is_array ? k : -1 };
		if (check_object(body, toks, &i, F_NAME | F_ARG | F_TYPE | F_SHA,
				 &(*tasks)[k], &e) < 0)
			goto out;
	}
	rc = count;
out:
	if (rc < 0) {
		free(*tasks);
		*tasks = NULL;
	}
	free(toks);
	return rc;
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
	unsigned char r[16];
	if (os_random(r, sizeof(r)) < 0)
		return -1;
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
	if (ev->hook_status >= 0 &&
	    buf_printf(out, ",\"hook_status\":%d", ev->hook_status) < 0)
		return -1;
	return buf_append(out, "}", 1);
}

/*
 * json.c - JSON writer and strict checks over jsmn tokens; see json.h.
 *
 * jsmn in strict mode still accepts a few things JSON does not (missing or
 * trailing commas, any primitive spelled with the right first letter), so
 * json_parse walks the tokens once more and checks the text between them.
 */
#define JSMN_STRICT
#define JSMN_STATIC
#include <jsmn.h>

#include "config.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int json_put_str(buf_t *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	if (buf_reserve(b, len + 2) < 0)
		return -1;
	b->data[b->len++] = '"';
	size_t run = 0; /* bytes copied as they are, flushed in one append */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			run++;
			continue;
		}
		if (buf_append(b, s + i - run, run) < 0)
			return -1;
		run = 0;
		char esc[7] = { '\\', 0 };
		size_t n = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		if (buf_append(b, esc, n) < 0)
			return -1;
	}
	if (buf_append(b, s + len - run, run) < 0)
		return -1;
	return buf_append(b, "\"", 1);
}

int json_put_key(buf_t *b, const char *key, int first)
{
	if (!first && buf_append(b, ",", 1) < 0)
		return -1;
	if (json_put_str(b, key, strlen(key)) < 0)
		return -1;
	return buf_append(b, ":", 1);
}

/* ---- strict structure check ---- */

struct walk {
	const char *js;
	size_t len, pos;
	const jsmntok_t *t;
	int n, i;
};

static void skip_ws(struct walk *w)
{
	while (w->pos < w->len && (w->js[w->pos] == ' ' || w->js[w->pos] == '\t' ||
				   w->js[w->pos] == '\n' || w->js[w->pos] == '\r'))
		w->pos++;
}

static int expect(struct walk *w, char c)
{
	skip_ws(w);
	if (w->pos >= w->len || w->js[w->pos] != c)
		return -1;
	w->pos++;
	return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* RFC 8259 number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int valid_number(const char *p, size_t n)
{
	size_t i = 0;
	if (i < n && p[i] == '-')
		i++;
	if (i >= n || !is_digit(p[i]))
		return 0;
	if (p[i] == '0')
		i++;
	else
		while (i < n && is_digit(p[i]))
			i++;
	if (i < n && p[i] == '.') {
		if (++i >= n || !is_digit(p[i]))
			return 0;
		while (i < n && is_digit(p[i]))
			i++;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (i >= n || !is_digit(p[i]))
			return 0;
		while (i < n && is_digit(p[i]))
			i++;
	}
	return i == n;
}

static int valid_primitive(const char *p, size_t n)
{
	if ((n == 4 && !memcmp(p, "true", 4)) || (n == 5 && !memcmp(p, "false", 5)) ||
	    (n == 4 && !memcmp(p, "null", 4)))
		return 1;
	return valid_number(p, n);
}

static int walk_value(struct walk *w, int depth);

static int walk_string(struct walk *w)
{
	const jsmntok_t *t = &w->t[w->i];
	if (t->type != JSMN_STRING || (size_t)t->start != w->pos + 1)
		return -1;
	for (int k = t->start; k < t->end; k++)
		if ((unsigned char)w->js[k] < 0x20)
			return -1;
	w->pos = (size_t)t->end + 1;
	w->i++;
	return 0;
}

static int walk_container(struct walk *w, int depth)
{
	const jsmntok_t *t = &w->t[w->i];
	int obj = t->type == JSMN_OBJECT, count = t->size;
	w->pos++;
	w->i++;
	for (int k = 0; k < count; k++) {
		if (k > 0 && expect(w, ',') < 0)
			return -1;
		if (obj) {
			skip_ws(w);
			if (w->i >= w->n || walk_string(w) < 0 || expect(w, ':') < 0)
				return -1;
		}
		if (walk_value(w, depth + 1) < 0)
			return -1;
	}
	if (expect(w, obj ? '}' : ']') < 0 || w->pos != (size_t)t->end)
		return -1;
	return 0;
}

static int walk_value(struct walk *w, int depth)
{
	if (depth > JSON_MAX_DEPTH || w->i >= w->n)
		return -1;
	skip_ws(w);
	const jsmntok_t *t = &w->t[w->i];
	switch (t->type) {
	case JSMN_STRING:
		return walk_string(w);
	case JSMN_PRIMITIVE:
		if ((size_t)t->start != w->pos ||
		    !valid_primitive(w->js + t->start, (size_t)(t->end - t->start)))
			return -1;
		w->pos = (size_t)t->end;
		w->i++;
		return 0;
	case JSMN_OBJECT:
	case JSMN_ARRAY:
		if ((size_t)t->start != w->pos)
			return -1;
		return walk_container(w, depth);
	default:
		return -1;
	}
}

static int json_parse_checked(const char *js, size_t len, jsmntok_t *toks, int n);

int json_parse(const char *js, size_t len, jsmntok_t *toks, unsigned ntoks)
{
	jsmn_parser p;
	jsmn_init(&p);
	int n = jsmn_parse(&p, js, len, toks, ntoks);
	if (n == JSMN_ERROR_PART && len > 0 && len < 64) {
		/* strict jsmn wants a delimiter after a top-level primitive */
		char padded[65];
		memcpy(padded, js, len);
		padded[len] = ' ';
		jsmn_init(&p);
		n = jsmn_parse(&p, padded, len + 1, toks, ntoks);
		if (n == 1 && toks[0].type == JSMN_PRIMITIVE && (size_t)toks[0].end <= len)
			return json_parse_checked(js, len, toks, n);
		return -1;
	}
	if (n == JSMN_ERROR_NOMEM)
		return -2;
	if (n <= 0)
		return -1;
	return json_parse_checked(js, len, toks, n);
}

static int json_parse_checked(const char *js, size_t len, jsmntok_t *toks, int n)
{
	struct walk w = { js, len, 0, toks, n, 0 };
	if (walk_value(&w, 0) < 0 || w.i != n)
		return -1;
	skip_ws(&w);
	return w.pos == len ? n : -1;
}

int json_tok_is(const char *js, const jsmntok_t *t, const char *s)
{
	size_t n = strlen(s);
	return t->type == JSMN_STRING && (size_t)(t->end - t->start) == n &&
	       memcmp(js + t->start, s, n) == 0;
}

int json_skip(const jsmntok_t *t, int i)
{
	int pending = 1;
	while (pending > 0) {
		pending += t[i].size - 1;
		i++;
	}
	return i;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		char c = p[k];
		v <<= 4;
		if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
		else return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) { o[0] = (char)cp; return 1; }
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Decodes the escape at p (after the backslash); returns bytes consumed or -1. */
static int unescape(const char *p, const char *end, unsigned *cp)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e = strchr(from, *p);
	if (*p && e) {
		*cp = (unsigned char)to[e - from];
		return 1;
	}
	if (*p != 'u' || end - p < 5 || hex4(p + 1, cp) < 0)
		return -1;
	if (*cp >= 0xDC00 && *cp <= 0xDFFF)
		return -1; /* lone low surrogate */
	if (*cp < 0xD800 || *cp > 0xDBFF)
		return 5;
	unsigned lo;
	if (end - p < 11 || p[5] != '\\' || p[6] != 'u' || hex4(p + 7, &lo) < 0 ||
	    lo < 0xDC00 || lo > 0xDFFF)
		return -1;
	*cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
	return 11;
}

int json_tok_str(const char *js, const jsmntok_t *t, char *out, size_t outlen)
{
	if (t->type != JSMN_STRING)
		return -1;
	if (outlen == 0)
		return -2;
	const char *p = js + t->start, *end = js + t->end;
	size_t o = 0;
	while (p < end) {
		if (*p != '\\') {
			if (outlen - o < 2)
				return -2;
			out[o++] = *p++;
			continue;
		}
		unsigned cp;
		char enc[4];
		int used = unescape(p + 1, end, &cp);
		if (used < 0)
			return -1;
		size_t n = put_utf8(enc, cp);
		if (outlen - o < n + 1)
			return -2;
		memcpy(out + o, enc, n);
		o += n;
		p += 1 + used;
	}
	out[o] = '\0';
	return (int)o;
}

int json_tok_int(const char *js, const jsmntok_t *t, int64_t *out)
{
	if (t->type != JSMN_PRIMITIVE)
		return -1;
	char tmp[24];
	size_t n = (size_t)(t->end - t->start);
	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, js + t->start, n);
	tmp[n] = '\0';
	char *e;
	long long v = strtoll(tmp, &e, 10);
	if (*e)
		return -1;
	*out = v;
	return 0;
}

static size_t array_ws(const char *js, size_t len, size_t i)
{
	while (i < len && (js[i] == ' ' || js[i] == '\t' || js[i] == '\n' ||
			   js[i] == '\r'))
		i++;
	return i;
}

/* The end of the object starting at js[i] == '{', or 0 when it has none. */
static size_t object_end(const char *js, size_t len, size_t i)
{
	size_t depth = 0;
	int in_str = 0;
	for (; i < len; i++) {
		char c = js[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return 0;
			if (--depth == 0)
				return c == '}' ? i + 1 : 0;
		}
	}
	return 0;
}

int json_array_item(const char *js, size_t len, size_t *pos, size_t *start,
		    size_t *end)
{
	size_t i = array_ws(js, len, *pos);
	if (*pos == 0) {
		if (i >= len || js[i] != '[')
			return -1;
		i = array_ws(js, len, i + 1);
		if (i < len && js[i] == ']')
			return array_ws(js, len, i + 1) == len ? (*pos = len, 0) : -1;
	} else {
		if (i >= len)
			return -1;
		if (js[i] == ']')
			return array_ws(js, len, i + 1) == len ? (*pos = len, 0) : -1;
		if (js[i] != ',')
			return -1;
		i = array_ws(js, len, i + 1);
	}
	if (i >= len || js[i] != '{')
		return -1;
	size_t e = object_end(js, len, i);
	if (!e)
		return -1;
	*start = i;
	*end = e;
	*pos = e;
	return 1;
}

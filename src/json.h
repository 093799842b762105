/*
 * json - JSON output with correct escaping, and small helpers over jsmn
 * tokens (jsmn tokenizes in strict mode into a caller-provided array; no
 * allocation). Validation of warren's own messages lives in task.
 */
#ifndef WARREN_JSON_H
#define WARREN_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define JSMN_HEADER
#include <jsmn.h>
#undef JSMN_HEADER

/* Appends s[0..len) as a quoted JSON string; control characters, '"' and
 * '\\' escaped; bytes >= 0x80 copied (callers pass valid UTF-8). */
int json_put_str(buf_t *b, const char *s, size_t len);
/* Appends "key": with the key escaped, preceded by ',' unless first. */
int json_put_key(buf_t *b, const char *key, int first);

/*
 * Tokenizes js strictly and checks what jsmn leaves loose: the punctuation
 * between tokens (',' and ':' where the grammar wants them, no trailing
 * commas), number syntax, one value and nothing after it. Returns the token
 * count, or -1 invalid JSON, -2 too many tokens.
 */
int json_parse(const char *js, size_t len, jsmntok_t *toks, unsigned ntoks);

/* 1 when token t is a string equal to s. */
int json_tok_is(const char *js, const jsmntok_t *t, const char *s);
/* Index of the token after t[i] and all its children. */
int json_skip(const jsmntok_t *t, int i);
/*
 * Decodes string token t (escapes, \u surrogate pairs) into out as UTF-8.
 * Returns the decoded length, -1 for a bad escape or a lone surrogate, or
 * -2 when the output would not fit in outlen - 1 bytes. out is
 * NUL-terminated on success.
 */
int json_tok_str(const char *js, const jsmntok_t *t, char *out, size_t outlen);
/* Parses an integer primitive token. 0 ok, -1 not an integer. */
int json_tok_int(const char *js, const jsmntok_t *t, int64_t *out);

/*
 * Walks a JSON array of objects without tokenizing them (each is judged
 * later, on its own): call with *pos = 0, then again with what it left in
 * *pos. Returns 1 with the next object at js[*start..*end), 0 at the
 * array's end (only whitespace after it), -1 when js is not an array of
 * objects (strings, escapes and nesting are followed; the objects' insides
 * are not otherwise checked).
 */
int json_array_item(const char *js, size_t len, size_t *pos, size_t *start,
		    size_t *end);

#endif

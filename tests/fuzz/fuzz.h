/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz share: an abort that
 * says why (so a broken invariant is a crash libFuzzer keeps), and a
 * splitter that cuts an input into pieces the way reads from a socket do.
 *
 * The splitter is driven by one byte taken from the input, so libFuzzer
 * explores the split points as it explores the bytes: mode 0 feeds the
 * whole input at once, 1 one byte at a time, 2 pieces of 1..16 bytes, 3
 * pieces of 1..512 bytes (sizes from a xorshift generator seeded by the
 * byte). Targets compare the result of a split feed with a whole one: a
 * resumable parser must not care where the reads ended.
 *
 * fuzz_check_chunked decodes a chunked body at once and in pieces with
 * src/chunked.h and checks both give the same bytes and verdict, and that
 * a body it accepts has chunk-size lines of the RFC 9112 grammar (an
 * oracle written apart); used by the server-side and the client-side
 * targets.
 */
#ifndef WARREN_FUZZ_H
#define WARREN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunked.h"
#include "httpmsg.h"

/* An invariant of the parser under test; a crash report when it fails. */
#define FUZZ_ASSERT(cond)                                                   \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "fuzz invariant broken %s:%d: %s\n",  \
				__FILE__, __LINE__, #cond);                 \
			abort();                                            \
		}                                                           \
	} while (0)

struct fuzz_split {
	uint32_t state;
	unsigned mode;
};

static inline void fuzz_split_init(struct fuzz_split *s, uint8_t seed)
{
	s->mode = seed & 3;
	s->state = 0x9e3779b9u ^ ((uint32_t)seed * 0x01000193u);
	if (!s->state)
		s->state = 1;
}

/* The size of the next piece, 1..left (left > 0). */
static inline size_t fuzz_split_next(struct fuzz_split *s, size_t left)
{
	size_t cap;
	switch (s->mode) {
	case 0: return left;
	case 1: return 1;
	case 2: cap = 16; break;
	default: cap = 512; break;
	}
	s->state ^= s->state << 13;
	s->state ^= s->state >> 17;
	s->state ^= s->state << 5;
	size_t n = 1 + s->state % cap;
	return n < left ? n : left;
}

/* 1 when p lies in [base, base + len] (an empty span may end at the end). */
static inline int fuzz_within(const void *p, size_t n, const void *base,
			      size_t len)
{
	const char *a = p, *b = base;
	return a >= b && a <= b + len && n <= (size_t)(b + len - a);
}

/* ---- chunked bodies, whole and in pieces (server and client) ---- */

struct fuzz_dechunk {
	long consumed;       /* bytes consumed in all */
	int bad, done;
	size_t out_len;
	char *out;           /* decoded data, at most the input's size */
};

/* Decodes in[0..len) fed in pieces chosen by split; reports in *d. */
static inline void fuzz_dechunk(const char *in, size_t len, struct fuzz_split *split,
		    struct fuzz_dechunk *d)
{
	struct chunked c;
	chunked_init(&c);
	memset(d, 0, sizeof(*d));
	d->out = malloc(len + 1);
	FUZZ_ASSERT(d->out);
	size_t pos = 0;
	while (pos < len && !d->bad && !chunked_done(&c)) {
		size_t piece = fuzz_split_next(split, len - pos);
		size_t off = 0;
		while (off < piece && !chunked_done(&c)) {
			const char *data;
			size_t dlen;
			long used = chunked_feed(&c, in + pos + off, piece - off, &data, &dlen);
			if (used < 0) {
				d->bad = 1;
				break;
			}
			FUZZ_ASSERT(used > 0 && (size_t)used <= piece - off);
			if (dlen) {
				FUZZ_ASSERT((size_t)used == dlen);
				FUZZ_ASSERT(data == in + pos + off);
				memcpy(d->out + d->out_len, data, dlen);
				d->out_len += dlen;
			}
			off += (size_t)used;
		}
		pos += off;
		d->consumed = (long)pos;
	}
	d->done = chunked_done(&c);
}

/* RFC 9110 tchar, written apart from httpmsg.c's as an oracle. */
static inline int fuzz_is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/*
 * A header field as httpmsg.c gave it, from a request or a response: it
 * lies in buf[0..len), its name is a non-empty token, its value holds no
 * CR, LF, NUL or other control byte but tab, and has no white space at
 * either end (no smuggling through the one field parser).
 */
static inline void fuzz_check_field(const struct http_header *h, const char *buf,
				    size_t len)
{
	FUZZ_ASSERT(h->name_len > 0 && fuzz_within(h->name, h->name_len, buf, len));
	FUZZ_ASSERT(fuzz_within(h->value, h->value_len, buf, len));
	for (size_t k = 0; k < h->name_len; k++)
		FUZZ_ASSERT(fuzz_is_tchar((unsigned char)h->name[k]));
	for (size_t k = 0; k < h->value_len; k++) {
		unsigned char c = (unsigned char)h->value[k];
		FUZZ_ASSERT(c >= 0x20 || c == '\t');
		FUZZ_ASSERT(c != 0x7f);
	}
	if (h->value_len) {
		FUZZ_ASSERT(h->value[0] != ' ' && h->value[0] != '\t');
		FUZZ_ASSERT(h->value[h->value_len - 1] != ' ' &&
			    h->value[h->value_len - 1] != '\t');
	}
}

/* RFC 9112 7.1.1, written apart from chunked.c as an oracle: the length
 * of the chunk-size line at p (through its LF) when it is
 *   1*HEXDIG *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
 * then CRLF or LF, else 0; its value in *size. */
static inline size_t fuzz_size_line(const char *p, size_t n, uint64_t *size)
{
	size_t i = 0;
	uint64_t v = 0;
	for (; i < n && strchr("0123456789abcdefABCDEF", p[i]) && p[i]; i++) {
		if (v >> 56)
			return 0;
		v = v * 16 + (uint64_t)(p[i] <= '9' ? p[i] - '0' : (p[i] | 0x20) - 'a' + 10);
	}
	if (i == 0)
		return 0;
	*size = v;
	for (;;) {
		size_t j = i;
		while (j < n && (p[j] == ' ' || p[j] == '\t'))
			j++;
		if (j >= n || p[j] != ';')
			break;
		for (j++; j < n && (p[j] == ' ' || p[j] == '\t'); j++)
			;
		size_t name = j;
		while (j < n && fuzz_is_tchar((unsigned char)p[j]))
			j++;
		if (j == name)
			return 0;
		i = j;
		while (j < n && (p[j] == ' ' || p[j] == '\t'))
			j++;
		if (j >= n || p[j] != '=')
			continue;
		for (j++; j < n && (p[j] == ' ' || p[j] == '\t'); j++)
			;
		if (j < n && p[j] == '"') {
			for (j++; j < n && p[j] != '"'; j++) {
				unsigned char c = (unsigned char)p[j];
				if (c == '\\') {
					j++;
					if (j >= n || ((unsigned char)p[j] < 0x20 && p[j] != '\t') ||
					    p[j] == 0x7f)
						return 0;
				} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
					return 0;
				}
			}
			if (j >= n)
				return 0;
			i = j + 1;
		} else {
			size_t val = j;
			while (j < n && fuzz_is_tchar((unsigned char)p[j]))
				j++;
			if (j == val)
				return 0;
			i = j;
		}
	}
	if (i < n && p[i] == '\n')
		return i + 1;
	if (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n')
		return i + 2;
	return 0;
}

/* A chunked body the decoder took whole: every chunk-size line in it
 * matches the grammar, and the chunks hold the data it gave. */
static inline void fuzz_check_chunk_grammar(const char *b, size_t len, size_t data_len)
{
	size_t pos = 0, total = 0;
	for (;;) {
		uint64_t sz = 0;
		size_t l = fuzz_size_line(b + pos, len - pos, &sz);
		FUZZ_ASSERT(l > 0);
		pos += l;
		if (sz == 0)
			break;
		FUZZ_ASSERT(sz <= len - pos);
		pos += (size_t)sz;
		total += (size_t)sz;
		if (pos < len && b[pos] == '\r')
			pos++;
		FUZZ_ASSERT(pos < len && b[pos] == '\n');
		pos++;
	}
	FUZZ_ASSERT(total == data_len);
}

static inline void fuzz_check_chunked(const char *body, size_t len, uint8_t seed)
{
	struct fuzz_split whole, pieces;
	struct fuzz_dechunk a, b;
	fuzz_split_init(&whole, 0);
	fuzz_split_init(&pieces, seed);
	fuzz_dechunk(body, len, &whole, &a);
	fuzz_dechunk(body, len, &pieces, &b);
	FUZZ_ASSERT(a.bad == b.bad);
	FUZZ_ASSERT(a.done == b.done);
	if (a.done)
		fuzz_check_chunk_grammar(body, (size_t)a.consumed, a.out_len);
	if (!a.bad) {
		FUZZ_ASSERT(a.consumed == b.consumed);
		FUZZ_ASSERT(a.out_len == b.out_len);
		FUZZ_ASSERT(memcmp(a.out, b.out, a.out_len) == 0);
	}
	free(a.out);
	free(b.out);
}

#endif

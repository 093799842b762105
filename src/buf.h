/*
 * buf - a growable byte buffer with a consumed-prefix offset, so a reader
 * can take bytes from the front without moving memory on every call.
 */
#ifndef WARREN_BUF_H
#define WARREN_BUF_H

#include <stddef.h>

typedef struct {
	char *data;
	size_t off; /* first unconsumed byte */
	size_t len; /* end of valid bytes (data[off..len) is pending) */
	size_t cap;
} buf_t;

#define BUF_INIT { NULL, 0, 0, 0 }

/* Pending bytes and their count. */
static inline char *buf_head(const buf_t *b) { return b->data + b->off; }
static inline size_t buf_used(const buf_t *b) { return b->len - b->off; }

/* Makes room for n more bytes at data + len. 0, or -1 on ENOMEM. */
int buf_reserve(buf_t *b, size_t n);
/* Appends n bytes. 0, or -1 on ENOMEM (b unchanged). */
int buf_append(buf_t *b, const void *p, size_t n);
/* Appends a NUL-terminated string. */
int buf_puts(buf_t *b, const char *s);
/* Appends printf output. 0, or -1 on ENOMEM or format error. */
int buf_printf(buf_t *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Drops n pending bytes from the front; resets when empty. */
void buf_consume(buf_t *b, size_t n);
/* Empties the buffer, keeping its memory. */
void buf_reset(buf_t *b);
/* Frees the memory; the buffer is then empty and reusable. */
void buf_free(buf_t *b);

#endif

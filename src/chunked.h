/*
 * chunked - a pure, resumable decoder of HTTP/1.1 chunked bodies (RFC 9112
 * section 7.1): chunk sizes in hex (2^60 and over refused), extensions
 * checked against the grammar and skipped, trailers skipped.
 * Zero-copy: data comes back as spans of the caller's input. Used by the
 * server for request bodies and by the client for responses.
 */
#ifndef WARREN_CHUNKED_H
#define WARREN_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

struct chunked {
	int state;
	uint64_t left;   /* data bytes left in the current chunk */
	size_t line;     /* bytes of the current size/trailer line so far */
	size_t trailer;  /* bytes of trailer section so far */
	int digits;      /* hex digits of the current size */
};

enum {
	CHUNKED_MAX_LINE = 1024,    /* size line with extensions */
	CHUNKED_MAX_TRAILER = 8192  /* whole trailer section */
};

/* Start (or restart) decoding. */
void chunked_init(struct chunked *c);

/*
 * Feeds up to len bytes of in. Returns the number of bytes consumed (0 only
 * when len is 0 or the body is complete), or -1 when malformed or over a
 * limit. When the consumed bytes are chunk data, *data points at them in
 * in and *data_len is their count (== the return value); otherwise
 * *data_len is 0. Call again with the rest until everything is consumed or
 * chunked_done() is true; bytes after the body are not consumed.
 */
long chunked_feed(struct chunked *c, const char *in, size_t len,
		  const char **data, size_t *data_len);

/* 1 once the last chunk and the trailers are consumed. */
int chunked_done(const struct chunked *c);

#endif

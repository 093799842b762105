/*
 * httpmsg - the HTTP/1.1 message grammar (RFC 9110, RFC 9112), shared by
 * the server (http.c) and the client (fetch.c), in picohttpparser's shape:
 * pure functions over a byte buffer, no allocation, no I/O, resumable on
 * partial input; what they return points into the caller's buffer.
 *
 * One convention for the head parsers: the head's length in bytes (> 0)
 * once complete, 0 when more bytes are needed, < 0 when it can never be
 * valid, with a static reason for a person in *why.
 */
#ifndef WARREN_HTTPMSG_H
#define WARREN_HTTPMSG_H

#include <stddef.h>
#include <stdint.h>

#ifndef HTTP_MAX_HEADERS
#include "config.h"
#endif

/* ---- characters and small values ---------------------------------------- */

/* 1 when c is an RFC 9110 tchar (method, field name, token). */
int http_is_tchar(int c);
/* The value of hex digit c, or -1. */
int http_hex_digit(int c);
/* Case-insensitive (ASCII) equality of a[0..alen) and the C string b. */
int http_ieq(const char *a, size_t alen, const char *b);
/* A decimal of 1 to 18 digits, no sign, no space (so it fits an int64_t
 * without overflow); -1 when p[0..n) is not one. */
int64_t http_parse_dec(const char *p, size_t n);

/* ---- heads ------------------------------------------------------------- */

struct http_header {
	const char *name, *value;
	size_t name_len, value_len;
};

/*
 * One header field line (without its line end): a token, ':' at once
 * (no space before it, no obs-fold), the value with optional white space
 * trimmed, no control character but tab. 0, or -1 with *why set.
 */
int http_parse_field(const char *line, size_t n, struct http_header *h,
		     const char **why);

struct http_request {
	const char *method, *target, *path, *query; /* query: NULL or after '?' */
	size_t method_len, target_len, path_len, query_len;
	int minor;                 /* HTTP/1.<minor> */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t nheaders;
	/* filled by the server, not by the parser: */
	const char *body;          /* the whole body, de-chunked; NULL when
				    * a body reader took it (body_state) */
	size_t body_len;
	void *body_state;          /* the body reader's state, or NULL */
	int keep_alive;
	int head;                  /* method is HEAD: answer without a body */
	const char *remote;        /* "addr:port" of the client */
};

/* The negative results of http_parse_request. */
enum {
	HTTP_PARSE_MORE = 0,       /* incomplete: read more */
	HTTP_PARSE_BAD = -1,       /* malformed: 400 */
	HTTP_PARSE_TOO_LARGE = -2, /* head over HTTP_MAX_HEAD: 431 */
	HTTP_PARSE_TOO_MANY = -3   /* more than HTTP_MAX_HEADERS: 431 */
};

/*
 * Parses a request line and header fields (CRLF or bare LF) from buf; the
 * request points into buf. Leading empty lines are skipped as RFC 9112
 * allows. Returns the head's length, HTTP_PARSE_MORE, or one of the
 * negative HTTP_PARSE_* values (with *why; why may be NULL).
 */
long http_parse_request(const char *buf, size_t len, struct http_request *req,
			const char **why);

/* A field value kept by http_parse_response. */
struct http_span {
	const char *p;          /* into the parsed buffer; NULL when absent */
	size_t n;
};

struct http_response {
	int minor;              /* HTTP/1.<minor> */
	int status;
	int64_t content_length; /* -1 when absent */
	int chunked;            /* Transfer-Encoding ends in chunked */
	int until_close;        /* body delimited by the connection's end */
	/* the first value of the fields a client acts on */
	struct http_span location, content_range, disposition, etag,
		last_modified, retry_after;
};

/*
 * Parses a response head (status line and header fields up to the empty
 * line; CRLF or bare LF). Returns its length, 0 when more bytes are
 * needed, or -1 (*why says how). Conflicting Content-Length values,
 * obsolete line folding, bad field names and stray bytes are errors. The
 * body framing follows RFC 9112 section 6.3 for a response to GET. No
 * limit on the head's size: the caller bounds what it buffers.
 */
long http_parse_response(const char *buf, size_t len, struct http_response *resp,
			 const char **why);

/* ---- field values ------------------------------------------------------- */

/* The value of the request's first header name (case-insensitive), or
 * NULL; *len its length (len may be NULL). */
const char *http_header(const struct http_request *req, const char *name,
			size_t *len);
/* 1 when the comma-separated list value v[0..n) holds token
 * (case-insensitive), e.g. "close" in Connection. */
int http_list_has(const char *v, size_t n, const char *token);
/* 1 when some header name of the request lists token. */
int http_header_has_token(const struct http_request *req, const char *name,
			  const char *token);
/* 1 when the request accepts a gzip-coded answer (RFC 9110 12.5.3): it
 * has no Accept-Encoding (any coding is then acceptable), or one that
 * lists gzip or x-gzip, or else "*", with a weight above 0. */
int http_accepts_gzip(const struct http_request *req);
/* Copies query parameter key (percent-decoded, '+' as space) into out.
 * 1 found, 0 not, -1 too long. */
int http_query_param(const struct http_request *req, const char *key,
		     char *out, size_t outlen);

/*
 * A Content-Range value: "bytes A-B/N" (N may be '*', total -1) or
 * "bytes * /N" (unsatisfied: first and last -1). 0, or -1 when malformed.
 */
int http_content_range(const char *s, size_t n, int64_t *first, int64_t *last,
		       int64_t *total);
/*
 * The filename parameter of a Content-Disposition value, preferring
 * filename*=UTF-8''... (RFC 6266/8187, percent-decoded) over filename="..."
 * (quoted-string unescaped). 1 when found (out NUL-terminated, NOT made
 * safe: pass it to part_safe_name), 0 when absent or unusable.
 */
int http_disposition_filename(const char *s, size_t n, char *out, size_t outlen);
/* Milliseconds asked by a Retry-After value (delay-seconds, capped at a
 * day, or an IMF-fixdate against now_s, Unix seconds), or -1 when
 * unusable. */
int64_t http_retry_after_ms(const char *s, size_t n, int64_t now_s);

#endif

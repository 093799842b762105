/*
 * test_regress_fuzz - what the fuzz targets (tests/fuzz) found, pinned as
 * unit tests so it stays as decided. Each case names the target and what
 * it showed.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "httpmsg.h"

/* Fills a head: prefix, n bytes of 'a', then suffix. Caller frees. */
static char *long_head(const char *prefix, size_t n, const char *suffix, size_t *len)
{
	size_t a = strlen(prefix), b = strlen(suffix);
	char *s = malloc(a + n + b);
	memcpy(s, prefix, a);
	memset(s + a, 'a', n);
	memcpy(s + a + n, suffix, b);
	*len = a + n + b;
	return s;
}

/*
 * fuzz_http: a header line cut by HTTP_MAX_HEAD that turns out bad once
 * whole. Read in pieces, the server stops at the limit (431); parsed
 * whole, the line is bad (400). Both refuse and close: what must never
 * happen is a head over the limit being accepted, in any split.
 */
static void test_http_head_over_limit_with_bad_line(void)
{
	struct http_request r;
	size_t len;
	char *s = long_head("GET / HTTP/1.1\r\nHost: a\r\nX: ", HTTP_MAX_HEAD, "\x01\r\n\r\n", &len);
	CHECK_INT(http_parse_request(s, len, &r, NULL), HTTP_PARSE_BAD);
	CHECK_INT(http_parse_request(s, HTTP_MAX_HEAD + 1, &r, NULL), HTTP_PARSE_TOO_LARGE);
	for (size_t k = 1; k < len; k += 97) {
		long rc = http_parse_request(s, k, &r, NULL);
		CHECK(rc == HTTP_PARSE_MORE || rc == HTTP_PARSE_TOO_LARGE);
	}
	/* the same head with a good line is still too large, whole or not */
	s[len - 5] = 'a';
	CHECK_INT(http_parse_request(s, len, &r, NULL), HTTP_PARSE_TOO_LARGE);
	free(s);
}

/*
 * fuzz_fetch: the same at the worker's FETCH_MAX_HEAD. Whole, the head is
 * malformed (-1); a prefix of FETCH_MAX_HEAD bytes has no end yet (0), so
 * the worker fails it as too large. Both are permanent failures.
 */
static void test_fetch_head_over_limit_with_bad_line(void)
{
	struct http_response h;
	const char *why = NULL;
	size_t len;
	char *s = long_head("HTTP/1.1 200 OK\r\nX: ", FETCH_MAX_HEAD, "\x01\r\n\r\n", &len);
	CHECK_INT(http_parse_response(s, len, &h, &why), -1);
	CHECK(why != NULL);
	CHECK_INT(http_parse_response(s, FETCH_MAX_HEAD, &h, &why), 0);
	s[len - 5] = 'a';
	long hl = http_parse_response(s, len, &h, &why);
	CHECK(hl > FETCH_MAX_HEAD); /* complete but over the limit: refused by fetch.c */
	free(s);
}

int main(void)
{
	test_http_head_over_limit_with_bad_line();
	test_fetch_head_over_limit_with_bad_line();
	return check_report();
}

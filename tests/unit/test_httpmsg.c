/* test_httpmsg.c - the HTTP/1.1 grammar of src/httpmsg.c: requests as the
 * server reads them, responses as the client reads them, and the field
 * value helpers. */
#include "check.h"
#include "httpmsg.h"

#include <stdlib.h>

static struct http_request req;
static struct http_response h;
static const char *why;

static long parse(const char *s) { return http_parse_request(s, strlen(s), &req, NULL); }

static long head(const char *s)
{
	why = NULL;
	return http_parse_response(s, strlen(s), &h, &why);
}

static int span_is(struct http_span s, const char *want)
{
	return s.p && s.n == strlen(want) && !memcmp(s.p, want, s.n);
}

static void test_simple_get(void)
{
	const char *s = "GET /tasks/abc?since=4&task=x%20y HTTP/1.1\r\nHost: a\r\nX-Y:  v  \r\n\r\nrest";
	long n = parse(s);
	CHECK_INT(n, (long)(strstr(s, "rest") - s));
	CHECK_INT(req.minor, 1);
	CHECK(req.method_len == 3 && !memcmp(req.method, "GET", 3));
	CHECK(req.path_len == 10 && !memcmp(req.path, "/tasks/abc", 10));
	CHECK(req.query_len == 18 && !memcmp(req.query, "since=4&task=x%20y", 18));
	CHECK_INT(req.nheaders, 2);
	size_t len;
	const char *v = http_header(&req, "x-y", &len);
	CHECK(v && len == 1 && *v == 'v');
	CHECK(http_header(&req, "host", &len) != NULL);
	CHECK(http_header(&req, "missing", &len) == NULL);
	char out[32];
	CHECK_INT(http_query_param(&req, "since", out, sizeof(out)), 1);
	CHECK_STR(out, "4");
	CHECK_INT(http_query_param(&req, "task", out, sizeof(out)), 1);
	CHECK_STR(out, "x y");
	CHECK_INT(http_query_param(&req, "nope", out, sizeof(out)), 0);
	CHECK_INT(http_query_param(&req, "task", out, 3), -1);
}

static void test_incomplete_is_more(void)
{
	const char *full = "POST /task HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n";
	/* every strict prefix asks for more input: resumable at any split */
	for (size_t i = 0; i < strlen(full); i++)
		CHECK_INT(http_parse_request(full, i, &req, NULL), HTTP_PARSE_MORE);
	CHECK_INT(parse(full), (long)strlen(full));
}

static void test_bare_lf_and_leading_blank_line(void)
{
	CHECK(parse("\r\nGET / HTTP/1.0\nA: b\n\n") > 0);
	CHECK_INT(req.minor, 0);
	CHECK_INT(req.nheaders, 1);
}

static void test_malformed(void)
{
	const char *bad[] = {
		"GARBAGE\r\n\r\n",
		"GET /\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GET / HTTP/1.1 extra\r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",
		"G(T / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nNo Colon\r\n\r\n",
		"GET / HTTP/1.1\r\nName : v\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\x01" "c\r\n\r\n",
		"GET /a\x7f HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		long rc = parse(bad[i]);
		if (rc != HTTP_PARSE_BAD)
			fprintf(stderr, "case %zu: %ld\n", i, rc);
		CHECK_INT(rc, HTTP_PARSE_BAD);
	}
}

static void test_limits(void)
{
	char *big = malloc(HTTP_MAX_HEAD + 64);
	strcpy(big, "GET / HTTP/1.1\r\nX: ");
	size_t n = strlen(big);
	memset(big + n, 'a', HTTP_MAX_HEAD);
	/* no end of head yet, but already over the limit */
	CHECK_INT(http_parse_request(big, n + HTTP_MAX_HEAD, &req, NULL), HTTP_PARSE_TOO_LARGE);
	memcpy(big + n + HTTP_MAX_HEAD - 10, "\r\n\r\n", 4);
	CHECK_INT(http_parse_request(big, n + HTTP_MAX_HEAD - 6, &req, NULL), HTTP_PARSE_TOO_LARGE);
	free(big);

	char many[8192] = "GET / HTTP/1.1\r\n";
	for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
		sprintf(many + strlen(many), "H%d: v\r\n", i);
	strcat(many, "\r\n");
	CHECK_INT(parse(many), HTTP_PARSE_TOO_MANY);
}

static void test_absolute_form(void)
{
	CHECK(parse("GET http://example.org/health?x=1 HTTP/1.1\r\nHost: e\r\n\r\n") > 0);
	CHECK(req.path_len == 7 && !memcmp(req.path, "/health", 7));
	CHECK(parse("GET http://example.org HTTP/1.1\r\nHost: e\r\n\r\n") > 0);
	CHECK(req.path_len == 1 && req.path[0] == '/');
}

static void test_head_basic(void)
{
	const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"abc\"\r\n"
			"Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
			"Content-Disposition: attachment; filename=\"a.txt\"\r\n\r\nhello";
	CHECK_INT(head(r), (long)strlen(r) - 5);
	CHECK_INT(h.minor, 1);
	CHECK_INT(h.status, 200);
	CHECK_INT(h.content_length, 5);
	CHECK_INT(h.chunked, 0);
	CHECK_INT(h.until_close, 0);
	CHECK(span_is(h.etag, "\"abc\""));
	CHECK(span_is(h.last_modified, "Sun, 06 Nov 1994 08:49:37 GMT"));
	CHECK(span_is(h.disposition, "attachment; filename=\"a.txt\""));
	CHECK(h.location.p == NULL);

	/* Every proper prefix needs more bytes: the parser is resumable. */
	size_t hl = strlen(r) - 5;
	for (size_t i = 0; i < hl; i++) {
		long rc = http_parse_response(r, i, &h, &why);
		if (rc != 0)
			fprintf(stderr, "  prefix %zu -> %ld\n", i, rc);
		CHECK_INT(rc, 0);
	}

	/* Bare LF line ends, case-insensitive names, OWS trimmed. */
	CHECK_INT(head("HTTP/1.0 301 Moved\nLOCATION:   /x  \n\n"), 37);
	CHECK_INT(h.minor, 0);
	CHECK_INT(h.status, 301);
	CHECK(span_is(h.location, "/x"));
	CHECK_INT(h.until_close, 1);
	/* No reason phrase at all. */
	CHECK(head("HTTP/1.1 204\r\n\r\n") > 0);
	CHECK_INT(h.status, 204);
	CHECK_INT(h.content_length, 0);
	/* Empty reason phrase. */
	CHECK(head("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n") > 0);
}

static void test_head_framing(void)
{
	CHECK(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") > 0);
	CHECK_INT(h.chunked, 1);
	CHECK_INT(h.content_length, -1);
	/* Transfer-Encoding wins over Content-Length (RFC 9112 6.3). */
	CHECK(head("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"
		   "Transfer-Encoding: gzip, Chunked\r\n\r\n") > 0);
	CHECK_INT(h.chunked, 1);
	CHECK_INT(h.content_length, -1);
	/* A coding other than chunked last: read to the close. */
	CHECK(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n") > 0);
	CHECK_INT(h.chunked, 0);
	CHECK_INT(h.until_close, 1);
	/* Neither: to the close. */
	CHECK(head("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n") > 0);
	CHECK_INT(h.until_close, 1);
	/* Same Content-Length twice is fine, different is not. */
	CHECK(head("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n") > 0);
	CHECK_INT(h.content_length, 7);
	CHECK_INT(head("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n"), -1);
	/* 1xx and 304 have no body. */
	CHECK(head("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n") == 25);
	CHECK_INT(h.status, 100);
	CHECK_INT(h.content_length, 0);
	CHECK(head("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n") > 0);
	CHECK_INT(h.content_length, 0);
}

static void test_head_bad(void)
{
	CHECK_INT(head("HTTP/2 200 OK\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 20 OK\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 2000 OK\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 099 OK\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 600 OK\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 200OK\r\n\r\n"), -1);
	CHECK_INT(head("ICY 200 OK\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 200 O\x01K\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), -1); /* folding */
	CHECK_INT(head("HTTP/1.1 200 OK\r\nNo colon\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 200 OK\r\n: empty\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"), -1);
	CHECK_INT(head("HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n"), -1);
	CHECK(why != NULL);
	/* obs-text in values is allowed. */
	CHECK(head("HTTP/1.1 200 OK\r\nX: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n") > 0);
}

static void test_content_range(void)
{
	int64_t a, b, t;
	CHECK_INT(http_content_range("bytes 0-99/100", 14, &a, &b, &t), 0);
	CHECK(a == 0 && b == 99 && t == 100);
	CHECK_INT(http_content_range("bytes 5-9/*", 11, &a, &b, &t), 0);
	CHECK(a == 5 && b == 9 && t == -1);
	CHECK_INT(http_content_range("bytes */1234", 12, &a, &b, &t), 0);
	CHECK(a == -1 && b == -1 && t == 1234);
	CHECK_INT(http_content_range("Bytes  7-7/8", 12, &a, &b, &t), 0);
	CHECK_INT(http_content_range("bytes */*", 9, &a, &b, &t), -1);
	CHECK_INT(http_content_range("bytes 9-5/10", 12, &a, &b, &t), -1);
	CHECK_INT(http_content_range("bytes 0-10/10", 13, &a, &b, &t), -1);
	CHECK_INT(http_content_range("items 0-1/2", 11, &a, &b, &t), -1);
	CHECK_INT(http_content_range("bytes 0-1", 9, &a, &b, &t), -1);
	CHECK_INT(http_content_range("bytes -1/2", 10, &a, &b, &t), -1);
}

static int disp(const char *v, char *out, size_t n)
{
	return http_disposition_filename(v, strlen(v), out, n);
}

static void test_disposition(void)
{
	char out[256];
	CHECK_INT(disp("attachment; filename=\"report.txt\"", out, sizeof(out)), 1);
	CHECK_STR(out, "report.txt");
	CHECK_INT(disp("attachment; filename=plain.bin", out, sizeof(out)), 1);
	CHECK_STR(out, "plain.bin");
	CHECK_INT(disp("attachment;filename=\"a\\\"b.txt\";size=3", out, sizeof(out)), 1);
	CHECK_STR(out, "a\"b.txt");
	/* filename* is preferred, wherever it stands. */
	CHECK_INT(disp("attachment; filename=\"fallback.txt\"; "
		       "filename*=UTF-8''%E2%82%AC%20rates.txt", out, sizeof(out)), 1);
	CHECK_STR(out, "\xe2\x82\xac rates.txt");
	CHECK_INT(disp("attachment; filename*=iso-8859-1'en'caf%E9", out, sizeof(out)), 1);
	CHECK_STR(out, "caf\xc3\xa9");
	/* A bad filename* falls back to filename. */
	CHECK_INT(disp("attachment; filename*=KOI8-R''x; filename=\"ok\"", out, sizeof(out)), 1);
	CHECK_STR(out, "ok");
	/* The hostile one is returned as is: part_safe_name cleans it. */
	CHECK_INT(disp("attachment; filename=\"../../etc/evil\"", out, sizeof(out)), 1);
	CHECK_STR(out, "../../etc/evil");
	CHECK_INT(disp("inline", out, sizeof(out)), 0);
	CHECK_INT(disp("attachment; name=\"x\"", out, sizeof(out)), 0);
	CHECK_INT(disp("attachment; filename=\"\"", out, sizeof(out)), 0);
	CHECK_INT(disp("attachment; filename", out, sizeof(out)), 0);
	/* a filename* too long for out leaves the filename found before it
	 * whole (it was written over, unterminated: found by fuzz_fetch) */
	char small[8];
	CHECK_INT(disp("attachment; filename=\"ok\"; filename*=UTF-8''abcdefghijklmnop",
		       small, sizeof(small)), 1);
	CHECK_STR(small, "ok");
}

static void test_retry_after(void)
{
	CHECK_INT(http_retry_after_ms("1", 1, 0), 1000);
	CHECK_INT(http_retry_after_ms(" 120 ", 5, 0), 120000);
	CHECK_INT(http_retry_after_ms("-1", 2, 0), -1);
	CHECK_INT(http_retry_after_ms("soon", 4, 0), -1);
	const char *d = "Sun, 06 Nov 1994 08:49:37 GMT";
	CHECK_INT(http_retry_after_ms(d, strlen(d), 784111777 - 10), 10000);
	CHECK_INT(http_retry_after_ms(d, strlen(d), 784111777 + 10), 0);
	const char *leap = "Thu, 29 Feb 2024 00:00:00 GMT";
	CHECK_INT(http_retry_after_ms(leap, strlen(leap), 1709164800 - 3), 3000);
	const char *bad = "Sun, 06 Foo 1994 08:49:37 GMT";
	CHECK_INT(http_retry_after_ms(bad, strlen(bad), 0), -1);
}

static void test_field_and_lists(void)
{
	struct http_header f;
	const char *w = NULL;
	CHECK_INT(http_parse_field("Name:\t v \t", 10, &f, &w), 0);
	CHECK(f.name_len == 4 && f.value_len == 1 && f.value[0] == 'v');
	CHECK_INT(http_parse_field(" x: y", 5, &f, &w), -1);
	CHECK_STR(w, "folded header line");
	CHECK_INT(http_parse_field("x y: z", 6, &f, &w), -1);
	CHECK_STR(w, "bad header name");
	CHECK_INT(http_parse_field("xyz", 3, &f, &w), -1);
	CHECK_STR(w, "header line without a name");
	CHECK_INT(http_parse_field("x: a\rb", 6, &f, &w), -1);
	CHECK_STR(w, "control character in a header value");
	CHECK(http_list_has(" keep-alive , Close", 19, "close"));
	CHECK(!http_list_has("closed, x", 9, "close"));
	CHECK_INT(http_hex_digit('F'), 15);
	CHECK_INT(http_hex_digit('g'), -1);
	CHECK_INT(http_parse_dec("999999999999999999", 18), 999999999999999999LL);
	CHECK_INT(http_parse_dec("1000000000000000000", 19), -1);
	CHECK_INT(parse("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n"), HTTP_PARSE_BAD);
	w = NULL;
	CHECK_INT(http_parse_request("BAD\r\n\r\n", 7, &req, &w), HTTP_PARSE_BAD);
	CHECK(w != NULL);
}

/* Accept-Encoding (RFC 9110 12.5.3): may the page be sent gzip-coded? */
static int gz(const char *fields)
{
	char r[512];
	snprintf(r, sizeof(r), "GET / HTTP/1.1\r\nHost: h\r\n%s\r\n", fields);
	CHECK(parse(r) > 0);
	return http_accepts_gzip(&req);
}

static void test_accepts_gzip(void)
{
	CHECK_INT(gz(""), 1); /* no Accept-Encoding: any coding will do */
	CHECK_INT(gz("Accept-Encoding: gzip\r\n"), 1);
	CHECK_INT(gz("Accept-Encoding: gzip, deflate, br, zstd\r\n"), 1);
	CHECK_INT(gz("accept-encoding: deflate , GZip;q=0.5\r\n"), 1);
	CHECK_INT(gz("Accept-Encoding: x-gzip\r\n"), 1);
	CHECK_INT(gz("Accept-Encoding: *\r\n"), 1);
	CHECK_INT(gz("Accept-Encoding: br\r\nAccept-Encoding: gzip;Q=1.000\r\n"), 1);
	CHECK_INT(gz("Accept-Encoding: gzip;q=0.001\r\n"), 1);
	/* excluded: not listed, weight 0, or only identity or nothing */
	CHECK_INT(gz("Accept-Encoding: identity\r\n"), 0);
	CHECK_INT(gz("Accept-Encoding: \r\n"), 0);
	CHECK_INT(gz("Accept-Encoding: deflate, br\r\n"), 0);
	CHECK_INT(gz("Accept-Encoding: gzip;q=0\r\n"), 0);
	CHECK_INT(gz("Accept-Encoding: gzip ; q=0.000, identity\r\n"), 0);
	CHECK_INT(gz("Accept-Encoding: *;q=0\r\n"), 0);
	CHECK_INT(gz("Accept-Encoding: *, gzip;q=0\r\n"), 0); /* the coding's own weight wins */
	CHECK_INT(gz("Accept-Encoding: gzip;q=0, *\r\n"), 0);
	CHECK_INT(gz("Accept-Encoding: *;q=0, gzip;q=0.5\r\n"), 1);
	CHECK_INT(gz("Accept-Encoding: gzipx, xgzip\r\n"), 0);
}

int main(void)
{
	test_accepts_gzip();
	test_field_and_lists();
	test_simple_get();
	test_incomplete_is_more();
	test_bare_lf_and_leading_blank_line();
	test_malformed();
	test_limits();
	test_absolute_form();
	test_head_basic();
	test_head_framing();
	test_head_bad();
	test_content_range();
	test_disposition();
	test_retry_after();
	return check_report();
}

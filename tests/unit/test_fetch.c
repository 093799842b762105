/* test_fetch.c - the pure parsers of the HTTP client. */
#include "check.h"
#include "fetch.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static struct fetch_head h;
static const char *why;

static long head(const char *s)
{
	why = NULL;
	return fetch_parse_head(s, strlen(s), &h, &why);
}

static int span_is(struct fetch_span s, const char *want)
{
	return s.p && s.n == strlen(want) && !memcmp(s.p, want, s.n);
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
		long rc = fetch_parse_head(r, i, &h, &why);
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
	CHECK_INT(fetch_parse_content_range("bytes 0-99/100", 14, &a, &b, &t), 0);
	CHECK(a == 0 && b == 99 && t == 100);
	CHECK_INT(fetch_parse_content_range("bytes 5-9/*", 11, &a, &b, &t), 0);
	CHECK(a == 5 && b == 9 && t == -1);
	CHECK_INT(fetch_parse_content_range("bytes */1234", 12, &a, &b, &t), 0);
	CHECK(a == -1 && b == -1 && t == 1234);
	CHECK_INT(fetch_parse_content_range("Bytes  7-7/8", 12, &a, &b, &t), 0);
	CHECK_INT(fetch_parse_content_range("bytes */*", 9, &a, &b, &t), -1);
	CHECK_INT(fetch_parse_content_range("bytes 9-5/10", 12, &a, &b, &t), -1);
	CHECK_INT(fetch_parse_content_range("bytes 0-10/10", 13, &a, &b, &t), -1);
	CHECK_INT(fetch_parse_content_range("items 0-1/2", 11, &a, &b, &t), -1);
	CHECK_INT(fetch_parse_content_range("bytes 0-1", 9, &a, &b, &t), -1);
	CHECK_INT(fetch_parse_content_range("bytes -1/2", 10, &a, &b, &t), -1);
}

static int disp(const char *v, char *out, size_t n)
{
	return fetch_disposition_filename(v, strlen(v), out, n);
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
}

static void test_retry_after(void)
{
	CHECK_INT(fetch_retry_after_ms("1", 1, 0), 1000);
	CHECK_INT(fetch_retry_after_ms(" 120 ", 5, 0), 120000);
	CHECK_INT(fetch_retry_after_ms("-1", 2, 0), -1);
	CHECK_INT(fetch_retry_after_ms("soon", 4, 0), -1);
	const char *d = "Sun, 06 Nov 1994 08:49:37 GMT";
	CHECK_INT(fetch_retry_after_ms(d, strlen(d), 784111777 - 10), 10000);
	CHECK_INT(fetch_retry_after_ms(d, strlen(d), 784111777 + 10), 0);
	const char *leap = "Thu, 29 Feb 2024 00:00:00 GMT";
	CHECK_INT(fetch_retry_after_ms(leap, strlen(leap), 1709164800 - 3), 3000);
	const char *bad = "Sun, 06 Foo 1994 08:49:37 GMT";
	CHECK_INT(fetch_retry_after_ms(bad, strlen(bad), 0), -1);
}

static int priv4(const char *a)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	inet_pton(AF_INET, a, &in.sin_addr);
	return fetch_addr_is_private((struct sockaddr *)&in);
}

static int priv6(const char *a)
{
	struct sockaddr_in6 in = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, a, &in.sin6_addr);
	return fetch_addr_is_private((struct sockaddr *)&in);
}

static void test_private(void)
{
	const char *yes4[] = { "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1",
			       "172.31.255.255", "192.168.1.1", "169.254.169.254",
			       "0.0.0.0", "100.64.0.1", "224.0.0.1", "255.255.255.255" };
	const char *no4[] = { "8.8.8.8", "172.15.0.1", "172.32.0.1", "192.169.0.1",
			      "100.128.0.1", "1.1.1.1", "223.255.255.255" };
	for (size_t i = 0; i < sizeof(yes4) / sizeof(*yes4); i++)
		CHECK(priv4(yes4[i]));
	for (size_t i = 0; i < sizeof(no4) / sizeof(*no4); i++)
		CHECK(!priv4(no4[i]));
	CHECK(priv6("::1"));
	CHECK(priv6("::"));
	CHECK(priv6("fe80::1"));
	CHECK(priv6("fd00::1"));
	CHECK(priv6("fc12::1"));
	CHECK(priv6("fec0::1"));
	CHECK(priv6("ff02::1"));
	CHECK(priv6("::ffff:127.0.0.1"));
	CHECK(priv6("::ffff:10.0.0.1"));
	CHECK(priv6("64:ff9b::192.168.0.1"));
	CHECK(!priv6("2001:db8::1"));
	CHECK(!priv6("2606:4700::1111"));
	CHECK(!priv6("::ffff:8.8.8.8"));
	CHECK(!priv6("64:ff9b::8.8.8.8"));
}

int main(void)
{
	test_head_basic();
	test_head_framing();
	test_head_bad();
	test_content_range();
	test_disposition();
	test_retry_after();
	test_private();
	return check_report();
}

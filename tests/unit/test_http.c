/* test_http.c - the server's own helpers in src/http.c (the grammar is
 * tested in test_httpmsg.c). */
#include "check.h"
#include "http.h"

#include <stdlib.h>

static struct http_request req;

static long parse(const char *s) { return http_parse_request(s, strlen(s), &req, NULL); }

static void test_bearer(void)
{
	CHECK(parse("GET / HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n") > 0);
	CHECK(http_bearer_ok(&req, "s3cret"));
	CHECK(!http_bearer_ok(&req, "s3cre"));
	CHECK(!http_bearer_ok(&req, "s3crett"));
	CHECK(http_bearer_ok(&req, NULL));
	CHECK(parse("GET / HTTP/1.1\r\nauthorization: bearer s3cret\r\n\r\n") > 0);
	CHECK(http_bearer_ok(&req, "s3cret"));
	CHECK(parse("GET / HTTP/1.1\r\nAuthorization: Basic s3cret\r\n\r\n") > 0);
	CHECK(!http_bearer_ok(&req, "s3cret"));
	CHECK(parse("GET / HTTP/1.1\r\n\r\n") > 0);
	CHECK(!http_bearer_ok(&req, "s3cret"));
	CHECK(http_secret_equal("abc", 3, "abc", 3));
	CHECK(!http_secret_equal("abd", 3, "abc", 3));
	CHECK(!http_secret_equal("", 0, "abc", 3));
}

static void test_reason(void)
{
	CHECK_STR(http_reason(202), "Accepted");
	CHECK_STR(http_reason(431), "Request Header Fields Too Large");
	CHECK_STR(http_reason(999), "Unknown");
}

int main(void)
{
	test_bearer();
	test_reason();
	return check_report();
}

/* test_http.c - the request parser and the header helpers of src/http.c. */
#include "check.h"
#include "http.h"

#include <stdlib.h>

static struct http_request req;

static int parse(const char *s) { return http_parse_head(s, strlen(s), &req); }

static void test_simple_get(void)
{
	const char *s = "GET /tasks/abc?since=4&task=x%20y HTTP/1.1\r\nHost: a\r\nX-Y:  v  \r\n\r\nrest";
	int n = parse(s);
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
		CHECK_INT(http_parse_head(full, i, &req), HTTP_PARSE_MORE);
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
		int rc = parse(bad[i]);
		if (rc != HTTP_PARSE_BAD)
			fprintf(stderr, "case %zu: %d\n", i, rc);
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
	CHECK_INT(http_parse_head(big, n + HTTP_MAX_HEAD, &req), HTTP_PARSE_TOO_LARGE);
	memcpy(big + n + HTTP_MAX_HEAD - 10, "\r\n\r\n", 4);
	CHECK_INT(http_parse_head(big, n + HTTP_MAX_HEAD - 6, &req), HTTP_PARSE_TOO_LARGE);
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
	test_simple_get();
	test_incomplete_is_more();
	test_bare_lf_and_leading_blank_line();
	test_malformed();
	test_limits();
	test_absolute_form();
	test_bearer();
	test_reason();
	return check_report();
}

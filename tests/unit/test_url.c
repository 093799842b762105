/* test_url.c - url_parse, url_resolve, formatting and Basic auth. */
#include "check.h"
#include "url.h"

#include <stdlib.h>

static struct url u;
static const char *why;

static int parse(const char *s)
{
	why = NULL;
	return url_parse(s, strlen(s), &u, &why);
}

/* Parses s, expecting success, and checks the parts. */
static void ok(const char *s, int https, const char *userinfo, const char *host,
	       int ipv6, unsigned port, const char *path)
{
	int rc = parse(s);
	if (rc != 0)
		fprintf(stderr, "  url %s: %s\n", s, why);
	CHECK_INT(rc, 0);
	CHECK_INT(u.https, https);
	CHECK_STR(u.userinfo, userinfo);
	CHECK_STR(u.host, host);
	CHECK_INT(u.ipv6, ipv6);
	CHECK_INT(u.port, port);
	CHECK_STR(u.path, path);
}

static void bad(const char *s)
{
	int rc = parse(s);
	if (rc != -1)
		fprintf(stderr, "  accepted bad url %s\n", s);
	CHECK_INT(rc, -1);
	CHECK(why != NULL && why[0] != '\0');
}

static void test_parse_good(void)
{
	ok("http://example.com", 0, "", "example.com", 0, 80, "/");
	ok("https://example.com", 1, "", "example.com", 0, 443, "/");
	ok("https://fr.wikipedia.org/wiki/RabbitMQ", 1, "", "fr.wikipedia.org", 0, 443,
	   "/wiki/RabbitMQ");
	ok("HTTP://Example.COM/A/B", 0, "", "example.com", 0, 80, "/A/B");
	ok("http://example.com:8080/x?y=1&z=2", 0, "", "example.com", 0, 8080, "/x?y=1&z=2");
	ok("http://example.com?q", 0, "", "example.com", 0, 80, "/?q");
	ok("http://example.com#frag", 0, "", "example.com", 0, 80, "/");
	ok("http://example.com/p#frag?x", 0, "", "example.com", 0, 80, "/p");
	ok("http://example.com/p?q#f", 0, "", "example.com", 0, 80, "/p?q");
	ok("http://example.com:/", 0, "", "example.com", 0, 80, "/");
	ok("https://example.com:65535/", 1, "", "example.com", 0, 65535, "/");
	ok("http://example.com:1/", 0, "", "example.com", 0, 1, "/");
	ok("http://example.com./", 0, "", "example.com", 0, 80, "/");
	ok("http://127.0.0.1:8080/f.bin", 0, "", "127.0.0.1", 0, 8080, "/f.bin");
	ok("http://255.255.255.255/", 0, "", "255.255.255.255", 0, 80, "/");
	ok("http://[::1]:9000/x", 0, "", "::1", 1, 9000, "/x");
	ok("http://[2001:DB8::1]/", 0, "", "2001:db8::1", 1, 80, "/");
	ok("http://[::ffff:1.2.3.4]/", 0, "", "::ffff:1.2.3.4", 1, 80, "/");
	ok("http://user:p%40ss@host/", 0, "user:p%40ss", "host", 0, 80, "/");
	ok("http://user@host:81", 0, "user", "host", 0, 81, "/");
	ok("http://u:@[::1]/", 0, "u:", "::1", 1, 80, "/");
	ok("http://a_b-c.d9/", 0, "", "a_b-c.d9", 0, 80, "/");
	ok("http://1host/", 0, "", "1host", 0, 80, "/");
	ok("http://h/%41%7e?a=%2F", 0, "", "h", 0, 80, "/%41%7e?a=%2F");
	ok("http://h/a|b{c}^`\"<>", 0, "", "h", 0, 80, "/a|b{c}^`\"<>");
}

static void test_parse_bad(void)
{
	char big[TASK_MAX_URL + 64];
	bad("");
	bad("ftp://example.com/");
	bad("example.com/x");
	bad("http:/example.com");
	bad("http://");
	bad("http:///path");
	bad("http://:80/");
	bad("http://user@/");
	bad("http://exa mple.com/");
	bad("http://example.com/a b");
	bad("http://example.com/a\tb");
	bad("http://example.com/\x7f");
	bad("http://example.com/caf\xc3\xa9");
	bad("http://ex\xc3\xa4mple.com/");
	bad("http://example.com:0/");
	bad("http://example.com:65536/");
	bad("http://example.com:123456/");
	bad("http://example.com:8a/");
	bad("http://example.com:-1/");
	bad("http://[::1/");
	bad("http://[::1]x/");
	bad("http://[::g]/");
	bad("http://[fe80::1%25eth0]/");
	bad("http://[1.2.3.4]/");
	bad("http://a@b@host/");
	bad("http://us er@host/");
	bad("http://a..b/");
	bad("http://.a/");
	bad("http://a/%");
	bad("http://a/%4");
	bad("http://a/%4g");
	bad("http://h/%41%zz");
	bad("http://127.1/");
	bad("http://0x7f.0.0.1/");
	bad("http://256.0.0.1/");
	bad("http://01.2.3.4/");
	bad("http://1.2.3.4.5/");
	bad("http://host%2ecom/");
	bad("http://ho\\st/");
	/* A label of 64 bytes, a name of 254. */
	bad("http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/");
	strcpy(big, "http://");
	for (int i = 0; i < 127; i++)
		strcat(big, "a.");
	CHECK_INT(parse(big), 0); /* 253 bytes with the trailing dot dropped */
	strcat(big, "aa");
	bad(big);

	/* Length: exactly TASK_MAX_URL passes, one more fails. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "http://h/", 9);
	big[TASK_MAX_URL] = '\0';
	CHECK_INT(parse(big), 0);
	CHECK_INT(strlen(u.path), TASK_MAX_URL - 8);
	big[TASK_MAX_URL] = 'a';
	big[TASK_MAX_URL + 1] = '\0';
	bad(big);

	/* Embedded NUL within len. */
	CHECK_INT(url_parse("http://a\0b/", 11, &u, &why), -1);
}

static void resolve(const char *base, const char *ref, const char *want)
{
	struct url b, out;
	char text[4096];
	CHECK_INT(url_parse(base, strlen(base), &b, &why), 0);
	int rc = url_resolve(&b, ref, strlen(ref), &out, &why);
	if (rc != 0)
		fprintf(stderr, "  resolve %s + %s: %s\n", base, ref, why);
	CHECK_INT(rc, 0);
	url_format(&out, 1, text, sizeof(text));
	CHECK_STR(text, want);
}

static void test_resolve(void)
{
	/* RFC 3986 section 5.4.1 normal examples (http-able ones). */
	const char *B = "http://a/b/c/d;p?q";
	resolve(B, "g", "http://a/b/c/g");
	resolve(B, "./g", "http://a/b/c/g");
	resolve(B, "g/", "http://a/b/c/g/");
	resolve(B, "/g", "http://a/g");
	resolve(B, "//g", "http://g/");
	resolve(B, "?y", "http://a/b/c/d;p?y");
	resolve(B, "g?y", "http://a/b/c/g?y");
	resolve(B, "#s", "http://a/b/c/d;p?q");
	resolve(B, "g#s", "http://a/b/c/g");
	resolve(B, "g?y#s", "http://a/b/c/g?y");
	resolve(B, ";x", "http://a/b/c/;x");
	resolve(B, "g;x", "http://a/b/c/g;x");
	resolve(B, "", "http://a/b/c/d;p?q");
	resolve(B, ".", "http://a/b/c/");
	resolve(B, "./", "http://a/b/c/");
	resolve(B, "..", "http://a/b/");
	resolve(B, "../", "http://a/b/");
	resolve(B, "../g", "http://a/b/g");
	resolve(B, "../..", "http://a/");
	resolve(B, "../../", "http://a/");
	resolve(B, "../../g", "http://a/g");
	/* 5.4.2 abnormal examples. */
	resolve(B, "../../../g", "http://a/g");
	resolve(B, "../../../../g", "http://a/g");
	resolve(B, "/./g", "http://a/g");
	resolve(B, "/../g", "http://a/g");
	resolve(B, "g.", "http://a/b/c/g.");
	resolve(B, ".g", "http://a/b/c/.g");
	resolve(B, "g..", "http://a/b/c/g..");
	resolve(B, "..g", "http://a/b/c/..g");
	resolve(B, "./../g", "http://a/b/g");
	resolve(B, "./g/.", "http://a/b/c/g/");
	resolve(B, "g/./h", "http://a/b/c/g/h");
	resolve(B, "g/../h", "http://a/b/c/h");
	resolve(B, "g;x=1/./y", "http://a/b/c/g;x=1/y");
	resolve(B, "g;x=1/../y", "http://a/b/c/y");
	resolve(B, "g?y/./x", "http://a/b/c/g?y/./x");
	/* "http:g" is absolute for a strict parser, and has no host. */
	struct url b, out;
	CHECK_INT(url_parse(B, strlen(B), &b, &why), 0);
	CHECK_INT(url_resolve(&b, "http:g", 6, &out, &why), -1);
}

static void test_resolve_more(void)
{
	struct url b, out;
	resolve("https://u:p@h:8443/dir/f", "x", "https://u:p@h:8443/dir/x");
	resolve("https://u:p@h/dir/f", "//other/y", "https://other/y");
	resolve("https://u:p@h/dir/f", "http://other/z", "http://other/z");
	resolve("http://h/a", "HTTPS://Other:444/z?q#f", "https://other:444/z?q");
	resolve("http://h/a/b", "/new path/ü", "http://h/new%20path/%C3%BC");
	resolve("http://[::1]:8000/a/b", "c", "http://[::1]:8000/a/c");
	resolve("http://h", "x", "http://h/x");
	CHECK_INT(url_parse("http://h/", 9, &b, &why), 0);
	CHECK_INT(url_resolve(&b, "ftp://h/x", 9, &out, &why), -1);
	CHECK_INT(url_resolve(&b, "javascript:alert(1)", 19, &out, &why), -1);
	CHECK_INT(url_resolve(&b, "/a\r\nX: y", 8, &out, &why), -1);
	CHECK_INT(url_resolve(&b, "//", 2, &out, &why), -1);
	char big[TASK_MAX_URL + 10];
	memset(big, 'a', sizeof(big));
	CHECK_INT(url_resolve(&b, big, sizeof(big), &out, &why), -1);
}

static void test_format(void)
{
	char out[128];
	CHECK_INT(parse("https://u:p@[::1]:8443/x?y#z"), 0);
	CHECK(url_format(&u, 1, out, sizeof(out)) > 0);
	CHECK_STR(out, "https://u:p@[::1]:8443/x?y");
	url_format(&u, 0, out, sizeof(out));
	CHECK_STR(out, "https://[::1]:8443/x?y");
	CHECK_INT(url_format(&u, 0, out, 5), -1);
	CHECK_STR(out, "");
	url_host_header(&u, out, sizeof(out));
	CHECK_STR(out, "[::1]:8443");
	CHECK_INT(parse("http://Host:80/"), 0);
	url_host_header(&u, out, sizeof(out));
	CHECK_STR(out, "host");
	CHECK_INT(parse("https://host:80/"), 0);
	url_host_header(&u, out, sizeof(out));
	CHECK_STR(out, "host:80");

	struct url a, b;
	CHECK_INT(url_parse("http://h:80/x", 13, &a, &why), 0);
	CHECK_INT(url_parse("http://H/y", 10, &b, &why), 0);
	CHECK(url_same_origin(&a, &b));
	CHECK_INT(url_parse("https://h/y", 11, &b, &why), 0);
	CHECK(!url_same_origin(&a, &b));
}

static void test_basic_auth(void)
{
	char out[512];
	/* RFC 7617's example: Aladdin:open sesame */
	CHECK_INT(parse("http://Aladdin:open%20sesame@h/"), 0);
	CHECK(url_basic_auth(&u, out, sizeof(out)) > 0);
	CHECK_STR(out, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
	CHECK_INT(parse("http://user@h/"), 0);
	url_basic_auth(&u, out, sizeof(out));
	CHECK_STR(out, "Basic dXNlcjo="); /* "user:" */
	CHECK_INT(parse("http://a:b@h/"), 0);
	url_basic_auth(&u, out, sizeof(out));
	CHECK_STR(out, "Basic YTpi");
	CHECK_INT(parse("http://h/"), 0);
	CHECK_INT(url_basic_auth(&u, out, sizeof(out)), 0);
	CHECK_INT(parse("http://a:%0a@h/"), 0);
	CHECK_INT(url_basic_auth(&u, out, sizeof(out)), -1);
	CHECK_INT(parse("http://abcdef:g@h/"), 0);
	CHECK_INT(url_basic_auth(&u, out, 8), -1);

	CHECK_INT(url_pct_decode("a%2Fb%zz%", 9, out, sizeof(out)), 7);
	CHECK_STR(out, "a/b%zz%");
	CHECK_INT(url_pct_decode("abc", 3, out, 3), -1);
}

int main(void)
{
	test_parse_good();
	test_parse_bad();
	test_resolve();
	test_resolve_more();
	test_format();
	test_basic_auth();
	return check_report();
}

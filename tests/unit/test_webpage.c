/* test_webpage.c - the tasker's URL checked and written into the page. */
#include "check.h"
#include "page.h"
#include "webpage.h"

static const char *why;

static int check(const char *s)
{
	why = NULL;
	return webpage_check_tasker_url(s, &why);
}

static void bad(const char *s, const char *want)
{
	CHECK_INT(check(s), -1);
	CHECK(why && strstr(why, want));
}

static void built(const char *url, const char *tag)
{
	buf_t b = BUF_INIT;
	CHECK_INT(webpage_build(url, &b), 0); /* out of memory: b stays empty */
	CHECK(b.len >= page_html_len);
	if (buf_reserve(&b, 1) < 0)
		return;
	b.data[b.len] = '\0';
	CHECK(strstr(b.data, tag) != NULL);
	/* the rest of the page is as it was */
	CHECK(b.len > 7 && !memcmp(b.data + b.len - 8, "</html>\n", 8));
	CHECK_INT(b.len - page_html_len, strlen(tag) - strlen("<meta name=\"tasker\" content=\"\">"));
	buf_free(&b);
}

int main(void)
{
	CHECK_INT(check("http://127.0.0.1:8080"), 0);
	CHECK_INT(check("https://router.lan/warren/"), 0);
	CHECK_INT(check("http://[::1]:8080/"), 0);
	bad("", "empty");
	bad("ftp://h", "http");
	bad("http://", "host");
	bad("http://h:0", "port");
	bad("http://u@h", "user or password");
	bad("http://h/?a=1", "query");
	bad("http://h/#x", "fragment");
	bad("http://h/a b", "");

	built(NULL, "<meta name=\"tasker\" content=\"\">");
	built("", "<meta name=\"tasker\" content=\"\">");
	built("http://h:1/a&b\"c'<d>", "<meta name=\"tasker\" "
	      "content=\"http://h:1/a&amp;b&quot;c&#39;&lt;d&gt;\">");
	/* appended after what the buffer held */
	buf_t b = BUF_INIT;
	CHECK_INT(buf_puts(&b, "x"), 0);
	CHECK_INT(webpage_build("http://h", &b), 0);
	CHECK(b.data[0] == 'x' && !memcmp(b.data + 1, page_html, 20));
	buf_free(&b);
	return check_report();
}

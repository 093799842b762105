/* test_webpage.c - the tasker's URL checked and written into the page,
 * which is served gzip-compressed: each built page is decompressed by
 * gzip(1), which also checks its CRC and length, and compared with
 * $BUILD/gen/page.html, the page as the build made it from src/page.html
 * (indentation and one-line comments left out); that one is compared with
 * src/page.html (the tests run from the top of the tree). */
#include "check.h"
#include "page.h"
#include "webpage.h"

#include <stdlib.h>

static const char *why;
static buf_t page; /* $BUILD/gen/page.html */
static const char empty_tag[] = "<meta name=\"tasker\" content=\"\">";

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

static int read_file(const char *path, buf_t *out)
{
	FILE *f = fopen(path, "rb");
	char chunk[4096];
	size_t n;
	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(out, chunk, n) < 0)
			break;
	int err = ferror(f) || !feof(f);
	fclose(f);
	return err ? -1 : 0;
}

static size_t lines(const buf_t *b)
{
	size_t n = 0;
	for (size_t i = 0; i < b->len; i++)
		n += b->data[i] == '\n';
	return n;
}

/* gzip -dc of gz[0..n) into out; 0, or -1 when gzip refuses it. */
static int gunzip(const char *gz, size_t n, buf_t *out)
{
	char in[] = "/tmp/warren-test-webpage-XXXXXX", cmd[128];
	int fd = mkstemp(in);
	FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (!f)
		return -1;
	int ok = fwrite(gz, 1, n, f) == n;
	ok = !fclose(f) && ok;
	snprintf(cmd, sizeof(cmd), "gzip -dc < %s > %s.out", in, in);
	ok = ok && system(cmd) == 0;
	snprintf(cmd, sizeof(cmd), "%s.out", in);
	ok = ok && read_file(cmd, out) == 0;
	remove(cmd);
	remove(in);
	return ok ? 0 : -1;
}

/* The page built with url is page.html with its empty tag replaced by tag. */
static void built(const char *url, const char *tag)
{
	buf_t b = BUF_INIT, text = BUF_INIT, want = BUF_INIT;
	CHECK_INT(webpage_build(url, &b), 0);
	CHECK(b.len > 18 && (unsigned char)b.data[0] == 0x1f &&
	      (unsigned char)b.data[1] == 0x8b);
	CHECK_INT(gunzip(b.data, b.len, &text), 0);
	const char *at = page.data ? strstr(page.data, empty_tag) : NULL;
	CHECK(at != NULL);
	if (at) {
		size_t pre = (size_t)(at - page.data), rest = pre + sizeof(empty_tag) - 1;
		CHECK_INT(buf_append(&want, page.data, pre), 0);
		CHECK_INT(buf_puts(&want, tag), 0);
		CHECK_INT(buf_append(&want, page.data + rest, page.len - rest), 0);
	}
	CHECK_INT(text.len, want.len);
	CHECK(text.len == want.len && !memcmp(text.data, want.data, want.len));
	CHECK(text.len > 7 && !memcmp(text.data + text.len - 8, "</html>\n", 8));
	/* compressed: well under the text's size */
	CHECK(b.len < want.len / 2 + (url ? 6 * strlen(url) : 0));
	buf_free(&b);
	buf_free(&text);
	buf_free(&want);
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

	char path[4096];
	const char *build = getenv("BUILD");
	snprintf(path, sizeof(path), "%s/gen/page.html", build ? build : "build");
	CHECK_INT(read_file(path, &page), 0);
	CHECK(page.len > 1000 && buf_append(&page, "", 1) == 0); /* a NUL after it */
	page.len--;
	/* the source, line for line, only shorter */
	buf_t src = BUF_INIT;
	CHECK_INT(read_file("src/page.html", &src), 0);
	CHECK_INT(lines(&page), lines(&src));
	CHECK(page.len < src.len);
	buf_free(&src);
	built(NULL, empty_tag);
	built("", empty_tag);
	built("http://h:1/a&b\"c'<d>", "<meta name=\"tasker\" "
	      "content=\"http://h:1/a&amp;b&quot;c&#39;&lt;d&gt;\">");
	/* head and URL over 65,535 bytes: more than one stored block */
	buf_t url = BUF_INIT, tag = BUF_INIT;
	CHECK_INT(buf_puts(&url, "http://h/"), 0);
	CHECK_INT(buf_puts(&tag, "<meta name=\"tasker\" content=\"http://h/"), 0);
	int ok = 1;
	for (int i = 0; i < 17000; i++)
		ok = ok && buf_puts(&url, "<") == 0 && buf_puts(&tag, "&lt;") == 0;
	CHECK(ok);
	CHECK_INT(buf_append(&tag, "\">", 3), 0); /* with the NUL */
	CHECK_INT(buf_append(&url, "", 1), 0);
	built(url.data, tag.data);
	buf_free(&url);
	buf_free(&tag);
	/* appended after what the buffer held */
	buf_t b = BUF_INIT;
	CHECK_INT(buf_puts(&b, "x"), 0);
	CHECK_INT(webpage_build("http://h", &b), 0);
	CHECK(b.data[0] == 'x' && (unsigned char)b.data[1] == 0x1f);
	buf_free(&b);
	buf_free(&page);
	return check_report();
}

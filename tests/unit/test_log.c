/* test_log.c - a log message is one line whatever its arguments hold:
 * control characters, bytes that are not UTF-8, C1 controls, line
 * separators and bidi overrides are escaped, the backslash too, valid
 * UTF-8 is kept, and a long message is cut on a whole escape. */
#include "check.h"
#include "config.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[] = "/tmp/test_log.XXXXXX";
static int saved_stderr;

/* Logs msg (as an argument, as call sites do) and returns the message part
 * of what was written, without the timestamp and level; NULL if the output
 * was not exactly one line. */
static const char *logged(const char *msg)
{
	static char out[4 * LOG_MAX_LINE];
	FILE *f = fopen(path, "w+");
	if (!f)
		return NULL;
	fflush(stderr);
	dup2(fileno(f), 2);
	log_warn("m=%s", msg);
	fflush(stderr);
	dup2(saved_stderr, 2);
	rewind(f);
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	fclose(f);
	out[n] = '\0';
	char *nl = strchr(out, '\n');
	if (!nl || nl[1] != '\0')
		return NULL; /* no line, or more than one */
	*nl = '\0';
	char *m = strstr(out, " warn: m=");
	return m ? m + 9 : NULL;
}

int main(void)
{
	int fd = mkstemp(path);
	if (fd < 0)
		return 1;
	close(fd);
	saved_stderr = dup(2);
	log_open("test", 0);

	CHECK_STR(logged("plain text, ünïcödé ok"), "plain text, ünïcödé ok");
	/* a forged line, as a request path or a task name could carry it */
	CHECK_STR(logged("/x\n2026-01-01T00:00:00.000Z tasker info: forged"),
		  "/x\\n2026-01-01T00:00:00.000Z tasker info: forged");
	CHECK_STR(logged("a\rb\tc"), "a\\rb\\tc");
	CHECK_STR(logged("esc\x1b[2Jbell\x07" "del\x7f"), "esc\\x1b[2Jbell\\x07del\\x7f");
	/* the backslash itself, so "\n" in a log is always an escape */
	CHECK_STR(logged("C:\\n"), "C:\\\\n");
	/* not UTF-8: a lone continuation, an overlong, a cut sequence */
	CHECK_STR(logged("\x80" "a\xc0\xaf" "b\xe2\x82"), "\\x80a\\xc0\\xafb\\xe2\\x82");
	/* C1 controls (U+0085 NEL, U+009B CSI) in UTF-8 */
	CHECK_STR(logged("x\xc2\x85y\xc2\x9bz"), "x\\xc2\\x85y\\xc2\\x9bz");
	/* U+2028 LINE SEPARATOR and U+202E RIGHT-TO-LEFT OVERRIDE; U+20AC kept */
	CHECK_STR(logged("\xe2\x80\xa8|\xe2\x80\xae|\xe2\x82\xac"),
		  "\\xe2\\x80\\xa8|\\xe2\\x80\\xae|\xe2\x82\xac");
	CHECK_STR(logged("\xf0\x9f\x90\x87 rabbit"), "\xf0\x9f\x90\x87 rabbit");

	/* a message of newlines is cut on whole escapes, still one line */
	char *many = malloc(LOG_MAX_LINE);
	memset(many, '\n', LOG_MAX_LINE - 1);
	many[LOG_MAX_LINE - 1] = '\0';
	const char *got = logged(many);
	CHECK(got != NULL);
	if (got) {
		size_t len = strlen(got);
		CHECK(len < LOG_MAX_LINE && len > LOG_MAX_LINE - 8);
		CHECK(len % 2 == 0); /* "m=" went before; every escape whole */
		CHECK(strspn(got, "\\n") == len);
	}
	free(many);
	unlink(path);
	return check_report();
}

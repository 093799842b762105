/*
 * fuzz_options - what a person or an init script hands a program at start:
 * the command line through opt_parse, the broker URL (mq_check_url, and
 * url_redact_amqp that makes it fit for logs) and the listen address
 * (net_check_listen).
 *
 * Input: NUL-separated arguments (argv[1..]); the first one is also given
 * to every check on its own, so each sees arbitrary bytes, not only what
 * survived opt_parse.
 *
 * opt_parse exits (2 on a bad option or value, 0 for --help/--version), as
 * a program must; this target is linked with -Wl,--wrap=exit so that exit
 * jumps back here instead, which also checks the exit status.
 *
 * Invariants checked besides memory safety:
 * - options land where the table says, numbers within their maximum;
 * - a URL mq_check_url accepts that carries a password (the AMQP URI
 *   grammar: user ':' password '@' host, the userinfo ending at the
 *   authority's last '@') is logged with exactly that password replaced by
 *   "***"; the output is always a terminated string within its buffer,
 *   however small;
 * - a listen address accepted has a port of 0..65535 in decimal.
 */
#include <setjmp.h>
#include <string.h>
#include <strings.h>

#include "mq.h"
#include "url.h"
#include "net.h"
#include "opt.h"
#include "fuzz.h"

void __real_exit(int status) __attribute__((noreturn));
void __wrap_exit(int status) __attribute__((noreturn));

static jmp_buf back;
static int in_parse, exit_status;

void __wrap_exit(int status)
{
	if (!in_parse)
		__real_exit(status); /* libFuzzer's own exit */
	exit_status = status;
	longjmp(back, 1);
}

/*
 * The password of an amqp:// URL as the AMQP URI spec and mq.c read it:
 * the authority runs from "://" to the first '/', '?' or '#'; the userinfo
 * ends at its last '@'; the password follows the userinfo's first ':'.
 * [from, to) of url.
 */
static int find_password(const char *url, size_t *from, size_t *to)
{
	if (strncasecmp(url, "amqp://", 7) != 0)
		return 0;
	size_t a = 7, end = a + strcspn(url + a, "/?#"), at = 0, colon = 0;
	for (size_t i = a; i < end; i++)
		if (url[i] == '@')
			at = i;
	if (!at)
		return 0;
	for (size_t i = a; i < at && !colon; i++)
		if (url[i] == ':')
			colon = i;
	if (!colon)
		return 0;
	*from = colon + 1;
	*to = at;
	return 1;
}

static void check_url(const char *url)
{
	char err[256], out[512], tiny[8];
	err[0] = '\0';
	int ok = mq_check_url(url, err, sizeof(err)) == 0;
	if (!ok)
		FUZZ_ASSERT(err[0] && strlen(err) < sizeof(err));
	url_redact_amqp(url, out, sizeof(out));
	FUZZ_ASSERT(strlen(out) < sizeof(out));
	url_redact_amqp(url, tiny, sizeof(tiny));
	FUZZ_ASSERT(strlen(tiny) < sizeof(tiny));
	size_t from, to;
	if (!ok || !find_password(url, &from, &to) || strlen(url) + 8 > sizeof(out))
		return;
	char want[512];
	snprintf(want, sizeof(want), "%.*s***%s", (int)from, url, url + to);
	if (strcmp(out, want) != 0)
		fprintf(stderr, "redacted \"%s\" as \"%s\", want \"%s\"\n", url, out, want);
	FUZZ_ASSERT(strcmp(out, want) == 0);
}

static void check_listen(const char *spec)
{
	if (net_check_listen(spec) != 0)
		return;
	const char *colon = strrchr(spec, ':');
	const char *port = colon ? colon + 1 : spec;
	FUZZ_ASSERT(*port && strspn(port, "0123456789") == strlen(port));
	FUZZ_ASSERT(strtol(port, NULL, 10) <= 65535);
}

enum { MAX_ARGS = 24 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* NUL-separated arguments, the last one terminated here */
	char *copy = malloc(size + 1);
	FUZZ_ASSERT(copy);
	memcpy(copy, data, size);
	copy[size] = '\0';
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	argv[argc++] = "worker";
	for (char *p = copy; p <= copy + size && argc <= MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;

	check_url(argv[1]);
	check_listen(argv[1]);

	static const char *amqp, *listen, *token;
	static unsigned long heartbeat, concurrency;
	static int deny;
	amqp = "amqp://guest:guest@127.0.0.1:5672";
	listen = "0.0.0.0:8080";
	token = NULL;
	heartbeat = 30;
	concurrency = 1;
	deny = 0;
	const struct opt opts[] = {
		{ "amqp", NULL, OPT_STR, &amqp, 0, "URL", "broker" },
		{ "listen", NULL, OPT_STR, &listen, 0, "[ADDR:]PORT", "listen" },
		{ "token", NULL, OPT_STR, &token, 0, "SECRET", "token" },
		{ "heartbeat", NULL, OPT_UINT, &heartbeat, 3600, "N", "seconds" },
		{ "concurrency", NULL, OPT_UINT, &concurrency, 1024, "N", "tasks" },
		{ "deny-private", NULL, OPT_FLAG, &deny, 0, NULL, "deny" },
		{ NULL, NULL, 0, NULL, 0, NULL, NULL }
	};
	exit_status = -1;
	in_parse = 1;
	if (setjmp(back) == 0) {
		int first = opt_parse("worker", "fuzz", opts, argc, argv);
		in_parse = 0;
		FUZZ_ASSERT(first >= 1 && first <= argc);
		FUZZ_ASSERT(heartbeat <= 3600 && concurrency <= 1024);
		FUZZ_ASSERT(deny == 0 || deny == 1);
		check_url(amqp);
		check_listen(listen);
		if (token)
			FUZZ_ASSERT(token >= copy && token <= copy + size);
	} else {
		in_parse = 0;
		FUZZ_ASSERT(exit_status == 0 || exit_status == 2);
	}
	free(copy);
	return 0;
}

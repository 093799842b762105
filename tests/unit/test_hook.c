/* test_hook.c - the --on-complete runner: status, environment, no shell,
 * bounded run time, a program that cannot run. */
#include "check.h"
#include "hook.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/warren-test-hook-XXXXXX";
static int status = -2;

static void on_done(void *arg, int st)
{
	loop_t *loop = arg;
	status = st;
	loop_stop(loop);
}

static void script(const char *name, const char *body, char *path, size_t n)
{
	snprintf(path, n, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(path, 0755);
}

/* Runs path with vars and timeout; the status, or -2 when done never came. */
static int run(loop_t *loop, const char *path, const char *const vars[], unsigned tmo)
{
	char err[256];
	status = -2;
	hook_t *h = hook_start(loop, path, vars, tmo, on_done, loop, err, sizeof(err));
	CHECK(h != NULL);
	if (!h)
		return -2;
	loop_run(loop);
	return status;
}

static char *slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

int main(void)
{
	char path[512], out[512], body[1024];
	loop_t *loop = loop_new();
	CHECK(mkdtemp(dir) != NULL);
	const char *none[] = { NULL };

	script("ok", "exit 0", path, sizeof(path));
	CHECK_INT(run(loop, path, none, 10), 0);
	script("three", "exit 3", path, sizeof(path));
	CHECK_INT(run(loop, path, none, 10), 3);

	/* The variables arrive as given (a shell would expand these); none of
	 * the worker's own settings nor anything else of its environment
	 * does, only the basics; stdin is /dev/null. */
	snprintf(out, sizeof(out), "%s/env.txt", dir);
	snprintf(body, sizeof(body),
		 "{ printf '%%s|%%s|%%s|%%s|%%s|%%s|%%s\\n' \"$WARREN_NAME\" "
		 "\"${WARREN_AMQP_URL-unset}\" \"${WARREN_TOKEN-unset}\" "
		 "\"${WARREN_DIR-unset}\" \"${OTHER-unset}\" \"$HOME\" \"$LC_ALL\"; "
		 "cat; } > '%s'", out);
	script("env", body, path, sizeof(path));
	setenv("WARREN_AMQP_URL", "amqp://u:secret@h", 1);
	setenv("WARREN_TOKEN", "secret", 1);
	setenv("WARREN_DIR", "/srv", 1);
	setenv("OTHER", "x", 1);
	setenv("HOME", "/home/h", 1);
	setenv("LC_ALL", "C", 1);
	setenv("WARREN_NAME", "old value", 1);
	const char *vars[] = { "WARREN_NAME=$(id) `x` ; \"q\"", NULL };
	CHECK_INT(run(loop, path, vars, 10), 0);
	CHECK_STR(slurp(out), "$(id) `x` ; \"q\"|unset|unset|unset|unset|/home/h|C\n");

	/* Past its time: SIGTERM to its group, reported as 128 + 15. */
	script("sleepy", "sleep 30", path, sizeof(path));
	time_t t0 = time(NULL);
	CHECK_INT(run(loop, path, none, 1), 128 + SIGTERM);
	CHECK(time(NULL) - t0 <= 4);
	/* One that ignores SIGTERM gets SIGKILL two seconds later. */
	script("stubborn", "trap '' TERM; sleep 30 & wait; sleep 30", path, sizeof(path));
	t0 = time(NULL);
	int st = run(loop, path, none, 1);
	CHECK(st == 128 + SIGKILL);
	CHECK(time(NULL) - t0 <= 6);

	/* A program that cannot run: 127, as a shell would say. */
	snprintf(path, sizeof(path), "%s/missing", dir);
	CHECK_INT(run(loop, path, none, 10), 127);
	script("noexec", "exit 0", path, sizeof(path));
	chmod(path, 0644);
	CHECK_INT(run(loop, path, none, 10), 127);

	/* Cancelled: killed and reaped at once, no callback. */
	char err[256];
	script("long", "sleep 30", path, sizeof(path));
	status = -2;
	hook_t *h = hook_start(loop, path, none, 10, on_done, loop, err, sizeof(err));
	CHECK(h != NULL);
	hook_cancel(h);
	CHECK_INT(status, -2);

	snprintf(body, sizeof(body), "rm -rf '%s'", dir);
	CHECK(system(body) == 0);
	loop_free(loop);
	return check_report();
}

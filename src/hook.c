/*
 * hook.c - the --on-complete program; see hook.h. The child is watched by a
 * 100 ms timer calling waitpid(pid, WNOHANG) for that pid only: no SIGCHLD
 * handler, so other children (name lookups) are never reaped by mistake.
 */
#include "hook.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct hook {
	loop_t *loop;
	pid_t pid;
	hook_done_fn done;
	void *arg;
	uint64_t timer;
	int64_t deadline;       /* SIGTERM then */
	int64_t kill_at;        /* SIGKILL then, once SIGTERM went */
};

/* What a program expects of any environment; nothing else of the worker's
 * (its WARREN_* settings hold the broker's and the tasker's secrets). */
static int basic(const char *e)
{
	static const char *const keep[] = { "PATH=", "HOME=", "USER=", "LOGNAME=",
					    "SHELL=", "TZ=", "TMPDIR=", "LANG=",
					    "LANGUAGE=", "LC_", NULL };
	for (size_t i = 0; keep[i]; i++)
		if (!strncmp(e, keep[i], strlen(keep[i])))
			return 1;
	return 0;
}

/* The basics of the worker's environment, then vars. */
static char **make_env(const char *const vars[])
{
	size_t n = 0, k = 0, v = 0;
	while (environ[n])
		n++;
	while (vars[v])
		v++;
	char **env = malloc((n + v + 1) * sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (basic(environ[i]))
			env[k++] = environ[i];
	for (size_t i = 0; i < v; i++)
		env[k++] = (char *)vars[i];
	env[k] = NULL;
	return env;
}

static void child(const char *path, char **env)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Ignored signals stay ignored across exec: give the hook defaults. */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	setpgid(0, 0);
	int null = open("/dev/null", O_RDONLY);
	if (null >= 0) {
		dup2(null, 0);
		if (null > 2)
			close(null);
	}
	char *argv[] = { (char *)path, NULL };
	execve(path, argv, env);
	dprintf(2, "worker: cannot run %s: %s\n", path, strerror(errno));
	_exit(127);
}

static int64_t on_poll(loop_t *loop, void *arg)
{
	hook_t *h = arg;
	int st;
	pid_t r = waitpid(h->pid, &st, WNOHANG);
	if (r == h->pid || (r < 0 && errno == ECHILD)) {
		int status = r < 0 ? 127 : WIFEXITED(st) ? WEXITSTATUS(st)
			   : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 127;
		hook_done_fn done = h->done;
		void *darg = h->arg;
		free(h);
		done(darg, status);
		return LOOP_TIMER_STOP;
	}
	int64_t now = loop_now(loop);
	if (!h->kill_at && now >= h->deadline) {
		kill(-h->pid, SIGTERM);
		h->kill_at = now + HOOK_KILL_GRACE_MS;
	} else if (h->kill_at && now >= h->kill_at) {
		kill(-h->pid, SIGKILL);
	}
	return HOOK_POLL_MS;
}

hook_t *hook_start(loop_t *loop, const char *path, const char *const vars[],
		   unsigned timeout_s, hook_done_fn done, void *arg,
		   char *err, size_t errlen)
{
	hook_t *h = calloc(1, sizeof(*h));
	char **env = make_env(vars);
	if (!h || !env) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	h->loop = loop;
	h->done = done;
	h->arg = arg;
	h->deadline = loop_now(loop) + (int64_t)timeout_s * 1000;
	h->timer = loop_every(loop, HOOK_POLL_MS, on_poll, h);
	if (!h->timer) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	h->pid = fork();
	if (h->pid == 0)
		child(path, env);
	if (h->pid < 0) {
		snprintf(err, errlen, "cannot start %s: %s", path, strerror(errno));
		loop_timer_cancel(loop, h->timer);
		goto fail;
	}
	/* Also from here, so that a kill of the group cannot miss a child
	 * that has not run setpgid yet. */
	setpgid(h->pid, h->pid);
	free(env);
	return h;
fail:
	free(env);
	free(h);
	return NULL;
}

void hook_cancel(hook_t *h)
{
	if (!h)
		return;
	kill(-h->pid, SIGKILL);
	kill(h->pid, SIGKILL);
	while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
		;
	loop_timer_cancel(h->loop, h->timer);
	free(h);
}

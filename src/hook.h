/*
 * hook - runs the --on-complete program after a download: fork and execve,
 * no shell, so nothing in a URL or a task name is ever interpreted; the
 * program gets the variables given plus only the basics of the worker's
 * environment (PATH, HOME, USER, LOGNAME, SHELL, TZ, TMPDIR, LANG, LANGUAGE,
 * LC_*; none of the worker's settings), stdin from /dev/null, stdout and
 * stderr shared with the worker, its own process group, and a bounded run
 * time (SIGTERM to the group, SIGKILL 2 s later).
 */
#ifndef WARREN_HOOK_H
#define WARREN_HOOK_H

#include <stddef.h>

#include "loop.h"

typedef struct hook hook_t;

/* status: the exit code; 128 + the signal that ended it (the shell's way);
 * 127 when the program could not be executed. */
typedef void (*hook_done_fn)(void *arg, int status);

/*
 * Starts path with the "NAME=value" strings of vars (NULL-terminated)
 * added to the environment (replacing variables of the same name). done is
 * called once from the loop when it has ended; the hook is then freed.
 * NULL with err when it cannot be started (fork failed, ENOMEM).
 */
hook_t *hook_start(loop_t *loop, const char *path, const char *const vars[],
		   unsigned timeout_s, hook_done_fn done, void *arg,
		   char *err, size_t errlen);
/* Kills the program's group at once and reaps it; done is not called. */
void hook_cancel(hook_t *h);

#endif

/*
 * loop - a poll() event loop: file-descriptor watches, one-shot and periodic
 * timers and signals, nothing else. It knows no protocol. Single-threaded;
 * callbacks may add or remove watches and timers (including their own)
 * freely.
 *
 * Order within one iteration (loop_once), which callers may rely on:
 * 1. poll() waits for the fds, at most until the first timer is due;
 * 2. the callbacks of every fd it reported run, in no stated order;
 * 3. the timers due by then run, earliest first; timers due at the same
 *    millisecond run in the order they were set (FIFO). A timer set from
 *    an fd callback of step 2 with 0 ms therefore runs in this same
 *    iteration, after every fd callback of step 2: mq.c buffers the
 *    frames of its publishes and writes them from such a timer, so the
 *    publishes of one pass leave together; it also yields a long burst
 *    of frames to the other fds with one. A timer set (or a periodic
 *    timer re-armed) by a timer callback runs in the next iteration at
 *    the earliest, so a 0 ms timer never starves the fds.
 */
#ifndef WARREN_LOOP_H
#define WARREN_LOOP_H

#include <stdint.h>

typedef struct loop loop_t;

enum {
	LOOP_READ = 1,  /* fd readable (or peer closed / error) */
	LOOP_WRITE = 2, /* fd writable */
	LOOP_ERROR = 4  /* POLLERR/POLLHUP/POLLNVAL; delivered with READ too */
};

typedef void (*loop_fd_fn)(loop_t *loop, int fd, int events, void *arg);
typedef void (*loop_timer_fn)(loop_t *loop, void *arg);
/* A periodic timer's callback: returns the ms until its next run (0 or
 * more, counted from the start of this iteration), or LOOP_TIMER_STOP. */
typedef int64_t (*loop_every_fn)(loop_t *loop, void *arg);
typedef void (*loop_signal_fn)(loop_t *loop, int signo, void *arg);

/* A new loop, or NULL when out of memory. */
loop_t *loop_new(void);
/* Frees the loop; closes nothing it watched. */
void loop_free(loop_t *loop);

/* Watches fd for mask (LOOP_READ|LOOP_WRITE); replaces an earlier watch of
 * the same fd. mask 0 keeps the fd registered but quiet. 0, or -1 on ENOMEM. */
int loop_watch(loop_t *loop, int fd, int mask, loop_fd_fn fn, void *arg);
/* Changes only the mask of a watched fd. */
void loop_mask(loop_t *loop, int fd, int mask);
/* Stops watching fd (call before closing it). Harmless if not watched. */
void loop_unwatch(loop_t *loop, int fd);

/* Calls fn once, ms milliseconds from now. Returns an id > 0, or 0 on ENOMEM. */
uint64_t loop_timer(loop_t *loop, int64_t ms, loop_timer_fn fn, void *arg);

#define LOOP_TIMER_STOP ((int64_t)-1)
/* Calls fn ms milliseconds from now, then again after each period fn
 * returns, until it returns LOOP_TIMER_STOP or the timer is cancelled (as
 * Redis's ae does). Re-arming reuses the timer: it cannot fail, and the id
 * stays valid until the timer stops. Returns an id > 0, or 0 on ENOMEM (the
 * only failure, checked once where the timer is set). */
uint64_t loop_every(loop_t *loop, int64_t ms, loop_every_fn fn, void *arg);

/* Cancels a pending timer, one-shot or periodic (also from its own
 * callback: a periodic timer then stops whatever it returns); harmless for
 * 0, a fired, a stopped or a cancelled id. */
void loop_timer_cancel(loop_t *loop, uint64_t id);

/* Runs fn from the loop (not from the signal handler) when signo arrives.
 * At most one handler per signal. 0, or -1 on error. */
int loop_signal(loop_t *loop, int signo, loop_signal_fn fn, void *arg);

/* Monotonic milliseconds, as of the current loop iteration. */
int64_t loop_now(loop_t *loop);
/* Reads the clock again and returns loop_now: for code that blocks outside
 * the loop (an exit that waits for a peer). */
int64_t loop_refresh_now(loop_t *loop);
/* Wall-clock Unix time in milliseconds (for notifications). */
int64_t loop_wall_ms(void);

/* One iteration: waits at most max_wait_ms (-1: until an event or timer),
 * dispatches what is ready. Returns -1 on a poll() failure other than EINTR. */
int loop_once(loop_t *loop, int max_wait_ms);
/* Iterates until loop_stop(). Returns 0, or -1 on a poll() failure. */
int loop_run(loop_t *loop);
/* Makes loop_run() return after the current iteration. */
void loop_stop(loop_t *loop);

#endif

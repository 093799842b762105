/*
 * dial - the one way warren opens a TCP connection without blocking the
 * loop, for the broker (mq.c) and for downloads (fetch.c): the name is
 * resolved by resolve.c, then each of its addresses is tried in turn with a
 * non-blocking connect. An address the caller's filter refuses, a connect
 * that fails, and one that takes longer than the timeout each move on to the
 * next address; when none is left, the last error is reported, worded for a
 * person ("cannot connect to 1.2.3.4:80: Connection refused").
 */
#ifndef WARREN_DIAL_H
#define WARREN_DIAL_H

#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"

typedef struct dial dial_t;

/* Says why sa must not be dialled (e.g. "private address (--deny-private)"),
 * or NULL to dial it. */
typedef const char *(*dial_filter_fn)(const struct sockaddr *sa);

/*
 * The outcome, called once from the loop (never from inside dial_start).
 * fd >= 0: a connected, non-blocking, close-on-exec socket that the callee
 * now owns (not watched by the loop). fd < 0: error says why, and permanent
 * is 1 when trying again cannot help (the name does not exist, or the filter
 * refused every address). The dial is freed before the call.
 */
typedef void (*dial_fn)(void *arg, int fd, const char *error, int permanent);

/*
 * Starts connecting to host (a name or a numeric address) on TCP port;
 * timeout_ms bounds each connect attempt. accept_addr may be NULL (every
 * address is dialled). NULL on ENOMEM.
 */
dial_t *dial_start(loop_t *loop, const char *host, unsigned port, int64_t timeout_ms,
		   dial_filter_fn accept_addr, dial_fn cb, void *arg);

/* Stops a dial whose callback has not run yet; closes its socket. */
void dial_cancel(dial_t *d);

#endif

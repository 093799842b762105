/*
 * resolve - host names to socket addresses without blocking the event loop.
 *
 * getaddrinfo() blocks for as long as DNS takes (seconds when a server is
 * down), which would stall every other download and the broker connection.
 * A numeric address is converted at once; a name is looked up by a forked
 * child that writes the addresses into a pipe the loop watches (no threads,
 * and nothing but libc in the child). The child keeps none of the parent's
 * descriptors, and a lookup has a hard deadline (RESOLVE_TIMEOUT_S: the
 * child is killed, the caller told). If fork() fails the lookup is done in
 * place, blocking.
 */
#ifndef WARREN_RESOLVE_H
#define WARREN_RESOLVE_H

#include <sys/socket.h>

#include "loop.h"

#define RESOLVE_MAX_ADDRS 8

struct resolve_addr {
	struct sockaddr_storage sa;
	socklen_t len;
};

struct resolve_result {
	int n;                          /* addresses, 0 on failure */
	struct resolve_addr addr[RESOLVE_MAX_ADDRS];
	int permanent;                  /* the name does not exist (vs. DNS trouble) */
	char error[192];                /* when n == 0, for a person */
};

typedef struct resolve resolve_t;
/* Called once from the loop; r is valid during the call only. */
typedef void (*resolve_fn)(void *arg, const struct resolve_result *r);

/* Starts resolving host (a name or a numeric address) for TCP port port.
 * The callback always comes later from the loop, never from inside this
 * call. NULL on ENOMEM. */
resolve_t *resolve_start(loop_t *loop, const char *host, unsigned port,
			 resolve_fn cb, void *arg);
/* Stops a lookup whose callback has not run yet (kills and reaps the child). */
void resolve_cancel(resolve_t *r);

#endif

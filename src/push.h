/*
 * push - the middleman's WebSocket clients: each one a cursor into the
 * store, sent what is published, in seq order, without ever blocking.
 *
 * A client leaves the HTTP server at the upgrade and belongs to the push_t
 * from then on. Sending copies nothing: frames are written with writev()
 * straight from the stored text, and an entry evicted while a client is
 * halfway through it stays alive by its reference. A client is only a
 * position in the store (see store_next): one that falls behind the
 * history is sent the states of the tasks changed since its position, so
 * a slow client costs no memory, delays no one and still gets every
 * task's outcome. One that stays behind (its socket full, whatever
 * trickles through) for WS_STALL_TIMEOUT_S is dropped. Pings go to idle clients, dead ones are dropped, a close frame
 * is answered, a protocol error closes with the RFC's code.
 */
#ifndef WARREN_PUSH_H
#define WARREN_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "loop.h"
#include "store.h"

typedef struct push push_t;

/* Limits; a field left 0 takes its default. */
struct push_config {
	unsigned max_clients;   /* WS_MAX_CLIENTS */
	int64_t stall_ms;       /* WS_STALL_TIMEOUT_S * 1000 */
	int64_t tick_ms;        /* housekeeping period: 1000 */
};

/* Clients of store s on loop (cfg may be NULL); NULL on ENOMEM. Starts a
 * housekeeping timer (pings, timeouts) that push_free cancels. */
push_t *push_new(loop_t *loop, store_t *s, const struct push_config *cfg);
/* Closes every client at once (no close frame) and frees p. */
void push_free(push_t *p);

/*
 * Records that the store holds committed entries up to seq. A client that connects from now on is sent them at
 * once; the others get them at the next push_publish.
 */
void push_commit(push_t *p, uint64_t seq);
/* Publishes everything committed to every client and writes what can be
 * written now. */
void push_publish(push_t *p);

/*
 * Answers GET /ws, once the caller has checked the path and the token:
 * 426 or 400 for a request that is not a WebSocket upgrade, 503 when
 * max_clients are connected or after push_close_all; otherwise takes
 * the connection from the HTTP server (http_detach), answers 101 and sends
 * what was committed after seq since, limited to task id task (NULL: all).
 */
void push_upgrade(push_t *p, http_conn_t *hc, const struct http_request *req,
		  uint64_t since, const char *task);
/*
 * Takes over fd, a non-blocking socket whose handshake was read: writes
 * hello (the handshake's answer) first, then frames; in holds bytes
 * already received after the handshake (unmasked in place). addr names the peer in logs.
 * 0, or -1 on ENOMEM (fd is then still the caller's). push_upgrade's
 * second half, usable without an HTTP server.
 */
int push_attach(push_t *p, int fd, const char *addr, const char *hello,
		size_t hello_len, void *in, size_t in_len,
		uint64_t since, const char *task);

/* Sends every client a close frame with code and reason, and refuses new
 * clients from now on; clients go away as their handshakes end. */
void push_close_all(push_t *p, unsigned code, const char *reason);
/* Clients connected now. */
unsigned push_clients(const push_t *p);

#endif

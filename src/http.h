/*
 * http - the HTTP/1.1 server shared by the tasker and the middleman
 * (RFC 9112): a connection state machine on the event loop with
 * keep-alive, pipelining, Expect: 100-continue, HEAD, chunked request
 * bodies, hard limits, idle and slow-client timeouts and a bound on
 * connections. Handlers see requests parsed by httpmsg.h and answer with
 * http_respond(); they never touch sockets.
 */
#ifndef WARREN_HTTP_H
#define WARREN_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "buf.h"
#include "httpmsg.h"
#include "loop.h"

/* 1 when the request carries "Authorization: Bearer <token>" (constant-time
 * comparison), or token is NULL. */
int http_bearer_ok(const struct http_request *req, const char *token);
/* Constant-time equality of two strings (length is not hidden). */
int http_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

typedef struct http_server http_server_t;
typedef struct http_conn http_conn_t;

typedef void (*http_handler_fn)(http_conn_t *c, const struct http_request *req,
				void *arg);

/*
 * For a route that reads its body as it arrives instead of whole (the
 * tasker's POST /task array, up to HTTP_MAX_BODY): begin is called once a
 * request's head is read, with the body's announced length (HTTP_MAX_BODY
 * for a chunked one). It returns 1 with *state set to make the server
 * hand every piece of the body (de-chunked, in order) to feed instead of
 * gathering it (gathered bodies stop at HTTP_MAX_BUFFERED_BODY); 0 to
 * have it gathered; -1 when the program has no room for that body now:
 * the request then waits, its body unread (the client held by TCP's flow
 * control), until http_server_room_for_bodies() lets begin be asked
 * again, the longest waiting first, and is answered 503 (Retry-After)
 * after HTTP_OVERLOAD_S. The handler finds the state in req->body_state
 * (req->body is NULL) and owns it; drop frees a state whose request never
 * reaches the handler (bad framing, over the limit, timeout, client gone).
 */
struct http_body_reader {
	int (*begin)(const struct http_request *req, uint64_t len, void *arg,
		     void **state);
	void (*feed)(void *state, const char *data, size_t len);
	void (*drop)(void *state);
};

struct http_server_config {
	const char *listen;        /* "[ADDR:]PORT" */
	unsigned max_conns;
	http_handler_fn handler;
	void *arg;
	unsigned extra_fds;        /* descriptors the program needs besides
				    * connections (the middleman's WebSocket
				    * clients): RLIMIT_NOFILE is raised for all */
};

/*
 * Listens and serves from the loop. NULL with a reason in err. At
 * max_conns the server stops accepting (new clients wait in the listen
 * backlog) after closing the keep-alive connection idle the longest, if
 * any; it answers 503 only when the backlog has been full for
 * HTTP_OVERLOAD_S. Raises RLIMIT_NOFILE to what the limits need.
 */
http_server_t *http_server_new(loop_t *loop, const struct http_server_config *cfg,
			       char *err, size_t errlen);
/* Hands the bodies that reader takes to it as they arrive (see struct
 * http_body_reader); without it every body is gathered whole. Only a
 * program that calls it carries the code of the wait for room. */
void http_server_read_bodies(http_server_t *s, const struct http_body_reader *reader);
/* Sends "Access-Control-Allow-Origin: origin" (up to 60 bytes) with every
 * answer from now on, the server's own errors included. */
void http_server_cors(http_server_t *s, const char *origin);
/* Closes the listener and every connection. */
void http_server_free(http_server_t *s);
/* Stops accepting; open connections finish their current request. */
void http_server_stop_listening(http_server_t *s);
/* The TCP port listened on (useful with port 0). */
int http_server_port(const http_server_t *s);
/* Connections open now. */
unsigned http_server_conns(const http_server_t *s);
/* The program freed room for bodies: the requests waiting for it ask the
 * body reader's begin again, from the loop (never from inside this call). */
void http_server_room_for_bodies(http_server_t *s);

/*
 * Answers the current request of c. extra_headers is NULL or complete lines
 * ("Location: /\r\n"). Content-Length, Date-less minimal headers,
 * Connection and, on a 503, "Retry-After: HTTP_RETRY_AFTER_S" are added;
 * the body is dropped for HEAD. Logs one access line.
 */
void http_respond(http_conn_t *c, int status, const char *content_type,
		  const char *body, size_t len, const char *extra_headers);
/*
 * A large body sent straight from where it lies, in pieces, never copied
 * whole (GET /tasks with 10,000 tasks): gather describes up to max of the
 * next pieces in iov, from where advance last left it (0 when none is
 * left); advance says that n bytes of them were sent; drop frees arg,
 * once the body is all sent or the client is gone. The pieces stay valid
 * until drop. The answer carries Content-Length: len, which the pieces
 * must add up to exactly (otherwise the connection is closed: the client
 * sees a short body). Requests pipelined after it wait until it is sent.
 * For HEAD the body is not read at all. It is written with writev(): the
 * program ignores SIGPIPE. Only for an answer that can go out at once:
 * behind a deferred request whose answer is still owed (warren's programs
 * that stream never defer), it is 503.
 */
struct http_source {
	int (*gather)(void *arg, struct iovec *iov, int max);
	void (*advance)(void *arg, size_t n);
	void (*drop)(void *arg);
	void *arg;
};
void http_respond_source(http_conn_t *c, int status, const char *content_type,
			 uint64_t len, const struct http_source *src);
/* http_respond with {"error": msg} as application/json. */
void http_respond_error(http_conn_t *c, int status, const char *msg,
			const char *extra_headers);
/* The reason phrase of a status code. */
const char *http_reason(int status);

/* What the tasker's and the middleman's routes share. */
/* 1 when the request's path is exactly path. */
int http_path_is(const struct http_request *req, const char *path);
/* 1 when the request's method is exactly method. */
int http_method_is(const struct http_request *req, const char *method);
/* http_respond_error with 503 (which carries Retry-After). */
static inline void http_respond_unavailable(http_conn_t *c, const char *msg)
{
	http_respond_error(c, 503, msg, NULL);
}
/* The answer to a CORS preflight (OPTIONS) of a path whose methods are
 * methods ("POST, OPTIONS"): 204 with Allow, Access-Control-Allow-Methods,
 * -Headers (Authorization, Content-Type) and -Max-Age (HTTP_CORS_MAX_AGE_S). */
void http_respond_preflight(http_conn_t *c, const char *methods);
/* The answer to GET /health: 200 {"amqp":"up"} when state is "up", else
 * 503 {"amqp":"<state>"} with Retry-After. */
void http_respond_health(http_conn_t *c, const char *state);

/*
 * Defers the answer to the current request: returns a ticket. The
 * connection goes on with the requests pipelined after it (up to
 * HTTP_MAX_PIPELINE answers owed; none after a `Connection: close` one);
 * answers leave in request order, whatever order they are given in.
 * http_resume(ticket) gives the connection to answer on, with
 * http_respond/http_respond_error, right away; NULL when the client is
 * gone or the request was answered already, and the late answer is then
 * simply dropped.
 */
uint64_t http_defer(http_conn_t *c);
http_conn_t *http_resume(http_server_t *s, uint64_t ticket);

/*
 * Takes the connection's socket away from the server (for a WebSocket
 * upgrade): returns the fd, still non-blocking, already unwatched, and
 * appends bytes received after the request to leftover. The connection is
 * freed; call only from the handler, after queuing nothing.
 */
int http_detach(http_conn_t *c, buf_t *leftover);

#endif

/*
 * http - the HTTP/1.1 server shared by the tasker and the middleman
 * (RFC 9112): a pure, resumable request parser, and a connection state
 * machine on the event loop with keep-alive, pipelining, Expect:
 * 100-continue, HEAD, chunked request bodies, hard limits, idle and
 * slow-client timeouts and a bound on connections. Handlers see parsed
 * requests and answer with http_respond(); they never touch sockets.
 */
#ifndef WARREN_HTTP_H
#define WARREN_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "loop.h"

#ifndef HTTP_MAX_HEADERS
#include "config.h"
#endif

struct http_header {
	const char *name, *value;
	size_t name_len, value_len;
};

struct http_request {
	const char *method, *target, *path, *query; /* query: NULL or after '?' */
	size_t method_len, target_len, path_len, query_len;
	int minor;                 /* HTTP/1.<minor> */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t nheaders;
	const char *body;          /* the whole body, de-chunked */
	size_t body_len;
	int keep_alive;
	int head;                  /* method is HEAD: answer without a body */
	const char *remote;        /* "addr:port" of the client */
};

/* Result of http_parse_head for a complete head: its length in bytes. */
enum {
	HTTP_PARSE_MORE = 0,       /* incomplete: read more */
	HTTP_PARSE_BAD = -1,       /* malformed: 400 */
	HTTP_PARSE_TOO_LARGE = -2, /* head over HTTP_MAX_HEAD: 431 */
	HTTP_PARSE_TOO_MANY = -3   /* more than HTTP_MAX_HEADERS: 431 */
};

/*
 * Parses a request line and headers from buf (no I/O, no allocation; the
 * request points into buf). Returns the head's length (> 0), or one of the
 * HTTP_PARSE_* values. Leading empty lines are skipped as RFC 9112 allows.
 */
int http_parse_head(const char *buf, size_t len, struct http_request *req);

/* The value of header name (case-insensitive), or NULL; *len its length. */
const char *http_header(const struct http_request *req, const char *name,
			size_t *len);
/* Copies query parameter key (percent-decoded) into out. 1 found, 0 not,
 * -1 too long. */
int http_query_param(const struct http_request *req, const char *key,
		     char *out, size_t outlen);
/* 1 when the request carries "Authorization: Bearer <token>" (constant-time
 * comparison), or token is NULL. */
int http_bearer_ok(const struct http_request *req, const char *token);
/* Constant-time equality of two strings (length is not hidden). */
int http_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

typedef struct http_server http_server_t;
typedef struct http_conn http_conn_t;

typedef void (*http_handler_fn)(http_conn_t *c, const struct http_request *req,
				void *arg);

struct http_server_config {
	const char *listen;        /* "[ADDR:]PORT" */
	unsigned max_conns;
	http_handler_fn handler;
	void *arg;
};

/* Listens and serves from the loop. NULL with a reason in err. */
http_server_t *http_server_new(loop_t *loop, const struct http_server_config *cfg,
			       char *err, size_t errlen);
/* Closes the listener and every connection. */
void http_server_free(http_server_t *s);
/* Stops accepting; open connections finish their current request. */
void http_server_stop_listening(http_server_t *s);
/* The TCP port listened on (useful with port 0). */
int http_server_port(const http_server_t *s);
/* Connections open now. */
unsigned http_server_conns(const http_server_t *s);

/*
 * Answers the current request of c. extra_headers is NULL or complete lines
 * ("Retry-After: 5\r\n"). Content-Length, Date-less minimal headers and
 * Connection are added; the body is dropped for HEAD. Logs one access line.
 */
void http_respond(http_conn_t *c, int status, const char *content_type,
		  const char *body, size_t len, const char *extra_headers);
/* http_respond with {"error": msg} as application/json. */
void http_respond_error(http_conn_t *c, int status, const char *msg,
			const char *extra_headers);
/* The reason phrase of a status code. */
const char *http_reason(int status);

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

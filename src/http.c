/*
 * http.c - HTTP/1.1 request parser and server connection state machine;
 * see http.h.
 *
 * A connection reads into `in`. Once a head parses, it is copied to `head`
 * and the request's pointers moved there, so they stay valid while the
 * body arrives; the body is gathered in `body` (de-chunked), or handed
 * piece by piece to the route's body reader (http_body_reader), so that a
 * megabyte array of tasks never sits whole in memory.
 *
 * Pipelined requests are answered strictly in order, yet a deferred one
 * (http_defer) does not hold up the next: it is parked with what its answer
 * needs (keep-alive, HEAD, the access-log line), the next request is parsed
 * and dispatched, and an answer that comes while an earlier one is still
 * owed waits in its park slot. So a client that pipelines POST /task keeps
 * many confirms in flight on one connection. At most HTTP_MAX_PIPELINE
 * answers are owed per connection; parsing pauses there.
 */
/* struct tcp_info (the fill of the listen backlog) is _GNU_SOURCE in musl */
#define _GNU_SOURCE
#include "http.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "chunked.h"
#include "json.h"
#include "config.h"
#include "log.h"
#include "net.h"

int http_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	/* touch every byte of the expected secret whatever the input */
	unsigned char diff = (unsigned char)(alen != blen);
	for (size_t i = 0; i < blen; i++)
		diff |= (unsigned char)(b[i] ^ (i < alen ? a[i] : 0));
	return diff == 0;
}

int http_bearer_ok(const struct http_request *r, const char *token)
{
	if (!token)
		return 1;
	size_t n;
	const char *v = http_header(r, "Authorization", &n);
	if (!v || n < 7 || !http_ieq(v, 7, "bearer "))
		return 0;
	v += 7;
	n -= 7;
	while (n > 0 && *v == ' ') {
		v++;
		n--;
	}
	return http_secret_equal(v, n, token, strlen(token));
}

const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 417: return "Expectation Failed";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

int http_path_is(const struct http_request *r, const char *path)
{
	return r->path_len == strlen(path) && !memcmp(r->path, path, r->path_len);
}

int http_method_is(const struct http_request *r, const char *method)
{
	return r->method_len == strlen(method) && !memcmp(r->method, method, r->method_len);
}

#define HTTP_STR_(x) #x
#define HTTP_STR(x) HTTP_STR_(x)

/* ---- the server ---------------------------------------------------------- */

enum conn_state {
	ST_HEAD,     /* waiting for a request head */
	ST_BODY,     /* reading a Content-Length body */
	ST_CHUNKED,  /* reading a chunked body */
	ST_WAIT,     /* a head whose body the program has no room for yet:
		      * unread until it has (http_body_reader) */
	ST_READY,    /* a whole upgrade request, waiting until every answer
		      * owed before it has been sent */
	ST_HANDLER,  /* inside the handler */
	ST_CLOSING   /* flushing the last responses, then close */
};

/* A request whose answer cannot go out yet: deferred by its handler, or
 * answered while an earlier one is still owed. */
struct parked {
	uint64_t ticket;
	int answered;
	int closes;                /* its answer ends the connection */
	int keep_alive, head;
	int64_t started;
	char line[80];             /* "METHOD /path" for the access log */
	buf_t out;                 /* its answer, once there */
};

struct http_conn {
	http_server_t *srv;
	struct http_conn *prev, *next;
	int fd;
	enum conn_state state;
	buf_t in, out, head, body;
	struct http_request req;
	struct chunked chunk;
	uint64_t body_left;        /* ST_BODY: bytes still to read */
	uint64_t body_seen;        /* body bytes taken so far */
	void *stream;              /* the body reader's state, until dispatch */
	uint64_t ticket;           /* current request's number */
	int64_t started;           /* ms: first byte of the current request;
				    * in ST_WAIT, when the wait began */
	int64_t active;            /* ms: last read or write progress */
	int retry_body;            /* woken to ask the body reader again */
	int eof;                   /* client finished sending */
	int responded;             /* current request answered */
	int wake;                  /* its pipeline to go on from the loop */
	int in_dispatch;           /* inside the handler's call */
	struct parked *park;       /* ring of HTTP_MAX_PIPELINE, or NULL */
	unsigned park_first, park_count;
	struct parked *cur;        /* the parked request being answered */
	struct http_source src;    /* the body still to send, or gather NULL */
	uint64_t src_left;         /* bytes of it promised and not sent */
	char remote[56];
};

enum listen_state { LISTENING, PAUSED_CAP, PAUSED_FDS };

struct http_server {
	loop_t *loop;
	int fd;
	http_handler_fn handler;
	const struct http_body_reader *reader;
	/* with a reader only (http_server_read_bodies), so that a program
	 * without one does not carry them */
	int (*open_stream)(http_conn_t *c, uint64_t len);
	void (*expire_waits)(http_server_t *s, int64_t now);
	void *arg;
	unsigned max_conns, nconns;
	struct http_conn *conns;
	http_conn_t *current;      /* the connection in its handler, if any */
	uint64_t next_ticket;
	unsigned nwaiting;         /* connections in ST_WAIT */
	uint64_t sweep_timer;
	uint64_t wake_timer;       /* run_wakes armed, or 0 */
	/* Accepting pauses at the cap (new clients wait in the listen
	 * backlog) and, for a second, when descriptors run out. */
	enum listen_state listen_state;
	int64_t fds_retry_at;      /* PAUSED_FDS: when to try again */
	int64_t full_since;        /* PAUSED_CAP: backlog full since, or 0 */
	int fds_logged;            /* EMFILE logged for this episode */
	unsigned fds_at;           /* connections open when it began */
	char always[96];           /* header lines of every answer (CORS) */
};

static void conn_process(http_conn_t *c);
static void listen_resume(http_server_t *s);
static void wake(http_conn_t *c);

/* The body reader's state of a request that will not be dispatched. */
static void drop_stream(http_conn_t *c)
{
	if (c->stream)
		c->srv->reader->drop(c->stream);
	c->stream = NULL;
}

/* Frees the source of a streamed answer (finished, or the client gone). */
static void drop_source(http_conn_t *c)
{
	if (c->src.gather && c->src.drop)
		c->src.drop(c->src.arg);
	c->src.gather = NULL;
}

static void conn_free(http_conn_t *c, int close_fd)
{
	http_server_t *s = c->srv;
	if (c->state == ST_WAIT)
		s->nwaiting--;
	drop_stream(c);
	drop_source(c);
	loop_unwatch(s->loop, c->fd);
	if (close_fd)
		close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (s->current == c)
		s->current = NULL;
	s->nconns--;
	listen_resume(s);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->head);
	buf_free(&c->body);
	if (c->park)
		for (unsigned i = 0; i < HTTP_MAX_PIPELINE; i++)
			buf_free(&c->park[i].out);
	free(c->park);
	free(c);
}

/* 1 while an answer is being sent: bytes in out, or a streamed body. */
static int sending(const http_conn_t *c)
{
	return buf_used(&c->out) || c->src.gather;
}

/* Reads unless input is paused (deferred request, full buffers, closing);
 * writes when output is pending. */
static void conn_update_watch(http_conn_t *c)
{
	int mask = 0;
	if (!c->eof && c->state != ST_CLOSING && c->state != ST_WAIT &&
	    buf_used(&c->in) < HTTP_MAX_HEAD + HTTP_MAX_BUFFERED_BODY &&
	    buf_used(&c->out) < HTTP_MAX_OUTBUF)
		mask |= LOOP_READ;
	if (sending(c))
		mask |= LOOP_WRITE;
	loop_mask(c->srv->loop, c->fd, mask);
}

/* Sends what it can of the output and of the streamed answer after it, in
 * one writev(), the answer straight from the source's memory. 1 when the
 * socket takes more, 0 when it is full or the answer all sent, -1 when the
 * connection is to be closed: the client is gone, or the source is not
 * as long as announced (the client cannot be told otherwise than by a
 * short body). */
static int source_send(http_conn_t *c)
{
	struct iovec iov[HTTP_SOURCE_IOV];
	size_t out = buf_used(&c->out);
	iov[0].iov_base = buf_head(&c->out);
	iov[0].iov_len = out;
	int k = out > 0;
	int n = c->src.gather(c->src.arg, iov + k, HTTP_SOURCE_IOV - k);
	uint64_t len = 0;
	for (int i = k; i < k + n; i++)
		len += iov[i].iov_len;
	if (len > c->src_left || (!len && c->src_left)) {
		log_warn("%s: answer cut short: body not as long as said", c->remote);
		return -1;
	}
	if (!len && !out) {
		drop_source(c);
		wake(c); /* the pipeline waited behind it */
		return 0;
	}
	ssize_t sent = writev(c->fd, iov, k + n); /* SIGPIPE ignored: see http.h */
	if (sent < 0)
		return errno == EINTR ? 1 : errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	size_t body = (size_t)sent > out ? (size_t)sent - out : 0;
	buf_consume(&c->out, (size_t)sent - body);
	c->src.advance(c->src.arg, body);
	c->src_left -= body;
	c->active = loop_now(c->srv->loop);
	return 1;
}

/* Writes what it can. 0, or -1 when the connection is gone (and freed). */
static int conn_flush(http_conn_t *c)
{
	for (;;) {
		int more = c->src.gather ? source_send(c) : 0;
		if (more < 0) {
			conn_free(c, 1);
			return -1;
		}
		if (more)
			continue;
		if (!buf_used(&c->out))
			break;
		ssize_t n = send(c->fd, buf_head(&c->out), buf_used(&c->out), MSG_NOSIGNAL);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			c->active = loop_now(c->srv->loop);
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		} else {
			conn_free(c, 1);
			return -1;
		}
	}
	int idle = c->state == ST_HEAD && !buf_used(&c->in);
	if (!sending(c) && !c->park_count &&
	    (c->state == ST_CLOSING || (c->eof && idle))) {
		conn_free(c, 1);
		return -1;
	}
	if (idle && !sending(c) && !c->park_count && !c->in_dispatch) {
		/* between requests a keep-alive connection holds no buffers:
		 * a thousand idle clients cost their struct only */
		buf_free(&c->in);
		buf_free(&c->out);
		buf_free(&c->head);
		buf_free(&c->body);
	}
	conn_update_watch(c);
	return 0;
}

static void log_access(http_conn_t *c, const struct parked *p, int status,
		       size_t bytes)
{
	const struct http_request *r = &c->req;
	if (p) {
		log_info("%s \"%s\" %d %zu %lldms", c->remote, p->line, status, bytes,
			 (long long)(loop_now(c->srv->loop) - p->started));
		return;
	}
	if (!r->method) {
		log_info("%s \"-\" %d %zu", c->remote, status, bytes);
		return;
	}
	/* the query may carry a token: log the path only */
	log_info("%s \"%.*s %.*s\" %d %zu %lldms", c->remote, (int)r->method_len,
		 r->method, (int)r->path_len, r->path, status, bytes,
		 (long long)(loop_now(c->srv->loop) - c->started));
}

/* A new slot at the end of the park ring (allocated on first use), or
 * NULL when out of memory. The caller makes sure the ring has room. */
static struct parked *park_push(http_conn_t *c, int keep_alive, int head)
{
	if (!c->park && !(c->park = calloc(HTTP_MAX_PIPELINE, sizeof(*c->park))))
		return NULL;
	struct parked *p = &c->park[(c->park_first + c->park_count) % HTTP_MAX_PIPELINE];
	c->park_count++;
	p->ticket = 0;
	p->answered = p->closes = 0;
	p->keep_alive = keep_alive;
	p->head = head;
	p->started = c->started;
	buf_reset(&p->out);
	const struct http_request *r = &c->req;
	snprintf(p->line, sizeof(p->line), "%.*s %.*s", (int)r->method_len,
		 r->method ? r->method : "", (int)r->path_len, r->path ? r->path : "");
	return p;
}

/* Moves the answers now due, in request order, from the park to out. */
static void park_drain(http_conn_t *c)
{
	while (c->park_count) {
		struct parked *p = &c->park[c->park_first];
		if (!p->answered)
			return;
		int closes = buf_append(&c->out, p->out.data, p->out.len) < 0;
		closes |= p->closes;
		buf_free(&p->out); /* answers are small; keep no memory parked */
		c->park_first = (c->park_first + 1) % HTTP_MAX_PIPELINE;
		c->park_count--;
		if (closes) {
			/* what was pipelined after it stays unanswered */
			while (c->park_count) {
				buf_free(&c->park[c->park_first].out);
				c->park_first = (c->park_first + 1) % HTTP_MAX_PIPELINE;
				c->park_count--;
			}
			c->state = ST_CLOSING;
		}
	}
}

/* Writes a whole response to b: 0, or -1 out of memory. */
static int format_response(const http_conn_t *c, buf_t *b, int status,
			   const char *type, const char *body, size_t len,
			   const char *extra, int keep, int head)
{
	int fail = buf_printf(b, "HTTP/1.1 %d %s\r\nServer: warren/%s\r\n%s",
			      status, http_reason(status), WARREN_VERSION,
			      c->srv->always) < 0;
	if (type)
		fail |= buf_printf(b, "Content-Type: %s\r\n", type) < 0;
	if (status != 204) /* a 204 has no body, and says nothing of one */
		fail |= buf_printf(b, "Content-Length: %zu\r\n", len) < 0;
	/* every cause of a 503 passes: the broker, memory, a crowd */
	fail |= buf_printf(b, "%s%s%s\r\n",
			   status == 503 ? "Retry-After: " HTTP_STR(HTTP_RETRY_AFTER_S) "\r\n" : "",
			   extra ? extra : "", keep ? "" : "Connection: close\r\n") < 0;
	if (!head)
		fail |= buf_append(b, body, len) < 0;
	return fail ? -1 : 0;
}

/* Statuses after which the connection is not reused. */
static int status_closes(int status)
{
	return status == 400 || status == 408 || status == 413 || status == 431 ||
	       status == 501;
}

/* The current request is answered (len bytes of body sent): logged, and
 * the connection reads the next request, or closes once the answer left
 * (also out of memory: whatever went out is sent, then it ends). */
static void current_answered(http_conn_t *c, int status, size_t len, int keep)
{
	log_access(c, NULL, status, len);
	c->responded = 1;
	c->state = keep ? ST_HEAD : ST_CLOSING;
}

/*
 * Answers the request being served: a parked one (c->cur, through
 * http_resume) into its slot; the current one straight to out, or into a
 * new slot when an earlier answer is still owed. Marks the connection
 * closing when the request or the status says so.
 */
static void queue_response(http_conn_t *c, int status, const char *type,
			   const char *body, size_t len, const char *extra)
{
	struct parked *p = c->cur;
	if (p) {
		int keep = p->keep_alive && !status_closes(status);
		p->closes = format_response(c, &p->out, status, type, body, len, extra,
					    keep, p->head) < 0 || !keep;
		p->answered = 1;
		log_access(c, p, status, p->head ? 0 : len);
		park_drain(c);
		return;
	}
	int keep = c->req.keep_alive && c->state != ST_CLOSING && !status_closes(status);
	int fail;
	if (c->park_count) {
		p = park_push(c, c->req.keep_alive, c->req.head);
		fail = !p || format_response(c, &p->out, status, type, body, len, extra,
					     keep, c->req.head) < 0;
		if (p) {
			p->answered = 1;
			p->closes = fail || !keep;
		}
	} else {
		fail = format_response(c, &c->out, status, type, body, len, extra, keep,
				       c->req.head) < 0;
	}
	current_answered(c, status, c->req.head ? 0 : len, keep && !fail);
}

static void queue_error(http_conn_t *c, int status, const char *msg,
			const char *extra)
{
	buf_t b = BUF_INIT;
	if (buf_puts(&b, "{\"error\":") == 0 && json_put_str(&b, msg, strlen(msg)) == 0 &&
	    buf_puts(&b, "}\n") == 0)
		queue_response(c, status, "application/json", b.data, b.len, extra);
	else
		queue_response(c, 500, NULL, "", 0, NULL);
	buf_free(&b);
}

/* Goes on with the pipelines of the connections woken, from the loop. */
static void run_wakes(http_server_t *s)
{
	for (;;) {
		http_conn_t *c = s->conns;
		while (c && !c->wake)
			c = c->next;
		if (!c)
			return;
		c->wake = 0;
		conn_process(c);
	}
}

static void on_wake(loop_t *loop, void *arg)
{
	(void)loop;
	http_server_t *s = arg;
	s->wake_timer = 0;
	run_wakes(s);
}

/* Has c's pipeline taken up from the loop, never from the caller: an
 * answer can be given inside another connection's handler (a failed
 * publish answers every waiting request), and dispatching c's next
 * request there would nest one handler in another (issue 11 item 7). */
static void wake(http_conn_t *c)
{
	http_server_t *s = c->srv;
	c->wake = 1;
	if (!s->wake_timer)
		s->wake_timer = loop_timer(s->loop, 0, on_wake, s);
	/* no timer (out of memory): the next sweep runs it */
}

/* After an answer from outside the connection's own events (a deferred
 * request): send it now; go on with the pipeline from the loop. */
static void answered(http_conn_t *c)
{
	if (c->in_dispatch)
		return; /* conn_process carries on after the handler returns */
	if (conn_flush(c) == 0)
		wake(c);
}

/* 1 when the request http_respond would answer has its answer already. */
static int already_answered(const http_conn_t *c)
{
	return c->cur ? c->cur->answered : c->responded;
}

void http_respond(http_conn_t *c, int status, const char *type,
		  const char *body, size_t len, const char *extra)
{
	if (!already_answered(c))
		queue_response(c, status, type, body, len, extra);
	c->cur = NULL;
	answered(c);
}

void http_respond_source(http_conn_t *c, int status, const char *type,
			 uint64_t len, const struct http_source *src)
{
	if (already_answered(c)) {
		/* nothing to send it on */
	} else if (c->cur ? c->cur->head : c->req.head) {
		queue_response(c, status, type, NULL, (size_t)len, NULL);
	} else if (c->cur || c->park_count) {
		queue_error(c, 503, "cannot stream behind a deferred answer", NULL);
	} else {
		int keep = c->req.keep_alive && c->state != ST_CLOSING &&
			   !status_closes(status);
		if (format_response(c, &c->out, status, type, NULL, (size_t)len, NULL,
				    keep, 1) == 0) {
			c->src = *src;
			c->src_left = len;
			src = NULL; /* the connection's now */
		} else {
			keep = 0; /* out of memory: what went out is sent, then close */
		}
		current_answered(c, status, (size_t)len, keep);
	}
	if (src && src->drop)
		src->drop(src->arg);
	c->cur = NULL;
	answered(c);
}

void http_respond_error(http_conn_t *c, int status, const char *msg,
			const char *extra)
{
	if (!already_answered(c))
		queue_error(c, status, msg, extra);
	c->cur = NULL;
	answered(c);
}


void http_respond_preflight(http_conn_t *c, const char *methods)
{
	char extra[256];
	snprintf(extra, sizeof(extra),
		 "Allow: %s\r\nAccess-Control-Allow-Methods: %s\r\n"
		 "Access-Control-Allow-Headers: Authorization, Content-Type\r\n"
		 "Access-Control-Max-Age: %d\r\n", methods, methods, HTTP_CORS_MAX_AGE_S);
	http_respond(c, 204, NULL, "", 0, extra);
}

void http_respond_health(http_conn_t *c, const char *state)
{
	char body[64];
	int up = !strcmp(state, "up");
	int n = snprintf(body, sizeof(body), "{\"amqp\":\"%s\"}\n", state);
	http_respond(c, up ? 200 : 503, "application/json", body,
		     n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0, NULL);
}

/* An error the server finds itself, before any handler: answered, and the
 * connection closed once that is sent. */
static int fail_request(http_conn_t *c, int status, const char *msg)
{
	drop_stream(c);
	c->state = ST_CLOSING;
	queue_error(c, status, msg, NULL);
	return -1;
}

uint64_t http_defer(http_conn_t *c)
{
	return c->ticket;
}

http_conn_t *http_resume(http_server_t *s, uint64_t ticket)
{
	for (http_conn_t *c = s->conns; c; c = c->next) {
		if (c->ticket == ticket && c->in_dispatch) /* answered at once */
			return c->responded ? NULL : c;
		for (unsigned i = 0; i < c->park_count; i++) {
			struct parked *p = &c->park[(c->park_first + i) % HTTP_MAX_PIPELINE];
			if (p->ticket == ticket && !p->answered) {
				c->cur = p;
				return c;
			}
		}
	}
	return NULL;
}

int http_detach(http_conn_t *c, buf_t *leftover)
{
	int fd = c->fd;
	if (buf_append(leftover, buf_head(&c->in), buf_used(&c->in)) < 0)
		return -1;
	conn_free(c, 0);
	return fd;
}

/* Calls the handler. 0 while c lives on, -1 when the handler detached it.
 * A request left unanswered (deferred) is parked, and the connection goes
 * on with the next one unless this one ends it. */
static int dispatch(http_conn_t *c)
{
	http_server_t *s = c->srv;
	c->req.body_state = c->stream;
	c->req.body = c->stream ? NULL : c->body.data ? c->body.data : "";
	c->req.body_len = c->body_seen;
	c->stream = NULL; /* the handler's now */
	c->state = ST_HANDLER;
	c->responded = 0;
	c->in_dispatch = 1;
	c->cur = NULL;
	s->current = c;
	s->handler(c, &c->req, s->arg);
	if (s->current != c)
		return -1;
	s->current = NULL;
	c->in_dispatch = 0;
	if (c->responded)
		return 0;
	struct parked *p = park_push(c, c->req.keep_alive, c->req.head);
	if (!p) {
		fail_request(c, 503, "out of memory");
		return 0;
	}
	p->ticket = c->ticket;
	c->state = c->req.keep_alive ? ST_HEAD : ST_CLOSING;
	return 0;
}

/* Largest body this request may have: a route that reads it as it
 * arrives takes more than one gathered whole. */
static uint64_t body_limit(const http_conn_t *c)
{
	return c->stream ? HTTP_MAX_BODY : HTTP_MAX_BUFFERED_BODY;
}

static int too_large(http_conn_t *c)
{
	char msg[64];
	snprintf(msg, sizeof(msg), "body larger than %llu bytes",
		 (unsigned long long)body_limit(c));
	return fail_request(c, 413, msg);
}

/* Takes n body bytes: to the reader, or gathered. 0, or -1 answered. */
static int body_take(http_conn_t *c, const char *data, size_t n)
{
	c->body_seen += n;
	if (c->stream) {
		c->srv->reader->feed(c->stream, data, n);
		return 0;
	}
	if (buf_append(&c->body, data, n) < 0)
		return fail_request(c, 503, "out of memory");
	return 0;
}

/* Wakes the request that has waited longest for room for its body. */
static void wake_oldest_waiting(http_server_t *s)
{
	http_conn_t *oldest = NULL;
	if (!s->nwaiting)
		return;
	for (http_conn_t *c = s->conns; c; c = c->next)
		if (c->state == ST_WAIT && (!oldest || c->started <= oldest->started))
			oldest = c;
	if (oldest && !oldest->retry_body) {
		oldest->retry_body = 1;
		wake(oldest);
	}
}

void http_server_room_for_bodies(http_server_t *s)
{
	wake_oldest_waiting(s);
}

/* Asks the body reader whether it reads this body as it arrives: 1 when
 * the body may be read now (streamed or gathered), 0 when it waits for
 * room (ST_WAIT). */
static int open_stream(http_conn_t *c, uint64_t len)
{
	http_server_t *s = c->srv;
	void *state = NULL;
	int rc = s->reader->begin(&c->req, len, s->arg, &state);
	int waiting = c->state == ST_WAIT;
	if (rc < 0 && waiting)
		return 0;
	/* the wait is ours, not the client's: its request timer restarts
	 * after it (and times the wait meanwhile) */
	if (rc < 0 || waiting)
		c->started = loop_now(s->loop);
	if (rc < 0) {
		c->state = ST_WAIT;
		s->nwaiting++;
		return 0;
	}
	c->stream = rc > 0 ? state : NULL;
	if (waiting) {
		s->nwaiting--;
		c->state = ST_HEAD; /* start_body sets the real one */
		wake_oldest_waiting(s); /* the next may fit too */
	}
	return 1;
}

/* Answers 503 to the requests that waited HTTP_OVERLOAD_S for room for
 * their bodies (their connections close: the bodies are unread). */
static void expire_waits(http_server_t *s, int64_t now)
{
	http_conn_t *next;
	for (http_conn_t *c = s->conns; c; c = next) {
		next = c->next;
		if (c->state != ST_WAIT || now - c->started <= HTTP_OVERLOAD_S * 1000)
			continue;
		s->nwaiting--;
		c->req.keep_alive = 0;
		fail_request(c, 503, "too many requests at once: try again");
		conn_flush(c);
	}
}

void http_server_read_bodies(http_server_t *s, const struct http_body_reader *reader)
{
	s->reader = reader;
	s->open_stream = open_stream;
	s->expire_waits = expire_waits;
}

/* Decides how the body is framed (RFC 9112 6.3) and whether the body
 * reader takes it. 1 to read it, 0 when it waits for room, -1 when
 * answered. */
static int start_body(http_conn_t *c)
{
	struct http_request *r = &c->req;
	const char *cl = NULL, *te = NULL;
	size_t cl_len = 0, te_len = 0;
	for (size_t i = 0; i < r->nheaders; i++) {
		const struct http_header *h = &r->headers[i];
		if (http_ieq(h->name, h->name_len, "Transfer-Encoding")) {
			if (te)
				return fail_request(c, 501, "only chunked transfer coding is supported");
			te = h->value;
			te_len = h->value_len;
		} else if (http_ieq(h->name, h->name_len, "Content-Length")) {
			if (cl && (h->value_len != cl_len || memcmp(h->value, cl, cl_len)))
				return fail_request(c, 400, "conflicting Content-Length headers");
			cl = h->value;
			cl_len = h->value_len;
		}
	}
	if (te && cl)
		return fail_request(c, 400, "both Content-Length and Transfer-Encoding");
	if (te && r->minor == 0)
		return fail_request(c, 400, "Transfer-Encoding in an HTTP/1.0 request");
	if (te && !http_ieq(te, te_len, "chunked"))
		return fail_request(c, 501, "only chunked transfer coding is supported");
	int64_t len = te ? HTTP_MAX_BODY : cl ? http_parse_dec(cl, cl_len) : 0;
	if (len < 0)
		return fail_request(c, 400, "bad Content-Length");
	if (c->srv->open_stream && c->srv->open_stream(c, (uint64_t)len) == 0)
		return 0;
	chunked_init(&c->chunk);
	buf_reset(&c->body);
	c->body_seen = 0;
	if (te) {
		c->state = ST_CHUNKED;
		return 1;
	}
	if ((uint64_t)len > body_limit(c))
		return too_large(c);
	c->body_left = (uint64_t)len;
	c->state = ST_BODY;
	return 1;
}

/* Opens the body of the head just read, or of one that waited for room:
 * 1 to read it, 0 when it waits, -1 when answered. */
static int open_body(http_conn_t *c)
{
	struct http_request *r = &c->req;
	size_t n;
	int rc = start_body(c);
	if (rc <= 0)
		return rc;
	const char *expect = http_header(r, "Expect", &n);
	if (expect) {
		if (!http_ieq(expect, n, "100-continue")) {
			c->state = ST_CLOSING;
			return fail_request(c, 417, "only Expect: 100-continue is supported");
		}
		/* only while the body is still to come (RFC 9110 10.1.1) */
		int pending = c->state == ST_CHUNKED || c->body_left > 0;
		/* not before an earlier answer still owed: the body may come
		 * anyway, as RFC 9110 lets clients send it after a while */
		if (r->minor >= 1 && pending && !buf_used(&c->in) && !c->park_count)
			buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
	}
	return 1;
}

/* Interprets a freshly parsed head: 1 to go on with the body, 0 when it
 * waits for room, -1 answered. */
static int check_head(http_conn_t *c)
{
	struct http_request *r = &c->req;
	int hosts = 0;
	for (size_t i = 0; i < r->nheaders; i++)
		hosts += http_ieq(r->headers[i].name, r->headers[i].name_len, "Host");
	r->head = r->method_len == 4 && !memcmp(r->method, "HEAD", 4);
	r->keep_alive = r->minor >= 1 ? !http_header_has_token(r, "Connection", "close")
				      : http_header_has_token(r, "Connection", "keep-alive");
	r->remote = c->remote;
	if (r->minor >= 1 && hosts == 0)
		return fail_request(c, 400, "HTTP/1.1 request without Host");
	if (hosts > 1)
		return fail_request(c, 400, "more than one Host header");
	return open_body(c);
}

/* Moves the request's pointers from the head at from (len bytes) to its
 * copy at to; a pointer elsewhere (an empty path's static "/") stays. */
static void rebase(struct http_request *r, const char *from, size_t len,
		   const char *to)
{
	const char **p[4 + 2 * HTTP_MAX_HEADERS];
	size_t n = 0;
	p[n++] = &r->method;
	p[n++] = &r->target;
	p[n++] = &r->path;
	p[n++] = &r->query;
	for (size_t i = 0; i < r->nheaders; i++) {
		p[n++] = &r->headers[i].name;
		p[n++] = &r->headers[i].value;
	}
	for (size_t i = 0; i < n; i++)
		if (*p[i] && (uintptr_t)*p[i] - (uintptr_t)from <= len)
			*p[i] = to + (*p[i] - from);
}

/* 1 when a head was taken, 0 when more input is needed, -1 answered. */
static int take_head(http_conn_t *c)
{
	if (!buf_used(&c->in))
		return 0; /* its buffer may be freed while idle */
	const char *why = NULL;
	long rc = http_parse_request(buf_head(&c->in), buf_used(&c->in), &c->req, &why);
	if (rc == HTTP_PARSE_MORE)
		return 0;
	if (rc == HTTP_PARSE_BAD)
		return fail_request(c, 400, "malformed request");
	if (rc < 0)
		return fail_request(c, 431, "request head too large");
	/* the head gets its own buffer so its pointers survive the body */
	buf_reset(&c->head);
	if (buf_append(&c->head, buf_head(&c->in), (size_t)rc) < 0)
		return fail_request(c, 503, "out of memory");
	rebase(&c->req, buf_head(&c->in), (size_t)rc, c->head.data);
	buf_consume(&c->in, (size_t)rc);
	c->ticket = ++c->srv->next_ticket;
	return check_head(c) < 0 ? -1 : 1;
}

/* Moves body bytes from in to body: 1 complete, 0 more needed, -1 answered. */
static int take_body(http_conn_t *c)
{
	if (c->state == ST_BODY) {
		size_t n = buf_used(&c->in);
		if (n > c->body_left)
			n = (size_t)c->body_left;
		if (body_take(c, buf_head(&c->in), n) < 0)
			return -1;
		buf_consume(&c->in, n);
		c->body_left -= n;
		return c->body_left == 0;
	}
	while (buf_used(&c->in) && !chunked_done(&c->chunk)) {
		const char *data;
		size_t dlen;
		long used = chunked_feed(&c->chunk, buf_head(&c->in), buf_used(&c->in),
					 &data, &dlen);
		if (used < 0)
			return fail_request(c, 400, "malformed chunked body");
		if (c->body_seen + dlen > body_limit(c))
			return too_large(c);
		if (dlen && body_take(c, data, dlen) < 0)
			return -1;
		buf_consume(&c->in, (size_t)used);
	}
	return chunked_done(&c->chunk);
}

/* Runs the state machine over buffered input as far as it goes, then
 * flushes. May free c. */
/* 1 when the request asks to switch protocols (a WebSocket upgrade): the
 * handler takes the socket away, so whatever is owed before it must have
 * left first (issue 11 item 8). */
static int is_upgrade(const struct http_request *r)
{
	return http_header(r, "Upgrade", NULL) &&
	       http_header_has_token(r, "Connection", "upgrade");
}

static void conn_process(http_conn_t *c)
{
	int full = 0;
	while (c->state == ST_HEAD || c->state == ST_BODY || c->state == ST_CHUNKED ||
	       c->state == ST_READY || c->state == ST_WAIT) {
		if ((full = buf_used(&c->out) >= HTTP_MAX_OUTBUF))
			break; /* the client does not read: stop parsing its pipeline */
		if (c->src.gather)
			break; /* goes on once the streamed answer is all sent */
		if (c->park_count >= HTTP_MAX_PIPELINE - 1)
			break; /* answers owed up to the bound (one slot kept for
				* the answer of the request being read) */
		if (c->state != ST_READY) {
			if (c->state == ST_HEAD && take_head(c) <= 0)
				break;
			if (c->state == ST_WAIT) {
				if (!c->retry_body)
					break; /* asked only when woken for it */
				c->retry_body = 0;
				if (open_body(c) <= 0)
					break;
			}
			int done = take_body(c);
			if (done < 0)
				break;
			if (done == 0) {
				if (c->eof)
					c->state = ST_CLOSING; /* truncated request */
				break;
			}
			c->state = ST_READY;
		}
		if (is_upgrade(&c->req) && (sending(c) || c->park_count))
			break; /* sent once the answers before it are out */
		if (dispatch(c) < 0)
			return; /* detached: no longer ours */
		if (buf_used(&c->in) && c->state == ST_HEAD)
			c->started = loop_now(c->srv->loop);
	}
	if (conn_flush(c) < 0)
		return;
	/* an upgrade held for the answers before it goes on once they left;
	 * a pipeline paused on a large answer that the socket took at once
	 * goes on too (no write event will come to resume it) */
	if ((c->state == ST_READY && !sending(c) && !c->park_count) ||
	    (full && buf_used(&c->out) < HTTP_MAX_OUTBUF))
		wake(c);
}

static void conn_read(http_conn_t *c)
{
	if (buf_reserve(&c->in, 4096) < 0) {
		conn_free(c, 1);
		return;
	}
	ssize_t n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n < 0) {
		conn_free(c, 1);
		return;
	}
	int64_t now = loop_now(c->srv->loop);
	if (n == 0) {
		c->eof = 1;
	} else {
		if (c->state == ST_HEAD && !buf_used(&c->in))
			c->started = now;
		c->in.len += (size_t)n;
		c->active = now;
	}
	if (c->state == ST_HANDLER) {
		conn_update_watch(c); /* the handler owes an answer; wait for it */
		return;
	}
	conn_process(c);
}

static void conn_io(loop_t *loop, int fd, int events, void *arg)
{
	(void)loop;
	(void)fd;
	http_conn_t *c = arg;
	if (events & LOOP_WRITE) {
		if (conn_flush(c) < 0)
			return;
		if ((c->state == ST_HEAD && buf_used(&c->in)) || c->state == ST_READY) {
			conn_process(c); /* resume a pipeline paused on output */
			return;
		}
	}
	if (events & LOOP_READ)
		conn_read(c);
}

static void conn_new(http_server_t *s, int fd, const struct sockaddr *sa)
{
	http_conn_t *c = calloc(1, sizeof(*c));
	if (!c || net_nonblock(fd) < 0 ||
	    loop_watch(s->loop, fd, LOOP_READ, conn_io, c) < 0) {
		free(c);
		close(fd);
		return;
	}
	/* answers are whole buffers; Nagle would hold a pipelined answer
	 * back for the client's delayed ACK of the previous one (40 ms) */
	net_nodelay(fd);
	c->srv = s;
	c->fd = fd;
	c->state = ST_HEAD;
	c->active = c->started = loop_now(s->loop);
	net_addr_str(sa, c->remote, sizeof(c->remote));
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
}

/* Real overload (the backlog full for HTTP_OVERLOAD_S at the cap): one
 * canned answer, best effort, then close. */
static void refuse(const http_server_t *s, int fd)
{
	char busy[256];
	int n = snprintf(busy, sizeof(busy),
			 "HTTP/1.1 503 Service Unavailable\r\n%sContent-Type: application/json\r\n"
			 "Retry-After: 1\r\nContent-Length: 33\r\nConnection: close\r\n\r\n"
			 "{\"error\":\"too many connections\"}\n", s->always);
	if (n > 0 && (size_t)n < sizeof(busy) &&
	    send(fd, busy, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* the client is gone already; nothing to tell */
	}
	close(fd);
}

static void listen_pause(http_server_t *s, enum listen_state why)
{
	if (s->fd >= 0 && s->listen_state == LISTENING)
		loop_mask(s->loop, s->fd, 0);
	if (s->listen_state != why)
		s->full_since = 0;
	s->listen_state = why;
}

/* Accepting again once a connection has gone (or the pause for
 * descriptors is over): the backlog is served first thing. */
static void listen_resume(http_server_t *s)
{
	if (s->listen_state == LISTENING || s->nconns >= s->max_conns)
		return;
	if (s->fd >= 0)
		loop_mask(s->loop, s->fd, LOOP_READ);
	s->listen_state = LISTENING;
}

/* 1 when c waits for a request with nothing in flight: a keep-alive
 * connection between requests, or a new one that sent nothing yet, for
 * HTTP_REUSE_IDLE_MS at least (a client just accepted may have its
 * request on the way). */
static int conn_reusable(const http_conn_t *c, int64_t now)
{
	return c->state == ST_HEAD && !buf_used(&c->in) && !sending(c) &&
	       !c->park_count && !c->in_dispatch &&
	       now - c->active >= HTTP_REUSE_IDLE_MS;
}

/* 1 when bytes wait in c's socket: a request on its way, not idleness
 * (closing it would also answer the client with a reset). */
static int input_waiting(const http_conn_t *c)
{
	int n = 0;
	return ioctl(c->fd, FIONREAD, &n) < 0 || n > 0;
}

/* At the cap: closes the connection idle the longest to make room, as
 * nginx does with its reusable connections. 1 when a slot is free. */
static int make_room(http_server_t *s)
{
	int64_t after = INT64_MIN; /* skips those found with input waiting */
	int64_t now = loop_now(s->loop);
	for (int tries = 0; tries < 8; tries++) {
		http_conn_t *oldest = NULL;
		for (http_conn_t *c = s->conns; c; c = c->next)
			if (conn_reusable(c, now) && c->active > after &&
			    (!oldest || c->active < oldest->active))
				oldest = c;
		if (!oldest)
			return 0;
		if (!input_waiting(oldest)) {
			conn_free(oldest, 1);
			return 1;
		}
		after = oldest->active;
	}
	return 0;
}

/* accept() failed with EMFILE/ENFILE: not polling the listener for a
 * second (or until a connection closes) instead of spinning on it. */
static void out_of_fds(http_server_t *s, int err)
{
	if (!s->fds_logged)
		log_warn("accept: %s; new connections wait (%u open)", strerror(err),
			 s->nconns);
	if (!s->fds_logged || s->nconns > s->fds_at)
		s->fds_at = s->nconns;
	s->fds_logged = 1;
	s->fds_retry_at = loop_now(s->loop) + 1000;
	listen_pause(s, PAUSED_FDS);
}

static void on_accept(loop_t *loop, int fd, int events, void *arg)
{
	(void)loop;
	(void)events;
	http_server_t *s = arg;
	for (int i = 0; i < HTTP_ACCEPT_BATCH && s->listen_state == LISTENING; i++) {
		if (s->nconns >= s->max_conns && !make_room(s)) {
			listen_pause(s, PAUSED_CAP); /* the rest wait in the backlog */
			return;
		}
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int cfd = accept(fd, (struct sockaddr *)&ss, &len);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				out_of_fds(s, errno);
			else if (errno == ECONNABORTED || errno == EINTR)
				continue;
			return;
		}
		/* the episode ends (and may be logged again) once the
		 * connections are down to half of where descriptors ran out */
		if (s->fds_logged && s->nconns <= s->fds_at / 2) {
			log_info("accept: descriptors available again");
			s->fds_logged = 0;
		}
		conn_new(s, cfd, (struct sockaddr *)&ss);
	}
}

/* 1 when the listen backlog is full (Linux reports the accept queue of a
 * listening socket in tcp_info); 0 when not, or when it cannot tell. */
static int backlog_full(int fd)
{
#ifdef TCP_INFO
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    len >= sizeof(ti) && ti.tcpi_sacked > 0)
		return ti.tcpi_unacked >= ti.tcpi_sacked;
#else
	(void)fd;
#endif
	return 0;
}

/* At each sweep while accepting is paused: try again after a lack of
 * descriptors; at the cap, shed load only when the backlog has been full
 * for HTTP_OVERLOAD_S (the kernel then drops new clients' SYNs). */
static void check_listener(http_server_t *s, int64_t now)
{
	if (s->listen_state == PAUSED_FDS && now >= s->fds_retry_at) {
		s->listen_state = PAUSED_CAP; /* so listen_resume applies */
		listen_resume(s);
		return;
	}
	if (s->listen_state != PAUSED_CAP || s->fd < 0)
		return;
	if (make_room(s)) { /* a connection has been idle long enough since */
		listen_resume(s);
		return;
	}
	if (!backlog_full(s->fd)) {
		s->full_since = 0;
		return;
	}
	if (!s->full_since)
		s->full_since = now;
	if (now - s->full_since < HTTP_OVERLOAD_S * 1000)
		return;
	log_warn("overloaded: %u connections open and the backlog full for %d s; "
		 "answering 503", s->nconns, HTTP_OVERLOAD_S);
	for (int i = 0; i < HTTP_ACCEPT_BATCH; i++) {
		int cfd = accept(s->fd, NULL, NULL);
		if (cfd < 0)
			break;
		refuse(s, cfd);
	}
	s->full_since = 0;
}

/* Every HTTP_SWEEP_MS: drop idle keep-alive connections, slow clients and
 * clients that do not read their answers. */
static int64_t sweep(loop_t *loop, void *arg)
{
	http_server_t *s = arg;
	int64_t now = loop_now(loop);
	http_conn_t *next;
	for (http_conn_t *c = s->conns; c; c = next) {
		next = c->next;
		int paused = c->park_count >= HTTP_MAX_PIPELINE - 1 || c->src.gather;
		int receiving = !paused && ((c->state == ST_HEAD && buf_used(&c->in)) ||
					    c->state == ST_BODY || c->state == ST_CHUNKED);
		if (sending(c) && now - c->active > HTTP_IDLE_TIMEOUT_S * 1000) {
			conn_free(c, 1);
		} else if (receiving && now - c->started > HTTP_REQUEST_TIMEOUT_S * 1000) {
			c->req.keep_alive = 0;
			fail_request(c, 408, "request not received in time");
			conn_flush(c);
		} else if (c->state == ST_HEAD && !buf_used(&c->in) && !sending(c) &&
			   !c->park_count && now - c->active > HTTP_IDLE_TIMEOUT_S * 1000) {
			conn_free(c, 1);
		}
	}
	if (s->nwaiting)
		s->expire_waits(s, now);
	check_listener(s, now);
	if (!s->wake_timer)
		run_wakes(s);
	return HTTP_SWEEP_MS;
}

/* Raises the soft RLIMIT_NOFILE to what need descriptors take (as far as
 * the hard limit allows; said once when it does not). */
static void reserve_fds(unsigned need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= need)
		return;
	rlim_t want = need;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		log_warn("RLIMIT_NOFILE hard limit %llu is below the %u descriptors the "
			 "connection limits need; clients beyond it wait to be accepted",
			 (unsigned long long)rl.rlim_max, need);
		want = rl.rlim_max;
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("setrlimit(RLIMIT_NOFILE, %llu): %s",
			 (unsigned long long)want, strerror(errno));
}

http_server_t *http_server_new(loop_t *loop, const struct http_server_config *cfg,
			       char *err, size_t errlen)
{
	http_server_t *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->loop = loop;
	s->handler = cfg->handler;
	s->arg = cfg->arg;
	s->max_conns = cfg->max_conns ? cfg->max_conns : HTTP_MAX_CONNS;
	reserve_fds(s->max_conns + cfg->extra_fds + HTTP_FD_RESERVE);
	s->fd = net_listen(cfg->listen, err, errlen);
	if (s->fd < 0) {
		free(s);
		return NULL;
	}
	if (loop_watch(loop, s->fd, LOOP_READ, on_accept, s) < 0 ||
	    !(s->sweep_timer = loop_every(loop, HTTP_SWEEP_MS, sweep, s))) {
		snprintf(err, errlen, "out of memory");
		loop_unwatch(loop, s->fd);
		close(s->fd);
		free(s);
		return NULL;
	}
	return s;
}

void http_server_cors(http_server_t *s, const char *origin)
{
	snprintf(s->always, sizeof(s->always), "Access-Control-Allow-Origin: %.60s\r\n",
		 origin);
}

void http_server_stop_listening(http_server_t *s)
{
	s->listen_state = LISTENING;
	if (s->fd >= 0) {
		loop_unwatch(s->loop, s->fd);
		close(s->fd);
		s->fd = -1;
	}
}

void http_server_free(http_server_t *s)
{
	if (!s)
		return;
	http_server_stop_listening(s);
	while (s->conns)
		conn_free(s->conns, 1);
	loop_timer_cancel(s->loop, s->sweep_timer);
	if (s->wake_timer)
		loop_timer_cancel(s->loop, s->wake_timer);
	free(s);
}

int http_server_port(const http_server_t *s) { return net_local_port(s->fd); }

unsigned http_server_conns(const http_server_t *s) { return s->nconns; }

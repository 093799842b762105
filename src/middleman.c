/*
 * middleman - consumes `notifications`, keeps them (bounded; across
 * restarts with --journal) and pushes them to WebSocket clients every
 * --interval seconds; serves the live page, /tasks and /health over HTTP.
 *
 * A notification is acknowledged to the broker only once stored (and, with
 * a journal, written and fdatasync'ed: deliveries that arrive together are
 * committed with one sync). Clients are pushed only what is committed.
 *
 * WebSocket clients leave the HTTP server at the upgrade. Each client is a
 * cursor into the store: sending copies nothing, frames are written with
 * writev() straight from the stored text, and an entry evicted while a
 * client is halfway through it stays alive by its reference. A client's
 * backlog is what was pushed to it but not yet written; one whose backlog
 * passes WS_MAX_BACKLOG is dropped, so a client that stops reading costs
 * nothing and delays no one (writes never block).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "http.h"
#include "journal.h"
#include "log.h"
#include "loop.h"
#include "mq.h"
#include "net.h"
#include "opt.h"
#include "os.h"
#include "page.h"
#include "store.h"
#include "url.h"
#include "ws.h"

#define PROG "middleman"
#define TICK_MS 1000              /* housekeeping: pings, timeouts */
#define SHUTDOWN_GRACE_MS 1000    /* to flush close frames at exit */
#define MAX_INTERVAL_S 86400

enum client_state {
	CL_OPEN,      /* pushing notifications */
	CL_CLOSING    /* our close frame queued or sent: waiting for EOF */
};

struct middleman;

struct client {
	struct middleman *m;
	struct client *prev, *next;
	int fd;
	enum client_state state;
	int writing;                 /* watching for LOOP_WRITE */
	int shut;                    /* shutdown(SHUT_WR) done */
	int peer_closed;             /* the client's close frame came */
	char addr[48];
	char *task;                  /* ?task= filter, or NULL */
	struct ws_decoder dec;
	buf_t ctrl;                  /* handshake answer and control frames */
	uint64_t cursor;             /* seq of the last entry taken */
	uint64_t cursor_end;         /* its store "end" position */
	uint64_t base_end;           /* store position when it connected */
	uint64_t limit;              /* may be sent entries up to this seq */
	struct store_entry *partial; /* entry being written, with a ref */
	size_t partial_off;          /* bytes of its frame already written */
	int64_t last_rx, ping_at, close_deadline;
};

struct middleman {
	loop_t *loop;
	http_server_t *http;
	mq_t *mq;
	store_t *store;
	journal_t *journal;
	const char *token;
	unsigned long interval;
	struct client *clients;
	unsigned nclients;
	/* committed: stored (journaled and synced) and acknowledged */
	uint64_t committed_seq, committed_end;
	/* pushed: what clients may be sent now */
	uint64_t push_seq, push_end;
	uint64_t *acks;              /* delivery tags waiting for the commit */
	size_t nacks, acks_cap;
	uint64_t commit_timer, flush_timer;
	int stopping;
	int64_t stop_deadline;
};

static const char json_type[] = "application/json";

/* ---- clients: lifetime ---- */

static void client_free(struct client *c, const char *why)
{
	struct middleman *m = c->m;
	if (why)
		log_info("ws %s: closed (%s)", c->addr, why);
	loop_unwatch(m->loop, c->fd);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		m->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	m->nclients--;
	store_entry_unref(c->partial);
	buf_free(&c->ctrl);
	free(c->task);
	free(c);
}

static void client_write(struct client *c);

/* Queues a control frame. -1 when the client was dropped (freed) for it. */
static int client_control(struct client *c, int opcode, const void *p,
			  size_t len)
{
	uint8_t hdr[WS_MAX_HEADER];
	size_t h = ws_frame_header(hdr, opcode, 1, len, NULL);
	if (buf_used(&c->ctrl) + h + len > WS_MAX_BACKLOG ||
	    buf_append(&c->ctrl, hdr, h) < 0 || buf_append(&c->ctrl, p, len) < 0) {
		client_free(c, "control frames not read");
		return -1;
	}
	return 0;
}

/* Queues a close frame and stops pushing; the connection ends when both
 * close frames have crossed, at the peer's EOF, or after
 * WS_CLOSE_TIMEOUT_S. The caller writes. -1 when c was freed. */
static int client_close(struct client *c, unsigned code, const char *reason)
{
	if (c->state != CL_OPEN)
		return 0;
	uint8_t pl[WS_MAX_CONTROL];
	size_t len = code == WS_CLOSE_NO_STATUS ? 0 : ws_close_payload(pl, code, reason);
	c->state = CL_CLOSING;
	c->close_deadline = loop_now(c->m->loop) + WS_CLOSE_TIMEOUT_S * 1000;
	return client_control(c, WS_OP_CLOSE, pl, len);
}

/* ---- clients: writing ---- */

static int entry_wanted(const struct client *c, const struct store_entry *e)
{
	return !c->task || strcmp(c->task, e->id) == 0;
}

/* One frame (header + text) of an entry, from byte off, as iovecs. */
static int frame_iov(struct iovec *iov, uint8_t *hdr,
		     const struct store_entry *e, size_t off)
{
	size_t h = ws_frame_header(hdr, WS_OP_TEXT, 1, e->len, NULL);
	int n = 0;
	if (off < h) {
		iov[n].iov_base = hdr + off;
		iov[n++].iov_len = h - off;
		off = h;
	}
	iov[n].iov_base = (char *)e->text + (off - h);
	iov[n++].iov_len = e->len - (off - h);
	return n;
}

/* What one writev() covers, to account for it afterwards. */
struct batch {
	struct iovec iov[3 + 2 * WS_WRITEV_FRAMES];
	uint8_t hdr[WS_WRITEV_FRAMES + 1][WS_MAX_HEADER];
	struct store_entry *ent[WS_WRITEV_FRAMES];
	size_t ent_size[WS_WRITEV_FRAMES];
	int niov, nent;
	size_t partial_rest, ctrl_len, total;
	uint64_t scanned_seq, scanned_end; /* last entry looked at */
};

static void batch_entries(struct client *c, struct batch *b)
{
	store_t *s = c->m->store;
	size_t i = store_after(s, c->cursor), n = store_count(s);
	b->scanned_seq = 0;
	for (; i < n && b->nent < WS_WRITEV_FRAMES; i++) {
		struct store_entry *e = store_at(s, i);
		if (e->seq > c->limit)
			break;
		b->scanned_seq = e->seq;
		b->scanned_end = e->end;
		if (!entry_wanted(c, e))
			continue;
		uint8_t *hdr = b->hdr[b->nent + 1];
		int k = frame_iov(b->iov + b->niov, hdr, e, 0);
		size_t size = 0;
		for (int j = 0; j < k; j++)
			size += b->iov[b->niov + j].iov_len;
		b->niov += k;
		b->ent[b->nent] = e;
		b->ent_size[b->nent++] = size;
		b->total += size;
	}
}

/* Moves the cursor past entry e (sent or skipped). */
static void advance(struct client *c, uint64_t seq, uint64_t end)
{
	c->cursor = seq;
	c->cursor_end = end;
}

/* Accounts for n bytes written from batch b. */
static void batch_done(struct client *c, struct batch *b, size_t n)
{
	if (c->partial) {
		size_t k = n < b->partial_rest ? n : b->partial_rest;
		c->partial_off += k;
		n -= k;
		if (k < b->partial_rest)
			return;
		store_entry_unref(c->partial);
		c->partial = NULL;
	}
	size_t k = n < b->ctrl_len ? n : b->ctrl_len;
	buf_consume(&c->ctrl, k);
	if (b->ctrl_len && !buf_used(&c->ctrl))
		buf_free(&c->ctrl); /* rarely used: not worth keeping per client */
	n -= k;
	for (int i = 0; i < b->nent; i++) {
		struct store_entry *e = b->ent[i];
		if (n >= b->ent_size[i]) {
			n -= b->ent_size[i];
			advance(c, e->seq, e->end);
			continue;
		}
		if (n > 0) {
			store_entry_ref(e);
			c->partial = e;
			c->partial_off = n;
			advance(c, e->seq, e->end);
		}
		return;
	}
	/* all written: skipped entries after the last frame are passed too */
	if (b->scanned_seq > c->cursor)
		advance(c, b->scanned_seq, b->scanned_end);
}

static void set_writing(struct client *c, int on)
{
	if (c->writing == on)
		return;
	c->writing = on;
	loop_mask(c->m->loop, c->fd, LOOP_READ | (on ? LOOP_WRITE : 0));
}

/* Writes what can be written now without blocking. May free c. */
static void client_write(struct client *c)
{
	for (;;) {
		struct batch b;
		b.niov = b.nent = 0;
		b.partial_rest = b.ctrl_len = b.total = 0;
		b.scanned_seq = 0;
		if (c->partial) {
			b.niov = frame_iov(b.iov, b.hdr[0], c->partial, c->partial_off);
			for (int j = 0; j < b.niov; j++)
				b.partial_rest += b.iov[j].iov_len;
			b.total = b.partial_rest;
		}
		if (buf_used(&c->ctrl)) {
			b.iov[b.niov].iov_base = buf_head(&c->ctrl);
			b.iov[b.niov++].iov_len = b.ctrl_len = buf_used(&c->ctrl);
			b.total += b.ctrl_len;
		}
		if (c->state == CL_OPEN)
			batch_entries(c, &b);
		if (b.total == 0) {
			if (b.scanned_seq > c->cursor)
				advance(c, b.scanned_seq, b.scanned_end);
			if (b.scanned_seq && c->cursor < c->limit)
				continue; /* only skipped entries so far */
			break;
		}
		ssize_t w = writev(c->fd, b.iov, b.niov);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_writing(c, 1);
				return;
			}
			client_free(c, strerror(errno));
			return;
		}
		batch_done(c, &b, (size_t)w);
		if ((size_t)w < b.total) {
			set_writing(c, 1);
			return;
		}
	}
	set_writing(c, 0);
	if (c->state != CL_CLOSING)
		return;
	if (c->peer_closed) {
		/* both close frames crossed: the server closes first */
		client_free(c, "closed");
		return;
	}
	if (!c->shut) {
		/* our close frame is out: no more bytes from us; read until
		 * the peer closes too (closing now could reset the
		 * connection and lose the close frame in flight) */
		shutdown(c->fd, SHUT_WR);
		c->shut = 1;
	}
}

/* Bytes pushed to c and not yet written. */
static uint64_t client_backlog(const struct client *c)
{
	uint64_t from = c->cursor_end > c->base_end ? c->cursor_end : c->base_end;
	return c->m->push_end > from ? c->m->push_end - from : 0;
}

/* Makes everything committed available to every client, and writes. */
static void push_all(struct middleman *m)
{
	m->push_seq = m->committed_seq;
	m->push_end = m->committed_end;
	struct client *c = m->clients, *next;
	for (; c; c = next) {
		next = c->next;
		if (c->state != CL_OPEN)
			continue;
		if (c->limit < m->push_seq)
			c->limit = m->push_seq;
		if (!c->writing)
			client_write(c);
		else if (client_backlog(c) > WS_MAX_BACKLOG)
			client_free(c, "too slow: backlog over the limit");
	}
}

static void on_push_tick(loop_t *loop, void *arg)
{
	struct middleman *m = arg;
	if (m->committed_seq > m->push_seq)
		push_all(m);
	loop_timer(loop, (int64_t)m->interval * 1000, on_push_tick, m);
}

/* ---- clients: reading ---- */

static void client_event(struct client *c, const struct ws_event *ev, int *gone)
{
	switch (ev->type) {
	case WS_EV_PING:
		if (c->state == CL_OPEN &&
		    client_control(c, WS_OP_PONG, ev->data, ev->len) < 0)
			*gone = 1;
		break;
	case WS_EV_CLOSE:
		c->peer_closed = 1;
		if (c->state == CL_OPEN) {
			log_info("ws %s: close %u from the client", c->addr, ev->code);
			/* echo the code (none for none) */
			if (client_close(c, ev->code, "") < 0)
				*gone = 1;
		}
		break;
	case WS_EV_ERROR:
		if (c->state == CL_OPEN) {
			log_info("ws %s: %s: closing with %u", c->addr, ev->reason,
				 ev->code);
			if (client_close(c, ev->code, ev->reason) < 0)
				*gone = 1;
		}
		break;
	default: /* data and pongs: clients have nothing to tell us */
		break;
	}
}

/* Decodes bytes from the client. Sets *gone when c was freed. */
static void client_input(struct client *c, uint8_t *p, size_t n, int *gone)
{
	while (n > 0 && !*gone) {
		struct ws_event ev;
		size_t used = ws_decode(&c->dec, p, n, &ev);
		p += used;
		n -= used;
		if (ev.type != WS_EV_NONE)
			client_event(c, &ev, gone);
		if (ev.type == WS_EV_ERROR)
			break; /* the decoder is dead: ignore the rest */
	}
}

static void on_client_io(loop_t *loop, int fd, int events, void *arg)
{
	struct client *c = arg;
	int gone = 0;
	if (events & LOOP_READ) {
		uint8_t buf[4096];
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r == 0) {
			client_free(c, c->state == CL_OPEN ? "the client left" : "closed");
			return;
		}
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			client_free(c, strerror(errno));
			return;
		}
		if (r > 0) {
			c->last_rx = loop_now(loop);
			c->ping_at = 0;
			client_input(c, buf, (size_t)r, &gone);
			if (gone)
				return;
		}
	}
	client_write(c);
}

/* ---- clients: upgrade ---- */

static int query_token_ok(const struct http_request *req, const char *token)
{
	char given[256];
	if (http_query_param(req, "token", given, sizeof(given)) != 1)
		return 0;
	return http_secret_equal(given, strlen(given), token, strlen(token));
}

/* Parses ?since= and ?task=. 0, or -1 with a reason. */
static int ws_params(const struct http_request *req, uint64_t *since,
		     char *task, size_t tasklen, const char **why)
{
	char v[32];
	int r = http_query_param(req, "since", v, sizeof(v));
	*since = 0;
	if (r != 0) {
		char *end;
		errno = 0;
		unsigned long long s = strtoull(v, &end, 10);
		if (r < 0 || !*v || *end || errno || v[0] == '-') {
			*why = "since must be a whole number";
			return -1;
		}
		*since = s;
	}
	task[0] = '\0';
	r = http_query_param(req, "task", task, tasklen);
	if (r < 0 || (r == 1 && !task[0])) {
		*why = "task must be a task id";
		return -1;
	}
	return 0;
}

static void upgrade(struct middleman *m, http_conn_t *hc,
		    const struct http_request *req)
{
	char accept[WS_ACCEPT_LEN + 1], task[NOTIFY_MAX_ID + 1];
	const char *why = NULL;
	uint64_t since;
	int rc = ws_check_upgrade(req, accept);
	if (rc == 426) {
		http_respond_error(hc, 426, "only WebSocket version 13 is spoken here",
				   "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n");
		return;
	}
	if (rc != 0) {
		http_respond_error(hc, 400, "not a valid WebSocket upgrade", NULL);
		return;
	}
	if (ws_params(req, &since, task, sizeof(task), &why) < 0) {
		http_respond_error(hc, 400, why, NULL);
		return;
	}
	if (m->stopping || m->nclients >= WS_MAX_CLIENTS) {
		char extra[48];
		snprintf(extra, sizeof(extra), "Retry-After: %d\r\n", HTTP_RETRY_AFTER_S);
		http_respond_error(hc, 503, "too many WebSocket clients", extra);
		return;
	}
	struct client *c = calloc(1, sizeof(*c));
	if (!c || (task[0] && !(c->task = strdup(task))) ||
	    buf_printf(&c->ctrl, "HTTP/1.1 101 Switching Protocols\r\n"
		       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Accept: %s\r\n\r\n", accept) < 0) {
		if (c) {
			free(c->task);
			buf_free(&c->ctrl);
		}
		free(c);
		http_respond_error(hc, 503, "out of memory", NULL);
		return;
	}
	snprintf(c->addr, sizeof(c->addr), "%s", req->remote ? req->remote : "?");
	buf_t leftover = BUF_INIT;
	c->fd = http_detach(hc, &leftover);
	if (c->fd < 0) {
		/* out of memory: the connection is still the server's */
		buf_free(&leftover);
		buf_free(&c->ctrl);
		free(c->task);
		free(c);
		http_respond_error(hc, 503, "out of memory", NULL);
		return;
	}
	/* frames go out whole (writev): no need to wait for the client's
	 * delayed ACK before the next one (Nagle) */
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->m = m;
	ws_decoder_init(&c->dec, WS_MAX_MESSAGE, 1);
	/* on open: everything stored (committed), even what the next push
	 * would bring to the others */
	c->cursor = since;
	c->limit = m->committed_seq;
	c->base_end = m->committed_end;
	c->last_rx = loop_now(m->loop);
	c->next = m->clients;
	if (m->clients)
		m->clients->prev = c;
	m->clients = c;
	m->nclients++;
	log_info("ws %s: open (since %llu%s%s), %u clients", c->addr,
		 (unsigned long long)since, c->task ? ", task " : "",
		 c->task ? c->task : "", m->nclients);
	if (loop_watch(m->loop, c->fd, LOOP_READ, on_client_io, c) < 0) {
		buf_free(&leftover);
		client_free(c, "out of memory");
		return;
	}
	int gone = 0;
	/* frames the client sent right behind its request */
	client_input(c, (uint8_t *)buf_head(&leftover), buf_used(&leftover), &gone);
	buf_free(&leftover);
	if (!gone)
		client_write(c);
}

/* ---- housekeeping ---- */

static void on_tick(loop_t *loop, void *arg)
{
	struct middleman *m = arg;
	int64_t now = loop_now(loop);
	struct client *c = m->clients, *next;
	for (; c; c = next) {
		next = c->next;
		if (c->state == CL_CLOSING) {
			if (now >= c->close_deadline)
				client_free(c, "close handshake timed out");
		} else if (c->ping_at && now - c->ping_at >= WS_PONG_TIMEOUT_S * 1000) {
			client_free(c, "no answer to ping");
		} else if (!c->ping_at && now - c->last_rx >= WS_PING_INTERVAL_S * 1000) {
			c->ping_at = now;
			if (client_control(c, WS_OP_PING, "", 0) == 0)
				client_write(c);
		}
	}
	loop_timer(loop, TICK_MS, on_tick, m);
}

/* ---- notifications ---- */

struct compact_iter {
	store_t *s;
	size_t i;
};

/* The journal keeps exactly what the store holds. */
static const char *compact_next(void *arg, size_t *len)
{
	struct compact_iter *it = arg;
	struct store_entry *e = store_at(it->s, it->i++);
	if (!e)
		return NULL;
	*len = e->len;
	return e->text;
}

/* Commits what was stored since the last commit: one sync, the acks, the
 * push (at once with --interval 0), and compaction when due. */
static void commit(loop_t *loop, void *arg)
{
	struct middleman *m = arg;
	(void)loop;
	m->commit_timer = 0;
	if (m->journal && journal_sync(m->journal) < 0) {
		/* unacked: the broker hands them again after a reconnection */
		log_error("journal: sync failed: %s", strerror(errno));
		m->nacks = 0;
		return;
	}
	for (size_t i = 0; i < m->nacks; i++)
		mq_ack(m->mq, m->acks[i]);
	m->nacks = 0;
	m->committed_seq = store_last_seq(m->store);
	m->committed_end = store_bytes(m->store);
	if (m->interval == 0)
		push_all(m);
	if (m->journal &&
	    journal_records(m->journal) > store_count(m->store) + JOURNAL_SLACK) {
		struct compact_iter it = { m->store, 0 };
		size_t before = journal_records(m->journal);
		if (journal_compact(m->journal, compact_next, &it) < 0)
			log_error("journal: compaction failed: %s", strerror(errno));
		else
			log_info("journal: compacted %zu records to %zu", before,
				 journal_records(m->journal));
	}
}

static int add_ack(struct middleman *m, uint64_t tag)
{
	if (m->nacks == m->acks_cap) {
		size_t ncap = m->acks_cap ? m->acks_cap * 2 : MIDDLEMAN_PREFETCH;
		uint64_t *na = realloc(m->acks, ncap * sizeof(*na));
		if (!na)
			return -1;
		m->acks = na;
		m->acks_cap = ncap;
	}
	m->acks[m->nacks++] = tag;
	return 0;
}

static void on_deliver(const struct mq_delivery *d, void *arg)
{
	struct middleman *m = arg;
	char err[160];
	struct store_entry *e = store_entry_new(m->store, d->body, d->len, 0,
						err, sizeof(err));
	if (!e) {
		log_warn("notification dropped: %s", err);
		mq_reject(m->mq, d->tag, 0); /* a poison message must not loop */
		return;
	}
	/* stored before a crash but not acknowledged, so the broker sends it
	 * again; or published twice by a worker whose confirm was lost:
	 * ?since= readers must not see it twice */
	if (store_has_copy(m->store, e, MIDDLEMAN_DEDUP_WINDOW)) {
		log_info("notification for %s already stored; not again", e->id);
		store_entry_unref(e);
		if (add_ack(m, d->tag) < 0)
			log_error("out of memory");
		else if (!m->commit_timer)
			m->commit_timer = loop_timer(m->loop, 0, commit, m);
		return;
	}
	if (m->journal && journal_append(m->journal, e->text, e->len) < 0) {
		/* left unacked: the broker keeps it for a later connection */
		log_error("journal: %s: notification %llu not stored",
			  strerror(errno), (unsigned long long)e->seq);
		store_entry_unref(e);
		return;
	}
	if (add_ack(m, d->tag) < 0) {
		store_entry_unref(e);
		log_error("out of memory");
		return;
	}
	store_insert(m->store, e);
	if (!m->commit_timer)
		m->commit_timer = loop_timer(m->loop, 0, commit, m);
}

/* ---- HTTP ---- */

static int path_is(const struct http_request *r, const char *p)
{
	return r->path_len == strlen(p) && !memcmp(r->path, p, r->path_len);
}

static int method_is(const struct http_request *r, const char *meth)
{
	return r->method_len == strlen(meth) && !memcmp(r->method, meth, r->method_len);
}

static void health(struct middleman *m, http_conn_t *c)
{
	if (mq_is_up(m->mq)) {
		static const char up[] = "{\"amqp\":\"up\"}\n";
		http_respond(c, 200, json_type, up, sizeof(up) - 1, NULL);
		return;
	}
	char extra[48];
	static const char down[] = "{\"amqp\":\"down\"}\n";
	snprintf(extra, sizeof(extra), "Retry-After: %d\r\n", HTTP_RETRY_AFTER_S);
	http_respond(c, 503, json_type, down, sizeof(down) - 1, extra);
}


static void tasks(struct middleman *m, http_conn_t *c, const struct http_request *req)
{
	if (path_is(req, "/tasks")) {
		buf_t out = BUF_INIT;
		if (store_tasks_json(m->store, &out) < 0 || buf_puts(&out, "\n") < 0)
			http_respond_error(c, 503, "out of memory", NULL);
		else
			http_respond(c, 200, json_type, out.data, out.len, NULL);
		buf_free(&out);
		return;
	}
	char id[NOTIFY_MAX_ID + 1];
	int len = url_pct_decode_strict(req->path + 7, req->path_len - 7, id, sizeof(id));
	const struct store_entry *e = len > 0 ? store_task(m->store, id, (size_t)len) : NULL;
	if (!e) {
		http_respond_error(c, 404, "no such task", NULL);
		return;
	}
	buf_t out = BUF_INIT;
	if (buf_append(&out, e->text, e->len) < 0 || buf_puts(&out, "\n") < 0)
		http_respond_error(c, 503, "out of memory", NULL);
	else
		http_respond(c, 200, json_type, out.data, out.len, NULL);
	buf_free(&out);
}

static int get_only(http_conn_t *c, const struct http_request *req)
{
	if (method_is(req, "GET") || method_is(req, "HEAD"))
		return 1;
	http_respond_error(c, 405, "use GET", "Allow: GET, HEAD\r\n");
	return 0;
}

static void handle(http_conn_t *c, const struct http_request *req, void *arg)
{
	struct middleman *m = arg;
	int page = path_is(req, "/"), ws = path_is(req, "/ws");
	/* a browser gives the page and its socket the token in the URL */
	if (m->token && !http_bearer_ok(req, m->token) &&
	    !((page || ws) && query_token_ok(req, m->token))) {
		http_respond_error(c, 401, "missing or wrong bearer token",
				   "WWW-Authenticate: Bearer\r\n");
	} else if (ws) {
		upgrade(m, c, req);
	} else if (page) {
		if (get_only(c, req))
			http_respond(c, 200, "text/html; charset=utf-8",
				     (const char *)page_html, page_html_len,
				     "Cache-Control: no-cache\r\n");
	} else if (path_is(req, "/tasks") ||
		   (req->path_len > 7 && !memcmp(req->path, "/tasks/", 7))) {
		if (get_only(c, req))
			tasks(m, c, req);
	} else if (path_is(req, "/health")) {
		if (get_only(c, req))
			health(m, c);
	} else {
		http_respond_error(c, 404, "no such path: try /, /ws, /tasks or /health",
				   NULL);
	}
}

/* ---- start and stop ---- */

static void replay_record(const char *rec, size_t len, void *arg)
{
	struct middleman *m = arg;
	char err[160];
	struct store_entry *e = store_entry_new(m->store, rec, len, 1, err, sizeof(err));
	if (!e) {
		log_warn("journal: record skipped: %s", err);
		return;
	}
	store_insert(m->store, e);
}

static int open_journal(struct middleman *m, const char *path)
{
	char err[300];
	m->journal = journal_open(path, replay_record, m, err, sizeof(err));
	if (!m->journal) {
		log_error("journal: %s", err);
		return -1;
	}
	if (journal_dropped(m->journal))
		log_warn("journal: %llu bytes of a torn or damaged tail cut off",
			 (unsigned long long)journal_dropped(m->journal));
	log_info("journal %s: %zu records, %zu kept, last seq %llu", path,
		 journal_records(m->journal), store_count(m->store),
		 (unsigned long long)store_last_seq(m->store));
	m->committed_seq = m->push_seq = store_last_seq(m->store);
	m->committed_end = m->push_end = store_bytes(m->store);
	return 0;
}

static void check_stopped(loop_t *loop, void *arg)
{
	struct middleman *m = arg;
	if (!m->clients || loop_now(loop) >= m->stop_deadline)
		loop_stop(loop);
	else
		loop_timer(loop, 20, check_stopped, m);
}

static void on_stop_signal(loop_t *loop, int signo, void *arg)
{
	struct middleman *m = arg;
	if (m->stopping)
		return;
	m->stopping = 1;
	log_info("signal %d: finishing", signo);
	http_server_stop_listening(m->http);
	if (m->commit_timer) {
		loop_timer_cancel(loop, m->commit_timer);
		commit(loop, m);
	}
	struct client *c = m->clients, *next;
	for (; c; c = next) {
		next = c->next;
		if (client_close(c, WS_CLOSE_GOING_AWAY, "server stopping") == 0)
			client_write(c);
	}
	m->stop_deadline = loop_now(loop) + SHUTDOWN_GRACE_MS;
	check_stopped(loop, m);
}

int main(int argc, char **argv)
{
	const char *amqp = DEFAULT_AMQP_URL, *listen = DEFAULT_MIDDLEMAN_LISTEN;
	const char *token = NULL, *journal = NULL;
	unsigned long heartbeat = DEFAULT_HEARTBEAT, interval = DEFAULT_INTERVAL;
	unsigned long history = DEFAULT_HISTORY;
	int use_syslog = 0;
	const struct opt opts[] = {
		OPT_ROW_AMQP(&amqp),
		{ "listen", "WARREN_MIDDLEMAN_LISTEN", OPT_STR, &listen, 0, "[ADDR:]PORT", "HTTP and WebSocket address (default " DEFAULT_MIDDLEMAN_LISTEN ")" },
		{ "token", "WARREN_TOKEN", OPT_STR, &token, 0, "SECRET", "require Authorization: Bearer SECRET (or ?token=SECRET for / and /ws)" },
		{ "interval", "WARREN_INTERVAL", OPT_UINT, &interval, MAX_INTERVAL_S, "N", "seconds between pushes, 0 = at once (default 5)" },
		{ "history", "WARREN_HISTORY", OPT_UINT, &history, MIDDLEMAN_MAX_HISTORY, "N", "notifications kept (default 1000)" },
		{ "journal", "WARREN_JOURNAL", OPT_STR, &journal, 0, "PATH", "keep notifications across restarts in PATH" },
		OPT_ROW_HEARTBEAT(&heartbeat),
		OPT_ROW_SYSLOG(&use_syslog),
		OPT_ROW_END
	};
	int first = opt_parse(PROG, "Keeps task notifications and pushes them to browsers over WebSocket.",
			      opts, argc, argv);
	if (first < argc)
		opt_fail(PROG, "unexpected argument '%s' (try --help)", argv[first]);
	char err[256];
	if (mq_check_url(amqp, err, sizeof(err)) < 0)
		opt_fail(PROG, "--amqp: %s", err);
	if (net_check_listen(listen) < 0)
		opt_fail(PROG, "--listen: bad address '%s' (want [ADDR:]PORT)", listen);
	if (history < 1)
		opt_fail(PROG, "--history: must be at least 1");
	if (journal && !*journal)
		opt_fail(PROG, "--journal: empty path");
	if (token && !*token)
		token = NULL;

	log_open(PROG, use_syslog);
	signal(SIGPIPE, SIG_IGN);
	long nofile = os_raise_nofile();
	if (nofile >= 0 && nofile < WS_MAX_CLIENTS + MIDDLEMAN_HTTP_CONNS + 16)
		log_warn("only %ld open files allowed: fewer WebSocket clients fit", nofile);

	struct middleman m = { .token = token, .interval = interval };
	int rc = 1;
	m.loop = loop_new();
	m.store = store_new(history);
	if (!m.loop || !m.store) {
		log_error("out of memory");
		goto out;
	}
	if (journal && open_journal(&m, journal) < 0)
		goto out;
	struct http_server_config hc = { listen, MIDDLEMAN_HTTP_CONNS, handle, &m };
	m.http = http_server_new(m.loop, &hc, err, sizeof(err));
	if (!m.http) {
		log_error("%s", err);
		goto out;
	}
	struct mq_config mc = { .url = amqp, .heartbeat = (unsigned)heartbeat,
				.consume = QUEUE_NOTIFICATIONS,
				.prefetch = MIDDLEMAN_PREFETCH,
				.on_deliver = on_deliver, .arg = &m, .name = PROG };
	m.mq = mq_new(m.loop, &mc, err, sizeof(err));
	if (!m.mq) {
		log_error("%s", err);
		goto out;
	}
	loop_signal(m.loop, SIGTERM, on_stop_signal, &m);
	loop_signal(m.loop, SIGINT, on_stop_signal, &m);
	loop_timer(m.loop, TICK_MS, on_tick, &m);
	if (interval > 0)
		loop_timer(m.loop, (int64_t)interval * 1000, on_push_tick, &m);
	log_info("listening on %s (port %d), push every %lus, history %lu",
		 listen, http_server_port(m.http), interval, history);
	rc = loop_run(m.loop) < 0 ? 1 : 0;
out:
	while (m.clients)
		client_free(m.clients, NULL);
	if (m.http)
		http_server_free(m.http);
	if (m.mq)
		mq_free(m.mq);
	journal_close(m.journal);
	store_free(m.store);
	free(m.acks);
	if (m.loop)
		loop_free(m.loop);
	log_info("stopped");
	return rc;
}

/*
 * push.c - WebSocket clients as cursors into the store; see push.h.
 *
 * A client is a small state machine: open (pushing), then closing (our
 * close frame queued, waiting for the peer's EOF or a deadline). Its
 * output is the handshake answer and control frames (in ctrl) plus the
 * entries between its cursor and its limit, taken from the store at each
 * write, up to WS_WRITEV_FRAMES frames per writev().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "net.h"
#include "push.h"
#include "ws.h"

enum client_state {
	CL_OPEN,      /* pushing notifications */
	CL_CLOSING    /* our close frame queued or sent: waiting for EOF */
};

struct client {
	struct push *p;
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
	uint64_t cursor;             /* its position: seq of the last entry taken */
	uint64_t limit;              /* may be sent entries up to this seq */
	struct store_entry *partial; /* entry being written, with a ref */
	size_t partial_off;          /* bytes of its frame already written */
	int64_t last_rx, ping_at, close_deadline;
	int64_t behind_since;        /* when its socket last filled up */
};

struct push {
	loop_t *loop;
	store_t *store;
	struct client *clients;
	unsigned nclients;
	struct push_config cfg;
	/* committed: in the store for good; pushed: what clients may be
	 * sent now (new clients get everything committed at once) */
	uint64_t committed_seq, push_seq;
	uint64_t tick;
	int closing;                 /* push_close_all: no new clients */
};

/* ---- clients: lifetime ---- */

static void client_free(struct client *c, const char *why)
{
	struct push *p = c->p;
	if (why)
		log_info("ws %s: closed (%s)", c->addr, why);
	loop_unwatch(p->loop, c->fd);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		p->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	p->nclients--;
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
	if (buf_used(&c->ctrl) + h + len > WS_MAX_CONTROL_BACKLOG ||
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
	c->close_deadline = loop_now(c->p->loop) + WS_CLOSE_TIMEOUT_S * 1000;
	return client_control(c, WS_OP_CLOSE, pl, len);
}

/* ---- clients: writing ---- */

static int entry_wanted(const struct client *c, const struct store_entry *e)
{
	return !c->task || (strlen(c->task) == e->id_len &&
			    memcmp(c->task, e->id, e->id_len) == 0);
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
	uint64_t scanned_seq;       /* the position once all is written */
};

static void batch_add(struct batch *b, struct store_entry *e)
{
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

/* The next entries for c, from the history while it holds everything
 * after c's position, else the states of the tasks changed since. */
static void batch_entries(struct client *c, struct batch *b)
{
	store_t *s = c->p->store;
	uint64_t at = c->cursor;
	if (c->task && !store_replayable(s, at)) {
		/* catching up on one task: its state is all there is */
		struct store_entry *e = store_task(s, c->task, strlen(c->task));
		if (e && e->seq > at && e->seq <= c->limit)
			batch_add(b, e);
		b->scanned_seq = c->limit;
		return;
	}
	while (b->nent < WS_WRITEV_FRAMES) {
		struct store_entry *e = store_next(s, at);
		if (!e || e->seq > c->limit)
			break;
		at = b->scanned_seq = e->seq;
		if (entry_wanted(c, e))
			batch_add(b, e);
	}
}

/* Moves the cursor past entry seq (sent or skipped). */
static void advance(struct client *c, uint64_t seq)
{
	if (seq > c->cursor)
		c->cursor = seq;
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
			advance(c, e->seq);
			continue;
		}
		if (n > 0) {
			store_entry_ref(e);
			c->partial = e;
			c->partial_off = n;
			advance(c, e->seq);
		}
		return;
	}
	/* all written: skipped entries after the last frame are passed too */
	advance(c, b->scanned_seq);
}

static void set_writing(struct client *c, int on)
{
	if (c->writing == on)
		return;
	if (on)
		c->behind_since = loop_now(c->p->loop); /* the stall clock */
	c->writing = on;
	loop_mask(c->p->loop, c->fd, LOOP_READ | (on ? LOOP_WRITE : 0));
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
			uint64_t was = c->cursor;
			advance(c, b.scanned_seq);
			if (c->cursor > was && c->cursor < c->limit)
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

void push_commit(push_t *p, uint64_t seq)
{
	p->committed_seq = seq;
}

void push_publish(push_t *p)
{
	p->push_seq = p->committed_seq;
	struct client *c = p->clients, *next;
	for (; c; c = next) {
		next = c->next;
		if (c->state != CL_OPEN)
			continue;
		if (c->limit < p->push_seq)
			c->limit = p->push_seq;
		if (!c->writing)
			client_write(c);
	}
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
static void client_input(struct client *c, uint8_t *in, size_t n,
			 int *gone)
{
	while (n > 0 && !*gone) {
		struct ws_event ev;
		size_t used = ws_decode(&c->dec, in, n, &ev);
		in += used;
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

/* ---- housekeeping ---- */

/* Every PUSH_TICK_MS: pings, pong and close timeouts. */
static int64_t on_tick(loop_t *loop, void *arg)
{
	struct push *p = arg;
	int64_t now = loop_now(loop);
	struct client *c = p->clients, *next;
	for (; c; c = next) {
		next = c->next;
		if (c->writing && now - c->behind_since >= p->cfg.stall_ms) {
			/* a trickle does not count: it must catch up */
			client_free(c, "too slow: behind for too long");
		} else if (c->state == CL_CLOSING) {
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
	return p->cfg.tick_ms;
}

/* ---- the clients as a whole ---- */

push_t *push_new(loop_t *loop, store_t *s, const struct push_config *cfg)
{
	push_t *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->loop = loop;
	p->store = s;
	if (cfg)
		p->cfg = *cfg;
	if (!p->cfg.max_clients)
		p->cfg.max_clients = WS_MAX_CLIENTS;
	if (!p->cfg.stall_ms)
		p->cfg.stall_ms = WS_STALL_TIMEOUT_S * 1000;
	if (!p->cfg.tick_ms)
		p->cfg.tick_ms = PUSH_TICK_MS;
	p->tick = loop_every(loop, p->cfg.tick_ms, on_tick, p);
	if (!p->tick) {
		free(p);
		return NULL;
	}
	return p;
}

void push_free(push_t *p)
{
	if (!p)
		return;
	while (p->clients)
		client_free(p->clients, NULL);
	loop_timer_cancel(p->loop, p->tick);
	free(p);
}

int push_attach(push_t *p, int fd, const char *addr, const char *hello,
		size_t hello_len, void *in, size_t in_len,
		uint64_t since, const char *task)
{
	struct client *c = calloc(1, sizeof(*c));
	if (!c || (task && !(c->task = strdup(task))) ||
	    buf_append(&c->ctrl, hello, hello_len) < 0) {
		if (c) {
			free(c->task);
			buf_free(&c->ctrl);
		}
		free(c);
		return -1;
	}
	if (loop_watch(p->loop, fd, LOOP_READ, on_client_io, c) < 0) {
		free(c->task);
		buf_free(&c->ctrl);
		free(c);
		return -1;
	}
	snprintf(c->addr, sizeof(c->addr), "%s", addr ? addr : "?");
	c->p = p;
	c->fd = fd;
	/* frames go out whole (writev): no need to wait for the client's
	 * delayed ACK before the next one (Nagle) */
	net_nodelay(fd);
	ws_decoder_init(&c->dec, WS_MAX_MESSAGE, 1);
	/* on open: everything stored (committed), even what the next push
	 * would bring to the others */
	c->cursor = since;
	c->limit = p->committed_seq;
	c->last_rx = loop_now(p->loop);
	c->next = p->clients;
	if (p->clients)
		p->clients->prev = c;
	p->clients = c;
	p->nclients++;
	log_info("ws %s: open (since %llu%s%s), %u clients", c->addr,
		 (unsigned long long)since, c->task ? ", task " : "",
		 c->task ? c->task : "", p->nclients);
	int gone = 0;
	/* frames the client sent right behind its request */
	client_input(c, in, in_len, &gone);
	if (!gone)
		client_write(c);
	return 0;
}

void push_upgrade(push_t *p, http_conn_t *hc, const struct http_request *req,
		  uint64_t since, const char *task)
{
	char accept[WS_ACCEPT_LEN + 1], hello[160];
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
	if (p->closing || p->nclients >= p->cfg.max_clients) {
		http_respond_unavailable(hc, "too many WebSocket clients");
		return;
	}
	int n = snprintf(hello, sizeof(hello), "HTTP/1.1 101 Switching Protocols\r\n"
			 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
	char addr[48];
	snprintf(addr, sizeof(addr), "%s", req->remote ? req->remote : "?");
	buf_t leftover = BUF_INIT;
	int fd = http_detach(hc, &leftover);
	if (fd < 0) {
		/* out of memory: the connection is still the server's */
		buf_free(&leftover);
		http_respond_error(hc, 503, "out of memory", NULL);
		return;
	}
	if (push_attach(p, fd, addr, hello, (size_t)n, buf_head(&leftover),
			buf_used(&leftover), since, task) < 0) {
		log_info("ws %s: closed (out of memory)", addr);
		close(fd);
	}
	buf_free(&leftover);
}

void push_close_all(push_t *p, unsigned code, const char *reason)
{
	p->closing = 1;
	struct client *c = p->clients, *next;
	for (; c; c = next) {
		next = c->next;
		if (client_close(c, code, reason) == 0)
			client_write(c);
	}
}

unsigned push_clients(const push_t *p) { return p->nclients; }

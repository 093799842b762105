/*
 * mq.c - rabbitmq-c on the event loop; see mq.h.
 *
 * rabbitmq-c is a blocking library with no reconnection. Here the TCP
 * connect is non-blocking (dial.c; the socket is handed to rabbitmq-c once
 * connected); the short handshake RPCs (login, declarations) block for at
 * most MQ_CONNECT_TIMEOUT_S; everything after that is driven by poll():
 * frames are pulled with amqp_simple_wait_frame_noblock() and a zero
 * timeout whenever the socket is readable and on a periodic tick, which is
 * also when rabbitmq-c sends heartbeats. Any error tears the connection
 * down and schedules a reconnection with capped exponential backoff.
 *
 * Publisher confirms: one channel in confirm mode; each publish gets the
 * next sequence number and a slot in a ring; basic.ack/nack (possibly
 * "multiple") settle slots, and settled slots leave from the front in order.
 */
#include "mq.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "dial.h"
#include "log.h"
#include "net.h"
#include "url.h"

#define MQ_CHANNEL 1

enum mq_state { MQ_IDLE, MQ_CONNECTING, MQ_UP };

struct confirm {
	mq_confirm_fn cb;
	void *cookie;
	int64_t deadline;
	int settled;
};

struct mq {
	loop_t *loop;
	struct mq_config cfg;
	struct amqp_url ci;
	char redacted[256];

	enum mq_state state;
	amqp_connection_state_t conn;
	int fd;                         /* rabbitmq-c's socket, or -1 */
	dial_t *dial;                   /* the connection being opened */
	uint32_t epoch;                 /* bumped at each new connection */
	int64_t backoff_ms;
	uint64_t retry_timer, tick_timer, pump_timer;
	uint64_t uncork_timer;          /* pending flush of corked publishes */

	/* confirms in flight: ring of cap (doubling up to MQ_MAX_INFLIGHT),
	 * front has seq front_seq */
	struct confirm *ring;
	size_t cap, head, count;
	uint64_t front_seq, next_seq;
	/* since the last tick, for one log line (a storm must not flood it) */
	unsigned long nacked;           /* basic.nack frames from the broker */
	unsigned long refused;          /* publishes refused: ring full */

	/* delivery being assembled from method, header and body frames */
	int receiving;
	uint64_t d_tag;
	int d_redelivered;
	size_t d_size;
	buf_t d_body;
	char d_msgid[128];
	int d_has_msgid;
};

static void schedule_reconnect(mq_t *mq);
static void start_connect(loop_t *loop, void *arg);
static void pump(mq_t *mq);

int mq_check_url(const char *url, char *err, size_t errlen)
{
	struct amqp_url u;
	return url_parse_amqp(url, &u, err, errlen);
}

/* ---- confirms ---- */

static struct confirm *slot(mq_t *mq, size_t i)
{
	return &mq->ring[(mq->head + i) % mq->cap];
}

/* Once empty, a ring grown by a lag goes back to its first size: the
 * memory of a rare burst is not kept (up to 2 MiB on a router). Called from
 * the tick only: settle() walks the ring while callbacks run. */
static void ring_shrink(mq_t *mq)
{
	if (mq->count || mq->cap <= MQ_INFLIGHT_INITIAL)
		return;
	struct confirm *r = malloc(MQ_INFLIGHT_INITIAL * sizeof(*r));
	if (!r)
		return; /* keep the big one */
	free(mq->ring);
	mq->ring = r;
	mq->cap = MQ_INFLIGHT_INITIAL;
	mq->head = 0;
}

/* Settles seq (and all before it when multiple) with ok. */
static void settle(mq_t *mq, uint64_t seq, int multiple, int ok)
{
	if (seq < mq->front_seq)
		return;
	uint64_t last = seq - mq->front_seq;
	if (last >= mq->count)
		return;
	uint64_t first = multiple ? 0 : last;
	for (uint64_t i = first; i <= last; i++) {
		struct confirm *c = slot(mq, (size_t)i);
		if (c->settled)
			continue;
		c->settled = 1;
		if (c->cb)
			c->cb(c->cookie, ok);
	}
	while (mq->count && slot(mq, 0)->settled) {
		mq->head = (mq->head + 1) % mq->cap;
		mq->count--;
		mq->front_seq++;
	}
}

/* Room for one more confirm: 0, or -1 at MQ_MAX_INFLIGHT or out of memory.
 * The ring doubles, its entries unwrapped to the front of the new one. */
static int ring_room(mq_t *mq)
{
	if (mq->count < mq->cap)
		return 0;
	if (mq->cap >= MQ_MAX_INFLIGHT)
		return -1;
	struct confirm *r = malloc(2 * mq->cap * sizeof(*r));
	if (!r)
		return -1;
	for (size_t i = 0; i < mq->count; i++)
		r[i] = *slot(mq, i);
	free(mq->ring);
	mq->ring = r;
	mq->head = 0;
	mq->cap *= 2;
	log_info("broker %s: %zu publishes await their confirm; room for %zu now",
		 mq->redacted, mq->count, mq->cap);
	return 0;
}

static void fail_all_confirms(mq_t *mq)
{
	if (mq->count)
		settle(mq, mq->front_seq + mq->count - 1, 1, 0);
	mq->count = 0;
	mq->head = 0;
}

/* ---- connection life ---- */

static void teardown(mq_t *mq, const char *why)
{
	int was_up = mq->state == MQ_UP;
	loop_timer_cancel(mq->loop, mq->tick_timer);
	loop_timer_cancel(mq->loop, mq->pump_timer);
	loop_timer_cancel(mq->loop, mq->uncork_timer);
	mq->tick_timer = mq->pump_timer = mq->uncork_timer = 0;
	if (mq->fd >= 0)
		loop_unwatch(mq->loop, mq->fd);
	if (mq->conn) {
		amqp_destroy_connection(mq->conn); /* closes the socket */
		mq->conn = NULL;
	} else if (mq->fd >= 0) {
		close(mq->fd);
	}
	mq->fd = -1;
	if (mq->dial) {
		dial_cancel(mq->dial);
		mq->dial = NULL;
	}
	mq->state = MQ_IDLE;
	mq->receiving = 0;
	buf_free(&mq->d_body);
	if (why)
		log_warn("broker %s: %s", mq->redacted, why);
	fail_all_confirms(mq);
	if (was_up && mq->cfg.on_state)
		mq->cfg.on_state(0, mq->cfg.arg);
}

static void fail_and_retry(mq_t *mq, const char *why)
{
	teardown(mq, why);
	schedule_reconnect(mq);
}

static void schedule_reconnect(mq_t *mq)
{
	if (mq->retry_timer)
		return;
	log_info("reconnecting to the broker in %lld ms", (long long)mq->backoff_ms);
	mq->retry_timer = loop_timer(mq->loop, mq->backoff_ms, start_connect, mq);
	mq->backoff_ms *= 2;
	if (mq->backoff_ms > MQ_BACKOFF_MAX_MS)
		mq->backoff_ms = MQ_BACKOFF_MAX_MS;
}

static const char *reply_error(amqp_rpc_reply_t r, char *buf, size_t len)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return NULL;
	case AMQP_RESPONSE_NONE:
		return "missing RPC reply";
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		return amqp_error_string2(r.library_error);
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			amqp_connection_close_t *m = r.reply.decoded;
			snprintf(buf, len, "connection closed by broker: %d %.*s",
				 m->reply_code, (int)m->reply_text.len,
				 (char *)m->reply_text.bytes);
		} else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			amqp_channel_close_t *m = r.reply.decoded;
			snprintf(buf, len, "channel closed by broker: %d %.*s",
				 m->reply_code, (int)m->reply_text.len,
				 (char *)m->reply_text.bytes);
		} else {
			snprintf(buf, len, "broker error, method 0x%08x", r.reply.id);
		}
		return buf;
	}
	return "unknown RPC reply";
}

/* Checks the last synchronous RPC. 0, or -1 after tearing down. */
static int rpc_ok(mq_t *mq, const char *what)
{
	char buf[256], msg[320];
	const char *err = reply_error(amqp_get_rpc_reply(mq->conn), buf, sizeof(buf));
	if (!err)
		return 0;
	snprintf(msg, sizeof(msg), "%s: %s", what, err);
	fail_and_retry(mq, msg);
	return -1;
}

static int declare(mq_t *mq, const char *queue)
{
	amqp_queue_declare(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(queue), 0, 1, 0, 0,
			   amqp_empty_table);
	return rpc_ok(mq, "queue.declare");
}

static void on_readable(loop_t *loop, int fd, int events, void *arg);
static int64_t on_tick(loop_t *loop, void *arg);

/* Login, channel, topology, confirms, consumer: blocking RPCs, bounded. */
static void handshake(mq_t *mq)
{
	struct timeval tv = { MQ_CONNECT_TIMEOUT_S, 0 };
	amqp_socket_t *sock;
	mq->conn = amqp_new_connection();
	if (!mq->conn || !(sock = amqp_tcp_socket_new(mq->conn))) {
		fail_and_retry(mq, "out of memory");
		return;
	}
	amqp_tcp_socket_set_sockfd(sock, mq->fd);
	amqp_set_handshake_timeout(mq->conn, &tv);
	amqp_set_rpc_timeout(mq->conn, &tv);

	amqp_table_entry_t prop = { amqp_cstring_bytes("connection_name"),
				    { AMQP_FIELD_KIND_UTF8, { 0 } } };
	prop.value.value.bytes = amqp_cstring_bytes(mq->cfg.name ? mq->cfg.name : "warren");
	amqp_table_t props = { 1, &prop };
	amqp_rpc_reply_t r = amqp_login_with_properties(
		mq->conn, mq->ci.vhost, 0, MQ_FRAME_MAX, (int)mq->cfg.heartbeat, &props,
		AMQP_SASL_METHOD_PLAIN, mq->ci.user, mq->ci.pass);
	char buf[256], msg[320];
	const char *err = reply_error(r, buf, sizeof(buf));
	if (err) {
		snprintf(msg, sizeof(msg), "login failed: %s", err);
		fail_and_retry(mq, msg);
		return;
	}
	amqp_channel_open(mq->conn, MQ_CHANNEL);
	if (rpc_ok(mq, "channel.open") < 0 || declare(mq, QUEUE_TASKS) < 0 ||
	    declare(mq, QUEUE_NOTIFICATIONS) < 0)
		return;
	amqp_confirm_select(mq->conn, MQ_CHANNEL);
	if (rpc_ok(mq, "confirm.select") < 0)
		return;
	if (mq->cfg.consume) {
		amqp_basic_qos(mq->conn, MQ_CHANNEL, 0, (uint16_t)mq->cfg.prefetch, 0);
		if (rpc_ok(mq, "basic.qos") < 0)
			return;
		amqp_basic_consume(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(mq->cfg.consume),
				   amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
		if (rpc_ok(mq, "basic.consume") < 0)
			return;
	}
	if (loop_watch(mq->loop, mq->fd, LOOP_READ, on_readable, mq) < 0 ||
	    !(mq->tick_timer = loop_every(mq->loop, MQ_TICK_MS, on_tick, mq))) {
		fail_and_retry(mq, "out of memory");
		return;
	}
	mq->state = MQ_UP;
	mq->epoch++;
	mq->front_seq = mq->next_seq = 1;
	mq->backoff_ms = MQ_BACKOFF_MIN_MS;
	log_info("connected to broker %s", mq->redacted);
	if (mq->cfg.on_state)
		mq->cfg.on_state(1, mq->cfg.arg);
	if (mq->state == MQ_UP)
		pump(mq); /* frames may already sit in rabbitmq-c's buffer */
}

static void on_dialled(void *arg, int fd, const char *error, int permanent)
{
	(void)permanent; /* a broker that is not there yet may come: retry */
	mq_t *mq = arg;
	mq->dial = NULL;
	if (fd < 0) {
		fail_and_retry(mq, error);
		return;
	}
	/* a publish is three frames; send them now, not after 40 ms */
	net_nodelay(fd);
	mq->fd = fd;
	handshake(mq);
}

/* Resolves the broker's name in a child (a DNS outage must not stall the
 * loop: the tasker still answers 503 meanwhile), then connects. */
static void start_connect(loop_t *loop, void *arg)
{
	mq_t *mq = arg;
	mq->retry_timer = 0;
	if (mq->state != MQ_IDLE)
		return;
	mq->dial = dial_start(loop, mq->ci.host, mq->ci.port, MQ_CONNECT_TIMEOUT_S * 1000,
			      NULL, on_dialled, mq);
	if (!mq->dial) {
		fail_and_retry(mq, "out of memory");
		return;
	}
	mq->state = MQ_CONNECTING;
}

/* ---- incoming frames ---- */

static void deliver(mq_t *mq)
{
	struct mq_delivery d = {
		.tag = ((uint64_t)(mq->epoch & 0xFFFFFF) << 40) | (mq->d_tag & ((1ULL << 40) - 1)),
		.body = mq->d_body.data ? mq->d_body.data : "",
		.len = mq->d_body.len,
		.message_id = mq->d_has_msgid ? mq->d_msgid : NULL,
		.redelivered = mq->d_redelivered,
	};
	mq->receiving = 0;
	mq->cfg.on_deliver(&d, mq->cfg.arg);
	buf_reset(&mq->d_body);
}

static int on_method(mq_t *mq, amqp_method_t *m)
{
	char msg[300];
	switch (m->id) {
	case AMQP_BASIC_DELIVER_METHOD: {
		amqp_basic_deliver_t *d = m->decoded;
		mq->receiving = 1;
		mq->d_tag = d->delivery_tag;
		mq->d_redelivered = d->redelivered;
		mq->d_has_msgid = 0;
		buf_reset(&mq->d_body);
		return 0;
	}
	case AMQP_BASIC_ACK_METHOD: {
		amqp_basic_ack_t *a = m->decoded;
		settle(mq, a->delivery_tag, a->multiple, 1);
		return 0;
	}
	case AMQP_BASIC_NACK_METHOD: {
		amqp_basic_nack_t *a = m->decoded;
		mq->nacked++;
		settle(mq, a->delivery_tag, a->multiple, 0);
		return 0;
	}
	case AMQP_CHANNEL_CLOSE_METHOD: {
		/* e.g. consumer_timeout: the broker requeued our unacked deliveries */
		amqp_channel_close_t *c = m->decoded;
		snprintf(msg, sizeof(msg), "channel closed by broker: %d %.*s",
			 c->reply_code, (int)c->reply_text.len, (char *)c->reply_text.bytes);
		amqp_channel_close_ok_t ok = { 0 };
		amqp_send_method(mq->conn, MQ_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
		fail_and_retry(mq, msg);
		return -1;
	}
	case AMQP_CONNECTION_CLOSE_METHOD: {
		amqp_connection_close_t *c = m->decoded;
		snprintf(msg, sizeof(msg), "connection closed by broker: %d %.*s",
			 c->reply_code, (int)c->reply_text.len, (char *)c->reply_text.bytes);
		amqp_connection_close_ok_t ok = { 0 };
		amqp_send_method(mq->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
		fail_and_retry(mq, msg);
		return -1;
	}
	case AMQP_BASIC_CANCEL_METHOD:
		fail_and_retry(mq, "consumer cancelled by broker");
		return -1;
	default:
		return 0; /* basic.return and others: nothing to do */
	}
}

static int on_frame(mq_t *mq, amqp_frame_t *f)
{
	if (f->frame_type == AMQP_FRAME_METHOD)
		return on_method(mq, &f->payload.method);
	if (!mq->receiving)
		return 0;
	if (f->frame_type == AMQP_FRAME_HEADER) {
		amqp_basic_properties_t *p = f->payload.properties.decoded;
		mq->d_size = (size_t)f->payload.properties.body_size;
		if (p && (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) &&
		    p->message_id.len < sizeof(mq->d_msgid)) {
			memcpy(mq->d_msgid, p->message_id.bytes, p->message_id.len);
			mq->d_msgid[p->message_id.len] = '\0';
			mq->d_has_msgid = 1;
		}
		if (mq->d_size == 0)
			deliver(mq);
		return 0;
	}
	if (f->frame_type == AMQP_FRAME_BODY) {
		amqp_bytes_t b = f->payload.body_fragment;
		if (buf_append(&mq->d_body, b.bytes, b.len) < 0) {
			fail_and_retry(mq, "out of memory");
			return -1;
		}
		if (mq->d_body.len >= mq->d_size)
			deliver(mq);
	}
	return 0;
}

static void pump_later(loop_t *loop, void *arg)
{
	(void)loop;
	mq_t *mq = arg;
	mq->pump_timer = 0;
	pump(mq);
}

/* Handles every frame available without blocking. */
static void pump(mq_t *mq)
{
	struct timeval zero = { 0, 0 };
	uint32_t epoch = mq->epoch;
	for (int n = 0; n < MQ_PUMP_BURST; n++) {
		amqp_frame_t f;
		int rc = amqp_simple_wait_frame_noblock(mq->conn, &f, &zero);
		if (rc == AMQP_STATUS_TIMEOUT) {
			if (!amqp_frames_enqueued(mq->conn) && !amqp_data_in_buffer(mq->conn))
				amqp_maybe_release_buffers(mq->conn);
			return;
		}
		if (rc != AMQP_STATUS_OK) {
			fail_and_retry(mq, amqp_error_string2(rc));
			return;
		}
		/* a callback may tear the connection down (or mq_free it) */
		if (f.channel != MQ_CHANNEL && f.frame_type != AMQP_FRAME_METHOD)
			continue;
		if (on_frame(mq, &f) < 0 || mq->state != MQ_UP || mq->epoch != epoch)
			return;
	}
	/* a burst is left: yield to the other fds and come back at once */
	if (!mq->pump_timer)
		mq->pump_timer = loop_timer(mq->loop, 0, pump_later, mq);
}

static void on_readable(loop_t *loop, int fd, int events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	pump(arg);
}

/* Every MQ_TICK_MS while connected (teardown cancels it, also from here). */
static int64_t on_tick(loop_t *loop, void *arg)
{
	mq_t *mq = arg;
	ring_shrink(mq);
	if (mq->nacked || mq->refused) {
		log_warn("broker %s: %lu nack(s) of publishes; %lu publish(es) refused "
			 "with %zu confirms awaited", mq->redacted, mq->nacked, mq->refused,
			 mq->count);
		mq->nacked = mq->refused = 0;
	}
	if (mq->count && slot(mq, 0)->deadline < loop_now(loop)) {
		fail_and_retry(mq, "publisher confirm timed out");
		return LOOP_TIMER_STOP;
	}
	pump(mq); /* sends a heartbeat when one is due */
	return MQ_TICK_MS;
}

/* ---- public ---- */

mq_t *mq_new(loop_t *loop, const struct mq_config *cfg, char *err, size_t errlen)
{
	if (mq_check_url(cfg->url, err, errlen) < 0)
		return NULL;
	mq_t *mq = calloc(1, sizeof(*mq));
	if (!mq || !(mq->ring = calloc(MQ_INFLIGHT_INITIAL, sizeof(*mq->ring)))) {
		free(mq);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	mq->cap = MQ_INFLIGHT_INITIAL;
	mq->loop = loop;
	mq->cfg = *cfg;
	mq->fd = -1;
	mq->backoff_ms = MQ_BACKOFF_MIN_MS;
	url_parse_amqp(cfg->url, &mq->ci, err, errlen);
	url_redact_amqp(cfg->url, mq->redacted, sizeof(mq->redacted));
	mq->retry_timer = loop_timer(loop, 0, start_connect, mq);
	return mq;
}

void mq_free(mq_t *mq)
{
	if (!mq)
		return;
	loop_timer_cancel(mq->loop, mq->retry_timer);
	mq->cfg.on_state = NULL;
	if (mq->conn && mq->state == MQ_UP) {
		/* polite close: the broker requeues unacked deliveries at once */
		struct timeval tv = { 1, 0 };
		amqp_set_rpc_timeout(mq->conn, &tv);
		amqp_connection_close(mq->conn, AMQP_REPLY_SUCCESS);
	}
	teardown(mq, NULL);
	free(mq->ring);
	free(mq);
}

int mq_is_up(const mq_t *mq) { return mq->state == MQ_UP; }

size_t mq_inflight(const mq_t *mq) { return mq->count; }

static void uncork(loop_t *loop, void *arg)
{
	(void)loop;
	mq_t *mq = arg;
	int off = 0;
	mq->uncork_timer = 0;
	setsockopt(mq->fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
}

/* rabbitmq-c sends each frame of a publish with its own send(): cork the
 * socket for the rest of this loop pass so the publishes of many requests
 * leave in full segments (less work for the broker), then flush. */
static void cork(mq_t *mq)
{
	int on = 1;
	if (mq->uncork_timer)
		return;
	setsockopt(mq->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
	mq->uncork_timer = loop_timer(mq->loop, 0, uncork, mq);
}

int mq_publish(mq_t *mq, const char *queue, const char *body, size_t len,
	       const char *message_id, mq_confirm_fn cb, void *cookie)
{
	if (mq->state != MQ_UP)
		return -1;
	if (ring_room(mq) < 0) {
		mq->refused++;
		return -1;
	}
	amqp_basic_properties_t p;
	memset(&p, 0, sizeof(p));
	p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
	p.content_type = amqp_cstring_bytes("application/json");
	p.delivery_mode = 2; /* persistent */
	if (message_id) {
		p._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
		p.message_id = amqp_cstring_bytes(message_id);
	}
	amqp_bytes_t b = { len, (void *)body };
	cork(mq);
	int rc = amqp_basic_publish(mq->conn, MQ_CHANNEL, amqp_empty_bytes,
				    amqp_cstring_bytes(queue), 0, 0, &p, b);
	if (rc != AMQP_STATUS_OK) {
		fail_and_retry(mq, amqp_error_string2(rc));
		return -1;
	}
	struct confirm *c = slot(mq, mq->count++);
	*c = (struct confirm){ cb, cookie, loop_now(mq->loop) + MQ_CONFIRM_TIMEOUT_MS, 0 };
	mq->next_seq++;
	return 0;
}

/* The channel's delivery tag, or 0 when tag belongs to a dead connection. */
static uint64_t live_tag(mq_t *mq, uint64_t tag)
{
	if (mq->state != MQ_UP || (uint32_t)(tag >> 40) != (mq->epoch & 0xFFFFFF))
		return 0;
	return tag & ((1ULL << 40) - 1);
}

int mq_ack(mq_t *mq, uint64_t tag)
{
	uint64_t t = live_tag(mq, tag);
	if (!t)
		return -1;
	int rc = amqp_basic_ack(mq->conn, MQ_CHANNEL, t, 0);
	if (rc != AMQP_STATUS_OK) {
		fail_and_retry(mq, amqp_error_string2(rc));
		return -1;
	}
	return 0;
}

int mq_reject(mq_t *mq, uint64_t tag, int requeue)
{
	uint64_t t = live_tag(mq, tag);
	if (!t)
		return -1;
	int rc = amqp_basic_reject(mq->conn, MQ_CHANNEL, t, requeue);
	if (rc != AMQP_STATUS_OK) {
		fail_and_retry(mq, amqp_error_string2(rc));
		return -1;
	}
	return 0;
}

/*
 * mq.c - rabbitmq-c on the event loop; see mq.h.
 *
 * rabbitmq-c is a blocking library with no reconnection. Here it only
 * encodes and decodes frames; every byte it sends goes into warren's own
 * output buffer and leaves when poll() says the socket is writable, and
 * every frame is pulled with amqp_simple_wait_frame_noblock() and a zero
 * timeout when the socket is readable. So nothing waits inside the library:
 * not the handshake, which is a state machine driven by the frames that
 * arrive (start, tune, open, channel, declarations, confirms, consumer), and
 * not a publish to a broker that stopped reading (a memory or disk alarm).
 *
 * The output buffer is bounded (MQ_MAX_OUTBUF: publishes are refused beyond
 * it) and has a deadline (MQ_WRITE_TIMEOUT_MS without progress while not
 * blocked: the connection is declared dead). The buffer is hooked in by
 * giving rabbitmq-c's TCP socket object a copy of its method table whose
 * send appends to the buffer; the table's layout (send, recv, open, close,
 * get_sockfd, delete) is the same in rabbitmq-c 0.11 to 0.15.
 *
 * The broker is told we understand connection.blocked (publishes refused
 * while blocked; confirms that time out then fail without killing the
 * connection), consumer_cancel_notify (a cancelled consumer is declared and
 * consumed again) and publisher confirms. A channel.close from the broker
 * closes only the channel: a new one is opened and set up, the connection
 * (and its heartbeats) lives on. Any other error tears the connection down
 * and schedules a reconnection with capped exponential backoff.
 *
 * Publisher confirms: one channel in confirm mode; each publish gets the
 * next sequence number and a slot in a ring; basic.ack/nack (possibly
 * "multiple") settle slots, and settled slots leave from the front in order.
 */
#include "mq.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h> /* struct timeval (musl does not bring it in with amqp.h) */
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "dial.h"
#include "log.h"
#include "net.h"
#include "url.h"

/* The connection's steps, in order. */
enum mq_state {
	MQ_IDLE,        /* waiting to (re)connect */
	MQ_DIALLING,    /* resolving, TCP connect */
	MQ_START,       /* protocol header sent, waiting for connection.start */
	MQ_TUNE,        /* start-ok sent, waiting for connection.tune */
	MQ_OPEN,        /* open sent, waiting for connection.open-ok */
	MQ_UP           /* open; the channel is ready when mq->ready */
};

/* rabbitmq-c's socket method table (amqp_socket.h, not installed): this
 * layout since 0.8 (0.7 and before began with writev). */
#if AMQP_VERSION < AMQP_VERSION_CODE(0, 8, 0, 0)
#error "rabbitmq-c 0.8 or later is needed (the socket method table changed)"
#endif
struct sock_class {
	ssize_t (*send)(void *, const void *, size_t, int);
	ssize_t (*recv)(void *, void *, size_t, int);
	int (*open)(void *, const char *, int, struct timeval *);
	int (*close)(void *, int);
	int (*get_sockfd)(void *);
	void (*del)(void *);
};

struct confirm {
	mq_confirm_fn cb;
	void *cookie;
	int64_t deadline;
	int settled;
};

/* The tags handed to programs: the channel's delivery tag in the low 40
 * bits, the channel's epoch above (a tag of a dead channel is void), and
 * the top bit for a stream consumer's delivery (never rejected). */
#define TAG_EPOCH_MASK 0x7FFFFFu
#define TAG_STREAM (1ULL << 63)

/* Replies awaited on the channel, in the order the requests went out: the
 * setup's (open, topology, confirm mode) and three per consumer. */
#define MQ_MAX_AWAIT (16 + 3 * MQ_MAX_CONSUMERS)

/* One subscription. Its consumer tag, "warren.<q|s><id>.<gen>.<n>", names
 * the slot, the kind (s: stream), the subscription that used the slot (so a
 * late delivery to an unsubscribed consumer is never given to the next) and
 * its n-th basic.consume (a resumed consumer is a new one to the broker;
 * deliveries to the paused one still reach the subscription). */
struct sub {
	struct mq_consumer c;
	char queue[MQ_QUEUE_NAME_MAX + 1];
	char tag[64];
	size_t tag_prefix;              /* "warren.<q|s><id>.<gen>." */
	unsigned gen, round;
	int used;
	int on;                         /* wanted: consuming (0 while paused) */
	int consuming;                  /* basic.consume sent on this channel */
};

struct mq {
	loop_t *loop;
	struct mq_config cfg;
	struct amqp_url ci;             /* the node in use (a copy of nodes[node]) */
	char redacted[256];             /* its URL without the password, for logs */
	struct amqp_url nodes[MQ_MAX_NODES];
	char names[MQ_MAX_NODES][256];
	int n_nodes, node;
	int round_start;                /* the node a round of failovers began at */
	int topology_said;              /* the 406 on a declaration was logged */
	const char *await_queue[MQ_MAX_AWAIT]; /* the queue of an awaited declare-ok */

	enum mq_state state;
	amqp_connection_state_t conn;
	struct sock_class klass;        /* rabbitmq-c's, with our send */
	int fd;                         /* rabbitmq-c's socket, or -1 */
	dial_t *dial;                   /* the connection being opened */
	uint32_t epoch;                 /* bumped at each new channel */
	int64_t backoff_ms;
	int64_t step_at;                /* when the handshake or setup began */
	uint64_t retry_timer, tick_timer, pump_timer, flush_timer;
	uint64_t read_timer;            /* cfg.read_batch_ms: reading resumes */

	/* the channel: its number, whether publishing and consuming work */
	amqp_channel_t channel;
	int ready;
	int chan_sent;                  /* its setup went out: requests may follow */
	struct sub subs[MQ_MAX_CONSUMERS];
	amqp_method_number_t await[MQ_MAX_AWAIT];
	int n_await;
	int blocked;                    /* connection.blocked from the broker */

	/* bytes rabbitmq-c sent, waiting for the socket */
	buf_t out;
	int64_t out_progress;           /* when the socket last took bytes */
	int out_error;                  /* errno of a failed write, for the loop */

	/* confirms in flight: ring of cap (doubling up to MQ_MAX_INFLIGHT),
	 * front has seq front_seq */
	struct confirm *ring;
	size_t cap, head, count;
	uint64_t front_seq, next_seq;
	/* since the last tick, for one log line (a storm must not flood it) */
	unsigned long nacked;           /* basic.nack frames from the broker */
	int64_t reopened_at;            /* loop clock of the last reopen after a nack */
	unsigned long refused;          /* publishes refused: ring or buffer full */
	unsigned long expired;          /* confirms given up while blocked */

	/* delivery being assembled from method, header and body frames */
	int receiving;
	int skipping;                   /* over MQ_MAX_MESSAGE: bytes not kept */
	uint64_t d_tag;
	int d_redelivered;
	int d_sub;                      /* its subscription, or -1: a late one */
	int d_stream;                   /* from a stream consumer */
	int64_t d_offset, d_timestamp;
	unsigned d_count;
	size_t d_size, d_got;
	buf_t d_body;
	char d_msgid[128];
	int d_has_msgid;
};

static void schedule_reconnect(mq_t *mq);
static void start_connect(loop_t *loop, void *arg);
static void pump(mq_t *mq);

/* Parses the --amqp value, "URL[,URL...]", into nodes (names redacted).
 * The number of nodes, or -1 with the reason in err. */
static int parse_nodes(const char *list, struct amqp_url *nodes,
		       char (*names)[256], char *err, size_t errlen)
{
	int n = 0;
	const char *p = list;
	for (;;) {
		size_t len = strcspn(p, ",");
		char one[1024];
		if (n == MQ_MAX_NODES) {
			snprintf(err, errlen, "more than %d broker URLs", MQ_MAX_NODES);
			return -1;
		}
		if (len >= sizeof(one)) {
			snprintf(err, errlen, "broker URL %d is too long", n + 1);
			return -1;
		}
		memcpy(one, p, len);
		one[len] = '\0';
		if (url_parse_amqp(one, &nodes[n], err, errlen) < 0) {
			if (list[strcspn(list, ",")]) { /* say which one, when several */
				char why[200];
				snprintf(why, sizeof(why), "%s", err);
				snprintf(err, errlen, "broker URL %d: %s", n + 1, why);
			}
			return -1;
		}
		url_redact_amqp(one, names[n], sizeof(names[n]));
		n++;
		if (!p[len])
			return n;
		p += len + 1;
	}
}

int mq_check_url(const char *url, char *err, size_t errlen)
{
	struct amqp_url nodes[MQ_MAX_NODES];
	char names[MQ_MAX_NODES][256];
	return parse_nodes(url, nodes, names, err, errlen) < 0 ? -1 : 0;
}

/* Makes node i the one connections go to. */
static void use_node(mq_t *mq, int i)
{
	mq->node = i;
	mq->ci = mq->nodes[i];
	memcpy(mq->redacted, mq->names[i], sizeof(mq->redacted));
}

/* 1 when requests may go out on the channel now (its setup is sent; the
 * replies may still be on their way). */
static int channel_open(const mq_t *mq)
{
	return mq->state == MQ_UP && mq->conn && mq->chan_sent;
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

/* Gives up the confirms whose deadline is before now (ok = 0) while the
 * broker is blocked: the publisher gets its answer in time, and the
 * connection, which is not at fault, is kept. A late basic.ack for them is
 * ignored. */
static void expire_confirms(mq_t *mq, int64_t now)
{
	for (size_t i = 0; i < mq->count; i++) {
		struct confirm *c = slot(mq, i);
		if (c->settled || c->deadline >= now)
			continue;
		c->settled = 1;
		mq->expired++;
		if (c->cb)
			c->cb(c->cookie, 0);
	}
	while (mq->count && slot(mq, 0)->settled) {
		mq->head = (mq->head + 1) % mq->cap;
		mq->count--;
		mq->front_seq++;
	}
}

/* ---- output: rabbitmq-c's bytes, written when the socket takes them ---- */

static void on_io(loop_t *loop, int fd, int events, void *arg);

/* The mq whose socket method table self points to. */
static mq_t *sock_owner(void *self)
{
	const struct sock_class *k = *(const struct sock_class **)self;
	return (mq_t *)(void *)((char *)k - offsetof(struct mq, klass));
}

static void flush_later(loop_t *loop, void *arg);

/* rabbitmq-c's send: the bytes join the buffer, never wait. Called from
 * inside the library, so nothing here may tear the connection down. */
static ssize_t sock_send(void *self, const void *p, size_t len, int flags)
{
	(void)flags;
	mq_t *mq = sock_owner(self);
	if (buf_append(&mq->out, p, len) < 0)
		return AMQP_STATUS_NO_MEMORY;
	/* the frames of this loop pass leave together, in full segments */
	if (!mq->flush_timer)
		mq->flush_timer = loop_timer(mq->loop, 0, flush_later, mq);
	return (ssize_t)len;
}

/* Poll for reading unless a read batch is gathering (read_timer), and for
 * writing while bytes wait. */
static void watch_socket(mq_t *mq)
{
	loop_mask(mq->loop, mq->fd, (mq->read_timer ? 0 : LOOP_READ) |
				    (buf_used(&mq->out) ? LOOP_WRITE : 0));
}

/* Writes what the socket takes. 0, or -1 with mq->out_error. */
static int flush_out(mq_t *mq)
{
	if (mq->fd < 0)
		return 0;
	while (buf_used(&mq->out)) {
		ssize_t n = send(mq->fd, buf_head(&mq->out), buf_used(&mq->out), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			mq->out_error = errno;
			return -1;
		}
		buf_consume(&mq->out, (size_t)n);
		mq->out_progress = loop_now(mq->loop);
	}
	if (!buf_used(&mq->out) && mq->out.cap > MQ_KEEP_BUF)
		buf_free(&mq->out); /* a burst's memory is not kept */
	else if (!buf_used(&mq->out))
		buf_reset(&mq->out);
	watch_socket(mq);
	return 0;
}

/* ---- connection life ---- */

static void teardown(mq_t *mq, const char *why)
{
	int was_ready = mq->state == MQ_UP && mq->ready;
	loop_timer_cancel(mq->loop, mq->tick_timer);
	loop_timer_cancel(mq->loop, mq->pump_timer);
	loop_timer_cancel(mq->loop, mq->flush_timer);
	loop_timer_cancel(mq->loop, mq->read_timer);
	mq->tick_timer = mq->pump_timer = mq->flush_timer = mq->read_timer = 0;
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
	mq->ready = 0;
	mq->chan_sent = 0;
	for (int i = 0; i < MQ_MAX_CONSUMERS; i++)
		mq->subs[i].consuming = 0;
	mq->blocked = 0;
	mq->n_await = 0;
	mq->receiving = 0;
	buf_free(&mq->d_body);
	buf_free(&mq->out);
	if (why)
		log_warn("broker %s: %s", mq->redacted, why);
	fail_all_confirms(mq);
	if (was_ready && mq->cfg.on_state)
		mq->cfg.on_state(0, mq->cfg.arg);
}

static void fail_and_retry(mq_t *mq, const char *why)
{
	teardown(mq, why);
	schedule_reconnect(mq);
}

/* After a failure: the next node of the cluster at once, or, once every
 * node failed in this round, the first again after the backoff. */
static void schedule_reconnect(mq_t *mq)
{
	if (mq->retry_timer)
		return;
	use_node(mq, (mq->node + 1) % mq->n_nodes);
	int64_t delay = 0;
	if (mq->node == mq->round_start) {
		delay = mq->backoff_ms;
		mq->backoff_ms *= 2;
		if (mq->backoff_ms > MQ_BACKOFF_MAX_MS)
			mq->backoff_ms = MQ_BACKOFF_MAX_MS;
	}
	if (mq->topology_said)
		delay = MQ_TOPOLOGY_RETRY_MS; /* said once; no hurry, no more lines */
	else
		log_info("reconnecting to the broker %s in %lld ms", mq->redacted,
			 (long long)delay);
	mq->retry_timer = loop_timer(mq->loop, delay, start_connect, mq);
}

static void flush_later(loop_t *loop, void *arg)
{
	(void)loop;
	mq_t *mq = arg;
	mq->flush_timer = 0;
	if (flush_out(mq) < 0) {
		char msg[128];
		snprintf(msg, sizeof(msg), "send: %s", strerror(mq->out_error));
		fail_and_retry(mq, msg);
	}
}

/* Sends a method on channel ch (into the buffer). 0, or -1 after tearing
 * down (only out of memory can fail). */
static int send_method(mq_t *mq, amqp_channel_t ch, amqp_method_number_t id, void *m)
{
	int rc = amqp_send_method(mq->conn, ch, id, m);
	if (rc == AMQP_STATUS_OK)
		return 0;
	fail_and_retry(mq, amqp_error_string2(rc));
	return -1;
}

/* Sends a request whose reply the channel setup waits for; queue names
 * the queue a declaration is about (for its error), or is NULL. */
static int request_on(mq_t *mq, amqp_method_number_t id, void *m, amqp_method_number_t reply,
		      const char *queue)
{
	if (mq->n_await == MQ_MAX_AWAIT) {
		fail_and_retry(mq, "too many requests in flight");
		return -1;
	}
	if (!mq->n_await) /* the tick's deadline counts from the first */
		mq->step_at = loop_now(mq->loop);
	mq->await_queue[mq->n_await] = queue;
	mq->await[mq->n_await++] = reply;
	return send_method(mq, mq->channel, id, m);
}

static int request(mq_t *mq, amqp_method_number_t id, void *m, amqp_method_number_t reply)
{
	return request_on(mq, id, m, reply, NULL);
}

/* ---- the handshake, driven by the broker's frames ---- */

static void on_ready(mq_t *mq);

/* ---- the topology (../shared/INTERFACE.md, "RabbitMQ topology") ---- */

#define MQ_MAX_ARGS 4

static amqp_table_entry_t arg_str(const char *key, const char *v)
{
	amqp_table_entry_t e = { amqp_cstring_bytes(key), { AMQP_FIELD_KIND_UTF8, { 0 } } };
	e.value.value.bytes = amqp_cstring_bytes(v);
	return e;
}

static amqp_table_entry_t arg_long(const char *key, int64_t v)
{
	amqp_table_entry_t e = { amqp_cstring_bytes(key), { AMQP_FIELD_KIND_I64, { 0 } } };
	e.value.value.i64 = v;
	return e;
}

/* The arguments warren declares queue with, into e; their number, or -1
 * when the queue is not warren's (not declared: it must exist). */
static int queue_args(const char *queue, amqp_table_entry_t *e)
{
	if (!strcmp(queue, QUEUE_TASKS)) {
		e[0] = arg_str("x-queue-type", "quorum");
		e[1] = arg_long("x-delivery-limit", TASKS_DELIVERY_LIMIT);
		e[2] = arg_str("x-dead-letter-exchange", EXCHANGE_DEAD);
		return 3;
	}
	if (!strcmp(queue, QUEUE_TASKS_DEAD)) {
		e[0] = arg_str("x-queue-type", "quorum");
		return 1;
	}
	if (!strcmp(queue, QUEUE_NOTIFICATIONS)) {
		e[0] = arg_str("x-queue-type", "stream");
		e[1] = arg_str("x-max-age", NOTIFY_MAX_AGE);
		e[2] = arg_long("x-max-length-bytes", NOTIFY_MAX_BYTES);
		return 3;
	}
	if (!strcmp(queue, QUEUE_CONTROL)) {
		e[0] = arg_str("x-queue-type", "stream");
		e[1] = arg_str("x-max-age", CONTROL_MAX_AGE);
		return 2;
	}
	return -1;
}

/* What warren declares queue as, in words, for the 406 line: "a durable
 * stream (x-queue-type stream, x-max-age 7D, ...)". */
static void queue_wanted(const char *queue, char *out, size_t cap)
{
	amqp_table_entry_t e[MQ_MAX_ARGS];
	int n = queue_args(queue, e);
	size_t len = 0;
	if (n <= 0) {
		snprintf(out, cap, "a durable queue");
		return;
	}
	const amqp_bytes_t type = e[0].value.value.bytes; /* x-queue-type comes first */
	len = (size_t)snprintf(out, cap, "a durable %.*s%s (", (int)type.len, (char *)type.bytes,
			       type.len == 6 && !memcmp(type.bytes, "stream", 6) ? "" : " queue");
	for (int i = 0; i < n && len < cap; i++) {
		const amqp_field_value_t *v = &e[i].value;
		if (v->kind == AMQP_FIELD_KIND_I64)
			len += (size_t)snprintf(out + len, cap - len, "%s%.*s %lld", i ? ", " : "",
						(int)e[i].key.len, (char *)e[i].key.bytes,
						(long long)v->value.i64);
		else
			len += (size_t)snprintf(out + len, cap - len, "%s%.*s %.*s", i ? ", " : "",
						(int)e[i].key.len, (char *)e[i].key.bytes,
						(int)v->value.bytes.len, (char *)v->value.bytes.bytes);
	}
	if (len < cap)
		snprintf(out + len, cap - len, ")");
}

static int in_topology(const char *queue)
{
	amqp_table_entry_t e[MQ_MAX_ARGS];
	return queue_args(queue, e) >= 0;
}

static int declare(mq_t *mq, const char *queue)
{
	amqp_table_entry_t e[MQ_MAX_ARGS];
	int n = queue_args(queue, e);
	amqp_queue_declare_t d = { .queue = amqp_cstring_bytes(queue), .durable = 1,
				   .arguments = { n > 0 ? n : 0, e } };
	return request_on(mq, AMQP_QUEUE_DECLARE_METHOD, &d, AMQP_QUEUE_DECLARE_OK_METHOD, queue);
}

/* Binds tasks.dead to the dead-letter exchange (idempotent). */
static int bind_dead(mq_t *mq)
{
	amqp_queue_bind_t b = { .queue = amqp_cstring_bytes(QUEUE_TASKS_DEAD),
				.exchange = amqp_cstring_bytes(EXCHANGE_DEAD),
				.routing_key = amqp_empty_bytes, .arguments = amqp_empty_table };
	return request(mq, AMQP_QUEUE_BIND_METHOD, &b, AMQP_QUEUE_BIND_OK_METHOD);
}

/* The whole topology: exchange warren.dead (fanout) -> quorum queue
 * tasks.dead; quorum queue tasks dead-lettering to it; the streams
 * notifications and warren.control. */
static int declare_topology(mq_t *mq)
{
	amqp_exchange_declare_t x = { .exchange = amqp_cstring_bytes(EXCHANGE_DEAD),
				      .type = amqp_cstring_bytes("fanout"), .durable = 1,
				      .arguments = amqp_empty_table };
	if (request_on(mq, AMQP_EXCHANGE_DECLARE_METHOD, &x, AMQP_EXCHANGE_DECLARE_OK_METHOD,
		       EXCHANGE_DEAD) < 0 ||
	    declare(mq, QUEUE_TASKS_DEAD) < 0 || bind_dead(mq) < 0)
		return -1;
	return declare(mq, QUEUE_TASKS) < 0 || declare(mq, QUEUE_NOTIFICATIONS) < 0 ||
	       declare(mq, QUEUE_CONTROL) < 0 ? -1 : 0;
}

/* The x-stream-offset argument of a stream consumer, from its start(). */
static void stream_offset(const struct sub *s, amqp_table_entry_t *e)
{
	static const char *const names[] = { "first", "last", "next" };
	struct mq_start st = { MQ_FROM_NEXT, 0 };
	if (s->c.start)
		st = s->c.start(s->c.arg);
	e->key = amqp_cstring_bytes("x-stream-offset");
	switch (st.from) {
	case MQ_FROM_OFFSET:
		e->value.kind = AMQP_FIELD_KIND_I64;
		e->value.value.i64 = st.value < 0 ? 0 : st.value;
		break;
	case MQ_FROM_TIME:
		e->value.kind = AMQP_FIELD_KIND_TIMESTAMP;
		e->value.value.u64 = st.value < 0 ? 0 : (uint64_t)st.value;
		break;
	case MQ_FROM_FIRST:
	case MQ_FROM_LAST:
	case MQ_FROM_NEXT:
	default:
		e->value.kind = AMQP_FIELD_KIND_UTF8;
		e->value.value.bytes = amqp_cstring_bytes(
			names[st.from <= MQ_FROM_NEXT ? st.from : MQ_FROM_NEXT]);
		break;
	}
}

/* Declares the queue (when it is warren's), sets the consumer's prefetch
 * (basic.qos with global = 0 applies to the consumers started after it on
 * the channel) and consumes: at each setup, at mq_subscribe/mq_consume, and
 * again when the broker cancels the consumer (its queue deleted, its node
 * lost). */
static int consume(mq_t *mq, struct sub *s)
{
	unsigned pf = s->c.prefetch;
	if (s->c.stream && !pf)
		pf = MQ_STREAM_PREFETCH; /* a stream consumer needs one */
	amqp_basic_qos_t q = { .prefetch_count = (uint16_t)(pf > 65535 ? 65535 : pf),
			       .global = 0 };
	amqp_table_entry_t arg;
	snprintf(s->tag + s->tag_prefix, sizeof(s->tag) - s->tag_prefix, "%u", ++s->round);
	amqp_basic_consume_t c = { .queue = amqp_cstring_bytes(s->queue),
				   .consumer_tag = amqp_cstring_bytes(s->tag),
				   .arguments = amqp_empty_table };
	if (s->c.stream) {
		stream_offset(s, &arg);
		c.arguments = (amqp_table_t){ 1, &arg };
	}
	if (in_topology(s->queue) && declare(mq, s->queue) < 0)
		return -1;
	if (!strcmp(s->queue, QUEUE_TASKS_DEAD) && bind_dead(mq) < 0)
		return -1; /* declared anew: bound anew */
	if (request(mq, AMQP_BASIC_QOS_METHOD, &q, AMQP_BASIC_QOS_OK_METHOD) < 0 ||
	    request(mq, AMQP_BASIC_CONSUME_METHOD, &c, AMQP_BASIC_CONSUME_OK_METHOD) < 0)
		return -1;
	s->consuming = 1;
	return 0;
}

/* basic.cancel of a consumer of ours (paused or unsubscribed). */
static int cancel(mq_t *mq, struct sub *s)
{
	amqp_basic_cancel_t c = { .consumer_tag = amqp_cstring_bytes(s->tag) };
	s->consuming = 0;
	return request(mq, AMQP_BASIC_CANCEL_METHOD, &c, AMQP_BASIC_CANCEL_OK_METHOD);
}

/* Opens channel ch and sends its whole setup at once (pipelined): the
 * topology, confirm mode, and each consumer with its prefetch; on_ready
 * when every reply is in. */
static int open_channel(mq_t *mq, amqp_channel_t ch)
{
	amqp_channel_open_t o = { .out_of_band = amqp_empty_bytes };
	amqp_confirm_select_t cs = { .nowait = 0 };
	mq->channel = ch;
	mq->ready = 0;
	mq->chan_sent = 0;
	/* deliveries may come before the last reply of the setup (a quorum
	 * queue's consume-ok is late): their tags carry the new channel's */
	mq->epoch++;
	mq->n_await = 0;
	mq->step_at = loop_now(mq->loop);
	for (int i = 0; i < MQ_MAX_CONSUMERS; i++)
		mq->subs[i].consuming = 0;
	if (request(mq, AMQP_CHANNEL_OPEN_METHOD, &o, AMQP_CHANNEL_OPEN_OK_METHOD) < 0 ||
	    declare_topology(mq) < 0 ||
	    (!mq->cfg.unconfirmed &&
	     request(mq, AMQP_CONFIRM_SELECT_METHOD, &cs, AMQP_CONFIRM_SELECT_OK_METHOD) < 0))
		return -1;
	for (int i = 0; i < MQ_MAX_CONSUMERS; i++)
		if (mq->subs[i].used && mq->subs[i].on && consume(mq, &mq->subs[i]) < 0)
			return -1;
	mq->chan_sent = 1;
	return 0;
}

/* The first awaited reply of kind id, or -1. A stream or quorum queue's
 * basic.consume-ok may come after the replies to later requests (the
 * queue's process answers it), so replies are matched by kind: those of
 * one kind come in order. */
static int find_await(const mq_t *mq, amqp_method_number_t id)
{
	for (int i = 0; i < mq->n_await; i++)
		if (mq->await[i] == id)
			return i;
	return -1;
}

/* A reply on the channel: an awaited one, or a protocol error. */
static int on_reply(mq_t *mq, amqp_method_number_t id)
{
	int i = find_await(mq, id);
	if (i < 0) {
		char msg[96];
		snprintf(msg, sizeof(msg), "unexpected reply 0x%08x from the broker", id);
		fail_and_retry(mq, msg);
		return -1;
	}
	mq->n_await--;
	memmove(mq->await + i, mq->await + i + 1,
		(size_t)(mq->n_await - i) * sizeof(*mq->await));
	memmove(mq->await_queue + i, mq->await_queue + i + 1,
		(size_t)(mq->n_await - i) * sizeof(*mq->await_queue));
	if (!mq->n_await && !mq->ready)
		on_ready(mq);
	return 0;
}

static int64_t on_tick(loop_t *loop, void *arg);

static void on_ready(mq_t *mq)
{
	mq->ready = 1;
	mq->front_seq = mq->next_seq = 1;
	mq->backoff_ms = MQ_BACKOFF_MIN_MS;
	mq->round_start = mq->node;
	if (mq->topology_said)
		log_info("broker %s: the queues are as warren declares them now", mq->redacted);
	mq->topology_said = 0;
	log_info("connected to broker %s (channel %u)", mq->redacted, mq->channel);
	if (mq->cfg.on_state)
		mq->cfg.on_state(1, mq->cfg.arg);
}

/* connection.start: answer with our name, capabilities and credentials. */
static int on_start(mq_t *mq)
{
	amqp_table_entry_t caps[] = {
		{ amqp_cstring_bytes("publisher_confirms"), { AMQP_FIELD_KIND_BOOLEAN, { 0 } } },
		{ amqp_cstring_bytes("consumer_cancel_notify"), { AMQP_FIELD_KIND_BOOLEAN, { 0 } } },
		{ amqp_cstring_bytes("connection.blocked"), { AMQP_FIELD_KIND_BOOLEAN, { 0 } } },
		{ amqp_cstring_bytes("basic.nack"), { AMQP_FIELD_KIND_BOOLEAN, { 0 } } },
		{ amqp_cstring_bytes("authentication_failure_close"),
		  { AMQP_FIELD_KIND_BOOLEAN, { 0 } } },
	};
	for (size_t i = 0; i < sizeof(caps) / sizeof(*caps); i++)
		caps[i].value.value.boolean = 1;
	amqp_table_entry_t props[] = {
		{ amqp_cstring_bytes("product"), { AMQP_FIELD_KIND_UTF8, { 0 } } },
		{ amqp_cstring_bytes("version"), { AMQP_FIELD_KIND_UTF8, { 0 } } },
		{ amqp_cstring_bytes("connection_name"), { AMQP_FIELD_KIND_UTF8, { 0 } } },
		{ amqp_cstring_bytes("capabilities"), { AMQP_FIELD_KIND_TABLE, { 0 } } },
	};
	props[0].value.value.bytes = amqp_cstring_bytes("warren");
	props[1].value.value.bytes = amqp_cstring_bytes(WARREN_VERSION);
	props[2].value.value.bytes = amqp_cstring_bytes(mq->cfg.name ? mq->cfg.name : "warren");
	props[3].value.value.table = (amqp_table_t){ sizeof(caps) / sizeof(*caps), caps };
	/* SASL PLAIN: "\0user\0password" */
	char plain[2 + sizeof(mq->ci.user) + sizeof(mq->ci.pass)];
	size_t ul = strlen(mq->ci.user), pl = strlen(mq->ci.pass);
	plain[0] = '\0';
	memcpy(plain + 1, mq->ci.user, ul);
	plain[1 + ul] = '\0';
	memcpy(plain + 2 + ul, mq->ci.pass, pl);
	amqp_connection_start_ok_t ok = {
		.client_properties = { sizeof(props) / sizeof(*props), props },
		.mechanism = amqp_cstring_bytes("PLAIN"),
		.response = { 2 + ul + pl, plain },
		.locale = amqp_cstring_bytes("en_US"),
	};
	mq->state = MQ_TUNE;
	return send_method(mq, 0, AMQP_CONNECTION_START_OK_METHOD, &ok);
}

/* connection.tune: the smaller frame size and heartbeat win. */
static int on_tune(mq_t *mq, const amqp_connection_tune_t *t)
{
	uint32_t frame_max = t->frame_max && t->frame_max < MQ_FRAME_MAX ? t->frame_max
									 : MQ_FRAME_MAX;
	uint16_t hb = (uint16_t)mq->cfg.heartbeat;
	if (t->heartbeat && (!hb || t->heartbeat < hb))
		hb = t->heartbeat;
	int rc = amqp_tune_connection(mq->conn, t->channel_max, (int)frame_max, hb);
	if (rc != AMQP_STATUS_OK) {
		fail_and_retry(mq, amqp_error_string2(rc));
		return -1;
	}
	amqp_connection_tune_ok_t ok = { t->channel_max, frame_max, hb };
	amqp_connection_open_t o = { .virtual_host = amqp_cstring_bytes(mq->ci.vhost),
				     .capabilities = amqp_empty_bytes };
	mq->state = MQ_OPEN;
	if (send_method(mq, 0, AMQP_CONNECTION_TUNE_OK_METHOD, &ok) < 0)
		return -1;
	return send_method(mq, 0, AMQP_CONNECTION_OPEN_METHOD, &o);
}

/* connection.open-ok: the connection is up; the channel comes next. */
static int on_open_ok(mq_t *mq)
{
	mq->state = MQ_UP;
	return open_channel(mq, 1);
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
	/* a publish is three frames; they leave as our buffer is written */
	net_nodelay(fd);
	mq->fd = fd;
	amqp_socket_t *sock;
	mq->conn = amqp_new_connection();
	if (!mq->conn || !(sock = amqp_tcp_socket_new(mq->conn))) {
		fail_and_retry(mq, "out of memory");
		return;
	}
	amqp_tcp_socket_set_sockfd(sock, fd);
	/* rabbitmq-c's TCP socket, with our send: see the top of the file */
	const struct sock_class **k = (const struct sock_class **)(void *)sock;
	mq->klass = **k;
	mq->klass.send = sock_send;
	*k = &mq->klass;
	mq->state = MQ_START;
	mq->step_at = loop_now(mq->loop);
	mq->out_progress = mq->step_at;
	/* the tick also checks the handshake's deadline */
	if (loop_watch(mq->loop, fd, LOOP_READ, on_io, mq) < 0 ||
	    !(mq->tick_timer = loop_every(mq->loop, MQ_TICK_MS, on_tick, mq))) {
		fail_and_retry(mq, "out of memory");
		return;
	}
	int rc = amqp_send_header(mq->conn);
	if (rc != AMQP_STATUS_OK)
		fail_and_retry(mq, amqp_error_string2(rc));
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
	mq->state = MQ_DIALLING;
}

/* ---- incoming frames ---- */

/* The subscription a consumer tag names, or -1 (one unsubscribed since, or
 * not ours); *stream says whether the tag was a stream consumer's. */
static int sub_of_tag(mq_t *mq, amqp_bytes_t tag, int *stream)
{
	static const char prefix[] = "warren.";
	size_t pl = sizeof(prefix) - 1;
	*stream = tag.len > pl && !memcmp(tag.bytes, prefix, pl) &&
		  ((const char *)tag.bytes)[pl] == 's';
	for (int i = 0; i < MQ_MAX_CONSUMERS; i++) {
		const struct sub *s = &mq->subs[i];
		if (s->used && tag.len > s->tag_prefix &&
		    !memcmp(s->tag, tag.bytes, s->tag_prefix))
			return i;
	}
	return -1;
}

/* The queue a delivery came from, for logs. */
static const char *d_queue(const mq_t *mq)
{
	return mq->d_sub >= 0 ? mq->subs[mq->d_sub].queue : "?";
}

static void deliver(mq_t *mq)
{
	struct mq_delivery d = {
		.tag = (mq->d_stream ? TAG_STREAM : 0) |
		       ((uint64_t)(mq->epoch & TAG_EPOCH_MASK) << 40) |
		       (mq->d_tag & ((1ULL << 40) - 1)),
		.body = mq->d_body.data ? mq->d_body.data : "",
		.len = mq->d_body.len,
		.message_id = mq->d_has_msgid ? mq->d_msgid : NULL,
		.redelivered = mq->d_redelivered,
		.consumer = mq->d_sub,
		.offset = mq->d_offset,
		.timestamp = mq->d_timestamp,
		.delivery_count = mq->d_count,
	};
	mq->receiving = 0;
	if (mq->d_sub < 0) {
		/* sent before our basic.cancel of a forgotten subscription: a
		 * stream reads on; a queue's message goes back for a consumer */
		amqp_basic_ack_t a = { .delivery_tag = mq->d_tag };
		amqp_basic_reject_t r = { .delivery_tag = mq->d_tag, .requeue = 1 };
		if (mq->d_stream)
			send_method(mq, mq->channel, AMQP_BASIC_ACK_METHOD, &a);
		else
			send_method(mq, mq->channel, AMQP_BASIC_REJECT_METHOD, &r);
	} else {
		const struct sub *s = &mq->subs[mq->d_sub];
		s->c.on_deliver(&d, s->c.arg);
	}
	if (!mq->conn)
		return; /* torn down meanwhile */
	/* a large message's memory is not kept for the next small one */
	if (mq->d_body.cap > MQ_KEEP_BUF)
		buf_free(&mq->d_body);
	else
		buf_reset(&mq->d_body);
}

/* The broker refused a declaration with 406 PRECONDITION_FAILED: the queue
 * exists with other arguments (an older warren's, someone else's). Retrying
 * at once cannot help, and a line per retry would bury the reason: it is
 * said once, with the way out, and tried again every MQ_TOPOLOGY_RETRY_MS
 * until the queue is as declared. */
static void topology_refused(mq_t *mq, const char *queue, const amqp_channel_close_t *c)
{
	char wanted[256];
	queue = queue ? queue : "?";
	queue_wanted(queue, wanted, sizeof(wanted));
	if (mq->topology_said)
		goto retry;
	if (!strcmp(queue, EXCHANGE_DEAD))
		log_error("broker %s: exchange '%s' exists with other arguments than warren "
			  "declares (a durable fanout exchange); RabbitMQ says: %.*s. Remove it "
			  "(`rabbitmqadmin delete exchange name=%s`) or give warren another "
			  "vhost; trying again every %d s", mq->redacted, queue,
			  (int)c->reply_text.len, (char *)c->reply_text.bytes, queue,
			  MQ_TOPOLOGY_RETRY_MS / 1000);
	else
		log_error("broker %s: queue '%s' exists with other arguments than warren "
			  "declares: it must be %s; RabbitMQ says: %.*s (an older warren's "
			  "queue?). Remove it with `rabbitmqctl delete_queue %s` (its messages "
			  "are lost) or give warren another vhost; trying again every %d s",
			  mq->redacted, queue, wanted, (int)c->reply_text.len,
			  (char *)c->reply_text.bytes, queue, MQ_TOPOLOGY_RETRY_MS / 1000);
retry:
	mq->topology_said = 1;
	teardown(mq, NULL);
	schedule_reconnect(mq);
}

/* 1 when a 406 says a queue or exchange exists with other arguments
 * ("inequivalent arg ..."): an older warren's, which only a person can
 * remove. Other 406s of a declaration pass (on a cluster: "does not have a
 * replica on the local node" while a node is lost) and are retried as any
 * failure, on the next node. */
static int inequivalent(const amqp_channel_close_t *c)
{
	char text[256];
	size_t n = c->reply_text.len < sizeof(text) - 1 ? c->reply_text.len : sizeof(text) - 1;
	memcpy(text, c->reply_text.bytes, n);
	text[n] = '\0';
	return strstr(text, "inequivalent arg") != NULL;
}

/* Our channel is gone or given up: its confirms fail, the program hears
 * "down", and a new channel is set up on the same connection under a
 * fresh number (the old one may still see frames in flight). */
static int next_channel(mq_t *mq)
{
	uint32_t epoch = mq->epoch;
	mq->ready = 0;
	mq->receiving = 0;
	fail_all_confirms(mq);
	if (mq->cfg.on_state)
		mq->cfg.on_state(0, mq->cfg.arg);
	if (mq->state != MQ_UP || mq->epoch != epoch)
		return -1;
	return open_channel(mq, (amqp_channel_t)(mq->channel % MQ_MAX_CHANNEL + 1));
}

/* The broker closed our channel (a consumer_timeout's 406, an error of
 * ours): only the channel is lost. Its confirms fail, its deliveries go
 * back to the queue; a new channel is set up on the same connection. */
static int on_channel_close(mq_t *mq, amqp_channel_t ch, const amqp_channel_close_t *c)
{
	amqp_channel_close_ok_t ok = { 0 };
	int was_ready = mq->ready;
	/* the channel stops at the failed request, so the first declaration
	 * still awaited is the refused one */
	int decl = find_await(mq, AMQP_QUEUE_DECLARE_OK_METHOD);
	int xdecl = find_await(mq, AMQP_EXCHANGE_DECLARE_OK_METHOD);
	if (xdecl >= 0 && (decl < 0 || xdecl < decl))
		decl = xdecl;
	int topology = ch == mq->channel && !was_ready && decl >= 0 &&
		       c->reply_code == AMQP_PRECONDITION_FAILED && inequivalent(c);
	if (!topology)
		log_warn("broker %s: channel %u closed by the broker: %d %.*s", mq->redacted,
			 ch, c->reply_code, (int)c->reply_text.len, (char *)c->reply_text.bytes);
	if (send_method(mq, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) < 0)
		return -1;
	if (ch != mq->channel)
		return 0;
	if (topology) {
		topology_refused(mq, mq->await_queue[decl], c);
		return -1;
	}
	if (!was_ready) {
		/* its setup failed (a declaration refused): not at once again */
		char msg[320];
		snprintf(msg, sizeof(msg), "channel setup refused: %d %.*s", c->reply_code,
			 (int)c->reply_text.len, (char *)c->reply_text.bytes);
		fail_and_retry(mq, msg);
		return -1;
	}
	return next_channel(mq);
}

/* 1 when a subscription to a queue (not a stream) is on: closing the
 * channel would hand its unacknowledged deliveries back, and a quorum
 * queue counts each return toward its delivery limit. */
static int consumes_a_queue(const mq_t *mq)
{
	for (int i = 0; i < MQ_MAX_CONSUMERS; i++)
		if (mq->subs[i].used && mq->subs[i].on && !mq->subs[i].c.stream)
			return 1;
	return 0;
}

/*
 * RabbitMQ 3.10 nacks every later publish on a channel that published to a
 * quorum queue while the queue's leader was down, even once a new leader
 * is elected; a fresh channel is confirmed at once. So a publisher (a
 * connection that consumes no queue: the tasker) closes its channel after a
 * nack and opens the next one, at most once per MQ_NACK_REOPEN_MS. A
 * consumer keeps its channel: its deliveries would go back to the queue.
 */
static int reopen_after_nack(mq_t *mq)
{
	int64_t now = loop_now(mq->loop);
	if (!mq->ready || consumes_a_queue(mq) ||
	    (mq->reopened_at && now - mq->reopened_at < MQ_NACK_REOPEN_MS))
		return 0;
	mq->reopened_at = now;
	amqp_channel_close_t c = { .reply_code = AMQP_REPLY_SUCCESS,
				   .reply_text = amqp_cstring_bytes("nacked: a fresh channel") };
	log_warn("broker %s: a publish was nacked; channel %u closed, a fresh one opened "
		 "(a quorum queue's new leader confirms only new channels)",
		 mq->redacted, mq->channel);
	if (send_method(mq, mq->channel, AMQP_CHANNEL_CLOSE_METHOD, &c) < 0)
		return -1;
	return next_channel(mq);
}

static int on_connection_method(mq_t *mq, amqp_method_t *m)
{
	char msg[300];
	switch (m->id) {
	case AMQP_CONNECTION_START_METHOD:
		return mq->state == MQ_START ? on_start(mq) : 0;
	case AMQP_CONNECTION_TUNE_METHOD:
		return mq->state == MQ_TUNE ? on_tune(mq, m->decoded) : 0;
	case AMQP_CONNECTION_OPEN_OK_METHOD:
		return mq->state == MQ_OPEN ? on_open_ok(mq) : 0;
	case AMQP_CONNECTION_BLOCKED_METHOD: {
		amqp_connection_blocked_t *b = m->decoded;
		mq->blocked = 1;
		log_warn("broker %s: blocked (%.*s): publishing waits", mq->redacted,
			 (int)b->reason.len, (char *)b->reason.bytes);
		/* what waits for a confirm now waits for the alarm's end: its
		 * publisher is answered at once (the message may still be stored) */
		expire_confirms(mq, INT64_MAX);
		return 0;
	}
	case AMQP_CONNECTION_UNBLOCKED_METHOD:
		mq->blocked = 0;
		mq->out_progress = loop_now(mq->loop);
		log_info("broker %s: unblocked", mq->redacted);
		return 0;
	case AMQP_CONNECTION_CLOSE_METHOD: {
		amqp_connection_close_t *c = m->decoded;
		snprintf(msg, sizeof(msg), "connection closed by broker: %d %.*s",
			 c->reply_code, (int)c->reply_text.len, (char *)c->reply_text.bytes);
		amqp_connection_close_ok_t ok = { 0 };
		amqp_send_method(mq->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
		flush_out(mq);
		fail_and_retry(mq, msg);
		return -1;
	}
	default:
		return 0;
	}
}

static int on_method(mq_t *mq, amqp_channel_t ch, amqp_method_t *m)
{
	if (ch == 0)
		return on_connection_method(mq, m);
	if (m->id == AMQP_CHANNEL_CLOSE_METHOD)
		return on_channel_close(mq, ch, m->decoded);
	if (ch != mq->channel)
		return 0; /* a closed channel's last frames */
	switch (m->id) {
	case AMQP_BASIC_DELIVER_METHOD: {
		amqp_basic_deliver_t *d = m->decoded;
		mq->receiving = 1;
		mq->skipping = 0;
		mq->d_tag = d->delivery_tag;
		mq->d_redelivered = d->redelivered;
		mq->d_sub = sub_of_tag(mq, d->consumer_tag, &mq->d_stream);
		mq->d_offset = -1;
		mq->d_timestamp = 0;
		mq->d_count = 0;
		mq->d_has_msgid = 0;
		mq->d_got = 0;
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
		return reopen_after_nack(mq);
	}
	case AMQP_BASIC_CANCEL_METHOD: {
		/* the queue was deleted or its node lost: declare it again (an
		 * empty one if it is gone) and consume from it again */
		amqp_basic_cancel_t *c = m->decoded;
		int stream, i = sub_of_tag(mq, c->consumer_tag, &stream);
		if (i < 0 || !mq->subs[i].on)
			return 0; /* one we were cancelling anyway */
		log_warn("broker %s: consumer of %s cancelled by the broker; consuming again",
			 mq->redacted, mq->subs[i].queue);
		mq->subs[i].consuming = 0;
		return consume(mq, &mq->subs[i]);
	}
	case AMQP_BASIC_CANCEL_OK_METHOD:
	case AMQP_EXCHANGE_DECLARE_OK_METHOD:
	case AMQP_QUEUE_BIND_OK_METHOD:
	case AMQP_CHANNEL_OPEN_OK_METHOD:
	case AMQP_QUEUE_DECLARE_OK_METHOD:
	case AMQP_CONFIRM_SELECT_OK_METHOD:
	case AMQP_BASIC_QOS_OK_METHOD:
	case AMQP_BASIC_CONSUME_OK_METHOD:
		return on_reply(mq, m->id);
	default:
		return 0; /* basic.return and others: nothing to do */
	}
}

/* The integer value of key in t (any integer kind): 0, or -1 when absent. */
static int table_int(const amqp_table_t *t, const char *key, int64_t *out)
{
	size_t kl = strlen(key);
	for (int i = 0; i < t->num_entries; i++) {
		const amqp_table_entry_t *e = &t->entries[i];
		if (e->key.len != kl || memcmp(e->key.bytes, key, kl))
			continue;
		const amqp_field_value_t *v = &e->value;
		switch (v->kind) {
		case AMQP_FIELD_KIND_I8: *out = v->value.i8; return 0;
		case AMQP_FIELD_KIND_U8: *out = v->value.u8; return 0;
		case AMQP_FIELD_KIND_I16: *out = v->value.i16; return 0;
		case AMQP_FIELD_KIND_U16: *out = v->value.u16; return 0;
		case AMQP_FIELD_KIND_I32: *out = v->value.i32; return 0;
		case AMQP_FIELD_KIND_U32: *out = v->value.u32; return 0;
		case AMQP_FIELD_KIND_I64: *out = v->value.i64; return 0;
		case AMQP_FIELD_KIND_U64:
		case AMQP_FIELD_KIND_TIMESTAMP:
			if (v->value.u64 > INT64_MAX)
				return -1;
			*out = (int64_t)v->value.u64;
			return 0;
		default:
			return -1;
		}
	}
	return -1;
}

/* The content header of a delivery: its size is checked before any byte
 * of the body is kept. */
static int on_header(mq_t *mq, amqp_frame_t *f)
{
	amqp_basic_properties_t *p = f->payload.properties.decoded;
	uint64_t size = f->payload.properties.body_size;
	int64_t v;
	if (p && (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) &&
	    p->message_id.len < sizeof(mq->d_msgid)) {
		memcpy(mq->d_msgid, p->message_id.bytes, p->message_id.len);
		mq->d_msgid[p->message_id.len] = '\0';
		mq->d_has_msgid = 1;
	}
	if (p && (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG) && p->timestamp <= INT64_MAX)
		mq->d_timestamp = (int64_t)p->timestamp;
	if (p && (p->_flags & AMQP_BASIC_HEADERS_FLAG)) {
		if (mq->d_stream && table_int(&p->headers, "x-stream-offset", &v) == 0 && v >= 0)
			mq->d_offset = v;
		if (table_int(&p->headers, "x-delivery-count", &v) == 0 && v > 0)
			mq->d_count = v > UINT32_MAX ? UINT32_MAX : (unsigned)v;
	}
	mq->d_size = (size_t)size;
	if (size > MQ_MAX_MESSAGE) {
		log_warn("broker %s: message %s of %llu bytes on %s is over the limit of "
			 "%d: %s unread", mq->redacted,
			 mq->d_has_msgid ? mq->d_msgid : "(no id)", (unsigned long long)size,
			 d_queue(mq), MQ_MAX_MESSAGE, mq->d_stream ? "skipped" : "rejected");
		mq->skipping = 1;
	} else if (buf_reserve(&mq->d_body, mq->d_size) < 0) {
		fail_and_retry(mq, "out of memory");
		return -1;
	}
	return 0;
}

/* The message is whole: handed over, or rejected when it was skipped. */
static int message_end(mq_t *mq)
{
	if (!mq->skipping) {
		deliver(mq);
		return 0;
	}
	mq->receiving = mq->skipping = 0;
	if (mq->d_stream) { /* read on: the ack gives the stream its credit back */
		amqp_basic_ack_t a = { .delivery_tag = mq->d_tag };
		return send_method(mq, mq->channel, AMQP_BASIC_ACK_METHOD, &a);
	}
	amqp_basic_reject_t r = { .delivery_tag = mq->d_tag, .requeue = 0 };
	return send_method(mq, mq->channel, AMQP_BASIC_REJECT_METHOD, &r);
}

static int on_frame(mq_t *mq, amqp_frame_t *f)
{
	if (f->frame_type == AMQP_FRAME_METHOD)
		return on_method(mq, f->channel, &f->payload.method);
	if (!mq->receiving || f->channel != mq->channel)
		return 0;
	if (f->frame_type == AMQP_FRAME_HEADER) {
		if (on_header(mq, f) < 0)
			return -1;
		return mq->d_size == 0 ? message_end(mq) : 0;
	}
	if (f->frame_type == AMQP_FRAME_BODY) {
		amqp_bytes_t b = f->payload.body_fragment;
		mq->d_got += b.len;
		if (!mq->skipping && buf_append(&mq->d_body, b.bytes, b.len) < 0) {
			fail_and_retry(mq, "out of memory");
			return -1;
		}
		if (mq->d_got >= mq->d_size)
			return message_end(mq);
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

static void read_batch_due(loop_t *loop, void *arg)
{
	(void)loop;
	mq_t *mq = arg;
	mq->read_timer = 0;
	watch_socket(mq);
	pump(mq);
}

/* The socket is read dry: with cfg.read_batch_ms, it is left alone that
 * long, so the deliveries arriving meanwhile come in one read. */
static void read_dry(mq_t *mq)
{
	if (!mq->cfg.read_batch_ms || mq->read_timer || mq->fd < 0 ||
	    mq->state != MQ_UP || !mq->ready) /* the handshake goes at full speed */
		return;
	mq->read_timer = loop_timer(mq->loop, mq->cfg.read_batch_ms, read_batch_due, mq);
	if (mq->read_timer)
		watch_socket(mq);
}

/* Handles every frame available without blocking. */
static void pump(mq_t *mq)
{
	struct timeval zero = { 0, 0 };
	amqp_connection_state_t conn = mq->conn;
	for (int n = 0; n < MQ_PUMP_BURST; n++) {
		amqp_frame_t f;
		int rc = amqp_simple_wait_frame_noblock(conn, &f, &zero);
		if (rc == AMQP_STATUS_TIMEOUT) {
			if (!amqp_frames_enqueued(conn) && !amqp_data_in_buffer(conn))
				amqp_maybe_release_buffers(conn);
			read_dry(mq);
			return;
		}
		if (rc != AMQP_STATUS_OK) {
			fail_and_retry(mq, amqp_error_string2(rc));
			return;
		}
		/* a callback may tear the connection down */
		if (on_frame(mq, &f) < 0 || mq->conn != conn)
			return;
		/* the frame is handled (a body's bytes copied or skipped): its
		 * memory goes back to rabbitmq-c's pool at once, or a long message
		 * would pile up its frames there until the socket runs dry */
		if (!amqp_frames_enqueued(conn))
			amqp_maybe_release_buffers(conn);
	}
	/* a burst is left: yield to the other fds and come back at once */
	if (!mq->pump_timer)
		mq->pump_timer = loop_timer(mq->loop, 0, pump_later, mq);
}

static void on_io(loop_t *loop, int fd, int events, void *arg)
{
	(void)loop;
	(void)fd;
	mq_t *mq = arg;
	if (events & LOOP_WRITE) {
		amqp_connection_state_t conn = mq->conn;
		loop_timer_cancel(mq->loop, mq->flush_timer);
		flush_later(mq->loop, mq); /* may tear down */
		if (mq->conn != conn)
			return;
	}
	if (events & (LOOP_READ | LOOP_ERROR))
		pump(mq);
}

/* What the tick finds overdue: a handshake or channel setup, the socket
 * not taking our bytes, a confirm. NULL when nothing is. */
static const char *overdue(mq_t *mq, int64_t now, char *msg, size_t len)
{
	if ((mq->state != MQ_UP || mq->n_await) &&
	    now - mq->step_at > MQ_CONNECT_TIMEOUT_S * 1000) {
		snprintf(msg, len, "no answer to the %s within %d s",
			 mq->state != MQ_UP ? "handshake" : "channel setup", MQ_CONNECT_TIMEOUT_S);
		return msg;
	}
	if (buf_used(&mq->out) && !mq->blocked && now - mq->out_progress > MQ_WRITE_TIMEOUT_MS) {
		snprintf(msg, len, "the broker read nothing for %d ms: connection dead",
			 MQ_WRITE_TIMEOUT_MS);
		return msg;
	}
	if (mq->count && slot(mq, 0)->deadline < now) {
		if (!mq->blocked)
			return "publisher confirm timed out";
		expire_confirms(mq, now);
	}
	return NULL;
}

/* Every MQ_TICK_MS from the TCP connect on (teardown cancels it, also from
 * here). */
static int64_t on_tick(loop_t *loop, void *arg)
{
	mq_t *mq = arg;
	char msg[128];
	ring_shrink(mq);
	if (mq->nacked || mq->refused || mq->expired) {
		log_warn("broker %s: %lu nack(s) of publishes; %lu publish(es) refused, %lu "
			 "given up while blocked; %zu confirms awaited", mq->redacted,
			 mq->nacked, mq->refused, mq->expired, mq->count);
		mq->nacked = mq->refused = mq->expired = 0;
	}
	amqp_connection_state_t conn = mq->conn;
	const char *why = overdue(mq, loop_now(loop), msg, sizeof(msg));
	if (why) {
		fail_and_retry(mq, why);
		return LOOP_TIMER_STOP;
	}
	if (mq->conn != conn)
		return LOOP_TIMER_STOP;
	if (!mq->read_timer) /* a read batch gathering reads (and beats) soon */
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
	mq->n_nodes = parse_nodes(cfg->url, mq->nodes, mq->names, err, errlen);
	use_node(mq, 0);
	mq->retry_timer = loop_timer(loop, 0, start_connect, mq);
	return mq;
}

/* 1 when the frames pulled now hold the broker's answer to our
 * connection.close (close-ok, or its own close), -1 when the connection
 * broke, 0 for more. The other frames are dropped. */
static int close_answered(mq_t *mq)
{
	struct timeval zero = { 0, 0 };
	for (;;) {
		amqp_frame_t f;
		int rc = amqp_simple_wait_frame_noblock(mq->conn, &f, &zero);
		if (rc == AMQP_STATUS_TIMEOUT)
			return 0;
		if (rc != AMQP_STATUS_OK)
			return -1;
		if (f.frame_type == AMQP_FRAME_METHOD && f.channel == 0 &&
		    (f.payload.method.id == AMQP_CONNECTION_CLOSE_OK_METHOD ||
		     f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD))
			return 1;
		if (!amqp_frames_enqueued(mq->conn))
			amqp_maybe_release_buffers(mq->conn);
	}
}

/* Sends what is buffered and waits, up to MQ_CLOSE_WAIT_MS, for the
 * broker's close-ok: by then it has handled every frame sent before our
 * close (unconfirmed publishes included). Reading also keeps the kernel
 * from answering our close() with a reset while data is unread. Blocking:
 * only for mq_free, when the loop is done. */
static void await_close(mq_t *mq)
{
	int64_t deadline = loop_refresh_now(mq->loop) + MQ_CLOSE_WAIT_MS;
	for (;;) {
		int64_t left = deadline - loop_refresh_now(mq->loop);
		if (left <= 0)
			return;
		struct pollfd p = { .fd = mq->fd,
				    .events = POLLIN | (buf_used(&mq->out) ? POLLOUT : 0) };
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno != EINTR)
			return;
		if (n <= 0)
			continue;
		if ((p.revents & POLLOUT) && flush_out(mq) < 0)
			return;
		if ((p.revents & (POLLIN | POLLHUP | POLLERR)) && close_answered(mq) != 0)
			return;
	}
}

void mq_free(mq_t *mq)
{
	if (!mq)
		return;
	loop_timer_cancel(mq->loop, mq->retry_timer);
	mq->cfg.on_state = NULL;
	if (mq->conn && mq->state == MQ_UP) {
		/* the broker requeues unacked deliveries either way; waiting
		 * for its close makes the last publishes arrive */
		amqp_connection_close_t c = { .reply_code = AMQP_REPLY_SUCCESS,
					      .reply_text = amqp_cstring_bytes("bye") };
		if (amqp_send_method(mq->conn, 0, AMQP_CONNECTION_CLOSE_METHOD, &c) ==
		    AMQP_STATUS_OK && flush_out(mq) == 0)
			await_close(mq);
	}
	teardown(mq, NULL);
	free(mq->ring);
	free(mq);
}

int mq_is_up(const mq_t *mq) { return mq->state == MQ_UP && mq->ready; }

int mq_is_blocked(const mq_t *mq) { return mq_is_up(mq) && mq->blocked; }

const char *mq_state_name(const mq_t *mq)
{
	return !mq_is_up(mq) ? "down" : mq->blocked ? "blocked" : "up";
}

size_t mq_inflight(const mq_t *mq) { return mq->count; }

int mq_publish(mq_t *mq, const char *queue, const char *body, size_t len,
	       const char *message_id, mq_confirm_fn cb, void *cookie)
{
	if (!mq_is_up(mq) || mq->blocked || (mq->cfg.unconfirmed && cb))
		return -1;
	if (buf_used(&mq->out) > MQ_MAX_OUTBUF ||
	    (!mq->cfg.unconfirmed && ring_room(mq) < 0)) {
		mq->refused++;
		return -1;
	}
	amqp_basic_properties_t p;
	memset(&p, 0, sizeof(p));
	p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
		   AMQP_BASIC_TIMESTAMP_FLAG;
	p.content_type = amqp_cstring_bytes("application/json");
	p.delivery_mode = 2; /* persistent */
	/* readers of a stream find a message's time by it (a worker looks for
	 * a task's final notification from its publish time on) */
	p.timestamp = (uint64_t)(loop_wall_ms() / 1000);
	if (message_id) {
		p._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
		p.message_id = amqp_cstring_bytes(message_id);
	}
	amqp_bytes_t b = { len, (void *)body };
	int rc = amqp_basic_publish(mq->conn, mq->channel, amqp_empty_bytes,
				    amqp_cstring_bytes(queue), 0, 0, &p, b);
	if (rc != AMQP_STATUS_OK) {
		/* only out of memory: the buffer may hold part of the frames */
		fail_and_retry(mq, amqp_error_string2(rc));
		return -1;
	}
	if (mq->cfg.unconfirmed)
		return 0;
	struct confirm *c = slot(mq, mq->count++);
	*c = (struct confirm){ cb, cookie, loop_now(mq->loop) + MQ_CONFIRM_TIMEOUT_MS, 0 };
	mq->next_seq++;
	return 0;
}

/* The channel's delivery tag, or 0 when tag belongs to a dead channel. */
static uint64_t live_tag(mq_t *mq, uint64_t tag)
{
	if (!channel_open(mq) ||
	    (uint32_t)((tag >> 40) & TAG_EPOCH_MASK) != (mq->epoch & TAG_EPOCH_MASK))
		return 0;
	return tag & ((1ULL << 40) - 1);
}

int mq_ack(mq_t *mq, uint64_t tag)
{
	uint64_t t = live_tag(mq, tag);
	if (!t)
		return -1;
	amqp_basic_ack_t a = { .delivery_tag = t };
	return send_method(mq, mq->channel, AMQP_BASIC_ACK_METHOD, &a);
}

int mq_reject(mq_t *mq, uint64_t tag, int requeue)
{
	uint64_t t = live_tag(mq, tag);
	if (!t)
		return -1;
	if (tag & TAG_STREAM) {
		/* RabbitMQ 3.10 closes the connection (540 NOT_IMPLEMENTED) on a
		 * reject from a stream consumer: nothing can be requeued there,
		 * the ack only gives the credit back */
		amqp_basic_ack_t a = { .delivery_tag = t };
		return send_method(mq, mq->channel, AMQP_BASIC_ACK_METHOD, &a);
	}
	amqp_basic_reject_t r = { .delivery_tag = t, .requeue = requeue != 0 };
	return send_method(mq, mq->channel, AMQP_BASIC_REJECT_METHOD, &r);
}


int mq_subscribe(mq_t *mq, const struct mq_consumer *c)
{
	if (!c->queue || strlen(c->queue) > MQ_QUEUE_NAME_MAX || !c->on_deliver)
		return -1;
	for (int i = 0; i < MQ_MAX_CONSUMERS; i++) {
		struct sub *s = &mq->subs[i];
		if (s->used)
			continue;
		unsigned gen = s->gen + 1;
		memset(s, 0, sizeof(*s));
		s->gen = gen;
		s->c = *c;
		snprintf(s->queue, sizeof(s->queue), "%s", c->queue);
		s->c.queue = s->queue;
		s->tag_prefix = (size_t)snprintf(s->tag, sizeof(s->tag), "warren.%c%d.%u.",
						 c->stream ? 's' : 'q', i, gen);
		s->used = 1;
		s->on = 1;
		if (channel_open(mq))
			consume(mq, s); /* a failure tears down: set up again later */
		return i;
	}
	return -1;
}

/* The subscription of id, or NULL. */
static struct sub *sub_of(mq_t *mq, int id)
{
	if (id < 0 || id >= MQ_MAX_CONSUMERS || !mq->subs[id].used)
		return NULL;
	return &mq->subs[id];
}

void mq_unsubscribe(mq_t *mq, int id)
{
	struct sub *s = sub_of(mq, id);
	if (!s)
		return;
	if (s->consuming && channel_open(mq))
		cancel(mq, s);
	s->used = 0; /* its tag is not matched any more: late deliveries go back */
	s->on = 0;
}

int mq_consume(mq_t *mq, int id, int on)
{
	struct sub *s = sub_of(mq, id);
	if (!s)
		return -1;
	s->on = on != 0;
	if (!channel_open(mq))
		return 0; /* the next setup does what on says */
	if (on && !s->consuming)
		consume(mq, s);
	else if (!on && s->consuming)
		cancel(mq, s);
	return 0;
}

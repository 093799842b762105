/*
 * mq - the AMQP 0-9-1 connection of a warren program, on rabbitmq-c, driven
 * by the event loop and never waiting on the broker: non-blocking connect,
 * login and topology declaration, heartbeats, persistent publishing with
 * publisher confirms kept in flight (many at once, never publish-and-wait)
 * through a bounded output buffer, any number of consumers on the one
 * channel (queues and streams, each with its prefetch, manual acks), the
 * broker's flow control (connection.blocked), consumer cancellation and
 * channel errors survived, and reconnection with capped exponential backoff
 * after any failure.
 *
 * The module is the only place that touches rabbitmq-c. Credentials in the
 * URL are never logged.
 */
#ifndef WARREN_MQ_H
#define WARREN_MQ_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

typedef struct mq mq_t;

/* Where a stream consumer starts, asked again at every (re)subscription
 * so that a reconnect resumes after the last offset the program handled. */
enum mq_from { MQ_FROM_FIRST, MQ_FROM_LAST, MQ_FROM_NEXT, MQ_FROM_OFFSET, MQ_FROM_TIME };
struct mq_start {
	enum mq_from from;
	int64_t value;           /* offset, or Unix seconds for MQ_FROM_TIME */
};

/* One message handed to the consumer; pointers valid during the callback. */
struct mq_delivery {
	uint64_t tag;            /* opaque: pass to mq_ack / mq_reject */
	const char *body;
	size_t len;
	const char *message_id;  /* NULL when absent */
	int redelivered;
	int consumer;            /* the id mq_subscribe returned */
	int64_t offset;          /* x-stream-offset of a stream message, -1 otherwise */
	int64_t timestamp;       /* the message's timestamp property (Unix s), 0 when absent */
	unsigned delivery_count; /* quorum x-delivery-count header (0 on first delivery/absent) */
};

/* ok = 1: the broker confirmed (basic.ack). ok = 0: nacked, timed out, or
 * the connection was lost first (the message may or may not be stored). */
typedef void (*mq_confirm_fn)(void *cookie, int ok);
typedef void (*mq_deliver_fn)(const struct mq_delivery *d, void *arg);
/* up = 1 after a (re)connection is ready, 0 when it is lost (also when only
 * the channel was: a new one follows). Tags of deliveries received before
 * a loss are void afterwards. */
typedef void (*mq_state_fn)(int up, void *arg);

struct mq_config {
	const char *url;           /* amqp://user:pass@host:port/vhost[,...] */
	unsigned heartbeat;        /* seconds, 0 = none */
	mq_state_fn on_state;      /* may be NULL */
	void *arg;                 /* passed to on_state */
	const char *name;          /* connection name shown by the broker */
	int unconfirmed;           /* 1: no publisher confirms on this connection:
				    * a publish is written and forgotten (its cb
				    * must be NULL); for messages nothing waits
				    * on, which then cost the broker less */
	unsigned read_batch_ms;    /* >0: once the socket is read dry, it is read
				    * again only this many ms later, so that the
				    * deliveries arriving meanwhile are read, handled
				    * and acked together (for a consumer that nothing
				    * waits on: fewer wakeups and system calls) */
};

/* A subscription: manual acks, its own basic.qos (global = 0) sent right
 * before its basic.consume. A stream consumer must ack every delivery (the
 * broker's credit) and have a prefetch (0 is taken as MQ_STREAM_PREFETCH). */
struct mq_consumer {
	const char *queue;
	unsigned prefetch;                         /* per-consumer basic.qos, 0 = no limit */
	int stream;                                /* 1: consume with x-stream-offset from start() */
	struct mq_start (*start)(void *arg);       /* streams: asked at each (re)subscription */
	mq_deliver_fn on_deliver;
	void *arg;                                 /* passed to on_deliver and start */
};

/* Checks the --amqp value (url.c parses it); 0 when valid, else -1 with
 * the reason in err. Logs show it through url_redact_amqp. */
int mq_check_url(const char *url, char *err, size_t errlen);

/* Starts connecting at once (asynchronously). NULL on a bad URL or ENOMEM,
 * with the reason in err. The config strings must outlive the mq. */
mq_t *mq_new(loop_t *loop, const struct mq_config *cfg, char *err, size_t errlen);
/* Closes the connection; pending confirms are called with ok = 0. */
void mq_free(mq_t *mq);

/* 1 when connected and ready to publish. */
int mq_is_up(const mq_t *mq);
/* 1 while the broker has blocked the connection (connection.blocked: a
 * memory or disk alarm): mq_publish refuses until it is unblocked. */
int mq_is_blocked(const mq_t *mq);
/* "up", "blocked" or "down", for /health. */
const char *mq_state_name(const mq_t *mq);
/* Confirms waiting on the broker. */
size_t mq_inflight(const mq_t *mq);

/*
 * Publishes a persistent (delivery mode 2) application/json message to
 * queue through the default exchange, with the timestamp property (now,
 * Unix seconds). Never waits: the frames are queued
 * and written as the socket takes them. Returns 0 when queued: cb (may be
 * NULL) is then called exactly once, later, from the loop (ok = 0 also when
 * no confirm came within MQ_CONFIRM_TIMEOUT_MS while the broker was
 * blocked). Returns -1 when not connected, blocked, or when too many
 * confirms or bytes are waiting: cb is not called. On an unconfirmed
 * connection (mq_config.unconfirmed) nothing is awaited: cb must be NULL
 * (-1 otherwise), and the message is lost if the connection is.
 */
int mq_publish(mq_t *mq, const char *queue, const char *body, size_t len,
	       const char *message_id, mq_confirm_fn cb, void *cookie);

/* Acknowledges a delivery. -1 when its connection is gone (the broker will
 * redeliver the message). */
int mq_ack(mq_t *mq, uint64_t tag);
/* Rejects a delivery, requeueing it or not. -1 as for mq_ack. On a quorum
 * queue a requeue counts toward x-delivery-limit. A stream delivery is
 * acked instead (RabbitMQ closes the connection on a reject from a stream
 * consumer; nothing is requeued there, the consumer reads on). */
int mq_reject(mq_t *mq, uint64_t tag, int requeue);

/* Subscribes (now if up, else at the next connection) and keeps the
 * subscription across reconnections and broker cancellations. Returns an
 * id >= 0, or -1 (too many: MQ_MAX_CONSUMERS, or a queue name too long).
 * The mq keeps its own copy of *c (and of the queue name). */
int mq_subscribe(mq_t *mq, const struct mq_consumer *c);
/* basic.cancel and forget it (deliveries already received may still be
 * acked; one still in flight is requeued, or acked on a stream). */
void mq_unsubscribe(mq_t *mq, int id);
/* on = 0: basic.cancel but remember it (pause; deliveries in flight still
 * reach on_deliver); on = 1: consume again (a stream asks start() again).
 * 0, or -1 for an unknown id. */
int mq_consume(mq_t *mq, int id, int on);

#endif

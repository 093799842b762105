/*
 * mq - the AMQP 0-9-1 connection of a warren program, on rabbitmq-c, driven
 * by the event loop and never waiting on the broker: non-blocking connect,
 * login and topology declaration, heartbeats, persistent publishing with
 * publisher confirms kept in flight (many at once, never publish-and-wait)
 * through a bounded output buffer, consumption with manual acks, the
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

/* One message handed to the consumer; pointers valid during the callback. */
struct mq_delivery {
	uint64_t tag;            /* opaque: pass to mq_ack / mq_reject */
	const char *body;
	size_t len;
	const char *message_id;  /* NULL when absent */
	int redelivered;
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
	const char *url;           /* amqp://user:pass@host:port/vhost */
	unsigned heartbeat;        /* seconds, 0 = none */
	const char *consume;       /* queue to consume with manual acks, or NULL */
	unsigned prefetch;         /* basic.qos for the consumer */
	mq_deliver_fn on_deliver;
	mq_state_fn on_state;      /* may be NULL */
	void *arg;                 /* passed to on_deliver and on_state */
	const char *name;          /* connection name shown by the broker */
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
 * queue through the default exchange. Never waits: the frames are queued
 * and written as the socket takes them. Returns 0 when queued: cb (may be
 * NULL) is then called exactly once, later, from the loop (ok = 0 also when
 * no confirm came within MQ_CONFIRM_TIMEOUT_MS while the broker was
 * blocked). Returns -1 when not connected, blocked, or when too many
 * confirms or bytes are waiting: cb is not called.
 */
int mq_publish(mq_t *mq, const char *queue, const char *body, size_t len,
	       const char *message_id, mq_confirm_fn cb, void *cookie);

/* Acknowledges a delivery. -1 when its connection is gone (the broker will
 * redeliver the message). */
int mq_ack(mq_t *mq, uint64_t tag);
/* Rejects a delivery, requeueing it or not. -1 as for mq_ack. */
int mq_reject(mq_t *mq, uint64_t tag, int requeue);

#endif

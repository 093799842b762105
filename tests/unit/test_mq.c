/* test_mq.c - the --amqp value mq takes: one URL or the nodes of a cluster
 * (src/mq.c; each URL is url.c's, tested in test_url_amqp.c), and the
 * bookkeeping of subscriptions before any connection. The rest of mq runs
 * against a real broker in the integration tests (test_mq_stream.py drives
 * it through tests/unit/mqprobe.c). */
#include "check.h"
#include "config.h"
#include "loop.h"
#include "mq.h"

static void no_deliver(const struct mq_delivery *d, void *arg)
{
	(void)d;
	(void)arg;
}

/* Subscriptions are kept before the first connection (none is made: the
 * loop never runs): ids, the limit, a freed slot used again. */
static void subscriptions(void)
{
	char err[256];
	loop_t *loop = loop_new();
	struct mq_config mc = { .url = "amqp://127.0.0.1:1" };
	mq_t *mq = loop ? mq_new(loop, &mc, err, sizeof(err)) : NULL;
	CHECK(mq != NULL);
	if (!mq)
		return;
	struct mq_consumer c = { .queue = "q", .prefetch = 1, .on_deliver = no_deliver };
	char queue[MQ_QUEUE_NAME_MAX + 2];
	int ids[MQ_MAX_CONSUMERS];
	for (int i = 0; i < MQ_MAX_CONSUMERS; i++) {
		ids[i] = mq_subscribe(mq, &c);
		CHECK_INT(ids[i], i);
	}
	CHECK_INT(mq_subscribe(mq, &c), -1);   /* too many */
	mq_unsubscribe(mq, ids[3]);
	CHECK_INT(mq_consume(mq, ids[3], 1), -1); /* forgotten */
	CHECK_INT(mq_consume(mq, ids[2], 0), 0);
	CHECK_INT(mq_consume(mq, ids[2], 1), 0);
	CHECK_INT(mq_consume(mq, -1, 1), -1);
	CHECK_INT(mq_consume(mq, MQ_MAX_CONSUMERS, 1), -1);
	CHECK_INT(mq_subscribe(mq, &c), 3);    /* the freed slot */
	mq_unsubscribe(mq, 0);
	memset(queue, 'x', sizeof(queue) - 1);
	queue[sizeof(queue) - 1] = '\0';
	c.queue = queue;                       /* over the AMQP short string */
	CHECK_INT(mq_subscribe(mq, &c), -1);
	c.queue = NULL;
	CHECK_INT(mq_subscribe(mq, &c), -1);
	c.queue = "q";
	c.on_deliver = NULL;
	CHECK_INT(mq_subscribe(mq, &c), -1);
	mq_free(mq);
	loop_free(loop);
}

static int ok(const char *list)
{
	char err[256];
	return mq_check_url(list, err, sizeof(err)) == 0;
}

int main(void)
{
	char err[256], many[2048] = "";
	CHECK(ok("amqp://h"));
	CHECK(ok("amqp://a:1,amqp://u:p@b:2/v,amqp://[::1]:3"));
	CHECK(ok("amqp://u:p%2Cq@h"));          /* a comma in a password, encoded */
	CHECK(!ok(""));
	CHECK(!ok("amqp://a,"));
	CHECK(!ok(",amqp://a"));
	CHECK(!ok("amqp://a,,amqp://b"));
	CHECK(!ok("amqp://a,http://b"));
	CHECK(!ok("amqp://u:p,q@h"));           /* a raw comma splits the URL */
	for (int i = 0; i < MQ_MAX_NODES; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%samqp://h%d",
			 i ? "," : "", i);
	CHECK(ok(many));
	strcat(many, ",amqp://one-too-many");
	CHECK(!ok(many));
	mq_check_url(many, err, sizeof(err));
	CHECK(strstr(err, "more than") != NULL);
	mq_check_url("amqp://a,amqps://b", err, sizeof(err));
	CHECK(strstr(err, "broker URL 2") != NULL && strstr(err, "amqps") != NULL);
	subscriptions();
	return check_report();
}

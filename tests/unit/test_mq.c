/* test_mq.c - the --amqp value mq takes: one URL or the nodes of a cluster
 * (src/mq.c; each URL is url.c's, tested in test_url_amqp.c). The rest of
 * mq runs against a real broker in the integration tests. */
#include "check.h"
#include "config.h"
#include "mq.h"

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
	return check_report();
}

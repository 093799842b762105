/* test_mq.c - the broker URL check and its redaction for logs (src/mq.c);
 * the rest of mq runs against a real broker in the integration tests. */
#include "check.h"
#include "mq.h"

static int ok(const char *url)
{
	char err[128];
	return mq_check_url(url, err, sizeof(err)) == 0;
}

static void redacts(const char *url, const char *want)
{
	char out[256];
	mq_redact_url(url, out, sizeof(out));
	CHECK_STR(out, want);
}

int main(void)
{
	const char *good[] = { "amqp://guest:guest@127.0.0.1:5672", "amqp://h", "AMQP://h:1",
			       "amqp://u:p%40ss@h:1/%2f", "amqp://h/", "amqp://h/vh",
			       "amqp://[::1]:5673/x", "amqp://u@h", "amqp://h?heartbeat=5" };
	const char *bad[] = { "amqps://h", "http://h", "amqp:/h", "amqp://h:0", "amqp://h:99999",
			      "amqp://h:", "amqp://h:1x", "amqp://h/a/b", "amqp://u:p@h/%zz",
			      "amqp://u:p%4@h", "amqp://[::1", "amqp://[::1]x", "amqp://h/%00", "" };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		if (!ok(good[i]))
			fprintf(stderr, "rejected %s\n", good[i]);
		CHECK(ok(good[i]));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (ok(bad[i]))
			fprintf(stderr, "accepted %s\n", bad[i]);
		CHECK(!ok(bad[i]));
	}
	char err[128];
	mq_check_url("amqps://h", err, sizeof(err));
	CHECK(strstr(err, "amqps") != NULL);

	redacts("amqp://guest:s3cret@h:5672/v", "amqp://guest:***@h:5672/v");
	redacts("amqp://u:p:q@h", "amqp://u:***@h");
	redacts("amqp://u:a@b@h/x@y", "amqp://u:***@h/x@y");
	redacts("amqp://user@h", "amqp://user@h");
	redacts("amqp://h/v:w@x", "amqp://h/v:w@x");
	return check_report();
}

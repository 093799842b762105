/* test_url_amqp.c - the broker URL parser and its redaction for logs
 * (src/url.c); mq runs against a real broker in the integration tests. */
#include "check.h"
#include "url.h"

static int ok(const char *url)
{
	char err[128];
	struct amqp_url u;
	return url_parse_amqp(url, &u, err, sizeof(err)) == 0;
}

static void parses(const char *url, const char *user, const char *pass, const char *host,
		   unsigned port, const char *vhost)
{
	char err[128];
	struct amqp_url u;
	CHECK_INT(url_parse_amqp(url, &u, err, sizeof(err)), 0);
	CHECK_STR(u.user, user);
	CHECK_STR(u.pass, pass);
	CHECK_STR(u.host, host);
	CHECK_INT(u.port, port);
	CHECK_STR(u.vhost, vhost);
}

static void redacts(const char *url, const char *want)
{
	char out[256];
	url_redact_amqp(url, out, sizeof(out));
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
	struct amqp_url u;
	url_parse_amqp("amqps://h", &u, err, sizeof(err));
	CHECK(strstr(err, "amqps") != NULL);

	parses("amqp://guest:guest@127.0.0.1:5672", "guest", "guest", "127.0.0.1", 5672, "/");
	parses("amqp://h", "guest", "guest", "h", 5672, "/");
	parses("amqp://u:p%40ss@h:1/%2f", "u", "p@ss", "h", 1, "/");
	parses("amqp://[::1]:5673/x", "guest", "guest", "::1", 5673, "x");
	parses("amqp://u@:7/", "u", "guest", "localhost", 7, "/");

	redacts("amqp://guest:s3cret@h:5672/v", "amqp://guest:***@h:5672/v");
	redacts("amqp://u:p:q@h", "amqp://u:***@h");
	redacts("amqp://u:a@b@h/x@y", "amqp://u:***@h/x@y");
	redacts("amqp://user@h", "amqp://user@h");
	redacts("amqp://h/v:w@x", "amqp://h/v:w@x");
	return check_report();
}

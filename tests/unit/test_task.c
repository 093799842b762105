/* test_task.c - task validation, ids and message JSON (src/task.c). */
#include "check.h"
#include "task.h"

#include <stdlib.h>

static char err[256];

/* Parses body; returns the task count or -1, keeping err. */
static int parse(const char *body)
{
	struct task *t;
	int arr;
	int n = task_parse_request(body, strlen(body), &t, &arr, err, sizeof(err));
	free(t);
	return n;
}

#define OK_TASK "{\"name\":\"n\",\"arg\":\"http://h/p\",\"taskType\":\"download\"}"

static void expect_error(const char *body, const char *fragment)
{
	int n = parse(body);
	CHECK_INT(n, -1);
	if (!strstr(err, fragment))
		fprintf(stderr, "error \"%s\" lacks \"%s\" (body %.60s)\n", err, fragment, body);
	CHECK(strstr(err, fragment) != NULL);
}

static void test_valid(void)
{
	struct task *t;
	int arr;
	const char *b = "{\"name\":\"caf\\u00e9 \\ud83d\\ude00\",\"arg\":\"https://x.org/a b\"}";
	(void)b;
	const char *body = "  {\"taskType\":\"download\",\"arg\":\"https://fr.wikipedia.org/wiki/RabbitMQ\","
			   "\"name\":\"caf\\u00e9 \\ud83d\\ude00\",\"sha256\":\""
			   "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789\"}\n";
	CHECK_INT(task_parse_request(body, strlen(body), &t, &arr, err, sizeof(err)), 1);
	CHECK_INT(arr, 0);
	CHECK_STR(t[0].name, "caf\xc3\xa9 \xf0\x9f\x98\x80");
	CHECK_STR(t[0].arg, "https://fr.wikipedia.org/wiki/RabbitMQ");
	CHECK_STR(t[0].sha256, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
	free(t);
	CHECK_INT(parse("[" OK_TASK "," OK_TASK "]"), 2);
}

static void test_json_errors(void)
{
	expect_error("", "not valid JSON");
	expect_error("{\"name\":\"n\"", "not valid JSON");
	expect_error("{\"name\":\"n\",}", "not valid JSON");
	expect_error("{\"name\" \"n\"}", "not valid JSON");
	expect_error("[" OK_TASK OK_TASK "]", "not valid JSON");
	expect_error(OK_TASK " x", "not valid JSON");
	expect_error("\"just a string\"", "task object or an array");
	expect_error("42", "task object or an array");
	expect_error("[]", "empty array");
	expect_error("{\"name\":\"a\tb\",\"arg\":\"http://h/\",\"taskType\":\"download\"}", "not valid JSON");
	expect_error("{\"name\":tru,\"arg\":\"http://h/\",\"taskType\":\"download\"}", "not valid JSON");
	expect_error("{\"name\":01,\"arg\":\"http://h/\",\"taskType\":\"download\"}", "not valid JSON");
}

static void test_batch_limit(void)
{
	size_t one = strlen(OK_TASK) + 1;
	char *big = malloc(one * (TASK_MAX_BATCH + 1) + 4);
	char *p = big;
	*p++ = '[';
	for (int i = 0; i <= TASK_MAX_BATCH; i++) {
		memcpy(p, OK_TASK, one - 1);
		p += one - 1;
		*p++ = i < TASK_MAX_BATCH ? ',' : ']';
	}
	*p = '\0';
	expect_error(big, "at most 1000");
	/* exactly the limit is fine */
	p[-1 - (long)one] = ']';
	p[-(long)one] = '\0';
	CHECK_INT(parse(big), TASK_MAX_BATCH);
	free(big);
}

static void test_field_errors(void)
{
	expect_error("[" OK_TASK ",{\"name\":\"n\",\"taskType\":\"download\"}]", "element 1: missing key \"arg\"");
	expect_error("{\"name\":\"n\",\"arg\":\"http://h/\"}", "missing key \"taskType\"");
	expect_error("{\"name\":\"n\",\"arg\":\"http://h/\",\"taskType\":\"download\",\"x\":1}", "unknown key \"x\"");
	expect_error("{\"name\":\"n\",\"name\":\"m\",\"arg\":\"http://h/\",\"taskType\":\"download\"}", "duplicate key \"name\"");
	expect_error("{\"name\":\"n\",\"na\\u006de\":\"m\",\"arg\":\"http://h/\",\"taskType\":\"download\"}", "duplicate key \"name\"");
	expect_error("{\"name\":1,\"arg\":\"http://h/\",\"taskType\":\"download\"}", "\"name\" must be a string");
	expect_error("{\"name\":\"\",\"arg\":\"http://h/\",\"taskType\":\"download\"}", "\"name\" is empty");
	expect_error("{\"name\":\"\\u0000\",\"arg\":\"http://h/\",\"taskType\":\"download\"}", "NUL");
	expect_error("{\"name\":\"\xff\",\"arg\":\"http://h/\",\"taskType\":\"download\"}", "not valid UTF-8");
	expect_error("{\"name\":\"\xc0\xaf\",\"arg\":\"http://h/\",\"taskType\":\"download\"}", "not valid UTF-8");
	expect_error("{\"name\":\"\\ud800\",\"arg\":\"http://h/\",\"taskType\":\"download\"}", "bad escape");
	expect_error("{\"name\":\"n\",\"arg\":\"ftp://h/\",\"taskType\":\"download\"}", "\"arg\"");
	expect_error("{\"name\":\"n\",\"arg\":\"http://h/a b\",\"taskType\":\"download\"}", "\"arg\"");
	expect_error("{\"name\":\"n\",\"arg\":\"http://h/\",\"taskType\":\"upload\"}", "unknown \"taskType\"");
	expect_error("{\"name\":\"n\",\"arg\":\"http://h/\",\"taskType\":\"download\",\"sha256\":\"abc\"}", "64 hexadecimal");
	expect_error("{\"name\":\"n\",\"arg\":\"http://h/\",\"taskType\":\"download\",\"sha256\":\""
		     "g000000000000000000000000000000000000000000000000000000000000000\"}", "64 hexadecimal");
	expect_error("{\"id\":\"x\",\"name\":\"n\",\"arg\":\"http://h/\",\"taskType\":\"download\"}", "unknown key \"id\"");
}

static void test_lengths(void)
{
	char body[8192], name[TASK_MAX_NAME + 2];
	memset(name, 'a', sizeof(name));
	name[TASK_MAX_NAME] = '\0';
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"arg\":\"http://h/\",\"taskType\":\"download\"}", name);
	CHECK_INT(parse(body), 1);
	name[TASK_MAX_NAME] = 'a';
	name[TASK_MAX_NAME + 1] = '\0';
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"arg\":\"http://h/\",\"taskType\":\"download\"}", name);
	expect_error(body, "longer than 256");
	/* 128 two-byte characters are 256 bytes; one more is 258 */
	char wide[600] = "";
	for (int i = 0; i < 128; i++)
		strcat(wide, "\xc3\xa9");
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"arg\":\"http://h/\",\"taskType\":\"download\"}", wide);
	CHECK_INT(parse(body), 1);
	strcat(wide, "\xc3\xa9");
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"arg\":\"http://h/\",\"taskType\":\"download\"}", wide);
	expect_error(body, "longer than 256");

	char url[TASK_MAX_URL + 2];
	strcpy(url, "http://h/");
	memset(url + 9, 'p', TASK_MAX_URL - 9);
	url[TASK_MAX_URL] = '\0';
	snprintf(body, sizeof(body), "{\"name\":\"n\",\"arg\":\"%s\",\"taskType\":\"download\"}", url);
	CHECK_INT(parse(body), 1);
	url[TASK_MAX_URL] = 'p';
	url[TASK_MAX_URL + 1] = '\0';
	snprintf(body, sizeof(body), "{\"name\":\"n\",\"arg\":\"%s\",\"taskType\":\"download\"}", url);
	expect_error(body, "longer than 2048");
}

static void test_ids_and_messages(void)
{
	struct task t;
	memset(&t, 0, sizeof(t));
	CHECK_INT(task_new_id(t.id), 0);
	CHECK_INT(strlen(t.id), 36);
	CHECK(t.id[14] == '4');
	CHECK(strchr("89ab", t.id[19]) != NULL);
	char other[37];
	task_new_id(other);
	CHECK(strcmp(t.id, other) != 0);
	/* across several refills of the pool: all distinct, all version 4 */
	static char many[100][37];
	int fresh = 1, v4 = 1;
	for (int i = 0; i < 100; i++) {
		CHECK_INT(task_new_id(many[i]), 0);
		v4 &= many[i][14] == '4' && strchr("89ab", many[i][19]) != NULL;
		for (int j = 0; j < i; j++)
			fresh &= strcmp(many[i], many[j]) != 0;
	}
	CHECK(fresh);
	CHECK(v4);

	strcpy(t.name, "a \"quoted\"\n\x01 caf\xc3\xa9");
	strcpy(t.arg, "http://h/p");
	strcpy(t.type, "download");
	buf_t b = BUF_INIT;
	CHECK_INT(task_message_json(&b, &t), 0);
	buf_append(&b, "", 1);
	char want[512];
	snprintf(want, sizeof(want), "{\"id\":\"%s\",\"name\":\"a \\\"quoted\\\"\\n\\u0001 caf\xc3\xa9\","
		 "\"arg\":\"http://h/p\",\"taskType\":\"download\"}", t.id);
	CHECK_STR(b.data, want);

	/* the message parses back to the same task */
	struct task back;
	CHECK_INT(task_parse_message(b.data, b.len - 1, &back, err, sizeof(err)), 0);
	CHECK_STR(back.id, t.id);
	CHECK_STR(back.name, t.name);
	CHECK_INT(task_parse_message("{\"name\":\"n\",\"arg\":\"http://h/\",\"taskType\":\"download\"}",
				     51, &back, err, sizeof(err)), -1);

	buf_reset(&b);
	struct task_event ev = { .task = &t, .status = "done", .time_ms = 1700000000123,
				 .worker = "box:12", .has_bytes = 1, .bytes = 10, .total = -1,
				 .file = "/d/f", .sha256 = "ab", .hook_status = 0 };
	CHECK_INT(task_event_json(&b, &ev), 0);
	buf_append(&b, "", 1);
	CHECK(strstr(b.data, "\"status\":\"done\",\"time\":1700000000123,\"worker\":\"box:12\","
			     "\"bytes\":10,\"total\":null,\"file\":\"/d/f\",\"sha256\":\"ab\",\"hook_status\":0}") != NULL);
	/* a retry's progress: the try and what failed the one before */
	buf_reset(&b);
	struct task_event retry = { .task = &t, .status = "progress", .time_ms = 1,
				    .has_bytes = 1, .total = -1, .error = "refused",
				    .hook_status = -1, .attempt = 2 };
	CHECK_INT(task_event_json(&b, &retry), 0);
	buf_append(&b, "", 1);
	CHECK(strstr(b.data, "\"error\":\"refused\",\"attempt\":2}") != NULL);
	buf_free(&b);
}

/* Fed one byte at a time, and in pieces of 7, the stream gives the same
 * verdict and message as the body whole. */
static void same_in_pieces(const char *body)
{
	char whole[256], piece[256];
	int arr1, arr2;
	for (size_t step = 1; step <= 7; step += 6) {
		task_stream_t *a = task_stream_new(), *b = task_stream_new();
		size_t len = strlen(body);
		task_stream_feed(a, body, len);
		for (size_t i = 0; i < len; i += step)
			task_stream_feed(b, body + i, len - i < step ? len - i : step);
		int na = task_stream_end(a, &arr1, whole, sizeof(whole));
		int nb = task_stream_end(b, &arr2, piece, sizeof(piece));
		CHECK_INT(nb, na);
		if (na < 0)
			CHECK_STR(piece, whole);
		size_t ca = 0, cb = 0;
		struct task ta, tb;
		while (task_stream_next(a, &ca, &ta)) {
			CHECK(task_stream_next(b, &cb, &tb));
			CHECK_STR(tb.name, ta.name);
			CHECK_STR(tb.arg, ta.arg);
		}
		task_stream_free(a);
		task_stream_free(b);
	}
}

static void test_stream_pieces(void)
{
	const char *bodies[] = {
		OK_TASK, "[" OK_TASK "," OK_TASK "]", " [ " OK_TASK " , " OK_TASK " ] ",
		"[" OK_TASK ",5]", "[5," OK_TASK "]", "[\"s\"]", "[true]", "[null ]",
		"[" OK_TASK ",]", "[," OK_TASK "]", "[" OK_TASK, "[" OK_TASK "]]",
		"[" OK_TASK "}", "42", "\"x\"", "tru", "[]", " ", "{", "[[]]",
		"[{\"name\":\"a]}\\\"\",\"arg\":\"http://h/\",\"taskType\":\"download\"}]",
		"[" OK_TASK ",{\"name\":\"n\"}," OK_TASK "]",
		"[{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,"
		"\"i\":9,\"j\":10,\"k\":11,\"l\":12,\"m\":13,\"n\":14,\"o\":15,\"p\":16}]",
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++)
		same_in_pieces(bodies[i]);
	expect_error("[" OK_TASK ",5]", "element 1: a task must be a JSON object");
	expect_error("[true]", "element 0");
	expect_error("[" OK_TASK "]]", "not valid JSON");
	expect_error("[" OK_TASK ",{\"name\":\"n\"},tru]", "not valid JSON");
	CHECK_INT(parse("[{\"name\":\"a]}\\\"\",\"arg\":\"http://h/\",\"taskType\":\"download\"}]"), 1);
	/* an element over TASK_MAX_ELEMENT is refused by its index */
	size_t n = TASK_MAX_ELEMENT + 200;
	char *big = malloc(n + 200);
	int k = snprintf(big, 200, "[" OK_TASK ",{\"name\":\"");
	memset(big + k, 'a', n);
	strcpy(big + k + n, "\",\"arg\":\"http://h/\",\"taskType\":\"download\"}]");
	expect_error(big, "element 1: larger than");
	free(big);
}

int main(void)
{
	test_stream_pieces();
	test_valid();
	test_json_errors();
	test_batch_limit();
	test_field_errors();
	test_lengths();
	test_ids_and_messages();
	return check_report();
}

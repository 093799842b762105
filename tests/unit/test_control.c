/* test_control.c - control messages of warren.control (src/control.c). */
#include "check.h"
#include "control.h"

static char err[256];
static struct control_msg m;

#define ID "0f8fad5b-d9cb-469f-a165-70867728950e"

static int parse(const char *s)
{
	err[0] = '\0';
	return control_parse(s, strlen(s), &m, err, sizeof(err));
}

static int request(const char *s)
{
	err[0] = '\0';
	return control_parse_request(s, strlen(s), &m, err, sizeof(err));
}

static void expect(int rc, const char *s, const char *fragment)
{
	CHECK_INT(rc, -1);
	if (!strstr(err, fragment))
		fprintf(stderr, "error \"%s\" lacks \"%s\" (input %s)\n", err, fragment, s);
	CHECK(strstr(err, fragment) != NULL);
}

#define BAD_REQ(s, frag) expect(request(s), s, frag)
#define BAD_MSG(s, frag) expect(parse(s), s, frag)

static void test_messages(void)
{
	CHECK_INT(parse("{\"op\":\"cancel\",\"id\":\"" ID "\",\"time\":1700000000123}"), 0);
	CHECK_INT(m.op, CONTROL_CANCEL);
	CHECK_STR(m.id, ID);
	CHECK_INT(m.time, 1700000000123LL);
	CHECK_INT(parse(" {\"time\":5,\"op\":\"pause\"} "), 0);
	CHECK_INT(m.op, CONTROL_PAUSE);
	CHECK_INT(m.time, 5);
	CHECK_INT(parse("{\"op\":\"resume\"}"), 0);
	CHECK_INT(m.op, CONTROL_RESUME);
	CHECK_INT(m.time, 0);
	CHECK_INT(parse("{\"op\":\"rate\",\"limit\":2000000,\"time\":1}"), 0);
	CHECK_INT(m.op, CONTROL_RATE);
	CHECK_INT(m.limit, 2000000);
	CHECK_INT(parse("{\"op\":\"rate\",\"limit\":0}"), 0);
	CHECK_INT(m.limit, 0);
	CHECK_INT(parse("{\"op\":\"marker\",\"worker\":\"host:42\",\"nonce\":\"00ff\"}"), 0);
	CHECK_INT(m.op, CONTROL_MARKER);
	CHECK_STR(m.worker, "host:42");
	CHECK_STR(m.nonce, "00ff");
}

/* A reader skips what a newer tasker may add, and nothing else. */
static void test_reader_tolerance(void)
{
	CHECK_INT(parse("{\"op\":\"shutdown\",\"when\":[1,2]}"), 0);
	CHECK_INT(m.op, CONTROL_UNKNOWN);
	CHECK_INT(parse("{\"op\":\"\"}"), 0);
	CHECK_INT(m.op, CONTROL_UNKNOWN);
	CHECK_INT(parse("{\"op\":\"pause\",\"by\":\"alice\",\"limit\":\"x\"}"), 0);
	CHECK_INT(m.op, CONTROL_PAUSE);
	CHECK_INT(m.limit, 0);
	BAD_MSG("", "not valid JSON");
	BAD_MSG("[1]", "must be a JSON object");
	BAD_MSG("{\"op\":\"pause\",}", "not valid JSON");
	BAD_MSG("{}", "missing key \"op\"");
	BAD_MSG("{\"op\":1}", "\"op\" must be a string");
	BAD_MSG("{\"op\":\"pause\",\"op\":\"resume\"}", "duplicate key \"op\"");
	BAD_MSG("{\"op\":\"cancel\"}", "missing key \"id\"");
	BAD_MSG("{\"op\":\"cancel\",\"id\":\"" ID "\",\"id\":\"" ID "\"}", "duplicate key \"id\"");
	BAD_MSG("{\"op\":\"cancel\",\"id\":\"0F8FAD5B-D9CB-469F-A165-70867728950E\"}", "lowercase UUID");
	BAD_MSG("{\"op\":\"cancel\",\"id\":42}", "\"id\" must be");
	BAD_MSG("{\"op\":\"rate\"}", "missing key \"limit\"");
	BAD_MSG("{\"op\":\"rate\",\"limit\":-1}", "must not be negative");
	BAD_MSG("{\"op\":\"pause\",\"time\":\"now\"}", "\"time\" must be an integer");
	BAD_MSG("{\"op\":\"marker\",\"worker\":\"h:1\"}", "missing key \"nonce\"");
	BAD_MSG("{\"op\":\"marker\",\"worker\":\"h:1\",\"nonce\":\"XYZ\"}", "hexadecimal");
	BAD_MSG("{\"op\":\"marker\",\"worker\":\"\",\"nonce\":\"00\"}", "\"worker\" is empty");
}

static void test_requests(void)
{
	CHECK_INT(request("{\"op\":\"pause\"}"), 0);
	CHECK_INT(m.op, CONTROL_PAUSE);
	CHECK_INT(request("{\"op\":\"resume\"}"), 0);
	CHECK_INT(m.op, CONTROL_RESUME);
	CHECK_INT(request("{\"limit\":123456789012345678,\"op\":\"rate\"}"), 0);
	CHECK_INT(m.op, CONTROL_RATE);
	CHECK_INT(m.limit, 123456789012345678LL);

	BAD_REQ("pause", "body is not valid JSON");
	BAD_REQ("", "body is not valid JSON");
	BAD_REQ("{\"op\":\"pause\"", "body is not valid JSON");
	BAD_REQ("[{\"op\":\"pause\"}]", "body must be a JSON object");
	BAD_REQ("\"pause\"", "body must be a JSON object");
	BAD_REQ("{}", "missing key \"op\"");
	BAD_REQ("{\"op\":null}", "\"op\" must be a string");
	BAD_REQ("{\"op\":\"stop\"}", "unknown \"op\" \"stop\": use \"pause\", \"resume\" or \"rate\"");
	BAD_REQ("{\"op\":\"marker\",\"worker\":\"h:1\",\"nonce\":\"00\"}", "unknown \"op\" \"marker\"");
	BAD_REQ("{\"op\":\"cancel\",\"id\":\"" ID "\"}", "DELETE /task/<id>");
	BAD_REQ("{\"op\":\"pause\",\"op\":\"pause\"}", "duplicate key \"op\"");
	BAD_REQ("{\"op\":\"pause\",\"force\":true}", "unknown key \"force\" for op \"pause\"");
	BAD_REQ("{\"op\":\"pause\",\"limit\":5}", "unknown key \"limit\" for op \"pause\"");
	BAD_REQ("{\"op\":\"pause\",\"time\":5}", "unknown key \"time\" for op \"pause\"");
	BAD_REQ("{\"op\":\"rate\"}", "missing key \"limit\"");
	BAD_REQ("{\"op\":\"rate\",\"limit\":-5}", "\"limit\" must not be negative");
	BAD_REQ("{\"op\":\"rate\",\"limit\":1.5}", "\"limit\" must be a whole number");
	BAD_REQ("{\"op\":\"rate\",\"limit\":1e6}", "\"limit\" must be a whole number");
	BAD_REQ("{\"op\":\"rate\",\"limit\":\"1000\"}", "\"limit\" must be an integer >= 0");
	BAD_REQ("{\"op\":\"rate\",\"limit\":true}", "\"limit\" must be an integer >= 0");
	BAD_REQ("{\"op\":\"rate\",\"limit\":null}", "\"limit\" must be an integer >= 0");
	BAD_REQ("{\"op\":\"rate\",\"limit\":[1]}", "\"limit\" must be an integer >= 0");
	BAD_REQ("{\"op\":\"rate\",\"limit\":1234567890123456789}", "\"limit\" is too large");
	BAD_REQ("{\"op\":\"rate\",\"limit\":1,\"limit\":2}", "duplicate key \"limit\"");
	BAD_REQ("{\"op\":\"rate\",\"limit\":1,\"extra\":2}", "unknown key \"extra\"");
}

static void round_trip(const struct control_msg *in)
{
	char out[512];
	struct control_msg back;
	size_t n = control_encode(in, out, sizeof(out));
	CHECK(n > 0 && n == strlen(out));
	CHECK_INT(control_parse(out, n, &back, err, sizeof(err)), 0);
	CHECK_INT(back.op, in->op);
	CHECK_STR(back.id, in->id);
	CHECK_INT(back.limit, in->limit);
	CHECK_INT(back.time, in->op == CONTROL_MARKER ? 0 : in->time);
	CHECK_STR(back.worker, in->worker);
	CHECK_STR(back.nonce, in->nonce);
}

static void test_encode(void)
{
	struct control_msg c = { .op = CONTROL_CANCEL, .id = ID, .time = 1700000000000LL };
	char out[256];
	CHECK_INT(control_encode(&c, out, sizeof(out)), strlen(out));
	CHECK_STR(out, "{\"op\":\"cancel\",\"id\":\"" ID "\",\"time\":1700000000000}");
	round_trip(&c);
	struct control_msg r = { .op = CONTROL_RATE, .limit = 2000000, .time = 7 };
	control_encode(&r, out, sizeof(out));
	CHECK_STR(out, "{\"op\":\"rate\",\"limit\":2000000,\"time\":7}");
	round_trip(&r);
	struct control_msg p = { .op = CONTROL_PAUSE, .time = 9 };
	round_trip(&p);
	p.op = CONTROL_RESUME;
	round_trip(&p);
	struct control_msg k = { .op = CONTROL_MARKER, .worker = "r\"o\\ut\ter:1", .nonce = "c0ffee" };
	round_trip(&k);
	control_encode(&k, out, sizeof(out));
	CHECK_STR(out, "{\"op\":\"marker\",\"worker\":\"r\\\"o\\\\ut\\ter:1\",\"nonce\":\"c0ffee\"}");

	/* what could not be read back is not written */
	CHECK_INT(control_encode(&c, out, 20), 0);
	struct control_msg bad = { .op = CONTROL_CANCEL, .id = "not-a-uuid" };
	CHECK_INT(control_encode(&bad, out, sizeof(out)), 0);
	bad.op = CONTROL_UNKNOWN;
	CHECK_INT(control_encode(&bad, out, sizeof(out)), 0);
	struct control_msg nk = { .op = CONTROL_MARKER, .worker = "h:1", .nonce = "XY" };
	CHECK_INT(control_encode(&nk, out, sizeof(out)), 0);
	struct control_msg neg = { .op = CONTROL_PAUSE, .time = -1 };
	CHECK_INT(control_encode(&neg, out, sizeof(out)), 0);
}

static void test_ids(void)
{
	CHECK(control_id_valid(ID, 36));
	CHECK(!control_id_valid(ID, 35));
	CHECK(!control_id_valid("0f8fad5b_d9cb-469f-a165-70867728950e", 36));
	CHECK(!control_id_valid("0f8fad5b-d9cb-469f-a165-70867728950g", 36));
	CHECK(!control_id_valid("0F8FAD5B-D9CB-469F-A165-70867728950E", 36));
}

int main(void)
{
	test_messages();
	test_reader_tolerance();
	test_requests();
	test_encode();
	test_ids();
	return check_report();
}

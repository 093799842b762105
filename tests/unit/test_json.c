/* test_json.c - JSON writer and strict checks over jsmn (src/json.c). */
#include "check.h"
#include "json.h"

static int valid(const char *s)
{
	jsmntok_t t[64];
	return json_parse(s, strlen(s), t, 64) > 0;
}

static void test_grammar(void)
{
	const char *good[] = { "{}", "[]", "0", "-0.5e+10", "true", "null", "\"s\"",
			       " [1, 2.0, \"x\", {\"a\": [null]}] ", "{\"a\":{\"b\":{}}}" };
	const char *bad[] = { "", " ", "{", "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{\"a\" 1}",
			      "{\"a\":1 \"b\":2}", "{1:2}", "01", "1.", ".5", "1e", "+1", "tru",
			      "nul", "[1]]", "{} {}", "\"a\nb\"", "\"\\x\"", "[\"a\",,]", "'s'" };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		if (!valid(good[i]))
			fprintf(stderr, "rejected %s\n", good[i]);
		CHECK(valid(good[i]));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (valid(bad[i]))
			fprintf(stderr, "accepted %s\n", bad[i]);
		CHECK(!valid(bad[i]));
	}
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	jsmntok_t t[128];
	CHECK_INT(json_parse(deep, 200, t, 128), -1); /* deeper than allowed */
	CHECK_INT(json_parse("[1,2,3]", 7, t, 2), -2);  /* token budget */
}

static void test_strings(void)
{
	jsmntok_t t[4];
	char out[16];
	const char *s = "\"a\\u00e9\\ud83d\\ude00\\n\\/\"";
	CHECK_INT(json_parse(s, strlen(s), t, 4), 1);
	CHECK_INT(json_tok_str(s, &t[0], out, sizeof(out)), 9);
	CHECK_STR(out, "a\xc3\xa9\xf0\x9f\x98\x80\n/");
	CHECK_INT(json_tok_str(s, &t[0], out, 10), 9);
	CHECK_INT(json_tok_str(s, &t[0], out, 9), -2);
	const char *lone = "\"\\udc00\"";
	CHECK_INT(json_parse(lone, strlen(lone), t, 4), 1);
	CHECK_INT(json_tok_str(lone, &t[0], out, sizeof(out)), -1);
	CHECK(json_tok_is(s, &t[0], "x") == 0);
	int64_t v;
	const char *n = "[12,-3,1.5]";
	CHECK_INT(json_parse(n, strlen(n), t, 4), 4);
	CHECK_INT(json_tok_int(n, &t[1], &v), 0);
	CHECK_INT(v, 12);
	CHECK_INT(json_tok_int(n, &t[3], &v), -1);
	CHECK_INT(json_skip(t, 0), 4);
}

static void test_writer(void)
{
	buf_t b = BUF_INIT;
	json_put_key(&b, "k", 1);
	json_put_str(&b, "q\"b\\\x01\x1f\t\xc3\xa9", 9);
	json_put_key(&b, "n", 0);
	buf_append(&b, "", 1);
	CHECK_STR(b.data, "\"k\":\"q\\\"b\\\\\\u0001\\u001f\\t\xc3\xa9\",\"n\":");
	buf_free(&b);
}

/* The objects json_array_item finds, as "a|b|c", or "ERR" / "ERR after a|b". */
static const char *array_items(const char *js, char *out, size_t cap)
{
	size_t pos = 0, start, end, used = 0;
	int r;
	out[0] = '\0';
	while ((r = json_array_item(js, strlen(js), &pos, &start, &end)) == 1)
		used += (size_t)snprintf(out + used, cap - used, "%s%.*s",
					 used ? "|" : "", (int)(end - start), js + start);
	if (r < 0) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), used ? "ERR after %s" : "ERR", out);
		snprintf(out, cap, "%s", tmp);
	}
	return out;
}

static void test_array_items(void)
{
	char out[256];
	CHECK_STR(array_items("[]", out, sizeof(out)), "");
	CHECK_STR(array_items(" [ ] \n", out, sizeof(out)), "");
	CHECK_STR(array_items("[{\"a\":1}]", out, sizeof(out)), "{\"a\":1}");
	CHECK_STR(array_items("[{\"a\":1} , {\"b\":[1,{\"c\":2}]}]", out, sizeof(out)),
		  "{\"a\":1}|{\"b\":[1,{\"c\":2}]}");
	/* braces and quotes inside strings, escaped quotes */
	CHECK_STR(array_items("[{\"a\":\"}]\\\"{\"},{}]", out, sizeof(out)),
		  "{\"a\":\"}]\\\"{\"}|{}");
	CHECK_STR(array_items("{\"a\":1}", out, sizeof(out)), "ERR");
	CHECK_STR(array_items("", out, sizeof(out)), "ERR");
	CHECK_STR(array_items("[1]", out, sizeof(out)), "ERR");
	CHECK_STR(array_items("[\"x\"]", out, sizeof(out)), "ERR");
	CHECK_STR(array_items("[{}", out, sizeof(out)), "ERR after {}");
	CHECK_STR(array_items("[{},]", out, sizeof(out)), "ERR after {}");
	CHECK_STR(array_items("[{}{}]", out, sizeof(out)), "ERR after {}");
	CHECK_STR(array_items("[{}] x", out, sizeof(out)), "ERR after {}");
	CHECK_STR(array_items("[{\"a\":\"}", out, sizeof(out)), "ERR");
	CHECK_STR(array_items("[{]}]", out, sizeof(out)), "ERR");
	CHECK_STR(array_items("[{\"a\":[}]", out, sizeof(out)), "ERR");
}

int main(void)
{
	test_grammar();
	test_strings();
	test_writer();
	test_array_items();
	return check_report();
}

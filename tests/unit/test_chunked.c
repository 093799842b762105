/* test_chunked.c - the chunked decoder, whole and split at every byte. */
#include "check.h"
#include "chunked.h"

#include <stdlib.h>

/* Decodes in, fed in pieces of step bytes; returns the decoded length or -1,
 * and how many bytes were consumed in *used. */
static long decode(const char *in, size_t len, size_t step, char *out, size_t *used)
{
	struct chunked c;
	chunked_init(&c);
	size_t o = 0, i = 0;
	while (i < len && !chunked_done(&c)) {
		size_t n = len - i < step ? len - i : step;
		size_t k = 0;
		while (k < n && !chunked_done(&c)) {
			const char *data;
			size_t dlen;
			long r = chunked_feed(&c, in + i + k, n - k, &data, &dlen);
			if (r < 0)
				return -1;
			if (dlen)
				memcpy(out + o, data, dlen);
			o += dlen;
			k += (size_t)r;
		}
		i += k;
	}
	*used = i;
	return chunked_done(&c) ? (long)o : -2;
}

static void test_valid_all_splits(void)
{
	const char *in = "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
			 "0\r\nTrailer: x\r\n\r\nNEXT";
	const char *want = "Wikipedia in\r\n\r\nchunks.";
	for (size_t step = 1; step <= strlen(in); step++) {
		char out[64];
		size_t used;
		long n = decode(in, strlen(in), step, out, &used);
		CHECK_INT(n, (long)strlen(want));
		CHECK(n > 0 && !memcmp(out, want, (size_t)n));
		CHECK_INT(used, strlen(in) - 4); /* "NEXT" is not the body's */
	}
}

static void test_bare_lf_and_upper_hex(void)
{
	char out[64];
	size_t used;
	CHECK_INT(decode("A\nabcdefghij\n0\n\n", 17, 3, out, &used), 10);
}

static void test_malformed(void)
{
	const char *bad[] = {
		"x\r\n", "\r\n", ";ext\r\n", "4\r\nWikiXX", "4\r\nWiki\rX",
		"1234567890abcdef0\r\n", "0\r\nA: \x01\r\n\r\n" /* allowed: trailer bytes skipped */
	};
	char out[64];
	size_t used;
	for (size_t i = 0; i < 6; i++)
		CHECK_INT(decode(bad[i], strlen(bad[i]), 1, out, &used), -1);
	(void)bad[6];
}

static void test_limits(void)
{
	char *line = malloc(CHUNKED_MAX_LINE + 16);
	strcpy(line, "1;");
	memset(line + 2, 'e', CHUNKED_MAX_LINE);
	strcpy(line + 2 + CHUNKED_MAX_LINE, "\r\n");
	char out[8];
	size_t used;
	CHECK_INT(decode(line, strlen(line), 7, out, &used), -1);
	free(line);

	size_t tl = CHUNKED_MAX_TRAILER + 64;
	char *tr = malloc(tl + 16);
	strcpy(tr, "0\r\n");
	for (size_t i = 3; i < tl; i += 8)
		memcpy(tr + i, "T: abc\r\n", 8);
	CHECK_INT(decode(tr, tl, 100, out, &used), -1);
	free(tr);
}

/* Issue 12 item 5: the chunk-size line follows RFC 9112 7.1.1 exactly. */
static void test_size_line_grammar(void)
{
	const char *good[] = {
		"a;n\r\n", "a;n=v\r\n", "a ; n = v ; m=\"q \\\" \"\r\n",
		"a;n=\"\"\r\n", "a\t;n\r\n", "a;n=v\n", "00000000000000000000a\r\n",
		"A;!#$%&'*+-.^_`|~=x\r\n", "a;n=\"caf\xc3\xa9\"\r\n",
	};
	const char *bad[] = {
		"a GARBAGE\r\n", "a\rX", "a\r\r\n", "a \r\n", "a\t\r\n", "a;\r\n",
		"a;=x\r\n", "a;n=\r\n", "a;n=\"open\r\n", "a;n=\"x\x01\"\r\n",
		"a;n=v w\r\n", "a;n v\r\n", "a;n=v\rX", "a;n\r\r\n", "a,b\r\n",
		"a;n=\"x\"y\r\n", "a;n(\r\n", " a\r\n", "-1\r\n", "0x10\r\n",
		"10000000000000000\r\n", "a;n=\"\\\x01\"\r\n", "5;x=y\t\n",
		"5;x=\"y\" \r\n", "5;x \r\n",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		char in[128], out[64];
		size_t used;
		snprintf(in, sizeof(in), "%s0123456789\r\n0\r\n\r\n", good[i]);
		for (size_t step = 1; step <= 3; step++) {
			long n = decode(in, strlen(in), step, out, &used);
			if (n != 10)
				fprintf(stderr, "good %zu (%s): %ld\n", i, good[i], n);
			CHECK_INT(n, 10);
		}
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char in[128], out[64];
		size_t used;
		snprintf(in, sizeof(in), "%s0123456789\r\n0\r\n\r\n", bad[i]);
		for (size_t step = 1; step <= 3; step++) {
			long n = decode(in, strlen(in), step, out, &used);
			if (n != -1)
				fprintf(stderr, "bad %zu (%s): %ld\n", i, bad[i], n);
			CHECK_INT(n, -1);
		}
	}
}

int main(void)
{
	test_size_line_grammar();
	test_valid_all_splits();
	test_bare_lf_and_upper_hex();
	test_malformed();
	test_limits();
	return check_report();
}

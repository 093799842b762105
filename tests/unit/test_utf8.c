/* test_utf8.c - strict UTF-8, whole and fed byte by byte. */
#include "check.h"
#include "utf8.h"

static int valid_split(const char *s, size_t n)
{
	uint32_t st = UTF8_ACCEPT;
	for (size_t i = 0; i < n; i++)
		st = utf8_feed(st, (const unsigned char *)s + i, 1);
	return st == UTF8_ACCEPT;
}

int main(void)
{
	const char *good[] = { "", "ascii", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
			       "\xed\x9f\xbf", "\xee\x80\x80", "\xf4\x8f\xbf\xbf", "\xc2\x80" };
	const char *bad[] = { "\xff", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80",
			      "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\x80", "\xc3", "\xe2\x82",
			      "a\xc3(b", "\xf0\x8f\xbf\xbf" };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		CHECK(utf8_valid(good[i], strlen(good[i])));
		CHECK(valid_split(good[i], strlen(good[i])));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		CHECK(!utf8_valid(bad[i], strlen(bad[i])));
		CHECK(!valid_split(bad[i], strlen(bad[i])));
	}
	/* a truncated character is neither accepted nor rejected yet */
	uint32_t st = utf8_feed(UTF8_ACCEPT, (const unsigned char *)"\xf0\x9f", 2);
	CHECK(st != UTF8_ACCEPT && st != UTF8_REJECT);
	CHECK_INT(utf8_feed(st, (const unsigned char *)"\x98\x80", 2), UTF8_ACCEPT);
	/* rejection is sticky */
	CHECK_INT(utf8_feed(UTF8_REJECT, (const unsigned char *)"a", 1), UTF8_REJECT);
	return check_report();
}

/* test_strtol.c - port/libc/strtol.c, the strto* family of the static
 * builds, compiled in here under other names so that it is checked on
 * every build: against the build's C library (glibc on the host: a real
 * second opinion) over inputs x bases, value, end and ERANGE; and against
 * C11 7.22.1.4's answers written out, which hold on every build. */
#include "check.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>

#define strtol port_strtol
#define strtoul port_strtoul
#define strtoll port_strtoll
#define strtoull port_strtoull
#define strtoimax port_strtoimax
#define strtoumax port_strtoumax
#include "port/libc/strtol.c"
#undef strtol
#undef strtoul
#undef strtoll
#undef strtoull
#undef strtoimax
#undef strtoumax

static const char *inputs[] = {
	"0", "1", "-1", "+7", "  42", "\t\n-13x", "077", "0x1f", "0X1F", "0x", "0xg", "-0x10",
	"z", "Zz9", "101", "", "   ", "-", "+", "12abc", "9223372036854775807",
	"9223372036854775808", "-9223372036854775808", "-9223372036854775809",
	"18446744073709551615", "18446744073709551616", "-18446744073709551615",
	"4294967295", "4294967296", "2147483648", "-2147483649", "99999999999999999999999",
	"0777777777777777777777", "1777777777777777777777",
};
static const int bases[] = { 0, 2, 8, 10, 16, 36 };

/* One function of the family, ours against the library's. */
#define SAME_AS_LIBC(ours, theirs, type, fmt)                                        \
	do {                                                                         \
		char *e1, *e2;                                                       \
		errno = 0;                                                           \
		type a = ours(in, &e1, base);                                        \
		int r1 = errno == ERANGE;                                            \
		errno = 0;                                                           \
		type b = theirs(in, &e2, base);                                      \
		int r2 = errno == ERANGE;                                            \
		if (a == b && e1 == e2 && r1 == r2) {                                \
			check_passed++;                                              \
		} else {                                                             \
			check_failed++;                                              \
			fprintf(stderr, "FAIL %s(\"%s\", %d): " fmt " end +%d erange %d;" \
				" libc " fmt " end +%d erange %d\n", #theirs, in, base, a, \
				(int)(e1 - in), r1, b, (int)(e2 - in), r2);          \
		}                                                                    \
	} while (0)

static void against_the_library(void)
{
	for (size_t i = 0; i < sizeof(inputs) / sizeof(*inputs); i++) {
		for (size_t j = 0; j < sizeof(bases) / sizeof(*bases); j++) {
			const char *in = inputs[i];
			int base = bases[j];
			SAME_AS_LIBC(port_strtol, strtol, long, "%ld");
			SAME_AS_LIBC(port_strtoul, strtoul, unsigned long, "%lu");
			SAME_AS_LIBC(port_strtoll, strtoll, long long, "%lld");
			SAME_AS_LIBC(port_strtoull, strtoull, unsigned long long, "%llu");
			SAME_AS_LIBC(port_strtoimax, strtoimax, intmax_t, "%jd");
			SAME_AS_LIBC(port_strtoumax, strtoumax, uintmax_t, "%ju");
		}
	}
}

static void as_c11_says(void)
{
	char *end;
	CHECK_INT(port_strtoll("  -0x1F!", &end, 0), -31);
	CHECK_STR(end, "!");
	CHECK_INT(port_strtoll("0x", &end, 16), 0); /* "0", then "x" is not a digit */
	CHECK_STR(end, "x");
	CHECK_INT(port_strtoll("010", &end, 0), 8);
	CHECK_INT(port_strtoll("zz", &end, 36), 35 * 36 + 35);
	errno = 0;
	CHECK_INT(port_strtoll("99999999999999999999", &end, 10), LLONG_MAX);
	CHECK_INT(errno, ERANGE);
	CHECK_STR(end, "");
	errno = 0;
	CHECK(port_strtoll("-99999999999999999999", NULL, 10) == LLONG_MIN);
	CHECK_INT(errno, ERANGE);
	errno = 0;
	CHECK(port_strtoull("-1", NULL, 10) == ULLONG_MAX); /* negated in the type */
	CHECK_INT(errno, 0);
	/* no digits: 0 and the end at the start */
	const char *none = "  +x";
	CHECK_INT(port_strtol(none, &end, 10), 0);
	CHECK(end == none);
	/* a base out of range: nothing read */
	CHECK_INT(port_strtol("12", &end, 1), 0);
	CHECK_INT(port_strtol("12", &end, 37), 0);
}

int main(void)
{
	against_the_library();
	as_c11_says();
	return check_report();
}

/* test_printf.c - port/libc/printf.c, the vsnprintf() and vfprintf() of the
 * static builds, checked on every build: compiled in here under other names
 * (the host build keeps its C library's), each format against the answer
 * C11 7.21.6.1 gives, the one every build's snprintf must give too. %n is
 * left out: nothing linked uses it, and port/libc/printf.c has none. */
#include "check.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define vsnprintf port_vsnprintf
#define vfprintf port_vfprintf
#include "port/libc/printf.c"
#undef vsnprintf
#undef vfprintf

static char got[256];
static int got_n;

/* Formats with port_vsnprintf into got (size bytes of room); the return. */
static int fmt_in(size_t size, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	got_n = port_vsnprintf(got, size, f, ap);
	va_end(ap);
	return got_n;
}

/* port_vsnprintf with no buffer at all (size 0): the length it would take. */
static int fmt_size0(const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int n = port_vsnprintf(got, 0, f, ap);
	va_end(ap);
	return n;
}

static int port_fprintf(FILE *f, const char *fm, ...)
{
	va_list ap;
	va_start(ap, fm);
	int n = port_vfprintf(f, fm, ap);
	va_end(ap);
	return n;
}

/* What the build's own snprintf gives (ours in the static builds). */
static const char *libc(const char *f, ...)
{
	static char buf[256];
	va_list ap;
	va_start(ap, f);
	vsnprintf(buf, sizeof(buf), f, ap);
	va_end(ap);
	return buf;
}

#define SAME(want, ...)                                                     \
	do {                                                                \
		fmt_in(sizeof(got), __VA_ARGS__);                           \
		CHECK_STR(got, want);                                       \
		CHECK_INT(got_n, strlen(want));                             \
		CHECK_STR(libc(__VA_ARGS__), want);                         \
	} while (0)

static void integers(void)
{
	SAME("0", "%d", 0);
	SAME("-42|42|+42| 42", "%d|%i|%+d|% d", -42, 42, 42, 42);
	SAME("  -42|-42  |-0042", "%5d|%-5d|%05d", -42, -42, -42);
	SAME("00042|  00042", "%.5d|%7.5d", 42, 42);
	SAME("|", "%.0d|", 0);                    /* no digits for 0 at precision 0 */
	SAME("-2147483648", "%d", INT32_MIN);
	SAME("-9223372036854775808", "%lld", (long long)INT64_MIN);
	SAME("18446744073709551615", "%llu", (unsigned long long)UINT64_MAX);
	SAME("4000000000|-1", "%zu|%td", (size_t)4000000000u, (ptrdiff_t)-1);
	SAME("9223372036854775807", "%jd", (intmax_t)INT64_MAX);
	SAME("-1|255|-1|65535", "%hhd|%hhu|%hd|%hu", 255, 255, 65535, 65535);
	SAME("ff|FF|0xff|0XFF|0", "%x|%X|%#x|%#X|%#x", 255, 255, 255, 255, 0);
	SAME("17|017|0", "%o|%#o|%#o", 15, 15, 0);
	SAME("0000002a|     02a", "%08x|%8.3x", 42, 42);
	SAME("deadbeef", "%lx", 0xdeadbeefUL);
	SAME("-123456789", "%ld", -123456789L);
}

static void strings(void)
{
	SAME("abc|  abc|abc  |ab|  ab", "%s|%5s|%-5s|%.2s|%4.2s", "abc", "abc", "abc", "abc",
	     "abc");
	SAME("[   x][x   ]", "[%*s][%-*s]", 4, "x", 4, "x");
	SAME("[x   ]", "[%*s]", -4, "x");          /* a negative * width is '-' */
	SAME("he", "%.*s", 2, "hello");
	SAME("hello", "%.*s", -1, "hello");      /* a negative * precision: none */
	SAME("a|  b|100%", "%c|%3c|100%%", 'a', 'b');
	SAME("no conversion here", "no conversion here");
	/* a buffer that is not NUL-terminated within the precision */
	char raw[3] = { 'x', 'y', 'z' };
	SAME("xy", "%.2s", raw);
}

static void fixed_point(void)
{
	SAME("1.500000|0.250|3", "%f|%.3f|%.0f", 1.5, 0.25, 3.0);
	SAME("-2.75|+2.75|  2.75|002.75", "%.2f|%+.2f|%6.2f|%06.2f", -2.75, 2.75, 2.75, 2.75);
	SAME("12.346", "%.3f", 12.345678);
	SAME("123456789012.0", "%.1f", 123456789012.0);
	SAME("3.", "%#.0f", 3.0);
	SAME("0.000000001", "%.9f", 1e-9);
	/* what the programs print: seconds and rates in log lines */
	SAME("took 0.012 s, 4.25 MB/s", "took %.3f s, %.2f MB/s", 0.012, 4.25);
}

static void pointers(void)
{
	/* %p: hexadecimal with 0x (the C library's spelling of NULL varies) */
	fmt_in(sizeof(got), "%p", (void *)0x1234);
	CHECK_STR(got, "0x1234");
}

static void truncation(void)
{
	/* the whole length is returned; the buffer holds what fits, ended */
	CHECK_INT(fmt_in(5, "%s-%d", "abcdef", 123), 10);
	CHECK_STR(got, "abcd");
	CHECK_INT(fmt_in(1, "%d", 98765), 5);
	CHECK_STR(got, "");
	memset(got, 'q', 4);
	CHECK_INT(fmt_size0("%s%d", "abcdef", 1), 7);
	CHECK_INT(got[0], 'q');                   /* size 0: nothing written */
	/* a run of padding longer than the pad buffer, cut in its middle */
	CHECK_INT(fmt_in(30, "%40d", 1), 40);
	CHECK_INT(strlen(got), 29);
	CHECK(strspn(got, " ") == 29);
}

static void to_a_stream(void)
{
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	CHECK(f != NULL);
	if (!f)
		return;
	/* longer than the 128-byte buffer of vfprintf: flushed in pieces */
	char long_s[301];
	memset(long_s, 'L', 300);
	long_s[300] = '\0';
	CHECK_INT(port_fprintf(f, "[%s|%05d]", long_s, 7), 308);
	fclose(f);
	CHECK_INT(len, 308);
	CHECK(mem && mem[0] == '[' && mem[1] == 'L' && mem[300] == 'L');
	CHECK(mem && strcmp(mem + 301, "|00007]") == 0);
	free(mem);
}

int main(void)
{
	integers();
	strings();
	fixed_point();
	pointers();
	truncation();
	to_a_stream();
	return check_report();
}

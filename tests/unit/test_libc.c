/* test_libc.c - port/libc/qsort.c, strstr.c and mbstowcs.c, the static
 * builds' qsort, strstr and mbstowcs, compiled in here under other names
 * so that they are checked on every build: qsort against the build's C
 * library over arrays of several lengths, element sizes and orders (the
 * result of a sort is unique but for equal elements, which are compared
 * whole); strstr against the C library over haystacks x needles; mbstowcs
 * against musl's answers in its C locale, written out (glibc's C locale
 * is ASCII, and refuses bytes from 0x80 up); faccessat against the C
 * library on a few files and modes. */
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define qsort port_qsort
#include "port/libc/qsort.c"
#undef qsort
#define strstr port_strstr
#include "port/libc/strstr.c"
#undef strstr
#define mbstowcs port_mbstowcs
#include "port/libc/mbstowcs.c"
#undef mbstowcs
#define faccessat port_faccessat
#include "port/libc/faccessat.c"
#undef faccessat

struct rec { uint16_t key; unsigned char pad[5]; }; /* 7 bytes: odd size */

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	return (x->key > y->key) - (x->key < y->key);
}

static uint32_t seed = 12345;
static uint32_t rnd(void) { return seed = seed * 1103515245u + 12345u, seed >> 8; }

static void ints(size_t n, int order)
{
	int *a = malloc((n + 1) * sizeof(int)), *b = malloc((n + 1) * sizeof(int));
	if (!a || !b)
		goto out;
	for (size_t i = 0; i < n; i++)
		a[i] = order == 0 ? (int)(rnd() % (n / 2 + 1)) - (int)(n / 4) /* repeats */
		     : order == 1 ? (int)i : order == 2 ? (int)(n - i) : (int)rnd();
	memcpy(b, a, n * sizeof(int));
	port_qsort(a, n, sizeof(int), cmp_int);
	qsort(b, n, sizeof(int), cmp_int);
	CHECK(n == 0 || !memcmp(a, b, n * sizeof(int)));
out:
	free(a);
	free(b);
}

static void recs(size_t n)
{
	struct rec a[300];
	unsigned count[8] = { 0 }, seen[8] = { 0 };
	for (size_t i = 0; i < n; i++) {
		a[i].key = (uint16_t)(rnd() % 8);
		memset(a[i].pad, a[i].key, sizeof(a[i].pad));
		count[a[i].key]++;
	}
	port_qsort(a, n, sizeof(a[0]), cmp_rec);
	int ok = 1;
	for (size_t i = 0; i < n; i++) {
		ok = ok && (i == 0 || a[i - 1].key <= a[i].key) && a[i].pad[4] == a[i].key;
		seen[a[i].key]++;
	}
	CHECK(ok && !memcmp(count, seen, sizeof(count)));
}

int main(void)
{
	static const size_t lens[] = { 0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 48, 100, 1000, 4097 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (int order = 0; order < 4; order++)
			ints(lens[i], order);
	recs(0);
	recs(1);
	recs(17);
	recs(300);

	static const char *hay[] = { "", "a", "aaa", "abc", "ababcabc", "http://h:1/",
				     "127.0.0.1 localhost\n", "xxxxxxxxxy", "inequivalent arg 'x'" };
	static const char *needle[] = { "", "a", "aa", "abc", "bca", "cab", "://", "localhost",
					"xy", "xxy", "xxxxxxxxxxy", "inequivalent arg", "z", "c" };
	int ok = 1;
	for (size_t i = 0; i < sizeof(hay) / sizeof(hay[0]); i++)
		for (size_t j = 0; j < sizeof(needle) / sizeof(needle[0]); j++)
			if (port_strstr(hay[i], needle[j]) != strstr(hay[i], needle[j])) {
				ok = 0;
				fprintf(stderr, "strstr(\"%s\", \"%s\") differs\n", hay[i], needle[j]);
			}
	CHECK(ok);

	/* musl 1.2.3, C locale: 0xDFFF & (signed char)byte from 0x80 up */
	wchar_t w[8];
	CHECK_INT(port_mbstowcs(NULL, "h\xc3\xa9llo", 0), 6);
	CHECK_INT(port_mbstowcs(NULL, "", 0), 0);
	CHECK_INT(port_mbstowcs(w, "a\xff\x80", 8), 3);
	CHECK(w[0] == L'a' && w[1] == 0xDFFF && w[2] == 0xDF80 && w[3] == 0);
	w[2] = 7;
	CHECK_INT(port_mbstowcs(w, "xyz", 2), 2); /* full: no terminator */
	CHECK(w[0] == L'x' && w[1] == L'y' && w[2] == 7);
	CHECK_INT(port_mbstowcs(w, "\xed\xa0\x80", 4), 3);
	CHECK(w[0] == 0xDFED && w[1] == 0xDFA0 && w[2] == 0xDF80 && w[3] == 0);

	/* faccessat: the same answer and errno as the C library's */
	static const char *paths[] = { ".", "/", "/etc/passwd", "/nonexistent", "/proc/self/exe" };
	static const int modes[] = { F_OK, R_OK, W_OK, X_OK, R_OK | W_OK | X_OK };
	int fd = open(".", O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	ok = 1;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		for (size_t j = 0; j < sizeof(modes) / sizeof(modes[0]); j++)
			for (int flag = 0; flag <= AT_EACCESS; flag += AT_EACCESS) {
				errno = 0;
				int a = port_faccessat(fd, paths[i], modes[j], flag), ea = errno;
				errno = 0;
				int b = faccessat(fd, paths[i], modes[j], flag), eb = errno;
				if (a != b || (a < 0 && ea != eb && ea != ENOSYS)) {
					ok = 0;
					fprintf(stderr, "faccessat(%s, %d, %d): %d/%d, %d/%d\n",
						paths[i], modes[j], flag, a, ea, b, eb);
				}
			}
	CHECK(ok);
	close(fd);
	return check_report();
}

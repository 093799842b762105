/* qsort.c - qsort() for the static and cross builds: a heapsort.
 *
 * musl's is a smoothsort (qsort.lo and qsort_nr.lo, 2.2 KB on x86_64),
 * adaptive to sorted input; its one caller here is musl's own resolver
 * (getaddrinfo sorts at most 48 addresses by RFC 6724's rules). A heapsort
 * is O(n log n) in every case too, uses no memory, and is a tenth of the
 * size. Not stable, which qsort need not be. Linked ahead of the C library
 * like printf.c (port/embedded.mk).
 */
#include <stddef.h>
#include <stdlib.h>

static void swap(unsigned char *a, unsigned char *b, size_t size)
{
	while (size--) {
		unsigned char t = *a;
		*a++ = *b;
		*b++ = t;
	}
}

/* Moves element i of base[0..n) down its heap until both children are
 * not greater. */
static void sift(unsigned char *base, size_t i, size_t n, size_t size,
		 int (*cmp)(const void *, const void *))
{
	for (size_t c; (c = 2 * i + 1) < n; i = c) {
		if (c + 1 < n && cmp(base + c * size, base + (c + 1) * size) < 0)
			c++;
		if (cmp(base + i * size, base + c * size) >= 0)
			return;
		swap(base + i * size, base + c * size, size);
	}
}

void qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	unsigned char *b = base;
	if (n < 2 || !size)
		return;
	for (size_t i = n / 2; i-- > 0;)
		sift(b, i, n, size, cmp);
	while (--n > 0) {
		swap(b, b + n * size, size);
		sift(b, 0, n, size, cmp);
	}
}

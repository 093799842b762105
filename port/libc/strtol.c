/* strtol.c - strtol(), strtoul(), strtoll(), strtoull(), strtoimax() and
 * strtoumax() for the static and cross builds.
 *
 * musl's go through its scanf number reader (__intscan, with its own
 * buffered-input layer): 2.5 KB of every program, for what warren
 * (json.c, net.c, opt.c, the middleman and the worker), and musl's own
 * inet_aton, resolv.conf and service readers ask of it: C11 7.22.1.4 as
 * written. Leading white space, a sign, base 0 (0x, 0 or decimal) or
 * 2-36 with an optional 0x for 16; out of range gives ERANGE and the
 * type's limit; a negative number for an unsigned type is negated in it;
 * no digits: 0, *end = the start and, as musl's, EINVAL. Linked ahead of the C library like
 * printf.c (port/embedded.mk).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>

/* The magnitude of the number at s, saturating at max (pos) or at
 * max + neg_extra for a negative one; *neg and *over say which way. */
static unsigned long long scan(const char *nptr, char **end, int base,
			       unsigned long long max, int neg_extra,
			       int *neg, int *over)
{
	const unsigned char *s = (const unsigned char *)nptr;
	unsigned long long v = 0, lim;
	int any = 0;
	*neg = *over = 0;
	while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
		s++;
	if (*s == '+' || *s == '-')
		*neg = *s++ == '-';
	if ((base == 0 || base == 16) && s[0] == '0' && (s[1] | 32) == 'x' &&
	    ((unsigned)(s[2] - '0') < 10 || (unsigned)((s[2] | 32) - 'a') < 6))
		s += 2, base = 16;
	else if (base == 0)
		base = *s == '0' ? 8 : 10;
	if (base < 2 || base > 36) {
		errno = EINVAL;
		s = (const unsigned char *)nptr;
	}
	lim = max + (unsigned long long)(*neg ? neg_extra : 0);
	for (; base >= 2 && base <= 36; s++, any = 1) {
		unsigned d = (unsigned)(*s - '0') < 10 ? (unsigned)(*s - '0') :
			     (unsigned)((*s | 32) - 'a') < 26 ? (unsigned)((*s | 32) - 'a') + 10 : 99;
		if (d >= (unsigned)base)
			break;
		if (v > (lim - d) / (unsigned)base)
			*over = 1;
		else
			v = v * (unsigned)base + d;
	}
	if (end)
		*end = (char *)(any ? (const char *)s : nptr);
	if (!any)
		errno = EINVAL; /* as musl's (POSIX allows it) */
	if (*over)
		errno = ERANGE;
	return v;
}

static long long to_signed(const char *s, char **end, int base, long long max)
{
	int neg, over;
	unsigned long long v = scan(s, end, base, (unsigned long long)max, 1, &neg, &over);
	if (over)
		return neg ? -max - 1 : max;
	return neg ? (long long)(0 - v) : (long long)v;
}

static unsigned long long to_unsigned(const char *s, char **end, int base,
				      unsigned long long max)
{
	int neg, over;
	unsigned long long v = scan(s, end, base, max, 0, &neg, &over);
	if (over)
		return max;
	return neg ? (0 - v) & max : v;
}

long strtol(const char *restrict s, char **restrict end, int base)
{
	return (long)to_signed(s, end, base, LONG_MAX);
}

long long strtoll(const char *restrict s, char **restrict end, int base)
{
	return to_signed(s, end, base, LLONG_MAX);
}

intmax_t strtoimax(const char *restrict s, char **restrict end, int base)
{
	return to_signed(s, end, base, INTMAX_MAX);
}

unsigned long strtoul(const char *restrict s, char **restrict end, int base)
{
	return (unsigned long)to_unsigned(s, end, base, ULONG_MAX);
}

unsigned long long strtoull(const char *restrict s, char **restrict end, int base)
{
	return to_unsigned(s, end, base, ULLONG_MAX);
}

uintmax_t strtoumax(const char *restrict s, char **restrict end, int base)
{
	return to_unsigned(s, end, base, UINTMAX_MAX);
}

/* printf.c - vsnprintf() and vfprintf() for the static and cross builds.
 *
 * musl's vfprintf.lo is 10.5 KB on x86_64, 4.7 KB of it the exact
 * floating-point conversion, and every program links it through
 * snprintf(). This file, linked as an object before the C library
 * (port/embedded.mk, PORT_OBJ), defines the two functions the rest of the
 * family calls: the library's snprintf, sprintf, vsprintf, printf, fprintf,
 * dprintf (musl's, and those mbedTLS and musl's own inet_ntop call) come
 * to these, and vfprintf.lo is no longer linked. About 1.3 KB.
 *
 * What warren, mbedTLS and musl's linked parts use is all here: the flags
 * - 0 + space #, width and precision (also *), the lengths hh h l ll z j t
 * and the conversions d i u o x X c s p %. Floating point is %f with up
 * to 9 decimals, exact for values below 2^64 / 10^precision (a log line's
 * seconds); e, g and a print as f. %n, %m (a GNU extension) and %lc/%ls
 * (wide characters) are not supported: nothing linked uses them. An unknown
 * conversion is copied as it is.
 *
 * The host build keeps its C library's printf: this is not compiled there.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct out {
	char *p;        /* vsnprintf: the caller's buffer, room left in it */
	size_t room;
	FILE *f;        /* vfprintf: the stream, through buf */
	char buf[128];
	size_t used;
	size_t n;       /* characters produced so far */
	va_list ap;
};

/* size_t and ptrdiff_t are long, intmax_t is long long (every Linux ABI). */
_Static_assert(sizeof(size_t) == sizeof(long) && sizeof(ptrdiff_t) == sizeof(long) &&
	       sizeof(intmax_t) == sizeof(long long), "unusual integer sizes");
enum { L_INT, L_CHAR, L_SHORT, L_LONG, L_LLONG };

/* The next integer argument of length len, sign-extended if sign. */
static uintmax_t int_arg(struct out *o, int len, int sign)
{
	uintmax_t v;
	if (len == L_LLONG)
		v = sign ? (uintmax_t)va_arg(o->ap, long long) : va_arg(o->ap, unsigned long long);
	else if (len == L_LONG)
		v = sign ? (uintmax_t)va_arg(o->ap, long) : va_arg(o->ap, unsigned long);
	else
		v = sign ? (uintmax_t)va_arg(o->ap, int) : va_arg(o->ap, unsigned);
	if (len == L_CHAR)
		v = sign ? (uintmax_t)(signed char)v : (unsigned char)v;
	if (len == L_SHORT)
		v = sign ? (uintmax_t)(short)v : (unsigned short)v;
	return v;
}

static void flush(struct out *o)
{
	if (o->used)
		fwrite(o->buf, 1, o->used, o->f);
	o->used = 0;
}

static void emit(struct out *o, const char *s, size_t len)
{
	o->n += len;
	if (o->f) {
		while (len) {
			size_t k = sizeof(o->buf) - o->used;
			if (k > len)
				k = len;
			memcpy(o->buf + o->used, s, k);
			o->used += k, s += k, len -= k;
			if (o->used == sizeof(o->buf))
				flush(o);
		}
		return;
	}
	if (len > o->room)
		len = o->room;
	memcpy(o->p, s, len);
	o->p += len, o->room -= len;
}

static void pad(struct out *o, char c, size_t count)
{
	char run[16];
	memset(run, c, sizeof(run));
	for (; count > sizeof(run); count -= sizeof(run))
		emit(o, run, sizeof(run));
	emit(o, run, count);
}

enum { F_LEFT = 1, F_ZERO = 2, F_PLUS = 4, F_SPACE = 8, F_ALT = 16 };

/* prefix (sign, 0x), then zeros up to prec digits, then digits, in a field
 * of width (zero-filled with F_ZERO and no precision). */
static void field(struct out *o, const char *prefix, const char *digits,
		  size_t len, size_t prec, size_t width, int fl)
{
	size_t pl = strlen(prefix), zeros = prec > len ? prec - len : 0;
	size_t total = pl + zeros + len, fill = width > total ? width - total : 0;
	if (!(fl & F_LEFT) && !(fl & F_ZERO))
		pad(o, ' ', fill);
	emit(o, prefix, pl);
	if (!(fl & F_LEFT) && (fl & F_ZERO))
		pad(o, '0', fill);
	pad(o, '0', zeros);
	emit(o, digits, len);
	if (fl & F_LEFT)
		pad(o, ' ', fill);
}

/* v in base into the end of buf[24]; the digits' start. */
static char *digits(char *end, uintmax_t v, unsigned base, int upper)
{
	const char *d = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	do
		*--end = d[v % base];
	while (v /= base);
	return end;
}

static void fixed(struct out *o, double v, int prec, size_t width, int fl)
{
	char buf[48], *end = buf + sizeof(buf), *s;
	const char *sign = v < 0 ? "-" : fl & F_PLUS ? "+" : fl & F_SPACE ? " " : "";
	uint64_t scale = 1, whole;
	int extra = 0;
	if (v < 0)
		v = -v;
	if (v != v || v > 1e300) {
		field(o, sign, v != v ? "nan" : "inf", 3, 0, width, fl & ~F_ZERO);
		return;
	}
	if (prec < 0)
		prec = 6;
	if (prec > 9)
		extra = prec - 9, prec = 9;
	for (int i = 0; i < prec; i++)
		scale *= 10;
	/* Above what fits, the magnitude is right and the low digits zero. */
	int shift = 0;
	while (v * scale >= 1.8e19)
		v /= 10, shift++;
	whole = (uint64_t)(v * scale + 0.5);
	s = end;
	while (extra-- > 0)
		*--s = '0';
	if (prec) {
		for (int i = 0; i < prec; i++, whole /= 10)
			*--s = (char)('0' + whole % 10);
		*--s = '.';
	} else if (fl & F_ALT) {
		*--s = '.';
	}
	char *w = digits(s, whole, 10, 0);
	/* The shifted-out digits of the integer part, as zeros. */
	if (shift) {
		field(o, sign, w, (size_t)(s - w), 0, 0, 0);
		pad(o, '0', (size_t)shift);
		emit(o, s, (size_t)(end - s));
		return;
	}
	field(o, sign, w, (size_t)(end - w), 0, width, fl);
}

static int format(struct out *o, const char *fmt)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			const char *s = fmt;
			while (fmt[1] && fmt[1] != '%')
				fmt++;
			emit(o, s, (size_t)(fmt - s + 1));
			continue;
		}
		int fl = 0, prec = -1, upper = 0;
		size_t width = 0;
		for (;; fmt++) {
			int f = fmt[1] == '-' ? F_LEFT : fmt[1] == '0' ? F_ZERO :
				fmt[1] == '+' ? F_PLUS : fmt[1] == ' ' ? F_SPACE :
				fmt[1] == '#' ? F_ALT : 0;
			if (!f)
				break;
			fl |= f;
		}
		const char *spec = fmt++;
		if (*fmt == '*') {
			int w = va_arg(o->ap, int);
			if (w < 0)
				fl |= F_LEFT, w = -w;
			width = (size_t)w;
			fmt++;
		} else {
			while (*fmt >= '0' && *fmt <= '9')
				width = width * 10 + (size_t)(*fmt++ - '0');
		}
		if (*fmt == '.') {
			fmt++;
			if (*fmt == '*') {
				prec = va_arg(o->ap, int);
				fmt++;
			} else {
				for (prec = 0; *fmt >= '0' && *fmt <= '9'; fmt++)
					prec = prec * 10 + (*fmt - '0');
			}
			if (prec < 0)
				prec = -1;
		}
		int len = L_INT;
		switch (*fmt) {
		case 'h': len = fmt[1] == 'h' ? (fmt++, L_CHAR) : L_SHORT; fmt++; break;
		case 'l': len = fmt[1] == 'l' ? (fmt++, L_LLONG) : L_LONG; fmt++; break;
		case 'j': len = L_LLONG; fmt++; break;
		case 'z': case 't': len = L_LONG; fmt++; break;
		case 'L': fmt++; break;
		}
		char buf[24], *end = buf + sizeof(buf), *d;
		uintmax_t u;
		intmax_t i;
		switch (*fmt) {
		case '%':
			emit(o, "%", 1);
			break;
		case 'c':
			buf[0] = (char)va_arg(o->ap, int);
			field(o, "", buf, 1, 0, width, fl & ~F_ZERO);
			break;
		case 's': {
			const char *s = va_arg(o->ap, const char *);
			if (!s)
				s = "(null)";
			size_t n = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
			field(o, "", s, n, 0, width, fl & ~F_ZERO);
			break;
		}
		case 'd':
		case 'i':
			i = (intmax_t)int_arg(o, len, 1);
			u = i < 0 ? -(uintmax_t)i : (uintmax_t)i;
			d = prec == 0 && !u ? end : digits(end, u, 10, 0);
			field(o, i < 0 ? "-" : fl & F_PLUS ? "+" : fl & F_SPACE ? " " : "",
			      d, (size_t)(end - d), prec > 0 ? (size_t)prec : 0, width,
			      prec >= 0 ? fl & ~F_ZERO : fl);
			break;
		case 'p':
			u = (uintptr_t)va_arg(o->ap, void *);
			d = digits(end, u, 16, 0);
			field(o, "0x", d, (size_t)(end - d), 0, width, fl);
			break;
		case 'X':
			upper = 1;
			/* fall through */
		case 'u':
		case 'o':
		case 'x':
			u = int_arg(o, len, 0);
			unsigned base = *fmt == 'o' ? 8 : *fmt == 'u' ? 10 : 16;
			d = prec == 0 && !u ? end : digits(end, u, base, upper);
			const char *pre = "";
			if ((fl & F_ALT) && base == 8 && (d == end || *d != '0'))
				*--d = '0';
			else if ((fl & F_ALT) && base == 16 && u)
				pre = upper ? "0X" : "0x";
			field(o, pre, d, (size_t)(end - d), prec > 0 ? (size_t)prec : 0,
			      width, prec >= 0 ? fl & ~F_ZERO : fl);
			break;
		case 'f': case 'F': case 'e': case 'E':
		case 'g': case 'G': case 'a': case 'A':
			/* (long double is not passed by anything linked.) */
			fixed(o, va_arg(o->ap, double), prec, width, fl);
			break;
		default:
			/* Not a conversion: copied as written. */
			if (!*fmt)
				fmt--;
			emit(o, spec, (size_t)(fmt - spec + 1));
			break;
		}
	}
	if (o->n > INT_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	return (int)o->n;
}

int vsnprintf(char *restrict s, size_t size, const char *restrict fmt, va_list ap)
{
	struct out o = { .p = s, .room = size ? size - 1 : 0 };
	va_copy(o.ap, ap);
	int n = format(&o, fmt);
	va_end(o.ap);
	if (size)
		*o.p = '\0';
	return n;
}

int vfprintf(FILE *restrict f, const char *restrict fmt, va_list ap)
{
	struct out o = { .f = f };
	va_copy(o.ap, ap);
	int n = format(&o, fmt);
	va_end(o.ap);
	flush(&o);
	return ferror(f) ? -1 : n;
}

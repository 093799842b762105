/* mbstowcs.c - mbstowcs() for the static and cross builds, in the C
 * locale, which warren never leaves (no setlocale call).
 *
 * musl's C locale is a byte locale (MB_CUR_MAX 1): each byte one wide
 * character, those from 0x80 up as 0xDF80..0xDFFF, never an error. Its
 * mbstowcs goes through mbsrtowcs and the UTF-8 decoder of the other
 * locales (mbstowcs.lo, mbsrtowcs.lo, internal.lo: 1.2 KB on x86_64) for
 * one caller, its resolver's check of a host name, which in this locale
 * always passes. This is the same mapping without the decoder. Linked
 * ahead of the C library like printf.c (port/embedded.mk).
 */
#include <stdlib.h>
#include <string.h>

size_t mbstowcs(wchar_t *restrict ws, const char *restrict s, size_t n)
{
	if (!ws)
		return strlen(s);
	size_t i = 0;
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		ws[i] = c < 0x80 ? c : 0xDF00 | c;
		if (!c)
			break;
	}
	return i;
}

/*
 * utf8.c - a small state machine over the byte classes of RFC 3629's table.
 * State encodes (bytes still expected, allowed range of the next byte).
 */
#include "utf8.h"

/* States above UTF8_REJECT: */
enum {
	S_CONT1 = 2,   /* one continuation byte 80..BF expected */
	S_CONT2,       /* two continuations, next 80..BF */
	S_CONT3,       /* three continuations, next 80..BF */
	S_E0,          /* after E0: A0..BF then one more */
	S_ED,          /* after ED: 80..9F then one more (no surrogates) */
	S_F0,          /* after F0: 90..BF then two more */
	S_F4           /* after F4: 80..8F then two more */
};

static uint32_t step(uint32_t s, unsigned char c)
{
	switch (s) {
	case UTF8_ACCEPT:
		if (c < 0x80) return UTF8_ACCEPT;
		if (c >= 0xC2 && c <= 0xDF) return S_CONT1;
		if (c == 0xE0) return S_E0;
		if (c == 0xED) return S_ED;
		if (c >= 0xE1 && c <= 0xEF) return S_CONT2;
		if (c == 0xF0) return S_F0;
		if (c >= 0xF1 && c <= 0xF3) return S_CONT3;
		if (c == 0xF4) return S_F4;
		return UTF8_REJECT;
	case S_CONT1: return (c & 0xC0) == 0x80 ? UTF8_ACCEPT : UTF8_REJECT;
	case S_CONT2: return (c & 0xC0) == 0x80 ? S_CONT1 : UTF8_REJECT;
	case S_CONT3: return (c & 0xC0) == 0x80 ? S_CONT2 : UTF8_REJECT;
	case S_E0: return (c >= 0xA0 && c <= 0xBF) ? S_CONT1 : UTF8_REJECT;
	case S_ED: return (c >= 0x80 && c <= 0x9F) ? S_CONT1 : UTF8_REJECT;
	case S_F0: return (c >= 0x90 && c <= 0xBF) ? S_CONT2 : UTF8_REJECT;
	case S_F4: return (c >= 0x80 && c <= 0x8F) ? S_CONT2 : UTF8_REJECT;
	default: return UTF8_REJECT;
	}
}

uint32_t utf8_feed(uint32_t s, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n && s != UTF8_REJECT; i++) {
		/* fast path over ASCII runs */
		if (s == UTF8_ACCEPT && p[i] < 0x80)
			continue;
		s = step(s, p[i]);
	}
	return s;
}

int utf8_valid(const void *p, size_t n)
{
	return utf8_feed(UTF8_ACCEPT, p, n) == UTF8_ACCEPT;
}

/*
 * utf8 - strict UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), whole or incremental across fragments.
 */
#ifndef WARREN_UTF8_H
#define WARREN_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Incremental validator state; start with UTF8_ACCEPT. */
enum { UTF8_ACCEPT = 0, UTF8_REJECT = 1 };

/* Feeds n bytes; returns the new state: UTF8_ACCEPT at a character
 * boundary, UTF8_REJECT once invalid (sticky), another value mid-character. */
uint32_t utf8_feed(uint32_t state, const unsigned char *p, size_t n);
/* 1 when p[0..n) is whole, valid UTF-8. */
int utf8_valid(const void *p, size_t n);

#endif

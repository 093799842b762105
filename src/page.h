/*
 * page - the middleman's live page (src/page.html), compiled into the
 * binary by the Makefile ($(BUILD)/gen/page.c).
 */
#ifndef WARREN_PAGE_H
#define WARREN_PAGE_H

#include <stddef.h>

extern const unsigned char page_html[]; /* NUL-terminated */
extern const size_t page_html_len; /* without the NUL */

#endif

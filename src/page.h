/*
 * page - the middleman's live page (src/page.html), compiled into the
 * binary by the Makefile ($(BUILD)/gen/page.c) in two parts: its lines up
 * to and with <meta name="tasker" content=""> as they are, and the rest as
 * a gzip file (gzip -9n: one member, no name, no time).
 */
#ifndef WARREN_PAGE_H
#define WARREN_PAGE_H

#include <stddef.h>

extern const unsigned char page_head[]; /* NUL-terminated */
extern const size_t page_head_len;      /* without the NUL */
extern const unsigned char page_gz[];   /* the rest of the page, gzip */
extern const size_t page_gz_len;

#endif

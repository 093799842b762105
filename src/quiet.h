/*
 * quiet - the worker's quiet hours (--quiet HH:MM-HH:MM[,...]): windows of
 * local time, in minutes of the day, when no download runs. A window whose
 * end is earlier than its start crosses midnight ("23:00-06:00").
 */
#ifndef WARREN_QUIET_H
#define WARREN_QUIET_H

#include <stddef.h>

#include "config.h"

struct quiet {
	unsigned n;
	struct {
		unsigned from, to;      /* minutes of the day, 0..1439, from != to */
	} w[QUIET_MAX_WINDOWS];
};

/* Parses "HH:MM-HH:MM[,HH:MM-HH:MM...]" (two digits each, 00:00..23:59).
 * 0, or -1 with err saying what is wrong. */
int quiet_parse(const char *s, struct quiet *q, char *err, size_t errlen);

/* 1 when minute m of the day (0..1439) is in a window, else 0; *left gets
 * the minutes from m until that changes (1..1440; 1440: never, the windows
 * cover the whole day or there are none). */
int quiet_at(const struct quiet *q, unsigned m, unsigned *left);

#endif

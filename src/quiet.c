/* quiet.c - quiet-hour windows; see quiet.h. */
#include "quiet.h"

#include <stdio.h>

/* "HH:MM" at s: the minute of the day, or -1. */
static int hhmm(const char *s)
{
	for (int i = 0; i < 5; i++)
		if (i == 2 ? s[i] != ':' : (s[i] < '0' || s[i] > '9'))
			return -1;
	int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
	return h < 24 && m < 60 ? h * 60 + m : -1;
}

int quiet_parse(const char *s, struct quiet *q, char *err, size_t errlen)
{
	q->n = 0;
	for (const char *p = s;; p += 12) {
		int from = hhmm(p), to = from < 0 || p[5] != '-' ? -1 : hhmm(p + 6);
		if (to < 0) {
			snprintf(err, errlen, "want HH:MM-HH:MM[,HH:MM-HH:MM...] (local "
				 "time, 00:00 to 23:59), not '%s'", s);
			return -1;
		}
		if (from == to) {
			snprintf(err, errlen, "window %.11s is empty", p);
			return -1;
		}
		if (q->n == QUIET_MAX_WINDOWS) {
			snprintf(err, errlen, "at most %d windows", QUIET_MAX_WINDOWS);
			return -1;
		}
		q->w[q->n].from = (unsigned)from;
		q->w[q->n].to = (unsigned)to;
		q->n++;
		if (p[11] == '\0')
			return 0;
		if (p[11] != ',') {
			snprintf(err, errlen, "want HH:MM-HH:MM[,HH:MM-HH:MM...] (local "
				 "time, 00:00 to 23:59), not '%s'", s);
			return -1;
		}
	}
}

static int inside(const struct quiet *q, unsigned m)
{
	for (unsigned i = 0; i < q->n; i++) {
		unsigned f = q->w[i].from, t = q->w[i].to;
		if (f < t ? m >= f && m < t : m >= f || m < t)
			return 1;
	}
	return 0;
}

int quiet_at(const struct quiet *q, unsigned m, unsigned *left)
{
	m %= 1440;
	int now = inside(q, m);
	unsigned k = 1;
	while (k < 1440 && inside(q, (m + k) % 1440) == now)
		k++;
	*left = k;
	return now;
}

/*
 * url - the one URL parser of warren (RFC 3986 subset for http and https):
 * scheme, userinfo, host name, IPv4, [IPv6], port, path and query; the
 * fragment is dropped. Used by the tasker to validate a task's "arg" and by
 * the worker to connect and to resolve redirects. Pure: no I/O, no malloc.
 */
#ifndef WARREN_URL_H
#define WARREN_URL_H

#include <stddef.h>

#include "config.h"

struct url {
	int https;                      /* 1 for https, 0 for http */
	char userinfo[256];             /* "user:pass" as written (percent-encoded), "" if none */
	char host[256];                 /* name or address; IPv6 without brackets */
	int ipv6;                       /* host was written as [IPv6] */
	unsigned port;                  /* explicit, or 80 / 443 */
	char path[TASK_MAX_URL + 1];    /* path and query, at least "/" */
};

/*
 * Parses an absolute http:// or https:// URL of len bytes (at most
 * TASK_MAX_URL, with a host, no spaces or control characters).
 * Returns 0, or -1 with *why set to a static message for a person.
 */
int url_parse(const char *s, size_t len, struct url *u, const char **why);

#endif

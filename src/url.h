/*
 * url - the one URL parser of warren (RFC 3986 subset for http and https):
 * scheme, userinfo, host name, IPv4, [IPv6], port, path and query; the
 * fragment is dropped. Used by the tasker to validate a task's "arg" and by
 * the worker to connect and to resolve redirects. Pure: no I/O, no malloc.
 *
 * What url_parse accepts (the tasker's rule for "arg"):
 * - "http://" or "https://" (scheme case-insensitive), at most TASK_MAX_URL
 *   bytes, every byte visible ASCII (0x21..0x7E): spaces, control characters
 *   and non-ASCII bytes are refused - a URL carries them percent-encoded;
 * - optional userinfo "user[:password]@" (RFC 3986 characters, no second '@');
 * - a host: a DNS name (letters, digits, '-', '_', '.'; labels of 1..63
 *   bytes, 253 in all, one trailing dot allowed; stored lowercase), a dotted
 *   IPv4 address (a name whose last label is numeric must be one), or an IPv6
 *   address in brackets (no zone id);
 * - an optional port 1..65535 (an empty port after ':' means the default);
 * - path and query of visible ASCII with well-formed %XX escapes ("/" when
 *   empty); a '#' fragment is dropped.
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

/*
 * Resolves the reference ref (len bytes, e.g. a Location header) against
 * base (RFC 3986 section 5.2, dot segments removed) into *out. ref may be
 * absolute, "//host/..." , "/path", "rel/path", "?query" or "#frag".
 * Spaces and non-ASCII bytes in ref are percent-encoded first (servers send
 * them raw); other control bytes, a scheme other than http(s) or a result
 * url_parse refuses are errors. The userinfo of base is kept only when the
 * reference names no authority. 0, or -1 with *why.
 */
int url_resolve(const struct url *base, const char *ref, size_t len,
		struct url *out, const char **why);

/* 1 when a and b name the same origin (scheme, host and port). */
int url_same_origin(const struct url *a, const struct url *b);

/*
 * Writes the URL as text into out (NUL-terminated): with the userinfo when
 * with_userinfo, never with a fragment. Returns the length, or -1 when
 * outlen is too small (out then holds "").
 */
int url_format(const struct url *u, int with_userinfo, char *out, size_t outlen);

/* Writes the Host header value ("name", "[v6]:8080") into out. -1 if too small. */
int url_host_header(const struct url *u, char *out, size_t outlen);

/*
 * Writes the value of an Authorization header for the userinfo: "Basic "
 * and the base64 of the percent-decoded "user:password" (RFC 7617). Returns
 * the length, 0 when the URL has no userinfo, -1 when out is too small or
 * the userinfo decodes to a control character.
 */
int url_basic_auth(const struct url *u, char *out, size_t outlen);

/*
 * Percent-decodes s[0..len) into out (NUL-terminated); malformed escapes are
 * copied as they are. Returns the decoded length, or -1 when out is too small.
 */
int url_pct_decode(const char *s, size_t len, char *out, size_t outlen);
/* The same, but a malformed escape or an escaped NUL is an error (-1):
 * for names that must mean exactly one thing (a vhost, a task id). */
int url_pct_decode_strict(const char *s, size_t len, char *out, size_t outlen);

/* ---- the broker's amqp:// URL (AMQP URI spec) ---- */

struct amqp_url {
	char user[128], pass[128], host[256], vhost[128]; /* percent-decoded */
	unsigned port;
};

/*
 * Parses amqp://user:pass@host:port/vhost into *u. Defaults: guest, guest,
 * localhost, 5672, vhost "/" (a trailing "/" alone, or "/%2f", also names
 * "/"). amqps:// is refused with its own message. 0, or -1 with a message
 * for a person in err.
 */
int url_parse_amqp(const char *s, struct amqp_url *u, char *err, size_t errlen);
/* s with its password replaced by "***", for logs. */
void url_redact_amqp(const char *s, char *out, size_t outlen);

#endif

/*
 * url.c - http(s) URL parsing, reference resolution and formatting; see
 * url.h for exactly what is accepted and why.
 */
#include "url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "httpmsg.h"

static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* 1 when s[i] starts a well-formed %XX escape. */
static int is_pct(const char *s, size_t len, size_t i)
{
	return s[i] == '%' && i + 2 < len &&
	       http_hex_digit((unsigned char)s[i + 1]) >= 0 &&
	       http_hex_digit((unsigned char)s[i + 2]) >= 0;
}

/* RFC 3986 userinfo: unreserved, sub-delims, ':' and %XX. */
static int check_userinfo(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (!is_pct(s, len, i))
				return -1;
			i += 2;
		} else if (!is_alpha(c) && !is_digit(c) &&
			   !strchr("-._~!$&'()*+,;=:", c)) {
			return -1;
		}
	}
	return 0;
}

/* Strict dotted quad: four decimal numbers 0..255 without leading zeros. */
static int is_ipv4(const char *s, size_t len)
{
	unsigned parts = 0;
	size_t i = 0;
	while (parts < 4) {
		size_t start = i;
		unsigned v = 0;
		while (i < len && is_digit((unsigned char)s[i]) && i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
			return 0;
		parts++;
		if (parts < 4) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	return i == len;
}

/* A DNS name or a dotted IPv4 address, copied lowercase into host. */
static int parse_name(const char *s, size_t len, char *host, const char **why)
{
	size_t n = len;
	if (n > 0 && s[n - 1] == '.')
		n--; /* one trailing dot: a fully qualified name */
	if (n == 0) {
		*why = "URL has no host";
		return -1;
	}
	if (n > URL_MAX_HOST) {
		*why = "host name too long";
		return -1;
	}
	size_t label = 0, last = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0) {
				*why = "empty label in host name";
				return -1;
			}
			label = 0;
			last = i + 1;
			continue;
		}
		if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_') {
			*why = "bad character in host name (international names must be given in punycode)";
			return -1;
		}
		if (++label > 63) {
			*why = "host name label longer than 63 bytes";
			return -1;
		}
	}
	if (label == 0) {
		*why = "empty label in host name";
		return -1;
	}
	/* A numeric last label means an address: only a strict dotted quad, so
	 * that "127.1" or "0x7f.0.0.1" cannot hide what it points to. */
	int numeric = 1;
	for (size_t i = last; i < n; i++)
		if (!is_digit((unsigned char)s[i]))
			numeric = 0;
	int hexish = n - last > 2 && s[last] == '0' && lower(s[last + 1]) == 'x';
	if ((numeric || hexish) && !is_ipv4(s, n)) {
		*why = "bad IPv4 address (want four decimal numbers 0-255)";
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		host[i] = (char)lower((unsigned char)s[i]);
	host[n] = '\0';
	return 0;
}

static int parse_ipv6(const char *s, size_t len, char *host, const char **why)
{
	char tmp[64];
	unsigned char bin[16];
	if (len == 0 || len >= sizeof(tmp)) {
		*why = "bad IPv6 address";
		return -1;
	}
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (strchr(tmp, '%')) {
		*why = "IPv6 zone identifiers are not supported";
		return -1;
	}
	if (inet_pton(AF_INET6, tmp, bin) != 1) {
		*why = "bad IPv6 address";
		return -1;
	}
	for (size_t i = 0; i <= len; i++)
		host[i] = (char)lower((unsigned char)tmp[i]);
	return 0;
}

static int parse_port(const char *s, size_t len, unsigned *port, const char **why)
{
	unsigned v = 0;
	if (len == 0)
		return 0; /* "host:" keeps the default port (RFC 3986 3.2.3) */
	if (len > 5) {
		*why = "port out of range (1-65535)";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (!is_digit((unsigned char)s[i])) {
			*why = "port is not a number";
			return -1;
		}
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535) {
		*why = "port out of range (1-65535)";
		return -1;
	}
	*port = v;
	return 0;
}

/* host[:port] or [v6][:port] */
static int parse_hostport(const char *s, size_t len, struct url *u, const char **why)
{
	size_t hlen;
	const char *port;
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close) {
			*why = "unterminated [IPv6] host";
			return -1;
		}
		if (parse_ipv6(s + 1, (size_t)(close - s - 1), u->host, why) < 0)
			return -1;
		u->ipv6 = 1;
		hlen = (size_t)(close - s) + 1;
		if (hlen < len && s[hlen] != ':') {
			*why = "unexpected text after [IPv6] host";
			return -1;
		}
	} else {
		const char *colon = memchr(s, ':', len);
		hlen = colon ? (size_t)(colon - s) : len;
		if (parse_name(s, hlen, u->host, why) < 0)
			return -1;
	}
	port = s + hlen;
	if (hlen < len)
		return parse_port(port + 1, len - hlen - 1, &u->port, why);
	return 0;
}

/* Path and query: visible ASCII with well-formed escapes. */
static int check_path(const char *s, size_t len, const char **why)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && !is_pct(s, len, i)) {
			*why = "bad percent-encoding in URL (write a literal '%' as %25)";
			return -1;
		}
	}
	return 0;
}

int url_parse(const char *s, size_t len, struct url *u, const char **why)
{
	memset(u, 0, sizeof(*u));
	if (len == 0) {
		*why = "URL is empty";
		return -1;
	}
	if (len > TASK_MAX_URL) {
		*why = "URL longer than 2048 bytes";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7F) {
			*why = c == ' ' ? "URL contains a space (write it %20)"
			     : c >= 0x80 ? "URL contains a non-ASCII byte (percent-encode it)"
			     : "URL contains a control character";
			return -1;
		}
	}
	size_t i;
	if (len >= 7 && !strncasecmp(s, "http://", 7)) {
		i = 7;
		u->port = 80;
	} else if (len >= 8 && !strncasecmp(s, "https://", 8)) {
		i = 8;
		u->https = 1;
		u->port = 443;
	} else {
		*why = "URL must start with http:// or https://";
		return -1;
	}
	size_t end = i; /* authority: up to the first '/', '?' or '#' */
	while (end < len && s[end] != '/' && s[end] != '?' && s[end] != '#')
		end++;
	const char *auth = s + i;
	size_t alen = end - i;
	const char *at = memchr(auth, '@', alen);
	if (at) {
		size_t ulen = (size_t)(at - auth);
		if (memchr(at + 1, '@', alen - ulen - 1)) {
			*why = "more than one '@' in URL authority (percent-encode it in the password)";
			return -1;
		}
		if (ulen >= sizeof(u->userinfo) || check_userinfo(auth, ulen) < 0) {
			*why = "bad user name or password in URL";
			return -1;
		}
		memcpy(u->userinfo, auth, ulen);
		u->userinfo[ulen] = '\0';
		alen -= ulen + 1;
		auth = at + 1;
	}
	if (parse_hostport(auth, alen, u, why) < 0)
		return -1;
	size_t pend = end; /* path and query end at the fragment */
	while (pend < len && s[pend] != '#')
		pend++;
	if (check_path(s + end, pend - end, why) < 0)
		return -1;
	size_t p = 0;
	if (end == pend || s[end] != '/')
		u->path[p++] = '/';
	memcpy(u->path + p, s + end, pend - end);
	u->path[p + pend - end] = '\0';
	return 0;
}

/* ---- formatting ---------------------------------------------------------- */

static int default_port(const struct url *u)
{
	return u->port == (u->https ? 443u : 80u);
}

int url_host_header(const struct url *u, char *out, size_t outlen)
{
	int n;
	const char *l = u->ipv6 ? "[" : "", *r = u->ipv6 ? "]" : "";
	if (default_port(u))
		n = snprintf(out, outlen, "%s%s%s", l, u->host, r);
	else
		n = snprintf(out, outlen, "%s%s%s:%u", l, u->host, r, u->port);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen)
			out[0] = '\0';
		return -1;
	}
	return n;
}

int url_format(const struct url *u, int with_userinfo, char *out, size_t outlen)
{
	char hp[300];
	url_host_header(u, hp, sizeof(hp));
	int ui = with_userinfo && u->userinfo[0];
	int n = snprintf(out, outlen, "%s://%s%s%s%s", u->https ? "https" : "http",
			 ui ? u->userinfo : "", ui ? "@" : "", hp, u->path);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen)
			out[0] = '\0';
		return -1;
	}
	return n;
}

int url_same_origin(const struct url *a, const struct url *b)
{
	return a->https == b->https && a->port == b->port &&
	       !strcmp(a->host, b->host);
}

int url_pct_decode(const char *s, size_t len, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (o + 1 >= outlen)
			return -1;
		if (is_pct(s, len, i)) {
			out[o++] = (char)(http_hex_digit((unsigned char)s[i + 1]) * 16 +
					  http_hex_digit((unsigned char)s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return (int)o;
}

int url_pct_decode_strict(const char *s, size_t len, char *out, size_t outlen)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '%' && !is_pct(s, len, i))
			return -1;
	int n = url_pct_decode(s, len, out, outlen);
	if (n > 0 && memchr(out, '\0', (size_t)n))
		return -1;
	return n;
}

int url_basic_auth(const struct url *u, char *out, size_t outlen)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char cred[256];
	if (!u->userinfo[0])
		return 0;
	int n = url_pct_decode(u->userinfo, strlen(u->userinfo), cred, sizeof(cred));
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if ((unsigned char)cred[i] < 0x20 || cred[i] == 0x7F)
			return -1;
	if (!strchr(cred, ':') && n < (int)sizeof(cred) - 1)
		cred[n++] = ':'; /* "user@" alone: empty password */
	size_t need = 6 + (size_t)(n + 2) / 3 * 4 + 1;
	if (need > outlen)
		return -1;
	memcpy(out, "Basic ", 6);
	size_t o = 6;
	const unsigned char *c = (const unsigned char *)cred;
	for (int i = 0; i < n; i += 3) {
		unsigned v = (unsigned)c[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)c[i + 1] << 8;
		if (i + 2 < n)
			v |= c[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	return (int)o;
}

/* ---- reference resolution (RFC 3986 section 5.2) ---------------------- */

/* Removes "." and ".." segments of in[0..len) into out (RFC 3986 5.2.4). */
static size_t remove_dots(const char *in, size_t len, char *out)
{
	size_t i = 0, o = 0;
	while (i < len) {
		const char *p = in + i;
		size_t left = len - i;
		if (left >= 3 && !memcmp(p, "../", 3)) {
			i += 3;
		} else if (left >= 2 && !memcmp(p, "./", 2)) {
			i += 2;
		} else if (left >= 3 && !memcmp(p, "/./", 3)) {
			i += 2;
		} else if (left == 2 && !memcmp(p, "/.", 2)) {
			out[o++] = '/';
			i += 2;
		} else if ((left >= 4 && !memcmp(p, "/../", 4)) ||
			   (left == 3 && !memcmp(p, "/..", 3))) {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the '/' before the dropped segment */
			if (left == 3) {
				out[o++] = '/';
				i += 3;
			} else {
				i += 3; /* leaves "/" at the front of the input */
			}
		} else if ((left == 1 && p[0] == '.') ||
			   (left == 2 && !memcmp(p, "..", 2))) {
			i = len;
		} else {
			do
				out[o++] = in[i++];
			while (i < len && in[i] != '/');
		}
	}
	return o;
}

/* Copies ref, percent-encoding spaces and non-ASCII bytes. -1 on a control
 * byte or when it does not fit. */
static int encode_ref(const char *ref, size_t len, char *out, size_t outlen,
		      size_t *outn, const char **why)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)ref[i];
		if (c < 0x20 || c == 0x7F) {
			*why = "redirect location contains a control character";
			return -1;
		}
		if (o + 3 >= outlen) {
			*why = "redirect location too long";
			return -1;
		}
		if (c == ' ' || c >= 0x80) {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	*outn = o;
	return 0;
}

/* Length of a scheme followed by ':' at the start of s, or 0. */
static size_t scheme_len(const char *s, size_t len)
{
	if (len == 0 || !is_alpha((unsigned char)s[0]))
		return 0;
	for (size_t i = 1; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == ':')
			return i;
		if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.')
			return 0;
	}
	return 0;
}

int url_resolve(const struct url *base, const char *ref, size_t len,
		struct url *out, const char **why)
{
	char r[TASK_MAX_URL + 1];
	char full[TASK_MAX_URL * 2 + 512];
	char merged[TASK_MAX_URL * 2 + 2];
	size_t n;
	if (encode_ref(ref, len, r, sizeof(r), &n, why) < 0)
		return -1;
	const char *hash = memchr(r, '#', n);
	if (hash)
		n = (size_t)(hash - r);
	size_t sl = scheme_len(r, n);
	if (sl) {
		if (!((sl == 4 && !strncasecmp(r, "http", 4)) ||
		      (sl == 5 && !strncasecmp(r, "https", 5)))) {
			*why = "redirect to a scheme other than http or https";
			return -1;
		}
		return url_parse(r, n, out, why);
	}
	int m;
	if (n >= 2 && r[0] == '/' && r[1] == '/') {
		m = snprintf(full, sizeof(full), "%s:%.*s",
			     base->https ? "https" : "http", (int)n, r);
	} else {
		/* Split base and reference into path and query. */
		const char *bq = strchr(base->path, '?');
		size_t bplen = bq ? (size_t)(bq - base->path) : strlen(base->path);
		const char *rq = memchr(r, '?', n);
		size_t rplen = rq ? (size_t)(rq - r) : n;
		/* The base's query survives only an empty reference path. */
		const char *query = rq ? rq : (rplen == 0 ? bq : NULL);
		size_t qlen = rq ? n - rplen : (query ? strlen(query) : 0);
		size_t ml = 0;
		if (rplen == 0) {
			memcpy(merged, base->path, bplen);
			ml = bplen;
		} else if (r[0] == '/') {
			memcpy(merged, r, rplen);
			ml = rplen;
		} else {
			size_t keep = bplen;
			while (keep > 0 && base->path[keep - 1] != '/')
				keep--;
			memcpy(merged, base->path, keep);
			memcpy(merged + keep, r, rplen);
			ml = keep + rplen;
		}
		char path[sizeof(merged)];
		size_t pl = remove_dots(merged, ml, path);
		char host[300], scheme_host[600];
		url_host_header(base, host, sizeof(host));
		int ui = base->userinfo[0] != '\0';
		snprintf(scheme_host, sizeof(scheme_host), "%s://%s%s%s",
			 base->https ? "https" : "http", ui ? base->userinfo : "",
			 ui ? "@" : "", host);
		m = snprintf(full, sizeof(full), "%s%s%.*s%.*s", scheme_host,
			     pl && path[0] == '/' ? "" : "/", (int)pl, path,
			     (int)qlen, query ? query : "");
	}
	if (m < 0 || (size_t)m >= sizeof(full)) {
		*why = "redirect location too long";
		return -1;
	}
	return url_parse(full, (size_t)m, out, why);
}

/* ---- amqp:// ---- */

/*
 * The AMQP URI (amqp://user:pass@host:port/vhost) is parsed here rather than
 * by amqp_parse_url(), whose sscanf() brings 12 KB of libc into static
 * builds. Components are percent-decoded; defaults are guest, guest,
 * localhost, 5672 and vhost "/". A trailing "/" with nothing after it also
 * names "/" (the URI spec would say "", which RabbitMQ never accepts).
 */
/* Where the authority of url ends and its userinfo's '@' is (or NULL). */
static const char *amqp_authority(const char *url, const char **end, const char **at)
{
	const char *p = strstr(url, "://");
	if (!p)
		return NULL;
	p += 3;
	*end = p + strcspn(p, "/?#");
	*at = NULL;
	for (const char *q = p; q < *end; q++)
		if (*q == '@')
			*at = q;
	return p;
}

static int amqp_host_port(const char *h, const char *end, struct amqp_url *u)
{
	const char *colon = NULL, *hend = end;
	if (h < end && *h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (!rb)
			return -1;
		if (url_pct_decode_strict(h + 1, (size_t)(rb - h - 1), u->host, sizeof(u->host)) < 0)
			return -1;
		if (rb + 1 < end && rb[1] != ':')
			return -1;
		colon = rb + 1 < end ? rb + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		hend = colon ? colon : end;
		if (url_pct_decode_strict(h, (size_t)(hend - h), u->host, sizeof(u->host)) < 0)
			return -1;
	}
	if (!u->host[0])
		strcpy(u->host, "localhost");
	u->port = 5672;
	if (colon) {
		const char *p = colon + 1;
		long v = 0;
		if (p == end)
			return -1;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9' || (v = v * 10 + (*p - '0')) > 65535)
				return -1;
		}
		if (v == 0)
			return -1;
		u->port = (unsigned)v;
	}
	return 0;
}

int url_parse_amqp(const char *url, struct amqp_url *u, char *err, size_t errlen)
{
	const char *end, *at;
	memset(u, 0, sizeof(*u));
	if (!strncasecmp(url, "amqps://", 8)) {
		snprintf(err, errlen, "amqps:// is not supported; use amqp://");
		return -1;
	}
	const char *a = amqp_authority(url, &end, &at);
	if (strncasecmp(url, "amqp://", 7) != 0 || !a)
		goto bad;
	strcpy(u->user, "guest");
	strcpy(u->pass, "guest");
	if (at) {
		const char *colon = memchr(a, ':', (size_t)(at - a));
		const char *uend = colon ? colon : at;
		if (url_pct_decode_strict(a, (size_t)(uend - a), u->user, sizeof(u->user)) < 0 ||
		    (colon && url_pct_decode_strict(colon + 1, (size_t)(at - colon - 1), u->pass,
					 sizeof(u->pass)) < 0))
			goto bad;
		a = at + 1;
	}
	if (amqp_host_port(a, end, u) < 0)
		goto bad;
	strcpy(u->vhost, "/");
	if (*end == '/') {
		const char *v = end + 1;
		size_t n = strcspn(v, "?#");
		if (memchr(v, '/', n) || (n && url_pct_decode_strict(v, n, u->vhost, sizeof(u->vhost)) < 0))
			goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "bad broker URL (want amqp://user:pass@host:port/vhost)");
	return -1;
}

void url_redact_amqp(const char *url, char *out, size_t outlen)
{
	const char *end, *at;
	const char *a = amqp_authority(url, &end, &at);
	const char *colon = a && at ? memchr(a, ':', (size_t)(at - a)) : NULL;
	if (!colon) {
		snprintf(out, outlen, "%s", url);
		return;
	}
	snprintf(out, outlen, "%.*s:***%s", (int)(colon - url), url, at);
}

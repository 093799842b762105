/*
 * fuzz_fetch - what the worker does with a server's bytes: the response
 * head (http_parse_response, httpmsg.c's grammar that fuzz_http's requests
 * share) parsed after every read over what arrived (1xx heads dropped, as
 * fetch.c does), the header values it then uses
 * (Content-Range, Content-Disposition, Retry-After, Location resolved
 * against the URL fetched), the file name made from them, and a chunked
 * body fed in arbitrary pieces. Also the --deny-private address check (net.c).
 *
 * Input: byte 0 drives the read splits (see fuzz.h), the rest is what the
 * server sent.
 *
 * Invariants checked besides memory safety:
 * - the verdict (head, or failure: bad or too large), the final status,
 *   the body framing and where the body starts do not depend on how the
 *   reads were split;
 * - exactly one body framing is chosen; spans point into the head; every
 *   field line passes the one field parser and fuzz_check_field (as in
 *   fuzz_http);
 * - a Content-Range accepted is coherent (first <= last < total);
 * - the file name from Content-Disposition or from the (redirected) URL
 *   never leaves the folder: not empty, no '/', '\\' or control byte, no
 *   leading '.', valid UTF-8, at most 200 bytes;
 * - an IPv4 address is private exactly when its IPv4-mapped and NAT64
 *   forms are (no way around --deny-private through IPv6 spellings);
 * - chunked bodies: as in fuzz_http.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "config.h"
#include "fetch.h"
#include "httpmsg.h"
#include "net.h"
#include "part.h"
#include "url.h"
#include "utf8.h"
#include "fuzz.h"

enum { V_MORE, V_HEAD, V_BAD, V_LARGE };

struct verdict {
	int v;
	int status, chunked, until_close;
	int64_t content_length;
	size_t body_at;          /* offset of the body in the input */
};

/* Reads data[0..len) as the worker does, in pieces chosen by s. */
static void read_head(const char *data, size_t len, struct fuzz_split *s,
		      struct verdict *out)
{
	char *buf = malloc(len + 1);
	FUZZ_ASSERT(buf);
	size_t have = 0, taken = 0, dropped = 0;
	memset(out, 0, sizeof(*out));
	out->v = V_MORE;
	while (taken < len && out->v == V_MORE) {
		size_t piece = fuzz_split_next(s, len - taken);
		memcpy(buf + have, data + taken, piece);
		have += piece;
		taken += piece;
		for (;;) {
			struct http_response h;
			const char *why = NULL;
			long hl = http_parse_response(buf, have, &h, &why);
			if (hl < 0) {
				FUZZ_ASSERT(why && *why);
				out->v = V_BAD;
				break;
			}
			if (hl == 0) {
				if (have >= FETCH_MAX_HEAD)
					out->v = V_LARGE;
				break;
			}
			FUZZ_ASSERT((size_t)hl <= have);
			if (hl > FETCH_MAX_HEAD) {
				out->v = V_LARGE;
				break;
			}
			FUZZ_ASSERT(h.status >= 100 && h.status <= 599);
			if (h.status >= 200 || h.status == 101) {
				out->v = V_HEAD;
				out->status = h.status;
				out->chunked = h.chunked;
				out->until_close = h.until_close;
				out->content_length = h.content_length;
				out->body_at = dropped + (size_t)hl;
				break;
			}
			memmove(buf, buf + hl, have - (size_t)hl);
			have -= (size_t)hl;
			dropped += (size_t)hl;
		}
	}
	free(buf);
}

static void check_safe_name(const char *name)
{
	size_t n = strlen(name);
	FUZZ_ASSERT(n > 0 && n <= 200);
	FUZZ_ASSERT(name[0] != '.');
	FUZZ_ASSERT(utf8_valid(name, n));
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		FUZZ_ASSERT(c >= 0x20 && c != 0x7f && c != '/' && c != '\\');
	}
	FUZZ_ASSERT(strcmp(name, ".") && strcmp(name, ".."));
}

/* Every field line of an accepted head is a valid field. */
static void check_fields(const char *buf, size_t hl)
{
	const char *p = memchr(buf, '\n', hl), *end = buf + hl;
	FUZZ_ASSERT(p);
	for (p++; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		FUZZ_ASSERT(nl);
		size_t n = (size_t)(nl - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		struct http_header f;
		const char *why = NULL;
		FUZZ_ASSERT(http_parse_field(p, n, &f, &why) == 0);
		fuzz_check_field(&f, buf, hl);
		p = nl + 1;
	}
}

/* The header values the engine uses, as it uses them. */
static void use_head(const char *buf, size_t hl, const struct http_response *h)
{
	const struct http_span *spans[] = { &h->location, &h->content_range,
		&h->disposition, &h->etag, &h->last_modified, &h->retry_after };
	for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++)
		if (spans[i]->p)
			FUZZ_ASSERT(fuzz_within(spans[i]->p, spans[i]->n, buf, hl));
	FUZZ_ASSERT(h->chunked + h->until_close + (h->content_length >= 0) == 1);
	check_fields(buf, hl);

	if (h->content_range.p) {
		int64_t first, last, total;
		if (http_content_range(h->content_range.p, h->content_range.n,
					      &first, &last, &total) == 0) {
			if (first >= 0)
				FUZZ_ASSERT(first <= last && (total < 0 || last < total));
			else
				FUZZ_ASSERT(first == -1 && last == -1 && total >= 0);
		}
	}
	char name[256], safe[256];
	if (h->disposition.p && http_disposition_filename(h->disposition.p,
			h->disposition.n, name, sizeof(name)) == 1) {
		FUZZ_ASSERT(strlen(name) < sizeof(name));
		part_safe_name(name, strlen(name), safe, sizeof(safe));
		check_safe_name(safe);
	}
	if (h->retry_after.p)
		FUZZ_ASSERT(http_retry_after_ms(h->retry_after.p, h->retry_after.n,
						 1700000000) >= -1);
	if (h->location.p) {
		struct url base, to;
		const char *why;
		static const char b[] = "http://u:p@example.com:8080/dir/file.bin?q=1";
		FUZZ_ASSERT(url_parse(b, sizeof(b) - 1, &base, &why) == 0);
		if (url_resolve(&base, h->location.p, h->location.n, &to, &why) == 0) {
			part_name_from_path(to.path, safe, sizeof(safe));
			check_safe_name(safe);
		}
	}
}

/* IPv4 a is private exactly when ::ffff:a and 64:ff9b::a are. */
static void check_private(const uint8_t *p, size_t n)
{
	if (n < 16)
		return;
	struct sockaddr_in v4 = { 0 };
	struct sockaddr_in6 v6 = { 0 };
	v4.sin_family = AF_INET;
	memcpy(&v4.sin_addr, p, 4);
	v6.sin6_family = AF_INET6;
	memcpy(&v6.sin6_addr, p, 16);
	int raw = net_addr_is_private((struct sockaddr *)&v6);
	FUZZ_ASSERT(raw == 0 || raw == 1);
	int priv = net_addr_is_private((struct sockaddr *)&v4);
	memset(&v6.sin6_addr, 0, 16);
	v6.sin6_addr.s6_addr[10] = 0xff;
	v6.sin6_addr.s6_addr[11] = 0xff;
	memcpy(v6.sin6_addr.s6_addr + 12, p, 4);
	FUZZ_ASSERT(net_addr_is_private((struct sockaddr *)&v6) == priv);
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
	memcpy(v6.sin6_addr.s6_addr, nat64, 12);
	FUZZ_ASSERT(net_addr_is_private((struct sockaddr *)&v6) == priv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t seed = data[0];
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	struct fuzz_split whole, pieces;
	struct verdict a, b;
	fuzz_split_init(&whole, 0);
	fuzz_split_init(&pieces, seed);
	read_head(in, len, &whole, &a);
	read_head(in, len, &pieces, &b);
	/* a head over the limit may be found "too large" before a bad line
	 * in it is whole: both are permanent failures */
	FUZZ_ASSERT(a.v == b.v || ((a.v == V_BAD || a.v == V_LARGE) &&
				   (b.v == V_BAD || b.v == V_LARGE)));
	if (a.v == V_HEAD) {
		FUZZ_ASSERT(a.status == b.status && a.chunked == b.chunked &&
			    a.until_close == b.until_close &&
			    a.content_length == b.content_length &&
			    a.body_at == b.body_at);
	}

	/* the first head as it stands, with what the engine reads from it */
	struct http_response h;
	const char *why = NULL;
	long hl = http_parse_response(in, len, &h, &why);
	if (hl > 0) {
		char *copy = malloc((size_t)hl);
		FUZZ_ASSERT(copy);
		memcpy(copy, in, (size_t)hl);
		FUZZ_ASSERT(http_parse_response(copy, (size_t)hl, &h, &why) == hl);
		use_head(copy, (size_t)hl, &h);
		free(copy);
	}
	if (a.v == V_HEAD && a.chunked)
		fuzz_check_chunked(in + a.body_at, len - a.body_at, seed);
	check_private(data + 1, len);
	return 0;
}

/*
 * fuzz_url - the URL parser as the tasker (a task's "arg") and the worker
 * (the URL to fetch, then every Location header against it) use it:
 * url_parse, url_resolve, url_format, url_host_header, url_basic_auth,
 * url_pct_decode.
 *
 * Input: "BASE\nREF" (without a newline, the input is both).
 *
 * Invariants checked besides memory safety:
 * - an accepted URL has a host, a port 1..65535 and a path starting with
 *   '/' (or '?') of visible ASCII;
 * - formatting it and parsing the text again gives the same URL (what the
 *   worker logs and reports is what it fetched);
 * - a resolved reference is itself a URL url_parse accepts, round trip
 *   included; resolving an absolute URL gives that URL;
 * - a URL is its own origin; the Host header and Basic credentials fit
 *   the buffers the worker gives and say what they must;
 * - percent-decoding never grows the text.
 */
#include <string.h>

#include "url.h"
#include "fuzz.h"

static void check_url(const struct url *u)
{
	size_t hl = strnlen(u->host, sizeof(u->host));
	FUZZ_ASSERT(hl > 0 && hl < sizeof(u->host));
	FUZZ_ASSERT(strnlen(u->userinfo, sizeof(u->userinfo)) < sizeof(u->userinfo));
	FUZZ_ASSERT(u->port >= 1 && u->port <= 65535);
	FUZZ_ASSERT(u->path[0] == '/' || u->path[0] == '?');
	for (const char *p = u->path; *p; p++)
		FUZZ_ASSERT(*p > 0x20 && *p < 0x7f && *p != '#');
	for (const char *p = u->host; *p; p++)
		FUZZ_ASSERT(*p > 0x20 && *p < 0x7f && *p != '/' && *p != '@');
	FUZZ_ASSERT(url_same_origin(u, u) == 1);
}

static int same_url(const struct url *a, const struct url *b)
{
	return a->https == b->https && a->ipv6 == b->ipv6 && a->port == b->port &&
	       !strcmp(a->userinfo, b->userinfo) && !strcmp(a->host, b->host) &&
	       !strcmp(a->path, b->path);
}

/* Formats u, parses the text, expects u back. */
static void round_trip(const struct url *u)
{
	char text[TASK_MAX_URL + 600];
	struct url back;
	const char *why = NULL;
	int n = url_format(u, 1, text, sizeof(text));
	FUZZ_ASSERT(n > 0 && (size_t)n == strlen(text));
	if (n > TASK_MAX_URL)
		return; /* resolution may lengthen a URL past what a task may hold */
	int rc = url_parse(text, (size_t)n, &back, &why);
	if (rc != 0)
		fprintf(stderr, "formatted \"%s\" refused: %s\n", text, why);
	FUZZ_ASSERT(rc == 0);
	if (!same_url(u, &back))
		fprintf(stderr, "formatted \"%s\" parses differently (host %s/%s, path %s/%s)\n",
			text, u->host, back.host, u->path, back.path);
	FUZZ_ASSERT(same_url(u, &back));
	char small[16];
	FUZZ_ASSERT(url_format(u, 0, small, sizeof(small)) == -1 ? small[0] == '\0' : 1);
}

static void use_url(const struct url *u)
{
	char host[300], auth[600];
	int n = url_host_header(u, host, sizeof(host));
	FUZZ_ASSERT(n >= 0);
	FUZZ_ASSERT(strstr(host, u->host) != NULL);
	n = url_basic_auth(u, auth, sizeof(auth));
	FUZZ_ASSERT(n >= -1);
	if (n > 0)
		FUZZ_ASSERT((size_t)n == strlen(auth) && !strncmp(auth, "Basic ", 6));
	if (n == 0)
		FUZZ_ASSERT(u->userinfo[0] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *nl = memchr(s, '\n', size);
	const char *base = s, *ref = s;
	size_t blen = size, rlen = size;
	if (nl) {
		blen = (size_t)(nl - s);
		ref = nl + 1;
		rlen = size - blen - 1;
	}
	struct url b, r, out;
	const char *why = NULL;

	char *dec = malloc(size + 1);
	FUZZ_ASSERT(dec);
	int dn = url_pct_decode(s, size, dec, size + 1);
	FUZZ_ASSERT(dn >= 0 && (size_t)dn <= size);
	free(dec);

	int rb = url_parse(base, blen, &b, &why);
	if (rb != 0) {
		FUZZ_ASSERT(why && *why);
		return 0;
	}
	check_url(&b);
	round_trip(&b);
	use_url(&b);

	why = NULL;
	if (url_resolve(&b, ref, rlen, &out, &why) != 0) {
		FUZZ_ASSERT(why && *why);
		return 0;
	}
	check_url(&out);
	round_trip(&out);
	use_url(&out);
	/* an absolute reference resolves to itself */
	if (url_parse(ref, rlen, &r, &why) == 0 && !memchr(ref, '#', rlen)) {
		struct url r2 = r;
		FUZZ_ASSERT(out.https == r2.https && out.port == r2.port &&
			    !strcmp(out.host, r2.host));
	}
	return 0;
}

/*
 * fuzz_http - what the tasker and the middleman do with a client's bytes
 * before a handler sees them: http_parse_request (httpmsg.c, the grammar
 * the client's fuzz_fetch shares) as the server calls it (on every read,
 * over what has arrived so far; the head is parsed once and its pointers
 * moved to a copy), the helpers handlers call on the parsed request (headers, query
 * parameters, the bearer token, the WebSocket upgrade check), and a
 * chunked request body fed in arbitrary pieces.
 *
 * Input: byte 0 drives the read splits (see fuzz.h), the rest is what the
 * client sent.
 *
 * Invariants checked besides memory safety:
 * - a complete head is at most the input and HTTP_MAX_HEAD, every pointer
 *   of the request lies inside it, every field passes fuzz_check_field
 *   (no smuggling through the parser);
 * - parsing the head alone gives the same result;
 * - growing input never turns a verdict around: once a prefix is complete
 *   or bad, the whole input says the same; once too large, it is refused;
 * - the chunked body decodes to the same bytes, consumed count and verdict
 *   whether it arrives at once or in pieces.
 */
#include <string.h>

#include "http.h"
#include "ws.h"
#include "fuzz.h"

static void check_request(const char *buf, size_t head, const struct http_request *r)
{
	FUZZ_ASSERT(head <= HTTP_MAX_HEAD);
	FUZZ_ASSERT(r->method_len > 0 && fuzz_within(r->method, r->method_len, buf, head));
	FUZZ_ASSERT(r->target_len > 0 && fuzz_within(r->target, r->target_len, buf, head));
	FUZZ_ASSERT(r->minor >= 0 && r->minor <= 9);
	FUZZ_ASSERT(r->path_len > 0);
	FUZZ_ASSERT(!r->query || fuzz_within(r->query, r->query_len, buf, head));
	FUZZ_ASSERT(r->nheaders <= HTTP_MAX_HEADERS);
	for (size_t i = 0; i < r->nheaders; i++)
		fuzz_check_field(&r->headers[i], buf, head);
}

/* What handlers do with a request: nothing of it may misbehave. */
static void use_request(const struct http_request *r)
{
	size_t n;
	char small[8], big[256], accept[WS_ACCEPT_LEN + 1];
	const char *v = http_header(r, "Transfer-Encoding", &n);
	(void)v;
	static const char *keys[] = { "since", "task", "token", "" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int rc = http_query_param(r, keys[i], small, sizeof(small));
		FUZZ_ASSERT(rc >= -1 && rc <= 1);
		if (rc == 1)
			FUZZ_ASSERT(strlen(small) < sizeof(small));
		rc = http_query_param(r, keys[i], big, sizeof(big));
		if (rc == 1)
			FUZZ_ASSERT(strlen(big) < sizeof(big));
	}
	int ok = http_bearer_ok(r, "s3cret-token");
	FUZZ_ASSERT(ok == 0 || ok == 1);
	FUZZ_ASSERT(http_bearer_ok(r, NULL) == 1);
	int up = ws_check_upgrade(r, accept);
	FUZZ_ASSERT(up == 0 || up == 400 || up == 426);
	if (up == 0)
		FUZZ_ASSERT(strlen(accept) == WS_ACCEPT_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t seed = data[0];
	const char *buf = (const char *)data + 1;
	size_t len = size - 1;
	struct http_request req;

	/* the server parses after every read, over all that arrived */
	struct fuzz_split split;
	fuzz_split_init(&split, seed);
	const char *why = NULL;
	long full = http_parse_request(buf, len, &req, &why);
	FUZZ_ASSERT(full >= 0 || (why && *why));
	size_t have = 0;
	while (have < len) {
		have += fuzz_split_next(&split, len - have);
		if (have == len)
			break;
		long rc = http_parse_request(buf, have, &req, NULL);
		if (rc == HTTP_PARSE_MORE)
			continue;
		/* a verdict reached early must hold: a complete head stays the
		 * same head, a bad line stays bad, and a head over the limit
		 * stays an error - 431, or 400 when the line cut by the limit
		 * turns out bad once whole (both close the connection) */
		if (rc > 0)
			FUZZ_ASSERT(full == rc);
		else if (rc == HTTP_PARSE_BAD)
			FUZZ_ASSERT(full == HTTP_PARSE_BAD);
		else
			FUZZ_ASSERT(full < 0);
		break;
	}
	FUZZ_ASSERT(full >= HTTP_PARSE_TOO_MANY);
	if (full <= 0)
		return 0;
	FUZZ_ASSERT((size_t)full <= len);

	/* the head alone parses the same */
	char *head = malloc((size_t)full);
	FUZZ_ASSERT(head);
	memcpy(head, buf, (size_t)full);
	FUZZ_ASSERT(http_parse_request(head, (size_t)full, &req, NULL) == full);
	check_request(head, (size_t)full, &req);
	use_request(&req);
	free(head);

	/* a chunked body after it, whatever the headers say */
	fuzz_check_chunked(buf + full, len - (size_t)full, seed);
	return 0;
}

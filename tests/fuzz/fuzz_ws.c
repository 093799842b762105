/*
 * fuzz_ws - the WebSocket frame decoder as the middleman runs it over a
 * client's bytes (ws_decode, with incremental UTF-8 validation of text),
 * fed in arbitrary pieces, and the encoder that writes frames back.
 *
 * Input: byte 0 drives the splits (see fuzz.h; bit 2 also chooses server
 * mode, where frames must be masked, or client mode), the rest is the
 * byte stream.
 *
 * The decoder's output is written down as a transcript: each whole
 * message (opcode and its bytes, pieces joined), each ping, pong and
 * close, and the error code that ends it. Invariants besides memory
 * safety:
 * - the transcript does not depend on how the input was split;
 * - text messages are valid UTF-8, no message is over the limit, control
 *   payloads are at most 125 bytes, a close carries a valid code (or 1005);
 * - every call makes progress, data points into the input;
 * - frames re-encoded from the transcript (ws_frame_header, ws_mask)
 *   decode to the same transcript;
 * - ws_close_payload keeps within 125 bytes and valid UTF-8.
 */
#include <string.h>

#include "buf.h"
#include "utf8.h"
#include "ws.h"
#include "fuzz.h"

enum { MAX_MESSAGE = 4096 };

/* buf_head of a buffer that may never have been filled (data NULL). */
static const char *head(const buf_t *b) { return b->data ? buf_head(b) : ""; }

struct transcript {
	buf_t out;       /* the record */
	buf_t msg;       /* the message being assembled */
	int opcode;      /* its opcode */
};

static void record(struct transcript *t, char kind, unsigned code,
		   const void *p, size_t n)
{
	uint32_t len = (uint32_t)n;
	FUZZ_ASSERT(buf_append(&t->out, &kind, 1) == 0);
	FUZZ_ASSERT(buf_append(&t->out, &code, sizeof(code)) == 0);
	FUZZ_ASSERT(buf_append(&t->out, &len, sizeof(len)) == 0);
	FUZZ_ASSERT(buf_append(&t->out, p, n) == 0);
}

/* Takes one event into t; 1 when decoding is over (close or error). */
static int take(struct transcript *t, const struct ws_event *ev,
		const uint8_t *in, size_t n)
{
	switch (ev->type) {
	case WS_EV_NONE:
		return 0;
	case WS_EV_DATA:
		FUZZ_ASSERT(ev->opcode == WS_OP_TEXT || ev->opcode == WS_OP_BINARY);
		FUZZ_ASSERT(ev->len == 0 || fuzz_within(ev->data, ev->len, in, n));
		if (buf_used(&t->msg) == 0 && t->opcode == 0)
			t->opcode = ev->opcode;
		FUZZ_ASSERT(t->opcode == ev->opcode);
		FUZZ_ASSERT(buf_append(&t->msg, ev->data, ev->len) == 0);
		FUZZ_ASSERT(buf_used(&t->msg) <= MAX_MESSAGE);
		if (ev->fin) {
			if (t->opcode == WS_OP_TEXT)
				FUZZ_ASSERT(utf8_valid(head(&t->msg), buf_used(&t->msg)));
			record(t, t->opcode == WS_OP_TEXT ? 'T' : 'B', 0,
			       head(&t->msg), buf_used(&t->msg));
			buf_reset(&t->msg);
			t->opcode = 0;
		}
		return 0;
	case WS_EV_PING:
	case WS_EV_PONG:
		FUZZ_ASSERT(ev->len <= WS_MAX_CONTROL);
		record(t, ev->type == WS_EV_PING ? 'P' : 'O', 0, ev->data, ev->len);
		return 0;
	case WS_EV_CLOSE:
		FUZZ_ASSERT(ev->len <= WS_MAX_CONTROL);
		FUZZ_ASSERT(ev->code == WS_CLOSE_NO_STATUS || ws_close_code_valid(ev->code));
		record(t, 'C', ev->code, ev->data, ev->len);
		return 1;
	case WS_EV_ERROR:
		FUZZ_ASSERT(ev->code == WS_CLOSE_PROTOCOL || ev->code == WS_CLOSE_BAD_DATA ||
			    ev->code == WS_CLOSE_TOO_BIG);
		FUZZ_ASSERT(ev->reason && *ev->reason);
		record(t, 'E', ev->code, NULL, 0);
		return 1;
	}
	FUZZ_ASSERT(0);
	return 1;
}

/* Decodes a copy of in[0..n) split as s says into t. */
static void decode(const uint8_t *data, size_t n, int server,
		   struct fuzz_split *s, struct transcript *t)
{
	uint8_t *in = malloc(n ? n : 1);
	FUZZ_ASSERT(in);
	memcpy(in, data, n);
	struct ws_decoder d;
	ws_decoder_init(&d, MAX_MESSAGE, server);
	memset(t, 0, sizeof(*t));
	size_t pos = 0;
	int over = 0;
	while (pos < n && !over) {
		size_t piece = fuzz_split_next(s, n - pos), off = 0;
		int idle = 0;
		while (off < piece && !over) {
			struct ws_event ev;
			size_t used = ws_decode(&d, in + pos + off, piece - off, &ev);
			FUZZ_ASSERT(used <= piece - off);
			if (ev.type == WS_EV_NONE)
				FUZZ_ASSERT(used == piece - off);
			/* events without input (empty frames) cannot go on forever */
			idle = used ? 0 : idle + 1;
			FUZZ_ASSERT(idle < 4);
			over = take(t, &ev, in + pos + off, piece - off);
			off += used;
		}
		pos += piece;
	}
	buf_free(&t->msg);
	free(in);
}

/* Writes every message, ping and pong of a transcript back as frames. */
static void reencode(const buf_t *rec, int server, buf_t *out)
{
	static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	const char *p = head(rec), *end = p + buf_used(rec);
	while (p < end) {
		char kind = *p;
		uint32_t len;
		memcpy(&len, p + 1 + sizeof(unsigned), sizeof(len));
		const char *body = p + 1 + sizeof(unsigned) + sizeof(len);
		p = body + len;
		int op = kind == 'T' ? WS_OP_TEXT : kind == 'B' ? WS_OP_BINARY :
			 kind == 'P' ? WS_OP_PING : kind == 'O' ? WS_OP_PONG : -1;
		if (op < 0)
			break;
		uint8_t hdr[WS_MAX_HEADER];
		size_t hl = ws_frame_header(hdr, op, 1, len, server ? mask : NULL);
		FUZZ_ASSERT(hl >= 2 && hl <= WS_MAX_HEADER);
		FUZZ_ASSERT(buf_append(out, hdr, hl) == 0);
		size_t at = buf_used(out);
		FUZZ_ASSERT(buf_append(out, body, len) == 0);
		if (server)
			ws_mask((uint8_t *)buf_head(out) + at, len, mask, 0);
	}
}

/* The transcript without its final close or error record. */
static size_t messages_len(const buf_t *rec)
{
	const char *p = head(rec), *end = p + buf_used(rec);
	while (p < end && *p != 'C' && *p != 'E') {
		uint32_t len;
		memcpy(&len, p + 1 + sizeof(unsigned), sizeof(len));
		p += 1 + sizeof(unsigned) + sizeof(len) + len;
	}
	return (size_t)(p - head(rec));
}

static void check_close_payload(const uint8_t *data, size_t n)
{
	char reason[200];
	size_t k = n < sizeof(reason) - 1 ? n : sizeof(reason) - 1;
	memcpy(reason, data, k);
	reason[k] = '\0';
	if (!utf8_valid(reason, strlen(reason)))
		return;
	uint8_t out[WS_MAX_CONTROL];
	size_t len = ws_close_payload(out, WS_CLOSE_PROTOCOL, reason);
	FUZZ_ASSERT(len >= 2 && len <= WS_MAX_CONTROL);
	FUZZ_ASSERT(out[0] == WS_CLOSE_PROTOCOL >> 8 && out[1] == (WS_CLOSE_PROTOCOL & 0xff));
	FUZZ_ASSERT(utf8_valid(out + 2, len - 2));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t seed = data[0];
	int server = !(seed & 4);
	struct fuzz_split whole, pieces;
	struct transcript a, b, c;
	fuzz_split_init(&whole, 0);
	fuzz_split_init(&pieces, seed);
	decode(data + 1, size - 1, server, &whole, &a);
	decode(data + 1, size - 1, server, &pieces, &b);
	FUZZ_ASSERT(buf_used(&a.out) == buf_used(&b.out));
	FUZZ_ASSERT(memcmp(head(&a.out), head(&b.out), buf_used(&a.out)) == 0);

	buf_t frames = BUF_INIT;
	reencode(&a.out, server, &frames);
	fuzz_split_init(&whole, 0);
	decode((const uint8_t *)head(&frames), buf_used(&frames), server, &whole, &c);
	size_t m = messages_len(&a.out);
	FUZZ_ASSERT(buf_used(&c.out) == m);
	FUZZ_ASSERT(m == 0 || memcmp(head(&a.out), head(&c.out), m) == 0);

	check_close_payload(data + 1, size - 1);
	buf_free(&frames);
	buf_free(&a.out);
	buf_free(&b.out);
	buf_free(&c.out);
	return 0;
}

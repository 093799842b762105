/* test_ws.c - WebSocket handshake, frame decoder and encoder. */
#include "check.h"
#include "ws.h"

#include <stdlib.h>

/* ---- helpers ---- */

static const uint8_t MASK[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* Appends a client (masked) frame to out; returns the new length. */
static size_t frame(uint8_t *out, size_t at, int b0, const void *payload,
		    size_t len)
{
	uint8_t hdr[WS_MAX_HEADER];
	size_t h = ws_frame_header(hdr, b0 & 0x0F, b0 & 0x80, len, MASK);
	hdr[0] = (uint8_t)b0; /* keep RSV bits when a test sets them */
	memcpy(out + at, hdr, h);
	memcpy(out + at + h, payload, len);
	ws_mask(out + at + h, len, MASK, 0);
	return at + h + len;
}

/* What decoding a whole input produced. */
struct result {
	uint8_t msg[4096];   /* data of the last completed message */
	size_t msg_len;
	int msgs, msg_opcode;
	int pings, pongs, closes;
	uint8_t ctrl[WS_MAX_CONTROL];
	size_t ctrl_len;
	unsigned close_code;
	unsigned error;      /* 0, or the code of WS_EV_ERROR */
	size_t consumed;
};

/* Feeds in, step bytes at a time (0: all at once), collecting events. */
static void decode_all(struct ws_decoder *d, uint8_t *in, size_t n,
		       size_t step, struct result *r)
{
	size_t cur = 0;
	memset(r, 0, sizeof(*r));
	size_t pos = 0;
	while (pos < n) {
		size_t avail = step ? (n - pos < step ? n - pos : step) : n - pos;
		size_t off = 0;
		while (off < avail) {
			struct ws_event ev;
			size_t used = ws_decode(d, in + pos + off, avail - off, &ev);
			off += used;
			switch (ev.type) {
			case WS_EV_NONE:
				break;
			case WS_EV_DATA:
				if (cur + ev.len <= sizeof(r->msg)) {
					memcpy(r->msg + cur, ev.data, ev.len);
					cur += ev.len;
				}
				if (ev.fin) {
					r->msgs++;
					r->msg_len = cur;
					r->msg_opcode = ev.opcode;
					cur = 0;
				}
				break;
			case WS_EV_PING:
			case WS_EV_PONG:
				if (ev.type == WS_EV_PING)
					r->pings++;
				else
					r->pongs++;
				memcpy(r->ctrl, ev.data, ev.len);
				r->ctrl_len = ev.len;
				break;
			case WS_EV_CLOSE:
				r->closes++;
				r->close_code = ev.code;
				memcpy(r->ctrl, ev.data, ev.len);
				r->ctrl_len = ev.len;
				break;
			case WS_EV_ERROR:
				r->error = ev.code;
				r->consumed = pos + off;
				return;
			}
		}
		pos += avail;
	}
	r->consumed = pos;
}

/* Decodes in on a fresh server decoder, whole and byte by byte; both
 * must agree. Returns the whole-input result. */
static struct result *server_decode(uint8_t *in, size_t n, uint64_t max)
{
	static struct result whole, bytes;
	uint8_t *copy = malloc(n ? n : 1);
	memcpy(copy, in, n);
	struct ws_decoder d;
	ws_decoder_init(&d, max, 1);
	decode_all(&d, in, n, 0, &whole);
	ws_decoder_init(&d, max, 1);
	decode_all(&d, copy, n, 1, &bytes);
	free(copy);
	CHECK_INT(bytes.error, whole.error);
	CHECK_INT(bytes.msgs, whole.msgs);
	CHECK_INT(bytes.msg_len, whole.msg_len);
	CHECK(memcmp(bytes.msg, whole.msg, whole.msg_len) == 0);
	CHECK_INT(bytes.pings, whole.pings);
	CHECK_INT(bytes.closes, whole.closes);
	return &whole;
}

/* ---- handshake ---- */

static void test_accept_key(void)
{
	char acc[WS_ACCEPT_LEN + 1];
	/* RFC 6455 section 1.3 */
	const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
	CHECK_INT(ws_accept_key(key, strlen(key), acc), 0);
	CHECK_STR(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CHECK_INT(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", 23, acc), -1);
	CHECK_INT(ws_accept_key("dGhlIHNhbXBsZSBub25j!Q==", 24, acc), -1);
	/* 24 characters of base64, but 17 bytes would not fit: 18 decoded */
	CHECK_INT(ws_accept_key("AAAAAAAAAAAAAAAAAAAAAAAA", 24, acc), -1);
	CHECK_INT(ws_accept_key("", 0, acc), -1);
}

static void add_header(struct http_request *r, const char *name,
		       const char *value)
{
	struct http_header *h = &r->headers[r->nheaders++];
	h->name = name;
	h->name_len = strlen(name);
	h->value = value;
	h->value_len = strlen(value);
}

static void upgrade_request(struct http_request *r, const char *upgrade,
			    const char *connection, const char *key,
			    const char *version)
{
	memset(r, 0, sizeof(*r));
	r->method = "GET";
	r->method_len = 3;
	r->minor = 1;
	add_header(r, "Host", "localhost");
	if (upgrade)
		add_header(r, "upgrade", upgrade);
	if (connection)
		add_header(r, "CONNECTION", connection);
	if (key)
		add_header(r, "Sec-WebSocket-Key", key);
	if (version)
		add_header(r, "Sec-WebSocket-Version", version);
}

static void test_check_upgrade(void)
{
	struct http_request r;
	char acc[WS_ACCEPT_LEN + 1];
	const char *key = "dGhlIHNhbXBsZSBub25jZQ==";

	upgrade_request(&r, "websocket", "Upgrade", key, "13");
	CHECK_INT(ws_check_upgrade(&r, acc), 0);
	CHECK_STR(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	/* Firefox: "Connection: keep-alive, Upgrade"; case-insensitive */
	upgrade_request(&r, "WebSocket", "keep-alive, Upgrade", key, " 13 ");
	CHECK_INT(ws_check_upgrade(&r, acc), 0);

	upgrade_request(&r, "websocket", "Upgrade", key, "8");
	CHECK_INT(ws_check_upgrade(&r, acc), 426);
	upgrade_request(&r, "websocket", "Upgrade", key, "13, 8");
	CHECK_INT(ws_check_upgrade(&r, acc), 426);
	upgrade_request(&r, "websocket", "Upgrade", key, NULL);
	CHECK_INT(ws_check_upgrade(&r, acc), 400);
	upgrade_request(&r, NULL, "Upgrade", key, "13");
	CHECK_INT(ws_check_upgrade(&r, acc), 400);
	upgrade_request(&r, "h2c", "Upgrade", key, "13");
	CHECK_INT(ws_check_upgrade(&r, acc), 400);
	upgrade_request(&r, "websocket", "keep-alive", key, "13");
	CHECK_INT(ws_check_upgrade(&r, acc), 400);
	upgrade_request(&r, "websocket", "Upgrade-x", key, "13");
	CHECK_INT(ws_check_upgrade(&r, acc), 400);
	upgrade_request(&r, "websocket", "Upgrade", NULL, "13");
	CHECK_INT(ws_check_upgrade(&r, acc), 400);
	upgrade_request(&r, "websocket", "Upgrade", "short", "13");
	CHECK_INT(ws_check_upgrade(&r, acc), 400);
	upgrade_request(&r, "websocket", "Upgrade", key, "13");
	r.method = "POST";
	r.method_len = 4;
	CHECK_INT(ws_check_upgrade(&r, acc), 400);
	upgrade_request(&r, "websocket", "Upgrade", key, "13");
	r.minor = 0;
	CHECK_INT(ws_check_upgrade(&r, acc), 400);
}

/* ---- decoding ---- */

static void test_rfc_examples(void)
{
	/* RFC 6455 section 5.7: a single-frame masked text message "Hello" */
	uint8_t masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f,
			     0x4d, 0x51, 0x58 };
	struct result *r = server_decode(masked, sizeof(masked), 0);
	CHECK_INT(r->error, 0);
	CHECK_INT(r->msgs, 1);
	CHECK_INT(r->msg_opcode, WS_OP_TEXT);
	CHECK_INT(r->msg_len, 5);
	CHECK(memcmp(r->msg, "Hello", 5) == 0);

	/* the unmasked version is a protocol error from a client ... */
	uint8_t plain[] = { 0x81, 0x05, 'H', 'e', 'l', 'l', 'o' };
	r = server_decode(plain, sizeof(plain), 0);
	CHECK_INT(r->error, WS_CLOSE_PROTOCOL);
	CHECK_INT(r->consumed, 2); /* fails before the payload */

	/* ... and what a client expects from a server */
	struct ws_decoder d;
	struct result cr;
	ws_decoder_init(&d, 0, 0);
	decode_all(&d, plain, sizeof(plain), 0, &cr);
	CHECK_INT(cr.error, 0);
	CHECK_INT(cr.msgs, 1);
	ws_decoder_init(&d, 0, 0);
	uint8_t m2[sizeof(masked)];
	memcpy(m2, masked, sizeof(m2));
	decode_all(&d, m2, sizeof(m2), 0, &cr);
	CHECK_INT(cr.error, WS_CLOSE_PROTOCOL);
}

static void test_fragments_and_control(void)
{
	uint8_t in[512];
	size_t n = 0;
	n = frame(in, n, WS_OP_TEXT, "Hel", 3);            /* start */
	n = frame(in, n, 0x80 | WS_OP_PING, "p1", 2);      /* interleaved */
	n = frame(in, n, WS_OP_CONT, "", 0);               /* empty middle */
	n = frame(in, n, 0x80 | WS_OP_PONG, "", 0);
	n = frame(in, n, 0x80 | WS_OP_CONT, "lo", 2);      /* end */
	n = frame(in, n, 0x80 | WS_OP_BINARY, "\x00\xff", 2);
	n = frame(in, n, 0x80 | WS_OP_TEXT, "", 0);        /* empty message */
	struct result *r = server_decode(in, n, 0);
	CHECK_INT(r->error, 0);
	CHECK_INT(r->msgs, 3);
	CHECK_INT(r->pings, 1);
	CHECK_INT(r->pongs, 1);
	CHECK_INT(r->msg_len, 0);
	CHECK_INT(r->msg_opcode, WS_OP_TEXT);

	/* the first message, alone, with its ping payload */
	n = frame(in, 0, WS_OP_TEXT, "Hel", 3);
	n = frame(in, n, 0x80 | WS_OP_PING, "p1", 2);
	n = frame(in, n, 0x80 | WS_OP_CONT, "lo", 2);
	r = server_decode(in, n, 0);
	CHECK_INT(r->msgs, 1);
	CHECK_INT(r->msg_len, 5);
	CHECK(memcmp(r->msg, "Hello", 5) == 0);
	CHECK_INT(r->ctrl_len, 2);
	CHECK(memcmp(r->ctrl, "p1", 2) == 0);

	/* a 125-byte ping is the largest allowed */
	uint8_t big[WS_MAX_CONTROL];
	memset(big, 'x', sizeof(big));
	n = frame(in, 0, 0x80 | WS_OP_PING, big, sizeof(big));
	r = server_decode(in, n, 0);
	CHECK_INT(r->error, 0);
	CHECK_INT(r->pings, 1);
	CHECK_INT(r->ctrl_len, 125);
}

static void test_lengths(void)
{
	/* 16-bit and 64-bit lengths, through the encoder and both decoders */
	static uint8_t payload[70000], in[70100];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = 'a' + i % 26;
	size_t sizes[] = { 0, 125, 126, 65535, 65536, 70000 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i];
		size_t n = frame(in, 0, 0x80 | WS_OP_BINARY, payload, len);
		CHECK_INT(n, len + 6 + (len >= 126 ? 2 : 0) + (len > 65535 ? 6 : 0));
		struct ws_decoder d;
		ws_decoder_init(&d, 0, 1);
		size_t pos = 0, got = 0, msgs = 0;
		int ok = 1;
		while (pos < n) {
			struct ws_event ev;
			pos += ws_decode(&d, in + pos, n - pos, &ev);
			if (ev.type == WS_EV_DATA) {
				ok &= memcmp(ev.data, payload + got, ev.len) == 0;
				got += ev.len;
				msgs += ev.fin;
			}
		}
		CHECK(ok);
		CHECK_INT(got, len);
		CHECK_INT(msgs, 1);

		/* server frame: unmasked header, decoded as a client */
		uint8_t hdr[WS_MAX_HEADER];
		size_t h = ws_frame_header(hdr, WS_OP_TEXT, 1, len, NULL);
		CHECK_INT(h, 2 + (len >= 126 ? 2 : 0) + (len > 65535 ? 6 : 0));
		memcpy(in, hdr, h);
		memcpy(in + h, payload, len);
		ws_decoder_init(&d, 0, 0);
		struct result r;
		decode_all(&d, in, h + len, 7, &r);
		CHECK_INT(r.error, 0);
		CHECK_INT(r.msgs, 1);
	}
}

/* Every protocol error the server must catch, and the code it closes with. */
static void test_errors(void)
{
	uint8_t in[4096];
	size_t n;
	struct result *r;
	uint8_t p126[126];
	memset(p126, 'x', sizeof(p126));

	/* reserved bits (each of RSV1..3) */
	for (int rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
		n = frame(in, 0, 0x80 | rsv | WS_OP_TEXT, "a", 1);
		r = server_decode(in, n, 0);
		CHECK_INT(r->error, WS_CLOSE_PROTOCOL);
		CHECK_INT(r->consumed, 1);
	}
	/* reserved opcodes: 3..7 and 11..15 */
	for (int op = 3; op <= 15; op++) {
		if (op >= 8 && op <= 10)
			continue;
		n = frame(in, 0, 0x80 | op, "", 0);
		r = server_decode(in, n, 0);
		CHECK_INT(r->error, WS_CLOSE_PROTOCOL);
	}
	/* fragmented ping */
	n = frame(in, 0, WS_OP_PING, "a", 1);
	CHECK_INT(server_decode(in, n, 0)->error, WS_CLOSE_PROTOCOL);
	/* 126-byte ping (and close, pong) */
	n = frame(in, 0, 0x80 | WS_OP_PING, p126, 126);
	CHECK_INT(server_decode(in, n, 0)->error, WS_CLOSE_PROTOCOL);
	n = frame(in, 0, 0x80 | WS_OP_PONG, p126, 126);
	CHECK_INT(server_decode(in, n, 0)->error, WS_CLOSE_PROTOCOL);
	/* continuation without a start */
	n = frame(in, 0, 0x80 | WS_OP_CONT, "a", 1);
	CHECK_INT(server_decode(in, n, 0)->error, WS_CLOSE_PROTOCOL);
	/* new message while one is fragmented */
	n = frame(in, 0, WS_OP_TEXT, "a", 1);
	n = frame(in, n, 0x80 | WS_OP_BINARY, "b", 1);
	CHECK_INT(server_decode(in, n, 0)->error, WS_CLOSE_PROTOCOL);
	n = frame(in, 0, WS_OP_TEXT, "a", 1);
	n = frame(in, n, WS_OP_TEXT, "b", 1);
	CHECK_INT(server_decode(in, n, 0)->error, WS_CLOSE_PROTOCOL);
	/* 64-bit length with the top bit set */
	uint8_t huge[] = { 0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4 };
	CHECK_INT(server_decode(huge, sizeof(huge), 0)->error, WS_CLOSE_PROTOCOL);

	/* after an error the decoder stays dead */
	struct ws_decoder d;
	struct ws_event ev;
	n = frame(in, 0, 0x80 | 0x3, "", 0);
	ws_decoder_init(&d, 0, 1);
	ws_decode(&d, in, n, &ev);
	CHECK_INT(ev.type, WS_EV_ERROR);
	n = frame(in, 0, 0x80 | WS_OP_TEXT, "ok", 2);
	CHECK_INT(ws_decode(&d, in, n, &ev), 0);
	CHECK_INT(ev.type, WS_EV_ERROR);
	CHECK_INT(ev.code, WS_CLOSE_PROTOCOL);
}

static void test_utf8(void)
{
	uint8_t in[256];
	size_t n;
	struct result *r;

	/* valid, with a character split across fragments */
	const char *kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
	n = frame(in, 0, WS_OP_TEXT, kosme, 4);
	n = frame(in, n, 0x80 | WS_OP_CONT, kosme + 4, 7);
	r = server_decode(in, n, 0);
	CHECK_INT(r->error, 0);
	CHECK_INT(r->msg_len, 11);
	CHECK(memcmp(r->msg, kosme, 11) == 0);

	/* invalid in one frame: a surrogate (ED A0 80) */
	n = frame(in, 0, 0x80 | WS_OP_TEXT, "ab\xed\xa0\x80", 5);
	r = server_decode(in, n, 0);
	CHECK_INT(r->error, WS_CLOSE_BAD_DATA);
	CHECK_INT(r->msgs, 0);
	/* invalid split across fragments: each half alone looks fine */
	n = frame(in, 0, WS_OP_TEXT, "ab\xed", 3);
	n = frame(in, n, 0x80 | WS_OP_CONT, "\xa0\x80", 2);
	CHECK_INT(server_decode(in, n, 0)->error, WS_CLOSE_BAD_DATA);
	/* fails fast: the first bad byte, before the message ends */
	n = frame(in, 0, WS_OP_TEXT, "\xff", 1);
	r = server_decode(in, n, 0);
	CHECK_INT(r->error, WS_CLOSE_BAD_DATA);
	CHECK_INT(r->consumed, n);
	/* a message ending in the middle of a character */
	n = frame(in, 0, WS_OP_TEXT, "a\xce", 2);
	n = frame(in, n, 0x80 | WS_OP_CONT, "", 0);
	CHECK_INT(server_decode(in, n, 0)->error, WS_CLOSE_BAD_DATA);
	/* overlong encoding and above U+10FFFF */
	n = frame(in, 0, 0x80 | WS_OP_TEXT, "\xc0\xaf", 2);
	CHECK_INT(server_decode(in, n, 0)->error, WS_CLOSE_BAD_DATA);
	n = frame(in, 0, 0x80 | WS_OP_TEXT, "\xf4\x90\x80\x80", 4);
	CHECK_INT(server_decode(in, n, 0)->error, WS_CLOSE_BAD_DATA);
	/* binary messages are not UTF-8 checked */
	n = frame(in, 0, 0x80 | WS_OP_BINARY, "\xff\xfe", 2);
	CHECK_INT(server_decode(in, n, 0)->error, 0);
}

static void test_close(void)
{
	uint8_t in[256], pl[WS_MAX_CONTROL];
	size_t n, plen;
	struct result *r;

	/* empty close: no status */
	n = frame(in, 0, 0x80 | WS_OP_CLOSE, "", 0);
	r = server_decode(in, n, 0);
	CHECK_INT(r->error, 0);
	CHECK_INT(r->closes, 1);
	CHECK_INT(r->close_code, WS_CLOSE_NO_STATUS);
	/* code and reason */
	plen = ws_close_payload(pl, 1000, "bye");
	CHECK_INT(plen, 5);
	n = frame(in, 0, 0x80 | WS_OP_CLOSE, pl, plen);
	r = server_decode(in, n, 0);
	CHECK_INT(r->closes, 1);
	CHECK_INT(r->close_code, 1000);
	CHECK_INT(r->ctrl_len, 3);
	CHECK(memcmp(r->ctrl, "bye", 3) == 0);
	/* application codes */
	plen = ws_close_payload(pl, 4999, NULL);
	n = frame(in, 0, 0x80 | WS_OP_CLOSE, pl, plen);
	CHECK_INT(server_decode(in, n, 0)->close_code, 4999);
	/* invalid codes */
	unsigned bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		plen = ws_close_payload(pl, bad[i], NULL);
		n = frame(in, 0, 0x80 | WS_OP_CLOSE, pl, plen);
		r = server_decode(in, n, 0);
		CHECK_INT(r->error, WS_CLOSE_PROTOCOL);
		CHECK_INT(r->closes, 0);
	}
	/* one-byte payload */
	n = frame(in, 0, 0x80 | WS_OP_CLOSE, "\x03", 1);
	CHECK_INT(server_decode(in, n, 0)->error, WS_CLOSE_PROTOCOL);
	/* reason not UTF-8 */
	n = frame(in, 0, 0x80 | WS_OP_CLOSE, "\x03\xe8\xff", 3);
	CHECK_INT(server_decode(in, n, 0)->error, WS_CLOSE_BAD_DATA);
	/* anything after a close is ignored */
	n = frame(in, 0, 0x80 | WS_OP_CLOSE, "", 0);
	n = frame(in, n, 0x80 | 0x3, "", 0);
	r = server_decode(in, n, 0);
	CHECK_INT(r->error, 0);
	CHECK_INT(r->closes, 1);

	/* the reason is cut to fit, never inside a character */
	char reason[200];
	memset(reason, 'a', 122);
	strcpy(reason + 122, "\xc3\xa9zzz"); /* 'é' straddles byte 125 */
	plen = ws_close_payload(pl, 1000, reason);
	CHECK_INT(plen, 124);
	memset(reason, 'a', 150);
	reason[150] = '\0';
	CHECK_INT(ws_close_payload(pl, 1000, reason), 125);

	CHECK(ws_close_code_valid(1000));
	CHECK(ws_close_code_valid(1011));
	CHECK(ws_close_code_valid(3000));
	CHECK(!ws_close_code_valid(1005));
	CHECK(!ws_close_code_valid(1006));
}

static void test_too_big(void)
{
	static uint8_t in[3000], payload[2000];
	size_t n;
	struct result *r;
	memset(payload, 'a', sizeof(payload));

	/* exactly the limit is fine */
	n = frame(in, 0, 0x80 | WS_OP_TEXT, payload, 1000);
	CHECK_INT(server_decode(in, n, 1000)->error, 0);
	/* one more fails at the header, before any payload */
	n = frame(in, 0, 0x80 | WS_OP_TEXT, payload, 1001);
	r = server_decode(in, n, 1000);
	CHECK_INT(r->error, WS_CLOSE_TOO_BIG);
	CHECK_INT(r->consumed, 8);
	/* fragments adding up past the limit */
	n = frame(in, 0, WS_OP_BINARY, payload, 600);
	n = frame(in, n, 0x80 | WS_OP_CONT, payload, 600);
	CHECK_INT(server_decode(in, n, 1000)->error, WS_CLOSE_TOO_BIG);
	/* control frames do not count towards the message */
	n = frame(in, 0, WS_OP_BINARY, payload, 600);
	n = frame(in, n, 0x80 | WS_OP_PING, payload, 100);
	n = frame(in, n, 0x80 | WS_OP_CONT, payload, 400);
	CHECK_INT(server_decode(in, n, 1000)->error, 0);
	/* a huge announced length fails without waiting for its bytes */
	uint8_t huge[] = { 0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4 };
	CHECK_INT(server_decode(huge, sizeof(huge), 65536)->error, WS_CLOSE_TOO_BIG);
}

/* Random frames cut at random places decode like whole input. */
static void test_random_splits(void)
{
	static uint8_t in[20000], copy[20000];
	uint8_t payload[300];
	unsigned seed = 12345;
	int good = 0;
	for (int round = 0; round < 200; round++) {
		size_t n = 0;
		int msgs = 0;
		while (n < 15000) {
			seed = seed * 1103515245 + 12345;
			size_t len = (seed >> 8) % sizeof(payload);
			memset(payload, 'a' + (int)(seed % 26), len);
			if (seed & 0x10000) {
				n = frame(in, n, 0x80 | WS_OP_PING, payload, len % 126);
			} else {
				n = frame(in, n, 0x80 | WS_OP_TEXT, payload, len);
				msgs++;
			}
		}
		memcpy(copy, in, n);
		struct ws_decoder d;
		struct result r;
		ws_decoder_init(&d, 0, 1);
		decode_all(&d, copy, n, 1 + round % 37, &r);
		good += r.error == 0 && r.msgs == msgs && r.consumed == n;
	}
	CHECK_INT(good, 200);
}

int main(void)
{
	test_accept_key();
	test_check_upgrade();
	test_rfc_examples();
	test_fragments_and_control();
	test_lengths();
	test_errors();
	test_utf8();
	test_close();
	test_too_big();
	test_random_splits();
	return check_report();
}

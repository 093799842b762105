/*
 * ws.c - RFC 6455 handshake and framing; see ws.h.
 *
 * The decoder reads a frame header byte by byte (checking each field as
 * soon as it is known, so a bad frame fails before its payload arrives),
 * then streams the payload: data goes back to the caller in place, control
 * payloads (at most 125 bytes) are collected in the decoder.
 */
#include "ws.h"
#include "utf8.h"

#include <string.h>
#include <strings.h>

#include <mbedtls/base64.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- handshake ---- */

/* SHA-1 (FIPS 180-4) of in[0..len), rolled up: the handshake is its only
 * use, and mbedTLS's (unrolled, 4.7 KB on x86_64) is then not built in at
 * all (port/mbedtls/warren-config.h). Checked by the RFC's example key. */
static uint32_t rol(uint32_t x, int n) { return x << n | x >> (32 - n); }

static void sha1(const unsigned char *in, size_t len, unsigned char out[20])
{
	uint32_t h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0 };
	unsigned char block[64];
	uint64_t bits = (uint64_t)len * 8;
	/* The message, 0x80, zeros, then the length: whole blocks. */
	size_t total = (len + 8) / 64 * 64 + 64;
	for (size_t off = 0; off < total; off += 64) {
		for (size_t i = 0; i < 64; i++) {
			size_t at = off + i;
			block[i] = at < len ? in[at] : at == len ? 0x80 :
				   at >= total - 8 ? (unsigned char)(bits >> (8 * (total - 1 - at))) : 0;
		}
		uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
		for (int t = 0; t < 80; t++) {
			w[t] = t < 16 ? (uint32_t)block[4 * t] << 24 | (uint32_t)block[4 * t + 1] << 16 |
					(uint32_t)block[4 * t + 2] << 8 | block[4 * t + 3]
				      : rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
			uint32_t f = t < 20 ? ((b & c) | (~b & d)) + 0x5A827999 :
				     t < 40 ? (b ^ c ^ d) + 0x6ED9EBA1 :
				     t < 60 ? ((b & c) | (b & d) | (c & d)) + 0x8F1BBCDC :
					      (b ^ c ^ d) + 0xCA62C1D6;
			uint32_t tmp = rol(a, 5) + f + e + w[t];
			e = d, d = c, c = rol(b, 30), b = a, a = tmp;
		}
		h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
	}
	for (int i = 0; i < 20; i++)
		out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

int ws_accept_key(const char *key, size_t key_len,
		  char accept[WS_ACCEPT_LEN + 1])
{
	unsigned char raw[18];
	size_t rawlen = 0;
	/* A key is base64 of 16 random bytes: exactly 24 characters. */
	if (key_len != 24 ||
	    mbedtls_base64_decode(raw, sizeof(raw), &rawlen,
				  (const unsigned char *)key, key_len) != 0 ||
	    rawlen != 16)
		return -1;

	unsigned char in[24 + sizeof(WS_GUID) - 1], digest[20];
	memcpy(in, key, 24);
	memcpy(in + 24, WS_GUID, sizeof(WS_GUID) - 1);
	sha1(in, sizeof(in), digest);
	size_t olen = 0;
	if (mbedtls_base64_encode((unsigned char *)accept, WS_ACCEPT_LEN + 1,
				  &olen, digest, sizeof(digest)) != 0 ||
	    olen != WS_ACCEPT_LEN)
		return -1;
	accept[WS_ACCEPT_LEN] = '\0';
	return 0;
}

/* 1 when the comma-separated list v[0..len) holds token (case-insensitive,
 * optional whitespace around items). */
static int list_has_token(const char *v, size_t len, const char *token)
{
	size_t tlen = strlen(token), i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t start = i;
		while (i < len && v[i] != ',')
			i++;
		size_t end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end - start == tlen && strncasecmp(v + start, token, tlen) == 0)
			return 1;
	}
	return 0;
}

/* The value of header name, without surrounding whitespace, or NULL. */
static const char *trimmed_header(const struct http_request *req,
				  const char *name, size_t *len)
{
	const char *v = NULL;
	size_t nlen = strlen(name);
	for (size_t i = 0; i < req->nheaders && !v; i++) {
		const struct http_header *h = &req->headers[i];
		if (h->name_len == nlen && strncasecmp(h->name, name, nlen) == 0) {
			v = h->value;
			*len = h->value_len;
		}
	}
	if (!v)
		return NULL;
	while (*len > 0 && (v[0] == ' ' || v[0] == '\t')) {
		v++;
		(*len)--;
	}
	while (*len > 0 && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
		(*len)--;
	return v;
}

int ws_check_upgrade(const struct http_request *req,
		     char accept[WS_ACCEPT_LEN + 1])
{
	size_t len;
	const char *v;

	if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0 ||
	    req->minor < 1)
		return 400;
	v = trimmed_header(req, "Upgrade", &len);
	if (!v || !list_has_token(v, len, "websocket"))
		return 400;
	v = trimmed_header(req, "Connection", &len);
	if (!v || !list_has_token(v, len, "upgrade"))
		return 400;
	v = trimmed_header(req, "Sec-WebSocket-Key", &len);
	if (!v || ws_accept_key(v, len, accept) < 0)
		return 400;
	v = trimmed_header(req, "Sec-WebSocket-Version", &len);
	if (!v || len == 0)
		return 400;
	if (len != 2 || memcmp(v, "13", 2) != 0)
		return 426;
	return 0;
}

/* ---- decoding ---- */

enum { S_HEADER, S_PAYLOAD, S_CLOSED, S_DEAD };

static int is_control(int op) { return op >= 0x8; }

void ws_decoder_init(struct ws_decoder *d, uint64_t max_message,
		     int expect_masked)
{
	memset(d, 0, sizeof(*d));
	d->max_message = max_message;
	d->expect_masked = expect_masked;
	d->state = S_HEADER;
	d->hdr_need = 2;
	d->utf8 = UTF8_ACCEPT;
}

static size_t fail(struct ws_decoder *d, struct ws_event *ev, size_t used,
		   unsigned code, const char *reason)
{
	d->state = S_DEAD;
	d->error = code; /* later calls repeat the same error */
	ev->type = WS_EV_ERROR;
	ev->code = code;
	ev->reason = reason;
	return used;
}

/* Checks byte 0 (FIN, RSV, opcode). NULL when fine, else the reason. */
static const char *check_first_byte(struct ws_decoder *d)
{
	uint8_t b = d->hdr[0];
	d->fin = b >> 7;
	d->opcode = b & 0x0F;
	if (b & 0x70)
		return "reserved bits set";
	switch (d->opcode) {
	case WS_OP_CONT:
		if (!d->msg_opcode)
			return "continuation without a message to continue";
		break;
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		if (d->msg_opcode)
			return "new message inside a fragmented one";
		break;
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		if (!d->fin)
			return "fragmented control frame";
		break;
	default:
		return "reserved opcode";
	}
	return NULL;
}

/* Checks byte 1 (MASK, length) and sets how long the header is. */
static const char *check_second_byte(struct ws_decoder *d)
{
	uint8_t b = d->hdr[1];
	int masked = b >> 7;
	unsigned len7 = b & 0x7F;
	if (masked != d->expect_masked)
		return masked ? "masked frame from a server" : "unmasked frame from a client";
	if (is_control(d->opcode) && len7 > WS_MAX_CONTROL)
		return "control frame over 125 bytes";
	d->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) +
		      (masked ? 4 : 0);
	return NULL;
}

/* The header is whole: decodes length and mask. 0, or a close code. */
static unsigned finish_header(struct ws_decoder *d, const char **reason)
{
	unsigned len7 = d->hdr[1] & 0x7F, pos = 2;
	uint64_t len = len7;
	if (len7 == 126) {
		len = (uint64_t)d->hdr[2] << 8 | d->hdr[3];
		pos = 4;
	} else if (len7 == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | d->hdr[2 + i];
		pos = 10;
		if (len >> 63) {
			*reason = "64-bit length with its top bit set";
			return WS_CLOSE_PROTOCOL;
		}
	}
	if (d->hdr[1] & 0x80)
		memcpy(d->mask, d->hdr + pos, 4);
	d->mask_pos = 0;
	d->remaining = len;
	if (!is_control(d->opcode)) {
		uint64_t total = (d->opcode == WS_OP_CONT ? d->msg_len : 0) + len;
		if (d->max_message && (total > d->max_message || total < len)) {
			*reason = "message too large";
			return WS_CLOSE_TOO_BIG;
		}
		if (d->opcode != WS_OP_CONT) {
			d->msg_opcode = d->opcode;
			d->msg_len = 0;
			d->utf8 = UTF8_ACCEPT;
		}
		d->msg_len = total;
	} else {
		d->ctrl_len = 0;
	}
	return 0;
}

static void unmask(struct ws_decoder *d, uint8_t *p, size_t n)
{
	if (!(d->hdr[1] & 0x80))
		return;
	ws_mask(p, n, d->mask, d->mask_pos);
	d->mask_pos = (unsigned)((d->mask_pos + n) & 3);
}

static void next_frame(struct ws_decoder *d)
{
	d->state = S_HEADER;
	d->hdr_have = 0;
	d->hdr_need = 2;
}

/* A whole control frame is in d->ctrl: reports it. */
static int control_event(struct ws_decoder *d, struct ws_event *ev,
			 const char **reason)
{
	ev->data = d->ctrl;
	ev->len = d->ctrl_len;
	switch (d->opcode) {
	case WS_OP_PING:
		ev->type = WS_EV_PING;
		return 0;
	case WS_OP_PONG:
		ev->type = WS_EV_PONG;
		return 0;
	}
	/* close */
	if (d->ctrl_len == 1) {
		*reason = "close payload of one byte";
		return WS_CLOSE_PROTOCOL;
	}
	ev->code = WS_CLOSE_NO_STATUS;
	if (d->ctrl_len >= 2) {
		ev->code = (unsigned)d->ctrl[0] << 8 | d->ctrl[1];
		if (!ws_close_code_valid(ev->code)) {
			*reason = "invalid close code";
			return WS_CLOSE_PROTOCOL;
		}
		if (!utf8_valid(d->ctrl + 2, d->ctrl_len - 2)) {
			*reason = "close reason is not UTF-8";
			return WS_CLOSE_BAD_DATA;
		}
		ev->data = d->ctrl + 2;
		ev->len = d->ctrl_len - 2;
	}
	ev->type = WS_EV_CLOSE;
	d->state = S_CLOSED;
	return 0;
}

size_t ws_decode(struct ws_decoder *d, uint8_t *in, size_t n,
		 struct ws_event *ev)
{
	size_t pos = 0;
	const char *reason = NULL;
	unsigned code;

	memset(ev, 0, sizeof(*ev));
	if (d->state == S_DEAD)
		return fail(d, ev, 0, d->error, "after an error");
	if (d->state == S_CLOSED)
		return n; /* nothing may follow a close frame */
	while (pos < n || (d->state == S_PAYLOAD && d->remaining == 0)) {
		if (d->state == S_HEADER) {
			d->hdr[d->hdr_have++] = in[pos++];
			if (d->hdr_have == 1)
				reason = check_first_byte(d);
			else if (d->hdr_have == 2)
				reason = check_second_byte(d);
			if (reason)
				return fail(d, ev, pos, WS_CLOSE_PROTOCOL, reason);
			if (d->hdr_have < d->hdr_need)
				continue;
			if ((code = finish_header(d, &reason)) != 0)
				return fail(d, ev, pos, code, reason);
			d->state = S_PAYLOAD;
			continue;
		}
		/* payload */
		size_t k = n - pos;
		if (k > d->remaining)
			k = (size_t)d->remaining;
		d->remaining -= k;
		unmask(d, in + pos, k);
		if (is_control(d->opcode)) {
			memcpy(d->ctrl + d->ctrl_len, in + pos, k);
			d->ctrl_len += (unsigned)k;
			pos += k;
			if (d->remaining > 0)
				continue;
			next_frame(d);
			if ((code = control_event(d, ev, &reason)) != 0)
				return fail(d, ev, pos, code, reason);
			return pos;
		}
		int last = d->remaining == 0 && d->fin;
		if (d->msg_opcode == WS_OP_TEXT) {
			d->utf8 = utf8_feed(d->utf8, in + pos, k);
			if (d->utf8 == UTF8_REJECT ||
			    (last && d->utf8 != UTF8_ACCEPT))
				return fail(d, ev, pos + k, WS_CLOSE_BAD_DATA,
					    "invalid UTF-8 in a text message");
		}
		ev->type = WS_EV_DATA;
		ev->opcode = d->msg_opcode;
		ev->fin = last;
		ev->data = in + pos;
		ev->len = k;
		pos += k;
		if (d->remaining == 0) {
			next_frame(d);
			if (last)
				d->msg_opcode = 0;
		}
		/* an empty piece is worth reporting only when it ends a message */
		if (k > 0 || last)
			return pos;
		ev->type = WS_EV_NONE;
	}
	return pos;
}

/* ---- encoding ---- */

size_t ws_frame_header(uint8_t out[WS_MAX_HEADER], int opcode, int fin,
		       uint64_t len, const uint8_t *mask)
{
	size_t pos = 2;
	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
	uint8_t m = mask ? 0x80 : 0;
	if (len < 126) {
		out[1] = m | (uint8_t)len;
	} else if (len <= 0xFFFF) {
		out[1] = m | 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		pos = 4;
	} else {
		out[1] = m | 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		pos = 10;
	}
	if (mask) {
		memcpy(out + pos, mask, 4);
		pos += 4;
	}
	return pos;
}

void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		p[i] ^= mask[(off + i) & 3];
}

size_t ws_close_payload(uint8_t out[WS_MAX_CONTROL], unsigned code,
			const char *reason)
{
	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	size_t len = reason ? strlen(reason) : 0;
	if (len > WS_MAX_CONTROL - 2) {
		len = WS_MAX_CONTROL - 2;
		/* do not cut a character in two */
		while (len > 0 && ((unsigned char)reason[len] & 0xC0) == 0x80)
			len--;
	}
	if (len)
		memcpy(out + 2, reason, len);
	return 2 + len;
}

int ws_close_code_valid(unsigned code)
{
	return (code >= 1000 && code <= 1003) ||
	       (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

/*
 * ws - RFC 6455 WebSocket: the opening handshake (checking an upgrade
 * request, computing Sec-WebSocket-Accept) and framing in both directions.
 *
 * The decoder is a pure state machine over bytes: it consumes any amount
 * of input (even one byte at a time), keeps no more than one control frame
 * (125 bytes) of its own, unmasks payload in place and hands data out in
 * pieces as it arrives, so a peer's message never has to be buffered whole.
 * It checks everything the RFC makes a protocol error: masking, reserved
 * bits and opcodes, control frames fragmented or over 125 bytes,
 * continuation without a start, a new message inside a fragmented one,
 * close payloads; text is validated as UTF-8 incrementally across frames
 * (failing at the first bad byte); a message over the size limit fails
 * as soon as its length is known.
 */
#ifndef WARREN_WS_H
#define WARREN_WS_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

enum {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA
};

/* Close codes (RFC 6455 section 7.4.1). */
enum {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_NO_STATUS = 1005,   /* never sent: "the close had no code" */
	WS_CLOSE_BAD_DATA = 1007,    /* invalid UTF-8 in a text message */
	WS_CLOSE_TOO_BIG = 1009
};

#define WS_MAX_HEADER 14      /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_MAX_CONTROL 125    /* largest control frame payload */
#define WS_ACCEPT_LEN 28      /* base64 of a SHA-1 digest */

/* ---- handshake ---- */

/*
 * Checks a request to upgrade to a WebSocket (RFC 6455 section 4.2.1):
 * GET, HTTP/1.1, "Upgrade: websocket", "Connection: upgrade" (as one token
 * of a list), a Sec-WebSocket-Key that is base64 of 16 bytes, and
 * Sec-WebSocket-Version 13. Returns 0 when valid, 426 when only the version
 * is unsupported (answer with "Sec-WebSocket-Version: 13"), 400 otherwise.
 * On 0, accept receives the Sec-WebSocket-Accept value (NUL-terminated).
 */
int ws_check_upgrade(const struct http_request *req,
		     char accept[WS_ACCEPT_LEN + 1]);

/* Computes Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)).
 * 0, or -1 when the key is not base64 of 16 bytes. */
int ws_accept_key(const char *key, size_t key_len,
		  char accept[WS_ACCEPT_LEN + 1]);

/* ---- decoding ---- */

enum ws_event_type {
	WS_EV_NONE = 0, /* input used up: feed more */
	WS_EV_DATA,     /* a piece of a text or binary message */
	WS_EV_PING,     /* a whole ping: answer with a pong of the same data */
	WS_EV_PONG,
	WS_EV_CLOSE,    /* a valid close frame: code (1005 when none), reason */
	WS_EV_ERROR     /* protocol error: close with code; decoder is dead */
};

struct ws_event {
	enum ws_event_type type;
	int opcode;            /* DATA: WS_OP_TEXT or WS_OP_BINARY */
	int fin;               /* DATA: 1 on the message's last piece */
	const uint8_t *data;   /* DATA (into the input), PING/PONG/CLOSE */
	size_t len;
	unsigned code;         /* CLOSE: peer's code; ERROR: code to close with */
	const char *reason;    /* ERROR: for the log */
};

struct ws_decoder {
	uint64_t max_message;  /* largest message, in bytes (0: no limit) */
	int expect_masked;     /* 1 on a server (clients must mask), 0 on a client */
	/* frame being read */
	int state;
	uint8_t hdr[WS_MAX_HEADER];
	unsigned hdr_have, hdr_need;
	int opcode, fin;
	uint64_t remaining;    /* payload bytes of the frame still to come */
	uint8_t mask[4];
	unsigned mask_pos;
	/* message being assembled across fragments */
	int msg_opcode;        /* 0 when no fragmented message is open */
	uint64_t msg_len;
	uint32_t utf8;
	/* control frame payload */
	uint8_t ctrl[WS_MAX_CONTROL];
	unsigned ctrl_len;
	unsigned error;        /* close code once dead */
};

/* Prepares a decoder. */
void ws_decoder_init(struct ws_decoder *d, uint64_t max_message,
		     int expect_masked);

/*
 * Decodes from in[0..n), unmasking payload bytes in place. Returns how many
 * bytes it consumed and fills ev with what happened: WS_EV_NONE when all n
 * bytes were used without completing anything, otherwise one event (the
 * caller then calls again with the rest). Event data stays valid until the
 * next call. After WS_EV_ERROR every call returns the same error.
 */
size_t ws_decode(struct ws_decoder *d, uint8_t *in, size_t n,
		 struct ws_event *ev);

/* ---- encoding ---- */

/*
 * Writes the header of a frame carrying len payload bytes: unmasked when
 * mask is NULL (a server's frames), masked with mask otherwise (a client's;
 * the caller then applies ws_mask to the payload). Returns its length
 * (2 to 14 bytes).
 */
size_t ws_frame_header(uint8_t out[WS_MAX_HEADER], int opcode, int fin,
		       uint64_t len, const uint8_t *mask);

/* XORs p[0..n) with mask, starting at byte offset off of the payload. */
void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off);

/* Writes a close payload: code (big-endian) then reason, truncated to fit
 * in 125 bytes at a UTF-8 boundary. Returns its length. */
size_t ws_close_payload(uint8_t out[WS_MAX_CONTROL], unsigned code,
			const char *reason);

/* 1 when code may travel in a close frame (1000-1003, 1007-1011, 3000-4999). */
int ws_close_code_valid(unsigned code);

#endif

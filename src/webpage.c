/*
 * webpage - the page with the tasker's URL written in (see webpage.h).
 */
#include <stdint.h>
#include <string.h>

#include "page.h"
#include "url.h"
#include "webpage.h"

/* Where the URL goes: the page.html line is <meta name="tasker" content="">. */
static const char tag[] = "<meta name=\"tasker\" content=\"";

int webpage_check_tasker_url(const char *s, const char **why)
{
	struct url u;
	size_t len = strlen(s);
	if (url_parse(s, len, &u, why) < 0)
		return -1;
	if (u.userinfo[0]) {
		*why = "a user or password in the URL (browsers refuse to send them)";
		return -1;
	}
	if (memchr(s, '?', len) || memchr(s, '#', len)) {
		*why = "a query or fragment (want the tasker's base URL, e.g. http://host:8080)";
		return -1;
	}
	return 0;
}

/* Appends s with the characters that matter in an HTML attribute escaped. */
static int put_escaped(buf_t *out, const char *s)
{
	for (; *s; s++) {
		const char *e = *s == '&' ? "&amp;" : *s == '"' ? "&quot;" :
				*s == '\'' ? "&#39;" : *s == '<' ? "&lt;" :
				*s == '>' ? "&gt;" : NULL;
		if (e ? buf_puts(out, e) < 0 : buf_append(out, s, 1) < 0)
			return -1;
	}
	return 0;
}

/* The CRC-32 of gzip (RFC 1952), bit by bit: c is a finished CRC (or 0),
 * and the result that of the bytes before and p[0..n). */
static uint32_t crc32_add(uint32_t c, const unsigned char *p, size_t n)
{
	c = ~c;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c >> 1 ^ (0xEDB88320u & -(c & 1));
	}
	return ~c;
}

/* The CRC of a followed by b, from crc(a) and crc(b) and b's length: the
 * CRC register is linear, so crc(a b) = crc(a) moved through len(b) zero
 * bytes (without the pre- and post-inversion) xor crc(b). */
static uint32_t crc32_join(uint32_t a, uint32_t b, size_t blen)
{
	while (blen--)
		for (int k = 0; k < 8; k++)
			a = a >> 1 ^ (0xEDB88320u & -(a & 1));
	return a ^ b;
}

static uint32_t le32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int put_le32(buf_t *out, uint32_t v)
{
	unsigned char b[4] = { v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff, v >> 24 };
	return buf_append(out, b, 4);
}

/*
 * One gzip member: page_gz's header, then the head and the URL as deflate
 * stored blocks (RFC 1951 3.2.4: not final, type 00, the length and its
 * complement), then page_gz's own deflate data (compressed on its own, so
 * its back references stay inside it) with its final block, then the CRC
 * and the length of the whole text.
 */
int webpage_build(const char *tasker_url, buf_t *out)
{
	const char *head = (const char *)page_head;
	const char *at = strstr(head, tag);
	const unsigned char *gz = page_gz;
	size_t len0 = out->len;
	/* gzip -9n: ID1 ID2, deflate, no flags (no name, comment or extra) */
	if (!at || page_gz_len < 18 || gz[0] != 0x1f || gz[1] != 0x8b || gz[2] != 8 || gz[3])
		return -1;
	/* the text: head up to the tag's value, the URL, the head's rest */
	buf_t text = BUF_INIT;
	size_t cut = (size_t)(at - head) + sizeof(tag) - 1;
	if (buf_append(&text, head, cut) < 0 ||
	    (tasker_url && put_escaped(&text, tasker_url) < 0) ||
	    buf_append(&text, head + cut, page_head_len - cut) < 0)
		goto fail;
	uint32_t tail_len = le32(gz + page_gz_len - 4);
	uint32_t crc = crc32_join(crc32_add(0, (const unsigned char *)text.data, text.len),
				  le32(gz + page_gz_len - 8), tail_len);
	if (buf_reserve(out, page_gz_len + text.len + 5 * (text.len / 65535 + 1)) < 0 ||
	    buf_append(out, gz, 10) < 0)
		goto fail;
	for (size_t off = 0; off < text.len;) {
		size_t n = text.len - off > 65535 ? 65535 : text.len - off;
		unsigned char b[5] = { 0, n & 0xff, n >> 8, ~n & 0xff, ~n >> 8 & 0xff };
		if (buf_append(out, b, 5) < 0 || buf_append(out, text.data + off, n) < 0)
			goto fail;
		off += n;
	}
	if (buf_append(out, gz + 10, page_gz_len - 18) < 0 || put_le32(out, crc) < 0 ||
	    put_le32(out, (uint32_t)(text.len + tail_len)) < 0)
		goto fail;
	buf_free(&text);
	return 0;
fail:
	buf_free(&text);
	out->len = len0;
	return -1;
}

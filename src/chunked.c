/*
 * chunked.c - chunked transfer coding decoder; see chunked.h.
 *
 * States follow the grammar of RFC 9112 section 7.1: a chunk-size line is
 *   1*HEXDIG *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
 * then CRLF; then the data, CRLF after it, and after the zero chunk a
 * trailer section ended by an empty line. Anything else on a size line
 * ("a GARBAGE", a bare CR, white space before the line end) is an error.
 * Bare LF is accepted where CRLF is expected, as RFC 9112 allows
 * recipients to.
 */
#include "chunked.h"

#include "httpmsg.h"

enum {
	C_SIZE,      /* reading hex digits */
	C_SIZE_WS,   /* BWS after the digits: ';' must follow */
	C_EXT_NAME0, /* after ';': BWS, then a token */
	C_EXT_NAME,  /* in an extension's name */
	C_EXT_EQ,    /* BWS after the name: '=', ';' */
	C_EXT_VAL0,  /* after '=': BWS, then a token or a quoted-string */
	C_EXT_TOKEN, /* in a token value */
	C_EXT_QUOTE, /* in a quoted-string value */
	C_EXT_ESC,   /* after a backslash in it */
	C_EXT_AFTER, /* after a quoted value: BWS, ';' or the line end */
	C_SIZE_LF,   /* saw the size line's CR: LF must follow */
	C_DATA,      /* in chunk data */
	C_DATA_CR,   /* expecting CR or LF after data */
	C_DATA_LF,   /* expecting LF after CR */
	C_TRAILER_START, /* at the start of a trailer line (or the final empty line) */
	C_TRAILER,   /* inside a trailer line */
	C_FINAL_LF,  /* saw CR of the final empty line */
	C_DONE
};

void chunked_init(struct chunked *c)
{
	c->state = C_SIZE;
	c->left = 0;
	c->line = 0;
	c->trailer = 0;
	c->digits = 0;
}

int chunked_done(const struct chunked *c) { return c->state == C_DONE; }

/* End of a size line: go to data, or to the trailers after the zero chunk. */
static int end_size_line(struct chunked *c)
{
	c->state = c->left ? C_DATA : C_TRAILER_START;
	c->line = 0;
	return 0;
}

static int is_ws(char ch) { return ch == ' ' || ch == '\t'; }

/* The line end where the grammar allows it: CR (LF must follow) or LF. */
static int line_end(struct chunked *c, char ch)
{
	if (ch == '\r') {
		c->state = C_SIZE_LF;
		return 0;
	}
	return ch == '\n' ? end_size_line(c) : -1;
}

/* RFC 9110 qdtext and the bytes a quoted-pair may escape. */
static int is_qdtext(unsigned char ch)
{
	return ch == '\t' || ch == ' ' || ch == 0x21 || (ch >= 0x23 && ch <= 0x5b) ||
	       (ch >= 0x5d && ch <= 0x7e) || ch >= 0x80;
}

/* One byte of a chunk-size line after its digits; 0 or -1. */
static int ext_step(struct chunked *c, char ch)
{
	unsigned char u = (unsigned char)ch;
	switch (c->state) {
	case C_SIZE_WS:
	case C_EXT_AFTER:
		if (is_ws(ch)) {
			c->state = C_SIZE_WS; /* BWS only comes before a ';' */
			return 0;
		}
		if (ch == ';') {
			c->state = C_EXT_NAME0;
			return 0;
		}
		return c->state == C_EXT_AFTER ? line_end(c, ch) : -1;
	case C_EXT_NAME0:
		if (is_ws(ch))
			return 0;
		if (!http_is_tchar(u))
			return -1;
		c->state = C_EXT_NAME;
		return 0;
	case C_EXT_NAME:
	case C_EXT_TOKEN:
		if (http_is_tchar(u))
			return 0;
		if (ch == '=' && c->state == C_EXT_NAME) {
			c->state = C_EXT_VAL0;
			return 0;
		}
		if (is_ws(ch)) {
			c->state = c->state == C_EXT_NAME ? C_EXT_EQ : C_SIZE_WS;
			return 0;
		}
		if (ch == ';') {
			c->state = C_EXT_NAME0;
			return 0;
		}
		return line_end(c, ch);
	case C_EXT_EQ:
		if (is_ws(ch))
			return 0;
		if (ch == '=') {
			c->state = C_EXT_VAL0;
			return 0;
		}
		if (ch == ';') {
			c->state = C_EXT_NAME0;
			return 0;
		}
		return -1;
	case C_EXT_VAL0:
		if (is_ws(ch))
			return 0;
		if (ch == '"')
			c->state = C_EXT_QUOTE;
		else if (http_is_tchar(u))
			c->state = C_EXT_TOKEN;
		else
			return -1;
		return 0;
	case C_EXT_QUOTE:
		if (ch == '"')
			c->state = C_EXT_AFTER;
		else if (ch == '\\')
			c->state = C_EXT_ESC;
		else if (!is_qdtext(u))
			return -1;
		return 0;
	case C_EXT_ESC:
		if (u < 0x20 && ch != '\t')
			return -1;
		if (u == 0x7f)
			return -1;
		c->state = C_EXT_QUOTE;
		return 0;
	case C_SIZE_LF:
		return ch == '\n' ? end_size_line(c) : -1; /* a bare CR */
	}
	return -1;
}

/* One framing byte; 0 or -1. */
static int step(struct chunked *c, char ch)
{
	if (c->state != C_DATA_CR && c->state != C_DATA_LF &&
	    ++c->line > CHUNKED_MAX_LINE)
		return -1;
	switch (c->state) {
	case C_SIZE: {
		int v = http_hex_digit((unsigned char)ch);
		if (v >= 0) {
			if (c->left >> 56) /* 2^60 and over: no real body is */
				return -1;
			c->left = c->left * 16 + (uint64_t)v;
			c->digits++;
			return 0;
		}
		if (c->digits == 0)
			return -1;
		if (is_ws(ch)) {
			c->state = C_SIZE_WS;
			return 0;
		}
		if (ch == ';') {
			c->state = C_EXT_NAME0;
			return 0;
		}
		return line_end(c, ch);
	}
	case C_SIZE_WS:
	case C_EXT_NAME0:
	case C_EXT_NAME:
	case C_EXT_EQ:
	case C_EXT_VAL0:
	case C_EXT_TOKEN:
	case C_EXT_QUOTE:
	case C_EXT_ESC:
	case C_EXT_AFTER:
	case C_SIZE_LF:
		return ext_step(c, ch);
	case C_DATA_CR:
		if (ch == '\n') {
			chunked_init(c);
			return 0;
		}
		if (ch != '\r')
			return -1;
		c->state = C_DATA_LF;
		return 0;
	case C_DATA_LF:
		if (ch != '\n')
			return -1;
		chunked_init(c);
		return 0;
	case C_TRAILER_START:
		if (ch == '\n') {
			c->state = C_DONE;
			return 0;
		}
		c->state = ch == '\r' ? C_FINAL_LF : C_TRAILER;
		break;
	case C_FINAL_LF:
		if (ch != '\n')
			return -1;
		c->state = C_DONE;
		return 0;
	case C_TRAILER:
		if (ch == '\n') {
			c->state = C_TRAILER_START;
			c->line = 0;
		}
		break;
	default:
		return -1;
	}
	return ++c->trailer > CHUNKED_MAX_TRAILER ? -1 : 0;
}

long chunked_feed(struct chunked *c, const char *in, size_t len,
		  const char **data, size_t *data_len)
{
	*data = in;     /* set on every path: callers test data_len alone */
	*data_len = 0;
	if (c->state == C_DATA) {
		size_t n = len < c->left ? len : (size_t)c->left;
		*data_len = n;
		c->left -= n;
		if (c->left == 0)
			c->state = C_DATA_CR;
		return (long)n;
	}
	size_t i = 0;
	while (i < len && c->state != C_DATA && c->state != C_DONE) {
		if (step(c, in[i]) < 0)
			return -1;
		i++;
	}
	return (long)i;
}

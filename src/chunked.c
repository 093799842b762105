/*
 * chunked.c - chunked transfer coding decoder; see chunked.h.
 *
 * States follow the grammar: size digits, optional extension up to the line
 * end, data, CRLF after data, then after the zero chunk a trailer section
 * ended by an empty line. Bare LF is accepted where CRLF is expected, as
 * RFC 9112 allows recipients to.
 */
#include "chunked.h"

#include "httpmsg.h"

enum {
	C_SIZE,      /* reading hex digits */
	C_EXT,       /* skipping ";ext" up to LF */
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
	if (c->digits == 0)
		return -1;
	c->state = c->left ? C_DATA : C_TRAILER_START;
	c->line = 0;
	return 0;
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
			if (c->digits >= 15) /* 2^60: no real body is larger */
				return -1;
			c->left = c->left * 16 + (uint64_t)v;
			c->digits++;
			return 0;
		}
		if (ch == ';' || ch == ' ' || ch == '\t' || ch == '\r') {
			if (c->digits == 0)
				return -1;
			c->state = C_EXT;
			return 0;
		}
		if (ch == '\n')
			return end_size_line(c);
		return -1;
	}
	case C_EXT:
		if (ch == '\n')
			return end_size_line(c);
		return (unsigned char)ch < 0x20 && ch != '\t' && ch != '\r' ? -1 : 0;
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
	*data_len = 0;
	if (c->state == C_DATA) {
		size_t n = len < c->left ? len : (size_t)c->left;
		*data = in;
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

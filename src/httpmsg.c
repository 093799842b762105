/*
 * httpmsg.c - the HTTP/1.1 grammar of requests and responses; see
 * httpmsg.h. Both head parsers walk lines with the same line finder and
 * read header fields with the same field parser; they differ only in the
 * first line and in what they keep.
 */
#include "httpmsg.h"

#include <string.h>

/* ---- characters and small values ---------------------------------------- */

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }

int http_is_tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

int http_hex_digit(int c)
{
	if (is_digit(c))
		return c - '0';
	c = lower(c);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

int http_ieq(const char *a, size_t alen, const char *b)
{
	size_t n = strlen(b);
	if (alen != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

int64_t http_parse_dec(const char *p, size_t n)
{
	int64_t v = 0;
	if (n == 0 || n > 18)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

static void trim(const char **p, size_t *n)
{
	while (*n && is_ows(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n && is_ows((*p)[*n - 1]))
		(*n)--;
}

/* 1 when c may not appear in a field value or reason phrase: a control
 * character other than tab (obs-text, 0x80 and up, is allowed). */
static int is_ctl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

/* ---- heads ------------------------------------------------------------- */

/* Finds the end of the line starting at p: returns the index after LF, and
 * the line length without CR LF in *linelen; 0 when there is no LF. */
static size_t line_end(const char *p, size_t len, size_t *linelen)
{
	/* memchr with a null p is undefined even for len 0 (UBSan says so) */
	const char *lf = len ? memchr(p, '\n', len) : NULL;
	if (!lf)
		return 0;
	size_t n = (size_t)(lf - p);
	*linelen = (n > 0 && p[n - 1] == '\r') ? n - 1 : n;
	return n + 1;
}

static long fail(const char **why, const char *reason, long rc)
{
	if (why)
		*why = reason;
	return rc;
}

int http_parse_field(const char *p, size_t n, struct http_header *h,
		     const char **why)
{
	if (n && is_ows(p[0]))
		return (int)fail(why, "folded header line", -1);
	size_t i = 0;
	while (i < n && http_is_tchar((unsigned char)p[i]))
		i++;
	if (i == n || p[i] != ':')
		return (int)fail(why, memchr(p, ':', n) ? "bad header name"
							: "header line without a name", -1);
	if (i == 0)
		return (int)fail(why, "header line without a name", -1);
	h->name = p;
	h->name_len = i;
	const char *v = p + i + 1;
	size_t vn = n - i - 1;
	for (size_t k = 0; k < vn; k++)
		if (is_ctl((unsigned char)v[k]))
			return (int)fail(why, "control character in a header value", -1);
	trim(&v, &vn);
	h->value = v;
	h->value_len = vn;
	return 0;
}

static int parse_request_line(const char *p, size_t n, struct http_request *r)
{
	size_t i = 0;
	while (i < n && http_is_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		return -1;
	r->method = p;
	r->method_len = i;
	size_t t = ++i;
	while (i < n && (unsigned char)p[i] > 0x20 && p[i] != 0x7f)
		i++;
	if (i == t || i >= n || p[i] != ' ')
		return -1;
	r->target = p + t;
	r->target_len = i - t;
	i++;
	if (n - i != 8 || memcmp(p + i, "HTTP/1.", 7) != 0 || !is_digit(p[i + 7]))
		return -1;
	r->minor = p[i + 7] - '0';
	return 0;
}

/* Splits the target into path and query; absolute-form keeps only the path. */
static void split_target(struct http_request *r)
{
	const char *t = r->target, *end = t + r->target_len;
	if (r->target_len > 7 && (!strncmp(t, "http://", 7) || !strncmp(t, "https://", 8))) {
		const char *slash = memchr(t + 8, '/', (size_t)(end - t - 8));
		t = slash ? slash : end;
	}
	const char *q = memchr(t, '?', (size_t)(end - t));
	r->path = t;
	r->path_len = (size_t)((q ? q : end) - t);
	r->query = q ? q + 1 : NULL;
	r->query_len = q ? (size_t)(end - q - 1) : 0;
	if (r->path_len == 0) {
		r->path = "/";
		r->path_len = 1;
	}
}

/* Need more input, unless what is buffered is already over the limit. */
static long more(size_t len, const char **why)
{
	return len > HTTP_MAX_HEAD ? fail(why, "request head too large", HTTP_PARSE_TOO_LARGE)
				   : HTTP_PARSE_MORE;
}

long http_parse_request(const char *buf, size_t len, struct http_request *r,
			const char **why)
{
	size_t pos = 0, ll, adv;
	/* RFC 9112 2.2: ignore at least one empty line before the request */
	while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n') && pos < 4)
		pos++;
	memset(r, 0, offsetof(struct http_request, headers));
	r->nheaders = 0;
	r->body = NULL;
	r->body_len = 0;
	r->body_state = NULL;
	adv = line_end(buf + pos, len - pos, &ll);
	if (!adv)
		return more(len, why);
	if (parse_request_line(buf + pos, ll, r) < 0)
		return fail(why, "malformed request line", HTTP_PARSE_BAD);
	split_target(r);
	pos += adv;
	for (;;) {
		if (pos > HTTP_MAX_HEAD)
			return fail(why, "request head too large", HTTP_PARSE_TOO_LARGE);
		adv = line_end(buf + pos, len - pos, &ll);
		if (!adv)
			return more(len, why);
		if (ll == 0) {
			pos += adv;
			return pos > HTTP_MAX_HEAD
				? fail(why, "request head too large", HTTP_PARSE_TOO_LARGE)
				: (long)pos;
		}
		if (r->nheaders == HTTP_MAX_HEADERS)
			return fail(why, "too many header fields", HTTP_PARSE_TOO_MANY);
		if (http_parse_field(buf + pos, ll, &r->headers[r->nheaders], why) < 0)
			return HTTP_PARSE_BAD;
		r->nheaders++;
		pos += adv;
	}
}

/* Length of a response head (through its empty line), 0 when incomplete. */
static size_t response_end(const char *buf, size_t len)
{
	size_t i = 0, ll, adv;
	int first = 1;
	while ((adv = line_end(buf + i, len - i, &ll)) != 0) {
		i += adv;
		if (!first && ll == 0) /* "\r\r\n" is not empty: an error later */
			return i;
		first = 0;
	}
	return 0;
}

static int parse_status_line(const char *p, size_t n, struct http_response *h)
{
	/* "HTTP/1.x SP 3DIGIT [SP reason]" */
	if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || !is_digit((unsigned char)p[7]) ||
	    p[8] != ' ')
		return -1;
	h->minor = p[7] - '0';
	if (!is_digit((unsigned char)p[9]) || !is_digit((unsigned char)p[10]) ||
	    !is_digit((unsigned char)p[11]) || (n > 12 && p[12] != ' '))
		return -1;
	h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (h->status < 100 || h->status > 599)
		return -1;
	for (size_t i = 12; i < n; i++)
		if (is_ctl((unsigned char)p[i]))
			return -1;
	return 0;
}

/* Remembers the last coding of a Transfer-Encoding field. */
static void note_coding(const char *v, size_t n, int *te_seen, int *te_chunked)
{
	const char *comma = NULL;
	for (size_t i = 0; i < n; i++)
		if (v[i] == ',')
			comma = v + i;
	const char *last = comma ? comma + 1 : v;
	size_t ln = (size_t)(v + n - last);
	trim(&last, &ln);
	if (ln == 0 && comma) /* "chunked," : look at what precedes */
		return;
	*te_seen = 1;
	*te_chunked = http_ieq(last, ln, "chunked");
}

/* Takes in what a client needs of one response field. */
static int response_field(struct http_response *h, const struct http_header *f,
			  int *te_seen, int *te_chunked, const char **why)
{
	struct http_span *s = NULL;
	if (http_ieq(f->name, f->name_len, "content-length")) {
		int64_t cl = http_parse_dec(f->value, f->value_len);
		if (cl < 0)
			return (int)fail(why, "bad Content-Length", -1);
		if (h->content_length >= 0 && h->content_length != cl)
			return (int)fail(why, "conflicting Content-Length values", -1);
		h->content_length = cl;
		return 0;
	}
	if (http_ieq(f->name, f->name_len, "transfer-encoding")) {
		note_coding(f->value, f->value_len, te_seen, te_chunked);
		return 0;
	}
	if (http_ieq(f->name, f->name_len, "location"))
		s = &h->location;
	else if (http_ieq(f->name, f->name_len, "content-range"))
		s = &h->content_range;
	else if (http_ieq(f->name, f->name_len, "content-disposition"))
		s = &h->disposition;
	else if (http_ieq(f->name, f->name_len, "etag"))
		s = &h->etag;
	else if (http_ieq(f->name, f->name_len, "last-modified"))
		s = &h->last_modified;
	else if (http_ieq(f->name, f->name_len, "retry-after"))
		s = &h->retry_after;
	if (s && !s->p) {
		s->p = f->value;
		s->n = f->value_len;
	}
	return 0;
}

long http_parse_response(const char *buf, size_t len, struct http_response *h,
			 const char **why)
{
	memset(h, 0, sizeof(*h));
	h->content_length = -1;
	size_t end = response_end(buf, len);
	if (end == 0)
		return 0;
	int te_seen = 0, te_chunked = 0;
	size_t i = 0, n = 0, adv;
	for (int line = 0;; line++) {
		const char *p = buf + i;
		adv = line_end(p, end - i, &n);
		i += adv;
		if (memchr(p, '\r', n))
			return fail(why, "stray CR in response head", -1);
		if (line == 0) {
			if (parse_status_line(p, n, h) < 0)
				return fail(why, "bad status line", -1);
			continue;
		}
		if (n == 0)
			break;
		struct http_header f;
		if (http_parse_field(p, n, &f, why) < 0 ||
		    response_field(h, &f, &te_seen, &te_chunked, why) < 0)
			return -1;
	}
	/* Body framing of a response to GET (RFC 9112 6.3). */
	if ((h->status >= 100 && h->status < 200) || h->status == 204 ||
	    h->status == 304) {
		h->content_length = 0;
	} else if (te_seen) {
		h->content_length = -1;
		h->chunked = te_chunked;
		h->until_close = !te_chunked;
	} else if (h->content_length < 0) {
		h->until_close = 1;
	}
	return (long)end;
}

/* ---- field values ------------------------------------------------------- */

const char *http_header(const struct http_request *r, const char *name, size_t *len)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (http_ieq(r->headers[i].name, r->headers[i].name_len, name)) {
			if (len)
				*len = r->headers[i].value_len;
			return r->headers[i].value;
		}
	return NULL;
}

int http_list_has(const char *p, size_t n, const char *token)
{
	const char *end = p + n;
	while (p < end) {
		while (p < end && (is_ows(*p) || *p == ','))
			p++;
		const char *s = p;
		while (p < end && *p != ',')
			p++;
		size_t tn = (size_t)(p - s);
		trim(&s, &tn);
		if (http_ieq(s, tn, token))
			return 1;
	}
	return 0;
}

int http_header_has_token(const struct http_request *r, const char *name,
			  const char *token)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		const struct http_header *h = &r->headers[i];
		if (http_ieq(h->name, h->name_len, name) &&
		    http_list_has(h->value, h->value_len, token))
			return 1;
	}
	return 0;
}

/* The weight of one Accept-Encoding element s[0..n) (coding ";" params):
 * 0 when a q parameter is 0, 0.0, ...; else 1. */
static int coding_weight(const char *s, size_t n)
{
	const char *end = s + n, *a = memchr(s, ';', n);
	int q = 1;
	while (a && a < end) {
		const char *v = a + 1;
		a = memchr(v, ';', (size_t)(end - v));
		size_t vn = (size_t)((a ? a : end) - v);
		trim(&v, &vn);
		if (vn > 2 && (v[0] | 0x20) == 'q' && v[1] == '=') {
			q = v[2] != '0';
			for (size_t i = 3; i < vn && !q; i++)
				q = v[i] != '0' && v[i] != '.';
		}
	}
	return q;
}

int http_accepts_gzip(const struct http_request *r)
{
	int any = 0, gzip = -1, star = -1;
	for (size_t i = 0; i < r->nheaders; i++) {
		const struct http_header *h = &r->headers[i];
		if (!http_ieq(h->name, h->name_len, "accept-encoding"))
			continue;
		any = 1;
		const char *p = h->value, *end = p + h->value_len;
		while (p < end) {
			const char *s = p;
			while (p < end && *p != ',')
				p++;
			size_t n = (size_t)(p - s), cn;
			int q = coding_weight(s, n);
			const char *semi = memchr(s, ';', n);
			cn = semi ? (size_t)(semi - s) : n;
			trim(&s, &cn);
			if (http_ieq(s, cn, "gzip") || http_ieq(s, cn, "x-gzip"))
				gzip = gzip > 0 ? 1 : q;
			else if (http_ieq(s, cn, "*"))
				star = star > 0 ? 1 : q;
			p++;
		}
	}
	return !any || (gzip >= 0 ? gzip : star > 0);
}

/* 1 when v[0..3) of the span ending at end is a %XX escape. */
static int is_pct(const char *v, const char *end)
{
	return *v == '%' && end - v >= 3 && http_hex_digit((unsigned char)v[1]) >= 0 &&
	       http_hex_digit((unsigned char)v[2]) >= 0;
}

static char pct_value(const char *v)
{
	return (char)(http_hex_digit((unsigned char)v[1]) * 16 +
		      http_hex_digit((unsigned char)v[2]));
}

int http_query_param(const struct http_request *r, const char *key, char *out,
		     size_t outlen)
{
	const char *p = r->query, *end = p ? p + r->query_len : NULL;
	size_t klen = strlen(key);
	while (p && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		const char *kend = eq ? eq : stop;
		if ((size_t)(kend - p) == klen && !memcmp(p, key, klen)) {
			size_t o = 0;
			for (const char *v = eq ? eq + 1 : stop; v < stop; v++) {
				if (o + 1 >= outlen)
					return -1;
				if (is_pct(v, stop)) {
					out[o++] = pct_value(v);
					v += 2;
				} else {
					out[o++] = *v == '+' ? ' ' : *v;
				}
			}
			out[o] = '\0';
			return 1;
		}
		p = amp ? amp + 1 : end;
	}
	return 0;
}

int http_content_range(const char *s, size_t n, int64_t *first, int64_t *last,
		       int64_t *total)
{
	trim(&s, &n);
	if (n < 6 || !http_ieq(s, 5, "bytes") || s[5] != ' ')
		return -1;
	s += 6;
	n -= 6;
	trim(&s, &n);
	const char *slash = memchr(s, '/', n);
	if (!slash)
		return -1;
	size_t rn = (size_t)(slash - s), tn = n - rn - 1;
	const char *t = slash + 1;
	if (tn == 1 && t[0] == '*')
		*total = -1;
	else if ((*total = http_parse_dec(t, tn)) < 0)
		return -1;
	if (rn == 1 && s[0] == '*') {
		*first = *last = -1;
		return *total >= 0 ? 0 : -1;
	}
	const char *dash = memchr(s, '-', rn);
	if (!dash)
		return -1;
	*first = http_parse_dec(s, (size_t)(dash - s));
	*last = http_parse_dec(dash + 1, rn - (size_t)(dash - s) - 1);
	if (*first < 0 || *last < *first || (*total >= 0 && *last >= *total))
		return -1;
	return 0;
}

/* filename*=charset'lang'pct-encoded -> UTF-8. 0, or -1 with out as it
 * was (a filename= found before it stays). v is at most 511 bytes. */
static int ext_value(const char *v, size_t n, char *out, size_t outlen)
{
	char dec[1024]; /* latin-1 at most doubles */
	const char *q1 = memchr(v, '\'', n);
	if (!q1)
		return -1;
	const char *q2 = memchr(q1 + 1, '\'', n - (size_t)(q1 + 1 - v));
	if (!q2)
		return -1;
	int latin1;
	if (http_ieq(v, (size_t)(q1 - v), "utf-8"))
		latin1 = 0;
	else if (http_ieq(v, (size_t)(q1 - v), "iso-8859-1"))
		latin1 = 1;
	else
		return -1;
	size_t o = 0;
	for (const char *p = q2 + 1; p < v + n; p++) {
		int c = (unsigned char)*p;
		if (c == '%') {
			if (!is_pct(p, v + n))
				return -1;
			c = (unsigned char)pct_value(p);
			p += 2;
		}
		if (o + 3 >= outlen || o + 3 >= sizeof(dec))
			return -1;
		if (latin1 && c >= 0x80) {
			dec[o++] = (char)(0xC0 | c >> 6);
			dec[o++] = (char)(0x80 | (c & 0x3F));
		} else {
			dec[o++] = (char)c;
		}
	}
	if (!o)
		return -1;
	memcpy(out, dec, o);
	out[o] = '\0';
	return 0;
}

int http_disposition_filename(const char *s, size_t n, char *out, size_t outlen)
{
	const char *end = s + n, *p = memchr(s, ';', n);
	int found = 0;
	while (p && p < end) {
		p++; /* past ';' */
		while (p < end && is_ows(*p))
			p++;
		const char *name = p;
		while (p < end && *p != '=' && *p != ';')
			p++;
		if (p >= end || *p != '=')
			continue;
		size_t nn = (size_t)(p - name);
		while (nn && is_ows(name[nn - 1]))
			nn--;
		p++;
		while (p < end && is_ows(*p))
			p++;
		char val[512];
		size_t vn = 0;
		if (p < end && *p == '"') {
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
				if (vn < sizeof(val) - 1)
					val[vn++] = *p;
			}
			if (p < end)
				p++;
		} else {
			while (p < end && *p != ';' && !is_ows(*p))
				if (vn < sizeof(val) - 1)
					val[vn++] = *p++;
				else
					p++;
		}
		val[vn] = '\0';
		while (p < end && *p != ';')
			p++;
		if (http_ieq(name, nn, "filename*")) {
			if (ext_value(val, vn, out, outlen) == 0)
				return 1; /* preferred: stop here */
		} else if (http_ieq(name, nn, "filename") && !found && vn > 0 &&
			   vn < outlen) {
			memcpy(out, val, vn + 1);
			found = 1;
		}
	}
	return found;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian, m 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 5.6.7) to Unix seconds, or -1.
 * Parsed by position: strptime's %a and %b follow the locale. */
static int64_t imf_fixdate(const char *s, size_t n)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int v[5];
	static const int at[5] = { 5, 12, 17, 20, 23 }; /* d, y, H, M, S */
	if (n != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
	    s[16] != ' ' || s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4))
		return -1;
	for (int i = 0; i < 5; i++) {
		int64_t x = http_parse_dec(s + at[i], i == 1 ? 4 : 2);
		if (x < 0)
			return -1;
		v[i] = (int)x;
	}
	const char *m = NULL;
	for (int i = 0; i < 12 && !m; i++)
		if (!memcmp(months + 3 * i, s + 8, 3))
			m = months + 3 * i;
	if (!m || v[0] < 1 || v[0] > 31 || v[2] > 23 || v[3] > 59 || v[4] > 60)
		return -1;
	int mon = (int)((m - months) / 3) + 1;
	return days_from_civil(v[1], mon, v[0]) * 86400 + v[2] * 3600 + v[3] * 60 + v[4];
}

int64_t http_retry_after_ms(const char *s, size_t n, int64_t now_s)
{
	trim(&s, &n);
	int64_t secs = http_parse_dec(s, n);
	if (secs >= 0)
		return secs > 86400 ? 86400000 : secs * 1000;
	int64_t at = imf_fixdate(s, n);
	if (at < 0)
		return -1;
	return at <= now_s ? 0 : (at - now_s) * 1000;
}

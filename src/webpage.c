/*
 * webpage - the page with the tasker's URL written in (see webpage.h).
 */
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

int webpage_build(const char *tasker_url, buf_t *out)
{
	const char *page = (const char *)page_html;
	const char *at = strstr(page, tag);
	size_t len0 = out->len;
	if (!at)
		return -1;
	size_t head = (size_t)(at - page) + sizeof(tag) - 1;
	if (buf_reserve(out, page_html_len + (tasker_url ? 6 * strlen(tasker_url) : 0)) < 0 ||
	    buf_append(out, page, head) < 0 ||
	    (tasker_url && put_escaped(out, tasker_url) < 0) ||
	    buf_append(out, page + head, page_html_len - head) < 0) {
		out->len = len0;
		return -1;
	}
	return 0;
}

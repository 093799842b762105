/*
 * webpage - the middleman's page as it is served: page.html (page.h) with
 * the tasker's URL (--tasker-url) written into its <meta name="tasker">, so
 * that the page knows where to submit, cancel and control without a second
 * request.
 */
#ifndef WARREN_WEBPAGE_H
#define WARREN_WEBPAGE_H

#include "buf.h"

/*
 * Checks a --tasker-url value: an absolute http:// or https:// URL with a
 * host (url_parse's rules), optionally a path prefix, and no userinfo,
 * query or fragment (the page appends /task and /control to it, and a
 * browser refuses to fetch a URL with credentials). 0, or -1 with *why set
 * to a static message for a person.
 */
int webpage_check_tasker_url(const char *url, const char **why);

/*
 * Appends to out the page as it is served: gzip-compressed (one gzip
 * member, RFC 1952), its text page.html with tasker_url (HTML-escaped) in
 * its tasker meta tag; NULL or "" leaves the tag empty (the page then uses
 * its own host, port 8080). 0, or -1 when out of memory or when the page
 * has no such tag (out is then left as it was).
 */
int webpage_build(const char *tasker_url, buf_t *out);

#endif

/* strstr.c - strstr() for the static and cross builds: the plain search.
 *
 * musl's (strstr.lo, 1.3 KB on x86_64) is the two-way algorithm, linear in
 * every case; its callers here search short strings: musl's resolver a
 * line of /etc/hosts for a host name, warren a URL for "://", a broker's
 * reply text, the page's head for its meta tag (src/mq.c, src/url.c,
 * src/webpage.c). There the plain search, at most len(haystack) x
 * len(needle) comparisons, costs nothing that matters. Linked ahead of the
 * C library like printf.c (port/embedded.mk).
 */
#include <string.h>

char *strstr(const char *h, const char *n)
{
	for (;; h++) {
		size_t i = 0;
		while (n[i] && h[i] == n[i])
			i++;
		if (!n[i])
			return (char *)h;
		if (!h[i])
			return NULL;
	}
}

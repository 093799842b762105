/* net.c - socket helpers; see net.h. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int net_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int net_nodelay(int fd)
{
	int one = 1;
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int net_socket_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno ? errno : EINVAL;
	return err;
}

int net_pipe(int p[2])
{
	if (pipe(p) < 0)
		return -1;
	if (net_nonblock(p[0]) < 0 || net_nonblock(p[1]) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	return 0;
}

static int v4_private(const unsigned char *a)
{
	return a[0] == 0 || a[0] == 10 || a[0] == 127 ||
	       (a[0] == 169 && a[1] == 254) ||
	       (a[0] == 172 && (a[1] & 0xF0) == 16) ||
	       (a[0] == 192 && a[1] == 168) ||
	       (a[0] == 100 && (a[1] & 0xC0) == 64) || /* CGNAT 100.64/10 */
	       a[0] >= 224; /* multicast, reserved, broadcast */
}

int net_addr_is_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return v4_private((const unsigned char *)&in->sin_addr);
	}
	if (sa->sa_family != AF_INET6)
		return 1;
	const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	static const unsigned char zero[10];
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	if (!memcmp(a, zero, 10) && a[10] == 0xff && a[11] == 0xff)
		return v4_private(a + 12); /* IPv4-mapped */
	if (!memcmp(a, nat64, 12))
		return v4_private(a + 12);
	if (!memcmp(a, zero, 10) && a[10] == 0 && a[11] == 0)
		return 1; /* ::, ::1 and the deprecated IPv4-compatible block */
	return (a[0] & 0xFE) == 0xFC ||           /* unique local fc00::/7 */
	       (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) || /* link-local */
	       (a[0] == 0xFE && (a[1] & 0xC0) == 0xC0) || /* site-local */
	       a[0] == 0xFF;                         /* multicast */
}

/* Splits spec into host (NULL = any) and port. 0, or -1 when malformed. */
static int split_listen(const char *spec, char *host, size_t hostlen,
			char *port, size_t portlen)
{
	const char *colon = strrchr(spec, ':');
	const char *p = colon ? colon + 1 : spec;
	host[0] = '\0';
	if (colon) {
		const char *h = spec;
		size_t n = (size_t)(colon - spec);
		if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
			h++;
			n -= 2;
		} else if (memchr(h, ':', n)) {
			return -1; /* bare IPv6 needs brackets */
		}
		if (n == 0 || n >= hostlen)
			return -1;
		memcpy(host, h, n);
		host[n] = '\0';
	}
	size_t pl = strlen(p);
	if (pl == 0 || pl >= portlen || strspn(p, "0123456789") != pl)
		return -1;
	long v = strtol(p, NULL, 10);
	if (v < 0 || v > 65535)
		return -1;
	memcpy(port, p, pl + 1);
	return 0;
}

int net_check_listen(const char *spec)
{
	char host[256], port[8];
	return split_listen(spec, host, sizeof(host), port, sizeof(port));
}

int net_listen(const char *spec, char *err, size_t errlen)
{
	char host[256], port[8];
	if (split_listen(spec, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, errlen, "bad listen address '%s' (want [ADDR:]PORT)", spec);
		return -1;
	}
	struct addrinfo hints = { 0 }, *res;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "listen address '%s': %s", spec, gai_strerror(rc));
		return -1;
	}
	int fd = -1, saved = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (net_nonblock(fd) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, HTTP_LISTEN_BACKLOG) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(saved));
	return fd;
}

void net_addr_str(const struct sockaddr *sa, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;
		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		port = ntohs(s->sin_port);
		snprintf(out, outlen, "%s:%d", ip, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;
		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		port = ntohs(s->sin6_port);
		snprintf(out, outlen, "[%s]:%d", ip, port);
	} else {
		snprintf(out, outlen, "unknown");
	}
}

int net_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

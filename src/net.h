/*
 * net - socket helpers with one job each (after Redis's anet): listening
 * sockets from "[ADDR:]PORT", non-blocking mode, Nagle off, a pending
 * connect's outcome, pipes for the loop, address formatting and the
 * private-address test of --deny-private.
 */
#ifndef WARREN_NET_H
#define WARREN_NET_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Opens a non-blocking, close-on-exec listening TCP socket on spec:
 * "PORT", "ADDR:PORT" or "[IPv6]:PORT" (ADDR a numeric address or a name).
 * Returns the fd, or -1 with a message for a person in err.
 */
int net_listen(const char *spec, char *err, size_t errlen);
/* Checks spec's syntax only (for option validation). 0 when valid. */
int net_check_listen(const char *spec);
/* Sets O_NONBLOCK and FD_CLOEXEC. 0, or -1. */
int net_nonblock(int fd);
/* Turns Nagle's algorithm off (answers and frames leave whole, at once).
 * 0, or -1. */
int net_nodelay(int fd);
/* The outcome of a non-blocking connect once fd is writable: 0 when
 * connected, else the errno value that says why not (SO_ERROR). */
int net_socket_error(int fd);
/* A pipe whose two ends are non-blocking and close-on-exec. 0, or -1. */
int net_pipe(int p[2]);
/* 1 when sa is a loopback, link-local, private (RFC 1918, CGNAT), unique
 * local, unspecified, multicast or broadcast address (--deny-private), or
 * of a family other than IPv4 and IPv6. */
int net_addr_is_private(const struct sockaddr *sa);
/* "1.2.3.4:80" or "[::1]:80" for a socket address. */
void net_addr_str(const struct sockaddr *sa, char *out, size_t outlen);
/* The local port a socket is bound to, or -1. */
int net_local_port(int fd);

#endif

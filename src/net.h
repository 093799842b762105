/*
 * net - socket helpers with one job each (after Redis's anet): listening
 * sockets from "[ADDR:]PORT", non-blocking mode, address formatting.
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
/* "1.2.3.4:80" or "[::1]:80" for a socket address. */
void net_addr_str(const struct sockaddr *sa, char *out, size_t outlen);
/* The local port a socket is bound to, or -1. */
int net_local_port(int fd);

#endif

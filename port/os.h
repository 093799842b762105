/*
 * os - what differs between the platforms warren runs on (glibc, musl,
 * old kernels): random bytes, the host name.
 */
#ifndef WARREN_OS_H
#define WARREN_OS_H

#include <stddef.h>

/* Fills buf with n bytes from the kernel's random source (getrandom, or
 * /dev/urandom on kernels before 3.17). 0, or -1. */
int os_random(void *buf, size_t n);
/* The host name, NUL-terminated and truncated to fit. */
void os_hostname(char *out, size_t outlen);
/* Raises the soft limit on open files to the hard limit (a server with
 * many clients). Returns the soft limit now in force, or -1. */
long os_raise_nofile(void);

#endif

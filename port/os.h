/*
 * os - what differs between the platforms warren runs on (glibc, musl,
 * old kernels): random bytes, the host name, zero-copy socket to file,
 * the path of an open file.
 */
#ifndef WARREN_OS_H
#define WARREN_OS_H

#include <stddef.h>
#include <sys/types.h>

/* Fills buf with n bytes from the kernel's random source (getrandom, or
 * /dev/urandom on kernels before 3.17). 0, or -1. */
int os_random(void *buf, size_t n);
/* The host name, NUL-terminated and truncated to fit. */
void os_hostname(char *out, size_t outlen);
/* Raises the soft limit on open files to the hard limit (a server with
 * many clients). Returns the soft limit now in force, or -1. */
long os_raise_nofile(void);
/* The number of CPUs this process may run on (sched_getaffinity, as
 * musl's sysconf(_SC_NPROCESSORS_ONLN) counts them), at least 1. */
int os_cpus(void);
/* The soft limit on open files, or -1 when unlimited or unknown: what
 * sysconf(_SC_OPEN_MAX) answers, without the table of every other name
 * (1 KB of a static program). */
long os_open_max(void);
/* Moves up to n bytes from the socket in to the file out (at its offset)
 * through the pipe p ({-1, -1} at first: created here, closed by the
 * caller), without a copy through user space (splice on Linux). Returns
 * the bytes now in the file, 0 at the end of the stream, -1 with errno for
 * the socket (EAGAIN: nothing to read now) or for the pipe, -2 with errno
 * for the file. ENOSYS, or EINVAL before any byte moved: not possible
 * here, use read() and write(). */
ssize_t os_splice(int in, int out, int p[2], size_t n);
/* The absolute path, free of symlinks, of the file or directory open as
 * fd, as the kernel names it in /proc/self/fd (what musl's realpath did
 * until 1.2.3; its path walk since costs a static program 1.4 KB). 0, or
 * -1 with errno (ENOENT: no /proc; ENAMETOOLONG: longer than outlen - 1). */
int os_fd_path(int fd, char *out, size_t outlen);

#endif

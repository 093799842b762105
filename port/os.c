/* os.c - platform layer for Linux (glibc and musl); see os.h. */
/* splice, pipe2 and F_SETPIPE_SZ are _GNU_SOURCE */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <unistd.h>

static int urandom_read(unsigned char *p, size_t n)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	close(fd);
	return 0;
}

int os_random(void *buf, size_t n)
{
	unsigned char *p = buf;
#ifdef SYS_getrandom
	while (n > 0) {
		long r = syscall(SYS_getrandom, p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOSYS)
				return urandom_read(p, n);
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
#else
	return urandom_read(p, n);
#endif
}

void os_hostname(char *out, size_t outlen)
{
	if (gethostname(out, outlen) < 0)
		strncpy(out, "unknown", outlen);
	out[outlen - 1] = '\0';
}

long os_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -1;
	}
	return rl.rlim_cur == RLIM_INFINITY ? (long)1 << 30 : (long)rl.rlim_cur;
}

int os_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	int n = CPU_COUNT(&set);
	return n > 0 ? n : 1;
}

long os_open_max(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return -1;
	return (long)rl.rlim_cur;
}

ssize_t os_splice(int in, int out, int p[2], size_t n)
{
#if defined(__linux__) && defined(SPLICE_F_MOVE)
	if (p[0] < 0) {
		if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
			return -1;
		fcntl(p[1], F_SETPIPE_SZ, (int)n); /* else 64 KiB a move */
	}
	ssize_t got = splice(in, NULL, p[1], NULL, n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (got <= 0)
		return got;
	for (size_t left = (size_t)got; left > 0;) {
		ssize_t w = splice(p[0], NULL, out, NULL, left, SPLICE_F_MOVE);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return -2;
		}
		left -= (size_t)w;
	}
	return got;
#else
	(void)in, (void)out, (void)p, (void)n;
	errno = ENOSYS;
	return -1;
#endif
}

int os_fd_path(int fd, char *out, size_t outlen)
{
	char link[32];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, out, outlen);
	if (n < 0)
		return -1;
	if ((size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	out[n] = '\0';
	return 0;
}

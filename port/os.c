/* os.c - platform layer for Linux (glibc and musl); see os.h. */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
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

/* faccessat.c - faccessat() for the static and cross builds: the system
 * calls alone.
 *
 * musl's checks the effective IDs for AT_EACCESS on kernels without
 * faccessat2 (Linux before 5.8) by cloning a child that switches its IDs
 * and asks for it (641 B on x86_64). warren's one caller passes no flag
 * (src/worker.c, the download folder); with a flag this asks faccessat2
 * and, where the kernel lacks it, fails with ENOSYS instead. Linked ahead
 * of the C library like printf.c (port/embedded.mk).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

int faccessat(int fd, const char *path, int mode, int flag)
{
	if (!flag)
		return (int)syscall(SYS_faccessat, fd, path, mode);
#ifdef SYS_faccessat2
	return (int)syscall(SYS_faccessat2, fd, path, mode, flag);
#else
	errno = ENOSYS;
	return -1;
#endif
}

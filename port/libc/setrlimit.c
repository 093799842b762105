/* setrlimit.c - setrlimit() for the static and cross builds: the
 * prlimit64 system call alone (Linux 2.6.36 and later).
 *
 * musl's tries that call first too, and on kernels without it falls back
 * to setting the limit in each thread in turn (__synccall, with its
 * semaphores and timed waits): 2 KB of every program that raises its
 * descriptor limit (port/os.c, src/http.c), for kernels warren does not
 * run on. Linked ahead of the C library like printf.c (port/embedded.mk).
 */
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int setrlimit(int resource, const struct rlimit *rl)
{
	/* musl's struct rlimit is prlimit64's: two 64-bit counts. */
	_Static_assert(sizeof(rl->rlim_cur) == 8, "rlim_t is not 64 bits");
	return (int)syscall(SYS_prlimit64, 0, resource, rl, (struct rlimit *)0);
}

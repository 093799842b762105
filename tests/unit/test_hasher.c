/* test_hasher.c - SHA-256 in a helper process: the digest of a file written
 * piece by piece, with a state handed over, a restart, and a helper that
 * dies. */
#include "check.h"
#include "hasher.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char result[65];
static int called;

static void on_hex(void *arg, const char *hex)
{
	loop_t *loop = arg;
	called++;
	snprintf(result, sizeof(result), "%s", hex ? hex : "(null)");
	loop_stop(loop);
}

static void expect_digest(const unsigned char *data, size_t n, char out[65])
{
	sha256_t s;
	sha256_init(&s);
	sha256_update(&s, data, n);
	sha256_hex(&s, out);
}

int main(void)
{
	char path[] = "/tmp/warren-test-hasher-XXXXXX", want[65];
	int fd = mkstemp(path);
	loop_t *loop = loop_new();
	size_t total = 5 * 1024 * 1024 + 77;
	unsigned char *data = malloc(total);
	CHECK(fd >= 0 && loop && data);
	srand(7);
	for (size_t i = 0; i < total; i++)
		data[i] = (unsigned char)rand();
	expect_digest(data, total, want);

	/* The caller hashed the first 1000 bytes itself and hands over. */
	sha256_t s;
	sha256_init(&s);
	sha256_update(&s, data, 1000);
	CHECK(write(fd, data, 1000) == 1000);
	hasher_t *h = hasher_start(loop, fd, &s, 1000);
	CHECK(h != NULL);
	size_t off = 1000;
	while (off < total) {
		size_t k = total - off < 300000 ? total - off : 300000;
		CHECK(write(fd, data + off, k) == (ssize_t)k);
		off += k;
		hasher_advance(h, off);
	}
	CHECK_INT(hasher_finish(h, total, on_hex, loop), 0);
	loop_run(loop);
	CHECK_INT(called, 1);
	CHECK_STR(result, want);
	hasher_free(h);

	/* Garbage first, then the file emptied and written again. */
	CHECK(ftruncate(fd, 0) == 0);
	unsigned char junk[4096] = { 1, 2, 3 };
	CHECK(pwrite(fd, junk, sizeof(junk), 0) == (ssize_t)sizeof(junk));
	sha256_init(&s);
	h = hasher_start(loop, fd, &s, 0);
	hasher_advance(h, 2 * 1024 * 1024); /* more than is there: reads what it can */
	CHECK(ftruncate(fd, 0) == 0);
	CHECK_INT(hasher_restart(h), 0);
	CHECK(pwrite(fd, data, total, 0) == (ssize_t)total);
	hasher_advance(h, total);
	called = 0;
	CHECK_INT(hasher_finish(h, total, on_hex, loop), 0);
	loop_run(loop);
	CHECK_INT(called, 1);
	CHECK_STR(result, want);
	hasher_free(h);

	/* Asked for more than the file holds: the helper reports failure. */
	sha256_init(&s);
	h = hasher_start(loop, fd, &s, 0);
	called = 0;
	CHECK_INT(hasher_finish(h, total + 10, on_hex, loop), 0);
	loop_run(loop);
	CHECK_INT(called, 1);
	CHECK_STR(result, "(null)");
	hasher_free(h);

	/* Freed before finishing: no callback, no zombie left to find. */
	sha256_init(&s);
	h = hasher_start(loop, fd, &s, 0);
	hasher_advance(h, total);
	hasher_free(h);
	CHECK(waitpid(-1, NULL, WNOHANG) <= 0);

	close(fd);
	unlink(path);
	free(data);
	loop_free(loop);
	return check_report();
}

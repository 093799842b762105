/*
 * hasher - the SHA-256 of a file being written, computed by a helper
 * process, so that hashing runs on another CPU while the event loop keeps
 * receiving and writing. Hashing is the largest CPU cost of a plain-HTTP
 * download (more than the kernel's copies); with it off the loop's CPU a
 * download goes about as fast as the network and the disk allow.
 *
 * The helper is forked with the digest state the caller has so far (bytes
 * [0, upto) already hashed), reads what the caller reports as written with
 * pread() (from the page cache), and answers the hex digest when asked. No
 * threads, nothing shared but the file; the helper exits when told, or when
 * the caller goes away (its command pipe closes).
 *
 * Worth it only where a CPU is free for it (hasher_useful) and for a large
 * file; the caller hashes in place otherwise, and also when anything here
 * fails (hasher_start returns NULL, or the digest callback gets NULL).
 */
#ifndef WARREN_HASHER_H
#define WARREN_HASHER_H

#include <stdint.h>

#include "loop.h"
#include "sha256.h"

typedef struct hasher hasher_t;

/* hex: the 64-character digest, or NULL when the helper failed. */
typedef void (*hasher_fn)(void *arg, const char *hex);

/* 1 when this machine has at least min_cpus CPUs online. */
int hasher_useful(int min_cpus);

/*
 * Forks a helper that continues state (which covers bytes [0, upto) of the
 * file) over the file open at fd. NULL when it cannot (the caller keeps
 * hashing in place).
 */
hasher_t *hasher_start(loop_t *loop, int fd, const sha256_t *state, uint64_t upto);
/* Bytes [0, upto) are in the file now. Never blocks (cheap to call often). */
void hasher_advance(hasher_t *h, uint64_t upto);
/* The file was emptied and starts over: the digest restarts from zero.
 * 0, or -1 when the helper cannot be told (free it, hash in place). */
int hasher_restart(hasher_t *h);
/* The file is whole at total bytes: cb gets the digest later, from the
 * loop, once. 0, or -1 (cb not called). */
int hasher_finish(hasher_t *h, uint64_t total, hasher_fn cb, void *arg);
/* Stops the helper (killed if still running) and frees; cb is not called. */
void hasher_free(hasher_t *h);

#endif

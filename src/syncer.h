/*
 * syncer - fsync() off the event loop. A download is durable only once its
 * file and then its folder are synced, two waits of a few milliseconds
 * each on a disk's journal; in the loop they would hold every other
 * download and the broker connection. A helper process (forked at the
 * first request, as hasher.h's is) takes the descriptors over a UNIX
 * socket (SCM_RIGHTS) and syncs them in order while the loop goes on with
 * the next download.
 *
 * Requests for one file (same device and inode) made while a sync of it is
 * running share the next sync: the downloads that finish together in one
 * folder pay one directory sync, not one each.
 *
 * Without a helper (fork failed, or it died) the syncs are done in place,
 * from the loop, with the same callbacks. No threads.
 */
#ifndef WARREN_SYNCER_H
#define WARREN_SYNCER_H

#include <stdint.h>

#include "loop.h"

typedef struct syncer syncer_t;

/* err: 0 when the file is synced, else the errno of fsync. */
typedef void (*syncer_fn)(void *arg, int err);

/* A syncer for the loop's callers; NULL on ENOMEM. Forks nothing yet. */
syncer_t *syncer_new(loop_t *loop);
/* Kills the helper; pending callbacks are not called. NULL is harmless. */
void syncer_free(syncer_t *s);

/*
 * Syncs the file open as fd (fsync) and calls cb from the loop once it is
 * on disk, exactly once unless syncer_cancel comes first. fd may be closed
 * as soon as this returns. Returns an id > 0, or 0 on error (fd unusable
 * or ENOMEM: cb is not called).
 */
uint64_t syncer_sync(syncer_t *s, int fd, syncer_fn cb, void *arg);
/* Forgets request id: its callback is not called. Harmless for 0 or an id
 * already called back. */
void syncer_cancel(syncer_t *s, uint64_t id);

#endif

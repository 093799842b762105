/*
 * atomicfile - replaces a file so that a crash leaves either the old
 * contents or the new, whole and on disk: a temporary file beside it is
 * written, fsynced, renamed over the name, then the directory is fsynced.
 *
 * Names are relative to a directory fd (openat/renameat), AT_FDCWD for the
 * current directory; a name may hold slashes (its last component is the
 * file). The temporary file is "<file>.tmp" in the same directory, created
 * with O_EXCL|O_NOFOLLOW (never written through a link someone left
 * there); one left by a crash is removed first. The caller must be the
 * only writer of the name (the journal's lock, the part's lock): two
 * writers would share the temporary name.
 *
 * Blocking (file I/O, fsync). Usage:
 *   struct atomicfile af;
 *   if (atomicfile_open(&af, dirfd, "name", 0644) < 0) ...
 *   atomicfile_write(&af, ...) or write to af.fd directly ...
 *   int fd = atomicfile_commit(&af);  (or atomicfile_abort(&af))
 */
#ifndef WARREN_ATOMICFILE_H
#define WARREN_ATOMICFILE_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

struct atomicfile {
	int fd;                   /* the temporary file, open read-write */
	int dirfd;                /* its directory, opened by atomicfile_open */
	char name[NAME_MAX + 1];  /* the file's name in dirfd */
	char tmp[NAME_MAX + 1];   /* the temporary file's name in dirfd */
};

/*
 * Creates the temporary file for name (relative to dirfd) with mode. 0, or
 * -1 with errno (ENAMETOOLONG when the last component leaves no room for
 * ".tmp"; the errors of openat). On failure nothing is left open.
 */
int atomicfile_open(struct atomicfile *af, int dirfd, const char *name,
		    mode_t mode);

/* Writes all of buf to the temporary file (retries short writes and
 * EINTR). 0, or -1 with errno; the caller then calls atomicfile_abort. */
int atomicfile_write(struct atomicfile *af, const void *buf, size_t len);

/*
 * Makes the new contents the file's: fsync, rename over the name, fsync of
 * the directory. Returns the file's fd, open read-write and positioned
 * where writing stopped, which the caller now owns (close it, or keep it:
 * the journal appends to it). On failure the temporary file is removed and
 * closed, the old file is untouched, and -1 is returned with errno. The
 * directory's fsync is the one step that may fail without failing the
 * call: the rename is atomic either way, only its durability across a power
 * cut is at stake, and the file is by then in place.
 */
int atomicfile_commit(struct atomicfile *af);

/* Abandons the new contents: closes and removes the temporary file. */
void atomicfile_abort(struct atomicfile *af);

/* The whole protocol for contents in memory: name (relative to dirfd)
 * becomes buf. 0, or -1 with errno (the old file untouched). */
int atomicfile_replace(int dirfd, const char *name, const void *buf,
		       size_t len, mode_t mode);

/*
 * The same replace without either fsync, for small records whose loss in
 * a power cut only costs work done again (the worker's .meta and .done: a
 * missing or torn one means a download again): with the fsyncs a record
 * took 1.9 ms here, without them 0.3 ms, two records per download. Readers still
 * see the old contents or the new, whole; the planted-link care is the
 * same. 0, or -1 with errno.
 */
int atomicfile_replace_unsynced(int dirfd, const char *name, const void *buf,
				size_t len, mode_t mode);

#endif

/*
 * part - the files of one download in the worker's folder:
 *
 *   <dir>/.<id>.part   the bytes received so far, locked (flock) by the
 *                      process writing it, so two workers sharing a folder
 *                      never write one task at once;
 *   <dir>/.<id>.meta   the validator (ETag or Last-Modified) that makes a
 *                      later Range request safe (sent as If-Range);
 *   <dir>/.<id>.done   "file\nsha256\nbytes\n", written once the final file
 *                      exists and removed once the task is acknowledged: a
 *                      task redelivered in between is settled from it
 *                      without a second download;
 *   <dir>/<name>       the final file, linked into place only when whole
 *                      (fsync first), never over an existing file.
 *
 * Blocking file-system calls, all small except part_hash_prefix.
 */
#ifndef WARREN_PART_H
#define WARREN_PART_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

#define PART_MAX_VALIDATOR 256

struct part {
	int fd;                         /* open read-write and locked, or -1 */
	char dir[PATH_MAX];
	char id[64];
	char path[PATH_MAX];            /* <dir>/.<id>.part */
	uint64_t size;                  /* bytes in it (the resume offset) */
	uint64_t flushed;               /* write-back started up to here */
	char validator[PART_MAX_VALIDATOR]; /* for If-Range, "" when none */
};

/*
 * Opens (creating) and locks <dir>/.<id>.part and reads its validator.
 * Returns 0, 1 when another process holds the lock (p->fd is -1), or -1 on
 * an error described in err.
 */
int part_open(struct part *p, const char *dir, const char *id,
	      char *err, size_t errlen);
/* Stores the validator for a later resume. 0, or -1 (not fatal: the next
 * attempt then restarts from zero). */
int part_set_validator(struct part *p, const char *v, size_t n);
/* Empties the file and forgets the validator. 0, or -1. */
int part_restart(struct part *p);
/* Starts writing what was appended since the last call to disk, without
 * waiting, once FETCH_WRITEBACK_BYTES have gathered (Linux; elsewhere a
 * no-op): the fsync of part_finish then has little left to do. */
void part_write_behind(struct part *p);
/* Feeds bytes [0, p->size) of the file into s, reading through buf. 0, or -1. */
int part_hash_prefix(struct part *p, sha256_t *s, char *buf, size_t buflen);

/*
 * Makes the download final: fsync, then <dir>/<name> (or name.1, name.2,
 * ...) made to point at the data without replacing anything, the done
 * record written (when sha256 is not NULL), the .part and .meta removed and
 * the folder synced. The absolute final path goes to final. On success the
 * part is closed (fd -1). 0, or -1 with err (the part is left open).
 */
int part_finish(struct part *p, const char *name, const char *sha256,
		uint64_t bytes, char *final, size_t finallen, char *err, size_t errlen);
/* The same, renaming onto exactly target (replacing it), without a done
 * record: worker --get -o FILE. */
int part_finish_as(struct part *p, const char *target, char *err, size_t errlen);
/* Closes the part, keeping its files for a resume (shutdown). */
void part_close(struct part *p);
/* Closes the part and removes its files (failure). */
void part_remove(struct part *p);

/*
 * Reads the done record of task id in dir. Returns 1 when it exists and its
 * file is still there with the recorded size (file, sha256 and bytes
 * filled), 0 otherwise.
 */
int part_done_read(const char *dir, const char *id, char *file, size_t filelen,
		   char sha256[65], uint64_t *bytes);
/* Removes the done record (after the task is acknowledged). */
void part_done_clear(const char *dir, const char *id);

/*
 * The wait marker .<id>.wait: a worker holding the delivery of a task whose
 * .part another worker of the same folder has locked leaves it, so that the
 * other worker (whose own delivery went void with its broker connection)
 * knows to finish rather than abandon the download. Mark: 0 or -1.
 */
int part_wait_mark(const char *dir, const char *id);
int part_wait_exists(const char *dir, const char *id);
void part_wait_clear(const char *dir, const char *id);

/*
 * Makes a file name safe for the folder: keeps what follows the last '/' or
 * '\\', replaces control bytes by '_', drops leading dots and trailing
 * spaces and dots, truncates to 200 bytes (on a UTF-8 character boundary);
 * "index.html" when nothing is left. Pure.
 */
void part_safe_name(const char *in, size_t len, char *out, size_t outlen);
/* The safe name from a URL path ("/a/b%20c.txt?x" -> "b c.txt"). Pure. */
void part_name_from_path(const char *path, char *out, size_t outlen);

#endif

/*
 * part - the files of one download in the worker's folder:
 *
 *   <dir>/.<id>.part   the bytes received so far, locked (flock) by the
 *                      process writing it, so two workers sharing a folder
 *                      never write one task at once;
 *   <dir>/.<id>.meta   the validator (ETag or Last-Modified) that makes a
 *                      later Range request safe (sent as If-Range);
 *   <dir>/.<id>.done   "file\nsha256\nbytes\ninode\n", written once the final
 *                      file exists and removed once the task is
 *                      acknowledged: a task redelivered in between is
 *                      settled from it without a second download;
 *   <dir>/.<id>.wait   a worker of the same folder waits for this download;
 *   <dir>/<name>       the final file, linked into place only when whole
 *                      (fsync first), never over an existing file.
 *
 * The folder may be shared with other users (issue 12). Every name is
 * opened relative to the folder's descriptor (opened once: a --dir that is
 * a symbolic link is resolved at start), never following a symbolic link,
 * and a file the worker creates is created exclusively (records go through
 * a temporary name and rename). A bookkeeping file found there is believed
 * only when it is a regular file of the worker's user with one link; any
 * other is logged and removed, and the download starts afresh. The final
 * name is checked to be the very file written, so it is never a link.
 *
 * Blocking file-system calls, all small except part_hash_prefix.
 */
#ifndef WARREN_PART_H
#define WARREN_PART_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "sha256.h"
#include "syncer.h"

#define PART_MAX_VALIDATOR 256

/* The download folder, opened once. */
struct part_dir {
	int fd;                         /* O_DIRECTORY, or -1 */
	char path[PATH_MAX];            /* absolute, symbolic links resolved */
	syncer_t *syncer;               /* for part_finish_async; borrowed */
};

/* Opens the folder at path (which realpath resolves). 0, or -1 with err. */
int part_dir_open(struct part_dir *d, const char *path, char *err, size_t errlen);
void part_dir_close(struct part_dir *d);
/* Lets part_finish_async sync the folder's files through s (borrowed). */
void part_dir_async(struct part_dir *d, syncer_t *s);

struct part_async;

struct part {
	int fd;                         /* open read-write and locked, or -1 */
	const struct part_dir *dir;     /* borrowed */
	char id[64];
	char name[80];                  /* .<id>.part */
	char path[PATH_MAX];            /* <dir>/.<id>.part, for messages */
	uint64_t size;                  /* bytes in it (the resume offset) */
	uint64_t flushed;               /* write-back started up to here */
	char validator[PART_MAX_VALIDATOR]; /* for If-Range, "" when none */
	struct part_async *async;       /* a part_finish_async running, or NULL */
};

/*
 * Opens (creating) and locks <dir>/.<id>.part and reads its validator; a
 * .part or .meta that is not the worker's own is removed first (logged).
 * Returns 0, 1 when another process holds the lock (p->fd is -1), or -1 on
 * an error described in err.
 */
int part_open(struct part *p, const struct part_dir *dir, const char *id,
	      char *err, size_t errlen);
/* Stores the validator for a later resume. 0, or -1 (not fatal: the next
 * attempt then restarts from zero). */
int part_set_validator(struct part *p, const char *v, size_t n);
/* Empties the file and forgets the validator. 0, or -1. */
int part_restart(struct part *p);
/* Cuts the file back to p->size, writing on from there (bytes that reached
 * it past p->size in a failed move are not the body's). 0, or -1. */
int part_trim(struct part *p);
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
/*
 * part_finish off the loop, through the folder's syncer (part_dir_async):
 * the file's fsync, the final name, then the folder's fsync (shared with
 * the downloads that finish meanwhile), then cb with err NULL (the part
 * closed) or the failure (the part left open). The loop runs meanwhile;
 * part_close or part_remove stops it (cb not called; part_remove also
 * removes a final name already made). Without a syncer (or the memory for
 * a request) it is part_finish, and cb runs before this returns.
 */
void part_finish_async(struct part *p, const char *name, const char *sha256,
		       uint64_t bytes, char *final, size_t finallen,
		       void (*cb)(void *arg, const char *err), void *arg);
/* The same, renaming onto exactly target (replacing it; in p's folder),
 * without a done record: worker --get -o FILE. final: its absolute path. */
int part_finish_as(struct part *p, const char *target, char *final, size_t finallen,
		   char *err, size_t errlen);
/* Closes the part, keeping its files for a resume (shutdown). */
void part_close(struct part *p);
/* Closes the part and removes its files (failure). */
void part_remove(struct part *p);

/* What a done record says. */
struct part_record {
	char file[PATH_MAX];            /* absolute path of the final file */
	char sha256[65];
	uint64_t bytes;
};

/*
 * Reads the done record of task id in dir. Returns 1 when it is the
 * worker's own and its file is still there in dir, the worker's, with the
 * recorded size and inode (rec filled), 0 otherwise (a record not the
 * worker's own is logged and removed).
 */
int part_done_read(const struct part_dir *dir, const char *id, struct part_record *rec);

/* part_claim's answers. */
enum { PART_OURS = 0, PART_BUSY = 1, PART_DONE = 2 };

/*
 * The protocol of workers sharing a folder, in one call: PART_DONE when a
 * done record settles task id (rec filled, nothing left open); PART_BUSY
 * when another process holds its .part (a wait marker is left, so that it
 * finishes the download for us: see part_wait_mark); PART_OURS when p is
 * open and locked for us (the marker cleared; a record that appeared
 * meanwhile is checked again). -1 with err.
 */
int part_claim(struct part *p, const struct part_dir *dir, const char *id,
	       struct part_record *rec, char *err, size_t errlen);
/* Removes a final file file (absolute, from part_finish) of the folder. */
void part_drop_final(const struct part_dir *dir, const char *file);
/* Removes the done record (after the task is acknowledged). */
void part_done_clear(const struct part_dir *dir, const char *id);

/*
 * The wait marker .<id>.wait: a worker holding the delivery of a task whose
 * .part another worker of the same folder has locked leaves it, so that the
 * other worker (whose own delivery went void with its broker connection)
 * knows to finish rather than abandon the download. Mark: 0 or -1.
 */
int part_wait_mark(const struct part_dir *dir, const char *id);
/* 1 when the marker is there and the worker's own. */
int part_wait_exists(const struct part_dir *dir, const char *id);
void part_wait_clear(const struct part_dir *dir, const char *id);

/*
 * Removes the bookkeeping files (.<id>.part, .meta, .done, .wait and their
 * temporaries) untouched for max_age_s seconds whose task held() does not
 * claim, and skips a .part another process has locked. Final files are
 * never touched. Returns how many were removed.
 */
unsigned part_sweep(const struct part_dir *dir, int64_t max_age_s,
		    int (*held)(const char *id, void *arg), void *arg);

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

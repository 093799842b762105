/*
 * journal - an append-only file of records that survives crashes: each
 * record is written with one write() as
 *
 *     LLLLLLLL CCCCCCCC <payload>\n
 *
 * (L the payload length, C its CRC-32, both 8 lowercase hex digits), so a
 * record cut short by a crash or power loss, or damaged, is recognised.
 * Opening replays every whole record in order and cuts off a torn tail
 * (the file is truncated to its last good record: never fatal). Compaction
 * rewrites the file atomically (temporary file, fsync, rename, directory
 * fsync). An exclusive flock() keeps a second process off the same file.
 *
 * Blocking file I/O: records are small and the file is local.
 */
#ifndef WARREN_JOURNAL_H
#define WARREN_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct journal journal_t;

/* Called for each record found at open, in file order. */
typedef void (*journal_replay_fn)(const char *rec, size_t len, void *arg);
/* Compaction source: the next record to keep (*len set), or NULL at the end. */
typedef const char *(*journal_next_fn)(void *arg, size_t *len);

/*
 * Opens path (created 0600 when missing), takes the lock, replays it
 * through fn (may be NULL), truncates a torn tail. Returns the journal, or
 * NULL with a reason in err.
 */
journal_t *journal_open(const char *path, journal_replay_fn fn, void *arg,
			char *err, size_t errlen);
/* Closes the file (and the lock). */
void journal_close(journal_t *j);

/*
 * Appends one record (len <= JOURNAL_MAX_RECORD) with a single write().
 * On failure (disk full, I/O error) the file is cut back to its previous
 * end and -1 is returned with errno set. Not durable until journal_sync.
 */
int journal_append(journal_t *j, const char *rec, size_t len);
/* Makes the records appended so far durable (fdatasync); a no-op when
 * nothing was appended since the last call. 0, or -1 with errno. */
int journal_sync(journal_t *j);

/*
 * Replaces the file's contents with the records next() yields, atomically:
 * after a crash at any point, the file holds either the old records or
 * the new ones. 0, or -1 with errno (the journal then goes on as before).
 */
int journal_compact(journal_t *j, journal_next_fn next, void *arg);

/* Records in the file now. */
size_t journal_records(const journal_t *j);
/* Bytes cut off as a torn or damaged tail when the journal was opened. */
uint64_t journal_dropped(const journal_t *j);
/* Bytes in the file now. */
uint64_t journal_size(const journal_t *j);

/* CRC-32 (IEEE 802.3, as zlib's crc32) of p[0..n), continuing from crc
 * (start with 0). */
uint32_t journal_crc32(uint32_t crc, const void *p, size_t n);

#endif

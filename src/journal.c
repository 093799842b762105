/*
 * journal.c - append-only crash-safe record file; see journal.h.
 */
#include "journal.h"
#include "atomicfile.h"
#include "buf.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD_LEN 18 /* "LLLLLLLL CCCCCCCC " */

struct journal {
	int fd;
	char *path;
	uint64_t size;      /* end of the last good record */
	size_t records;
	uint64_t dropped;
	int dirty;          /* appended since the last sync */
};

uint32_t journal_crc32(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *s = p;
	crc = ~crc;
	while (n--) {
		crc ^= *s++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* Parses 8 lowercase hex digits. 0, or -1. */
static int hex8(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	for (int i = 0; i < 8; i++) {
		char c = s[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint32_t)(c - 'a' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/*
 * Looks at the record starting at p[0..n). Returns its whole length,
 * 0 when more bytes are needed, -1 when it is damaged.
 */
static long record_at(const char *p, size_t n, const char **payload,
		      size_t *plen)
{
	uint32_t len, crc;
	if (n < HEAD_LEN)
		return 0;
	if (hex8(p, &len) < 0 || p[8] != ' ' || hex8(p + 9, &crc) < 0 ||
	    p[17] != ' ' || len > JOURNAL_MAX_RECORD)
		return -1;
	if (n < HEAD_LEN + (size_t)len + 1)
		return 0;
	if (p[HEAD_LEN + len] != '\n' ||
	    journal_crc32(0, p + HEAD_LEN, len) != crc)
		return -1;
	*payload = p + HEAD_LEN;
	*plen = len;
	return HEAD_LEN + (long)len + 1;
}

/* Reads the file from the start, replaying whole records; sets j->size to
 * the end of the last good one. 0, or -1 on a read error. */
static int replay(journal_t *j, journal_replay_fn fn, void *arg)
{
	buf_t b = BUF_INIT;
	uint64_t pos = 0;   /* file offset of buf_head(&b) */
	int eof = 0, rc = 0;
	while (!eof) {
		if (buf_reserve(&b, 65536) < 0) {
			errno = ENOMEM;
			rc = -1;
			break;
		}
		ssize_t r = read(j->fd, b.data + b.len, b.cap - b.len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		eof = r == 0;
		b.len += (size_t)r;
		for (;;) {
			const char *payload;
			size_t plen;
			long n = record_at(buf_head(&b), buf_used(&b), &payload, &plen);
			if (n < 0) {
				eof = 1; /* damaged: everything from here is dropped */
				break;
			}
			if (n == 0)
				break;
			if (fn)
				fn(payload, plen, arg);
			j->records++;
			pos += (uint64_t)n;
			buf_consume(&b, (size_t)n);
		}
	}
	buf_free(&b);
	j->size = pos;
	return rc;
}

journal_t *journal_open(const char *path, journal_replay_fn fn, void *arg,
			char *err, size_t errlen)
{
	journal_t *j = calloc(1, sizeof(*j));
	if (!j || !(j->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		free(j);
		return NULL;
	}
	j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "%s: %s", path, errno == EWOULDBLOCK ?
			 "in use by another process" : strerror(errno));
		goto fail;
	}
	if (replay(j, fn, arg) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	struct stat st;
	if (fstat(j->fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if ((uint64_t)st.st_size > j->size) {
		j->dropped = (uint64_t)st.st_size - j->size;
		if (ftruncate(j->fd, (off_t)j->size) < 0 || fsync(j->fd) < 0) {
			snprintf(err, errlen, "%s: cutting a torn tail: %s", path,
				 strerror(errno));
			goto fail;
		}
	}
	if (lseek(j->fd, (off_t)j->size, SEEK_SET) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	return j;
fail:
	journal_close(j);
	return NULL;
}

void journal_close(journal_t *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	free(j);
}

/* Writes all of p to fd. 0, or -1. */
static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Appends the framed record to b. */
static int frame_record(buf_t *b, const char *rec, size_t len)
{
	if (buf_printf(b, "%08x %08x ", (unsigned)len,
		       (unsigned)journal_crc32(0, rec, len)) < 0 ||
	    buf_append(b, rec, len) < 0 || buf_append(b, "\n", 1) < 0)
		return -1;
	return 0;
}

int journal_append(journal_t *j, const char *rec, size_t len)
{
	if (len > JOURNAL_MAX_RECORD) {
		errno = EMSGSIZE;
		return -1;
	}
	buf_t b = BUF_INIT;
	if (frame_record(&b, rec, len) < 0) {
		buf_free(&b);
		errno = ENOMEM;
		return -1;
	}
	int rc = write_all(j->fd, b.data, b.len);
	if (rc < 0) {
		int e = errno;
		/* leave no partial record behind for the next append to bury */
		if (ftruncate(j->fd, (off_t)j->size) < 0 ||
		    lseek(j->fd, (off_t)j->size, SEEK_SET) < 0) {
			/* the torn tail will be cut off at the next open */
		}
		errno = e;
	} else {
		j->size += b.len;
		j->records++;
		j->dirty = 1;
	}
	buf_free(&b);
	return rc;
}

int journal_sync(journal_t *j)
{
	if (!j->dirty)
		return 0;
	if (fdatasync(j->fd) < 0)
		return -1;
	j->dirty = 0;
	return 0;
}

int journal_compact(journal_t *j, journal_next_fn next, void *arg)
{
	struct atomicfile af;
	if (atomicfile_open(&af, AT_FDCWD, j->path, 0600) < 0)
		return -1;
	buf_t b = BUF_INIT;
	size_t records = 0;
	uint64_t size = 0;
	const char *rec;
	size_t len;
	int rc = 0;
	while (rc == 0 && (rec = next(arg, &len)) != NULL) {
		if (len > JOURNAL_MAX_RECORD || frame_record(&b, rec, len) < 0) {
			errno = len > JOURNAL_MAX_RECORD ? EMSGSIZE : ENOMEM;
			rc = -1;
			break;
		}
		records++;
		if (b.len >= 65536) {
			rc = atomicfile_write(&af, b.data, b.len);
			size += b.len;
			buf_reset(&b);
		}
	}
	if (rc == 0 && b.len)
		rc = atomicfile_write(&af, b.data, b.len);
	size += b.len;
	buf_free(&b);
	/* take the lock on the new file before it becomes visible */
	if (rc == 0)
		rc = flock(af.fd, LOCK_EX | LOCK_NB);
	if (rc < 0) {
		atomicfile_abort(&af);
		return -1;
	}
	int fd = atomicfile_commit(&af); /* fsync, rename, directory fsync */
	if (fd < 0)
		return -1;
	/* fd, positioned at its end, is the journal from now on */
	close(j->fd);
	j->fd = fd;
	j->size = size;
	j->records = records;
	j->dirty = 0;
	return 0;
}

size_t journal_records(const journal_t *j) { return j->records; }
uint64_t journal_dropped(const journal_t *j) { return j->dropped; }
uint64_t journal_size(const journal_t *j) { return j->size; }

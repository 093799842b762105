/* part.c - partial, final and done-record files of downloads; see part.h. */
/* sync_file_range (Linux) */
#define _GNU_SOURCE
#include "part.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "config.h"
#include "log.h"
#include "os.h"
#include "url.h"
#include "utf8.h"

/* Opening a name planted by someone else: no link followed, no wait on a
 * FIFO, never a controlling terminal. */
#define OPEN_SAFE (O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

static int side_name(char *out, size_t outlen, const char *id, const char *ext)
{
	int n = snprintf(out, outlen, ".%s.%s", id, ext);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* 1 when st is a file the worker can have written itself: regular, its
 * user's, with no other name (a hard link could point anywhere). */
static int own_file(const struct stat *st, int want_single_link)
{
	return S_ISREG(st->st_mode) && st->st_uid == geteuid() &&
	       (!want_single_link || st->st_nlink == 1);
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Removes a name that is not the worker's own; -1 when it cannot. */
static int discard(const struct part_dir *d, const char *name, const char *why)
{
	log_warn("%s/%s is %s, not a file this worker wrote; removing it", d->path,
		 name, why);
	if (unlinkat(d->fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	int e = errno;
	if (e == EISDIR && unlinkat(d->fd, name, AT_REMOVEDIR) == 0)
		return 0;
	errno = e;
	return -1;
}

static const char *what_is(const struct stat *st)
{
	return S_ISLNK(st->st_mode) ? "a symbolic link" : S_ISDIR(st->st_mode) ? "a directory"
	       : !S_ISREG(st->st_mode) ? "a special file"
	       : st->st_uid != geteuid() ? "another user's file" : "a file with several links";
}

/* Opens a bookkeeping file to read it, believing only the worker's own;
 * another is discarded. The descriptor, or -1 (absent or discarded). */
static int open_own(const struct part_dir *d, const char *name)
{
	struct stat st;
	int fd = openat(d->fd, name, O_RDONLY | OPEN_SAFE);
	if (fd < 0) {
		if (errno != ENOENT && fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			discard(d, name, what_is(&st));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	if (!own_file(&st, 1)) {
		discard(d, name, what_is(&st));
		close(fd);
		return -1;
	}
	return fd;
}

int part_dir_open(struct part_dir *d, const char *path, char *err, size_t errlen)
{
	d->syncer = NULL;
	d->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (os_fd_path(d->fd, d->path, sizeof(d->path)) < 0) {
		snprintf(err, errlen, "%s: no absolute path from /proc/self/fd: %s", path,
			 strerror(errno));
		part_dir_close(d);
		return -1;
	}
	return 0;
}

void part_dir_close(struct part_dir *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

static void read_validator(struct part *p)
{
	char meta[96];
	p->validator[0] = '\0';
	if (side_name(meta, sizeof(meta), p->id, "meta") < 0)
		return;
	int fd = open_own(p->dir, meta);
	if (fd < 0)
		return;
	ssize_t n = read(fd, p->validator, sizeof(p->validator) - 1);
	close(fd);
	if (n <= 0 || p->validator[n - 1] != '\n') { /* torn or empty: unusable */
		p->validator[0] = '\0';
		return;
	}
	p->validator[n - 1] = '\0';
	if (strchr(p->validator, '\n') || strchr(p->validator, '\r'))
		p->validator[0] = '\0';
}

/*
 * One try at opening and locking the .part: 0 (p->fd set), 1 when another
 * process holds it, 2 when the name changed under us or was discarded (try
 * again), -1 on an error (errno).
 */
static int claim_part(struct part *p)
{
	struct stat st, now;
	const struct part_dir *d = p->dir;
	int fd = openat(d->fd, p->name, O_RDWR | OPEN_SAFE);
	if (fd < 0 && errno == ENOENT) {
		fd = openat(d->fd, p->name, O_RDWR | O_CREAT | O_EXCL | OPEN_SAFE, 0644);
		if (fd < 0)
			return errno == EEXIST ? 2 : -1;
	} else if (fd < 0) {
		/* a link (ELOOP), a directory, a socket...: not ours */
		if (fstatat(d->fd, p->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return errno == ENOENT ? 2 : -1;
		return discard(d, p->name, what_is(&st)) < 0 ? -1 : 2;
	}
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!own_file(&st, 0)) {
		close(fd);
		return discard(d, p->name, what_is(&st)) < 0 ? -1 : 2;
	}
	/* Only a file of ours is locked: a planted one locked by its owner
	 * would otherwise look busy for ever. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return e == EWOULDBLOCK ? 1 : -1;
	}
	/* The holder we waited for may have finished (the name then moved
	 * on to the final file, or away): the lock must be on the name's
	 * file. Under the lock, nobody of ours is linking it anywhere, so a
	 * second link was planted. */
	if (fstat(fd, &st) < 0)
		goto fail;
	if (fstatat(d->fd, p->name, &now, AT_SYMLINK_NOFOLLOW) < 0 || !same_file(&st, &now)) {
		close(fd);
		return 2;
	}
	if (st.st_nlink != 1) {
		close(fd);
		return discard(d, p->name, what_is(&st)) < 0 ? -1 : 2;
	}
	if (lseek(fd, 0, SEEK_END) < 0)
		goto fail;
	p->fd = fd;
	p->size = (uint64_t)st.st_size;
	return 0;
fail:
	{
		int e = errno;
		close(fd);
		errno = e;
	}
	return -1;
}

int part_open(struct part *p, const struct part_dir *dir, const char *id,
	      char *err, size_t errlen)
{
	p->fd = -1;
	p->dir = dir;
	p->size = 0;
	p->flushed = 0;
	p->async = NULL;
	p->validator[0] = '\0';
	if (snprintf(p->id, sizeof(p->id), "%s", id) >= (int)sizeof(p->id) ||
	    side_name(p->name, sizeof(p->name), id, "part") < 0 ||
	    snprintf(p->path, sizeof(p->path), "%s/%s", dir->path, p->name) >=
		    (int)sizeof(p->path)) {
		snprintf(err, errlen, "download folder path too long");
		return -1;
	}
	int rc = 2;
	for (int tries = 0; rc == 2 && tries < 5; tries++)
		rc = claim_part(p);
	if (rc == 1)
		return 1;
	if (rc != 0) {
		snprintf(err, errlen, "cannot create %s: %s", p->path,
			 rc < 0 ? strerror(errno) : "it keeps changing");
		return -1;
	}
	read_validator(p);
	return 0;
}

int part_set_validator(struct part *p, const char *v, size_t n)
{
	char meta[96];
	if (n == 0 || n >= sizeof(p->validator) - 1 || memchr(v, '\n', n) ||
	    side_name(meta, sizeof(meta), p->id, "meta") < 0)
		return -1;
	memcpy(p->validator, v, n);
	p->validator[n] = '\n';
	int rc = atomicfile_replace_unsynced(p->dir->fd, meta, p->validator, n + 1, 0644);
	p->validator[n] = '\0';
	return rc;
}

static void unlink_side(const struct part_dir *d, const char *id, const char *ext)
{
	char name[96];
	if (side_name(name, sizeof(name), id, ext) == 0)
		unlinkat(d->fd, name, 0);
}

int part_restart(struct part *p)
{
	p->validator[0] = '\0';
	unlink_side(p->dir, p->id, "meta");
	if (ftruncate(p->fd, 0) < 0 || lseek(p->fd, 0, SEEK_SET) < 0)
		return -1;
	p->size = 0;
	return 0;
}

int part_trim(struct part *p)
{
	if (ftruncate(p->fd, (off_t)p->size) < 0 ||
	    lseek(p->fd, (off_t)p->size, SEEK_SET) < 0)
		return -1;
	return 0;
}

void part_write_behind(struct part *p)
{
#if defined(SYNC_FILE_RANGE_WRITE) && FETCH_WRITEBACK_BYTES > 0
	if (p->size < p->flushed)
		p->flushed = 0; /* restarted from zero */
	if (p->size - p->flushed < FETCH_WRITEBACK_BYTES)
		return;
	sync_file_range(p->fd, (off_t)p->flushed, (off_t)(p->size - p->flushed),
			SYNC_FILE_RANGE_WRITE);
	p->flushed = p->size;
#else
	(void)p;
#endif
}

int part_hash_prefix(struct part *p, sha256_t *s, char *buf, size_t buflen)
{
	uint64_t off = 0;
	while (off < p->size) {
		size_t want = p->size - off < buflen ? (size_t)(p->size - off) : buflen;
		ssize_t n = pread(p->fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		sha256_update(s, buf, (size_t)n);
		off += (uint64_t)n;
	}
	return 0;
}

static void unlink_side_files(struct part *p)
{
	unlinkat(p->dir->fd, p->name, 0);
	unlink_side(p->dir, p->id, "meta");
}

/* 1 when name in d is the very file open as fd (st: fd's). */
static int names(const struct part_dir *d, const char *name, const struct stat *st)
{
	struct stat at;
	return fstatat(d->fd, name, &at, AT_SYMLINK_NOFOLLOW) == 0 && same_file(st, &at);
}

/* Gives the part's data the name target in the folder without replacing
 * an existing file. 0, -1 with errno EEXIST when taken, or -1 on another
 * error. */
static int place(struct part *p, const char *target)
{
	int d = p->dir->fd;
	if (linkat(d, p->name, d, target, 0) == 0)
		return 0;
	if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP && errno != ENOSYS)
		return -1;
	/* A file system without hard links (vfat): claim the name, then move
	 * the data onto the claim. */
	int fd = openat(d, target, O_WRONLY | O_CREAT | O_EXCL | OPEN_SAFE, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	if (renameat(d, p->name, d, target) < 0) {
		int e = errno;
		unlinkat(d, target, 0);
		errno = e;
		return -1;
	}
	return 0;
}

static int write_done(const struct part *p, const char *final, const char *sha256,
		      uint64_t bytes, const struct stat *st)
{
	char name[96], text[PATH_MAX + 150];
	if (side_name(name, sizeof(name), p->id, "done") < 0)
		return -1;
	int n = snprintf(text, sizeof(text), "%s\n%s\n%llu\n%llu\n", final, sha256,
			 (unsigned long long)bytes, (unsigned long long)st->st_ino);
	if (n <= 0 || n >= (int)sizeof(text))
		return -1;
	/* part_finish's directory fsync makes the rename durable; a record
	 * torn by a power cut is not believed (a download again) */
	return atomicfile_replace_unsynced(p->dir->fd, name, text, (size_t)n, 0644);
}

/* part_finish's middle, once the data is synced: the final name made
 * (into final), the done record written, the .part and .meta removed. 0,
 * or -1 with err. */
static int link_final(struct part *p, const char *name, const char *sha256,
		      uint64_t bytes, char *final, size_t finallen, char *err, size_t errlen)
{
	struct stat st;
	char base[PART_NAME_MAX + 16];
	if (fstat(p->fd, &st) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", p->path, strerror(errno));
		return -1;
	}
	/* Linking goes by name: the name must still be this file. */
	if (!names(p->dir, p->name, &st)) {
		snprintf(err, errlen, "%s was replaced or removed by someone else during "
			 "the download", p->path);
		return -1;
	}
	for (unsigned k = 0;; k++) {
		int n = k ? snprintf(base, sizeof(base), "%s.%u", name, k)
			  : snprintf(base, sizeof(base), "%s", name);
		int m = snprintf(final, finallen, "%s/%s", p->dir->path, base);
		if (n < 0 || (size_t)n >= sizeof(base) || m < 0 || (size_t)m >= finallen) {
			snprintf(err, errlen, "file name too long");
			return -1;
		}
		if (place(p, base) == 0)
			break;
		if (errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", final, strerror(errno));
			return -1;
		}
		if (k == 9999) {
			snprintf(err, errlen, "no free name for %s in %s", name, p->dir->path);
			return -1;
		}
	}
	/* A swap of the .part between the check and the link would have
	 * linked what was put there: the final name must be our file. */
	if (!names(p->dir, base, &st)) {
		unlinkat(p->dir->fd, base, 0);
		snprintf(err, errlen, "%s was replaced by someone else during the download",
			 p->path);
		return -1;
	}
	/* From here the final file is whole; the rest only tidies. A done
	 * record that cannot be written costs a second download on a rare
	 * redelivery, nothing more. */
	if (sha256)
		write_done(p, final, sha256, bytes, &st);
	unlink_side_files(p);
	return 0;
}

int part_finish(struct part *p, const char *name, const char *sha256,
		uint64_t bytes, char *final, size_t finallen, char *err, size_t errlen)
{
	if (fsync(p->fd) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", p->path, strerror(errno));
		return -1;
	}
	if (link_final(p, name, sha256, bytes, final, finallen, err, errlen) < 0)
		return -1;
	fsync(p->dir->fd);
	close(p->fd);
	p->fd = -1;
	return 0;
}

/* ---- part_finish off the loop ------------------------------------------ */

struct part_async {
	uint64_t sync;                  /* the syncer request running, or 0 */
	int linked;                     /* the final name is made */
	char name[PART_NAME_MAX + 1];
	char sha256[65];                /* "" when no done record */
	uint64_t bytes;
	char *final;                    /* the caller's */
	size_t finallen;
	void (*cb)(void *arg, const char *err);
	void *arg;
	char err[PATH_MAX + 100];
};

void part_dir_async(struct part_dir *d, syncer_t *s)
{
	d->syncer = s;
}

static void finished(struct part *p, int ok)
{
	struct part_async *a = p->async;
	p->async = NULL;
	if (ok) {
		close(p->fd);
		p->fd = -1;
	}
	a->cb(a->arg, ok ? NULL : a->err);
	free(a);
}

static void on_dir_synced(void *arg, int err)
{
	struct part *p = arg;
	(void)err; /* as part_finish: the final name is made either way */
	p->async->sync = 0;
	finished(p, 1);
}

static void on_file_synced(void *arg, int err)
{
	struct part *p = arg;
	struct part_async *a = p->async;
	a->sync = 0;
	if (err) {
		snprintf(a->err, sizeof(a->err), "cannot write %s: %s", p->path, strerror(err));
		finished(p, 0);
		return;
	}
	if (link_final(p, a->name, a->sha256[0] ? a->sha256 : NULL, a->bytes, a->final,
		       a->finallen, a->err, sizeof(a->err)) < 0) {
		finished(p, 0);
		return;
	}
	a->linked = 1;
	/* downloads that finish meanwhile share this one */
	a->sync = syncer_sync(p->dir->syncer, p->dir->fd, on_dir_synced, p);
	if (!a->sync) {
		fsync(p->dir->fd);
		finished(p, 1);
	}
}

void part_finish_async(struct part *p, const char *name, const char *sha256,
		       uint64_t bytes, char *final, size_t finallen,
		       void (*cb)(void *arg, const char *err), void *arg)
{
	struct part_async *a = p->dir->syncer ? calloc(1, sizeof(*a)) : NULL;
	if (a) {
		snprintf(a->name, sizeof(a->name), "%s", name);
		snprintf(a->sha256, sizeof(a->sha256), "%s", sha256 ? sha256 : "");
		a->bytes = bytes;
		a->final = final;
		a->finallen = finallen;
		a->cb = cb;
		a->arg = arg;
		p->async = a;
		a->sync = syncer_sync(p->dir->syncer, p->fd, on_file_synced, p);
		if (a->sync)
			return;
		p->async = NULL;
		free(a);
	}
	char err[PATH_MAX + 100];
	int rc = part_finish(p, name, sha256, bytes, final, finallen, err, sizeof(err));
	cb(arg, rc < 0 ? err : NULL);
}

/* Stops a part_finish_async; with drop, a final name it made goes too
 * (the task was not reported: its final file is nobody's). */
static void stop_async(struct part *p, int drop)
{
	struct part_async *a = p->async;
	if (!a)
		return;
	p->async = NULL;
	syncer_cancel(p->dir->syncer, a->sync);
	if (a->linked && drop) {
		part_drop_final(p->dir, a->final);
		part_done_clear(p->dir, p->id);
	}
	free(a);
}

int part_finish_as(struct part *p, const char *target, char *final, size_t finallen,
		   char *err, size_t errlen)
{
	const char *slash = strrchr(target, '/');
	const char *base = slash ? slash + 1 : target;
	int m = snprintf(final, finallen, "%s/%s", p->dir->path, base);
	if (m < 0 || (size_t)m >= finallen) {
		snprintf(err, errlen, "file name too long");
		return -1;
	}
	if (!*base || fsync(p->fd) < 0 || renameat(p->dir->fd, p->name, p->dir->fd, base) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", target,
			 *base ? strerror(errno) : "not a file name");
		return -1;
	}
	unlink_side(p->dir, p->id, "meta");
	fsync(p->dir->fd);
	close(p->fd);
	p->fd = -1;
	return 0;
}

void part_close(struct part *p)
{
	stop_async(p, 0);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

void part_remove(struct part *p)
{
	stop_async(p, 1);
	if (p->fd < 0)
		return;
	unlink_side_files(p);
	close(p->fd);
	p->fd = -1;
}

/* The final file a done record names: in the folder, the worker's, of the
 * recorded size and inode. */
static int record_file_ok(const struct part_dir *d, const char *file, uint64_t bytes,
			  unsigned long long ino)
{
	struct stat st;
	size_t dl = strlen(d->path);
	if (strncmp(file, d->path, dl) || file[dl] != '/' || strchr(file + dl + 1, '/'))
		return 0;
	return fstatat(d->fd, file + dl + 1, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       own_file(&st, 0) && (uint64_t)st.st_size == bytes && st.st_ino == ino;
}

int part_done_read(const struct part_dir *dir, const char *id, struct part_record *rec)
{
	char name[96], text[PATH_MAX + 150];
	if (side_name(name, sizeof(name), id, "done") < 0)
		return 0;
	int fd = open_own(dir, name);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	char *nl1 = strchr(text, '\n'), *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
	if (!nl2 || nl2 - nl1 - 1 != 64 || (size_t)(nl1 - text) >= sizeof(rec->file))
		return 0;
	*nl1 = '\0';
	*nl2 = '\0';
	char *end, *end2;
	unsigned long long b = strtoull(nl2 + 1, &end, 10);
	if (*end != '\n')
		return 0;
	unsigned long long ino = strtoull(end + 1, &end2, 10);
	if (end2 == end + 1 || *end2 != '\n' || !record_file_ok(dir, text, b, ino))
		return 0;
	strcpy(rec->file, text);
	memcpy(rec->sha256, nl1 + 1, 65);
	rec->bytes = b;
	return 1;
}

int part_claim(struct part *p, const struct part_dir *dir, const char *id,
	       struct part_record *rec, char *err, size_t errlen)
{
	p->fd = -1;
	p->async = NULL;
	if (part_done_read(dir, id, rec)) {
		part_wait_clear(dir, id);
		return PART_DONE;
	}
	int rc = part_open(p, dir, id, err, errlen);
	if (rc == 1) {
		part_wait_mark(dir, id);
		return PART_BUSY;
	}
	part_wait_clear(dir, id);
	if (rc < 0)
		return -1;
	/* It may have finished elsewhere between our two looks; the .part we
	 * just opened (or created) is then of no use. */
	if (part_done_read(dir, id, rec)) {
		part_remove(p);
		return PART_DONE;
	}
	return PART_OURS;
}

void part_drop_final(const struct part_dir *dir, const char *file)
{
	size_t dl = strlen(dir->path);
	if (!strncmp(file, dir->path, dl) && file[dl] == '/' && !strchr(file + dl + 1, '/'))
		unlinkat(dir->fd, file + dl + 1, 0);
}

void part_done_clear(const struct part_dir *dir, const char *id)
{
	unlink_side(dir, id, "done");
}

int part_wait_mark(const struct part_dir *dir, const char *id)
{
	char name[96];
	if (side_name(name, sizeof(name), id, "wait") < 0)
		return -1;
	int fd = open_own(dir, name); /* ours already, or a planted one removed */
	if (fd < 0)
		fd = openat(dir->fd, name, O_WRONLY | O_CREAT | O_EXCL | OPEN_SAFE, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int part_wait_exists(const struct part_dir *dir, const char *id)
{
	char name[96];
	struct stat st;
	return side_name(name, sizeof(name), id, "wait") == 0 &&
	       fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && own_file(&st, 1);
}

void part_wait_clear(const struct part_dir *dir, const char *id)
{
	unlink_side(dir, id, "wait");
}

/* ---- orphans ------------------------------------------------------------ */

/* The task id of a bookkeeping name ".<id>.<ext>" into id (37 bytes), or
 * NULL when name is not one. */
static const char *bookkeeping_id(const char *name, char id[37])
{
	static const char *const ext[] = { "part", "meta", "done", "wait", "meta.tmp",
					   "done.tmp", NULL };
	if (name[0] != '.' || strlen(name) < 38 || name[37] != '.')
		return NULL;
	for (int i = 1; i <= 36; i++)
		if (!strchr("0123456789abcdef-", name[i]))
			return NULL;
	for (int i = 0; ext[i]; i++) {
		if (!strcmp(name + 38, ext[i])) {
			memcpy(id, name + 1, 36);
			id[36] = '\0';
			return id;
		}
	}
	return NULL;
}

/* 1 when another process holds the lock of the .part name. */
static int locked_elsewhere(const struct part_dir *d, const char *name)
{
	int fd = openat(d->fd, name, O_RDONLY | OPEN_SAFE);
	if (fd < 0)
		return 0;
	int busy = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

unsigned part_sweep(const struct part_dir *dir, int64_t max_age_s,
		    int (*held)(const char *id, void *arg), void *arg)
{
	unsigned removed = 0;
	/* A descriptor of its own: readdir moves the offset. */
	int fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dp) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	time_t now = time(NULL);
	struct dirent *e;
	char id[37];
	struct stat st;
	while ((e = readdir(dp))) {
		if (!bookkeeping_id(e->d_name, id) || (held && held(id, arg)))
			continue;
		if (fstatat(dir->fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    S_ISDIR(st.st_mode) || now - st.st_mtime < max_age_s)
			continue;
		if (!strcmp(e->d_name + 38, "part") && locked_elsewhere(dir, e->d_name))
			continue;
		if (unlinkat(dir->fd, e->d_name, 0) == 0) {
			log_info("removed %s/%s, left %lld h ago by a task not held here",
				 dir->path, e->d_name, (long long)(now - st.st_mtime) / 3600);
			removed++;
		}
	}
	closedir(dp);
	return removed;
}

/* ---- names ------------------------------------------------------------- */

void part_safe_name(const char *in, size_t len, char *out, size_t outlen)
{
	size_t start = 0, o = 0;
	for (size_t i = 0; i < len; i++)
		if (in[i] == '/' || in[i] == '\\')
			start = i + 1;
	while (start < len && (in[start] == '.' || in[start] == ' '))
		start++;
	size_t max = outlen - 1 < PART_NAME_MAX ? outlen - 1 : PART_NAME_MAX;
	for (size_t i = start; i < len;) {
		unsigned char c = (unsigned char)in[i];
		size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
		/* Names travel in JSON and to terminals: control bytes and
		 * anything that is not valid UTF-8 become '_'. */
		if (c < 0x20 || c == 0x7F || (n > 1 && (i + n > len ||
						      !utf8_valid(in + i, n)))) {
			c = '_';
			n = 1;
		}
		if (o + n > max)
			break;
		if (n == 1)
			out[o] = (char)c;
		else
			memcpy(out + o, in + i, n);
		o += n;
		i += n;
	}
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '.'))
		o--;
	if (o == 0) {
		snprintf(out, outlen, "index.html");
		return;
	}
	out[o] = '\0';
}

void part_name_from_path(const char *path, char *out, size_t outlen)
{
	char seg[TASK_MAX_URL + 1];
	size_t end = strcspn(path, "?");
	size_t start = end;
	while (start > 0 && path[start - 1] != '/')
		start--;
	int n = url_pct_decode(path + start, end - start, seg, sizeof(seg));
	if (n < 0)
		n = 0;
	part_safe_name(seg, (size_t)n, out, outlen);
}

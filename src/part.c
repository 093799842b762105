/* part.c - partial, final and done-record files of downloads; see part.h. */
/* sync_file_range (Linux) */
#define _GNU_SOURCE
#include "part.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "url.h"
#include "utf8.h"

static int side_path(char *out, size_t outlen, const char *dir, const char *id,
		     const char *ext)
{
	int n = snprintf(out, outlen, "%s/.%s.%s", dir, id, ext);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static void read_validator(struct part *p)
{
	char meta[PATH_MAX];
	p->validator[0] = '\0';
	if (side_path(meta, sizeof(meta), p->dir, p->id, "meta") < 0)
		return;
	int fd = open(meta, O_RDONLY | O_CLOEXEC);
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

int part_open(struct part *p, const char *dir, const char *id, char *err, size_t errlen)
{
	struct stat st;
	p->fd = -1;
	p->size = 0;
	p->flushed = 0;
	p->validator[0] = '\0';
	if (snprintf(p->dir, sizeof(p->dir), "%s", dir) >= (int)sizeof(p->dir) ||
	    snprintf(p->id, sizeof(p->id), "%s", id) >= (int)sizeof(p->id) ||
	    side_path(p->path, sizeof(p->path), dir, id, "part") < 0) {
		snprintf(err, errlen, "download folder path too long");
		return -1;
	}
	p->fd = open(p->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (p->fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", p->path, strerror(errno));
		return -1;
	}
	if (flock(p->fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(p->fd);
		p->fd = -1;
		if (e == EWOULDBLOCK)
			return 1;
		snprintf(err, errlen, "cannot lock %s: %s", p->path, strerror(e));
		return -1;
	}
	if (fstat(p->fd, &st) < 0 || lseek(p->fd, 0, SEEK_END) < 0) {
		snprintf(err, errlen, "%s: %s", p->path, strerror(errno));
		close(p->fd);
		p->fd = -1;
		return -1;
	}
	p->size = (uint64_t)st.st_size;
	read_validator(p);
	return 0;
}

int part_set_validator(struct part *p, const char *v, size_t n)
{
	char meta[PATH_MAX];
	if (n == 0 || n >= sizeof(p->validator) - 1 || memchr(v, '\n', n) ||
	    side_path(meta, sizeof(meta), p->dir, p->id, "meta") < 0)
		return -1;
	memcpy(p->validator, v, n);
	p->validator[n] = '\0';
	int fd = open(meta, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	p->validator[n] = '\n';
	ssize_t w = write(fd, p->validator, n + 1);
	p->validator[n] = '\0';
	close(fd);
	return w == (ssize_t)(n + 1) ? 0 : -1;
}

int part_restart(struct part *p)
{
	char meta[PATH_MAX];
	p->validator[0] = '\0';
	if (side_path(meta, sizeof(meta), p->dir, p->id, "meta") == 0)
		unlink(meta);
	if (ftruncate(p->fd, 0) < 0 || lseek(p->fd, 0, SEEK_SET) < 0)
		return -1;
	p->size = 0;
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

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void unlink_side_files(struct part *p)
{
	char meta[PATH_MAX];
	unlink(p->path);
	if (side_path(meta, sizeof(meta), p->dir, p->id, "meta") == 0)
		unlink(meta);
}

/* Gives the data the name target without replacing an existing file.
 * 0, -1 with errno EEXIST when taken, or -1 on another error. */
static int place(const char *from, const char *target)
{
	if (link(from, target) == 0)
		return 0;
	if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP && errno != ENOSYS)
		return -1;
	/* A file system without hard links (vfat): claim the name, then move
	 * the data onto the claim. */
	int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	if (rename(from, target) < 0) {
		int e = errno;
		unlink(target);
		errno = e;
		return -1;
	}
	return 0;
}

static int write_done(const struct part *p, const char *final, const char *sha256,
		      uint64_t bytes)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], text[PATH_MAX + 100];
	if (side_path(path, sizeof(path), p->dir, p->id, "done") < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int n = snprintf(text, sizeof(text), "%s\n%s\n%llu\n", final, sha256,
			 (unsigned long long)bytes);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int ok = n > 0 && n < (int)sizeof(text) && write(fd, text, (size_t)n) == n;
	close(fd);
	if (!ok || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

int part_finish(struct part *p, const char *name, const char *sha256,
		uint64_t bytes, char *final, size_t finallen, char *err, size_t errlen)
{
	if (fsync(p->fd) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", p->path, strerror(errno));
		return -1;
	}
	for (unsigned k = 0; k < 10000; k++) {
		int n = k ? snprintf(final, finallen, "%s/%s.%u", p->dir, name, k)
			  : snprintf(final, finallen, "%s/%s", p->dir, name);
		if (n < 0 || (size_t)n >= finallen) {
			snprintf(err, errlen, "file name too long");
			return -1;
		}
		if (place(p->path, final) == 0)
			break;
		if (errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", final, strerror(errno));
			return -1;
		}
		if (k == 9999) {
			snprintf(err, errlen, "no free name for %s in %s", name, p->dir);
			return -1;
		}
	}
	/* From here the final file is whole; the rest only tidies. A done
	 * record that cannot be written costs a second download on a rare
	 * redelivery, nothing more. */
	if (sha256)
		write_done(p, final, sha256, bytes);
	unlink_side_files(p);
	sync_dir(p->dir);
	close(p->fd);
	p->fd = -1;
	return 0;
}

int part_finish_as(struct part *p, const char *target, char *err, size_t errlen)
{
	char meta[PATH_MAX];
	if (fsync(p->fd) < 0 || rename(p->path, target) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", target, strerror(errno));
		return -1;
	}
	if (side_path(meta, sizeof(meta), p->dir, p->id, "meta") == 0)
		unlink(meta);
	sync_dir(p->dir);
	close(p->fd);
	p->fd = -1;
	return 0;
}

void part_close(struct part *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

void part_remove(struct part *p)
{
	if (p->fd < 0)
		return;
	unlink_side_files(p);
	close(p->fd);
	p->fd = -1;
}

int part_done_read(const char *dir, const char *id, char *file, size_t filelen,
		   char sha256[65], uint64_t *bytes)
{
	char path[PATH_MAX], text[PATH_MAX + 100];
	struct stat st;
	if (side_path(path, sizeof(path), dir, id, "done") < 0)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	char *nl1 = strchr(text, '\n'), *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
	if (!nl2 || nl2 - nl1 - 1 != 64 || (size_t)(nl1 - text) >= filelen)
		return 0;
	*nl1 = '\0';
	*nl2 = '\0';
	char *end;
	unsigned long long b = strtoull(nl2 + 1, &end, 10);
	if (*end != '\n' || stat(text, &st) < 0 || (uint64_t)st.st_size != b)
		return 0;
	strcpy(file, text);
	memcpy(sha256, nl1 + 1, 65);
	*bytes = b;
	return 1;
}

void part_done_clear(const char *dir, const char *id)
{
	char path[PATH_MAX];
	if (side_path(path, sizeof(path), dir, id, "done") == 0)
		unlink(path);
}

int part_wait_mark(const char *dir, const char *id)
{
	char path[PATH_MAX];
	if (side_path(path, sizeof(path), dir, id, "wait") < 0)
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int part_wait_exists(const char *dir, const char *id)
{
	char path[PATH_MAX];
	return side_path(path, sizeof(path), dir, id, "wait") == 0 &&
	       access(path, F_OK) == 0;
}

void part_wait_clear(const char *dir, const char *id)
{
	char path[PATH_MAX];
	if (side_path(path, sizeof(path), dir, id, "wait") == 0)
		unlink(path);
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

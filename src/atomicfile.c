/* atomicfile.c - crash-safe replacement of a file; see atomicfile.h. */
#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* renameat */
#include <string.h>
#include <unistd.h>

/* Splits name at its last slash: opens the directory part (relative to
 * dirfd) and copies the last component to af->name. */
static int open_parent(struct atomicfile *af, int dirfd, const char *name)
{
	const char *slash = strrchr(name, '/');
	const char *base = slash ? slash + 1 : name;
	size_t blen = strlen(base);
	if (!blen) {
		errno = EISDIR;
		return -1;
	}
	if (blen + sizeof(".tmp") > sizeof(af->tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(af->name, base, blen + 1);
	memcpy(af->tmp, base, blen);
	memcpy(af->tmp + blen, ".tmp", sizeof(".tmp"));

	char dir[PATH_MAX];
	if (!slash) {
		strcpy(dir, ".");
	} else if (slash == name) {
		strcpy(dir, "/");
	} else {
		size_t dlen = (size_t)(slash - name);
		if (dlen >= sizeof(dir)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(dir, name, dlen);
		dir[dlen] = '\0';
	}
	af->dirfd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return af->dirfd < 0 ? -1 : 0;
}

int atomicfile_open(struct atomicfile *af, int dirfd, const char *name,
		    mode_t mode)
{
	af->fd = af->dirfd = -1;
	if (open_parent(af, dirfd, name) < 0)
		return -1;
	const int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	af->fd = openat(af->dirfd, af->tmp, flags, mode);
	if (af->fd < 0 && errno == EEXIST) {
		/* left by a crash (we are the only writer of name) */
		if (unlinkat(af->dirfd, af->tmp, 0) == 0 || errno == ENOENT)
			af->fd = openat(af->dirfd, af->tmp, flags, mode);
	}
	if (af->fd < 0) {
		int e = errno;
		close(af->dirfd);
		af->dirfd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

int atomicfile_write(struct atomicfile *af, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(af->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void atomicfile_abort(struct atomicfile *af)
{
	int e = errno;
	if (af->fd >= 0) {
		close(af->fd);
		unlinkat(af->dirfd, af->tmp, 0);
	}
	if (af->dirfd >= 0)
		close(af->dirfd);
	af->fd = af->dirfd = -1;
	errno = e;
}

int atomicfile_commit(struct atomicfile *af)
{
	/* the new file must be whole on disk before it replaces the old */
	if (fsync(af->fd) < 0 ||
	    renameat(af->dirfd, af->tmp, af->dirfd, af->name) < 0) {
		atomicfile_abort(af);
		return -1;
	}
	fsync(af->dirfd); /* see atomicfile.h: the rename is done either way */
	close(af->dirfd);
	int fd = af->fd;
	af->fd = af->dirfd = -1;
	return fd;
}

int atomicfile_replace(int dirfd, const char *name, const void *buf,
		       size_t len, mode_t mode)
{
	struct atomicfile af;
	if (atomicfile_open(&af, dirfd, name, mode) < 0)
		return -1;
	if (atomicfile_write(&af, buf, len) < 0) {
		atomicfile_abort(&af);
		return -1;
	}
	int fd = atomicfile_commit(&af);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int atomicfile_replace_unsynced(int dirfd, const char *name, const void *buf,
				size_t len, mode_t mode)
{
	struct atomicfile af;
	if (atomicfile_open(&af, dirfd, name, mode) < 0)
		return -1;
	if (atomicfile_write(&af, buf, len) < 0 ||
	    renameat(af.dirfd, af.tmp, af.dirfd, af.name) < 0) {
		atomicfile_abort(&af);
		return -1;
	}
	close(af.fd);
	close(af.dirfd);
	return 0;
}

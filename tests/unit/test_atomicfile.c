/* test_atomicfile.c - crash-safe replacement: contents, no temporary file
 * left, relative to a directory fd, a stale or planted temporary file, and
 * every failure leaving the old file as it was. */
#include "check.h"
#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[] = "/tmp/test_atomicfile.XXXXXX";

/* Contents of path relative to dirfd, or "(none)". */
static const char *slurp(int dirfd, const char *path)
{
	static char buf[256];
	int fd = openat(dirfd, path, O_RDONLY);
	if (fd < 0)
		return "(none)";
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int exists(int dirfd, const char *path)
{
	struct stat st;
	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void test_replace(int d)
{
	CHECK_INT(atomicfile_replace(d, "a", "one\n", 4, 0640), 0);
	CHECK_STR(slurp(d, "a"), "one\n");
	CHECK_INT(atomicfile_replace(d, "a", "two\n", 4, 0640), 0);
	CHECK_STR(slurp(d, "a"), "two\n");
	CHECK(!exists(d, "a.tmp"));
	struct stat st;
	CHECK(fstatat(d, "a", &st, 0) == 0 && (st.st_mode & 0077) == (0640 & 0077 & ~022));
	/* a name with a directory part, relative to the fd */
	CHECK_INT(mkdirat(d, "sub", 0755), 0);
	CHECK_INT(atomicfile_replace(d, "sub/b", "bee", 3, 0644), 0);
	CHECK_STR(slurp(d, "sub/b"), "bee");
	CHECK(!exists(d, "sub/b.tmp"));
	/* an absolute path with AT_FDCWD */
	char abs[64];
	snprintf(abs, sizeof(abs), "%s/sub/c", root);
	CHECK_INT(atomicfile_replace(AT_FDCWD, abs, "sea", 3, 0644), 0);
	CHECK_STR(slurp(d, "sub/c"), "sea");
	/* empty contents are contents */
	CHECK_INT(atomicfile_replace(d, "a", "", 0, 0644), 0);
	CHECK_STR(slurp(d, "a"), "");
	/* without the fsyncs: the same replace, through a planted link too */
	CHECK_INT(atomicfile_replace_unsynced(d, "a", "three\n", 6, 0644), 0);
	CHECK_STR(slurp(d, "a"), "three\n");
	CHECK(!exists(d, "a.tmp"));
	CHECK_INT(atomicfile_replace(d, "u-victim", "safe", 4, 0644), 0);
	CHECK_INT(symlinkat("u-victim", d, "u.tmp"), 0);
	CHECK_INT(symlinkat("u-victim", d, "u"), 0);
	CHECK_INT(atomicfile_replace_unsynced(d, "u", "mine", 4, 0644), 0);
	CHECK_STR(slurp(d, "u-victim"), "safe");
	CHECK_STR(slurp(d, "u"), "mine");
	struct stat lst;
	CHECK(fstatat(d, "u", &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(lst.st_mode));
}

static void test_streaming(int d)
{
	struct atomicfile af;
	CHECK_INT(atomicfile_open(&af, d, "j", 0600), 0);
	CHECK_INT(atomicfile_write(&af, "rec1\n", 5), 0);
	CHECK_STR(slurp(d, "j"), "(none)"); /* not visible before commit */
	int fd = atomicfile_commit(&af);
	CHECK(fd >= 0);
	CHECK_STR(slurp(d, "j"), "rec1\n");
	/* the fd is the file's now, positioned at its end: appends go there */
	CHECK(write(fd, "rec2\n", 5) == 5);
	close(fd);
	CHECK_STR(slurp(d, "j"), "rec1\nrec2\n");

	/* abort leaves the old contents and no temporary file */
	CHECK_INT(atomicfile_open(&af, d, "j", 0600), 0);
	CHECK_INT(atomicfile_write(&af, "half", 4), 0);
	atomicfile_abort(&af);
	CHECK_STR(slurp(d, "j"), "rec1\nrec2\n");
	CHECK(!exists(d, "j.tmp"));
}

static void test_leftovers(int d)
{
	/* a temporary file left by a crash is replaced */
	CHECK_INT(atomicfile_replace(d, "s.tmp", "stale", 5, 0644), 0);
	CHECK_INT(atomicfile_replace(d, "s", "fresh", 5, 0644), 0);
	CHECK_STR(slurp(d, "s"), "fresh");
	CHECK(!exists(d, "s.tmp"));
	/* a symlink planted at the temporary name is never written through */
	CHECK_INT(atomicfile_replace(d, "victim", "safe", 4, 0644), 0);
	CHECK_INT(symlinkat("victim", d, "t.tmp"), 0);
	CHECK_INT(atomicfile_replace(d, "t", "mine", 4, 0644), 0);
	CHECK_STR(slurp(d, "victim"), "safe");
	CHECK_STR(slurp(d, "t"), "mine");
	CHECK(!exists(d, "t.tmp"));
}

static void test_failures(int d)
{
	struct atomicfile af;
	/* no such directory: nothing created, errno kept */
	errno = 0;
	CHECK_INT(atomicfile_replace(d, "nodir/x", "x", 1, 0644), -1);
	CHECK_INT(errno, ENOENT);
	/* a last component with no room for ".tmp" */
	char longname[NAME_MAX + 1];
	memset(longname, 'n', NAME_MAX - 2);
	longname[NAME_MAX - 2] = '\0';
	errno = 0;
	CHECK_INT(atomicfile_open(&af, d, longname, 0644), -1);
	CHECK_INT(errno, ENAMETOOLONG);
	CHECK_INT(atomicfile_open(&af, d, "sub/", 0644), -1);
	/* the rename fails (a non-empty directory holds the name): the
	 * temporary file goes, the directory stays */
	CHECK_INT(mkdirat(d, "busy", 0755), 0);
	CHECK_INT(atomicfile_replace(d, "busy/inside", "x", 1, 0644), 0);
	CHECK_INT(atomicfile_replace(d, "busy", "y", 1, 0644), -1);
	CHECK(!exists(d, "busy.tmp"));
	CHECK_STR(slurp(d, "busy/inside"), "x");
}

int main(void)
{
	umask(022);
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	int d = open(root, O_RDONLY | O_DIRECTORY);
	CHECK(d >= 0);
	test_replace(d);
	test_streaming(d);
	test_leftovers(d);
	test_failures(d);
	close(d);
	char cmd[80];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		perror("rm");
	return check_report();
}

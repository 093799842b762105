/* test_part.c - safe names, part files, final names and done records. */
#include "check.h"
#include "os.h"
#include "part.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char out[256];

static const char *safe(const char *s)
{
	part_safe_name(s, strlen(s), out, sizeof(out));
	return out;
}

static const char *from_path(const char *p)
{
	part_name_from_path(p, out, sizeof(out));
	return out;
}

static void test_names(void)
{
	CHECK_STR(safe("report.txt"), "report.txt");
	CHECK_STR(safe("../../etc/evil"), "evil");
	CHECK_STR(safe("..\\..\\win.ini"), "win.ini");
	CHECK_STR(safe(".bashrc"), "bashrc");
	CHECK_STR(safe("..."), "index.html");
	CHECK_STR(safe(""), "index.html");
	CHECK_STR(safe("dir/"), "index.html");
	CHECK_STR(safe("a\nb\tc\x7f"), "a_b_c_");
	CHECK_STR(safe("trail. . "), "trail");
	CHECK_STR(safe("caf\xc3\xa9.txt"), "caf\xc3\xa9.txt");
	CHECK_STR(safe("bad\xff\xfe.txt"), "bad__.txt");
	CHECK_STR(safe("half\xe2\x82"), "half__");
	/* 300 bytes of 3-byte characters: cut at 200 without splitting one. */
	char big[301];
	for (int i = 0; i < 300; i += 3)
		memcpy(big + i, "\xe2\x82\xac", 3);
	big[300] = '\0';
	safe(big);
	CHECK_INT(strlen(out), 198);
	CHECK(memcmp(out + 195, "\xe2\x82\xac", 3) == 0);

	CHECK_STR(from_path("/a/b/file.tar.gz"), "file.tar.gz");
	CHECK_STR(from_path("/a/b%20c.txt?x=1/2"), "b c.txt");
	CHECK_STR(from_path("/"), "index.html");
	CHECK_STR(from_path("/dir/"), "index.html");
	CHECK_STR(from_path("/?q"), "index.html");
	CHECK_STR(from_path("/x/..%2F..%2Fetc%2Fpasswd"), "passwd");
	CHECK_STR(from_path("/%2e%2e"), "index.html");
	CHECK_STR(from_path("/a%00b"), "a_b");
}

static char dir[] = "/tmp/warren-test-part-XXXXXX";

static int exists(const char *name)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static void test_files(void)
{
	static const char id[] = "11111111-2222-4333-8444-555555555555";
	char err[256], final[4096], file[4096];
	struct part_record rec;
	struct part p, q;
	struct part_dir d;
	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(part_dir_open(&d, dir, err, sizeof(err)), 0);

	CHECK_INT(part_open(&p, &d, id, err, sizeof(err)), 0);
	CHECK(exists(".11111111-2222-4333-8444-555555555555.part"));
	CHECK_INT(p.size, 0);
	CHECK_STR(p.validator, "");
	/* A second opener (same process, another open file) finds it locked. */
	CHECK_INT(part_open(&q, &d, id, err, sizeof(err)), 1);
	CHECK_INT(q.fd, -1);

	CHECK(write(p.fd, "hello ", 6) == 6);
	p.size = 6;
	CHECK_INT(part_set_validator(&p, "\"etag-1\"", 8), 0);
	CHECK_INT(part_set_validator(&p, "a\nb", 3), -1);
	part_close(&p);

	/* Reopened: size and validator come back (a resume after a crash). */
	CHECK_INT(part_open(&p, &d, id, err, sizeof(err)), 0);
	CHECK_INT(p.size, 6);
	CHECK_STR(p.validator, "\"etag-1\"");
	sha256_t s;
	char buf[4], hex[65];
	sha256_init(&s);
	CHECK_INT(part_hash_prefix(&p, &s, buf, sizeof(buf)), 0);
	sha256_update(&s, "world", 5);
	sha256_hex(&s, hex);
	/* sha256("hello world") */
	CHECK_STR(hex, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
	CHECK(write(p.fd, "world", 5) == 5);
	p.size = 11;

	/* The name is taken twice over: .1 then .2 */
	int fd = open(strcat(strcpy(file, dir), "/out.txt"), O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0);
	close(fd);
	fd = open(strcat(strcpy(file, dir), "/out.txt.1"), O_CREAT | O_WRONLY, 0644);
	close(fd);
	CHECK_INT(part_finish(&p, "out.txt", hex, 11, final, sizeof(final), err,
			      sizeof(err)), 0);
	CHECK_INT(p.fd, -1);
	CHECK(strstr(final, "/out.txt.2") != NULL);
	struct stat st;
	CHECK(stat(final, &st) == 0 && st.st_size == 11);
	CHECK(!exists(".11111111-2222-4333-8444-555555555555.part"));
	CHECK(!exists(".11111111-2222-4333-8444-555555555555.meta"));

	/* The done record answers a redelivery... */
	CHECK_INT(part_done_read(&d, id, &rec), 1);
	CHECK_STR(rec.file, final);
	CHECK_STR(rec.sha256, hex);
	CHECK_INT(rec.bytes, 11);
	/* ...only while the file is there with its size. */
	truncate(final, 3);
	CHECK_INT(part_done_read(&d, id, &rec), 0);
	part_done_clear(&d, id);
	CHECK(!exists(".11111111-2222-4333-8444-555555555555.done"));

	/* A prefix without a validator, a restart and a removal. */
	CHECK_INT(part_open(&p, &d, id, err, sizeof(err)), 0);
	CHECK(write(p.fd, "abc", 3) == 3);
	CHECK_INT(part_set_validator(&p, "v", 1), 0);
	CHECK_INT(part_restart(&p), 0);
	CHECK_INT(p.size, 0);
	CHECK(!exists(".11111111-2222-4333-8444-555555555555.meta"));
	CHECK(fstat(p.fd, &st) == 0 && st.st_size == 0);
	part_remove(&p);
	CHECK(!exists(".11111111-2222-4333-8444-555555555555.part"));

	/* part_claim: ours, then busy for a second claimer (who leaves a
	 * wait marker), then done from the record (the marker cleared). */
	static const char cid[] = "66666666-2222-4333-8444-555555555555";
	CHECK_INT(part_claim(&p, &d, cid, &rec, err, sizeof(err)), PART_OURS);
	CHECK_INT(part_claim(&q, &d, cid, &rec, err, sizeof(err)), PART_BUSY);
	CHECK_INT(q.fd, -1);
	CHECK(exists(".66666666-2222-4333-8444-555555555555.wait"));
	CHECK(write(p.fd, "claimed", 7) == 7);
	p.size = 7;
	CHECK_INT(part_finish(&p, "claimed.txt", hex, 7, final, sizeof(final), err,
			      sizeof(err)), 0);
	CHECK_INT(part_claim(&q, &d, cid, &rec, err, sizeof(err)), PART_DONE);
	CHECK_STR(rec.file, final);
	CHECK_INT(q.fd, -1);
	CHECK(!exists(".66666666-2222-4333-8444-555555555555.wait"));
	CHECK(!exists(".66666666-2222-4333-8444-555555555555.part"));
	part_done_clear(&d, cid);

	/* --get -o: onto an exact name, replacing it. */
	CHECK_INT(part_open(&p, &d, id, err, sizeof(err)), 0);
	CHECK(write(p.fd, "xy", 2) == 2);
	CHECK_INT(part_finish_as(&p, strcat(strcpy(file, dir), "/out.txt"), final,
				 sizeof(final), err, sizeof(err)), 0);
	CHECK(stat(file, &st) == 0 && st.st_size == 2);
	CHECK_STR(final, file); /* (the folder's own path: mkdtemp under /tmp) */

	/* A folder that is not there. */
	struct part_dir none;
	CHECK_INT(part_dir_open(&none, "/nonexistent/dir", err, sizeof(err)), -1);
	CHECK(strstr(err, "/nonexistent/dir") != NULL);
	part_dir_close(&d);

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

static int held_44(const char *id, void *arg)
{
	(void)arg;
	return !strncmp(id, "44444444", 8);
}

static char victim[] = "/tmp/warren-test-victim-XXXXXX";
static const char secret[] = "ssh-ed25519 AAAA victim\n";

static void plant_link(const char *name)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
	CHECK(symlink(victim, p) == 0);
}

static void victim_intact(void)
{
	char buf[128];
	struct stat st;
	int fd = open(victim, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	if (fd >= 0)
		close(fd);
	CHECK(n == (ssize_t)strlen(secret) && !memcmp(buf, secret, strlen(secret)));
	CHECK(lstat(victim, &st) == 0 && st.st_nlink == 1);
}

static int is_link(const char *name)
{
	char p[512];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
}

/* Issue 12: links and foreign files planted under every bookkeeping name. */
static void test_planted(void)
{
	static const char id[] = "22222222-2222-4333-8444-555555555555";
	char err[256], final[4096], hex[65], path[512];
	struct part_record rec;
	struct part p;
	struct part_dir d;
	struct stat st;
	CHECK(mkdtemp(dir) != NULL);
	int vfd = mkstemp(victim);
	CHECK(vfd >= 0 && write(vfd, secret, strlen(secret)) == (ssize_t)strlen(secret));
	close(vfd);
	CHECK_INT(part_dir_open(&d, dir, err, sizeof(err)), 0);
	memset(hex, 'a', 64);
	hex[64] = '\0';

	/* Links at every name before the task: none followed, the files
	 * made afresh. */
	const char *const names[] = { "part", "meta", "meta.tmp", "done", "done.tmp",
				      "wait", NULL };
	for (int i = 0; names[i]; i++) {
		snprintf(path, sizeof(path), ".%s.%s", id, names[i]);
		plant_link(path);
	}
	plant_link("out.txt");
	CHECK_INT(part_done_read(&d, id, &rec), 0);
	CHECK(!is_link(".22222222-2222-4333-8444-555555555555.done"));
	CHECK_INT(part_wait_exists(&d, id), 0);
	CHECK_INT(part_open(&p, &d, id, err, sizeof(err)), 0);
	CHECK_INT(p.size, 0);
	CHECK_STR(p.validator, "");
	CHECK(fstat(p.fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1);
	CHECK(write(p.fd, "body", 4) == 4);
	p.size = 4;
	CHECK_INT(part_set_validator(&p, "\"v\"", 3), 0);
	CHECK_INT(part_wait_mark(&d, id), 0);
	CHECK_INT(part_wait_exists(&d, id), 1);
	part_wait_clear(&d, id);
	CHECK_INT(part_finish(&p, "out.txt", hex, 4, final, sizeof(final), err,
			      sizeof(err)), 0);
	CHECK(strstr(final, "/out.txt.1") != NULL);
	CHECK(!is_link("out.txt.1"));
	CHECK(lstat(final, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4);
	CHECK_INT(part_done_read(&d, id, &rec), 1);
	victim_intact();

	/* A link swapped in for the .part during the download: the data
	 * never reach it, and the final name is not made a link. */
	part_done_clear(&d, id);
	CHECK_INT(part_open(&p, &d, id, err, sizeof(err)), 0);
	plant_link(".22222222-2222-4333-8444-555555555555.part");
	CHECK(write(p.fd, "body", 4) == 4);
	p.size = 4;
	CHECK_INT(part_finish(&p, "late.txt", hex, 4, final, sizeof(final), err,
			      sizeof(err)), -1);
	CHECK(strstr(err, "replaced") != NULL);
	CHECK(!exists("late.txt"));
	part_remove(&p);
	victim_intact();

	/* A hard link to the victim as the .part: not believed, not written. */
	snprintf(path, sizeof(path), "%s/.%s.part", dir, id);
	unlink(path);
	if (link(victim, path) == 0) {
		CHECK_INT(part_open(&p, &d, id, err, sizeof(err)), 0);
		CHECK_INT(p.size, 0);
		CHECK(write(p.fd, "x", 1) == 1);
		part_remove(&p);
		victim_intact();
	}

	/* Another user's files: a .part (with a plausible .meta) is not
	 * resumed; a done record with a plausible file never settles. */
	if (geteuid() == 0) {
		snprintf(path, sizeof(path), "%s/.%s.part", dir, id);
		int fd = open(path, O_CREAT | O_WRONLY, 0644);
		CHECK(fd >= 0 && write(fd, "forged", 6) == 6);
		CHECK(fchown(fd, 65534, 65534) == 0);
		close(fd);
		CHECK_INT(part_open(&p, &d, id, err, sizeof(err)), 0);
		CHECK_INT(p.size, 0);
		part_remove(&p);

		snprintf(path, sizeof(path), "%s/forged.txt", dir);
		fd = open(path, O_CREAT | O_WRONLY, 0644);
		CHECK(fd >= 0 && write(fd, "forged", 6) == 6);
		CHECK(fchown(fd, 65534, 65534) == 0);
		CHECK(fstat(fd, &st) == 0);
		close(fd);
		char text[1024];
		int n = snprintf(text, sizeof(text), "%s\n%s\n6\n%llu\n", path, hex,
				 (unsigned long long)st.st_ino);
		snprintf(path, sizeof(path), "%s/.%s.done", dir, id);
		fd = open(path, O_CREAT | O_WRONLY, 0644);
		CHECK(fd >= 0 && write(fd, text, (size_t)n) == n);
		CHECK(fchown(fd, 65534, 65534) == 0);
		close(fd);
		CHECK_INT(part_done_read(&d, id, &rec), 0);
		CHECK(!exists(".22222222-2222-4333-8444-555555555555.done"));
	}

	/* Orphans: old bookkeeping files of tasks not held are removed, new
	 * ones, held ones, final files and other names stay. */
	static const char old_id[] = "33333333-2222-4333-8444-555555555555";
	const char *const files[] = { ".33333333-2222-4333-8444-555555555555.part",
				      ".33333333-2222-4333-8444-555555555555.meta",
				      ".33333333-2222-4333-8444-555555555555.done",
				      ".44444444-2222-4333-8444-555555555555.part",
				      ".55555555-2222-4333-8444-555555555555.part",
				      ".notes.part", "old.txt", NULL };
	for (int i = 0; files[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		int fd = open(path, O_CREAT | O_WRONLY, 0644);
		CHECK(fd >= 0);
		close(fd);
		if (i == 4)
			continue; /* recent */
		struct timespec ts[2] = { { time(NULL) - 3 * 86400, 0 },
					  { time(NULL) - 3 * 86400, 0 } };
		CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0);
	}
	CHECK_INT(part_sweep(&d, 86400, held_44, NULL), 3);
	CHECK(!exists(".33333333-2222-4333-8444-555555555555.part"));
	CHECK(!exists(".33333333-2222-4333-8444-555555555555.done"));
	CHECK(exists(".44444444-2222-4333-8444-555555555555.part"));
	CHECK(exists(".55555555-2222-4333-8444-555555555555.part"));
	CHECK(exists(".notes.part") && exists("old.txt") && exists("out.txt.1"));
	(void)old_id;

	victim_intact();
	part_dir_close(&d);
	unlink(victim);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

/* --dir's path, as files are reported under it: absolute and free of
 * symlinks and "..", as realpath() gives it (os_fd_path, through
 * /proc/self/fd), also from a relative path; a name longer than the
 * buffer is refused, not cut. */
static void test_dir_path(void)
{
	char real[300], link[300], via[320], want[PATH_MAX], err[256], cwd[PATH_MAX];
	struct part_dir d;
	CHECK(mkdtemp(dir) != NULL);
	snprintf(real, sizeof(real), "%s/real", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	snprintf(via, sizeof(via), "%s/link/../link", dir);
	CHECK_INT(mkdir(real, 0755), 0);
	CHECK_INT(symlink("real", link), 0);
	CHECK(realpath(real, want) != NULL);
	CHECK_INT(part_dir_open(&d, via, err, sizeof(err)), 0);
	CHECK_STR(d.path, want);
	part_dir_close(&d);
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK_INT(chdir(dir), 0);
	CHECK_INT(part_dir_open(&d, "link", err, sizeof(err)), 0);
	CHECK_STR(d.path, want);
	char small[8];
	errno = 0;
	CHECK_INT(os_fd_path(d.fd, small, sizeof(small)), -1);
	CHECK_INT(errno, ENAMETOOLONG);
	part_dir_close(&d);
	CHECK_INT(part_dir_open(&d, "nothing-here", err, sizeof(err)), -1);
	CHECK(strstr(err, "nothing-here") != NULL);
	CHECK_INT(chdir(cwd), 0);
	unlink(link);
	rmdir(real);
	rmdir(dir);
}

int main(void)
{
	test_names();
	test_files();
	strcpy(dir, "/tmp/warren-test-part-XXXXXX");
	test_planted();
	strcpy(dir, "/tmp/warren-test-part-XXXXXX");
	test_dir_path();
	return check_report();
}

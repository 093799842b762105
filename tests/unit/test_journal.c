/* test_journal.c - append, replay, torn tails, damage, lock, compaction. */
#include "check.h"
#include "journal.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64], path[128];
static char err[256];

/* Replayed records, joined with '|'. */
struct seen {
	char text[8192];
	size_t len;
	int n;
};

static void collect(const char *rec, size_t len, void *arg)
{
	struct seen *s = arg;
	if (s->len + len + 1 < sizeof(s->text)) {
		if (s->n)
			s->text[s->len++] = '|';
		memcpy(s->text + s->len, rec, len);
		s->len += len;
		s->text[s->len] = '\0';
	}
	s->n++;
}

static journal_t *reopen(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return journal_open(path, collect, s, err, sizeof(err));
}

static off_t file_size(void)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_crc(void)
{
	CHECK_INT(journal_crc32(0, "123456789", 9), 0xCBF43926u);
	CHECK_INT(journal_crc32(0, "", 0), 0);
	/* continuing over pieces equals all at once */
	CHECK_INT(journal_crc32(journal_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}

static void test_append_replay(void)
{
	struct seen s;
	journal_t *j = reopen(&s);
	CHECK(j != NULL);
	CHECK_INT(s.n, 0);
	CHECK_INT(journal_records(j), 0);
	CHECK_INT(journal_append(j, "{\"seq\":1}", 9), 0);
	CHECK_INT(journal_append(j, "two\nlines", 9), 0); /* payload is opaque */
	CHECK_INT(journal_append(j, "", 0), 0);
	CHECK_INT(journal_sync(j), 0);
	CHECK_INT(journal_append(j, "last", 4), 0);
	CHECK_INT(journal_records(j), 4);
	CHECK_INT(journal_size(j), file_size());
	/* a second opener is refused while the first holds it */
	journal_t *j2 = journal_open(path, NULL, NULL, err, sizeof(err));
	CHECK(j2 == NULL);
	CHECK(strstr(err, "in use") != NULL);
	journal_close(j);

	j = reopen(&s);
	CHECK(j != NULL);
	CHECK_INT(s.n, 4);
	CHECK_STR(s.text, "{\"seq\":1}|two\nlines||last");
	CHECK_INT(journal_dropped(j), 0);
	/* appending goes on after the replayed records */
	CHECK_INT(journal_append(j, "five", 4), 0);
	journal_close(j);
	j = reopen(&s);
	CHECK_INT(s.n, 5);
	CHECK_STR(s.text, "{\"seq\":1}|two\nlines||last|five");
	journal_close(j);

	/* the format is what the header says */
	char head[32];
	int fd = open(path, O_RDONLY);
	CHECK_INT(read(fd, head, 28), 28);
	close(fd);
	CHECK(memcmp(head, "00000009 ", 9) == 0);
	CHECK(memcmp(head + 18, "{\"seq\":1}\n", 10) == 0);

	/* too large a record is refused and leaves the file as it was */
	j = reopen(&s);
	off_t before = file_size();
	static char big[JOURNAL_MAX_RECORD + 1];
	errno = 0;
	CHECK_INT(journal_append(j, big, sizeof(big)), -1);
	CHECK_INT(errno, EMSGSIZE);
	CHECK_INT(file_size(), before);
	journal_close(j);
	unlink(path);
}

/* A crash may stop the last write anywhere: every cut is survived. */
static void test_torn_tail(void)
{
	struct seen s;
	journal_t *j = reopen(&s);
	journal_append(j, "alpha", 5);
	journal_append(j, "beta", 4);
	off_t good = file_size();
	journal_append(j, "gamma-record", 12);
	off_t full = file_size();
	journal_close(j);

	int ok = 0;
	for (off_t cut = good; cut < full; cut++) {
		CHECK_INT(truncate(path, cut), 0);
		j = reopen(&s);
		if (j && s.n == 2 && strcmp(s.text, "alpha|beta") == 0 &&
		    journal_dropped(j) == (uint64_t)(cut - good) &&
		    file_size() == good)
			ok++;
		/* what comes next is appended where the torn one was */
		if (j)
			journal_append(j, "gamma-record", 12);
		journal_close(j);
	}
	CHECK_INT(ok, full - good);
	j = reopen(&s);
	CHECK_INT(s.n, 3);
	CHECK_STR(s.text, "alpha|beta|gamma-record");
	journal_close(j);
	unlink(path);
}

/* Damage (a flipped byte, garbage) ends the replay there. */
static void test_damage(void)
{
	struct seen s;
	journal_t *j = reopen(&s);
	journal_append(j, "one", 3);
	off_t good = file_size();
	journal_append(j, "two", 3);
	journal_close(j);

	/* flip a payload byte of the last record: CRC mismatch */
	int fd = open(path, O_RDWR);
	CHECK(pwrite(fd, "T", 1, good + 18) == 1);
	close(fd);
	j = reopen(&s);
	CHECK_INT(s.n, 1);
	CHECK_STR(s.text, "one");
	CHECK_INT(journal_dropped(j), 22);
	journal_close(j);

	/* garbage header */
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "zzzzzzzz 00000000 x\n", 20) == 20);
	close(fd);
	j = reopen(&s);
	CHECK_INT(s.n, 1);
	CHECK_INT(journal_dropped(j), 20);
	journal_close(j);

	/* a length over the limit is damage, not a reason to read on */
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "ffffffff 00000000 ", 18) == 18);
	close(fd);
	j = reopen(&s);
	CHECK_INT(s.n, 1);
	CHECK_INT(file_size(), good);
	journal_close(j);
	unlink(path);
}

struct source {
	const char **recs;
	int i, n;
};

static const char *next_rec(void *arg, size_t *len)
{
	struct source *src = arg;
	if (src->i >= src->n)
		return NULL;
	*len = strlen(src->recs[src->i]);
	return src->recs[src->i++];
}

static void test_compact(void)
{
	struct seen s;
	journal_t *j = reopen(&s);
	for (int i = 0; i < 100; i++) {
		char r[32];
		snprintf(r, sizeof(r), "record %d", i);
		journal_append(j, r, strlen(r));
	}
	CHECK_INT(journal_records(j), 100);
	const char *keep[] = { "record 97", "record 98", "record 99" };
	struct source src = { keep, 0, 3 };
	CHECK_INT(journal_compact(j, next_rec, &src), 0);
	CHECK_INT(journal_records(j), 3);
	CHECK_INT(journal_size(j), file_size());
	/* no temporary file left behind */
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	CHECK(access(tmp, F_OK) != 0);
	/* appends go to the compacted file, and it is still locked */
	CHECK_INT(journal_append(j, "after", 5), 0);
	CHECK(journal_open(path, NULL, NULL, err, sizeof(err)) == NULL);
	journal_close(j);
	j = reopen(&s);
	CHECK_INT(s.n, 4);
	CHECK_STR(s.text, "record 97|record 98|record 99|after");

	/* compacting to nothing */
	struct source none = { keep, 0, 0 };
	CHECK_INT(journal_compact(j, next_rec, &none), 0);
	CHECK_INT(file_size(), 0);
	journal_close(j);
	j = reopen(&s);
	CHECK_INT(s.n, 0);
	journal_close(j);

	/* a failed compaction (too large a record) keeps the old file */
	j = reopen(&s);
	journal_append(j, "kept", 4);
	static char big[JOURNAL_MAX_RECORD + 2];
	memset(big, 'x', sizeof(big) - 1);
	const char *bad[] = { "fine", big };
	struct source bsrc = { bad, 0, 2 };
	CHECK_INT(journal_compact(j, next_rec, &bsrc), -1);
	CHECK(access(tmp, F_OK) != 0);
	CHECK_INT(journal_append(j, "more", 4), 0);
	journal_close(j);
	j = reopen(&s);
	CHECK_STR(s.text, "kept|more");
	journal_close(j);
	unlink(path);
}

static void test_open_errors(void)
{
	journal_t *j = journal_open("/nonexistent-dir/journal", NULL, NULL,
				    err, sizeof(err));
	CHECK(j == NULL);
	CHECK(strstr(err, "/nonexistent-dir/journal") != NULL);
	j = journal_open(dir, NULL, NULL, err, sizeof(err)); /* a directory */
	CHECK(j == NULL);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_journal.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/journal", dir);
	test_crc();
	test_append_replay();
	test_torn_tail();
	test_damage();
	test_compact();
	test_open_errors();
	rmdir(dir);
	return check_report();
}

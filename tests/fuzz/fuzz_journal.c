/*
 * fuzz_journal - the middleman's journal read back after a crash, a power
 * cut or a damaged disk: the input is the file's whole content.
 *
 * Invariants checked besides memory safety:
 * - the records replayed are exactly those an independent reader of the
 *   format finds ("LLLLLLLL CCCCCCCC payload\n", lowercase hex, CRC-32,
 *   at most JOURNAL_MAX_RECORD bytes), up to the first damaged one;
 * - the kept size plus the dropped tail is the file's size, and the file
 *   is cut to the kept size: a second open replays the same records and
 *   drops nothing;
 * - a record appended after recovery comes back after the old ones;
 * - a compaction keeps exactly the records it is given, in order.
 * The last three (fsyncs, renames) run for one input in eight, chosen by
 * its last byte, to keep the run fast.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "journal.h"
#include "fuzz.h"

static char path[64];

/* Records as a list: 4-byte length, then the bytes. */
static void collect(const char *rec, size_t len, void *arg)
{
	buf_t *b = arg;
	uint32_t n = (uint32_t)len;
	FUZZ_ASSERT(len <= JOURNAL_MAX_RECORD);
	FUZZ_ASSERT(buf_append(b, &n, sizeof(n)) == 0);
	FUZZ_ASSERT(buf_append(b, rec, len) == 0);
}

static uint32_t crc32_ref(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xFFFFFFFFu;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
	}
	return ~crc;
}

static int hex8(const uint8_t *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 8; i++) {
		int d = p[i] >= '0' && p[i] <= '9' ? p[i] - '0' :
			p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

/* The reference reader: records into list, returns the good length. */
static size_t read_ref(const uint8_t *p, size_t n, buf_t *list)
{
	size_t pos = 0;
	for (;;) {
		uint32_t len, crc;
		if (n - pos < 18 || hex8(p + pos, &len) || p[pos + 8] != ' ' ||
		    hex8(p + pos + 9, &crc) || p[pos + 17] != ' ' ||
		    len > JOURNAL_MAX_RECORD || n - pos - 18 < (size_t)len + 1 ||
		    p[pos + 18 + len] != '\n' || crc32_ref(p + pos + 18, len) != crc)
			return pos;
		collect((const char *)p + pos + 18, len, list);
		pos += 18 + (size_t)len + 1;
	}
}

static int same(const buf_t *a, const buf_t *b)
{
	return buf_used(a) == buf_used(b) &&
	       (buf_used(a) == 0 || !memcmp(buf_head(a), buf_head(b), buf_used(a)));
}

static journal_t *reopen(buf_t *list)
{
	char err[256];
	journal_t *j = journal_open(path, collect, list, err, sizeof(err));
	if (!j)
		fprintf(stderr, "journal_open: %s\n", err);
	FUZZ_ASSERT(j);
	return j;
}

/* Compaction source: every other record of a list. */
struct walk {
	const buf_t *list;
	size_t pos;
	buf_t kept;
};

static const char *next_kept(void *arg, size_t *len)
{
	struct walk *w = arg;
	while (w->pos < buf_used(w->list)) {
		uint32_t n;
		const char *p = buf_head(w->list) + w->pos;
		memcpy(&n, p, sizeof(n));
		size_t at = w->pos;
		w->pos += sizeof(n) + n;
		if ((at / 7) % 2 == 0) { /* an arbitrary but fixed choice */
			collect(p + sizeof(n), n, &w->kept);
			*len = n;
			return p + sizeof(n);
		}
	}
	return NULL;
}

static void remove_file(void) { unlink(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0]) {
		snprintf(path, sizeof(path), "/dev/shm/warren-fuzz-journal.%d", (int)getpid());
		atexit(remove_file);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(size == 0 || write(fd, data, size) == (ssize_t)size);
	close(fd);

	buf_t got = BUF_INIT, want = BUF_INIT, again = BUF_INIT;
	size_t good = read_ref(data, size, &want);
	journal_t *j = reopen(&got);
	FUZZ_ASSERT(same(&got, &want));
	FUZZ_ASSERT(journal_size(j) == good);
	FUZZ_ASSERT(journal_dropped(j) == size - good);

	/* the rest costs fsyncs and renames: one input in eight */
	if (size == 0 || data[size - 1] % 8 != 0) {
		journal_close(j);
		buf_free(&got);
		buf_free(&want);
		return 0;
	}

	/* recovery is final: nothing more to cut, same records */
	const char extra[] = "{\"seq\":1,\"status\":\"done\"}";
	FUZZ_ASSERT(journal_append(j, extra, sizeof(extra) - 1) == 0);
	collect(extra, sizeof(extra) - 1, &want);
	journal_close(j);
	j = reopen(&again);
	FUZZ_ASSERT(journal_dropped(j) == 0);
	FUZZ_ASSERT(same(&again, &want));

	/* compaction keeps what it is given */
	struct walk w = { &again, 0, BUF_INIT };
	FUZZ_ASSERT(journal_compact(j, next_kept, &w) == 0);
	journal_close(j);
	buf_reset(&again);
	j = reopen(&again);
	FUZZ_ASSERT(journal_dropped(j) == 0);
	FUZZ_ASSERT(same(&again, &w.kept));
	journal_close(j);

	buf_free(&w.kept);
	buf_free(&got);
	buf_free(&want);
	buf_free(&again);
	return 0;
}

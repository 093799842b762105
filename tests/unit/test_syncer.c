/* test_syncer.c - fsync in a helper process: answers come from the loop,
 * in order, once each; requests for one file that wait share a sync; a
 * cancelled request is not answered; a request made from an answer works;
 * a helper that dies leaves the syncs to be done in place; part_finish_async
 * makes the final file through it, and part_remove stops it. */
#include "check.h"
#include "part.h"
#include "syncer.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static loop_t *loop;
static syncer_t *sy;
static int order[16], errs[16], answered;
static int fd_file, fd_dir;

static void on_sync(void *arg, int err)
{
	int k = (int)(long)arg;
	if (answered < 16) {
		order[answered] = k;
		errs[answered] = err;
	}
	answered++;
}

/* The answer to request 100 asks for another sync, of the folder. */
static void on_chain(void *arg, int err)
{
	on_sync(arg, err);
	CHECK(syncer_sync(sy, fd_dir, on_sync, (void *)101L) > 0);
}

/* Runs the loop until n answers came (or 5 s passed). */
static void wait_answers(int n)
{
	for (int i = 0; i < 500 && answered < n; i++)
		loop_once(loop, 10);
}

/* The helper is our only child: its pid from /proc (0 when unknown). */
static pid_t helper_pid(void)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
	FILE *f = fopen(path, "r");
	int pid = 0;
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return (pid_t)pid;
}

static char dir[] = "/tmp/warren-test-syncer-XXXXXX";

static void test_syncer(void)
{
	char path[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/a", dir);
	fd_file = open(path, O_RDWR | O_CREAT, 0644);
	fd_dir = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(fd_file >= 0 && fd_dir >= 0);
	CHECK(write(fd_file, "data", 4) == 4);

	/* Never answered before the loop runs. */
	CHECK(syncer_sync(sy, fd_file, on_sync, (void *)1L) > 0);
	CHECK_INT(answered, 0);
	wait_answers(1);
	CHECK_INT(answered, 1);
	CHECK_INT(order[0], 1);
	CHECK_INT(errs[0], 0);
	CHECK(helper_pid() > 0);

	/* One sync running, four more requests for the same folder: they
	 * wait for one more sync and are answered in order, once each; a
	 * request for another file in between is answered too. */
	answered = 0;
	CHECK(syncer_sync(sy, fd_dir, on_sync, (void *)10L) > 0);
	CHECK(syncer_sync(sy, fd_dir, on_sync, (void *)11L) > 0);
	CHECK(syncer_sync(sy, fd_file, on_sync, (void *)12L) > 0);
	int dup_dir = dup(fd_dir); /* another descriptor of the same folder */
	CHECK(syncer_sync(sy, dup_dir, on_sync, (void *)13L) > 0);
	close(dup_dir); /* may be closed at once */
	uint64_t gone = syncer_sync(sy, fd_dir, on_sync, (void *)14L);
	CHECK(syncer_sync(sy, fd_dir, on_sync, (void *)15L) > 0);
	syncer_cancel(sy, gone);
	wait_answers(5);
	for (int i = 0; i < 20; i++)
		loop_once(loop, 5); /* nothing more comes */
	CHECK_INT(answered, 5);
	int seen = 0;
	for (int i = 0; i < answered && i < 16; i++) {
		CHECK_INT(errs[i], 0);
		CHECK(order[i] != 14);
		seen |= 1 << (order[i] - 10);
	}
	CHECK_INT(seen, 0x2f);
	/* the folder's requests in the order made */
	int last = 0;
	for (int i = 0; i < answered && i < 16; i++) {
		if (order[i] != 12) {
			CHECK(order[i] > last);
			last = order[i];
		}
	}

	/* A request made from an answer. */
	answered = 0;
	CHECK(syncer_sync(sy, fd_file, on_chain, (void *)100L) > 0);
	wait_answers(2);
	CHECK_INT(answered, 2);
	CHECK_INT(order[0], 100);
	CHECK_INT(order[1], 101);

	/* A bad descriptor is refused at once. */
	CHECK_INT(syncer_sync(sy, -1, on_sync, NULL), 0);

	/* The helper dies: the syncs are done in place, still from the loop. */
	pid_t pid = helper_pid();
	CHECK(pid > 0);
	if (pid > 0)
		kill(pid, SIGKILL);
	answered = 0;
	for (int i = 0; i < 3; i++)
		CHECK(syncer_sync(sy, fd_file, on_sync, (void *)(long)(20 + i)) > 0);
	CHECK_INT(answered, 0);
	wait_answers(3);
	CHECK_INT(answered, 3);
	CHECK_INT(order[0], 20);
	CHECK_INT(errs[0], 0);
	CHECK(helper_pid() == 0); /* reaped */
	answered = 0;
	CHECK(syncer_sync(sy, fd_dir, on_sync, (void *)30L) > 0);
	CHECK_INT(answered, 0);
	wait_answers(1);
	CHECK_INT(answered, 1);
	close(fd_file);
	close(fd_dir);
}

static const char *finish_err;
static int finished;

static void on_finish(void *arg, const char *err)
{
	(void)arg;
	finished++;
	finish_err = err;
}

static int exists(const char *name)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static void test_part_async(void)
{
	static const char id[] = "11111111-2222-4333-8444-555555555555";
	static const char id2[] = "11111111-2222-4333-8444-666666666666";
	static const char hex[] = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
	char err[256], final[4096], final2[4096];
	struct part_dir d;
	struct part p, q;
	struct part_record rec;
	syncer_t *s2 = syncer_new(loop);
	CHECK(s2 != NULL);
	CHECK_INT(part_dir_open(&d, dir, err, sizeof(err)), 0);
	part_dir_async(&d, s2);

	CHECK_INT(part_open(&p, &d, id, err, sizeof(err)), 0);
	CHECK(write(p.fd, "hello world", 11) == 11);
	p.size = 11;
	part_finish_async(&p, "out.txt", hex, 11, final, sizeof(final), on_finish, NULL);
	CHECK_INT(finished, 0);
	CHECK(!exists("out.txt")); /* named only once synced */
	for (int i = 0; i < 500 && !finished; i++)
		loop_once(loop, 10);
	CHECK_INT(finished, 1);
	CHECK(finish_err == NULL);
	CHECK_INT(p.fd, -1);
	CHECK(exists("out.txt"));
	CHECK(!exists(".11111111-2222-4333-8444-555555555555.part"));
	CHECK_INT(part_done_read(&d, id, &rec), 1);
	CHECK_STR(rec.sha256, hex);

	/* Stopped by part_remove before the answer: no callback, no file. */
	CHECK_INT(part_open(&q, &d, id2, err, sizeof(err)), 0);
	CHECK(write(q.fd, "bye", 3) == 3);
	q.size = 3;
	part_finish_async(&q, "gone.txt", hex, 3, final2, sizeof(final2), on_finish, NULL);
	part_remove(&q);
	for (int i = 0; i < 30; i++)
		loop_once(loop, 5);
	CHECK_INT(finished, 1);
	CHECK(!exists("gone.txt"));
	CHECK(!exists(".11111111-2222-4333-8444-666666666666.part"));

	/* Without a syncer: done in place, the callback before the return. */
	part_dir_async(&d, NULL);
	CHECK_INT(part_open(&q, &d, id2, err, sizeof(err)), 0);
	CHECK(write(q.fd, "bye", 3) == 3);
	q.size = 3;
	part_finish_async(&q, "here.txt", NULL, 3, final2, sizeof(final2), on_finish, NULL);
	CHECK_INT(finished, 2);
	CHECK(finish_err == NULL);
	CHECK(exists("here.txt"));
	syncer_free(s2);
	part_dir_close(&d);
}

int main(void)
{
	loop = loop_new();
	sy = syncer_new(loop);
	CHECK(loop && sy);
	test_syncer();
	syncer_free(sy);
	test_part_async();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	loop_free(loop);
	return check_report();
}

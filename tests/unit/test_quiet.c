/* test_quiet.c - --quiet windows: syntax, crossing midnight, several
 * windows, and the minutes until the state changes. */
#include "check.h"
#include "quiet.h"

static void test_parse(void)
{
	struct quiet q;
	char err[200];
	CHECK_INT(quiet_parse("01:00-06:30", &q, err, sizeof(err)), 0);
	CHECK_INT(q.n, 1);
	CHECK_INT(q.w[0].from, 60);
	CHECK_INT(q.w[0].to, 390);
	CHECK_INT(quiet_parse("23:00-06:00,12:00-13:15", &q, err, sizeof(err)), 0);
	CHECK_INT(q.n, 2);
	CHECK_INT(q.w[1].to, 795);
	const char *bad[] = { "", "1:00-02:00", "01:00-02:00,", "01:00", "24:00-01:00",
			      "01:60-02:00", "01:00-02:00 ", " 01:00-02:00", "01:00_02:00",
			      "01:00-01:00", "01:00-02:00;03:00-04:00", "aa:bb-cc:dd",
			      "01:00-02:00,,03:00-04:00", "01:00-02:0", NULL };
	for (int i = 0; bad[i]; i++) {
		err[0] = '\0';
		CHECK_INT(quiet_parse(bad[i], &q, err, sizeof(err)), -1);
		CHECK(err[0] != '\0');
	}
	char many[200] = "";
	for (int i = 0; i <= QUIET_MAX_WINDOWS; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s%02d:00-%02d:30",
			 i ? "," : "", i, i);
	CHECK_INT(quiet_parse(many, &q, err, sizeof(err)), -1);
	CHECK(strstr(err, "at most") != NULL);
}

static void test_at(void)
{
	struct quiet q;
	char err[200];
	unsigned left;
	/* crossing midnight */
	CHECK_INT(quiet_parse("23:00-06:00", &q, err, sizeof(err)), 0);
	CHECK_INT(quiet_at(&q, 22 * 60 + 59, &left), 0);
	CHECK_INT(left, 1);
	CHECK_INT(quiet_at(&q, 23 * 60, &left), 1);
	CHECK_INT(left, 7 * 60);
	CHECK_INT(quiet_at(&q, 0, &left), 1);
	CHECK_INT(left, 6 * 60);
	CHECK_INT(quiet_at(&q, 6 * 60, &left), 0);
	CHECK_INT(left, 17 * 60);
	CHECK_INT(quiet_at(&q, 5 * 60 + 59, &left), 1);
	CHECK_INT(left, 1);
	/* several windows, touching ones merge */
	CHECK_INT(quiet_parse("12:00-13:00,13:00-14:00,20:00-21:00", &q, err, sizeof(err)), 0);
	CHECK_INT(quiet_at(&q, 12 * 60 + 30, &left), 1);
	CHECK_INT(left, 90);
	CHECK_INT(quiet_at(&q, 14 * 60, &left), 0);
	CHECK_INT(left, 6 * 60);
	CHECK_INT(quiet_at(&q, 21 * 60, &left), 0);
	CHECK_INT(left, 15 * 60);
	/* the whole day, and none */
	CHECK_INT(quiet_parse("00:00-12:00,12:00-00:00", &q, err, sizeof(err)), 0);
	CHECK_INT(quiet_at(&q, 700, &left), 1);
	CHECK_INT(left, 1440);
	q.n = 0;
	CHECK_INT(quiet_at(&q, 700, &left), 0);
	CHECK_INT(left, 1440);
}

int main(void)
{
	test_parse();
	test_at();
	return check_report();
}

/* test_log_utc.c - the UTC date of a log line (log.c's utc(), which stands
 * in for gmtime_r in static builds), compiled in here with the rest of
 * log.c: against gmtime_r from 1600 to 2400, at every leap-year edge and
 * at a stride that visits every day of the year, before and after 1970. */
#include "check.h"

#include "src/log.c"

static int same_as_gmtime(time_t t)
{
	struct tm want, got;
	memset(&got, 0, sizeof(got));
	if (!gmtime_r(&t, &want))
		return 1; /* out of the library's range: nothing to compare */
	utc(t, &got);
	if (got.tm_year == want.tm_year && got.tm_mon == want.tm_mon &&
	    got.tm_mday == want.tm_mday && got.tm_hour == want.tm_hour &&
	    got.tm_min == want.tm_min && got.tm_sec == want.tm_sec)
		return 1;
	fprintf(stderr, "FAIL utc(%lld): %04d-%02d-%02d %02d:%02d:%02d, gmtime_r "
		"%04d-%02d-%02d %02d:%02d:%02d\n", (long long)t, got.tm_year + 1900,
		got.tm_mon + 1, got.tm_mday, got.tm_hour, got.tm_min, got.tm_sec,
		want.tm_year + 1900, want.tm_mon + 1, want.tm_mday, want.tm_hour,
		want.tm_min, want.tm_sec);
	return 0;
}

int main(void)
{
	/* 1600-03-01 .. 2400-03-01: every 400-year era boundary on either
	 * side of 1970; a stride of 1 day + 1 h 1 min 1 s walks every day and
	 * every hour of the day over the years. */
	const long long from = -11670912000LL, to = 13574649600LL, step = 86400 + 3661;
	int bad = 0;
	for (long long t = from; t <= to && bad < 5; t += step)
		bad += !same_as_gmtime((time_t)t);
	CHECK_INT(bad, 0);
	/* the days around each February's end, every year of those 800 */
	bad = 0;
	for (int y = 1600; y <= 2399 && bad < 5; y++) {
		struct tm feb = { .tm_year = y - 1900, .tm_mon = 1, .tm_mday = 27 };
		time_t t = timegm(&feb);
		for (int d = 0; d < 4; d++)
			bad += !same_as_gmtime(t + d * 86400 + 86399);
	}
	CHECK_INT(bad, 0);
	/* the second before and after the epoch */
	CHECK(same_as_gmtime(-1));
	CHECK(same_as_gmtime(0));
	return check_report();
}

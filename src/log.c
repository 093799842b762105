/* log.c - stderr or syslog logging; see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

static const char *log_ident = "warren";
static int log_to_syslog;

void log_open(const char *ident, int use_syslog)
{
	log_ident = ident;
	log_to_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID, LOG_DAEMON);
}

static void log_line(int prio, const char *level, const char *fmt, va_list ap)
{
	if (log_to_syslog) {
		vsyslog(prio, fmt, ap);
		return;
	}
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* one fprintf per line, so lines of concurrent programs do not mix */
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: %s\n",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident, level, msg);
}

#define LOG_FN(name, prio, level)                     \
	void name(const char *fmt, ...)               \
	{                                             \
		va_list ap;                           \
		va_start(ap, fmt);                    \
		log_line(prio, level, fmt, ap);       \
		va_end(ap);                           \
	}

LOG_FN(log_info, LOG_INFO, "info")
LOG_FN(log_warn, LOG_WARNING, "warn")
LOG_FN(log_error, LOG_ERR, "error")

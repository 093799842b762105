/*
 * log.c - stderr or syslog logging; see log.h.
 *
 * Syslog messages go straight to the /dev/log socket in the RFC 3164 local
 * form "<PRI>ident[pid]: message", which syslogd, BusyBox syslogd/logread
 * and journald all take: syslog(3) would bring strftime and time-zone code
 * (8 KB) into static builds only to format a timestamp syslogd adds anyway.
 */
#include "log.h"
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "warren";
static int log_to_syslog;
static int log_fd = -1;
static int log_stream; /* the socket is SOCK_STREAM: records end in NUL */

/* (Re)connects to the syslog socket: datagram first, stream as fallback. */
static int syslog_connect(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_STREAM };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, LOG_SOCKET, sizeof(LOG_SOCKET));
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			log_fd = fd;
			log_stream = types[i] == SOCK_STREAM;
			return 0;
		}
		close(fd);
	}
	return -1;
}

void log_open(const char *ident, int use_syslog)
{
	log_ident = ident;
	log_to_syslog = use_syslog;
	if (use_syslog)
		syslog_connect();
}

/* Sends one record (NUL-terminated on a stream socket, to split records). */
static int syslog_send(int prio, const char *msg)
{
	char rec[LOG_MAX_RECORD];
	int n = snprintf(rec, sizeof(rec), "<%d>%s[%d]: %s", LOG_DAEMON | prio,
			 log_ident, (int)getpid(), msg);
	if (n < 0)
		return -1;
	size_t len = (size_t)n < sizeof(rec) ? (size_t)n : sizeof(rec) - 1;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (log_fd >= 0 && send(log_fd, rec, len + (size_t)log_stream, MSG_NOSIGNAL) >= 0)
			return 0;
		/* syslogd restarted (ECONNREFUSED/ENOTCONN): reconnect once */
		if (syslog_connect() < 0)
			break;
	}
	return -1;
}

static void log_line(int prio, const char *level, const char *fmt, va_list ap)
{
	char msg[LOG_MAX_LINE];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_to_syslog && syslog_send(prio, msg) == 0)
		return;
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

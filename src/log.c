/*
 * log.c - stderr or syslog logging; see log.h.
 *
 * Syslog messages go straight to the /dev/log socket in the RFC 3164 local
 * form "<PRI>ident[pid]: message", which syslogd, BusyBox syslogd/logread
 * and journald all take: syslog(3) would bring strftime and time-zone code
 * (8 KB) into static builds only to format a timestamp syslogd adds anyway.
 *
 * Every message is escaped here, once, before it goes anywhere: much of
 * what is logged comes from outside (a request path, a decoded ?task=, a
 * task name, a server's error text), and a newline in it would forge a
 * line; a terminal escape would hide one.
 */
#include "log.h"
#include "config.h"
#include "utf8.h"

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

/* Length of the printable UTF-8 character at p[0..n), or 0 to escape its
 * first byte: not UTF-8, a C1 control (U+0080-U+009F), a line or paragraph
 * separator or a bidirectional override (U+2028-U+202E, U+2066-U+2069),
 * which some viewers act on. */
static size_t printable_utf8(const unsigned char *p, size_t n)
{
	size_t len = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : 2;
	if (len > n || !utf8_valid(p, len))
		return 0;
	if (p[0] == 0xC2 && p[1] < 0xA0)
		return 0;
	if (p[0] == 0xE2 && ((p[1] == 0x80 && p[2] >= 0xA8 && p[2] <= 0xAE) ||
			     (p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9)))
		return 0;
	return len;
}

/* Writes the escape of byte c to e (\n, \r, \t, \\ or \xNN); its length. */
static size_t escape_byte(unsigned char c, char e[4])
{
	static const char hex[] = "0123456789abcdef";
	char named = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' :
		     c == '\\' ? '\\' : 0;
	e[0] = '\\';
	if (named) {
		e[1] = named;
		return 2;
	}
	e[1] = 'x';
	e[2] = hex[c >> 4];
	e[3] = hex[c & 15];
	return 4;
}

/* Copies in to out (NUL-terminated, cut before a character or escape that
 * does not fit) with C0 controls, DEL, the bytes printable_utf8 refuses
 * and the backslash itself escaped: an escape in a log always means one. */
static void escape(char *out, size_t outlen, const char *in)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t n = strlen(in), o = 0;
	for (size_t i = 0; i < n;) {
		char e[4];
		const char *piece = in + i;
		size_t len = 1, take;
		if (p[i] >= 0x80)
			len = printable_utf8(p + i, n - i);
		else if (p[i] < 0x20 || p[i] == 0x7F || p[i] == '\\')
			len = 0;
		take = len;
		if (!len) {
			len = escape_byte(p[i], e);
			piece = e;
			take = 1;
		}
		if (o + len >= outlen)
			break;
		memcpy(out + o, piece, len);
		o += len;
		i += take;
	}
	out[o] = '\0';
}

/* The UTC date and time of t, as gmtime_r() gives them (the fields a log
 * line shows): days to a proleptic Gregorian date by 400-year eras of
 * 146,097 days, counted from a 1 March so that the leap day ends a year.
 * gmtime_r() would link musl's time-zone code too: 6 KB of a static
 * tasker or middleman. */
static void utc(time_t t, struct tm *tm)
{
	long long days = t / 86400, secs = t % 86400;
	if (secs < 0)
		secs += 86400, days--;
	tm->tm_hour = (int)(secs / 3600);
	tm->tm_min = (int)(secs / 60 % 60);
	tm->tm_sec = (int)(secs % 60);
	days += 719468; /* 0000-03-01 to 1970-01-01 */
	long long era = (days >= 0 ? days : days - 146096) / 146097;
	long long day = days - era * 146097;                                 /* 0..146096 */
	long long year = (day - day / 1460 + day / 36524 - day / 146096) / 365; /* 0..399 */
	long long yday = day - (365 * year + year / 4 - year / 100);          /* 0..365 */
	long long m = (5 * yday + 2) / 153;                                  /* 0 = March */
	tm->tm_mday = (int)(yday - (153 * m + 2) / 5 + 1);
	tm->tm_mon = (int)(m < 10 ? m + 2 : m - 10);
	tm->tm_year = (int)(year + era * 400 + (m >= 10) - 1900);
}

static void log_line(int prio, const char *level, const char *fmt, va_list ap)
{
	char raw[LOG_MAX_LINE], msg[LOG_MAX_LINE];
	vsnprintf(raw, sizeof(raw), fmt, ap);
	escape(msg, sizeof(msg), raw);
	if (log_to_syslog && syslog_send(prio, msg) == 0)
		return;
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	utc(ts.tv_sec, &tm);
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

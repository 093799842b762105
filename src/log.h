/*
 * log - one line per event, to stderr (with a timestamp) or to syslog
 * (LOG_DAEMON, the program name as ident) after log_open(..., 1).
 *
 * A message is always one line, whatever its arguments hold: control
 * characters (\n, \r, \t, others as \xNN), bytes that are not UTF-8, C1
 * controls, Unicode line separators and bidirectional overrides, and the
 * backslash itself (\\) are escaped, so text from outside cannot forge or
 * hide a line. Messages are cut at LOG_MAX_LINE bytes.
 */
#ifndef WARREN_LOG_H
#define WARREN_LOG_H

/* Sets the ident (program name) and the destination. */
void log_open(const char *ident, int use_syslog);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

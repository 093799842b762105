/*
 * log - one line per event, to stderr (with a timestamp) or to syslog
 * (LOG_DAEMON, the program name as ident) after log_open(..., 1).
 */
#ifndef WARREN_LOG_H
#define WARREN_LOG_H

/* Sets the ident (program name) and the destination. */
void log_open(const char *ident, int use_syslog);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

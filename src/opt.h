/*
 * opt - settings from, strongest first, the command line, the environment
 * and the compile-time default already stored in each destination.
 * One table per program describes every option; --help is generated from it.
 */
#ifndef WARREN_OPT_H
#define WARREN_OPT_H

#include "config.h"

enum opt_kind {
	OPT_FLAG, /* dst is int*: --name sets 1; env "1"/"0" */
	OPT_STR,  /* dst is const char**: points into argv or environ */
	OPT_UINT  /* dst is unsigned long*: decimal, 0..max */
};

struct opt {
	const char *name;   /* long option without "--" */
	const char *env;    /* environment variable, or NULL */
	enum opt_kind kind;
	void *dst;
	unsigned long max;  /* OPT_UINT: largest accepted value */
	const char *arg;    /* value placeholder in --help ("URL") */
	const char *help;   /* one line */
};

#define OPT_STR_(x) #x
#define OPT_STR_OF(x) OPT_STR_(x)

/* The rows every program has (../shared/INTERFACE.md, "Programs and build"). */
#define OPT_ROW_AMQP(dst)                                                  \
	{ "amqp", "WARREN_AMQP_URL", OPT_STR, (dst), 0, "URL[,URL...]",    \
	  "broker URL, or the nodes of one cluster in turn (default "       \
	  DEFAULT_AMQP_URL ")" }
#define OPT_ROW_HEARTBEAT(dst)                                             \
	{ "heartbeat", "WARREN_HEARTBEAT", OPT_UINT, (dst), 65535, "N",    \
	  "AMQP heartbeat in seconds, 0 = none (default "                  \
	  OPT_STR_OF(DEFAULT_HEARTBEAT) ")" }
#define OPT_ROW_SYSLOG(dst)                                                \
	{ "syslog", NULL, OPT_FLAG, (dst), 0, NULL,                        \
	  "log to syslog (LOG_DAEMON) instead of stderr" }
#define OPT_ROW_END { NULL, NULL, 0, NULL, 0, NULL, NULL }

/*
 * Applies the environment, then argv (--name value or --name=value), over
 * the defaults in the destinations. Handles --help (usage on stdout, exit 0)
 * and --version (exit 0); a bad option or value prints one line on stderr and
 * exits 2. The table ends with an entry whose name is NULL. Returns the index
 * of the first operand (argument that is not an option).
 */
int opt_parse(const char *prog, const char *summary, const struct opt *opts,
	      int argc, char **argv);

/* A byte count "N", "Nk", "NM" or "NG" (powers of 1024) into *out. 0, or
 * -1 for anything else (a sign, spaces, another suffix, an overflow). */
int opt_size(const char *s, unsigned long long *out);

/* Prints "prog: msg" on stderr and exits 2: for checks across options. */
void opt_fail(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

#endif

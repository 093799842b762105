/* opt.c - option, environment and default settings; see opt.h. */
#include "opt.h"
#include "../config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void opt_fail(const char *prog, const char *fmt, ...)
{
	/* Through printf alone: fputc and putchar would each link another
	 * part of a static build's C library (0.7 KB). */
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", prog, msg);
	exit(2);
}

static void usage(const char *prog, const char *summary, const struct opt *o)
{
	printf("Usage: %s [OPTION]...\n%s\n\nOptions (environment in brackets):\n",
	       prog, summary);
	for (; o->name; o++) {
		char left[64];
		snprintf(left, sizeof(left), "--%s%s%s", o->name,
			 o->arg ? " " : "", o->arg ? o->arg : "");
		if (strlen(left) > 22) { /* too wide: the help goes below */
			printf("  %s\n", left);
			left[0] = '\0';
		}
		printf("  %-22s %s%s%s%s\n", left, o->help, o->env ? " [" : "",
		       o->env ? o->env : "", o->env ? "]" : "");
	}
	printf("  %-22s %s\n  %-22s %s\n", "--help", "show this help and exit",
	       "--version", "show the version and exit");
}

static void set_value(const char *prog, const struct opt *o, const char *val,
		      const char *from)
{
	switch (o->kind) {
	case OPT_FLAG:
		if (!strcmp(val, "1") || !strcmp(val, "yes") || !strcmp(val, "true"))
			*(int *)o->dst = 1;
		else if (!strcmp(val, "0") || !strcmp(val, "no") ||
			 !strcmp(val, "false") || !*val)
			*(int *)o->dst = 0;
		else
			opt_fail(prog, "%s: expected 1 or 0, got '%s'", from, val);
		break;
	case OPT_STR:
		*(const char **)o->dst = val;
		break;
	case OPT_UINT: {
		char *end;
		errno = 0;
		unsigned long v = strtoul(val, &end, 10);
		if (!*val || *end || errno || val[0] == '-' || v > o->max)
			opt_fail(prog, "%s: expected a whole number from 0 to %lu, got '%s'",
				 from, o->max, val);
		*(unsigned long *)o->dst = v;
		break;
	}
	}
}

static const struct opt *find(const struct opt *o, const char *name, size_t n)
{
	for (; o->name; o++)
		if (strlen(o->name) == n && !strncmp(o->name, name, n))
			return o;
	return NULL;
}

int opt_parse(const char *prog, const char *summary, const struct opt *opts,
	      int argc, char **argv)
{
	for (const struct opt *o = opts; o->name; o++) {
		const char *v = o->env ? getenv(o->env) : NULL;
		if (v)
			set_value(prog, o, v, o->env);
	}
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (strncmp(a, "--", 2) != 0)
			break;
		if (!strcmp(a, "--help")) {
			usage(prog, summary, opts);
			exit(0);
		}
		if (!strcmp(a, "--version")) {
			printf("%s (warren) %s\n", prog, WARREN_VERSION);
			exit(0);
		}
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t n = eq ? (size_t)(eq - name) : strlen(name);
		const struct opt *o = find(opts, name, n);
		if (!o)
			opt_fail(prog, "unknown option '%.*s' (try --help)", (int)n + 2, a);
		char from[72];
		snprintf(from, sizeof(from), "--%s", o->name);
		if (o->kind == OPT_FLAG && !eq) {
			*(int *)o->dst = 1;
			continue;
		}
		const char *val = eq ? eq + 1 : NULL;
		if (!val) {
			if (i + 1 >= argc)
				opt_fail(prog, "option '--%s' needs a value", o->name);
			val = argv[++i];
		}
		set_value(prog, o, val, from);
	}
	return i;
}

int opt_size(const char *s, unsigned long long *out)
{
	unsigned long long v = 0, unit = 1;
	const char *p = s;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > ULLONG_MAX / 10 || v * 10 > ULLONG_MAX - d)
			return -1;
		v = v * 10 + d;
	}
	if (p == s)
		return -1;
	switch (*p) {
	case '\0': break;
	case 'k': case 'K': unit = 1ULL << 10; p++; break;
	case 'M': unit = 1ULL << 20; p++; break;
	case 'G': unit = 1ULL << 30; p++; break;
	default: return -1;
	}
	if (*p || v > ULLONG_MAX / unit)
		return -1;
	*out = v * unit;
	return 0;
}

/*
 * warren.c - the multi-call binary (`make MULTI=1`): the three programs in
 * one executable, BusyBox style, so the modules they share (event loop,
 * HTTP, AMQP, JSON, mbedTLS, libc) are on flash once.
 *
 * The applet is the base name of argv[0] (a link named tasker, worker or
 * middleman), or else the first argument: `warren worker --dir /tmp`. Each
 * program's main() is compiled as <prog>_main by port/embedded.mk, so the
 * programs' sources know nothing of this file.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"

int tasker_main(int argc, char **argv);
int worker_main(int argc, char **argv);
int middleman_main(int argc, char **argv);

struct applet {
	const char *name;
	int (*main)(int argc, char **argv);
};

static const struct applet applets[] = {
	{ "tasker", tasker_main },
	{ "worker", worker_main },
	{ "middleman", middleman_main },
};

/* The applet called name, or NULL. */
static const struct applet *applet_find(const char *name)
{
	for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++)
		if (strcmp(name, applets[i].name) == 0)
			return &applets[i];
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: warren APPLET [OPTION]...\n"
		"   or: APPLET [OPTION]...   (through a link named APPLET)\n"
		"applets: tasker worker middleman; APPLET --help for its options\n");
}

int main(int argc, char **argv)
{
	const struct applet *a;
	const char *base;

	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	if ((a = applet_find(base)))
		return a->main(argc, argv);
	if (argc > 1 && (a = applet_find(argv[1])))
		return a->main(argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("warren %s\n", WARREN_VERSION);
		return 0;
	}
	if (argc > 1)
		fprintf(stderr, "warren: no applet '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

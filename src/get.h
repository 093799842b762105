/*
 * get - `worker --get URL [-o FILE] [--sha256 HEX]`: one download without
 * a broker, like wget, printing the done or failed notification as one
 * JSON line on stdout (exit status 0 or 1). SIGTERM/SIGINT abandon it and
 * remove its partial file.
 */
#ifndef WARREN_GET_H
#define WARREN_GET_H

#include "fetch.h"
#include "part.h"
#include "url.h"

struct get_config {
	struct fetch_ctx *fctx;         /* its loop runs the download */
	const struct part_dir *dir;     /* the folder (of FILE with -o) */
	const char *url;                /* as given */
	const struct url *parsed;       /* url, parsed once */
	const char *output;             /* -o FILE, or NULL */
	const char *sha256;             /* --sha256, or NULL */
	const char *ident;              /* host:pid */
};

/* Runs the download to its end; the exit status. */
int get_run(const struct get_config *c);

#endif

/*
 * fetch - warren's HTTP/1.1 client (what servers send is parsed by
 * httpmsg.h): the download engine, a state machine on the event loop that
 * takes one URL into a part file: dial (dial.c), TLS, request,
 * 1xx skipped, redirects, resume with Range/If-Range, chunked, Content-Length
 * or close-delimited bodies, streaming SHA-256, idle timeout, --max-size,
 * and retries with backoff on transient errors.
 *
 * Memory: one FETCH_BUF_SIZE buffer per running download (the response
 * head is read into it too), freed when the download ends.
 */
#ifndef WARREN_FETCH_H
#define WARREN_FETCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"
#include "part.h"
#include "rate.h"
#include "tls.h"
#include "url.h"


/* ---- the download engine ------------------------------------------------- */

/* Shared by the downloads of a process. */
struct fetch_ctx {
	loop_t *loop;
	const char *ca_file;
	tls_config_t *tls;      /* loaded at the first https URL, then kept */
	unsigned retries;       /* extra tries after a transient failure */
	unsigned timeout_s;     /* idle timeout */
	unsigned deadline_s;    /* whole download, retries included; 0 none */
	uint64_t max_size;      /* 0: no limit */
	uint64_t min_free;      /* bytes to leave free on the part's folder */
	rate_t *rate;           /* --rate-limit, shared; NULL: none */
	int deny_private;
};

struct fetch_result {
	int ok;
	int permanent;          /* failure that retrying cannot cure */
	char error[300];        /* failure, for a person */
	uint64_t bytes;         /* size of the file */
	int64_t total;          /* size announced by the server, -1 unknown */
	char sha256[65];        /* hex digest of the whole file */
	char name[256];         /* safe file name: Content-Disposition or URL */
	unsigned attempts;
};

/* Where a download stands. */
struct fetch_progress {
	uint64_t bytes;                 /* of the file so far */
	int64_t total;                  /* expected size, -1 unknown */
	unsigned attempt;               /* running or next, from 1 */
	const char *last_error;         /* of the last failed attempt, or NULL */
	int64_t time_ms;                /* Unix ms: the clock of the throttle */
};

struct fetch_callbacks {
	/* The first successful response head: bytes already there (resume) and
	 * the expected total (-1 unknown). May be NULL. */
	void (*started)(void *arg, uint64_t bytes, int64_t total);
	/* While bytes arrive, and when an attempt failed and another is
	 * coming; never more often than every PROGRESS_INTERVAL_MS (the one
	 * throttle, on the wall clock of time_ms). May be NULL. */
	void (*progress)(void *arg, const struct fetch_progress *p);
	/* Exactly once, at the end, unless fetch_cancel came first. The fetch
	 * is already freed; the part is left open for the caller to finish or
	 * remove. */
	void (*done)(void *arg, const struct fetch_result *r);
	void *arg;
};

typedef struct fetch fetch_t;

/* What to download: the URL parsed once by the caller (url_parse). */
struct fetch_request {
	const struct url *url;          /* copied */
	const char *log_url;            /* its form for logs, without password */
	const char *sha256;             /* "" or NULL, or the hex digest the file
					 * must have */
};

/*
 * Starts downloading req's URL into part (opened, possibly holding a
 * prefix to resume). NULL with err on ENOMEM or a part that cannot be
 * restarted (done is then not called).
 */
fetch_t *fetch_start(struct fetch_ctx *ctx, const struct fetch_request *req,
		     struct part *part, const struct fetch_callbacks *cb,
		     char *err, size_t errlen);
/* Stops at once and frees everything; done is not called; the part file
 * keeps what was written. */
void fetch_cancel(fetch_t *f);

#endif

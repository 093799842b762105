/*
 * fetch.c - the download engine (the grammar is httpmsg.c's); see fetch.h.
 *
 * One download goes through: DIAL (dial.c: resolve, then each address in
 * turn, FETCH_CONNECT_TIMEOUT_S each) -> HANDSHAKE (https) -> SEND (the
 * request, built in the receive buffer) -> HEAD (read until the empty line,
 * 1xx skipped) -> BODY (read, hash, write) -> done; a redirect goes back to
 * DIAL with the new URL, a transient failure to WAIT and then to a new
 * attempt from the task's URL. One connection per request ("Connection:
 * close"), so the end of a body never depends on the server's keep-alive.
 *
 * The hot path is read() into the 256 KiB buffer, one SHA-256 update and one
 * write() from the same bytes: no copy, no allocation per read. Once the
 * hash helper reads the file from the page cache (a large download), a
 * plain-HTTP body that is not chunked goes from the socket to the file by
 * os_splice() instead, never through the buffer (FETCH_SPLICE).
 */
#include "fetch.h"

#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "chunked.h"
#include "config.h"
#include "log.h"
#include "net.h"
#include "os.h"
#include "hasher.h"
#include "dial.h"
#include "httpmsg.h"
#include "sha256.h"
#include "url.h"

/* ==== addresses ========================================================== */

/* ==== the engine ========================================================== */

enum {
	S_DIAL, S_HANDSHAKE, S_SEND, S_HEAD, S_BODY, S_WAIT,
	S_HASH /* body done, waiting for the hash helper */
};
enum { B_LENGTH, B_CHUNKED, B_CLOSE };

/* A variable, so that FETCH_HASHER_MIN 0 compiles without warnings. */
static const uint64_t hasher_min = FETCH_HASHER_MIN;

struct fetch {
	struct fetch_ctx *ctx;
	struct fetch_callbacks cb;
	struct part *part;
	struct url task_url;            /* each attempt starts from it */
	char log_url[TASK_MAX_URL + 1];  /* without credentials */
	char expect[65];
	struct url url;                 /* the URL of the current request */
	int state;
	int fd;
	tls_conn_t *tls;
	dial_t *dial;
	char *buf;                      /* FETCH_BUF_SIZE */
	size_t have, sent;
	int body;                       /* B_* */
	int64_t left;                   /* B_LENGTH: bytes still to come */
	struct chunked ch;
	uint64_t bytes;                 /* bytes of the file so far */
	int64_t total;
	sha256_t sha;
	hasher_t *hasher;               /* when set, it hashes instead of sha */
	int helper_ok;                  /* hashing may move to a helper process */
	int pipe[2];                    /* os_splice's, or -1 */
	int no_splice;                  /* os_splice cannot write this file */
	int hash_ok;                    /* the digest covers part->size bytes */
	unsigned redirects, attempt;
	int range_sent;                 /* this request asked for bytes from part->size */
	int no_resume;                  /* next request without Range */
	int started;
	int64_t last_io;
	int64_t deadline;               /* loop clock; 0: none */
	int64_t progress_at;            /* wall clock, ms */
	uint64_t progress_bytes;
	uint64_t tick, wait_timer;
	int64_t retry_after_ms;
	char last_error[256];           /* of the last failed attempt, "" none */
	int progress_due;               /* a retry not yet reported */
	char name[256];                 /* from Content-Disposition */
	struct rate_waiter rw;          /* queued: reading stopped for --rate-limit */
};

static void on_io(loop_t *loop, int fd, int events, void *arg);
static void io_read(fetch_t *f);
static void start_attempt(fetch_t *f);
static void begin_request(fetch_t *f);

static int64_t now(fetch_t *f) { return loop_now(f->ctx->loop); }

static void close_conn(fetch_t *f)
{
	if (f->dial) {
		dial_cancel(f->dial);
		f->dial = NULL;
	}
	if (f->tls) {
		tls_conn_free(f->tls);
		f->tls = NULL;
	}
	rate_cancel(f->ctx->rate, &f->rw);
	if (f->fd >= 0) {
		loop_unwatch(f->ctx->loop, f->fd);
		close(f->fd);
		f->fd = -1;
	}
}

static void destroy(fetch_t *f)
{
	close_conn(f);
	hasher_free(f->hasher);
	if (f->pipe[0] >= 0) {
		close(f->pipe[0]);
		close(f->pipe[1]);
	}
	loop_timer_cancel(f->ctx->loop, f->tick);
	loop_timer_cancel(f->ctx->loop, f->wait_timer);
	free(f->buf);
	free(f);
}

void fetch_cancel(fetch_t *f)
{
	if (f)
		destroy(f);
}

/* Ends the download: frees the fetch, then reports. */
static void finish(fetch_t *f, struct fetch_result *r)
{
	struct fetch_callbacks cb = f->cb;
	r->attempts = f->attempt;
	r->bytes = f->bytes;
	r->total = f->total;
	destroy(f);
	cb.done(cb.arg, r);
}

static void fail_now(fetch_t *f, const char *msg)
{
	struct fetch_result r;
	memset(&r, 0, sizeof(r));
	r.permanent = 1;
	snprintf(r.error, sizeof(r.error), "%s", msg);
	finish(f, &r);
}

static void on_wait_over(loop_t *loop, void *arg)
{
	(void)loop;
	fetch_t *f = arg;
	f->wait_timer = 0;
	start_attempt(f);
}

/* A failure: permanent ones end the download; transient ones are retried
 * with backoff while tries remain. */
static void fail(fetch_t *f, int permanent, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(fetch_t *f, int permanent, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	close_conn(f);
	if (permanent || f->attempt > f->ctx->retries) {
		struct fetch_result r;
		memset(&r, 0, sizeof(r));
		r.permanent = permanent;
		if (permanent || f->ctx->retries == 0)
			snprintf(r.error, sizeof(r.error), "%s", msg);
		else
			snprintf(r.error, sizeof(r.error), "%s (after %u tries)", msg,
				 f->attempt);
		finish(f, &r);
		return;
	}
	int64_t delay = FETCH_BACKOFF_MIN_MS;
	for (unsigned i = 1; i < f->attempt && delay < FETCH_BACKOFF_MAX_MS; i++)
		delay *= 2;
	if (delay > FETCH_BACKOFF_MAX_MS)
		delay = FETCH_BACKOFF_MAX_MS;
	if (f->retry_after_ms >= 0)
		delay = f->retry_after_ms < FETCH_BACKOFF_MAX_MS ? f->retry_after_ms
								 : FETCH_BACKOFF_MAX_MS;
	log_warn("%s: %s; try %u of %u in %.1f s", f->log_url, msg, f->attempt + 1,
		 f->ctx->retries + 1, (double)delay / 1000);
	memcpy(f->last_error, msg, sizeof(f->last_error));
	f->progress_due = 1; /* reported by the next tick the throttle allows */
	f->state = S_WAIT;
	f->wait_timer = loop_timer(f->ctx->loop, delay, on_wait_over, f);
	if (!f->wait_timer)
		fail_now(f, "out of memory");
}

/* ---- writing the body ---------------------------------------------------- */

/* Hands the hashing over to a helper process (hasher.c), which continues
 * f->sha from byte upto of the part. 1 when it took it; when it cannot
 * (fork failed), this download hashes in place from now on rather than
 * trying a fork at every read. */
static int start_hasher(fetch_t *f, uint64_t upto)
{
	f->hasher = hasher_start(f->ctx->loop, f->part->fd, &f->sha, upto);
	if (!f->hasher) {
		f->helper_ok = 0;
		return 0;
	}
	log_info("%s: SHA-256 goes on in a helper process from byte %llu",
		 f->part->path, (unsigned long long)upto);
	return 1;
}

/* --min-free: 0 when writing need more bytes leaves min_free free on the
 * folder's file system (or when that cannot be told: the write will say),
 * -1 after failing. f_bavail: what this user may use, root included. */
static int check_room(fetch_t *f, uint64_t need)
{
	struct statvfs s;
	if (!f->ctx->min_free || fstatvfs(f->part->dir->fd, &s) < 0)
		return 0;
	uint64_t avail = (uint64_t)s.f_bavail * s.f_frsize;
	if (avail >= need && avail - need >= f->ctx->min_free)
		return 0;
	fail(f, 1, "not enough disk space: %llu more bytes to write, %llu free in %s, "
	     "--min-free keeps %llu", (unsigned long long)need,
	     (unsigned long long)avail, f->part->dir->path,
	     (unsigned long long)f->ctx->min_free);
	return -1;
}

/* Bytes still to write: the rest of a known total, else the n at hand. */
static uint64_t still_to_write(const fetch_t *f, size_t n)
{
	if (f->total >= 0 && (uint64_t)f->total > f->bytes + n)
		return (uint64_t)f->total - f->bytes;
	return n;
}

static int too_large(fetch_t *f, uint64_t n)
{
	if (!f->ctx->max_size || f->bytes + n <= f->ctx->max_size)
		return 0;
	fail(f, 1, "file larger than --max-size (%llu bytes)",
	     (unsigned long long)f->ctx->max_size);
	return -1;
}

static void write_failed(fetch_t *f, int permanent, int e)
{
	fail(f, permanent, e == ENOSPC || e == EDQUOT ? "disk full: %s"
		   : "cannot write the file: %s", strerror(e));
}

/* n more body bytes are in the file (by write() or os_splice()). */
static void stored(fetch_t *f, size_t n)
{
	f->bytes += (uint64_t)n;
	f->part->size += (uint64_t)n;
}

/* After bytes were stored: on to the disk, and to the hash helper (which
 * reads them from the page cache) or, once the file is large, to a new one. */
static void written_behind(fetch_t *f)
{
	part_write_behind(f->part);
	if (f->hasher)
		hasher_advance(f->hasher, f->part->size);
	else if (f->helper_ok && f->part->size >= hasher_min)
		/* Large: hashing moves to a helper, which takes the state on. */
		start_hasher(f, f->part->size);
}

/* Takes n body bytes: size limit, disk room, hash, write. 0, or -1 after
 * failing. */
static int sink(fetch_t *f, const char *p, size_t n)
{
	if (too_large(f, n) < 0 || check_room(f, still_to_write(f, n)) < 0)
		return -1;
	if (!f->hasher)
		sha256_update(&f->sha, p, n);
	while (n > 0) {
		ssize_t w = write(f->part->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			write_failed(f, 1, w < 0 ? errno : ENOSPC);
			return -1;
		}
		p += w;
		n -= (size_t)w;
		stored(f, (size_t)w);
	}
	written_behind(f);
	return 0;
}

static int hash_part(fetch_t *f, size_t keep);

/* The whole file is there and got is its digest: check it and report. */
static void conclude(fetch_t *f, const char *got)
{
	struct fetch_result r;
	if (f->expect[0] && strcmp(got, f->expect) != 0) {
		fail(f, 1, "SHA-256 mismatch: expected %s, got %s", f->expect, got);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.ok = 1;
	memcpy(r.sha256, got, sizeof(r.sha256));
	if (f->name[0])
		part_safe_name(f->name, strlen(f->name), r.name, sizeof(r.name));
	else
		part_name_from_path(f->url.path, r.name, sizeof(r.name));
	finish(f, &r);
}

/* Hashes the whole file here (no helper, or the helper failed). */
static void conclude_here(fetch_t *f)
{
	char got[65];
	if (!f->hash_ok && hash_part(f, 0) < 0)
		return;
	sha256_hex(&f->sha, got);
	f->hash_ok = 0;
	conclude(f, got);
}

static void on_hashed(void *arg, const char *hex)
{
	fetch_t *f = arg;
	char got[65];
	if (hex)
		memcpy(got, hex, sizeof(got)); /* hex lives in the hasher */
	hasher_free(f->hasher);
	f->hasher = NULL;
	if (!hex) {
		log_warn("%s: the hash helper failed; hashing here", f->log_url);
		f->hash_ok = 0;
		conclude_here(f);
		return;
	}
	conclude(f, got);
}

static void complete(fetch_t *f)
{
	if (f->total >= 0 && f->bytes != (uint64_t)f->total) {
		fail(f, 0, "connection closed after %llu of %lld bytes",
		     (unsigned long long)f->bytes, (long long)f->total);
		return;
	}
	close_conn(f);
	if (f->hasher) {
		f->state = S_HASH;
		if (hasher_finish(f->hasher, f->part->size, on_hashed, f) == 0)
			return;
		hasher_free(f->hasher);
		f->hasher = NULL;
		f->hash_ok = 0;
	}
	conclude_here(f);
}

/* Body bytes in buf[0..n). 0 to go on, 1 when the body is complete (the
 * fetch is then finished), -1 when failed. */
static int take_body(fetch_t *f, const char *buf, size_t n)
{
	if (f->body == B_LENGTH) {
		if ((int64_t)n > f->left)
			n = (size_t)f->left; /* bytes past the body are ignored */
		if (n && sink(f, buf, n) < 0)
			return -1;
		f->left -= (int64_t)n;
		if (f->left == 0) {
			complete(f);
			return 1;
		}
		return 0;
	}
	if (f->body == B_CLOSE)
		return n ? sink(f, buf, n) : 0;
	while (n > 0) {
		const char *data;
		size_t dn;
		long used = chunked_feed(&f->ch, buf, n, &data, &dn);
		if (used < 0) {
			fail(f, 1, "malformed chunked body from the server");
			return -1;
		}
		if (dn && sink(f, data, dn) < 0)
			return -1;
		if (chunked_done(&f->ch)) {
			complete(f);
			return 1;
		}
		if (used == 0)
			break;
		buf += used;
		n -= (size_t)used;
	}
	return 0;
}

/* ---- the response head ---------------------------------------------------- */

static void save_validator(fetch_t *f, const struct http_response *h)
{
	/* If-Range needs a strong validator: an ETag not marked W/, or a date. */
	const struct http_span *v = NULL;
	if (h->etag.p && h->etag.n > 2 && h->etag.p[0] == '"')
		v = &h->etag;
	else if (h->last_modified.p && h->last_modified.n)
		v = &h->last_modified;
	if (!v)
		return; /* a 206 without one keeps the validator we had */
	if (strlen(f->part->validator) != v->n || memcmp(f->part->validator, v->p, v->n))
		part_set_validator(f->part, v->p, v->n);
}

static int restart_from_zero(fetch_t *f)
{
	if (part_restart(f->part) < 0) {
		fail(f, 1, "cannot truncate the partial file: %s", strerror(errno));
		return -1;
	}
	f->bytes = 0;
	f->hash_ok = 1;
	if (f->hasher && hasher_restart(f->hasher) == 0)
		return 0;
	hasher_free(f->hasher);
	f->hasher = NULL;
	sha256_init(&f->sha);
	return 0;
}

/* Brings the hash up to the bytes already in the part file, reading
 * through the buffer past its first keep bytes (body bytes not yet taken). */
static int hash_part(fetch_t *f, size_t keep)
{
	if (f->hash_ok)
		return 0;
	sha256_init(&f->sha);
	if (f->helper_ok && !f->hasher && f->part->size >= hasher_min &&
	    start_hasher(f, 0)) {
		/* A long prefix is hashed by the helper while the body comes. */
		hasher_advance(f->hasher, f->part->size);
		f->hash_ok = 1;
		return 0;
	}
	if (part_hash_prefix(f->part, &f->sha, f->buf + keep, FETCH_BUF_SIZE - keep) < 0) {
		fail(f, 1, "cannot read the partial file: %s", strerror(errno));
		return -1;
	}
	f->hash_ok = 1;
	return 0;
}

static void redirect(fetch_t *f, const struct http_response *h)
{
	struct url next;
	const char *why;
	if (!h->location.p) {
		fail(f, 1, "HTTP %d redirect without a Location", h->status);
		return;
	}
	if (++f->redirects > FETCH_MAX_REDIRECTS) {
		fail(f, 1, "too many redirects (more than %d)", FETCH_MAX_REDIRECTS);
		return;
	}
	if (url_resolve(&f->url, h->location.p, h->location.n, &next, &why) < 0) {
		fail(f, 1, "bad redirect location: %s", why);
		return;
	}
	/* Credentials go along only while the origin stays the same. */
	if (!next.userinfo[0] && url_same_origin(&f->url, &next))
		memcpy(next.userinfo, f->url.userinfo, sizeof(next.userinfo));
	f->url = next;
	begin_request(f);
}

/* 2xx: set up the body. */
static void accept_body(fetch_t *f, const struct http_response *h, size_t hl)
{
	if (h->status == 206) {
		int64_t first, last, total;
		if (!h->content_range.p ||
		    http_content_range(h->content_range.p, h->content_range.n,
					      &first, &last, &total) < 0 ||
		    first < 0) {
			fail(f, 1, "HTTP 206 with a bad Content-Range");
			return;
		}
		if (!f->range_sent || (uint64_t)first != f->part->size) {
			/* Not the bytes we miss: start over without Range. */
			log_warn("%s: server resumed at byte %lld, not %llu; restarting",
				 f->log_url, (long long)first,
				 (unsigned long long)f->part->size);
			if (restart_from_zero(f) == 0) {
				f->no_resume = 1;
				begin_request(f);
			}
			return;
		}
		/* The body bytes that came with the head go to the front, so
		 * the rest of the buffer can read the prefix. */
		memmove(f->buf, f->buf + hl, f->have - hl);
		f->have -= hl;
		hl = 0;
		if (hash_part(f, f->have) < 0)
			return;
		f->bytes = f->part->size;
		f->total = total >= 0 ? total : last + 1;
		f->body = h->chunked ? B_CHUNKED : h->until_close ? B_CLOSE : B_LENGTH;
		f->left = h->content_length;
		if (f->body == B_LENGTH && h->content_length != last - first + 1) {
			fail(f, 1, "HTTP 206 whose Content-Length disagrees with its Content-Range");
			return;
		}
	} else {
		if ((f->part->size > 0 || !f->hash_ok) && restart_from_zero(f) < 0)
			return;
		f->total = h->content_length;
		f->body = h->chunked ? B_CHUNKED : h->until_close ? B_CLOSE : B_LENGTH;
		f->left = h->content_length;
	}
	if (f->body == B_CHUNKED)
		chunked_init(&f->ch);
	save_validator(f, h);
	if (h->disposition.p &&
	    !http_disposition_filename(h->disposition.p, h->disposition.n, f->name,
					sizeof(f->name)))
		f->name[0] = '\0';
	if (f->ctx->max_size && f->total > 0 && (uint64_t)f->total > f->ctx->max_size) {
		fail(f, 1, "file of %lld bytes is larger than --max-size (%llu bytes)",
		     (long long)f->total, (unsigned long long)f->ctx->max_size);
		return;
	}
	if (f->total >= 0 && check_room(f, still_to_write(f, 0)) < 0)
		return;
	if (!f->started) {
		f->started = 1;
		if (f->cb.started)
			f->cb.started(f->cb.arg, f->bytes, f->total);
	}
	f->progress_bytes = f->bytes;
	f->progress_at = loop_wall_ms();
	f->state = S_BODY;
	size_t rest = f->have - hl;
	f->have = 0;
	if (take_body(f, f->buf + hl, rest) != 0)
		return;
	/* Records mbedTLS decrypted past the head are invisible to poll(). */
	if (f->tls && tls_pending(f->tls) > 0)
		io_read(f);
}

/* A 416 to our Range: the part may already be whole. */
static void range_refused(fetch_t *f, const struct http_response *h)
{
	int64_t first, last, total;
	if (f->range_sent && h->content_range.p &&
	    http_content_range(h->content_range.p, h->content_range.n,
				      &first, &last, &total) == 0 &&
	    first < 0 && (uint64_t)total == f->part->size) {
		if (hash_part(f, 0) < 0)
			return;
		f->bytes = f->total = total;
		if (!f->started) {
			f->started = 1;
			if (f->cb.started)
				f->cb.started(f->cb.arg, f->bytes, f->total);
		}
		complete(f);
		return;
	}
	if (!f->range_sent) {
		fail(f, 1, "server answered HTTP 416");
		return;
	}
	if (restart_from_zero(f) == 0) {
		f->no_resume = 1;
		begin_request(f);
	}
}

static void on_head(fetch_t *f, const struct http_response *h, size_t hl)
{
	int s = h->status;
	f->retry_after_ms = -1;
	if (s >= 200 && s < 300) {
		accept_body(f, h, hl);
	} else if (s == 301 || s == 302 || s == 303 || s == 307 || s == 308) {
		redirect(f, h);
	} else if (s == 416) {
		range_refused(f, h);
	} else if (s == 408 || s == 429 || s >= 500) {
		if ((s == 429 || s == 503) && h->retry_after.p)
			f->retry_after_ms = http_retry_after_ms(h->retry_after.p,
				h->retry_after.n, loop_wall_ms() / 1000);
		fail(f, 0, "server answered HTTP %d", s);
	} else {
		fail(f, 1, "server answered HTTP %d", s);
	}
}

/* Parses what is in buf; 1xx heads are dropped. Returns 1 when more bytes
 * are needed, 0 when the head was handled (f may be gone). */
static int parse_head(fetch_t *f)
{
	for (;;) {
		struct http_response h;
		const char *why = "";
		long hl = http_parse_response(f->buf, f->have, &h, &why);
		if (hl < 0) {
			fail(f, 1, "malformed response from the server: %s", why);
			return 0;
		}
		if (hl == 0) {
			if (f->have < FETCH_MAX_HEAD)
				return 1;
			fail(f, 1, "response head larger than %d bytes", FETCH_MAX_HEAD);
			return 0;
		}
		if (hl > FETCH_MAX_HEAD) {
			fail(f, 1, "response head larger than %d bytes", FETCH_MAX_HEAD);
			return 0;
		}
		if (h.status >= 200 || h.status == 101) {
			if (h.status == 101)
				fail(f, 1, "server switched protocols");
			else
				on_head(f, &h, (size_t)hl);
			return 0;
		}
		memmove(f->buf, f->buf + hl, f->have - (size_t)hl);
		f->have -= (size_t)hl;
	}
}

/* ---- connection and I/O -------------------------------------------------- */

static void build_request(fetch_t *f)
{
	char host[300], auth[400];
	url_host_header(&f->url, host, sizeof(host));
	int n = snprintf(f->buf, FETCH_BUF_SIZE,
			 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: warren/%s\r\n"
			 "Accept: */*\r\nAccept-Encoding: identity\r\nConnection: close\r\n",
			 f->url.path, host, WARREN_VERSION);
	if (url_basic_auth(&f->url, auth, sizeof(auth)) > 0)
		n += snprintf(f->buf + n, FETCH_BUF_SIZE - (size_t)n,
			      "Authorization: %s\r\n", auth);
	f->range_sent = 0;
	if (f->part->size > 0 && f->part->validator[0] && !f->no_resume) {
		n += snprintf(f->buf + n, FETCH_BUF_SIZE - (size_t)n,
			      "Range: bytes=%llu-\r\nIf-Range: %s\r\n",
			      (unsigned long long)f->part->size, f->part->validator);
		f->range_sent = 1;
	}
	n += snprintf(f->buf + n, FETCH_BUF_SIZE - (size_t)n, "\r\n");
	f->have = (size_t)n;
	f->sent = 0;
}

static void to_send(fetch_t *f)
{
	build_request(f);
	f->state = S_SEND;
	loop_mask(f->ctx->loop, f->fd, LOOP_WRITE);
}

static void connected(fetch_t *f)
{
	if (!f->url.https) {
		to_send(f);
		return;
	}
	if (!f->ctx->tls) {
		char err[300];
		f->ctx->tls = tls_config_new(f->ctx->ca_file, err, sizeof(err));
		if (!f->ctx->tls) {
			fail(f, 1, "%s", err);
			return;
		}
		log_info("TLS ready: %s first", tls_config_first_suite(f->ctx->tls));
	}
	f->tls = tls_conn_new(f->ctx->tls, f->fd, f->url.host);
	if (!f->tls) {
		fail(f, 1, "out of memory");
		return;
	}
	f->state = S_HANDSHAKE;
	loop_mask(f->ctx->loop, f->fd, LOOP_WRITE);
}

/* --deny-private: refuse what the address test calls private. */
static const char *deny_private(const struct sockaddr *sa)
{
	return net_addr_is_private(sa) ? "private address (--deny-private)" : NULL;
}

static void on_dialled(void *arg, int fd, const char *error, int permanent)
{
	fetch_t *f = arg;
	f->dial = NULL;
	if (fd < 0) {
		fail(f, permanent, "%s", error);
		return;
	}
	if (loop_watch(f->ctx->loop, fd, LOOP_WRITE, on_io, f) < 0) {
		close(fd);
		fail(f, 1, "out of memory");
		return;
	}
	f->fd = fd;
	f->last_io = now(f);
	connected(f);
}

static void begin_request(fetch_t *f)
{
	close_conn(f);
	f->state = S_DIAL;
	f->last_io = now(f);
	f->dial = dial_start(f->ctx->loop, f->url.host, f->url.port,
			     FETCH_CONNECT_TIMEOUT_S * 1000,
			     f->ctx->deny_private ? deny_private : NULL, on_dialled, f);
	if (!f->dial)
		fail(f, 1, "out of memory");
}

static void start_attempt(fetch_t *f)
{
	f->attempt++;
	f->redirects = 0;
	f->retry_after_ms = -1;
	f->url = f->task_url;
	begin_request(f);
}

static void io_handshake(fetch_t *f)
{
	int rc = tls_handshake(f->tls);
	if (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE) {
		loop_mask(f->ctx->loop, f->fd, rc == TLS_WANT_READ ? LOOP_READ : LOOP_WRITE);
		return;
	}
	if (rc < 0) {
		char host[300];
		url_host_header(&f->url, host, sizeof(host));
		fail(f, tls_error_is_verify(f->tls), "TLS with %s: %s", host,
		     tls_error(f->tls));
		return;
	}
	char host[300];
	url_host_header(&f->url, host, sizeof(host));
	log_info("TLS with %s: %s, %s", host, tls_version(f->tls), tls_suite(f->tls));
	f->last_io = now(f);
	to_send(f);
}

static void io_send(fetch_t *f)
{
	while (f->sent < f->have) {
		ssize_t n;
		if (f->tls)
			n = tls_write(f->tls, f->buf + f->sent, f->have - f->sent);
		else
			n = send(f->fd, f->buf + f->sent, f->have - f->sent, MSG_NOSIGNAL);
		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE || (n < 0 && !f->tls &&
		    (errno == EAGAIN || errno == EINTR))) {
			loop_mask(f->ctx->loop, f->fd,
				  n == TLS_WANT_READ && f->tls ? LOOP_READ : LOOP_WRITE);
			return;
		}
		if (n < 0) {
			fail(f, 0, "cannot send the request: %s",
			     f->tls ? tls_error(f->tls) : strerror(errno));
			return;
		}
		f->sent += (size_t)n;
		f->last_io = now(f);
	}
	f->have = 0;
	f->state = S_HEAD;
	loop_mask(f->ctx->loop, f->fd, LOOP_READ);
}

/* After a read error on the plain socket: -1 would block, -2 failed. */
static ssize_t read_failed(fetch_t *f)
{
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return -1;
	fail(f, 0, "%s", errno == ECONNRESET ? "connection reset by the server"
		: strerror(errno));
	return -2;
}

/* Reads into buf[have..cap): > 0 bytes, 0 at EOF, -1 would block, -2 error
 * (already failed). TLS reads repeat until the buffer is full or the
 * socket is drained, so one write() takes many records. */
static ssize_t fill(fetch_t *f, size_t cap)
{
	if (!f->tls) {
		for (;;) {
			ssize_t n = read(f->fd, f->buf + f->have, cap - f->have);
			if (n >= 0)
				return n;
			if (errno != EINTR)
				return read_failed(f);
		}
	}
	size_t got = 0;
	while (f->have + got < cap) {
		ssize_t n = tls_read(f->tls, f->buf + f->have + got, cap - f->have - got);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (got)
			break; /* report the bytes; EOF or WANT shows again next call */
		if (n == 0)
			return 0;
		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE)
			return -1;
		fail(f, tls_error_is_verify(f->tls), "%s", tls_error(f->tls));
		return -2;
	}
	return (ssize_t)got;
}

/* Whether io_read moves the body by os_splice: plain HTTP, not chunked,
 * hashed by the helper from the page cache (so no byte is needed here). */
static int splicing(const fetch_t *f)
{
	return FETCH_SPLICE && f->state == S_BODY && !f->tls && f->hasher &&
	       f->body != B_CHUNKED && !f->no_splice;
}

/* As fill(), but up to room body bytes go from the socket to the file and
 * are taken (counted, handed to the helper); -2 also when failed. */
static ssize_t splice_body(fetch_t *f, size_t room)
{
	if (f->body == B_LENGTH && (int64_t)room > f->left)
		room = (size_t)f->left;
	/* The bytes land in the file before they are seen: at most one past
	 * --max-size, so that too_large() below refuses as sink() would. */
	if (f->ctx->max_size && room > f->ctx->max_size - f->bytes + 1)
		room = (size_t)(f->ctx->max_size - f->bytes + 1);
	if (check_room(f, still_to_write(f, room)) < 0)
		return -2;
	ssize_t n = os_splice(f->fd, f->part->fd, f->pipe, room);
	if (n == -1 && (errno == ENOSYS || errno == EINVAL)) {
		f->no_splice = 1; /* nothing moved: read() and write() from now on */
		return fill(f, room);
	}
	if (n == -2) {
		/* EINVAL: the file system takes no splice; the bytes in the
		 * pipe are lost, so this attempt fails and the next writes,
		 * from part->size: what reached the file of this move is cut. */
		int e = errno;
		f->no_splice = e == EINVAL;
		write_failed(f, !f->no_splice || part_trim(f->part) < 0, e);
		return -2;
	}
	if (n < 0)
		return read_failed(f);
	if (too_large(f, (uint64_t)n) < 0)
		return -2;
	stored(f, (size_t)n);
	written_behind(f);
	return n;
}

static void truncated(fetch_t *f)
{
	if (f->body == B_LENGTH)
		fail(f, 0, "connection closed after %llu of %lld bytes",
		     (unsigned long long)f->bytes, (long long)f->total);
	else
		fail(f, 0, "connection closed in the middle of a chunked body");
}

/* --rate-limit: the bucket is empty, so this download stops reading (no
 * read interest: poll() does not wake for it) until the refill timer wakes
 * it (on_tokens). */
static void throttle(fetch_t *f)
{
	loop_mask(f->ctx->loop, f->fd, 0);
	if (rate_wait(f->ctx->rate, &f->rw) < 0)
		fail(f, 0, "out of memory");
}

static void on_tokens(void *arg)
{
	fetch_t *f = arg;
	f->last_io = now(f); /* waiting on the limit is not the server's idling */
	loop_mask(f->ctx->loop, f->fd, LOOP_READ);
	io_read(f); /* TLS may hold decrypted bytes poll() cannot see */
}

static void io_read(fetch_t *f)
{
	for (;;) {
		size_t cap = f->state == S_HEAD ? FETCH_MAX_HEAD + 1024 : FETCH_BUF_SIZE;
		if (cap > f->have) {
			size_t room = rate_grant(f->ctx->rate, cap - f->have);
			if (room == 0) {
				throttle(f);
				return;
			}
			cap = f->have + room;
		}
		int spliced = splicing(f);
		ssize_t n = spliced ? splice_body(f, cap - f->have) : fill(f, cap);
		if (n == -2)
			return;
		if (n == -1)
			break;
		rate_take(f->ctx->rate, (size_t)n);
		f->last_io = now(f);
		if (n == 0) {
			if (f->state == S_HEAD)
				fail(f, 0, "connection closed before a response");
			else if (f->body == B_CLOSE)
				complete(f);
			else
				truncated(f);
			return;
		}
		if (f->state == S_HEAD) {
			f->have += (size_t)n;
			if (parse_head(f) == 0)
				return; /* f may be gone, or in another state */
			continue;
		}
		if (spliced) {
			if (f->body == B_LENGTH && (f->left -= n) == 0)
				complete(f);
			return; /* one move per wake-up */
		}
		if (take_body(f, f->buf, (size_t)n) != 0)
			return;
		/* Plain sockets: one read per wake-up keeps the loop fair. TLS: go
		 * on while mbedTLS holds decrypted bytes poll() cannot see. */
		if (!f->tls || tls_pending(f->tls) == 0)
			break;
	}
}

static void on_io(loop_t *loop, int fd, int events, void *arg)
{
	(void)loop, (void)fd, (void)events;
	fetch_t *f = arg;
	switch (f->state) {
	case S_HANDSHAKE: io_handshake(f); break;
	case S_SEND: io_send(f); break;
	case S_HEAD:
	case S_BODY: io_read(f); break;
	default: break;
	}
}

/* Every FETCH_TICK_MS while the download lives (destroy cancels it). */
static int64_t on_tick(loop_t *loop, void *arg)
{
	fetch_t *f = arg;
	(void)loop;
	int64_t t = now(f);
	/* However it trickles (a byte every --timeout - 1 s, 1xx heads without
	 * end, retries), a download ends by its deadline. Hashing what is
	 * there is ours, not the server's: it is let finish. */
	if (f->deadline && t >= f->deadline && f->state != S_HASH) {
		fail(f, 1, "not finished within --deadline (%u s): %llu bytes received",
		     f->ctx->deadline_s, (unsigned long long)f->bytes);
		return FETCH_TICK_MS;
	}
	/* dial bounds the lookup and each connect itself */
	if (f->state != S_WAIT && f->state != S_DIAL && f->state != S_HASH &&
	    !f->rw.queued && t - f->last_io > (int64_t)f->ctx->timeout_s * 1000) {
		fail(f, 0, "no data from the server for %u s", f->ctx->timeout_s);
		return FETCH_TICK_MS;
	}
	/* Throttled on the wall clock that stamps the notifications, so that
	 * their times are at least PROGRESS_INTERVAL_MS apart too. */
	int64_t wall = loop_wall_ms();
	if (wall < f->progress_at)
		f->progress_at = wall - PROGRESS_INTERVAL_MS; /* the clock went back */
	if ((f->progress_due || (f->state == S_BODY && f->bytes != f->progress_bytes)) &&
	    wall - f->progress_at >= PROGRESS_INTERVAL_MS) {
		struct fetch_progress p = {
			f->bytes, f->total, f->attempt + (f->state == S_WAIT),
			f->last_error[0] ? f->last_error : NULL, wall,
		};
		f->progress_bytes = f->bytes;
		f->progress_at = wall;
		f->progress_due = 0;
		if (f->cb.progress)
			f->cb.progress(f->cb.arg, &p);
	}
	return FETCH_TICK_MS;
}

fetch_t *fetch_start(struct fetch_ctx *ctx, const struct fetch_request *req,
		     struct part *part, const struct fetch_callbacks *cb,
		     char *err, size_t errlen)
{
	fetch_t *f = calloc(1, sizeof(*f));
	if (!f || !(f->buf = malloc(FETCH_BUF_SIZE))) {
		free(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->ctx = ctx;
	f->cb = *cb;
	f->part = part;
	f->fd = -1;
	f->pipe[0] = f->pipe[1] = -1;
	f->total = -1;
	f->task_url = *req->url;
	f->rw.wake = on_tokens;
	f->rw.arg = f;
	snprintf(f->log_url, sizeof(f->log_url), "%s", req->log_url);
	snprintf(f->expect, sizeof(f->expect), "%s", req->sha256 ? req->sha256 : "");
	/* A prefix without a validator cannot be resumed safely. */
	if (part->size > 0 && !part->validator[0] && part_restart(part) < 0) {
		snprintf(err, errlen, "cannot truncate %s", part->path);
		destroy(f);
		return NULL;
	}
	if (ctx->deadline_s)
		f->deadline = loop_now(ctx->loop) + (int64_t)ctx->deadline_s * 1000;
	f->helper_ok = FETCH_HASHER_MIN > 0 && hasher_useful(FETCH_HASHER_MIN_CPUS);
	f->hash_ok = part->size == 0;
	if (f->hash_ok)
		sha256_init(&f->sha);
	/* The first attempt starts from the loop, so that done is never
	 * called from inside fetch_start. */
	f->state = S_WAIT;
	f->tick = loop_every(ctx->loop, FETCH_TICK_MS, on_tick, f);
	f->wait_timer = loop_timer(ctx->loop, 0, on_wait_over, f);
	if (!f->tick || !f->wait_timer) {
		snprintf(err, errlen, "out of memory");
		destroy(f);
		return NULL;
	}
	return f;
}

/*
 * store - the middleman's notifications in memory: each one numbered (seq,
 * from 1, in arrival order), bounded to a history of N entries, and the
 * latest notification of every task indexed by task id.
 *
 * When the history is full, a task's superseded "progress" events go first
 * (those already followed by a later event of the same task, in the order
 * they were superseded), then the oldest entry. A task whose latest entry
 * leaves the history is forgotten, so memory is bounded by the history.
 *
 * Entries are immutable and reference-counted: a reader (a WebSocket client
 * halfway through sending one) keeps an evicted entry alive with a ref.
 * All memory for the index is allocated by store_new: inserting never fails.
 */
#ifndef WARREN_STORE_H
#define WARREN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct store_entry {
	uint64_t seq;
	uint64_t end;       /* bytes of text stored before it, plus its own */
	size_t len;         /* of text */
	const char *text;   /* the notification JSON with "seq", NUL-terminated */
	const char *id;     /* the task id (decoded), NUL-terminated */
	/* private */
	unsigned refs;
	int progress;       /* status is "progress" */
	int latest;         /* the latest entry of its task */
	int superseded;     /* in the superseded list */
	struct store_entry *sup_prev, *sup_next;
};

typedef struct store store_t;

/* A store keeping at most history (>= 1) entries; NULL on ENOMEM. */
store_t *store_new(size_t history);
/* Frees the store and drops its refs (entries others hold stay valid). */
void store_free(store_t *s);

/*
 * Makes an entry from a notification (a JSON object with string "id" and
 * "status"), not yet inserted. with_seq = 0: a new notification, which must
 * not have "seq"; the entry takes the next seq, written into the text as
 * ,"seq":N before the closing brace (the rest kept byte for byte).
 * with_seq = 1: a stored one (from the journal) whose "seq" must be above
 * every seq stored so far. Returns the entry (one ref, the caller's), or
 * NULL with a reason in err (invalid, too large, ENOMEM).
 */
struct store_entry *store_entry_new(store_t *s, const char *json, size_t len,
				    int with_seq, char *err, size_t errlen);
/*
 * 1 when one of the newest window stored entries is the same notification
 * as e apart from its seq: how a redelivery of a notification that was
 * stored (and journaled) before a crash, but not acknowledged, is known.
 */
int store_has_copy(const store_t *s, const struct store_entry *e, size_t window);
/*
 * Inserts e (made by store_entry_new on this store, the latest made) and
 * takes over the caller's ref; then evicts down to the history bound.
 * Never fails.
 */
void store_insert(store_t *s, struct store_entry *e);

/* Takes and drops a reference; the last unref frees the entry. */
void store_entry_ref(struct store_entry *e);
void store_entry_unref(struct store_entry *e);

/* Entries held now, and entry i (0 = oldest, seq increasing). */
size_t store_count(const store_t *s);
struct store_entry *store_at(const store_t *s, size_t i);
/* Index of the first entry with seq > seq (store_count() if none). */
size_t store_after(const store_t *s, uint64_t seq);
/* The highest seq given so far (0 before any), and the bytes of text
 * inserted so far (the "end" of the newest entry). */
uint64_t store_last_seq(const store_t *s);
uint64_t store_bytes(const store_t *s);

/* The latest entry of task id, or NULL. */
const struct store_entry *store_task(const store_t *s, const char *id,
				     size_t id_len);
/* Appends a JSON array of the latest entry of every task, in seq order.
 * 0, or -1 on ENOMEM. */
int store_tasks_json(const store_t *s, buf_t *out);

#endif

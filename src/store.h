/*
 * store - the middleman's notifications in memory, in two bounded views:
 *
 * - the tasks: the latest notification (the state) of up to `tasks` tasks,
 *   indexed by task id and ordered by the seq of that notification. A
 *   task's state only moves forward (queued < started < progress, paused
 *   and any other status < done, failed, cancelled; between started,
 *   progress and paused the later "time" wins, so a paused task can start
 *   again): a notification behind the task's state does not replace it,
 *   nor does a second final one.
 *   When a task more is needed, the task that finished longest ago goes;
 *   only when no task has finished does the one changed longest ago go.
 * - the history: the last `history` notifications, in seq order (the
 *   caller numbers them from the stream offset, with gaps where it stored
 *   nothing), as the replay log for readers that keep up.
 *
 * A reader (a WebSocket client) is just a position, a seq: store_next()
 * gives what it takes next, from the history while the history holds
 * everything after its position, otherwise the next task changed after it
 * (catching up: it then has every task's state, skipping only what later
 * notifications superseded). So no reader ever misses a task's outcome,
 * whatever it missed of the history.
 *
 * Entries are immutable and reference-counted: a reader halfway through
 * sending one keeps an evicted entry alive with a ref. Memory for the
 * index is allocated by store_new: inserting never fails.
 */
#ifndef WARREN_STORE_H
#define WARREN_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Statuses known to the store, as bits for store_list_new's filter. */
enum store_status {
	STORE_QUEUED, STORE_STARTED, STORE_PROGRESS, STORE_PAUSED,
	STORE_DONE, STORE_FAILED, STORE_CANCELLED, STORE_OTHER
};

/* Packed (56 bytes on LP64): one is kept per task, 10,000 by default. */
struct store_entry {
	uint64_t seq;
	const char *text;   /* the notification JSON with "seq", then "\n" and
			     * a NUL (not counted in len); text[-1] is a
			     * comma, for lists */
	const char *id;     /* the task id (decoded), id_len bytes, NOT
			     * NUL-terminated: it points into text when the
			     * id has no escapes (saves ~40 bytes a task) */
	/* private */
	struct store_entry *fin_prev, *fin_next; /* finished tasks, oldest first */
	/* public */
	uint32_t len;       /* of text (at most NOTIFY_MAX_SIZE + STORE_SEQ_ROOM) */
	/* private */
	uint32_t slot;      /* where, among the tasks, while latest */
	unsigned refs;
	/* public */
	uint16_t id_len;    /* at most NOTIFY_MAX_ID */
	uint8_t status;     /* an enum store_status */
	/* private */
	uint8_t latest;     /* the state of its task */
};

typedef struct store store_t;

/* A store keeping the last history (>= 1) notifications and the state of
 * up to tasks (>= 1) tasks; NULL on ENOMEM or a bound too large. */
store_t *store_new(size_t history, size_t tasks);
/* Frees the store and drops its refs (entries others hold stay valid). */
void store_free(store_t *s);

/*
 * Makes an entry from a new notification (a JSON object with string "id"
 * and "status", no key twice, no "seq"), not yet inserted, numbered seq:
 * written into the text as ,"seq":N before the closing brace (the rest
 * kept byte for byte). seq must be above every seq stored so far, gaps
 * allowed (the middleman numbers them from the stream offset), and at most
 * STORE_MAX_SEQ. The size limit is NOTIFY_MAX_SIZE. Returns the entry (one
 * ref, the caller's), or NULL with a reason in err (invalid, too large,
 * seq not above, ENOMEM).
 */
struct store_entry *store_entry_new(store_t *s, const char *json, size_t len,
				    uint64_t seq, char *err, size_t errlen);
/* The same for a stored notification (from the journal), which carries
 * its "seq"; NOTIFY_MAX_SIZE applies to the text without it. */
struct store_entry *store_entry_load(store_t *s, const char *json, size_t len,
				     char *err, size_t errlen);
/*
 * 1 when e repeats what its task's state already says, so that a
 * notification published twice (a worker whose confirm was lost sends
 * the same bytes again) is stored once, however much came between:
 * queued and the finals once per task and status; started once per task
 * and "time" (a paused task started again is a new attempt); progress and
 * paused once per task, status and "bytes"; another status, or a progress
 * without "bytes", only as the very same text.
 */
int store_is_copy(const store_t *s, const struct store_entry *e);
/*
 * Inserts e (made by store_entry_new on this store, the latest made) and
 * takes over the caller's ref: into the history, and as its task's state
 * when it moves the task forward; then evicts down to both bounds.
 * Never fails.
 */
void store_insert(store_t *s, struct store_entry *e);

/* Takes and drops a reference; the last unref frees the entry. */
void store_entry_ref(struct store_entry *e);
void store_entry_unref(struct store_entry *e);

/* The history: entries held now, entry i (0 = oldest, seq increasing),
 * and the index of the first entry with seq > seq (store_count() if
 * none). */
size_t store_count(const store_t *s);
struct store_entry *store_at(const store_t *s, size_t i);
size_t store_after(const store_t *s, uint64_t seq);
/* The highest seq stored so far (0 before any). */
uint64_t store_last_seq(const store_t *s);
/* Tells the store its history lacks notifications below seq (those of a
 * compacted journal that were only in the history); store_history_start()
 * is the seq from which it holds every notification stored. */
void store_history_from(store_t *s, uint64_t seq);
uint64_t store_history_start(const store_t *s);

/* The tasks: how many are kept, the state of task id (or NULL), and the
 * first task, in seq order, whose state is newer than seq (or NULL). */
size_t store_tasks(const store_t *s);
struct store_entry *store_task(const store_t *s, const char *id,
			       size_t id_len);
struct store_entry *store_task_after(const store_t *s, uint64_t seq);

/* 1 when the history holds every notification after seq. */
int store_replayable(const store_t *s, uint64_t seq);
/* What a reader at position seq takes next: the history's entry after seq
 * when store_replayable(), else store_task_after(); NULL when there is
 * nothing newer. */
struct store_entry *store_next(const store_t *s, uint64_t seq);

/* The name of a known status ("queued", ...), "other" for STORE_OTHER. */
const char *store_status_name(enum store_status st);
/* Parses a comma-separated list of statuses into bits (1 << status).
 * 0, or -1 for an unknown status or an empty item. */
int store_status_mask(const char *list, size_t len, unsigned *mask);
/*
 * A task list (GET /tasks): the state of every task whose state is newer
 * than since and whose status is in mask (~0u: all), in seq order, taken
 * when it is made (each entry with a ref: later changes to the store leave
 * it as it is; 8 bytes a task), sent as a JSON array and a newline straight
 * from the entries. NULL on ENOMEM.
 */
typedef struct store_list store_list_t;
store_list_t *store_list_new(const store_t *s, unsigned mask, uint64_t since);
/* The bytes the whole array takes. */
uint64_t store_list_size(const store_list_t *l);
/* Its bytes, from where store_list_advance() left them, as up to max
 * pieces in iov (pointing into the entries: valid until store_list_free);
 * how many (0 once all are sent). */
int store_list_gather(store_list_t *l, struct iovec *iov, int max);
/* n bytes of what store_list_gather() gave were sent. */
void store_list_advance(store_list_t *l, size_t n);
void store_list_free(store_list_t *l);

#endif

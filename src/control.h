/*
 * control - the control messages of stream `warren.control`
 * (../shared/INTERFACE.md, "Control"): one JSON object per message,
 *
 *   {"op":"cancel","id":"<task uuid>","time":<ms>}
 *   {"op":"pause","time":<ms>}        {"op":"resume","time":<ms>}
 *   {"op":"rate","limit":<bytes/s, integer >= 0>,"time":<ms>}
 *   {"op":"marker","worker":"<host:pid>","nonce":"<hex>"}
 *
 * parsed strictly (types, duplicate keys) and written back. Readers of the
 * stream ignore ops and keys they do not know (a newer tasker may add
 * them); the tasker's POST /control refuses them (control_parse_request).
 */
#ifndef WARREN_CONTROL_H
#define WARREN_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum control_op {
	CONTROL_UNKNOWN,    /* a well-formed message of an op this version
			     * does not know: readers skip it */
	CONTROL_CANCEL,
	CONTROL_PAUSE,
	CONTROL_RESUME,
	CONTROL_RATE,
	CONTROL_MARKER
};

struct control_msg {
	enum control_op op;
	char id[37];        /* cancel: the task's UUID, lowercase */
	uint64_t limit;     /* rate: bytes per second, 0 = no limit */
	int64_t time;       /* Unix ms when the tasker sent it; 0 when absent */
	char worker[CONTROL_MAX_WORKER + 1]; /* marker: "host:pid" */
	char nonce[CONTROL_MAX_NONCE + 1];   /* marker: lowercase hex */
};

/*
 * Parses a message read from the stream. 0 with *out filled (op may be
 * CONTROL_UNKNOWN: skip it), or -1 with a reason for a person in err. A
 * known op needs its fields: cancel "id", rate "limit", marker "worker"
 * and "nonce"; "time" is optional. Keys a known op does not have are
 * ignored; a duplicate key or a known key of the wrong type refuses the
 * message.
 */
int control_parse(const char *json, size_t len, struct control_msg *out,
		  char *err, size_t errlen);

/*
 * Parses the body of POST /control: {"op":"pause"}, {"op":"resume"} or
 * {"op":"rate","limit":N}, nothing else (no other op, no other key, no
 * "time": the tasker stamps it). 0, or -1 with what is wrong in err.
 */
int control_parse_request(const char *json, size_t len, struct control_msg *out,
			  char *err, size_t errlen);

/* 1 when s is a UUID as the tasker writes them (8-4-4-4-12 lowercase hex). */
int control_id_valid(const char *s, size_t len);

/*
 * Writes m as one JSON object (only its op's fields; "time" unless it is
 * 0) into out, NUL-terminated. Returns the length without the NUL, or 0
 * when it does not fit in cap or m->op is CONTROL_UNKNOWN.
 */
size_t control_encode(const struct control_msg *m, char *out, size_t cap);

#endif

/* framing.c - rabbitmq-c's method and property codec for the static and
 * cross builds: the AMQP 0-9-1 methods warren sends or can be sent, from a
 * table.
 *
 * rabbitmq-c's amqp_framing.c is generated from the whole protocol
 * specification: amqp_decode_method() and amqp_encode_method() switch over
 * all its methods, unrolled field by field. The method number comes off
 * the wire (or through amqp_send_method()), so the linker keeps every case,
 * used or not. Here a method is a row of a table (its number, the size of
 * its C structure from <amqp_framing.h>, its fields' types and offsets),
 * read by one loop each way; the basic class's properties are read the same
 * way, one field per flag bit.
 *
 * The rows: what src/mq.c sends, and what a broker sends on a connection
 * and channels used that way (replies to those, and the asynchronous
 * basic.deliver, basic.return, basic.ack, basic.nack, basic.cancel,
 * channel.flow, channel.close, connection.close, connection.blocked and
 * connection.unblocked). Any other method is AMQP_STATUS_UNKNOWN_METHOD, as
 * rabbitmq-c answers a number it does not know, and mq.c drops the
 * connection and reconnects. Only the basic class has properties on
 * content here; another class's is AMQP_STATUS_UNKNOWN_CLASS.
 *
 * Linked ahead of librabbitmq.a like port/libc (port/embedded.mk): with
 * these four functions defined, the library's amqp_framing.o, whose other
 * functions (names of methods and constants, the blocking RPC helpers)
 * nothing here calls, is not linked. tests/unit/test_amqp_framing.c checks
 * this codec against the library's, byte for byte.
 */
#include <amqp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

enum field_type {
	END,
	OCTET,          /* uint8_t */
	SHORT,          /* uint16_t */
	LONG,           /* uint32_t */
	LONGLONG,       /* uint64_t */
	SHORTSTR,       /* amqp_bytes_t, at most 255 bytes */
	LONGSTR,        /* amqp_bytes_t */
	BIT,            /* amqp_boolean_t; consecutive bits share an octet */
	TABLE,          /* amqp_table_t */
};

struct field {
	uint8_t type;
	uint8_t off;    /* offsetof in the method's structure */
};

struct method {
	amqp_method_number_t number;
	uint8_t size;   /* sizeof the method's structure */
	const struct field *fields;
};

#define F(type, s, member) { type, offsetof(s, member) }

static const struct field no_fields[] = { { END, 0 } };

static const struct field connection_start[] = {
	F(OCTET, amqp_connection_start_t, version_major),
	F(OCTET, amqp_connection_start_t, version_minor),
	F(TABLE, amqp_connection_start_t, server_properties),
	F(LONGSTR, amqp_connection_start_t, mechanisms),
	F(LONGSTR, amqp_connection_start_t, locales),
	{ END, 0 }
};
static const struct field connection_start_ok[] = {
	F(TABLE, amqp_connection_start_ok_t, client_properties),
	F(SHORTSTR, amqp_connection_start_ok_t, mechanism),
	F(LONGSTR, amqp_connection_start_ok_t, response),
	F(SHORTSTR, amqp_connection_start_ok_t, locale),
	{ END, 0 }
};
/* connection.tune and tune-ok have the same fields and layout. */
static const struct field connection_tune[] = {
	F(SHORT, amqp_connection_tune_t, channel_max),
	F(LONG, amqp_connection_tune_t, frame_max),
	F(SHORT, amqp_connection_tune_t, heartbeat),
	{ END, 0 }
};
static const struct field connection_open[] = {
	F(SHORTSTR, amqp_connection_open_t, virtual_host),
	F(SHORTSTR, amqp_connection_open_t, capabilities),
	F(BIT, amqp_connection_open_t, insist),
	{ END, 0 }
};
/* One short string first: connection.open-ok, connection.blocked,
 * channel.open (longstr there), basic.consume-ok and cancel-ok. */
static const struct field shortstr_only[] = {
	{ SHORTSTR, 0 },
	{ END, 0 }
};
static const struct field longstr_only[] = {
	{ LONGSTR, 0 },
	{ END, 0 }
};
/* connection.close and channel.close have the same fields and layout. */
static const struct field close_fields[] = {
	F(SHORT, amqp_connection_close_t, reply_code),
	F(SHORTSTR, amqp_connection_close_t, reply_text),
	F(SHORT, amqp_connection_close_t, class_id),
	F(SHORT, amqp_connection_close_t, method_id),
	{ END, 0 }
};
/* One bit: channel.flow, flow-ok and confirm.select. */
static const struct field bit_only[] = {
	{ BIT, 0 },
	{ END, 0 }
};
static const struct field exchange_declare[] = {
	F(SHORT, amqp_exchange_declare_t, ticket),
	F(SHORTSTR, amqp_exchange_declare_t, exchange),
	F(SHORTSTR, amqp_exchange_declare_t, type),
	F(BIT, amqp_exchange_declare_t, passive),
	F(BIT, amqp_exchange_declare_t, durable),
	F(BIT, amqp_exchange_declare_t, auto_delete),
	F(BIT, amqp_exchange_declare_t, internal),
	F(BIT, amqp_exchange_declare_t, nowait),
	F(TABLE, amqp_exchange_declare_t, arguments),
	{ END, 0 }
};
static const struct field queue_declare[] = {
	F(SHORT, amqp_queue_declare_t, ticket),
	F(SHORTSTR, amqp_queue_declare_t, queue),
	F(BIT, amqp_queue_declare_t, passive),
	F(BIT, amqp_queue_declare_t, durable),
	F(BIT, amqp_queue_declare_t, exclusive),
	F(BIT, amqp_queue_declare_t, auto_delete),
	F(BIT, amqp_queue_declare_t, nowait),
	F(TABLE, amqp_queue_declare_t, arguments),
	{ END, 0 }
};
static const struct field queue_declare_ok[] = {
	F(SHORTSTR, amqp_queue_declare_ok_t, queue),
	F(LONG, amqp_queue_declare_ok_t, message_count),
	F(LONG, amqp_queue_declare_ok_t, consumer_count),
	{ END, 0 }
};
static const struct field queue_bind[] = {
	F(SHORT, amqp_queue_bind_t, ticket),
	F(SHORTSTR, amqp_queue_bind_t, queue),
	F(SHORTSTR, amqp_queue_bind_t, exchange),
	F(SHORTSTR, amqp_queue_bind_t, routing_key),
	F(BIT, amqp_queue_bind_t, nowait),
	F(TABLE, amqp_queue_bind_t, arguments),
	{ END, 0 }
};
static const struct field basic_qos[] = {
	F(LONG, amqp_basic_qos_t, prefetch_size),
	F(SHORT, amqp_basic_qos_t, prefetch_count),
	F(BIT, amqp_basic_qos_t, global),
	{ END, 0 }
};
static const struct field basic_consume[] = {
	F(SHORT, amqp_basic_consume_t, ticket),
	F(SHORTSTR, amqp_basic_consume_t, queue),
	F(SHORTSTR, amqp_basic_consume_t, consumer_tag),
	F(BIT, amqp_basic_consume_t, no_local),
	F(BIT, amqp_basic_consume_t, no_ack),
	F(BIT, amqp_basic_consume_t, exclusive),
	F(BIT, amqp_basic_consume_t, nowait),
	F(TABLE, amqp_basic_consume_t, arguments),
	{ END, 0 }
};
static const struct field basic_cancel[] = {
	F(SHORTSTR, amqp_basic_cancel_t, consumer_tag),
	F(BIT, amqp_basic_cancel_t, nowait),
	{ END, 0 }
};
static const struct field basic_publish[] = {
	F(SHORT, amqp_basic_publish_t, ticket),
	F(SHORTSTR, amqp_basic_publish_t, exchange),
	F(SHORTSTR, amqp_basic_publish_t, routing_key),
	F(BIT, amqp_basic_publish_t, mandatory),
	F(BIT, amqp_basic_publish_t, immediate),
	{ END, 0 }
};
static const struct field basic_return[] = {
	F(SHORT, amqp_basic_return_t, reply_code),
	F(SHORTSTR, amqp_basic_return_t, reply_text),
	F(SHORTSTR, amqp_basic_return_t, exchange),
	F(SHORTSTR, amqp_basic_return_t, routing_key),
	{ END, 0 }
};
static const struct field basic_deliver[] = {
	F(SHORTSTR, amqp_basic_deliver_t, consumer_tag),
	F(LONGLONG, amqp_basic_deliver_t, delivery_tag),
	F(BIT, amqp_basic_deliver_t, redelivered),
	F(SHORTSTR, amqp_basic_deliver_t, exchange),
	F(SHORTSTR, amqp_basic_deliver_t, routing_key),
	{ END, 0 }
};
/* basic.ack and basic.reject: a tag and one bit (multiple, requeue). */
static const struct field tag_and_bit[] = {
	F(LONGLONG, amqp_basic_ack_t, delivery_tag),
	F(BIT, amqp_basic_ack_t, multiple),
	{ END, 0 }
};
static const struct field basic_nack[] = {
	F(LONGLONG, amqp_basic_nack_t, delivery_tag),
	F(BIT, amqp_basic_nack_t, multiple),
	F(BIT, amqp_basic_nack_t, requeue),
	{ END, 0 }
};

#define M(number, s, fields) { number, sizeof(s), fields }

/* The busiest first: every task and notification goes through these. */
static const struct method methods[] = {
	M(AMQP_BASIC_DELIVER_METHOD, amqp_basic_deliver_t, basic_deliver),
	M(AMQP_BASIC_PUBLISH_METHOD, amqp_basic_publish_t, basic_publish),
	M(AMQP_BASIC_ACK_METHOD, amqp_basic_ack_t, tag_and_bit),
	M(AMQP_BASIC_NACK_METHOD, amqp_basic_nack_t, basic_nack),
	M(AMQP_BASIC_REJECT_METHOD, amqp_basic_reject_t, tag_and_bit),
	M(AMQP_BASIC_RETURN_METHOD, amqp_basic_return_t, basic_return),
	M(AMQP_CONNECTION_START_METHOD, amqp_connection_start_t, connection_start),
	M(AMQP_CONNECTION_START_OK_METHOD, amqp_connection_start_ok_t, connection_start_ok),
	M(AMQP_CONNECTION_TUNE_METHOD, amqp_connection_tune_t, connection_tune),
	M(AMQP_CONNECTION_TUNE_OK_METHOD, amqp_connection_tune_ok_t, connection_tune),
	M(AMQP_CONNECTION_OPEN_METHOD, amqp_connection_open_t, connection_open),
	M(AMQP_CONNECTION_OPEN_OK_METHOD, amqp_connection_open_ok_t, shortstr_only),
	M(AMQP_CONNECTION_CLOSE_METHOD, amqp_connection_close_t, close_fields),
	M(AMQP_CONNECTION_CLOSE_OK_METHOD, amqp_connection_close_ok_t, no_fields),
	M(AMQP_CONNECTION_BLOCKED_METHOD, amqp_connection_blocked_t, shortstr_only),
	M(AMQP_CONNECTION_UNBLOCKED_METHOD, amqp_connection_unblocked_t, no_fields),
	M(AMQP_CHANNEL_OPEN_METHOD, amqp_channel_open_t, shortstr_only),
	M(AMQP_CHANNEL_OPEN_OK_METHOD, amqp_channel_open_ok_t, longstr_only),
	M(AMQP_CHANNEL_FLOW_METHOD, amqp_channel_flow_t, bit_only),
	M(AMQP_CHANNEL_FLOW_OK_METHOD, amqp_channel_flow_ok_t, bit_only),
	M(AMQP_CHANNEL_CLOSE_METHOD, amqp_channel_close_t, close_fields),
	M(AMQP_CHANNEL_CLOSE_OK_METHOD, amqp_channel_close_ok_t, no_fields),
	M(AMQP_EXCHANGE_DECLARE_METHOD, amqp_exchange_declare_t, exchange_declare),
	M(AMQP_EXCHANGE_DECLARE_OK_METHOD, amqp_exchange_declare_ok_t, no_fields),
	M(AMQP_QUEUE_DECLARE_METHOD, amqp_queue_declare_t, queue_declare),
	M(AMQP_QUEUE_DECLARE_OK_METHOD, amqp_queue_declare_ok_t, queue_declare_ok),
	M(AMQP_QUEUE_BIND_METHOD, amqp_queue_bind_t, queue_bind),
	M(AMQP_QUEUE_BIND_OK_METHOD, amqp_queue_bind_ok_t, no_fields),
	M(AMQP_BASIC_QOS_METHOD, amqp_basic_qos_t, basic_qos),
	M(AMQP_BASIC_QOS_OK_METHOD, amqp_basic_qos_ok_t, no_fields),
	M(AMQP_BASIC_CONSUME_METHOD, amqp_basic_consume_t, basic_consume),
	M(AMQP_BASIC_CONSUME_OK_METHOD, amqp_basic_consume_ok_t, shortstr_only),
	M(AMQP_BASIC_CANCEL_METHOD, amqp_basic_cancel_t, basic_cancel),
	M(AMQP_BASIC_CANCEL_OK_METHOD, amqp_basic_cancel_ok_t, shortstr_only),
	M(AMQP_CONFIRM_SELECT_METHOD, amqp_confirm_select_t, bit_only),
	M(AMQP_CONFIRM_SELECT_OK_METHOD, amqp_confirm_select_ok_t, no_fields),
};

/* The basic class's properties, in the order of their flag bits from bit
 * 15 down (AMQP_BASIC_CONTENT_TYPE_FLAG ... AMQP_BASIC_CLUSTER_ID_FLAG). */
static const struct field basic_properties[] = {
	F(SHORTSTR, amqp_basic_properties_t, content_type),
	F(SHORTSTR, amqp_basic_properties_t, content_encoding),
	F(TABLE, amqp_basic_properties_t, headers),
	F(OCTET, amqp_basic_properties_t, delivery_mode),
	F(OCTET, amqp_basic_properties_t, priority),
	F(SHORTSTR, amqp_basic_properties_t, correlation_id),
	F(SHORTSTR, amqp_basic_properties_t, reply_to),
	F(SHORTSTR, amqp_basic_properties_t, expiration),
	F(SHORTSTR, amqp_basic_properties_t, message_id),
	F(LONGLONG, amqp_basic_properties_t, timestamp),
	F(SHORTSTR, amqp_basic_properties_t, type),
	F(SHORTSTR, amqp_basic_properties_t, user_id),
	F(SHORTSTR, amqp_basic_properties_t, app_id),
	F(SHORTSTR, amqp_basic_properties_t, cluster_id),
	{ END, 0 }
};

/* The flag of the i-th property (at most 14, the basic class's). */
#define PROPERTY_FLAG(i) (1u << (15 - (i)))
/* A method's fields are all there (it has at most 9). */
#define ALL_FIELDS 0xffffu

static const struct method *method_row(amqp_method_number_t number)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i].number == number)
			return &methods[i];
	return NULL;
}

static int integer_width(int type)
{
	return type == OCTET ? 1 : type == SHORT ? 2 : type == LONG ? 4 : 8;
}

/* Reads a big-endian integer of n bytes at *at; 0 when in is too short. */
static int get_uint(amqp_bytes_t in, size_t *at, int n, uint64_t *v)
{
	if (in.len - *at < (size_t)n)
		return 0;
	const uint8_t *p = (const uint8_t *)in.bytes + *at;
	*v = 0;
	for (int i = 0; i < n; i++)
		*v = *v << 8 | p[i];
	*at += n;
	return 1;
}

static int put_uint(amqp_bytes_t out, size_t *at, int n, uint64_t v)
{
	if (out.len - *at < (size_t)n)
		return 0;
	uint8_t *p = (uint8_t *)out.bytes + *at;
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
	*at += n;
	return 1;
}

static void store_uint(void *dst, int n, uint64_t v)
{
	switch (n) {
	case 1: *(uint8_t *)dst = (uint8_t)v; break;
	case 2: *(uint16_t *)dst = (uint16_t)v; break;
	case 4: *(uint32_t *)dst = (uint32_t)v; break;
	default: *(uint64_t *)dst = v; break;
	}
}

static uint64_t load_uint(const void *src, int n)
{
	switch (n) {
	case 1: return *(const uint8_t *)src;
	case 2: return *(const uint16_t *)src;
	case 4: return *(const uint32_t *)src;
	default: return *(const uint64_t *)src;
	}
}

/* ---- field tables and arrays ------------------------------------------ */

/* The kinds of field value that are one big-endian integer (or a float
 * read as one), and their widths; rabbitmq-c keeps such a value in the
 * union member of that width. */
static const char int_kinds[] = "bBsuIilLfdT";
static const uint8_t int_widths[] = { 1, 1, 2, 2, 4, 4, 8, 8, 4, 8, 8 };

static int int_kind_width(uint8_t kind)
{
	const char *p = kind ? memchr(int_kinds, kind, sizeof(int_kinds) - 1) : NULL;
	return p ? int_widths[p - int_kinds] : 0;
}

/* A long string's length and bytes at *at, pointing into in. */
static int get_longstr(amqp_bytes_t in, size_t *at, amqp_bytes_t *s)
{
	uint64_t n;
	if (!get_uint(in, at, 4, &n) || n > in.len - *at)
		return 0;
	s->len = (size_t)n;
	s->bytes = (char *)in.bytes + *at;
	*at += s->len;
	return 1;
}

static int put_bytes(amqp_bytes_t out, size_t *at, amqp_bytes_t s)
{
	if (out.len - *at < s.len)
		return 0;
	if (s.len)
		memcpy((char *)out.bytes + *at, s.bytes, s.len);
	*at += s.len;
	return 1;
}

static int decode_value(amqp_bytes_t in, amqp_pool_t *pool, size_t *at, int depth,
			amqp_field_value_t *v);

/*
 * Decodes a field table (keyed) or field array at *at: *count entries,
 * *entries from pool (NULL when none, as rabbitmq-c leaves it). count NULL:
 * only checks and skips it. Two passes, the first counting, so that the
 * entries take one allocation from the pool and none from the heap.
 */
static int decode_items(amqp_bytes_t in, amqp_pool_t *pool, size_t *at, int depth,
			int keyed, int *count, void **entries)
{
	size_t esize = keyed ? sizeof(amqp_table_entry_t) : sizeof(amqp_field_value_t);
	uint64_t size, keylen;
	char *e = NULL;
	int n = 0;

	if (!get_uint(in, at, 4, &size) || size > in.len - *at)
		return AMQP_STATUS_BAD_AMQP_DATA;
	size_t start = *at, end = start + (size_t)size;
	for (int store = 0; store <= (count != NULL); store++) {
		/* A last entry may run past end; the next field follows it,
		 * as in rabbitmq-c. */
		for (*at = start, n = 0; *at < end; n++) {
			amqp_table_entry_t *t = store && keyed ? (amqp_table_entry_t *)e + n : NULL;
			amqp_field_value_t *v = t ? &t->value :
				store ? (amqp_field_value_t *)e + n : NULL;
			if (keyed && (!get_uint(in, at, 1, &keylen) || keylen > in.len - *at))
				return AMQP_STATUS_BAD_AMQP_DATA;
			if (t)
				t->key = (amqp_bytes_t){ (size_t)keylen, (char *)in.bytes + *at };
			if (keyed)
				*at += (size_t)keylen;
			int rc = decode_value(in, pool, at, depth, v);
			if (rc < 0)
				return rc;
		}
		if (!store && count && n && !(e = amqp_pool_alloc(pool, (size_t)n * esize)))
			return AMQP_STATUS_NO_MEMORY;
	}
	if (count) {
		*count = n;
		*entries = e;
	}
	return 0;
}

/* One field value (its kind octet first) into v, or only checked when v is
 * NULL. */
static int decode_value(amqp_bytes_t in, amqp_pool_t *pool, size_t *at, int depth,
			amqp_field_value_t *v)
{
	amqp_field_value_t skip;
	uint64_t kind, x, y;
	int rc = 0, n = 0;
	void *e = NULL;

	if (depth > MQ_TABLE_DEPTH_MAX || !get_uint(in, at, 1, &kind))
		return AMQP_STATUS_BAD_AMQP_DATA;
	if (!v)
		v = &skip;
	v->kind = (uint8_t)kind;
	int w = int_kind_width(v->kind);
	if (w) {
		if (!get_uint(in, at, w, &x))
			return AMQP_STATUS_BAD_AMQP_DATA;
		store_uint(&v->value, w, x);
		return 0;
	}
	switch (v->kind) {
	case AMQP_FIELD_KIND_BOOLEAN:
		if (!get_uint(in, at, 1, &x))
			return AMQP_STATUS_BAD_AMQP_DATA;
		v->value.boolean = x != 0;
		return 0;
	case AMQP_FIELD_KIND_DECIMAL:
		if (!get_uint(in, at, 1, &x) || !get_uint(in, at, 4, &y))
			return AMQP_STATUS_BAD_AMQP_DATA;
		v->value.decimal.decimals = (uint8_t)x;
		v->value.decimal.value = (uint32_t)y;
		return 0;
	case AMQP_FIELD_KIND_UTF8:
	case AMQP_FIELD_KIND_BYTES:
		return get_longstr(in, at, &v->value.bytes) ? 0 : AMQP_STATUS_BAD_AMQP_DATA;
	case AMQP_FIELD_KIND_VOID:
		return 0;
	case AMQP_FIELD_KIND_TABLE:
	case AMQP_FIELD_KIND_ARRAY:
		rc = decode_items(in, pool, at, depth + 1, v->kind == AMQP_FIELD_KIND_TABLE,
				  v == &skip ? NULL : &n, &e);
		if (v->kind == AMQP_FIELD_KIND_TABLE) {
			v->value.table.num_entries = n;
			v->value.table.entries = e;
		} else {
			v->value.array.num_entries = n;
			v->value.array.entries = e;
		}
		return rc;
	}
	return AMQP_STATUS_BAD_AMQP_DATA;
}

int amqp_decode_table(amqp_bytes_t encoded, amqp_pool_t *pool,
		      amqp_table_t *output, size_t *offset)
{
	void *e = NULL;
	int n = 0;
	int rc = decode_items(encoded, pool, offset, 0, 1, &n, &e);
	output->num_entries = n;
	output->entries = e;
	return rc;
}

static int encode_value(amqp_bytes_t out, size_t *at, const amqp_field_value_t *v);

/* A field table (keyed) or array of n entries, its size first. */
static int encode_items(amqp_bytes_t out, size_t *at, int keyed, int n, const void *entries)
{
	size_t start = *at;
	if (!put_uint(out, at, 4, 0))
		return AMQP_STATUS_TABLE_TOO_BIG;
	for (int i = 0; i < n; i++) {
		const amqp_table_entry_t *t = keyed ? (const amqp_table_entry_t *)entries + i : NULL;
		if (t && (t->key.len > UINT8_MAX || !put_uint(out, at, 1, t->key.len) ||
			  !put_bytes(out, at, t->key)))
			return AMQP_STATUS_TABLE_TOO_BIG;
		int rc = encode_value(out, at, t ? &t->value : (const amqp_field_value_t *)entries + i);
		if (rc < 0)
			return rc;
	}
	put_uint(out, &start, 4, *at - start - 4);
	return 0;
}

static int encode_value(amqp_bytes_t out, size_t *at, const amqp_field_value_t *v)
{
	int ok, w = int_kind_width(v->kind);
	uint64_t max_len = UINT32_MAX; /* (a variable: size_t may be 32 bits) */
	if (!put_uint(out, at, 1, v->kind))
		return AMQP_STATUS_BAD_AMQP_DATA;
	if (w) {
		ok = put_uint(out, at, w, load_uint(&v->value, w));
	} else {
		switch (v->kind) {
		case AMQP_FIELD_KIND_BOOLEAN:
			ok = put_uint(out, at, 1, v->value.boolean != 0);
			break;
		case AMQP_FIELD_KIND_DECIMAL:
			ok = put_uint(out, at, 1, v->value.decimal.decimals) &&
			     put_uint(out, at, 4, v->value.decimal.value);
			break;
		case AMQP_FIELD_KIND_UTF8:
		case AMQP_FIELD_KIND_BYTES:
			ok = (uint64_t)v->value.bytes.len <= max_len &&
			     put_uint(out, at, 4, v->value.bytes.len) &&
			     put_bytes(out, at, v->value.bytes);
			break;
		case AMQP_FIELD_KIND_VOID:
			ok = 1;
			break;
		case AMQP_FIELD_KIND_TABLE:
			return encode_items(out, at, 1, v->value.table.num_entries,
					    v->value.table.entries);
		case AMQP_FIELD_KIND_ARRAY:
			return encode_items(out, at, 0, v->value.array.num_entries,
					    v->value.array.entries);
		default:
			return AMQP_STATUS_INVALID_PARAMETER;
		}
	}
	return ok ? 0 : AMQP_STATUS_TABLE_TOO_BIG;
}

int amqp_encode_table(amqp_bytes_t encoded, amqp_table_t *input, size_t *offset)
{
	return encode_items(encoded, offset, 1, input->num_entries, input->entries);
}

/*
 * The rest of rabbitmq-c's amqp_table.o, which its amqp_socket.o and
 * amqp_consumer.o name (the blocking login and consume helpers; warren
 * calls neither, so the link drops them): defined here too, or that object
 * would be linked beside these functions. Deep copies into pool, with
 * rabbitmq-c's answers: an empty key is an invalid parameter; an empty
 * table or string becomes the shared empty one; an array with entries
 * allocated but none counted cannot be allocated.
 */
amqp_table_entry_t amqp_table_construct_utf8_entry(const char *key, const char *value);
amqp_table_entry_t amqp_table_construct_table_entry(const char *key,
						    const amqp_table_t *value);
amqp_table_entry_t amqp_table_construct_bool_entry(const char *key, const int value);
amqp_table_entry_t *amqp_table_get_entry_by_key(const amqp_table_t *table,
						const amqp_bytes_t key);

static int clone_bytes(amqp_pool_t *pool, amqp_bytes_t from, amqp_bytes_t *to)
{
	amqp_pool_alloc_bytes(pool, from.len, to);
	if (!to->bytes)
		return AMQP_STATUS_NO_MEMORY;
	memcpy(to->bytes, from.bytes, from.len);
	return 0;
}

static int clone_value(const amqp_field_value_t *from, amqp_field_value_t *to,
		       amqp_pool_t *pool);

int amqp_table_clone(const amqp_table_t *original, amqp_table_t *clone, amqp_pool_t *pool)
{
	int n = original->num_entries;
	if (!n) {
		*clone = amqp_empty_table;
		return 0;
	}
	clone->num_entries = n;
	clone->entries = amqp_pool_alloc(pool, (size_t)n * sizeof(amqp_table_entry_t));
	if (!clone->entries)
		return AMQP_STATUS_NO_MEMORY;
	for (int i = 0; i < n; i++) {
		const amqp_table_entry_t *from = &original->entries[i];
		amqp_table_entry_t *to = &clone->entries[i];
		if (!from->key.len)
			return AMQP_STATUS_INVALID_PARAMETER;
		int rc = clone_bytes(pool, from->key, &to->key);
		if (rc == 0)
			rc = clone_value(&from->value, &to->value, pool);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int clone_value(const amqp_field_value_t *from, amqp_field_value_t *to,
		       amqp_pool_t *pool)
{
	*to = *from;
	switch (from->kind) {
	case AMQP_FIELD_KIND_UTF8:
	case AMQP_FIELD_KIND_BYTES:
		if (!from->value.bytes.len) {
			to->value.bytes = amqp_empty_bytes;
			return 0;
		}
		return clone_bytes(pool, from->value.bytes, &to->value.bytes);
	case AMQP_FIELD_KIND_ARRAY:
		if (!from->value.array.entries) {
			to->value.array = amqp_empty_array;
			return 0;
		}
		to->value.array.entries = amqp_pool_alloc(pool,
			(size_t)from->value.array.num_entries * sizeof(amqp_field_value_t));
		if (!to->value.array.entries)
			return AMQP_STATUS_NO_MEMORY;
		for (int i = 0; i < from->value.array.num_entries; i++) {
			int rc = clone_value(&from->value.array.entries[i],
					     &to->value.array.entries[i], pool);
			if (rc < 0)
				return rc;
		}
		return 0;
	case AMQP_FIELD_KIND_TABLE:
		return amqp_table_clone(&from->value.table, &to->value.table, pool);
	case AMQP_FIELD_KIND_BOOLEAN:
	case AMQP_FIELD_KIND_DECIMAL:
	case AMQP_FIELD_KIND_VOID:
		return 0;
	}
	return int_kind_width(from->kind) ? 0 : AMQP_STATUS_INVALID_PARAMETER;
}

amqp_table_entry_t amqp_table_construct_utf8_entry(const char *key, const char *value)
{
	amqp_table_entry_t e = { amqp_cstring_bytes(key), { AMQP_FIELD_KIND_UTF8, { 0 } } };
	e.value.value.bytes = amqp_cstring_bytes(value);
	return e;
}

amqp_table_entry_t amqp_table_construct_table_entry(const char *key,
						    const amqp_table_t *value)
{
	amqp_table_entry_t e = { amqp_cstring_bytes(key), { AMQP_FIELD_KIND_TABLE, { 0 } } };
	e.value.value.table = *value;
	return e;
}

amqp_table_entry_t amqp_table_construct_bool_entry(const char *key, const int value)
{
	amqp_table_entry_t e = { amqp_cstring_bytes(key), { AMQP_FIELD_KIND_BOOLEAN, { 0 } } };
	e.value.value.boolean = value;
	return e;
}

amqp_table_entry_t *amqp_table_get_entry_by_key(const amqp_table_t *table,
						const amqp_bytes_t key)
{
	for (int i = 0; i < table->num_entries; i++) {
		amqp_table_entry_t *e = &table->entries[i];
		if (e->key.len == key.len && (!key.len || !memcmp(e->key.bytes, key.bytes, key.len)))
			return e;
	}
	return NULL;
}

/* ---- methods and properties -------------------------------------------- */

/*
 * Decodes the fields of f whose flag is in flags (field i's flag is
 * PROPERTY_FLAG(i)) from in at *at into the structure at out. A string
 * points into in, as rabbitmq-c's do; a table is allocated from pool.
 * 0, or a negative AMQP_STATUS_*.
 */
static int decode_fields(const struct field *f, uint32_t flags, amqp_pool_t *pool,
			 amqp_bytes_t in, size_t *at, char *out)
{
	int bit = 8;            /* the next bit's place in bits; 8: none left */
	uint64_t bits = 0, v;

	for (int i = 0; f[i].type != END; i++) {
		void *dst = out + f[i].off;
		if (!(flags & PROPERTY_FLAG(i)))
			continue;
		if (f[i].type == BIT) {
			if (bit == 8) {
				if (!get_uint(in, at, 1, &bits))
					return AMQP_STATUS_BAD_AMQP_DATA;
				bit = 0;
			}
			*(amqp_boolean_t *)dst = (amqp_boolean_t)(bits >> bit++ & 1);
			continue;
		}
		bit = 8;
		if (f[i].type == TABLE) {
			int rc = amqp_decode_table(in, pool, dst, at);
			if (rc < 0)
				return rc;
		} else if (f[i].type == SHORTSTR || f[i].type == LONGSTR) {
			amqp_bytes_t *s = dst;
			if (!get_uint(in, at, f[i].type == SHORTSTR ? 1 : 4, &v) ||
			    v > in.len - *at)
				return AMQP_STATUS_BAD_AMQP_DATA;
			s->len = (size_t)v;
			s->bytes = (char *)in.bytes + *at;
			*at += s->len;
		} else {
			int n = integer_width(f[i].type);
			if (!get_uint(in, at, n, &v))
				return AMQP_STATUS_BAD_AMQP_DATA;
			store_uint(dst, n, v);
		}
	}
	return 0;
}

/* Encodes the fields of f whose flag is in flags from the structure at src
 * into out at *at. 0, or a negative AMQP_STATUS_*. */
static int encode_fields(const struct field *f, uint32_t flags, const char *src,
			 amqp_bytes_t out, size_t *at)
{
	int bit = 8;            /* the next bit's place in the octet at *at - 1 */

	for (int i = 0; f[i].type != END; i++) {
		const void *from = src + f[i].off;
		if (!(flags & PROPERTY_FLAG(i)))
			continue;
		if (f[i].type == BIT) {
			if (bit == 8) {
				if (!put_uint(out, at, 1, 0))
					return AMQP_STATUS_BAD_AMQP_DATA;
				bit = 0;
			}
			if (*(const amqp_boolean_t *)from)
				((uint8_t *)out.bytes)[*at - 1] |= (uint8_t)(1 << bit);
			bit++;
			continue;
		}
		bit = 8;
		if (f[i].type == TABLE) {
			int rc = amqp_encode_table(out, (amqp_table_t *)from, at);
			if (rc < 0)
				return rc;
		} else if (f[i].type == SHORTSTR || f[i].type == LONGSTR) {
			const amqp_bytes_t *s = from;
			int n = f[i].type == SHORTSTR ? 1 : 4;
			uint64_t max = n == 1 ? UINT8_MAX : UINT32_MAX;
			if ((uint64_t)s->len > max || !put_uint(out, at, n, s->len) ||
			    out.len - *at < s->len)
				return AMQP_STATUS_BAD_AMQP_DATA;
			if (s->len)
				memcpy((char *)out.bytes + *at, s->bytes, s->len);
			*at += s->len;
		} else {
			int n = integer_width(f[i].type);
			if (!put_uint(out, at, n, load_uint(from, n)))
				return AMQP_STATUS_BAD_AMQP_DATA;
		}
	}
	return 0;
}

int amqp_decode_method(amqp_method_number_t number, amqp_pool_t *pool,
		       amqp_bytes_t encoded, void **decoded)
{
	const struct method *m = method_row(number);
	if (!m)
		return AMQP_STATUS_UNKNOWN_METHOD;
	char *out = amqp_pool_alloc(pool, m->size);
	if (!out)
		return AMQP_STATUS_NO_MEMORY;
	size_t at = 0;
	int rc = decode_fields(m->fields, ALL_FIELDS, pool, encoded, &at, out);
	if (rc < 0)
		return rc;
	*decoded = out;
	return 0;
}

int amqp_encode_method(amqp_method_number_t number, void *decoded,
		       amqp_bytes_t encoded)
{
	const struct method *m = method_row(number);
	if (!m)
		return AMQP_STATUS_UNKNOWN_METHOD;
	size_t at = 0;
	int rc = encode_fields(m->fields, ALL_FIELDS, decoded, encoded, &at);
	return rc < 0 ? rc : (int)at;
}

int amqp_decode_properties(uint16_t class_id, amqp_pool_t *pool,
			   amqp_bytes_t encoded, void **decoded)
{
	size_t at = 0;
	uint64_t word;
	uint32_t flags = 0;

	/* Flag words of 16 bits, bit 0 set when another follows; the basic
	 * class's 14 properties fit in the first. */
	for (int shift = 0;; shift += 16) {
		if (!get_uint(encoded, &at, 2, &word))
			return AMQP_STATUS_BAD_AMQP_DATA;
		if (shift < 32)
			flags |= (uint32_t)word << shift;
		if (!(word & 1))
			break;
	}
	if (class_id != AMQP_BASIC_CLASS)
		return AMQP_STATUS_UNKNOWN_CLASS;
	amqp_basic_properties_t *p = amqp_pool_alloc(pool, sizeof(*p));
	if (!p)
		return AMQP_STATUS_NO_MEMORY;
	p->_flags = flags;
	int rc = decode_fields(basic_properties, flags, pool, encoded, &at, (char *)p);
	if (rc < 0)
		return rc;
	*decoded = p;
	return 0;
}

int amqp_encode_properties(uint16_t class_id, void *decoded, amqp_bytes_t encoded)
{
	if (class_id != AMQP_BASIC_CLASS)
		return AMQP_STATUS_UNKNOWN_CLASS;
	const amqp_basic_properties_t *p = decoded;
	/* Only the basic class's flags: bits 2..15 of the first word, no
	 * continuation. */
	uint32_t flags = p->_flags & 0xfffc;
	size_t at = 0;
	if (!put_uint(encoded, &at, 2, flags))
		return AMQP_STATUS_BAD_AMQP_DATA;
	int rc = encode_fields(basic_properties, flags, (const char *)p, encoded, &at);
	return rc < 0 ? rc : (int)at;
}

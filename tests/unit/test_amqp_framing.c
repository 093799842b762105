/* test_amqp_framing.c - port/amqp/framing.c, the static builds' AMQP
 * method and property codec, compiled in here under other names so that it
 * is checked on every build against the build's rabbitmq-c:
 *  - every method of its table, each field filled (from the table), is
 *    encoded byte for byte as the library encodes it; what it decodes
 *    from that, encoded again by the library, is the same bytes;
 *  - every shorter input fails to decode, every smaller buffer fails to
 *    encode (the sanitizer build: without reading or writing outside);
 *  - the basic class's properties the same way, all 14 and a few;
 *  - a method outside the table is refused both ways;
 *  - field tables: one of every kind of value, arrays and tables nested,
 *    encoded byte for byte as the library does; each truncation of it
 *    decoded as the library decodes it (or refused as it refuses it);
 *    unknown kinds, nesting up to the depth limit, deep copies;
 *  - a few encodings written out from the AMQP 0-9-1 specification (in the
 *    static builds the library's codec is this one: these still check it).
 */
#include "check.h"

#include <amqp.h>
#include <stdint.h>
#include <stdlib.h>

#define amqp_decode_method port_decode_method
#define amqp_encode_method port_encode_method
#define amqp_decode_properties port_decode_properties
#define amqp_encode_properties port_encode_properties
#define amqp_decode_table port_decode_table
#define amqp_encode_table port_encode_table
#define amqp_table_clone port_table_clone
#define amqp_table_construct_utf8_entry port_construct_utf8_entry
#define amqp_table_construct_table_entry port_construct_table_entry
#define amqp_table_construct_bool_entry port_construct_bool_entry
#define amqp_table_get_entry_by_key port_get_entry_by_key
#include "port/amqp/framing.c"
#undef amqp_decode_method
#undef amqp_encode_method
#undef amqp_decode_properties
#undef amqp_encode_properties
#undef amqp_decode_table
#undef amqp_encode_table
#undef amqp_table_clone
#undef amqp_table_construct_utf8_entry
#undef amqp_table_construct_table_entry
#undef amqp_table_construct_bool_entry
#undef amqp_table_get_entry_by_key

static amqp_table_entry_t entries[2];
static amqp_table_t sample_table = { 2, entries };

/* Fills the fields f names in the structure at out, each with a value of
 * its own (bits alternate, starting with set or not by odd). */
static void fill(const struct field *f, char *out, int odd)
{
	static const char *words[] = { "tasks", "notifications", "", "x-stream-offset",
				       "warren", "a", "ctag-1", "stream" };
	for (int i = 0; f[i].type != END; i++) {
		void *dst = out + f[i].off;
		switch (f[i].type) {
		case OCTET: *(uint8_t *)dst = (uint8_t)(0x11 * (i + 1)); break;
		case SHORT: *(uint16_t *)dst = (uint16_t)(0x1234 + i); break;
		case LONG: *(uint32_t *)dst = 0x89abcdefu - (uint32_t)i; break;
		case LONGLONG: *(uint64_t *)dst = 0x0102030405060708ull + (uint64_t)i; break;
		case SHORTSTR:
		case LONGSTR: *(amqp_bytes_t *)dst = amqp_cstring_bytes(words[(i + odd) % 8]); break;
		case BIT: *(amqp_boolean_t *)dst = (i + odd) % 2; break;
		case TABLE: *(amqp_table_t *)dst = sample_table; break;
		}
	}
}

static int same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* Every prefix of enc (in a buffer of its own size) fails to decode. */
static int shorter_inputs_fail(amqp_method_number_t number, const char *enc, size_t len,
			       amqp_pool_t *pool)
{
	int all = 1;
	for (size_t n = 0; n < len; n++) {
		char *copy = malloc(n ? n : 1);
		memcpy(copy, enc, n);
		void *out = NULL;
		amqp_bytes_t in = { n, copy };
		if (port_decode_method(number, pool, in, &out) >= 0) {
			fprintf(stderr, "method %08x: decoded from %zu of %zu bytes\n", number, n, len);
			all = 0;
		}
		free(copy);
	}
	return all;
}

/* Every buffer smaller than len bytes fails to take the encoding. */
static int smaller_buffers_fail(amqp_method_number_t number, void *m, size_t len)
{
	int all = 1;
	for (size_t n = 0; n < len; n++) {
		char *buf = malloc(n ? n : 1);
		amqp_bytes_t out = { n, buf };
		if (port_encode_method(number, m, out) >= 0) {
			fprintf(stderr, "method %08x: encoded into %zu of %zu bytes\n", number, n, len);
			all = 0;
		}
		free(buf);
	}
	return all;
}

static void check_method(const struct method *row, int odd, amqp_pool_t *pool)
{
	union { char bytes[256]; uint64_t u; void *p; } mu; /* aligned as any method */
	char *m = mu.bytes, lib[4096], ours[4096], again[4096];
	memset(&mu, 0, sizeof(mu));
	fill(row->fields, m, odd);

	int nlib = amqp_encode_method(row->number, m, (amqp_bytes_t){ sizeof(lib), lib });
	int nours = port_encode_method(row->number, m, (amqp_bytes_t){ sizeof(ours), ours });
	CHECK(nlib >= 0);
	if (nours != nlib || (nlib > 0 && memcmp(lib, ours, (size_t)nlib) != 0))
		fprintf(stderr, "method %08x: %d bytes, the library's %d\n", row->number, nours, nlib);
	CHECK(nlib >= 0 && same_bytes(lib, (size_t)nlib, ours, (size_t)nours));
	if (nlib < 0)
		return;

	void *decoded = NULL;
	CHECK_INT(port_decode_method(row->number, pool, (amqp_bytes_t){ (size_t)nlib, lib },
				     &decoded), 0);
	if (!decoded)
		return;
	int nagain = amqp_encode_method(row->number, decoded,
					(amqp_bytes_t){ sizeof(again), again });
	if (!same_bytes(lib, (size_t)nlib, again, (size_t)(nagain < 0 ? 0 : nagain)))
		fprintf(stderr, "method %08x: decoded and encoded again differs\n", row->number);
	CHECK(nagain >= 0 && same_bytes(lib, (size_t)nlib, again, (size_t)nagain));
	CHECK(shorter_inputs_fail(row->number, lib, (size_t)nlib, pool));
	CHECK(smaller_buffers_fail(row->number, m, (size_t)nlib));
}

static void check_properties(amqp_flags_t flags, amqp_pool_t *pool)
{
	amqp_basic_properties_t p;
	char lib[4096], ours[4096], again[4096];
	memset(&p, 0, sizeof(p));
	fill(basic_properties, (char *)&p, 1);
	p._flags = flags;

	int nlib = amqp_encode_properties(AMQP_BASIC_CLASS, &p, (amqp_bytes_t){ sizeof(lib), lib });
	int nours = port_encode_properties(AMQP_BASIC_CLASS, &p,
					   (amqp_bytes_t){ sizeof(ours), ours });
	CHECK(nlib > 0 && same_bytes(lib, (size_t)nlib, ours, (size_t)nours));
	if (nlib <= 0)
		return;
	amqp_basic_properties_t *d = NULL;
	CHECK_INT(port_decode_properties(AMQP_BASIC_CLASS, pool, (amqp_bytes_t){ (size_t)nlib, lib },
					 (void **)&d), 0);
	if (!d)
		return;
	CHECK_INT(d->_flags, flags);
	int nagain = amqp_encode_properties(AMQP_BASIC_CLASS, d,
					    (amqp_bytes_t){ sizeof(again), again });
	CHECK(nagain > 0 && same_bytes(lib, (size_t)nlib, again, (size_t)nagain));

	int shorter = 1, smaller = 1;
	for (size_t n = 0; n < (size_t)nlib; n++) {
		char *buf = malloc(n ? n : 1);
		memcpy(buf, lib, n);
		void *out;
		if (port_decode_properties(AMQP_BASIC_CLASS, pool, (amqp_bytes_t){ n, buf }, &out) >= 0)
			shorter = 0;
		if (port_encode_properties(AMQP_BASIC_CLASS, &p, (amqp_bytes_t){ n, buf }) >= 0)
			smaller = 0;
		free(buf);
	}
	CHECK(shorter);
	CHECK(smaller);
}

/* Encodings written out from the specification's field lists. */
static void check_written_out(amqp_pool_t *pool)
{
	char buf[64];
	amqp_basic_ack_t ack = { 0x0102030405060708ull, 1 };
	static const char ack_enc[] = "\x01\x02\x03\x04\x05\x06\x07\x08\x01";
	int n = port_encode_method(AMQP_BASIC_ACK_METHOD, &ack, (amqp_bytes_t){ sizeof(buf), buf });
	CHECK(same_bytes(buf, (size_t)n, ack_enc, 9));

	amqp_basic_publish_t pub = { 0, amqp_cstring_bytes(""), amqp_cstring_bytes("tasks"), 1, 0 };
	static const char pub_enc[] = "\x00\x00" "\x00" "\x05tasks" "\x01";
	n = port_encode_method(AMQP_BASIC_PUBLISH_METHOD, &pub, (amqp_bytes_t){ sizeof(buf), buf });
	CHECK(same_bytes(buf, (size_t)n, pub_enc, 10));

	/* passive, durable, exclusive, auto-delete, no-wait: bits 0 to 4 of
	 * one octet; then an empty table. */
	amqp_queue_declare_t qd;
	memset(&qd, 0, sizeof(qd));
	qd.queue = amqp_cstring_bytes("q");
	qd.durable = 1;
	qd.nowait = 1;
	static const char qd_enc[] = "\x00\x00" "\x01q" "\x12" "\x00\x00\x00\x00";
	n = port_encode_method(AMQP_QUEUE_DECLARE_METHOD, &qd, (amqp_bytes_t){ sizeof(buf), buf });
	CHECK(same_bytes(buf, (size_t)n, qd_enc, 9));

	static const char deliver_enc[] = "\x02" "ct" "\x00\x00\x00\x00\x00\x00\x01\x00"
					  "\x01" "\x00" "\x05tasks";
	void *out = NULL;
	CHECK_INT(port_decode_method(AMQP_BASIC_DELIVER_METHOD, pool,
				     (amqp_bytes_t){ sizeof(deliver_enc) - 1, (void *)deliver_enc },
				     &out), 0);
	amqp_basic_deliver_t *d = out;
	CHECK(d && d->consumer_tag.len == 2 && memcmp(d->consumer_tag.bytes, "ct", 2) == 0);
	CHECK(d && d->delivery_tag == 256 && d->redelivered == 1 && d->exchange.len == 0);
	CHECK(d && d->routing_key.len == 5 && memcmp(d->routing_key.bytes, "tasks", 5) == 0);

	/* delivery-mode 2 alone: flag bit 12, then one octet. */
	amqp_basic_properties_t p;
	memset(&p, 0, sizeof(p));
	p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
	p.delivery_mode = 2;
	n = port_encode_properties(AMQP_BASIC_CLASS, &p, (amqp_bytes_t){ sizeof(buf), buf });
	CHECK(same_bytes(buf, (size_t)n, "\x10\x00\x02", 3));
}

/* ---- field tables ---- */

static amqp_table_entry_t kind_entries[18], inner_entries[1];
static amqp_field_value_t array_items[3];
static amqp_table_t all_kinds = { 18, kind_entries };

/* One entry of every kind of field value, keyed "k" and the kind. */
static void fill_all_kinds(void)
{
	static const char kinds[] = "tbBsuIilLfdDSxATFV";
	static char keys[18][3];
	inner_entries[0].key = amqp_cstring_bytes("deep");
	inner_entries[0].value.kind = AMQP_FIELD_KIND_I64;
	inner_entries[0].value.value.i64 = 42;
	array_items[0].kind = AMQP_FIELD_KIND_UTF8;
	array_items[0].value.bytes = amqp_cstring_bytes("a");
	array_items[1].kind = AMQP_FIELD_KIND_I32;
	array_items[1].value.i32 = 7;
	array_items[2].kind = AMQP_FIELD_KIND_TABLE;
	array_items[2].value.table = (amqp_table_t){ 1, inner_entries };
	for (int i = 0; i < 18; i++) {
		amqp_field_value_t *v = &kind_entries[i].value;
		keys[i][0] = 'k';
		keys[i][1] = kinds[i];
		kind_entries[i].key = amqp_cstring_bytes(keys[i]);
		v->kind = (uint8_t)kinds[i];
		switch (kinds[i]) {
		case 't': v->value.boolean = 1; break;
		case 'b': v->value.i8 = -5; break;
		case 'B': v->value.u8 = 200; break;
		case 's': v->value.i16 = -300; break;
		case 'u': v->value.u16 = 60000; break;
		case 'I': v->value.i32 = -70000; break;
		case 'i': v->value.u32 = 4000000000u; break;
		case 'l': v->value.i64 = -5000000000000ll; break;
		case 'L': v->value.u64 = 0x0102030405060708ull; break;
		case 'f': v->value.f32 = 1.5f; break;
		case 'd': v->value.f64 = -2.25; break;
		case 'D': v->value.decimal.decimals = 2; v->value.decimal.value = 12345; break;
		case 'S': v->value.bytes = amqp_cstring_bytes("quorum"); break;
		case 'x': v->value.bytes = (amqp_bytes_t){ 3, "\0\1\2" }; break;
		case 'A': v->value.array = (amqp_array_t){ 3, array_items }; break;
		case 'T': v->value.u64 = 1700000000; break;
		case 'F': v->value.table = (amqp_table_t){ 1, inner_entries }; break;
		}
	}
}

static int bytes_same(amqp_bytes_t a, amqp_bytes_t b)
{
	return a.len == b.len && (!a.len || memcmp(a.bytes, b.bytes, a.len) == 0);
}

static int tables_same(const amqp_table_t *a, const amqp_table_t *b);

static int values_same(const amqp_field_value_t *a, const amqp_field_value_t *b)
{
	int w = int_kind_width(a->kind);
	if (a->kind != b->kind)
		return 0;
	if (w)
		return memcmp(&a->value, &b->value, (size_t)w) == 0;
	switch (a->kind) {
	case 't': return a->value.boolean == b->value.boolean;
	case 'D': return a->value.decimal.decimals == b->value.decimal.decimals &&
			 a->value.decimal.value == b->value.decimal.value;
	case 'S': case 'x': return bytes_same(a->value.bytes, b->value.bytes);
	case 'F': return tables_same(&a->value.table, &b->value.table);
	case 'V': return 1;
	case 'A':
		if (a->value.array.num_entries != b->value.array.num_entries)
			return 0;
		for (int i = 0; i < a->value.array.num_entries; i++)
			if (!values_same(&a->value.array.entries[i], &b->value.array.entries[i]))
				return 0;
		return 1;
	}
	return 0;
}

static int tables_same(const amqp_table_t *a, const amqp_table_t *b)
{
	if (a->num_entries != b->num_entries)
		return 0;
	for (int i = 0; i < a->num_entries; i++)
		if (!bytes_same(a->entries[i].key, b->entries[i].key) ||
		    !values_same(&a->entries[i].value, &b->entries[i].value))
			return 0;
	return 1;
}

/* Decodes in with both codecs: the same answer, the same offset and the
 * same table. */
static int decodes_alike(amqp_bytes_t in, amqp_pool_t *pool)
{
	amqp_table_t lib, ours;
	size_t at_lib = 0, at_ours = 0;
	int rc_lib = amqp_decode_table(in, pool, &lib, &at_lib);
	int rc_ours = port_decode_table(in, pool, &ours, &at_ours);
	if ((rc_lib < 0) != (rc_ours < 0))
		return 0;
	return rc_lib < 0 || (at_lib == at_ours && tables_same(&lib, &ours));
}

/* depth tables, each the only value of the one before; the innermost
 * holds a long integer. */
static size_t nested_tables(char *buf, int depth)
{
	size_t n = 0;
	static const char leaf[] = "\1kl\0\0\0\0\0\0\0\1";
	for (int i = 0; i < depth; i++) {
		memcpy(buf + n, "\0\0\0\0", 4);
		n += 4;
		if (i + 1 < depth) {
			memcpy(buf + n, "\1kF", 3);
			n += 3;
		}
	}
	memcpy(buf + n, leaf, sizeof(leaf) - 1);
	n += sizeof(leaf) - 1;
	/* sizes from the innermost out */
	size_t end = n;
	for (int i = depth - 1; i >= 0; i--) {
		size_t at = (size_t)i * 7;
		uint32_t size = (uint32_t)(end - at - 4);
		buf[at] = (char)(size >> 24); buf[at + 1] = (char)(size >> 16);
		buf[at + 2] = (char)(size >> 8); buf[at + 3] = (char)size;
	}
	return n;
}

static void check_tables(amqp_pool_t *pool)
{
	char lib[1024], ours[1024], again[1024];
	size_t nlib = 0, nours = 0, nagain = 0;
	fill_all_kinds();

	CHECK_INT(amqp_encode_table((amqp_bytes_t){ sizeof(lib), lib }, &all_kinds, &nlib), 0);
	CHECK_INT(port_encode_table((amqp_bytes_t){ sizeof(ours), ours }, &all_kinds, &nours), 0);
	CHECK(same_bytes(lib, nlib, ours, nours));

	amqp_table_t d;
	size_t at = 0;
	CHECK_INT(port_decode_table((amqp_bytes_t){ nlib, lib }, pool, &d, &at), 0);
	CHECK_INT(at, nlib);
	CHECK(tables_same(&d, &all_kinds));
	CHECK_INT(amqp_encode_table((amqp_bytes_t){ sizeof(again), again }, &d, &nagain), 0);
	CHECK(same_bytes(lib, nlib, again, nagain));
	recycle_amqp_pool(pool);

	/* each truncation of the body, under a size that says so, and under
	 * the whole body's bytes (an entry may run past the size) */
	int alike = 1, smaller = 1;
	for (size_t k = 0; k + 4 <= nlib; k++) {
		char *cut = malloc(4 + k);
		memcpy(cut + 4, lib + 4, k);
		cut[0] = (char)(k >> 24); cut[1] = (char)(k >> 16);
		cut[2] = (char)(k >> 8); cut[3] = (char)k;
		if (!decodes_alike((amqp_bytes_t){ 4 + k, cut }, pool))
			alike = 0, fprintf(stderr, "table: %zu bytes of body decoded otherwise\n", k);
		free(cut);
		char whole[1024];
		memcpy(whole, lib, nlib);
		whole[0] = (char)(k >> 24); whole[1] = (char)(k >> 16);
		whole[2] = (char)(k >> 8); whole[3] = (char)k;
		if (!decodes_alike((amqp_bytes_t){ nlib, whole }, pool))
			alike = 0, fprintf(stderr, "table: size %zu of %zu decoded otherwise\n", k, nlib);
		recycle_amqp_pool(pool);
	}
	CHECK(alike);
	for (size_t n = 0; n < nlib; n++) {
		char *buf = malloc(n ? n : 1);
		size_t off = 0;
		if (port_encode_table((amqp_bytes_t){ n, buf }, &all_kinds, &off) >= 0)
			smaller = 0, fprintf(stderr, "table: encoded into %zu of %zu bytes\n", n, nlib);
		free(buf);
	}
	CHECK(smaller);

	/* an unknown kind, both ways */
	amqp_table_entry_t odd = { amqp_cstring_bytes("k"), { 'Z', { 0 } } };
	amqp_table_t odd_table = { 1, &odd };
	at = 0;
	CHECK_INT(port_encode_table((amqp_bytes_t){ sizeof(ours), ours }, &odd_table, &at),
		  AMQP_STATUS_INVALID_PARAMETER);
	at = 0;
	CHECK_INT(port_decode_table((amqp_bytes_t){ 7, "\0\0\0\3\1kZ" }, pool, &d, &at),
		  AMQP_STATUS_BAD_AMQP_DATA);
	CHECK(decodes_alike((amqp_bytes_t){ 7, "\0\0\0\3\1kZ" }, pool));

	/* nesting: 101 tables decode (values at depth 0 to 100), 102 do not,
	 * as in rabbitmq-c 0.15 (the static builds' library); 0.11 (Debian
	 * 12's, the host build's) has no limit, so is compared up to it */
	static char deep[2048];
	for (int depth = 99; depth <= 103; depth++) {
		size_t n = nested_tables(deep, depth);
		at = 0;
		int rc = port_decode_table((amqp_bytes_t){ n, deep }, pool, &d, &at);
		CHECK_INT(rc < 0, depth > MQ_TABLE_DEPTH_MAX + 1);
		CHECK(rc < 0 || at == n);
		if (depth <= MQ_TABLE_DEPTH_MAX + 1)
			CHECK(decodes_alike((amqp_bytes_t){ n, deep }, pool));
		recycle_amqp_pool(pool);
	}

	/* deep copies */
	amqp_table_t c, clib;
	CHECK_INT(port_table_clone(&all_kinds, &c, pool), 0);
	CHECK(tables_same(&c, &all_kinds));
	CHECK(c.entries != all_kinds.entries && c.entries[12].value.value.bytes.bytes !=
	      all_kinds.entries[12].value.value.bytes.bytes && c.entries[0].key.bytes !=
	      all_kinds.entries[0].key.bytes);
	CHECK(c.entries[16].value.value.table.entries != inner_entries);
	CHECK_INT(amqp_table_clone(&all_kinds, &clib, pool), 0);
	CHECK(tables_same(&c, &clib));
	amqp_table_t none = { 0, NULL };
	CHECK_INT(port_table_clone(&none, &c, pool), 0);
	CHECK_INT(c.num_entries, 0);
	amqp_table_entry_t nokey = { { 0, "" }, { 't', { 0 } } };
	CHECK_INT(port_table_clone(&(amqp_table_t){ 1, &nokey }, &c, pool),
		  AMQP_STATUS_INVALID_PARAMETER);
	CHECK_INT(port_table_clone(&odd_table, &c, pool), AMQP_STATUS_INVALID_PARAMETER);
	recycle_amqp_pool(pool);

	/* lookups and entries made up */
	CHECK(port_get_entry_by_key(&all_kinds, amqp_cstring_bytes("kS")) == &kind_entries[12]);
	CHECK(port_get_entry_by_key(&all_kinds, amqp_cstring_bytes("k")) == NULL);
	CHECK(port_get_entry_by_key(&all_kinds, amqp_cstring_bytes("kSx")) == NULL);
	amqp_table_entry_t u = port_construct_utf8_entry("key", "value");
	CHECK(u.value.kind == 'S' && bytes_same(u.key, amqp_cstring_bytes("key")) &&
	      bytes_same(u.value.value.bytes, amqp_cstring_bytes("value")));
	amqp_table_entry_t b = port_construct_bool_entry("on", 7);
	CHECK(b.value.kind == 't' && b.value.value.boolean == 7);
	amqp_table_entry_t t = port_construct_table_entry("caps", &all_kinds);
	CHECK(t.value.kind == 'F' && t.value.value.table.entries == kind_entries);

	/* written out: {"a": true, "n": 5 (signed 32), "s": "hi"} */
	static const char enc[] = "\0\0\0\x14" "\1at\1" "\1nI\0\0\0\5" "\1sS\0\0\0\2hi";
	amqp_table_entry_t three[3] = {
		{ amqp_cstring_bytes("a"), { 't', { 0 } } },
		{ amqp_cstring_bytes("n"), { 'I', { 0 } } },
		{ amqp_cstring_bytes("s"), { 'S', { 0 } } },
	};
	three[0].value.value.boolean = 1;
	three[1].value.value.i32 = 5;
	three[2].value.value.bytes = amqp_cstring_bytes("hi");
	at = 0;
	CHECK_INT(port_encode_table((amqp_bytes_t){ sizeof(ours), ours },
				    &(amqp_table_t){ 3, three }, &at), 0);
	CHECK(same_bytes(ours, at, enc, sizeof(enc) - 1));
	at = 0;
	CHECK_INT(port_decode_table((amqp_bytes_t){ sizeof(enc) - 1, (void *)enc }, pool, &d, &at), 0);
	CHECK(tables_same(&d, &(amqp_table_t){ 3, three }));
	recycle_amqp_pool(pool);
}

int main(void)
{
	amqp_pool_t pool;
	init_amqp_pool(&pool, 4096);
	entries[0].key = amqp_cstring_bytes("x-queue-type");
	entries[0].value.kind = AMQP_FIELD_KIND_UTF8;
	entries[0].value.value.bytes = amqp_cstring_bytes("quorum");
	entries[1].key = amqp_cstring_bytes("x-delivery-limit");
	entries[1].value.kind = AMQP_FIELD_KIND_I32;
	entries[1].value.value.i32 = 5;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		for (int odd = 0; odd < 2; odd++) {
			check_method(&methods[i], odd, &pool);
			recycle_amqp_pool(&pool);
		}

	check_properties(0, &pool);
	check_properties(AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG |
			 AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG, &pool);
	check_properties(0xfffc, &pool); /* all 14 */
	recycle_amqp_pool(&pool);

	char buf[64];
	void *out;
	amqp_queue_purge_t purge = { 0, amqp_cstring_bytes("q"), 0 };
	CHECK_INT(port_encode_method(AMQP_QUEUE_PURGE_METHOD, &purge, (amqp_bytes_t){ sizeof(buf), buf }),
		  AMQP_STATUS_UNKNOWN_METHOD);
	CHECK_INT(port_decode_method(AMQP_QUEUE_PURGE_METHOD, &pool, (amqp_bytes_t){ 4, "\0\0\1q" },
				     &out), AMQP_STATUS_UNKNOWN_METHOD);
	CHECK_INT(port_decode_properties(AMQP_CHANNEL_CLASS, &pool, (amqp_bytes_t){ 2, "\0\0" }, &out),
		  AMQP_STATUS_UNKNOWN_CLASS);

	check_written_out(&pool);
	check_tables(&pool);
	empty_amqp_pool(&pool);
	return check_report();
}

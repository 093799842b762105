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
#include "port/amqp/framing.c"
#undef amqp_decode_method
#undef amqp_encode_method
#undef amqp_decode_properties
#undef amqp_encode_properties

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
	empty_amqp_pool(&pool);
	return check_report();
}

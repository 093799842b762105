/* test_sha256.c - the streamed SHA-256 against FIPS 180-4 vectors and
 * against mbedTLS over random lengths and random split points. */
#include "check.h"
#include "sha256.h"

#include <stdlib.h>

#include "mbedtls_compat.h"

static const char *hex_of(const void *p, size_t n)
{
	static char out[65];
	sha256_t s;
	sha256_init(&s);
	sha256_update(&s, p, n);
	sha256_hex(&s, out);
	return out;
}

static void reference(const unsigned char *p, size_t n, char out[65])
{
	unsigned char d[32];
	compat_sha256(p, n, d);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

int main(void)
{
	printf("implementation: %s\n", sha256_impl());
	CHECK_STR(hex_of("", 0),
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK_STR(hex_of("abc", 3),
		  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	CHECK_STR(hex_of(two, strlen(two)),
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	static unsigned char buf[200000];
	memset(buf, 'a', sizeof(buf));
	sha256_t s;
	char got[65], want[65];
	sha256_init(&s);
	for (int i = 0; i < 5; i++)
		sha256_update(&s, buf, 200000); /* one million 'a' */
	sha256_hex(&s, got);
	CHECK_STR(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

	srand(42);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rand();
	for (int round = 0; round < 300; round++) {
		size_t n = round < 130 ? (size_t)round : (size_t)rand() % sizeof(buf);
		reference(buf, n, want);
		sha256_init(&s);
		size_t off = 0;
		while (off < n) { /* random pieces, block boundaries crossed */
			size_t k = (size_t)rand() % 200 + 1;
			if (round % 3 == 0)
				k = (size_t)rand() % 70000 + 1;
			if (k > n - off)
				k = n - off;
			sha256_update(&s, buf + off, k);
			off += k;
		}
		sha256_hex(&s, got);
		if (strcmp(got, want))
			fprintf(stderr, "  length %zu differs\n", n);
		CHECK_STR(got, want);
	}
	return check_report();
}

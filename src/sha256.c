/*
 * sha256.c - SHA-256 (FIPS 180-4), streamed; see sha256.h.
 *
 * The x86 path keeps the state as the SHA extensions want it (two registers
 * holding ABEF and CDGH), runs four rounds per pair of sha256rnds2, and
 * extends the message schedule with sha256msg1/sha256msg2. Padding and
 * buffering are ours. Checked against mbedTLS in tests/unit/test_sha256.c.
 */
#include "sha256.h"

#include <string.h>

#include "mbedtls_compat.h"

_Static_assert(sizeof(mbedtls_sha256_context) <= sizeof(((sha256_t *)0)->mbed),
	       "sha256_t too small for this mbedTLS");

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_X86_SHA 1
#include <cpuid.h>
#include <immintrin.h>

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

/* Four rounds with message words w (W[i..i+3]) and constants K[i..i+3]. */
#define ROUNDS4(w, i)                                                          \
	do {                                                                   \
		__m128i k_ = _mm_add_epi32((w), _mm_loadu_si128((const __m128i *)&K[i])); \
		s1 = _mm_sha256rnds2_epu32(s1, s0, k_);                        \
		s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(k_, 0x0E)); \
	} while (0)
/* The schedule for group g (words 4g..4g+3) in four registers, slot g % 4:
 * wg arrives holding msg1(W[g-4], W[g-3]) (s0 of W[t-15], plus W[t-16]),
 * computed two groups early so that it is off the rounds' path; adding
 * W[t-7] and s1(W[t-2]) makes W[g]. */
#define SCHEDULE(wg, w1, w2) \
	(wg) = _mm_sha256msg2_epu32(_mm_add_epi32((wg), _mm_alignr_epi8((w1), (w2), 4)), (w1))
/* Group g >= 4: W[g] from slots (g, g-1, g-2), then msg1 for group g+2
 * into slot g-2 (W[g-2] is not needed after this), then the rounds. */
#define GROUP(wg, w1, w2, i)                                                   \
	do {                                                                   \
		SCHEDULE(wg, w1, w2);                                          \
		(w2) = _mm_sha256msg1_epu32((w2), (w1));                       \
		ROUNDS4(wg, i);                                                \
	} while (0)

/* Compresses n 64-byte blocks at p into h. */
__attribute__((target("sha,sse4.1,ssse3")))
static void x86_blocks(uint32_t h[8], const unsigned char *p, size_t n)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i t = _mm_loadu_si128((const __m128i *)&h[0]); /* a b c d */
	__m128i s1 = _mm_loadu_si128((const __m128i *)&h[4]); /* e f g h */
	t = _mm_shuffle_epi32(t, 0xB1);                 /* b a d c */
	s1 = _mm_shuffle_epi32(s1, 0x1B);               /* h g f e */
	__m128i s0 = _mm_alignr_epi8(t, s1, 8);         /* ABEF */
	s1 = _mm_blend_epi16(s1, t, 0xF0);              /* CDGH */
	for (; n > 0; n--, p += 64) {
		__m128i save0 = s0, save1 = s1;
		__m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), bswap);
		__m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
		__m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
		__m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);
		ROUNDS4(m0, 0);
		ROUNDS4(m1, 4);
		m0 = _mm_sha256msg1_epu32(m0, m1);      /* for group 4 */
		ROUNDS4(m2, 8);
		m1 = _mm_sha256msg1_epu32(m1, m2);      /* for group 5 */
		ROUNDS4(m3, 12);
		GROUP(m0, m3, m2, 16);  /* g 4 */
		GROUP(m1, m0, m3, 20);
		GROUP(m2, m1, m0, 24);
		GROUP(m3, m2, m1, 28);
		GROUP(m0, m3, m2, 32);  /* g 8 */
		GROUP(m1, m0, m3, 36);
		GROUP(m2, m1, m0, 40);
		GROUP(m3, m2, m1, 44);
		GROUP(m0, m3, m2, 48);  /* g 12 */
		GROUP(m1, m0, m3, 52);
		SCHEDULE(m2, m1, m0);   /* g 14, 15: no group after them */
		ROUNDS4(m2, 56);
		SCHEDULE(m3, m2, m1);
		ROUNDS4(m3, 60);
		s0 = _mm_add_epi32(s0, save0);
		s1 = _mm_add_epi32(s1, save1);
	}
	t = _mm_shuffle_epi32(s0, 0x1B);                /* F E B A */
	s1 = _mm_shuffle_epi32(s1, 0xB1);               /* D C H G */
	s0 = _mm_blend_epi16(t, s1, 0xF0);              /* D C B A -> a b c d */
	s1 = _mm_alignr_epi8(s1, t, 8);                 /* h g f e -> e f g h */
	_mm_storeu_si128((__m128i *)&h[0], s0);
	_mm_storeu_si128((__m128i *)&h[4], s1);
}

static int x86_has_sha(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3))
		return 0;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return (b & bit_SHA) != 0;
}
#endif

/* -1 unknown, 0 mbedTLS, 1 SHA extensions. */
static int impl = -1;

static int use_hw(void)
{
	if (impl < 0) {
#ifdef HAVE_X86_SHA
		impl = x86_has_sha();
#else
		impl = 0;
#endif
	}
	return impl;
}

const char *sha256_impl(void) { return use_hw() ? "x86 SHA extensions" : "mbedTLS"; }

void sha256_init(sha256_t *s)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	s->hw = use_hw();
	s->bytes = 0;
	s->fill = 0;
	memcpy(s->h, iv, sizeof(iv));
	if (!s->hw) {
		mbedtls_sha256_context *c = (mbedtls_sha256_context *)s->mbed;
		mbedtls_sha256_init(c);
		COMPAT_SHA256_STARTS(c);
	}
}

#ifdef HAVE_X86_SHA
static void hw_update(sha256_t *s, const unsigned char *p, size_t n)
{
	s->bytes += n;
	if (s->fill) {
		size_t take = 64 - s->fill < n ? 64 - s->fill : n;
		memcpy(s->block + s->fill, p, take);
		s->fill += take;
		p += take;
		n -= take;
		if (s->fill < 64)
			return;
		x86_blocks(s->h, s->block, 1);
		s->fill = 0;
	}
	if (n >= 64) {
		x86_blocks(s->h, p, n / 64);
		p += n / 64 * 64;
		n %= 64;
	}
	memcpy(s->block, p, n);
	s->fill = n;
}
#endif

void sha256_update(sha256_t *s, const void *p, size_t n)
{
#ifdef HAVE_X86_SHA
	if (s->hw) {
		hw_update(s, p, n);
		return;
	}
#endif
	COMPAT_SHA256_UPDATE((mbedtls_sha256_context *)s->mbed, p, n);
}

void sha256_hex(sha256_t *s, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[32];
#ifdef HAVE_X86_SHA
	if (s->hw) {
		uint64_t bits = s->bytes * 8;
		unsigned char pad[72] = { 0x80 };
		size_t padlen = (s->fill < 56 ? 56 : 120) - s->fill;
		for (int i = 0; i < 8; i++)
			pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
		hw_update(s, pad, padlen + 8);
		for (int i = 0; i < 8; i++) {
			d[4 * i] = (unsigned char)(s->h[i] >> 24);
			d[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
			d[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
			d[4 * i + 3] = (unsigned char)s->h[i];
		}
	} else
#endif
	{
		mbedtls_sha256_context *c = (mbedtls_sha256_context *)s->mbed;
		COMPAT_SHA256_FINISH(c, d);
		mbedtls_sha256_free(c);
	}
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
}

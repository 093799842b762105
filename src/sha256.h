/*
 * sha256 - SHA-256 of downloads, streamed. mbedTLS computes it, except on
 * x86-64 CPUs with the SHA extensions (Intel since Goldmont/Ice Lake, AMD
 * since Zen), where the compression function runs on them: about 5x faster
 * here (~1.7 GB/s against mbedTLS's ~0.34 GB/s), which is the difference
 * between hashing being most of a download's CPU time and a small part of
 * it (tests/bench/bench_worker.sh). mbedTLS 3.6 already uses the ARMv8
 * SHA-2 instructions when built with MBEDTLS_SHA256_USE_A64_CRYPTO_IF_PRESENT.
 */
#ifndef WARREN_SHA256_H
#define WARREN_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint32_t h[8];
	uint64_t bytes;          /* message length so far */
	unsigned char block[64]; /* a partial block */
	size_t fill;
	int hw;                  /* the SHA extensions are in use */
	uint64_t mbed[32];       /* mbedTLS context when not hw */
} sha256_t;

/* Starts a digest; chooses the implementation once per process. */
void sha256_init(sha256_t *s);
void sha256_update(sha256_t *s, const void *p, size_t n);
/* Finishes: 64 lowercase hex characters and a NUL. */
void sha256_hex(sha256_t *s, char out[65]);
/* "x86 SHA extensions" or "mbedTLS", for the log. */
const char *sha256_impl(void);

#endif

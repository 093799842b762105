/*
 * mbedtls_compat.h - the differences between mbedTLS 2.28 and 3.x that
 * warren meets, here and nowhere else (tls.c, ws.c, sha256.c and the unit
 * tests include it instead of testing MBEDTLS_VERSION_NUMBER themselves).
 *
 * Static inline only: a program pays for what it calls. Tests of mbedTLS's
 * build configuration (a TLS 1.3 suite compiled in, MBEDTLS_X509_REMOVE_INFO)
 * are not version differences and stay where they are used.
 */
#ifndef WARREN_MBEDTLS_COMPAT_H
#define WARREN_MBEDTLS_COMPAT_H

#include <limits.h>

#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#include <psa/crypto.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/* The hashes: 2.28 names the functions that return an error *_ret (its
 * plain names return void); 3.x has only those names, returning int. */
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define COMPAT_RET(name) name
#else
#define COMPAT_RET(name) name##_ret
#endif

/* One-shot SHA-256. 0 on success. */
static inline int compat_sha256(const unsigned char *in, size_t len,
				unsigned char out[32])
{
	return COMPAT_RET(mbedtls_sha256)(in, len, out, 0);
}
/* Streaming SHA-256 over an mbedtls_sha256_context. 0 on success. */
#define COMPAT_SHA256_STARTS(c) COMPAT_RET(mbedtls_sha256_starts)((c), 0)
#define COMPAT_SHA256_UPDATE(c, p, n) COMPAT_RET(mbedtls_sha256_update)((c), (p), (n))
#define COMPAT_SHA256_FINISH(c, d) COMPAT_RET(mbedtls_sha256_finish)((c), (d))

#if MBEDTLS_VERSION_NUMBER >= 0x03000000

/* TLS 1.3 key exchange goes through PSA; 3.x defaults to TLS 1.2 minimum.
 * 0 on success. */
static inline int compat_tls_init(mbedtls_ssl_config *conf)
{
	(void)conf;
	return psa_crypto_init() == PSA_SUCCESS ? 0 : -1;
}
/* 3.x accelerates AES-GCM with AES-NI / ARMv8 crypto when present.
 * CPUID itself, not __builtin_cpu_supports(): that links libgcc's CPU
 * model table and its constructor, 5.5 KB of a static worker. */
static inline int compat_aes_is_fast(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;
	return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_AES);
#elif defined(__aarch64__) && defined(__linux__) && defined(HWCAP_AES)
	return (getauxval(AT_HWCAP) & HWCAP_AES) != 0;
#else
	return 0;
#endif
}

#else /* 2.28 */

static inline int compat_tls_init(mbedtls_ssl_config *conf)
{
	/* 2.28 still enables TLS 1.0 and 1.1 by default. */
	mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
				     MBEDTLS_SSL_MINOR_VERSION_3);
	return 0;
}
/* 2.28's GCM is slower than its ChaCha20 even with AES-NI (measured). */
static inline int compat_aes_is_fast(void) { return 0; }

#endif

/* mbedtls_ssl_read's answer to a TLS 1.3 session ticket (3.x only). */
#ifdef MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET
#define COMPAT_TLS13_NEW_TICKET MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET
#else
#define COMPAT_TLS13_NEW_TICKET INT_MIN /* never returned by mbedtls_ssl_read */
#endif

#endif /* WARREN_MBEDTLS_COMPAT_H */

/*
 * port/mbedtls/warren-config.h - the mbedTLS 3.6 configuration of warren's
 * static and cross builds (MBEDTLS_CONFIG_FILE; port/deps-src.sh installs
 * it as the sysroot's mbedtls_config.h, so programs see the structure
 * layouts the library was built with).
 *
 * What the worker needs and nothing else: a TLS 1.3 and 1.2 CLIENT that
 * verifies X.509 chains (RSA and ECDSA, with dates) against a PEM bundle,
 * sends SNI, and speaks ECDHE over x25519, P-256 and P-384 with AES-GCM or
 * ChaCha20-Poly1305. The middleman borrows SHA-1 and base64 (WebSocket
 * accept key). No server side, no DTLS, no CBC, no renegotiation, no debug
 * or error strings.
 *
 * Sizes are what each choice adds to the stripped x86_64 musl worker
 * (-Os, --gc-sections, LTO as port/embedded.mk builds it), measured by
 * toggling it alone with port/mbedtls/measure.sh; "needed" marks what the
 * rest cannot build or interoperate without. ARM Thumb-2 is about 0.7 of
 * it.
 * Host builds (Debian's libmbedtls 2.28) do not read this file.
 */
#ifndef WARREN_MBEDTLS_CONFIG_H
#define WARREN_MBEDTLS_CONFIG_H

/* ---- platform ------------------------------------------------------------ */

/* Inline assembly for bignum multiply (and what AES-NI needs): faster
 * RSA/ECC. With MBEDTLS_AESNI_C: 0.9 KB. */
#define MBEDTLS_HAVE_ASM
/* time() for sessions and X.509 dates. needed */
#define MBEDTLS_HAVE_TIME
/* gmtime_r for certificate validity dates (expired/not-yet-valid); 0.4 KB
 * (the worker links gmtime_r anyway). needed */
#define MBEDTLS_HAVE_TIME_DATE
/* Not MBEDTLS_FS_IO: tls.c reads --ca-file itself and hands it to
 * mbedtls_x509_crt_parse(); mbedTLS's loader would link fopen, fseek and
 * the rest of stdio's file functions: 0.4 KB (port/mbedtls/measure.sh
 * "fs_io" adds the option back alone: +0.1 KB, nothing calls it). */
/* Random bytes straight from the kernel: getrandom(2), /dev/urandom
 * before Linux 3.17 (os_random, port/os.c), for PSA through
 * port/mbedtls/random.c and for the handshakes through tls.c; not
 * MBEDTLS_ENTROPY_C and MBEDTLS_CTR_DRBG_C (a DRBG over an entropy
 * collector reading the same kernel source; its /dev/urandom fallback
 * links fopen and stdio): 4.6 KB. needed */
#define MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG
/* mbedtls_strerror() stays but writes an empty string: no string table
 * (MBEDTLS_ERROR_C would add 16.3 KB). The worker names the failures it
 * can tell apart itself. */
#define MBEDTLS_ERROR_STRERROR_DUMMY

/* ---- big numbers and public keys ----------------------------------------- */

#define MBEDTLS_BIGNUM_C
/* RSA signatures in certificates (PKCS#1 v1.5) and TLS 1.3 CertificateVerify
 * (RSA-PSS, v2.1; 4.2 KB with MBEDTLS_X509_RSASSA_PSS_SUPPORT): most of the
 * web still has RSA keys. needed */
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21
/* The RSA private-key operation without the Chinese Remainder Theorem:
 * the worker verifies and never signs or decrypts (no client
 * certificates), but pk_wrap.c's tables link the operation anyway; without
 * CRT it is 2.1 KB smaller and an RSA context holds three numbers fewer. */
#define MBEDTLS_RSA_NO_CRT
/* Largest RSA modulus in bytes: 4096-bit keys. */
#define MBEDTLS_MPI_MAX_SIZE 512
/* Small windows: RSA verification uses e = 65537 anyway; saves RAM. */
#define MBEDTLS_MPI_WINDOW_SIZE 2

/* Elliptic curves: ECDHE key exchange and ECDSA certificates. */
#define MBEDTLS_ECP_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
/* The three groups servers offer: x25519 first (3.8 KB), P-256 (1.9 KB
 * beyond the others), P-384 (2.5 KB; many CA chains sign with P-384).
 * Each with its PSA_WANT_ECC_* below. */
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
/* Fast reduction for the NIST curves: several times quicker P-256/P-384
 * ECDHE and ECDSA verification on a slow router CPU; 3.1 KB. */
#define MBEDTLS_ECP_NIST_OPTIM
/* Smaller comb window and no precomputed tables: less RAM per handshake. */
#define MBEDTLS_ECP_WINDOW_SIZE 2
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0

#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_ASN1_PARSE_C
/* DER encoding of ECDSA signatures (PSA gives raw r||s). needed */
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C

/* ---- hashes, MACs, KDFs -------------------------------------------------- */

#define MBEDTLS_MD_C
/* Not SHA-1: TLS here never uses it (no CBC suites, and the default X.509
 * profile refuses SHA-1 signatures), and the middleman's
 * Sec-WebSocket-Accept has its own (src/ws.c); the worker 5.8 KB, the
 * middleman 4.7 KB. */
/* SHA-256: TLS_*_SHA256 and most signatures. needed. Not SHA-224 (its
 * module's other half): no TLS 1.2/1.3 suite or signature scheme we offer
 * uses it, and the default X.509 profile refuses SHA-224 signatures
 * anyway; 0.8 KB. */
#define MBEDTLS_SHA256_C
/* SHA-384 (TLS_AES_256_GCM_SHA384, ECDSA-P384 signatures); built on the
 * SHA-512 core. */
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C
/* Rolled-up loops instead of unrolled ones: slower, 2.2 KB (SHA-256) and
 * 0.8 KB (SHA-512/384) smaller. */
#define MBEDTLS_SHA256_SMALLER
#define MBEDTLS_SHA512_SMALLER
/* HKDF: the TLS 1.3 key schedule. needed */
#define MBEDTLS_HKDF_C

/* ---- ciphers ------------------------------------------------------------- */

#define MBEDTLS_CIPHER_C
/* AES (128 and 256) in GCM: the ciphersuite everyone offers. needed */
#define MBEDTLS_AES_C
#define MBEDTLS_GCM_C
/* One AES table of four, computed at first use (~2.5 KB of RAM): not
 * MBEDTLS_AES_ROM_TABLES, whose constant tables cost 2.2 KB of flash (all
 * four computed would take 6 KB more RAM for 0.3 KB less code). Not
 * MBEDTLS_BLOCK_CIPHER_NO_DECRYPT (GCM only encrypts: ~2 KB less) either:
 * in mbedTLS 3.6.x its AES-NI assembly then jumps to a label it left out,
 * which the LTO build refuses to assemble. */
#define MBEDTLS_AES_FEWER_TABLES
/* AES-NI and PCLMULQDQ on x86-64 when the CPU has them (detected at run
 * time): GCM at GB/s; 1.2 KB. Ignored on other architectures. */
#define MBEDTLS_AESNI_C
/* Armv8 Crypto Extensions on aarch64 when present (run-time detected). */
#define MBEDTLS_AESCE_C
/* ChaCha20-Poly1305: the fast suite on CPUs without AES instructions
 * (most MIPS and ARMv7 routers); 4.0 KB (with its PSA_WANT_* below). */
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C

/* ---- PSA crypto ---------------------------------------------------------- */

/* mbedTLS 3.6 implements TLS 1.3 on the PSA API only: the worker calls
 * psa_crypto_init() before its first handshake. MBEDTLS_USE_PSA_CRYPTO
 * (X.509 and TLS 1.2 through PSA too) would need the PSA set below widened
 * to RSA and ECDSA, and added 10 KB before that set was trimmed.
 * needed (TLS 1.3) */
#define MBEDTLS_PSA_CRYPTO_C
/* The PSA algorithm set is ours, not derived from the legacy options
 * (which would add RSA encryption, signing and key import, ECDSA, AES-ECB,
 * the TLS 1.2 PRF, ... through the PSA dispatch tables): only what the
 * TLS 1.3 client calls, 3.7 KB less. The PSA_WANT_* below are that set;
 * the file mbedTLS reads for it only has to exist (build_info.h, being read
 * already, adds nothing a second time). The hashes built in above are PSA
 * hashes too (mbedTLS adds their PSA_WANT_ALG_SHA_* itself). */
#define MBEDTLS_PSA_CRYPTO_CONFIG
#define MBEDTLS_PSA_CRYPTO_CONFIG_FILE <mbedtls/build_info.h>
/* TLS 1.3 key schedule: HKDF on HMAC. */
#define PSA_WANT_ALG_HMAC 1
#define PSA_WANT_KEY_TYPE_HMAC 1
#define PSA_WANT_ALG_HKDF_EXTRACT 1
#define PSA_WANT_ALG_HKDF_EXPAND 1
/* TLS 1.3 (EC)DHE: an ephemeral key generated, its public half exported,
 * the server's imported, on the three groups above. */
#define PSA_WANT_ALG_ECDH 1
#define PSA_WANT_ECC_MONTGOMERY_255 1
#define PSA_WANT_ECC_SECP_R1_256 1
#define PSA_WANT_ECC_SECP_R1_384 1
#define PSA_WANT_KEY_TYPE_ECC_PUBLIC_KEY 1
#define PSA_WANT_KEY_TYPE_ECC_KEY_PAIR_BASIC 1
#define PSA_WANT_KEY_TYPE_ECC_KEY_PAIR_IMPORT 1
#define PSA_WANT_KEY_TYPE_ECC_KEY_PAIR_EXPORT 1
#define PSA_WANT_KEY_TYPE_ECC_KEY_PAIR_GENERATE 1
/* The record ciphers, should TLS ask PSA for them. */
#define PSA_WANT_ALG_GCM 1
#define PSA_WANT_ALG_CHACHA20_POLY1305 1
#define PSA_WANT_KEY_TYPE_AES 1
#define PSA_WANT_KEY_TYPE_CHACHA20 1

/* ---- X.509 --------------------------------------------------------------- */

#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
/* PEM CA bundles (Debian's ca-certificates.crt). needed */
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_BASE64_C
/* RSASSA-PSS signatures: TLS 1.3 servers with RSA keys sign the handshake
 * with rsa_pss_rsae_* only; without this the client offers no such scheme
 * and nginx answers handshake_failure. 1.4 KB. needed (TLS 1.3) */
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT
/* No texts for certificates and OIDs (mbedtls_x509_crt_info(), the
 * description of each OID, mbedtls_x509_crt_verify_info()): src/tls.c
 * words a rejected certificate itself from the header's list of
 * verification texts; 1.5 KB. */
#define MBEDTLS_X509_REMOVE_INFO
/* Certificates a chain may hold, and the verification depth. */
#define MBEDTLS_X509_MAX_INTERMEDIATE_CA 8

/* ---- TLS ----------------------------------------------------------------- */

#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
/* TLS 1.2 (with its two key exchanges below): 10.3 KB. TLS 1.3 (with
 * HKDF and the PSA key exchange): 28.0 KB, 32.2 KB with RSA-PSS. */
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
/* TLS 1.3 with (EC)DHE, the only mode a client without PSKs uses. */
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
/* Dummy ChangeCipherSpec records: TLS 1.3 through middleboxes that only
 * know 1.2 (RFC 8446 D.4); 0.2 KB. */
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE
/* TLS 1.3 keeps the peer's certificate (the only implementation). needed */
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
/* TLS 1.2: forward-secret ECDHE with RSA or ECDSA certificates only; no
 * static RSA, no DHE (finite-field DH would add ~6 KB and slow handshakes). */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
/* Extended master secret (RFC 7627): servers may insist on it; 0.2 KB. */
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
/* SNI: one IP, many HTTPS sites; 0.3 KB. needed */
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
/* Record buffers: a server may send full 16 KB records (no
 * max_fragment_length here), but our requests are small. RAM only. */
#define MBEDTLS_SSL_IN_CONTENT_LEN 16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096

/* Left out, each on purpose: MBEDTLS_SSL_SRV_C (server),
 * MBEDTLS_SSL_PROTO_DTLS, MBEDTLS_CIPHER_MODE_CBC (and so
 * MBEDTLS_SSL_ENCRYPT_THEN_MAC), MBEDTLS_SSL_RENEGOTIATION,
 * MBEDTLS_SSL_SESSION_TICKETS (2.0 KB; a TLS 1.3 NewSessionTicket is then
 * ignored), MBEDTLS_SSL_ALPN, MBEDTLS_DEBUG_C, MBEDTLS_ERROR_C (16.3 KB),
 * MBEDTLS_VERSION_FEATURES, MBEDTLS_SELF_TEST, MBEDTLS_MD5_C, MBEDTLS_DHM_C,
 * MBEDTLS_CCM_C, MBEDTLS_X509_CRL_PARSE_C, MBEDTLS_NET_C (the worker has its
 * own sockets), MBEDTLS_PLATFORM_C (plain calloc/free),
 * MBEDTLS_ECDSA_DETERMINISTIC (a client without a certificate never signs),
 * MBEDTLS_USE_PSA_CRYPTO (see above), MBEDTLS_SHA224_C (see above). */

#endif /* WARREN_MBEDTLS_CONFIG_H */

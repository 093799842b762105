/*
 * tls - TLS client connections on mbedTLS in non-blocking mode (SNI,
 * certificate chain and host-name verification, errors worded for a person).
 *
 * Builds against mbedTLS 2.28 and 3.6; the differences between them live in
 * mbedtls_compat.h and nowhere else.
 *
 * One tls_config per process holds the CA bundle (parsed once), the random
 * generator and the cipher-suite order; connections share it.
 */
#ifndef WARREN_TLS_H
#define WARREN_TLS_H

#include <stddef.h>
#include <sys/types.h>

typedef struct tls_config tls_config_t;
typedef struct tls_conn tls_conn_t;

enum {
	TLS_WANT_READ = -2,  /* call again when the socket is readable */
	TLS_WANT_WRITE = -3, /* call again when the socket is writable */
	TLS_ERROR = -1       /* failed: tls_error() says why */
};

/*
 * Loads ca_file (PEM bundle), seeds the random generator and sets the
 * cipher-suite order (fastest here first, see tls.c). NULL on failure with
 * a reason in err. Blocking (reads the file).
 */
tls_config_t *tls_config_new(const char *ca_file, char *err, size_t errlen);
void tls_config_free(tls_config_t *cfg);
/* The suite offered first, for logs ("TLS-ECDHE-RSA-WITH-CHACHA20-..."). */
const char *tls_config_first_suite(const tls_config_t *cfg);

/*
 * A client connection over the connected non-blocking socket fd (not owned:
 * the caller closes it after tls_conn_free). host is the URL's host: sent as
 * SNI and checked against the certificate (as a DNS name, or against the
 * IP address entries when it is an address). NULL on ENOMEM.
 */
tls_conn_t *tls_conn_new(tls_config_t *cfg, int fd, const char *host);
void tls_conn_free(tls_conn_t *c);

/* Advances the handshake: 0 when complete, TLS_WANT_*, or TLS_ERROR. */
int tls_handshake(tls_conn_t *c);
/* Reads plaintext: > 0 bytes, 0 at the peer's close (close_notify or EOF),
 * TLS_WANT_*, or TLS_ERROR. */
ssize_t tls_read(tls_conn_t *c, void *buf, size_t len);
/* Writes plaintext: > 0 bytes taken, TLS_WANT_*, or TLS_ERROR. */
ssize_t tls_write(tls_conn_t *c, const void *buf, size_t len);
/* Bytes buffered in the connection, decrypted or not: a read can make
 * progress without the socket becoming readable. */
size_t tls_pending(const tls_conn_t *c);
/* Why the last call failed, for a person ("certificate has expired"). */
const char *tls_error(const tls_conn_t *c);
/* 1 when the failure was certificate verification (a permanent error). */
int tls_error_is_verify(const tls_conn_t *c);
/* The negotiated suite and version after the handshake, for logs. */
const char *tls_suite(const tls_conn_t *c);
const char *tls_version(const tls_conn_t *c);

#endif

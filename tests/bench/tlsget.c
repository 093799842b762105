/*
 * tlsget - the benchmark's reference HTTPS client: a blocking mbedTLS read
 * loop with one cipher suite forced, writing what it reads to a file (head
 * skipped), no hashing. Built against the system's mbedTLS 2.28, and
 * against the static builds' mbedTLS 3.6 (port/mbedtls/warren-config.h,
 * which has no net_sockets: plain sockets here) as the reference of the
 * static worker: the same library, flags and configuration. Prints the
 * suite it negotiated on stderr.
 *
 *   tlsget [--fsync] [--sha256] HOST PORT PATH OUTFILE CAFILE
 *          chacha|aesgcm|tls13-chacha|tls13-aesgcm
 * (TLS 1.2 ECDHE-RSA suites; the tls13 ones need mbedTLS 3.x)
 *
 * As rawget's, the options make it the honest reference of a worker that
 * syncs and hashes: --fsync makes the file durable before exiting,
 * --sha256 hashes the body in the read loop with warren's sha256.c
 * (serially, on this one CPU; the worker's hasher runs on another) and
 * prints the digest.
 */
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "os.h"
#include "sha256.h"

#include <mbedtls/ssl.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#include <psa/crypto.h>
#endif

#define BUF (256 * 1024)

static int sock_send(void *ctx, const unsigned char *b, size_t n)
{
	ssize_t r = send(*(int *)ctx, b, n, MSG_NOSIGNAL);
	return r < 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR : (int)r;
}

static int sock_recv(void *ctx, unsigned char *b, size_t n)
{
	ssize_t r = recv(*(int *)ctx, b, n, 0);
	return r < 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR : (int)r;
}

static int dial(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	if (getaddrinfo(host, port, &hints, &ai))
		return -1;
	int fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* Random bytes from the kernel, as the worker's tls.c takes them. */
static int kernel_random(void *unused, unsigned char *out, size_t n)
{
	(void)unused;
	return os_random(out, n);
}

/* The CA file read whole and parsed, as the worker's tls.c does it (the
 * static builds' mbedTLS has no file functions). */
static int load_ca(mbedtls_x509_crt *ca, const char *path)
{
	FILE *f = fopen(path, "rb");
	static unsigned char data[8 << 20];
	size_t n = f ? fread(data, 1, sizeof(data) - 1, f) : 0;
	if (f)
		fclose(f);
	if (!n)
		return -1;
	data[n] = 0;
	if (strstr((const char *)data, "-----BEGIN "))
		n++;
	return mbedtls_x509_crt_parse(ca, data, n);
}

int main(int argc, char **argv)
{
	int do_sync = 0, do_hash = 0;
	for (; argc > 1 && argv[1][0] == '-'; argc--, argv++) {
		if (!strcmp(argv[1], "--fsync"))
			do_sync = 1;
		else if (!strcmp(argv[1], "--sha256"))
			do_hash = 1;
		else
			break;
	}
	if (argc != 7) {
		fprintf(stderr, "usage: tlsget [--fsync] [--sha256] HOST PORT PATH "
			"OUTFILE CAFILE chacha|aesgcm|tls13-chacha|tls13-aesgcm\n");
		return 2;
	}
	static int suites[2];
	suites[0] = !strcmp(argv[6], "chacha")
		? MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
		: MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	if (psa_crypto_init() != PSA_SUCCESS)
		return 1;
	if (!strcmp(argv[6], "tls13-chacha"))
		suites[0] = MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256;
	if (!strcmp(argv[6], "tls13-aesgcm"))
		suites[0] = MBEDTLS_TLS1_3_AES_128_GCM_SHA256;
#endif
	int net = -1;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	mbedtls_ssl_init(&ssl);
	mbedtls_ssl_config_init(&conf);
	mbedtls_x509_crt_init(&ca);
	if (load_ca(&ca, argv[5]) < 0 ||
	    (net = dial(argv[1], argv[2])) < 0 ||
	    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT,
					MBEDTLS_SSL_TRANSPORT_STREAM,
					MBEDTLS_SSL_PRESET_DEFAULT)) {
		fprintf(stderr, "tlsget: setup failed\n");
		return 1;
	}
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
	mbedtls_ssl_conf_rng(&conf, kernel_random, NULL);
	mbedtls_ssl_conf_ciphersuites(&conf, suites);
	if (mbedtls_ssl_setup(&ssl, &conf) || mbedtls_ssl_set_hostname(&ssl, argv[1]))
		return 1;
	mbedtls_ssl_set_bio(&ssl, &net, sock_send, sock_recv, NULL);
	int rc;
	while ((rc = mbedtls_ssl_handshake(&ssl)) != 0) {
		if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE) {
			fprintf(stderr, "tlsget: handshake -0x%x\n", (unsigned)-rc);
			return 1;
		}
	}
	char *buf = malloc(BUF);
	int n = snprintf(buf, BUF, "GET %s HTTP/1.1\r\nHost: %s:%s\r\n"
			 "Connection: close\r\n\r\n", argv[3], argv[1], argv[2]);
	if (mbedtls_ssl_write(&ssl, (unsigned char *)buf, (size_t)n) != n)
		return 1;
	int out = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0)
		return 1;
	sha256_t sha;
	if (do_hash)
		sha256_init(&sha);
	size_t have = 0;
	int in_body = 0;
	for (;;) {
		size_t off = in_body ? 0 : have;
		int r = mbedtls_ssl_read(&ssl, (unsigned char *)buf + off, BUF - off);
		if (r <= 0)
			break;
		char *p = buf;
		size_t len = (size_t)r;
		if (!in_body) {
			have += (size_t)r;
			char *end = memmem(buf, have, "\r\n\r\n", 4);
			if (!end)
				continue;
			in_body = 1;
			p = end + 4;
			len = have - (size_t)(p - buf);
		}
		if (len && write(out, p, len) != (ssize_t)len)
			return 1;
		if (do_hash)
			sha256_update(&sha, p, len);
	}
	if (do_sync && fsync(out) < 0) {
		perror("fsync");
		return 1;
	}
	close(out);
	fprintf(stderr, "tlsget: %s\n", mbedtls_ssl_get_ciphersuite(&ssl));
	if (do_hash) {
		char hex[65];
		sha256_hex(&sha, hex);
		printf("%s\n", hex);
	}
	return in_body ? 0 : 1;
}

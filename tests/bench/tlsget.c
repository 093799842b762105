/*
 * tlsget - the benchmark's reference HTTPS client: a blocking mbedTLS read
 * loop with one cipher suite forced, writing what it reads to a file (head
 * skipped), no hashing. Built against the system's mbedTLS 2.28.
 *
 *   tlsget HOST PORT PATH OUTFILE CAFILE chacha|aesgcm
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

#define BUF (256 * 1024)

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: tlsget HOST PORT PATH OUTFILE CAFILE chacha|aesgcm\n");
		return 2;
	}
	static int suites[2];
	suites[0] = !strcmp(argv[6], "chacha")
		? MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
		: MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256;
	mbedtls_net_context net;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_net_init(&net);
	mbedtls_ssl_init(&ssl);
	mbedtls_ssl_config_init(&conf);
	mbedtls_x509_crt_init(&ca);
	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0) ||
	    mbedtls_x509_crt_parse_file(&ca, argv[5]) < 0 ||
	    mbedtls_net_connect(&net, argv[1], argv[2], MBEDTLS_NET_PROTO_TCP) ||
	    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT,
					MBEDTLS_SSL_TRANSPORT_STREAM,
					MBEDTLS_SSL_PRESET_DEFAULT)) {
		fprintf(stderr, "tlsget: setup failed\n");
		return 1;
	}
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ssl_conf_ciphersuites(&conf, suites);
	if (mbedtls_ssl_setup(&ssl, &conf) || mbedtls_ssl_set_hostname(&ssl, argv[1]))
		return 1;
	mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
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
	}
	close(out);
	fprintf(stderr, "tlsget: %s\n", mbedtls_ssl_get_ciphersuite(&ssl));
	return in_body ? 0 : 1;
}

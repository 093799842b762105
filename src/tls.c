/*
 * tls.c - mbedTLS client connections; see tls.h.
 *
 * Cipher-suite order: the suite offered first is the one that decrypts
 * fastest here. mbedTLS 2.28 runs ChaCha20-Poly1305 about 1.5x faster than
 * AES-128-GCM even on a CPU with AES-NI (tests/bench/bench_worker.sh
 * measures both), and far faster on ARM boards without AES instructions, so
 * ChaCha20 goes first. mbedTLS 3.x uses AES instructions for GCM (AES-NI,
 * ARMv8 crypto): there AES-GCM goes first when the CPU has them.
 */
#include "tls.h"
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/x509_crt.h>

#include "mbedtls_compat.h"
#include "os.h"


struct tls_config {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	int *suites; /* our order, 0-terminated */
};

struct tls_conn {
	mbedtls_ssl_context ssl;
	int fd;
	/* Read-ahead: mbedTLS asks for a record's 5-byte header, then its
	 * body, two read()s per 16 KiB; one read() here takes several records. */
	unsigned char *ra;
	size_t ra_pos, ra_len;
	int ip_host;            /* host is an address: check IP SANs ourselves */
	unsigned char ip[16];
	size_t iplen;
	int verify_failed;
	char err[160];
};

/* ---- configuration -------------------------------------------------------- */

static void append_suite(int *list, size_t *n, int id)
{
	for (size_t i = 0; i < *n; i++)
		if (list[i] == id)
			return;
	if (mbedtls_ssl_ciphersuite_from_id(id))
		list[(*n)++] = id;
}

/* Our preferred suites first, then every other suite the library offers. */
static int *make_suites(void)
{
	static const int chacha[] = {
#ifdef MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256
		MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
#endif
		MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, 0
	};
	static const int aesgcm[] = {
#ifdef MBEDTLS_TLS1_3_AES_128_GCM_SHA256
		MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
#endif
		MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
#ifdef MBEDTLS_TLS1_3_AES_256_GCM_SHA384
		MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
#endif
		MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, 0
	};
	const int *all = mbedtls_ssl_list_ciphersuites();
	size_t total = 0;
	while (all[total])
		total++;
	int *list = calloc(total + 16, sizeof(int));
	if (!list)
		return NULL;
	size_t n = 0;
	int aes = TLS_PREFER_AESGCM < 0 ? compat_aes_is_fast() : TLS_PREFER_AESGCM;
	const int *first = aes ? aesgcm : chacha;
	const int *second = first == chacha ? aesgcm : chacha;
	for (const int *p = first; *p; p++)
		append_suite(list, &n, *p);
	for (const int *p = second; *p; p++)
		append_suite(list, &n, *p);
	for (size_t i = 0; i < total; i++)
		append_suite(list, &n, all[i]);
	list[n] = 0;
	return list;
}

/* The handshake's random bytes come from the kernel (getrandom), the
 * source mbedTLS's entropy collector would read, without a CTR-DRBG of our
 * own on top: the static builds then leave out MBEDTLS_ENTROPY_C and
 * MBEDTLS_CTR_DRBG_C (PSA's random bytes come from the kernel too there,
 * port/mbedtls/random.c). */
static int kernel_random(void *unused, unsigned char *out, size_t n)
{
	(void)unused;
	return os_random(out, n) == 0 ? 0 : MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
}

/* mbedTLS's words for rc; its number where the build has no words
 * (MBEDTLS_ERROR_C off: mbedtls_strerror writes an empty string). */
static void mbed_why(int rc, char *out, size_t outlen)
{
	mbedtls_strerror(rc, out, outlen);
	if (!out[0])
		snprintf(out, outlen, "mbedTLS error -0x%04X", (unsigned)-rc);
}

/* The whole file in a new buffer with a NUL after it (its length in
 * *len); NULL when it cannot be read, with why. */
static unsigned char *read_ca_file(const char *path, size_t *len, const char **why)
{
	struct stat st;
	unsigned char *data = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		*why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		*why = "not a regular file";
	else if (st.st_size > TLS_CA_FILE_MAX)
		*why = "too big";
	else if (!(data = malloc((size_t)st.st_size + 1)))
		*why = "out of memory";
	size_t n = 0;
	while (data && n < (size_t)st.st_size) {
		ssize_t r = read(fd, data + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* a file that shrank while read is as bad as an error */
			*why = r < 0 ? strerror(errno) : "changed while read";
			free(data);
			data = NULL;
		} else {
			n += (size_t)r;
		}
	}
	if (fd >= 0)
		close(fd);
	if (data) {
		data[n] = 0;
		*len = n;
	}
	return data;
}

/* Loads the CA bundle, PEM or DER. Read here, not by
 * mbedtls_x509_crt_parse_file: the static builds then need neither
 * MBEDTLS_FS_IO nor the stdio it links in (port/mbedtls/warren-config.h). */
static int load_ca(mbedtls_x509_crt *ca, const char *path, char *err, size_t errlen)
{
	const char *why = NULL;
	char mbed[100];
	size_t n = 0;
	unsigned char *data = read_ca_file(path, &n, &why);
	if (data && n == 0) {
		free(data);
		why = "empty";
	} else if (data) {
		/* PEM is parsed with its NUL, as mbedTLS's own loader passes it */
		if (strstr((const char *)data, "-----BEGIN ") != NULL)
			n++;
		int rc = mbedtls_x509_crt_parse(ca, data, n);
		free(data);
		if (rc < 0) {
			mbed_why(rc, mbed, sizeof(mbed));
			why = mbed;
		} else if (ca->version == 0) {
			why = "no certificate in it";
		}
	}
	if (!why)
		return 0;
	snprintf(err, errlen, "cannot load CA file %s: %s", path, why);
	return -1;
}

tls_config_t *tls_config_new(const char *ca_file, char *err, size_t errlen)
{
	tls_config_t *cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	mbedtls_ssl_config_init(&cfg->conf);
	mbedtls_x509_crt_init(&cfg->ca);
	if (load_ca(&cfg->ca, ca_file, err, errlen) < 0)
		goto fail;
	if (mbedtls_ssl_config_defaults(&cfg->conf, MBEDTLS_SSL_IS_CLIENT,
					MBEDTLS_SSL_TRANSPORT_STREAM,
					MBEDTLS_SSL_PRESET_DEFAULT) != 0 ||
	    compat_tls_init(&cfg->conf) < 0 || !(cfg->suites = make_suites())) {
		snprintf(err, errlen, "cannot set up TLS");
		goto fail;
	}
	mbedtls_ssl_conf_authmode(&cfg->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&cfg->conf, &cfg->ca, NULL);
	mbedtls_ssl_conf_rng(&cfg->conf, kernel_random, NULL);
	mbedtls_ssl_conf_ciphersuites(&cfg->conf, cfg->suites);
	return cfg;
fail:
	tls_config_free(cfg);
	return NULL;
}

void tls_config_free(tls_config_t *cfg)
{
	if (!cfg)
		return;
	mbedtls_ssl_config_free(&cfg->conf);
	mbedtls_x509_crt_free(&cfg->ca);
	free(cfg->suites);
	free(cfg);
}

const char *tls_config_first_suite(const tls_config_t *cfg)
{
	return mbedtls_ssl_get_ciphersuite_name(cfg->suites[0]);
}

/* ---- connections ---------------------------------------------------------- */

/* What our socket callbacks return on a system error (errno text kept in
 * err); the value of net_sockets.h's RECV_FAILED, which we do not link. */
#define TLS_BIO_FAILED (-0x004C)

static int bio_send(void *ctx, const unsigned char *p, size_t n)
{
	tls_conn_t *c = ctx;
	ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
	if (w >= 0)
		return (int)w;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	snprintf(c->err, sizeof(c->err), "%s", strerror(errno));
	return TLS_BIO_FAILED;
}

static int bio_recv(void *ctx, unsigned char *p, size_t n)
{
	tls_conn_t *c = ctx;
	if (c->ra_pos == c->ra_len) {
		ssize_t r = read(c->fd, c->ra, TLS_READ_AHEAD);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return MBEDTLS_ERR_SSL_WANT_READ;
			snprintf(c->err, sizeof(c->err), "%s", strerror(errno));
			return TLS_BIO_FAILED;
		}
		if (r == 0)
			return 0;
		c->ra_pos = 0;
		c->ra_len = (size_t)r;
	}
	size_t k = c->ra_len - c->ra_pos < n ? c->ra_len - c->ra_pos : n;
	memcpy(p, c->ra + c->ra_pos, k);
	c->ra_pos += k;
	return (int)k;
}

tls_conn_t *tls_conn_new(tls_config_t *cfg, int fd, const char *host)
{
	tls_conn_t *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	mbedtls_ssl_init(&c->ssl);
	if (!(c->ra = malloc(TLS_READ_AHEAD))) {
		free(c);
		return NULL;
	}
	if (inet_pton(AF_INET, host, c->ip) == 1) {
		c->ip_host = 1;
		c->iplen = 4;
	} else if (inet_pton(AF_INET6, host, c->ip) == 1) {
		c->ip_host = 1;
		c->iplen = 16;
	}
	/* An address is not sent as SNI (RFC 6066) and is matched below. */
	if (mbedtls_ssl_setup(&c->ssl, &cfg->conf) != 0 ||
	    mbedtls_ssl_set_hostname(&c->ssl, c->ip_host ? NULL : host) != 0) {
		tls_conn_free(c);
		return NULL;
	}
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
	return c;
}

void tls_conn_free(tls_conn_t *c)
{
	if (!c)
		return;
	mbedtls_ssl_free(&c->ssl);
	free(c->ra);
	free(c);
}

/* Checks the peer's iPAddress subjectAltName entries against our address. */
static int ip_san_matches(tls_conn_t *c)
{
	const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(&c->ssl);
	if (!crt)
		return 0;
	for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s; s = s->next) {
		if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) &&
		    s->buf.len == c->iplen && !memcmp(s->buf.p, c->ip, c->iplen))
			return 1;
	}
	return 0;
}

#if defined(MBEDTLS_X509_REMOVE_INFO)
/* mbedtls_x509_crt_verify_info() is left out of the static builds' library
 * (port/mbedtls/warren-config.h); its texts are still in the header: the
 * text of the first flag set. */
static const char *verify_reason(uint32_t flags)
{
#define X509_CRT_ERROR_INFO(flag, name, text) { flag, text },
	static const struct { uint32_t flag; const char *text; } reasons[] = {
		MBEDTLS_X509_CRT_ERROR_INFO_LIST
	};
#undef X509_CRT_ERROR_INFO
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (flags & reasons[i].flag)
			return reasons[i].text;
	return "verification failed";
}
#endif

static void verify_error(tls_conn_t *c, uint32_t flags)
{
	c->verify_failed = 1;
	if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
		snprintf(c->err, sizeof(c->err), "server certificate has expired");
	else if (flags & MBEDTLS_X509_BADCERT_FUTURE)
		snprintf(c->err, sizeof(c->err), "server certificate is not valid yet");
	else if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
		snprintf(c->err, sizeof(c->err),
			 "server certificate is signed by an unknown CA");
	else if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
		snprintf(c->err, sizeof(c->err),
			 "server certificate does not match the host name");
	else if (flags & MBEDTLS_X509_BADCERT_REVOKED)
		snprintf(c->err, sizeof(c->err), "server certificate is revoked");
	else {
#if defined(MBEDTLS_X509_REMOVE_INFO)
		snprintf(c->err, sizeof(c->err), "server certificate rejected: %s",
			 verify_reason(flags));
#else
		char info[120];
		mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
		info[strcspn(info, "\n")] = '\0';
		snprintf(c->err, sizeof(c->err), "server certificate rejected: %s", info);
#endif
	}
}

static int map_error(tls_conn_t *c, int rc)
{
	if (rc == MBEDTLS_ERR_SSL_WANT_READ)
		return TLS_WANT_READ;
	if (rc == MBEDTLS_ERR_SSL_WANT_WRITE)
		return TLS_WANT_WRITE;
	if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
		verify_error(c, mbedtls_ssl_get_verify_result(&c->ssl));
	} else if (rc != TLS_BIO_FAILED) {
		char why[100];
		mbed_why(rc, why, sizeof(why));
		snprintf(c->err, sizeof(c->err), "TLS: %s", why);
	}
	return TLS_ERROR;
}

int tls_handshake(tls_conn_t *c)
{
	int rc = mbedtls_ssl_handshake(&c->ssl);
	if (rc != 0)
		return map_error(c, rc);
	if (c->ip_host && !ip_san_matches(c)) {
		verify_error(c, MBEDTLS_X509_BADCERT_CN_MISMATCH);
		return TLS_ERROR;
	}
	return 0;
}

ssize_t tls_read(tls_conn_t *c, void *buf, size_t len)
{
	int rc = mbedtls_ssl_read(&c->ssl, buf, len);
	while (rc == COMPAT_TLS13_NEW_TICKET) /* 3.6.0 reports tickets; we keep none */
		rc = mbedtls_ssl_read(&c->ssl, buf, len);
	if (rc >= 0)
		return rc;
	if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
		return 0;
	return map_error(c, rc);
}

ssize_t tls_write(tls_conn_t *c, const void *buf, size_t len)
{
	int rc = mbedtls_ssl_write(&c->ssl, buf, len);
	if (rc >= 0)
		return rc;
	return map_error(c, rc);
}

size_t tls_pending(const tls_conn_t *c)
{
	return mbedtls_ssl_get_bytes_avail(&c->ssl) + (c->ra_len - c->ra_pos);
}
const char *tls_error(const tls_conn_t *c) { return c->err[0] ? c->err : "TLS error"; }
int tls_error_is_verify(const tls_conn_t *c) { return c->verify_failed; }
const char *tls_suite(const tls_conn_t *c) { return mbedtls_ssl_get_ciphersuite(&c->ssl); }
const char *tls_version(const tls_conn_t *c) { return mbedtls_ssl_get_version(&c->ssl); }

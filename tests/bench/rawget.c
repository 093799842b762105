/*
 * rawget - the benchmark's reference HTTP client: the least a downloader can
 * do. Blocking socket, one GET, a 256 KiB buffer, read() then write() to a
 * file; no parsing beyond the end of the head, no checks.
 *
 *   rawget [--fsync] [--sha256] HOST PORT PATH OUTFILE
 *
 * The options make it an honest reference for a downloader that promises
 * more than bytes in the page cache: --fsync makes the file durable before
 * exiting (fsync, as the worker does before reporting done), --sha256
 * hashes the body in the read loop with warren's own sha256.c (the same
 * code and speed as the worker's, but serially, on this one CPU) and
 * prints the digest.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sha256.h"

#define BUF (256 * 1024)

static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	int s = socket(ai->ai_family, SOCK_STREAM, 0);
	if (s >= 0 && connect(s, ai->ai_addr, ai->ai_addrlen) < 0) {
		perror("connect");
		close(s);
		s = -1;
	}
	freeaddrinfo(ai);
	return s;
}

int main(int argc, char **argv)
{
	int do_sync = 0, do_hash = 0, a = 1;
	for (; a < argc && argv[a][0] == '-'; a++) {
		if (!strcmp(argv[a], "--fsync"))
			do_sync = 1;
		else if (!strcmp(argv[a], "--sha256"))
			do_hash = 1;
		else
			break;
	}
	if (argc - a != 4) {
		fprintf(stderr, "usage: rawget [--fsync] [--sha256] HOST PORT PATH OUTFILE\n");
		return 2;
	}
	const char *host = argv[a], *port = argv[a + 1], *path = argv[a + 2];
	int s = connect_to(host, port);
	char *buf = malloc(BUF);
	if (s < 0 || !buf)
		return 1;
	int n = snprintf(buf, BUF, "GET %s HTTP/1.1\r\nHost: %s:%s\r\n"
			 "Connection: close\r\n\r\n", path, host, port);
	if (write(s, buf, (size_t)n) != n)
		return 1;
	int out = open(argv[a + 3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0) {
		perror(argv[a + 3]);
		return 1;
	}
	sha256_t sha;
	if (do_hash)
		sha256_init(&sha);
	size_t have = 0;
	int in_body = 0;
	for (;;) {
		ssize_t r = read(s, buf + (in_body ? 0 : have), BUF - (in_body ? 0 : have));
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
	if (do_hash) {
		char hex[65];
		sha256_hex(&sha, hex);
		printf("%s\n", hex);
	}
	return in_body ? 0 : 1;
}

/*
 * rawget - the benchmark's reference HTTP client: the least a downloader can
 * do. Blocking socket, one GET, a 256 KiB buffer, read() then write() to a
 * file; no parsing beyond the end of the head, no hashing, no checks.
 *
 *   rawget HOST PORT PATH OUTFILE
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (256 * 1024)

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: rawget HOST PORT PATH OUTFILE\n");
		return 2;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	if (getaddrinfo(argv[1], argv[2], &hints, &ai) != 0)
		return 1;
	int s = socket(ai->ai_family, SOCK_STREAM, 0);
	if (s < 0 || connect(s, ai->ai_addr, ai->ai_addrlen) < 0) {
		perror("connect");
		return 1;
	}
	freeaddrinfo(ai);
	char *buf = malloc(BUF);
	int n = snprintf(buf, BUF, "GET %s HTTP/1.1\r\nHost: %s:%s\r\n"
			 "Connection: close\r\n\r\n", argv[3], argv[1], argv[2]);
	if (write(s, buf, (size_t)n) != n)
		return 1;
	int out = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0) {
		perror(argv[4]);
		return 1;
	}
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
	}
	close(out);
	return in_body ? 0 : 1;
}

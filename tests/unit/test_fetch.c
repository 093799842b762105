/* test_fetch.c - the client's address filter (the response grammar is
 * tested in test_httpmsg.c). */
#include "check.h"
#include "fetch.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static int priv4(const char *a)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	inet_pton(AF_INET, a, &in.sin_addr);
	return fetch_addr_is_private((struct sockaddr *)&in);
}

static int priv6(const char *a)
{
	struct sockaddr_in6 in = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, a, &in.sin6_addr);
	return fetch_addr_is_private((struct sockaddr *)&in);
}

static void test_private(void)
{
	const char *yes4[] = { "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1",
			       "172.31.255.255", "192.168.1.1", "169.254.169.254",
			       "0.0.0.0", "100.64.0.1", "224.0.0.1", "255.255.255.255" };
	const char *no4[] = { "8.8.8.8", "172.15.0.1", "172.32.0.1", "192.169.0.1",
			      "100.128.0.1", "1.1.1.1", "223.255.255.255" };
	for (size_t i = 0; i < sizeof(yes4) / sizeof(*yes4); i++)
		CHECK(priv4(yes4[i]));
	for (size_t i = 0; i < sizeof(no4) / sizeof(*no4); i++)
		CHECK(!priv4(no4[i]));
	CHECK(priv6("::1"));
	CHECK(priv6("::"));
	CHECK(priv6("fe80::1"));
	CHECK(priv6("fd00::1"));
	CHECK(priv6("fc12::1"));
	CHECK(priv6("fec0::1"));
	CHECK(priv6("ff02::1"));
	CHECK(priv6("::ffff:127.0.0.1"));
	CHECK(priv6("::ffff:10.0.0.1"));
	CHECK(priv6("64:ff9b::192.168.0.1"));
	CHECK(!priv6("2001:db8::1"));
	CHECK(!priv6("2606:4700::1111"));
	CHECK(!priv6("::ffff:8.8.8.8"));
	CHECK(!priv6("64:ff9b::8.8.8.8"));
}

int main(void)
{
	test_private();
	return check_report();
}

/*
 * pubref - the broker's own ceiling for warren's publishing, the reference
 * the tasker benchmark (bench_tasker.sh) is measured against.
 *
 * For each "task" it publishes what the tasker publishes: a task message
 * {"id","name","arg","taskType"} to the durable queue `tasks` and (mode
 * "both") a `queued` notification to `notifications`, persistent, as
 * application/json with the id as message_id, on one channel in confirm
 * mode, keeping up to INFLIGHT messages unconfirmed (1 = publish and wait
 * for each confirm). It uses plain rabbitmq-c with a blocking socket, no
 * event loop: nothing between the publisher and the broker.
 *
 *   pubref [-n TASKS] [-i INFLIGHT] [-m both|task] [-t SECONDS]
 *          [-N NAME] [-a ARG] URL       publish, print one result line
 *   pubref -P URL                       declare and purge both queues
 *   pubref -D URL                       print the ready messages of `tasks`
 *
 * Result line (key=value, for the script to parse):
 *   mode=both inflight=256 tasks=N messages=M seconds=S tasks_per_s=R
 *   messages_per_s=R nacked=0 cpu_us_per_task=C   (C: pubref's own CPU)
 * Exit status 0, 1 on a broker error, 2 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CHANNEL 1
#define RING 65536  /* unconfirmed delivery tags tracked; > any INFLIGHT */

static const char *queue_tasks = "tasks";
static const char *queue_notifications = "notifications";

struct confirms {
	uint64_t published;   /* delivery tags used: 1..published */
	uint64_t low;         /* every tag below low is confirmed */
	uint64_t outstanding; /* published and not yet confirmed */
	uint64_t nacked;
	unsigned char done[RING];
};

static void die(const char *what, const char *why)
{
	fprintf(stderr, "pubref: %s: %s\n", what, why);
	exit(1);
}

static void check_reply(amqp_rpc_reply_t r, const char *what)
{
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		die(what, amqp_error_string2(r.library_error));
	die(what, "refused by the broker");
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static amqp_connection_state_t connect_broker(const char *url)
{
	struct amqp_connection_info ci;
	char *copy = strdup(url);
	if (!copy || amqp_parse_url(copy, &ci) != AMQP_STATUS_OK)
		die(url, "not an amqp:// URL");
	amqp_connection_state_t conn = amqp_new_connection();
	amqp_socket_t *sock = amqp_tcp_socket_new(conn);
	if (!sock)
		die("socket", "out of memory");
	int rc = amqp_socket_open(sock, ci.host, ci.port);
	if (rc != AMQP_STATUS_OK)
		die("connect", amqp_error_string2(rc));
	check_reply(amqp_login(conn, ci.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
			       ci.user, ci.password), "login");
	amqp_channel_open(conn, CHANNEL);
	check_reply(amqp_get_rpc_reply(conn), "channel.open");
	free(copy);
	return conn;
}

/* Declares queue as the programs do (src/mq.c): `tasks` a quorum queue
 * dead-lettering to warren.dead, `notifications` a stream; its ready
 * messages (0 for a stream). */
static uint32_t declare(amqp_connection_state_t conn, const char *queue)
{
	amqp_table_entry_t e[3];
	int stream = !strcmp(queue, queue_notifications);
	e[0].key = amqp_cstring_bytes("x-queue-type");
	e[0].value.kind = AMQP_FIELD_KIND_UTF8;
	e[0].value.value.bytes = amqp_cstring_bytes(stream ? "stream" : "quorum");
	e[1].key = amqp_cstring_bytes(stream ? "x-max-age" : "x-dead-letter-exchange");
	e[1].value.kind = AMQP_FIELD_KIND_UTF8;
	e[1].value.value.bytes = amqp_cstring_bytes(stream ? "7D" : "warren.dead");
	e[2].key = amqp_cstring_bytes(stream ? "x-max-length-bytes" : "x-delivery-limit");
	e[2].value.kind = AMQP_FIELD_KIND_I64;
	e[2].value.value.i64 = stream ? 256LL * 1024 * 1024 : 5;
	amqp_table_t args = { 3, e };
	amqp_queue_declare_ok_t *ok = amqp_queue_declare(
		conn, CHANNEL, amqp_cstring_bytes(queue), 0, 1, 0, 0, args);
	check_reply(amqp_get_rpc_reply(conn), "queue.declare");
	return ok->message_count;
}

/* A stream cannot be purged: it is deleted and declared again. */
static void purge(amqp_connection_state_t conn, const char *queue)
{
	if (!strcmp(queue, queue_notifications)) {
		amqp_queue_delete(conn, CHANNEL, amqp_cstring_bytes(queue), 0, 0);
		check_reply(amqp_get_rpc_reply(conn), "queue.delete");
		declare(conn, queue);
		return;
	}
	declare(conn, queue);
	amqp_queue_purge(conn, CHANNEL, amqp_cstring_bytes(queue));
	check_reply(amqp_get_rpc_reply(conn), "queue.purge");
}

/* Marks tag (and, for multiple, every tag up to it) confirmed. */
static void settle(struct confirms *c, uint64_t tag, int multiple, int nack)
{
	uint64_t from = multiple ? c->low : tag;
	for (uint64_t t = from; t <= tag; t++) {
		unsigned char *d = &c->done[t % RING];
		if (t < c->low || *d)
			continue;
		*d = 1;
		c->outstanding--;
		c->nacked += (uint64_t)nack;
	}
	while (c->low <= c->published && c->done[c->low % RING]) {
		c->done[c->low % RING] = 0;
		c->low++;
	}
}

/* Reads confirms: waits for one when block is set, then takes every frame
 * already received without waiting. */
static void read_confirms(amqp_connection_state_t conn, struct confirms *c, int block)
{
	for (;;) {
		amqp_frame_t f;
		struct timeval zero = { 0, 0 };
		int rc = block ? amqp_simple_wait_frame(conn, &f)
			       : amqp_simple_wait_frame_noblock(conn, &f, &zero);
		if (rc == AMQP_STATUS_TIMEOUT) {
			amqp_maybe_release_buffers(conn);
			return;
		}
		if (rc != AMQP_STATUS_OK)
			die("waiting for confirms", amqp_error_string2(rc));
		block = 0;
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;
		amqp_method_number_t id = f.payload.method.id;
		if (id == AMQP_BASIC_ACK_METHOD) {
			amqp_basic_ack_t *a = f.payload.method.decoded;
			settle(c, a->delivery_tag, a->multiple, 0);
		} else if (id == AMQP_BASIC_NACK_METHOD) {
			amqp_basic_nack_t *n = f.payload.method.decoded;
			settle(c, n->delivery_tag, n->multiple, 1);
		} else if (id == AMQP_CHANNEL_CLOSE_METHOD ||
			   id == AMQP_CONNECTION_CLOSE_METHOD) {
			die("publishing", "the broker closed the channel");
		}
	}
}

static void publish(amqp_connection_state_t conn, const char *queue,
		    const char *body, size_t len, const char *id)
{
	amqp_basic_properties_t p;
	memset(&p, 0, sizeof(p));
	p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
		   AMQP_BASIC_MESSAGE_ID_FLAG;
	p.content_type = amqp_cstring_bytes("application/json");
	p.delivery_mode = 2;
	p.message_id = amqp_cstring_bytes(id);
	amqp_bytes_t b = { len, (void *)body };
	int rc = amqp_basic_publish(conn, CHANNEL, amqp_empty_bytes,
				    amqp_cstring_bytes(queue), 0, 0, &p, b);
	if (rc != AMQP_STATUS_OK)
		die("basic.publish", amqp_error_string2(rc));
}

/* A UUIDv4-shaped id: the same size as the tasker's (the randomness of the
 * kernel's source does not matter to the broker). */
static void make_id(char id[37], uint64_t *state)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[16];
	for (int i = 0; i < 16; i++) {
		*state ^= *state << 13;
		*state ^= *state >> 7;
		*state ^= *state << 17;
		r[i] = (unsigned char)*state;
	}
	r[6] = (unsigned char)((r[6] & 0x0F) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3F) | 0x80);
	char *o = id;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[r[i] >> 4];
		*o++ = hex[r[i] & 15];
	}
	*o = '\0';
}

static void usage(void)
{
	fprintf(stderr, "usage: pubref [-n TASKS] [-i INFLIGHT] [-m both|task] "
			"[-t SECONDS] [-N NAME] [-a ARG] URL | -P URL | -D URL\n");
	exit(2);
}

static unsigned long number(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	unsigned long tasks = 10000, inflight = 256;
	double max_s = 0;
	int both = 1, do_purge = 0, do_depth = 0, opt;
	const char *name = "bench task", *arg = "http://127.0.0.1/bench/file.iso";
	while ((opt = getopt(argc, argv, "n:i:m:t:N:a:PD")) != -1) {
		switch (opt) {
		case 'n': tasks = number(optarg); break;
		case 'i': inflight = number(optarg); break;
		case 't': max_s = (double)number(optarg); break;
		case 'N': name = optarg; break;
		case 'a': arg = optarg; break;
		case 'P': do_purge = 1; break;
		case 'D': do_depth = 1; break;
		case 'm':
			if (!strcmp(optarg, "both"))
				both = 1;
			else if (!strcmp(optarg, "task"))
				both = 0;
			else
				usage();
			break;
		default: usage();
		}
	}
	if (optind != argc - 1 || inflight < 1 || inflight >= RING || tasks < 1)
		usage();
	amqp_connection_state_t conn = connect_broker(argv[optind]);
	if (do_purge || do_depth) {
		if (do_purge) {
			purge(conn, queue_tasks);
			purge(conn, queue_notifications);
		} else {
			printf("%" PRIu32 "\n", declare(conn, queue_tasks));
		}
		amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
		amqp_destroy_connection(conn);
		return 0;
	}
	declare(conn, queue_tasks);
	declare(conn, queue_notifications);
	amqp_confirm_select(conn, CHANNEL);
	check_reply(amqp_get_rpc_reply(conn), "confirm.select");

	static struct confirms c;
	c.low = 1;
	uint64_t seed = (uint64_t)wall_ms() | 1, sent_tasks = 0;
	char id[37], task[4096], note[4096];
	double t0 = now_s();
	while (sent_tasks < tasks && (max_s <= 0 || now_s() - t0 < max_s)) {
		/* room for this task's messages: wait for confirms first */
		while (c.outstanding + (uint64_t)(both ? 2 : 1) > inflight)
			read_confirms(conn, &c, 1);
		make_id(id, &seed);
		int tl = snprintf(task, sizeof(task),
				  "{\"id\":\"%s\",\"name\":\"%s\",\"arg\":\"%s\","
				  "\"taskType\":\"download\"}", id, name, arg);
		publish(conn, queue_tasks, task, (size_t)tl, id);
		c.published++;
		c.outstanding++;
		if (both) {
			int nl = snprintf(note, sizeof(note),
					  "{\"id\":\"%s\",\"name\":\"%s\",\"arg\":\"%s\","
					  "\"taskType\":\"download\",\"status\":\"queued\","
					  "\"time\":%lld}", id, name, arg, wall_ms());
			publish(conn, queue_notifications, note, (size_t)nl, id);
			c.published++;
			c.outstanding++;
		}
		sent_tasks++;
		read_confirms(conn, &c, 0);
	}
	while (c.outstanding)
		read_confirms(conn, &c, 1);
	double secs = now_s() - t0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("mode=%s inflight=%lu tasks=%" PRIu64 " messages=%" PRIu64
	       " seconds=%.3f tasks_per_s=%.0f messages_per_s=%.0f nacked=%" PRIu64
	       " cpu_us_per_task=%.1f\n",
	       both ? "both" : "task", inflight, sent_tasks, c.published, secs,
	       sent_tasks / secs, c.published / secs, c.nacked, cpu * 1e6 / sent_tasks);
	amqp_channel_close(conn, CHANNEL, AMQP_REPLY_SUCCESS);
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
	return c.nacked ? 1 : 0;
}

/*
 * config.h - what a build of warren may change: every compile-time default
 * and limit a person building for a board might want to set, each with why
 * and, where it matters, what it costs in memory or binary size.
 *
 * Change a value without editing this file: pass -DNAME=value in CFLAGS
 * (`make CFLAGS+=-DHTTP_MAX_CONNS=64`), or name a header of your own that
 * defines several: `make CFLAGS+='-DWARREN_LOCAL_CONFIG=\"board.h\"'` (it is
 * read first, as dropbear reads localoptions.h). Every value below is
 * guarded by #ifndef. Internal constants (protocol facts, timer periods,
 * values derived from these) are in src/sysconfig.h, which is not for
 * editing; it also checks, with #error, the relations between the values
 * here that the code relies on.
 *
 * Run-time settings (the settings table of the README) take, strongest
 * first: option, environment, the default here. Memory costs are for
 * x86-64; halve pointers for 32-bit ARM.
 */
#ifndef WARREN_CONFIG_H
#define WARREN_CONFIG_H

#ifdef WARREN_LOCAL_CONFIG
#include WARREN_LOCAL_CONFIG
#endif

/* ---- identity ---------------------------------------------------------- */

/* Version printed by --version and sent as User-Agent: warren/<version>. */
#ifndef WARREN_VERSION
#define WARREN_VERSION "0.1.0"
#endif

/* ---- broker (all programs) --------------------------------------------- */

/* Broker URL when neither --amqp nor WARREN_AMQP_URL is given. */
#ifndef DEFAULT_AMQP_URL
#define DEFAULT_AMQP_URL "amqp://guest:guest@127.0.0.1:5672"
#endif
/* AMQP heartbeat in seconds; the broker drops us after two missed beats. */
#ifndef DEFAULT_HEARTBEAT
#define DEFAULT_HEARTBEAT 30
#endif
/* First reconnection delay in ms; doubles after each failure. */
#ifndef MQ_BACKOFF_MIN_MS
#define MQ_BACKOFF_MIN_MS 500
#endif
/* Reconnection delay cap in ms, so a router notices a returning broker soon. */
#ifndef MQ_BACKOFF_MAX_MS
#define MQ_BACKOFF_MAX_MS 10000
#endif
/* Seconds a blocking AMQP step (connect, login, declare) may take. */
#ifndef MQ_CONNECT_TIMEOUT_S
#define MQ_CONNECT_TIMEOUT_S 5
#endif
/* Largest AMQP frame we negotiate. rabbitmq-c keeps an input and an output
 * buffer of this size; warren's messages are a few hundred bytes, so 16 KiB
 * saves 224 KiB of RSS against its 128 KiB default. */
#ifndef MQ_FRAME_MAX
#define MQ_FRAME_MAX 16384
#endif
/* Field tables nested in a field table the static builds' codec decodes,
 * at most (port/amqp/framing.c; rabbitmq-c's own limit). */
#ifndef MQ_TABLE_DEPTH_MAX
#define MQ_TABLE_DEPTH_MAX 100
#endif
/* Publishes awaiting their confirm, at most (32 bytes each). RabbitMQ
 * confirms each queue on its own: a queue that lags (`notifications` paged
 * to disk while no middleman reads it) holds the ring's front while the
 * others' confirms pile up behind it; 65536 is 2.6 s of that at 25,000
 * msg/s, within the 5 s confirm timeout. 256 in flight already reach the
 * broker's ceiling (~9,500 msg/s here vs ~250/s waiting for each). */
#ifndef MQ_MAX_INFLIGHT
#define MQ_MAX_INFLIGHT 65536
#endif
/* Entries of the confirm ring at first; it doubles as needed, up to
 * MQ_MAX_INFLIGHT (32 KiB at first, 2 MiB at most). */
#ifndef MQ_INFLIGHT_INITIAL
#define MQ_INFLIGHT_INITIAL 1024
#endif
/* Broker URLs --amqp may list (the nodes of one cluster), at most; each
 * costs 1 KiB in the mq. */
#ifndef MQ_MAX_NODES
#define MQ_MAX_NODES 8
#endif
/* Milliseconds between tries while a queue exists with other arguments
 * (406 on its declaration): only a person can fix that, so slowly. */
#ifndef MQ_TOPOLOGY_RETRY_MS
#define MQ_TOPOLOGY_RETRY_MS 30000
#endif
/* Bytes of frames waiting for the broker to read them, at most: beyond,
 * publishes are refused (the tasker answers 503) instead of piling up. */
#ifndef MQ_MAX_OUTBUF
#define MQ_MAX_OUTBUF (1024 * 1024)
#endif
/* Milliseconds the broker may read nothing of what we have to send (when it
 * did not say it is blocked) before the connection is declared dead. */
#ifndef MQ_WRITE_TIMEOUT_MS
#define MQ_WRITE_TIMEOUT_MS 10000
#endif
/* Largest message taken from a queue, in bytes (held whole while it
 * arrives): a larger one is rejected from the size its header announces,
 * its body skipped, never buffered. Above the programs' own limits
 * (NOTIFY_MAX_SIZE, a task's few KiB), which judge what gets through. */
#ifndef MQ_MAX_MESSAGE
#define MQ_MAX_MESSAGE (256 * 1024)
#endif
/* Milliseconds to wait for a publisher confirm before reporting failure. */
#ifndef MQ_CONFIRM_TIMEOUT_MS
#define MQ_CONFIRM_TIMEOUT_MS 5000
#endif
/* Queue names of the topology (../shared/INTERFACE.md, "RabbitMQ topology"). */
/* The tasks: a quorum queue. */
#ifndef QUEUE_TASKS
#define QUEUE_TASKS "tasks"
#endif
/* The notifications: a stream every middleman reads from its own position. */
#ifndef QUEUE_NOTIFICATIONS
#define QUEUE_NOTIFICATIONS "notifications"
#endif
/* The tasker's control messages: a stream every worker reads. */
#ifndef QUEUE_CONTROL
#define QUEUE_CONTROL "warren.control"
#endif
/* The quorum queue the dead-lettered tasks end in (the middleman reads it). */
#ifndef QUEUE_TASKS_DEAD
#define QUEUE_TASKS_DEAD "tasks.dead"
#endif
/* The fanout exchange `tasks` dead-letters to, bound to QUEUE_TASKS_DEAD. */
#ifndef EXCHANGE_DEAD
#define EXCHANGE_DEAD "warren.dead"
#endif
/* Deliveries of a task (its worker dying or losing the broker each time)
 * before it is dead-lettered: x-delivery-limit of `tasks`. */
#ifndef TASKS_DELIVERY_LIMIT
#define TASKS_DELIVERY_LIMIT 5
#endif
/* Retention of `notifications`, as x-max-age (set when the stream is first
 * declared; another value later is refused by the broker with a 406). */
#ifndef NOTIFY_MAX_AGE
#define NOTIFY_MAX_AGE "7D"
#endif
/* Size bound of `notifications` in bytes (x-max-length-bytes; also fixed at
 * the first declaration): the oldest segments go first. */
#ifndef NOTIFY_MAX_BYTES
#define NOTIFY_MAX_BYTES (256LL * 1024 * 1024)
#endif
/* Retention of `warren.control` (x-max-age; fixed at the first declaration). */
#ifndef CONTROL_MAX_AGE
#define CONTROL_MAX_AGE "7D"
#endif

/* ---- logging and input (all programs) ---------------------------------- */

/* The syslog socket --syslog writes to (BusyBox syslogd, rsyslog and
 * journald all listen there). */
#ifndef LOG_SOCKET
#define LOG_SOCKET "/dev/log"
#endif
/* Longest log message in bytes, escapes included; longer ones are cut.
 * Twice this is on the stack while a line is written. */
#ifndef LOG_MAX_LINE
#define LOG_MAX_LINE 1024
#endif
/* Nesting accepted in JSON input (warren's own messages need 3); each
 * level is one recursion of the validator (~64 bytes of stack). */
#ifndef JSON_MAX_DEPTH
#define JSON_MAX_DEPTH 64
#endif

/* ---- HTTP server (tasker, middleman) ----------------------------------- */

/* tasker --listen default. */
#ifndef DEFAULT_TASKER_LISTEN
#define DEFAULT_TASKER_LISTEN "0.0.0.0:8080"
#endif
/* middleman --listen default. */
#ifndef DEFAULT_MIDDLEMAN_LISTEN
#define DEFAULT_MIDDLEMAN_LISTEN "0.0.0.0:8081"
#endif
/* Largest request head (request line + headers); beyond it: 431. */
#ifndef HTTP_MAX_HEAD
#define HTTP_MAX_HEAD 8192
#endif
/* Largest request body of POST /task; beyond it: 413 without reading the
 * rest. 1 MiB holds 1000 tasks with 200-byte URLs and 100-byte names. The
 * tasker validates the array as it arrives (no copy of the body is kept):
 * it costs ~330 bytes per task of that size until the batch is answered. */
#ifndef HTTP_MAX_BODY
#define HTTP_MAX_BODY 1048576
#endif
/* Largest body of any other request (gathered whole in memory, so at
 * most this per connection); beyond it: 413. */
#ifndef HTTP_MAX_BUFFERED_BODY
#define HTTP_MAX_BUFFERED_BODY 65536
#endif
/* Headers parsed per request; more is answered 431. 32 bytes each. */
#ifndef HTTP_MAX_HEADERS
#define HTTP_MAX_HEADERS 48
#endif
/* Connections served at once (the tasker's). At the cap the server stops
 * accepting, so new clients wait in the listen backlog, and closes the
 * keep-alive connection idle the longest to make room. An idle keep-alive
 * connection costs ~2 KiB (its struct; buffers are freed between
 * requests), one receiving a request ~8 KiB more, plus kernel socket
 * buffers. RLIMIT_NOFILE is raised to fit at start. */
#ifndef HTTP_MAX_CONNS
#define HTTP_MAX_CONNS 1024
#endif
/* Seconds the listen backlog may stay full, at the cap, before waiting
 * clients are answered 503 (real overload). */
#ifndef HTTP_OVERLOAD_S
#define HTTP_OVERLOAD_S 5
#endif
/* Listen backlog (the kernel caps it at net.core.somaxconn): clients
 * waiting to be accepted, e.g. a household's pages reconnecting at once. */
#ifndef HTTP_LISTEN_BACKLOG
#define HTTP_LISTEN_BACKLOG 1024
#endif
/* Seconds a connection may sit idle between requests (keep-alive). */
#ifndef HTTP_IDLE_TIMEOUT_S
#define HTTP_IDLE_TIMEOUT_S 15
#endif
/* Seconds a client may take to send one whole request (slowloris bound). */
#ifndef HTTP_REQUEST_TIMEOUT_S
#define HTTP_REQUEST_TIMEOUT_S 10
#endif
/* Responses queued unsent per connection before we stop reading its
 * pipeline (back-pressure on a client that sends but does not read): the
 * most a connection's output buffer holds. */
#ifndef HTTP_MAX_OUTBUF
#define HTTP_MAX_OUTBUF 262144
#endif
/* Pipelined requests of one connection whose answers may be owed at once
 * (a deferred answer, such as the tasker's 202 awaiting the broker's
 * confirm, does not stop the next request); parsing pauses beyond it.
 * ~130 bytes each, allocated only for a connection that pipelines. */
#ifndef HTTP_MAX_PIPELINE
#define HTTP_MAX_PIPELINE 16
#endif
/* Seconds suggested in Retry-After when the broker is down. */
#ifndef HTTP_RETRY_AFTER_S
#define HTTP_RETRY_AFTER_S 5
#endif
/* Seconds a browser may keep the answer to a CORS preflight (OPTIONS). */
#ifndef HTTP_CORS_MAX_AGE_S
#define HTTP_CORS_MAX_AGE_S 600
#endif

/* ---- tasker ------------------------------------------------------------ */

/* After SIGTERM: ms the tasker waits for outstanding confirms, so that the
 * clients whose tasks are being stored get their 202 (or a 503) before it
 * exits. */
#ifndef TASKER_SHUTDOWN_GRACE_MS
#define TASKER_SHUTDOWN_GRACE_MS 3000
#endif
/* Access-Control-Allow-Origin of every tasker answer: any page (the
 * middleman's, on another port) may call it; --token is what guards it. */
#ifndef TASKER_CORS_ORIGIN
#define TASKER_CORS_ORIGIN "*"
#endif
/* Bytes of `queued` notifications the tasker gathers into one stream
 * message (a JSON array); at most NOTIFY_SEQ_STRIDE of them. A stream
 * write costs the broker about as much as the task's own, whatever its
 * size: one per task cut intake by a third. */
#ifndef TASKER_QUEUED_BATCH_BYTES
#define TASKER_QUEUED_BATCH_BYTES 32768
#endif
/* Milliseconds the tasker gathers `queued` notifications for (from the
 * first) before it publishes those whose tasks are confirmed (the others
 * wait for the next round; a refused task's never leaves): a task's
 * `queued` may reach the middleman this much later (its state still only
 * moves forward). 0 = the ones of one pass of the loop. Longer saves broker CPU under steady load:
 * the measurements in README, "The tasker's HTTP". */
#ifndef TASKER_QUEUED_GATHER_MS
#define TASKER_QUEUED_GATHER_MS 20
#endif
/* Bytes of POST /task bodies the tasker holds at once, being validated,
 * published or confirmed (their `queued` notifications wait for the
 * confirms; each counted at its announced length, 1 MiB if chunked,
 * plus ~11 KiB of parser): a request beyond it waits, its body unread,
 * until earlier ones are stored (503 after HTTP_OVERLOAD_S). 100 clients
 * posting 1000-task arrays at once took the tasker to 100 MB before. */
#ifndef TASKER_INTAKE_BYTES
#define TASKER_INTAKE_BYTES (4 * 1024 * 1024)
#endif

/* ---- tasks --------------------------------------------------------------- */

/* Largest number of tasks in one POSTed array. */
#ifndef TASK_MAX_BATCH
#define TASK_MAX_BATCH 1000
#endif
/* Longest task name in bytes. */
#ifndef TASK_MAX_NAME
#define TASK_MAX_NAME 256
#endif
/* Longest download URL in bytes. */
#ifndef TASK_MAX_URL
#define TASK_MAX_URL 2048
#endif
/* Largest JSON text of one task in a POST /task body (escapes included:
 * a 256-byte name of \u escapes and a 2048-byte URL fit); a larger element
 * is refused with its index. Held once per request being received. */
#ifndef TASK_MAX_ELEMENT
#define TASK_MAX_ELEMENT 8192
#endif

/* ---- worker --------------------------------------------------------------- */

/* --dir default, created if missing. */
#ifndef DEFAULT_DIR
#define DEFAULT_DIR "./downloads"
#endif
/* --concurrency default: downloads at once per worker process. */
#ifndef DEFAULT_CONCURRENCY
#define DEFAULT_CONCURRENCY 1
#endif
/* --ca-file default: Debian's bundle. */
#ifndef DEFAULT_CA_FILE
#define DEFAULT_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#endif
/* Largest --ca-file read, in bytes (Debian's bundle is ~220 KB); it is
 * read whole into memory once, at the first https download. */
#ifndef TLS_CA_FILE_MAX
#define TLS_CA_FILE_MAX (8 * 1024 * 1024)
#endif
/* --max-size default in bytes; 0 = no limit. */
#ifndef DEFAULT_MAX_SIZE
#define DEFAULT_MAX_SIZE 0
#endif
/* --retries default for transient errors. */
#ifndef DEFAULT_RETRIES
#define DEFAULT_RETRIES 3
#endif
/* --timeout default: seconds a download may receive nothing. */
#ifndef DEFAULT_TIMEOUT
#define DEFAULT_TIMEOUT 30
#endif
/* --deadline default: seconds a whole download may take, retries
 * included, however the server trickles (0: none). 6 h is 20 GB at 1 MB/s. */
#ifndef DEFAULT_DEADLINE
#define DEFAULT_DEADLINE 21600
#endif
/* --min-free default (k/M/G suffixes): free space a download must leave on
 * --dir's file system, checked from Content-Length and as it grows. */
#ifndef DEFAULT_MIN_FREE
#define DEFAULT_MIN_FREE "64M"
#endif
/* --rate-limit: the token bucket holds at most this many milliseconds of
 * the limit (the largest burst), and is refilled every RATE_TICK_MS while
 * downloads wait on it. 100 ms of burst is 2% of the 5 s the limit is
 * promised over. */
#ifndef RATE_BURST_MS
#define RATE_BURST_MS 100
#endif
#ifndef RATE_TICK_MS
#define RATE_TICK_MS 50
#endif
/* Largest --rate-limit, bytes/s (1 TiB/s: the bucket's sums never overflow). */
#ifndef RATE_MAX
#define RATE_MAX (1ULL << 40)
#endif
/* --rate-limit default: bytes per second over all of a worker's downloads
 * (k/M/G suffixes); "0" = no limit. */
#ifndef DEFAULT_RATE_LIMIT
#define DEFAULT_RATE_LIMIT "0"
#endif
/* Most --quiet windows. */
#ifndef QUIET_MAX_WINDOWS
#define QUIET_MAX_WINDOWS 8
#endif
/* Redirects followed before failing. */
#ifndef FETCH_MAX_REDIRECTS
#define FETCH_MAX_REDIRECTS 5
#endif
/* Largest response head from a server; read into the download's
 * FETCH_BUF_SIZE buffer, so it costs nothing more. */
#ifndef FETCH_MAX_HEAD
#define FETCH_MAX_HEAD 16384
#endif
/* Receive buffer per download: one read() fills it; 256 KiB matches the raw
 * client of the benchmark and keeps syscalls per GiB at ~4,000. */
#ifndef FETCH_BUF_SIZE
#define FETCH_BUF_SIZE 262144
#endif
/* Seconds a name lookup may take in all (the resolver child is killed
 * then): glibc's worst case, 5 s x 2 tries x 3 nameservers. */
#ifndef RESOLVE_TIMEOUT_S
#define RESOLVE_TIMEOUT_S 30
#endif
/* Seconds to establish a TCP connection to one address. */
#ifndef FETCH_CONNECT_TIMEOUT_S
#define FETCH_CONNECT_TIMEOUT_S 10
#endif
/* First retry delay in ms; doubles, capped by FETCH_BACKOFF_MAX_MS. */
#ifndef FETCH_BACKOFF_MIN_MS
#define FETCH_BACKOFF_MIN_MS 1000
#endif
/* Retry delay cap (also caps Retry-After). */
#ifndef FETCH_BACKOFF_MAX_MS
#define FETCH_BACKOFF_MAX_MS 30000
#endif
/* Milliseconds between progress notifications of one task. */
#ifndef PROGRESS_INTERVAL_MS
#define PROGRESS_INTERVAL_MS 1000
#endif
/* Seconds an --on-complete hook may run before it is killed. */
#ifndef HOOK_TIMEOUT_S
#define HOOK_TIMEOUT_S 60
#endif
/* ms between the SIGTERM to a hook past its time and the SIGKILL. */
#ifndef HOOK_KILL_GRACE_MS
#define HOOK_KILL_GRACE_MS 2000
#endif
/* Largest --retries and --timeout (seconds) accepted. */
#ifndef WORKER_MAX_RETRIES
#define WORKER_MAX_RETRIES 100
#endif
#ifndef WORKER_MAX_TIMEOUT_S
#define WORKER_MAX_TIMEOUT_S 86400
#endif
/* Largest --deadline (seconds) accepted: 30 days. */
#ifndef WORKER_MAX_DEADLINE_S
#define WORKER_MAX_DEADLINE_S 2592000
#endif
/* Milliseconds after a reconnection that a download whose delivery went
 * void waits for the broker to hand the task back; past it, the task is
 * another worker's and this copy is dropped (no second done, no second
 * file). RabbitMQ redelivers at once to a consumer with room. */
#ifndef WORKER_ORPHAN_GRACE_MS
#define WORKER_ORPHAN_GRACE_MS 3000
#endif
/* A redelivered task unknown here is looked for on `notifications` from its
 * publish time minus this many seconds (clocks of hosts differ a little). */
#ifndef WORKER_LOOKUP_MARGIN_S
#define WORKER_LOOKUP_MARGIN_S 10
#endif
/* Milliseconds such a lookup reads at most (a long backlog): past them, the
 * task is downloaded (it may then be reported twice, never lost). */
#ifndef WORKER_LOOKUP_MAX_MS
#define WORKER_LOOKUP_MAX_MS 15000
#endif
/* After SIGTERM: ms to wait for hooks and final notifications to settle
 * before closing (unfinished deliveries are requeued by the close). */
#ifndef WORKER_STOP_GRACE_MS
#define WORKER_STOP_GRACE_MS 8000
#endif
/* Milliseconds a worker gathers its notifications for (from the first)
 * before it publishes them as one stream message; a final one goes at
 * once when the worker holds its whole prefetch (see README "The worker").
 * 0 = those of one pass of the loop. */
#ifndef WORKER_NOTE_GATHER_MS
#define WORKER_NOTE_GATHER_MS 20
#endif
/* Bytes of gathered notifications that go at once (a progress note is
 * ~400 bytes); and at most NOTIFY_SEQ_STRIDE - 1 beside a final one. */
#ifndef WORKER_NOTE_BATCH_BYTES
#define WORKER_NOTE_BATCH_BYTES 16384
#endif
/* ms between checks of a task whose .part another worker (same --dir) holds. */
#ifndef WORKER_BUSY_RETRY_MS
#define WORKER_BUSY_RETRY_MS 2000
#endif
/* Ids of recent tasks remembered (56 bytes each): finished ones, so a
 * redelivery is acked at once, and redeliveries handed back, with the time
 * first seen. */
#ifndef WORKER_RECENT_MAX
#define WORKER_RECENT_MAX 384
#endif
/* Cancelled task ids a worker remembers, 37 bytes each (the oldest goes first). */
#ifndef WORKER_CANCELLED_MAX
#define WORKER_CANCELLED_MAX 1024
#endif
/* Seconds after which the bookkeeping files (.part, .meta, .done, .wait)
 * of a task this worker does not hold are removed as orphans: longer than
 * any redelivery (a task finished elsewhere after a kill -9 leaves them). */
#ifndef WORKER_ORPHAN_AGE_S
#define WORKER_ORPHAN_AGE_S (24 * 3600)
#endif
/* Seconds between two sweeps for orphans (one at start). */
#ifndef WORKER_SWEEP_INTERVAL_S
#define WORKER_SWEEP_INTERVAL_S 3600
#endif
/* Bytes written to a .part between two starts of write-back to disk
 * (sync_file_range): the final fsync then waits for little, and dirty pages
 * never pile up in a small router's RAM. 0 leaves it all to the fsync. */
#ifndef FETCH_WRITEBACK_BYTES
#define FETCH_WRITEBACK_BYTES (8 * 1024 * 1024)
#endif
/* Bytes read from a TLS socket at once, then handed to mbedTLS record by
 * record: one read() for several 16 KiB records instead of two each.
 * Allocated per https connection. */
#ifndef TLS_READ_AHEAD
#define TLS_READ_AHEAD 65536
#endif
/* Bytes after which a download's SHA-256 moves to a helper process on
 * another CPU (hasher.c); 0: never. The helper costs a fork and a 64 KiB
 * buffer. */
#ifndef FETCH_HASHER_MIN
#define FETCH_HASHER_MIN (16 * 1024 * 1024)
#endif
/* 1: once the hash helper runs, a plain-HTTP body that is not chunked
 * goes from the socket to the file by splice() (port/os.c), not through
 * the buffer; 0: read() and write() always. */
#ifndef FETCH_SPLICE
#define FETCH_SPLICE 1
#endif
/* Bytes the hashing helper reads from the file at once: a static buffer,
 * touched only in the helper process. */
#ifndef HASHER_READ_SIZE
#define HASHER_READ_SIZE (64 * 1024)
#endif
/* CPUs online for the helper to be used. On 2 CPUs shared with the local
 * nginx of bench_worker it made a 1 GiB download 1.5x faster over HTTP and
 * 1.14x over HTTPS than hashing in place (x86 SHA-NI); on one CPU it could
 * only add a copy. A board hashing with mbedTLS's C code at ~100 MB/s
 * would otherwise cap a gigabit download. */
#ifndef FETCH_HASHER_MIN_CPUS
#define FETCH_HASHER_MIN_CPUS 2
#endif
/* TLS suite offered first: -1 the faster here (ChaCha20-Poly1305 with
 * mbedTLS 2.28; AES-GCM with 3.x on a CPU with AES instructions), 0
 * ChaCha20-Poly1305, 1 AES-GCM. See tls.c and bench_worker.sh. */
#ifndef TLS_PREFER_AESGCM
#define TLS_PREFER_AESGCM -1
#endif
/* Tasks taken from the queue beyond --concurrency: the next download starts
 * while the last one is synced, reported and confirmed (issue 15). */
#ifndef WORKER_PREFETCH_AHEAD
#define WORKER_PREFETCH_AHEAD 2
#endif
/* Largest --concurrency (each running download holds FETCH_BUF_SIZE). */
#ifndef WORKER_MAX_CONCURRENCY
#define WORKER_MAX_CONCURRENCY 256
#endif

/* ---- middleman --------------------------------------------------------------- */

/* --interval default: seconds between pushes; 0 pushes at once. */
#ifndef DEFAULT_INTERVAL
#define DEFAULT_INTERVAL 5
#endif
/* Largest --interval, in seconds. */
#ifndef MIDDLEMAN_MAX_INTERVAL_S
#define MIDDLEMAN_MAX_INTERVAL_S 86400
#endif
/* After SIGTERM: ms the middleman gives its WebSocket clients to take
 * their close frames before it exits. */
#ifndef MIDDLEMAN_SHUTDOWN_GRACE_MS
#define MIDDLEMAN_SHUTDOWN_GRACE_MS 1000
#endif
/* --history default: notifications kept. */
#ifndef DEFAULT_HISTORY
#define DEFAULT_HISTORY 1000
#endif
/* --tasks default: tasks whose latest state is kept. Each costs its latest
 * notification (~300-400 bytes for warren's own) plus ~100 bytes of entry,
 * index and slot: 482 B with a 363-byte one, so 10,000 tasks take ~4.8 MB
 * (test_store measures it). */
#ifndef DEFAULT_TASKS
#define DEFAULT_TASKS 10000
#endif
/* Largest --tasks. */
#ifndef MIDDLEMAN_MAX_TASKS
#define MIDDLEMAN_MAX_TASKS 1000000
#endif
/* Largest WebSocket message accepted from a client; beyond it: close 1009. */
#ifndef WS_MAX_MESSAGE
#define WS_MAX_MESSAGE 65536
#endif
/* Bytes of control frames (pongs, close) queued for a WebSocket client
 * that does not read them before it is dropped. Notifications are not
 * queued: a client that falls behind is caught up from the store. */
#ifndef WS_MAX_CONTROL_BACKLOG
#define WS_MAX_CONTROL_BACKLOG 65536
#endif
/* Seconds a WebSocket client may stay behind (its socket full all along,
 * whatever trickles through) before it is dropped; it costs no memory
 * meanwhile, and 10,000 tasks' states take ~4 MB to catch up with. */
#ifndef WS_STALL_TIMEOUT_S
#define WS_STALL_TIMEOUT_S 30
#endif
/* Seconds of silence before we ping a WebSocket client. */
#ifndef WS_PING_INTERVAL_S
#define WS_PING_INTERVAL_S 30
#endif
/* Seconds a pinged client has to answer before it is dropped. */
#ifndef WS_PONG_TIMEOUT_S
#define WS_PONG_TIMEOUT_S 30
#endif
/* WebSocket clients at once; more are answered 503. They leave the HTTP
 * server at the upgrade (~0.5 KiB each, plus kernel socket buffers). */
#ifndef WS_MAX_CLIENTS
#define WS_MAX_CLIENTS 1024
#endif
/* Largest notification accepted from the queue (bigger ones are dropped
 * with a log line); also bounds a text frame we send. */
#ifndef NOTIFY_MAX_SIZE
#define NOTIFY_MAX_SIZE 65536
#endif
/* jsmn tokens for one notification (~31 for warren's own); 16 bytes each,
 * on the stack. */
#ifndef NOTIFY_MAX_TOKENS
#define NOTIFY_MAX_TOKENS 256
#endif
/* Keys of a notification longer than this are compared as written (not
 * decoded) when looking for a key given twice. */
#ifndef NOTIFY_MAX_KEY
#define NOTIFY_MAX_KEY 64
#endif
/* Notifications one stream message may carry (a JSON array: the tasker's
 * `queued` batches). A notification's seq is its message's stream offset
 * times this, + 1 + its index in the message: unique, increasing and the
 * same on every middleman. A power of two. */
#ifndef NOTIFY_SEQ_STRIDE
#define NOTIFY_SEQ_STRIDE 64
#endif
/* Longest task id in a notification, in bytes (warren's are 36). */
#ifndef NOTIFY_MAX_ID
#define NOTIFY_MAX_ID 128
#endif
/* Largest --history: each entry costs ~40 bytes of index besides its text. */
#ifndef MIDDLEMAN_MAX_HISTORY
#define MIDDLEMAN_MAX_HISTORY 1000000
#endif
/* With --interval > 0, how long the middleman lets notifications gather in
 * its broker socket once it has read it dry (mq_config.read_batch_ms). */
#ifndef MIDDLEMAN_READ_BATCH_MS
#define MIDDLEMAN_READ_BATCH_MS 5
#endif
/* Unacked notifications the broker may hand us at once (basic.qos); each
 * can hold up to NOTIFY_MAX_SIZE of rabbitmq-c's memory until acked. */
#ifndef MIDDLEMAN_PREFETCH
#define MIDDLEMAN_PREFETCH 256
#endif
/* HTTP connections of the middleman (WebSocket clients leave the HTTP
 * server once upgraded and count against WS_MAX_CLIENTS instead). Never
 * below WS_MAX_CLIENTS, so that as many pages can upgrade at once. */
#ifndef MIDDLEMAN_HTTP_CONNS
#define MIDDLEMAN_HTTP_CONNS WS_MAX_CLIENTS
#endif
/* Seconds we wait for the peer's close frame after sending ours. */
#ifndef WS_CLOSE_TIMEOUT_S
#define WS_CLOSE_TIMEOUT_S 5
#endif
/* Frames per writev() to a WebSocket client (two iovecs each). */
#ifndef WS_WRITEV_FRAMES
#define WS_WRITEV_FRAMES 64
#endif
/* Largest journal record: a notification plus the seq we add. */
#ifndef JOURNAL_MAX_RECORD
#define JOURNAL_MAX_RECORD (NOTIFY_MAX_SIZE + 64)
#endif
/* While the journal fails (disk full), deliveries are held and retried
 * after this many ms, doubling up to the maximum. */
#ifndef JOURNAL_RETRY_MIN_MS
#define JOURNAL_RETRY_MIN_MS 100
#endif
#ifndef JOURNAL_RETRY_MAX_MS
#define JOURNAL_RETRY_MAX_MS 5000
#endif
/* Deliveries held while the journal fails (the broker sends at most the
 * prefetch unacknowledged; more are handed back with basic.reject). */
#ifndef JOURNAL_MAX_PARKED
#define JOURNAL_MAX_PARKED (2 * MIDDLEMAN_PREFETCH)
#endif
/* Journal records beyond the history that trigger a compaction. */
#ifndef JOURNAL_SLACK
#define JOURNAL_SLACK 1000
#endif

/* Internal constants and the checks of the values above. */
#include "src/sysconfig.h"

#endif /* WARREN_CONFIG_H */

#!/bin/sh
# bench_tasker.sh - tasks accepted per second by the tasker next to the
# broker's own ceiling for the same publishing (issue 2). Run by
# tests/bench/run.sh (`make bench`), which provides BUILD, WARREN_TEST_PORT_BASE,
# WARREN_TEST_AMQP_URL (a private node on the bench port base) and
# WARREN_BENCH_DIR. Prints a table; speed is reported, never asserted.
#
#  1. tasker: wrk posts a valid task over 32 keep-alive connections for
#     BENCH_SECONDS (10) s after a 2 s warm-up; tasks/s = 202 answers / s.
#     Every 202 means the task and its `queued` notification were published
#     persistently and the task was confirmed. Then the same with each
#     connection pipelining BENCH_PIPELINE (8) requests: 32 connections that
#     wait for each answer can never have more than 32 tasks in flight, the
#     broker's ceiling below has 256. Peak RSS = VmHWM at the end.
#  2. pubref (tests/bench/pubref.c, plain rabbitmq-c): the same number of
#     tasks, the same two messages of the same size, 256 confirms in flight:
#     the broker's ceiling. Also the task message alone, and publish-and-wait
#     (1 in flight) for contrast.
# The queues are purged before and after. Goal (issue 2): ratio >= 0.8 and
# peak RSS < 2 MiB.
#
# Environment: BENCH_SECONDS (10), BENCH_CONNS (32), BENCH_PIPELINE (8),
# BENCH_TASKER (the
# binary, default $BUILD/tasker; e.g. build/x86_64/tasker, the static musl
# build of `make STATIC=1`), BENCH_PROFILE=1 also runs `strace -c` on the
# tasker during a second wrk run (syscall table).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build}
url=${WARREN_TEST_AMQP_URL:?run me through tests/bench/run.sh}
base=${WARREN_TEST_PORT_BASE:?}
secs=${BENCH_SECONDS:-10}
conns=${BENCH_CONNS:-32}
depth=${BENCH_PIPELINE:-8}
dir=${WARREN_BENCH_DIR:-/tmp}/tasker
mkdir -p "$dir"
port=$((base + 30))
tasker=${BENCH_TASKER:-$BUILD/tasker}
pid=

for tool in wrk cc curl; do
	command -v $tool >/dev/null 2>&1 || { echo "bench_tasker: $tool is missing" >&2; exit 1; }
done
[ -x "$tasker" ] || { echo "bench_tasker: $tasker is not built" >&2; exit 1; }

stop_tasker() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		pid=
	fi
}
trap 'stop_tasker' EXIT
trap 'stop_tasker; exit 130' INT
trap 'stop_tasker; exit 143' TERM

# pubref: the reference publisher, built here against the system rabbitmq-c.
rmq_cflags=$(pkg-config --cflags librabbitmq 2>/dev/null || true)
rmq_libs=$(pkg-config --libs librabbitmq 2>/dev/null || echo -lrabbitmq)
${CC:-cc} -O2 -std=c11 -Wall -Wextra $rmq_cflags -o "$dir/pubref" \
	"$here/pubref.c" $rmq_libs
pubref=$dir/pubref

# The task: ~200 bytes as a message ({"id":...,"name","arg","taskType"}).
name="download rabbitmq wikipedia page (bench)"
arg="http://127.0.0.1:$((base + 10))/wiki/RabbitMQ?lang=fr&from=warren-bench"
# pad the URL so that the task message is exactly 200 bytes
fixed=$((86 + ${#name}))
while [ $((fixed + ${#arg})) -lt 200 ]; do arg="${arg}x"; done
body="{\"name\":\"$name\",\"arg\":\"$arg\",\"taskType\":\"download\"}"
msg_bytes=$((fixed + ${#arg}))

cat > "$dir/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
	io.write(string.format("WRK requests=%d duration_us=%d status_errors=%d socket_errors=%d p50_us=%d p99_us=%d\n",
		summary.requests, summary.duration, summary.errors.status,
		summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
		latency:percentile(50), latency:percentile(99)))
end
EOF
# the same, BENCH_PIPELINE requests written at once on each connection
sed '/^done = /,$d' "$dir/post.lua" > "$dir/pipeline.lua"
cat >> "$dir/pipeline.lua" <<EOF
init = function(args)
	local r = {}
	for i = 1, $depth do
		r[i] = wrk.format(nil, nil, nil, nil)
	end
	req = table.concat(r)
end
request = function()
	return req
end
EOF
sed -n '/^done = /,$p' "$dir/post.lua" >> "$dir/pipeline.lua"

# cpu_ticks PID: user + system clock ticks the process used so far
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)
broker_pid=$(cat "${WARREN_TEST_ENV:?}/broker/node.pid" 2>/dev/null || echo)
[ -n "$broker_pid" ] && [ -r "/proc/$broker_pid/stat" ] || broker_pid=$$
# per_task TICKS TASKS: microseconds of CPU per task
per_task() { awk -v t="$1" -v n="$2" -v hz="$hz" 'BEGIN { printf "%.0f", n ? t * 1e6 / hz / n : 0 }'; }

# field KEY LINE: the value of KEY=value in LINE
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

"$pubref" -P "$url"

# the first free port from base+30 to base+39
while curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; do
	port=$((port + 1))
	[ $port -lt $((base + 40)) ] || { echo "bench_tasker: no free port" >&2; exit 1; }
done
"$tasker" --listen "127.0.0.1:$port" --amqp "$url" 2>"$dir/tasker.log" &
pid=$!
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "bench_tasker: the tasker did not come up" >&2; cat "$dir/tasker.log" >&2; exit 1; }
	sleep 0.1
done
rss_idle=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$pid/status)
code=$(curl -s -o /dev/null -w '%{http_code}' -d "$body" "http://127.0.0.1:$port/task")
[ "$code" = 202 ] || { echo "bench_tasker: a valid task got $code" >&2; exit 1; }

wrk -t1 -c"$conns" -d2s -s "$dir/post.lua" "http://127.0.0.1:$port/task" >/dev/null
"$pubref" -P "$url"
k0=$(cpu_ticks "$pid")
b0=$(cpu_ticks "$broker_pid")
wrk -t1 -c"$conns" -d"${secs}s" -s "$dir/post.lua" "http://127.0.0.1:$port/task" \
	> "$dir/wrk.out"
k1=$(cpu_ticks "$pid")
b1=$(cpu_ticks "$broker_pid")
line=$(grep '^WRK ' "$dir/wrk.out")
requests=$(field requests "$line")
dur_us=$(field duration_us "$line")
bad=$(field status_errors "$line")
sockerr=$(field socket_errors "$line")
p50=$(field p50_us "$line")
p99=$(field p99_us "$line")
accepted=$((requests - bad))

"$pubref" -P "$url"
wrk -t1 -c"$conns" -d"${secs}s" -s "$dir/pipeline.lua" "http://127.0.0.1:$port/task" \
	> "$dir/wrk-pipeline.out"
pline=$(grep '^WRK ' "$dir/wrk-pipeline.out")
p_bad=$(field status_errors "$pline")
p_accepted=$(($(field requests "$pline") - p_bad))
p_rate=$(awk -v n="$p_accepted" -v us="$(field duration_us "$pline")" \
	'BEGIN { printf "%.0f", n / (us / 1e6) }')
hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$pid/status)
rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$pid/status)
rss_anon=$(sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$pid/status)
rss_file=$(sed -n 's/^RssFile:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$pid/status)
load=$(cut -d' ' -f1-3 /proc/loadavg)
queued=$("$pubref" -D "$url")
tasker_cpu=$(per_task $((k1 - k0)) "$accepted")
broker_cpu_tasker=$(per_task $((b1 - b0)) "$accepted")
tasker_rate=$(awk -v n="$accepted" -v us="$dur_us" 'BEGIN { printf "%.0f", n / (us / 1e6) }')

profile=
if [ "${BENCH_PROFILE:-0}" = 1 ] && command -v strace >/dev/null 2>&1; then
	"$pubref" -P "$url"
	strace -c -f -p "$pid" -o "$dir/strace.txt" &
	spid=$!
	sleep 0.5
	wrk -t1 -c"$conns" -d5s -s "$dir/post.lua" "http://127.0.0.1:$port/task" >/dev/null
	kill -INT $spid 2>/dev/null || true
	wait $spid 2>/dev/null || true
	profile=$dir/strace.txt
fi
stop_tasker

# The broker's ceiling for the same work, in the same run.
"$pubref" -P "$url"
n=$accepted
[ "$n" -ge 1000 ] || n=1000
b0=$(cpu_ticks "$broker_pid")
ref=$("$pubref" -n "$n" -i 256 -m both -N "$name" -a "$arg" "$url")
b1=$(cpu_ticks "$broker_pid")
broker_cpu_ref=$(per_task $((b1 - b0)) "$n")
"$pubref" -P "$url"
ref64=$("$pubref" -n "$n" -i $((conns * 2)) -m both -N "$name" -a "$arg" "$url")
"$pubref" -P "$url"
ref_task=$("$pubref" -n "$n" -i 256 -m task -N "$name" -a "$arg" "$url")
"$pubref" -P "$url"
ref_wait=$("$pubref" -n "$n" -i 1 -m task -t 5 -N "$name" -a "$arg" "$url")
"$pubref" -P "$url"

ref_rate=$(field tasks_per_s "$ref")
ratio=$(awk -v a="$tasker_rate" -v b="$ref_rate" 'BEGIN { printf "%.2f", a / b }')
ratio64=$(awk -v a="$tasker_rate" -v b="$(field tasks_per_s "$ref64")" 'BEGIN { printf "%.2f", a / b }')
p_ratio=$(awk -v a="$p_rate" -v b="$ref_rate" 'BEGIN { printf "%.2f", a / b }')

printf '\n%-56s %10s %10s\n' "tasker vs broker ceiling (task msg ${msg_bytes} B)" "tasks/s" "msgs/s"
printf '%-56s %10s %10s\n' "tasker: wrk ${conns} conns keep-alive ${secs}s (202s)" \
	"$tasker_rate" "$((tasker_rate * 2))"
printf '%-56s %10s %10s\n' "tasker: the same, $depth pipelined per conn ($((conns * depth)) in flight)" \
	"$p_rate" "$((p_rate * 2))"
printf '%-56s %10s %10s\n' "pubref: task+notification, 256 in flight" \
	"$ref_rate" "$(field messages_per_s "$ref")"
printf '%-56s %10s %10s\n' "pubref: task+notification, $((conns * 2)) in flight (= $conns conns)" \
	"$(field tasks_per_s "$ref64")" "$(field messages_per_s "$ref64")"
printf '%-56s %10s %10s\n' "pubref: task only, 256 in flight" \
	"$(field tasks_per_s "$ref_task")" "$(field messages_per_s "$ref_task")"
printf '%-56s %10s %10s\n' "pubref: task only, 1 in flight (publish and wait)" \
	"$(field tasks_per_s "$ref_wait")" "$(field messages_per_s "$ref_wait")"
printf '%-56s %10s\n' "ratio tasker / pubref 256 (goal >= 0.8)" "$ratio"
printf '%-56s %10s\n' "ratio tasker / pubref $((conns * 2)) (the same in flight)" "$ratio64"
printf '%-56s %10s\n' "ratio tasker pipelined / pubref 256 (goal >= 0.8)" "$p_ratio"
printf '%-56s %10s\n' "CPU us/task: tasker, broker (tasker run)" \
	"$tasker_cpu, $broker_cpu_tasker"
printf '%-56s %10s\n' "CPU us/task: pubref, broker (pubref 256 run)" \
	"$(field cpu_us_per_task "$ref" | cut -d. -f1), $broker_cpu_ref"
printf '%-56s %10s\n' "tasker peak RSS, VmHWM KiB (goal < 2048)" "$hwm"
printf '%-56s %10s\n' "tasker RSS idle at start / at the end, KiB" "$rss_idle / $rss"
printf '%-56s %10s\n' "  of which at the end: RssAnon (own) / RssFile (libc...)" \
	"$rss_anon / $rss_file"
printf '%-56s %10s\n' "wrk: 202 answers / other statuses / socket errors" \
	"$accepted / $bad / $sockerr"
printf '%-56s %10s\n' "wrk pipelined: 202 answers / other statuses" \
	"$p_accepted / $p_bad"
printf '%-56s %10s\n' "wrk latency p50 / p99, ms" \
	"$(awk -v a="$p50" -v b="$p99" 'BEGIN { printf "%.1f / %.1f", a / 1000, b / 1000 }')"
printf '%-56s %10s\n' "tasks in the queue after the last wrk (>= 202 answers)" "$queued"
printf '%-56s %10s\n' "pubref tasks published per run" "$n"
printf '%-56s %10s\n' "load average during the tasker run ($(nproc) CPUs)" "$load"
if [ -n "$profile" ]; then
	echo
	echo "strace -c of the tasker during a 5 s wrk run:"
	head -n 20 "$profile"
fi
[ "$bad" -eq 0 ] && [ "$p_bad" -eq 0 ] && [ "$queued" -ge "$p_accepted" ]

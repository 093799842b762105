#!/bin/sh
# bench_middleman.sh - WebSocket fan-out of the middleman (issue 4). Run by
# tests/bench/run.sh (`make bench`), which provides BUILD,
# WARREN_TEST_PORT_BASE, WARREN_TEST_AMQP_URL and WARREN_BENCH_DIR. Prints a
# table; speed is reported, never asserted.
#
# The middleman runs with --interval 0. tests/bench/wsload.c (built here
# against the system rabbitmq-c) opens MM_CLIENTS (1000) WebSocket clients,
# then publishes MM_RATE (100) notifications a second for MM_SECONDS (30) s
# straight to `notifications` (persistent, ~330 bytes), each stamped with its
# publish time; every client reads every frame. Latency = receive - publish on
# one monotonic clock: broker + middleman + the load client's own reading.
# Delivery: every client must get every notification, in order.
# Memory: the middleman's VmRSS before clients, with the clients connected,
# and VmHWM (peak) at the end; per client = (connected - before) / clients.
# First a floor: the same rate to one client for 5 s (what the broker, the
# middleman and this machine's load add without the fan-out); the middleman
# is then restarted so its RSS is measured from scratch.
# Goal (issue 4): p99 < 50 ms, peak RSS < 8 MiB.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build}
url=${WARREN_TEST_AMQP_URL:?run me through tests/bench/run.sh}
base=${WARREN_TEST_PORT_BASE:?}
clients=${MM_CLIENTS:-1000}
rate=${MM_RATE:-100}
secs=${MM_SECONDS:-30}
dir=${WARREN_BENCH_DIR:-/tmp}/middleman
mkdir -p "$dir"
port=$((base + 40))
middleman=$BUILD/middleman
pid=
lpid=

[ -x "$middleman" ] || { echo "bench_middleman: $middleman is not built" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "bench_middleman: curl is missing" >&2; exit 1; }

stop_all() {
	if [ -n "$lpid" ]; then kill "$lpid" 2>/dev/null || true; wait "$lpid" 2>/dev/null || true; lpid=; fi
	if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; fi
}
# say so when anything fails (set -e exits silently)
trap 'rc=$?; stop_all; [ $rc = 0 ] || { echo "bench_middleman: failed ($rc); logs in $dir" >&2; tail -n 5 "$dir/middleman.log" >&2; }' EXIT
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

rmq_cflags=$(pkg-config --cflags librabbitmq 2>/dev/null || true)
rmq_libs=$(pkg-config --libs librabbitmq 2>/dev/null || echo -lrabbitmq)
${CC:-cc} -O2 -std=c11 -Wall -Wextra $rmq_cflags -o "$dir/wsload" \
	"$here/wsload.c" $rmq_libs

# kib FIELD: a VmXXX line of the middleman's /proc status, in KiB
kib() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$pid/status"; }
# field KEY LINE
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"$middleman" --listen "127.0.0.1:$port" --amqp "$url" --interval 0 \
	> "$dir/middleman.log" 2>&1 &
pid=$!
i=0
until curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "bench_middleman: middleman did not start" >&2; cat "$dir/middleman.log" >&2; exit 1; }
	sleep 0.1
done
rss_before=$(kib VmRSS)

# The floor: one client, same rate, 5 s (broker + middleman + this machine).
"$dir/wsload" -u "$url" -p "$port" -c 1 -r "$rate" -d 5 > "$dir/floor.out" 2>&1 ||
	{ echo "bench_middleman: wsload failed" >&2; cat "$dir/floor.out" >&2; exit 1; }
floor=$(grep '^RESULT' "$dir/floor.out")
# a fresh middleman for the run itself, so that RSS is measured from scratch
kill -0 "$pid" || { echo "bench_middleman: the middleman died" >&2; exit 1; }
kill -TERM "$pid"
wait "$pid" || true
"$middleman" --listen "127.0.0.1:$port" --amqp "$url" --interval 0 \
	>> "$dir/middleman.log" 2>&1 &
pid=$!
i=0
until curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "bench_middleman: middleman did not restart" >&2; exit 1; }
	sleep 0.1
done
rss_before=$(kib VmRSS)

"$dir/wsload" -u "$url" -p "$port" -c "$clients" -r "$rate" -d "$secs" \
	> "$dir/wsload.out" 2> "$dir/wsload.err" &
lpid=$!
i=0
until grep -q '^CONNECTED' "$dir/wsload.out" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 1200 ] || ! kill -0 "$lpid" 2>/dev/null; then
		echo "bench_middleman: clients did not connect" >&2; cat "$dir/wsload.err" >&2; exit 1
	fi
	sleep 0.1
done
rss_connected=$(kib VmRSS)
connect_line=$(grep '^CONNECTED' "$dir/wsload.out")
wait "$lpid" || { echo "bench_middleman: wsload failed" >&2; cat "$dir/wsload.err" >&2; exit 1; }
lpid=
res=$(grep '^RESULT' "$dir/wsload.out")
rss_peak=$(kib VmHWM)
rss_end=$(kib VmRSS)
# CPU seconds of the middleman (utime + stime, clock ticks)
ticks=$(getconf CLK_TCK)
cpu=$(awk -v t="$ticks" '{ printf "%.1f", ($14 + $15) / t }' "/proc/$pid/stat")
stop_all

expected=$(field expected "$res")
delivered=$(field delivered "$res")
per_client=$(awk -v a="$rss_before" -v b="$rss_connected" -v n="$clients" \
	'BEGIN { printf "%.2f", (b - a) * 1024 / n / 1024 }')
mib() { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v < g) ? "yes" : "NO" }'; }

echo
echo "middleman: $clients WebSocket clients, $rate notifications/s for $secs s, --interval 0"
printf '  %-44s %s\n' "clients connected in" "$(field seconds "$connect_line") s"
printf '  %-44s %s\n' "notifications published" "$(field published "$res")"
printf '  %-44s %s / %s (%s clients complete, %s out of order, %s bad, %s dropped)\n' \
	"deliveries" "$delivered" "$expected" "$(field complete_clients "$res")" \
	"$(field disorder "$res")" "$(field bad "$res")" "$(field closed "$res")"
printf '  %-44s p50 %s ms, p99 %s ms, max %s ms\n' "floor: 1 client, 5 s" \
	"$(field p50_ms "$floor")" "$(field p99_ms "$floor")" "$(field max_ms "$floor")"
printf '  %-44s %s ms\n' "latency p50 (publish -> receive)" "$(field p50_ms "$res")"
printf '  %-44s %s ms\n' "latency p90" "$(field p90_ms "$res")"
printf '  %-44s %s ms (goal < 50: %s)\n' "latency p99" "$(field p99_ms "$res")" \
	"$(verdict "$(field p99_ms "$res")" 50)"
printf '  %-44s %s ms\n' "latency max" "$(field max_ms "$res")"
printf '  %-44s %s MiB\n' "RSS before clients" "$(mib "$rss_before")"
printf '  %-44s %s MiB\n' "RSS with the clients connected" "$(mib "$rss_connected")"
printf '  %-44s %s KiB\n' "RSS per client" "$per_client"
printf '  %-44s %s MiB (goal < 8: %s)\n' "peak RSS (VmHWM)" "$(mib "$rss_peak")" \
	"$(verdict "$(mib "$rss_peak")" 8)"
printf '  %-44s %s MiB\n' "RSS at the end" "$(mib "$rss_end")"
printf '  %-44s %s s of %s s (load client: %s s)\n' "middleman CPU time" "$cpu" \
	"$(field elapsed_s "$res")" "$(field cpu_s "$res")"
printf '  %-44s %s\n' "load average at the end" "$(cut -d' ' -f1-3 /proc/loadavg)"
[ "$delivered" = "$expected" ] || { echo "bench_middleman: not every notification reached every client" >&2; exit 1; }

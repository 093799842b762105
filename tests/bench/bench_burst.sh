#!/bin/sh
# bench_burst.sh - batches that reach every page whole (issue 10). Run by
# tests/bench/run.sh (`make bench`), which provides BUILD,
# WARREN_TEST_PORT_BASE, WARREN_TEST_AMQP_URL, WARREN_TEST_HTTP_PORT,
# WARREN_TEST_DOCROOT and WARREN_BENCH_DIR. Prints a table; speed is
# reported, never asserted.
#
# A tasker, a middleman with the default settings (--interval 5, --history
# 1000, --tasks 10000) and two workers; tests/bench/wsburst.c opens
# BURST_CLIENTS (1000) WebSocket clients, POSTs one 1000-task array, waits
# until every client has a final notification of every task, then POSTs ten
# arrays of 1000 and waits again (11,000 finals per client in all; the
# middleman keeps 10,000 tasks, the clients keep count). Each task
# downloads its own tiny file from nginx.
# Reported: seconds from the first POST until the last client is complete,
# the push latency of every frame (receive time minus the notification's
# "time": worker, broker and the --interval), and the middleman's peak RSS.
# Goal (issue 10): peak RSS < 8 MiB with 10,000 kept tasks and 1000 clients.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build}
url=${WARREN_TEST_AMQP_URL:?run me through tests/bench/run.sh}
base=${WARREN_TEST_PORT_BASE:?}
clients=${BURST_CLIENTS:-1000}
phases=${BURST_PHASES:-1x1000 10x1000}
dir=${WARREN_BENCH_DIR:-/tmp}/burst
mkdir -p "$dir"
mport=$((base + 41))
tport=$((base + 42))
pids=

[ -x "$BUILD/middleman" ] || { echo "bench_burst: $BUILD/middleman is not built" >&2; exit 1; }
stop_all() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	pids=
}
trap 'rc=$?; stop_all; [ $rc = 0 ] || { echo "bench_burst: failed ($rc); logs in $dir" >&2; tail -n 5 "$dir"/*.log >&2; }' EXIT
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

${CC:-cc} -O2 -std=c11 -Wall -Wextra -o "$dir/wsburst" "$here/wsburst.c"

# one tiny file per task
files=$WARREN_TEST_DOCROOT/burst
total=0
for ph in $phases; do total=$((total + ${ph%x*} * ${ph#*x})); done
if [ ! -f "$files/t$((total - 1)).txt" ]; then
	mkdir -p "$files"
	i=0
	while [ $i -lt "$total" ]; do echo "burst file $i" > "$files/t$i.txt"; i=$((i + 1)); done
fi
rm -rf "$dir/dl1" "$dir/dl2"

kib() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$2/status"; }
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }
wait_http() {
	i=0
	until curl -fs "http://127.0.0.1:$1/health" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 150 ] || { echo "bench_burst: port $1 did not come up" >&2; exit 1; }
		sleep 0.1
	done
}

# the queues start empty: no task or notification of an earlier run
"$BUILD/middleman" --listen "127.0.0.1:$mport" --amqp "$url" > "$dir/middleman.log" 2>&1 &
mpid=$!
pids="$pids $mpid"
"$BUILD/tasker" --listen "127.0.0.1:$tport" --amqp "$url" > "$dir/tasker.log" 2>&1 &
pids="$pids $!"
"$BUILD/worker" --amqp "$url" --dir "$dir/dl1" > "$dir/worker1.log" 2>&1 &
pids="$pids $!"
"$BUILD/worker" --amqp "$url" --dir "$dir/dl2" > "$dir/worker2.log" 2>&1 &
pids="$pids $!"
wait_http "$mport"
wait_http "$tport"
rss_before=$(kib VmRSS "$mpid")

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# shellcheck disable=SC2086
"$dir/wsburst" -p "$mport" -t "$tport" -c "$clients" \
	-u "http://127.0.0.1:$WARREN_TEST_HTTP_PORT/burst" $phases > "$dir/wsburst.out" 2> "$dir/wsburst.err" ||
	{ echo "bench_burst: wsburst failed" >&2; cat "$dir/wsburst.err" "$dir/wsburst.out" >&2; exit 1; }
rss_peak=$(kib VmHWM "$mpid")
rss_end=$(kib VmRSS "$mpid")
ticks=$(getconf CLK_TCK)
cpu=$(awk -v t="$ticks" '{ printf "%.1f", ($14 + $15) / t }' "/proc/$mpid/stat")
kept=$(curl -fs "http://127.0.0.1:$mport/tasks" | tr '{' '\n' | grep -c '"status"' || true)
stop_all

echo
echo "burst: $clients WebSocket clients, 2 workers, middleman defaults (--interval 5, --history 1000, --tasks 10000)"
grep '^PHASE' "$dir/wsburst.out" | while read -r line; do
	printf '  %-44s %s s (POSTs %s s), %s of %s clients complete\n' \
		"$(field tasks "$line") tasks in $(field arrays "$line") array(s): every final at every client" \
		"$(field seconds "$line")" "$(field posted_s "$line")" "$(field complete "$line")" \
		"$(field clients "$line")"
	printf '  %-44s p50 %s ms, p99 %s ms, max %s ms (%s frames, %s bad, %s closed)\n' \
		"  push latency (time -> receive)" "$(field p50_ms "$line")" "$(field p99_ms "$line")" \
		"$(field max_ms "$line")" "$(field frames "$line")" "$(field bad "$line")" \
		"$(field closed "$line")"
done
printf '  %-44s %s\n' "tasks in GET /tasks at the end" "$kept"
printf '  %-44s %s MiB\n' "middleman RSS before clients" "$(mib "$rss_before")"
printf '  %-44s %s MiB (goal < 8: %s)\n' "middleman peak RSS (VmHWM)" "$(mib "$rss_peak")" \
	"$(awk -v v="$(mib "$rss_peak")" 'BEGIN { print (v < 8) ? "yes" : "NO" }')"
printf '  %-44s %s MiB\n' "middleman RSS at the end" "$(mib "$rss_end")"
printf '  %-44s %s s\n' "middleman CPU time" "$cpu"
printf '  %-44s %s\n' "load average at the end" "$(cut -d' ' -f1-3 /proc/loadavg)"

#!/bin/sh
# tests/fuzz/run.sh TARGET... - what `make fuzz` runs once the targets are
# built: each $FUZZ_DIR/fuzz_<TARGET> for $FUZZ_SECONDS seconds over its
# seeds (tests/fuzz/corpus/<TARGET>, read only) and its working corpus
# ($FUZZ_DIR/corpus/<TARGET>, kept between runs), with the dictionary
# tests/fuzz/<TARGET>.dict when there is one, and the libFuzzer flags in
# tests/fuzz/<TARGET>.flags.
#
# Prints one line per target: executions, coverage (libFuzzer's cov: edges
# and ft: features), corpus size, peak RSS and the verdict; a crash, leak,
# timeout or sanitizer report fails the target and leaves its input in
# $FUZZ_DIR/artifacts/<TARGET>/ (reproduce: $FUZZ_DIR/fuzz_<TARGET> FILE).
# The last line is "N passed, N failed", one count per target.
#
# Environment: FUZZ_DIR (default build/fuzz), FUZZ_SECONDS (default 60),
# FUZZ_JOBS (parallel targets, default 1: the machine is shared),
# FUZZ_FLAGS (more libFuzzer flags).
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
FUZZ_DIR=${FUZZ_DIR:-build/fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_FLAGS=${FUZZ_FLAGS:-}
FUZZ_JOBS=${FUZZ_JOBS:-1}
done_targets=
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

[ $# -gt 0 ] || set -- $(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||')

# run_target T: fuzzes T, writes its line (and any report) to
# $FUZZ_DIR/logs/T.result; the first line ends in "ok" or "FAILED ...".
run_target() {
	t=$1
	bin=$FUZZ_DIR/fuzz_$t
	res=$FUZZ_DIR/logs/$t.result
	mkdir -p "$FUZZ_DIR/logs"
	if [ ! -x "$bin" ]; then
		echo "$t: $bin is not built: FAILED" > "$res"
		return
	fi
	work=$FUZZ_DIR/corpus/$t
	art=$FUZZ_DIR/artifacts/$t
	log=$FUZZ_DIR/logs/$t.log
	mkdir -p "$work" "$art"
	seeds=
	[ -d "tests/fuzz/corpus/$t" ] && seeds=tests/fuzz/corpus/$t
	dict=
	[ -f "tests/fuzz/$t.dict" ] && dict=-dict=tests/fuzz/$t.dict
	flags=
	[ -f "tests/fuzz/$t.flags" ] && flags=$(cat "tests/fuzz/$t.flags")
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
		-timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-artifact_prefix="$art/" $dict $flags $FUZZ_FLAGS "$work" $seeds \
		> "$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
	if [ $rc -eq 0 ] && ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|fuzz invariant broken' "$log"; then
		verdict=ok
	else
		verdict="FAILED (exit $rc; see $log and $art/)"
	fi
	printf '%-10s %5ss  execs %-10s cov %-5s ft %-6s corpus %-10s rss %sMB  %s\n' \
		"$t" "$FUZZ_SECONDS" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
		"${corp:-?}" "${rss:-?}" "$verdict" > "$res"
	if [ "$verdict" != ok ]; then
		grep -E 'ERROR:|runtime error:|fuzz invariant|SUMMARY:|Test unit written' "$log" |
			head -n 8 >> "$res"
	fi
}

# FUZZ_JOBS targets at a time (plain sh has no `wait -n`: in batches)
while [ $# -gt 0 ]; do
	batch=
	n=0
	while [ $# -gt 0 ] && [ $n -lt "$FUZZ_JOBS" ]; do
		run_target "$1" &
		batch="$batch $1"
		n=$((n + 1))
		shift
	done
	wait
	done_targets="$done_targets$batch"
done

pass=0
fail=0
for t in $done_targets; do
	res=$FUZZ_DIR/logs/$t.result
	cat "$res"
	if head -n 1 "$res" | grep -q ' ok$'; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

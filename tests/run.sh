#!/bin/sh
# tests/run.sh [PATTERN...] - what `make check` runs after building.
#
# Starts the private RabbitMQ node and nginx of this port base when they are
# not running (and stops at exit - also on failure or interrupt - only what
# it started), exports the WARREN_TEST_* variables, runs every unit test
# binary $BUILD/tests/test_* (each ends with "N passed, N failed"), then the
# integration tests (tests/integ/run.py), and prints the sums as its very last
# line: "N passed, N failed". Exit status non-zero when anything failed, or a
# unit binary crashed or printed no count.
#
# PATTERNs (substrings) select unit binaries by name and integration tests by
# "module.function" (passed through to run.py); none = everything.
#
# Environment: BUILD (default build; build/san under SANITIZE=1),
# WARREN_TEST_PORT_BASE (default 25700), WARREN_TEST_ENV (state dir).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
export BUILD
export WARREN_TEST_PORT_BASE=${WARREN_TEST_PORT_BASE:-25700}
export WARREN_TEST_ENV=${WARREN_TEST_ENV:-$root/build/test-env/$WARREN_TEST_PORT_BASE}
PY=/usr/bin/python3

# Sanitizer builds: found by SANITIZE=1 (make exports it) or in the archive.
san=0
if [ "${SANITIZE:-}" = 1 ] || grep -q __asan_init "$BUILD/libwarren.a" 2>/dev/null; then
	san=1
fi
export WARREN_TEST_SANITIZE=$san
if [ $san = 1 ]; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

# Start what is not running; the exit trap stops it (and the Python suite).
pypid=
env_on_exit() {
	if [ -n "$pypid" ]; then
		kill -TERM "$pypid" 2>/dev/null && wait "$pypid" 2>/dev/null
		pypid=
	fi
}
. "$root/tests/env/lib.sh"
if ! env_up; then
	echo "run.sh: could not start $env_failed" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
export WARREN_TEST_ENV_READY=1
export WARREN_TEST_LOGS=$WARREN_TEST_ENV/logs
mkdir -p "$WARREN_TEST_LOGS"

# matches NAME: true when no pattern is given or one is a substring of NAME.
matches() {
	[ $# -gt 1 ] || return 0
	n=$1; shift
	for p in "$@"; do
		case $n in *"$p"*) return 0 ;; esac
	done
	return 1
}

total_pass=0
total_fail=0
out=$WARREN_TEST_ENV/last-run.out

# count FILE: add FILE's last line "N passed, N failed" to the totals;
# false when there is no such line.
count() {
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -n 1)
	[ -n "$line" ] || return 1
	p=${line%% passed*}
	f=${line#*, }; f=${f%% failed*}
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
}

for t in "$BUILD"/tests/test_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	name=$(basename "$t")
	matches "$name" "$@" || continue
	echo "== $name"
	# A hung unit test must not hang CI: 5 minutes each at most.
	timeout -k 10 "${WARREN_UNIT_TIMEOUT:-300}" "$t" > "$out" 2>&1
	rc=$?
	[ $rc -eq 124 ] && echo "$name: timed out" >> "$out"
	cat "$out"
	if ! count "$out"; then
		echo "FAIL $name: exit status $rc and no \"N passed, N failed\" line"
		total_fail=$((total_fail + 1))
	elif [ $rc -ne 0 ] && ! tail -n 1 "$out" | grep -qE '^[0-9]+ passed, [1-9][0-9]* failed$'; then
		# Crashed or failed after printing its count (e.g. a leak report
		# at exit): a failure even when every check passed.
		echo "FAIL $name: exit status $rc"
		total_fail=$((total_fail + 1))
	fi
done

echo "== integration tests"
# The file exists before tail opens it (tail gives up on a missing file).
: > "$out.integ"
$PY "$root/tests/integ/run.py" "$@" >> "$out.integ" 2>&1 &
pypid=$!
# Show the output as it comes; `wait` keeps traps working meanwhile.
tail -n +1 -f --pid=$pypid "$out.integ" 2>/dev/null &
tailpid=$!
wait $pypid
rc=$?
pypid=
wait $tailpid 2>/dev/null
if ! count "$out.integ"; then
	echo "FAIL integration tests: exit status $rc and no \"N passed, N failed\" line"
	total_fail=$((total_fail + 1))
elif [ $rc -ne 0 ] && ! tail -n 1 "$out.integ" | grep -qE '^[0-9]+ passed, [1-9][0-9]* failed$'; then
	echo "FAIL integration tests: exit status $rc"
	total_fail=$((total_fail + 1))
fi

env_exit
trap - EXIT INT TERM
echo "$total_pass passed, $total_fail failed"
[ $total_fail -eq 0 ]

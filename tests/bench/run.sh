#!/bin/sh
# tests/bench/run.sh [PATTERN...] - what `make bench` runs: every
# tests/bench/bench_*.sh (or those whose name holds a PATTERN) in name order,
# each printing its own table. Speed is reported, never asserted.
#
# Starts the private RabbitMQ node and nginx on port base 25750 (so benchmarks
# never disturb a test run on 25700) unless they run already, and stops at
# exit what it started. Each script gets the environment of tests/run.sh:
# BUILD (absolute), WARREN_TEST_PORT_BASE, WARREN_TEST_ENV and everything in
# <state>/env.sh (WARREN_TEST_AMQP_URL, WARREN_TEST_HTTP_PORT,
# WARREN_TEST_HTTPS_PORT, WARREN_TEST_CA_FILE, WARREN_TEST_DOCROOT, ...),
# plus WARREN_BENCH_DIR, a scratch dir. A big file for download benchmarks:
# `sh tests/env/nginx.sh bigfile 1024` (makes <docroot>/1024m.bin).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
export BUILD
export WARREN_TEST_PORT_BASE=${WARREN_BENCH_PORT_BASE:-25750}
export WARREN_TEST_ENV=$root/build/test-env/$WARREN_TEST_PORT_BASE
export WARREN_BENCH_DIR=$WARREN_TEST_ENV/bench
mkdir -p "$WARREN_BENCH_DIR"

. "$root/tests/env/lib.sh"
env_up || { echo "bench: could not start $env_failed" >&2; exit 1; }

failed=
ran=0
for b in "$here"/bench_*.sh; do
	[ -f "$b" ] || continue
	name=$(basename "$b" .sh)
	if [ $# -gt 0 ]; then
		hit=
		for p in "$@"; do case $name in *"$p"*) hit=1 ;; esac; done
		[ -n "$hit" ] || continue
	fi
	echo "=== $name"
	t0=$(date +%s)
	if sh "$b"; then
		echo "=== $name: $(( $(date +%s) - t0 )) s"
	else
		echo "=== $name: FAILED (exit $?)"
		failed="$failed $name"
	fi
	ran=$((ran + 1))
done
[ $ran -gt 0 ] || echo "no benchmark (tests/bench/bench_*.sh) to run"
env_exit
[ -z "$failed" ] || { echo "failed:$failed"; exit 1; }

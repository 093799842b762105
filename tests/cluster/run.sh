#!/bin/sh
# tests/cluster/run.sh [PATTERN...] - the cluster suite (issue 14), run once
# in CI (.ci/run), not by `make check`: the three-node RabbitMQ cluster of
# tests/env/cluster.sh, the private node and nginx of this port base (each
# started unless running, and only what was started here stopped at exit),
# then the tests in tests/cluster/test_*.py through tests/cluster/run.py.
# The last line is "N passed, N failed".
#
#   sh tests/cluster/run.sh measure [ARGS...]   instead of the tests:
#       tests/cluster/measure.py ARGS (intake and 1000-task batch figures)
#
# Environment: BUILD (default build), WARREN_TEST_PORT_BASE (default 25700).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
export BUILD
export WARREN_TEST_PORT_BASE=${WARREN_TEST_PORT_BASE:-25700}
export WARREN_TEST_ENV=${WARREN_TEST_ENV:-$root/build/test-env/$WARREN_TEST_PORT_BASE}
if [ "${SANITIZE:-}" = 1 ] || grep -q __asan_init "$BUILD/libwarren.a" 2>/dev/null; then
	export WARREN_TEST_SANITIZE=1
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

cluster_started=
env_on_exit() {
	[ -z "$cluster_started" ] || sh "$root/tests/env/cluster.sh" stop >/dev/null 2>&1
	cluster_started=
}
. "$root/tests/env/lib.sh"
if ! env_up; then
	echo "cluster/run.sh: could not start $env_failed" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
if ! sh "$root/tests/env/cluster.sh" status >/dev/null 2>&1; then
	echo "== starting the three-node cluster (about a minute)"
	if ! sh "$root/tests/env/cluster.sh" start; then
		echo "cluster/run.sh: could not start the cluster" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
	cluster_started=1
fi
export WARREN_TEST_ENV_READY=1
export WARREN_TEST_LOGS=$WARREN_TEST_ENV/cluster-logs
mkdir -p "$WARREN_TEST_LOGS"

if [ "${1:-}" = measure ]; then
	shift
	/usr/bin/python3 "$here/measure.py" "$@"
else
	/usr/bin/python3 "$here/run.py" "$@"
fi
rc=$?
env_exit
trap - EXIT INT TERM
exit $rc

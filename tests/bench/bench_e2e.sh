#!/bin/sh
# bench_e2e.sh - 200 x 1 MiB end to end (POST to every file whole, two
# workers), warren beside the plain Go version of ../shared/seed-go when
# its binaries are built (`make bench-seed` builds them, or
# `SEED_GO_OUT=build/seed-go sh ../shared/seed-go/build.sh`), interleaved
# round by round so that load from elsewhere hits both alike: e2e.py.
# Quicker than `make bench-seed` (this one figure, ~1 min) and on the test
# environment's own ports; the CPU seconds of each process (and of the
# broker) show where the time goes.
#
# Environment: WARREN_BENCH_ROUNDS (3), WARREN_BENCH_FILES (200),
# SEED_GO_DIR, SEED_GO_OUT (build/seed-go), and what tests/bench/run.sh
# exports. Also runnable alone (broker and nginx running):
#   WARREN_TEST_PORT_BASE=25800 sh tests/bench/bench_e2e.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
export BUILD
base=${WARREN_TEST_PORT_BASE:-25700}
export WARREN_TEST_ENV=${WARREN_TEST_ENV:-$root/build/test-env/$base}
. "$WARREN_TEST_ENV/env.sh"
export SEED_GO_OUT=${SEED_GO_OUT:-$root/build/seed-go}
impls=warren
[ -x "$SEED_GO_OUT/bin/worker-stripped" ] && impls="go warren"
[ "$impls" = warren ] && echo "(no Go baseline in $SEED_GO_OUT/bin: warren alone)"
exec /usr/bin/python3 "$here/e2e.py" "${WARREN_BENCH_ROUNDS:-3}" "${WARREN_BENCH_FILES:-200}" $impls

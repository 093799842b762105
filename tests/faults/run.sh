#!/bin/sh
# tests/faults/run.sh [PATTERN...] - what `make faults` runs after building:
# the fault-injection suite (tests/faults/faults.py) against the private
# broker and nginx of this port base (started when not running, stopped at
# the end if started here). The last line is "N passed, N failed".
#
# Environment: BUILD (default build), WARREN_TEST_PORT_BASE (default 25700),
# WARREN_SOAK_SECONDS (soak length, default 600; CI: 60),
# WARREN_FAULTS_TASKS (tasks of the broker-restart scenario, default 1000).
# Scenarios 3 and 4 need root (a tmpfs mount, network namespaces).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
export BUILD
export WARREN_TEST_PORT_BASE=${WARREN_TEST_PORT_BASE:-25700}
exec /usr/bin/python3 "$root/tests/faults/faults.py" "$@"

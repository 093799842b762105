#!/bin/sh
# tests/faults/valgrind.sh [PATTERN...] - the three programs under valgrind
# memcheck: no invalid access, no uninitialised use, no leak.
#
# 1. A round of our own (tests/faults/vground.py): tasker, middleman (with a
#    journal) and a worker under valgrind serve good and bad requests, a
#    WebSocket client, downloads (http, https, redirect, resume, 404, a
#    chunked body), a broker reconnection; then SIGTERM, so that every
#    program exits by itself and valgrind checks for leaks.
# 2. Integration tests (default: test_tasker test_middleman test_worker) with
#    every program started under valgrind; most are stopped by SIGKILL at
#    the end of a test, so these find invalid accesses, not leaks. Timing
#    tests may fail under valgrind's slowness: their failures are reported
#    but only valgrind's findings decide.
#
# Every valgrind log ($BUILD/valgrind/logs/vg.<pid>.log) is read; the last
# line is "N passed, N failed": one count per program run, failed when its
# log holds an error or a definite/indirect leak.
#
# Environment: BUILD (default build), WARREN_TEST_PORT_BASE (default 25700),
# VG_INTEG=0 to skip part 2.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
export WARREN_TEST_PORT_BASE=${WARREN_TEST_PORT_BASE:-25700}
PY=/usr/bin/python3

if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind.sh: valgrind is not installed (sh port/deps.sh test)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
make --no-print-directory BUILD="$BUILD" all >/dev/null || {
	echo "0 passed, 1 failed"; exit 1; }

vg=$BUILD/valgrind
rm -rf "$vg"
mkdir -p "$vg/bin" "$vg/logs"
# Wrappers with the programs' names, so the harness starts them as usual.
for p in tasker worker middleman; do
	cat > "$vg/bin/$p" <<EOF
#!/bin/sh
exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \\
	--errors-for-leak-kinds=definite,indirect --track-fds=no --num-callers=30 \\
	--child-silent-after-fork=yes --log-file=$vg/logs/vg.%p.log \\
	$BUILD/$p "\$@"
EOF
	chmod +x "$vg/bin/$p"
done

started=
cleanup() {
	for s in $started; do sh "tests/env/$s" stop >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
for s in broker.sh nginx.sh; do
	if ! sh "tests/env/$s" status >/dev/null 2>&1; then
		sh "tests/env/$s" start || { echo "0 passed, 1 failed"; exit 1; }
		started="$started $s"
	fi
done
export WARREN_TEST_ENV_READY=1 WARREN_TEST_SANITIZE=0
export WARREN_TEST_LOGS=$vg/test-logs

echo "== valgrind round (tests/faults/vground.py)"
BUILD=$vg/bin $PY tests/faults/vground.py
round=$?

integ=0
if [ "${VG_INTEG:-1}" != 0 ]; then
	[ $# -gt 0 ] || set -- test_tasker test_middleman test_worker
	echo "== integration tests under valgrind: $*"
	BUILD=$vg/bin $PY tests/integ/run.py "$@" > "$vg/integ.out" 2>&1
	grep -E '^(ok|FAIL) ' "$vg/integ.out" | sed 's/^/    /' | head -n 200
	echo "    integration: $(tail -n 1 "$vg/integ.out") (timing failures expected under valgrind)"
fi

echo "== valgrind findings"
pass=0
fail=0
for log in "$vg"/logs/vg.*.log; do
	[ -f "$log" ] || continue
	prog=$(sed -n 's/^==[0-9]*== Command: \([^ ]*\).*/\1/p' "$log" | head -n 1)
	errs=$(sed -n 's/^==[0-9]*== ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -n 1)
	if [ -z "$errs" ]; then
		# killed (SIGKILL) before its summary: only errors reported so far count
		if grep -qE '^==[0-9]+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and destination)' "$log"; then
			errs=1
		else
			errs=0
		fi
	fi
	if [ "$errs" -gt 0 ]; then
		fail=$((fail + 1))
		echo "FAIL $(basename "$prog") ($log):"
		grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|Source|[0-9,]+ bytes in)|definitely lost|indirectly lost' "$log" | head -n 8
	else
		pass=$((pass + 1))
	fi
done
leaks=$(grep -h 'definitely lost:' "$vg"/logs/vg.*.log 2>/dev/null | sort | uniq -c | sort -rn | head -n 3)
checked=$(grep -l 'ERROR SUMMARY' "$vg"/logs/vg.*.log 2>/dev/null | wc -l)
echo "valgrind: $((pass + fail)) program runs, $checked ran to exit (leak-checked), $fail with findings"
[ -n "$leaks" ] && echo "$leaks"
[ $round -eq 0 ] || { echo "FAIL valgrind round"; fail=$((fail + 1)); }
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

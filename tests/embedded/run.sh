#!/bin/sh
# tests/embedded/run.sh - the tests of the embedded builds (issue 5), run by
# .ci/run after `make check STATIC=1` (the whole suite on the static x86_64
# musl binaries). This script adds:
#
#   build    make TARGET=armhf, TARGET=aarch64, and the multi-call `warren`
#            (MULTI=1) for x86_64 and aarch64; CROSS_COMPILE= SYSROOT= with
#            a stand-in SDK (musl-gcc under a prefix of its own)
#   multi    the multi-call binary dispatches on argv[0] and on its first
#            argument, and refuses an unknown applet
#   smoke    tests/embedded/smoke.py on loopback, ARM binaries run by
#            qemu-arm-static / qemu-aarch64-static called directly: a task
#            through tasker -> worker (HTTPS from a TLS-1.3-only nginx,
#            verified) -> middleman -> WebSocket client; also the x86_64
#            multi-call binary natively (and the RSS figures)
#   syslog   --syslog of each program (static, and multi-call applets): a
#            message with facility LOG_DAEMON and the program as ident on
#            /dev/log of a private mount namespace (tests/embedded/syslog_check.py)
#   busybox  port/busybox init scripts under Debian's busybox (sh and its
#            start-stop-daemon applet): start, status, stop of each program,
#            separate binaries and multi-call links; no process left behind
#   openwrt  port/openwrt/files/warren.init with stand-ins for procd's and
#            UCI's shell functions: the instances and environments it makes
#   size     `make size` of each target: a report, no check
#
# Starts the private broker and nginx (tests/env) when not running and stops
# what it started. The last line is "N passed, N failed".
# Environment: WARREN_TEST_PORT_BASE (default 25700), JOBS (make -j, 2).
# Ports: base+40 the TLS-1.3-only nginx of smoke.py, base+41..42 the
# BusyBox-started tasker and middleman, base+43..44 openwrt_init.sh's,
# base+45..46 syslog_check.py's.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
export WARREN_TEST_PORT_BASE=${WARREN_TEST_PORT_BASE:-25700}
export WARREN_TEST_ENV=${WARREN_TEST_ENV:-$root/build/test-env/$WARREN_TEST_PORT_BASE}
JOBS=${JOBS:-2}
PY=/usr/bin/python3
logs=$root/build/embedded-test
rm -rf "$logs"
mkdir -p "$logs"

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
# counts FILE: adds FILE's last "N passed, N failed" (a missing line fails).
counts() {
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -n 1)
	if [ -z "$line" ]; then
		bad "$(basename "$1" .log): no result line (see $1)"
		return
	fi
	p=${line%% passed*}
	f=${line#*, }; f=${f%% failed*}
	pass=$((pass + p))
	fail=$((fail + f))
}

# expect_run NAME STATUS PATTERN CMD...: CMD exits STATUS and its output
# (stdout and stderr) matches the extended regex PATTERN.
expect_run() {
	name=$1 want=$2 pat=$3; shift 3
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" = "$want" ] && printf '%s\n' "$out" | grep -Eq "$pat"; then
		ok "$name"
	else
		bad "$name: exit $rc (want $want), output: $(printf '%s' "$out" | head -n 3)"
	fi
}

# ---- build -----------------------------------------------------------------

# build NAME MAKE-ARGS...: one build, its output in $logs/build-NAME.log.
build() {
	name=$1; shift
	t0=$(date +%s)
	if make -j"$JOBS" "$@" > "$logs/build-$name.log" 2>&1; then
		ok "build $name ($(( $(date +%s) - t0 )) s)"
		# Warnings in our own code are defects too (-Wall -Wextra clean).
		if grep -E '^(src|port|tests)/[^:]*:[0-9]+:[0-9]+: warning' "$logs/build-$name.log" \
			> "$logs/warnings-$name.txt"; then
			bad "build $name: warnings in warren's code:"
			sed 's/^/    /' "$logs/warnings-$name.txt"
		fi
		return 0
	fi
	bad "build $name: make $*"
	tail -n 30 "$logs/build-$name.log" | sed 's/^/    /'
	return 1
}

built_x86=0 built_armhf=0 built_aarch64=0
build x86_64-multi STATIC=1 all multi && built_x86=1
build armhf TARGET=armhf all && built_armhf=1
build aarch64-multi TARGET=aarch64 all multi && built_aarch64=1

# CROSS_COMPILE= and SYSROOT=, the OpenWrt SDK way, with a stand-in SDK:
# musl-gcc and the host's binutils under a prefix of their own.
sdk=$logs/sdk/bin
mkdir -p "$sdk"
for t in gcc:musl-gcc ar:ar strip:strip ranlib:ranlib; do
	printf '#!/bin/sh\nexec %s "$@"\n' "${t#*:}" > "$sdk/x86_64-sdk-linux-musl-${t%%:*}"
	chmod 755 "$sdk/x86_64-sdk-linux-musl-${t%%:*}"
done
if build cross CROSS_COMPILE="$sdk/x86_64-sdk-linux-musl-" SYSROOT=/ all; then
	for p in tasker worker middleman; do
		expect_run "cross: build/cross/$p runs" 0 "^$p \\(warren\\)" build/cross/$p --version
	done
fi

# ---- multi-call dispatch ---------------------------------------------------------

if [ $built_x86 = 1 ]; then
	b=build/x86_64
	for p in tasker worker middleman; do
		expect_run "multi: $p via argv[0] link" 0 "^Usage: $p " "$b/multi/$p" --help
		expect_run "multi: $p as first argument" 0 "^Usage: $p " "$b/warren" "$p" --help
	done
	expect_run "multi: warren --help lists the applets" 0 "applets: tasker worker middleman" \
		"$b/warren" --help
	expect_run "multi: unknown applet exits 2" 2 "no applet 'nope'" "$b/warren" nope
	expect_run "multi: applet's bad option exits 2" 2 "worker" "$b/warren" worker --bogus
fi
if [ $built_aarch64 = 1 ]; then
	expect_run "multi: aarch64 warren under qemu" 0 "^Usage: tasker " \
		qemu-aarch64-static build/aarch64/warren tasker --help
fi

# ---- services for the smoke tests and the init scripts -----------------------

. "$root/tests/env/lib.sh"
env_up "$logs" || bad "start tests/env/$env_failed (see $logs/$env_failed.log)"
export WARREN_TEST_LOGS=$logs/programs

# ---- smoke tests -----------------------------------------------------------------

# smoke NAME ARGS...: tests/embedded/smoke.py ARGS, counted.
smoke() {
	name=$1; shift
	$PY tests/embedded/smoke.py "$@" > "$logs/smoke-$name.log" 2>&1
	sed 's/^/  /' "$logs/smoke-$name.log" | grep -v ' passed, .* failed$'
	counts "$logs/smoke-$name.log"
}
[ $built_x86 = 1 ] && smoke x86_64 build/x86_64 --arch x86_64 --rss
[ $built_x86 = 1 ] && smoke x86_64-multi build/x86_64 --arch x86_64 --multi link
[ $built_armhf = 1 ] && smoke armhf build/armhf --arch arm --qemu qemu-arm-static
[ $built_aarch64 = 1 ] && smoke aarch64-multi build/aarch64 --arch aarch64 \
	--qemu qemu-aarch64-static --multi arg

# ---- --syslog ------------------------------------------------------------------------

# syslog_check NAME BINDIR: tests/embedded/syslog_check.py, counted.
syslog_check() {
	$PY tests/embedded/syslog_check.py "$2" > "$logs/syslog-$1.log" 2>&1
	sed 's/^/  /' "$logs/syslog-$1.log" | grep -v ' passed, .* failed$'
	counts "$logs/syslog-$1.log"
}
[ $built_x86 = 1 ] && syslog_check x86_64 build/x86_64
[ $built_x86 = 1 ] && syslog_check x86_64-multi build/x86_64/multi

# ---- BusyBox init scripts ------------------------------------------------------------

# A root where `sh`, `start-stop-daemon`, `sleep`... are Debian's busybox
# applets and nothing else, and the settings point at the test broker.
bb=$logs/busybox
mkdir -p "$bb/bin" "$bb/run" "$bb/default" "$bb/init.d"
BUSYBOX=$(command -v busybox || true)
if [ -z "$BUSYBOX" ]; then
	bad "busybox: not installed (sh port/deps.sh test)"
else
	for a in sh start-stop-daemon sleep cat echo printf mkdir rm dirname tr; do
		ln -sf "$BUSYBOX" "$bb/bin/$a"
	done
	cp port/busybox/S8* port/busybox/warren-functions "$bb/init.d/"
fi

# alive PID: true while PID runs (a zombie - dead, not yet reaped by the
# init of the machine, to which start-stop-daemon leaves its children -
# does not count).
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$state" ] && [ "$state" != Z ]
}

# procs_of BIN: live pids whose executable is BIN (resolved), one per line.
procs_of() {
	want=$(readlink -f "$1")
	for d in /proc/[0-9]*; do
		[ "$(readlink "$d/exe" 2>/dev/null)" = "$want" ] && alive "${d#/proc/}" &&
			echo "${d#/proc/}"
	done
}

# init_cycle LABEL BINDIR: every script through start, status, stop.
init_cycle() {
	label=$1 bindir=$2
	cat > "$bb/default/warren" <<-EOF
	WARREN_AMQP_URL=amqp://guest:guest@127.0.0.1:$WARREN_TEST_PORT_BASE
	WARREN_TASKER_LISTEN=127.0.0.1:$((WARREN_TEST_PORT_BASE + 41))
	WARREN_MIDDLEMAN_LISTEN=127.0.0.1:$((WARREN_TEST_PORT_BASE + 42))
	WARREN_DIR=$bb/downloads
	WARREN_BINDIR=$bindir
	WARREN_RUNDIR=$bb/run
	WARREN_STOP_TIMEOUT=15
	EOF
	echo 'WORKER_OPTS="--concurrency 2"' > "$bb/default/warren-worker"
	for s in S80warren-tasker S81warren-middleman S82warren-worker; do
		prog=${s#S8?warren-}
		rc_() { env -i PATH="$bb/bin" WARREN_DEFAULTS="$bb/default" \
			"$bb/bin/sh" "$bb/init.d/$s" "$@" >> "$logs/busybox.log" 2>&1; }
		t="busybox $label: $s"
		rc_ status; [ $? = 3 ] || { bad "$t: status before start is not 3"; continue; }
		if ! rc_ start; then bad "$t start failed"; continue; fi
		pid=$(cat "$bb/run/warren-$prog.pid" 2>/dev/null)
		if [ -z "$pid" ] || ! alive "$pid"; then bad "$t: no process"; continue; fi
		tr '\0' ' ' < "/proc/$pid/cmdline" > "$logs/cmdline-$prog"
		if ! grep -q -- '--syslog' "$logs/cmdline-$prog"; then
			bad "$t: started without --syslog: $(cat "$logs/cmdline-$prog")"
		fi
		if [ "$prog" = worker ] && ! grep -q -- '--concurrency 2' "$logs/cmdline-$prog"; then
			bad "$t: WORKER_OPTS not applied: $(cat "$logs/cmdline-$prog")"
		fi
		if ! tr '\0' '\n' < "/proc/$pid/environ" | grep -qx "WARREN_AMQP_URL=amqp://guest:guest@127.0.0.1:$WARREN_TEST_PORT_BASE"; then
			bad "$t: /etc/default settings not in the environment"
		fi
		rc_ start || bad "$t: second start (already running) failed"
		[ "$(cat "$bb/run/warren-$prog.pid")" = "$pid" ] || bad "$t: second start started another"
		rc_ status || { bad "$t: status while running is not 0"; }
		rc_ stop || bad "$t: stop failed"
		rc_ status; [ $? = 3 ] || bad "$t: status after stop is not 3"
		[ ! -e "$bb/run/warren-$prog.pid" ] || bad "$t: pidfile left behind"
		left=$(procs_of "$bindir/$prog")
		if [ -n "$left" ] || alive "$pid"; then
			bad "$t: process left behind: $left $pid"
			kill -9 $left "$pid" 2>/dev/null
		else
			ok "$t: start, status, stop; nothing left"
		fi
		rc_ stop || bad "$t: stop when stopped failed"
	done
}
if [ -n "$BUSYBOX" ] && [ $built_x86 = 1 ]; then
	init_cycle "separate" "$root/build/x86_64"
	init_cycle "multi-call" "$root/build/x86_64/multi"
	# A bad setting: the script must report the failure, not "OK".
	echo 'TASKER_OPTS="--bogus"' > "$bb/default/warren-tasker"
	if env -i PATH="$bb/bin" WARREN_DEFAULTS="$bb/default" \
		"$bb/bin/sh" "$bb/init.d/S80warren-tasker" start >> "$logs/busybox.log" 2>&1; then
		bad "busybox: start with a bad option reported success"
	else
		ok "busybox: start with a bad option reports FAILED"
	fi
	rm -f "$bb/default/warren-tasker"
fi

# ---- OpenWrt procd script ---------------------------------------------------------

TMPDIR=$logs sh "$here/openwrt_init.sh" \
	"$( [ $built_x86 = 1 ] && echo "$root/build/x86_64/multi")" > "$logs/openwrt.log" 2>&1
sed 's/^/  /' "$logs/openwrt.log" | grep -v ' passed, .* failed$'
counts "$logs/openwrt.log"

# ---- size report ------------------------------------------------------------------------

echo "== size (stripped; budget x86_64: tasker 130 KB, middleman 150 KB, worker 300 KB, warren 330 KB)"
[ $built_x86 = 1 ] && make --no-print-directory STATIC=1 size 2>&1
[ $built_armhf = 1 ] && make --no-print-directory TARGET=armhf size 2>&1 | grep -E '^build/'
[ $built_aarch64 = 1 ] && make --no-print-directory TARGET=aarch64 size 2>&1 | grep -E '^build/'

env_exit
trap - EXIT INT TERM
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

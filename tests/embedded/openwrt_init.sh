#!/bin/sh
# tests/embedded/openwrt_init.sh [BINDIR] - checks port/openwrt/files/warren.init
# without OpenWrt: procd's and UCI's shell functions are replaced by
# stand-ins that print what the script asks for, over a UCI configuration
# given as variables. Checked: which instances it makes, their command
# lines and environments; then (with BINDIR, the multi-call links of a
# build) each instance's command and environment really start that
# program, which stays up until SIGTERM and exits 0 - so the script's
# WARREN_* names are ones the programs know. Last line "N passed, N failed".
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
init=$root/port/openwrt/files/warren.init
BINDIR=${1:-}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   openwrt: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL openwrt: $*"; }

# run_init: sources the init script with the stand-ins in a subshell and
# calls start_service and service_triggers; prints one line per call.
run_init() {
	(
		config_load() { [ "$1" = warren ] || echo "config_load $1"; }
		# UCI values are variables U_<section>_<option>.
		config_get() {
			eval "_v=\${U_$2_$3-${4:-}}"
			eval "$1=\$_v"
		}
		config_get_bool() {
			config_get "$@"
			eval "case \$$1 in 1|on|true|yes|enabled) $1=1 ;; *) $1=0 ;; esac"
		}
		procd_open_instance() { echo "instance $1"; }
		procd_set_param() { echo "set $*"; }
		procd_append_param() { echo "append $*"; }
		procd_close_instance() { echo "close"; }
		procd_add_reload_trigger() { echo "trigger $*"; }
		# shellcheck disable=SC1090
		. "$init"
		start_service
		service_triggers
	)
}

# has OUT LINE: true when OUT holds LINE exactly.
has() { printf '%s\n' "$1" | grep -qxF -- "$2"; }

sh -n "$init" && ok "script parses" || bad "sh -n $init"

# The shipped defaults.
U_global_amqp_url=amqp://guest:guest@127.0.0.1:5672
U_global_token=
U_global_heartbeat=30
U_tasker_enabled=1 U_tasker_listen=0.0.0.0:8080
U_middleman_enabled=1 U_middleman_listen=0.0.0.0:8081 U_middleman_interval=5
U_middleman_history=1000 U_middleman_journal=
U_worker_enabled=1 U_worker_dir=/tmp/warren/downloads U_worker_concurrency=1
U_worker_ca_file=/etc/ssl/certs/ca-certificates.crt U_worker_max_size=0
U_worker_retries=3 U_worker_timeout=30 U_worker_deny_private=0 U_worker_on_complete=
out=$(run_init)
n=$(printf '%s\n' "$out" | grep -c '^instance ')
[ "$n" = 3 ] && ok "defaults: three instances" || bad "defaults: $n instances:
$out"
for p in tasker middleman worker; do
	has "$out" "instance $p" && has "$out" "set command /usr/bin/warren $p --syslog" &&
		ok "defaults: $p runs 'warren $p --syslog'" || bad "defaults: $p command:
$out"
done
has "$out" "append env WARREN_AMQP_URL=amqp://guest:guest@127.0.0.1:5672" &&
	ok "broker URL in the environment" || bad "no WARREN_AMQP_URL:
$out"
printf '%s\n' "$out" | grep -q 'WARREN_TOKEN' && bad "empty token passed" ||
	ok "empty token: no WARREN_TOKEN"
printf '%s\n' "$out" | grep -q 'WARREN_DENY_PRIVATE' && bad "deny_private 0 passed" ||
	ok "deny_private 0: not set"
has "$out" "trigger warren" && ok "reload trigger on /etc/config/warren" ||
	bad "no reload trigger"
has "$out" "set respawn 3600 5 5" && ok "respawn" || bad "no respawn"

# Changed settings.
U_global_token=s3cret U_worker_deny_private=1 U_middleman_enabled=0
U_worker_concurrency=4 U_middleman_journal=/overlay/warren.journal
out=$(run_init)
printf '%s\n' "$out" | grep -q '^instance middleman' && bad "disabled middleman started" ||
	ok "enabled 0: no instance"
has "$out" "append env WARREN_TOKEN=s3cret" && ok "token in the environment" ||
	bad "token missing"
printf '%s\n' "$out" | grep -q 's3cret' && ! printf '%s\n' "$out" |
	grep '^set command' | grep -q s3cret && ok "token not on the command line" ||
	bad "token on the command line"
has "$out" "append env WARREN_DENY_PRIVATE=1" && ok "deny_private 1" || bad "deny_private 1:
$out"
has "$out" "append env WARREN_CONCURRENCY=4" && ok "concurrency" || bad "concurrency"

# The instances really start with what the script gives them.
if [ -n "$BINDIR" ]; then
	U_middleman_enabled=1 U_middleman_journal= U_global_token=
	U_global_amqp_url=amqp://guest:guest@127.0.0.1:${WARREN_TEST_PORT_BASE:-25700}
	base=${WARREN_TEST_PORT_BASE:-25700}
	U_tasker_listen=127.0.0.1:$((base + 43)) U_middleman_listen=127.0.0.1:$((base + 44))
	U_worker_dir=${TMPDIR:-/tmp}/warren-openwrt-$$
	U_worker_ca_file=${WARREN_TEST_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}
	out=$(run_init)
	for p in tasker middleman worker; do
		envs=$(printf '%s\n' "$out" | awk -v p="$p" '
			/^instance / { on = ($2 == p) } on && /^append env / { print $3 }')
		# shellcheck disable=SC2086
		env -i $envs "$BINDIR/$p" > "${TMPDIR:-/tmp}/openwrt-$p.log" 2>&1 &
		pid=$!
		sleep 2
		if ! kill -0 $pid 2>/dev/null; then
			wait $pid
			bad "$p with the script's environment exited ($?): $(tail -n 2 "${TMPDIR:-/tmp}/openwrt-$p.log")"
			continue
		fi
		kill -TERM $pid
		wait $pid
		rc=$?
		[ $rc = 0 ] && ok "$p starts with the script's environment, exits 0 on SIGTERM" ||
			bad "$p: exit $rc after SIGTERM"
	done
	rm -rf "$U_worker_dir"
fi

echo "$pass passed, $fail failed"
[ $fail = 0 ]

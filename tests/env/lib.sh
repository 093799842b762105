# tests/env/lib.sh - sourced by the runners (tests/run.sh, tests/bench/run.sh,
# tests/embedded/run.sh): the private RabbitMQ node and nginx of
# $WARREN_TEST_PORT_BASE (tests/env/broker.sh, nginx.sh), started unless
# running, and only what was started here stopped again. Needs $root (the
# checkout) and $WARREN_TEST_ENV; sets traps that call env_down (and
# env_on_exit, a function the runner may define, before it).

env_started=
env_failed=

# env_up [LOGDIR]: starts what is not running (its output into
# LOGDIR/<script>.log when given), refreshes nginx's files when it is, then
# reads $WARREN_TEST_ENV/env.sh. 0, or 1 with the script that failed in
# env_failed.
env_up() {
	env_failed=
	for s in broker.sh nginx.sh; do
		if sh "$root/tests/env/$s" status >/dev/null 2>&1; then
			# refresh nginx's config and env files
			[ $s != nginx.sh ] || sh "$root/tests/env/$s" start >/dev/null 2>&1
			continue
		fi
		if [ -n "${1:-}" ]; then
			sh "$root/tests/env/$s" start > "$1/$s.log" 2>&1
		else
			sh "$root/tests/env/$s" start
		fi || { env_failed=$s; return 1; }
		env_started="$env_started $s"
	done
	[ ! -f "$WARREN_TEST_ENV/env.sh" ] || . "$WARREN_TEST_ENV/env.sh"
}

# env_down: stops what env_up started.
env_down() {
	for s in $env_started; do
		sh "$root/tests/env/$s" stop >/dev/null 2>&1 || true
	done
	env_started=
}

env_on_exit() { :; }
env_exit() { env_on_exit; env_down; }
trap env_exit EXIT
trap 'env_exit; exit 130' INT
trap 'env_exit; exit 143' TERM

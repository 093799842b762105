#!/bin/sh
# port/run.sh - what `make run` runs once the programs are built in $BUILD:
# the whole system on this machine, in the foreground, until Ctrl-C/SIGTERM.
#
#   - a broker: the one at WARREN_AMQP_URL (default
#     amqp://guest:guest@127.0.0.1:5672) when its port answers; otherwise a
#     private RabbitMQ node on that port (tests/env/broker.sh, state in
#     build/run-env, or WARREN_RUN_ENV), stopped again at the end;
#   - on that private node only (never on a broker that is not ours): the
#     classic queues `tasks` and `notifications` that an older warren
#     declared there are deleted, since warren now declares `tasks` as a
#     quorum queue and `notifications` as a stream (RabbitMQ refuses to
#     redeclare a queue with another type);
#   - tasker, middleman and two workers (downloading into ./downloads), each
#     of those that is built; every log line prefixed with the program's name.
# Ctrl-C or SIGTERM stops them all (SIGTERM, then wait) and exits 0.
# Settings reach the programs through their WARREN_* environment variables.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
export WARREN_AMQP_URL=${WARREN_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672}
tasker_listen=${WARREN_TASKER_LISTEN:-0.0.0.0:8080}
middleman_listen=${WARREN_MIDDLEMAN_LISTEN:-0.0.0.0:8081}
run_env=${WARREN_RUN_ENV:-$root/build/run-env}
mkdir -p "$run_env"
run_env=$(cd "$run_env" && pwd)

# The Makefile's `deps` installs what builds; running also needs RabbitMQ.
sh "$root/port/deps.sh" run || exit 1

say() { echo "[run] $*" >&2; }

# Host and port of the AMQP URL (amqp://user:pass@host:port/vhost); of the
# first one when it is a list (the nodes of a cluster).
first_url=${WARREN_AMQP_URL%%,*}
hostport=${first_url#*://}
hostport=${hostport#*@}
hostport=${hostport%%/*}
amqp_host=${hostport%:*}
amqp_port=${hostport##*:}
[ "$amqp_port" = "$hostport" ] && amqp_port=5672
case $first_url in amqps://*) [ "$amqp_port" = "$hostport" ] && amqp_port=5671 ;; esac
amqp_host=${amqp_host#[}; amqp_host=${amqp_host%]}

# port_open HOST PORT: true when HOST:PORT accepts a TCP connection.
port_open() {
	if command -v bash >/dev/null 2>&1; then
		bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
	else
		/usr/bin/python3 -c 'import socket,sys; socket.create_connection((sys.argv[1],int(sys.argv[2])),2)' "$1" "$2" 2>/dev/null
	fi
}

broker_started=
pids=
prefixers=
names=

stop_all() {
	trap '' INT TERM
	for p in $pids; do kill -TERM "$p" 2>/dev/null; done
	for p in $pids $prefixers; do wait "$p" 2>/dev/null; done
	pids=
	if [ -n "$broker_started" ]; then
		say "stopping the private RabbitMQ node"
		WARREN_TEST_PORT_BASE=$amqp_port WARREN_TEST_ENV=$run_env \
		    sh "$root/tests/env/broker.sh" stop
	fi
	rm -f "$run_env"/*.fifo
	say "stopped"
	exit 0
}
trap stop_all INT TERM

# own_node ARGS...: tests/env/broker.sh ARGS for the private node of run_env.
own_node() {
	WARREN_TEST_PORT_BASE=$amqp_port WARREN_TEST_ENV=$run_env \
	    sh "$root/tests/env/broker.sh" "$@"
}

# drop_old_queues: on our own private node, delete `tasks` and
# `notifications` when they are still the classic queues of an older warren
# (the programs would get 406 PRECONDITION_FAILED declaring them anew). Their
# messages are lost: said, with how many.
drop_old_queues() {
	own_node ctl -q --no-table-headers list_queues name type messages 2>/dev/null |
	while read -r q type n; do
		case "$q:$type" in
		tasks:classic|notifications:classic) ;;
		*) continue ;;
		esac
		what="a quorum queue"
		[ "$q" = tasks ] || what="a stream"
		say "removing the classic queue $q ($n messages) that an older warren declared on the private node: warren declares it as $what now"
		own_node ctl -q delete_queue "$q" >/dev/null </dev/null ||
			say "could not delete $q: the programs will say what to do"
	done
}

if port_open "$amqp_host" "$amqp_port"; then
	say "using the broker at $amqp_host:$amqp_port"
	# a private node of ours left running (e.g. by a `make run` killed with -9)
	if own_node status >/dev/null 2>&1; then
		drop_old_queues
	fi
else
	case $amqp_host in
	127.*|localhost|::1) ;;
	*)	say "no broker answers at $amqp_host:$amqp_port, and it is not this machine"
		exit 1 ;;
	esac
	say "no broker at $amqp_host:$amqp_port: starting a private RabbitMQ node (state in $run_env)"
	# A download keeps its task's delivery unacknowledged until it ends, and
	# RabbitMQ closes a channel whose delivery stays unacked past
	# consumer_timeout (30 min by default), so long downloads need more:
	# 3 hours here. Operators set the same in their rabbitmq.conf
	# (consumer_timeout = 10800000).
	if ! WARREN_TEST_PORT_BASE=$amqp_port WARREN_TEST_ENV=$run_env \
	    WARREN_CONSUMER_TIMEOUT_MS=10800000 sh "$root/tests/env/broker.sh" start; then
		say "could not start RabbitMQ"
		exit 1
	fi
	broker_started=1
	drop_old_queues
fi

# start NAME BINARY ARGS...: run BINARY with its output prefixed by NAME.
start() {
	name=$1 bin=$2
	shift 2
	if [ ! -x "$BUILD/$bin" ]; then
		say "$bin is not built yet: not started"
		return 0
	fi
	fifo=$run_env/$name.fifo
	rm -f "$fifo" && mkfifo "$fifo"
	# The prefixer ignores Ctrl-C so that it prints the programs' last words.
	# (A shell loop, not awk: mawk reads its input in blocks and would
	# hold lines back.)
	( trap '' INT TERM
	  while IFS= read -r line || [ -n "$line" ]; do
		printf '[%s] %s\n' "$name" "$line"
	  done < "$fifo" ) &
	prefixers="$prefixers $!"
	"$BUILD/$bin" "$@" > "$fifo" 2>&1 < /dev/null &
	pids="$pids $!"
	names="$names $name:$!"
}

mkdir -p downloads
start tasker tasker --listen "$tasker_listen"
start middleman middleman --listen "$middleman_listen"
start worker1 worker --dir ./downloads
start worker2 worker --dir ./downloads

if [ -z "$pids" ]; then
	say "nothing is built in $BUILD"
	stop_all
fi

tport=${tasker_listen##*:}
mport=${middleman_listen##*:}
cat >&2 <<EOT
[run] ------------------------------------------------------------------
[run] queue a download:
[run]   curl -d '{"name":"example","arg":"https://example.org/","taskType":"download"}' http://127.0.0.1:$tport/task
[run] watch it:    http://127.0.0.1:$mport/   (WebSocket: ws://127.0.0.1:$mport/ws)
[run] health:      curl http://127.0.0.1:$tport/health
[run] files land in $(pwd)/downloads.  Ctrl-C stops everything.
[run] ------------------------------------------------------------------
EOT

# Wait in short steps so that a signal is handled at once; report programs
# that end by themselves, and finish when none is left.
while [ -n "$pids" ]; do
	sleep 1 &
	wait $! 2>/dev/null
	alive=
	for np in $names; do
		p=${np#*:}
		case " $pids " in *" $p "*) ;; *) continue ;; esac
		if kill -0 "$p" 2>/dev/null; then
			alive="$alive $p"
		else
			wait "$p"
			say "${np%%:*} exited with status $?"
		fi
	done
	pids=$alive
done
stop_all

#!/bin/sh
# port/run.sh - what `make run` runs once the programs are built in $BUILD:
# the whole system on this machine, in the foreground, until Ctrl-C/SIGTERM.
#
#   - a broker: the one at WARREN_AMQP_URL (default
#     amqp://guest:guest@127.0.0.1:5672) when its port answers; otherwise a
#     private RabbitMQ node on that port (tests/env/broker.sh, state in
#     build/run-env), stopped again at the end;
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
run_env=$root/build/run-env
mkdir -p "$run_env"

# The Makefile's `deps` installs what builds; running also needs RabbitMQ.
sh "$root/port/deps.sh" run || exit 1

say() { echo "[run] $*" >&2; }

# Host and port of the AMQP URL (amqp://user:pass@host:port/vhost).
hostport=${WARREN_AMQP_URL#*://}
hostport=${hostport#*@}
hostport=${hostport%%/*}
amqp_host=${hostport%:*}
amqp_port=${hostport##*:}
[ "$amqp_port" = "$hostport" ] && amqp_port=5672
case $WARREN_AMQP_URL in amqps://*) [ "$amqp_port" = "$hostport" ] && amqp_port=5671 ;; esac
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

if port_open "$amqp_host" "$amqp_port"; then
	say "using the broker at $amqp_host:$amqp_port"
else
	case $amqp_host in
	127.*|localhost|::1) ;;
	*)	say "no broker answers at $amqp_host:$amqp_port, and it is not this machine"
		exit 1 ;;
	esac
	say "no broker at $amqp_host:$amqp_port: starting a private RabbitMQ node (state in build/run-env)"
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

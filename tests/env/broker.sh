#!/bin/sh
# broker.sh start|stop|status|url|ctl ARGS... - a private RabbitMQ node for
# tests, benchmarks and `make run`, never touching the system's own node.
#
# Environment:
#   WARREN_TEST_PORT_BASE       port base (default 25700): AMQP port = base,
#                               Erlang distribution port = base+1,
#                               node name warren<base>@localhost
#   WARREN_TEST_ENV             state dir (default build/test-env/<base>);
#                               the node lives in <state>/broker
#   WARREN_CONSUMER_TIMEOUT_MS  optional: the node's consumer_timeout (ms), for
#                               tests of long-unacked deliveries and `make run`
#
#   start    start the node and wait until it serves (no-op when it runs)
#   stop     stop it; idempotent; leaves no process of this node behind
#   status   exit 0 when the node runs (prints its pid and URL)
#   url      print amqp://guest:guest@127.0.0.1:<port>
#   ctl ...  run rabbitmqctl against the node (list_queues, stop_app, ...)
#
# Runs as root (as the server's files are root's here); the /usr/sbin wrappers
# switch user, so the scripts in /usr/lib/rabbitmq/bin are used directly with
# our own HOME (which holds the Erlang cookie shared by server and CLI).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
base=${WARREN_TEST_PORT_BASE:-25700}
state=${WARREN_TEST_ENV:-$root/build/test-env/$base}
mkdir -p "$state"
state=$(cd "$state" && pwd)
dir=$state/broker
node=warren$base@localhost
amqp_port=$base
dist_port=$((base + 1))
RMQ=/usr/lib/rabbitmq/bin

# node_env: the environment that server and CLI share for this node.
node_env() {
	export HOME="$dir/home"
	export RABBITMQ_NODENAME="$node"
	export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
	export RABBITMQ_NODE_PORT="$amqp_port"
	export RABBITMQ_DIST_PORT="$dist_port"
	export RABBITMQ_MNESIA_BASE="$dir/mnesia"
	export RABBITMQ_LOG_BASE="$dir/log"
	export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
	export RABBITMQ_PID_FILE="$dir/node.pid"
	export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
	export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
	export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
	export RABBITMQ_LOGS="$dir/log/node.log"
	export LC_ALL=C.UTF-8
	# Erlang distribution on loopback only (the AMQP listener is set in
	# rabbitmq.conf); epmd too, when this node is the one starting it.
	export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
	export ERL_EPMD_ADDRESS=127.0.0.1
}

ctl() {
	node_env
	"$RMQ/rabbitmqctl" -n "$node" "$@"
}

# port_open PORT: true when something accepts on 127.0.0.1:PORT.
port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
	# /dev/tcp is a bash-ism; dash lacks it, so fall back to busybox/python.
	/usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',int(sys.argv[1])),1).close()" "$1" 2>/dev/null
}

leader_pid() { cat "$dir/leader.pid" 2>/dev/null || true; }

running() {
	pid=$(leader_pid)
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

url() { echo "amqp://guest:guest@127.0.0.1:$amqp_port"; }

write_config() {
	mkdir -p "$dir/home" "$dir/log" "$dir/mnesia"
	echo '[].' > "$dir/enabled_plugins"
	: > "$dir/rabbitmq-env.conf"
	{
		echo "listeners.tcp.default = 127.0.0.1:$amqp_port"
		echo "loopback_users.guest = true"
		echo "log.console = false"
		echo "log.file.level = info"
		# Tests fill and drain queues fast; do not stop publishers on disk.
		echo "disk_free_limit.absolute = 50MB"
		if [ -n "${WARREN_CONSUMER_TIMEOUT_MS:-}" ]; then
			echo "consumer_timeout = $WARREN_CONSUMER_TIMEOUT_MS"
		fi
	} > "$dir/rabbitmq.conf"
	# RabbitMQ checks consumer_timeout on its channel tick (60 s by default):
	# a test timeout of a few seconds needs a faster tick to act in time.
	if [ -n "${WARREN_CONSUMER_TIMEOUT_MS:-}" ]; then
		echo '[{rabbit, [{channel_tick_interval, 500}]}].' > "$dir/advanced.config"
	else
		echo '[].' > "$dir/advanced.config"
	fi
}

start() {
	if running; then
		return 0
	fi
	if port_open "$amqp_port"; then
		echo "broker.sh: port $amqp_port is taken by another process" >&2
		exit 1
	fi
	write_config
	epmd_before=0
	if epmd -names >/dev/null 2>&1; then epmd_before=1; fi
	(
		node_env
		cd "$dir"
		exec setsid "$RMQ/rabbitmq-server" > "$dir/log/stdout.log" 2>&1 < /dev/null
	) &
	echo $! > "$dir/leader.pid"
	[ $epmd_before = 1 ] || : > "$dir/epmd.ours"
	# await_startup fails at once while the node is not yet registered with
	# epmd, so retry it until the deadline or until the node dies.
	deadline=$(( $(date +%s) + 120 ))
	while :; do
		if ctl await_startup --timeout 60 >/dev/null 2>&1 &&
		    port_open "$amqp_port"; then
			break
		fi
		if ! running; then
			echo "broker.sh: node $node died at start; log:" >&2
			tail -n 30 "$dir/log/stdout.log" "$dir/log/node.log" >&2 2>/dev/null || true
			rm -f "$dir/leader.pid"
			exit 1
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "broker.sh: node $node did not start in 120 s" >&2
			stop
			exit 1
		fi
		sleep 0.5
	done
}

# stop: a clean `rabbitmqctl stop`, then the process group, by signal.
stop() {
	pid=$(leader_pid)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		ctl stop >/dev/null 2>&1 || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1; i=$((i + 1))
		done
	fi
	if [ -n "$pid" ]; then
		# setsid made the wrapper a group leader: beam, erl_child_setup and
		# inet_gethost share its group (epmd daemonizes away from it).
		kill -TERM "-$pid" 2>/dev/null || true
		i=0
		while kill -0 "-$pid" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -KILL "-$pid" 2>/dev/null || true
	fi
	rm -f "$dir/leader.pid"
	# epmd is shared by every node on the machine: end it only when this
	# script started it and no node at all is registered any more.
	if [ -e "$dir/epmd.ours" ]; then
		rm -f "$dir/epmd.ours"
		names=$(epmd -names 2>/dev/null | grep -c '^name ' || true)
		[ "$names" = 0 ] && epmd -kill >/dev/null 2>&1 || true
	fi
	return 0
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
start)	start ;;
stop)	stop ;;
status)	if running && port_open "$amqp_port"; then
		echo "running pid $(leader_pid) $(url)"
	else
		echo "stopped"; exit 1
	fi ;;
url)	url ;;
ctl)	ctl "$@" ;;
*)	echo "usage: $0 start|stop|status|url|ctl ARGS..." >&2; exit 2 ;;
esac

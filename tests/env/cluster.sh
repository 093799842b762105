#!/bin/sh
# cluster.sh start|stop|status|urls|ctl N ARGS... - a private three-node
# RabbitMQ cluster on this machine, for tests of warren on many nodes.
#
# Each node is one tests/env/broker.sh node with its own port base:
#   node i (0, 1, 2): base = WARREN_TEST_PORT_BASE + 30 + 2*i, so with the
#   default 25700 the AMQP ports are 25730, 25732, 25734 and the Erlang
#   distribution ports 25731, 25733, 25735; node names warren<base>@localhost;
#   state in build/test-env/<base>/broker, as broker.sh keeps it.
# The three share one Erlang cookie (written into each node's HOME before its
# first start); nodes 1 and 2 join node 0 with `rabbitmqctl join_cluster`.
#
#   start       start the three nodes and join them (no-op when clustered)
#   stop        stop the three; idempotent
#   status      exit 0 when all three run and see each other
#   urls        print the three AMQP URLs, comma-separated (for --amqp)
#   ctl N ...   rabbitmqctl against node N (0, 1 or 2)
#   kill N      kill -9 node N's processes (a fault, for tests)
#   restart N   start node N again after a stop or kill; it rejoins by itself
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
base=${WARREN_TEST_PORT_BASE:-25700}
NODES="0 1 2"

node_base() { echo $((base + 30 + 2 * $1)); }
node_name() { echo "warren$(node_base "$1")@localhost"; }
node_dir() { echo "$root/build/test-env/$(node_base "$1")/broker"; }

# broker N ARGS...: broker.sh for node N (its own port base and state).
broker() {
	n=$1
	shift
	WARREN_TEST_PORT_BASE=$(node_base "$n") \
	WARREN_TEST_ENV="$root/build/test-env/$(node_base "$n")" \
	sh "$here/broker.sh" "$@"
}

# cookie: the cluster's shared Erlang cookie, made once per port base.
cookie() {
	f=$root/build/test-env/cluster-$base.cookie
	mkdir -p "$(dirname "$f")"
	if [ ! -s "$f" ]; then
		od -A n -N 16 -t x1 /dev/urandom | tr -d ' \n' | tr a-f A-F > "$f"
	fi
	cat "$f"
}

# put_cookie N: node N's HOME holds the shared cookie (Erlang insists on 0400).
put_cookie() {
	h=$(node_dir "$1")/home
	mkdir -p "$h"
	c=$(cookie)
	if [ ! -f "$h/.erlang.cookie" ] || [ "$(cat "$h/.erlang.cookie")" != "$c" ]; then
		# A node that ran with another cookie cannot join: start it afresh.
		rm -rf "$(node_dir "$1")/mnesia"
		rm -f "$h/.erlang.cookie"
		printf '%s' "$c" > "$h/.erlang.cookie"
		chmod 400 "$h/.erlang.cookie"
	fi
}

# running_count: how many nodes the first node that answers sees running
# (0 when none answers).
running_count() {
	for n in $NODES; do
		c=$(broker "$n" ctl cluster_status --formatter json 2>/dev/null |
			/usr/bin/python3 -c 'import json,sys
try:
    print(len(json.load(sys.stdin).get("running_nodes", [])))
except Exception:
    print(0)')
		if [ "$c" != 0 ]; then echo "$c"; return; fi
	done
	echo 0
}

start() {
	for n in $NODES; do
		put_cookie "$n"
		broker "$n" start
	done
	for n in 1 2; do
		if [ "$(broker "$n" ctl cluster_status --formatter json 2>/dev/null |
		    grep -c "$(node_name 0)")" -gt 0 ]; then
			continue
		fi
		broker "$n" ctl stop_app >/dev/null
		broker "$n" ctl join_cluster "$(node_name 0)" >/dev/null
		broker "$n" ctl start_app >/dev/null
	done
	i=0
	while [ "$(running_count)" != 3 ]; do
		i=$((i + 1))
		if [ $i -gt 120 ]; then
			echo "cluster.sh: the nodes did not form a cluster in 60 s" >&2
			exit 1
		fi
		sleep 0.5
	done
}

stop() {
	for n in 2 1 0; do broker "$n" stop || true; done
}

# kill_node N: SIGKILL every process of node N (its setsid process group).
kill_node() {
	pid=$(cat "$(node_dir "$1")/leader.pid" 2>/dev/null || true)
	[ -n "$pid" ] || return 0
	kill -KILL "-$pid" 2>/dev/null || true
	rm -f "$(node_dir "$1")/leader.pid"
}

urls() {
	out=
	for n in $NODES; do
		out="$out${out:+,}amqp://guest:guest@127.0.0.1:$(node_base "$n")"
	done
	echo "$out"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
start)	start ;;
stop)	stop ;;
status)	if [ "$(running_count)" = 3 ]; then
		echo "running $(urls)"
	else
		echo "not clustered ($(running_count) of 3 running)"; exit 1
	fi ;;
urls)	urls ;;
ctl)	n=$1; shift; broker "$n" ctl "$@" ;;
kill)	kill_node "$1" ;;
restart) put_cookie "$1"; broker "$1" start ;;
*)	echo "usage: $0 start|stop|status|urls|ctl N ARGS...|kill N|restart N" >&2
	exit 2 ;;
esac

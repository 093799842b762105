#!/bin/sh
# nginx.sh start|stop|status|bigfile MiB|env - a private nginx with test
# certificates and a docroot of known files, for the worker's tests and
# benchmarks. Runs as root with everything under the state dir.
#
# Environment: WARREN_TEST_PORT_BASE (default 25700), WARREN_TEST_ENV (state
# dir, default build/test-env/<base>) - the same as broker.sh.
#
# Ports (all on 127.0.0.1, http and the good https also on [::1]):
#   base+10  http
#   base+11  https, certificate for localhost, 127.0.0.1, ::1 signed by the test CA
#   base+12  https, certificate for wrong.example signed by the test CA
#   base+13  https, certificate for localhost signed by another, unknown CA
#   base+14  https, certificate for localhost signed by the test CA, expired
#   base+15  https, ECDSA: a P-256 certificate for localhost signed by the
#            test ECDSA CA (P-384)
#   base+16  the same, TLS 1.2 only
#
# Files under <state>:
#   pki/ca.crt               the test CA (give it to --ca-file / curl --cacert)
#   pki/ec-ca.crt            the test ECDSA CA
#   pki/bundle.crt           both, one PEM bundle
#   pki/{localhost,wrong,unknown,expired,ecdsa}.{crt,key}
#   www/                     docroot:
#     small.txt              "hello from warren's test nginx\n" (small.txt.sha256 beside)
#     empty.txt              0 bytes
#     1m.bin, 10m.bin        random, with 1m.bin.sha256, 10m.bin.sha256 (hex only)
#     dir/nested.txt         a file in a folder; "with space.txt" a name to escape
#     <N>m.bin               made on demand by `nginx.sh bigfile N` (e.g. 1024 -> 1024m.bin)
#   env.sh, env.json         every port and path below, sourceable / for Python
#
# Locations beyond the static files (same on every port):
#   /slow/<file>?rate=N      the file at N bytes/s (default 262144), for kills mid-body
#   /redir/abs               302 to an absolute http URL of /small.txt
#   /redir/rel               302 with a relative Location: ../small.txt
#   /redir/chain/1 .. /5     1 -> 2 -> ... -> 5 -> /small.txt (5 redirects)
#   /redir/chain6            six redirects then /small.txt (one too many)
#   /redir/loop              redirects to itself
#   /redir/301 /303 /307 /308  that status to /small.txt
#   /status/<code>           an empty answer with that status (404 500 502 503 429 403)
#   /retry-after/503         503 with Retry-After: 1
#   /disposition/evil        small.txt with Content-Disposition filename="../../etc/evil"
#   /disposition/good        small.txt with Content-Disposition filename="report.txt"
#   /auth/small.txt          small.txt behind Basic auth user "user", password "pass"
#   /echo                    text: the request's method, Host, User-Agent, Range,
#                            If-Range, Authorization, Accept-Encoding, one per line
# nginx gives ETag, Last-Modified and Range (206/416) on static files.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
base=${WARREN_TEST_PORT_BASE:-25700}
state=${WARREN_TEST_ENV:-$root/build/test-env/$base}
mkdir -p "$state"
state=$(cd "$state" && pwd)
pki=$state/pki
www=$state/www
ndir=$state/nginx
http_port=$((base + 10))
https_port=$((base + 11))
wrong_port=$((base + 12))
unknown_port=$((base + 13))
expired_port=$((base + 14))
ecdsa_port=$((base + 15))
ecdsa12_port=$((base + 16))
NGINX=${NGINX:-/usr/sbin/nginx}

# sign NAME SAN CA [DAYS|expired]: key + certificate NAME signed by CA;
# the key is RSA 2048, or what $KEY says (openssl req -newkey syntax), the
# signature's digest SHA-256 or $MD.
sign() {
	name=$1 san=$2 ca=$3
	openssl req -new -newkey "${KEY:-rsa:2048}" -nodes -subj "/CN=${san#*:}" \
	    -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
	    "$san" > "$pki/$name.ext"
	if [ "${4:-}" = expired ]; then
		# `openssl x509` cannot backdate; `openssl ca` can.
		mkdir -p "$pki/$ca.db"
		: > "$pki/$ca.db/index.txt"
		cat > "$pki/$ca.db/ca.cnf" <<-CNF
		[ca]
		default_ca = d
		[d]
		database = $pki/$ca.db/index.txt
		new_certs_dir = $pki/$ca.db
		serial = $pki/$ca.db/serial
		default_md = sha256
		policy = p
		copy_extensions = none
		[p]
		commonName = supplied
		CNF
		echo 1000 > "$pki/$ca.db/serial"
		openssl ca -batch -config "$pki/$ca.db/ca.cnf" -cert "$pki/$ca.crt" \
		    -keyfile "$pki/$ca.key" -in "$pki/$name.csr" -out "$pki/$name.crt" \
		    -startdate 20200101000000Z -enddate 20200201000000Z \
		    -extfile "$pki/$name.ext" -notext 2>/dev/null
	else
		openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.crt" \
		    -CAkey "$pki/$ca.key" -CAcreateserial -days 3650 "-${MD:-sha256}" \
		    -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
	fi
	rm -f "$pki/$name.csr"
}

# make_ca NAME CN: a self-signed CA (key as for sign).
make_ca() {
	openssl req -x509 -newkey "${KEY:-rsa:2048}" -nodes -days 3650 -sha256 \
	    -subj "/CN=$2" -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign \
	    -keyout "$pki/$1.key" -out "$pki/$1.crt" 2>/dev/null
}

pki_version=2   # bump when make_pki makes more: older ones are made anew

make_pki() {
	[ "$(cat "$pki/done" 2>/dev/null)" = "$pki_version" ] && return 0
	rm -rf "$pki" && mkdir -p "$pki"
	make_ca ca "warren test CA"
	make_ca other-ca "some other CA"
	sign localhost "DNS:localhost,IP:127.0.0.1,IP:::1" ca
	sign wrong "DNS:wrong.example" ca
	sign unknown "DNS:localhost,IP:127.0.0.1,IP:::1" other-ca
	sign expired "DNS:localhost,IP:127.0.0.1,IP:::1" ca expired
	# an ECDSA chain: P-256 leaf under a P-384 CA
	ecparam() { openssl genpkey -genparam -algorithm EC -pkeyopt "ec_paramgen_curve:$1" \
	    -out "$pki/$1.param" 2>/dev/null && echo "param:$pki/$1.param"; }
	KEY=$(ecparam P-384) make_ca ec-ca "warren test ECDSA CA"
	KEY=$(ecparam P-256) MD=sha384 sign ecdsa "DNS:localhost,IP:127.0.0.1,IP:::1" ec-ca
	cat "$pki/ca.crt" "$pki/ec-ca.crt" > "$pki/bundle.crt"
	echo "$pki_version" > "$pki/done"
}

# random_file PATH MiB: random bytes plus PATH.sha256 (hex only).
random_file() {
	[ -s "$1.sha256" ] && [ -f "$1" ] && return 0
	head -c "$(($2 * 1048576))" /dev/urandom > "$1.tmp"
	mv "$1.tmp" "$1"
	sha256sum "$1" | cut -d' ' -f1 > "$1.sha256"
}

make_docroot() {
	mkdir -p "$www/dir"
	printf "hello from warren's test nginx\n" > "$www/small.txt"
	sha256sum "$www/small.txt" | cut -d' ' -f1 > "$www/small.txt.sha256"
	: > "$www/empty.txt"
	printf 'nested\n' > "$www/dir/nested.txt"
	printf 'a name with a space\n' > "$www/with space.txt"
	random_file "$www/1m.bin" 1
	random_file "$www/10m.bin" 10
	# user:pass, apr1 as nginx's auth_basic accepts.
	[ -s "$ndir/htpasswd" ] ||
	    echo "user:$(openssl passwd -apr1 pass)" > "$ndir/htpasswd"
}

# The locations shared by every server block.
locations() {
	cat <<-CONF
	root $www;
	location / { }
	location /slow/ {
		alias $www/;
		set \$rate 262144;
		if (\$arg_rate) { set \$rate \$arg_rate; }
		limit_rate \$rate;
	}
	location = /redir/abs { return 302 http://127.0.0.1:$http_port/small.txt; }
	location = /redir/rel { absolute_redirect off; return 302 ../small.txt; }
	location ~ ^/redir/chain/([1-4])$ {
		absolute_redirect off;
		set \$n \$1;
		if (\$n = 1) { return 302 /redir/chain/2; }
		if (\$n = 2) { return 302 /redir/chain/3; }
		if (\$n = 3) { return 302 /redir/chain/4; }
		return 302 /redir/chain/5;
	}
	location = /redir/chain/5 { absolute_redirect off; return 302 /small.txt; }
	location = /redir/chain6 { absolute_redirect off; return 302 /redir/chain/1; }
	location = /redir/loop { absolute_redirect off; return 302 /redir/loop; }
	location ~ ^/redir/(301|303|307|308)$ {
		absolute_redirect off;
		set \$code \$1;
		if (\$code = 301) { return 301 /small.txt; }
		if (\$code = 303) { return 303 /small.txt; }
		if (\$code = 307) { return 307 /small.txt; }
		return 308 /small.txt;
	}
	location = /status/403 { return 403; }
	location = /status/404 { return 404; }
	location = /status/429 { return 429; }
	location = /status/500 { return 500; }
	location = /status/502 { return 502; }
	location = /status/503 { return 503; }
	location = /retry-after/503 { add_header Retry-After 1 always; return 503; }
	location = /disposition/evil {
		add_header Content-Disposition 'attachment; filename="../../etc/evil"';
		try_files /small.txt =404;
	}
	location = /disposition/good {
		add_header Content-Disposition 'attachment; filename="report.txt"';
		try_files /small.txt =404;
	}
	location /auth/ {
		alias $www/;
		auth_basic "warren";
		auth_basic_user_file $ndir/htpasswd;
	}
	location = /echo {
		default_type text/plain;
		return 200 "method: \$request_method\nhost: \$http_host\nuser-agent: \$http_user_agent\nrange: \$http_range\nif-range: \$http_if_range\nauthorization: \$http_authorization\naccept-encoding: \$http_accept_encoding\n";
	}
	CONF
}

# tls_server PORT NAME: an https server block with certificate NAME.
tls_server() {
	cat <<-CONF
	server {
		listen 127.0.0.1:$1 ssl;
		${3:-}
		ssl_certificate $pki/$2.crt;
		ssl_certificate_key $pki/$2.key;
		$(locations)
	}
	CONF
}

write_conf() {
	mkdir -p "$ndir/tmp" "$ndir/logs"
	cat > "$ndir/nginx.conf.new" <<-CONF
	# generated by tests/env/nginx.sh - do not edit
	daemon on;
	user root;
	worker_processes 1;
	pid $ndir/nginx.pid;
	error_log $ndir/logs/error.log warn;
	events { worker_connections 1024; }
	http {
		types { text/plain txt; text/html html; application/octet-stream bin; }
		default_type application/octet-stream;
		access_log $ndir/logs/access.log;
		client_body_temp_path $ndir/tmp/body;
		proxy_temp_path $ndir/tmp/proxy;
		fastcgi_temp_path $ndir/tmp/fastcgi;
		uwsgi_temp_path $ndir/tmp/uwsgi;
		scgi_temp_path $ndir/tmp/scgi;
		sendfile on;
		tcp_nopush on;
		keepalive_timeout 30;
		server_tokens off;
		ssl_protocols TLSv1.2 TLSv1.3;
		server {
			listen 127.0.0.1:$http_port;
			listen [::1]:$http_port;
			$(locations)
		}
		$(tls_server "$https_port" localhost "listen [::1]:$https_port ssl;")
		$(tls_server "$wrong_port" wrong)
		$(tls_server "$unknown_port" unknown)
		$(tls_server "$expired_port" expired)
		$(tls_server "$ecdsa_port" ecdsa)
		$(tls_server "$ecdsa12_port" ecdsa "ssl_protocols TLSv1.2;")
	}
	CONF
}

write_env() {
	cat > "$state/env.sh.tmp" <<-ENV
	# generated by tests/env/nginx.sh: . this file
	export WARREN_TEST_PORT_BASE=$base
	export WARREN_TEST_ENV='$state'
	export WARREN_TEST_AMQP_URL='amqp://guest:guest@127.0.0.1:$base'
	export WARREN_TEST_AMQP_PORT=$base
	export WARREN_TEST_HTTP_PORT=$http_port
	export WARREN_TEST_HTTPS_PORT=$https_port
	export WARREN_TEST_HTTPS_WRONG_PORT=$wrong_port
	export WARREN_TEST_HTTPS_UNKNOWN_PORT=$unknown_port
	export WARREN_TEST_HTTPS_EXPIRED_PORT=$expired_port
	export WARREN_TEST_HTTPS_ECDSA_PORT=$ecdsa_port
	export WARREN_TEST_HTTPS_ECDSA12_PORT=$ecdsa12_port
	export WARREN_TEST_CA_FILE='$pki/ca.crt'
	export WARREN_TEST_CA_BUNDLE='$pki/bundle.crt'
	export WARREN_TEST_DOCROOT='$www'
	ENV
	mv "$state/env.sh.tmp" "$state/env.sh"
	cat > "$state/env.json.tmp" <<-JSON
	{
	  "port_base": $base,
	  "state": "$state",
	  "amqp_url": "amqp://guest:guest@127.0.0.1:$base",
	  "amqp_port": $base,
	  "http_port": $http_port,
	  "https_port": $https_port,
	  "https_wrong_port": $wrong_port,
	  "https_unknown_port": $unknown_port,
	  "https_expired_port": $expired_port,
	  "https_ecdsa_port": $ecdsa_port,
	  "https_ecdsa12_port": $ecdsa12_port,
	  "ca_file": "$pki/ca.crt",
	  "ca_bundle": "$pki/bundle.crt",
	  "docroot": "$www"
	}
	JSON
	mv "$state/env.json.tmp" "$state/env.json"
}

running() {
	pid=$(cat "$ndir/nginx.pid" 2>/dev/null || true)
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

start() {
	mkdir -p "$ndir"
	make_pki
	make_docroot
	write_conf
	write_env
	if running; then
		# Already up: pick up a changed configuration, else nothing to do.
		if ! cmp -s "$ndir/nginx.conf.new" "$ndir/nginx.conf"; then
			mv "$ndir/nginx.conf.new" "$ndir/nginx.conf"
			"$NGINX" -p "$ndir" -c "$ndir/nginx.conf" -e "$ndir/logs/error.log" -s reload
		fi
		return 0
	fi
	mv "$ndir/nginx.conf.new" "$ndir/nginx.conf"
	rm -f "$ndir/nginx.pid"
	"$NGINX" -p "$ndir" -c "$ndir/nginx.conf" -e "$ndir/logs/error.log"
	i=0
	until running; do
		i=$((i + 1))
		if [ $i -gt 50 ]; then
			echo "nginx.sh: nginx did not start; log:" >&2
			tail -n 20 "$ndir/logs/error.log" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
}

stop() {
	running || { rm -f "$ndir/nginx.pid"; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$ndir/nginx.pid"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
start)	start ;;
stop)	stop ;;
status)	if running; then echo "running pid $pid http $http_port https $https_port"
	else echo stopped; exit 1; fi ;;
bigfile)
	n=${1:?usage: nginx.sh bigfile MiB}
	mkdir -p "$www"
	random_file "$www/${n}m.bin" "$n"
	echo "$www/${n}m.bin" ;;
env)	mkdir -p "$ndir"; make_pki; write_env; cat "$state/env.sh" ;;
*)	echo "usage: $0 start|stop|status|bigfile MiB|env" >&2; exit 2 ;;
esac

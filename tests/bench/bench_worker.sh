#!/bin/sh
# bench_worker.sh - download speed and peak memory of `worker --get` next to
# curl, wget and two reference clients built here from tests/bench/:
#   rawget  blocking raw-socket HTTP GET, 256 KiB buffer, writes a file;
#           also run as "rawget+fsync" (fsync before exiting) and
#           "rawget+fsync+sha" (fsync, and SHA-256 in the read loop with
#           warren's sha256.c): the honest references for a worker that
#           hashes and syncs, since the page cache alone takes a GiB at
#           several GB/s and the disk durably at a few hundred MB/s
#   tlsget  blocking mbedTLS (system 2.28) read loop, one forced suite;
#           "tlsget-s": the same built as the static worker is (mbedTLS 3.6
#           of port/mbedtls/warren-config.h, -Os, LTO), TLS 1.3 suites: the
#           reference of the static worker's HTTPS; each also run as
#           "+fsync+sha" (fsync, and SHA-256 in the read loop), with the
#           suite its worker negotiates
# and "curl+sync": curl writing the file, then sync(1).
# A file from the test nginx on loopback (1 GiB by default), over HTTP and
# HTTPS; each client runs WARREN_BENCH_RUNS times (5), interleaved with the
# others so that load from elsewhere hits them alike; the table shows the
# median time, throughput, the ratio to the reference (rawget for HTTP,
# tlsget of the same mbedTLS build with the suite the worker negotiates for
# HTTPS; also to rawget+fsync and rawget+fsync+sha, and for HTTPS to that
# tlsget+fsync+sha) and the median peak RSS from
# /usr/bin/time. tlsget runs with ChaCha20-Poly1305 and with
# AES-128-GCM: that pair is the measurement behind tls.c's suite order.
#
# The worker does more than the references: it hashes (SHA-256, checked
# with --sha256 here), writes a .part, fsyncs it and renames it.
#
# Environment: WARREN_BENCH_MIB (file size, default 1024), WARREN_BENCH_RUNS
# (default 5), WARREN_BENCH_PROTO ("http", "https"; default both),
# WARREN_BENCH_OTHER=LABEL=PATH (one more worker binary over HTTP, e.g. a
# build with other config.h values, measured beside), BUILD, and what tests/bench/run.sh exports (WARREN_TEST_ENV
# with env.sh: ports, CA file, docroot). Also runnable alone:
#   WARREN_TEST_PORT_BASE=25800 sh tests/bench/bench_worker.sh
# (nginx must run: sh tests/env/nginx.sh start). A static worker (musl,
# mbedTLS 3.6: make STATIC=1) is measured too when there is one at
# $WARREN_BENCH_STATIC (default build/x86_64/worker).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
base=${WARREN_TEST_PORT_BASE:-25700}
state=${WARREN_TEST_ENV:-$root/build/test-env/$base}
. "$state/env.sh"
mib=${WARREN_BENCH_MIB:-1024}
runs=${WARREN_BENCH_RUNS:-5}
dir=${WARREN_BENCH_DIR:-$state/bench}/worker
mkdir -p "$dir"
worker=$BUILD/worker
[ -x "$worker" ] || { echo "bench_worker: $worker is not built" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench_worker: /usr/bin/time missing" >&2; exit 1; }

WARREN_TEST_PORT_BASE=$base WARREN_TEST_ENV=$state sh "$root/tests/env/nginx.sh" bigfile "$mib" >/dev/null
file=${mib}m.bin
sha=$(cat "$WARREN_TEST_DOCROOT/$file.sha256")
bytes=$((mib * 1048576))
http=http://127.0.0.1:$WARREN_TEST_HTTP_PORT/$file
https=https://localhost:$WARREN_TEST_HTTPS_PORT/$file
ca=$WARREN_TEST_CA_FILE

${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -I"$root/src" -o "$dir/rawget" \
	"$here/rawget.c" "$root/src/sha256.c" -lmbedcrypto
${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -I"$root/src" -I"$root/port" -o "$dir/tlsget" \
	"$here/tlsget.c" "$root/src/sha256.c" "$root/port/os.c" -lmbedtls -lmbedx509 -lmbedcrypto
static=${WARREN_BENCH_STATIC:-$root/build/x86_64/worker}
# The static worker's reference: tlsget built as the static worker is,
# against the same mbedTLS 3.6 (warren-config.h) with the same flags (-Os,
# LTO; port/embedded.mk), so that its ratio measures the worker, not the
# library build or the suite.
emb=$(dirname "$static")
if [ -x "$static" ] && [ -x "$emb/toolchain/cc" ] && [ -f "$emb/sysroot/lib/libmbedtls.a" ]; then
	"$emb/toolchain/cc" -I"$emb/sysroot/include" -L"$emb/sysroot/lib" -I"$root/src" -I"$root/port" \
		-std=c11 -D_GNU_SOURCE -flto -ffat-lto-objects -flto-partition=one -Os -no-pie \
		-ffunction-sections -fdata-sections -Wl,--gc-sections \
		-o "$dir/tlsget-static" "$here/tlsget.c" "$root/src/sha256.c" "$root/port/os.c" \
		"$root/port/mbedtls/random.c" \
		-lmbedtls -lmbedx509 -lmbedcrypto \
		2>/dev/null || rm -f "$dir/tlsget-static"
fi

# The suites: the one the worker offers first and the one each worker
# negotiates with this nginx (their logs say); each worker's references
# force the suite it negotiated, and print theirs.
out=$dir/out.bin
small=https://localhost:$WARREN_TEST_HTTPS_PORT/small.txt
"$worker" --get "$small" -o "$out" --ca-file "$ca" > /dev/null 2> "$dir/suite.log" || true
suite=$(sed -n 's/.*TLS ready: \(.*\) first.*/\1/p' "$dir/suite.log" | head -1)
got=$(sed -n 's/.*TLS with [^ ]*: //p' "$dir/suite.log" | head -1)
# mode NEGOTIATED: tlsget's suite argument for it
mode() {
	case $1 in
	*TLS1-3*CHACHA*) echo tls13-chacha ;;
	*TLS1-3*) echo tls13-aesgcm ;;
	*CHACHA*) echo chacha ;;
	*) echo aesgcm ;;
	esac
}
m_host=$(mode "$got")
case $m_host in chacha) ref_tls="tlsget chacha20" ;; *) ref_tls="tlsget aes-gcm" ;; esac
# tlsget_suite BINARY MODE: the suite it negotiates
tlsget_suite() {
	"$1" localhost "$WARREN_TEST_HTTPS_PORT" /small.txt "$out" "$ca" "$2" 2>&1 >/dev/null |
		sed -n 's/^tlsget: //p'
}
negotiated="worker: $got; $ref_tls: $(tlsget_suite "$dir/tlsget" "$m_host")"
ref_static=
if [ -x "$static" ] && [ -x "$dir/tlsget-static" ]; then
	"$static" --get "$small" -o "$out" --ca-file "$ca" > /dev/null 2> "$dir/suite.log" || true
	got_s=$(sed -n 's/.*TLS with [^ ]*: //p' "$dir/suite.log" | head -1)
	m_static=$(mode "$got_s")
	case $m_static in
	tls13-chacha) ref_static="tlsget-s chacha 1.3" ;;
	*) ref_static="tlsget-s aes 1.3" ;;
	esac
	negotiated="$negotiated
  worker (static): $got_s; $ref_static: $(tlsget_suite "$dir/tlsget-static" "$m_static")"
fi

# client NAME PROTO COMMAND...: a client of the table ("{out}" = the file).
clients=
n=0
client() {
	case " ${WARREN_BENCH_PROTO:-http https} " in *" $2 "*) ;; *) return 0 ;; esac
	n=$((n + 1))
	name=$1 proto=$2
	shift 2
	eval "c_name_$n=\$name c_proto_$n=\$proto"
	cmd=
	for a in "$@"; do
		cmd="$cmd '$a'"
	done
	eval "c_cmd_$n=\$cmd"
	clients="$clients $n"
}

client rawget http "$dir/rawget" 127.0.0.1 "$WARREN_TEST_HTTP_PORT" "/$file" "{out}"
client rawget+fsync http "$dir/rawget" --fsync 127.0.0.1 "$WARREN_TEST_HTTP_PORT" "/$file" "{out}"
client rawget+fsync+sha http "$dir/rawget" --fsync --sha256 127.0.0.1 "$WARREN_TEST_HTTP_PORT" "/$file" "{out}"
client worker http "$worker" --get "$http" -o "{out}" --sha256 "$sha"
[ -n "${WARREN_BENCH_OTHER:-}" ] && client "${WARREN_BENCH_OTHER%%=*}" http \
	"${WARREN_BENCH_OTHER#*=}" --get "$http" -o "{out}" --sha256 "$sha"
[ -x "$static" ] && client "worker (static)" http "$static" --get "$http" -o "{out}" --sha256 "$sha"
command -v curl >/dev/null && client curl http curl -sS -o "{out}" "$http"
command -v curl >/dev/null && client curl+sync http sh -c 'curl -sS -o "$1" "$2" && sync' - "{out}" "$http"
command -v wget >/dev/null && client wget http wget -q -O "{out}" "$http"
client "tlsget chacha20" https "$dir/tlsget" localhost "$WARREN_TEST_HTTPS_PORT" "/$file" "{out}" "$ca" chacha
client "tlsget aes-gcm" https "$dir/tlsget" localhost "$WARREN_TEST_HTTPS_PORT" "/$file" "{out}" "$ca" aesgcm
client tlsget+fsync+sha https "$dir/tlsget" --fsync --sha256 localhost "$WARREN_TEST_HTTPS_PORT" "/$file" "{out}" "$ca" "$m_host"
client worker https "$worker" --get "$https" -o "{out}" --ca-file "$ca" --sha256 "$sha"
if [ -x "$dir/tlsget-static" ]; then
	client "tlsget-s aes 1.3" https "$dir/tlsget-static" localhost "$WARREN_TEST_HTTPS_PORT" "/$file" "{out}" "$ca" tls13-aesgcm
	client "tlsget-s chacha 1.3" https "$dir/tlsget-static" localhost "$WARREN_TEST_HTTPS_PORT" "/$file" "{out}" "$ca" tls13-chacha
fi
[ -n "$ref_static" ] && client tlsget-s+fsync+sha https "$dir/tlsget-static" --fsync --sha256 localhost "$WARREN_TEST_HTTPS_PORT" "/$file" "{out}" "$ca" "$m_static"
[ -x "$static" ] && client "worker (static)" https "$static" --get "$https" -o "{out}" --ca-file "$ca" --sha256 "$sha"
command -v curl >/dev/null && client curl https curl -sS --cacert "$ca" -o "{out}" "$https"
command -v wget >/dev/null && client wget https wget -q --ca-certificate="$ca" -O "{out}" "$https"

rm -f "$dir"/times.*
echo "file: $mib MiB from nginx on loopback; $runs runs each, interleaved; median"
echo "worker offers first: $suite"
echo "negotiated: $negotiated"
r=1
while [ $r -le "$runs" ]; do
	for i in $clients; do
		eval "cmd=\$c_cmd_$i"
		cmd=$(printf '%s' "$cmd" | sed "s|{out}|$out|g")
		rm -f "$out"
		if ! eval "/usr/bin/time -f '%e %M %U %S' -o '$dir/t' $cmd" >/dev/null 2>"$dir/err"; then
			eval "echo \"run \$r of \$c_name_$i (\$c_proto_$i) failed:\"" >&2
			tail -3 "$dir/err" >&2
			echo "fail fail fail fail" > "$dir/t"
		elif [ "$(stat -c %s "$out")" != "$bytes" ]; then
			echo "fail fail fail fail" > "$dir/t"
		fi
		tail -1 "$dir/t" >> "$dir/times.$i"
		rm -f "$out"
	done
	r=$((r + 1))
done

# median FILE COLUMN ("cpu": user + system seconds, the hasher's included)
median() {
	awk -v c="$2" '$1 != "fail" { print c == "cpu" ? $3 + $4 : $c }' "$1" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "fail" }'
}

# spread REF CLIENT: "min-max" of the per-run ratios (run k of the
# reference over run k of the client: they ran side by side).
spread() {
	[ -n "$1" ] && [ -f "$1" ] || { echo -; return; }
	paste -d' ' "$1" "$2" | awk '$1 != "fail" && $5 != "fail" && $5 > 0 { print $1 / $5 }' |
		sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f-%.2f", v[1], v[NR]; else print "-" }'
}

printf '\n%-6s %-19s %9s %9s %7s %7s %7s %6s %6s %9s  %s\n' proto client "median s" "MB/s" \
	"x raw" "x sync" "x s+sha" "CPU s" "x cpu" "RSS KiB" "runs: x raw, x s+sha"
for proto in http https; do
	ref_t= ref_s= ref_h= ref_st= ref_sh= ref_tc= ref_stc= f_t= f_h= f_st= f_sh=
	for i in $clients; do
		eval "p=\$c_proto_$i name=\$c_name_$i"
		[ "$p" = $proto ] || continue
		if [ $proto = http ] && [ "$name" = rawget ] || [ "$name" = "$ref_tls" ]; then
			ref_t=$(median "$dir/times.$i" 1) f_t=$dir/times.$i
			ref_tc=$(median "$dir/times.$i" cpu)
		fi
		[ "$name" = "$ref_static" ] && ref_st=$(median "$dir/times.$i" 1) f_st=$dir/times.$i \
			ref_stc=$(median "$dir/times.$i" cpu)
		[ "$name" = rawget+fsync ] && ref_s=$(median "$dir/times.$i" 1)
		case $name in rawget+fsync+sha | tlsget+fsync+sha)
			ref_h=$(median "$dir/times.$i" 1) f_h=$dir/times.$i ;;
		esac
		[ "$name" = tlsget-s+fsync+sha ] && ref_sh=$(median "$dir/times.$i" 1) f_sh=$dir/times.$i
	done
	for i in $clients; do
		eval "p=\$c_proto_$i name=\$c_name_$i"
		[ "$p" = $proto ] || continue
		t=$(median "$dir/times.$i" 1)
		rss=$(median "$dir/times.$i" 2)
		cpu=$(median "$dir/times.$i" cpu)
		if [ "$t" = fail ]; then
			printf '%-6s %-19s %9s\n' "$proto" "$name" failed
			continue
		fi
		r1=$ref_t f1=$f_t r3=$ref_h f3=$f_h rc=$ref_tc
		# the static build's clients against the static build's references
		case $proto/$name in https/worker\ \(static\) | https/tlsget-s*)
			[ -n "$ref_st" ] && r1=$ref_st f1=$f_st r3=$ref_sh f3=$f_sh rc=$ref_stc ;;
		esac
		runs="$(spread "$f1" "$dir/times.$i"), $(spread "$f3" "$dir/times.$i")"
		awk -v p="$proto" -v n="$name" -v t="$t" -v b="$bytes" -v r1="$r1" \
			-v r2="$ref_s" -v r3="$r3" -v rss="$rss" -v runs="$runs" \
			-v cpu="$cpu" -v rc="$rc" '
			function ratio(ref, t) {
				return (ref != "" && ref != "fail" && t > 0) ? sprintf("%.2f", ref / t) : "-"
			}
			BEGIN { mbs = (t > 0) ? b / t / 1e6 : 0;
				printf "%-6s %-19s %9.2f %9.0f %7s %7s %7s %6.2f %6s %9s  %s\n", p, n, t,
				       mbs, ratio(r1, t), ratio(r2, t), ratio(r3, t), cpu, ratio(rc, cpu),
				       rss, runs }'
	done
done
echo "x raw: reference time / client time (rawget for http, $ref_tls for https,"
echo "  ${ref_static:-$ref_tls} for the static worker's https: the same library build and suite);"
echo "x sync, x s+sha: the same against rawget+fsync and rawget+fsync+sha (https:"
echo "  tlsget+fsync+sha, tlsget-s+fsync+sha for the static build's clients); >1 is faster;"
echo "CPU s: median user + system seconds (a worker's hasher process included); x cpu:"
echo "  the x raw reference's CPU / the client's: what a loaded machine's wall time hides;"
echo "runs: the lowest and highest of the per-run ratios (each run side by side)"
rm -f "$dir"/times.* "$dir/t" "$dir/err" "$out"

#!/bin/sh
# port/mbedtls/measure.sh [VARIANT...] - what each choice of warren-config.h
# costs: for each variant (an option removed, or added), mbedTLS is rebuilt
# with the changed configuration and the x86_64 static worker (middleman
# for SHA-1/base64 choices) relinked and stripped; prints the difference
# with the configuration as it is. The figures in warren-config.h's comments
# come from here. Needs `make STATIC=1` done first (its objects and
# toolchain are reused). Takes ~10 s per variant; scratch in build/measure
# (or $MEASURE_DIR). Built and linked as port/embedded.mk does, with LTO.
#
# A variant is NAME=CHANGES where CHANGES are -OPTION (drop its #define) or
# +OPTION (add it), comma-separated; none given = the list below. A curve
# or a cipher goes with its PSA_WANT_* too (that alone would bring it back).
set -eu

TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
B=build/x86_64
CFG=port/mbedtls/warren-config.h
OUT=${MEASURE_DIR:-build/measure}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
[ -x "$B/toolchain/cc" ] && [ -f "$B/libwarren.a" ] ||
	{ echo "measure.sh: run 'make STATIC=1' first" >&2; exit 1; }

VARIANTS=${*:-"
tls13=-MBEDTLS_SSL_PROTO_TLS1_3,-MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED,-MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE
tls12=-MBEDTLS_SSL_PROTO_TLS1_2,-MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED,-MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED,-MBEDTLS_SSL_EXTENDED_MASTER_SECRET
ems=-MBEDTLS_SSL_EXTENDED_MASTER_SECRET
compat=-MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE
pss=-MBEDTLS_X509_RSASSA_PSS_SUPPORT
sni=-MBEDTLS_SSL_SERVER_NAME_INDICATION
x25519=-MBEDTLS_ECP_DP_CURVE25519_ENABLED,-PSA_WANT_ECC_MONTGOMERY_255
p384=-MBEDTLS_ECP_DP_SECP384R1_ENABLED,-PSA_WANT_ECC_SECP_R1_384
p256=-MBEDTLS_ECP_DP_SECP256R1_ENABLED,-PSA_WANT_ECC_SECP_R1_256
nist_optim=-MBEDTLS_ECP_NIST_OPTIM
chachapoly=-MBEDTLS_CHACHA20_C,-MBEDTLS_POLY1305_C,-MBEDTLS_CHACHAPOLY_C,-PSA_WANT_ALG_CHACHA20_POLY1305,-PSA_WANT_KEY_TYPE_CHACHA20
aesni=-MBEDTLS_AESNI_C
aes_tables=-MBEDTLS_AES_FEWER_TABLES
aes_rom=+MBEDTLS_AES_ROM_TABLES
drbg=-MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG,+MBEDTLS_ENTROPY_C,+MBEDTLS_CTR_DRBG_C
fs_io=+MBEDTLS_FS_IO
sha256_smaller=-MBEDTLS_SHA256_SMALLER
sha512_smaller=-MBEDTLS_SHA512_SMALLER
sha1=-MBEDTLS_SHA1_C
sha224=+MBEDTLS_SHA224_C
psa_config=-MBEDTLS_PSA_CRYPTO_CONFIG
remove_info=-MBEDTLS_X509_REMOVE_INFO
have_asm=-MBEDTLS_HAVE_ASM,-MBEDTLS_AESNI_C
time_date=-MBEDTLS_HAVE_TIME_DATE
error_c=+MBEDTLS_ERROR_C
session_tickets=+MBEDTLS_SSL_SESSION_TICKETS
use_psa=+MBEDTLS_USE_PSA_CRYPTO
"}

# port/embedded.mk's code flags (port/deps-src.sh builds the libraries so).
FLAGS="-flto -flto-partition=one -Os -ffunction-sections -fdata-sections
-fno-pie -fno-asynchronous-unwind-tables -fno-unwind-tables -malign-data=abi"
LIBS="-l:librabbitmq.a -l:libmbedtls.a -l:libmbedx509.a -l:libmbedcrypto.a"

# link PROG SYSROOT: stripped size of PROG relinked against SYSROOT, with
# the modules that include mbedTLS headers (tls.c, ws.c) recompiled there.
link() {
	prog=$1 sys=$2 d=$OUT/obj.$$
	mkdir -p "$d"
	for f in src/tls.c src/ws.c port/mbedtls/random.c; do
		m=$(basename "$f" .c)
		"$B/toolchain/cc" -I"$sys/include" -std=c11 -D_DEFAULT_SOURCE $FLAGS \
			-I. -Isrc -Iport -c -o "$d/$m.o" "$f"
	done
	"$B/toolchain/cc" -L"$sys/lib" $FLAGS -no-pie -Wl,--gc-sections \
		-Wl,-z,noseparate-code -Wl,-z,norelro -Wl,-z,common-page-size=64 \
		-Wl,--sort-section=alignment -o "$d/$prog" \
		"$B/obj/src/$prog.o" "$d/tls.o" "$d/ws.o" "$d/random.o" "$B/libwarren.a" $LIBS
	"$B/toolchain/strip" "$d/$prog"
	wc -c < "$d/$prog"
	rm -rf "$d"
}

# variant NAME CHANGES: builds mbedTLS with CHANGES into $OUT/NAME.
variant() {
	name=$1 changes=$2 cfg=$OUT/$1.h
	cp "$CFG" "$cfg"
	for c in $(echo "$changes" | tr ',' ' '); do
		opt=${c#?}
		case $c in
		-*) sed -i "/^#define $opt\$/d; /^#define $opt /d" "$cfg" ;;
		+*) sed -i "s|^#endif /\\* WARREN_MBEDTLS_CONFIG_H \\*/|#define $opt\\n&|" "$cfg" ;;
		esac
	done
	WARREN_MBEDTLS_CONFIG=$cfg sh port/deps-src.sh x86_64 "$OUT/$name" \
		> "$OUT/$name.log" 2>&1 || { echo "build failed: $OUT/$name.log" >&2; return 1; }
}

variant base "" || exit 1
wbase=$(link worker "$OUT/base/sysroot")
mbase=$(link middleman "$OUT/base/sysroot")
printf '%-16s worker %7d  middleman %7d\n' base "$wbase" "$mbase"
for v in $VARIANTS; do
	name=${v%%=*}
	if variant "$name" "${v#*=}" && w=$(link worker "$OUT/$name/sysroot" 2>"$OUT/$name.link"); then
		if m=$(link middleman "$OUT/$name/sysroot" 2>>"$OUT/$name.link"); then
			m=$(printf '%+7d' $((m - mbase)))
		else
			m="(needs it)"
		fi
		printf '%-16s worker %+7d  middleman %7s   (%s)\n' "$name" \
			$((w - wbase)) "$m" "${v#*=}"
	else
		printf '%-16s does not build or link (see %s/%s.*)\n' "$name" "$OUT" "$name"
	fi
	rm -rf "$OUT/$name"
done

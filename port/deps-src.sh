#!/bin/sh
# deps-src.sh TARGET OUT - the toolchain and static libraries of one
# embedded target, from Debian's own packages and sources.
#
#   TARGET  x86_64   musl-gcc (Debian's musl-tools), static
#           armhf    arm-linux-gnueabihf-gcc + Debian's musl-dev:armhf
#           aarch64  aarch64-linux-gnu-gcc + Debian's musl-dev:arm64
#           cross    $CROSS_COMPILE gcc [--sysroot=$SYSROOT] (an OpenWrt SDK)
#   OUT     build/<target>: gets toolchain/{cc,ar,strip} (wrappers), and
#           sysroot/{include,lib} with mbedTLS 3.6 (configured by
#           port/mbedtls/warren-config.h) and rabbitmq-c 0.15 built
#           static, jsmn.h, and amqp.h-style headers forwarding to
#           <rabbitmq-c/...>.
#
# Sources come with `apt-get source` from Debian trixie (deb-src), through a
# private apt configuration under build/deps/apt: the system's /etc/apt, its
# lists and its dpkg state are never touched (no root needed for this part).
# Debian's patches are applied by dpkg-source -x. The musl-dev of a foreign
# architecture is fetched with `apt-get download` through the same private
# configuration and unpacked with dpkg -x under build/deps/; nothing is
# installed. Needs: the packages of `sh port/deps.sh embedded`.
#
# WARREN_MBEDTLS_CONFIG=FILE builds mbedTLS with another configuration
# (e.g. one adding MBEDTLS_DEBUG_C to see a handshake go wrong).
# LTO=0 builds the libraries without link-time optimisation (for a
# toolchain without the LTO plugin; port/embedded.mk passes its LTO).
#
# Idempotent: each step leaves a stamp and is skipped when it is there.
# POSIX sh.
set -eu

TARGET=${1:?usage: deps-src.sh TARGET OUT}
OUT=${2:?usage: deps-src.sh TARGET OUT}
TOP=$(cd "$(dirname "$0")/.." && pwd)
DEPS=${DEPS_DIR:-$TOP/build/deps}
SUITE=${DEPS_SUITE:-trixie}
MIRROR=${DEPS_MIRROR:-http://deb.debian.org/debian}
JOBS=${JOBS:-2}
# What the build expects of Debian's source packages (checked, not pinned:
# a stable update within the series is taken as it comes).
MBEDTLS_SERIES=3.6.
RABBITMQ_SERIES=0.15.

# Flags meant for warren's own code (make exports command-line variables)
# would reach cmake through the environment: the libraries get LIB_CFLAGS.
unset CFLAGS CPPFLAGS LDFLAGS CC AR MAKEFLAGS MFLAGS

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
mkdir -p "$DEPS"
DEPS=$(cd "$DEPS" && pwd)

say() { echo "deps-src: $*" >&2; }
die() { echo "deps-src: $*" >&2; exit 1; }

# ---- private apt ---------------------------------------------------------

APTDIR=$DEPS/apt
export APT_CONFIG="$APTDIR/apt.conf"

# apt_setup: writes the private apt configuration (sources: trixie deb-src,
# and the host's suite for the foreign musl-dev packages) and runs one
# `apt-get update` into it.
apt_setup() {
	[ -f "$APTDIR/.updated" ] && return 0
	say "private apt state in $APTDIR"
	mkdir -p "$APTDIR/etc/apt.conf.d" "$APTDIR/etc/sources.list.d" \
		"$APTDIR/etc/preferences.d" "$APTDIR/etc/trusted.gpg.d" \
		"$APTDIR/state/lists/partial" "$APTDIR/cache/archives/partial" \
		"$APTDIR/log"
	: > "$APTDIR/state/status"
	host_suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
	keys=/usr/share/keyrings
	cat > "$APTDIR/etc/sources.list" <<EOF
deb-src [signed-by=$keys/debian-archive-$SUITE-stable.gpg] $MIRROR $SUITE main
deb [arch=armhf,arm64 signed-by=$keys/debian-archive-$host_suite-stable.gpg] $MIRROR $host_suite main
EOF
	cat > "$APT_CONFIG" <<EOF
Dir::Etc "$APTDIR/etc";
Dir::Etc::SourceList "$APTDIR/etc/sources.list";
Dir::Etc::SourceParts "$APTDIR/etc/sources.list.d";
Dir::Etc::Parts "$APTDIR/etc/apt.conf.d";
Dir::Etc::Preferences "$APTDIR/etc/preferences";
Dir::Etc::PreferencesParts "$APTDIR/etc/preferences.d";
Dir::Etc::TrustedParts "$APTDIR/etc/trusted.gpg.d";
Dir::State "$APTDIR/state";
Dir::State::status "$APTDIR/state/status";
Dir::Cache "$APTDIR/cache";
Dir::Log "$APTDIR/log";
APT::Architecture "$(dpkg --print-architecture)";
APT::Architectures { "$(dpkg --print-architecture)"; "armhf"; "arm64"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
EOF
	# Not as root, apt cannot drop to _apt for downloads: say so plainly.
	[ "$(id -u)" = 0 ] || echo 'APT::Sandbox::User "";' >> "$APT_CONFIG"
	apt-get -qq update || die "apt-get update (private state) failed"
	touch "$APTDIR/.updated"
}

# fetch_source PKG SERIES: unpacks Debian's source package PKG, patched, as
# $DEPS/src/PKG and checks its upstream version starts with SERIES.
fetch_source() {
	pkg=$1 series=$2 dir=$DEPS/src/$1
	[ -f "$dir/.unpacked" ] && return 0
	apt_setup
	ver=$(apt-cache showsrc "$pkg" | sed -n 's/^Version: //p' | head -n 1)
	[ -n "$ver" ] || die "no source package $pkg in $SUITE"
	case $ver in
	"$series"*) ;;
	*) die "$pkg is $ver in $SUITE, the build expects $series*" ;;
	esac
	say "fetching $pkg $ver (Debian $SUITE)"
	mkdir -p "$DEPS/src/dl"
	# apt verifies every file against the signed index. A mirror that
	# lacks the .dsc still serves the tarballs: the .dsc is then rebuilt
	# from that same signed index, and dpkg-source checks the tarballs
	# against it.
	(cd "$DEPS/src/dl" && apt-get -qq source --download-only "$pkg=$ver") ||
		say "apt-get source $pkg: incomplete, using the index's checksums"
	dsc=$DEPS/src/dl/${pkg}_$(echo "$ver" | sed 's/^[0-9]*://').dsc
	[ -f "$dsc" ] || dsc_from_index "$pkg" "$ver" > "$dsc"
	rm -rf "$dir"
	dpkg-source --no-check -x "$dsc" "$dir" >/dev/null ||
		die "dpkg-source -x $dsc failed"
	verify_files "$dsc" "$DEPS/src/dl"
	touch "$dir/.unpacked"
}

# dsc_from_index PKG VER: the signed index's stanza of PKG=VER, as an
# (unsigned) .dsc.
dsc_from_index() {
	apt-cache showsrc "$1" | awk -v ver="$2" 'BEGIN { RS = "" }
		index($0, "\nVersion: " ver "\n") {
			sub(/^Package:/, "Source:")
			# The index also lists the .dsc itself: not a part of it.
			gsub(/\n [^\n]*\.dsc/, "")
			print; exit
		}'
}

# verify_files DSC DIR: checks the SHA-256 of each file DSC names (dpkg-source
# --no-check skips only the OpenPGP signature, which needs debian-keyring).
verify_files() {
	awk '/^Checksums-Sha256:/ { on = 1; next } /^[^ ]/ { on = 0 }
	     on && NF == 3 { print $1 "  " $3 }' "$1" > "$2/.sha256"
	[ -s "$2/.sha256" ] || die "no checksums in $1"
	(cd "$2" && sha256sum -c --quiet .sha256) || die "checksum mismatch for $1"
}

# ---- toolchain -----------------------------------------------------------

TC=$OUT/toolchain

# musl_foreign DEBARCH TRIPLET: Debian's musl-dev for DEBARCH, unpacked in
# $DEPS/musl-DEBARCH, and a gcc specs file pointing into it.
musl_foreign() {
	debarch=$1 triplet=$2 dir=$DEPS/musl-$1
	if [ ! -f "$dir/.unpacked" ]; then
		apt_setup
		say "musl-dev:$debarch (unpacked privately)"
		rm -rf "$dir" && mkdir -p "$dir/deb"
		(cd "$dir/deb" && apt-get -qq download "musl-dev:$debarch") ||
			die "apt-get download musl-dev:$debarch failed"
		dpkg -x "$dir"/deb/musl-dev_*.deb "$dir/root"
		touch "$dir/.unpacked"
	fi
	spec=$dir/root/usr/lib/$triplet/musl-gcc.specs
	[ -f "$spec" ] || die "$spec missing"
	sed "s|/usr/include/$triplet|$dir/root/usr/include/$triplet|g;
	     s|/usr/lib/$triplet|$dir/root/usr/lib/$triplet|g" "$spec" \
		> "$TC/musl-gcc.specs"
	echo "$TC/musl-gcc.specs"
}

# wrapper NAME COMMAND...: $TC/NAME runs COMMAND with its arguments.
wrapper() {
	name=$1; shift
	printf '#!/bin/sh\nexec %s "$@"%s\n' "$1" "${2:+ $2}" > "$TC/$name"
	chmod 755 "$TC/$name"
}

# need CMD: dies naming the package set when CMD is missing.
need() {
	command -v "$1" >/dev/null 2>&1 ||
		die "$1 not found: run 'sh port/deps.sh embedded' (as root)"
}

toolchain() {
	mkdir -p "$TC"
	case $TARGET in
	x86_64)
		need musl-gcc
		wrapper cc musl-gcc "-static"
		wrapper ar gcc-ar; wrapper strip strip; wrapper ranlib gcc-ranlib ;;
	armhf|aarch64)
		if [ "$TARGET" = armhf ]; then
			gnu=arm-linux-gnueabihf debarch=armhf mt=arm-linux-musleabihf
		else
			gnu=aarch64-linux-gnu debarch=arm64 mt=aarch64-linux-musl
		fi
		need "$gnu-gcc"
		spec=$(musl_foreign $debarch $mt)
		wrapper cc "$gnu-gcc" "-static -specs $spec"
		wrapper ar "$gnu-gcc-ar"; wrapper strip "$gnu-strip"
		wrapper ranlib "$gnu-gcc-ranlib" ;;
	cross)
		[ -n "${CROSS_COMPILE:-}" ] || die "cross: set CROSS_COMPILE"
		need "${CROSS_COMPILE}gcc"
		wrapper cc "${CROSS_COMPILE}gcc" \
			"-static${SYSROOT:+ --sysroot=$SYSROOT}"
		# gcc-ar where the SDK has it (LTO objects need its plugin).
		p=${CROSS_COMPILE}gcc-
		command -v "${p}ar" >/dev/null 2>&1 || p=$CROSS_COMPILE
		wrapper ar "${p}ar"; wrapper strip "${CROSS_COMPILE}strip"
		wrapper ranlib "${p}ranlib" ;;
	*)
		die "unknown target $TARGET (x86_64, armhf, aarch64, cross)" ;;
	esac
	# A cmake toolchain file: cross-compiling, static, nothing from the host.
	cat > "$TC/toolchain.cmake" <<EOF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER "$TC/cc")
set(CMAKE_AR "$TC/ar")
set(CMAKE_RANLIB "$TC/ranlib")
set(CMAKE_STRIP "$TC/strip")
set(CMAKE_FIND_ROOT_PATH "$OUT/sysroot")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
EOF
	echo 'int main(void) { return 0; }' > "$TC/probe.c"
	"$TC/cc" -o "$TC/probe" "$TC/probe.c" ||
		die "the $TARGET compiler cannot link a static program"
}

# ---- libraries -----------------------------------------------------------

SYSROOT_OUT=$OUT/sysroot
# Same size flags as warren's own code, so --gc-sections can drop what the
# programs do not call, and the same link-time optimisation: the libraries'
# objects are then compiled with the program at its link, where what no
# program reaches goes and small functions melt into their callers
# (port/embedded.mk has the figures; fat objects for port/size.sh).
case ${LTO:-1} in 0) lto= ;; *) lto='-flto -ffat-lto-objects -flto-partition=one ' ;; esac
LIB_CFLAGS=${LIB_CFLAGS:-$lto-Os -ffunction-sections -fdata-sections -fno-pie \
-fno-asynchronous-unwind-tables -fno-unwind-tables}
# A library is rebuilt when this script, its flags or (for mbedTLS) the
# configuration changed since it was built: the stamp holds their checksum.
recipe() {
	cat "$TOP/port/deps-src.sh" "$@" | cksum |
		{ read -r sum _; echo "$sum $LIB_CFLAGS"; }
}
# up_to_date STAMP FILE...: true when STAMP records the current recipe.
up_to_date() {
	stamp=$1; shift
	[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(recipe "$@")" ]
}

# cmake_build NAME SRC ARGS...: configures, builds and installs one library.
cmake_build() {
	name=$1 src=$2; shift 2
	bdir=$OUT/deps-build/$name
	rm -rf "$bdir" && mkdir -p "$bdir"
	cmake -S "$src" -B "$bdir" -Wno-dev \
		-DCMAKE_TOOLCHAIN_FILE="$TC/toolchain.cmake" \
		-DCMAKE_BUILD_TYPE=MinSizeRel \
		-DCMAKE_C_FLAGS_MINSIZEREL="$LIB_CFLAGS -DNDEBUG" \
		-DCMAKE_INSTALL_PREFIX="$SYSROOT_OUT" \
		-DCMAKE_INSTALL_LIBDIR=lib \
		-DBUILD_SHARED_LIBS=OFF "$@" > "$bdir.log" 2>&1 ||
		{ tail -n 30 "$bdir.log" >&2; die "cmake $name failed"; }
	cmake --build "$bdir" -j "$JOBS" >> "$bdir.log" 2>&1 ||
		{ tail -n 30 "$bdir.log" >&2; die "building $name failed"; }
	cmake --install "$bdir" >> "$bdir.log" 2>&1 ||
		{ tail -n 30 "$bdir.log" >&2; die "installing $name failed"; }
}

mbedtls() {
	cfg=${WARREN_MBEDTLS_CONFIG:-$TOP/port/mbedtls/warren-config.h}
	stamp=$SYSROOT_OUT/.mbedtls
	up_to_date "$stamp" "$cfg" && return 0
	fetch_source mbedtls $MBEDTLS_SERIES
	say "building mbedTLS for $TARGET"
	cmake_build mbedtls "$DEPS/src/mbedtls" \
		-DMBEDTLS_CONFIG_FILE="$cfg" \
		-DENABLE_PROGRAMS=OFF -DENABLE_TESTING=OFF \
		-DUSE_STATIC_MBEDTLS_LIBRARY=ON -DUSE_SHARED_MBEDTLS_LIBRARY=OFF \
		-DMBEDTLS_FATAL_WARNINGS=OFF -DGEN_FILES=OFF
	# Programs must see the configuration the library was built with (it
	# changes structure layouts), so it replaces the installed default.
	cp "$cfg" "$SYSROOT_OUT/include/mbedtls/mbedtls_config.h"
	recipe "$cfg" > "$stamp"
}

rabbitmq() {
	stamp=$SYSROOT_OUT/.rabbitmq
	up_to_date "$stamp" && return 0
	fetch_source librabbitmq $RABBITMQ_SERIES
	say "building rabbitmq-c for $TARGET"
	cmake_build rabbitmq-c "$DEPS/src/librabbitmq" \
		-DENABLE_SSL_SUPPORT=OFF -DBUILD_STATIC_LIBS=ON \
		-DBUILD_TOOLS=OFF -DBUILD_EXAMPLES=OFF -DBUILD_TESTING=OFF \
		-DBUILD_API_DOCS=OFF
	# 0.13 moved the headers to <rabbitmq-c/...> and left <amqp.h> shims
	# that #warning on every include. Plain forwarders replace them, so
	# code written for 0.11 (Debian bookworm) builds unchanged and clean.
	inc=$SYSROOT_OUT/include
	for pair in amqp.h:amqp.h amqp_framing.h:framing.h \
	    amqp_tcp_socket.h:tcp_socket.h; do
		old=${pair%%:*} new=${pair#*:}
		printf '/* written by port/deps-src.sh */\n#include <rabbitmq-c/%s>\n' \
			"$new" > "$inc/$old"
	done
	rm -f "$inc/amqp_ssl_socket.h"
	recipe > "$stamp"
}

jsmn() {
	mkdir -p "$SYSROOT_OUT/include"
	# Header-only; musl's compiler does not search /usr/include.
	[ -f /usr/include/jsmn.h ] || die "/usr/include/jsmn.h missing (libjsmn-dev)"
	cp /usr/include/jsmn.h "$SYSROOT_OUT/include/jsmn.h"
}

need cmake
need dpkg-source
toolchain
jsmn
mbedtls
rabbitmq
say "$TARGET ready: $OUT"

#!/bin/sh
# deps.sh MODE - install the Debian packages warren needs, when missing.
#
#   build   compiler, make, pkg-config and the three libraries
#   run     build + a RabbitMQ server (for `make run`)
#   test    run + what the test suite and benchmarks use
#   embedded  build + musl, cross gcc, qemu-user, cmake (make STATIC=1, TARGET=)
#
# A quick no-op when everything is present (checked with dpkg-query); otherwise
# one `apt-get update`, then `apt-get install` of what is missing. Needs root
# (or sudo) only when something must be installed. POSIX sh.
#
# Other parts of the project append their packages to the lists below.
set -eu

# Packages for each mode. Append here (space-separated Debian names).
PKGS_BUILD="gcc make pkg-config librabbitmq-dev libmbedtls-dev libjsmn-dev"
PKGS_RUN="rabbitmq-server"
PKGS_TEST="nginx-light openssl ca-certificates curl python3 python3-pika
	python3-websockets wrk sqlite3 time iproute2 busybox"
# make fuzz (clang with libFuzzer's runtime) and tests/faults/valgrind.sh.
PKGS_TEST="$PKGS_TEST clang libclang-rt-14-dev valgrind"
# Middleman browser test (headless Chromium driven from Node): appended here.
PKGS_TEST_BROWSER="chromium"
# Embedded/cross builds (musl, cross gcc, qemu-user): appended here.
# (port/deps-src.sh fetches mbedTLS and rabbitmq-c sources with apt-get
# source and builds them with cmake; foreign musl-dev is unpacked privately.)
PKGS_EMBEDDED="musl-tools musl-dev gcc-arm-linux-gnueabihf gcc-aarch64-linux-gnu
	qemu-user-static busybox cmake dpkg-dev bzip2 xz-utils"

mode=${1:-build}
case $mode in
build)	want="$PKGS_BUILD" ;;
run)	want="$PKGS_BUILD $PKGS_RUN" ;;
test)	want="$PKGS_BUILD $PKGS_RUN $PKGS_TEST $PKGS_TEST_BROWSER $PKGS_EMBEDDED" ;;
embedded) want="$PKGS_BUILD $PKGS_EMBEDDED" ;;
*)	echo "usage: $0 build|run|test|embedded" >&2; exit 2 ;;
esac

# is_installed PKG: true when dpkg knows PKG as fully installed.
is_installed() {
	dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q ' installed$'
}

missing=
for p in $want; do
	# nginx-light and nginx both provide the nginx binary we run.
	if [ "$p" = nginx-light ] && command -v nginx >/dev/null 2>&1; then
		continue
	fi
	is_installed "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing$missing" >&2
SUDO=
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "deps.sh: need root to install:$missing" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
# Never start services from postinst (rabbitmq-server, nginx): tests run their
# own private instances on their own ports. policy-rc.d is honoured by
# invoke-rc.d; we remove it again afterwards only if we created it.
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e $policy ] && [ -z "$SUDO" ]; then
	printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy && made_policy=1
fi
status=0
$SUDO apt-get update -qq || status=$?
if [ $status = 0 ]; then
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing || status=$?
fi
[ -n "$made_policy" ] && rm -f $policy
exit $status

#!/bin/sh
# size.sh BINARY... - what `make size` prints: each binary's stripped size,
# and where its bytes come from, per component, read from the GNU ld link
# map the embedded builds write beside each binary (BINARY.map, see
# port/embedded.mk). Bytes are those of the input sections the linker kept
# in the loaded image (.text, .rodata, .data, ...); .bss takes RAM, not
# flash, and is shown apart. The rest of a stripped file is ELF headers and
# alignment.
#
# With link-time optimisation the code of warren and of the libraries is
# compiled anew at the link, into one object (the map names it
# /tmp/cc*.ltrans0.ltrans.o): its sections are traced back by name
# (.text.FUNCTION, .rodata.OBJECT) to the object that defined them, read
# from the LTO objects' own sections (a .gnu.lto_FUNCTION section each;
# the data from the code beside it, as port/embedded.mk builds them with
# -ffat-lto-objects). A function inlined elsewhere counts where it was
# inlined; merged string and number constants that no name leads back
# to show as "(LTO: merged constants)".
#
# Environment: STRIP (the target's strip), SIZE_TOP (objects listed per
# binary, default 8).
set -eu

STRIP=${STRIP:-strip}
TOP=${SIZE_TOP:-8}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# section_owners MAP: "name file(member)" for every code or data section
# of the objects the map says were loaded (those that went through LTO).
section_owners() {
	sed -n 's/^LOAD //p' "$1" | grep -v 'ltrans\|/libc\.a$\|/libgcc\|/crt' |
	while read -r f; do
		# (ARM maps also load "linker stubs", no file.)
		[ -f "$f" ] || continue
		readelf -SW "$f" 2>/dev/null | awk -v f="$f" '
		/^File: / { sub(/^File: /, ""); f = $0; next }
		match($0, /^ *\[ *[0-9]+\] /) {
			n = substr($0, RLENGTH + 1); sub(/ .*/, "", n)
			if (n ~ /^\.(text|rodata|data|bss|tbss|tdata)\./) print n "\t" f
			# The intermediate form: a section per function,
			# also those the fat code has inlined.
			else if (sub(/^\.gnu\.lto_/, "", n) && n !~ /^\./ &&
			    sub(/\.[0-9]+\.[0-9a-f]+$/, "", n))
				print ".text." n "\t" f
		}'
	done
}

# component_table MAP [OWNERS]: "component object bytes kind" per kept
# input section; OWNERS (from section_owners) places the LTO output's.
component_table() {
	awk -v owners="${2:-}" '
	# A section name without its kind and what GCC appends to clones:
	# .text.unlikely.f.constprop.0.isra.0 and .rodata.f.str1.1 give f.
	function base(n) {
		sub(/^\.(text|rodata|data|bss|tbss|tdata)(\.(unlikely|startup|hot|exit|rel\.ro(\.local)?))?\./, "", n)
		while (sub(/\.(constprop|isra|part|lto_priv|cold|localalias|str1|cst)(\.?[0-9]+)?$/, "", n)) ;
		return n
	}
	BEGIN {
		if (owners != "")
			while ((getline l < owners) > 0) {
				split(l, a, "\t")
				if (!(base(a[1]) in owner)) owner[base(a[1])] = a[2]
			}
	}
	# Sections that are in the map but not in a stripped, loaded image.
	function unloaded(s) {
		return s ~ /^\.(comment|debug|note\.GNU-stack|gnu\.attributes|ARM\.attributes|symtab|strtab|shstrtab|gnu_debuglink|stab)/
	}
	function component(f,   lib, obj) {
		obj = f
		if (match(f, /\(([^()]*)\)$/)) {
			obj = substr(f, RSTART + 1, RLENGTH - 2)
			lib = substr(f, 1, RSTART - 1)
		} else {
			lib = ""
		}
		sub(/.*\//, "", lib); sub(/.*\//, "", obj)
		if (lib == "libwarren.a") { sub(/\.o$/, "", obj); return "warren/" obj }
		if (lib ~ /^libmbedcrypto/) return "mbedtls-crypto"
		if (lib ~ /^libmbedx509/) return "mbedtls-x509"
		if (lib ~ /^libmbedtls/) return "mbedtls-ssl"
		if (lib ~ /^librabbitmq/) return "rabbitmq-c"
		if (lib ~ /^libc\.a/) return "libc (musl)"
		if (lib ~ /^libgcc/) return "libgcc"
		if (f == "(alignment)") return f
		if (f ~ /port\/libc\//) return "port/libc"
		if (f ~ /port\/amqp\//) return "port/amqp"
		if (lib == "" && obj ~ /^crt|^Scrt|^rcrt|crtbegin|crtend/) return "startup"
		if (lib == "") { sub(/\.o$/, "", obj); return "main/" obj }
		return lib
	}
	function hex(s,   i, n, c) {
		n = 0; s = tolower(s); sub(/^0x/, "", s)
		for (i = 1; i <= length(s); i++) {
			c = index("0123456789abcdef", substr(s, i, 1))
			n = n * 16 + c - 1
		}
		return n
	}
	function objname(f) { sub(/.*\//, "", f); return f }
	function emit(f, size, kind, sec,   b) {
		if (size + 0 <= 0)
			return
		if (f ~ /ltrans[0-9]*\.o$/) {
			b = base(sec)
			if (b ~ /^(str1|cst)/ || sec !~ /^\.[a-z]+\./) {
				printf "(LTO: merged constants)\t-\t%d\t%s\n", size, kind
				return
			}
			if (b in owner)
				f = owner[b]
		}
		printf "%s\t%s\t%d\t%s\n", component(f), objname(f), size, kind
	}
	/^Linker script and memory map/ { on = 1; next }
	!on { next }
	# An output section: ".text  0x... 0x..." or a name alone at column 0.
	/^[^ \t]/ { out = $1; next }
	{
		if (unloaded(out)) next
		kind = (out ~ /^\.(t?bss)/) ? "bss" : "image"
		# " .text.x  0xADDR  0xSIZE  file" or " .text.x" then
		# "          0xADDR  0xSIZE  file" on the next line.
		if ($1 ~ /^\./ && NF == 1) { pending = 1; sec = $1; next }
		if ($1 ~ /^\./ && NF >= 4 && $2 ~ /^0x/ && $3 ~ /^0x/) {
			emit($4, hex($3), kind, $1); pending = 0; next
		}
		if (pending && NF >= 3 && $1 ~ /^0x/ && $2 ~ /^0x/) {
			emit($3, hex($2), kind, sec); pending = 0; next
		}
		if ($1 == "*fill*" && NF >= 3) { emit("(alignment)", hex($3), kind, ""); next }
		pending = 0
	}' "$1"
}

for bin in "$@"; do
	[ -f "$bin" ] || continue
	map=$bin.map
	"$STRIP" -o "$tmp/s" "$bin"
	stripped=$(wc -c < "$tmp/s")
	awk -v b="$bin" -v n="$stripped" \
		'BEGIN { printf "%s: %d bytes stripped (%.1f KiB)\n", b, n, n / 1024 }'
	if [ ! -f "$map" ]; then
		echo "  (no link map $map: built without port/embedded.mk's LDFLAGS)"
		continue
	fi
	owners=
	if grep -q '^LOAD .*ltrans' "$map"; then
		section_owners "$map" > "$tmp/owners"
		owners=$tmp/owners
	fi
	component_table "$map" "$owners" > "$tmp/t"
	awk -F '\t' -v total="$stripped" -v top="$TOP" '
	$4 == "image" { comp[$1] += $3; obj[$1 "\t" $2] += $3; img += $3 }
	$4 == "bss" { bss += $3 }
	END {
		for (c in comp) printf "%d\t%s\n", comp[c], c | "sort -rn > \"'"$tmp"'/c\""
		close("sort -rn > \"'"$tmp"'/c\"")
		while ((getline l < "'"$tmp"'/c") > 0) {
			split(l, a, "\t")
			printf "  %-24s %8d  %5.1f%%\n", a[2], a[1], 100 * a[1] / total
		}
		printf "  %-24s %8d  %5.1f%%\n", "(ELF headers, padding)", total - img, 100 * (total - img) / total
		printf "  %-24s %8d  (RAM, not in the file)\n", ".bss", bss
		for (o in obj) printf "%d\t%s\n", obj[o], o | "sort -rn | head -n " top " > \"'"$tmp"'/o\""
		close("sort -rn | head -n " top " > \"'"$tmp"'/o\"")
		printf "  largest objects:"
		n = 0
		while ((getline l < "'"$tmp"'/o") > 0) {
			split(l, a, "\t")
			printf "%s %s(%s) %d", (n++ ? "," : ""), a[2], a[3], a[1]
		}
		printf "\n"
	}' "$tmp/t"
done

# warren - batch downloads for embedded Linux.
#
#   make              build/tasker build/worker build/middleman
#   make check        install what the tests need, run unit + integration tests
#   make check SANITIZE=1   the same, built with ASan + UBSan (in build/san)
#   make run          broker + tasker + middleman + 2 workers, in the foreground
#   make bench        benchmarks (tests/bench), printing tables
#   make bench-seed   warren beside the plain Go version (../shared/seed-go),
#                     through its measure.sh: one table with the ratios
#   make install      PREFIX=/usr/local DESTDIR=
#
# Honours CC, CFLAGS, LDFLAGS, PREFIX, DESTDIR, V=1, BUILD=dir, DEP_STATIC=0
# (link the system's shared rabbitmq-c and mbedTLS instead of their archives).
# Compile-time defaults and limits: config.h (override with -D in CFLAGS).
#
# port/embedded.mk, included first, adds the static, cross and multi-call
# builds: STATIC=1, TARGET=armhf|aarch64 or CROSS_COMPILE=... set CC, AR,
# STRIP, PKG_CONFIG (a musl toolchain and a sysroot it builds),
# BUILD=build/<target>, and size-first CFLAGS/LDFLAGS (-Os, LTO, sections,
# --gc-sections, stripped) unless given; MULTI=1 builds one BusyBox-style
# binary; `make size` reports stripped sizes. tests/fuzz/fuzz.mk, included
# last, adds `make fuzz`, `make fuzz-build` and `make faults`.

-include port/embedded.mk

CC         ?= cc
PKG_CONFIG ?= pkg-config
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
CFLAGS     ?= -O2 -g
SANITIZE   ?=

ifeq ($(SANITIZE),1)
BUILD      ?= build/san
SANFLAGS    = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD      ?= build
SANFLAGS    =
endif

ifeq ($(V),1)
Q =
else
Q = @
endif

WARN       = -Wall -Wextra -Wshadow -Wstrict-prototypes
ALL_CFLAGS = -std=c11 -D_DEFAULT_SOURCE $(WARN) $(CFLAGS) $(SANFLAGS) \
             -I. -Isrc -Iport -MMD -MP \
             $(shell $(PKG_CONFIG) --cflags librabbitmq 2>/dev/null)
# rabbitmq-c and mbedTLS are linked from their static archives by default:
# Debian's librabbitmq.so drags in OpenSSL (1.5 MB of RSS) that warren never
# uses, and the linker then takes only the objects a program needs.
DEP_STATIC ?= 1
ifeq ($(DEP_STATIC),1)
LIBS_MQ    = -l:librabbitmq.a
LIBS_TLS   = -l:libmbedtls.a -l:libmbedx509.a -l:libmbedcrypto.a
else
LIBS_MQ    = $(shell $(PKG_CONFIG) --libs librabbitmq 2>/dev/null || echo -lrabbitmq)
LIBS_TLS   = -lmbedtls -lmbedx509 -lmbedcrypto
endif
LIBS       = $(LIBS_MQ) $(LIBS_TLS)
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)
# Objects linked into every program ahead of the libraries (port/embedded.mk
# sets it for the static builds: port/libc/printf.c).
PORT_OBJ  ?=

PROGRAMS   = tasker worker middleman
MAINS      = $(addprefix src/,$(addsuffix .c,$(PROGRAMS)))
# Every module goes into one archive; the linker takes from it only what a
# program uses, so shared code is written once and linked where needed.
LIB_SRC    = $(filter-out $(MAINS),$(wildcard src/*.c)) $(wildcard port/*.c)
LIB_OBJ    = $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
BINS       = $(addprefix $(BUILD)/,$(notdir $(basename $(wildcard $(MAINS)))))
UNIT_SRC   = $(wildcard tests/unit/test_*.c)
UNIT_BINS  = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all check unit run bench bench-seed install clean deps test-deps
# keep objects of programs (make would delete them as intermediates)
.SECONDARY:
all: $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libwarren.a: $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# The middleman's page, src/page.html, compiled into the archive as C
# arrays (see src/page.h) with POSIX sed and od, and gzip: its lines up to
# the tasker meta tag as they are (page_head), the rest without its
# indentation and its one-line comments ("/* ... */", so never "/* " in a
# string there), gzip -9n (page_gz): 4.3 KB instead of 10.9 KB (4.6 KB
# with them). webpage.c writes the tasker's URL after the head and serves
# the whole page gzip-compressed. $(BUILD)/gen/page.html is the page as
# served (the tests compare with it).
GEN_OBJ    = $(BUILD)/obj/gen/page.o
$(BUILD)/gen/page.c: src/page.html Makefile
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GEN     $@")
	$(Q){ sed '/<meta name="tasker"/q' $<; \
	  sed -e '1,/<meta name="tasker"/d' -e 's/^[[:blank:]]*//' \
	      -e 's#[[:blank:]]*/\* [^*]*\*/##g' $<; } > $(dir $@)page.html && \
	sed '1,/<meta name="tasker"/d' $(dir $@)page.html | gzip -9n > $@.gz && \
	{ echo '/* generated from src/page.html: do not edit */'; \
	  echo '#include "page.h"'; echo 'const unsigned char page_head[] = {'; \
	  sed '/<meta name="tasker"/q' $< | od -A n -v -t x1 | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0 };'; echo 'const size_t page_head_len = sizeof(page_head) - 1;'; \
	  echo 'const unsigned char page_gz[] = {'; \
	  od -A n -v -t x1 $@.gz | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '};'; echo 'const size_t page_gz_len = sizeof(page_gz);'; \
	} > $@.tmp && rm -f $@.gz && mv $@.tmp $@
$(GEN_OBJ): $(BUILD)/gen/page.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(BUILD)/libwarren.a: $(GEN_OBJ)

$(BUILD)/%: $(BUILD)/obj/src/%.o $(BUILD)/libwarren.a $(PORT_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(PORT_OBJ) $(BUILD)/libwarren.a $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libwarren.a $(PORT_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(PORT_OBJ) $(BUILD)/libwarren.a $(LIBS)

# Installs build and test dependencies from Debian when missing.
deps:
	$(Q)sh port/deps.sh build
test-deps:
	$(Q)sh port/deps.sh test

# mqprobe: a test program the integration tests drive (not run by itself)
unit: $(UNIT_BINS) $(BUILD)/tests/mqprobe

check: test-deps
	$(Q)$(MAKE) --no-print-directory all unit
	$(Q)BUILD=$(BUILD) sh tests/run.sh

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) sh port/run.sh

bench: test-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) sh tests/bench/run.sh

# A benchmark, not a test: builds the Go baseline, runs measure.sh for it
# and for warren (~10 minutes, root, an idle machine), prints the table.
bench-seed: test-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) sh tests/bench/seed.sh

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)/

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)

-include tests/fuzz/fuzz.mk

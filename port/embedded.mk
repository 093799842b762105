# port/embedded.mk - static, cross and multi-call builds of warren.
# Included by the top Makefile BEFORE its own settings (it decides BUILD,
# which the top Makefile's rule targets expand when they are read).
#
#   make STATIC=1            x86_64 static with musl (musl-gcc)    build/x86_64/
#   make TARGET=armhf        ARMv7 hard-float, static, musl         build/armhf/
#   make TARGET=aarch64      ARMv8 64-bit, static, musl             build/aarch64/
#   make CROSS_COMPILE=mips-openwrt-linux-musl- SYSROOT=.../staging_dir/target-...
#                            any gcc toolchain (an OpenWrt SDK)     build/cross/
#   make MULTI=1 [...]       one BusyBox-style binary $(BUILD)/warren instead
#                            of three (applets tasker, worker, middleman);
#                            `make MULTI=1 install` adds the three links
#   make size [...]          stripped size of each binary, and its share by
#                            component (warren modules, mbedTLS, rabbitmq-c, libc)
#   make embedded-deps [...] only the toolchain and the libraries
#
# The static and cross builds take their libraries from Debian's SOURCE
# packages (mbedTLS 3.6 with port/mbedtls/warren-config.h, rabbitmq-c 0.15),
# built by port/deps-src.sh into $(BUILD)/sysroot before anything else; the
# host build keeps Debian's -dev packages. Packages needed:
# `sh port/deps.sh embedded`. Everything can still be overridden on the
# command line (BUILD=, CFLAGS=, LDFLAGS=).

# Rules below must not become the default goal.
.DEFAULT_GOAL := all

EMB_TARGET :=
ifneq ($(CROSS_COMPILE),)
EMB_TARGET := $(or $(TARGET),cross)
EMB_KIND   := cross
else ifneq ($(filter-out x86_64,$(TARGET)),)
EMB_TARGET := $(TARGET)
EMB_KIND   := $(TARGET)
else ifneq ($(filter 1,$(STATIC))$(TARGET),)
EMB_TARGET := x86_64
EMB_KIND   := x86_64
endif

ifneq ($(EMB_TARGET),)
ifeq ($(SANITIZE),1)
$(error SANITIZE=1 needs the host build (no sanitizer runtimes for static musl))
endif
ifeq ($(filter x86_64 armhf aarch64 cross,$(EMB_KIND)),)
$(error TARGET=$(TARGET): use x86_64 (= STATIC=1), armhf, aarch64, or CROSS_COMPILE=)
endif

EMB_DIR     := build/$(EMB_TARGET)
BUILD       ?= $(EMB_DIR)
EMB_ABS     := $(abspath $(EMB_DIR))
EMB_SYSROOT := $(EMB_ABS)/sysroot
EMB_TC      := $(EMB_ABS)/toolchain
# The wrapper compiler is static and musl already; the sysroot holds the
# libraries and the headers (mbedTLS configured as it was built, <amqp.h>
# forwarders for rabbitmq-c 0.15, jsmn.h).
# -I, not -isystem: the dependency files then name the sysroot's headers,
# and a rebuilt library recompiles what includes it.
CC          := $(EMB_TC)/cc -I$(EMB_SYSROOT)/include -L$(EMB_SYSROOT)/lib
AR          := $(EMB_TC)/ar
STRIP       := $(EMB_TC)/strip
PKG_CONFIG  := PKG_CONFIG_LIBDIR=$(EMB_SYSROOT)/lib/pkgconfig pkg-config --static
# Size first: each function and object in its own section so the linker
# drops what no program calls; no unwind tables (C, no backtraces); no PIE
# (static binaries are loaded at a fixed address anyway). The link map
# beside each binary is what `make size` reads.
# Link-time optimisation, of warren's code and of the libraries alike
# (port/deps-src.sh builds them with the same flags): the compiler sees a
# whole program at its link, inlines across files and drops what nothing
# reaches, e.g. the rabbitmq-c and mbedTLS paths that take constants we
# never pass. One partition: the program is small, and split in parts it
# comes out 1.1 KB bigger. Against LTO=0, x86_64: worker 9.8 KB smaller,
# multi-call 10.2 KB, tasker 2.3 KB, middleman 2.4 KB.
# The objects are fat (real code beside the compiler's intermediate form):
# port/size.sh reads their sections to tell which component the optimised
# program's bytes come from. LTO=0 for a toolchain without the LTO plugin.
LTO         ?= 1
EMB_LTO     := $(if $(filter 0,$(LTO)),,-flto -ffat-lto-objects -flto-partition=one)
EMB_CODE    := -Os -ffunction-sections -fdata-sections -fno-pie \
               -fno-asynchronous-unwind-tables -fno-unwind-tables
# x86: arrays aligned as the ABI asks, not to 32 bytes for vector loads
# (GCC's default there, -malign-data=compat): less padding in .rodata.
EMB_CODE    += $(if $(filter x86_64,$(EMB_KIND)),-malign-data=abi)
CFLAGS      ?= $(EMB_LTO) $(EMB_CODE)
# -z noseparate-code: code and read-only data share pages instead of each
# starting on its own page (x86-64's default): ~6 KB less per binary.
# -z norelro: no padding of the data segment up to a page boundary so that
# its first part can be made read-only after start; that page is 64 KiB on
# aarch64 (33 KB per binary there, 2.5 KB on x86-64). What RELRO would
# protect in a static program is .init_array/.fini_array and a few GOT
# entries. The 64 KiB segment alignment itself is kept: the binaries still
# run on kernels with 64 KiB pages.
# -z common-page-size=64: the data segment starts right after the code in
# the file instead of on the next page boundary (at most one more page of
# RAM): 2.5 KB less per binary.
# --sort-section=alignment: input sections in order of their alignment,
# so that little padding goes between them (0.3 KB per binary).
# -s: the binaries are installed as built, stripped (no -g anyway); the link
# map beside each one still names every function's address.
# With LTO the code is generated at the link: the code flags go there too.
LDFLAGS     ?= $(EMB_LTO) $(EMB_CODE) -no-pie -s -Wl,--gc-sections \
               -Wl,-z,noseparate-code -Wl,-z,norelro -Wl,-z,common-page-size=64 \
               -Wl,--build-id=none -Wl,--sort-section=alignment -Wl,-Map,$@.map

# The toolchain and libraries come first: they are an included makefile,
# so make builds them (or sees them up to date) before reading on, and
# restarts. Not for goals that need nothing built.
# (Another stamp with LTO=0: the libraries are then rebuilt without it.)
EMB_STAMP   := $(EMB_DIR)/deps$(if $(filter 0,$(LTO)),-nolto).mk
ifneq ($(filter-out clean embedded-clean,$(or $(MAKECMDGOALS),all)),)
include $(EMB_STAMP)
endif
$(EMB_STAMP): port/deps-src.sh port/mbedtls/warren-config.h
	@echo "  DEPS    $(EMB_TARGET) (port/deps-src.sh)"
	$(Q)CROSS_COMPILE='$(CROSS_COMPILE)' SYSROOT='$(SYSROOT)' LTO='$(LTO)' \
		sh port/deps-src.sh $(EMB_KIND) $(EMB_DIR)
	$(Q)echo '# written by port/embedded.mk: $(EMB_TARGET) toolchain and libraries are built' > $@

embedded-deps: $(EMB_STAMP)
# Rebuilt libraries and changed link flags are relinked.
$(addprefix $(BUILD)/,tasker worker middleman warren): $(EMB_STAMP) port/embedded.mk
# Changed compile flags recompile: the top Makefile's rule for objects, with
# this file as a prerequisite too (the same stem, and read first, so make
# takes this one).
$(BUILD)/obj/%.o: %.c port/embedded.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(BUILD)/obj/gen/page.o: port/embedded.mk
# Our vsnprintf() and vfprintf(), linked ahead of the C library so that its
# vfprintf.lo (10.5 KB on x86_64, with the exact floating-point conversion
# nothing here needs) is not: about 7.9 KB less per program
# (port/libc/printf.c); setrlimit() without musl's fallback for kernels
# older than 2.6.36, 2 KB (port/libc/setrlimit.c); a heapsort qsort() and
# the plain strstr() for musl's resolver and our short searches, 3.1 KB
# (port/libc/qsort.c, strstr.c); mbstowcs() of the C locale alone, 1.3 KB
# (port/libc/mbstowcs.c); faccessat() as the system calls alone, without
# musl's fallback for AT_EACCESS before Linux 5.8, 0.6 KB of the worker
# (port/libc/faccessat.c).
# Plain objects (no LTO, no builtins): the library's own snprintf, fprintf,
# ... call these by name. Smallest code over speed (-Oz, no jump tables):
# 0.3 KB less than -Os; a log line or a JSON number is not where time goes.
PORT_OBJ    := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard port/libc/*.c))
$(PORT_OBJ): $(BUILD)/obj/port/libc/%.o: port/libc/%.c port/embedded.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -fno-lto -fno-builtin -Oz -fno-jump-tables -c -o $@ $<
# rabbitmq-c's method and property codec for the methods warren sends and
# can be sent, from a table (port/amqp/framing.c), ahead of the library's,
# generated for the whole protocol and kept whole since the method number
# comes at run time: -10 KB per program. Compiled as warren's own code is
# (-Os with LTO, by the object rule further up).
PORT_OBJ    += $(BUILD)/obj/port/amqp/framing.o
# PSA's random bytes from the kernel (mbedTLS built with
# MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG; port/mbedtls/random.c).
PORT_OBJ    += $(BUILD)/obj/port/mbedtls/random.o
# Only this target's libraries and build; the sources stay in build/deps.
embedded-clean:
	rm -rf $(EMB_DIR)
endif # EMB_TARGET

STRIP ?= strip

# ---- multi-call binary ------------------------------------------------------

# Each program's main() is compiled a second time as <prog>_main (by a
# -D, the sources are untouched) and src/multicall/warren.c dispatches on
# argv[0] or the first argument. The shared modules come from libwarren.a
# once.
MULTI_PROGS := tasker worker middleman
MULTI_OBJ    = $(patsubst %,$(BUILD)/obj/multi/%.o,$(MULTI_PROGS)) \
               $(BUILD)/obj/multi/warren.o

$(BUILD)/obj/multi/warren.o: src/multicall/warren.c port/embedded.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/multi/%.o: src/%.c port/embedded.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (as $*_main)")
	$(Q)$(CC) $(ALL_CFLAGS) -Dmain=$*_main -c -o $@ $<

$(BUILD)/warren: $(MULTI_OBJ) $(BUILD)/libwarren.a $(PORT_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(MULTI_OBJ) $(PORT_OBJ) $(BUILD)/libwarren.a $(LIBS)

# $(BUILD)/multi/<prog> -> ../warren: the applets as a system would install
# them, for running the test suite against the multi-call binary.
$(BUILD)/multi/%: | $(BUILD)/warren
	@mkdir -p $(dir $@)
	$(Q)ln -sf ../warren $@

.PHONY: multi embedded-deps embedded-clean size install-multi
multi: $(BUILD)/warren $(addprefix $(BUILD)/multi/,$(MULTI_PROGS))

ifeq ($(MULTI),1)
# `make MULTI=1` builds warren instead of the three programs, and `make
# MULTI=1 install` installs it with its three applet links.
override BINS = $(BUILD)/warren
all: multi
install: install-multi
endif

install-multi:
	install -d $(DESTDIR)$(BINDIR)
	for p in $(MULTI_PROGS); do ln -sf warren $(DESTDIR)$(BINDIR)/$$p; done

# ---- size report ----------------------------------------------------------------

SIZE_BINS = $(wildcard $(addprefix $(BUILD)/,tasker worker middleman warren))
size: all multi
	$(Q)STRIP='$(STRIP)' sh port/size.sh $(SIZE_BINS)

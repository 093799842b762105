# tests/fuzz/fuzz.mk - `make fuzz` and `make faults`, included from the
# top Makefile (its last line).
#
#   make fuzz                    build every tests/fuzz/fuzz_*.c with libFuzzer
#                                (clang, ASan + UBSan) and run each for
#                                FUZZ_SECONDS (default 60)
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="http ws"
#   make fuzz FUZZ_JOBS=2        two targets at a time (default 1)
#   make fuzz-build              build only ($(BUILD)/fuzz/fuzz_<target>)
#   make faults                  the fault-injection suite (tests/faults/run.sh)
#
# The library is compiled again with clang and the fuzzer's instrumentation
# into $(BUILD)/fuzz, apart from the normal objects. The run writes new
# inputs to $(BUILD)/fuzz/corpus/<target> (the seeds in
# tests/fuzz/corpus/<target> are read, never written) and crashes to
# $(BUILD)/fuzz/artifacts/<target>/.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 1
FUZZ_DIR      = $(BUILD)/fuzz
FUZZ_ALL      = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -g -O1 $(FUZZ_SAN) \
                -I. -Isrc -Iport -Itests/fuzz -MMD -MP \
                $(shell $(PKG_CONFIG) --cflags librabbitmq 2>/dev/null)
FUZZ_LIB_OBJ  = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(LIB_SRC))
FUZZ_BINS     = $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-build faults

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC/FUZZ $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/libwarren.a: $(FUZZ_LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_DIR)/libwarren.a
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_LDFLAGS) -o $@ $< \
		$(FUZZ_DIR)/libwarren.a $(LIBS)

# opt_parse exits on a bad option, as a program must: the target catches it.
$(FUZZ_DIR)/fuzz_options: FUZZ_LDFLAGS = -Wl,--wrap=exit

fuzz-build: $(FUZZ_BINS)

fuzz: test-deps
	$(Q)$(MAKE) --no-print-directory fuzz-build
	$(Q)FUZZ_DIR=$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) \
		sh tests/fuzz/run.sh $(FUZZ_TARGETS)

faults: test-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) sh tests/faults/run.sh $(FAULTS)

-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)

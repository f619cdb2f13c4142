# Makefile - ext4 reflink userspace toolkit.  GNU make + pkg-config.
#
#   make              library, programs, unit tests      (target: all)
#   make check        install deps, build all (+ASan), check-shared, run tests
#   make check-shared freestanding + sparse checks of the kernel-shareable code
#   make check-kbuild kbuild + sparse C=2 of the shareable code and the test
#                     module against the distro kernel headers
#   make kernel-tests check-kbuild, then the test module inside qemu
#   make s390x        the shareable code's unit tests cross-built for s390x
#   make check-s390x  ... and run under qemu-s390x-static
#   make bench        install deps, build, build bench/*.c, run bench/run
#   make demo         install deps, build, run scripts/demo
#   make asan         ASan+UBSan unit tests only
#   make mutants      build, then scripts/run-mutants (tests/mutants/*.patch)
#   make clean
#
# Variables: CC (gcc or clang), WERROR=1 (-Werror; make check sets it),
# EXTRA_CFLAGS, V=1 (show commands).
#
# Sources are found by wildcard; adding a file needs no edit here:
#   lib/**/*.c            -> build/libreflink.a
#   tests/unit/test_*.c   -> build/tests/test_*  and  build/asan/tests/test_*
#   misc/*.c tests/helpers/*.c -> build/bin/<name>
#   debug/*.c + debug/refdebug_cmds.ct (mk_cmds) -> build/bin/refdebug
#   bench/*.c             -> build/bench/<name>  (make bench only, +lmdb)

.DEFAULT_GOAL := all
SHELL := /bin/bash

PKG_CONFIG ?= pkg-config
COMPILE_ET ?= compile_et
MK_CMDS ?= mk_cmds
SPARSE ?= sparse
AR ?= ar

B := build

ifneq ($(V),1)
Q := @
endif

# ------------------------------------------------------------------
# Flags
# ------------------------------------------------------------------
PKGS := ext2fs com_err blkid uuid
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) popt 2>/dev/null)

WARN := -Wall -Wextra
ifeq ($(WERROR),1)
WARN += -Werror
endif

CPPFLAGS_ALL := -Ilib -I$(B)/gen $(PKG_CFLAGS)
CFLAGS_ALL := -O2 -g $(WARN) -std=gnu11 $(EXTRA_CFLAGS)
TEST_CPPFLAGS := -Itests/unit
DEPFLAGS = -MMD -MP
LDLIBS_ALL := $(PKG_LIBS) -lext2fs -lcom_err -lss
BENCH_LDLIBS := -llmdb

ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	      -fno-sanitize-recover=all
ASAN_CFLAGS := -O1 -g $(WARN) -std=gnu11 $(ASAN_FLAGS) $(EXTRA_CFLAGS)

# Rebuild everything when the compiler or flags change (make CC=clang
# after make really builds with clang).
FLAGS_STAMP := $(B)/.flags
FLAGS_NOW := $(CC) | $(CPPFLAGS_ALL) | $(CFLAGS_ALL) | $(ASAN_CFLAGS) | $(LDLIBS_ALL)
FLAGS_OLD := $(shell cat $(FLAGS_STAMP) 2>/dev/null)
ifneq ($(FLAGS_NOW),$(FLAGS_OLD))
$(shell mkdir -p $(B) && printf '%s\n' '$(subst ','\'',$(FLAGS_NOW))' > $(FLAGS_STAMP))
endif

# ------------------------------------------------------------------
# Sources
# ------------------------------------------------------------------
ET_SRC := lib/reflink_err.et
GEN_C := $(B)/gen/reflink_err.c
GEN_H := $(B)/gen/reflink_err.h

LIB_SRCS := $(sort $(shell find lib -name '*.c' 2>/dev/null))
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o) $(B)/obj/gen/reflink_err.o
LIB := $(B)/libreflink.a

ASAN_LIB_OBJS := $(LIB_SRCS:%.c=$(B)/asan/obj/%.o) $(B)/asan/obj/gen/reflink_err.o
ASAN_LIB := $(B)/asan/libreflink.a

TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))
TESTS := $(TEST_SRCS:tests/unit/%.c=$(B)/tests/%)
ASAN_TESTS := $(TEST_SRCS:tests/unit/%.c=$(B)/asan/tests/%)
# the checker under ASan+UBSan too: the golden images run through it
ASAN_PROGS := $(B)/asan/bin/reflinkck

PROG_SRCS := $(sort $(wildcard misc/*.c tests/helpers/*.c))
PROGS := $(addprefix $(B)/bin/,$(notdir $(PROG_SRCS:.c=)))

# refdebug: every debug/*.c and the libss command table, one program
DEBUG_SRCS := $(sort $(wildcard debug/*.c))
DEBUG_CT := debug/refdebug_cmds.ct
DEBUG_GEN_C := $(B)/gen/refdebug_cmds.c
DEBUG_OBJS := $(DEBUG_SRCS:%.c=$(B)/obj/%.o) $(B)/obj/gen/refdebug_cmds.o
ifneq ($(DEBUG_SRCS),)
PROGS += $(B)/bin/refdebug
endif

BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCHES := $(BENCH_SRCS:bench/%.c=$(B)/bench/%)

# Kernel-shareable code: checked freestanding against scripts/kstub
SHARED_MAIN := lib/btree/ext4_btree.c
SHARED_CANDIDATES := $(SHARED_MAIN) lib/refcount/refcount_rec.c \
		     lib/flexbg/flexbg_rec.c
SHARED_SRCS := $(wildcard $(SHARED_CANDIDATES))
SHARED_HDR_CANDIDATES := lib/kcompat/kcompat.h lib/reflink_format.h \
		lib/btree/ext4_btree.h lib/refcount/refcount_rec.h \
		lib/flexbg/flexbg_rec.h
SHARED_HDRS := $(wildcard $(SHARED_HDR_CANDIDATES))
KCFLAGS := -D__KERNEL__ -ffreestanding -nostdinc -Iscripts/kstub -Ilib \
	   -std=gnu11 -O2 -Wall -Wextra -Werror
SPARSE_FLAGS := -D__KERNEL__ -nostdinc -Iscripts/kstub -Ilib \
		-Wbitwise -Wno-decl

# Big-endian: the unit tests of the shareable code (no libext2fs) built
# for s390x and run under qemu-user; tests/s390x/ref_crc32c.c stands in
# for libext2fs's crc32c in test_crc32c.
S390X_CC ?= s390x-linux-gnu-gcc
S390X_LIB_SRCS := lib/btree/ext4_btree.c lib/btree/mem_host.c \
		  lib/refcount/refcount_rec.c lib/flexbg/flexbg_rec.c \
		  lib/kcompat/crc32c.c tests/s390x/ref_crc32c.c
S390X_HDRS := $(SHARED_HDRS) lib/btree/mem_host.h lib/kcompat/crc32c.h \
	      tests/unit/tap.h $(wildcard tests/kernel/*.[ch])
S390X_TEST_NAMES := test_btree_cow test_btree_faults test_btree_model \
		    test_btree_verify test_refcount_model test_flexbg_rec \
		    test_crc32c test_ktest test_refcount_resv
S390X_TESTS := $(addprefix $(B)/s390x/tests/,$(S390X_TEST_NAMES))

ALL_OBJS := $(LIB_OBJS) $(ASAN_LIB_OBJS) \
	    $(TEST_SRCS:%.c=$(B)/obj/%.o) $(TEST_SRCS:%.c=$(B)/asan/obj/%.o) \
	    $(PROG_SRCS:%.c=$(B)/obj/%.o) $(BENCH_SRCS:%.c=$(B)/obj/%.o) \
	    $(DEBUG_OBJS)

# ------------------------------------------------------------------
# Top-level targets
# ------------------------------------------------------------------
.PHONY: all lib progs tests asan build-all bench bench-build demo check \
	check-shared deps clean mutants
.PHONY: check-kbuild kernel-tests s390x check-s390x

all: lib progs tests
lib: $(LIB)
progs: $(PROGS)
tests: $(TESTS)
asan: $(ASAN_TESTS) $(ASAN_PROGS)
build-all: all asan
bench-build: all $(BENCHES)

deps:
	$(Q)scripts/install-deps

# The sub-makes re-read this file after install-deps so pkg-config sees
# freshly installed packages.
check: deps
	$(Q)rm -f $(B)/check-shared.tap $(B)/check-kbuild.tap
	$(Q)$(MAKE) --no-print-directory WERROR=1 build-all
	$(Q)$(MAKE) --no-print-directory check-shared >/dev/null || true
	$(Q)$(MAKE) --no-print-directory check-kbuild >/dev/null || true
	$(Q)$(MAKE) --no-print-directory WERROR=1 s390x || true
	$(Q)CHECK_SHARED_REQUIRED=1 KERNEL_CHECKS_REQUIRED=1 scripts/run-tests

check-shared:
	$(Q)mkdir -p $(B)
	$(Q)CC='$(CC)' KCFLAGS='$(KCFLAGS)' SPARSE='$(SPARSE)' \
	  SPARSE_FLAGS='$(SPARSE_FLAGS)' SHARED_SRCS='$(SHARED_SRCS)' \
	  SHARED_HDRS='$(SHARED_HDRS)' SHARED_MAIN='$(SHARED_MAIN)' \
	  OUT='$(B)/check-shared.tap' scripts/check-shared

# Writes build/check-kbuild.tap and build/kbuild/main/reflink_ktest.ko
check-kbuild:
	$(Q)scripts/check-kbuild $(B)/check-kbuild.tap

kernel-tests: check-kbuild
	$(Q)scripts/run-kernel-tests

s390x: $(S390X_TESTS)

check-s390x: s390x
	$(Q)for t in $(S390X_TESTS); do \
	  echo "== $$t"; OPS_SCALE=$${OPS_SCALE:-0.02} \
	  qemu-s390x-static $$t >$(B)/s390x/last.tap || exit 1; \
	  grep -v '^ok' $(B)/s390x/last.tap; \
	  ! grep -q '^not ok' $(B)/s390x/last.tap || exit 1; done

bench: deps
	$(Q)$(MAKE) --no-print-directory bench-build
	$(Q)if [ -f bench/run ]; then bash bench/run; \
	else echo "bench: bench/run does not exist yet"; fi

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)if [ -f scripts/demo ]; then bash scripts/demo; \
	else echo "demo: scripts/demo does not exist yet"; fi

# Not part of check: every planted bug must be killed by its suites
mutants: deps
	$(Q)$(MAKE) --no-print-directory WERROR=1 all
	$(Q)scripts/run-mutants

clean:
	rm -rf $(B)

# ------------------------------------------------------------------
# Rules
# ------------------------------------------------------------------
$(GEN_C) $(GEN_H) &: $(ET_SRC)
	@mkdir -p $(B)/gen
	@echo "  ET      $<"
	$(Q)cd $(B)/gen && $(COMPILE_ET) $(CURDIR)/$<

# Every compile waits for the generated header (order-only), and
# rebuilds when the flags change.
$(B)/obj/%.o: %.c $(FLAGS_STAMP) | $(GEN_H)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS_ALL) $(if $(filter tests/unit/%,$<),$(TEST_CPPFLAGS)) \
		$(CFLAGS_ALL) $(DEPFLAGS) -c -o $@ $<

$(B)/obj/gen/%.o: $(B)/gen/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(DEPFLAGS) -c -o $@ $<

$(B)/asan/obj/%.o: %.c $(FLAGS_STAMP) | $(GEN_H)
	@mkdir -p $(@D)
	@echo "  CC      $< (asan)"
	$(Q)$(CC) $(CPPFLAGS_ALL) $(if $(filter tests/unit/%,$<),$(TEST_CPPFLAGS)) \
		$(ASAN_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(B)/asan/obj/gen/%.o: $(B)/gen/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $< (asan)"
	$(Q)$(CC) $(CPPFLAGS_ALL) $(ASAN_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(ASAN_LIB): $(ASAN_LIB_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB) $(LDLIBS_ALL)

$(B)/asan/tests/%: $(B)/asan/obj/tests/unit/%.o $(ASAN_LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ASAN_CFLAGS) -o $@ $< $(ASAN_LIB) $(LDLIBS_ALL)

$(B)/asan/bin/%: $(B)/asan/obj/misc/%.o $(ASAN_LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@ (asan)"
	$(Q)$(CC) $(ASAN_CFLAGS) -o $@ $< $(ASAN_LIB) $(LDLIBS_ALL)

$(B)/bench/%: $(B)/obj/bench/%.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB) $(LDLIBS_ALL) $(BENCH_LDLIBS)

# One program per .c file in misc/, debug/ and tests/helpers/
define prog_rule
$(B)/bin/$(notdir $(1:.c=)): $(B)/obj/$(1:.c=.o) $(LIB)
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	$(Q)$$(CC) $$(CFLAGS_ALL) -o $$@ $$< $$(LIB) $$(LDLIBS_ALL)
endef
$(foreach s,$(PROG_SRCS),$(eval $(call prog_rule,$(s))))

# mk_cmds writes <name>.c into the current directory
$(DEBUG_GEN_C): $(DEBUG_CT)
	@mkdir -p $(B)/gen
	@echo "  CT      $<"
	$(Q)cd $(B)/gen && $(MK_CMDS) $(CURDIR)/$<

$(B)/bin/refdebug: $(DEBUG_OBJS) $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $(DEBUG_OBJS) $(LIB) $(LDLIBS_ALL)

$(B)/s390x/tests/%: tests/unit/%.c $(S390X_LIB_SRCS) $(S390X_HDRS) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $@ (s390x)"
	$(Q)$(S390X_CC) -O2 -g $(WARN) -std=gnu11 -static -Ilib $(TEST_CPPFLAGS) \
		-o $@ $< $(S390X_LIB_SRCS)

$(FLAGS_STAMP): ;

# Keep the objects make builds on the way to a program
.SECONDARY:

-include $(ALL_OBJS:.o=.d)

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
#                     (BENCH="reflinkck bigdisk": those sections only;
#                     BENCH_W10=1: the 800,000-file scale too)
#   make demo         install deps, build, run scripts/demo
#   make install      the three tools, their man pages and docs/FORMAT.md
#   make uninstall    remove what make install put there
#   make deb          a Debian package from the tree (dpkg-buildpackage)
#   make asan         ASan+UBSan unit tests and programs only
#   make mutants      build, then scripts/run-mutants (tests/mutants/*.patch)
#   make fuzz         libFuzzer harnesses (clang), each FUZZ_SECONDS (600),
#                     then tests/fuzz/mutate-images MUTANTS (20000)
#   make fuzz-build   build the harnesses into build/fuzz/ only
#   make clean
#
# Variables: CC (gcc or clang), WERROR=1 (-Werror; make check sets it),
# EXTRA_CFLAGS, V=1 (show commands), FUZZ_CC (clang), FUZZ_SECONDS,
# MUTANTS, SEED; install: PREFIX (/usr/local), DESTDIR.
#
# Sources are found by wildcard; adding a file needs no edit here:
#   lib/**/*.c            -> build/libreflink.a
#   tests/unit/test_*.c   -> build/tests/test_*  and  build/asan/tests/test_*
#   misc/*.c tests/helpers/*.c -> build/bin/<name>
#                         (misc/<name>_*.c: parts of misc/<name>.c)
#   debug/*.c + debug/refdebug_cmds.ct (mk_cmds) -> build/bin/refdebug
#   bench/*.c             -> build/bench/<name>  (make bench only, +lmdb)
#   tests/fuzz/fuzz_*.c   -> build/fuzz/fuzz_*  (clang -fsanitize=fuzzer)

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
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
# libraries only one program uses: mkreflink parses options with popt and
# reads mke2fs.conf with krb5's profile library (lib/mkfs/mkfs_profile.c)
PROG_LIBS_mkreflink := $(shell $(PKG_CONFIG) --libs popt e2p krb5 2>/dev/null)

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
FLAGS_NOW := $(CC) | $(CPPFLAGS_ALL) | $(CFLAGS_ALL) | $(ASAN_CFLAGS) | $(LDLIBS_ALL) | $(PROG_LIBS_mkreflink)
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
# every program under ASan+UBSan too (LeakSanitizer on): the bats
# suites and the golden images run through them (BIN_DIR=build/asan/bin)
ASAN_PROGS = $(patsubst $(B)/bin/%,$(B)/asan/bin/%,$(PROGS))

# misc/<name>_*.c beside misc/<name>.c are parts of that program, not
# programs of their own (mkreflink.c + mkreflink_args.c + ...)
MISC_SRCS := $(sort $(wildcard misc/*.c))
MISC_PARTS := $(foreach m,$(MISC_SRCS),$(filter $(m:.c=)_%.c,$(MISC_SRCS)))
PROG_SRCS := $(sort $(filter-out $(MISC_PARTS),$(MISC_SRCS)) \
		    $(wildcard tests/helpers/*.c))
PROGS := $(addprefix $(B)/bin/,$(notdir $(PROG_SRCS:.c=)))
# the sources of the program whose main is in $(1)
prog_srcs = $(1) $(filter $(1:.c=)_%.c,$(MISC_PARTS))

# misc/tool/*.c: linked into every program (misc/tool/ext2fs_crc32c.c
# says why), never into the unit tests
TOOL_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(wildcard misc/tool/*.c))
ASAN_TOOL_OBJS := $(patsubst %.c,$(B)/asan/obj/%.o,$(wildcard misc/tool/*.c))

# refdebug: every debug/*.c and the libss command table, one program
DEBUG_SRCS := $(sort $(wildcard debug/*.c))
DEBUG_CT := debug/refdebug_cmds.ct
DEBUG_GEN_C := $(B)/gen/refdebug_cmds.c
DEBUG_OBJS := $(DEBUG_SRCS:%.c=$(B)/obj/%.o) $(B)/obj/gen/refdebug_cmds.o
ASAN_DEBUG_OBJS := $(DEBUG_SRCS:%.c=$(B)/asan/obj/%.o) \
		   $(B)/asan/obj/gen/refdebug_cmds.o
ifneq ($(DEBUG_SRCS),)
PROGS += $(B)/bin/refdebug
endif

# misc/preload/*.c: the shim reflinkck -fn preloads into stock e2fsck
# (pass 6), found from the program at <bindir>/../lib/ext4-reflink/;
# one beside the ASan programs too, never instrumented (e2fsck is not);
# with the programs' crc32c (misc/tool/ext2fs_crc32c.c), so that pass 6's
# e2fsck checksums with the crc32 instruction as reflinkck does
SHIM_SRCS := $(sort $(wildcard misc/preload/*.c)) \
	     misc/tool/ext2fs_crc32c.c lib/kcompat/crc32c.c
SHIM_NAME := ext4-reflink/reflinkck-view.so
SHIM := $(B)/lib/$(SHIM_NAME)
ASAN_SHIM := $(B)/asan/lib/$(SHIM_NAME)

# libFuzzer harnesses: the library again, built by clang with coverage
FUZZ_CC ?= clang
# make fuzz FUZZ_RUNS=10000000 MUTANTS=20000: the README's volume
FUZZ_RUNS ?=
FUZZ_SECONDS ?= $(if $(FUZZ_RUNS),,600)
MUTANTS ?= 20000
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer
FUZZ_CFLAGS := -O1 -g $(WARN) -std=gnu11 $(FUZZ_SAN)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZERS := $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/fuzz/%)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(B)/fuzz/obj/%.o) \
		 $(B)/fuzz/obj/gen/reflink_err.o
FUZZ_LIB := $(B)/fuzz/libreflink.a
# fuzz_refcount: the B-tree and the in-memory host under the records keep
# edge coverage and every sanitizer but no comparison tracing, whose
# callbacks (mostly on UBSan's own pointer checks) were half its run time;
# refcount_rec.c, the code it is about, keeps it
FUZZ_NOCMP_SRCS := lib/btree/ext4_btree.c lib/btree/mem_host.c
FUZZ_NOCMP_OBJS := $(FUZZ_NOCMP_SRCS:%.c=$(B)/fuzz/nocmp/%.o)

BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCHES := $(BENCH_SRCS:bench/%.c=$(B)/bench/%)

# Kernel-shareable code (the list is lib/SHARED): checked freestanding
# against scripts/kstub
SHARED_FILES := $(shell sed -e '/^\#/d' -e '/^$$/d' lib/SHARED)
SHARED_SRCS := $(filter %.c,$(SHARED_FILES))
SHARED_HDRS := $(filter %.h,$(SHARED_FILES))
KCFLAGS := -D__KERNEL__ -ffreestanding -nostdinc -Iscripts/kstub -Ilib \
	   -std=gnu11 -O2 -Wall -Wextra -Werror
SPARSE_FLAGS := -D__KERNEL__ -nostdinc -Iscripts/kstub -Ilib \
		-Wbitwise -Wno-decl

# Big-endian: the unit tests of the shareable code (no libext2fs) built
# for s390x and run under qemu-user; tests/s390x/ref_crc32c.c stands in
# for libext2fs's crc32c in test_crc32c.
S390X_CC ?= s390x-linux-gnu-gcc
S390X_LIB_SRCS := $(SHARED_SRCS) lib/btree/mem_host.c \
		  lib/kcompat/crc32c.c tests/s390x/ref_crc32c.c
S390X_HDRS := $(SHARED_HDRS) lib/btree/mem_host.h lib/kcompat/crc32c.h \
	      $(wildcard tests/unit/*.h tests/kernel/*.[ch])
S390X_TEST_NAMES := test_btree_cow test_btree_faults test_btree_model \
		    test_btree_verify test_refcount_model test_flexbg_rec \
		    test_crc32c test_ktest test_refcount_resv
S390X_TESTS := $(addprefix $(B)/s390x/tests/,$(S390X_TEST_NAMES))

ALL_OBJS := $(LIB_OBJS) $(ASAN_LIB_OBJS) \
	    $(TEST_SRCS:%.c=$(B)/obj/%.o) $(TEST_SRCS:%.c=$(B)/asan/obj/%.o) \
	    $(PROG_SRCS:%.c=$(B)/obj/%.o) $(BENCH_SRCS:%.c=$(B)/obj/%.o) \
	    $(MISC_PARTS:%.c=$(B)/obj/%.o) $(MISC_PARTS:%.c=$(B)/asan/obj/%.o) \
	    $(DEBUG_OBJS) $(PROG_SRCS:%.c=$(B)/asan/obj/%.o) $(ASAN_DEBUG_OBJS) \
	    $(FUZZ_LIB_OBJS) $(FUZZ_SRCS:%.c=$(B)/fuzz/obj/%.o) \
	    $(FUZZ_NOCMP_OBJS) $(TOOL_OBJS) $(ASAN_TOOL_OBJS)

# ------------------------------------------------------------------
# Top-level targets
# ------------------------------------------------------------------
.PHONY: all lib progs tests asan build-all bench bench-build demo check \
	check-shared deps clean mutants fuzz fuzz-build fuzz-seeds install \
	uninstall deb tools
.PHONY: check-kbuild kernel-tests s390x check-s390x

all: lib progs tests
lib: $(LIB)
progs: $(PROGS) $(SHIM)
tools: $(addprefix $(B)/bin/,mkreflink reflinkck refdebug) $(SHIM)
tests: $(TESTS)
asan: $(ASAN_TESTS) $(ASAN_PROGS) $(ASAN_SHIM)
build-all: all asan fuzz-build
fuzz-build: $(FUZZERS) $(B)/fuzz/base.img $(B)/fuzz/tiny.img

# the committed seed corpus, remade (tests/fuzz/mkseeds.c)
fuzz-seeds: $(B)/fuzz/mkseeds
	$(Q)rm -rf tests/fuzz/corpus && $(B)/fuzz/mkseeds tests/fuzz/corpus

# Each harness for FUZZ_SECONDS from the committed corpus (new inputs go
# to build/fuzz/corpus/), then the image mutants; any finding fails.
fuzz: deps
	$(Q)$(MAKE) --no-print-directory build-all
	$(Q)FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_SECONDS=$(FUZZ_SECONDS) \
		tests/fuzz/run-fuzzers
	$(Q)MUTANTS=$(MUTANTS) $(if $(SEED),SEED=$(SEED)) \
		tests/fuzz/mutate-images
bench-build: all $(BENCHES)

deps:
	$(Q)scripts/install-deps

# the builds of make check on every CPU
CHECK_JOBS ?= $(shell nproc 2>/dev/null || echo 1)

# The sub-makes re-read this file after install-deps so pkg-config sees
# freshly installed packages.
check: deps
	$(Q)rm -f $(B)/check-shared.tap $(B)/check-kbuild.tap
	$(Q)$(MAKE) --no-print-directory -j$(CHECK_JOBS) WERROR=1 build-all
	$(Q)$(MAKE) --no-print-directory check-shared >/dev/null || true
	$(Q)$(MAKE) --no-print-directory check-kbuild >/dev/null || true
	$(Q)$(MAKE) --no-print-directory -j$(CHECK_JOBS) WERROR=1 s390x || true
	$(Q)CHECK_SHARED_REQUIRED=1 KERNEL_CHECKS_REQUIRED=1 scripts/run-tests

check-shared:
	$(Q)mkdir -p $(B)
	$(Q)CC='$(CC)' KCFLAGS='$(KCFLAGS)' SPARSE='$(SPARSE)' \
	  SPARSE_FLAGS='$(SPARSE_FLAGS)' OUT='$(B)/check-shared.tap' scripts/check-shared

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
	$(Q)if [ -f bench/run ]; then bash bench/run $(BENCH); \
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
# Install: the three tools go to sbin/ as e2fsprogs' do; the helpers of
# the tests stay in build/.  The man pages name the installed format
# document, so its path is written into them here.
# ------------------------------------------------------------------
PACKAGE := ext4-reflink
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
# reflinkck looks for its shim at <its directory>/../lib/ext4-reflink/
# (without it, pass 6 of -fn copies the metadata: slower, the same)
LIBDIR ?= $(PREFIX)/lib
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/$(PACKAGE)
INSTALL ?= install
INSTALL_PROGS := mkreflink reflinkck refdebug
INSTALL_MANS := misc/mkreflink.8 misc/reflinkck.8 debug/refdebug.8
# the path the man pages are written with (a Debian install)
MAN_DOCDIR := /usr/share/doc/$(PACKAGE)

install: $(addprefix $(B)/bin/,$(INSTALL_PROGS)) $(SHIM)
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(DOCDIR) $(DESTDIR)$(dir $(LIBDIR)/$(SHIM_NAME))
	$(INSTALL) -m 755 $(filter-out $(SHIM),$^) $(DESTDIR)$(SBINDIR)/
	$(INSTALL) -m 644 $(SHIM) $(DESTDIR)$(LIBDIR)/$(SHIM_NAME)
	$(Q)for m in $(INSTALL_MANS); do \
		echo "  MAN     $$m"; \
		sed 's|$(MAN_DOCDIR)|$(DOCDIR)|g' $$m \
			>$(DESTDIR)$(MANDIR)/man8/$${m##*/} && \
		chmod 644 $(DESTDIR)$(MANDIR)/man8/$${m##*/} || exit 1; \
	done
	$(INSTALL) -m 644 docs/FORMAT.md $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(SBINDIR)/,$(INSTALL_PROGS)) \
	      $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(INSTALL_MANS))) \
	      $(DESTDIR)$(DOCDIR)/FORMAT.md $(DESTDIR)$(LIBDIR)/$(SHIM_NAME)
	-rmdir $(DESTDIR)$(dir $(LIBDIR)/$(SHIM_NAME)) 2>/dev/null
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null

# The package is built from a copy of the tracked files so that
# dpkg-buildpackage neither cleans build/ nor writes beside the tree.
DEB_DIR ?= $(B)/deb
deb:
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	$(Q)git ls-files -z --cached --others --exclude-standard | \
		grep -zv '^images/' | \
		xargs -0 cp --parents -t $(DEB_DIR)/src
	$(Q)cd $(DEB_DIR)/src && dpkg-buildpackage -b -us -uc \
		>../build.log 2>&1 || { cat ../build.log; exit 1; }
	$(Q)ls $(DEB_DIR)/*.deb

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

$(B)/asan/bin/refdebug: $(ASAN_DEBUG_OBJS) $(ASAN_TOOL_OBJS) $(ASAN_LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@ (asan)"
	$(Q)$(CC) $(ASAN_CFLAGS) -o $@ $(ASAN_DEBUG_OBJS) $(ASAN_TOOL_OBJS) \
		$(ASAN_LIB) $(LDLIBS_ALL)

$(B)/bench/%: $(B)/obj/bench/%.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB) $(LDLIBS_ALL) $(BENCH_LDLIBS)

# One program per .c file in misc/ (with its misc/<name>_*.c parts) and
# tests/helpers/
define prog_rule
$(B)/bin/$(notdir $(1:.c=)): $(patsubst %.c,$(B)/obj/%.o,$(call prog_srcs,$(1))) $(TOOL_OBJS) $(LIB)
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	$(Q)$$(CC) $$(CFLAGS_ALL) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $$(LIB) \
		$$(PROG_LIBS_$(notdir $(1:.c=))) $$(LDLIBS_ALL)
endef
$(foreach s,$(PROG_SRCS),$(eval $(call prog_rule,$(s))))

define asan_prog_rule
$(B)/asan/bin/$(notdir $(1:.c=)): $(patsubst %.c,$(B)/asan/obj/%.o,$(call prog_srcs,$(1))) $(ASAN_TOOL_OBJS) $(ASAN_LIB)
	@mkdir -p $$(@D)
	@echo "  LD      $$@ (asan)"
	$(Q)$$(CC) $$(ASAN_CFLAGS) -o $$@ $$(filter %.o,$$^) $$(ASAN_LIB) \
		$$(PROG_LIBS_$(notdir $(1:.c=))) $$(LDLIBS_ALL)
endef
$(foreach s,$(PROG_SRCS),$(eval $(call asan_prog_rule,$(s))))

$(SHIM) $(ASAN_SHIM): $(SHIM_SRCS) lib/check/view_fmt.h $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@echo "  SO      $@"
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -fPIC -shared $(LDFLAGS) \
		-o $@ $(SHIM_SRCS) -ldl

# mk_cmds writes <name>.c into the current directory
$(DEBUG_GEN_C): $(DEBUG_CT)
	@mkdir -p $(B)/gen
	@echo "  CT      $<"
	$(Q)cd $(B)/gen && $(MK_CMDS) $(CURDIR)/$<

$(B)/bin/refdebug: $(DEBUG_OBJS) $(TOOL_OBJS) $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) $(LDFLAGS) -o $@ $(DEBUG_OBJS) $(TOOL_OBJS) \
		$(LIB) $(LDLIBS_ALL)

$(B)/s390x/tests/%: tests/unit/%.c $(S390X_LIB_SRCS) $(S390X_HDRS) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $@ (s390x)"
	$(Q)$(S390X_CC) -O2 -g $(WARN) -std=gnu11 -static -Ilib $(TEST_CPPFLAGS) \
		-o $@ $< $(S390X_LIB_SRCS)

$(B)/fuzz/obj/%.o: %.c $(FLAGS_STAMP) | $(GEN_H)
	@mkdir -p $(@D)
	@echo "  CC      $< (fuzz)"
	$(Q)$(FUZZ_CC) $(CPPFLAGS_ALL) -Itests/fuzz $(FUZZ_CFLAGS) \
		-fsanitize=fuzzer-no-link $(DEPFLAGS) -c -o $@ $<

$(B)/fuzz/obj/gen/%.o: $(B)/gen/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $< (fuzz)"
	$(Q)$(FUZZ_CC) $(CPPFLAGS_ALL) $(FUZZ_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(B)/fuzz/fuzz_%: $(B)/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB)
	@echo "  LD      $@ (fuzz)"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) \
		$(LDLIBS_ALL)

$(B)/fuzz/nocmp/%.o: %.c $(FLAGS_STAMP) | $(GEN_H)
	@mkdir -p $(@D)
	@echo "  CC      $< (fuzz, no trace-cmp)"
	$(Q)$(FUZZ_CC) $(CPPFLAGS_ALL) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
		-fno-sanitize-coverage=trace-cmp $(DEPFLAGS) -c -o $@ $<

# its copies first: the archive's members of the same files stay out
$(B)/fuzz/fuzz_refcount: $(B)/fuzz/obj/tests/fuzz/fuzz_refcount.o \
			 $(FUZZ_NOCMP_OBJS) $(FUZZ_LIB)
	@echo "  LD      $@ (fuzz)"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ \
		$(filter %.o,$^) $(FUZZ_LIB) $(LDLIBS_ALL)

$(B)/fuzz/mkseeds: $(B)/obj/tests/fuzz/mkseeds.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB) $(LDLIBS_ALL)

$(B)/fuzz/%.img: tests/fuzz/%.img.gz
	@mkdir -p $(@D)
	$(Q)gzip -dc $< >$@

$(FLAGS_STAMP): ;

# Keep the objects make builds on the way to a program
.SECONDARY:

-include $(ALL_OBJS:.o=.d)

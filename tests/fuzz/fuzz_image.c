// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_image.c - image open and the full check on a small mutated image.
 *
 * The base image (RFL_FUZZ_IMAGE, default build/fuzz/base.img, made by
 * make from tests/fuzz/base.img.gz) is patched with the input: 5 bytes a
 * patch, u16 block (mod the image's blocks; blocks below 256 are the
 * metadata of the first groups and are chosen twice as often), u16
 * offset, u8 value.  The image lives in memory (rfl_mem_io_manager):
 * nothing touches disk.
 * Rules: reflinkck -fy and then -fn exit with e2fsck's codes; -fy that
 * exits 1 (all fixed) leaves -fn clean; -fn never writes.
 */
#define _GNU_SOURCE
#include <stdio_ext.h>
#include <sys/mman.h>
#include <unistd.h>
#include "fuzz_common.h"
#include "check/check.h"
#include "reflink/rfl.h"

#define MAX_PATCHES	16

static uint8_t *base;
static size_t base_size;
static FILE *devnull;
/*
 * Made once: the image the checks open through rfl_mem_io_manager and
 * its dirty map.  Between inputs only what was patched or written is
 * copied back from base: copying the whole image per input cost more
 * than the checks.  A file (a memfd under /proc/self/fd) cost a mount
 * table read and syscalls per block.
 */
static struct rfl_mem_image mi;
static size_t dirty_size;
static size_t patched[MAX_PATCHES], nr_patched;
static char dev[64];

/*
 * Mapped, not malloc'ed: LeakSanitizer scans every heap block for
 * pointers, and image copies on the heap made that scan most of the
 * run time.
 */
static void *map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "fuzz_image: no memory\n");
		exit(1);
	}
	return p;
}

/*
 * A freed chunk stays poisoned while ASan's quarantine holds it: 256 MiB
 * by default, some 500 inputs of this harness, so every allocation was
 * new memory to fault in (two thirds of the run time).  A check
 * allocates well under 1 MiB in all: 16 MiB still holds everything freed
 * during an input, and the inputs before it.  ASAN_OPTIONS overrides.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=16";
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *path = getenv("RFL_FUZZ_IMAGE");
	FILE *f;
	long n;

	(void)argc;
	(void)argv;
	if (!path)
		path = "build/fuzz/base.img";
	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 ||
	    n % RFL_MEM_IO_UNIT || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "fuzz_image: cannot read %s\n", path);
		exit(1);
	}
	base_size = (size_t)n;
	base = map(base_size);
	if (fread(base, 1, base_size, f) != base_size) {
		fprintf(stderr, "fuzz_image: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	devnull = fopen("/dev/null", "w");
	if (!devnull) {
		fprintf(stderr, "fuzz_image: cannot open /dev/null\n");
		exit(1);
	}
	/* one thread: the checks' text goes out a character at a time */
	__fsetlocking(devnull, FSETLOCKING_BYCALLER);
	mi.size = base_size;
	mi.data = map(base_size);
	memcpy(mi.data, base, base_size);
	dirty_size = (base_size / RFL_MEM_IO_UNIT + 7) / 8;
	mi.dirty = map(dirty_size);
	rfl_mem_io_name(&mi, dev, sizeof(dev));
	return 0;
}

/* The image as base again: the units written and the bytes patched */
static void restore(void)
{
	size_t u, i;

	for (u = 0; u < dirty_size * 8; u++) {
		if (!mi.dirty[u / 8])
			u += 7;
		else if (mi.dirty[u / 8] & (1U << (u % 8)))
			memcpy(mi.data + u * RFL_MEM_IO_UNIT,
			       base + u * RFL_MEM_IO_UNIT, RFL_MEM_IO_UNIT);
	}
	memset(mi.dirty, 0, dirty_size);
	for (i = 0; i < nr_patched; i++)
		mi.data[patched[i]] = base[patched[i]];
	nr_patched = 0;
}

static int check(enum rfl_answer_mode mode)
{
	struct rfl_check_opts o = {
		.device = dev, .io = rfl_mem_io_manager, .mode = mode,
		.progress_fd = -1, .out = devnull, .err = devnull,
		.prog = "fuzz",
	};

	return rfl_check_run(&o);
}

static bool e2fsck_code(int rc)
{
	return rc == 0 || rc == 1 || rc == 4 || rc == 5 || rc == 8;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	size_t nblocks = base_size / 1024, i, off;
	int rc0, rc1, rc2;

	restore();
	for (i = 0; i < MAX_PATCHES && f.left >= 5; i++) {
		uint32_t blk = fz_u32(&f, 2);

		blk = (blk & 1) ? (blk >> 1) % 256 : (blk >> 1) % nblocks;
		off = blk * 1024 + fz_u32(&f, 2) % 1024;
		off = off < base_size ? off : 0;
		mi.data[off] = fz_u8(&f);
		patched[nr_patched++] = off;
	}

	/*
	 * -n never writes: it does not even ask to (the channel counts
	 * refused writes too).  The channel is the only way to the image:
	 * no other code has its address or can open it by name.
	 */
	mi.writes = 0;
	rc0 = check(RFL_NO);
	FUZZ_REQUIRE(e2fsck_code(rc0), "-fn exit code");
	FUZZ_REQUIRE(mi.writes == 0, "-fn wrote");
	rc1 = check(RFL_YES);
	FUZZ_REQUIRE(e2fsck_code(rc1), "-fy exit code");
	/*
	 * A -fy that wrote nothing left the image the first -fn judged, byte
	 * for byte: a second -fn would run the same check on the same bytes
	 * (two of three inputs; a third of the run time).  Its verdict is
	 * the first one, and -fy's "all fixed" is held against it all the
	 * same.
	 */
	if (mi.writes) {
		mi.writes = 0;
		rc2 = check(RFL_NO);
		FUZZ_REQUIRE(e2fsck_code(rc2), "second -fn exit code");
		FUZZ_REQUIRE(mi.writes == 0, "second -fn wrote");
	} else {
		rc2 = rc0;
	}
	FUZZ_REQUIRE(rc1 != 1 || rc2 == 0, "-fy exited 1, -fn not clean");
	return 0;
}

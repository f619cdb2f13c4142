// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_image.c - image open and the full check on a small mutated image.
 *
 * The base image (RFL_FUZZ_IMAGE, default build/fuzz/base.img, made by
 * make from tests/fuzz/base.img.gz) is patched with the input: 5 bytes a
 * patch, u16 block (mod the image's blocks; blocks below 256 are the
 * metadata of the first groups and are chosen twice as often), u16
 * offset, u8 value.  The image lives in a memfd: nothing touches disk.
 * Rules: reflinkck -fy and then -fn exit with e2fsck's codes; -fy that
 * exits 1 (all fixed) leaves -fn clean; -fn never writes.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>
#include "fuzz_common.h"
#include "check/check.h"

#define MAX_PATCHES	16

static uint8_t *base;
static size_t base_size;
static FILE *devnull;
/*
 * Made once: the memfd the checks open (as /proc/self/fd/N), its mapping
 * and the copy -fn is compared with.  A memfd and two buffers of the
 * image's size made per input cost more than the checks.
 */
static uint8_t *img, *before;
static char dev[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *path = getenv("RFL_FUZZ_IMAGE");
	FILE *f;
	long n;
	int fd;

	(void)argc;
	(void)argv;
	if (!path)
		path = "build/fuzz/base.img";
	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 ||
	    fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "fuzz_image: cannot read %s\n", path);
		exit(1);
	}
	base_size = (size_t)n;
	/*
	 * Mapped, not malloc'ed: LeakSanitizer scans every heap block for
	 * pointers after each input that finds new coverage, and two image
	 * copies on the heap made that scan most of the run time.
	 */
	base = mmap(NULL, 2 * base_size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED || fread(base, 1, base_size, f) != base_size) {
		fprintf(stderr, "fuzz_image: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	devnull = fopen("/dev/null", "w");
	before = base + base_size;
	fd = memfd_create("fuzz_image", 0);
	if (!devnull || fd < 0 || ftruncate(fd, (off_t)base_size))
		goto fail;
	img = mmap(NULL, base_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   0);
	if (img == MAP_FAILED)
		goto fail;
	snprintf(dev, sizeof(dev), "/proc/self/fd/%d", fd);
	return 0;
fail:
	fprintf(stderr, "fuzz_image: no memory for %s\n", path);
	exit(1);
}

static int check(const char *dev, enum rfl_answer_mode mode)
{
	struct rfl_check_opts o = {
		.device = dev, .mode = mode, .progress_fd = -1,
		.out = devnull, .err = devnull, .prog = "fuzz",
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
	int rc1, rc2;

	memcpy(img, base, base_size);
	for (i = 0; i < MAX_PATCHES && f.left >= 5; i++) {
		uint32_t blk = fz_u32(&f, 2);

		blk = (blk & 1) ? (blk >> 1) % 256 : (blk >> 1) % nblocks;
		off = blk * 1024 + fz_u32(&f, 2) % 1024;
		img[off < base_size ? off : 0] = fz_u8(&f);
	}

	/* -n never writes */
	memcpy(before, img, base_size);
	rc1 = check(dev, RFL_NO);
	FUZZ_REQUIRE(e2fsck_code(rc1), "-fn exit code");
	FUZZ_REQUIRE(!memcmp(before, img, base_size), "-fn wrote");
	rc1 = check(dev, RFL_YES);
	FUZZ_REQUIRE(e2fsck_code(rc1), "-fy exit code");
	rc2 = check(dev, RFL_NO);
	FUZZ_REQUIRE(e2fsck_code(rc2), "second -fn exit code");
	FUZZ_REQUIRE(rc1 != 1 || rc2 == 0, "-fy exited 1, -fn not clean");
	return 0;
}

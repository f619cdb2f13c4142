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
	    fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "fuzz_image: cannot read %s\n", path);
		exit(1);
	}
	base_size = (size_t)n;
	base = malloc(base_size);
	if (!base || fread(base, 1, base_size, f) != base_size) {
		fprintf(stderr, "fuzz_image: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	devnull = fopen("/dev/null", "w");
	return devnull ? 0 : 1;
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
	uint8_t *img, *before;
	char dev[64];
	int fd, rc1, rc2;

	fd = memfd_create("fuzz_image", 0);
	if (fd < 0)
		return 0;
	if (ftruncate(fd, (off_t)base_size)) {
		close(fd);
		return 0;
	}
	img = mmap(NULL, base_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (img == MAP_FAILED) {
		close(fd);
		return 0;
	}
	memcpy(img, base, base_size);
	for (i = 0; i < MAX_PATCHES && f.left >= 5; i++) {
		uint32_t blk = fz_u32(&f, 2);

		blk = (blk & 1) ? (blk >> 1) % 256 : (blk >> 1) % nblocks;
		off = blk * 1024 + fz_u32(&f, 2) % 1024;
		img[off < base_size ? off : 0] = fz_u8(&f);
	}
	snprintf(dev, sizeof(dev), "/proc/self/fd/%d", fd);

	/* -n never writes */
	before = malloc(base_size);
	if (before) {
		memcpy(before, img, base_size);
		rc1 = check(dev, RFL_NO);
		FUZZ_REQUIRE(e2fsck_code(rc1), "-fn exit code");
		FUZZ_REQUIRE(!memcmp(before, img, base_size), "-fn wrote");
		free(before);
	}
	rc1 = check(dev, RFL_YES);
	FUZZ_REQUIRE(e2fsck_code(rc1), "-fy exit code");
	rc2 = check(dev, RFL_NO);
	FUZZ_REQUIRE(e2fsck_code(rc2), "second -fn exit code");
	FUZZ_REQUIRE(rc1 != 1 || rc2 == 0, "-fy exited 1, -fn not clean");
	munmap(img, base_size);
	close(fd);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * test_rfl_image.c - the userspace reflink library on real images made by
 * stock mke2fs: enable, refcount adjusts across flex groups, reopen,
 * disable, with stock e2fsck as the outside judge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "tap.h"
#include "reflink/rfl.h"

static char img[256];

static int sh(const char *fmt, ...) TAP_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int mkimg(const char *opts, const char *size)
{
	unlink(img);
	return sh("mke2fs -q -F -t ext4 %s %s %s >/dev/null 2>&1", opts, img,
		  size);
}

struct count_ctx {
	u64 records, blocks;
};

static int count_rec(void *priv, dgrp_t fg, blk64_t start, blk64_t len,
		     __u32 count)
{
	struct count_ctx *c = priv;

	(void)fg;
	(void)start;
	(void)count;
	c->records++;
	c->blocks += len;
	return 0;
}

/* Allocate n contiguous blocks at or after goal, as a file would own them */
static blk64_t grab(ext2_filsys fs, blk64_t goal, blk64_t n)
{
	blk64_t blk = 0;

	if (ext2fs_new_range(fs, EXT2_NEWRANGE_MIN_LENGTH, goal, n, NULL,
			     &blk, &n))
		return 0;
	ext2fs_block_alloc_stats_range(fs, blk, n, +1);
	return blk;
}

static void test_enable_adjust_disable(const char *opts, const char *size)
{
	struct rfl_fs *rfs = NULL;
	struct count_ctx cc = { 0 };
	blk64_t a, b, per_flex, free_before, free_blk;
	__u32 c1 = 0, c2 = 0, c3 = 0, c4 = 0;
	bool shared = true;
	errcode_t ret;

	if (mkimg(opts, size)) {
		ok(0, "[%s] mke2fs", opts);
		return;
	}
	ret = rfl_open(img, RFL_OPEN_RW | RFL_OPEN_NO_FEATURE, NULL, &rfs);
	ok(!ret, "[%s] open stock image (%s)", opts,
	   ret ? error_message(ret) : "ok");
	if (ret)
		return;
	ret = ext2fs_read_block_bitmap(rfs->fs);
	/* a range that crosses from flex group 0 into flex group 1 */
	per_flex = (blk64_t)e2fs_flex_group_size(rfs->fs) *
		   rfs->fs->super->s_blocks_per_group;
	a = grab(rfs->fs, per_flex + rfs->fs->super->s_first_data_block - 40,
		 80);
	b = grab(rfs->fs, a + 200, 10);
	ok(a && b && rfl_block_flex_group(rfs, a) !=
		     rfl_block_flex_group(rfs, a + 79),
	   "[%s] test extents allocated across a flex group edge", opts);
	ok(!rfl_enable(rfs), "[%s] enable", opts);
	ok(rfs->groups[0].meta_blk && rfs->groups[rfs->nr_flex - 1].meta_blk,
	   "[%s] first and last flex group have metadata blocks (%u groups)",
	   opts, rfs->nr_flex);

	ret = rfl_begin(rfs);
	if (!ret)
		ret = rfl_adjust(rfs, a, 80, +1);
	if (!ret)
		ret = rfl_adjust(rfs, a + 10, 20, +1);
	if (!ret)
		ret = rfl_adjust(rfs, b, 10, +1);
	if (!ret)
		ret = rfl_commit(rfs);
	ok(!ret, "[%s] share: +1 over 80 blocks, +1 over 20 (%s)", opts,
	   ret ? error_message(ret) : "ok");
	rfl_refcount(rfs, a, &c1);
	rfl_refcount(rfs, a + 15, &c2);
	rfl_refcount(rfs, a + 79, &c3);
	if (ext2fs_find_first_zero_block_bitmap2(rfs->fs->block_map, b,
						 ext2fs_blocks_count(
							rfs->fs->super) - 1,
						 &free_blk))
		free_blk = b;
	rfl_refcount(rfs, free_blk, &c4);
	ok(c1 == 2 && c2 == 3 && c3 == 2 && c4 == 0,
	   "[%s] counts 2, 3, 2 and 0 (free): got %u %u %u %u", opts, c1, c2,
	   c3, c4);
	ok(!rfl_close(rfs), "[%s] close", opts);

	ret = rfl_open(img, RFL_OPEN_RW, NULL, &rfs);
	ok(!ret, "[%s] reopen with the feature", opts);
	if (ret)
		return;
	rfl_for_each_record(rfs, count_rec, &cc);
	/* [a,a+10) 2 | [a+10,a+30) 3 | [a+30,a+80) 2 split at the edge; b */
	ok(cc.blocks == 90 && cc.records >= 4 && cc.records <= 5,
	   "[%s] records after reopen: %llu covering %llu blocks", opts,
	   (unsigned long long)cc.records, (unsigned long long)cc.blocks);

	free_before = ext2fs_free_blocks_count(rfs->fs->super);
	/* drop every reference: 3 -> 0 and 2 -> 0 frees the blocks */
	ok(!rfl_begin(rfs) && !rfl_adjust(rfs, a, 80, -1) &&
	   !rfl_adjust(rfs, a + 10, 20, -1) && !rfl_adjust(rfs, a, 80, -1) &&
	   !rfl_adjust(rfs, b, 10, -1) && !rfl_adjust(rfs, b, 10, -1) &&
	   !rfl_commit(rfs), "[%s] release every reference", opts);
	rfl_refcount(rfs, a + 15, &c2);
	/* test_block_bitmap_range2 is true when every bit is clear */
	ok(c2 == 0 && ext2fs_test_block_bitmap_range2(rfs->fs->block_map, a,
						      80) &&
	   ext2fs_test_block_bitmap_range2(rfs->fs->block_map, b, 10) &&
	   ext2fs_free_blocks_count(rfs->fs->super) >= free_before + 90,
	   "[%s] the 90 blocks are free again", opts);
	ok(!rfl_disable(rfs, &shared) && !shared, "[%s] disable", opts);
	ok(!rfl_close(rfs), "[%s] close after disable", opts);
	tap_is_int(sh("e2fsck -fn %s >/dev/null 2>&1", img), 0,
		   "[%s] stock e2fsck -fn clean after disable", opts);
}

static void test_refusals(void)
{
	struct rfl_fs *rfs = NULL;

	mkimg("-O ^64bit", "8M");
	tap_is_int(rfl_open(img, RFL_OPEN_RW | RFL_OPEN_NO_FEATURE, NULL,
			    &rfs) ? 0 : rfl_enable(rfs), RFL_ET_NEED_64BIT,
		   "no 64bit: RFL_ET_NEED_64BIT");
	if (rfs)
		rfl_abandon(rfs);
	rfs = NULL;
	mkimg("-O 64bit,^flex_bg", "8M");
	tap_is_int(rfl_open(img, RFL_OPEN_RW | RFL_OPEN_NO_FEATURE, NULL,
			    &rfs) ? 0 : rfl_enable(rfs), RFL_ET_NEED_FLEX_BG,
		   "no flex_bg: RFL_ET_NEED_FLEX_BG");
	if (rfs)
		rfl_abandon(rfs);
	rfs = NULL;
	mkimg("-O 64bit", "8M");
	tap_is_int(rfl_open(img, RFL_OPEN_RW, NULL, &rfs), RFL_ET_NO_FEATURE,
		   "open without the bit: RFL_ET_NO_FEATURE");
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	initialize_rfl_error_table();
	initialize_ext2_error_table();
	snprintf(img, sizeof(img), "%s/rfl_image.%d.img", tmp ? tmp : "/tmp",
		 (int)getpid());
	test_enable_adjust_disable(
		"-O 64bit -b 4096 -G 2 -E packed_meta_blocks=1", "512M");
	test_enable_adjust_disable(
		"-O 64bit,^metadata_csum -b 1024 -G 2 -E packed_meta_blocks=1",
		"32M");
	if (!getenv("KEEP"))
		test_refusals();
	if (!getenv("KEEP"))
		unlink(img);
	return done_testing();
}

// SPDX-License-Identifier: GPL-2.0
/*
 * ktest_flexbg.c - the flex group metadata block: seal / check round
 * trip with the kernel's crc32c, root slots, and the checks that catch a
 * flipped bit or a block read from the wrong place.
 */
#include "ktest.h"

#define FB_BS		4096
#define FB_SEED		0xdeadbeef
#define FB_BLK		123456789012ULL
#define FB_FG		42

static int fb_code(const u8 *blk, u64 blocknr, u32 fg)
{
	struct ext4_rfx_problem p = { 0 };
	int err = ext4_rfx_check(blk, FB_BS, FB_SEED, blocknr, fg, &p);

	return err ? (int)p.code : 0;
}

void kt_flexbg(void)
{
	u8 *blk = kzalloc(FB_BS, GFP_KERNEL);
	struct ext4_rfx_block *b = (void *)blk;
	struct ext4_btree t, t2;
	static const struct ext4_btree_ops no_ops;
	int err;

	if (!kt_ok(blk != NULL, "flexbg: setup"))
		return;
	ext4_rfx_init(blk, FB_BS, FB_BLK, FB_FG);
	err = ext4_rfx_seal(blk, FB_BS, FB_SEED, FB_BLK, FB_FG);
	kt_ok(!err && !fb_code(blk, FB_BLK, FB_FG) && ext4_rfx_is_empty(blk),
	      "flexbg: a fresh block seals and checks clean (%d)", err);

	ext4_btree_init(&t, &ext4_refcount_geo, &no_ops, NULL, FB_BS, FB_SEED,
			FB_FG, EXT4_BTREE_COW);
	t.root = FB_BLK + 7;
	t.height = 3;
	t.nr_records = 12345;
	t.nr_nodes = 77;
	t.generation = 9;
	err = ext4_rfx_store_root(blk, &t);
	err = err ?: ext4_rfx_seal(blk, FB_BS, FB_SEED, FB_BLK, FB_FG);
	ext4_btree_init(&t2, &ext4_refcount_geo, &no_ops, NULL, FB_BS,
			FB_SEED, FB_FG, EXT4_BTREE_COW);
	ext4_rfx_load_root(blk, &t2);
	kt_ok(!err && !fb_code(blk, FB_BLK, FB_FG) && t2.root == t.root &&
	      t2.height == 3 && t2.nr_records == 12345 && t2.nr_nodes == 77 &&
	      t2.generation == 9 && !ext4_rfx_is_empty(blk) &&
	      ext4_rfx_find_slot(blk, EXT4_TREE_REFCOUNT) >= 0,
	      "flexbg: a refcount root round-trips through seal and check (%d)",
	      err);

	blk[FB_BS - 1] ^= 1;
	kt_ok(fb_code(blk, FB_BLK, FB_FG) == EXT4_RFX_BAD_CSUM,
	      "flexbg: a flipped bit fails the checksum");
	blk[FB_BS - 1] ^= 1;
	kt_ok(fb_code(blk, FB_BLK + 1, FB_FG) == EXT4_RFX_BAD_BLOCKNR &&
	      fb_code(blk, FB_BLK, FB_FG + 1) == EXT4_RFX_BAD_FLEX_GROUP,
	      "flexbg: a block read from the wrong place or group is refused");
	b->fm_magic = cpu_to_le32(1);
	kt_ok(ext4_rfx_seal(blk, FB_BS, FB_SEED, FB_BLK, FB_FG) ==
	      -EFSCORRUPTED, "flexbg: seal refuses a block that fails checks");
	kfree(blk);
}

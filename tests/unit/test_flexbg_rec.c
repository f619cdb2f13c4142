// SPDX-License-Identifier: GPL-2.0
/*
 * test_flexbg_rec.c - the metadata block's checks catch every field, and
 * root slots round-trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include "tap.h"
#include "flexbg/flexbg_rec.h"
#include "refcount/refcount_rec.h"

#define BS	4096
#define SEED	0xdeadbeef
#define BLK	123456789012ull
#define FG	42

static u8 good[BS], blk[BS];

static void fresh(void)
{
	memcpy(blk, good, BS);
}

/* Re-checksum after an edit so only the edited field's check fires */
static int recheck(bool reseal)
{
	struct ext4_rfx_problem p = { 0 };
	struct ext4_rfx_block *b = (void *)blk;
	int err;

	if (reseal)
		b->fm_checksum = cpu_to_le32(ext4_rfx_csum(blk, BS, SEED));
	err = ext4_rfx_check(blk, BS, SEED, BLK, FG, &p);
	return err ? (int)p.code : 0;
}

int main(void)
{
	struct ext4_rfx_block *b = (void *)blk;
	struct ext4_btree t, t2;
	struct ext4_btree_ops no_ops = { 0 };
	int i;

	ext4_rfx_init(good, BS, BLK, FG);
	ok(!ext4_rfx_seal(good, BS, SEED, BLK, FG), "seal a fresh block");
	fresh();
	tap_is_int(recheck(false), 0, "fresh block checks clean");
	ok(ext4_rfx_is_empty(blk), "fresh block has no trees");

	fresh(); b->fm_magic = cpu_to_le32(1);
	tap_is_int(recheck(true), EXT4_RFX_BAD_MAGIC, "bad magic");
	fresh(); blk[BS - 1] ^= 1;
	tap_is_int(recheck(false), EXT4_RFX_BAD_CSUM, "flipped bit: checksum");
	fresh(); b->fm_version = cpu_to_le16(3);
	tap_is_int(recheck(true), EXT4_RFX_BAD_VERSION, "version 3 refused");
	fresh(); b->fm_version = 0;
	tap_is_int(recheck(true), EXT4_RFX_INVALID_VERSION,
		   "version 0: invalid, not newer");
	fresh(); b->fm_version = cpu_to_le16(2);
	tap_is_int(recheck(true), EXT4_RFX_BAD_RESV,
		   "version 2 without a reserve");
	fresh(); b->fm_resv_len = cpu_to_le32(5);
	tap_is_int(recheck(true), EXT4_RFX_BAD_RESERVED,
		   "version 1 with a reserve length");
	fresh(); ext4_rfx_set_resv(blk, 10, 20);
	tap_is_int(recheck(true), 0, "version 2 with a reserve");
	{
		u32 rs, rl;

		ok(ext4_rfx_get_resv(blk, &rs, &rl) && rs == 10 && rl == 20,
		   "the reserve reads back");
		ext4_rfx_set_resv(blk, 0, 0);
		ok(!ext4_rfx_get_resv(blk, &rs, &rl) &&
		   le16_to_cpu(b->fm_version) == 1, "removed: version 1");
	}
	fresh(); b->fm_nr_slots = cpu_to_le16(9);
	tap_is_int(recheck(true), EXT4_RFX_BAD_NR_SLOTS, "slot count");
	fresh(); b->fm_flex_group = cpu_to_le32(FG + 1);
	tap_is_int(recheck(true), EXT4_RFX_BAD_FLEX_GROUP, "flex group");
	fresh(); b->fm_blocknr = cpu_to_le64(BLK + 1);
	tap_is_int(recheck(true), EXT4_RFX_BAD_BLOCKNR, "own block number");
	fresh(); b->fm_flags = cpu_to_le32(1);
	tap_is_int(recheck(true), EXT4_RFX_BAD_RESERVED, "flags");
	fresh(); b->fm_reserved[1] = cpu_to_le64(1);
	tap_is_int(recheck(true), EXT4_RFX_BAD_RESERVED, "reserved");
	fresh(); blk[0x140] = 1;
	tap_is_int(recheck(true), EXT4_RFX_BAD_RESERVED, "tail byte");
	fresh(); b->fm_roots[3].rr_type = cpu_to_le16(7);
	tap_is_int(recheck(true), EXT4_RFX_UNKNOWN_SLOT_TYPE,
		   "unknown tree type");
	fresh(); b->fm_roots[3].rr_records = cpu_to_le64(1);
	tap_is_int(recheck(true), EXT4_RFX_BAD_SLOT, "unused slot not zero");
	fresh(); b->fm_roots[0].rr_type = cpu_to_le16(EXT4_TREE_REFCOUNT);
	b->fm_roots[0].rr_height = cpu_to_le16(1);
	tap_is_int(recheck(true), EXT4_RFX_BAD_SLOT, "height without root");
	fresh(); b->fm_roots[0].rr_type = cpu_to_le16(EXT4_TREE_REFCOUNT);
	b->fm_roots[0].rr_height = cpu_to_le16(33);
	b->fm_roots[0].rr_root = cpu_to_le64(5);
	tap_is_int(recheck(true), EXT4_RFX_BAD_SLOT, "height over 32");
	fresh(); b->fm_roots[0].rr_type = cpu_to_le16(EXT4_TREE_REFCOUNT);
	b->fm_roots[0].rr_nodes = cpu_to_le64(3);
	tap_is_int(recheck(true), EXT4_RFX_BAD_SLOT, "empty tree with nodes");
	fresh(); b->fm_roots[1].rr_type = cpu_to_le16(EXT4_TREE_REFCOUNT);
	b->fm_roots[5].rr_type = cpu_to_le16(EXT4_TREE_REFCOUNT);
	tap_is_int(recheck(true), EXT4_RFX_DUP_SLOT, "two refcount slots");
	fresh(); b->fm_flags = cpu_to_le32(1);
	ok(ext4_rfx_seal(blk, BS, SEED, BLK, FG) == -EFSCORRUPTED,
	   "seal refuses a bad block");

	/* root slots round-trip; the slot is allocated lowest-first */
	fresh();
	ext4_btree_init(&t, &ext4_refcount_geo, &no_ops, NULL, BS, SEED, FG,
			EXT4_BTREE_COW);
	t.root = BLK + 7;
	t.height = 3;
	t.nr_records = 1000;
	t.nr_nodes = 9;
	t.generation = 77;
	b->fm_roots[0].rr_type = cpu_to_le16(EXT4_TREE_REFCOUNT + 1);
	ok(!ext4_rfx_store_root(blk, &t), "store a root");
	tap_is_int(ext4_rfx_find_slot(blk, EXT4_TREE_REFCOUNT), 1,
		   "lowest unused slot taken");
	b->fm_roots[0].rr_type = 0;
	ok(!ext4_rfx_seal(blk, BS, SEED, BLK, FG) && !recheck(false),
	   "block with a tree checks clean");
	ext4_btree_init(&t2, &ext4_refcount_geo, &no_ops, NULL, BS, SEED, FG,
			EXT4_BTREE_COW);
	ext4_rfx_load_root(blk, &t2);
	ok(t2.root == t.root && t2.height == 3 && t2.nr_records == 1000 &&
	   t2.nr_nodes == 9 && t2.generation == 77, "root loads back");
	ok(!ext4_rfx_is_empty(blk), "block with a tree is not empty");

	fresh();
	for (i = 0; i < EXT4_RFX_NR_SLOTS; i++)
		b->fm_roots[i].rr_type = cpu_to_le16(0xff00 + i);
	tap_is_int(ext4_rfx_store_root(blk, &t), -ENOSPC, "no free slot");
	return done_testing();
}

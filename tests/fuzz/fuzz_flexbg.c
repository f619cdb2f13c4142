// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_flexbg.c - the flex-group metadata block decoder.
 *
 * Input: byte 0 flags (1 fix fm_blocknr/fm_flex_group, 2 fix the
 * checksum, 4/8 pick the block size 1, 2 or 4 KiB), then the block.
 * Rules: ext4_rfx_check never crashes; a block it accepts loads into a
 * tree, stores back and is accepted again with the same roots; seal
 * refuses exactly what check refuses for structure.
 */
#include "fuzz_common.h"
#include "flexbg/flexbg_rec.h"
#include "btree/mem_host.h"
#include "refcount/refcount_rec.h"

#define SEED	0xc0ffee11u
#define BLOCKNR	777
#define FG	3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t blk[4096], again[4096];
	struct ext4_rfx_problem p;
	struct ext4_rfx_block *fm = (void *)blk;
	struct ext4_btree t, t2;
	uint8_t flags;
	u32 bs;
	int ret;

	if (size < 1)
		return 0;
	flags = data[0];
	bs = 1024u << ((flags >> 2) % 3);
	memset(blk, 0, sizeof(blk));
	memcpy(blk, data + 1, size - 1 < bs ? size - 1 : bs);
	if (flags & 1) {
		fm->fm_blocknr = cpu_to_le64(BLOCKNR);
		fm->fm_flex_group = cpu_to_le32(FG);
	}
	if (flags & 2)
		fm->fm_checksum = cpu_to_le32(ext4_rfx_csum(blk, bs, SEED));
	ret = ext4_rfx_check(blk, bs, SEED, BLOCKNR, FG, &p);
	FUZZ_REQUIRE(ret == 0 || ret == -EFSBADCRC || ret == -EFSCORRUPTED,
		     "check returned an unknown error");
	ext4_rfx_find_slot(blk, EXT4_TREE_REFCOUNT);
	ext4_rfx_find_slot(blk, (u16)(data[0] << 8 | data[0]));
	if (ret)
		return 0;
	ext4_rfx_is_empty(blk);
	/* accepted: the root survives a load and a store */
	if (ext4_btree_init(&t, &ext4_refcount_geo, &mem_host_ops, NULL, bs,
			    SEED, FG, EXT4_BTREE_COW))
		return 0;
	t2 = t;
	ext4_rfx_load_root(blk, &t);
	memcpy(again, blk, bs);
	FUZZ_REQUIRE(ext4_rfx_store_root(again, &t) == 0,
		     "store of a loaded root failed");
	FUZZ_REQUIRE(ext4_rfx_seal(again, bs, SEED, BLOCKNR, FG) == 0,
		     "seal refused a block check accepted");
	FUZZ_REQUIRE(ext4_rfx_check(again, bs, SEED, BLOCKNR, FG, &p) == 0,
		     "a stored root made the block bad");
	ext4_rfx_load_root(again, &t2);
	FUZZ_REQUIRE(t.root == t2.root && t.height == t2.height &&
		     t.nr_records == t2.nr_records &&
		     t.nr_nodes == t2.nr_nodes &&
		     t.generation == t2.generation,
		     "root changed across store and load");
	return 0;
}

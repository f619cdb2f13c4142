/* SPDX-License-Identifier: GPL-2.0 */
/*
 * reflink_format.h - every on-disk structure of the ext4 reflink feature.
 *
 * docs/FORMAT.md is the specification; this header is its C form.  Each
 * structure has static_asserts on its size and on every field offset the
 * specification's tables state, so a layout change cannot slip in
 * unnoticed.  All multi-byte fields are little endian.
 */
#ifndef REFLINK_FORMAT_H
#define REFLINK_FORMAT_H

#include "kcompat/kcompat.h"

/* Superblock s_feature_ro_compat bit (first bit unused by Linux 6.x) */
#define EXT4_FEATURE_RO_COMPAT_REFLINK		0x00020000

/*
 * Inode i_flags bit: this inode may share blocks (FORMAT.md 6.3).  It was
 * EXT4_EOFBLOCKS_FL, retired from Linux in 2.6.38.
 */
#define EXT4_REFLINK_FL			0x00400000

/* ---------------------------------------------------------------- */
/* Per-flex-group metadata block                                     */
/* ---------------------------------------------------------------- */

/*
 * The block is found through bg_reserved (offset 0x3C) of the first group
 * descriptor of its flex group, as a block offset from the flex group's
 * first block: 0 means "no metadata block".  A relative 32-bit offset
 * reaches any block of a flex group of up to 2^32 blocks, whatever the
 * size of the filesystem.
 */
#define EXT4_RFX_MAGIC			0x424d4652	/* "RFMB" on disk */
#define EXT4_RFX_VERSION		2	/* written by this version */
#define EXT4_RFX_VERSION_NORESV		1	/* earlier: no reserve fields */
#define EXT4_RFX_NR_SLOTS		8

/* Tree types: the owner of a tree node and the type of a root slot */
#define EXT4_TREE_NONE			0
#define EXT4_TREE_REFCOUNT		1
/* Types at or above this value are for tests and never on real images */
#define EXT4_TREE_TEST_BASE		0xff00

struct ext4_rfx_root {
	__le16	rr_type;	/* EXT4_TREE_*; 0 = unused slot */
	__le16	rr_height;	/* 0 = empty tree, 1 = root is a leaf */
	__le32	rr_flags;	/* must be 0 */
	__le64	rr_root;	/* absolute block number of the root, or 0 */
	__le64	rr_records;	/* records in the tree's leaves */
	__le64	rr_nodes;	/* blocks the tree occupies */
};
static_assert(sizeof(struct ext4_rfx_root) == 32, "ext4_rfx_root size");
static_assert(offsetof(struct ext4_rfx_root, rr_type) == 0x00, "rr_type");
static_assert(offsetof(struct ext4_rfx_root, rr_height) == 0x02,
	      "rr_height");
static_assert(offsetof(struct ext4_rfx_root, rr_flags) == 0x04, "rr_flags");
static_assert(offsetof(struct ext4_rfx_root, rr_root) == 0x08, "rr_root");
static_assert(offsetof(struct ext4_rfx_root, rr_records) == 0x10,
	      "rr_records");
static_assert(offsetof(struct ext4_rfx_root, rr_nodes) == 0x18, "rr_nodes");

struct ext4_rfx_block {
	__le32	fm_magic;	/* 0x00 EXT4_RFX_MAGIC */
	__le32	fm_checksum;	/* 0x04 crc32c, see FORMAT.md */
	__le16	fm_version;	/* 0x08 EXT4_RFX_VERSION */
	__le16	fm_nr_slots;	/* 0x0a EXT4_RFX_NR_SLOTS */
	__le32	fm_flex_group;	/* 0x0c owning flex group */
	__le64	fm_blocknr;	/* 0x10 absolute block number of itself */
	__le64	fm_generation;	/* 0x18 bumped by every commit */
	__le32	fm_flags;	/* 0x20 must be 0 */
	__le32	fm_reserved0;	/* 0x24 must be 0 */
	/*
	 * Version 2: the tree's reserve, blocks marked in use that only the
	 * flex group's tree allocator takes (FORMAT.md 4.4).  Version 1:
	 * both 0.
	 */
	__le32	fm_resv_start;	/* 0x28 relative first block, >= 1 */
	__le32	fm_resv_len;	/* 0x2c blocks, >= 1 */
	__le64	fm_reserved[2];	/* 0x30 must be 0 */
	struct ext4_rfx_root fm_roots[EXT4_RFX_NR_SLOTS];	/* 0x40 */
	/* 0x140 .. end of block: must be 0 */
};
static_assert(sizeof(struct ext4_rfx_block) == 320, "ext4_rfx_block size");
static_assert(offsetof(struct ext4_rfx_block, fm_magic) == 0x00, "fm_magic");
static_assert(offsetof(struct ext4_rfx_block, fm_checksum) == 0x04,
	      "fm_checksum");
static_assert(offsetof(struct ext4_rfx_block, fm_version) == 0x08,
	      "fm_version");
static_assert(offsetof(struct ext4_rfx_block, fm_nr_slots) == 0x0a,
	      "fm_nr_slots");
static_assert(offsetof(struct ext4_rfx_block, fm_flex_group) == 0x0c,
	      "fm_flex_group");
static_assert(offsetof(struct ext4_rfx_block, fm_blocknr) == 0x10,
	      "fm_blocknr");
static_assert(offsetof(struct ext4_rfx_block, fm_generation) == 0x18,
	      "fm_generation");
static_assert(offsetof(struct ext4_rfx_block, fm_flags) == 0x20, "fm_flags");
static_assert(offsetof(struct ext4_rfx_block, fm_reserved0) == 0x24,
	      "fm_reserved0");
static_assert(offsetof(struct ext4_rfx_block, fm_resv_start) == 0x28,
	      "fm_resv_start");
static_assert(offsetof(struct ext4_rfx_block, fm_resv_len) == 0x2c,
	      "fm_resv_len");
static_assert(offsetof(struct ext4_rfx_block, fm_reserved) == 0x30,
	      "fm_reserved");
static_assert(offsetof(struct ext4_rfx_block, fm_roots) == 0x40, "fm_roots");

/* ---------------------------------------------------------------- */
/* Generic B-tree node                                               */
/* ---------------------------------------------------------------- */

/*
 * A node is one filesystem block: this header, then bn_max_entries keys,
 * then bn_max_entries values.  Leaves (level 0) hold records; interior
 * nodes hold (key, __le64 child block) where key is a lower bound of every
 * key in the child's subtree.  Slots past bn_nr_entries and the tail of
 * the block are zero.
 */
#define EXT4_BTREE_MAGIC		0x54424652	/* "RFBT" on disk */
#define EXT4_BTREE_MAX_HEIGHT		32

struct ext4_btree_node_head {
	__le32	bn_magic;	/* 0x00 EXT4_BTREE_MAGIC */
	__le32	bn_checksum;	/* 0x04 crc32c of the block, this field 0 */
	__le64	bn_blocknr;	/* 0x08 absolute block number of itself */
	__le64	bn_generation;	/* 0x10 commit generation that wrote it */
	__le32	bn_owner;	/* 0x18 owning flex group */
	__le16	bn_tree_type;	/* 0x1c EXT4_TREE_* */
	__le16	bn_level;	/* 0x1e 0 = leaf */
	__le16	bn_nr_entries;	/* 0x20 entries in use */
	__le16	bn_max_entries;	/* 0x22 capacity, fixed by the geometry */
	__le16	bn_key_size;	/* 0x24 bytes per key */
	__le16	bn_val_size;	/* 0x26 bytes per value (8 in interiors) */
	__le64	bn_reserved;	/* 0x28 must be 0 */
};
static_assert(sizeof(struct ext4_btree_node_head) == 48,
	      "ext4_btree_node_head size");
static_assert(offsetof(struct ext4_btree_node_head, bn_magic) == 0x00,
	      "bn_magic");
static_assert(offsetof(struct ext4_btree_node_head, bn_checksum) == 0x04,
	      "bn_checksum");
static_assert(offsetof(struct ext4_btree_node_head, bn_blocknr) == 0x08,
	      "bn_blocknr");
static_assert(offsetof(struct ext4_btree_node_head, bn_generation) == 0x10,
	      "bn_generation");
static_assert(offsetof(struct ext4_btree_node_head, bn_owner) == 0x18,
	      "bn_owner");
static_assert(offsetof(struct ext4_btree_node_head, bn_tree_type) == 0x1c,
	      "bn_tree_type");
static_assert(offsetof(struct ext4_btree_node_head, bn_level) == 0x1e,
	      "bn_level");
static_assert(offsetof(struct ext4_btree_node_head, bn_nr_entries) == 0x20,
	      "bn_nr_entries");
static_assert(offsetof(struct ext4_btree_node_head, bn_max_entries) == 0x22,
	      "bn_max_entries");
static_assert(offsetof(struct ext4_btree_node_head, bn_key_size) == 0x24,
	      "bn_key_size");
static_assert(offsetof(struct ext4_btree_node_head, bn_val_size) == 0x26,
	      "bn_val_size");
static_assert(offsetof(struct ext4_btree_node_head, bn_reserved) == 0x28,
	      "bn_reserved");

/* ---------------------------------------------------------------- */
/* Refcount tree records                                             */
/* ---------------------------------------------------------------- */

/*
 * Block range [start, start + len) of the flex group is used rc_count
 * times.  rk_start is relative to the flex group's first block.  Only
 * counts >= 2 are stored; a block with no record is free (0) or used
 * once (1) as the block bitmap says.
 */
struct ext4_refcount_key {
	__le32	rk_start;
};
static_assert(sizeof(struct ext4_refcount_key) == 4, "refcount key size");

struct ext4_refcount_val {
	__le32	rv_len;		/* >= 1, never crosses the flex group end */
	__le32	rv_count;	/* >= 2 */
};
static_assert(sizeof(struct ext4_refcount_val) == 8, "refcount val size");
static_assert(offsetof(struct ext4_refcount_key, rk_start) == 0x0,
	      "rk_start");
static_assert(offsetof(struct ext4_refcount_val, rv_len) == 0x0, "rv_len");
static_assert(offsetof(struct ext4_refcount_val, rv_count) == 0x4,
	      "rv_count");

#endif /* REFLINK_FORMAT_H */

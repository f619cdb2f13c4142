/* SPDX-License-Identifier: GPL-2.0 */
/*
 * flexbg_rec.h - the per-flex-group metadata block: checksum, checks and
 * root-slot access.  Kernel-shareable; finding the block through
 * bg_reserved is the host's job.
 */
#ifndef FLEXBG_REC_H
#define FLEXBG_REC_H

#include "../btree/ext4_btree.h"

/*
 * The metadata block's problems and their words, once: X(name, words) for
 * EXT4_RFX_<name>.  Userspace tools print the words (ext4_rfx_problem_words)
 * so reflinkck and refdebug say the same.
 */
#define EXT4_RFX_PROBLEM_LIST(X) \
	X(OK, "ok") \
	X(BAD_MAGIC, "bad magic") \
	X(BAD_CSUM, "bad checksum") \
	X(BAD_VERSION, "unsupported version") \
	X(BAD_NR_SLOTS, "wrong number of root slots") \
	X(BAD_FLEX_GROUP, "names another flex group") \
	X(BAD_BLOCKNR, "wrong own block number") \
	X(BAD_RESERVED, "flags, a reserved field or the tail not zero") \
	X(UNKNOWN_SLOT_TYPE, "root slot of an unknown type") \
	X(BAD_SLOT, "bad root slot")	/* flags, height, root, counts */ \
	X(DUP_SLOT, "two root slots of one type") \
	X(BAD_RESV, "version 2 without a reserve") \
	X(INVALID_VERSION, "invalid version")	/* corrupt, not newer */

enum ext4_rfx_problem_code {
#define EXT4_RFX_PROBLEM_ENUM(name, words) EXT4_RFX_##name,
	EXT4_RFX_PROBLEM_LIST(EXT4_RFX_PROBLEM_ENUM)
#undef EXT4_RFX_PROBLEM_ENUM
	EXT4_RFX_PROBLEM_MAX,
};

/* The words of a problem code; "unknown problem" for any other value */
const char *ext4_rfx_problem_words(int code);

struct ext4_rfx_problem {
	enum ext4_rfx_problem_code code;
	int slot;			/* -1 if not about a slot */
	const char *field;		/* the slot's field at fault, or NULL */
	u64 expected;
	u64 found;
};

u32 ext4_rfx_csum(const void *block, u32 block_size, u32 seed);

/*
 * Check a metadata block read from blocknr for flex group fg: 0,
 * -EFSBADCRC or -EFSCORRUPTED, with the first problem in *p (may be NULL);
 * -EINVAL for a block size too small to hold the structure.
 */
int ext4_rfx_check(const void *block, u32 block_size, u32 seed, u64 blocknr,
		   u32 fg, struct ext4_rfx_problem *p);

/* A fresh version-1 block with no trees and no reserve, generation 1 */
void ext4_rfx_init(void *block, u32 block_size, u64 blocknr, u32 fg);

/* Set the checksum; refuses (-EFSCORRUPTED) a block that fails checks */
int ext4_rfx_seal(void *block, u32 block_size, u32 seed, u64 blocknr,
		  u32 fg);

/* Slot index of tree type, or -ENOENT */
int ext4_rfx_find_slot(const void *block, u16 type);

/*
 * Load the root of tree->geo->tree_type into tree (an absent slot is an
 * empty tree); tree->generation becomes fm_generation.
 */
void ext4_rfx_load_root(const void *block, struct ext4_btree *tree);

/*
 * Store tree's root in its slot (the lowest unused one if it has none)
 * and make tree->generation the block's generation.  -ENOSPC if every
 * slot is taken.
 */
int ext4_rfx_store_root(void *block, const struct ext4_btree *tree);

/*
 * Record the tree's reserve [start, start + len) (relative to the flex
 * group): version 2.  start 0 removes it (version 1).
 */
void ext4_rfx_set_resv(void *block, u32 start, u32 len);

/* The reserve, and whether the block has one (version 2) */
bool ext4_rfx_get_resv(const void *block, u32 *start, u32 *len);

/* True if every slot is unused or holds an empty tree */
bool ext4_rfx_is_empty(const void *block);

#endif /* FLEXBG_REC_H */

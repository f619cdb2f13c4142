/* SPDX-License-Identifier: GPL-2.0 */
/*
 * refcount_rec.h - refcount records of one flex group on the generic
 * B-tree.  Kernel-shareable: block numbers here are relative to the flex
 * group's first block; splitting a range across flex groups is the
 * caller's job.
 *
 * A block's count is 0 (free) or 1 (used once) when no record covers it
 * (the block bitmap tells which), else the record's count (>= 2).
 */
#ifndef REFCOUNT_REC_H
#define REFCOUNT_REC_H

#include "../btree/ext4_btree.h"

#define EXT4_REFCOUNT_MAX	0xffffffffu

extern const struct ext4_btree_geo ext4_refcount_geo;

/* One record in host byte order */
struct ext4_refcount_rec {
	u32 start;		/* relative to the flex group */
	u32 len;
	u32 count;
};

static inline u64 ext4_refcount_rec_end(const struct ext4_refcount_rec *r)
{
	return (u64)r->start + r->len;
}

void ext4_refcount_rec_decode(const void *key, const void *val,
			      struct ext4_refcount_rec *rec);
void ext4_refcount_rec_encode(const struct ext4_refcount_rec *rec,
			      struct ext4_refcount_key *key,
			      struct ext4_refcount_val *val);

/*
 * Count of one block: the record's count if a record covers it, else 1
 * (meaning "0 or 1: ask the bitmap").  Negative errno on tree errors.
 */
int ext4_refcount_get(struct ext4_btree *tree, u32 blk, u32 *count);

/* First record that ends after blk, or -ENOENT */
int ext4_refcount_find(struct ext4_btree *tree, u32 blk,
		       struct ext4_refcount_rec *rec);

/* Called for each range whose count dropped to 0 (to be freed) */
typedef int (*ext4_refcount_free_fn)(void *priv, u32 start, u32 len);

/*
 * Add delta (+1 or -1) to the count of every block of [start, start+len)
 * of a flex group of group_blocks blocks, keeping the records canonical.
 * Blocks with no record count as 1: +1 makes them 2, -1 reports them to
 * freed(), which must defer the real freeing until the transaction
 * commits.  -EOVERFLOW (nothing changed) if a count would pass
 * EXT4_REFCOUNT_MAX.  Must run inside a transaction on the tree; on any
 * error the caller aborts it.
 */
int ext4_refcount_adjust(struct ext4_btree *tree, u32 group_blocks,
			 u32 start, u32 len, int delta,
			 ext4_refcount_free_fn freed, void *priv);

/*
 * The tree's reserve in a flex group of group_blocks blocks (FORMAT.md
 * 4.4), after XFS's xfs_refcountbt_calc_reserves: the largest tree the
 * flex group can need (one record per block, every node at its minimum
 * fill) plus what one commit may allocate on top of it.
 */
struct ext4_refcount_resv {
	u64 tree;		/* blocks of the largest tree */
	u32 height;		/* its height */
	u32 commit;		/* blocks one commit may take besides */
	u32 piece;		/* blocks adjusted per step (rfl_adjust) */
	u32 budget;		/* allocations after which a step commits */
	u64 total;		/* tree + commit: the reserve */
};

/* -EINVAL for a block size the tree cannot use */
int ext4_refcount_resv_calc(u32 block_size, u64 group_blocks,
			    struct ext4_refcount_resv *r);

/* Problems a single record or a pair of neighbours can have */
enum ext4_refcount_problem {
	EXT4_REFCOUNT_OK = 0,
	EXT4_REFCOUNT_ZERO_LEN,		/* rv_len == 0 */
	EXT4_REFCOUNT_LOW_COUNT,	/* rv_count < 2 */
	EXT4_REFCOUNT_PAST_GROUP,	/* range ends past the flex group */
	EXT4_REFCOUNT_OVERLAP,		/* starts before the previous ends */
	EXT4_REFCOUNT_NOT_MERGED,	/* touches the previous, same count */
};

/*
 * Check rec (and its predecessor prev, or NULL) the way the verifier
 * walk's record callback sees them.
 */
enum ext4_refcount_problem
ext4_refcount_check_rec(const struct ext4_refcount_rec *rec,
			const struct ext4_refcount_rec *prev,
			u32 group_blocks);

#endif /* REFCOUNT_REC_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * refcount_rec.c - refcount records on the generic B-tree.
 *
 * Adjusting a range follows XFS's refcount adjust: split the records that
 * straddle the range's edges, change every record and every gap inside
 * the range, then merge equal neighbours so the records stay canonical.
 * Each step re-seeks the tree because a cursor does not survive changes.
 */
#include "refcount_rec.h"

const struct ext4_btree_geo ext4_refcount_geo = {
	.name		= "refcount",
	.tree_type	= EXT4_TREE_REFCOUNT,
	.key_size	= sizeof(struct ext4_refcount_key),
	.val_size	= sizeof(struct ext4_refcount_val),
	.max_entries	= 0,
	.key_kind	= EXT4_BTREE_KEY_LE32,
};

void ext4_refcount_rec_decode(const void *key, const void *val,
			      struct ext4_refcount_rec *rec)
{
	struct ext4_refcount_key k;
	struct ext4_refcount_val v;

	memcpy(&k, key, sizeof(k));
	memcpy(&v, val, sizeof(v));
	rec->start = le32_to_cpu(k.rk_start);
	rec->len = le32_to_cpu(v.rv_len);
	rec->count = le32_to_cpu(v.rv_count);
}

void ext4_refcount_rec_encode(const struct ext4_refcount_rec *rec,
			      struct ext4_refcount_key *key,
			      struct ext4_refcount_val *val)
{
	key->rk_start = cpu_to_le32(rec->start);
	val->rv_len = cpu_to_le32(rec->len);
	val->rv_count = cpu_to_le32(rec->count);
}

static int rec_lookup(struct ext4_btree *t, u32 blk,
		      enum ext4_btree_lookup_mode mode,
		      struct ext4_refcount_rec *rec)
{
	struct ext4_refcount_key k = { .rk_start = cpu_to_le32(blk) };
	struct ext4_refcount_key ko;
	struct ext4_refcount_val vo;
	int err;

	err = ext4_btree_lookup(t, &k, mode, &ko, &vo);
	if (err)
		return err;
	ext4_refcount_rec_decode(&ko, &vo, rec);
	/*
	 * Node checks do not look inside records: a record of length 0 would
	 * stop every walk over the records from advancing (found by
	 * tests/fuzz/fuzz_btree)
	 */
	if (!rec->len)
		return -EFSCORRUPTED;
	/*
	 * Nor do they compare keys across nodes: in a tree whose keys are
	 * out of order a GE lookup can return a record before blk (an LE
	 * one after it), and the walks that step to its end would not
	 * advance (found by tests/fuzz/fuzz_btree: an adjust that ran for
	 * ever)
	 */
	if ((mode == EXT4_BTREE_GE && rec->start < blk) ||
	    (mode == EXT4_BTREE_LE && rec->start > blk) ||
	    (mode == EXT4_BTREE_EQ && rec->start != blk))
		return -EFSCORRUPTED;
	return 0;
}

static int rec_insert(struct ext4_btree *t, const struct ext4_refcount_rec *r)
{
	struct ext4_refcount_key k;
	struct ext4_refcount_val v;

	ext4_refcount_rec_encode(r, &k, &v);
	return ext4_btree_insert(t, &k, &v);
}

static int rec_update(struct ext4_btree *t, const struct ext4_refcount_rec *r)
{
	struct ext4_refcount_key k;
	struct ext4_refcount_val v;

	ext4_refcount_rec_encode(r, &k, &v);
	return ext4_btree_update(t, &k, &v);
}

static int rec_delete(struct ext4_btree *t, u32 start)
{
	struct ext4_refcount_key k = { .rk_start = cpu_to_le32(start) };

	return ext4_btree_delete(t, &k);
}

int ext4_refcount_find(struct ext4_btree *tree, u32 blk,
		       struct ext4_refcount_rec *rec)
{
	int err = rec_lookup(tree, blk, EXT4_BTREE_LE, rec);

	if (!err && ext4_refcount_rec_end(rec) > blk)
		return 0;
	if (err && err != -ENOENT)
		return err;
	return rec_lookup(tree, blk, EXT4_BTREE_GE, rec);
}

int ext4_refcount_get(struct ext4_btree *tree, u32 blk, u32 *count)
{
	struct ext4_refcount_rec rec;
	int err = rec_lookup(tree, blk, EXT4_BTREE_LE, &rec);

	if (err == -ENOENT || (!err && ext4_refcount_rec_end(&rec) <= blk)) {
		*count = 1;
		return 0;
	}
	if (err)
		return err;
	*count = rec.count;
	return 0;
}

/* If a record straddles blk, cut it in two at blk */
static int split_at(struct ext4_btree *t, u32 blk)
{
	struct ext4_refcount_rec rec, right;
	int err;

	err = rec_lookup(t, blk, EXT4_BTREE_LE, &rec);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	if (rec.start == blk || ext4_refcount_rec_end(&rec) <= blk)
		return 0;
	right.start = blk;
	right.len = ext4_refcount_rec_end(&rec) - blk;
	right.count = rec.count;
	rec.len = blk - rec.start;
	err = rec_update(t, &rec);
	if (!err)
		err = rec_insert(t, &right);
	return err;
}

/* Would +1 overflow any record in [start, end)? */
static int check_overflow(struct ext4_btree *t, u32 start, u64 end)
{
	struct ext4_refcount_rec rec;
	u64 pos = start;
	int err;

	while (pos < end) {
		err = ext4_refcount_find(t, pos, &rec);
		if (err == -ENOENT)
			return 0;
		if (err)
			return err;
		if (rec.start >= end)
			return 0;
		if (rec.count == EXT4_REFCOUNT_MAX)
			return -EOVERFLOW;
		pos = ext4_refcount_rec_end(&rec);
	}
	return 0;
}

/*
 * Merge equal neighbours among the records touching [start, end]: the
 * only place an adjust can have broken canonical form.
 */
static int merge_range(struct ext4_btree *t, u32 start, u64 end)
{
	struct ext4_refcount_rec a, b;
	int err;

	err = rec_lookup(t, start, EXT4_BTREE_LE, &a);
	if (err == -ENOENT)
		err = rec_lookup(t, start, EXT4_BTREE_GE, &a);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	for (;;) {
		if (a.start > end || ext4_refcount_rec_end(&a) > 0xffffffffull)
			return 0;
		err = rec_lookup(t, (u32)ext4_refcount_rec_end(&a),
				 EXT4_BTREE_GE, &b);
		if (err == -ENOENT)
			return 0;
		if (err)
			return err;
		if (b.start > end)
			return 0;
		if (b.start == ext4_refcount_rec_end(&a) &&
		    b.count == a.count &&
		    (u64)a.len + b.len <= 0xffffffffull) {
			a.len += b.len;
			err = rec_delete(t, b.start);
			if (!err)
				err = rec_update(t, &a);
			if (err)
				return err;
			continue;
		}
		a = b;
	}
}

int ext4_refcount_adjust(struct ext4_btree *tree, u32 group_blocks,
			 u32 start, u32 len, int delta,
			 ext4_refcount_free_fn freed, void *priv)
{
	u64 end = (u64)start + len, pos;
	struct ext4_refcount_rec rec, gap;
	int err;

	if (!len || end > group_blocks || (delta != 1 && delta != -1))
		return -EINVAL;
	if (delta > 0) {
		err = check_overflow(tree, start, end);
		if (err)
			return err;
	}
	err = split_at(tree, start);
	if (!err && end < 0x100000000ull)
		err = split_at(tree, (u32)end);
	if (err)
		return err;

	for (pos = start; pos < end;) {
		err = rec_lookup(tree, (u32)pos, EXT4_BTREE_GE, &rec);
		if (err && err != -ENOENT)
			return err;
		if (err || rec.start > pos) {
			/* blocks with no record are used once */
			gap.start = pos;
			gap.len = (err || rec.start >= end ? end : rec.start) -
				  pos;
			gap.count = 2;
			if (delta > 0)
				err = rec_insert(tree, &gap);
			else
				err = freed ? freed(priv, gap.start, gap.len) :
					      0;
			if (err)
				return err;
			pos += gap.len;
			continue;
		}
		/* the splits made rec end inside the range */
		if (rec.count + delta <= 1) {
			err = rec_delete(tree, rec.start);
		} else {
			rec.count += delta;
			err = rec_update(tree, &rec);
		}
		if (err)
			return err;
		pos = ext4_refcount_rec_end(&rec);
	}
	return merge_range(tree, start ? start - 1 : 0, end);
}

enum ext4_refcount_problem
ext4_refcount_check_rec(const struct ext4_refcount_rec *rec,
			const struct ext4_refcount_rec *prev,
			u32 group_blocks)
{
	if (!rec->len)
		return EXT4_REFCOUNT_ZERO_LEN;
	if (rec->count < 2)
		return EXT4_REFCOUNT_LOW_COUNT;
	if (ext4_refcount_rec_end(rec) > group_blocks)
		return EXT4_REFCOUNT_PAST_GROUP;
	if (prev && ext4_refcount_rec_end(prev) > rec->start)
		return EXT4_REFCOUNT_OVERLAP;
	if (prev && ext4_refcount_rec_end(prev) == rec->start &&
	    prev->count == rec->count)
		return EXT4_REFCOUNT_NOT_MERGED;
	return EXT4_REFCOUNT_OK;
}

/*
 * Worst case: a record per block (adjacent records may differ in count,
 * so every block of the flex group can start one), every non-root node
 * at min_fill: ceil(records / min_leaf) leaves, then ceil(n / min_node)
 * per level up to a single root, as XFS's xfs_btree_calc_size.
 *
 * A commit holds the replaced nodes until its switch, so it needs blocks
 * beyond the tree.  The writer bounds that: it adjusts at most `piece` =
 * min_leaf blocks per step and commits once a transaction has allocated
 * `budget` blocks.  A step touches at most min_leaf + 2 records, hence
 * at most 3 leaves; per level it shadows at most 3 nodes, splits at most
 * 3 and borrows from at most 3 siblings, plus a new root: 9 * height + 1
 * <= 10 * (height + 1).  With budget the same, one commit allocates at
 * most budget - 1 + 10 * (height + 1) < 20 * (height + 1) blocks.
 */
int ext4_refcount_resv_calc(u32 block_size, u64 group_blocks,
			    struct ext4_refcount_resv *r)
{
	u16 max_leaf = ext4_btree_leaf_capacity(&ext4_refcount_geo,
						block_size);
	u16 max_node = ext4_btree_node_capacity(&ext4_refcount_geo,
						block_size);
	u64 min_leaf = max_leaf / 2, min_node = max_node / 2, n;

	memset(r, 0, sizeof(*r));
	if (max_leaf < EXT4_BTREE_MIN_ENTRIES ||
	    max_node < EXT4_BTREE_MIN_ENTRIES)
		return -EINVAL;
	n = div64_u64(group_blocks + min_leaf - 1, min_leaf);
	r->tree = n;
	r->height = 1;
	while (n > 1) {
		n = div64_u64(n + min_node - 1, min_node);
		r->tree += n;
		r->height++;
	}
	r->piece = (u32)min_leaf;
	r->budget = 10 * (r->height + 1);
	/*
	 * A small flex group (the short last one) cannot make a commit
	 * that large: each of its at most `tree` nodes is shadowed once
	 * and at most as many again split off, plus a new root per level.
	 */
	r->commit = 2 * r->budget;
	if (2 * r->tree + r->height + 1 < r->commit)
		r->commit = (u32)(2 * r->tree + r->height + 1);
	r->total = r->tree + r->commit;
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_group.c - per-flex-group metadata blocks and refcount trees, and
 * refcount transactions that span flex groups.
 */
#include <stdlib.h>
#include <string.h>

#include "flexbg/flexbg_e2fs.h"
#include "reflink/rfl.h"
#include "util/vec.h"

dgrp_t rfl_block_flex_group(const struct rfl_fs *rfs, blk64_t blk)
{
	ext2_filsys fs = rfs->fs;
	blk64_t per_flex = (blk64_t)e2fs_flex_group_size(fs) *
			   fs->super->s_blocks_per_group;

	return (blk - fs->super->s_first_data_block) / per_flex;
}

/* Write the metadata block image of grp (sealed) to its block */
static errcode_t meta_write(struct rfl_fs *rfs, struct rfl_group *grp)
{
	ext2_filsys fs = rfs->fs;

	if (ext4_rfx_seal(grp->meta, fs->blocksize, rfs->csum_seed,
			  grp->meta_blk, grp->fg))
		return RFL_ET_CORRUPT_META;
	return io_channel_write_blk64(fs->io, grp->meta_blk, 1, grp->meta);
}

/* The host's commit_root: the metadata block write is the switch */
static int commit_root(void *priv, struct ext4_btree *tree)
{
	struct rfl_group *grp = priv;
	errcode_t ret;

	if (ext4_rfx_store_root(grp->meta, tree))
		return -ENOSPC;
	ret = meta_write(grp->rfs, grp);
	return ret ? -EIO : 0;
}

bool rfl_group_in_reserve(const struct rfl_group *grp, blk64_t blk)
{
	return grp->resv_len && blk >= grp->resv_start &&
	       blk - grp->resv_start < grp->resv_len;
}

/*
 * The reserve of a version-2 block: inside the flex group, clear of fs
 * metadata and of the metadata block, of the size FORMAT.md 4.4 gives.
 * One that is not is remembered as bad (writes refuse; reflinkck
 * repairs it) rather than failing the load.
 */
static errcode_t resv_load(struct rfl_fs *rfs, struct rfl_group *grp)
{
	u32 rs, rl;

	grp->resv_start = grp->resv_len = 0;
	grp->resv_bad = false;
	if (grp->meta_blk && ext4_rfx_get_resv(grp->meta, &rs, &rl)) {
		grp->resv_start = grp->first + rs;
		grp->resv_len = rl;
		if ((u64)rs + rl > grp->nr_blocks ||
		    rfl_group_in_reserve(grp, grp->meta_blk) ||
		    e2fs_meta_map_overlaps(rfs->meta_map, grp->resv_start,
					   rl) ||
		    rl != rfl_fg_resv_blocks(rfs->fs, grp->fg)) {
			grp->resv_bad = true;
			return e2fs_host_set_reserve(grp->host, 0, 0, 0, 0,
						     0);
		}
	}
	return e2fs_host_set_reserve(grp->host, grp->resv_start,
				     grp->resv_len, grp->tree.root,
				     grp->tree.height, grp->tree.nr_nodes);
}

errcode_t rfl_group_load(struct rfl_fs *rfs, dgrp_t fg,
			 struct rfl_group **grpp)
{
	ext2_filsys fs = rfs->fs;
	struct rfl_group *grp;
	errcode_t ret;

	if (fg >= rfs->nr_flex)
		return RFL_ET_BAD_ARG;
	grp = &rfs->groups[fg];
	if (grp->loaded) {
		*grpp = grp;
		return 0;
	}
	grp->rfs = rfs;
	grp->fg = fg;
	grp->first = e2fs_flex_group_first_block(fs, fg);
	grp->nr_blocks = e2fs_flex_group_blocks(fs, fg);
	if (!grp->meta) {
		ret = ext2fs_get_memzero(fs->blocksize, &grp->meta);
		if (ret)
			return ret;
	}
	if (!rfs->meta_map) {
		ret = e2fs_meta_map_build(fs, &rfs->meta_map);
		if (ret)
			return ret;
	}
	if (!grp->host) {
		ret = e2fs_host_open2(fs, fg, 0, rfs->meta_map, commit_root,
				      grp, &grp->host);
		if (ret)
			return ret;
	}
	ret = e2fs_host_tree_init(grp->host, &grp->tree, &ext4_refcount_geo,
				  EXT4_BTREE_COW);
	if (ret)
		return ret;

	ret = rfl_fg_read_meta(fs, rfs->csum_seed, fg, grp->meta,
			       &grp->meta_blk, NULL);
	if (ret)
		return ret;
	if (grp->meta_blk)
		ext4_rfx_load_root(grp->meta, &grp->tree);
	ret = resv_load(rfs, grp);
	if (ret)
		return ret;
	grp->loaded = true;
	*grpp = grp;
	return 0;
}

errcode_t rfl_group_release(struct rfl_fs *rfs, dgrp_t fg)
{
	struct rfl_group *grp;
	errcode_t ret = 0;

	if (fg >= rfs->nr_flex)
		return RFL_ET_BAD_ARG;
	grp = &rfs->groups[fg];
	if (grp->in_txn)
		return RFL_ET_BAD_ARG;
	if (grp->host)
		ret = e2fs_host_close(grp->host);
	grp->host = NULL;
	free(grp->meta);
	grp->meta = NULL;
	grp->loaded = false;
	return ret;
}

/* A free run for the reserve, from just after the metadata block on */
static blk64_t resv_find(struct rfl_fs *rfs, struct rfl_group *grp,
			 blk64_t len)
{
	blk64_t goal = grp->meta_blk ? grp->meta_blk + 1 : grp->first + 1;

	return rfl_fg_find_run(rfs->fs, rfs->meta_map, grp->first + 1,
			       grp->first + grp->nr_blocks, goal, len);
}

/*
 * Give grp a metadata block with an empty tree and, if there is room
 * (or need_resv), its reserve, as near after it as a free run allows:
 * mark the blocks, write the block, make both durable, then point
 * bg_reserved at it (FORMAT.md 7.4).  The block goes where it always
 * went (the first free block of the flex group), so a rebuild in an
 * image made before reserves puts it where it did.  Without room for
 * the reserve and need_resv: RFL_ET_NO_RESERVE_ROOM, nothing changed.
 */
static errcode_t meta_create(struct rfl_fs *rfs, struct rfl_group *grp,
			     bool need_resv)
{
	ext2_filsys fs = rfs->fs;
	blk64_t rlen = rfl_fg_resv_blocks(fs, grp->fg), run = 0;
	u64 blk;
	errcode_t ret;
	int err;

	err = e2fs_host_ops.alloc_block(grp->host, grp->first + 1, &blk);
	if (err)
		return err == -ENOSPC && need_resv ?
		       RFL_ET_NO_RESERVE_ROOM : rfl_errcode(err);
	grp->meta_blk = blk;
	if (rlen)
		run = resv_find(rfs, grp, rlen);
	grp->meta_blk = 0;
	if (!run && need_resv) {
		ext2fs_block_alloc_stats2(fs, blk, -1);
		return RFL_ET_NO_RESERVE_ROOM;
	}
	if (run)
		ext2fs_block_alloc_stats_range(fs, run, rlen, +1);
	ext4_rfx_init(grp->meta, fs->blocksize, blk, grp->fg);
	/* an image made before reserves, and no room: the old way */
	if (run)
		ext4_rfx_set_resv(grp->meta, (u32)(run - grp->first),
				  (u32)rlen);
	grp->meta_blk = blk;
	ret = meta_write(rfs, grp);
	if (!ret && !rfs->batch)
		ret = io_channel_flush(fs->io);
	if (ret) {
		grp->meta_blk = 0;
		ext2fs_block_alloc_stats2(fs, blk, -1);
		if (run)
			ext2fs_block_alloc_stats_range(fs, run, rlen, -1);
		return ret;
	}
	rfl_set_bg_reserved(fs, grp->fg * e2fs_flex_group_size(fs),
			    (__u32)(blk - grp->first));
	ext4_rfx_load_root(grp->meta, &grp->tree);
	ret = resv_load(rfs, grp);
	if (ret)
		return ret;
	/* batched: descriptors reach disk only in the caller's final flush */
	return rfs->batch ? 0 : ext2fs_flush(fs);
}

errcode_t rfl_group_create(struct rfl_fs *rfs, dgrp_t fg)
{
	struct rfl_group *grp;
	errcode_t ret;

	ret = rfl_group_load(rfs, fg, &grp);
	if (ret || grp->meta_blk)
		return ret;
	return meta_create(rfs, grp, false);
}

/*
 * A version-1 block gains its reserve: the blocks are marked and on disk
 * before the metadata block names them, so a crash leaks them at worst.
 */
errcode_t rfl_group_add_reserve(struct rfl_fs *rfs, dgrp_t fg)
{
	ext2_filsys fs = rfs->fs;
	struct rfl_group *grp;
	blk64_t rlen, run;
	errcode_t ret;

	ret = rfl_group_load(rfs, fg, &grp);
	if (ret)
		return ret;
	if (grp->in_txn)
		return RFL_ET_BAD_ARG;
	if (!grp->meta_blk)
		return meta_create(rfs, grp, true);
	if (grp->resv_len && !grp->resv_bad)
		return 0;
	rlen = rfl_fg_resv_blocks(fs, fg);
	run = resv_find(rfs, grp, rlen);
	if (!run)
		return RFL_ET_NO_RESERVE_ROOM;
	ext2fs_block_alloc_stats_range(fs, run, rlen, +1);
	ret = rfs->batch ? 0 : ext2fs_flush(fs);
	if (ret)
		return ret;
	ext4_rfx_set_resv(grp->meta, (u32)(run - grp->first), (u32)rlen);
	ret = meta_write(rfs, grp);
	if (!ret && !rfs->batch)
		ret = io_channel_flush(fs->io);
	if (ret)
		return ret;
	return resv_load(rfs, grp);
}

errcode_t rfl_group_move_reserve(struct rfl_fs *rfs, dgrp_t fg)
{
	struct rfl_group *grp;
	errcode_t ret;

	ret = rfl_group_load(rfs, fg, &grp);
	if (ret)
		return ret;
	if (grp->in_txn || !grp->meta_blk)
		return RFL_ET_BAD_ARG;
	/* forget it; the metadata block keeps naming it until rewritten */
	grp->resv_bad = true;
	grp->resv_len = 0;
	ret = e2fs_host_set_reserve(grp->host, 0, 0, 0, 0, 0);
	return ret ? ret : rfl_group_add_reserve(rfs, fg);
}

static bool resv_needed(void *priv, dgrp_t fg, bool *has_meta)
{
	struct rfl_fs *rfs = priv;
	struct rfl_group *grp;

	if (rfl_group_load(rfs, fg, &grp))
		return false;
	*has_meta = grp->meta_blk != 0;
	return !grp->resv_len || grp->resv_bad;
}

errcode_t rfl_reserve_missing(struct rfl_fs *rfs, blk64_t *missing,
			      struct rfl_resv_short *why)
{
	errcode_t ret;

	if (!rfs->meta_map) {
		ret = e2fs_meta_map_build(rfs->fs, &rfs->meta_map);
		if (ret)
			return ret;
	}
	*missing = rfl_fg_resv_missing(rfs->fs, rfs->meta_map, resv_needed,
				       rfs, why);
	return 0;
}

errcode_t rfl_group_remove(struct rfl_fs *rfs, dgrp_t fg)
{
	ext2_filsys fs = rfs->fs;
	struct rfl_group *grp;
	blk64_t blk;
	errcode_t ret;
	int err;

	ret = rfl_group_load(rfs, fg, &grp);
	if (ret || !grp->meta_blk)
		return ret;
	if (grp->in_txn)
		return RFL_ET_BAD_ARG;
	if (grp->tree.height) {
		err = ext4_btree_destroy(&grp->tree);
		if (err)
			return rfl_errcode(err);
	}
	/* unhook first, free after: a crash leaks, never dangles */
	blk = grp->meta_blk;
	rfl_set_bg_reserved(fs, fg * e2fs_flex_group_size(fs), 0);
	ret = rfs->batch ? 0 : ext2fs_flush(fs);
	if (ret)
		return ret;
	grp->meta_blk = 0;
	ext2fs_block_alloc_stats2(fs, blk, -1);
	/* the reserve goes back too (a bad one is left to reflinkck) */
	if (grp->resv_len && !grp->resv_bad)
		ext2fs_block_alloc_stats_range(fs, grp->resv_start,
					       grp->resv_len, -1);
	grp->resv_start = grp->resv_len = 0;
	return e2fs_host_set_reserve(grp->host, 0, 0, 0, 0, 0);
}

errcode_t rfl_begin(struct rfl_fs *rfs)
{
	if (rfs->in_txn)
		return RFL_ET_BAD_ARG;
	if (!(rfs->fs->flags & EXT2_FLAG_RW))
		return EXT2_ET_RO_FILSYS;
	rfs->in_txn = true;
	rfs->nr_to_free = 0;
	return 0;
}

void rfl_abort(struct rfl_fs *rfs)
{
	dgrp_t i;

	for (i = 0; i < rfs->nr_flex; i++) {
		struct rfl_group *grp = &rfs->groups[i];

		if (grp->in_txn) {
			ext4_btree_abort(&grp->tree);
			grp->in_txn = false;
		}
	}
	rfs->nr_to_free = 0;
	rfs->in_txn = false;
}

errcode_t rfl_group_bulk_load(struct rfl_group *grp, u64 nr,
			      unsigned int fill, ext4_btree_next_fn next,
			      void *priv)
{
	int err;

	err = ext4_btree_begin(&grp->tree);
	if (err)
		return rfl_errcode(err);
	err = ext4_btree_bulk_load(&grp->tree, nr, fill, next, priv);
	if (!err)
		err = ext4_btree_commit(&grp->tree);
	if (err && grp->tree.in_txn)
		ext4_btree_abort(&grp->tree);
	return err ? rfl_errcode(err) : 0;
}

errcode_t rfl_commit(struct rfl_fs *rfs)
{
	errcode_t ret = 0;
	size_t i;
	dgrp_t g;
	int err;

	if (!rfs->in_txn)
		return RFL_ET_BAD_ARG;
	for (g = 0; g < rfs->nr_flex; g++) {
		struct rfl_group *grp = &rfs->groups[g];

		if (!grp->in_txn)
			continue;
		if (ret) {
			/* an earlier group failed: leave this one as it was */
			ext4_btree_abort(&grp->tree);
			grp->in_txn = false;
			continue;
		}
		err = ext4_btree_commit(&grp->tree);
		if (err) {
			ret = rfl_errcode(err);
			if (grp->tree.in_txn)
				ext4_btree_abort(&grp->tree);
		}
		grp->in_txn = false;
	}
	/* counts are durable: only now may the blocks be reused */
	for (i = 0; !ret && i < rfs->nr_to_free; i++)
		ext2fs_block_alloc_stats_range(rfs->fs, rfs->to_free[i].start,
					       rfs->to_free[i].len, -1);
	rfs->nr_to_free = 0;
	rfs->in_txn = false;
	return ret;
}

static errcode_t queue_free(struct rfl_fs *rfs, blk64_t start, blk64_t len)
{
	struct rfl_extent *last;

	if (rfs->nr_to_free) {
		last = &rfs->to_free[rfs->nr_to_free - 1];
		if (last->start + last->len == start) {
			last->len += len;
			return 0;
		}
	}
	if (rfl_vec_grow((void **)&rfs->to_free, &rfs->max_to_free,
			 rfs->nr_to_free, sizeof(*rfs->to_free)))
		return EXT2_ET_NO_MEMORY;
	rfs->to_free[rfs->nr_to_free].start = start;
	rfs->to_free[rfs->nr_to_free].len = len;
	rfs->nr_to_free++;
	return 0;
}

struct freed_ctx {
	struct rfl_fs *rfs;
	blk64_t first;
};

static int freed_cb(void *priv, u32 start, u32 len)
{
	struct freed_ctx *fc = priv;

	return queue_free(fc->rfs, fc->first + start, len) ? -ENOMEM : 0;
}

static u64 host_allocs(const struct rfl_group *grp)
{
	struct e2fs_host_stats st;

	e2fs_host_get_stats(grp->host, &st);
	return st.allocs;
}

/* Open grp's tree for the running transaction */
static errcode_t group_join(struct rfl_fs *rfs, struct rfl_group *grp)
{
	errcode_t ret;
	int err;

	if (grp->in_txn)
		return 0;
	if (!grp->meta_blk) {
		ret = meta_create(rfs, grp, false);
		if (ret)
			return ret;
	}
	/* a reserve that is wrong could be a file's blocks: reflinkck's */
	if (grp->resv_bad)
		return RFL_ET_BAD_RESERVE;
	err = ext4_btree_begin(&grp->tree);
	if (err)
		return rfl_errcode(err);
	grp->in_txn = true;
	grp->txn_allocs = host_allocs(grp);
	return 0;
}

/*
 * A commit in the middle of rfl_adjust once the transaction has taken
 * the budget of FORMAT.md 4.4, so that no commit needs more than the
 * reserve holds beyond the tree.  Counts committed early are at worst
 * too high after a crash (7.5), which the checker repairs.
 */
static errcode_t group_step(struct rfl_group *grp,
			    const struct ext4_refcount_resv *r)
{
	int err;

	if (host_allocs(grp) - grp->txn_allocs < r->budget)
		return 0;
	err = ext4_btree_commit(&grp->tree);
	if (err) {
		if (grp->tree.in_txn)
			ext4_btree_abort(&grp->tree);
		grp->in_txn = false;
		return rfl_errcode(err);
	}
	err = ext4_btree_begin(&grp->tree);
	if (err) {
		grp->in_txn = false;
		return rfl_errcode(err);
	}
	grp->txn_allocs = host_allocs(grp);
	return 0;
}

/*
 * [start, start + len) of grp, in steps of r.piece blocks, committing
 * between steps when the transaction has allocated its budget
 */
static errcode_t group_adjust(struct rfl_group *grp, blk64_t start,
			      blk64_t len, int delta)
{
	struct ext4_refcount_resv r;
	struct freed_ctx fc = { .rfs = grp->rfs, .first = grp->first };
	u32 gb = grp->nr_blocks > 0xffffffffull ? 0xffffffffu :
		 (u32)grp->nr_blocks;
	blk64_t step;
	errcode_t ret;
	int err;

	if (ext4_refcount_resv_calc(grp->rfs->fs->blocksize, gb, &r))
		return RFL_ET_BAD_ARG;
	while (len) {
		step = len < r.piece ? len : r.piece;
		err = ext4_refcount_adjust(&grp->tree, gb,
					   (u32)(start - grp->first),
					   (u32)step, delta, freed_cb, &fc);
		if (err)
			return rfl_errcode(err);
		start += step;
		len -= step;
		if (len) {
			ret = group_step(grp, &r);
			if (ret)
				return ret;
		}
	}
	return 0;
}

errcode_t rfl_adjust(struct rfl_fs *rfs, blk64_t start, blk64_t len,
		     int delta)
{
	ext2_filsys fs = rfs->fs;
	blk64_t end = start + len;
	errcode_t ret;

	if (!rfs->in_txn)
		return RFL_ET_BAD_ARG;
	if (!rfs->meta_map) {
		ret = e2fs_meta_map_build(fs, &rfs->meta_map);
		if (ret)
			return ret;
	}
	if (!e2fs_meta_map_data_range(fs, rfs->meta_map, start, len))
		return RFL_ET_BAD_RANGE;

	while (start < end) {
		struct rfl_group *grp;
		blk64_t piece;

		ret = rfl_group_load(rfs, rfl_block_flex_group(rfs, start),
				     &grp);
		if (ret)
			return ret;
		piece = grp->first + grp->nr_blocks - start;
		if (piece > end - start)
			piece = end - start;

		if (delta < 0 && !grp->meta_blk) {
			/* no tree: every block is used once */
			ret = queue_free(rfs, start, piece);
			if (ret)
				return ret;
			start += piece;
			continue;
		}
		ret = group_join(rfs, grp);
		if (ret)
			return ret;
		ret = group_adjust(grp, start, piece, delta);
		if (ret)
			return ret;
		start += piece;
	}
	return 0;
}

errcode_t rfl_refcount(struct rfl_fs *rfs, blk64_t blk, __u32 *count)
{
	ext2_filsys fs = rfs->fs;
	struct rfl_group *grp;
	errcode_t ret;
	u32 c;
	int err;

	if (blk < fs->super->s_first_data_block ||
	    blk >= ext2fs_blocks_count(fs->super))
		return RFL_ET_BAD_RANGE;
	if (!fs->block_map) {
		ret = ext2fs_read_block_bitmap(fs);
		if (ret)
			return ret;
	}
	if (!ext2fs_test_block_bitmap2(fs->block_map, blk)) {
		*count = 0;
		return 0;
	}
	ret = rfl_group_load(rfs, rfl_block_flex_group(rfs, blk), &grp);
	if (ret)
		return ret;
	if (!grp->tree.height) {
		*count = 1;
		return 0;
	}
	err = ext4_refcount_get(&grp->tree, (u32)(blk - grp->first), &c);
	if (err)
		return rfl_errcode(err);
	*count = c;
	return 0;
}

errcode_t rfl_for_each_record(struct rfl_fs *rfs, rfl_record_fn fn,
			      void *priv)
{
	struct ext4_btree_cursor cur;
	struct ext4_refcount_rec rec;
	struct rfl_group *grp;
	errcode_t ret;
	dgrp_t fg;
	int err, stop;

	for (fg = 0; fg < rfs->nr_flex; fg++) {
		ret = rfl_group_load(rfs, fg, &grp);
		if (ret)
			return ret;
		if (!grp->tree.height)
			continue;
		ext4_btree_cursor_init(&cur, &grp->tree);
		for (err = ext4_btree_cursor_first(&cur); !err;
		     err = ext4_btree_cursor_next(&cur)) {
			ext4_refcount_rec_decode(ext4_btree_cursor_key(&cur),
						 ext4_btree_cursor_val(&cur),
						 &rec);
			stop = fn(priv, fg, grp->first + rec.start, rec.len,
				  rec.count);
			if (stop) {
				ext4_btree_cursor_release(&cur);
				return stop;
			}
		}
		if (err != -ENOENT)
			return rfl_errcode(err);
	}
	return 0;
}

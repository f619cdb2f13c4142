// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_group.c - per-flex-group metadata blocks and refcount trees, and
 * refcount transactions that span flex groups.
 */
#include <stdlib.h>
#include <string.h>

#include "reflink/rfl.h"

dgrp_t rfl_block_flex_group(const struct rfl_fs *rfs, blk64_t blk)
{
	ext2_filsys fs = rfs->fs;
	blk64_t per_flex = (blk64_t)e2fs_flex_group_size(fs) *
			   fs->super->s_blocks_per_group;

	return (blk - fs->super->s_first_data_block) / per_flex;
}

static errcode_t meta_error(const struct ext4_rfx_problem *p)
{
	switch (p->code) {
	case EXT4_RFX_BAD_MAGIC:
		return RFL_ET_BAD_MAGIC;
	case EXT4_RFX_BAD_CSUM:
		return RFL_ET_BAD_CSUM;
	case EXT4_RFX_BAD_VERSION:
	case EXT4_RFX_UNKNOWN_SLOT_TYPE:
		return RFL_ET_BAD_VERSION;
	default:
		return RFL_ET_CORRUPT_META;
	}
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

errcode_t rfl_group_load(struct rfl_fs *rfs, dgrp_t fg,
			 struct rfl_group **grpp)
{
	ext2_filsys fs = rfs->fs;
	struct rfl_group *grp;
	struct ext4_rfx_problem p;
	__u32 rel;
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

	rel = rfl_bg_reserved(fs, fg * e2fs_flex_group_size(fs));
	grp->meta_blk = 0;
	if (rel) {
		if (rel >= grp->nr_blocks)
			return RFL_ET_CORRUPT_META;
		grp->meta_blk = grp->first + rel;
		ret = io_channel_read_blk64(fs->io, grp->meta_blk, 1,
					    grp->meta);
		if (ret)
			return ret;
		if (ext4_rfx_check(grp->meta, fs->blocksize, rfs->csum_seed,
				   grp->meta_blk, fg, &p))
			return meta_error(&p);
		ext4_rfx_load_root(grp->meta, &grp->tree);
	}
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

/*
 * Give grp a metadata block with an empty tree: write the block, make it
 * durable, then point bg_reserved at it (FORMAT.md 7.4).
 */
static errcode_t meta_create(struct rfl_fs *rfs, struct rfl_group *grp)
{
	ext2_filsys fs = rfs->fs;
	u64 blk;
	errcode_t ret;
	int err;

	err = e2fs_host_ops.alloc_block(grp->host, grp->first + 1, &blk);
	if (err)
		return err == -ENOSPC ? RFL_ET_NO_SPACE : (errcode_t)-err;
	ext4_rfx_init(grp->meta, fs->blocksize, blk, grp->fg);
	grp->meta_blk = blk;
	ret = meta_write(rfs, grp);
	if (!ret && !rfs->batch)
		ret = io_channel_flush(fs->io);
	if (ret) {
		grp->meta_blk = 0;
		ext2fs_block_alloc_stats2(fs, blk, -1);
		return ret;
	}
	rfl_set_bg_reserved(fs, grp->fg * e2fs_flex_group_size(fs),
			    (__u32)(blk - grp->first));
	ext4_rfx_load_root(grp->meta, &grp->tree);
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
	return meta_create(rfs, grp);
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
			return err == -EFSCORRUPTED || err == -EFSBADCRC ?
			       RFL_ET_CORRUPT_TREE : (errcode_t)-err;
	}
	/* unhook first, free after: a crash leaks, never dangles */
	blk = grp->meta_blk;
	rfl_set_bg_reserved(fs, fg * e2fs_flex_group_size(fs), 0);
	ret = rfs->batch ? 0 : ext2fs_flush(fs);
	if (ret)
		return ret;
	grp->meta_blk = 0;
	ext2fs_block_alloc_stats2(fs, blk, -1);
	return 0;
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

static errcode_t tree_error(int err)
{
	switch (err) {
	case -EFSCORRUPTED:
	case -EFSBADCRC:
		return RFL_ET_CORRUPT_TREE;
	case -ENOSPC:
		return RFL_ET_NO_SPACE;
	case -EOVERFLOW:
		return RFL_ET_COUNT_OVERFLOW;
	case -EFBIG:
		return RFL_ET_TREE_TOO_DEEP;
	case -EINVAL:
		return RFL_ET_BAD_ARG;
	default:
		return err < 0 ? (errcode_t)-err : (errcode_t)err;
	}
}

errcode_t rfl_group_bulk_load(struct rfl_group *grp, u64 nr,
			      unsigned int fill, ext4_btree_next_fn next,
			      void *priv)
{
	int err;

	err = ext4_btree_begin(&grp->tree);
	if (err)
		return tree_error(err);
	err = ext4_btree_bulk_load(&grp->tree, nr, fill, next, priv);
	if (!err)
		err = ext4_btree_commit(&grp->tree);
	if (err && grp->tree.in_txn)
		ext4_btree_abort(&grp->tree);
	return err ? tree_error(err) : 0;
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
			ret = tree_error(err);
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
	if (rfs->nr_to_free == rfs->max_to_free) {
		size_t n = rfs->max_to_free ? rfs->max_to_free * 2 : 64;
		void *p = realloc(rfs->to_free, n * sizeof(*rfs->to_free));

		if (!p)
			return EXT2_ET_NO_MEMORY;
		rfs->to_free = p;
		rfs->max_to_free = n;
	}
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

/* Open grp's tree for the running transaction */
static errcode_t group_join(struct rfl_fs *rfs, struct rfl_group *grp)
{
	errcode_t ret;
	int err;

	if (grp->in_txn)
		return 0;
	if (!grp->meta_blk) {
		ret = meta_create(rfs, grp);
		if (ret)
			return ret;
	}
	err = ext4_btree_begin(&grp->tree);
	if (err)
		return tree_error(err);
	grp->in_txn = true;
	return 0;
}

errcode_t rfl_adjust(struct rfl_fs *rfs, blk64_t start, blk64_t len,
		     int delta)
{
	ext2_filsys fs = rfs->fs;
	blk64_t end = start + len;
	errcode_t ret;
	int err;

	if (!rfs->in_txn)
		return RFL_ET_BAD_ARG;
	if (!len || start < fs->super->s_first_data_block || end < start ||
	    end > ext2fs_blocks_count(fs->super))
		return RFL_ET_BAD_RANGE;
	if (!rfs->meta_map) {
		ret = e2fs_meta_map_build(fs, &rfs->meta_map);
		if (ret)
			return ret;
	}
	if (e2fs_meta_map_overlaps(rfs->meta_map, start, len))
		return RFL_ET_BAD_RANGE;

	while (start < end) {
		struct rfl_group *grp;
		struct freed_ctx fc;
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
		fc.rfs = rfs;
		fc.first = grp->first;
		err = ext4_refcount_adjust(&grp->tree,
					   grp->nr_blocks > 0xffffffffull ?
					   0xffffffffu : (u32)grp->nr_blocks,
					   (u32)(start - grp->first),
					   (u32)piece, delta, freed_cb, &fc);
		if (err)
			return tree_error(err);
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
		return tree_error(err);
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
			return tree_error(err);
	}
	return 0;
}

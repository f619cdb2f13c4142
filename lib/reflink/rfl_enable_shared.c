// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_enable_shared.c - turn a shared_blocks image into a reflink one
 * (docs/FORMAT.md 9, "Turning it on"): the sharing that mkreflink
 * --strip kept, or that Android's e2fsdroid -s made, counted into
 * refcount trees again.
 *
 * The counts come from the checker's recount (lib/check/recount.h):
 * every leaf extent of every in-use inode, swept into the expected
 * records; each flex group's tree is bulk loaded from them (7.3) under
 * a new metadata block, the sharers get EXT4_REFLINK_FL, and only then
 * does one superblock write clear shared_blocks and set reflink.  A
 * crash before that write leaves a shared_blocks image with a few
 * blocks marked in use that nothing owns (stock e2fsck reclaims them)
 * and bg_reserved values stock tools ignore.
 */
#include <stdlib.h>

#include "check/recount.h"
#include "reflink/rfl.h"

/* repair's fill: room for later inserts without splitting at once */
#define ENABLE_FILL	75

static void no_bad_inode(void *priv, ext2_ino_t ino, errcode_t err)
{
	(void)priv; (void)ino; (void)err;
}

/*
 * A shared block must be file data only: never fs metadata, never an
 * inode's index, xattr or block-mapped block (e2fsck -f judges those;
 * a count over them would let a writer free metadata).
 */
static errcode_t check_records(struct rfl_fs *rfs, const struct rfl_scan *s,
			       const struct rfl_rec *e, size_t ne)
{
	size_t i, j = 0;

	for (i = 0; i < ne; i++) {
		if (e[i].count > 0xffffffffull)
			return RFL_ET_COUNT_OVERFLOW;
		if (e2fs_meta_map_overlaps(rfs->meta_map, e[i].start,
					   e[i].len))
			return RFL_ET_BAD_RANGE;
		while (j < s->nr_owned &&
		       s->owned[j].start + s->owned[j].len <= e[i].start)
			j++;
		if (j < s->nr_owned &&
		    s->owned[j].start < e[i].start + e[i].len)
			return RFL_ET_BAD_RANGE;
	}
	return 0;
}

/* Flex group fg: a metadata block, and its tree from records [e0, e1) */
static errcode_t load_group(struct rfl_fs *rfs, dgrp_t fg,
			    const struct rfl_rec *e, size_t ne)
{
	struct rfl_group *grp;
	errcode_t ret;

	ret = rfl_group_create(rfs, fg);
	/* a full flex group with nothing shared gets its block later */
	if (ret == RFL_ET_NO_SPACE && !ne)
		return 0;
	if (ret)
		return ret;
	ret = rfl_group_load(rfs, fg, &grp);
	if (ret || !ne)
		return ret;
	ret = rfl_load_records(grp, e, ne, ENABLE_FILL);
	if (ret)
		return ret;
	return rfl_group_release(rfs, fg);
}

struct flagger {
	ext2_filsys fs;
	errcode_t err;
	unsigned long long nr;
};

static void flag_inode(void *priv, ext2_ino_t ino)
{
	struct flagger *f = priv;
	struct ext2_inode inode;
	errcode_t ret;

	if (f->err)
		return;
	ret = ext2fs_read_inode(f->fs, ino, &inode);
	if (!ret) {
		inode.i_flags |= EXT4_REFLINK_FL;
		ret = ext2fs_write_inode(f->fs, ino, &inode);
	}
	f->err = ret;
	f->nr++;
}

errcode_t rfl_enable_shared(struct rfl_fs *rfs, unsigned long long *shared,
			    unsigned long long *files)
{
	ext2_filsys fs = rfs->fs;
	struct ext2_super_block *sb = fs->super;
	struct flagger f = { .fs = fs };
	struct rfl_scan scan = { 0 };
	struct rfl_rec *exp = NULL;
	size_t nexp = 0, i, e0;
	blk64_t per_flex, first;
	dgrp_t g, fg;
	errcode_t ret;

	if (!(fs->flags & EXT2_FLAG_RW))
		return EXT2_ET_RO_FILSYS;
	if (rfl_has_feature(fs))
		return RFL_ET_HAS_FEATURE;
	if (!(sb->s_feature_ro_compat & EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS))
		return RFL_ET_BAD_ARG;
	/* everything else reflink needs */
	sb->s_feature_ro_compat &= ~EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS;
	ret = rfl_check_features(fs);
	sb->s_feature_ro_compat |= EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS;
	if (ret)
		return ret;

	ret = ext2fs_read_bitmaps(fs);
	if (!ret && !rfs->meta_map)
		ret = e2fs_meta_map_build(fs, &rfs->meta_map);
	if (!ret)
		ret = rfl_scan_files(fs, no_bad_inode, NULL, NULL, &scan);
	if (!ret && scan.bad_inodes)
		ret = RFL_ET_BAD_INODES;
	if (!ret)
		ret = rfl_expected_records(fs, scan.runs, scan.nr_runs, &exp,
					   &nexp);
	if (!ret)
		ret = check_records(rfs, &scan, exp, nexp);
	if (ret)
		goto out;

	/* without the bit bg_reserved means nothing: stale values go */
	for (g = 0; g < fs->group_desc_count; g++)
		if (rfl_bg_reserved(fs, g))
			rfl_set_bg_reserved(fs, g, 0);

	/*
	 * The trees, every metadata block flushed before the one
	 * ext2fs_flush that writes the descriptors naming them
	 */
	per_flex = (blk64_t)e2fs_flex_group_size(fs) * sb->s_blocks_per_group;
	rfs->batch = true;
	for (fg = 0, i = 0; !ret && fg < rfs->nr_flex; fg++) {
		first = ext2fs_group_first_block2(fs, fg *
						  e2fs_flex_group_size(fs));
		for (e0 = i; i < nexp && exp[i].start < first + per_flex; i++)
			;
		ret = load_group(rfs, fg, exp + e0, i - e0);
	}
	rfs->batch = false;
	if (!ret)
		ret = rfl_unflagged_sharers(scan.runs, scan.nr_runs, exp, nexp,
					    flag_inode, &f);
	if (!ret)
		ret = f.err;
	if (!ret)
		ret = io_channel_flush(fs->io);
	if (!ret)
		ret = ext2fs_flush(fs);
	if (ret)
		goto out;

	/* the switch: one superblock write */
	sb->s_feature_ro_compat &= ~EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS;
	sb->s_feature_ro_compat |= EXT4_FEATURE_RO_COMPAT_REFLINK;
	ext2fs_mark_super_dirty(fs);
	ret = ext2fs_flush(fs);
	if (ret)
		goto out;
	if (shared)
		for (*shared = 0, i = 0; i < nexp; i++)
			*shared += exp[i].len;
	if (files)
		*files = f.nr;
out:
	free(exp);
	rfl_scan_free(&scan);
	return ret;
}

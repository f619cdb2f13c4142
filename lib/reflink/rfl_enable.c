// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_enable.c - turn the reflink feature on and off on an image.
 */
#include "flexbg/flexbg_e2fs.h"
#include "reflink/rfl.h"

/* Without the bit, every flex group needs a block and a reserve */
static bool all_need(void *priv, dgrp_t fg, bool *has_meta)
{
	(void)priv;
	(void)fg;
	*has_meta = false;
	return true;
}

/*
 * A reserve where there is room; elsewhere a block without one (or none
 * in a flex group full of tables), as before reserves: mkreflink refuses
 * such an image beforehand (rfl_enable_missing), tests make them.
 */
static errcode_t add_one(struct rfl_fs *rfs, dgrp_t fg)
{
	errcode_t ret = rfl_group_add_reserve(rfs, fg);

	if (ret == RFL_ET_NO_RESERVE_ROOM)
		ret = rfl_group_create(rfs, fg);
	return ret == RFL_ET_NO_SPACE ? 0 : ret;
}

/* The bit is on: add what an image made before the reserve lacks */
static errcode_t add_reserves(struct rfl_fs *rfs)
{
	errcode_t ret = 0;
	dgrp_t fg;

	rfs->batch = true;
	for (fg = 0; fg < rfs->nr_flex && !ret; fg++)
		ret = add_one(rfs, fg);
	rfs->batch = false;
	if (!ret)
		ret = io_channel_flush(rfs->fs->io);
	if (!ret)
		ret = ext2fs_flush(rfs->fs);
	return ret;
}

errcode_t rfl_enable_missing(struct rfl_fs *rfs, blk64_t *missing,
			     struct rfl_resv_short *why)
{
	ext2_filsys fs = rfs->fs;
	errcode_t ret;

	if (rfl_has_feature(fs))
		return rfl_reserve_missing(rfs, missing, why);
	if (!rfs->meta_map) {
		ret = e2fs_meta_map_build(fs, &rfs->meta_map);
		if (ret)
			return ret;
	}
	if (!fs->block_map) {
		ret = ext2fs_read_block_bitmap(fs);
		if (ret)
			return ret;
	}
	*missing = rfl_fg_resv_missing(fs, rfs->meta_map, all_need, NULL,
				       why);
	return 0;
}

errcode_t rfl_enable(struct rfl_fs *rfs)
{
	ext2_filsys fs = rfs->fs;
	dgrp_t g, fg;
	errcode_t ret;

	if (!(fs->flags & EXT2_FLAG_RW))
		return EXT2_ET_RO_FILSYS;
	ret = rfl_check_features(fs);
	if (ret)
		return ret;
	if (rfl_has_feature(fs))
		return add_reserves(rfs);

	/*
	 * Without the bit bg_reserved means nothing, so clear stale values
	 * before the bit makes them pointers.  The bit goes on first: a
	 * flex group without a metadata block is valid (it gets one on its
	 * first share), so a crash below leaves a sound image.
	 */
	for (g = 0; g < fs->group_desc_count; g++)
		if (rfl_bg_reserved(fs, g))
			rfl_set_bg_reserved(fs, g, 0);
	fs->super->s_feature_ro_compat |= EXT4_FEATURE_RO_COMPAT_REFLINK;
	ext2fs_mark_super_dirty(fs);
	ret = ext2fs_flush(fs);
	if (ret)
		return ret;

	/*
	 * Every metadata block is written and flushed before the one
	 * ext2fs_flush that writes the descriptors pointing at them and
	 * the bitmap marking them: a crash before it leaves no pointer.
	 */
	rfs->batch = true;
	for (fg = 0; fg < rfs->nr_flex && !ret; fg++)
		ret = add_one(rfs, fg);
	rfs->batch = false;
	if (!ret)
		ret = io_channel_flush(fs->io);
	if (!ret)
		ret = ext2fs_flush(fs);
	return ret;
}

/*
 * Descriptors ext2fs_check_desc refuses: no bitmap or tree can be read
 * through them.  Only the superblock is written (step 2 of FORMAT.md 9,
 * shared_blocks set as files may share): stock e2fsck then repairs the
 * descriptors from their backups and frees the old trees, and
 * mkreflink --enable counts the sharing again.
 */
static errcode_t strip_super_only(ext2_filsys fs, bool *shared_left)
{
	errcode_t ret;

	fs->super->s_feature_ro_compat &= ~EXT4_FEATURE_RO_COMPAT_REFLINK;
	fs->super->s_feature_ro_compat |= EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS;
	fs->flags |= EXT2_FLAG_SUPER_ONLY;
	ext2fs_mark_super_dirty(fs);
	ret = ext2fs_flush(fs);
	if (!ret && shared_left)
		*shared_left = true;
	return ret;
}

errcode_t rfl_disable(struct rfl_fs *rfs, bool *shared_left)
{
	ext2_filsys fs = rfs->fs;
	struct rfl_group *grp;
	bool shared = false;
	errcode_t ret;
	dgrp_t fg;

	if (!(fs->flags & EXT2_FLAG_RW))
		return EXT2_ET_RO_FILSYS;
	if (!rfl_has_feature(fs))
		return RFL_ET_NO_FEATURE;
	if (ext2fs_check_desc(fs))
		return strip_super_only(fs, shared_left);
	for (fg = 0; fg < rfs->nr_flex; fg++) {
		ret = rfl_group_load(rfs, fg, &grp);
		if (ret)
			return ret;
		if (grp->tree.nr_records)
			shared = true;
		/* one flex group in memory at a time, not 10240 at 20 TiB */
		ret = rfl_group_release(rfs, fg);
		if (ret)
			return ret;
	}

	/*
	 * One superblock write turns reflink off and, if blocks are still
	 * shared, shared_blocks on; then the trees go.  A crash in between
	 * leaves blocks marked in use that nothing owns, which stock e2fsck
	 * reclaims (FORMAT.md 9).
	 */
	fs->super->s_feature_ro_compat &= ~EXT4_FEATURE_RO_COMPAT_REFLINK;
	if (shared)
		fs->super->s_feature_ro_compat |=
			EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS;
	ext2fs_mark_super_dirty(fs);
	ret = ext2fs_flush(fs);
	if (ret)
		return ret;

	/* the bit is off on disk: stale pointers and leaks are harmless */
	rfs->batch = true;
	for (fg = 0; fg < rfs->nr_flex; fg++) {
		ret = rfl_group_remove(rfs, fg);
		if (!ret)
			ret = rfl_group_release(rfs, fg);
		if (ret)
			break;
	}
	rfs->batch = false;
	if (ret)
		return ret;
	if (shared_left)
		*shared_left = shared;
	return ext2fs_flush(fs);
}

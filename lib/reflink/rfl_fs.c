// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_fs.c - open and close a reflink image, feature checks, bg_reserved.
 */
#include <stdlib.h>
#include <string.h>

#include "reflink/rfl.h"

bool rfl_has_feature(ext2_filsys fs)
{
	return fs->super->s_feature_ro_compat & EXT4_FEATURE_RO_COMPAT_REFLINK;
}

errcode_t rfl_check_features(ext2_filsys fs)
{
	struct ext2_super_block *sb = fs->super;

	if (!ext2fs_has_feature_64bit(sb) ||
	    EXT2_DESC_SIZE(sb) < EXT2_MIN_DESC_SIZE_64BIT)
		return RFL_ET_NEED_64BIT;
	if (!ext2fs_has_feature_extents(sb))
		return RFL_ET_NEED_EXTENTS;
	if (!ext2fs_has_feature_flex_bg(sb))
		return RFL_ET_NEED_FLEX_BG;
	if (ext2fs_has_feature_bigalloc(sb))
		return RFL_ET_BIGALLOC;
	if (sb->s_feature_ro_compat & EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS)
		return RFL_ET_SHARED_BLOCKS;
	/*
	 * The field as written (FORMAT.md 1), not the flex group size
	 * e2fs_flex_group_size() caps at the group count: a flipped
	 * s_log_groups_per_flex on a small image is still refused
	 */
	if (sb->s_log_groups_per_flex >= 32 ||
	    ((__u64)1 << sb->s_log_groups_per_flex) * sb->s_blocks_per_group >
	    0x100000000ull)
		return RFL_ET_FLEXBG_TOO_BIG;
	return 0;
}

/* Features libext2fs cannot handle, other than our own bit */
static errcode_t check_known_features(ext2_filsys fs, bool rw)
{
	struct ext2_super_block *sb = fs->super;
	__u32 ro = sb->s_feature_ro_compat & ~EXT4_FEATURE_RO_COMPAT_REFLINK;

	if (sb->s_feature_incompat & ~EXT2_LIB_FEATURE_INCOMPAT_SUPP)
		return RFL_ET_UNKNOWN_FEATURE;
	if (rw && (ro & ~EXT2_LIB_FEATURE_RO_COMPAT_SUPP))
		return RFL_ET_UNKNOWN_FEATURE;
	return 0;
}

errcode_t rfl_device_size(ext2_filsys fs, const char *device, blk64_t *size)
{
	if (rfl_mem_io_size(fs->io, fs->blocksize, size))
		return 0;
	return ext2fs_get_device_size2(device, fs->blocksize, size);
}

/* A short device: the blocks past its end are neither read nor written */
static errcode_t check_device_size(ext2_filsys fs, const char *device)
{
	blk64_t size;
	errcode_t ret;

	ret = rfl_device_size(fs, device, &size);
	if (ret == EXT2_ET_UNIMPLEMENTED)
		return 0;
	if (ret)
		return ret;
	return size < ext2fs_blocks_count(fs->super) ? RFL_ET_SHORT_DEVICE : 0;
}

/* RFL_OPEN_DESC_ON_DEMAND holds a descriptor table up to this size */
#define DESC_HELD_MAX	(1u << 20)

/* Can every descriptor block be read?  (RFL_OPEN_DESC_ON_DEMAND) */
static errcode_t descs_readable(ext2_filsys fs)
{
	blk64_t sb = fs->super->s_first_data_block, i;
	char *buf = NULL;
	errcode_t ret;

	ret = ext2fs_get_mem(fs->blocksize, &buf);
	for (i = 0; !ret && i < fs->desc_blocks; i++)
		ret = io_channel_read_blk64(fs->io,
				ext2fs_descriptor_block_loc2(fs, sb, i), 1,
				buf);
	ext2fs_free_mem(&buf);
	return ret;
}

errcode_t rfl_open(const char *device, int flags, const char *undo_file,
		   struct rfl_fs **rfsp)
{
	return rfl_open_io(device, flags, undo_file, NULL, rfsp);
}

errcode_t rfl_open_io(const char *device, int flags, const char *undo_file,
		      io_manager io, struct rfl_fs **rfsp)
{
	int open_flags = EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP;
	io_manager backing = io ? io : unix_io_manager;
	struct rfl_fs *rfs;
	int mount_flags = 0;
	errcode_t ret;

	*rfsp = NULL;
	/* read-only: no fsync, not even the one unix_io makes on open */
	if (!io)
		io = (flags & RFL_OPEN_RW) ? unix_io_manager :
					     rfl_ro_io_manager;
	ret = io == rfl_mem_io_manager ? 0 :
	      ext2fs_check_if_mounted(device, &mount_flags);
	if (ret)
		return ret;
	if (mount_flags & EXT2_MF_MOUNTED)
		return RFL_ET_MOUNTED;

	rfs = calloc(1, sizeof(*rfs));
	if (!rfs)
		return EXT2_ET_NO_MEMORY;
	rfs->flags = flags;
	rfs->device = strdup(device);
	if (!rfs->device) {
		free(rfs);
		return EXT2_ET_NO_MEMORY;
	}
	if (flags & RFL_OPEN_RW) {
		/* FORCE gets past our own RO_COMPAT bit; the rest is checked */
		open_flags |= EXT2_FLAG_RW | EXT2_FLAG_FORCE;
		if ((flags & RFL_OPEN_UNDO) && undo_file) {
			ret = set_undo_io_backing_manager(backing);
			if (!ret)
				ret = set_undo_io_backup_file((char *)undo_file);
			if (ret)
				goto fail;
			io = undo_io_manager;
		}
	}
	if ((flags & RFL_OPEN_DESC_ON_DEMAND) && !(flags & RFL_OPEN_RW))
		open_flags |= EXT2_FLAG_SUPER_ONLY;
	ret = ext2fs_open2(device, NULL, open_flags, 0, 0, io, &rfs->fs);
	/* a table of up to 1 MiB (2 TiB of disk) is held: faster */
	if (!ret && (open_flags & EXT2_FLAG_SUPER_ONLY) &&
	    (__u64)rfs->fs->desc_blocks * rfs->fs->blocksize <= DESC_HELD_MAX) {
		ext2fs_free(rfs->fs);
		rfs->fs = NULL;
		open_flags &= ~EXT2_FLAG_SUPER_ONLY;
		ret = ext2fs_open2(device, NULL, open_flags, 0, 0, io,
				   &rfs->fs);
	}
	if (!ret && (open_flags & EXT2_FLAG_SUPER_ONLY))
		ret = descs_readable(rfs->fs);
	if (ret)
		goto fail;
	/*
	 * Bitmaps as trees of extents, as e2fsck makes them: memory follows
	 * the runs, not the disk (a bit array of a 20 TiB disk is 640 MiB,
	 * zeroed page by page); ext2fs_check_desc below makes one too
	 */
	rfs->fs->default_bitmap_type = EXT2FS_BMAP64_RBTREE;
	ret = check_known_features(rfs->fs, flags & RFL_OPEN_RW);
	if (!ret && !(flags & RFL_OPEN_NO_FEATURE) &&
	    !rfl_has_feature(rfs->fs))
		ret = RFL_ET_NO_FEATURE;
	if (!ret && rfl_has_feature(rfs->fs))
		ret = rfl_check_features(rfs->fs);
	if (!ret && (flags & RFL_OPEN_RW) && !(flags & RFL_OPEN_ANY_SIZE))
		ret = check_device_size(rfs->fs, device);
	/*
	 * What libext2fs trusts when it sizes and reads the bitmaps: a first
	 * data block other than mke2fs's overruns its buffers, a bitmap or
	 * inode table out of place is written where it points (both found
	 * by tests/fuzz).  Relocating them is e2fsck's job.
	 */
	if (!ret && rfs->fs->super->s_first_data_block !=
		    (rfs->fs->blocksize == 1024 &&
		     !ext2fs_has_feature_bigalloc(rfs->fs->super) ? 1U : 0U))
		ret = EXT2_ET_CORRUPT_SUPERBLOCK;
	if (!ret && !(flags & RFL_OPEN_BAD_DESC))
		ret = ext2fs_check_desc(rfs->fs);
	if (ret)
		goto fail;

	rfs->csum_seed = e2fs_host_csum_seed(rfs->fs);
	rfs->nr_flex = e2fs_flex_group_count(rfs->fs);
	rfs->groups = calloc(rfs->nr_flex, sizeof(*rfs->groups));
	if (!rfs->groups) {
		ret = EXT2_ET_NO_MEMORY;
		goto fail;
	}
	*rfsp = rfs;
	return 0;
fail:
	rfl_abandon(rfs);
	return ret;
}

static void release_groups(struct rfl_fs *rfs)
{
	dgrp_t i;

	for (i = 0; rfs->groups && i < rfs->nr_flex; i++) {
		struct rfl_group *grp = &rfs->groups[i];

		if (grp->in_txn)
			ext4_btree_abort(&grp->tree);
		if (grp->host)
			e2fs_host_close(grp->host);
		free(grp->meta);
	}
	free(rfs->groups);
	rfs->groups = NULL;
	e2fs_meta_map_free(rfs->meta_map);
	rfs->meta_map = NULL;
}

void rfl_abandon(struct rfl_fs *rfs)
{
	if (!rfs)
		return;
	release_groups(rfs);
	if (rfs->fs) {
		/* nothing more may reach the disk */
		rfs->fs->flags &= ~EXT2_FLAG_DIRTY;
		ext2fs_free(rfs->fs);
	}
	free(rfs->to_free);
	free(rfs->device);
	free(rfs);
}

errcode_t rfl_close(struct rfl_fs *rfs)
{
	errcode_t ret = 0, ret2;
	dgrp_t i;

	if (rfs->in_txn)
		rfl_abort(rfs);
	for (i = 0; i < rfs->nr_flex; i++) {
		struct rfl_group *grp = &rfs->groups[i];

		if (grp->host) {
			ret2 = e2fs_host_close(grp->host);
			grp->host = NULL;
			if (ret2 && !ret)
				ret = ret2;
		}
	}
	release_groups(rfs);
	ret2 = ext2fs_close_free(&rfs->fs);
	if (ret2 && !ret)
		ret = ret2;
	free(rfs->to_free);
	free(rfs->device);
	free(rfs);
	return ret;
}

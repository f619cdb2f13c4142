// SPDX-License-Identifier: GPL-2.0
/*
 * pass_floor.c - pass 0: the filesystem layer reflinkck stands on,
 * checked before anything is read through it.
 *
 * The superblock's size against the device's (a short image is never
 * read past its end nor written), the group descriptors as libext2fs's
 * ext2fs_check_desc judges them, every bg_checksum (FORMAT.md 8.3; a
 * bg_reserved behind a wrong checksum is trusted only if it names a
 * valid metadata block of its flex group), and the feature bit itself
 * (trees left without it).  Where the floor is broken nothing is
 * repaired: the run stops with the commands that recover.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "check/check_int.h"

/* The first group whose bitmaps or inode table lie outside the fs */
static void name_bad_group(ext2_filsys fs, char *buf, size_t len)
{
	blk64_t lo = fs->super->s_first_data_block;
	blk64_t hi = ext2fs_blocks_count(fs->super);
	static const char *const what[] = {
		"block bitmap", "inode bitmap", "inode table",
	};
	blk64_t loc[3];
	dgrp_t g;
	int i;

	buf[0] = 0;
	for (g = 0; g < fs->group_desc_count; g++) {
		loc[0] = ext2fs_block_bitmap_loc(fs, g);
		loc[1] = ext2fs_inode_bitmap_loc(fs, g);
		loc[2] = ext2fs_inode_table_loc(fs, g);
		for (i = 0; i < 3; i++) {
			if (loc[i] >= lo && loc[i] < hi &&
			    (i < 2 || loc[i] + fs->inode_blocks_per_group <=
			     hi))
				continue;
			snprintf(buf, len, "; group %u's %s is at block %llu",
				 g, what[i], (unsigned long long)loc[i]);
			return;
		}
	}
}

static bool is_regular(const char *dev)
{
	struct stat st;

	return !stat(dev, &st) && S_ISREG(st.st_mode);
}

/* Superblock geometry against the device: exit 8 if the device is short */
static int check_size(struct checker *c)
{
	ext2_filsys fs = c->fs;
	struct rfl_pctx pctx = { .dev = c->o->device };
	blk64_t size;
	errcode_t ret;

	ret = rfl_device_size(fs, c->o->device, &size);
	if (ret == EXT2_ET_UNIMPLEMENTED)
		return 0;
	if (ret) {
		rfl_ck_fail(c, ret, "finding the size of the device");
		return RFL_EXIT_ERROR;
	}
	if (size >= ext2fs_blocks_count(fs->super))
		return 0;
	pctx.expected = ext2fs_blocks_count(fs->super);
	pctx.len = fs->blocksize;
	pctx.found = size;
	pctx.blk2 = pctx.expected * fs->blocksize;
	rfl_fix_problem(&c->ctx, PR_0_SHORT_DEVICE, &pctx);
	if (is_regular(c->o->device))
		rfl_fix_problem(&c->ctx, PR_0_RECOVER_SHORT, &pctx);
	return RFL_EXIT_ERROR;
}

/* Does the first group of flex group fg point at a metadata block? */
static bool names_meta(struct checker *c, dgrp_t fg, blk64_t *blkp,
		       void *buf)
{
	ext2_filsys fs = c->fs;
	dgrp_t gpf = e2fs_flex_group_size(fs);
	blk64_t first, nr;
	struct ext4_rfx_problem mp;
	__u32 rel;

	first = ext2fs_group_first_block2(fs, fg * gpf);
	nr = (blk64_t)gpf * fs->super->s_blocks_per_group;
	if (first + nr > ext2fs_blocks_count(fs->super))
		nr = ext2fs_blocks_count(fs->super) - first;
	rel = rfl_bg_reserved(fs, fg * gpf);
	*blkp = first + rel;
	if (!rel || rel >= nr)
		return false;
	if (io_channel_read_blk64(fs->io, first + rel, 1, buf))
		return false;
	return !ext4_rfx_check(buf, fs->blocksize, c->rfs->csum_seed,
			       first + rel, fg, &mp);
}

/* The bit is off: trees left behind are the floor's to report */
static int check_feature(struct checker *c, void *buf)
{
	ext2_filsys fs = c->fs;
	struct rfl_pctx pctx = { .dev = c->o->device };
	dgrp_t fg, nr_flex = e2fs_flex_group_count(fs);
	errcode_t ret;
	blk64_t blk;

	if (rfl_has_feature(fs))
		return 0;
	/* without the bit the geometry may not suit reflink at all */
	ret = rfl_check_features(fs);
	if (!ret || ret == RFL_ET_SHARED_BLOCKS) {
		for (fg = 0; fg < nr_flex; fg++) {
			if (!names_meta(c, fg, &blk, buf))
				continue;
			if (!pctx.expected) {
				pctx.fg = fg;
				pctx.blk = blk;
			}
			pctx.expected++;
		}
	}
	if (!pctx.expected) {
		rfl_ck_fail(c, RFL_ET_NO_FEATURE, "opening");
		return RFL_EXIT_ERROR;
	}
	rfl_fix_problem(&c->ctx, PR_0_FEATURE_CLEARED, &pctx);
	c->ctx.left++;
	rfl_fix_problem(&c->ctx, fs->super->s_feature_ro_compat &
			EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS ?
			PR_0_RECOVER_CLEARED : PR_0_RECOVER_CLEARED_NOSB,
			&pctx);
	return RFL_EXIT_UNCORRECTED;
}

/*
 * ext2fs_check_desc does not look at bg_itable_unused, and a count over
 * the group's inodes sends stock e2image -r (pass 6's snapshot) into a
 * loop that never ends (found by tests/fuzz/mutate-images)
 */
static errcode_t check_itable_unused(ext2_filsys fs, char *buf, size_t len)
{
	__u32 ipg = fs->super->s_inodes_per_group;
	dgrp_t g;

	for (g = 0; g < fs->group_desc_count; g++) {
		if (ext2fs_bg_itable_unused(fs, g) <= ipg)
			continue;
		snprintf(buf, len, "; group %u's unused inodes count is %u, "
			 "of %u inodes", g, ext2fs_bg_itable_unused(fs, g),
			 ipg);
		return RFL_ET_BAD_ITABLE_UNUSED;
	}
	return 0;
}

static int check_desc(struct checker *c)
{
	struct rfl_pctx pctx = { .dev = c->o->device };
	char where[128];
	errcode_t ret;

	where[0] = 0;
	ret = ext2fs_check_desc(c->fs);
	if (!ret)
		ret = check_itable_unused(c->fs, where, sizeof(where));
	if (!ret)
		return 0;
	if (ret == EXT2_ET_NO_MEMORY) {
		rfl_ck_fail(c, ret, "checking the group descriptors");
		return RFL_EXIT_ERROR;
	}
	if (!where[0])
		name_bad_group(c->fs, where, sizeof(where));
	pctx.err = ret;
	pctx.str = where;
	rfl_fix_problem(&c->ctx, PR_0_BAD_DESC, &pctx);
	c->ctx.left++;
	rfl_fix_problem(&c->ctx, PR_0_RECOVER_DESC, &pctx);
	return RFL_EXIT_UNCORRECTED;
}

/*
 * A descriptor behind a wrong checksum whose bitmaps fail their own
 * checksums too (held in that descriptor): its pointers are as likely
 * wrong as its checksum, and a repair through them would judge the
 * wrong blocks (found by tests/fuzz/fuzz_image: -fy dropped the records
 * of files it read from a moved inode table).  A bitmap that cannot be
 * read counts as failing.  Only the csum_verify of metadata_csum tells.
 */
static bool desc_suspect(ext2_filsys fs, dgrp_t g, void *buf)
{
	int isz = EXT2_INODES_PER_GROUP(fs->super) / 8;
	int bsz = EXT2_CLUSTERS_PER_GROUP(fs->super) / 8;

	if (!ext2fs_has_feature_metadata_csum(fs->super))
		return false;
	if (!ext2fs_bg_flags_test(fs, g, EXT2_BG_BLOCK_UNINIT) &&
	    (io_channel_read_blk64(fs->io, ext2fs_block_bitmap_loc(fs, g), 1,
				   buf) ||
	     !ext2fs_block_bitmap_csum_verify(fs, g, buf, bsz)))
		return true;
	if (!ext2fs_bg_flags_test(fs, g, EXT2_BG_INODE_UNINIT) &&
	    (io_channel_read_blk64(fs->io, ext2fs_inode_bitmap_loc(fs, g), 1,
				   buf) ||
	     !ext2fs_inode_bitmap_csum_verify(fs, g, buf, isz)))
		return true;
	return false;
}

/*
 * Every bg_checksum.  A wrong one is set right; its bg_reserved is kept
 * only if it names a valid metadata block of the flex group (a stray
 * value in a later group is pass 1's), else it is cleared and the tree
 * rebuilt from the files, its old blocks freed as leaked.
 */
static void check_csums(struct checker *c, void *buf)
{
	ext2_filsys fs = c->fs;
	dgrp_t g, gpf = e2fs_flex_group_size(fs);
	struct rfl_pctx pctx = { 0 };
	enum rfl_problem code;
	blk64_t blk;
	bool bad_meta;

	if (!ext2fs_has_group_desc_csum(fs))
		return;
	for (g = 0; g < fs->group_desc_count && !rfl_ck_stop(c); g++) {
		if (ext2fs_group_desc_csum_verify(fs, g))
			continue;
		pctx.fg = g;
		if (desc_suspect(fs, g, buf)) {
			rfl_fix_problem(&c->ctx, PR_0_DESC_SUSPECT, &pctx);
			if (c->o->mode != RFL_NO)
				rfl_ck_read_only(c);
		}
		pctx.found = ext2fs_bg_checksum(fs, g);
		pctx.expected = ext2fs_group_desc_csum(fs, g);
		bad_meta = g % gpf == 0 && rfl_bg_reserved(fs, g) &&
			   !names_meta(c, g / gpf, &blk, buf);
		/*
		 * The tree it pointed at is lost, not empty: its sharers
		 * are counted again, not taken for cross-links (pass 3)
		 */
		if (bad_meta && rfl_ck_push_blk(&c->lost_meta, g / gpf)) {
			rfl_ck_fail(c, EXT2_ET_NO_MEMORY, "checking the floor");
			return;
		}
		pctx.blk = rfl_bg_reserved(fs, g);
		pctx.blk2 = g / gpf;
		code = bad_meta ? PR_0_DESC_CSUM_META : PR_0_DESC_CSUM;
		if (!rfl_fix_problem(&c->ctx, code, &pctx)) {
			/*
			 * -n judges the rest as the fix would leave it (in
			 * memory only: the image is open read-only), so
			 * that libext2fs does not read a BLOCK_UNINIT
			 * group's bitmap behind the wrong checksum
			 */
			if (c->ctx.mode == RFL_NO) {
				if (bad_meta)
					rfl_set_bg_reserved(fs, g, 0);
				ext2fs_group_desc_csum_set(fs, g);
			}
			continue;
		}
		if (bad_meta)
			rfl_set_bg_reserved(fs, g, 0);
		ext2fs_group_desc_csum_set(fs, g);
		ext2fs_mark_super_dirty(fs);
		c->changed = true;
		rfl_problem_fixed(&c->ctx, code, &pctx);
	}
}

int rfl_ck_floor(struct checker *c)
{
	void *buf;
	int code;

	code = check_size(c);
	if (code)
		return code;
	if (ext2fs_get_mem(c->fs->blocksize, &buf)) {
		rfl_ck_fail(c, EXT2_ET_NO_MEMORY, "checking the floor");
		return RFL_EXIT_ERROR;
	}
	code = check_feature(c, buf);
	if (!code)
		code = check_desc(c);
	/* before anything is repaired: the replay would undo it */
	if (!code) {
		switch (rfl_ck_journal(c)) {
		case 1:
			c->journal_replayed = true;
			break;
		case -1:
			code = RFL_EXIT_UNCORRECTED;
			break;
		}
	}
	if (!code && !c->journal_replayed)
		check_csums(c, buf);
	ext2fs_free_mem(&buf);
	return code;
}

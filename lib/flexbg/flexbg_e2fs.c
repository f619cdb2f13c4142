// SPDX-License-Identifier: GPL-2.0
/*
 * flexbg_e2fs.c - the tree's reserve of a flex group on libext2fs.
 */
#include "btree/e2fs_host.h"
#include "flexbg/flexbg_e2fs.h"
#include "flexbg/flexbg_rec.h"
#include "refcount/refcount_rec.h"
#include "reflink_err.h"

/* The descriptor fields FORMAT.md 4.1 names, at the offsets it states */
static_assert(offsetof(struct ext4_group_desc, bg_checksum) == 0x1e,
	      "bg_checksum");
static_assert(offsetof(struct ext4_group_desc, bg_reserved) == 0x3c,
	      "bg_reserved");

dgrp_t e2fs_flex_group_size(ext2_filsys fs)
{
	unsigned int log = fs->super->s_log_groups_per_flex;

	if (!ext2fs_has_feature_flex_bg(fs->super))
		return 1;
	/* A flex group larger than the fs is the whole fs */
	if (log >= 31 || (1ULL << log) >= fs->group_desc_count)
		return fs->group_desc_count ? fs->group_desc_count : 1;
	return 1U << log;
}

dgrp_t e2fs_flex_group_count(ext2_filsys fs)
{
	dgrp_t size = e2fs_flex_group_size(fs);

	return (fs->group_desc_count + (u64)size - 1) / size;
}

blk64_t e2fs_flex_group_first_block(ext2_filsys fs, dgrp_t fg)
{
	return ext2fs_group_first_block2(fs, fg * e2fs_flex_group_size(fs));
}

blk64_t e2fs_flex_group_blocks(ext2_filsys fs, dgrp_t fg)
{
	u64 size = e2fs_flex_group_size(fs);
	u64 last = (fg + 1ULL) * size - 1;

	if (last >= fs->group_desc_count)
		last = fs->group_desc_count - 1;
	return ext2fs_group_last_block2(fs, last) -
		e2fs_flex_group_first_block(fs, fg) + 1;
}

u32 e2fs_host_csum_seed(ext2_filsys fs)
{
	if (ext2fs_has_feature_csum_seed(fs->super))
		return fs->super->s_checksum_seed;
	return ext2fs_crc32c_le(~0U, fs->super->s_uuid,
				sizeof(fs->super->s_uuid));
}

__u32 rfl_bg_reserved(ext2_filsys fs, dgrp_t g)
{
	struct ext4_group_desc *gd;

	gd = (struct ext4_group_desc *)ext2fs_group_desc(fs, fs->group_desc,
							 g);
	return gd->bg_reserved;
}

void rfl_set_bg_reserved(ext2_filsys fs, dgrp_t g, __u32 value)
{
	struct ext4_group_desc *gd;

	gd = (struct ext4_group_desc *)ext2fs_group_desc(fs, fs->group_desc,
							 g);
	gd->bg_reserved = value;
	ext2fs_group_desc_csum_set(fs, g);
	ext2fs_mark_super_dirty(fs);
}

/*
 * Read flex group fg's metadata block into buf and check it.  *blkp is
 * its block, 0 when bg_reserved is 0 (no block: buf untouched).
 */
errcode_t rfl_fg_read_meta(ext2_filsys fs, __u32 seed, dgrp_t fg, void *buf,
			   blk64_t *blkp, struct ext4_rfx_problem *p)
{
	__u32 rel = rfl_bg_reserved(fs, fg * e2fs_flex_group_size(fs));
	struct ext4_rfx_problem local;
	errcode_t ret;

	*blkp = 0;
	if (!p)
		p = &local;
	p->code = EXT4_RFX_OK;
	if (!rel)
		return 0;
	if (rel >= e2fs_flex_group_blocks(fs, fg))
		return RFL_ET_CORRUPT_META;
	*blkp = e2fs_flex_group_first_block(fs, fg) + rel;
	ret = io_channel_read_blk64(fs->io, *blkp, 1, buf);
	if (ret)
		return ret;
	if (!ext4_rfx_check(buf, fs->blocksize, seed, *blkp, fg, p))
		return 0;
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


blk64_t rfl_fg_resv_blocks(ext2_filsys fs, dgrp_t fg)
{
	struct ext4_refcount_resv r;

	if (ext4_refcount_resv_calc(fs->blocksize,
				    e2fs_flex_group_blocks(fs, fg), &r))
		return 0;
	return r.total;
}

/* [lo, hi): the first free run of len blocks, or 0 */
static blk64_t find_in(ext2_filsys fs, const struct e2fs_meta_map *map,
		       blk64_t lo, blk64_t hi, blk64_t len)
{
	ext2fs_block_bitmap bmap = fs->block_map;
	blk64_t z, s;

	while (lo < hi && hi - lo >= len) {
		if (ext2fs_find_first_zero_block_bitmap2(bmap, lo, hi - 1,
							 &z))
			return 0;
		if (hi - z < len)
			return 0;
		if (ext2fs_find_first_set_block_bitmap2(bmap, z,
							z + len - 1, &s))
			s = z + len;
		if (s - z >= len &&
		    !(map && e2fs_meta_map_overlaps(map, z, len)))
			return z;
		/* metadata unmarked in the bitmap: step over it slowly */
		lo = s > z ? s : z + 1;
	}
	return 0;
}

blk64_t rfl_fg_find_run(ext2_filsys fs, const struct e2fs_meta_map *map,
			blk64_t lo, blk64_t hi, blk64_t goal, blk64_t len)
{
	blk64_t r = 0;

	if (!len)
		return 0;
	if (goal > lo && goal < hi)
		r = find_in(fs, map, goal, hi, len);
	if (!r)
		r = find_in(fs, map, lo, hi, len);
	return r;
}

/* The longest free run inside [lo, hi) */
static blk64_t longest_run(ext2_filsys fs, blk64_t lo, blk64_t hi)
{
	ext2fs_block_bitmap bmap = fs->block_map;
	blk64_t z, s, best = 0;

	while (lo < hi) {
		if (ext2fs_find_first_zero_block_bitmap2(bmap, lo, hi - 1,
							 &z))
			break;
		if (ext2fs_find_first_set_block_bitmap2(bmap, z, hi - 1, &s))
			s = hi;
		if (s - z > best)
			best = s - z;
		lo = s;
	}
	return best;
}

blk64_t rfl_fg_resv_missing(ext2_filsys fs, const struct e2fs_meta_map *map,
			    bool (*needs)(void *priv, dgrp_t fg,
					  bool *has_meta),
			    void *priv)
{
	dgrp_t fg, n = e2fs_flex_group_count(fs);
	blk64_t missing = 0, first, want, run;
	bool has_meta;

	for (fg = 0; fg < n; fg++) {
		has_meta = false;
		if (!needs(priv, fg, &has_meta))
			continue;
		first = e2fs_flex_group_first_block(fs, fg);
		want = rfl_fg_resv_blocks(fs, fg) + (has_meta ? 0 : 1);
		run = longest_run(fs, first + 1,
				  first + e2fs_flex_group_blocks(fs, fg));
		/* the metadata block can sit in the run too */
		if (run < want ||
		    (map && !rfl_fg_find_run(fs, map, first + 1,
					     first + e2fs_flex_group_blocks(
						     fs, fg),
					     0, want)))
			missing += want > run ? want - run : 1;
	}
	return missing;
}

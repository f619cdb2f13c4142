// SPDX-License-Identifier: GPL-2.0
/*
 * flexbg_e2fs.c - the tree's reserve of a flex group on libext2fs.
 */
#include "flexbg/flexbg_e2fs.h"
#include "refcount/refcount_rec.h"

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

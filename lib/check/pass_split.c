// SPDX-License-Identifier: GPL-2.0
/*
 * pass_split.c - complete extent splits a crash interrupted.  Removing
 * the middle of an extent takes two writes (rfl_map_remove inserts the
 * right part, then shortens the left); in between, the left extent still
 * runs over the right one and both map the same blocks.  The scan counts
 * those blocks once (recount.c); this pass shortens the left extent,
 * which is what the interrupted call was about to do.  Also i_blocks,
 * which a crash can leave behind the extents it counts.
 */
#include "check/check_int.h"

static errcode_t complete_split(ext2_filsys fs, const struct rfl_split *sp)
{
	ext2_extent_handle_t h;
	struct ext2fs_extent ex;
	errcode_t ret;

	ret = ext2fs_extent_open(fs, sp->ino, &h);
	if (ret)
		return ret;
	ret = ext2fs_extent_goto(h, sp->lblk);
	if (!ret)
		ret = ext2fs_extent_get(h, EXT2_EXTENT_CURRENT, &ex);
	/* goto may land on the right part: both start at or before lblk */
	if (!ret && (ex.e_lblk != sp->lblk || ex.e_pblk != sp->pblk ||
		     ex.e_len != sp->len))
		ret = RFL_ET_EXTENT_OVERLAP;
	if (!ret) {
		ex.e_len = sp->new_len;
		ret = ext2fs_extent_replace(h, 0, &ex);
	}
	ext2fs_extent_free(h);
	return ret;
}

/* i_blocks after a crash between an extent change and the inode's count */
void rfl_ck_iblocks(struct checker *ck)
{
	const struct rfl_scan *s = &ck->scan;
	struct ext2_inode_large inode;
	struct ext2_inode *raw = (struct ext2_inode *)&inode;
	struct rfl_pctx pctx = { 0 };
	errcode_t ret;
	size_t i;

	for (i = 0; i < s->nr_iblocks && !rfl_ck_stop(ck); i++) {
		pctx.ino = s->iblocks[i].ino;
		pctx.found = s->iblocks[i].found;
		pctx.expected = s->iblocks[i].expected;
		if (!rfl_fix_problem(&ck->ctx, PR_1_I_BLOCKS, &pctx))
			continue;
		ret = ext2fs_read_inode_full(ck->fs, pctx.ino, raw,
					     sizeof(inode));
		if (!ret)
			ret = ext2fs_iblk_set(ck->fs, raw, pctx.expected);
		if (!ret)
			ret = ext2fs_write_inode_full(ck->fs, pctx.ino, raw,
						      sizeof(inode));
		if (ret) {
			rfl_ck_fail(ck, ret, "setting i_blocks");
			return;
		}
		ck->changed = true;
		rfl_problem_fixed(&ck->ctx, PR_1_I_BLOCKS, &pctx);
	}
}

void rfl_ck_splits(struct checker *ck)
{
	const struct rfl_scan *s = &ck->scan;
	struct rfl_pctx pctx = { 0 };
	errcode_t ret;
	size_t i, left = 0;

	for (i = 0; i < s->nr_splits && !rfl_ck_stop(ck); i++) {
		const struct rfl_split *sp = &s->splits[i];

		pctx.ino = sp->ino;
		pctx.blk = sp->lblk;
		pctx.len = sp->len;
		pctx.expected = sp->new_len;
		if (!rfl_fix_problem(&ck->ctx, PR_1_SPLIT, &pctx)) {
			left++;
			continue;
		}
		ret = complete_split(ck->fs, sp);
		if (ret) {
			pctx.str = error_message(ret);
			rfl_fix_problem(&ck->ctx, PR_1_SPLIT_FAILED, &pctx);
			left++;
			continue;
		}
		ck->changed = true;
		rfl_problem_fixed(&ck->ctx, PR_1_SPLIT, &pctx);
	}
	/*
	 * The counts take every split as completed: with one left, two
	 * extents map blocks counted once, and a rebuild would set too low
	 */
	if (left && ck->ctx.mode != RFL_NO) {
		pctx.expected = left;
		rfl_fix_problem(&ck->ctx, PR_1_SPLIT_LEFT, &pctx);
		ck->ctx.mode = RFL_NO;
	}
}

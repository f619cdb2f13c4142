// SPDX-License-Identifier: GPL-2.0
/*
 * pass_resv.c - the refcount tree reserve of a flex group (FORMAT.md
 * 4.4, 8.12): inside its flex group, clear of fs metadata and of the
 * metadata block, of the size the formula gives, holding no file's
 * blocks, every block marked in use.  A bad reserve is moved to a free
 * run (the blocks it held are then leaked, and pass 4 frees what nothing
 * else holds); blocks of a good one found free are marked.  A version-1
 * metadata block (an image made before reserves) has none, and that is
 * no problem: `mkreflink --enable` run again adds one.
 */
#include "check/check_int.h"
#include "flexbg/flexbg_e2fs.h"

/* The problem with grp's recorded reserve, or 0 */
static enum rfl_problem judge(struct checker *c, struct rfl_group *grp,
			      struct rfl_pctx *pctx)
{
	blk64_t want = rfl_fg_resv_blocks(c->fs, grp->fg);

	if (pctx->blk - grp->first + pctx->len > grp->nr_blocks) {
		pctx->str = "runs past the end of its flex group";
		return PR_2_RESV_RANGE;
	}
	if (rfl_group_in_reserve(grp, grp->meta_blk)) {
		pctx->str = "holds the metadata block";
		return PR_2_RESV_RANGE;
	}
	if (e2fs_meta_map_overlaps(c->rfs->meta_map, pctx->blk, pctx->len)) {
		pctx->str = "overlaps filesystem metadata";
		return PR_2_RESV_RANGE;
	}
	if (pctx->len != want) {
		pctx->expected = want;
		pctx->found = pctx->len;
		return PR_2_RESV_SIZE;
	}
	if (rfl_ck_file_owns_range(c, pctx->blk, pctx->len))
		return PR_2_RESV_FILE;
	return 0;
}

static void move(struct checker *c, struct rfl_group *grp,
		 enum rfl_problem code, struct rfl_pctx *pctx)
{
	errcode_t ret;

	if (!rfl_fix_problem(&c->ctx, code, pctx))
		return;
	ret = rfl_group_move_reserve(c->rfs, grp->fg);
	if (ret == RFL_ET_NO_RESERVE_ROOM) {
		pctx->expected = rfl_fg_resv_blocks(c->fs, grp->fg);
		rfl_fix_problem(&c->ctx, PR_2_RESV_NO_ROOM, pctx);
		/*
		 * Left as it is, and said so (exit 4): the blocks the tree
		 * really draws from are not where the record says, so
		 * none of this flex group's blocks is freed as a leak
		 */
		c->ctx.left++;
		c->unsure[grp->fg] = 1;
		return;
	}
	if (ret) {
		rfl_ck_fail(c, ret, "moving a refcount tree reserve");
		return;
	}
	c->changed = true;
	pctx->blk2 = grp->resv_start;
	pctx->len2 = grp->resv_len;
	rfl_problem_fixed(&c->ctx, code, pctx);
}

/* Blocks of the reserve the bitmap calls free: mark them */
static void unmarked(struct checker *c, struct rfl_group *grp)
{
	ext2fs_block_bitmap bmap = c->fs->block_map;
	blk64_t a = grp->resv_start, e = a + grp->resv_len - 1, z, b;
	struct rfl_pctx pctx = { .fg = grp->fg };

	while (a <= e && !rfl_ck_stop(c)) {
		if (ext2fs_find_first_zero_block_bitmap2(bmap, a, e, &z))
			break;
		if (ext2fs_find_first_set_block_bitmap2(bmap, z, e, &b))
			b = e + 1;
		pctx.blk = z;
		pctx.blk2 = b - 1;
		if (rfl_fix_problem(&c->ctx, PR_2_RESV_UNMARKED, &pctx)) {
			ext2fs_block_alloc_stats_range(c->fs, z, b - z, +1);
			c->changed = true;
			rfl_problem_fixed(&c->ctx, PR_2_RESV_UNMARKED, &pctx);
		}
		a = b;
	}
}

/* Pass 4 counts the reserve as held: clamped to the flex group */
static void claim(struct checker *c, struct rfl_group *grp, blk64_t start,
		  blk64_t len)
{
	blk64_t end = grp->first + grp->nr_blocks;

	if (start >= end || !len)
		return;
	if (len > end - start)
		len = end - start;
	if (rfl_ck_push_blk(&c->resv, start) ||
	    rfl_ck_push_blk(&c->resv, len))
		rfl_ck_fail(c, EXT2_ET_NO_MEMORY, "checking the reserves");
}

void rfl_ck_reserve(struct checker *c, dgrp_t fg)
{
	struct rfl_pctx pctx = { .fg = fg };
	struct rfl_group *grp;
	enum rfl_problem code;
	u32 rs, rl;

	if (rfl_ck_stop(c) || c->unsure[fg])
		return;
	if (rfl_group_load(c->rfs, fg, &grp) || !grp->meta_blk ||
	    !ext4_rfx_get_resv(grp->meta, &rs, &rl))
		return;
	pctx.blk = grp->first + rs;
	pctx.len = rl;
	code = judge(c, grp, &pctx);
	if (code)
		move(c, grp, code, &pctx);
	if (rfl_ck_stop(c))
		return;
	if (grp->resv_len && !grp->resv_bad) {
		unmarked(c, grp);
		claim(c, grp, grp->resv_start, grp->resv_len);
	} else if (code) {
		/* left as it is: judged once, not again as leaks */
		claim(c, grp, pctx.blk, pctx.len);
	}
}

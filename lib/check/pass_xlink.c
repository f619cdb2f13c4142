// SPDX-License-Identifier: GPL-2.0
/*
 * pass_xlink.c - reflinkck pass 5 (docs/FORMAT.md 8.11): a file that maps
 * a block others map too, without EXT4_REFLINK_FL, is cross-linked, not
 * sharing.  Like e2fsck's pass 1D the fix gives that file its own copy of
 * the blocks (copy-on-write through the refcount trees, which passes 1-3
 * made right); a share is never recorded for it.
 */
#include <stdlib.h>

#include "btree/e2fs_host.h"
#include "check/check_int.h"
#include "reflink/rfl_share.h"

struct count_ctx {
	blk64_t blocks;
};

static int count_shared(void *priv, blk64_t start, blk64_t len, __u32 count)
{
	struct count_ctx *cc = priv;

	(void)start;
	(void)count;
	cc->blocks += len;
	return 0;
}

static int cmp_by_ino(const void *a, const void *b)
{
	const struct rfl_run_ref *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * The runs by inode, for the files a repair copies: built on the first
 * copy, so a check that copies nothing (-n, or no cross-link) pays no
 * sort for it
 */
static errcode_t index_by_ino(struct checker *ck)
{
	const struct rfl_scan *s = &ck->scan;
	size_t i;

	ck->runs_by_ino = malloc((s->nr_runs ? s->nr_runs : 1) *
				 sizeof(*ck->runs_by_ino));
	if (!ck->runs_by_ino)
		return EXT2_ET_NO_MEMORY;
	for (i = 0; i < s->nr_runs; i++) {
		ck->runs_by_ino[i].ino = s->runs[i].ino;
		ck->runs_by_ino[i].idx = i;
	}
	qsort(ck->runs_by_ino, s->nr_runs, sizeof(*ck->runs_by_ino),
	      cmp_by_ino);
	return 0;
}

/* Blocks of ino's extents whose count is >= 2 in the trees now */
static errcode_t shared_now(struct checker *ck, ext2_ino_t ino,
			    blk64_t *blocks)
{
	const struct rfl_scan *s = &ck->scan;
	const struct rfl_run_ref *by = ck->runs_by_ino;
	struct count_ctx cc = { 0 };
	size_t lo = 0, hi = s->nr_runs, mid;
	errcode_t ret;

	if (!by) {
		ret = index_by_ino(ck);
		if (ret)
			return ret;
		by = ck->runs_by_ino;
	}
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (by[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* each cross-linked file costs its own runs, not all of them */
	for (; lo < s->nr_runs && by[lo].ino == ino; lo++) {
		ret = rfl_for_each_shared(ck->rfs, s->runs[by[lo].idx].start,
					  s->runs[by[lo].idx].len,
					  count_shared, &cc);
		if (ret)
			return ret;
	}
	*blocks = cc.blocks;
	return 0;
}

static bool trees_damaged(const struct checker *ck)
{
	dgrp_t fg;

	for (fg = 0; fg < ck->rfs->nr_flex; fg++)
		if (ck->unsure[fg])
			return true;
	return false;
}

static void cross_link(void *priv, ext2_ino_t ino)
{
	struct checker *ck = priv;
	struct rfl_pctx pctx = { .ino = ino };
	bool can_fix = ck->ctx.mode != RFL_NO && !trees_damaged(ck);
	blk64_t blocks = 0;
	errcode_t ret;

	if (rfl_ck_stop(ck))
		return;
	if (can_fix) {
		ret = shared_now(ck, ino, &blocks);
		if (ret) {
			rfl_ck_fail(ck, ret, "counting a file's shared blocks");
			return;
		}
		/* an earlier copy already took the other sharer away */
		if (!blocks)
			return;
	}
	if (!rfl_fix_problem(&ck->ctx, PR_5_CROSS_LINK, &pctx))
		return;
	if (!can_fix) {
		pctx.str = "a refcount tree is still damaged";
		rfl_fix_problem(&ck->ctx, PR_5_NO_CLONE, &pctx);
		return;
	}
	ret = rfl_cow_range(ck->rfs, ino, 0, RFL_LBLK_END);
	if (ret) {
		pctx.str = error_message(ret);
		rfl_fix_problem(&ck->ctx, PR_5_NO_CLONE, &pctx);
		return;
	}
	ck->changed = true;
	pctx.expected = blocks;
	rfl_problem_fixed(&ck->ctx, PR_5_CROSS_LINK, &pctx);
}

/*
 * The runs come sorted by start, so the first meta run and the first
 * owned range that can meet the next run only move forward: one walk
 * over each list instead of two binary searches per run
 */
struct meet_walk {
	unsigned int m;			/* first meta run ending after */
	size_t o;			/* owned ranges starting before */
};

/* Does [start, start + len) meet fs metadata? */
static bool meets_meta(const struct checker *ck, struct meet_walk *w,
		       blk64_t start, blk64_t len)
{
	const struct e2fs_meta_map *map = ck->rfs->meta_map;
	unsigned int nm = e2fs_meta_map_nr(map);
	blk64_t ms = 0, ml = 0;

	for (; w->m < nm; w->m++) {
		e2fs_meta_map_run(map, w->m, &ms, &ml);
		if (ms + ml > start)
			break;
	}
	return w->m < nm && ms < start + len;
}

/* Does [start, start + len) meet a range of owned (sorted, max ends)? */
static bool meets_owned(const struct checker *ck, struct meet_walk *w,
			blk64_t start, blk64_t len)
{
	const struct rfl_scan *s = &ck->scan;

	while (w->o < s->nr_owned && s->owned[w->o].start < start)
		w->o++;
	/* one starting before that ends after start, or one within */
	return (w->o && ck->owned_max_end[w->o - 1] > start) ||
	       (w->o < s->nr_owned && s->owned[w->o].start < start + len);
}

/*
 * A file's data over fs metadata or over a block another inode holds
 * outside its extents (an index, xattr or block-mapped block): e2fsck's
 * pass 1B to sort out; reported once per inode, never repaired here
 */
static void meta_cross_links(struct checker *ck)
{
	const struct rfl_scan *s = &ck->scan;
	struct rfl_pctx pctx = { 0 };
	struct meet_walk w = { 0, 0 };
	ext2_ino_t last = 0;
	size_t i;

	for (i = 0; i < s->nr_runs && !rfl_ck_stop(ck); i++) {
		const struct rfl_run *r = &s->runs[i];

		if (r->ino == last ||
		    (!meets_meta(ck, &w, r->start, r->len) &&
		     !meets_owned(ck, &w, r->start, r->len)))
			continue;
		last = r->ino;
		pctx.ino = r->ino;
		pctx.blk = r->start;
		pctx.len = r->len;
		rfl_fix_problem(&ck->ctx, PR_5_META_XLINK, &pctx);
	}
}

void rfl_ck_cross_links(struct checker *ck)
{
	const struct rfl_scan *s = &ck->scan;
	errcode_t ret;

	meta_cross_links(ck);
	if (rfl_ck_stop(ck))
		return;

	ret = rfl_unflagged_sharers(s->runs, s->nr_runs, ck->exp,
				    ck->nr_exp, cross_link, ck);
	if (ret)
		rfl_ck_fail(ck, ret, "looking for cross-linked files");
}

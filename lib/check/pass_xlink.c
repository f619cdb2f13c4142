// SPDX-License-Identifier: GPL-2.0
/*
 * pass_xlink.c - reflinkck pass 5 (docs/FORMAT.md 8.11): a file that maps
 * a block others map too, without EXT4_REFLINK_FL, is cross-linked, not
 * sharing.  Like e2fsck's pass 1D the fix gives that file its own copy of
 * the blocks (copy-on-write through the refcount trees, which passes 1-3
 * made right); a share is never recorded for it.  Flagged files sharing
 * blocks no record counts are cross-linked too (FORMAT.md 7.5): the trees
 * never count those mappings, so their copies change no count.
 */
#include <stdlib.h>

#include "btree/e2fs_host.h"
#include "check/check_int.h"
#include "util/vec.h"
#include "reflink/rfl_share_int.h"

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

/* Report code for pctx->ino and, if agreed, give the file its own copy */
static void clone_apart(struct checker *ck, enum rfl_problem code,
			struct rfl_pctx *pctx)
{
	ext2_ino_t ino = pctx->ino;
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
	if (!rfl_fix_problem(&ck->ctx, code, pctx))
		return;
	if (!can_fix) {
		pctx->str = "a refcount tree is still damaged";
		rfl_fix_problem(&ck->ctx, PR_5_NO_CLONE, pctx);
		return;
	}
	ret = rfl_cow_range(ck->rfs, ino, 0, RFL_LBLK_END);
	if (ret) {
		pctx->str = error_message(ret);
		rfl_fix_problem(&ck->ctx, PR_5_NO_CLONE, pctx);
		return;
	}
	ck->changed = true;
	pctx->expected = blocks;
	rfl_problem_fixed(&ck->ctx, code, pctx);
}

static void cross_link(void *priv, ext2_ino_t ino)
{
	struct rfl_pctx pctx = { .ino = ino };

	clone_apart(priv, PR_5_CROSS_LINK, &pctx);
}

struct ino_list {
	ext2_ino_t *v;
	size_t nr, max;
	bool nomem;
};

static void collect_ino(void *priv, const struct rfl_run *r)
{
	struct ino_list *l = priv;

	if (rfl_vec_grow((void **)&l->v, &l->max, l->nr, sizeof(*l->v))) {
		l->nomem = true;
		return;
	}
	l->v[l->nr++] = r->ino;
}

static int cmp_ino(const void *a, const void *b)
{
	ext2_ino_t x = *(const ext2_ino_t *)a, y = *(const ext2_ino_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * From start on, the length of [start, start + len) that a range of
 * kept (start, len pairs, disjoint) holds (*held), else the length up
 * to the next one
 */
static blk64_t kept_at(const struct blk_list *kept, blk64_t start,
		       blk64_t len, bool *held)
{
	blk64_t end = start + len, next = end, ks, ke;
	size_t i;

	for (i = 0; i + 1 < kept->nr; i += 2) {
		ks = kept->v[i];
		ke = ks + kept->v[i + 1];
		if (ks <= start && start < ke) {
			*held = true;
			return (ke < end ? ke : end) - start;
		}
		if (ks > start && ks < next)
			next = ks;
	}
	*held = false;
	return next - start;
}

/*
 * ino's mappings of [start, start + len), in logical order: the blocks
 * kept already holds (a lower inode's, or ino's own earlier mapping) are
 * pieces to copy apart; ino keeps the others, added to kept
 */
static errcode_t plan_copies(struct checker *ck, ext2_ino_t ino,
			     blk64_t start, blk64_t len,
			     struct blk_list *kept, struct rfl_maps *pieces)
{
	struct rfl_maps maps = { 0 };
	struct rfl_xh x = { .h = NULL };
	blk64_t s, e, n;
	errcode_t ret;
	bool held;
	size_t i;

	pieces->nr = 0;
	ret = rfl_xh_open(&x, ck->fs, ino, NULL);
	if (!ret)
		ret = rfl_map_collect(x.h, 0, RFL_LBLK_END, &maps);
	for (i = 0; !ret && i < maps.nr; i++) {
		const struct rfl_map *m = &maps.v[i];

		s = m->pblk > start ? m->pblk : start;
		e = m->pblk + m->len < start + len ? m->pblk + m->len :
		    start + len;
		for (; !ret && s < e; s += n) {
			n = kept_at(kept, s, e - s, &held);
			if (held) {
				ret = rfl_maps_add(pieces,
						   m->lblk + (s - m->pblk), s,
						   (__u32)n, m->flags);
				continue;
			}
			ret = rfl_ck_push_blk(kept, s);
			if (!ret)
				ret = rfl_ck_push_blk(kept, n);
		}
	}
	rfl_xh_close(&x);
	rfl_maps_free(&maps);
	return ret;
}

/*
 * Report ino's cross-link on pctx's range and, if agreed, copy its
 * pieces apart.  The trees never counted the cross-link (pass 3), so
 * nothing is counted here either: a copy that cannot be made leaves the
 * image as it was, and the next check finds the cross-link again.
 */
static void copy_apart(struct checker *ck, struct rfl_pctx *pctx,
		       const struct rfl_maps *pieces, errcode_t planned)
{
	blk64_t copied = 0;
	errcode_t ret;

	if (!rfl_fix_problem(&ck->ctx, PR_5_XLINK_NO_RECORD, pctx))
		return;
	if (trees_damaged(ck)) {
		pctx->str = "a refcount tree is still damaged";
		rfl_fix_problem(&ck->ctx, PR_5_NO_CLONE, pctx);
		return;
	}
	ret = planned ? planned : rfl_copy_apart(ck->rfs, pctx->ino, pieces,
						  &copied);
	if (copied)
		ck->changed = true;
	if (ret) {
		pctx->str = error_message(ret);
		rfl_fix_problem(&ck->ctx, PR_5_NO_CLONE, pctx);
		return;
	}
	pctx->expected = copied;
	rfl_problem_fixed(&ck->ctx, PR_5_XLINK_NO_RECORD, pctx);
}

/*
 * Shared ranges a clean tree had no record of (pass 3, FORMAT.md 7.5):
 * block by block the lowest inode keeps the blocks, every other mapping
 * gets its own copy, as e2fsck's pass 1D does with multiply-claimed
 * blocks.  Read-only, every file but the lowest is reported.
 */
static void unrecorded_cross_links(struct checker *ck)
{
	const struct blk_list *x = &ck->xlink_ranges;
	struct blk_list kept = { 0 };
	struct rfl_maps pieces = { 0 };
	struct ino_list l = { 0 };
	struct rfl_pctx pctx = { 0 };
	bool fixing = ck->ctx.mode != RFL_NO;
	errcode_t planned = 0;
	size_t i, j;

	for (i = 0; i + 1 < x->nr && !rfl_ck_stop(ck); i += 2) {
		l.nr = 0;
		kept.nr = 0;
		rfl_ck_for_runs(ck, x->v[i], x->v[i + 1], collect_ino, &l);
		if (l.nomem) {
			rfl_ck_fail(ck, EXT2_ET_NO_MEMORY,
				    "looking for cross-linked files");
			break;
		}
		qsort(l.v, l.nr, sizeof(*l.v), cmp_ino);
		for (j = 0; j < l.nr && !rfl_ck_stop(ck); j++) {
			if (j && l.v[j] == l.v[j - 1])
				continue;
			pieces.nr = 0;
			planned = 0;
			if (fixing)
				planned = plan_copies(ck, l.v[j], x->v[i],
						      x->v[i + 1], &kept,
						      &pieces);
			/* the lowest inode keeps the range, read or not */
			if (planned && !j &&
			    (rfl_ck_push_blk(&kept, x->v[i]) ||
			     rfl_ck_push_blk(&kept, x->v[i + 1]))) {
				rfl_ck_fail(ck, EXT2_ET_NO_MEMORY,
					    "looking for cross-linked files");
				break;
			}
			/*
			 * read-only (or the plan failed): every file but the
			 * lowest, or the one that maps the blocks twice; else
			 * those with something to copy
			 */
			if (!fixing || planned) {
				if (!j && l.v[l.nr - 1] != l.v[0])
					continue;
			} else if (!pieces.nr) {
				continue;
			}
			pctx.ino = l.v[j];
			pctx.blk = x->v[i];
			pctx.len = x->v[i + 1];
			pctx.str = NULL;
			copy_apart(ck, &pctx, &pieces, planned);
		}
	}
	free(kept.v);
	rfl_maps_free(&pieces);
	free(l.v);
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

/* Does [start, start + len) meet a range of scan.owned? */
static bool owned_overlaps(const struct checker *c, blk64_t start,
			   blk64_t len)
{
	const struct rfl_scan *s = &c->scan;
	size_t lo = 0, hi = s->nr_owned, mid;

	/* ranges starting before the end: [0, lo) */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->owned[mid].start < start + len)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && c->owned_max_end[lo - 1] > start;
}

/*
 * Only the bitmaps and inode tables, which the checker may write: the
 * owned blocks include the resize inode's, which are the reserved GDT
 * blocks of the fs metadata by design
 */
bool rfl_ck_meta_on_owned(const struct checker *c,
			  void (*fn)(void *priv, dgrp_t g, const char *what,
				     blk64_t blk, blk64_t len),
			  void *priv)
{
	ext2_filsys fs = c->fs;
	bool found = false;
	blk64_t loc[3], len[3] = { 1, 1, fs->inode_blocks_per_group };
	static const char *const what[3] = {
		"block bitmap", "inode bitmap", "inode table",
	};
	dgrp_t g;
	int k;

	if (!c->scan.nr_owned)
		return false;
	for (g = 0; g < fs->group_desc_count; g++) {
		loc[0] = ext2fs_block_bitmap_loc(fs, g);
		loc[1] = ext2fs_inode_bitmap_loc(fs, g);
		loc[2] = ext2fs_inode_table_loc(fs, g);
		for (k = 0; k < 3; k++) {
			if (!loc[k] || !owned_overlaps(c, loc[k], len[k]))
				continue;
			found = true;
			if (!fn)
				return true;
			fn(priv, g, what[k], loc[k], len[k]);
		}
	}
	return found;
}

bool rfl_ck_meta_overlap(const struct checker *c)
{
	const struct rfl_scan *s = &c->scan;
	size_t i;

	for (i = 0; i < s->nr_runs; i++)
		if (e2fs_meta_map_overlaps(c->rfs->meta_map, s->runs[i].start,
					   s->runs[i].len))
			return true;
	return rfl_ck_meta_on_owned(c, NULL, NULL);
}

static void report_meta_on_owned(void *priv, dgrp_t g, const char *what,
				 blk64_t blk, blk64_t len)
{
	struct checker *ck = priv;
	struct rfl_pctx pctx = { 0 };

	pctx.fg = g;
	pctx.str = what;
	pctx.blk = blk;
	pctx.len = len;
	rfl_fix_problem(&ck->ctx, PR_5_META_ON_OWNED, &pctx);
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
	if (!rfl_ck_stop(ck))
		rfl_ck_meta_on_owned(ck, report_meta_on_owned, ck);
	if (rfl_ck_stop(ck))
		return;

	ret = rfl_unflagged_sharers(s->runs, s->nr_runs, ck->exp,
				    ck->nr_exp, cross_link, ck);
	if (ret)
		rfl_ck_fail(ck, ret, "looking for cross-linked files");
	if (!rfl_ck_stop(ck))
		unrecorded_cross_links(ck);
}

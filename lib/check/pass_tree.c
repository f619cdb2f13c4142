// SPDX-License-Identifier: GPL-2.0
/*
 * pass_tree.c - reflinkck passes 1 to 3 for one flex group: the
 * bg_reserved pointer and metadata block, every tree node and record,
 * the records against the counts recomputed from the files; and the
 * rebuild of a damaged group's tree (docs/FORMAT.md 7.3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btree/e2fs_host.h"
#include "check/blkset.h"
#include "check/check_int.h"
#include "util/vec.h"
#include "flexbg/flexbg_rec.h"
#include "refcount/refcount_rec.h"

/* Bulk-load fill: room for later shares without splitting at once */
#define REBUILD_FILL	75

static const char *record_problem_name(enum ext4_refcount_problem rp)
{
	switch (rp) {
	case EXT4_REFCOUNT_ZERO_LEN: return "zero length";
	case EXT4_REFCOUNT_LOW_COUNT: return "count below 2";
	case EXT4_REFCOUNT_PAST_GROUP: return "ends past the flex group";
	case EXT4_REFCOUNT_OVERLAP: return "overlaps the previous record";
	case EXT4_REFCOUNT_NOT_MERGED:
		return "not merged with the previous record";
	default: return "unknown problem";
	}
}

/* A problem of the current flex group; a yes means rebuild it */
static void group_problem(struct checker *c, enum rfl_problem code,
			  struct rfl_pctx *pctx)
{
	c->bad = true;
	if (rfl_fix_problem(&c->ctx, code, pctx))
		c->rebuild = true;
}

/*
 * Problems found after the node's magic matched, on a node of this group
 * at its own place: the block is ours to free once the tree is rebuilt.
 * A wrong owner or magic may be someone else's block: never freed.
 */
static bool damaged_node(enum ext4_btree_problem_code code)
{
	switch (code) {
	case EXT4_BTREE_BAD_CSUM:
	case EXT4_BTREE_BAD_LEVEL:
	case EXT4_BTREE_BAD_GEOMETRY:
	case EXT4_BTREE_BAD_NR_ENTRIES:
	case EXT4_BTREE_BAD_KEY_ORDER:
	case EXT4_BTREE_KEY_OUT_OF_BOUNDS:
	case EXT4_BTREE_DIRTY_TAIL:
	case EXT4_BTREE_BAD_RESERVED:
		return true;
	default:
		return false;
	}
}

/* "what", with the values when they say something; magics and checksums
 * in hex, as they are written */
static const char *describe(struct checker *c, const char *what, u64 exp,
			    u64 found, bool hex)
{
	if (exp == found)
		return what;
	snprintf(c->desc, sizeof(c->desc),
		 hex ? "%s (expected 0x%08llx, found 0x%08llx)" :
		 "%s (expected %llu, found %llu)",
		 what, (unsigned long long)exp, (unsigned long long)found);
	return c->desc;
}

static int v_report(void *priv, const struct ext4_btree_problem *p)
{
	struct checker *c = priv;
	struct rfl_pctx pctx = { .fg = c->grp->fg, .blk = p->blocknr };

	if (!p->blocknr) {
		/*
		 * Counts of the whole tree: after a bad node they only say
		 * that its subtree was not counted
		 */
		if (c->node_problems)
			return rfl_ck_stop(c);
		pctx.str = describe(c, ext4_btree_problem_words(p->code),
				    p->expected, p->found, false);
		group_problem(c, PR_2_TREE_COUNTS, &pctx);
		return rfl_ck_stop(c);
	}
	c->node_problems++;
	pctx.str = describe(c, ext4_btree_problem_words(p->code), p->expected,
			    p->found, p->code == EXT4_BTREE_BAD_MAGIC ||
			    p->code == EXT4_BTREE_BAD_CSUM);
	group_problem(c, PR_2_TREE, &pctx);
	if (damaged_node(p->code))
		c->err = rfl_ck_push_blk(&c->damaged, p->blocknr);
	return rfl_ck_stop(c);
}

/* Why flex group fg's metadata block did not load, in words */
static const char *meta_problem(struct checker *c, dgrp_t fg,
				errcode_t load_err)
{
	struct ext4_rfx_problem mp;
	char what[96];
	blk64_t blk;
	void *buf;

	if (ext2fs_get_mem(c->fs->blocksize, &buf))
		return error_message(load_err);
	rfl_fg_read_meta(c->fs, c->rfs->csum_seed, fg, buf, &blk, &mp);
	ext2fs_free_mem(&buf);
	/* Not read, or no problem in the block: the loader's words */
	if (!blk || mp.code == EXT4_RFX_OK)
		return error_message(load_err);
	if (mp.slot >= 0 && mp.field)
		snprintf(what, sizeof(what), "%s %d: %s",
			 ext4_rfx_problem_words(mp.code), mp.slot, mp.field);
	else if (mp.slot >= 0)
		snprintf(what, sizeof(what), "%s (slot %d)",
			 ext4_rfx_problem_words(mp.code), mp.slot);
	else
		snprintf(what, sizeof(what), "%s",
			 ext4_rfx_problem_words(mp.code));
	if (mp.expected == mp.found) {
		snprintf(c->desc, sizeof(c->desc), "%s", what);
		return c->desc;
	}
	return describe(c, what, mp.expected, mp.found,
			mp.code == EXT4_RFX_BAD_MAGIC ||
			mp.code == EXT4_RFX_BAD_CSUM);
}

static bool v_valid(void *priv, u64 blk)
{
	struct checker *c = priv;

	return e2fs_host_valid_block(c->grp->host, blk);
}

static bool v_seen(void *priv, u64 blk)
{
	struct checker *c = priv;
	bool was;

	if (!blk)
		return false;
	if (rfl_blkset_add(&c->seen, blk, &was)) {
		c->err = EXT2_ET_NO_MEMORY;
		return true;		/* not descended into; the walk stops */
	}
	return was;
}

static int v_record(void *priv, const void *key, const void *val,
		    const void *prev_key, const void *prev_val)
{
	struct checker *c = priv;
	struct ext4_refcount_rec rec, prev;
	enum ext4_refcount_problem rp;
	struct rfl_rec *r;

	ext4_refcount_rec_decode(key, val, &rec);
	if (prev_key)
		ext4_refcount_rec_decode(prev_key, prev_val, &prev);
	rp = ext4_refcount_check_rec(&rec, prev_key ? &prev : NULL,
				     c->grp->nr_blocks);
	if (rp != EXT4_REFCOUNT_OK) {
		struct rfl_pctx pctx = {
			.fg = c->grp->fg, .blk = c->grp->first + rec.start,
			.len = rec.len, .found = rec.count,
			.str = record_problem_name(rp),
		};

		group_problem(c, PR_2_BAD_RECORD, &pctx);
	}
	if (rfl_vec_grow((void **)&c->found, &c->max_found, c->nr_found,
			 sizeof(*c->found))) {
		c->err = EXT2_ET_NO_MEMORY;
		return 1;
	}
	r = &c->found[c->nr_found++];
	r->start = c->grp->first + rec.start;
	r->len = rec.len;
	r->count = rec.count;
	return rfl_ck_stop(c);
}

/* Pass 4 for one node: marked in use, and no file's data */
static int v_node(void *priv, u64 blk, int level)
{
	struct checker *c = priv;
	struct rfl_pctx pctx = { .fg = c->grp->fg, .blk = blk };

	(void)level;
	c->grp_nodes++;
	c->err = rfl_ck_push_blk(&c->tree_blks, blk);
	if (!ext2fs_test_block_bitmap2(c->fs->block_map, blk))
		group_problem(c, PR_4_TREE_UNMARKED, &pctx);
	if (rfl_ck_file_owns(c, blk))
		group_problem(c, PR_4_TREE_FILE, &pctx);
	return rfl_ck_stop(c);
}

static void diff(void *priv, enum rfl_diff kind, const struct rfl_rec *e,
		 const struct rfl_rec *f)
{
	static const enum rfl_problem code[] = {
		[RFL_DIFF_MISSING] = PR_3_MISSING,
		[RFL_DIFF_EXTRA] = PR_3_EXTRA,
		[RFL_DIFF_COUNT] = PR_3_COUNT,
		[RFL_DIFF_LENGTH] = PR_3_LENGTH,
		[RFL_DIFF_RANGE] = PR_3_LENGTH,
	};
	struct checker *c = priv;
	struct rfl_pctx pctx = { .fg = c->grp->fg };

	pctx.blk = f ? f->start : e->start;
	pctx.len = f ? f->len : e->len;
	pctx.found = f ? f->count : 0;
	pctx.expected = e ? e->count : 0;
	pctx.blk2 = e ? e->start : 0;
	pctx.len2 = e ? e->len : 0;
	/*
	 * Files share blocks, both flagged, and a tree that verifies has no
	 * record of it: the share commits its increments before any file
	 * maps the blocks (FORMAT.md 7.5), so no crash leaves this.  It is a
	 * cross-link, and the tree is right not to count it: no rebuild
	 * ever does, so that a copy pass 5 cannot make (no space, an I/O
	 * error) leaves it as it was, found again by the next check.
	 */
	if (kind == RFL_DIFF_MISSING && c->tree_clean &&
	    rfl_ck_for_runs(c, e->start, e->len, NULL, NULL)) {
		if (rfl_ck_push_blk(&c->xlink_ranges, e->start) ||
		    rfl_ck_push_blk(&c->xlink_ranges, e->len)) {
			c->err = EXT2_ET_NO_MEMORY;
			return;
		}
		rfl_fix_problem(&c->ctx, PR_3_XLINK_NO_RECORD, &pctx);
		return;
	}
	/*
	 * An unread inode's blocks are in no expected record: every record
	 * it shares differs.  One problem for the tree (diffs_held), not
	 * hundreds that all have the one cause.
	 */
	if (c->scan.bad_inodes) {
		if (!c->unsure_diffs++) {
			c->unsure_code = code[kind];
			c->unsure_first = pctx;
		}
		c->bad = true;
		return;
	}
	group_problem(c, code[kind], &pctx);
}

/* Pass 3's differences held by diff(): one as it is, more as one */
static void diffs_held(struct checker *c, dgrp_t fg)
{
	struct rfl_pctx pctx = { .fg = fg };

	if (c->unsure_diffs == 1)
		group_problem(c, c->unsure_code, &c->unsure_first);
	if (c->unsure_diffs <= 1)
		return;
	pctx.expected = c->unsure_diffs;
	pctx.blk = c->unsure_first.blk;
	pctx.found = c->scan.bad_inodes;
	group_problem(c, PR_3_UNSURE, &pctx);
}

/* Is the expected record starting at start a cross-link (pass 3)? */
static bool is_xlink(const struct checker *c, blk64_t start)
{
	const struct blk_list *x = &c->xlink_ranges;
	size_t i;

	for (i = 0; i + 1 < x->nr; i += 2)
		if (x->v[i] == start)
			return true;
	return false;
}

/*
 * The records a rebuild writes: the expected ones but the cross-links,
 * which pass 5 copies apart without counting them.  *recs is exp + e0
 * when there is none, else a copy for the caller to free.
 */
static errcode_t rebuild_records(const struct checker *c, size_t e0,
				 size_t *ne, struct rfl_rec **recs)
{
	struct rfl_rec *r;
	size_t i, n = 0;

	*recs = *ne ? c->exp + e0 : NULL;
	if (!c->xlink_ranges.nr || !*ne)
		return 0;
	r = malloc(*ne * sizeof(*r));
	if (!r)
		return EXT2_ET_NO_MEMORY;
	for (i = e0; i < e0 + *ne; i++)
		if (!is_xlink(c, c->exp[i].start))
			r[n++] = c->exp[i];
	*recs = r;
	*ne = n;
	return 0;
}

/* Did the floor clear flex group fg's metadata pointer? */
static bool lost_meta(const struct checker *c, dgrp_t fg)
{
	size_t i;

	for (i = 0; i < c->lost_meta.nr; i++)
		if (c->lost_meta.v[i] == fg)
			return true;
	return false;
}

/* The expected records of flex group grp: [*first, *first + *nr) */
static void group_expected(const struct checker *c, blk64_t start,
			   blk64_t nr_blocks, size_t *first, size_t *nr)
{
	size_t lo = 0, hi = c->nr_exp, mid, i;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (c->exp[mid].start < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < c->nr_exp &&
	     c->exp[i].start < start + nr_blocks; i++)
		;
	*first = lo;
	*nr = i - lo;
}

/*
 * Old tree nodes of the flex group: blocks in use, not fs metadata, no
 * file's data, that pass the node check with this group as owner.  They
 * include nodes the damaged tree no longer reaches, and old metadata
 * blocks of this group that a damaged pointer lost.
 */
static errcode_t old_nodes(struct checker *c, struct rfl_group *grp,
			   struct blk_list *l)
{
	struct ext4_btree_problem p;
	struct ext4_rfx_problem mp;
	errcode_t ret = 0;
	blk64_t b;
	void *buf;

	ret = ext2fs_get_mem(c->fs->blocksize, &buf);
	if (ret)
		return ret;
	for (b = grp->first; !ret && b < grp->first + grp->nr_blocks; b++) {
		if (!ext2fs_test_block_bitmap2(c->fs->block_map, b) ||
		    b == grp->meta_blk ||
		    !e2fs_host_valid_block(grp->host, b) ||
		    rfl_ck_file_owns(c, b))
			continue;
		/* a sound metadata block of fg; else, if read, a node? */
		if (!rfl_fg_read_meta_at(c->fs, c->rfs->csum_seed, grp->fg, b,
					 buf, &mp) ||
		    (mp.code != EXT4_RFX_OK &&
		     !ext4_btree_check_node(&grp->tree, buf, b, -1, &p)))
			ret = rfl_ck_push_blk(l, b);
	}
	ext2fs_free_mem(&buf);
	return ret;
}

/* The nodes of a freshly rebuilt tree, for pass 4 */
static int n_report(void *priv, const struct ext4_btree_problem *p)
{
	(void)priv; (void)p;
	return 0;
}

static int n_node(void *priv, u64 blk, int level)
{
	struct checker *c = priv;

	(void)level;
	c->err = rfl_ck_push_blk(&c->tree_blks, blk);
	return c->err != 0;
}

/* Is b one of the new tree's blocks, tree_blks[mark..]? (a few dozen) */
static bool in_new_tree(const struct checker *c, size_t mark, blk64_t b)
{
	size_t i;

	for (i = mark; i < c->tree_blks.nr; i++)
		if (c->tree_blks.v[i] == b)
			return true;
	return false;
}

static void rebuild_group(struct checker *c, dgrp_t fg, bool meta_bad,
			  size_t tree_mark)
{
	static const struct ext4_btree_verify_ops nops = {
		.report = n_report,
		.node = n_node,
	};
	ext2_filsys fs = c->fs;
	dgrp_t first_bg = fg * e2fs_flex_group_size(fs);
	struct rfl_pctx pctx = { .fg = fg };
	struct rfl_group *grp = &c->rfs->groups[fg];
	struct blk_list *nodes = &c->damaged;
	struct rfl_rec *recs;
	blk64_t old_meta = 0, b;
	size_t i, n, e0, ne;
	errcode_t ret;
	__u32 rel;

	rel = rfl_bg_reserved(fs, first_bg);
	if (meta_bad) {
		/* a damaged metadata block is replaced, never trusted */
		old_meta = grp->first + rel;
		if (!rel || rel >= grp->nr_blocks ||
		    e2fs_meta_map_overlaps(c->rfs->meta_map, old_meta, 1) ||
		    rfl_ck_file_owns(c, old_meta) ||
		    !ext2fs_test_block_bitmap2(fs->block_map, old_meta))
			old_meta = 0;
		rfl_set_bg_reserved(fs, first_bg, 0);
		ext2fs_mark_super_dirty(fs);
		grp->loaded = false;
		ret = rfl_group_load(c->rfs, fg, &grp);
		if (ret) {
			rfl_ck_fail(c, ret, "reloading a flex group");
			return;
		}
	}
	/* a metadata block marked free must not become a tree node */
	if (grp->meta_blk &&
	    !ext2fs_test_block_bitmap2(fs->block_map, grp->meta_blk))
		ext2fs_block_alloc_stats2(fs, grp->meta_blk, +1);
	/*
	 * Only blocks marked in use now are freed after the commit: the
	 * new tree is allocated from free blocks, so it cannot be one of
	 * them
	 */
	for (i = 0, n = 0; i < nodes->nr; i++)
		if (ext2fs_test_block_bitmap2(fs->block_map, nodes->v[i]))
			nodes->v[n++] = nodes->v[i];
	nodes->nr = n;
	ret = old_nodes(c, grp, nodes);
	if (ret) {
		rfl_ck_fail(c, ret, "looking for old tree blocks");
		return;
	}
	for (i = 0; c->recheck && !ret && i < nodes->nr; i++)
		ret = rfl_ck_push_blk(&c->released, nodes->v[i]);
	if (c->recheck && !ret && old_meta)
		ret = rfl_ck_push_blk(&c->released, old_meta);
	if (ret) {
		rfl_ck_fail(c, ret, "looking for old tree blocks");
		return;
	}
	ret = rfl_group_create(c->rfs, fg);
	if (ret) {
		rfl_ck_fail(c, ret, "creating a metadata block");
		return;
	}

	group_expected(c, grp->first, grp->nr_blocks, &e0, &ne);
	ret = rebuild_records(c, e0, &ne, &recs);
	if (ret) {
		rfl_ck_fail(c, ret, "rebuilding a refcount tree");
		return;
	}
	/* forget the old tree: it is replaced whole, its nodes freed below */
	grp->tree.root = 0;
	grp->tree.height = 0;
	grp->tree.nr_records = 0;
	grp->tree.nr_nodes = 0;
	ret = rfl_load_records(grp, recs, ne, REBUILD_FILL);
	if (recs && recs != c->exp + e0)
		free(recs);
	if (ret) {
		rfl_ck_fail(c, ret, "rebuilding a refcount tree");
		return;
	}
	c->changed = true;

	/* pass 4 judges the new tree's blocks, not the old ones */
	c->tree_blks.nr = tree_mark;
	ret = rfl_ck_push_blk(&c->tree_blks, grp->meta_blk);
	if (ret) {
		rfl_ck_fail(c, ret, "rebuilding a refcount tree");
		return;
	}
	if (ext4_btree_verify(&grp->tree, &nops, c) < 0 || c->err) {
		rfl_ck_fail(c, c->err ? c->err : EXT2_ET_NO_MEMORY,
			    "rebuilding a refcount tree");
		return;
	}

	/* the new root is durable: only now may the old blocks go */
	for (i = 0; i < nodes->nr; i++) {
		b = nodes->v[i];
		/*
		 * listed twice, a file's, or part of the new tree: skip; in
		 * the reserve it stays marked, the reserve's again
		 */
		if (ext2fs_test_block_bitmap2(fs->block_map, b) &&
		    !rfl_ck_file_owns(c, b) &&
		    e2fs_host_valid_block(grp->host, b) &&
		    !in_new_tree(c, tree_mark, b) &&
		    !rfl_group_in_reserve(grp, b))
			ext2fs_block_alloc_stats2(fs, b, -1);
	}
	if (old_meta && old_meta != grp->meta_blk &&
	    ext2fs_test_block_bitmap2(fs->block_map, old_meta) &&
	    !in_new_tree(c, tree_mark, old_meta))
		ext2fs_block_alloc_stats2(fs, old_meta, -1);
	pctx.expected = ne;
	pctx.found = grp->tree.nr_nodes;
	pctx.blk = grp->meta_blk;
	rfl_problem_fixed(&c->ctx, PR_R_REBUILT, &pctx);
}

/*
 * FORMAT.md 8.9: a count past 2^32 - 1 cannot be stored; the group is
 * left as it is (no rebuild could be right).  False if so.
 */
static bool check_overflow(struct checker *c, dgrp_t fg, size_t e0,
			   size_t ne)
{
	struct rfl_pctx pctx = { .fg = fg };
	bool ok = true;
	size_t i;

	for (i = e0; i < e0 + ne; i++) {
		if (c->exp[i].count <= 0xffffffffULL)
			continue;
		pctx.blk = c->exp[i].start;
		pctx.len = c->exp[i].len;
		pctx.expected = c->exp[i].count;
		rfl_fix_problem(&c->ctx, PR_3_OVERFLOW, &pctx);
		ok = false;
	}
	if (!ok)
		c->unsure[fg] = 1;
	return ok;
}

/*
 * FORMAT.md 10: a metadata block with a valid checksum and another
 * version or an unknown slot type was written by a newer tool: neither
 * used nor changed, and nothing in the image is written.  Looked for in
 * every flex group before any repair.
 */
void rfl_ck_newer(struct checker *c)
{
	ext2_filsys fs = c->fs;
	struct rfl_pctx pctx = { 0 };
	struct ext4_rfx_problem mp;
	unsigned int n = 0;
	blk64_t blk;
	void *buf;
	dgrp_t fg;

	if (ext2fs_get_mem(fs->blocksize, &buf)) {
		rfl_ck_fail(c, EXT2_ET_NO_MEMORY, "reading metadata blocks");
		return;
	}
	for (fg = 0; fg < c->rfs->nr_flex; fg++) {
		/* Absent or sound: 0; unreadable: mp.code stays EXT4_RFX_OK */
		if (!rfl_fg_read_meta(fs, c->rfs->csum_seed, fg, buf, &blk,
				      &mp))
			continue;
		if (mp.code != EXT4_RFX_BAD_VERSION &&
		    !(mp.code == EXT4_RFX_UNKNOWN_SLOT_TYPE &&
		      mp.found < 0xff00))
			continue;
		c->unsure[fg] = 2;
		pctx.fg = fg;
		pctx.blk = blk;
		pctx.str = meta_problem(c, fg, RFL_ET_BAD_VERSION);
		rfl_fix_problem(&c->ctx, PR_1_NEWER, &pctx);
		n++;
	}
	ext2fs_free_mem(&buf);
	if (n && c->ctx.mode != RFL_NO) {
		pctx.expected = n;
		rfl_fix_problem(&c->ctx, PR_1_NEWER_NO_WRITE, &pctx);
		c->ctx.mode = RFL_NO;
	}
}

/* Invariant 3: only a flex group's first descriptor holds a pointer */
static void check_stray_pointers(struct checker *c, dgrp_t fg)
{
	ext2_filsys fs = c->fs;
	dgrp_t size = e2fs_flex_group_size(fs);
	dgrp_t g, end = (fg + 1) * size;
	struct rfl_pctx pctx = { 0 };
	__u32 v;

	if (end > fs->group_desc_count)
		end = fs->group_desc_count;
	for (g = fg * size + 1; g < end; g++) {
		v = rfl_bg_reserved(fs, g);
		if (!v)
			continue;
		pctx.fg = g;
		pctx.found = v;
		if (!rfl_fix_problem(&c->ctx, PR_1_STRAY_RESERVED, &pctx))
			continue;
		rfl_set_bg_reserved(fs, g, 0);
		c->changed = true;
		rfl_problem_fixed(&c->ctx, PR_1_STRAY_RESERVED, &pctx);
	}
}

void rfl_ck_group(struct checker *c, dgrp_t fg)
{
	static const struct ext4_btree_verify_ops vops = {
		.report = v_report,
		.valid_block = v_valid,
		.test_and_set_seen = v_seen,
		.record = v_record,
		.node = v_node,
	};
	ext2_filsys fs = c->fs;
	struct rfl_group *grp = &c->rfs->groups[fg];
	struct rfl_pctx pctx = { .fg = fg };
	blk64_t first = e2fs_flex_group_first_block(fs, fg);
	blk64_t nr = e2fs_flex_group_blocks(fs, fg);
	size_t tree_mark = c->tree_blks.nr;
	bool meta_bad = false;
	size_t e0, ne;
	errcode_t ret;
	long n;
	__u32 rel;

	/* a newer writer's flex group: reported already, left alone */
	if (c->unsure[fg] == 2)
		return;
	c->bad = c->rebuild = false;
	c->nr_found = 0;
	c->node_problems = 0;
	c->grp_nodes = 0;
	c->damaged.nr = 0;

	/* Pass 1: the pointer, then the block it points at */
	check_stray_pointers(c, fg);
	rel = rfl_bg_reserved(fs, fg * e2fs_flex_group_size(fs));
	pctx.blk = first + rel;
	if (rel >= nr)
		pctx.str = "outside the flex group";
	else if (rel && e2fs_meta_map_overlaps(c->rfs->meta_map, first + rel,
					       1))
		pctx.str = "at fs metadata";
	else if (rel && rfl_ck_file_owns(c, first + rel))
		pctx.str = "at a block a file holds";
	if (pctx.str) {
		pctx.blk = rel;
		group_problem(c, PR_1_META_RANGE, &pctx);
		meta_bad = true;
	} else if (!rel && lost_meta(c, fg)) {
		/* reported by the floor; the tree went with its pointer */
		meta_bad = true;
	} else {
		ret = rfl_group_load(c->rfs, fg, &grp);
		if (ret == RFL_ET_BAD_MAGIC || ret == RFL_ET_BAD_CSUM ||
		    ret == RFL_ET_BAD_VERSION || ret == RFL_ET_CORRUPT_META ||
		    ret == EXT2_ET_SHORT_READ) {
			pctx.blk = first + rel;
			pctx.str = meta_problem(c, fg, ret);
			group_problem(c, PR_1_BAD_META, &pctx);
			meta_bad = true;
		} else if (ret) {
			rfl_ck_fail(c, ret, "loading a flex group");
			return;
		} else if (grp->meta_blk) {
			if (!ext2fs_test_block_bitmap2(fs->block_map,
						       grp->meta_blk))
				group_problem(c, PR_4_META_UNMARKED, &pctx);
			c->err = rfl_ck_push_blk(&c->tree_blks,
						 grp->meta_blk);
		}
	}
	if (rfl_ck_stop(c))
		return;

	group_expected(c, first, nr, &e0, &ne);
	if (!check_overflow(c, fg, e0, ne))
		return;
	if (!meta_bad) {
		/* Passes 2 and 4 over the tree, collecting its records */
		c->grp = grp;
		rfl_blkset_clear(&c->seen);
		n = ext4_btree_verify(&grp->tree, &vops, c);
		if (n < 0 && !c->err)
			c->err = EXT2_ET_NO_MEMORY;
		if (c->err) {
			rfl_ck_fail(c, c->err, "checking a refcount tree");
			return;
		}
		if (rfl_ck_stop(c))
			return;
		/* Pass 3: both ways against the files */
		c->tree_clean = !c->bad;
		/* (no expected records: exp may be NULL, no offset on it) */
		c->unsure_diffs = 0;
		if (!n)
			rfl_compare_records(ne ? c->exp + e0 : NULL, ne,
					    c->found, c->nr_found, diff, c);
		diffs_held(c, fg);
	} else if (ne) {
		/* the tree is lost with its metadata: say what it must hold */
		pctx.expected = ne;
		group_problem(c, PR_3_LOST_TREE, &pctx);
	}
	if (rfl_ck_stop(c))
		return;
	if (c->rebuild) {
		rebuild_group(c, fg, meta_bad, tree_mark);
		c->records += ne;
		c->tree_blocks += c->rfs->groups[fg].tree.nr_nodes;
	} else {
		if (c->bad)
			c->unsure[fg] = 1;
		c->records += c->nr_found;
		c->tree_blocks += c->grp_nodes;
	}
}

// SPDX-License-Identifier: GPL-2.0
/*
 * pass_bitmap.c - reflinkck pass 4 over the whole block bitmap
 * (docs/FORMAT.md 8.10): a block marked in use that is neither fs
 * metadata, nor held by an inode, nor a reachable tree or metadata block
 * is leaked (an interrupted share or copy-on-write leaves such blocks
 * behind, 7.5) and is freed; then every group's free block count and the
 * superblock's are compared with the bitmap.
 *
 * Before that, and before any repair can allocate a block, blocks the
 * files and the fs metadata hold but the bitmap calls free are marked in
 * use (a crash can lose a bitmap write): otherwise a rebuilt tree could
 * take a block of a file's extent tree.
 *
 * Memory: the claimed ranges (extents, inode blocks, tree blocks, fs
 * metadata runs), never a bitmap of the disk.
 */
#include <stdlib.h>

#include "btree/e2fs_host.h"
#include "check/check_int.h"
#include "util/vec.h"

struct claims {
	struct rfl_range *v;
	size_t nr, max;
};

/* Append without merging */
static errcode_t push_range(struct claims *c, blk64_t start, blk64_t len)
{
	if (rfl_vec_grow((void **)&c->v, &c->max, c->nr, sizeof(*c->v)))
		return EXT2_ET_NO_MEMORY;
	c->v[c->nr].start = start;
	c->v[c->nr].len = len;
	c->nr++;
	return 0;
}

/*
 * Add [start, start + len), starts coming in nondecreasing order: an
 * overlapping or touching range extends the last one, so the list stays
 * sorted and disjoint without a sort
 */
static errcode_t claim(struct claims *c, blk64_t start, blk64_t len)
{
	struct rfl_range *last = c->nr ? &c->v[c->nr - 1] : NULL;

	if (!len)
		return 0;
	if (last && start <= last->start + last->len) {
		if (start + len > last->start + last->len)
			last->len = start + len - last->start;
		return 0;
	}
	return push_range(c, start, len);
}

/* A sorted source of ranges for the merge */
struct source {
	const void *v;
	size_t nr, size, i;
};

static const struct rfl_range *head(const struct source *src)
{
	if (src->i >= src->nr)
		return NULL;
	return (const struct rfl_range *)((const char *)src->v +
					  src->i * src->size);
}

/*
 * Everything that holds a block: the extents, the other inode blocks, the
 * fs metadata (all three already sorted by start, merged here in one
 * pass) and, with_trees, the tree and metadata blocks reached
 */
static errcode_t collect(struct checker *ck, struct claims *c,
			 bool with_trees)
{
	const struct rfl_scan *s = &ck->scan;
	struct e2fs_meta_map *map = ck->rfs->meta_map;
	unsigned int m, nm = e2fs_meta_map_nr(map);
	struct claims meta = { 0 }, extra = { 0 };
	struct source src[4];
	const struct rfl_range *r;
	blk64_t start, len, mmp = ck->fs->super->s_mmp_block, key[4];
	errcode_t ret = 0;
	size_t i, k, b, left;

	for (m = 0; !ret && m < nm; m++) {
		e2fs_meta_map_run(map, m, &start, &len);
		ret = push_range(&meta, start, len);
	}
	for (i = 0; with_trees && !ret && i < ck->tree_blks.nr; i++)
		ret = push_range(&extra, ck->tree_blks.v[i], 1);
	for (i = 0; with_trees && !ret && i + 1 < ck->resv.nr; i += 2)
		ret = push_range(&extra, ck->resv.v[i], ck->resv.v[i + 1]);
	if (!ret && ext2fs_has_feature_mmp(ck->fs->super) && mmp)
		ret = push_range(&extra, mmp, 1);
	if (ret)
		goto out;
	/* a few hundred at most: the only sort */
	if (extra.nr)
		qsort(extra.v, extra.nr, sizeof(*extra.v), rfl_cmp_range);

	src[0] = (struct source){ s->runs, s->nr_runs, sizeof(*s->runs), 0 };
	src[1] = (struct source){ s->owned, s->nr_owned, sizeof(*s->owned),
				  0 };
	src[2] = (struct source){ meta.v, meta.nr, sizeof(*meta.v), 0 };
	src[3] = (struct source){ extra.v, extra.nr, sizeof(*extra.v), 0 };
	/* each source's next start, ~0 once it is used up */
	for (k = 0, left = 0; k < 4; k++) {
		r = head(&src[k]);
		key[k] = r ? r->start : ~(blk64_t)0;
		left += src[k].nr;
	}
	for (; left; left--) {
		/* the smallest start; on a tie the first source, as before */
		b = 0;
		for (k = 1; k < 4; k++)
			if (key[k] < key[b])
				b = k;
		r = head(&src[b]);
		ret = claim(c, r->start, r->len);
		if (ret)
			break;
		src[b].i++;
		r = head(&src[b]);
		key[b] = r ? r->start : ~(blk64_t)0;
	}
out:
	free(meta.v);
	free(extra.v);
	return ret;
}

/* Claimed blocks the bitmap calls free: mark them (e2fsck's "+") */
static void find_unmarked(struct checker *ck, const struct claims *c)
{
	ext2fs_block_bitmap bmap = ck->fs->block_map;
	blk64_t first = ext2fs_get_block_bitmap_start2(bmap);
	blk64_t last = ext2fs_get_block_bitmap_end2(bmap);
	struct rfl_pctx pctx = { 0 };
	blk64_t a, b, z, e;
	size_t i;

	for (i = 0; i < c->nr && !rfl_ck_stop(ck); i++) {
		a = c->v[i].start < first ? first : c->v[i].start;
		e = c->v[i].start + c->v[i].len - 1;
		if (e > last)
			e = last;
		while (a <= e && !rfl_ck_stop(ck)) {
			if (ext2fs_find_first_zero_block_bitmap2(bmap, a, e,
								 &z))
				break;
			if (ext2fs_find_first_set_block_bitmap2(bmap, z, e, &b))
				b = e + 1;
			pctx.blk = z;
			pctx.blk2 = b - 1;
			if (rfl_fix_problem(&ck->ctx, PR_4_USED_FREE, &pctx)) {
				ext2fs_block_alloc_stats_range(ck->fs, z, b - z,
							       +1);
				ck->changed = true;
				rfl_problem_fixed(&ck->ctx, PR_4_USED_FREE,
						  &pctx);
			}
			a = b;
		}
	}
}

/* RFL_CHECK_RECHECK: a rebuild must free what it replaced itself */
static void recheck_leak(struct checker *ck, blk64_t start, blk64_t end)
{
	size_t i;

	for (i = 0; i < ck->released.nr; i++) {
		if (ck->released.v[i] < start || ck->released.v[i] >= end)
			continue;
		fprintf(ck->o->err, "%s: RFL_CHECK_RECHECK: block %llu, "
			"replaced by a rebuild, is left leaked on %s\n",
			ck->o->prog, (unsigned long long)ck->released.v[i],
			ck->o->device);
		ck->recheck_failed = true;
		return;
	}
}

/* Report and free leaked [start, end), one flex group at a time */
static void leaked(struct checker *ck, blk64_t start, blk64_t end)
{
	ext2_filsys fs = ck->fs;
	struct rfl_pctx pctx = { 0 };
	blk64_t edge;
	dgrp_t fg;

	if (ck->recheck)
		recheck_leak(ck, start, end);
	while (start < end && !rfl_ck_stop(ck)) {
		fg = e2fs_flex_group_of(fs, start);
		edge = e2fs_flex_group_first_block(fs, fg + 1);
		if (edge > end)
			edge = end;
		/* a tree left damaged owns blocks we cannot see */
		if (fg >= ck->rfs->nr_flex || !ck->unsure[fg]) {
			pctx.fg = fg;
			pctx.blk = start;
			pctx.blk2 = edge - 1;
			pctx.len = edge - start;
			if (rfl_fix_problem(&ck->ctx, PR_4_LEAKED, &pctx)) {
				ext2fs_block_alloc_stats_range(fs, start,
							       edge - start,
							       -1);
				ck->changed = true;
				rfl_problem_fixed(&ck->ctx, PR_4_LEAKED,
						  &pctx);
			}
		}
		start = edge;
	}
}

static errcode_t find_leaks(struct checker *ck)
{
	ext2fs_block_bitmap bmap = ck->fs->block_map;
	blk64_t first = ext2fs_get_block_bitmap_start2(bmap), pos = first;
	blk64_t last = ext2fs_get_block_bitmap_end2(bmap);
	struct claims c = { 0 };
	blk64_t a, b, ce;
	size_t i = 0;
	errcode_t ret;

	ret = collect(ck, &c, true);
	if (ret)
		goto out;
	while (pos <= last && !rfl_ck_stop(ck)) {
		/* the next run of blocks marked in use: [a, b) */
		if (ext2fs_find_first_set_block_bitmap2(bmap, pos, last, &a))
			break;
		if (ext2fs_find_first_zero_block_bitmap2(bmap, a, last, &b))
			b = last + 1;
		pos = b;
		/* minus every claimed range */
		while (a < b) {
			while (i < c.nr && c.v[i].start + c.v[i].len <= a)
				i++;
			if (i == c.nr || c.v[i].start >= b) {
				leaked(ck, a, b);
				break;
			}
			if (c.v[i].start > a)
				leaked(ck, a, c.v[i].start);
			ce = c.v[i].start + c.v[i].len;
			a = ce;
		}
		rfl_ck_progress(ck, 4, pos - first, last + 1 - first);
	}
	rfl_ck_progress(ck, 4, last + 1 - first, last + 1 - first);
out:
	free(c.v);
	return ret;
}

/* Free blocks of group g by the bitmap */
static blk64_t count_free(ext2_filsys fs, dgrp_t g)
{
	ext2fs_block_bitmap bmap = fs->block_map;
	blk64_t pos = ext2fs_group_first_block2(fs, g);
	blk64_t last = ext2fs_group_last_block2(fs, g);
	blk64_t z, s, n = 0;

	while (pos <= last) {
		if (ext2fs_find_first_zero_block_bitmap2(bmap, pos, last, &z))
			break;
		if (ext2fs_find_first_set_block_bitmap2(bmap, z, last, &s))
			s = last + 1;
		n += s - z;
		pos = s;
	}
	return n;
}

/* Free inodes of group g by the bitmap */
static ext2_ino_t count_free_inodes(ext2_filsys fs, dgrp_t g)
{
	ext2fs_inode_bitmap imap = fs->inode_map;
	ext2_ino_t pos = g * fs->super->s_inodes_per_group + 1;
	ext2_ino_t last = pos + fs->super->s_inodes_per_group - 1;
	ext2_ino_t z, s, n = 0;

	while (pos <= last) {
		if (ext2fs_find_first_zero_inode_bitmap2(imap, pos, last, &z))
			break;
		if (ext2fs_find_first_set_inode_bitmap2(imap, z, last, &s))
			s = last + 1;
		n += s - z;
		pos = s;
	}
	return n;
}

/*
 * An inode marked in use past bg_itable_unused was never scanned (an
 * interrupted create): e2fsck's to judge, but no clean result hides it
 */
static void check_itable_unused(struct checker *ck, dgrp_t g)
{
	ext2_filsys fs = ck->fs;
	ext2_ino_t ipg = fs->super->s_inodes_per_group;
	ext2_ino_t unused = ext2fs_bg_itable_unused(fs, g), first, found;
	struct rfl_pctx pctx = { .fg = g };

	if (!ext2fs_has_group_desc_csum(fs) || !unused || unused > ipg)
		return;
	first = g * ipg + 1 + (ipg - unused);
	if (ext2fs_find_first_set_inode_bitmap2(fs->inode_map, first,
						(g + 1) * ipg, &found))
		return;
	pctx.ino = found;
	rfl_fix_problem(&ck->ctx, PR_4_ITABLE_UNUSED, &pctx);
}

static void check_inode_counts(struct checker *ck)
{
	ext2_filsys fs = ck->fs;
	struct rfl_pctx pctx = { 0 };
	__u64 total = 0, n;
	dgrp_t g;

	for (g = 0; g < fs->group_desc_count && !rfl_ck_stop(ck); g++) {
		check_itable_unused(ck, g);
		n = count_free_inodes(fs, g);
		total += n;
		if (n == ext2fs_bg_free_inodes_count(fs, g))
			continue;
		pctx.fg = g;
		pctx.expected = n;
		pctx.found = ext2fs_bg_free_inodes_count(fs, g);
		if (!rfl_fix_problem(&ck->ctx, PR_4_GROUP_INODES, &pctx))
			continue;
		ext2fs_bg_free_inodes_count_set(fs, g, n);
		ext2fs_group_desc_csum_set(fs, g);
		ext2fs_mark_super_dirty(fs);
		ck->changed = true;
		rfl_problem_fixed(&ck->ctx, PR_4_GROUP_INODES, &pctx);
	}
	if (rfl_ck_stop(ck) || total == fs->super->s_free_inodes_count)
		return;
	pctx.expected = total;
	pctx.found = fs->super->s_free_inodes_count;
	if (!rfl_fix_problem(&ck->ctx, PR_4_SUPER_INODES, &pctx))
		return;
	fs->super->s_free_inodes_count = total;
	ext2fs_mark_super_dirty(fs);
	ck->changed = true;
	rfl_problem_fixed(&ck->ctx, PR_4_SUPER_INODES, &pctx);
}

static void check_counts(struct checker *ck)
{
	ext2_filsys fs = ck->fs;
	struct rfl_pctx pctx = { 0 };
	blk64_t total = 0, n;
	dgrp_t g;

	for (g = 0; g < fs->group_desc_count && !rfl_ck_stop(ck); g++) {
		n = count_free(fs, g);
		total += n;
		if (n == ext2fs_bg_free_blocks_count(fs, g))
			continue;
		pctx.fg = g;
		pctx.expected = n;
		pctx.found = ext2fs_bg_free_blocks_count(fs, g);
		if (!rfl_fix_problem(&ck->ctx, PR_4_GROUP_FREE, &pctx))
			continue;
		ext2fs_bg_free_blocks_count_set(fs, g, n);
		ext2fs_bg_flags_clear(fs, g, EXT2_BG_BLOCK_UNINIT);
		ext2fs_group_desc_csum_set(fs, g);
		ext2fs_mark_super_dirty(fs);
		ext2fs_mark_bb_dirty(fs);
		ck->changed = true;
		rfl_problem_fixed(&ck->ctx, PR_4_GROUP_FREE, &pctx);
	}
	if (rfl_ck_stop(ck) || total == ext2fs_free_blocks_count(fs->super))
		return;
	pctx.expected = total;
	pctx.found = ext2fs_free_blocks_count(fs->super);
	if (!rfl_fix_problem(&ck->ctx, PR_4_SUPER_FREE, &pctx))
		return;
	ext2fs_free_blocks_count_set(fs->super, total);
	ext2fs_mark_super_dirty(fs);
	ck->changed = true;
	rfl_problem_fixed(&ck->ctx, PR_4_SUPER_FREE, &pctx);
}

void rfl_ck_used_blocks(struct checker *ck)
{
	struct claims c = { 0 };
	errcode_t ret;

	ret = collect(ck, &c, false);
	if (ret)
		rfl_ck_fail(ck, ret, "checking the block bitmap");
	else
		find_unmarked(ck, &c);
	free(c.v);
}

void rfl_ck_bitmaps(struct checker *ck)
{
	errcode_t ret;

	/* an unreadable inode may own any block: judge no leak then */
	if (!ck->scan.bad_inodes) {
		ret = find_leaks(ck);
		if (ret) {
			rfl_ck_fail(ck, ret, "looking for leaked blocks");
			return;
		}
	}
	check_counts(ck);
	check_inode_counts(ck);
}

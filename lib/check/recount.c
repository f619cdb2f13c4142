// SPDX-License-Identifier: GPL-2.0
/*
 * recount.c - expected refcount records from the files' extents, by
 * scan, sort and sweep; and the merge-compare with the trees.
 */
#include <stdlib.h>
#include <string.h>
#include "btree/e2fs_host.h"
#include "check/recount.h"
#include "check/sort.h"
#include "reflink/rfl_extwalk.h"
#include "util/vec.h"

struct scan_ctx {
	ext2_filsys fs;
	struct rfl_vec runs, owned, splits, unlinked, iblocks, live;
	blk64_t nblocks;		/* blocks the inode maps and holds */
	bool irregular;			/* i_blocks not judged */
	rfl_bad_inode_fn bad;
	rfl_scan_progress_fn progress;
	void *priv;
	ext2_ino_t ino;
	bool counted;			/* a live inode: E(b) counts it */
	bool flagged;
	bool fsck_reads;		/* stock e2fsck reads its data */
	errcode_t err;			/* out of memory in a callback */
	unsigned long long bad_inodes, stray;
	/* this group's inodes in the bitmap, and those with no links */
	unsigned long long g_used, g_empty;
	dgrp_t empty_group;
	unsigned long long empty, empty_of;
};

/*
 * A descriptor pointing the inode table at the wrong blocks (valid
 * checksum) makes every inode of the group read as empty or fail its
 * checksum: its files' blocks would all look leaked.  A crash leaves a few inodes in use
 * without links, never most of a group's.
 */
static void group_end(struct scan_ctx *s, dgrp_t group)
{
	if (!s->empty_of && s->g_empty >= 8 && 2 * s->g_empty > s->g_used) {
		s->empty_group = group;
		s->empty = s->g_empty;
		s->empty_of = s->g_used;
	}
	s->g_used = s->g_empty = 0;
}

static void bad_inode(struct scan_ctx *s, errcode_t err)
{
	s->irregular = true;
	s->bad_inodes++;
	if (s->bad)
		s->bad(s->priv, s->ino, err);
}

static errcode_t add_owned(struct scan_ctx *s, blk64_t start, blk64_t len)
{
	struct rfl_range *o;

	s->nblocks += len;
	o = s->owned.nr ? (struct rfl_range *)s->owned.v + s->owned.nr - 1 :
			  NULL;
	if (o && o->start + o->len == start) {
		o->len += len;
		return 0;
	}
	o = rfl_vec_push(&s->owned);
	if (!o)
		return EXT2_ET_NO_MEMORY;
	o->start = start;
	o->len = len;
	return 0;
}

/* The leaf before the one being added: splits are found against it */
struct leaf_walk {
	struct ext2fs_extent prev;
	size_t prev_run;
	bool have_prev;
};

/* add_leaf: the inode is bad (reported); stop walking it, no error */
#define LEAF_STOP	((errcode_t)-1)

/*
 * One leaf extent, in logical order.  Returns 0 to go on, LEAF_STOP, or
 * an error.
 */
static errcode_t add_leaf(struct scan_ctx *s, struct leaf_walk *w,
			  const struct ext2fs_extent *ex)
{
	struct rfl_split *sp;
	struct rfl_run *r;

	if (!ex->e_len)
		return 0;
	/* leaves come in logical order: an overlap is a split */
	if (w->have_prev && ex->e_lblk < w->prev.e_lblk + w->prev.e_len) {
		if (ex->e_lblk <= w->prev.e_lblk ||
		    ex->e_lblk + ex->e_len < w->prev.e_lblk + w->prev.e_len ||
		    ex->e_pblk !=
		    w->prev.e_pblk + (ex->e_lblk - w->prev.e_lblk) ||
		    (ex->e_flags ^ w->prev.e_flags) &
		    EXT2_EXTENT_FLAGS_UNINIT) {
			bad_inode(s, RFL_ET_EXTENT_OVERLAP);
			return LEAF_STOP;
		}
		sp = rfl_vec_push(&s->splits);
		if (!sp)
			return EXT2_ET_NO_MEMORY;
		sp->ino = s->ino;
		sp->lblk = w->prev.e_lblk;
		sp->pblk = w->prev.e_pblk;
		sp->len = w->prev.e_len;
		sp->new_len = ex->e_lblk - w->prev.e_lblk;
		s->irregular = true;
		/* count the overlapped blocks once */
		if (s->counted)
			((struct rfl_run *)s->runs.v)[w->prev_run].len =
				sp->new_len;
	}
	w->prev = *ex;
	w->have_prev = true;
	w->prev_run = s->runs.nr;
	if (!s->counted)
		return add_owned(s, ex->e_pblk, ex->e_len);
	r = rfl_vec_push(&s->runs);
	if (!r)
		return EXT2_ET_NO_MEMORY;
	s->nblocks += ex->e_len;
	r->start = ex->e_pblk;
	r->len = ex->e_len;
	r->ino = s->ino;
	r->flagged = s->flagged;
	r->fsck_reads = s->fsck_reads;
	return 0;
}

/*
 * Most files fit their extents in the inode (depth 0): read them there,
 * as ext2fs_extent_get would, without opening an extent handle (two
 * allocations and a copy of the inode each).  The header is verified by
 * libext2fs's own rule first; anything else takes the handle, through
 * rfl_extent_walk.  This fast path is the one extent walk left outside
 * it: pass 1 reads every file's tree.
 */
static bool walk_inline_extents(struct scan_ctx *s, struct ext2_inode *inode,
				errcode_t *retp)
{
	const struct ext3_extent_header *eh = (void *)inode->i_block;
	const struct ext3_extent *ee = (const void *)(eh + 1);
	struct leaf_walk w = { .have_prev = false };
	struct ext2fs_extent ex;
	unsigned int i, n;
	errcode_t ret = 0;

	if (ext2fs_extent_header_verify(inode->i_block,
					sizeof(inode->i_block)) ||
	    ext2fs_le16_to_cpu(eh->eh_depth) != 0)
		return false;
	n = ext2fs_le16_to_cpu(eh->eh_entries);
	for (i = 0; i < n && !ret; i++) {
		ex.e_pblk = ext2fs_le32_to_cpu(ee[i].ee_start) +
			((__u64)ext2fs_le16_to_cpu(ee[i].ee_start_hi) << 32);
		ex.e_lblk = ext2fs_le32_to_cpu(ee[i].ee_block);
		ex.e_len = ext2fs_le16_to_cpu(ee[i].ee_len);
		ex.e_flags = EXT2_EXTENT_FLAGS_LEAF;
		if (ex.e_len > EXT_INIT_MAX_LEN) {
			ex.e_len -= EXT_INIT_MAX_LEN;
			ex.e_flags |= EXT2_EXTENT_FLAGS_UNINIT;
		}
		ret = add_leaf(s, &w, &ex);
	}
	*retp = ret == LEAF_STOP ? 0 : ret;
	return true;
}

/* walk_extents' walk of a deeper tree */
struct tree_walk {
	struct scan_ctx *s;
	struct leaf_walk w;
	errcode_t stop;			/* a callback's, not the tree's */
};

static errcode_t tree_leaf(void *priv, blk64_t lblk, blk64_t pblk,
			   __u32 len, __u32 flags)
{
	struct tree_walk *t = priv;
	struct ext2fs_extent ex = {
		.e_pblk = pblk, .e_lblk = lblk, .e_len = len,
		.e_flags = flags,
	};

	t->stop = add_leaf(t->s, &t->w, &ex);
	return t->stop;
}

/* an index entry's child: a block the inode holds */
static errcode_t tree_node(void *priv, blk64_t pblk)
{
	struct tree_walk *t = priv;

	t->stop = add_owned(t->s, pblk, 1);
	return t->stop;
}

static errcode_t walk_extents(struct scan_ctx *s, struct ext2_inode *inode)
{
	static const struct rfl_extwalk_ops ops = {
		.leaf = tree_leaf,
		.node = tree_node,
	};
	struct tree_walk t = { .s = s, .w = { .have_prev = false } };
	errcode_t ret;

	if (walk_inline_extents(s, inode, &ret))
		return ret;
	ret = rfl_extent_walk(s->fs, s->ino, inode, &ops, &t);
	if (t.stop)
		return t.stop == LEAF_STOP ? 0 : t.stop;
	if (ret)
		bad_inode(s, ret);
	return 0;
}

static int map_block(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt,
		     blk64_t ref_blk, int ref_offset, void *priv)
{
	struct scan_ctx *s = priv;

	(void)fs; (void)blockcnt; (void)ref_blk; (void)ref_offset;
	s->err = add_owned(s, *blocknr, 1);
	return s->err ? BLOCK_ABORT : 0;
}

static errcode_t walk_blocks(struct scan_ctx *s, struct ext2_inode *inode)
{
	blk64_t acl = ext2fs_file_acl_block(s->fs, inode);
	errcode_t ret = 0;

	if (acl) {
		ret = add_owned(s, acl, 1);
		if (ret)
			return ret;
	}
	if (!ext2fs_inode_has_valid_blocks2(s->fs, inode))
		return 0;
	if (inode->i_flags & EXT4_EXTENTS_FL)
		return walk_extents(s, inode);
	/* block-mapped: the journal or bad-blocks inode of an old image */
	s->err = 0;
	ret = ext2fs_block_iterate3(s->fs, s->ino, BLOCK_FLAG_READ_ONLY, NULL,
				    map_block, s);
	if (s->err)
		return s->err;
	if (ret)
		bad_inode(s, ret);
	return 0;
}

/* Walk the inode's blocks, then compare i_blocks with what it holds */
static errcode_t walk_inode(struct scan_ctx *s, struct ext2_inode *inode)
{
	struct rfl_iblocks *ib;
	blk64_t found;
	errcode_t ret;

	s->nblocks = 0;
	s->irregular = false;
	ret = walk_blocks(s, inode);
	if (ret || s->irregular || !s->counted ||
	    !ext2fs_inode_has_valid_blocks2(s->fs, inode))
		return ret;
	found = ext2fs_get_stat_i_blocks(s->fs, inode) /
		(s->fs->blocksize / 512);
	if (found == s->nblocks)
		return 0;
	ib = rfl_vec_push(&s->iblocks);
	if (!ib)
		return EXT2_ET_NO_MEMORY;
	ib->ino = s->ino;
	ib->found = found;
	ib->expected = s->nblocks;
	return 0;
}

/*
 * Does a directory entry name this live inode?  Not the reserved ones,
 * nor those the superblock holds (orphan file, quota) nor the values
 * of extended attributes in inodes of their own.
 */
static bool named_inode(ext2_filsys fs, ext2_ino_t ino,
			const struct ext2_inode *inode)
{
	const struct ext2_super_block *sb = fs->super;

	if (ino == EXT2_ROOT_INO)
		return true;
	if (ino < EXT2_FIRST_INODE(sb) || (inode->i_flags & EXT4_EA_INODE_FL))
		return false;
	return ino != sb->s_journal_inum && ino != sb->s_orphan_file_inum &&
	       ino != sb->s_usr_quota_inum && ino != sb->s_grp_quota_inum &&
	       ino != sb->s_prj_quota_inum;
}

int rfl_cmp_range(const void *a, const void *b)
{
	const struct rfl_range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

static errcode_t scan_group_done(ext2_filsys fs, ext2_inode_scan scan,
				 dgrp_t group, void *priv)
{
	struct scan_ctx *s = priv;

	(void)scan;
	group_end(s, group);
	if (s->progress)
		s->progress(s->priv, group + 1, fs->group_desc_count);
	return 0;
}

errcode_t rfl_scan_files(ext2_filsys fs, rfl_bad_inode_fn bad,
			 rfl_scan_progress_fn progress, void *priv,
			 struct rfl_scan *out)
{
	struct scan_ctx s = {
		.fs = fs, .bad = bad, .progress = progress, .priv = priv,
		.runs = { .size = sizeof(struct rfl_run) },
		.owned = { .size = sizeof(struct rfl_range) },
		.splits = { .size = sizeof(struct rfl_split) },
		.unlinked = { .size = sizeof(ext2_ino_t) },
		.iblocks = { .size = sizeof(struct rfl_iblocks) },
		.live = { .size = sizeof(struct rfl_live) },
	};
	struct rfl_live *lv;
	ext2_ino_t *u;
	struct ext2_inode_large inode;
	struct ext2_inode *raw = (struct ext2_inode *)&inode;
	ext2_inode_scan scan;
	errcode_t ret;
	bool in_map;

	/* reading it again would lose a load that ignored checksums */
	if (!fs->inode_map) {
		ret = ext2fs_read_inode_bitmap(fs);
		if (ret)
			return ret;
	}
	ret = ext2fs_open_inode_scan(fs, 0, &scan);
	if (ret)
		return ret;
	ext2fs_set_inode_callback(scan, scan_group_done, &s);
	for (;;) {
		ret = ext2fs_get_next_inode_full(scan, &s.ino, raw,
						 sizeof(inode));
		if (ret == EXT2_ET_INODE_CSUM_INVALID ||
		    ret == EXT2_ET_INODE_IS_GARBAGE) {
			/* its block pointers cannot be trusted */
			if (ext2fs_test_inode_bitmap2(fs->inode_map, s.ino)) {
				bad_inode(&s, ret);
				s.g_used++;
				s.g_empty++;
			}
			else if (inode.i_links_count)
				s.stray++;
			continue;
		}
		if (ret || !s.ino)
			break;
		/*
		 * e2fsck's rule: an inode with links is in use whatever
		 * the inode bitmap says (a bitmap read from a wrong block
		 * says nothing is), and its blocks are never leaked.  It
		 * is walked, but left out of the live inodes: an entry
		 * naming it stays e2fsck's to judge (PR_1_ENTRY_FREE).
		 */
		in_map = ext2fs_test_inode_bitmap2(fs->inode_map, s.ino);
		if (!in_map) {
			if (!inode.i_links_count)
				continue;
			s.stray++;
		}
		/*
		 * An orphan waiting to be freed is not a sharer (8.9), but
		 * its blocks are not free either until it is processed.
		 */
		/*
		 * A live file with i_dtime set (a truncate orphan, or
		 * damage) is kept by e2fsck: it shares like any other.
		 * Only an inode without links is waiting to be freed.
		 */
		s.counted = inode.i_links_count;
		if (s.counted && in_map && named_inode(fs, s.ino, raw)) {
			lv = rfl_vec_push(&s.live);
			if (!lv) {
				ret = EXT2_ET_NO_MEMORY;
				break;
			}
			lv->ino = s.ino;
			lv->links = inode.i_links_count;
			lv->dir = LINUX_S_ISDIR(inode.i_mode);
		}
		if (in_map && s.ino >= EXT2_FIRST_INODE(fs->super)) {
			s.g_used++;
			s.g_empty += !s.counted;
		}
		/* reserved inodes have no links by design */
		if (!s.counted && s.ino >= EXT2_FIRST_INODE(fs->super)) {
			u = rfl_vec_push(&s.unlinked);
			if (!u) {
				ret = EXT2_ET_NO_MEMORY;
				break;
			}
			*u = s.ino;
		}
		s.flagged = inode.i_flags & EXT4_REFLINK_FL;
		/* directories, symlinks, the journal, quota, xattr values */
		s.fsck_reads = !LINUX_S_ISREG(inode.i_mode) ||
			       !named_inode(fs, s.ino, raw);
		ret = walk_inode(&s, raw);
		if (ret)
			break;
	}
	ext2fs_close_inode_scan(scan);
	if (s.g_used)
		group_end(&s, fs->group_desc_count - 1);
	/* by start; equal starts keep the scan's (inode) order */
	if (!ret)
		ret = rfl_sort_by_u64(s.runs.v, s.runs.nr,
				      sizeof(struct rfl_run));
	if (!ret)
		ret = rfl_sort_by_u64(s.owned.v, s.owned.nr,
				      sizeof(struct rfl_range));
	if (ret) {
		free(s.runs.v);
		free(s.owned.v);
		free(s.splits.v);
		free(s.unlinked.v);
		free(s.iblocks.v);
		free(s.live.v);
		return ret;
	}
	out->runs = s.runs.v;
	out->nr_runs = s.runs.nr;
	out->owned = s.owned.v;
	out->nr_owned = s.owned.nr;
	out->bad_inodes = s.bad_inodes;
	out->stray = s.stray;
	out->live = s.live.v;
	out->nr_live = s.live.nr;
	out->iblocks = s.iblocks.v;
	out->nr_iblocks = s.iblocks.nr;
	out->empty_group = s.empty_group;
	out->empty = s.empty;
	out->empty_of = s.empty_of;
	out->unlinked = s.unlinked.v;
	out->nr_unlinked = s.unlinked.nr;
	out->splits = s.splits.v;
	out->nr_splits = s.splits.nr;
	return 0;
}

void rfl_scan_free(struct rfl_scan *scan)
{
	free(scan->runs);
	free(scan->owned);
	free(scan->splits);
	free(scan->unlinked);
	free(scan->iblocks);
	free(scan->live);
	memset(scan, 0, sizeof(*scan));
}

/* Add [s, e) with count c, split at flex-group edges */
static errcode_t expect(ext2_filsys fs, struct rfl_vec *exp, blk64_t s,
			blk64_t e, __u64 c)
{
	struct rfl_rec *last, *r;
	blk64_t edge, fg_first;
	dgrp_t fg;

	while (s < e) {
		fg = e2fs_flex_group_of(fs, s);
		fg_first = e2fs_flex_group_first_block(fs, fg);
		edge = e2fs_flex_group_first_block(fs, fg + 1);
		if (edge > e)
			edge = e;
		last = exp->nr ? (struct rfl_rec *)exp->v + exp->nr - 1 :
				 NULL;
		if (last && last->start + last->len == s &&
		    last->count == c && s != fg_first) {
			last->len += edge - s;
		} else {
			r = rfl_vec_push(exp);
			if (!r)
				return EXT2_ET_NO_MEMORY;
			r->start = s;
			r->len = edge - s;
			r->count = c;
		}
		s = edge;
	}
	return 0;
}

/*
 * Between two consecutive run starts or ends every block lies under the
 * same number of runs: that number is the count.
 */
errcode_t rfl_expected_records(ext2_filsys fs, const struct rfl_run *r,
			       size_t nr, struct rfl_rec **recsp,
			       size_t *nrecp)
{
	struct rfl_vec exp = { .size = sizeof(struct rfl_rec) };
	blk64_t *ends, pos = 0, x;
	size_t i, j = 0;
	__u64 depth = 0;
	errcode_t ret = 0;

	ends = malloc((nr ? nr : 1) * sizeof(*ends));
	if (!ends)
		return EXT2_ET_NO_MEMORY;
	for (i = 0; i < nr; i++)
		ends[i] = r[i].start + r[i].len;
	if (rfl_sort_by_u64(ends, nr, sizeof(*ends))) {
		free(ends);
		return EXT2_ET_NO_MEMORY;
	}

	i = 0;
	while (!ret && (i < nr || j < nr)) {
		x = i < nr && r[i].start < ends[j] ? r[i].start : ends[j];
		if (depth >= 2 && x > pos)
			ret = expect(fs, &exp, pos, x, depth);
		pos = x;
		while (i < nr && r[i].start == x) {
			depth++;
			i++;
		}
		while (j < nr && ends[j] == x) {
			depth--;
			j++;
		}
	}
	free(ends);
	if (ret) {
		free(exp.v);
		return ret;
	}
	*recsp = exp.v;
	*nrecp = exp.nr;
	return 0;
}

static int collect_rec(void *priv, dgrp_t fg, blk64_t start, blk64_t len,
		       __u32 count)
{
	struct rfl_rec *r = rfl_vec_push(priv);

	(void)fg;
	if (!r)
		return EXT2_ET_NO_MEMORY;
	r->start = start;
	r->len = len;
	r->count = count;
	return 0;
}

errcode_t rfl_collect_records(struct rfl_fs *rfs, struct rfl_rec **recsp,
			      size_t *nrecp)
{
	struct rfl_vec found = { .size = sizeof(struct rfl_rec) };
	errcode_t ret;

	ret = rfl_for_each_record(rfs, collect_rec, &found);
	if (ret) {
		free(found.v);
		return ret;
	}
	*recsp = found.v;
	*nrecp = found.nr;
	return 0;
}

struct rec_loader {
	const struct rfl_rec *rec;
	size_t i;
	blk64_t first;			/* of the flex group */
};

static int load_next(void *priv, void *key, void *val)
{
	struct rec_loader *l = priv;
	const struct rfl_rec *r = &l->rec[l->i++];
	struct ext4_refcount_rec rec = {
		.start = (u32)(r->start - l->first),
		.len = (u32)r->len,
		.count = (u32)r->count,
	};

	ext4_refcount_rec_encode(&rec, key, val);
	return 0;
}

errcode_t rfl_load_records(struct rfl_group *grp, const struct rfl_rec *recs,
			   size_t nr, unsigned int fill)
{
	struct rec_loader l = { .rec = recs, .first = grp->first };

	return rfl_group_bulk_load(grp, nr, fill, load_next, &l);
}

void rfl_compare_records(const struct rfl_rec *e, size_t ne,
			 const struct rfl_rec *a, size_t na,
			 rfl_diff_fn fn, void *priv)
{
	size_t i = 0, j = 0;

	while (i < ne || j < na) {
		const struct rfl_rec *x = i < ne ? &e[i] : NULL;
		const struct rfl_rec *y = j < na ? &a[j] : NULL;

		if (x && y && x->start == y->start) {
			if (x->len != y->len)
				fn(priv, RFL_DIFF_LENGTH, x, y);
			else if (x->count != y->count)
				fn(priv, RFL_DIFF_COUNT, x, y);
			if (x->start + x->len <= y->start + y->len)
				i++;
			if (y->start + y->len <= x->start + x->len)
				j++;
		} else if (x && (!y || x->start + x->len <= y->start)) {
			fn(priv, RFL_DIFF_MISSING, x, NULL);
			i++;
		} else if (y && (!x || y->start + y->len <= x->start)) {
			fn(priv, RFL_DIFF_EXTRA, NULL, y);
			j++;
		} else {
			fn(priv, RFL_DIFF_RANGE, x, y);
			if (x->start + x->len <= y->start + y->len)
				i++;
			if (y->start + y->len <= x->start + x->len)
				j++;
		}
	}
}

errcode_t rfl_unflagged_sharers(const struct rfl_run *r, size_t nr,
				const struct rfl_rec *e, size_t ne,
				void (*fn)(void *priv, ext2_ino_t ino),
				void *priv)
{
	struct rfl_vec bad = { .size = sizeof(ext2_ino_t) };
	ext2_ino_t *ino;
	size_t i, lo = 0;

	for (i = 0; i < nr; i++) {
		if (r[i].flagged)
			continue;
		/*
		 * the first expected record ending after the run's start:
		 * the records are disjoint and the runs sorted by start, so
		 * one walk over both finds them all
		 */
		while (lo < ne && e[lo].start + e[lo].len <= r[i].start)
			lo++;
		if (lo < ne && e[lo].start < r[i].start + r[i].len) {
			ino = rfl_vec_push(&bad);
			if (!ino) {
				free(bad.v);
				return EXT2_ET_NO_MEMORY;
			}
			*ino = r[i].ino;
		}
	}
	if (rfl_sort_u32(bad.v, bad.nr)) {
		free(bad.v);
		return EXT2_ET_NO_MEMORY;
	}
	ino = bad.v;
	for (i = 0; i < bad.nr; i++)
		if (!i || ino[i] != ino[i - 1])
			fn(priv, ino[i]);
	free(bad.v);
	return 0;
}

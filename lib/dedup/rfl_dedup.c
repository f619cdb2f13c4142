// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_dedup.c - deduplicate an existing image offline (rfl_dedup.h).
 *
 * Four steps: scan the inodes for the extents of the files that take
 * part; read their blocks in physical order, hashing and comparing, into
 * runs of copies; plan each changed file's new extent tree; then write
 * in the crash-safe order of docs/FORMAT.md 7.7.
 */
#include <stdlib.h>
#include <string.h>

#include "dedup/rfl_dedup.h"
#include "dedup/blkhash.h"
#include "dedup/refload.h"
#include "dedup/xtree.h"
#include "reflink/rfl_extwalk.h"

#include <ext2fs/ext3_extents.h>

/* Blocks read from the image at a time */
#define READ_BLOCKS	256

/* Files with these flags are left alone */
#define SKIP_FLAGS	(EXT2_IMMUTABLE_FL | EXT2_APPEND_FL | \
			 EXT4_ENCRYPT_FL | EXT4_VERITY_FL | \
			 EXT4_INLINE_DATA_FL | EXT4_EA_INODE_FL)

/* An initialized leaf extent of a file that takes part */
struct dext {
	blk64_t pblk;
	blk64_t lblk;
	ext2_ino_t ino;
	__u32 len;
};

/* Copies: [d, d + len) at lblk of ino hold the bytes of [c, c + len) */
struct drun {
	blk64_t lblk, d, c;
	ext2_ino_t ino;
	__u32 len;
};


/* A file whose extent tree is rewritten */
struct fplan {
	ext2_ino_t ino;
	int depth;
	size_t x0, nx;			/* its leaf extents in c->newx */
	size_t o0, nold;		/* its old tree blocks in c->oldt */
	size_t t0, nnew;		/* its new tree blocks in c->newt */
};

struct span {
	blk64_t start, end;
};

struct dctx {
	struct rfl_fs *rfs;
	ext2_filsys fs;
	struct rfl_dedup *d;

	struct dext *ext;
	size_t nr_ext, max_ext;
	struct span *shared;		/* blocks with a record */
	size_t nr_shared, max_shared;
	struct drun *runs;
	size_t nr_runs, max_runs;
	struct fplan *files;
	size_t nr_files, max_files;
	struct rfl_xleaf *newx;
	size_t nr_newx, max_newx;
	blk64_t *oldt, *newt;
	size_t nr_oldt, max_oldt, nr_newt, max_newt;

	struct rfl_blkhash tab;
	char *win;			/* READ_BLOCKS read ahead */
	blk64_t win_start;
	unsigned int win_nr;
	char *cmp;			/* one candidate read back */
	char *blk;			/* one extent block being built */
	__u64 total, done;
};


/* ---------------------------------------------------------------- */
/* Scan                                                              */
/* ---------------------------------------------------------------- */

/* scan_file's walk of one file */
struct scan_walk {
	struct dctx *c;
	ext2_ino_t ino;
	errcode_t err;			/* out of memory: the scan fails */
};

static errcode_t scan_extent(void *priv, blk64_t lblk, blk64_t pblk,
			     __u32 len, __u32 flags)
{
	struct scan_walk *w = priv;
	struct dctx *c = w->c;

	/* remapped extents must lie inside the data area */
	if (!e2fs_meta_map_data_range(c->fs, c->rfs->meta_map, pblk, len))
		return RFL_ET_BAD_RANGE;
	if (flags & EXT2_EXTENT_FLAGS_UNINIT)
		return 0;
	w->err = RFL_PUSH(c, ext, nr_ext, max_ext, ((struct dext){
		.pblk = pblk, .lblk = lblk, .ino = w->ino, .len = len }));
	if (!w->err)
		c->total += len;
	return w->err;
}

/* The initialized leaf extents of one file, or none if it is skipped */
static errcode_t scan_file(struct dctx *c, ext2_ino_t ino,
			   struct ext2_inode_large *in)
{
	static const struct rfl_extwalk_ops ops = { .leaf = scan_extent };
	struct scan_walk w = { .c = c, .ino = ino };
	size_t mark = c->nr_ext;
	errcode_t ret;

	ret = rfl_extent_walk(c->fs, ino, (struct ext2_inode *)in, &ops, &w);
	if (w.err)
		return w.err;
	if (ret) {
		/* unreadable or off the data area: reflinkck's to judge */
		c->nr_ext = mark;
		c->d->skipped++;
		return 0;
	}
	c->d->files++;
	return 0;
}

/* A file that takes part is scanned; others are skipped or ignored */
static errcode_t scan_inode(void *priv, ext2_ino_t ino,
			    struct ext2_inode_large *in)
{
	struct dctx *c = priv;
	errcode_t ret;

	if (ino < EXT2_FIRST_INODE(c->fs->super) || !LINUX_S_ISREG(in->i_mode))
		return 0;
	if ((in->i_flags & SKIP_FLAGS) || !(in->i_flags & EXT4_EXTENTS_FL)) {
		c->d->skipped++;
		return 0;
	}
	ret = scan_file(c, ino, in);
	if (ret)
		c->d->bad_ino = ino;
	return ret;
}

static errcode_t scan_inodes(struct dctx *c)
{
	return rfl_for_each_inode(c->fs, scan_inode, c);
}

static int rec_cb(void *priv, dgrp_t fg, blk64_t start, blk64_t len,
		  __u32 count)
{
	struct dctx *c = priv;

	(void)fg;
	(void)count;
	return (int)RFL_PUSH(c, shared, nr_shared, max_shared,
			 ((struct span){ start, start + len }));
}

static int dext_cmp(const void *a, const void *b)
{
	const struct dext *x = a, *y = b;

	if (x->pblk != y->pblk)
		return x->pblk < y->pblk ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* ---------------------------------------------------------------- */
/* Read, hash, compare                                               */
/* ---------------------------------------------------------------- */

/* Is b under a record? */
static bool is_shared(const struct dctx *c, blk64_t b)
{
	size_t lo = 0, hi = c->nr_shared;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c->shared[mid].end <= b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nr_shared && c->shared[lo].start <= b;
}

/* Block b of extent i, read ahead over the extents that follow on disk */
static errcode_t get_block(struct dctx *c, size_t i, blk64_t b,
			   const char **data)
{
	unsigned int bs = c->fs->blocksize;
	blk64_t end = c->ext[i].pblk + c->ext[i].len;
	size_t k;
	errcode_t ret;

	if (!c->win_nr || b < c->win_start || b >= c->win_start + c->win_nr) {
		for (k = i + 1; k < c->nr_ext && c->ext[k].pblk == end &&
		     end - b < READ_BLOCKS; k++)
			end += c->ext[k].len;
		c->win_nr = end - b < READ_BLOCKS ? (unsigned int)(end - b) :
			    READ_BLOCKS;
		c->win_start = b;
		ret = io_channel_read_blk64(c->fs->io, b, (int)c->win_nr,
					    c->win);
		if (ret) {
			c->win_nr = 0;
			return ret;
		}
		if (c->d->progress)
			c->d->progress(c->d, c->done, c->total);
	}
	*data = c->win + (size_t)(b - c->win_start) * bs;
	return 0;
}

/* rfl_blkhash_same_fn: compare with a block already read */
static errcode_t same_block(void *priv, blk64_t pblk, const void *data,
			    bool *same)
{
	struct dctx *c = priv;
	unsigned int bs = c->fs->blocksize;
	errcode_t ret;

	if (c->win_nr && pblk >= c->win_start &&
	    pblk < c->win_start + c->win_nr) {
		*same = !memcmp(c->win + (size_t)(pblk - c->win_start) * bs,
				data, bs);
		return 0;
	}
	ret = io_channel_read_blk64(c->fs->io, pblk, 1, c->cmp);
	if (ret)
		return ret;
	*same = !memcmp(c->cmp, data, bs);
	return 0;
}

static errcode_t add_copy(struct dctx *c, ext2_ino_t ino, blk64_t lblk,
			  blk64_t d, blk64_t cb)
{
	struct drun *last = c->nr_runs ? &c->runs[c->nr_runs - 1] : NULL;

	if (last && last->ino == ino && last->lblk + last->len == lblk &&
	    last->d + last->len == d && last->c + last->len == cb &&
	    last->len < EXT_INIT_MAX_LEN) {
		last->len++;
		return 0;
	}
	return RFL_PUSH(c, runs, nr_runs, max_runs, ((struct drun){
		.lblk = lblk, .d = d, .c = cb, .ino = ino, .len = 1 }));
}

/*
 * Every block once, in physical order: the first block with given bytes
 * stays, a later one with a count of 1 becomes a copy.  The blocks under
 * a record go first (shared_pass), since they stay whatever they equal.
 * A block mapped twice must have a record; otherwise it is cross-linked
 * and we stop.
 */
static errcode_t find_copies(struct dctx *c, bool shared_pass)
{
	unsigned int bs = c->fs->blocksize;
	blk64_t done_end = 0, b, cb;
	const char *data;
	errcode_t ret;
	size_t i;
	__u32 k;
	__u64 h;

	for (i = 0; i < c->nr_ext; i++) {
		const struct dext *e = &c->ext[i];

		for (k = 0; k < e->len; k++) {
			bool shared;

			b = e->pblk + k;
			shared = is_shared(c, b);
			if (shared != shared_pass)
				continue;
			c->done++;
			if (b < done_end) {
				if (!shared) {
					c->d->bad_ino = e->ino;
					return RFL_ET_CROSS_LINKED;
				}
				continue;
			}
			done_end = b + 1;
			ret = get_block(c, i, b, &data);
			if (ret)
				return ret;
			c->d->blocks++;
			h = rfl_block_hash(data, bs);
			ret = rfl_blkhash_find(&c->tab, h, data, same_block, c,
					       &cb);
			if (ret)
				return ret;
			if (!cb) {
				ret = rfl_blkhash_insert(&c->tab, h, b);
			} else {
				c->d->copies++;
				if (!shared)
					ret = add_copy(c, e->ino, e->lblk + k,
						       b, cb);
			}
			if (ret)
				return ret;
		}
	}
	if (c->d->progress && !shared_pass)
		c->d->progress(c->d, c->total, c->total);
	return 0;
}

static int drun_cmp(const void *a, const void *b)
{
	const struct drun *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->lblk < y->lblk ? -1 : x->lblk > y->lblk;
}

/* ---------------------------------------------------------------- */
/* Plan the new extent trees                                         */
/* ---------------------------------------------------------------- */

/* Append a leaf extent, merged with the last when it continues it */
static errcode_t emit(struct dctx *c, size_t x0, blk64_t lblk,
		      blk64_t pblk, __u32 len, bool uninit)
{
	struct rfl_xleaf *last = c->nr_newx > x0 ? &c->newx[c->nr_newx - 1] : NULL;
	__u32 max = uninit ? EXT_UNINIT_MAX_LEN : EXT_INIT_MAX_LEN;

	if (last && last->uninit == uninit &&
	    last->lblk + last->len == lblk && last->pblk + last->len == pblk &&
	    last->len + len <= max) {
		last->len += len;
		return 0;
	}
	return RFL_PUSH(c, newx, nr_newx, max_newx, ((struct rfl_xleaf){
		.lblk = lblk, .pblk = pblk, .len = len, .uninit = uninit }));
}

/* plan_file's walk of one file */
struct plan_walk {
	struct dctx *c;
	const struct drun *r;		/* its runs, in logical order */
	size_t nr, ri;
	size_t x0;			/* its first leaf in c->newx */
	blk64_t remapped;
};

static errcode_t plan_node(void *priv, blk64_t pblk)
{
	struct plan_walk *w = priv;

	return RFL_PUSH(w->c, oldt, nr_oldt, max_oldt, pblk);
}

/* A leaf extent of the file, cut where runs start and end */
static errcode_t plan_extent(void *priv, blk64_t lblk, blk64_t pblk,
			     __u32 len, __u32 flags)
{
	struct plan_walk *w = priv;
	bool uninit = flags & EXT2_EXTENT_FLAGS_UNINIT;
	blk64_t pos, end = lblk + len;
	errcode_t ret = 0;

	for (pos = lblk; !ret && pos < end;) {
		blk64_t stop = end, p = pblk + (pos - lblk);

		while (w->ri < w->nr &&
		       w->r[w->ri].lblk + w->r[w->ri].len <= pos)
			w->ri++;
		if (w->ri < w->nr && w->r[w->ri].lblk <= pos) {
			const struct drun *q = &w->r[w->ri];

			if (q->lblk + q->len < stop)
				stop = q->lblk + q->len;
			/* the file changed under us: refuse */
			if (uninit || p != q->d + (pos - q->lblk))
				return RFL_ET_EXTENT_OVERLAP;
			p = q->c + (pos - q->lblk);
			w->remapped += stop - pos;
		} else if (w->ri < w->nr && w->r[w->ri].lblk < stop) {
			stop = w->r[w->ri].lblk;
		}
		ret = emit(w->c, w->x0, pos, p, (__u32)(stop - pos), uninit);
		pos = stop;
	}
	return ret;
}

/*
 * The leaf extents of ino with runs r[0..nr) remapped (each run must
 * lie in initialized extents that still map its copies), and the blocks
 * of its present tree.  -1 in *depth: the tree would be too big.
 */
static errcode_t plan_file(struct dctx *c, ext2_ino_t ino,
			   const struct drun *r, size_t nr, struct fplan *fp)
{
	static const struct rfl_extwalk_ops ops = {
		.leaf = plan_extent,
		.node = plan_node,
	};
	struct plan_walk w = { .c = c, .r = r, .nr = nr, .x0 = c->nr_newx };
	struct ext2_inode_large in;
	blk64_t want = 0;
	errcode_t ret;
	size_t i;

	*fp = (struct fplan){ .ino = ino, .x0 = c->nr_newx,
			      .o0 = c->nr_oldt };
	for (i = 0; i < nr; i++)
		want += r[i].len;
	ret = ext2fs_read_inode_full(c->fs, ino, (struct ext2_inode *)&in,
				     sizeof(in));
	ret = ret ?: rfl_extent_walk(c->fs, ino, (struct ext2_inode *)&in,
				     &ops, &w);
	if (!ret && w.remapped != want)
		ret = RFL_ET_EXTENT_OVERLAP;
	if (ret)
		return ret;
	fp->nx = c->nr_newx - fp->x0;
	fp->nold = c->nr_oldt - fp->o0;
	fp->depth = rfl_xtree_shape(c->fs, fp->nx, &fp->nnew);
	return 0;
}

/* Drop the runs shorter than min_run, then plan every changed file */
static errcode_t plan(struct dctx *c)
{
	unsigned int min = c->d->min_run ? c->d->min_run : 1;
	size_t i, j, n = 0;
	errcode_t ret;

	for (i = 0; i < c->nr_runs; i++)
		if (c->runs[i].len >= min)
			c->runs[n++] = c->runs[i];
	c->nr_runs = n;
	if (c->nr_runs)
		qsort(c->runs, c->nr_runs, sizeof(*c->runs), drun_cmp);
	for (i = 0, n = 0; i < c->nr_runs; i = j) {
		struct fplan fp;

		for (j = i; j < c->nr_runs && c->runs[j].ino == c->runs[i].ino;
		     j++)
			;
		ret = plan_file(c, c->runs[i].ino, c->runs + i, j - i, &fp);
		if (ret) {
			c->d->bad_ino = c->runs[i].ino;
			return ret;
		}
		if (fp.depth < 0) {
			/* more extents than two levels hold: leave it */
			c->nr_newx = fp.x0;
			c->nr_oldt = fp.o0;
			c->d->skipped++;
			continue;
		}
		ret = RFL_PUSH(c, files, nr_files, max_files, fp);
		if (ret)
			return ret;
		/* keep the runs of the files that stay planned */
		memmove(c->runs + n, c->runs + i, (j - i) * sizeof(*c->runs));
		n += j - i;
	}
	c->nr_runs = n;
	for (i = 0; i < c->nr_runs; i++)
		c->d->freed += c->runs[i].len;
	for (i = 0; i < c->nr_files; i++)
		c->d->tree_blocks += (long long)c->files[i].nnew -
				      (long long)c->files[i].nold;
	c->d->runs = c->nr_runs;
	c->d->files_changed = c->nr_files;
	return 0;
}

/* What rfl_group_create takes in grp: its first free block, a reserve */
static blk64_t meta_cost(struct dctx *c, struct rfl_group *grp)
{
	blk64_t end = grp->first + grp->nr_blocks, rlen, b;

	if (ext2fs_find_first_zero_block_bitmap2(c->fs->block_map,
						 grp->first + 1, end - 1, &b))
		return 0;	/* no block: the load fails for space */
	rlen = rfl_fg_resv_blocks(c->fs, grp->fg);
	if (rlen && rfl_fg_find_run(c->fs, c->rfs->meta_map, b + 1, end,
				    b + 1, rlen))
		return 1 + rlen;
	return 1;
}

/*
 * Blocks the run takes beside the extent-tree blocks: a metadata block
 * (and its reserve, where a free run holds one) for every flex group
 * that gets records and has none.  On an image without the feature (a
 * dry run before --enable) --enable makes them, not the dedup.
 */
static errcode_t count_new_meta(struct dctx *c, __u64 *n)
{
	struct rfl_fs *rfs = c->rfs;
	struct rfl_group *grp;
	errcode_t ret = 0;
	dgrp_t fg, last;
	bool *seen;
	size_t i;

	*n = 0;
	if (!rfl_has_feature(c->fs) || !c->nr_runs)
		return 0;
	seen = calloc(rfs->nr_flex, sizeof(*seen));
	if (!seen)
		return EXT2_ET_NO_MEMORY;
	for (i = 0; !ret && i < c->nr_runs; i++) {
		/* the records go where the copies are remapped onto */
		fg = rfl_block_flex_group(rfs, c->runs[i].c);
		last = rfl_block_flex_group(rfs, c->runs[i].c +
					    c->runs[i].len - 1);
		for (; !ret && fg <= last; fg++) {
			if (seen[fg])
				continue;
			seen[fg] = true;
			ret = rfl_group_load(rfs, fg, &grp);
			if (!ret && !grp->meta_blk)
				*n += meta_cost(c, grp);
		}
	}
	free(seen);
	return ret;
}

/* Free blocks for the new extent-tree blocks, taken before any frees */
static errcode_t check_space(struct dctx *c)
{
	size_t i;

	for (i = 0; i < c->nr_files; i++)
		c->d->tree_new += c->files[i].nnew;
	return c->d->tree_new > ext2fs_free_blocks_count(c->fs->super) ?
	       RFL_ET_NO_SPACE : 0;
}

/* New extent-tree blocks for every planned file, near its data */
static errcode_t allocate(struct dctx *c)
{
	ext2_filsys fs = c->fs;
	errcode_t ret;
	size_t i, k;
	blk64_t b;

	for (i = 0; i < c->nr_files; i++) {
		struct fplan *fp = &c->files[i];
		blk64_t goal = c->newx[fp->x0].pblk;

		fp->t0 = c->nr_newt;
		for (k = 0; k < fp->nnew; k++) {
			ret = ext2fs_new_block2(fs, goal, NULL, &b);
			if (ret == EXT2_ET_BLOCK_ALLOC_FAIL)
				ret = RFL_ET_NO_SPACE;
			ret = ret ?: RFL_PUSH(c, newt, nr_newt, max_newt, b);
			if (ret)
				return ret;
			ext2fs_block_alloc_stats2(fs, b, +1);
			goal = b + 1;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Write                                                             */
/* ---------------------------------------------------------------- */

/*
 * The files that map the blocks others are remapped onto get
 * EXT4_REFLINK_FL before anything shares them (FORMAT.md 6.3)
 */
static errcode_t flag_owners(struct dctx *c)
{
	ext2_ino_t *inos = NULL;
	size_t i, n = 0, max = 0, lo, hi, mid, k;
	errcode_t ret = 0;

	for (i = 0; !ret && i < c->nr_runs; i++) {
		blk64_t s = c->runs[i].c, e = s + c->runs[i].len;

		lo = 0;
		hi = c->nr_ext;
		while (hi - lo > 1) {
			mid = (lo + hi) / 2;
			if (c->ext[mid].pblk <= s)
				lo = mid;
			else
				hi = mid;
		}
		/* extents sharing a block may start before the last one */
		while (lo > 0 && c->ext[lo - 1].pblk + c->ext[lo - 1].len > s)
			lo--;
		for (k = lo; !ret && k < c->nr_ext && c->ext[k].pblk < e;
		     k++) {
			if (c->ext[k].pblk + c->ext[k].len <= s ||
			    (n && inos[n - 1] == c->ext[k].ino))
				continue;
			if (rfl_vec_grow((void **)&inos, &max, n,
					 sizeof(*inos)))
				ret = EXT2_ET_NO_MEMORY;
			else
				inos[n++] = c->ext[k].ino;
		}
	}
	if (!ret)
		ret = rfl_flag_inodes(c->fs, inos, n);
	free(inos);
	return ret;
}

/* The new extent trees: blocks first, then one inode write per file */
static errcode_t remap_files(struct dctx *c)
{
	struct ext2_inode_large in;
	__u32 (*roots)[EXT2_N_BLOCKS];
	errcode_t ret = 0;
	size_t i;

	roots = calloc(c->nr_files ? c->nr_files : 1, sizeof(*roots));
	if (!roots)
		return EXT2_ET_NO_MEMORY;
	for (i = 0; !ret && i < c->nr_files; i++)
		ret = rfl_xtree_write(c->fs, c->files[i].ino,
				      c->newx + c->files[i].x0,
				      c->files[i].nx, c->files[i].depth,
				      c->newt + c->files[i].t0, roots[i],
				      c->blk);
	/* the new blocks are on disk before an inode points at them */
	ret = ret ?: io_channel_flush(c->fs->io);
	for (i = 0; !ret && i < c->nr_files; i++) {
		const struct fplan *fp = &c->files[i];

		ret = ext2fs_read_inode_full(c->fs, fp->ino,
					     (struct ext2_inode *)&in,
					     sizeof(in));
		if (ret)
			break;
		memcpy(in.i_block, roots[i], sizeof(in.i_block));
		ret = ext2fs_iblk_sub_blocks(c->fs, (struct ext2_inode *)&in,
					     fp->nold);
		ret = ret ?: ext2fs_iblk_add_blocks(c->fs,
						    (struct ext2_inode *)&in,
						    fp->nnew);
		if (ret)
			break;
		in.i_flags |= EXT4_REFLINK_FL;
		ret = ext2fs_write_inode_full(c->fs, fp->ino,
					      (struct ext2_inode *)&in,
					      sizeof(in));
	}
	if (ret && i < c->nr_files)
		c->d->bad_ino = c->files[i].ino;
	free(roots);
	/* no inode maps the copies or the old tree blocks any more */
	return ret ?: io_channel_flush(c->fs->io);
}

/* Nobody maps the copies and the old extent blocks now: free them */
static void free_copies(struct dctx *c)
{
	size_t i;

	for (i = 0; i < c->nr_runs; i++)
		ext2fs_block_alloc_stats_range(c->fs, c->runs[i].d,
					       c->runs[i].len, -1);
	for (i = 0; i < c->nr_oldt; i++)
		ext2fs_block_alloc_stats2(c->fs, c->oldt[i], -1);
}

static errcode_t write_all(struct dctx *c)
{
	struct rfl_bruns refs = { 0 };
	errcode_t ret = 0;
	size_t i;

	ret = allocate(c);
	c->d->wrote = !ret;
	for (i = 0; !ret && i < c->nr_runs; i++)
		ret = rfl_bruns_add(&refs, c->runs[i].c, c->runs[i].len, 0);
	/* 1: flags; 2: counts up (committed); 3: files; 4: frees */
	ret = ret ?: flag_owners(c);
	ret = ret ?: rfl_refs_load(c->rfs, &refs, &c->d->records);
	rfl_bruns_free(&refs);
	ret = ret ?: remap_files(c);
	if (!ret)
		free_copies(c);
	return ret;
}

errcode_t rfl_dedup(struct rfl_fs *rfs, struct rfl_dedup *d)
{
	struct dctx c = { .rfs = rfs, .fs = rfs->fs, .d = d };
	unsigned int bs = rfs->fs->blocksize;
	blk64_t before;
	errcode_t ret;

	if (rfs->in_txn)
		return RFL_ET_BAD_ARG;
	if (!d->dry_run && !rfl_has_feature(rfs->fs))
		return RFL_ET_NO_FEATURE;
	c.win = malloc((size_t)READ_BLOCKS * bs);
	c.cmp = malloc(bs);
	c.blk = malloc(bs);
	if (!c.win || !c.cmp || !c.blk) {
		ret = EXT2_ET_NO_MEMORY;
		goto out;
	}
	ret = ext2fs_read_bitmaps(c.fs);
	if (!ret && !rfs->meta_map)
		ret = e2fs_meta_map_build(c.fs, &rfs->meta_map);
	ret = ret ?: scan_inodes(&c);
	ret = ret ?: rfl_for_each_record(rfs, rec_cb, &c);
	if (ret)
		goto out;
	if (c.nr_ext)
		qsort(c.ext, c.nr_ext, sizeof(*c.ext), dext_cmp);
	ret = find_copies(&c, true);
	ret = ret ?: find_copies(&c, false);
	ret = ret ?: plan(&c);
	ret = ret ?: check_space(&c);
	if (ret)
		goto out;
	if (d->dry_run) {
		ret = count_new_meta(&c, &d->new_meta);
		d->net = (long long)d->freed - d->tree_blocks -
			 (long long)d->new_meta;
	} else if (c.nr_runs) {
		before = ext2fs_free_blocks_count(c.fs->super);
		ret = write_all(&c);
		d->net = (long long)ext2fs_free_blocks_count(c.fs->super) -
			 (long long)before;
		d->new_meta = (__u64)((long long)d->freed - d->tree_blocks -
				      d->net);
	}
out:
	rfl_blkhash_free(&c.tab);
	free(c.ext);
	free(c.shared);
	free(c.runs);
	free(c.files);
	free(c.newx);
	free(c.oldt);
	free(c.newt);
	free(c.win);
	free(c.cmp);
	free(c.blk);
	return ret;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_cow.c - copy-on-write of shared blocks: per range, for every file
 * (unshare before the feature goes), and before a write.
 *
 * Order (FORMAT.md 7.5): the copies are allocated, written and marked in
 * the bitmap on disk, the extents repointed and the inode written, and
 * only then the old blocks' decrements committed.  Blocks whose count is
 * 1 are never copied, so the last sharer keeps the original.
 */
#include <stdlib.h>
#include <string.h>

#include "reflink/rfl_extwalk.h"
#include "reflink/rfl_share_int.h"
#include "util/vec.h"

/* Blocks copied per read/write */
#define COPY_CHUNK	256

/* One piece to copy: lblk..lblk+len maps old, will map new */
struct cow_piece {
	blk64_t lblk;
	blk64_t old;
	blk64_t new;
	__u32 len;
	__u32 flags;
	int state;		/* PIECE_* below */
};

enum { PIECE_NEW, PIECE_DONE };

struct cow_list {
	struct cow_piece *v;
	size_t nr, max;
};

errcode_t rfl_for_each_shared(struct rfl_fs *rfs, blk64_t start,
			      blk64_t len, rfl_shared_fn fn, void *priv)
{
	ext2_filsys fs = rfs->fs;
	blk64_t end = start + len;
	struct ext4_refcount_rec rec;
	struct rfl_group *grp;
	errcode_t ret;
	int err;

	if (start < fs->super->s_first_data_block || end < start ||
	    end > ext2fs_blocks_count(fs->super))
		return RFL_ET_BAD_RANGE;
	while (start < end) {
		blk64_t piece_end;
		u64 rel, rel_end, s, e;

		ret = rfl_group_load(rfs, rfl_block_flex_group(rfs, start),
				     &grp);
		if (ret)
			return ret;
		piece_end = grp->first + grp->nr_blocks;
		if (piece_end > end)
			piece_end = end;
		rel = start - grp->first;
		rel_end = piece_end - grp->first;
		while (grp->tree.height && rel < rel_end) {
			err = ext4_refcount_find(&grp->tree, (u32)rel, &rec);
			if (err == -ENOENT || (!err && rec.start >= rel_end))
				break;
			if (err)
				return rfl_errcode(err);
			s = rec.start > rel ? rec.start : rel;
			e = ext4_refcount_rec_end(&rec) < rel_end ?
			    ext4_refcount_rec_end(&rec) : rel_end;
			err = fn(priv, grp->first + s, e - s, rec.count);
			if (err)
				return err;
			rel = e;
		}
		start = piece_end;
	}
	return 0;
}

static errcode_t cow_add(struct cow_list *l, blk64_t lblk, blk64_t old,
			 blk64_t new, __u32 len, __u32 flags)
{
	if (rfl_vec_grow((void **)&l->v, &l->max, l->nr, sizeof(*l->v)))
		return EXT2_ET_NO_MEMORY;
	l->v[l->nr].lblk = lblk;
	l->v[l->nr].old = old;
	l->v[l->nr].new = new;
	l->v[l->nr].len = len;
	l->v[l->nr].flags = flags;
	l->v[l->nr].state = PIECE_NEW;
	l->nr++;
	return 0;
}

struct find_ctx {
	struct cow_list *list;
	const struct rfl_map *map;
	errcode_t err;
};

static int find_cb(void *priv, blk64_t start, blk64_t len, __u32 count)
{
	struct find_ctx *fc = priv;
	const struct rfl_map *m = fc->map;

	(void)count;
	fc->err = cow_add(fc->list, m->lblk + (start - m->pblk), start, 0,
			  (__u32)len, m->flags);
	return fc->err ? 1 : 0;
}

/* The shared parts of maps, as pieces still to be given new blocks */
static errcode_t find_shared(struct rfl_fs *rfs, const struct rfl_maps *maps,
			     struct cow_list *out)
{
	struct find_ctx fc = { .list = out };
	errcode_t ret;
	size_t i;

	for (i = 0; i < maps->nr; i++) {
		fc.map = &maps->v[i];
		ret = rfl_for_each_shared(rfs, maps->v[i].pblk,
					  maps->v[i].len, find_cb, &fc);
		if (ret)
			return fc.err ? fc.err : ret;
	}
	return 0;
}

static void free_new_blocks(ext2_filsys fs, struct cow_list *l, size_t from)
{
	for (; from < l->nr; from++)
		if (l->v[from].new)
			ext2fs_block_alloc_stats_range(fs, l->v[from].new,
						       l->v[from].len, -1);
}

/* Free blocks of flex group fg, by its group descriptors */
static blk64_t flex_free(ext2_filsys fs, dgrp_t fg)
{
	dgrp_t gpf = e2fs_flex_group_size(fs), g = fg * gpf;
	blk64_t n = 0;

	for (; g < (fg + 1) * gpf && g < fs->group_desc_count; g++)
		n += ext2fs_bg_free_blocks_count(fs, g);
	return n;
}

static bool has_reserve(struct rfl_fs *rfs, dgrp_t fg)
{
	struct rfl_group *grp;

	return !rfl_group_load(rfs, fg, &grp) && grp->resv_len &&
	       !grp->resv_bad;
}

/*
 * A free run of up to want blocks at or after goal.  A flex group's
 * refcount tree can only grow inside the flex group, so in a flex group
 * made before reserves (FORMAT.md 4.4) copies leave RFL_TREE_RESERVE
 * blocks free, moving on to the next one, unless every flex group is
 * down to that.
 */
static errcode_t new_run(struct rfl_fs *rfs, blk64_t goal, blk64_t want,
			 blk64_t *got, blk64_t *len)
{
	ext2_filsys fs = rfs->fs;
	blk64_t room, fg_end;
	bool reserve = true;
	dgrp_t fg, tries;
	errcode_t ret;

	for (tries = 0; ; tries++) {
		if (tries > rfs->nr_flex)
			reserve = false;
		ret = ext2fs_new_range(fs, 0, goal, want, NULL, got, len);
		if (ret)
			return ret;
		fg = rfl_block_flex_group(rfs, *got);
		fg_end = e2fs_flex_group_first_block(fs, fg) +
			 e2fs_flex_group_blocks(fs, fg);
		if (*len > want)
			*len = want;
		if (*got + *len > fg_end)
			*len = fg_end - *got;
		/* a flex group with its reserve (FORMAT.md 4.4) needs no more */
		if (!reserve || has_reserve(rfs, fg))
			return 0;
		room = flex_free(fs, fg);
		room = room > RFL_TREE_RESERVE ? room - RFL_TREE_RESERVE : 0;
		if (room) {
			if (*len > room)
				*len = room;
			return 0;
		}
		goal = fg_end < ext2fs_blocks_count(fs->super) ? fg_end :
		       fs->super->s_first_data_block;
	}
}

/*
 * Give every piece new blocks near its old ones; a piece whose blocks
 * come in several runs is split.  RFL_ET_NO_DATA_SPACE with nothing
 * allocated when the filesystem is full.
 */
static errcode_t allocate(struct rfl_fs *rfs, struct cow_list *l)
{
	ext2_filsys fs = rfs->fs;
	size_t i, nr = l->nr;
	blk64_t got, len;
	errcode_t ret;

	for (i = 0; i < nr; i++) {
		struct cow_piece *p = &l->v[i];

		ret = new_run(rfs, p->old, p->len, &got, &len);
		if (ret)
			goto fail;
		ext2fs_block_alloc_stats_range(fs, got, len, +1);
		p->new = got;
		if (len < p->len) {
			/* the rest becomes a piece of its own, done later */
			ret = cow_add(l, p->lblk + len, p->old + len, 0,
				      (__u32)(p->len - len), p->flags);
			if (ret)
				goto fail;
			p = &l->v[i];
			p->len = (__u32)len;
			nr++;
		}
	}
	return 0;
fail:
	free_new_blocks(fs, l, 0);
	for (i = 0; i < l->nr; i++)
		l->v[i].new = 0;
	return ret == EXT2_ET_BLOCK_ALLOC_FAIL ? RFL_ET_NO_DATA_SPACE : ret;
}

/* Copy the data of every initialized piece to its new blocks */
static errcode_t copy_data(ext2_filsys fs, const struct cow_list *l)
{
	char *buf;
	errcode_t ret;
	size_t i;

	ret = ext2fs_get_array(COPY_CHUNK, fs->blocksize, &buf);
	if (ret)
		return ret;
	for (i = 0; i < l->nr; i++) {
		const struct cow_piece *p = &l->v[i];
		blk64_t done, n;

		/* an unwritten extent reads as zeroes whatever it holds */
		if (p->flags & EXT2_EXTENT_FLAGS_UNINIT)
			continue;
		for (done = 0; done < p->len; done += n) {
			n = p->len - done > COPY_CHUNK ? COPY_CHUNK :
			    p->len - done;
			ret = io_channel_read_blk64(fs->io, p->old + done,
						    (int)n, buf);
			if (!ret)
				ret = io_channel_write_blk64(fs->io,
							     p->new + done,
							     (int)n, buf);
			if (ret)
				goto out;
		}
	}
out:
	ext2fs_free_mem(&buf);
	return ret;
}

/* Repoint every piece at its new blocks; p->state tells how far it got */
static errcode_t remap(struct rfl_xh *x, struct cow_list *l)
{
	struct rfl_map m;
	errcode_t ret;
	size_t i;

	for (i = 0; i < l->nr; i++) {
		struct cow_piece *p = &l->v[i];

		m.lblk = p->lblk;
		m.len = p->len;
		m.flags = p->flags;
		m.pblk = p->old;
		/*
		 * In place, not removed and inserted: a crash between the
		 * two would leave a hole where the file had its bytes
		 */
		ret = rfl_map_repoint(x, &m, p->new);
		if (ret)
			return ret;
		p->state = PIECE_DONE;
	}
	return 0;
}

/*
 * A remap failed part-way.  Pieces done keep their copies and drop the
 * old reference; the rest, still mapping their old blocks (a repoint
 * that fails leaves them so), free their copies.
 */
static void remap_failed(struct rfl_fs *rfs, struct rfl_inode *ri,
			 struct cow_list *l)
{
	ext2_filsys fs = rfs->fs;
	size_t i;

	if (rfl_begin(rfs))
		return;
	for (i = 0; i < l->nr; i++) {
		struct cow_piece *p = &l->v[i];

		if (p->state != PIECE_DONE)
			ext2fs_block_alloc_stats_range(fs, p->new, p->len, -1);
		else if (rfl_adjust(rfs, p->old, p->len, -1)) {
			rfl_abort(rfs);
			return;
		}
	}
	if (rfl_inode_write(fs, ri) || io_channel_flush(fs->io) ||
	    rfl_commit(rfs))
		rfl_abort(rfs);
}

errcode_t rfl_cow_inode(struct rfl_fs *rfs, ext2_ino_t ino, blk64_t start,
			blk64_t end, blk64_t *copied)
{
	ext2_filsys fs = rfs->fs;
	struct rfl_maps maps = { 0 };
	struct cow_list list = { 0 };
	struct rfl_xh x = { .h = NULL };
	struct rfl_inode ri;
	errcode_t ret, ret2;
	blk64_t total = 0;
	size_t i;

	if (copied)
		*copied = 0;
	ret = rfl_inode_read(fs, ino, &ri);
	if (!ret)
		ret = rfl_inode_check(&ri);
	if (!ret)
		ret = rfl_xh_open(&x, fs, ino, rfl_raw(&ri));
	if (!ret)
		ret = rfl_map_collect(x.h, start, end, &maps);
	if (!ret)
		ret = find_shared(rfs, &maps, &list);
	if (ret || !list.nr)
		goto out;

	/*
	 * Decrements first: the tree takes the blocks its shadow nodes need
	 * before the copies take theirs.  Nothing reaches the trees on disk
	 * before rfl_commit.
	 */
	ret = rfl_begin(rfs);
	if (ret)
		goto out;
	for (i = 0; i < list.nr; i++) {
		ret = rfl_adjust(rfs, list.v[i].old, list.v[i].len, -1);
		if (ret)
			goto abort;
		total += list.v[i].len;
	}
	ret = allocate(rfs, &list);
	if (ret)
		goto abort;
	ret = copy_data(fs, &list);
	/* copies and their bitmap bits on disk before anything maps them */
	if (!ret)
		ret = ext2fs_flush(fs);
	if (ret)
		goto free_new;

	ret = remap(&x, &list);
	ret2 = rfl_inode_write(fs, &ri);
	if (!ret2)
		ret2 = io_channel_flush(fs->io);
	if (ret || ret2) {
		rfl_abort(rfs);
		if (!ret2)
			remap_failed(rfs, &ri, &list);
		if (!ret)
			ret = ret2;
		goto out;
	}
	ret = rfl_commit(rfs);
	if (!ret && copied)
		*copied = total;
	goto out;

free_new:
	free_new_blocks(fs, &list, 0);
abort:
	rfl_abort(rfs);
out:
	rfl_xh_close(&x);
	rfl_maps_free(&maps);
	free(list.v);
	return ret;
}

/* Pieces repointed keep their copies, the others free theirs */
static void copy_remap_failed(ext2_filsys fs, struct rfl_inode *ri,
			      const struct cow_list *l, blk64_t *copied)
{
	size_t i;

	for (i = 0; i < l->nr; i++) {
		if (l->v[i].state == PIECE_DONE)
			*copied += l->v[i].len;
		else
			ext2fs_block_alloc_stats_range(fs, l->v[i].new,
						       l->v[i].len, -1);
	}
	if (!rfl_inode_write(fs, ri))
		ext2fs_flush(fs);
}

errcode_t rfl_copy_apart(struct rfl_fs *rfs, ext2_ino_t ino,
			 const struct rfl_maps *pieces, blk64_t *copied)
{
	ext2_filsys fs = rfs->fs;
	struct cow_list list = { 0 };
	struct rfl_xh x = { .h = NULL };
	struct rfl_inode ri;
	blk64_t done = 0;
	errcode_t ret, ret2;
	size_t i;

	ret = rfl_check_writable(rfs);
	if (!ret)
		ret = rfl_inode_read(fs, ino, &ri);
	if (!ret)
		ret = rfl_inode_check(&ri);
	if (!ret)
		ret = rfl_xh_open(&x, fs, ino, rfl_raw(&ri));
	for (i = 0; !ret && i < pieces->nr; i++)
		ret = cow_add(&list, pieces->v[i].lblk, pieces->v[i].pblk, 0,
			      pieces->v[i].len, pieces->v[i].flags);
	if (ret || !list.nr)
		goto out;

	ret = allocate(rfs, &list);
	if (ret)
		goto out;
	ret = copy_data(fs, &list);
	/* copies and their bitmap bits on disk before anything maps them */
	if (!ret)
		ret = ext2fs_flush(fs);
	if (ret) {
		free_new_blocks(fs, &list, 0);
		goto out;
	}
	ret = remap(&x, &list);
	ret2 = rfl_inode_write(fs, &ri);
	if (!ret2)
		ret2 = ext2fs_flush(fs);
	if (ret && !ret2)
		copy_remap_failed(fs, &ri, &list, &done);
	else if (!ret)
		done = rfl_maps_blocks(pieces);
	if (!ret)
		ret = ret2;
out:
	if (copied)
		*copied = done;
	rfl_xh_close(&x);
	free(list.v);
	return ret;
}

errcode_t rfl_cow_range(struct rfl_fs *rfs, ext2_ino_t ino, blk64_t start,
			blk64_t nr)
{
	errcode_t ret;

	ret = rfl_check_writable(rfs);
	if (ret)
		return ret;
	if (start >= RFL_LBLK_END)
		return RFL_ET_BAD_RANGE;
	if (nr > RFL_LBLK_END - start)
		nr = RFL_LBLK_END - start;
	ret = rfl_cow_inode(rfs, ino, start, start + nr, NULL);
	return ret ? ret : ext2fs_flush(rfs->fs);
}

struct need_ctx {
	blk64_t blocks;		/* copies unsharing needs */
	blk64_t records;
};

static int need_cb(void *priv, dgrp_t fg, blk64_t start, blk64_t len,
		   __u32 count)
{
	struct need_ctx *nc = priv;

	(void)fg;
	(void)start;
	nc->blocks += len * (count - 1);
	nc->records++;
	return 0;
}

static int any_cb(void *priv, blk64_t start, blk64_t len, __u32 count)
{
	(void)priv;
	(void)start;
	(void)len;
	(void)count;
	return 1;
}

struct sharer_scan {
	struct rfl_fs *rfs;
	bool shared;			/* the file being walked */
	ext2_ino_t *inos;
	size_t nr, max;
};

/* Each leaf, until one holds a shared block: the whole tree is read */
static errcode_t shared_leaf(void *priv, blk64_t lblk, blk64_t pblk,
			     __u32 len, __u32 flags)
{
	struct sharer_scan *ss = priv;
	errcode_t ret;

	(void)lblk;
	(void)flags;
	if (ss->shared)
		return 0;
	ret = rfl_for_each_shared(ss->rfs, pblk, len, any_cb, NULL);
	if (ret == 1) {
		ss->shared = true;
		ret = 0;
	}
	return ret;
}

/* A regular extent-mapped file that maps a shared block is listed */
static errcode_t sharer_inode(void *priv, ext2_ino_t ino,
			      struct ext2_inode_large *inode)
{
	static const struct rfl_extwalk_ops ops = { .leaf = shared_leaf };
	struct sharer_scan *ss = priv;
	errcode_t ret;

	if (!LINUX_S_ISREG(inode->i_mode) ||
	    !(inode->i_flags & EXT4_EXTENTS_FL))
		return 0;
	ss->shared = false;
	ret = rfl_extent_walk(ss->rfs->fs, ino, (struct ext2_inode *)inode,
			      &ops, ss);
	if (ret || !ss->shared)
		return ret;
	if (rfl_vec_grow((void **)&ss->inos, &ss->max, ss->nr,
			 sizeof(*ss->inos)))
		return EXT2_ET_NO_MEMORY;
	ss->inos[ss->nr++] = ino;
	return 0;
}

/* Regular files that map a shared block, in inode order */
static errcode_t find_sharers(struct rfl_fs *rfs, ext2_ino_t **inos,
			      size_t *nr)
{
	struct sharer_scan ss = { .rfs = rfs };
	errcode_t ret;

	ret = rfl_for_each_inode(rfs->fs, sharer_inode, &ss);
	*inos = ss.inos;
	*nr = ss.nr;
	return ret;
}

/* Free blocks by the group descriptors, which libext2fs keeps exact */
static blk64_t free_blocks(ext2_filsys fs)
{
	blk64_t n = 0;
	dgrp_t g;

	for (g = 0; g < fs->group_desc_count; g++)
		n += ext2fs_bg_free_blocks_count(fs, g);
	return n;
}

errcode_t rfl_unshare_space(struct rfl_fs *rfs, blk64_t *need,
			    blk64_t *avail)
{
	struct need_ctx nc = { 0 };
	errcode_t ret;

	*need = 0;
	*avail = free_blocks(rfs->fs);
	ret = rfl_for_each_record(rfs, need_cb, &nc);
	if (ret || !nc.blocks)
		return ret;
	/*
	 * Room for every copy, plus slack for the extent-tree blocks the
	 * remaps may split off and the refcount-tree nodes the
	 * transactions shadow: better to refuse than to stop half-way.
	 */
	*need = nc.blocks + nc.blocks / 64 + nc.records + 64;
	return *avail < *need ? RFL_ET_NO_DATA_SPACE : 0;
}

errcode_t rfl_unshare_all(struct rfl_fs *rfs)
{
	blk64_t need, avail;
	ext2_ino_t *inos = NULL;
	size_t nr = 0, i;
	errcode_t ret;

	ret = rfl_check_writable(rfs);
	if (ret)
		return ret;
	ret = rfl_unshare_space(rfs, &need, &avail);
	if (ret || !need)
		return ret;

	ret = find_sharers(rfs, &inos, &nr);
	for (i = 0; !ret && i < nr; i++)
		ret = rfl_cow_inode(rfs, inos[i], 0, RFL_LBLK_END, NULL);
	free(inos);
	if (!ret)
		ret = ext2fs_flush(rfs->fs);
	return ret;
}

/*
 * Blocks of zeros for the holes of [start, end), mapped by us:
 * libext2fs's file write would map them itself, splitting a full leaf
 * in its own order (docs/FORMAT.md 7.6).  The size grows to size with
 * them (stock e2fsck allows no initialized block past it): a crash
 * before the data leaves zeros where the holes were.
 */
static errcode_t fill_holes(ext2_filsys fs, ext2_ino_t ino, blk64_t start,
			    blk64_t end, __u64 size)
{
	struct rfl_inode ri;
	struct rfl_xh x = { .h = NULL };
	errcode_t ret, ret2;

	ret = rfl_inode_read(fs, ino, &ri);
	if (ret)
		return ret;
	ret = rfl_xh_open(&x, fs, ino, rfl_raw(&ri));
	if (!ret)
		ret = rfl_map_fill_holes(&x, start, end);
	rfl_xh_close(&x);
	if (!ret && size > EXT2_I_SIZE(&ri.i))
		ret = ext2fs_inode_size_set(fs, rfl_raw(&ri), size);
	ret2 = rfl_inode_write(fs, &ri);
	if (!ret)
		ret = ret2;
	return ret ? ret : io_channel_flush(fs->io);
}

errcode_t rfl_write_range(struct rfl_fs *rfs, ext2_ino_t ino, __u64 offset,
			  const void *buf, size_t len)
{
	ext2_filsys fs = rfs->fs;
	struct rfl_inode ri;
	ext2_file_t file;
	const char *p = buf;
	unsigned int n;
	blk64_t first, last;
	errcode_t ret, ret2;

	ret = rfl_check_writable(rfs);
	if (!ret)
		ret = rfl_inode_read(fs, ino, &ri);
	if (!ret)
		ret = rfl_inode_check(&ri);
	if (ret || !len)
		return ret;
	if (offset + len < offset ||
	    (offset + len - 1) / fs->blocksize >= RFL_LBLK_END)
		return EXT2_ET_FILE_TOO_BIG;
	first = offset / fs->blocksize;
	last = (offset + len - 1) / fs->blocksize;

	/* writes land in place, so nothing written may be shared */
	ret = rfl_cow_inode(rfs, ino, first, last + 1, NULL);
	if (ret)
		return ret;
	ret = fill_holes(fs, ino, first, last + 1, offset + len);
	if (ret)
		return ret;

	ret = ext2fs_file_open(fs, ino, EXT2_FILE_WRITE, &file);
	if (ret)
		return ret;
	ret = ext2fs_file_llseek(file, offset, EXT2_SEEK_SET, NULL);
	while (!ret && len) {
		unsigned int want = len > (1U << 30) ? (1U << 30) :
				    (unsigned int)len;

		ret = ext2fs_file_write(file, p, want, &n);
		if (!ret && !n)
			ret = EXT2_ET_SHORT_WRITE;
		p += n;
		len -= n;
	}
	ret2 = ext2fs_file_close(file);
	if (!ret)
		ret = ret2;
	return ret ? ret : ext2fs_flush(fs);
}

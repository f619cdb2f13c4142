// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_extmap.c - block mappings of a file and the extent-tree edits the
 * sharing primitives make, all through the libext2fs extent API (which
 * writes each changed node, or the inode for the in-inode root, as it
 * goes, and allocates and frees index blocks as ordinary blocks of the
 * inode).  Nothing here touches data blocks or refcounts: callers decide
 * when the mapped blocks are counted and freed.
 */
#include <stdlib.h>

#include "reflink/rfl_extwalk.h"
#include "reflink/rfl_share_int.h"
#include "util/vec.h"

errcode_t rfl_maps_add(struct rfl_maps *m, blk64_t lblk, blk64_t pblk,
		       __u32 len, __u32 flags)
{
	/*
	 * No merging of contiguous entries: rfl_map_remove needs each entry
	 * inside one leaf extent.
	 */
	if (rfl_vec_grow((void **)&m->v, &m->max, m->nr, sizeof(*m->v)))
		return EXT2_ET_NO_MEMORY;
	m->v[m->nr].lblk = lblk;
	m->v[m->nr].pblk = pblk;
	m->v[m->nr].len = len;
	m->v[m->nr].flags = flags;
	m->nr++;
	return 0;
}

void rfl_maps_free(struct rfl_maps *m)
{
	free(m->v);
	m->v = NULL;
	m->nr = m->max = 0;
}

blk64_t rfl_maps_blocks(const struct rfl_maps *m)
{
	blk64_t n = 0;
	size_t i;

	for (i = 0; i < m->nr; i++)
		n += m->v[i].len;
	return n;
}

/* an insert never splits: rfl_xh_room made room before it */
#define INSERT_AFTER	(EXT2_EXTENT_INSERT_AFTER | EXT2_EXTENT_INSERT_NOSPLIT)

static inline __u32 uninit(const struct ext2fs_extent *ex)
{
	return ex->e_flags & EXT2_EXTENT_FLAGS_UNINIT;
}

errcode_t rfl_map_collect(ext2_extent_handle_t h, blk64_t start,
			  blk64_t end, struct rfl_maps *out)
{
	struct ext2fs_extent ex;
	int op = EXT2_EXTENT_CURRENT;
	blk64_t next = start, s, e;
	errcode_t ret;

	if (start >= end)
		return 0;
	/* in a hole, goto leaves the handle on the extent before start */
	ret = ext2fs_extent_goto(h, start);
	if (ret && ret != EXT2_ET_EXTENT_NOT_FOUND)
		return ret;
	for (;;) {
		ret = ext2fs_extent_get(h, op, &ex);
		if (ret == EXT2_ET_EXTENT_NO_NEXT ||
		    ret == EXT2_ET_NO_CURRENT_NODE)
			return 0;
		if (ret)
			return ret;
		op = EXT2_EXTENT_NEXT_LEAF;
		if (!(ex.e_flags & EXT2_EXTENT_FLAGS_LEAF))
			continue;
		if (ex.e_lblk >= end)
			return 0;
		/*
		 * goto descends without marking the index nodes visited,
		 * so NEXT_LEAF may walk a leaf a second time: skip what
		 * has been seen.
		 */
		if (ex.e_lblk + ex.e_len <= next)
			continue;
		s = ex.e_lblk > next ? ex.e_lblk : next;
		e = ex.e_lblk + ex.e_len < end ? ex.e_lblk + ex.e_len : end;
		next = e;
		ret = rfl_maps_add(out, s, ex.e_pblk + (s - ex.e_lblk),
				   (__u32)(e - s), uninit(&ex));
		if (ret || next >= end)
			return ret;
	}
}

/* Position h on the leaf extent that maps lblk */
static errcode_t goto_mapped(ext2_extent_handle_t h, blk64_t lblk,
			     struct ext2fs_extent *ex)
{
	errcode_t ret;

	ret = ext2fs_extent_goto(h, lblk);
	if (ret == EXT2_ET_EXTENT_NOT_FOUND)
		return RFL_ET_BAD_RANGE;
	if (ret)
		return ret;
	return ext2fs_extent_get(h, EXT2_EXTENT_CURRENT, ex);
}

/* fix_parents' "no current node" only means the node emptied out */
static errcode_t fix_parents(ext2_extent_handle_t h)
{
	errcode_t ret = ext2fs_extent_fix_parents(h);

	return ret == EXT2_ET_NO_CURRENT_NODE ? 0 : ret;
}

/*
 * Room in the leaf for one more extent (rfl_extsplit.c: libext2fs never
 * splits a node itself, INSERT_AFTER says so), then h on the extent
 * that maps lblk again.  A split may have moved it to a new leaf, and
 * a tree that grows a level gets a new handle.
 */
static errcode_t room_at(struct rfl_xh *x, blk64_t lblk,
			 struct ext2fs_extent *ex)
{
	errcode_t ret = rfl_xh_room(x, lblk);

	if (ret == EXT2_ET_EXTENT_NOT_FOUND)
		return RFL_ET_BAD_RANGE;
	if (ret)
		return ret;
	return ext2fs_extent_get(x->h, EXT2_EXTENT_CURRENT, ex);
}

errcode_t rfl_map_remove(struct rfl_xh *x, const struct rfl_map *m)
{
	ext2_extent_handle_t h = x->h;
	struct ext2fs_extent ex, right;
	blk64_t head, tail, ex_end;
	errcode_t ret;

	ret = goto_mapped(h, m->lblk, &ex);
	if (ret)
		return ret;
	ex_end = ex.e_lblk + ex.e_len;
	/* the tree must still say what the caller counted on */
	if (m->lblk + m->len > ex_end ||
	    ex.e_pblk + (m->lblk - ex.e_lblk) != m->pblk)
		return RFL_ET_BAD_RANGE;
	head = m->lblk - ex.e_lblk;
	tail = ex_end - (m->lblk + m->len);

	if (!head && !tail) {
		ret = ext2fs_extent_delete(h, 0);
		return ret ? ret : fix_parents(h);
	}
	if (!head) {
		ex.e_lblk += m->len;
		ex.e_pblk += m->len;
		ex.e_len -= m->len;
		ret = ext2fs_extent_replace(h, 0, &ex);
		return ret ? ret : fix_parents(h);
	}
	if (!tail) {
		ex.e_len = (__u32)head;
		return ext2fs_extent_replace(h, 0, &ex);
	}
	/*
	 * A hole in the middle: add the right part first, so a failed
	 * insert (no block for a split) leaves the extent whole.
	 */
	right.e_lblk = m->lblk + m->len;
	right.e_pblk = m->pblk + m->len;
	right.e_len = (__u32)tail;
	right.e_flags = uninit(&ex);
	ret = room_at(x, m->lblk, &ex);
	h = x->h;
	if (!ret)
		ret = ext2fs_extent_insert(h, INSERT_AFTER, &right);
	if (ret)
		return ret;
	ret = fix_parents(h);
	if (ret)
		return ret;
	/* the two now overlap; goto finds the left one (lower start) */
	ret = goto_mapped(h, ex.e_lblk, &ex);
	if (ret)
		return ret;
	ex.e_len = (__u32)head;
	return ext2fs_extent_replace(h, 0, &ex);
}

/*
 * Split the extent h is on, ex, so that a new extent starts at lblk:
 * insert the part from lblk on, then shorten ex.  In between both map
 * the same blocks at the same offsets, which reflinkck completes
 * (pass_split.c).
 */
static errcode_t split_at(struct rfl_xh *x, struct ext2fs_extent *ex,
			  blk64_t lblk)
{
	struct ext2fs_extent right;
	ext2_extent_handle_t h;
	errcode_t ret;

	right.e_lblk = lblk;
	right.e_pblk = ex->e_pblk + (lblk - ex->e_lblk);
	right.e_len = (__u32)(ex->e_lblk + ex->e_len - lblk);
	right.e_flags = uninit(ex);
	ret = room_at(x, ex->e_lblk, ex);
	h = x->h;
	if (!ret)
		ret = ext2fs_extent_insert(h, INSERT_AFTER, &right);
	if (!ret)
		ret = fix_parents(h);
	/* the two now overlap; goto finds the left one (lower start) */
	if (!ret)
		ret = goto_mapped(h, ex->e_lblk, ex);
	if (ret)
		return ret;
	ex->e_len = (__u32)(lblk - ex->e_lblk);
	return ext2fs_extent_replace(h, 0, ex);
}

errcode_t rfl_map_repoint(struct rfl_xh *x, const struct rfl_map *m,
			  blk64_t pblk)
{
	struct ext2fs_extent ex;
	errcode_t ret;

	ret = goto_mapped(x->h, m->lblk, &ex);
	if (ret)
		return ret;
	/* the tree must still say what the caller counted on */
	if (m->lblk + m->len > ex.e_lblk + ex.e_len ||
	    ex.e_pblk + (m->lblk - ex.e_lblk) != m->pblk)
		return RFL_ET_BAD_RANGE;
	if (m->lblk + m->len < ex.e_lblk + ex.e_len) {
		ret = split_at(x, &ex, m->lblk + m->len);
		if (ret)
			return ret;
	}
	if (ex.e_lblk < m->lblk) {
		ret = split_at(x, &ex, m->lblk);
		if (!ret)
			ret = goto_mapped(x->h, m->lblk, &ex);
		if (ret)
			return ret;
	}
	/* now one extent maps exactly m: one node write repoints it */
	ex.e_pblk = pblk;
	return ext2fs_extent_replace(x->h, 0, &ex);
}

static bool can_merge(const struct ext2fs_extent *a, blk64_t lblk,
		      blk64_t pblk, __u32 len, __u32 flags)
{
	__u32 max = flags ? RFL_UNINIT_MAX_LEN : RFL_INIT_MAX_LEN;

	return uninit(a) == flags && a->e_lblk + a->e_len == lblk &&
	       a->e_pblk + a->e_len == pblk && (blk64_t)a->e_len + len <= max;
}

static errcode_t insert_one(struct rfl_xh *x, blk64_t lblk,
			    blk64_t pblk, __u32 len, __u32 flags)
{
	struct ext2fs_extent ex, nex;
	ext2_extent_handle_t h;
	errcode_t ret;

	nex.e_lblk = lblk;
	nex.e_pblk = pblk;
	nex.e_len = len;
	nex.e_flags = flags;

	ret = ext2fs_extent_goto(x->h, lblk);
	if (!ret)
		return RFL_ET_BAD_RANGE;	/* not a hole */
	if (ret != EXT2_ET_EXTENT_NOT_FOUND)
		return ret;
	/* room first, even for a merge: the leaf is split a little early */
	ret = rfl_xh_room(x, lblk);
	h = x->h;
	if (ret != EXT2_ET_EXTENT_NOT_FOUND)
		return ret ? ret : RFL_ET_BAD_RANGE;
	ret = ext2fs_extent_get(h, EXT2_EXTENT_CURRENT, &ex);
	if (ret == EXT2_ET_NO_CURRENT_NODE) {
		/* empty tree */
		return ext2fs_extent_insert(h, EXT2_EXTENT_INSERT_NOSPLIT,
					    &nex);
	}
	if (ret)
		return ret;

	if (ex.e_lblk < lblk) {
		/* ex ends before lblk: grow it, or add after it */
		if (can_merge(&ex, lblk, pblk, len, flags)) {
			ex.e_len += len;
			return ext2fs_extent_replace(h, 0, &ex);
		}
		ret = ext2fs_extent_insert(h, INSERT_AFTER, &nex);
		return ret ? ret : fix_parents(h);
	}

	/* lblk comes before every extent: ex is the file's first */
	if (can_merge(&nex, ex.e_lblk, ex.e_pblk, ex.e_len, uninit(&ex))) {
		ex.e_lblk = lblk;
		ex.e_pblk = pblk;
		ex.e_len += len;
		ret = ext2fs_extent_replace(h, 0, &ex);
		return ret ? ret : fix_parents(h);
	}
	ret = ext2fs_extent_insert(h, EXT2_EXTENT_INSERT_NOSPLIT, &nex);
	return ret ? ret : fix_parents(h);
}

errcode_t rfl_map_insert(struct rfl_xh *x, const struct rfl_map *m)
{
	__u32 max = m->flags ? RFL_UNINIT_MAX_LEN : RFL_INIT_MAX_LEN;
	blk64_t done = 0;
	errcode_t ret;

	while (done < m->len) {
		__u32 n = m->len - done > max ? max : (__u32)(m->len - done);

		ret = insert_one(x, m->lblk + done, m->pblk + done, n,
				 m->flags);
		if (ret)
			return ret;
		done += n;
	}
	return 0;
}

errcode_t rfl_map_fill_holes(struct rfl_xh *x, blk64_t start, blk64_t end)
{
	ext2_filsys fs = x->fs;
	struct rfl_maps have = { 0 }, add = { 0 };
	blk64_t lblk, pblk, next;
	errcode_t ret;
	size_t i = 0;
	char *zero;

	ret = ext2fs_get_mem(fs->blocksize, &zero);
	if (ret)
		return ret;
	ret = rfl_map_collect(x->h, start, end, &have);
	/* a block of zeros for each hole block, on disk before it is mapped */
	for (lblk = start; !ret && lblk < end; lblk = next) {
		if (i < have.nr && have.v[i].lblk == lblk) {
			next = lblk + have.v[i++].len;
			continue;
		}
		next = i < have.nr ? have.v[i].lblk : end;
		for (; !ret && lblk < next; lblk++) {
			pblk = ext2fs_find_inode_goal(fs, x->ino, x->inode,
						      lblk);
			ret = ext2fs_alloc_block2(fs, pblk, zero, &pblk);
			if (!ret)
				ret = rfl_maps_add(&add, lblk, pblk, 1, 0);
		}
	}
	/*
	 * A full image: the blocks that fit are mapped, the write that
	 * follows stops where they end, as a file write does
	 */
	if (ret == EXT2_ET_BLOCK_ALLOC_FAIL)
		ret = 0;
	/* the zeros and the bitmaps marking them, before they are mapped */
	if (!ret && add.nr)
		ret = ext2fs_flush(fs);
	for (i = 0; !ret && i < add.nr; i++) {
		ret = rfl_map_insert(x, &add.v[i]);
		if (!ret)
			ret = ext2fs_iblk_add_blocks(fs, x->inode, 1);
	}
	/* blocks not mapped: free again */
	for (; ret && i < add.nr; i++)
		ext2fs_block_alloc_stats2(fs, add.v[i].pblk, -1);
	rfl_maps_free(&have);
	rfl_maps_free(&add);
	ext2fs_free_mem(&zero);
	return ret;
}

static errcode_t free_node(void *priv, blk64_t pblk)
{
	ext2fs_block_alloc_stats2(priv, pblk, -1);
	return 0;
}

errcode_t rfl_map_free_nodes(ext2_filsys fs, ext2_extent_handle_t h)
{
	static const struct rfl_extwalk_ops ops = { .node = free_node };

	return rfl_extent_walk_handle(h, &ops, fs);
}

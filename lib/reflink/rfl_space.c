// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_space.c - total, exclusive, shared and saved bytes of a set of
 * files (rfl_space.h has the definitions).
 *
 * Each leaf extent of each file adds its length to the total; the parts
 * the refcount trees count 2 or more are kept as ranges, and what is
 * left of the extent is exclusive.  At the end the ranges are sorted and
 * merged, so a shared block the set maps several times counts once.
 */
#include <stdlib.h>
#include <string.h>

#include "reflink/rfl_share.h"
#include "reflink/rfl_space.h"
#include "util/vec.h"

struct range {
	blk64_t start, len;
};

struct rfl_space_set {
	struct rfl_fs *rfs;
	ext2fs_inode_bitmap seen;
	__u64 mapped;		/* blocks */
	__u64 shared_mapped;	/* blocks with a count >= 2, each mapping */
	struct range *v;
	size_t nr, max;
};

errcode_t rfl_space_set_new(struct rfl_fs *rfs, struct rfl_space_set **sp)
{
	struct rfl_space_set *s = calloc(1, sizeof(*s));
	errcode_t ret;

	if (!s)
		return EXT2_ET_NO_MEMORY;
	s->rfs = rfs;
	ret = ext2fs_allocate_inode_bitmap(rfs->fs, "space", &s->seen);
	if (ret) {
		free(s);
		return ret;
	}
	*sp = s;
	return 0;
}

void rfl_space_set_free(struct rfl_space_set *s)
{
	if (!s)
		return;
	ext2fs_free_inode_bitmap(s->seen);
	free(s->v);
	free(s);
}

static int shared_cb(void *priv, blk64_t start, blk64_t len, __u32 count)
{
	struct rfl_space_set *s = priv;

	(void)count;
	if (rfl_vec_grow((void **)&s->v, &s->max, s->nr, sizeof(*s->v)))
		return (int)EXT2_ET_NO_MEMORY;
	s->v[s->nr].start = start;
	s->v[s->nr].len = len;
	s->nr++;
	s->shared_mapped += len;
	return 0;
}

static errcode_t add_extents(struct rfl_space_set *s, ext2_ino_t ino,
			     struct ext2_inode *inode)
{
	ext2_extent_handle_t h;
	struct ext2fs_extent e;
	int op = EXT2_EXTENT_ROOT;
	errcode_t ret;

	ret = ext2fs_extent_open2(s->rfs->fs, ino, inode, &h);
	if (ret)
		return ret;
	for (;;) {
		ret = ext2fs_extent_get(h, op, &e);
		op = EXT2_EXTENT_NEXT;
		if (ret == EXT2_ET_EXTENT_NO_NEXT ||
		    ret == EXT2_ET_NO_CURRENT_NODE) {
			ret = 0;
			break;
		}
		if (ret)
			break;
		if (!(e.e_flags & EXT2_EXTENT_FLAGS_LEAF) || !e.e_len)
			continue;
		s->mapped += e.e_len;
		ret = rfl_for_each_shared(s->rfs, e.e_pblk, e.e_len, shared_cb,
					  s);
		if (ret)
			break;
	}
	ext2fs_extent_free(h);
	return ret;
}

errcode_t rfl_space_add_inode(struct rfl_space_set *s, ext2_ino_t ino)
{
	struct ext2_inode inode;
	errcode_t ret;

	if (!ino || ino > s->rfs->fs->super->s_inodes_count)
		return EXT2_ET_BAD_INODE_NUM;
	if (ext2fs_test_inode_bitmap2(s->seen, ino))
		return 0;
	ext2fs_mark_inode_bitmap2(s->seen, ino);
	ret = ext2fs_read_inode(s->rfs->fs, ino, &inode);
	if (ret)
		return ret;
	/* the journal and the other reserved inodes are not files */
	if (ino < EXT2_FIRST_INODE(s->rfs->fs->super) ||
	    !LINUX_S_ISREG(inode.i_mode) || !inode.i_links_count ||
	    !(inode.i_flags & EXT4_EXTENTS_FL))
		return 0;
	return add_extents(s, ino, &inode);
}

struct tree_ctx {
	struct rfl_space_set *s;
	errcode_t err;
};

static int tree_entry(struct ext2_dir_entry *d, int offset, int blocksize,
		      char *buf, void *priv)
{
	struct tree_ctx *tc = priv;
	int len = ext2fs_dirent_name_len(d);

	(void)offset;
	(void)blocksize;
	(void)buf;
	if (!d->inode || (len == 1 && d->name[0] == '.') ||
	    (len == 2 && d->name[0] == '.' && d->name[1] == '.'))
		return 0;
	tc->err = rfl_space_add_tree(tc->s, d->inode);
	return tc->err ? DIRENT_ABORT : 0;
}

errcode_t rfl_space_add_tree(struct rfl_space_set *s, ext2_ino_t ino)
{
	struct tree_ctx tc = { s, 0 };
	struct ext2_inode inode;
	errcode_t ret;

	if (!ino || ino > s->rfs->fs->super->s_inodes_count)
		return EXT2_ET_BAD_INODE_NUM;
	ret = ext2fs_read_inode(s->rfs->fs, ino, &inode);
	if (ret)
		return ret;
	if (!LINUX_S_ISDIR(inode.i_mode))
		return rfl_space_add_inode(s, ino);
	/* a directory is walked once; loops in a damaged tree end here */
	if (ext2fs_test_inode_bitmap2(s->seen, ino))
		return 0;
	ext2fs_mark_inode_bitmap2(s->seen, ino);
	ret = ext2fs_dir_iterate(s->rfs->fs, ino, 0, NULL, tree_entry, &tc);
	return ret ? ret : tc.err;
}

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

void rfl_space_result(const struct rfl_space_set *s, struct rfl_space *out)
{
	__u64 bs = s->rfs->fs->blocksize, distinct = 0;
	blk64_t end = 0;
	size_t i;

	/* no ranges at all: v is NULL, which qsort may not be given */
	if (s->nr)
		qsort(s->v, s->nr, sizeof(*s->v), cmp_range);
	for (i = 0; i < s->nr; i++) {
		blk64_t a = s->v[i].start, b = a + s->v[i].len;

		if (a < end)
			a = end;
		if (b > a)
			distinct += b - a;
		if (b > end)
			end = b;
	}
	out->total = s->mapped * bs;
	out->exclusive = (s->mapped - s->shared_mapped) * bs;
	out->shared = distinct * bs;
	out->saved = out->total - out->exclusive - out->shared;
}

errcode_t rfl_space_fs(struct rfl_fs *rfs, struct rfl_space *out)
{
	struct rfl_space_set *s;
	struct ext2_inode inode;
	ext2_inode_scan scan;
	ext2_ino_t ino;
	errcode_t ret;

	memset(out, 0, sizeof(*out));
	if (!rfs->fs->inode_map) {
		ret = ext2fs_read_inode_bitmap(rfs->fs);
		if (ret)
			return ret;
	}
	ret = rfl_space_set_new(rfs, &s);
	if (ret)
		return ret;
	ret = ext2fs_open_inode_scan(rfs->fs, 0, &scan);
	if (ret)
		goto out;
	for (;;) {
		ret = ext2fs_get_next_inode(scan, &ino, &inode);
		if (ret || !ino)
			break;
		if (ino < EXT2_FIRST_INODE(rfs->fs->super) ||
		    !LINUX_S_ISREG(inode.i_mode) || !inode.i_links_count ||
		    inode.i_dtime || !(inode.i_flags & EXT4_EXTENTS_FL) ||
		    !ext2fs_test_inode_bitmap2(rfs->fs->inode_map, ino))
			continue;
		ext2fs_mark_inode_bitmap2(s->seen, ino);
		ret = add_extents(s, ino, &inode);
		if (ret)
			break;
	}
	ext2fs_close_inode_scan(scan);
	if (!ret)
		rfl_space_result(s, out);
out:
	rfl_space_set_free(s);
	return ret;
}

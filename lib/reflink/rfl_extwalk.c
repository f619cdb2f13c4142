// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_extwalk.c - every inode in use; every leaf extent of a file, and
 * optionally its extent tree blocks, through one extent handle (see
 * rfl_extwalk.h).
 */
#include "reflink/rfl_extwalk.h"

errcode_t rfl_extent_walk_handle(ext2_extent_handle_t h,
				 const struct rfl_extwalk_ops *ops,
				 void *priv)
{
	struct ext2fs_extent ex;
	int op = EXT2_EXTENT_ROOT;
	errcode_t ret;

	for (;;) {
		ret = ext2fs_extent_get(h, op, &ex);
		op = EXT2_EXTENT_NEXT;
		/* the end, or an empty root */
		if (ret == EXT2_ET_EXTENT_NO_NEXT ||
		    ret == EXT2_ET_NO_CURRENT_NODE)
			return 0;
		if (ret)
			return ret;
		if (!(ex.e_flags & EXT2_EXTENT_FLAGS_LEAF)) {
			/* an index entry: its child on the way down */
			if (ops->node &&
			    !(ex.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT))
				ret = ops->node(priv, ex.e_pblk);
		} else if (ops->leaf && ex.e_len) {
			ret = ops->leaf(priv, ex.e_lblk, ex.e_pblk, ex.e_len,
					ex.e_flags);
		}
		if (ret)
			return ret;
	}
}

errcode_t rfl_extent_walk(ext2_filsys fs, ext2_ino_t ino,
			  struct ext2_inode *inode,
			  const struct rfl_extwalk_ops *ops, void *priv)
{
	ext2_extent_handle_t h;
	errcode_t ret;

	ret = ext2fs_extent_open2(fs, ino, inode, &h);
	if (ret)
		return ret;
	ret = rfl_extent_walk_handle(h, ops, priv);
	ext2fs_extent_free(h);
	return ret;
}

errcode_t rfl_for_each_inode(ext2_filsys fs, rfl_inode_fn fn, void *priv)
{
	struct ext2_inode_large in;
	ext2_inode_scan scan;
	ext2_ino_t ino;
	errcode_t ret;

	ret = ext2fs_open_inode_scan(fs, 0, &scan);
	if (ret)
		return ret;
	for (;;) {
		ret = ext2fs_get_next_inode_full(scan, &ino,
						 (struct ext2_inode *)&in,
						 sizeof(in));
		if (ret || !ino)
			break;
		if (!in.i_links_count || in.i_dtime ||
		    !ext2fs_test_inode_bitmap2(fs->inode_map, ino))
			continue;
		ret = fn(priv, ino, &in);
		if (ret)
			break;
	}
	ext2fs_close_inode_scan(scan);
	return ret;
}

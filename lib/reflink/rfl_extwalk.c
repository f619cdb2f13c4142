// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_extwalk.c - every leaf extent of a file, and optionally its extent
 * tree blocks, through one extent handle (see rfl_extwalk.h).
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

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfl_extwalk.h - the walks the layers read files with: every inode in
 * use, and the one walk over a file's extent tree through libext2fs's
 * extent handle (every leaf extent in logical order and, for callers
 * that count or collect the tree's own blocks, every block below the
 * root).  refdebug, space, dedup, snapshot, copy-on-write, the bulk
 * unmapping and reflinkck's pass 1 read through them.
 *
 * Not through them: walks of a range (rfl_map_collect: goto, then
 * NEXT_LEAF); reflinkck's pass 1 for depth-0 trees, which it reads in
 * place from the inode (lib/check/recount.c) because opening a handle
 * per file costs two allocations and a copy of the inode, and its scan
 * of every inode, which judges the unlinked ones too; and the oracle
 * tests/helpers/rfl_recount.c, which must not share our code.
 */
#ifndef RFL_EXTWALK_H
#define RFL_EXTWALK_H

#include <ext2fs/ext2fs.h>

struct rfl_extwalk_ops {
	/*
	 * Optional: each leaf extent of nonzero length, in logical
	 * order.  flags is libext2fs's e_flags (EXT2_EXTENT_FLAGS_UNINIT
	 * is the one that matters).  Nonzero stops the walk and is
	 * returned as it is.
	 */
	errcode_t (*leaf)(void *priv, blk64_t lblk, blk64_t pblk, __u32 len,
			  __u32 flags);
	/*
	 * Optional: each extent tree block below the inode's root (the
	 * child of an index entry), once, before the extents it holds.
	 * Nonzero stops the walk and is returned as it is.
	 */
	errcode_t (*node)(void *priv, blk64_t pblk);
};

/*
 * Each inode in use - set in the inode bitmap (which must be loaded),
 * linked, not deleted - in inode order, read whole up to the size of
 * struct ext2_inode_large.  Nonzero from fn stops the scan and is
 * returned as it is; else the scan's error, or 0.
 */
typedef errcode_t (*rfl_inode_fn)(void *priv, ext2_ino_t ino,
				  struct ext2_inode_large *inode);
errcode_t rfl_for_each_inode(ext2_filsys fs, rfl_inode_fn fn, void *priv);

/*
 * Walk ino's extent tree; inode is its in-memory copy (NULL: read it).
 * Returns 0, the error of opening or reading the tree, or a callback's.
 * Callers that must tell those apart keep the callback's in priv.
 */
errcode_t rfl_extent_walk(ext2_filsys fs, ext2_ino_t ino,
			  struct ext2_inode *inode,
			  const struct rfl_extwalk_ops *ops, void *priv);
/* The same on an open handle, from its root */
errcode_t rfl_extent_walk_handle(ext2_extent_handle_t h,
				 const struct rfl_extwalk_ops *ops,
				 void *priv);

#endif /* RFL_EXTWALK_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xtree.h - write a file's whole extent tree at once from its list of
 * leaf extents: the root for i_block and, when the leaves do not fit
 * there, leaf and index blocks in blocks the caller allocated.  Used
 * where a file's new tree is built in fresh blocks and switched to by
 * one inode write (rfl_dedup.c) or given to a new inode (rfl_snapshot.c),
 * rather than edited in place through the libext2fs extent API.
 */
#ifndef RFL_XTREE_H
#define RFL_XTREE_H

#include <stdbool.h>
#include <ext2fs/ext2fs.h>

/* A leaf extent */
struct rfl_xleaf {
	blk64_t lblk, pblk;
	__u32 len;
	bool uninit;
};

/*
 * Depth of the tree for nr leaf extents (0: in the inode), and in
 * *blocks the tree blocks it needs; -1 when more than two levels would
 * be needed.
 */
int rfl_xtree_shape(ext2_filsys fs, size_t nr, size_t *blocks);

/*
 * Write the tree of x[0..nr) with the depth rfl_xtree_shape gave: its
 * blocks (checksummed for inode ino, which must exist) into blocks[],
 * leaves first, and its root into root (the inode's i_block).  buf is
 * one block of scratch.
 */
errcode_t rfl_xtree_write(ext2_filsys fs, ext2_ino_t ino,
			  const struct rfl_xleaf *x, size_t nr, int depth,
			  const blk64_t *blocks, __u32 *root, void *buf);

#endif /* RFL_XTREE_H */

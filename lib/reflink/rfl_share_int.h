/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfl_share_int.h - internals shared by rfl_extmap.c, rfl_share.c and
 * rfl_cow.c: lists of block mappings, extent-tree edits through the
 * libext2fs extent API, and inode helpers.  Not a public API.
 */
#ifndef RFL_SHARE_INT_H
#define RFL_SHARE_INT_H

#include "reflink/rfl_share.h"

/* Longest leaf extent, initialized and uninitialized (ext3_extents.h) */
#define RFL_INIT_MAX_LEN	32768U
#define RFL_UNINIT_MAX_LEN	32767U

/*
 * Free blocks copy-on-write leaves in a flex group for its refcount tree,
 * which can only grow inside the flex group
 */
#define RFL_TREE_RESERVE	32

/* A run of logical blocks mapped to consecutive physical blocks */
struct rfl_map {
	blk64_t lblk;
	blk64_t pblk;
	__u32 len;
	__u32 flags;		/* 0 or EXT2_EXTENT_FLAGS_UNINIT */
};

struct rfl_maps {
	struct rfl_map *v;
	size_t nr, max;
};

errcode_t rfl_maps_add(struct rfl_maps *m, blk64_t lblk, blk64_t pblk,
		       __u32 len, __u32 flags);
void rfl_maps_free(struct rfl_maps *m);
blk64_t rfl_maps_blocks(const struct rfl_maps *m);

/*
 * Append the leaf mappings of logical blocks [start, end) to out, in
 * logical order, clipped to the range.  A leaf extent split over several
 * entries of out is fine; one entry never spans two leaf extents.
 */
errcode_t rfl_map_collect(ext2_extent_handle_t h, blk64_t start,
			  blk64_t end, struct rfl_maps *out);

/*
 * An extent handle and what splitting a node needs besides it: the
 * inode the handle reads its root from and writes (a tree that grows a
 * level gets a new handle on it, rfl_extsplit.c)
 */
struct rfl_xh {
	ext2_extent_handle_t h;
	ext2_filsys fs;
	ext2_ino_t ino;
	struct ext2_inode *inode;
	struct ext2_inode ibuf;	/* the inode, when the caller has none */
};

/* Open x on ino; inode NULL: read it into x->ibuf */
errcode_t rfl_xh_open(struct rfl_xh *x, ext2_filsys fs, ext2_ino_t ino,
		      struct ext2_inode *inode);
void rfl_xh_close(struct rfl_xh *x);

/*
 * Make room for one more extent in the leaf where lblk is or would be
 * mapped, splitting full nodes (or growing the tree a level) in an
 * order a crash cannot lose extents by (docs/FORMAT.md 7.6); then leave
 * the handle where ext2fs_extent_goto(lblk) does, and return what it
 * does.  Call it before every ext2fs_extent_insert, so libext2fs never
 * splits a node itself.
 */
errcode_t rfl_xh_room(struct rfl_xh *x, blk64_t lblk);

/* Unmap m, which lies inside a single leaf extent (from rfl_map_collect) */
errcode_t rfl_map_remove(struct rfl_xh *x, const struct rfl_map *m);

/*
 * Map m's logical blocks, which lie inside a single leaf extent, to pblk
 * on: m is split off its extent (each split keeps every block mapped),
 * then its extent repointed in a single node write.  A crash leaves
 * each block mapped to m->pblk's block or to pblk's, never a hole.
 */
errcode_t rfl_map_repoint(struct rfl_xh *x, const struct rfl_map *m,
			  blk64_t pblk);

/* Map m into a hole, merging with a contiguous neighbour when it can */
errcode_t rfl_map_insert(struct rfl_xh *x, const struct rfl_map *m);

/*
 * Map every hole in logical blocks [start, end) to new blocks of
 * zeros, written and flushed before the mappings, which are inserted
 * as rfl_map_insert does (its splits crash-safe): so libext2fs's file
 * writes into the range allocate nothing, and split no node themselves.
 * On a full image the holes that fit are filled, and the rest left (no
 * block: no split either).  The caller writes the inode (i_blocks
 * counts the new blocks).
 */
errcode_t rfl_map_fill_holes(struct rfl_xh *x, blk64_t start, blk64_t end);

/* Free the extent-tree blocks (not the data) of an inode being dropped */
errcode_t rfl_map_free_nodes(ext2_filsys fs, ext2_extent_handle_t h);

/* An inode read in full (large fields kept when written back) */
struct rfl_inode {
	ext2_ino_t ino;
	struct ext2_inode_large i;
};

static inline struct ext2_inode *rfl_raw(struct rfl_inode *ri)
{
	return (struct ext2_inode *)&ri->i;
}

errcode_t rfl_inode_read(ext2_filsys fs, ext2_ino_t ino,
			 struct rfl_inode *ri);
errcode_t rfl_inode_write(ext2_filsys fs, struct rfl_inode *ri);

/*
 * May ri's blocks take part in sharing?  0, or RFL_ET_NOT_REGULAR,
 * RFL_ET_NO_EXTENTS, RFL_ET_UNSUPPORTED.
 */
errcode_t rfl_inode_check(const struct rfl_inode *ri);

/* Blocks of the file by its size, rounded up */
blk64_t rfl_inode_size_blocks(ext2_filsys fs, const struct rfl_inode *ri);

/* Set mtime and ctime to now */
void rfl_inode_touch(ext2_filsys fs, struct rfl_inode *ri);

/* The image may be changed by a sharing primitive */
errcode_t rfl_check_writable(struct rfl_fs *rfs);

/*
 * Give ino private copies of its shared blocks in [start, end): the body
 * of rfl_cow_range without the final flush.  *copied (may be NULL) says
 * how many blocks were copied.
 */
errcode_t rfl_cow_inode(struct rfl_fs *rfs, ext2_ino_t ino, blk64_t start,
			blk64_t end, blk64_t *copied);

/*
 * Give ino its own copy of the pieces (each inside one leaf extent of
 * the file, as from rfl_map_collect): new blocks allocated, the data
 * copied and flushed, then each piece repointed.  No refcount changes:
 * for a cross-link the trees never counted (reflinkck pass 5, FORMAT.md
 * 7.5), whose old blocks stay with the file that keeps them.  On an
 * error before the repoints (RFL_ET_NO_DATA_SPACE, an I/O error) the
 * file maps what it did and the copies are freed.  *copied (may be
 * NULL) says how many blocks were repointed.
 */
errcode_t rfl_copy_apart(struct rfl_fs *rfs, ext2_ino_t ino,
			 const struct rfl_maps *pieces, blk64_t *copied);

#endif /* RFL_SHARE_INT_H */

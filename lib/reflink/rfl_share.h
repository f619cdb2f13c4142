/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfl_share.h - file-sharing primitives on a reflink image: clone a file,
 * share a block range between files, release blocks (punch, truncate,
 * unlink) without freeing blocks another file still maps, copy-on-write,
 * and unshare everything.
 *
 * Each call is one crash-safe transaction in the order of docs/FORMAT.md
 * 7.5: refcount increments are committed before another file's extent
 * points at the blocks, decrements after the extent is gone and the inode
 * written; a block is freed only when its count reaches 0 (rfl_commit).
 * An interrupted call leaves counts too high (leaked blocks the checker
 * reclaims), never too low.
 *
 * Every inode that gains a shared block gets EXT4_REFLINK_FL (FORMAT.md
 * 6.3), on both sides; these functions never clear it.
 *
 * The image must be open read-write (rfl_open with RFL_OPEN_RW) and have
 * the reflink feature.  Only regular files with extents are shared
 * (RFL_ET_NOT_REGULAR, RFL_ET_NO_EXTENTS otherwise); encrypted and verity
 * files are refused (RFL_ET_UNSUPPORTED).  Logical block numbers are in
 * filesystem blocks; ranges are checked before anything is written, so a
 * refused call changes nothing.  Extended attributes are not cloned.
 */
#ifndef RFL_SHARE_H
#define RFL_SHARE_H

#include "reflink/rfl.h"

/* One past the last logical block an extent can map (32-bit ee_block) */
#define RFL_LBLK_END		(1ULL << 32)

/*
 * Clone regular file src_ino into a new inode linked as name in directory
 * parent_ino: same mode, owner, size, times and flags (plus
 * EXT4_REFLINK_FL), the same leaf extents (uninitialized ones stay so),
 * every mapped block's count + 1.  i_blocks counts the data blocks it maps
 * plus its own extent-tree blocks.  EXT2_ET_FILE_EXISTS if name exists.
 */
errcode_t rfl_clone_inode(struct rfl_fs *rfs, ext2_ino_t src_ino,
			  ext2_ino_t parent_ino, const char *name,
			  ext2_ino_t *new_ino);

/*
 * Map src_ino's blocks [src_lblk, src_lblk + nr) at dst_lblk of dst_ino.
 * dst's previous blocks there are released; holes in src become holes in
 * dst.  The source range must lie within src's size (RFL_ET_BAD_RANGE);
 * dst's size grows to cover the range, ending where src's data ends when
 * the range reaches src's last block.  src and dst may be the same file.
 */
errcode_t rfl_share_range(struct rfl_fs *rfs, ext2_ino_t src_ino,
			  blk64_t src_lblk, ext2_ino_t dst_ino,
			  blk64_t dst_lblk, blk64_t nr);

/*
 * Unmap logical blocks start..end (inclusive, like ext2fs_punch; ~0ULL
 * means to the end), dropping one reference from each block; a block is
 * freed only when nobody else maps it.  The size does not change.
 */
errcode_t rfl_punch(struct rfl_fs *rfs, ext2_ino_t ino, blk64_t start,
		    blk64_t end);

/*
 * Set the size of ino to new_size: blocks past it are released as by
 * rfl_punch, and the tail of a partial last block is zeroed (after a
 * copy-on-write if that block is shared).  Growing leaves a hole.
 */
errcode_t rfl_truncate(struct rfl_fs *rfs, ext2_ino_t ino, __u64 new_size);

/*
 * Remove name from directory parent_ino.  When the inode's link count
 * reaches 0 its blocks are released (as by rfl_punch), its extended
 * attribute block dereferenced and the inode freed.  Directories are
 * refused (RFL_ET_NOT_REGULAR).
 */
errcode_t rfl_unlink(struct rfl_fs *rfs, ext2_ino_t parent_ino,
		     const char *name);

/*
 * Copy-on-write: give ino its own copy of every block of [start,
 * start + nr) whose count is >= 2 (new blocks near the old ones, data
 * copied, extent repointed, old block's count - 1).  Blocks with count 1
 * and holes are left alone.  RFL_ET_NO_DATA_SPACE (nothing changed) if the
 * copies do not fit.
 */
errcode_t rfl_cow_range(struct rfl_fs *rfs, ext2_ino_t ino, blk64_t start,
			blk64_t nr);

/*
 * Copy-on-write every shared block of every file until no block is
 * shared (used before turning the feature off).  Counts the blocks it
 * needs first and refuses with RFL_ET_NO_DATA_SPACE, changing nothing, when
 * free space is short.
 */
errcode_t rfl_unshare_all(struct rfl_fs *rfs);

/*
 * What rfl_unshare_all would ask of free space, read-only (mkreflink
 * --strip --unshare -n): *need, the blocks it wants free (the copies and
 * slack; 0 if nothing is shared), *avail, the free blocks; and the same
 * RFL_ET_NO_DATA_SPACE when they are short.
 */
errcode_t rfl_unshare_space(struct rfl_fs *rfs, blk64_t *need,
			    blk64_t *avail);

/*
 * Write len bytes of buf at byte offset of ino: the blocks written are
 * made private first (rfl_cow_range), holes get new blocks, the size
 * grows if the write ends past it.  For tests and the debug shell.
 */
errcode_t rfl_write_range(struct rfl_fs *rfs, ext2_ino_t ino, __u64 offset,
			  const void *buf, size_t len);

/*
 * Visit the parts of [start, start + len) whose count is >= 2, in block
 * order, with their count.  Stops early when fn returns non-zero
 * (returned as is).
 */
typedef int (*rfl_shared_fn)(void *priv, blk64_t start, blk64_t len,
			     __u32 count);
errcode_t rfl_for_each_shared(struct rfl_fs *rfs, blk64_t start,
			      blk64_t len, rfl_shared_fn fn, void *priv);

#endif /* RFL_SHARE_H */

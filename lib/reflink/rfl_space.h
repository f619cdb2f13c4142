/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfl_space.h - how much space a set of files takes, holds exclusively
 * and shares, and how much sharing saves (the columns of btrfs
 * filesystem du, plus the saving).  One definition of each word, used by
 * refdebug du and stats and the mkreflink -d summary:
 *
 *   total      bytes of data blocks the files map (a block mapped twice
 *              counts twice)
 *   exclusive  bytes of those blocks that nothing else maps (refcount 1)
 *   shared     bytes of the distinct blocks the files map that have a
 *              refcount of 2 or more, each counted once
 *   saved      total - exclusive - shared: what the set would take more
 *              if its files did not share blocks among themselves
 *
 * Regular files only (not the journal or other reserved inodes); every
 * inode is counted once however many names lead to it.
 */
#ifndef RFL_SPACE_H
#define RFL_SPACE_H

#include "reflink/rfl.h"

struct rfl_space {
	__u64 total;
	__u64 exclusive;
	__u64 shared;
	__u64 saved;
};

struct rfl_space_set;

errcode_t rfl_space_set_new(struct rfl_fs *rfs, struct rfl_space_set **sp);
void rfl_space_set_free(struct rfl_space_set *s);

/* Add one inode (not a regular file: nothing; seen before: nothing) */
errcode_t rfl_space_add_inode(struct rfl_space_set *s, ext2_ino_t ino);

/* Add a file or every file below a directory */
errcode_t rfl_space_add_tree(struct rfl_space_set *s, ext2_ino_t ino);

/* The totals of what was added so far */
void rfl_space_result(const struct rfl_space_set *s, struct rfl_space *out);

/* Every regular file of the filesystem (an inode scan) */
errcode_t rfl_space_fs(struct rfl_fs *rfs, struct rfl_space *out);

#endif /* RFL_SPACE_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfl_snapshot.h - an offline snapshot of a directory tree inside a
 * reflink image (refdebug snapshot): directories copied, regular files
 * cloned onto the same data blocks, symlinks, device nodes, fifos and
 * sockets copied; modes, owners, times, flags and extended attributes
 * (ACLs among them) kept, an external xattr block shared through its
 * own reference count as ext4 does.  Hard links inside the tree stay
 * hard links.
 *
 * Order (docs/FORMAT.md 7.8): the sources get EXT4_REFLINK_FL, every
 * count goes up in one load per flex group, then the new tree is built
 * unreachable, and one directory entry links it in at the end.  An
 * interrupted snapshot leaves counts too high and inodes no directory
 * names: reflinkck repairs the counts, e2fsck (after --strip) the
 * inodes; no source file ever loses a block.
 */
#ifndef RFL_SNAPSHOT_H
#define RFL_SNAPSHOT_H

#include <stdbool.h>

#include "reflink/rfl.h"

struct rfl_snapshot {
	__u64 files, dirs, symlinks, specials, hardlinks;
	__u64 shared;			/* data blocks the clones map */
	__u64 records;			/* refcount records the load made */
	ext2_ino_t bad_ino;		/* the inode an error is about, or 0 */
	bool wrote;			/* writing began before the error */
};

/*
 * Copy directory src (not the root of dst's path) as name in directory
 * parent.  rfs open read-write with the reflink feature, no
 * transaction open.  EXT2_ET_FILE_EXISTS if name exists; block-mapped,
 * encrypted and verity files are refused (RFL_ET_NO_EXTENTS,
 * RFL_ET_UNSUPPORTED) before anything is written.
 */
errcode_t rfl_snapshot(struct rfl_fs *rfs, ext2_ino_t src, ext2_ino_t parent,
		       const char *name, struct rfl_snapshot *s);

#endif /* RFL_SNAPSHOT_H */

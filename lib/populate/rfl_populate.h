/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfl_populate.h - copy a directory tree into a reflink image (mkreflink
 * -d), sharing identical blocks instead of storing them twice.
 *
 * The tree is walked in byte-wise sorted name order and every file is read
 * once, so the same tree gives the same image whatever order readdir
 * returns.  Each block-sized chunk of file data is hashed; on a hash match
 * the earlier block is read back and compared byte for byte, and only an
 * equal block is shared.  All-zero blocks become holes.  Refcounts are
 * gathered in memory and each flex group's tree is bulk loaded at the end.
 *
 * Memory: the dedup table holds a 16-byte (hash, block) entry per distinct
 * data block at a load of at most 1/2, so about 32 bytes per distinct
 * block; first-copy runs and shared runs take 16-24 bytes per run.
 */
#ifndef RFL_POPULATE_H
#define RFL_POPULATE_H

#include <stdbool.h>
#include <limits.h>

#include "reflink/rfl.h"

struct rfl_populate {
	/* ---- the request ---- */
	const char *src;		/* directory to copy */
	ext2_ino_t root;		/* where it goes; 0 = the root */
	bool no_dedup;			/* store every block */
	bool keep_zero;			/* store all-zero blocks, not holes */
	/*
	 * Leave the mode, owner, times and attributes of directories that
	 * exist already (the root, a directory the source also has) as
	 * they are; without it they take the source's, as mke2fs -d does.
	 */
	bool keep_meta;
	/*
	 * Reproducible builds (SOURCE_DATE_EPOCH): every ctime is this, and
	 * later atimes and mtimes are clamped to it.  0 = copy them as is.
	 */
	time_t build_time;
	/*
	 * Called after every file with the data bytes copied so far and the
	 * total of the tree (a first walk adds up the sizes when this is
	 * set); NULL for none.
	 */
	void (*progress)(struct rfl_populate *p, __u64 done, __u64 total);
	void *progress_priv;

	/* ---- results ---- */
	__u64 files, dirs, symlinks, specials, hardlinks;
	__u64 data_blocks;		/* non-hole blocks of all files */
	__u64 written;			/* distinct blocks stored */
	__u64 deduped;			/* blocks mapped onto an earlier one */
	__u64 zero_blocks;		/* all-zero blocks left as holes */
	__u64 more_blocks;		/* with RFL_ET_NO_SPACE: blocks short */
	__u64 records;			/* refcount records loaded */
	__u64 bytes_done, bytes_total;	/* regular files' sizes */

	/*
	 * What failed: the path the error code is about, or with why_full
	 * a whole sentence that needs no error code.
	 */
	char why[PATH_MAX + 128];
	bool why_full;
};

/*
 * Copy p->src into the image.  rfs must be open read-write with the
 * reflink feature and no transaction open.  A name the target directory
 * (or a directory under it that the source also has) already holds is
 * refused, unless both are directories: those are merged.
 *
 * Directories that existed before are changed only after the whole tree
 * is in, so on error they are as they were, and everything written went
 * to blocks and inodes the on-disk bitmaps still call free: close it
 * with rfl_abandon() and the filesystem on disk is the one before.
 */
errcode_t rfl_populate(struct rfl_fs *rfs, struct rfl_populate *p);

#endif /* RFL_POPULATE_H */

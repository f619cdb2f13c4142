/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfl_dedup.h - deduplicate an existing image offline (mkreflink
 * --dedup): identical data blocks of regular files become one block
 * shared through the refcount trees, the copies are freed.
 *
 * Every regular file's initialized extents are read once, in physical
 * block order; each block is hashed, and a block whose hash matches an
 * earlier one is compared byte for byte before it counts as a copy.  A
 * copy is remapped onto the first block with its bytes only when its own
 * count is 1 (a block already shared stays where it is, though it may be
 * the one others are remapped onto), and only in runs of at least
 * min_run blocks contiguous in the file, on disk and in what they match.
 *
 * Left alone: files that are immutable, append-only, encrypted, verity,
 * inline-data or block-mapped, extended-attribute inodes, the reserved
 * inodes, and any file with an extent over filesystem metadata.
 *
 * The writes go in the order of docs/FORMAT.md 7.7, so an interrupted
 * run leaves counts too high and blocks leaked, which reflinkck repairs;
 * never a file that lost data.
 */
#ifndef RFL_DEDUP_H
#define RFL_DEDUP_H

#include <stdbool.h>

#include "reflink/rfl.h"

struct rfl_dedup {
	/* ---- the request ---- */
	unsigned int min_run;		/* blocks; 0 or 1: every block */
	bool dry_run;			/* plan only: nothing written */
	/* after each read: blocks read so far of total; NULL for none */
	void (*progress)(struct rfl_dedup *d, __u64 done, __u64 total);
	void *progress_priv;

	/* ---- results ---- */
	__u64 files;			/* regular files read */
	__u64 skipped;			/* regular files left alone */
	__u64 blocks;			/* distinct data blocks read */
	__u64 copies;			/* blocks equal to an earlier block */
	__u64 freed;			/* copies remapped and freed */
	__u64 runs;			/* remapped runs */
	__u64 files_changed;		/* files remapped */
	long long tree_blocks;		/* extent-tree blocks: new - old */
	__u64 tree_new;			/* new ones, taken before frees */
	__u64 new_meta;			/* metadata, reserve blocks made */
	/*
	 * Free blocks after the run less before: freed - tree_blocks -
	 * new_meta.  Measured by a real run; predicted by a dry run, the
	 * same figure (refcount tree nodes come from the reserves, 4.4;
	 * only in a flex group without one, an image made before reserves
	 * with no room for one, would they be more).
	 */
	long long net;
	__u64 records;			/* refcount records the load made */
	ext2_ino_t bad_ino;		/* the file an error is about, or 0 */
	/*
	 * Writing began: after an error the image holds counts too high
	 * and leaked blocks (reflinkck -fy repairs them); without it
	 * nothing was written, and rfl_abandon() leaves the image as it was.
	 */
	bool wrote;
};

/*
 * Deduplicate rfs.  Without d->dry_run rfs must be open read-write with
 * the reflink feature; with it, read-only suffices and nothing is
 * written (on an image without the feature, a dry run plans as if
 * --enable had given every flex group its metadata block).  The new
 * extent-tree blocks are taken before any copy is freed: if free space
 * cannot hold them, RFL_ET_NO_SPACE and nothing written, in both modes.
 * No transaction may be open.
 */
errcode_t rfl_dedup(struct rfl_fs *rfs, struct rfl_dedup *d);

#endif /* RFL_DEDUP_H */

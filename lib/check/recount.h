/* SPDX-License-Identifier: GPL-2.0 */
/*
 * recount.h - the expected refcount records, computed from the files
 * alone (docs/FORMAT.md 8.9): every in-use inode's leaf extents become
 * (block, length, inode) runs, sorted and swept into records of count
 * >= 2.  Memory grows with the number of extents, never the disk size.
 */
#ifndef RFL_CHECK_RECOUNT_H
#define RFL_CHECK_RECOUNT_H

#include <stdbool.h>
#include "reflink/rfl.h"

struct rfl_run {
	blk64_t start;
	blk64_t len;
	ext2_ino_t ino;
	bool flagged;			/* the inode has EXT4_REFLINK_FL */
	bool fsck_reads;		/* stock e2fsck reads it: not a named
					 * regular file's data (pass 6) */
};

struct rfl_rec {
	blk64_t start;
	blk64_t len;
	__u64 count;
};

/* A range of blocks an inode holds besides its counted leaf extents */
struct rfl_range {
	blk64_t start;
	blk64_t len;
};

/*
 * An interrupted extent split (rfl_map_remove adds the right part before
 * it shortens the left): the left extent still runs over the right one,
 * mapping the same blocks.  Completing it shortens the left to new_len.
 */
struct rfl_split {
	ext2_ino_t ino;
	blk64_t lblk, pblk;		/* the left extent as it is */
	__u32 len, new_len;
};

/* A live inode's link count, for the directory pass */
struct rfl_live {
	ext2_ino_t ino;
	__u16 links;
	bool dir;
};

/* i_blocks (in fs blocks) that does not match what the inode maps */
struct rfl_iblocks {
	ext2_ino_t ino;
	blk64_t found, expected;
};

/* What the files hold */
struct rfl_scan {
	/* leaf extents of live inodes: the sharers E(b) counts, by start */
	struct rfl_run *runs;
	size_t nr_runs;
	/*
	 * every other block an in-use inode holds: extent index blocks,
	 * xattr blocks, block-mapped files (data and indirect blocks), and
	 * all blocks of orphans not yet freed; sorted by start
	 */
	struct rfl_range *owned;
	size_t nr_owned;
	unsigned long long bad_inodes;	/* inodes whose blocks are unknown */
	/*
	 * inodes with links that the inode bitmap says are free: walked
	 * as in use (e2fsck's rule), the bitmap being what is wrong
	 */
	unsigned long long stray;
	/*
	 * the first group where most inodes the bitmap marks in use read
	 * back with no links or a bad checksum (a misplaced inode table):
	 * how many of how many; empty_of 0 when none
	 */
	dgrp_t empty_group;
	unsigned long long empty, empty_of;
	/* in the inode bitmap, but no links or deleted: e2fsck's to judge */
	ext2_ino_t *unlinked;
	size_t nr_unlinked;
	struct rfl_iblocks *iblocks;
	size_t nr_iblocks;
	/* every live inode a directory should name, by number */
	struct rfl_live *live;
	size_t nr_live;
	/* interrupted splits; runs count the overlapped blocks once */
	struct rfl_split *splits;
	size_t nr_splits;
};

/* qsort order of struct rfl_range: by start */
int rfl_cmp_range(const void *a, const void *b);

/* Called for an inode whose extent tree or block map cannot be read */
typedef void (*rfl_bad_inode_fn)(void *priv, ext2_ino_t ino, errcode_t err);
/* Called after each block group's inodes: done of total groups */
typedef void (*rfl_scan_progress_fn)(void *priv, dgrp_t done, dgrp_t total);

/* Scan every inode (FORMAT.md 8.9 and 8.10) */
errcode_t rfl_scan_files(ext2_filsys fs, rfl_bad_inode_fn bad,
			 rfl_scan_progress_fn progress, void *priv,
			 struct rfl_scan *scan);
void rfl_scan_free(struct rfl_scan *scan);

/*
 * Sweep sorted runs into the expected records: split at flex-group
 * edges, adjacent equal counts merged (the canonical form).
 */
errcode_t rfl_expected_records(ext2_filsys fs, const struct rfl_run *runs,
			       size_t nr, struct rfl_rec **recsp,
			       size_t *nrecp);

/* Every record in the trees, in block order */
errcode_t rfl_collect_records(struct rfl_fs *rfs, struct rfl_rec **recsp,
			      size_t *nrecp);

/*
 * Fill grp's empty tree with recs[0..nr), the records of its flex group
 * in block order, fill percent full (rfl_group_bulk_load): reflinkck's
 * rebuild and the enabling of a shared_blocks image.
 */
errcode_t rfl_load_records(struct rfl_group *grp, const struct rfl_rec *recs,
			   size_t nr, unsigned int fill);

enum rfl_diff {
	RFL_DIFF_MISSING,		/* expected, not in the tree */
	RFL_DIFF_EXTRA,			/* in the tree, not expected */
	RFL_DIFF_COUNT,			/* same range, other count */
	RFL_DIFF_LENGTH,		/* same start, other length */
	RFL_DIFF_RANGE,			/* overlapping, other start */
};

/* exp or found is NULL for a missing or an extra record */
typedef void (*rfl_diff_fn)(void *priv, enum rfl_diff kind,
			    const struct rfl_rec *exp,
			    const struct rfl_rec *found);

/* Merge-compare expected with found, both in block order */
void rfl_compare_records(const struct rfl_rec *exp, size_t nexp,
			 const struct rfl_rec *found, size_t nfound,
			 rfl_diff_fn fn, void *priv);

/*
 * Report, once per inode (ascending), every inode without
 * EXT4_REFLINK_FL that maps a block the expected records share.
 */
errcode_t rfl_unflagged_sharers(const struct rfl_run *runs, size_t nr,
				const struct rfl_rec *exp, size_t nexp,
				void (*fn)(void *priv, ext2_ino_t ino),
				void *priv);

#endif

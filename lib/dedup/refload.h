/* SPDX-License-Identifier: GPL-2.0 */
/*
 * refload.h - lists of block runs and the one-pass refcount load that
 * mkreflink -d (lib/populate) and --dedup (rfl_dedup.c) end with: the
 * extra references gathered in memory become canonical records in one
 * sort and sweep, and each flex group's tree is written once.
 */
#ifndef RFL_REFLOAD_H
#define RFL_REFLOAD_H

#include "reflink/rfl.h"
#include "util/vec.h"

/* A run of blocks: the first copies of one inode, or one more reference */
struct rfl_brun {
	blk64_t start;
	blk64_t len;
	ext2_ino_t ino;
};

struct rfl_bruns {
	struct rfl_brun *v;
	size_t nr, max;
};

/* Append a run, merged with the last one when contiguous (same ino) */
errcode_t rfl_bruns_add(struct rfl_bruns *r, blk64_t start, blk64_t len,
			ext2_ino_t ino);
void rfl_bruns_free(struct rfl_bruns *r);

/* qsort order of struct rfl_brun: by start */
int rfl_brun_cmp(const void *a, const void *b);

/*
 * Add one reference to every block of every run of refs (runs may
 * overlap: a block under n runs gains n).  A flex group whose tree is
 * empty is bulk loaded with the records (FORMAT.md 7.3), given a
 * metadata block first if it has none; one whose tree holds records
 * already gets the increments in one copy-on-write transaction
 * (rfl_adjust), committed once.  *records (may be NULL) is the number
 * of records the sweep made.
 */
errcode_t rfl_refs_load(struct rfl_fs *rfs, const struct rfl_bruns *refs,
			__u64 *records);

#endif /* RFL_REFLOAD_H */

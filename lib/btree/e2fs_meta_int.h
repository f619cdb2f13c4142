/* SPDX-License-Identifier: GPL-2.0 */
/*
 * e2fs_meta_int.h - the metadata map's insides, shared by e2fs_meta.c
 * and the host's own slice of it in e2fs_host.c.  Not for use outside
 * lib/btree.
 */
#ifndef E2FS_META_INT_H
#define E2FS_META_INT_H

#include "e2fs_host.h"

/* A run of fs metadata blocks inside the flex group */
struct meta_run {
	blk64_t start;
	blk64_t len;
};

struct e2fs_meta_map {
	struct meta_run *runs;
	unsigned int nr;
	size_t cap;
};

/* [start, start + len) clipped to [first, last); start 0 is "none" */
errcode_t e2fs_meta_add(struct e2fs_meta_map *m, blk64_t first, blk64_t last,
			blk64_t start, blk64_t len);
/*
 * The metadata of groups [g0, g1) that lies in [first, last), and the
 * bitmaps and inode tables of every group, sorted and merged.
 */
errcode_t e2fs_meta_collect(ext2_filsys fs, struct e2fs_meta_map *m,
			    blk64_t first, blk64_t last, dgrp_t g0, dgrp_t g1);
/* Index of the first run ending after blk */
unsigned int e2fs_meta_lower(const struct e2fs_meta_map *m, blk64_t blk);

#endif

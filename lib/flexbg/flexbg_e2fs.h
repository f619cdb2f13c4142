/* SPDX-License-Identifier: GPL-2.0 */
/*
 * flexbg_e2fs.h - the userspace side of the per-flex-group layer on
 * libext2fs: the tree's reserve of a flex group (FORMAT.md 4.4), its
 * size and where it can go.  The on-disk block itself is flexbg_rec.h's.
 */
#ifndef FLEXBG_E2FS_H
#define FLEXBG_E2FS_H

#include <ext2fs/ext2fs.h>

#include "btree/e2fs_host.h"

/* Blocks the reserve of flex group fg must have (FORMAT.md 4.4) */
blk64_t rfl_fg_resv_blocks(ext2_filsys fs, dgrp_t fg);

/*
 * The first run of len blocks free in the bitmap and clear of fs
 * metadata (map, may be NULL) inside [lo, hi), searched from goal on and
 * then from lo; 0 if there is none.
 */
blk64_t rfl_fg_find_run(ext2_filsys fs, const struct e2fs_meta_map *map,
			blk64_t lo, blk64_t hi, blk64_t goal, blk64_t len);

/*
 * Blocks that are missing for every flex group without a reserve to get
 * one: for each, its reserve (plus a metadata block if it has none)
 * minus its longest free run, if that is shorter.  0 if all fit.
 * has_meta(fg) tells whether fg already has a metadata block.
 */
blk64_t rfl_fg_resv_missing(ext2_filsys fs, const struct e2fs_meta_map *map,
			    bool (*needs)(void *priv, dgrp_t fg,
					  bool *has_meta),
			    void *priv);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * flexbg_e2fs.h - the userspace flex-group layer on libext2fs: geometry,
 * the checksum seed, bg_reserved, reading and checking a flex group's
 * metadata block, and the refcount tree reserve (FORMAT.md 4.4): its
 * size and where it can go.  The on-disk block itself is flexbg_rec.h's
 * (kernel-shareable); the fs-metadata map is e2fs_host.h's.
 */
#ifndef FLEXBG_E2FS_H
#define FLEXBG_E2FS_H

#include <stdbool.h>
#include <ext2fs/ext2fs.h>

struct e2fs_meta_map;
struct ext4_rfx_problem;

/* 1 << s_log_groups_per_flex with flex_bg, else 1 */
dgrp_t e2fs_flex_group_size(ext2_filsys fs);
/* Number of flex groups (the last one may be short) */
dgrp_t e2fs_flex_group_count(ext2_filsys fs);
/* First block of flex group fg (callers check fg < count) */
blk64_t e2fs_flex_group_first_block(ext2_filsys fs, dgrp_t fg);
/* Blocks in flex group fg, the short last block group included */
blk64_t e2fs_flex_group_blocks(ext2_filsys fs, dgrp_t fg);

/*
 * The crc32c seed of every reflink checksum: s_checksum_seed with
 * INCOMPAT_CSUM_SEED, else crc32c(~0, s_uuid).  Computed even without
 * metadata_csum, unlike fs->csum_seed.
 */
__u32 e2fs_host_csum_seed(ext2_filsys fs);

/* bg_reserved of group g (the metadata pointer in a flex group's first) */
__u32 rfl_bg_reserved(ext2_filsys fs, dgrp_t g);
/* Set it and the descriptor's checksum; marks the superblock dirty */
void rfl_set_bg_reserved(ext2_filsys fs, dgrp_t g, __u32 value);

/*
 * Read flex group fg's metadata block into buf (a block) and check it
 * (ext4_rfx_check, the problem in *p if p).  *blkp: its block, 0 if
 * bg_reserved is 0 (then 0 is returned and buf is untouched).  Errors:
 * RFL_ET_CORRUPT_META (bg_reserved outside the flex group, or a bad
 * field), RFL_ET_BAD_MAGIC, RFL_ET_BAD_CSUM, RFL_ET_BAD_VERSION, or the
 * read's error.
 */
errcode_t rfl_fg_read_meta(ext2_filsys fs, __u32 seed, dgrp_t fg, void *buf,
			   blk64_t *blkp, struct ext4_rfx_problem *p);

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
 * Blocks missing for every flex group that needs(fg) says lacks its
 * reserve to get one (plus a metadata block when *has_meta is left
 * false): per such flex group, what its longest free run lacks.  0 if
 * all fit.
 */
blk64_t rfl_fg_resv_missing(ext2_filsys fs, const struct e2fs_meta_map *map,
			    bool (*needs)(void *priv, dgrp_t fg,
					  bool *has_meta),
			    void *priv);

#endif

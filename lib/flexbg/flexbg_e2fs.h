/* SPDX-License-Identifier: GPL-2.0 */
/*
 * flexbg_e2fs.h - the userspace flex-group layer on libext2fs: geometry,
 * the checksum seed, bg_reserved, reading and checking a flex group's
 * metadata block, and the refcount tree reserve (FORMAT.md 4.4): its
 * size and where it can go, and the map of the fs metadata (superblocks,
 * descriptors, bitmaps, inode tables).  The on-disk block itself is
 * flexbg_rec.h's (kernel-shareable).
 */
#ifndef FLEXBG_E2FS_H
#define FLEXBG_E2FS_H

#include <stdbool.h>
#include <ext2fs/ext2fs.h>

struct ext4_rfx_problem;

/* 1 << s_log_groups_per_flex with flex_bg, else 1 */
dgrp_t e2fs_flex_group_size(ext2_filsys fs);
/* Number of flex groups (the last one may be short) */
dgrp_t e2fs_flex_group_count(ext2_filsys fs);
/*
 * First block of flex group fg: arithmetic, so fg + 1 gives the edge after
 * fg even past the end of the filesystem
 */
blk64_t e2fs_flex_group_first_block(ext2_filsys fs, dgrp_t fg);
/* Blocks in flex group fg, the short last block group included */
blk64_t e2fs_flex_group_blocks(ext2_filsys fs, dgrp_t fg);
/* The flex group holding block blk (blocks before s_first_data_block: 0) */
dgrp_t e2fs_flex_group_of(ext2_filsys fs, blk64_t blk);

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
/*
 * The same check of block blk, wherever it is: is it a sound metadata
 * block of fg?  (reflinkck looks for lost ones.)  A read error leaves
 * p->code EXT4_RFX_OK; any other error leaves the block in buf.
 */
errcode_t rfl_fg_read_meta_at(ext2_filsys fs, __u32 seed, dgrp_t fg,
			      blk64_t blk, void *buf,
			      struct ext4_rfx_problem *p);

/*
 * The filesystem's metadata blocks (superblock and descriptor copies,
 * reserved descriptors, bitmaps, inode tables) as sorted runs.  Building
 * it once and passing it to e2fs_host_open2 keeps opening every flex
 * group's host linear in the number of groups.
 */
struct e2fs_meta_run {
	blk64_t start;
	blk64_t len;
};

struct e2fs_meta_map {
	struct e2fs_meta_run *runs;	/* sorted, merged */
	unsigned int nr, cap;
};

errcode_t e2fs_meta_map_build(ext2_filsys fs, struct e2fs_meta_map **mapp);
void e2fs_meta_map_free(struct e2fs_meta_map *map);
/* Does [start, start + len) touch filesystem metadata? */
bool e2fs_meta_map_overlaps(const struct e2fs_meta_map *map, blk64_t start,
			    blk64_t len);
/*
 * Is [start, start + len) file data that may be shared or remapped:
 * inside [s_first_data_block, blocks count), clear of fs metadata?
 */
bool e2fs_meta_map_data_range(ext2_filsys fs,
			      const struct e2fs_meta_map *map, blk64_t start,
			      blk64_t len);

/* Run i (< e2fs_meta_map_nr) of the map, in block order */
unsigned int e2fs_meta_map_nr(const struct e2fs_meta_map *map);
void e2fs_meta_map_run(const struct e2fs_meta_map *map, unsigned int i,
		       blk64_t *start, blk64_t *len);

/*
 * Into a zeroed, embedded map: the metadata of flex group fg inside it, or
 * the runs of a whole-fs map src inside [first, end).  Release frees the
 * runs of such a map.
 */
errcode_t e2fs_meta_map_fill_fg(ext2_filsys fs, struct e2fs_meta_map *m,
				dgrp_t fg);
errcode_t e2fs_meta_map_slice(struct e2fs_meta_map *m,
			      const struct e2fs_meta_map *src, blk64_t first,
			      blk64_t end);
void e2fs_meta_map_release(struct e2fs_meta_map *m);

/* The run holding blk, or NULL */
const struct e2fs_meta_run *e2fs_meta_map_find(const struct e2fs_meta_map *m,
					       blk64_t blk);

/* Blocks the reserve of flex group fg must have (FORMAT.md 4.4) */
blk64_t rfl_fg_resv_blocks(ext2_filsys fs, dgrp_t fg);

/*
 * The first run of len blocks free in the bitmap and clear of fs
 * metadata (map, may be NULL) inside [lo, hi), searched from goal on and
 * then from lo; 0 if there is none.
 */
blk64_t rfl_fg_find_run(ext2_filsys fs, const struct e2fs_meta_map *map,
			blk64_t lo, blk64_t hi, blk64_t goal, blk64_t len);

/* Where the reserves do not fit: the first flex group without room */
struct rfl_resv_short {
	dgrp_t nr_fg;		/* flex groups without a long enough run */
	dgrp_t fg;		/* the first of them */
	blk64_t first, end;	/* its blocks, [first, end) */
	blk64_t want;		/* the contiguous free run it needs */
	blk64_t longest;	/* its longest free run */
	blk64_t free;		/* its free blocks, contiguous or not */
};

/*
 * Blocks missing for every flex group that needs(fg) says lacks its
 * reserve to get one (plus a metadata block when *has_meta is left
 * false): per such flex group, what its longest free run lacks.  0 if
 * all fit.  The reserve is one run of contiguous blocks, so free blocks
 * scattered over the flex group do not make room: *why (if not NULL)
 * names the first flex group short of a run, for the message.
 */
blk64_t rfl_fg_resv_missing(ext2_filsys fs, const struct e2fs_meta_map *map,
			    bool (*needs)(void *priv, dgrp_t fg,
					  bool *has_meta),
			    void *priv, struct rfl_resv_short *why);

#endif

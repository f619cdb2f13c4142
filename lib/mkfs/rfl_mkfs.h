/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfl_mkfs.h - make a new ext4 filesystem with the reflink feature, in
 * process on libext2fs (the engine behind mkreflink's format mode).
 *
 * The caller fills a struct rfl_mkfs with what the user asked (zero
 * means "the ext4 default"), then:
 *
 *	rfl_mkfs_plan(&m);		geometry and features from the request
 *	rfl_mkfs_open(&m, &fs);		ext2fs_initialize: nothing written yet
 *	... print a summary from fs ...
 *	rfl_mkfs_write(&m, fs);		tables, directories, journal, reflink
 *	ext2fs_close_free(&fs);		superblocks, descriptors, bitmaps
 *
 * The defaults are those Debian's /etc/mke2fs.conf gives "ext4": size
 * types floppy (< 3 MiB), small (< 512 MiB), default, big (>= 4 TiB) and
 * huge (>= 16 TiB) choose the block size and inode ratio; 256-byte
 * inodes, flex_bg 16, 5 % reserved, the default journal size.  Nothing is
 * random that the caller did not leave random: the UUID and hash seed are
 * inputs, and every timestamp is m->now when it is set.
 */
#ifndef RFL_MKFS_H
#define RFL_MKFS_H

#include <stdio.h>
#include <stdbool.h>
#include <sys/types.h>
#include <ext2fs/ext2fs.h>

#define RFL_MKFS_FLOPPY_MAX	(3ULL << 20)	/* below: "floppy" */
#define RFL_MKFS_SMALL_MAX	(512ULL << 20)	/* below: "small" */
#define RFL_MKFS_BIG_MIN	(4ULL << 40)	/* from: "big" */
#define RFL_MKFS_HUGE_MIN	(16ULL << 40)	/* from: "huge" */

struct rfl_mkfs {
	/* ---- the request; 0 / NULL / false = default ---- */
	const char *device;
	unsigned long long size;	/* bytes; 0 = dev_size */
	unsigned long long dev_size;	/* bytes the device has now */
	unsigned int sector_size;	/* logical sector size, if a device */
	unsigned int block_size;
	unsigned int inode_ratio;	/* bytes per inode */
	unsigned int inode_size;
	unsigned long long nr_inodes;
	unsigned long flex_bg_size;	/* block groups per flex group */
	double reserved_pct;		/* < 0 = 5 % */
	/* feature edits on top of the defaults: compat, incompat, ro_compat */
	__u32 feat_on[3];
	__u32 feat_off[3];
	unsigned int journal_mb;	/* 0 = ext2fs_default_journal_size */
	int lazy_itable_init;		/* < 0 = yes */
	bool lazy_journal_init;
	bool nodiscard;
	bool dry_run;			/* null device: nothing written */
	const char *undo_file;		/* through undo_io_manager */
	unsigned char uuid[16];
	unsigned char hash_seed[16];
	const char *label;
	uid_t root_uid;
	gid_t root_gid;
	int errors;			/* s_errors; 0 = default */
	time_t now;			/* every timestamp; 0 = time(NULL) */
	FILE *out;			/* progress lines; NULL = quiet */

	/* ---- filled by rfl_mkfs_plan ---- */
	struct ext2_super_block param;
	const char *size_type;		/* "floppy", "small", ... */
	unsigned long long fs_bytes;	/* the size planned for */

	/* ---- filled by rfl_mkfs_open / rfl_mkfs_write ---- */
	unsigned int journal_blocks;	/* 0 = no journal */
	bool discarded;			/* the device now reads as zeroes */
	dgrp_t nr_flex;
	dgrp_t nr_meta;			/* flex groups given a metadata block */

	/* why the last call failed, when an error code says too little */
	char why[256];
};

/*
 * Work out param from the request.  Errors: EXT2_ET_INVALID_ARGUMENT
 * (with m->why), RFL_ET_NEED_64BIT, RFL_ET_NEED_EXTENTS,
 * RFL_ET_NEED_FLEX_BG, RFL_ET_BIGALLOC, RFL_ET_SHARED_BLOCKS,
 * RFL_ET_FLEXBG_TOO_BIG.
 */
errcode_t rfl_mkfs_plan(struct rfl_mkfs *m);

/*
 * ext2fs_initialize the planned filesystem and set its identity (UUID,
 * hash seed, label, times).  Only memory changes; with m->dry_run the
 * device is not even opened.  Free the result with ext2fs_free() to
 * give up, ext2fs_close_free() after rfl_mkfs_write() to finish.
 */
errcode_t rfl_mkfs_open(struct rfl_mkfs *m, ext2_filsys *fsp);

/*
 * Format: discard, group tables, inode tables, root, lost+found,
 * reserved and bad-block inodes, resize inode, journal, and a reflink
 * metadata block in every flex group, then the reflink bit.  What is
 * left for ext2fs_close_free() is the superblocks, descriptors and
 * bitmaps.
 */
errcode_t rfl_mkfs_write(struct rfl_mkfs *m, ext2_filsys fs);

/* The [fs_types] size type mke2fs picks for a filesystem of bytes */
const char *rfl_mkfs_size_type(unsigned long long bytes);

/* The ext4 features of Debian's mke2fs.conf, without a file to read */
void rfl_mkfs_default_features(__u32 features[3]);

/* The features the format can make (compat, incompat, ro_compat) */
void rfl_mkfs_supported_features(__u32 features[3]);

/*
 * Read mke2fs.conf at path (mkfs_profile.c) as mke2fs does for
 * "-t fs_type -T usage_types" (NULL: the size type of bytes): fills the
 * request's block_size, inode_size, inode_ratio and flex_bg_size where it
 * left them 0, and features[] with the feature set the file gives.  A
 * missing file gives the built-in defaults.  Warnings about types the
 * file lacks go to warn, mke2fs -v's list of types to info (NULL: none).  EXT2_ET_INVALID_ARGUMENT with
 * m->why for a bad file.
 */
errcode_t rfl_mkfs_profile(struct rfl_mkfs *m, const char *path,
			   const char *fs_type, const char *usage_types,
			   unsigned long long bytes, FILE *warn, FILE *info,
			   __u32 features[3]);

/* The io manager behind dry runs: reads zeroes, refuses every write */
extern io_manager rfl_null_io_manager;

#endif /* RFL_MKFS_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfl.h - userspace reflink library on libext2fs: open an image, check
 * its features, find and maintain the per-flex-group metadata blocks and
 * refcount trees, adjust refcounts across flex groups, enable and disable
 * the feature.  Every function returns errcode_t (RFL_ET_* from
 * reflink_err.et, or EXT2_ET_*, or errno values).
 */
#ifndef RFL_H
#define RFL_H

#include <ext2fs/ext2fs.h>

#include "btree/e2fs_host.h"
#include "refcount/refcount_rec.h"
#include "flexbg/flexbg_rec.h"
#include "reflink_err.h"


/* Stock e2fsprogs' "blocks may be shared" RO_COMPAT bit */
#ifndef EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS
#define EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS	0x00004000
#endif

struct rfl_fs;

/* One flex group's metadata block and refcount tree */
struct rfl_group {
	struct rfl_fs *rfs;
	dgrp_t fg;
	blk64_t first;			/* first block of the flex group */
	blk64_t nr_blocks;		/* blocks in the flex group */
	blk64_t meta_blk;		/* 0 = no metadata block */
	void *meta;			/* its image, once loaded */
	blk64_t resv_start;		/* the tree's reserve (absolute), */
	blk64_t resv_len;		/* 0 = none (a version-1 block) */
	bool resv_bad;			/* recorded but wrong: no writes */
	u64 txn_allocs;			/* host allocations at begin */
	struct e2fs_host *host;
	struct ext4_btree tree;
	bool loaded;			/* meta and tree are valid */
	bool in_txn;			/* tree has an open transaction */
};

/* A range of blocks to free once the transaction is committed */
struct rfl_extent {
	blk64_t start;
	blk64_t len;
};

struct rfl_fs {
	ext2_filsys fs;
	char *device;
	int flags;			/* RFL_OPEN_* */
	u32 csum_seed;
	dgrp_t nr_flex;
	struct rfl_group *groups;	/* nr_flex entries */
	struct e2fs_meta_map *meta_map;	/* fs metadata, built on first use */
	/* blocks whose count reached 0 in the open transaction */
	struct rfl_extent *to_free;
	size_t nr_to_free, max_to_free;
	bool in_txn;
	/*
	 * rfl_enable/rfl_disable: creating and removing metadata blocks
	 * skips the per-group flushes; the caller flushes once at the end
	 * (a flush per flex group: 20 TiB took over ten minutes).
	 */
	bool batch;
};

#define RFL_OPEN_RW		0x1	/* open read-write */
#define RFL_OPEN_NO_FEATURE	0x2	/* the reflink bit need not be set */
#define RFL_OPEN_UNDO		0x4	/* through undo_io_manager (undo_file) */
/*
 * Read-only: group descriptors are read when used, not held, when they
 * take more than 1 MiB (10 MiB at 20 TiB).  Every descriptor block is
 * read once at open, so an image
 * too short for them fails there, as without the flag.  For callers
 * that never keep two descriptor pointers at once (libext2fs reads the
 * block into one buffer per call) and never change one.
 */
#define RFL_OPEN_DESC_ON_DEMAND	0x8
#define RFL_OPEN_ANY_SIZE	0x10	/* RW even on a device shorter than
					 * the fs (the caller's floor judges) */
/*
 * Open even when ext2fs_check_desc() refuses the descriptors: for a
 * caller that judges them itself and writes nothing through them
 * (reflinkck's floor; --strip, which then writes only the superblock)
 */
#define RFL_OPEN_BAD_DESC	0x20

/*
 * The io manager of read-only opens (rfl_roio.c): pread only, never an
 * fsync (unix_io_manager syncs the device on open and on every flush)
 */
extern io_manager rfl_ro_io_manager;

/*
 * An image in memory (rfl_memio.c), opened by the name rfl_mem_io_name
 * gives through rfl_mem_io_manager (rfl_open_io).  The caller owns data
 * and dirty (NULL, or a bit per RFL_MEM_IO_UNIT bytes, set by writes);
 * writes counts every write asked for, a refused one too.  A channel
 * not opened read-write refuses writes.  No mount check, no device
 * size but size.
 */
#define RFL_MEM_IO_UNIT		1024
struct rfl_mem_image {
	unsigned char *data;
	size_t size;
	unsigned char *dirty;
	unsigned long long writes;
};

extern io_manager rfl_mem_io_manager;

void rfl_mem_io_name(const struct rfl_mem_image *img, char *buf, size_t len);

/* A channel of rfl_mem_io_manager: its size in blocks, and true */
bool rfl_mem_io_size(io_channel ch, int blocksize, blk64_t *blocks);

/*
 * A negative errno from the shareable tree code as an errcode_t:
 * -EFSCORRUPTED and -EFSBADCRC are RFL_ET_CORRUPT_TREE, -ENOSPC
 * RFL_ET_NO_SPACE, -EOVERFLOW RFL_ET_COUNT_OVERFLOW, -EFBIG
 * RFL_ET_TREE_TOO_DEEP, -EINVAL RFL_ET_BAD_ARG, any other its errno.
 */
errcode_t rfl_errcode(int err);

/*
 * ext2fs_link(), and when dir is full ext2fs_expand_dir() and once
 * more: name -> ino of file type ft in dir.
 */
errcode_t rfl_link(ext2_filsys fs, ext2_ino_t dir, const char *name,
		   ext2_ino_t ino, int ft);

/* A directory entry that names no other inode: unused, "." or ".." */
static inline bool rfl_dirent_skip(const struct ext2_dir_entry *d)
{
	int len = ext2fs_dirent_name_len(d);

	return !d->inode || (len == 1 && d->name[0] == '.') ||
	       (len == 2 && d->name[0] == '.' && d->name[1] == '.');
}

/*
 * A new empty regular file (0644, an empty extent root) named name in
 * dir, its inode in *inop.  If it cannot be linked (the directory full
 * and no block to grow it) the inode is freed again and *inop is left.
 * The caller has checked that dir has no such name.
 */
errcode_t rfl_create_file(ext2_filsys fs, ext2_ino_t dir, const char *name,
			  ext2_ino_t *inop);

/*
 * EXT4_REFLINK_FL on every inode of inos[n] that lacks it, each once;
 * inos is sorted on return.
 */
errcode_t rfl_flag_inodes(ext2_filsys fs, ext2_ino_t *inos, size_t n);

/*
 * Open device.  Refuses (no write made) a mounted filesystem
 * (RFL_ET_MOUNTED), one lacking what reflink needs (rfl_check_features),
 * and, unless RFL_OPEN_NO_FEATURE, one without the reflink bit.  A
 * read-write open of a device shorter than the superblock says is
 * refused (RFL_ET_SHORT_DEVICE) unless RFL_OPEN_ANY_SIZE: nothing is
 * ever written at or past the end.
 * undo_file is used with RFL_OPEN_UNDO (e2undo can replay it).
 */
errcode_t rfl_open(const char *device, int flags, const char *undo_file,
		   struct rfl_fs **rfsp);

/* The size of fs's device in fs blocks (rfl_mem_io_manager's too) */
errcode_t rfl_device_size(ext2_filsys fs, const char *device, blk64_t *size);

/* rfl_open through io (NULL: the usual ones); rfl_mem_io_manager's
 * images are never mounted */
errcode_t rfl_open_io(const char *device, int flags, const char *undo_file,
		      io_manager io, struct rfl_fs **rfsp);

/* Close, writing what is dirty when open read-write */
errcode_t rfl_close(struct rfl_fs *rfs);

/* Close without writing anything more (after an error) */
void rfl_abandon(struct rfl_fs *rfs);

/*
 * Does fs have what the reflink feature needs?  0, or the first missing
 * piece: RFL_ET_NEED_64BIT, RFL_ET_NEED_EXTENTS, RFL_ET_NEED_FLEX_BG,
 * RFL_ET_BIGALLOC, RFL_ET_FLEXBG_TOO_BIG, RFL_ET_UNSUPPORTED (e.g.
 * shared_blocks is set).
 */
errcode_t rfl_check_features(ext2_filsys fs);

/* Is the reflink bit set? */
bool rfl_has_feature(ext2_filsys fs);

/* bg_reserved: rfl_bg_reserved() in flexbg/flexbg_e2fs.h */

/*
 * Load flex group fg: its metadata block (verified) and tree root.  A
 * flex group without a metadata block loads as an empty tree with
 * meta_blk 0.  Errors: RFL_ET_BAD_MAGIC, RFL_ET_BAD_CSUM,
 * RFL_ET_BAD_VERSION, RFL_ET_CORRUPT_META.
 */
errcode_t rfl_group_load(struct rfl_fs *rfs, dgrp_t fg,
			 struct rfl_group **grpp);

/*
 * Drop flex group fg's cached state (host, metadata image), writing what
 * is dirty; rfl_group_load reads it again.  Lets a walk over every flex
 * group keep one in memory at a time.  Not inside a transaction.
 */
errcode_t rfl_group_release(struct rfl_fs *rfs, dgrp_t fg);

/*
 * Fill grp's tree, which must be empty, with nr records from next, in
 * key order, fill percent full: one COW transaction (FORMAT.md 7.3),
 * aborted on error.  RFL_ET_NO_SPACE when the blocks do not fit.
 */
errcode_t rfl_group_bulk_load(struct rfl_group *grp, u64 nr,
			      unsigned int fill, ext4_btree_next_fn next,
			      void *priv);

/*
 * Give flex group fg a metadata block with an empty tree and its reserve
 * (FORMAT.md 4.4) if it has none; a version-1 block without a reserve
 * only where the flex group has no room for one.
 */
errcode_t rfl_group_create(struct rfl_fs *rfs, dgrp_t fg);

/*
 * Give flex group fg its reserve: a metadata block if it has none, the
 * reserve if its block is version 1.  RFL_ET_NO_RESERVE_ROOM (nothing
 * written) when no free run is long enough.
 */
errcode_t rfl_group_add_reserve(struct rfl_fs *rfs, dgrp_t fg);

struct rfl_resv_short;		/* flexbg/flexbg_e2fs.h */

/*
 * Blocks missing for every flex group to get its reserve (and metadata
 * block): 0 if rfl_group_add_reserve can succeed everywhere.  *why (if
 * not NULL): the first flex group short of a contiguous run.
 */
errcode_t rfl_reserve_missing(struct rfl_fs *rfs, blk64_t *missing,
			      struct rfl_resv_short *why);

/*
 * reflinkck: give flex group fg a new reserve of the right size in a
 * free run (RFL_ET_NO_RESERVE_ROOM if there is none).  The old blocks
 * stay marked, for the caller to free what nothing else holds.
 */
errcode_t rfl_group_move_reserve(struct rfl_fs *rfs, dgrp_t fg);

/* Does a version-2 metadata block's reserve hold blk? */
bool rfl_group_in_reserve(const struct rfl_group *grp, blk64_t blk);

/*
 * Free flex group fg's tree and metadata block and clear its bg_reserved
 * (the pointer is cleared and made durable before the blocks are freed).
 */
errcode_t rfl_group_remove(struct rfl_fs *rfs, dgrp_t fg);

/* Flex group of block blk */
dgrp_t rfl_block_flex_group(const struct rfl_fs *rfs, blk64_t blk);

/*
 * Transactions over many flex groups.  Each flex group commits
 * atomically on its own (docs/FORMAT.md section 7); rfl_commit commits
 * every group touched, then frees the blocks whose count reached 0.
 */
errcode_t rfl_begin(struct rfl_fs *rfs);
errcode_t rfl_commit(struct rfl_fs *rfs);
void rfl_abort(struct rfl_fs *rfs);

/*
 * Add delta (+1/-1) to the count of every block of [start, start + len),
 * split per flex group.  Blocks whose count reaches 0 are freed at
 * commit.  Inside rfl_begin/rfl_commit.  A range that touches filesystem
 * metadata is refused (RFL_ET_BAD_RANGE): a corrupt extent must never
 * make us share or free an inode table.
 */
errcode_t rfl_adjust(struct rfl_fs *rfs, blk64_t start, blk64_t len,
		     int delta);

/* The count of one block: 0 free, 1 used once, n from the tree */
errcode_t rfl_refcount(struct rfl_fs *rfs, blk64_t blk, __u32 *count);

/*
 * Visit the records of every flex group (absolute block numbers), in
 * block order.  Stop early when fn returns non-zero (returned as is).
 */
typedef int (*rfl_record_fn)(void *priv, dgrp_t fg, blk64_t start,
			     blk64_t len, __u32 count);
errcode_t rfl_for_each_record(struct rfl_fs *rfs, rfl_record_fn fn,
			      void *priv);

/*
 * Enable: create a metadata block with an empty refcount tree and its
 * reserve in every flex group, then set the reflink bit.  The image must
 * pass rfl_check_features.  On an image that has the bit already, give
 * every flex group without a reserve one (an image made before the
 * reserve existed).  A flex group without a free run for its reserve
 * gets a version-1 block (or none), as before reserves: callers that
 * must not accept that ask rfl_enable_missing first (mkreflink does).
 */
errcode_t rfl_enable(struct rfl_fs *rfs);

/*
 * Blocks rfl_enable lacks for the reserves (0: it can proceed); *why as
 * for rfl_reserve_missing
 */
errcode_t rfl_enable_missing(struct rfl_fs *rfs, blk64_t *missing,
			     struct rfl_resv_short *why);

/*
 * Enable on a shared_blocks image (rfl_enable_shared.c): count every
 * shared block from the files' extents into the trees, mark the
 * sharers with EXT4_REFLINK_FL, then clear shared_blocks and set
 * reflink in one superblock write.  *shared (blocks with a count) and
 * *files (inodes newly flagged) may be NULL.  Refuses unreadable
 * inodes (RFL_ET_BAD_INODES) and sharing over metadata
 * (RFL_ET_BAD_RANGE): e2fsck -f first.
 */
errcode_t rfl_enable_shared(struct rfl_fs *rfs, unsigned long long *shared,
			    unsigned long long *files);

/*
 * Disable (strip): free every tree and metadata block and clear the bit.
 * If blocks are still shared, set SHARED_BLOCKS so stock e2fsck accepts
 * them (*shared_left tells).  Unsharing by copy is rfl_unshare_all().
 */
errcode_t rfl_disable(struct rfl_fs *rfs, bool *shared_left);

#endif /* RFL_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * e2fs_host.h - the userspace host of the B-tree on an open ext2_filsys.
 *
 * One host serves the trees of one flex group.  Nodes are read and written
 * through fs->io behind a small LRU block cache; blocks are allocated only
 * inside the flex group, from fs->block_map, with ext2fs_block_alloc_stats2
 * so the group and superblock free counts follow.  Before each root switch
 * the host writes the bitmaps, group descriptors and superblock
 * (ext2fs_flush), so a tree block is marked in use on disk before any
 * committed root can point at it.
 *
 * Open the filesystem with EXT2_FLAG_RW | EXT2_FLAG_64BITS (plus
 * EXT2_FLAG_FORCE on an image with the reflink RO_COMPAT bit).  The ops
 * return negative errno; the functions below return errcode_t.
 *
 * Usage:
 *	e2fs_host_open(fs, fg, 0, commit_cb, priv, &h);
 *	e2fs_host_tree_init(h, &tree, geo, EXT4_BTREE_COW);
 *	tree.root = ...;	(from the root slot, if the tree exists)
 *	... ext4_btree_begin / insert / commit ...
 *	e2fs_host_close(h);	(no references may be held)
 *	ext2fs_close_free(&fs);
 *
 * Userspace only; not kernel-shareable.
 */
#ifndef E2FS_HOST_H
#define E2FS_HOST_H

#include <ext2fs/ext2fs.h>

#include "ext4_btree.h"
#include "flexbg/flexbg_e2fs.h"

/* Cache size used when e2fs_host_open() is passed 0 */
#define E2FS_HOST_CACHE_DEFAULT	256
#define E2FS_HOST_CACHE_MIN	16
#define E2FS_HOST_CACHE_MAX	65536

struct e2fs_host;

extern const struct ext4_btree_ops e2fs_host_ops;

/*
 * Called by the commit_root op after the tree blocks and the block bitmap
 * are on disk: persist tree->root, height, nr_records, nr_nodes and
 * generation (the root slot).  Returns 0 or a negative errno.  May be NULL
 * when the caller keeps the root some other way.
 */
typedef int (*e2fs_host_commit_fn)(void *priv, struct ext4_btree *tree);

/*
 * Create a host for flex group flex_group of fs.  On a filesystem opened
 * read-only the host reads; writing, allocating and freeing fail with
 * -EROFS.  cache_blocks bounds the
 * cache (0 = E2FS_HOST_CACHE_DEFAULT; clamped to MIN..MAX); the cache only
 * grows past it while the tree holds references to more buffers than that.
 * Reads the block bitmap if it is not loaded.  Errors: RFL_ET_BAD_ARG
 * (flex group out of range), RFL_ET_BIGALLOC,
 * EXT2_ET_NO_MEMORY, or what reading the bitmap returns.
 */
errcode_t e2fs_host_open(ext2_filsys fs, dgrp_t flex_group,
			 unsigned int cache_blocks,
			 e2fs_host_commit_fn commit_root, void *priv,
			 struct e2fs_host **hostp);

/* The fs metadata map (e2fs_meta_map_build) is flexbg/flexbg_e2fs.h's */
/* e2fs_host_open with a prebuilt map (not owned; must outlive the host) */
errcode_t e2fs_host_open2(ext2_filsys fs, dgrp_t flex_group,
			  unsigned int cache_blocks,
			  const struct e2fs_meta_map *map,
			  e2fs_host_commit_fn commit_root, void *priv,
			  struct e2fs_host **hostp);

/*
 * Write back dirty buffers and free the host.  The tree must hold no
 * buffer references (no open cursor, no transaction).  Does not close fs.
 * Returns the first write error, if any; the host is freed regardless.
 */
errcode_t e2fs_host_close(struct e2fs_host *h);

/* ext4_btree_init() with the host's block size, checksum seed and owner */
errcode_t e2fs_host_tree_init(struct e2fs_host *h, struct ext4_btree *tree,
			      const struct ext4_btree_geo *geo,
			      enum ext4_btree_mode mode);

/* Write back dirty buffers and flush fs->io (the flush op, as errcode_t) */
errcode_t e2fs_host_sync(struct e2fs_host *h);

/*
 * Flex-group geometry (e2fs_flex_group_*) and the checksum seed
 * (e2fs_host_csum_seed) live in flexbg/flexbg_e2fs.h, included above.
 */

/* ---------------------------------------------------------------- */
/* Queries                                                           */
/* ---------------------------------------------------------------- */

ext2_filsys e2fs_host_fs(const struct e2fs_host *h);
dgrp_t e2fs_host_flex_group(const struct e2fs_host *h);
/* The flex group's range [first, first + blocks) */
blk64_t e2fs_host_first_block(const struct e2fs_host *h);
blk64_t e2fs_host_nr_blocks(const struct e2fs_host *h);

/*
 * May a tree node live at blk: inside the flex group, not its offset 0,
 * and not a superblock, descriptor, reserved descriptor, bitmap or inode
 * table block of any group.  Fits ext4_btree_verify_ops.valid_block (pass
 * the host as priv, or call it from your own).
 */
bool e2fs_host_valid_block(const struct e2fs_host *h, u64 blk);

/*
 * The tree's reserve (FORMAT.md 4.4): [start, start + len), every block
 * marked in the bitmap.  The allocator takes a block of it that no node
 * of the tree uses before any other block of the flex group, and a node
 * freed inside it goes back to it, still marked.  root, height and nodes
 * are the committed tree's: its nodes in the reserve are found on the
 * first allocation.  len 0 removes the reserve.
 */
errcode_t e2fs_host_set_reserve(struct e2fs_host *h, blk64_t start,
				blk64_t len, u64 root, u16 height, u64 nodes);
bool e2fs_host_in_reserve(const struct e2fs_host *h, blk64_t blk);
/* Blocks of the reserve no node uses */
blk64_t e2fs_host_reserve_free(struct e2fs_host *h);

/* Outstanding buffer references; 0 between tree operations */
unsigned int e2fs_host_nr_refs(const struct e2fs_host *h);

struct e2fs_host_stats {
	u64 reads;		/* blocks read from disk */
	u64 writes;		/* blocks written to disk */
	u64 hits;		/* read_block served from the cache */
	u64 evictions;		/* clean buffers dropped to make room */
	u64 allocs;		/* blocks allocated */
	u64 resv_allocs;	/* of them, from the reserve */
	u64 frees;		/* blocks freed */
	u64 flushes;		/* flush op calls */
	u64 commits;		/* commit_root op calls that succeeded */
	unsigned int cached;	/* buffers in the cache now */
	unsigned int peak;	/* most buffers ever cached at once */
	unsigned int limit;	/* the bound asked for */
};
void e2fs_host_get_stats(const struct e2fs_host *h,
			 struct e2fs_host_stats *st);

#endif /* E2FS_HOST_H */

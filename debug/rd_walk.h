/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rd_walk.h - read-only walk of one flex group's refcount tree straight
 * from the disk, tolerant of damage: a bad node is reported and skipped,
 * the walk goes on.  The library's own loader stops at the first bad
 * block, which is right for writers and wrong for a debugger.
 */
#ifndef RD_WALK_H
#define RD_WALK_H

#include "check/blkset.h"
#include "refdebug.h"

struct rd_walk {
	u32 fg;
	ull meta_blk;			/* 0 if the group has none */
	ull root;
	unsigned int height;
	u64 generation;
	struct ext4_btree tree;		/* for check_node and checksums */
	void *priv;
	/* every node that passed its checks, in key order (pre-order) */
	int (*node)(struct rd_walk *w, ull blk, int level, const void *data);
	/* every leaf record, in key order */
	int (*record)(struct rd_walk *w, const struct ext4_refcount_rec *rec);
	/* a damaged metadata block (level -1) or node */
	void (*bad)(struct rd_walk *w, ull blk, int level, const char *why);
	ull nodes, records, shared;
	/* private */
	struct rfl_blkset seen;		/* nodes reached */
	bool stop;
};

/* Walk flex group fg; returns 0 or an errcode_t for a failed read/alloc */
errcode_t rd_walk_group(struct rd_walk *w, u32 fg);

/* Load fg's metadata block raw into buf (block size); false if none */
bool rd_load_meta(u32 fg, void *buf, ull *blk);

#endif /* RD_WALK_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktest.h - the in-kernel test module of the kernel-shareable code: TAP
 * output on the console, a seeded generator and a kmalloc-backed host for
 * ext4_btree_ops.  Every TAP line is printed with the "reflink_ktest: "
 * prefix so scripts/run-kernel-tests can tell it from other messages.
 *
 * The suites (ktest_*.c but ktest_main.c) include only this header, so
 * they also build in userspace on ktest_user.h: tests/unit/test_ktest.c
 * runs the very same tests natively, under ASan and on s390x.
 */
#ifndef KTEST_H
#define KTEST_H

#ifdef __KERNEL__
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/bitmap.h>
#include <linux/sched.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/crc32c.h>
#else
#include "ktest_user.h"
#endif

#include "btree/ext4_btree.h"
#include "refcount/refcount_rec.h"
#include "flexbg/flexbg_rec.h"

/* ---- TAP (ktest_main.c) ---- */
bool kt_ok(bool cond, const char *fmt, ...) __printf(2, 3);
void kt_diag(const char *fmt, ...) __printf(1, 2);

/* xorshift64*: the sequence depends on the seed module parameter only */
static inline u64 kt_rand(u64 *state)
{
	u64 x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* A value in [0, n) */
static inline u32 kt_below(u64 *state, u32 n)
{
	return (u32)((kt_rand(state) >> 32) * n >> 32);
}

u64 kt_seed(unsigned int salt);

/* Operations per geometry of the model test, unless the ops parameter */
#define KT_OPS		100000
u32 kt_scale(u32 n);

/* ---- kmalloc host (ktest_host.c) ---- */
struct kt_host;

extern const struct ext4_btree_ops kt_host_ops;

/* Block 0 is never allocated; blocks are [1, nr_blocks) */
struct kt_host *kt_host_create(u32 block_size, u32 nr_blocks);
void kt_host_destroy(struct kt_host *h);
/* Forget the cache (a crash); -EBUSY if a buffer is still referenced */
int kt_host_drop_cache(struct kt_host *h);
/* The written image of blk, or NULL; writable for corruption tests */
void *kt_host_disk(struct kt_host *h, u64 blk);
/* Forget the written image of blk: the next read of it fails */
void kt_host_lose(struct kt_host *h, u64 blk);
u32 kt_host_nr_allocated(const struct kt_host *h);
u32 kt_host_nr_refs(const struct kt_host *h);
/* Misuse seen: double free, bad reference, write of a free block */
u32 kt_host_errors(const struct kt_host *h);
bool kt_host_valid_block(const struct kt_host *h, u64 blk);

/* The root as commit_root last stored it */
struct kt_root {
	u64 root, nr_records, nr_nodes, generation;
	u16 height;
};
void kt_host_get_root(const struct kt_host *h, struct kt_root *r);
/* Reopen tree from the last committed root (after a drop_cache) */
void kt_host_load_root(const struct kt_host *h, struct ext4_btree *tree);

/* ---- the suites ---- */
void kt_btree_model(void);
void kt_btree_cow(void);
void kt_verify_codes(void);
void kt_refcount_model(void);
void kt_flexbg(void);

/* The refcount model test on one geometry (ktest_refcount.c) */
struct kt_rc_case {
	const char *name;		/* of its TAP lines */
	u32 group;			/* blocks in the flex group */
	u32 max_len;			/* longest adjusted range */
	enum ext4_btree_mode mode;
	u32 host_blocks;		/* room for the tree */
};
void kt_refcount_run(const struct kt_rc_case *c, u32 nr_ops, u64 rng);
void kt_refcount_overflow(void);

#endif /* KTEST_H */

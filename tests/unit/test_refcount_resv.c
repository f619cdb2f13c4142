// SPDX-License-Identifier: GPL-2.0
/*
 * test_refcount_resv.c - the reserve of FORMAT.md 4.4 is enough.
 *
 * A host with exactly reserve(fg) blocks (ext4_refcount_resv_calc) holds
 * the tree of a flex group through the worst workload: a record on every
 * block (alternating counts), whole-group adjusts that touch every
 * record, and random ranges, each adjusted the way rfl_adjust does it
 * (min_leaf blocks per step, a commit once the transaction allocated its
 * budget).  One -ENOSPC would be a tree that outgrew its reserve.
 */
#include <stdio.h>
#include <stdlib.h>
#include "tap.h"
#include "btree/mem_host.h"
#include "refcount/refcount_rec.h"

struct rig {
	struct mem_host *h;
	struct ext4_btree t;
	struct ext4_refcount_resv r;
	u32 gb;
	u64 txn_allocs;
	u64 peak;
};

static u64 allocs(const struct rig *g)
{
	struct mem_host_stats st;

	mem_host_get_stats(g->h, &st);
	return st.allocs;
}

static void note(struct rig *g)
{
	u64 n = mem_host_nr_allocated(g->h);

	if (n > g->peak)
		g->peak = n;
}

/* rfl_adjust's stepping over [start, start + len) in one transaction */
static int adjust(struct rig *g, u32 start, u32 len, int delta)
{
	u32 step;
	int err;

	err = ext4_btree_begin(&g->t);
	if (err)
		return err;
	g->txn_allocs = allocs(g);
	while (len) {
		step = len < g->r.piece ? len : g->r.piece;
		err = ext4_refcount_adjust(&g->t, g->gb, start, step, delta,
					   NULL, NULL);
		note(g);
		if (err)
			goto fail;
		start += step;
		len -= step;
		if (len && allocs(g) - g->txn_allocs >= g->r.budget) {
			err = ext4_btree_commit(&g->t);
			if (err)
				goto fail;
			err = ext4_btree_begin(&g->t);
			if (err)
				return err;
			g->txn_allocs = allocs(g);
		}
	}
	err = ext4_btree_commit(&g->t);
	if (!err)
		return 0;
fail:
	if (g->t.in_txn)
		ext4_btree_abort(&g->t);
	return err;
}

static void run(const char *name, u32 block_size, u32 gb, u64 ops,
		u64 seed)
{
	struct rig g = { .gb = gb };
	uint64_t rng = seed;
	u64 i;
	int err = 0, bad = 0;
	u32 b, s, l;

	ext4_refcount_resv_calc(block_size, gb, &g.r);
	/* block 0 of a mem host is never allocated */
	g.h = mem_host_create(block_size, g.r.total + 1);
	if (!g.h || ext4_btree_init(&g.t, &ext4_refcount_geo, &mem_host_ops,
				    g.h, block_size, 1, 0, EXT4_BTREE_COW)) {
		ok(0, "%s: set up", name);
		return;
	}
	/* a record on every block: counts 2, 3, 2, 3, ... */
	for (b = 0; b < gb && !err; b++) {
		err = adjust(&g, b, 1, 1);
		if (!err && (b & 1))
			err = adjust(&g, b, 1, 1);
	}
	tap_is_int(err, 0, "%s: a record on each of %u blocks", name, gb);
	tap_is_u64(g.t.nr_records, gb, "%s: %u records", name, gb);
	/* whole-group adjusts touch every record in one call */
	err = err ?: adjust(&g, 0, gb, 1);
	err = err ?: adjust(&g, 0, gb, -1);
	err = err ?: adjust(&g, 1, gb - 2, 1);
	tap_is_int(err, 0, "%s: whole-group adjusts fit", name);
	for (i = 0; i < ops && !err; i++) {
		s = (u32)(tap_rand(&rng) % gb);
		l = (u32)(tap_rand(&rng) % (gb - s)) + 1;
		if (tap_rand(&rng) % 4 == 0 && l > 8)
			l = l % 8 + 1;
		err = adjust(&g, s, l, 1);
		if (!err && tap_rand(&rng) % 2)
			err = adjust(&g, s, l, -1);
	}
	if (err)
		bad = 1;
	tap_is_int(err, 0, "%s: %llu random ranges fit", name,
		   (unsigned long long)ops);
	ok(!bad && g.peak <= g.r.total,
	   "%s: peak %llu blocks of a %llu-block reserve (tree %llu)", name,
	   (unsigned long long)g.peak, (unsigned long long)g.r.total,
	   (unsigned long long)g.r.tree);
	mem_host_destroy(g.h);
}

int main(void)
{
	struct ext4_refcount_resv r;
	u64 seed = tap_seed();
	u64 ops = tap_scale(2000);

	/* the table of FORMAT.md 4.4 */
	ext4_refcount_resv_calc(4096, 16 * 32768, &r);
	tap_is_u64(r.total, 3221, "4 KiB, 16 groups: 3221 blocks");
	tap_is_u64(r.tree, 3141, "4 KiB, 16 groups: tree 3141");
	ext4_refcount_resv_calc(1024, 2 * 8192, &r);
	tap_is_u64(r.total, 502, "1 KiB, 2 groups: 502 blocks");
	ext4_refcount_resv_calc(4096, 1024ull * 32768, &r);
	tap_is_u64(r.total, 201027, "4 KiB, 1024 groups: 201027 blocks");
	ext4_refcount_resv_calc(1024, 300, &r);
	/* 8 leaves + a root; the commit is 2 * 9 + 2 + 1, not 60 */
	tap_is_u64(r.total, 9 + 21, "a 300-block last flex group");
	tap_is_int(ext4_refcount_resv_calc(64, 100, &r), -EINVAL,
		   "a block size too small");

	run("1 KiB, 8000 blocks", 1024, 8000, ops, seed);
	run("1 KiB, 300 blocks (short last group)", 1024, 300, ops, seed + 1);
	run("4 KiB, 30000 blocks", 4096, 30000, ops / 8, seed + 2);
	return done_testing();
}

// SPDX-License-Identifier: GPL-2.0
/*
 * test_refcount_model.c - random refcount adjusts against a per-block
 * counter array.  After every batch the tree must verify, every record
 * must pass ext4_refcount_check_rec (canonical, in range), and the records
 * must be exactly the runs of blocks whose count is >= 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include "tap.h"
#include "btree/mem_host.h"
#include "refcount/refcount_rec.h"

struct model {
	u32 *count;		/* per block */
	u32 nr;			/* blocks in the flex group */
	u64 freed_wrong;	/* freed() on a block whose count was not 1 */
	u64 freed_blocks;
};

static int model_freed(void *priv, u32 start, u32 len)
{
	struct model *m = priv;
	u32 i;

	for (i = start; i < start + len; i++) {
		if (m->count[i] != 1)
			m->freed_wrong++;
		m->count[i] = 0;
	}
	m->freed_blocks += len;
	return 0;
}

struct rec_check {
	u32 group_blocks;
	u64 bad;
	struct model *m;
	u32 pos;		/* next block not yet compared */
	u64 mismatch;
};

static int check_record(void *priv, const void *key, const void *val,
			const void *pkey, const void *pval)
{
	struct rec_check *rc = priv;
	struct ext4_refcount_rec r, p;
	u32 i;

	ext4_refcount_rec_decode(key, val, &r);
	if (pkey)
		ext4_refcount_rec_decode(pkey, pval, &p);
	if (ext4_refcount_check_rec(&r, pkey ? &p : NULL, rc->group_blocks))
		rc->bad++;
	if (ext4_refcount_rec_end(&r) > rc->group_blocks)
		return 1;
	/* blocks before the record must be < 2, inside it == count */
	for (i = rc->pos; i < r.start; i++)
		if (rc->m->count[i] >= 2)
			rc->mismatch++;
	for (i = r.start; i < r.start + r.len; i++)
		if (rc->m->count[i] != r.count)
			rc->mismatch++;
	rc->pos = r.start + r.len;
	return 0;
}

static int report(void *priv, const struct ext4_btree_problem *p)
{
	(void)priv;
	diag("verify: code %d block %llu level %d index %d", p->code,
	     (unsigned long long)p->blocknr, p->level, p->index);
	return 0;
}

/* Tree and model agree and the tree is sound */
static bool check_all(struct ext4_btree *t, struct model *m)
{
	struct ext4_btree_verify_ops vops = {
		.report = report,
		.record = check_record,
	};
	struct rec_check rc = { .group_blocks = m->nr, .m = m };
	long problems;
	u32 i;

	problems = ext4_btree_verify(t, &vops, &rc);
	for (i = rc.pos; i < m->nr; i++)
		if (m->count[i] >= 2)
			rc.mismatch++;
	if (problems || rc.bad || rc.mismatch)
		diag("problems %ld bad records %llu mismatched blocks %llu",
		     problems, (unsigned long long)rc.bad,
		     (unsigned long long)rc.mismatch);
	return !problems && !rc.bad && !rc.mismatch;
}

static void run_model(const char *name, u32 group_blocks, u32 max_len,
		      u64 ops, u64 seed, enum ext4_btree_mode mode)
{
	struct mem_host *h = mem_host_create(4096, 1 << 20);
	struct model m = { .nr = group_blocks };
	struct ext4_btree t;
	uint64_t rng = seed;
	u64 i, errors = 0, batches = 0, bad_batches = 0;
	int err;

	m.count = calloc(group_blocks, sizeof(*m.count));
	if (!h || !m.count ||
	    ext4_btree_init(&t, &ext4_refcount_geo, &mem_host_ops, h, 4096,
			    0x12345678, 3, mode)) {
		ok(0, "%s: setup", name);
		goto out;
	}
	for (i = 0; i < group_blocks; i++)
		m.count[i] = 1;

	ext4_btree_begin(&t);
	for (i = 0; i < ops; i++) {
		u32 len = 1 + tap_rand(&rng) % max_len;
		u32 start = tap_rand(&rng) % (group_blocks - len + 1);
		int delta = tap_rand(&rng) % 100 < 55 ? 1 : -1;
		u32 b;

		/* a block must be in use before it can be shared or freed */
		for (b = start; b < start + len; b++)
			if (!m.count[b])
				m.count[b] = 1;
		err = ext4_refcount_adjust(&t, group_blocks, start, len, delta,
					   model_freed, &m);
		if (err) {
			if (errors++ < 5)
				diag("adjust(%u, %u, %d) = %d", start, len,
				     delta, err);
			continue;
		}
		if (delta > 0)
			for (b = start; b < start + len; b++)
				m.count[b]++;
		else
			for (b = start; b < start + len; b++)
				if (m.count[b] > 1)
					m.count[b]--;

		if ((i + 1) % 997 == 0 || i + 1 == ops) {
			err = ext4_btree_commit(&t);
			if (err && errors++ < 5)
				diag("commit = %d", err);
			batches++;
			if (!check_all(&t, &m) && bad_batches++ < 3)
				diag("%s: batch %llu (op %llu) disagrees",
				     name, (unsigned long long)batches,
				     (unsigned long long)i);
			ext4_btree_begin(&t);
		}
	}
	ext4_btree_commit(&t);
	ok(!errors, "%s: %llu adjusts without error", name,
	   (unsigned long long)ops);
	ok(!bad_batches, "%s: tree == model and canonical after %llu batches",
	   name, (unsigned long long)batches);
	ok(!m.freed_wrong && m.freed_blocks,
	   "%s: freed() named exactly the blocks that reached 0 (%llu)", name,
	   (unsigned long long)m.freed_blocks);
	ok(mem_host_nr_allocated(h) == t.nr_nodes && !mem_host_nr_refs(h),
	   "%s: no leaked blocks or references", name);
out:
	free(m.count);
	if (h)
		mem_host_destroy(h);
}

/* +1 on a record at the maximum count fails and changes nothing */
static void test_overflow(void)
{
	struct mem_host *h = mem_host_create(4096, 1024);
	struct ext4_refcount_rec r = { .start = 10, .len = 5,
				       .count = EXT4_REFCOUNT_MAX };
	struct ext4_refcount_key k;
	struct ext4_refcount_val v;
	struct ext4_btree t;
	u32 c1 = 0, c2 = 0, c3 = 0;
	u64 nodes;
	int err;

	ext4_btree_init(&t, &ext4_refcount_geo, &mem_host_ops, h, 4096, 1, 0,
			EXT4_BTREE_COW);
	ext4_btree_begin(&t);
	ext4_refcount_rec_encode(&r, &k, &v);
	ext4_btree_insert(&t, &k, &v);
	ext4_btree_commit(&t);
	nodes = t.nr_records;

	ext4_btree_begin(&t);
	err = ext4_refcount_adjust(&t, 100, 5, 20, 1, NULL, NULL);
	tap_is_int(err, -EOVERFLOW, "increment past the maximum: -EOVERFLOW");
	ext4_refcount_get(&t, 12, &c1);
	ext4_refcount_get(&t, 5, &c2);
	ext4_refcount_get(&t, 20, &c3);
	ok(c1 == EXT4_REFCOUNT_MAX && c2 == 1 && c3 == 1 &&
	   t.nr_records == nodes, "overflow changed nothing");
	ext4_btree_abort(&t);

	ext4_btree_begin(&t);
	err = ext4_refcount_adjust(&t, 100, 90, 20, 1, NULL, NULL);
	tap_is_int(err, -EINVAL, "range past the flex group: -EINVAL");
	ext4_btree_abort(&t);
	mem_host_destroy(h);
}

int main(void)
{
	u64 seed = tap_seed();
	u64 ops = tap_scale(1000000);

	run_model("dense 4096 blocks, ranges <= 64", 4096, 64, ops / 2, seed,
		  EXT4_BTREE_COW);
	run_model("sparse 1M blocks, ranges <= 4096", 1 << 20, 4096, ops / 4,
		  seed + 1, EXT4_BTREE_COW);
	run_model("in-place, 16384 blocks, ranges <= 256", 16384, 256,
		  ops / 4, seed + 2, EXT4_BTREE_INPLACE);
	test_overflow();
	return done_testing();
}

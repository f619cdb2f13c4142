// SPDX-License-Identifier: GPL-2.0
/*
 * ktest_refcount.c - random refcount adjusts against a per-block counter
 * array, as tests/unit/test_refcount_model.c does in userspace: after
 * every batch the tree verifies, every record passes
 * ext4_refcount_check_rec(), and the records are exactly the runs of
 * blocks whose count is >= 2.
 */
#include "ktest.h"

#define RC_GROUP	8192
#define RC_MAX_LEN	64
#define RC_OPS		30000	/* scaled like the model test's ops */

struct rc_model {
	u32 *count;
	u64 freed_wrong, freed_blocks;
	/* verifier walk */
	u32 pos;
	u64 bad, mismatch;
};

static int rc_freed(void *priv, u32 start, u32 len)
{
	struct rc_model *m = priv;
	u32 i;

	for (i = start; i < start + len; i++) {
		if (m->count[i] != 1)
			m->freed_wrong++;
		m->count[i] = 0;
	}
	m->freed_blocks += len;
	return 0;
}

static int rc_record(void *priv, const void *key, const void *val,
		     const void *pkey, const void *pval)
{
	struct rc_model *m = priv;
	struct ext4_refcount_rec r, p;
	u32 i;

	ext4_refcount_rec_decode(key, val, &r);
	if (pkey)
		ext4_refcount_rec_decode(pkey, pval, &p);
	if (ext4_refcount_check_rec(&r, pkey ? &p : NULL, RC_GROUP))
		m->bad++;
	if (ext4_refcount_rec_end(&r) > RC_GROUP)
		return 1;
	for (i = m->pos; i < r.start; i++)
		m->mismatch += m->count[i] >= 2;
	for (i = r.start; i < r.start + r.len; i++)
		m->mismatch += m->count[i] != r.count;
	m->pos = r.start + r.len;
	return 0;
}

static int rc_report(void *priv, const struct ext4_btree_problem *p)
{
	kt_diag("refcount verify: problem %d block %llu level %d", p->code,
		p->blocknr, p->level);
	return 0;
}

static bool rc_check(struct ext4_btree *t, struct rc_model *m)
{
	static const struct ext4_btree_verify_ops vops = {
		.report = rc_report,
		.record = rc_record,
	};
	long problems;
	u32 i;

	m->pos = 0;
	m->bad = 0;
	m->mismatch = 0;
	problems = ext4_btree_verify(t, &vops, m);
	for (i = m->pos; i < RC_GROUP; i++)
		m->mismatch += m->count[i] >= 2;
	return !problems && !m->bad && !m->mismatch;
}

void kt_refcount_model(void)
{
	struct kt_host *h = kt_host_create(4096, 1 << 14);
	struct rc_model m = { 0 };
	struct ext4_btree t;
	u64 rng = kt_seed(300), errors = 0, batches = 0, bad_batches = 0;
	u32 i, b, nr_ops = kt_scale(RC_OPS);
	int err;

	m.count = kvcalloc(RC_GROUP, sizeof(u32), GFP_KERNEL);
	err = !h || !m.count ? -ENOMEM :
	      ext4_btree_init(&t, &ext4_refcount_geo, &kt_host_ops, h, 4096,
			      0x12345678, 3, EXT4_BTREE_COW);
	if (!kt_ok(!err, "refcount: setup (%d)", err))
		goto out;
	for (i = 0; i < RC_GROUP; i++)
		m.count[i] = 1;

	ext4_btree_begin(&t);
	for (i = 0; i < nr_ops; i++) {
		u32 len = 1 + kt_below(&rng, RC_MAX_LEN);
		u32 start = kt_below(&rng, RC_GROUP - len + 1);
		int delta = kt_below(&rng, 100) < 55 ? 1 : -1;

		/* a block must be in use before it can be shared or freed */
		for (b = start; b < start + len; b++)
			if (!m.count[b])
				m.count[b] = 1;
		err = ext4_refcount_adjust(&t, RC_GROUP, start, len, delta,
					   rc_freed, &m);
		if (err) {
			if (errors++ < 5)
				kt_diag("adjust(%u, %u, %d) = %d", start, len,
					delta, err);
			continue;
		}
		for (b = start; b < start + len; b++)
			if (delta > 0)
				m.count[b]++;
			else if (m.count[b] > 1)
				m.count[b]--;
		if ((i + 1) % 997 == 0 || i + 1 == nr_ops) {
			err = ext4_btree_commit(&t);
			if (err && errors++ < 5)
				kt_diag("commit = %d", err);
			batches++;
			if (!rc_check(&t, &m) && bad_batches++ < 3)
				kt_diag("refcount: batch %llu disagrees: %llu bad records, %llu blocks differ",
					batches, m.bad, m.mismatch);
			ext4_btree_begin(&t);
			cond_resched();
		}
	}
	ext4_btree_commit(&t);
	kt_ok(!errors, "refcount: %u adjusts without error", nr_ops);
	kt_ok(!bad_batches, "refcount: tree == model and canonical after %llu batches",
	      batches);
	kt_ok(!m.freed_wrong && m.freed_blocks,
	      "refcount: freed() named exactly the blocks that reached 0 (%llu)",
	      m.freed_blocks);
	kt_ok(kt_host_nr_allocated(h) == t.nr_nodes && !kt_host_nr_refs(h) &&
	      !kt_host_errors(h), "refcount: no leaked blocks or references");
out:
	kvfree(m.count);
	kt_host_destroy(h);
}

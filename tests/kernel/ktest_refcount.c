// SPDX-License-Identifier: GPL-2.0
/*
 * ktest_refcount.c - random refcount adjusts against a per-block counter
 * array: after every batch the tree verifies, every record passes
 * ext4_refcount_check_rec(), and the records are exactly the runs of
 * blocks whose count is >= 2.  And +1 past the maximum count fails and
 * changes nothing.  The module runs one geometry; the userspace
 * tests/unit/test_refcount_model.c runs the same test on larger ones.
 */
#include "ktest.h"

#define RC_OPS		30000	/* scaled like the model test's ops */

struct rc_model {
	u32 *count;
	u32 group;			/* blocks in the flex group */
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
	if (ext4_refcount_check_rec(&r, pkey ? &p : NULL, m->group))
		m->bad++;
	if (ext4_refcount_rec_end(&r) > m->group)
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
	for (i = m->pos; i < m->group; i++)
		m->mismatch += m->count[i] >= 2;
	return !problems && !m->bad && !m->mismatch;
}

void kt_refcount_run(const struct kt_rc_case *c, u32 nr_ops, u64 rng)
{
	struct kt_host *h = kt_host_create(4096, c->host_blocks);
	struct rc_model m = { .group = c->group };
	struct ext4_btree t;
	u64 errors = 0, batches = 0, bad_batches = 0;
	u32 i, b;
	int err;

	m.count = kvcalloc(c->group, sizeof(u32), GFP_KERNEL);
	err = !h || !m.count ? -ENOMEM :
	      ext4_btree_init(&t, &ext4_refcount_geo, &kt_host_ops, h, 4096,
			      0x12345678, 3, c->mode);
	if (!kt_ok(!err, "%s: setup (%d)", c->name, err))
		goto out;
	for (i = 0; i < c->group; i++)
		m.count[i] = 1;

	ext4_btree_begin(&t);
	for (i = 0; i < nr_ops; i++) {
		u32 len = 1 + kt_below(&rng, c->max_len);
		u32 start = kt_below(&rng, c->group - len + 1);
		int delta = kt_below(&rng, 100) < 55 ? 1 : -1;

		/* a block must be in use before it can be shared or freed */
		for (b = start; b < start + len; b++)
			if (!m.count[b])
				m.count[b] = 1;
		err = ext4_refcount_adjust(&t, c->group, start, len, delta,
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
				kt_diag("%s: batch %llu (op %u) disagrees: %llu bad records, %llu blocks differ",
					c->name, batches, i, m.bad,
					m.mismatch);
			ext4_btree_begin(&t);
			cond_resched();
		}
	}
	ext4_btree_commit(&t);
	kt_ok(!errors, "%s: %u adjusts without error", c->name, nr_ops);
	kt_ok(!bad_batches, "%s: tree == model and canonical after %llu batches",
	      c->name, batches);
	kt_ok(!m.freed_wrong && m.freed_blocks,
	      "%s: freed() named exactly the blocks that reached 0 (%llu)",
	      c->name, m.freed_blocks);
	kt_ok(kt_host_nr_allocated(h) == t.nr_nodes && !kt_host_nr_refs(h) &&
	      !kt_host_errors(h), "%s: no leaked blocks or references",
	      c->name);
out:
	kvfree(m.count);
	kt_host_destroy(h);
}

/* +1 on a record at the maximum count fails and changes nothing */
void kt_refcount_overflow(void)
{
	struct kt_host *h = kt_host_create(4096, 64);
	struct ext4_refcount_rec r = { .start = 10, .len = 5,
				       .count = EXT4_REFCOUNT_MAX };
	struct ext4_refcount_key k;
	struct ext4_refcount_val v;
	struct ext4_btree t;
	u32 c1 = 0, c2 = 0, c3 = 0;
	u64 records;
	int err;

	err = !h ? -ENOMEM :
	      ext4_btree_init(&t, &ext4_refcount_geo, &kt_host_ops, h, 4096,
			      1, 0, EXT4_BTREE_COW);
	if (!kt_ok(!err, "refcount overflow: setup (%d)", err))
		goto out;
	ext4_btree_begin(&t);
	ext4_refcount_rec_encode(&r, &k, &v);
	ext4_btree_insert(&t, &k, &v);
	ext4_btree_commit(&t);
	records = t.nr_records;

	ext4_btree_begin(&t);
	err = ext4_refcount_adjust(&t, 100, 5, 20, 1, NULL, NULL);
	kt_ok(err == -EOVERFLOW,
	      "increment past the maximum: -EOVERFLOW (%d)", err);
	ext4_refcount_get(&t, 12, &c1);
	ext4_refcount_get(&t, 5, &c2);
	ext4_refcount_get(&t, 20, &c3);
	kt_ok(c1 == EXT4_REFCOUNT_MAX && c2 == 1 && c3 == 1 &&
	      t.nr_records == records, "overflow changed nothing");
	ext4_btree_abort(&t);

	ext4_btree_begin(&t);
	err = ext4_refcount_adjust(&t, 100, 90, 20, 1, NULL, NULL);
	kt_ok(err == -EINVAL, "range past the flex group: -EINVAL (%d)", err);
	ext4_btree_abort(&t);
out:
	kt_host_destroy(h);
}

void kt_refcount_model(void)
{
	static const struct kt_rc_case c = {
		.name = "refcount", .group = 8192, .max_len = 64,
		.mode = EXT4_BTREE_COW, .host_blocks = 1 << 14,
	};

	kt_refcount_run(&c, kt_scale(RC_OPS), kt_seed(300));
	kt_refcount_overflow();
}

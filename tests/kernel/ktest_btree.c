// SPDX-License-Identifier: GPL-2.0
/*
 * ktest_btree.c - the B-tree against a model, inside the kernel.
 *
 * The same kind of test as tests/unit/test_btree_model.c, on the kernel's
 * memory allocator and crc32c: a dense model over nr_slots slots, slot s
 * mapped monotonically to a key spread over the whole key range, random
 * insert / update / delete / lookup (EQ, LE, GE, between keys) / range
 * scans both ways / bulk loads, in COW mode (commit or abort; an abort
 * restores the model's snapshot) and INPLACE mode (commit only).  At
 * checkpoints the verifier must report nothing and see exactly the
 * model's records, and the cache is dropped and the tree reopened from
 * the committed root.
 */
#include "ktest.h"
#include "ktest_keys.h"

struct kt_gcase {
	const char *name;
	const struct ext4_btree_geo *geo;
	u32 block_size;
	u32 nr_slots;
	enum kt_key_kind kind;
};

static const struct kt_gcase cases[] = {
	{ "le64", &kt_geo_le64, 4096, 1 << 14, K64 },
	{ "refcount", &ext4_refcount_geo, 4096, 1 << 14, K32 },
	{ "max5", &kt_geo_max5, 4096, 1 << 12, K64 },
	{ "1k", &kt_geo_1k, 1024, 1 << 14, K64 },
	{ "custom128", &kt_geo_custom128, 4096, 1 << 14, K128 },
};

#define KT_NR_BLOCKS	(1u << 16)

struct kt_run {
	const struct kt_gcase *g;
	enum ext4_btree_mode mode;
	struct kt_host *h;
	struct ext4_btree tree;
	u64 rng;
	u64 span, koff;
	/* the model and its snapshot at the transaction's begin */
	u8 *present, *old_present;
	u32 *ver, *old_ver;
	u32 count, old_count;
	unsigned long *seen;		/* blocks the verifier reached */
	/* verifier record walk */
	s64 walk_slot;
	u64 walk_bad;
	/* first failure */
	bool failed;
	char msg[160];
	u64 op;
	u64 nr_commits, nr_aborts, nr_bulk, nr_verify, nr_reopen;
};

static __printf(2, 3) void fail(struct kt_run *r, const char *fmt, ...)
{
	va_list args;

	if (r->failed)
		return;
	r->failed = true;
	va_start(args, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, args);
	va_end(args);
}

/* Key of slot s; above: a key between slot s and slot s + 1 */
static void encode_key(const struct kt_run *r, u32 s, bool above, u8 *key)
{
	u64 hi = (u64)s * r->span + r->koff;

	/* K128: low word in [1, 2^63), room on both sides */
	if (r->g->kind == K128)
		kt_encode_key(K128, hi,
			      ((kt_mix64(s) | 1) & ~(1ULL << 63)) + above,
			      key);
	else
		kt_encode_key(r->g->kind, hi + above, 0, key);
}

static void encode_val(const struct kt_run *r, u32 s, u32 ver, u8 *val)
{
	u64 v = kt_mix64((u64)s << 32 | ver);
	unsigned int i;

	for (i = 0; i < r->g->geo->val_size; i++)
		val[i] = (u8)(v >> (8 * (i & 7))) ^ (u8)i;
}

static s64 model_next(const struct kt_run *r, s64 s)
{
	for (; s < r->g->nr_slots; s++)
		if (s >= 0 && r->present[s])
			return s;
	return -1;
}

static s64 model_prev(const struct kt_run *r, s64 s)
{
	if (s >= r->g->nr_slots)
		s = r->g->nr_slots - 1;
	for (; s >= 0; s--)
		if (r->present[s])
			return s;
	return -1;
}

static void snapshot(struct kt_run *r)
{
	memcpy(r->old_present, r->present, r->g->nr_slots);
	memcpy(r->old_ver, r->ver, r->g->nr_slots * sizeof(u32));
	r->old_count = r->count;
}

static void rollback(struct kt_run *r)
{
	memcpy(r->present, r->old_present, r->g->nr_slots);
	memcpy(r->ver, r->old_ver, r->g->nr_slots * sizeof(u32));
	r->count = r->old_count;
}

/* The entry the tree returned must be slot want (or none if want < 0) */
static void check_entry(struct kt_run *r, const char *what, int ret, s64 want,
			const u8 *key, const u8 *val)
{
	u8 k[EXT4_BTREE_MAX_KEY], v[EXT4_BTREE_MAX_VAL];

	if (want < 0) {
		if (ret != -ENOENT)
			fail(r, "op %llu %s: %d, want -ENOENT", r->op, what,
			     ret);
		return;
	}
	if (ret) {
		fail(r, "op %llu %s: %d, want slot %lld", r->op, what, ret,
		     want);
		return;
	}
	encode_key(r, want, false, k);
	encode_val(r, want, r->ver[want], v);
	if (memcmp(k, key, r->g->geo->key_size) ||
	    memcmp(v, val, r->g->geo->val_size))
		fail(r, "op %llu %s: wrong entry, want slot %lld", r->op, what,
		     want);
}

static void op_insert(struct kt_run *r, u32 s)
{
	u8 k[EXT4_BTREE_MAX_KEY], v[EXT4_BTREE_MAX_VAL];
	int ret;

	encode_key(r, s, false, k);
	encode_val(r, s, r->ver[s] + 1, v);
	ret = ext4_btree_insert(&r->tree, k, v);
	if (r->present[s]) {
		if (ret != -EEXIST)
			fail(r, "op %llu insert of present slot %u: %d",
			     r->op, s, ret);
		return;
	}
	if (ret) {
		fail(r, "op %llu insert slot %u: %d", r->op, s, ret);
		return;
	}
	r->present[s] = 1;
	r->ver[s]++;
	r->count++;
}

static void op_update(struct kt_run *r, u32 s)
{
	u8 k[EXT4_BTREE_MAX_KEY], v[EXT4_BTREE_MAX_VAL];
	int ret;

	encode_key(r, s, false, k);
	encode_val(r, s, r->ver[s] + 1, v);
	ret = ext4_btree_update(&r->tree, k, v);
	if (ret != (r->present[s] ? 0 : -ENOENT))
		fail(r, "op %llu update slot %u (present %u): %d", r->op, s,
		     r->present[s], ret);
	else if (!ret)
		r->ver[s]++;
}

static void op_delete(struct kt_run *r, u32 s)
{
	u8 k[EXT4_BTREE_MAX_KEY];
	int ret;

	encode_key(r, s, false, k);
	ret = ext4_btree_delete(&r->tree, k);
	if (ret != (r->present[s] ? 0 : -ENOENT)) {
		fail(r, "op %llu delete slot %u (present %u): %d", r->op, s,
		     r->present[s], ret);
		return;
	}
	if (!ret) {
		r->present[s] = 0;
		r->count--;
	}
}

static void op_lookup(struct kt_run *r, u32 s)
{
	u8 q[EXT4_BTREE_MAX_KEY], k[EXT4_BTREE_MAX_KEY];
	u8 v[EXT4_BTREE_MAX_VAL];
	bool above = kt_below(&r->rng, 2);
	enum ext4_btree_lookup_mode mode = kt_below(&r->rng, 3);
	s64 want;
	int ret;

	encode_key(r, s, above, q);
	ret = ext4_btree_lookup(&r->tree, q, mode, k, v);
	if (mode == EXT4_BTREE_EQ)
		want = !above && r->present[s] ? (s64)s : -1;
	else if (mode == EXT4_BTREE_LE)
		want = model_prev(r, s);
	else
		want = model_next(r, above ? s + 1 : s);
	check_entry(r, above ? "lookup between keys" : "lookup", ret, want,
		    k, v);
}

/* Seek, then walk up to 32 entries forward or backward */
static void op_scan(struct kt_run *r, u32 s)
{
	struct ext4_btree_cursor cur;
	u8 q[EXT4_BTREE_MAX_KEY];
	bool fwd = kt_below(&r->rng, 2);
	s64 want;
	int ret, i;

	encode_key(r, s, false, q);
	ext4_btree_cursor_init(&cur, &r->tree);
	ret = ext4_btree_cursor_seek(&cur, q, fwd ? EXT4_BTREE_GE :
				     EXT4_BTREE_LE);
	want = fwd ? model_next(r, s) : model_prev(r, s);
	for (i = 0; i < 32 && !r->failed; i++) {
		check_entry(r, fwd ? "scan forward" : "scan backward", ret,
			    want, ret ? NULL : ext4_btree_cursor_key(&cur),
			    ret ? NULL : ext4_btree_cursor_val(&cur));
		if (ret)
			break;
		ret = fwd ? ext4_btree_cursor_next(&cur) :
			    ext4_btree_cursor_prev(&cur);
		want = fwd ? model_next(r, want + 1) : model_prev(r, want - 1);
	}
	ext4_btree_cursor_release(&cur);
}

/* After commit or abort: counts agree and nothing is held or leaked */
static void check_counts(struct kt_run *r, const char *when)
{
	if (r->tree.nr_records != r->count)
		fail(r, "op %llu after %s: tree has %llu records, model %u",
		     r->op, when, r->tree.nr_records, r->count);
	if (kt_host_nr_refs(r->h))
		fail(r, "op %llu after %s: %u buffer references held",
		     r->op, when, kt_host_nr_refs(r->h));
	if (kt_host_nr_allocated(r->h) != r->tree.nr_nodes)
		fail(r, "op %llu after %s: %u blocks allocated, %llu nodes",
		     r->op, when, kt_host_nr_allocated(r->h),
		     r->tree.nr_nodes);
	if (kt_host_errors(r->h))
		fail(r, "op %llu after %s: host misuse", r->op, when);
}

static void end_txn(struct kt_run *r, bool may_abort)
{
	int ret;

	if (may_abort && r->mode == EXT4_BTREE_COW &&
	    !kt_below(&r->rng, 8)) {
		ext4_btree_abort(&r->tree);
		rollback(r);
		r->nr_aborts++;
		check_counts(r, "abort");
		return;
	}
	ret = ext4_btree_commit(&r->tree);
	if (ret)
		fail(r, "op %llu commit: %d", r->op, ret);
	r->nr_commits++;
	check_counts(r, "commit");
}

static int bulk_next(void *priv, void *key, void *val)
{
	struct kt_run *r = priv;
	s64 s = model_next(r, r->walk_slot);

	if (s < 0)
		return -ENODATA;
	encode_key(r, s, false, key);
	encode_val(r, s, r->ver[s], val);
	r->walk_slot = s + 1;
	return 0;
}

/* Replace the tree with new random contents in one bulk load */
static void op_bulk(struct kt_run *r)
{
	u32 density = kt_below(&r->rng, 70), s;
	int ret;

	end_txn(r, false);
	snapshot(r);
	r->count = 0;
	for (s = 0; s < r->g->nr_slots; s++) {
		r->present[s] = kt_below(&r->rng, 100) < density;
		r->count += r->present[s];
		r->ver[s] += r->present[s];
	}
	r->walk_slot = 0;
	ret = ext4_btree_begin(&r->tree);
	ret = ret ?: ext4_btree_bulk_load(&r->tree, r->count,
					   50 + kt_below(&r->rng, 51),
					   bulk_next, r);
	if (ret) {
		fail(r, "op %llu bulk load of %u records: %d", r->op, r->count,
		     ret);
		ext4_btree_abort(&r->tree);
		rollback(r);
		return;
	}
	r->nr_bulk++;
	end_txn(r, true);
}

static int v_report(void *priv, const struct ext4_btree_problem *p)
{
	struct kt_run *r = priv;

	fail(r, "op %llu verify: problem %d at block %llu level %d index %d",
	     r->op, p->code, p->blocknr, p->level, p->index);
	return 1;
}

static bool v_valid_block(void *priv, u64 blk)
{
	struct kt_run *r = priv;

	return kt_host_valid_block(r->h, blk);
}

static bool v_seen(void *priv, u64 blk)
{
	struct kt_run *r = priv;

	return blk < KT_NR_BLOCKS && test_and_set_bit(blk, r->seen);
}

static int v_record(void *priv, const void *key, const void *val,
		    const void *pkey, const void *pval)
{
	struct kt_run *r = priv;
	u8 k[EXT4_BTREE_MAX_KEY], v[EXT4_BTREE_MAX_VAL];
	s64 s = model_next(r, r->walk_slot);

	if (s < 0) {
		r->walk_bad++;
		return 1;
	}
	encode_key(r, s, false, k);
	encode_val(r, s, r->ver[s], v);
	if (memcmp(k, key, r->g->geo->key_size) ||
	    memcmp(v, val, r->g->geo->val_size)) {
		r->walk_bad++;
		return 1;
	}
	r->walk_slot = s + 1;
	return 0;
}

/* Committed tree (outside a transaction): sound and equal to the model */
static void op_verify(struct kt_run *r)
{
	static const struct ext4_btree_verify_ops vops = {
		.report = v_report,
		.valid_block = v_valid_block,
		.test_and_set_seen = v_seen,
		.record = v_record,
	};
	long problems;

	bitmap_zero(r->seen, KT_NR_BLOCKS);
	r->walk_slot = 0;
	r->walk_bad = 0;
	problems = ext4_btree_verify(&r->tree, &vops, r);
	if (problems || r->walk_bad || model_next(r, r->walk_slot) >= 0)
		fail(r, "op %llu verify: %ld problems, records differ: %s",
		     r->op, problems, r->walk_bad ||
		     model_next(r, r->walk_slot) >= 0 ? "yes" : "no");
	r->nr_verify++;
}

/* A crash: forget the cache and reopen from the committed root */
static void op_reopen(struct kt_run *r)
{
	int ret = kt_host_drop_cache(r->h);

	if (ret) {
		fail(r, "op %llu drop cache: %d", r->op, ret);
		return;
	}
	ret = ext4_btree_init(&r->tree, r->g->geo, &kt_host_ops, r->h,
			      r->g->block_size, 0x5eed, 7, r->mode);
	if (ret) {
		fail(r, "op %llu reopen: %d", r->op, ret);
		return;
	}
	kt_host_load_root(r->h, &r->tree);
	r->nr_reopen++;
}

static void one_op(struct kt_run *r, u32 density_pct)
{
	u32 s = kt_below(&r->rng, r->g->nr_slots);
	u32 pick = kt_below(&r->rng, 100);
	bool grow = r->count * 100ULL < (u64)density_pct * r->g->nr_slots;

	if (pick < 40)
		grow ? op_insert(r, s) : op_delete(r, s);
	else if (pick < 55)
		grow ? op_delete(r, s) : op_insert(r, s);
	else if (pick < 65)
		op_update(r, s);
	else if (pick < 88)
		op_lookup(r, s);
	else
		op_scan(r, s);
}

static void run_mode(const struct kt_gcase *g, enum ext4_btree_mode mode,
		     u64 seed, u32 nr_ops)
{
	const char *mname = mode == EXT4_BTREE_COW ? "cow" : "inplace";
	struct kt_run *r = kzalloc(sizeof(*r), GFP_KERNEL);
	u32 i, checkpoint = nr_ops / 16 + 1, bulk_every = nr_ops / 6 + 1;
	int ret;

	if (!r) {
		kt_ok(false, "%s/%s: setup (out of memory)", g->name, mname);
		return;
	}
	r->g = g;
	r->mode = mode;
	r->rng = seed;
	r->h = kt_host_create(g->block_size, KT_NR_BLOCKS);
	r->present = kvzalloc(g->nr_slots, GFP_KERNEL);
	r->old_present = kvzalloc(g->nr_slots, GFP_KERNEL);
	r->ver = kvcalloc(g->nr_slots, sizeof(u32), GFP_KERNEL);
	r->old_ver = kvcalloc(g->nr_slots, sizeof(u32), GFP_KERNEL);
	r->seen = bitmap_zalloc(KT_NR_BLOCKS, GFP_KERNEL);
	ret = !r->h || !r->present || !r->old_present || !r->ver ||
	      !r->old_ver || !r->seen ? -ENOMEM :
	      ext4_btree_init(&r->tree, g->geo, &kt_host_ops, r->h,
			      g->block_size, 0x5eed, 7, mode);
	if (!kt_ok(!ret, "%s/%s: setup", g->name, mname))
		goto out;

	r->span = (g->kind == K32 ? 0xffffffffULL : ~0ULL) / g->nr_slots;
	r->koff = kt_rand(&r->rng) % (r->span - 1);
	ret = ext4_btree_begin(&r->tree);
	snapshot(r);
	for (i = 0; i < nr_ops && !r->failed && !ret; i++) {
		/* density swings between empty-ish and 80% full */
		u32 phase = (i / 4096) % 8;
		u32 density = 10 + 20 * (phase < 4 ? phase : 8 - phase);

		r->op = i;
		one_op(r, density);
		if (r->failed)
			break;
		if (i % bulk_every == bulk_every - 1) {
			op_bulk(r);
		} else if (i % checkpoint == checkpoint - 1) {
			end_txn(r, false);
			op_verify(r);
			if (kt_below(&r->rng, 2))
				op_reopen(r);
		} else if (!kt_below(&r->rng, 150)) {
			end_txn(r, true);
		} else {
			continue;
		}
		ret = ext4_btree_begin(&r->tree);
		snapshot(r);
		cond_resched();
	}
	if (ret)
		fail(r, "op %llu begin: %d", r->op, ret);
	if (r->tree.in_txn)
		end_txn(r, false);
	if (!kt_ok(!r->failed,
		   "%s/%s: %u random operations match the model", g->name,
		   mname, nr_ops))
		kt_diag("%s", r->msg);
	if (!r->failed) {
		op_reopen(r);
		op_verify(r);
	}
	if (!kt_ok(!r->failed,
		   "%s/%s: after dropping the cache the committed tree matches the model",
		   g->name, mname))
		kt_diag("%s", r->msg);
	kt_diag("%s/%s: %llu commits, %llu aborts, %llu bulk loads, %llu verifies, %llu reopens, %u records, height %u, %llu nodes",
		g->name, mname, r->nr_commits, r->nr_aborts, r->nr_bulk,
		r->nr_verify, r->nr_reopen, r->count, r->tree.height,
		r->tree.nr_nodes);
out:
	kt_host_destroy(r->h);
	kvfree(r->present);
	kvfree(r->old_present);
	kvfree(r->ver);
	kvfree(r->old_ver);
	bitmap_free(r->seen);
	kfree(r);
}

void kt_btree_model(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		run_mode(&cases[i], EXT4_BTREE_COW, kt_seed(100 + i),
			 kt_scale(KT_OPS) / 2 + 1);
		run_mode(&cases[i], EXT4_BTREE_INPLACE, kt_seed(200 + i),
			 kt_scale(KT_OPS) / 2 + 1);
	}
}

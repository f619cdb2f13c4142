// SPDX-License-Identifier: GPL-2.0
/*
 * test_btree_cow.c - copy-on-write transactions keep the committed tree.
 *
 * Every case snapshots the committed tree (each allocated block's disk and
 * cached image, the root slot and the contents), does something that must
 * not damage it (abort, a crash at a chosen host call, a failed
 * allocation, an aborted bulk load) and checks the snapshot byte for byte.
 * Commits must free exactly the blocks the new tree no longer uses.
 *
 * SEED=<n> replays a run.
 */
#include <stdio.h>
#include <stdlib.h>

#include "btree/ext4_btree.h"
#include "btree/mem_host.h"
#include "tap.h"

#define BS		4096
#define NR_BLOCKS	(1u << 15)
#define NSLOTS		(1u << 16)

static const struct ext4_btree_geo geo = {
	.name = "cow-test",
	.tree_type = EXT4_TREE_TEST_BASE + 0x10,
	.key_size = 8,
	.val_size = 8,
	.max_entries = 8,	/* a few thousand entries make 4+ levels */
	.key_kind = EXT4_BTREE_KEY_LE64,
};

struct env {
	struct mem_host *h;
	struct ext4_btree t;
	uint64_t rng;
	/* the model: what the tree holds */
	bool present[NSLOTS];
	u64 val[NSLOTS];
	u64 count;
	/* the snapshot of the committed state */
	bool snap_present[NSLOTS];
	u64 snap_val[NSLOTS];
	u64 snap_count;
	u8 *snap_disk[NR_BLOCKS];
	u8 *snap_cache[NR_BLOCKS];
	bool snap_alloc[NR_BLOCKS];
	u64 snap_nr_alloc;
	struct mem_host_root snap_root;
	struct ext4_btree snap_tree;
	/* scratch for node sets */
	u8 nodes[NR_BLOCKS];
};

static u64 slot_key(u32 s)
{
	return (u64)s << 40 | 0xabcdef;
}

static void put_key(u32 s, __le64 *k)
{
	*k = cpu_to_le64(slot_key(s));
}

static u64 rnd(struct env *e, u64 n)
{
	return tap_rand(&e->rng) % n;
}

static struct env *env_new(uint64_t seed, enum ext4_btree_mode mode)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		tap_bail_out("out of memory");
	e->rng = seed;
	e->h = mem_host_create(BS, NR_BLOCKS);
	if (!e->h)
		tap_bail_out("out of memory");
	if (ext4_btree_init(&e->t, &geo, &mem_host_ops, e->h, BS, 0x5eed,
			    3, mode))
		tap_bail_out("ext4_btree_init failed");
	return e;
}

static void snap_free(struct env *e)
{
	u32 b;

	for (b = 0; b < NR_BLOCKS; b++) {
		free(e->snap_disk[b]);
		free(e->snap_cache[b]);
		e->snap_disk[b] = NULL;
		e->snap_cache[b] = NULL;
	}
}

static void env_free(struct env *e)
{
	snap_free(e);
	mem_host_destroy(e->h);
	free(e);
}

static u8 *dup_block(const void *p)
{
	u8 *c;

	if (!p)
		return NULL;
	c = malloc(BS);
	if (!c)
		tap_bail_out("out of memory");
	memcpy(c, p, BS);
	return c;
}

/* Remember the committed state: model, root, and every allocated block */
static void snapshot(struct env *e)
{
	u32 b;

	snap_free(e);
	memcpy(e->snap_present, e->present, sizeof(e->present));
	memcpy(e->snap_val, e->val, sizeof(e->val));
	e->snap_count = e->count;
	for (b = 0; b < NR_BLOCKS; b++) {
		e->snap_alloc[b] = mem_host_is_allocated(e->h, b);
		if (!e->snap_alloc[b])
			continue;
		e->snap_disk[b] = dup_block(mem_host_disk_block(e->h, b));
		e->snap_cache[b] = dup_block(mem_host_cached_block(e->h, b));
	}
	e->snap_nr_alloc = mem_host_nr_allocated(e->h);
	mem_host_get_root(e->h, &e->snap_root);
	e->snap_tree = e->t;
}

static void restore_model(struct env *e)
{
	memcpy(e->present, e->snap_present, sizeof(e->present));
	memcpy(e->val, e->snap_val, sizeof(e->val));
	e->count = e->snap_count;
}

/* ---------------------------------------------------------------- */
/* Modifications                                                     */
/* ---------------------------------------------------------------- */

static s64 next_present(struct env *e, s64 s)
{
	for (; s < NSLOTS; s++)
		if (s >= 0 && e->present[s])
			return s;
	return -1;
}

static s64 prev_present(struct env *e, s64 s)
{
	for (; s >= 0; s--)
		if (s < NSLOTS && e->present[s])
			return s;
	return -1;
}

/* A present slot if there is one, else a random one */
static u32 some_slot(struct env *e)
{
	u32 s = (u32)rnd(e, NSLOTS);
	s64 p = next_present(e, s);

	if (p < 0)
		p = prev_present(e, s);
	return p < 0 ? s : (u32)p;
}

/*
 * One random modification, checked against the model.  Returns 0, or the
 * error the tree returned when it was not the expected -EEXIST/-ENOENT
 * (a fault-injected failure).  *bad is set if a result contradicts the
 * model.
 */
static int random_mod(struct env *e, unsigned int insert_pct, bool *bad)
{
	u64 r = rnd(e, 100), v = tap_rand(&e->rng);
	__le64 k, nk, lv = cpu_to_le64(v);
	u32 s, t;
	s64 p, n;
	int ret, want;

	if (r < insert_pct) {
		s = (u32)rnd(e, NSLOTS);
		put_key(s, &k);
		want = e->present[s] ? -EEXIST : 0;
		ret = ext4_btree_insert(&e->t, &k, &lv);
		if (ret == 0 && want == 0) {
			e->present[s] = true;
			e->val[s] = v;
			e->count++;
		}
	} else if (r < insert_pct + (100 - insert_pct) / 2) {
		s = some_slot(e);
		put_key(s, &k);
		want = e->present[s] ? 0 : -ENOENT;
		ret = ext4_btree_delete(&e->t, &k);
		if (ret == 0 && want == 0) {
			e->present[s] = false;
			e->count--;
		}
	} else if (r & 1) {
		s = some_slot(e);
		put_key(s, &k);
		want = e->present[s] ? 0 : -ENOENT;
		ret = ext4_btree_update(&e->t, &k, &lv);
		if (ret == 0 && want == 0)
			e->val[s] = v;
	} else {
		s = some_slot(e);
		if (!e->present[s])
			return 0;
		p = prev_present(e, (s64)s - 1);
		n = next_present(e, (s64)s + 1);
		if (n < 0)
			n = NSLOTS;
		t = (u32)(p + 1 + (s64)rnd(e, (u64)(n - p - 1)));
		put_key(s, &k);
		put_key(t, &nk);
		want = 0;
		ret = ext4_btree_replace(&e->t, &k, &nk, &lv);
		if (ret == 0) {
			e->present[s] = false;
			e->present[t] = true;
			e->val[t] = v;
		}
	}
	if (ret == want)
		return 0;
	if (ret == -EEXIST || ret == -ENOENT || ret == 0 || ret == -EINVAL) {
		if (!*bad)
			diag("modification returned %d, the model expected %d",
			     ret, want);
		*bad = true;
		return 0;
	}
	return ret;
}

/* n random modifications that must all succeed */
static int random_mods(struct env *e, unsigned int n, unsigned int insert_pct)
{
	bool bad = false;
	int ret = 0;

	while (n-- && !ret && !bad)
		ret = random_mod(e, insert_pct, &bad);
	if (ret)
		diag("modification failed with %d", ret);
	return ret || bad ? -1 : 0;
}

/* A committed tree of nr entries */
static int build(struct env *e, unsigned int nr)
{
	int ret = ext4_btree_begin(&e->t);

	while (!ret && e->count < nr)
		ret = random_mods(e, 1, 100);
	return ret ?: ext4_btree_commit(&e->t);
}

/* ---------------------------------------------------------------- */
/* Checks                                                            */
/* ---------------------------------------------------------------- */

struct vstate {
	struct env *e;
	s64 next;
	u64 problems, records, nodes, mismatches;
	struct ext4_btree_problem first;
	bool collect;
};

static int v_report(void *priv, const struct ext4_btree_problem *p)
{
	struct vstate *v = priv;

	if (!v->problems++)
		v->first = *p;
	return 0;
}

static int v_record(void *priv, const void *key, const void *val,
		    const void *pk, const void *pv)
{
	struct vstate *v = priv;
	__le64 k, x;

	(void)pk;
	(void)pv;
	v->records++;
	if (v->next < 0) {
		v->mismatches++;
		return 0;
	}
	put_key((u32)v->next, &k);
	x = cpu_to_le64(v->e->val[v->next]);
	if (memcmp(&k, key, 8) || memcmp(&x, val, 8))
		v->mismatches++;
	v->next = next_present(v->e, v->next + 1);
	return 0;
}

static int v_node(void *priv, u64 blk, int level)
{
	struct vstate *v = priv;

	(void)level;
	v->nodes++;
	if (v->collect && blk < NR_BLOCKS)
		v->e->nodes[blk] = 1;
	return 0;
}

static bool v_valid(void *priv, u64 blk)
{
	struct vstate *v = priv;

	return mem_host_is_allocated(v->e->h, blk);
}

static const struct ext4_btree_verify_ops vops = {
	.report = v_report,
	.valid_block = v_valid,
	.record = v_record,
	.node = v_node,
};

/*
 * Verify the tree against the model.  With collect, e->nodes marks the
 * tree's blocks.
 */
static bool quiet;

static int check_tree(struct env *e, bool collect, const char *what)
{
	struct vstate v = { .e = e, .next = next_present(e, 0),
			    .collect = collect };
	long ret;

	if (collect)
		memset(e->nodes, 0, sizeof(e->nodes));
	ret = ext4_btree_verify(&e->t, &vops, &v);
	if (ret == 0 && v.problems == 0 && v.mismatches == 0 &&
	    v.next < 0 && v.records == e->count && v.nodes == e->t.nr_nodes)
		return 0;
	if (quiet)
		return -1;
	diag("%s: verify %ld, %llu problems (first code %d block %llu), %llu/%llu records, %llu mismatches, %llu/%llu nodes",
	     what, ret, (unsigned long long)v.problems, v.first.code,
	     (unsigned long long)v.first.blocknr,
	     (unsigned long long)v.records, (unsigned long long)e->count,
	     (unsigned long long)v.mismatches, (unsigned long long)v.nodes,
	     (unsigned long long)e->t.nr_nodes);
	return -1;
}

static bool host_clean(struct env *e)
{
	struct mem_host_stats st;

	mem_host_get_stats(e->h, &st);
	if (st.errors || mem_host_nr_refs(e->h))
		diag("host errors %llu, refs %llu",
		     (unsigned long long)st.errors,
		     (unsigned long long)mem_host_nr_refs(e->h));
	return !st.errors && !mem_host_nr_refs(e->h);
}

/* Every block of the snapshot unchanged on disk (and in cache if cached) */
static bool old_blocks_intact(struct env *e, bool cache_too)
{
	u32 b, bad = 0;

	for (b = 0; b < NR_BLOCKS; b++) {
		const void *d, *c;

		if (!e->snap_alloc[b])
			continue;
		d = mem_host_disk_block(e->h, b);
		c = mem_host_cached_block(e->h, b);
		if (!mem_host_is_allocated(e->h, b) ||
		    !d != !e->snap_disk[b] ||
		    (d && memcmp(d, e->snap_disk[b], BS)) ||
		    (cache_too && e->snap_cache[b] &&
		     (!c || memcmp(c, e->snap_cache[b], BS)))) {
			if (bad++ < 3)
				diag("block %u of the committed tree changed",
				     b);
		}
	}
	return !bad;
}

/* Reopen the tree from the host's root slot after dropping the cache */
static int reopen(struct env *e)
{
	struct mem_host_root r;
	int ret = mem_host_drop_cache(e->h);

	if (ret) {
		diag("drop_cache: %d", ret);
		return ret;
	}
	mem_host_get_root(e->h, &r);
	ret = ext4_btree_init(&e->t, &geo, &mem_host_ops, e->h, BS, 0x5eed, 3,
			      e->t.mode);
	e->t.root = r.root;
	e->t.height = r.height;
	e->t.nr_records = r.nr_records;
	e->t.nr_nodes = r.nr_nodes;
	e->t.generation = r.generation;
	return ret;
}

/*
 * The committed state is exactly the snapshot; cache_too unless the cache
 * was dropped since.
 */
static void check_intact(struct env *e, const char *what, bool cache_too)
{
	struct mem_host_root r;

	restore_model(e);
	ok(old_blocks_intact(e, cache_too),
	   "%s: every committed block is unchanged on disk%s", what,
	   cache_too ? " and in cache" : "");
	tap_is_u64(mem_host_nr_allocated(e->h), e->snap_nr_alloc,
		   "%s: allocated block count is back", what);
	mem_host_get_root(e->h, &r);
	ok(r.root == e->snap_root.root && r.height == e->snap_root.height &&
	   r.nr_records == e->snap_root.nr_records &&
	   r.nr_nodes == e->snap_root.nr_nodes,
	   "%s: the host's root slot is unchanged", what);
	ok(e->t.root == e->snap_tree.root &&
	   e->t.height == e->snap_tree.height &&
	   e->t.nr_records == e->snap_tree.nr_records &&
	   e->t.nr_nodes == e->snap_tree.nr_nodes && !e->t.in_txn,
	   "%s: the tree's root fields are the committed ones", what);
	ok(!check_tree(e, false, what),
	   "%s: verifies clean with the old contents", what);
	ok(host_clean(e), "%s: no host errors, no references", what);
}

/* ---------------------------------------------------------------- */
/* The cases                                                         */
/* ---------------------------------------------------------------- */

/* (i) abort leaves every byte of the committed tree alone */
static void test_abort(uint64_t seed)
{
	struct env *e = env_new(seed, EXT4_BTREE_COW);
	int round;

	ok(!build(e, 3000), "abort: built a tree of 3000 entries");
	ok(e->t.height >= 3, "abort: height %u >= 3", e->t.height);
	for (round = 0; round < 4; round++) {
		const char *what[] = { "abort after mixed changes",
				       "abort after inserts",
				       "abort after emptying the tree",
				       "abort after one change" };
		int ret = ext4_btree_begin(&e->t);

		snapshot(e);
		if (round == 0)
			ret = ret ?: random_mods(e, 5000, 40);
		else if (round == 1)
			ret = ret ?: random_mods(e, 2000, 100);
		else if (round == 3)
			ret = ret ?: random_mods(e, 1, 0);
		while (round == 2 && !ret && e->count)
			ret = random_mods(e, 1, 0);
		ok(!ret, "%s: the changes succeeded", what[round]);
		ok(old_blocks_intact(e, true),
		   "%s: before abort the committed blocks are untouched",
		   what[round]);
		ext4_btree_abort(&e->t);
		check_intact(e, what[round], true);
	}
	ok(!reopen(e) && !check_tree(e, false, "abort"),
	   "abort: after dropping the cache the tree is the committed one");
	env_free(e);
}

/* (ii) a commit frees exactly the blocks the new tree no longer uses */
static void test_commit_frees(uint64_t seed)
{
	struct env *e = env_new(seed, EXT4_BTREE_COW);
	static u8 old_nodes[NR_BLOCKS];
	struct mem_host_stats s0, s1;
	int round;

	ok(!build(e, 3000), "commit: built a tree of 3000 entries");
	for (round = 0; round < 5; round++) {
		u64 nr_old = 0, nr_new = 0, leaked = 0, lost = 0, rewritten = 0;
		u32 b;
		int ret;

		check_tree(e, true, "commit: old tree");
		memcpy(old_nodes, e->nodes, sizeof(old_nodes));
		snapshot(e);
		mem_host_get_stats(e->h, &s0);
		ret = ext4_btree_begin(&e->t);
		ret = ret ?: random_mods(e, round == 4 ? 20 : 1500,
					 round & 1 ? 30 : 60);
		ret = ret ?: ext4_btree_commit(&e->t);
		ok(!ret, "commit round %d: changes and commit succeeded",
		   round);
		mem_host_get_stats(e->h, &s1);
		ok(!check_tree(e, true, "commit: new tree"),
		   "commit round %d: the new tree verifies with the new contents",
		   round);
		for (b = 0; b < NR_BLOCKS; b++) {
			nr_old += old_nodes[b];
			nr_new += e->nodes[b];
			if (old_nodes[b] && !e->nodes[b] &&
			    mem_host_is_allocated(e->h, b))
				leaked++;
			if (e->nodes[b] && !mem_host_is_allocated(e->h, b))
				lost++;
			/* a node kept by COW was never rewritten */
			if (old_nodes[b] && e->nodes[b] &&
			    (!e->snap_disk[b] ||
			     !mem_host_disk_block(e->h, b) ||
			     memcmp(mem_host_disk_block(e->h, b),
				    e->snap_disk[b], BS)))
				rewritten++;
		}
		tap_is_u64(leaked, 0,
			   "commit round %d: every replaced block was freed",
			   round);
		tap_is_u64(lost, 0,
			   "commit round %d: every block of the new tree is allocated",
			   round);
		tap_is_u64(rewritten, 0,
			   "commit round %d: blocks shared with the old tree were not rewritten",
			   round);
		tap_is_u64(mem_host_nr_allocated(e->h), e->t.nr_nodes,
			   "commit round %d: allocated == nr_nodes", round);
		tap_is_u64(nr_new, e->t.nr_nodes,
			   "commit round %d: the walk finds nr_nodes nodes",
			   round);
		tap_is_u64((s1.allocs - s0.allocs) - (s1.frees - s0.frees),
			   nr_new - nr_old,
			   "commit round %d: allocs - frees == node count change",
			   round);
		ok(host_clean(e),
		   "commit round %d: no host errors or references", round);
	}
	env_free(e);
}

/*
 * (iii) a crash during commit: the host call op fails the nth time, the
 * caller aborts, the machine "reboots" (cache dropped) and the committed
 * root must still be the old tree.
 */
static void test_crash(uint64_t seed, enum mem_host_op op, u64 nth,
		       const char *what)
{
	struct env *e = env_new(seed, EXT4_BTREE_COW);
	struct mem_host_root r;
	int ret;

	ok(!build(e, 3000), "%s: built a tree", what);
	snapshot(e);
	ret = ext4_btree_begin(&e->t);
	ret = ret ?: random_mods(e, 1500, 50);
	ok(!ret, "%s: changes succeeded", what);
	mem_host_fail_after(e->h, op, nth, -EIO);
	ret = ext4_btree_commit(&e->t);
	mem_host_fail_after(e->h, op, 0, 0);
	tap_is_int(ret, -EIO, "%s: commit fails with the injected error", what);
	mem_host_get_root(e->h, &r);
	ok(r.root == e->snap_root.root && r.commits == e->snap_root.commits,
	   "%s: the host's committed root is still the old one", what);
	ok(old_blocks_intact(e, false),
	   "%s: the old tree's blocks are unchanged on disk", what);
	ext4_btree_abort(&e->t);
	ok(!reopen(e), "%s: reopened after dropping the cache", what);
	check_intact(e, what, false);
	env_free(e);
}

/*
 * The last flush fails after the root slot was written: the host may or
 * may not have the new root.  Whatever the tree does, the root the host
 * holds must stay a valid tree with either the old or the new contents.
 */
static void test_crash_after_root(uint64_t seed)
{
	struct env *e = env_new(seed, EXT4_BTREE_COW);
	const char *what = "flush failure after the root write";
	static bool new_present[NSLOTS];
	static u64 new_val[NSLOTS];
	struct mem_host_root r;
	u64 new_count;
	int ret, old_ok, new_ok;

	ok(!build(e, 3000), "%s: built a tree", what);
	snapshot(e);
	ret = ext4_btree_begin(&e->t);
	ret = ret ?: random_mods(e, 1500, 50);
	ok(!ret, "%s: changes succeeded", what);
	memcpy(new_present, e->present, sizeof(new_present));
	memcpy(new_val, e->val, sizeof(new_val));
	new_count = e->count;
	/* flush #1 is before the root write, #2 after it */
	mem_host_fail_after(e->h, MEM_OP_FLUSH, 2, -EIO);
	ret = ext4_btree_commit(&e->t);
	mem_host_fail_after(e->h, MEM_OP_FLUSH, 0, 0);
	mem_host_get_root(e->h, &r);
	diag("%s: commit returned %d, host root %s", what, ret,
	     r.root == e->snap_root.root ? "old" : "new");
	if (ret)
		ext4_btree_abort(&e->t);
	ok(!reopen(e), "%s: reopened after dropping the cache", what);
	restore_model(e);
	quiet = true;
	old_ok = !check_tree(e, false, "against the old contents");
	memcpy(e->present, new_present, sizeof(new_present));
	memcpy(e->val, new_val, sizeof(new_val));
	e->count = new_count;
	new_ok = !check_tree(e, false, "against the new contents");
	quiet = false;
	ok(old_ok || new_ok,
	   "%s: the host's root is a valid tree with the old or new contents",
	   what);
	ok(host_clean(e), "%s: no host errors or references", what);
	env_free(e);
}

/*
 * (iv) a host call fails in the middle of a modification: the operation
 * returns the error and abort leaves the committed tree intact.
 */
static void test_op_failure(uint64_t seed, enum mem_host_op op, int err,
			    const char *what)
{
	struct env *e = env_new(seed, EXT4_BTREE_COW);
	unsigned int round, hits = 0, mismatched = 0;
	char label[128];

	ok(!build(e, 3000), "%s: built a tree", what);
	for (round = 0; round < 20; round++) {
		unsigned int pre = round < 10 ? 0 : (unsigned int)rnd(e, 300);
		u64 nth = 1 + rnd(e, round < 5 ? 4 : 60);
		bool bad = false;
		int ret;

		snapshot(e);
		ret = ext4_btree_begin(&e->t);
		ret = ret ?: random_mods(e, pre, 50);
		if (ret) {
			mismatched++;
			ext4_btree_abort(&e->t);
			continue;
		}
		mem_host_fail_after(e->h, op, nth, err);
		while (!ret && !bad)
			ret = random_mod(e, 50, &bad);
		mem_host_fail_after(e->h, op, 0, 0);
		if (bad || ret != err) {
			diag("%s round %u: got %d, expected %d", what, round,
			     ret, err);
			mismatched++;
		} else {
			hits++;
		}
		ext4_btree_abort(&e->t);
		snprintf(label, sizeof(label), "%s round %u", what, round);
		check_intact(e, label, true);
	}
	tap_is_int(mismatched, 0,
		   "%s: every failing operation returned the injected error",
		   what);
	ok(!reopen(e) && !check_tree(e, false, what),
	   "%s: after dropping the cache the committed tree is intact", what);
	diag("%s: %u injected failures", what, hits);
	env_free(e);
}

struct bulk_src {
	struct env *e;
	s64 next;
	u64 fail_at;		/* 1-based call that fails, 0 = never */
	u64 calls;
	bool unsorted;
};

static int bulk_next(void *priv, void *key, void *val)
{
	struct bulk_src *b = priv;
	__le64 v;

	if (++b->calls == b->fail_at)
		return -EIO;
	if (b->next < 0)
		return -ENODATA;
	put_key((u32)b->next, key);
	if (b->unsorted && b->calls == 100)
		put_key(0, key);
	v = cpu_to_le64(b->e->val[b->next]);
	memcpy(val, &v, 8);
	b->next = next_present(b->e, b->next + 1);
	return 0;
}

/* Leaf and interior node counts of the committed tree */
struct level_count {
	u64 nodes[EXT4_BTREE_MAX_HEIGHT];
};

static int count_node(void *priv, u64 blk, int level)
{
	struct level_count *lc = priv;

	(void)blk;
	if (level >= 0 && level < EXT4_BTREE_MAX_HEIGHT)
		lc->nodes[level]++;
	return 0;
}

static int count_report(void *priv, const struct ext4_btree_problem *p)
{
	(void)priv;
	(void)p;
	return 0;
}

/*
 * New entries for a bulk load: a fresh random set of about nr slots,
 * written into the model (which is then the expected new contents).
 */
static void new_contents(struct env *e, u64 nr)
{
	memset(e->present, 0, sizeof(e->present));
	e->count = 0;
	while (e->count < nr) {
		u32 s = (u32)rnd(e, NSLOTS);

		if (!e->present[s]) {
			e->present[s] = true;
			e->val[s] = tap_rand(&e->rng);
			e->count++;
		}
	}
}

/* (v) bulk load: abort restores, commit replaces, fill is respected */
static void test_bulk(uint64_t seed)
{
	static const u64 sizes[] = { 0, 1, 7, 8, 9, 100, 2000, 20000 };
	static const unsigned int fills[] = { 50, 67, 80, 100 };
	struct env *e = env_new(seed, EXT4_BTREE_COW);
	struct ext4_btree_verify_ops cvops = {
		.report = count_report,
		.node = count_node,
	};
	static u8 old_nodes[NR_BLOCKS];
	u16 cap = ext4_btree_leaf_capacity(&geo, BS);
	unsigned int i, fi;
	char what[96];

	ok(!build(e, 3000), "bulk: built a tree of 3000 entries");

	/* abort after a bulk load */
	snapshot(e);
	{
		struct bulk_src src = { e, -1, 0, 0, false };
		int ret = ext4_btree_begin(&e->t);

		new_contents(e, 5000);
		src.next = next_present(e, 0);
		ret = ret ?: ext4_btree_bulk_load(&e->t, e->count, 70,
						  bulk_next, &src);
		ok(!ret, "bulk then abort: bulk load succeeded");
		ok(old_blocks_intact(e, true),
		   "bulk then abort: the committed blocks are untouched");
		ext4_btree_abort(&e->t);
		check_intact(e, "bulk then abort", true);
	}

	/* bulk loads that fail part way, then abort */
	for (i = 0; i < 3; i++) {
		struct bulk_src src = { e, -1, 0, 0, false };
		int ret = ext4_btree_begin(&e->t), want = -EIO;

		snprintf(what, sizeof(what), "failed bulk load %u", i);
		snapshot(e);
		new_contents(e, 4000);
		src.next = next_present(e, 0);
		if (i == 0) {
			src.fail_at = 1234;
		} else if (i == 1) {
			src.unsorted = true;
			want = -EINVAL;
		} else {
			mem_host_fail_after(e->h, MEM_OP_ALLOC, 300, -ENOSPC);
			want = -ENOSPC;
		}
		ret = ret ?: ext4_btree_bulk_load(&e->t, e->count, 90,
						  bulk_next, &src);
		mem_host_fail_after(e->h, MEM_OP_ALLOC, 0, 0);
		tap_is_int(ret, want, "%s: returns %d", what, want);
		ext4_btree_abort(&e->t);
		check_intact(e, what, true);
	}

	/* bulk loads that commit */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (fi = 0; fi < sizeof(fills) / sizeof(fills[0]); fi++) {
			struct bulk_src src = { e, -1, 0, 0, false };
			struct level_count lc = { { 0 } };
			u64 nr = sizes[i], leaked = 0, b, want_leaves, target;
			unsigned int fill = fills[fi];
			int ret;

			snprintf(what, sizeof(what), "bulk %llu at %u%%",
				 (unsigned long long)nr, fill);
			check_tree(e, true, "bulk: old tree");
			memcpy(old_nodes, e->nodes, sizeof(old_nodes));
			ret = ext4_btree_begin(&e->t);
			new_contents(e, nr);
			src.next = next_present(e, 0);
			ret = ret ?: ext4_btree_bulk_load(&e->t, nr, fill,
							  bulk_next, &src);
			ret = ret ?: ext4_btree_commit(&e->t);
			if (!ok(!ret, "%s: load and commit succeeded", what))
				diag("returned %d", ret);
			ok(!check_tree(e, true, what),
			   "%s: verifies with the loaded contents", what);
			for (b = 0; b < NR_BLOCKS; b++)
				if (old_nodes[b] && !e->nodes[b] &&
				    mem_host_is_allocated(e->h, b))
					leaked++;
			tap_is_u64(leaked, 0,
				   "%s: the old tree's blocks were freed", what);
			tap_is_u64(mem_host_nr_allocated(e->h), e->t.nr_nodes,
				   "%s: allocated == nr_nodes", what);
			ok(host_clean(e), "%s: no host errors or references",
			   what);
			ext4_btree_verify(&e->t, &cvops, &lc);
			/* leaves hold cap * fill entries, but at least min */
			target = (u64)cap * fill / 100;
			if (target < cap / 2u)
				target = cap / 2u;
			want_leaves = nr ? (nr + target - 1) / target : 0;
			if (nr && want_leaves > nr / (cap / 2u))
				want_leaves = nr / (cap / 2u) ?: 1;
			ok(lc.nodes[0] + 1 >= want_leaves &&
			   lc.nodes[0] <= want_leaves + 1,
			   "%s: %llu leaves for %llu entries (expected about %llu)",
			   what, (unsigned long long)lc.nodes[0],
			   (unsigned long long)nr,
			   (unsigned long long)want_leaves);
		}
	}
	env_free(e);
}

/* (vi) destroy frees every block and empties the root slot */
static void test_destroy(uint64_t seed, enum ext4_btree_mode mode)
{
	struct env *e = env_new(seed, mode);
	const char *what = mode == EXT4_BTREE_COW ? "destroy (cow)" :
						     "destroy (inplace)";
	struct mem_host_stats s0, s1;
	struct mem_host_root r;
	u64 nodes;
	int ret;

	ok(!build(e, 3000), "%s: built a tree", what);
	nodes = e->t.nr_nodes;
	mem_host_get_stats(e->h, &s0);
	ret = ext4_btree_destroy(&e->t);
	mem_host_get_stats(e->h, &s1);
	tap_is_int(ret, 0, "%s: returns 0", what);
	tap_is_u64(mem_host_nr_allocated(e->h), 0,
		   "%s: no block left allocated", what);
	tap_is_u64(s1.frees - s0.frees, nodes, "%s: freed nr_nodes blocks",
		   what);
	mem_host_get_root(e->h, &r);
	ok(!r.root && !r.height && !r.nr_records && !r.nr_nodes,
	   "%s: the root slot is empty", what);
	ok(host_clean(e), "%s: no host errors or references", what);
	env_free(e);
}

int main(void)
{
	uint64_t seed = tap_seed();

	test_abort(seed);
	test_commit_frees(seed + 1);
	test_crash(seed + 2, MEM_OP_COMMIT_ROOT, 1, "crash at the root write");
	test_crash(seed + 3, MEM_OP_WRITE, 1, "crash at the first node write");
	test_crash(seed + 4, MEM_OP_WRITE, 2 + seed % 200,
		   "crash at a later node write");
	test_crash(seed + 5, MEM_OP_FLUSH, 1,
		   "crash at the flush before the root write");
	test_crash_after_root(seed + 6);
	test_op_failure(seed + 7, MEM_OP_ALLOC, -ENOSPC,
			"allocation failure");
	test_op_failure(seed + 8, MEM_OP_NEW, -ENOMEM, "new_block failure");
	test_op_failure(seed + 9, MEM_OP_READ, -EIO, "read failure");
	test_bulk(seed + 10);
	test_destroy(seed + 11, EXT4_BTREE_COW);
	test_destroy(seed + 12, EXT4_BTREE_INPLACE);
	return done_testing();
}

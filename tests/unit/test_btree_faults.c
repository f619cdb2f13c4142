// SPDX-License-Identifier: GPL-2.0
/*
 * test_btree_faults.c - regressions for failures found by review: host
 * faults in the middle of a bulk load or a destroy, and damaged trees
 * whose nodes have two parents, in both update modes.
 */
#include <stdio.h>
#include <stdlib.h>
#include "tap.h"
#include "btree/mem_host.h"
#include "flexbg/flexbg_rec.h"

static const struct ext4_btree_geo geo4 = {
	.name = "cap4", .tree_type = EXT4_TREE_TEST_BASE + 1,
	.key_size = 8, .val_size = 8, .max_entries = 4,
	.key_kind = EXT4_BTREE_KEY_LE64,
};

static int ins(struct ext4_btree *t, u64 k)
{
	__le64 kk = cpu_to_le64(k), vv = cpu_to_le64(k * 7);

	return ext4_btree_insert(t, &kk, &vv);
}

static u64 next_key;

static int next(void *priv, void *key, void *val)
{
	__le64 k = cpu_to_le64(++next_key), v = cpu_to_le64(next_key);

	(void)priv;
	memcpy(key, &k, 8);
	memcpy(val, &v, 8);
	return 0;
}

static long verify(struct ext4_btree *t)
{
	struct ext4_btree_verify_ops vops = { 0 };

	return ext4_btree_verify(t, &vops, NULL);
}

/* A failed allocation anywhere in a bulk load leaks nothing */
static void test_bulk_alloc_fail(void)
{
	int nth, leaks = 0, refs = 0, errors = 0;

	for (nth = 1; nth <= 14; nth++) {
		struct mem_host *h = mem_host_create(4096, 1024);
		struct ext4_btree t;
		int err;

		ext4_btree_init(&t, &geo4, &mem_host_ops, h, 4096, 1, 0,
				EXT4_BTREE_COW);
		next_key = 0;
		ext4_btree_begin(&t);
		mem_host_fail_after(h, nth & 1 ? MEM_OP_ALLOC : MEM_OP_NEW,
				    (nth + 1) / 2, -ENOSPC);
		err = ext4_btree_bulk_load(&t, 20, 100, next, NULL);
		if (!err)
			errors++;
		ext4_btree_abort(&t);
		if (mem_host_nr_allocated(h))
			leaks++;
		if (mem_host_nr_refs(h))
			refs++;
		mem_host_destroy(h);
	}
	ok(!leaks && !refs && !errors,
	   "bulk load: every injected alloc/new_block failure fails the load "
	   "and abort frees every block (%d leaks, %d ref leaks, %d passed)",
	   leaks, refs, errors);
}

/* destroy that fails at the root write keeps the tree and its counts */
static void test_destroy_fail(void)
{
	struct mem_host *h = mem_host_create(4096, 1024);
	struct mem_host_root r;
	struct ext4_btree t;
	u64 records, nodes;
	int i, err;

	ext4_btree_init(&t, &geo4, &mem_host_ops, h, 4096, 1, 0,
			EXT4_BTREE_COW);
	ext4_btree_begin(&t);
	for (i = 1; i <= 30; i++)
		ins(&t, i);
	ext4_btree_commit(&t);
	records = t.nr_records;
	nodes = t.nr_nodes;

	mem_host_fail_after(h, MEM_OP_COMMIT_ROOT, 1, -EIO);
	err = ext4_btree_destroy(&t);
	ok(err == -EIO && t.nr_records == records && t.nr_nodes == nodes &&
	   !verify(&t), "destroy failing at the root write keeps the tree");

	ext4_btree_begin(&t);
	ins(&t, 1000);
	ext4_btree_commit(&t);
	mem_host_get_root(h, &r);
	ok(r.nr_records == records + 1 && r.nr_nodes == t.nr_nodes &&
	   !verify(&t), "the next commit stores true counts");

	mem_host_fail_after(h, MEM_OP_FLUSH, 1, -EIO);
	err = ext4_btree_destroy(&t);
	mem_host_get_root(h, &r);
	ok(err == -EIO && !t.root && !r.root && mem_host_nr_allocated(h) &&
	   !mem_host_nr_refs(h),
	   "destroy failing at the flush keeps the empty root, leaks the "
	   "old blocks");
	mem_host_destroy(h);
}

/*
 * A damaged root whose last entry names the middle child: empty the middle
 * child so it merges away, then insert through the stale second pointer.
 * Both modes must refuse rather than write into (and later free) a node
 * that has left the tree.
 */
static void test_two_parents(enum ext4_btree_mode mode, const char *name)
{
	struct mem_host *h = mem_host_create(4096, 256);
	const u32 hdr = sizeof(struct ext4_btree_node_head);
	struct ext4_btree_node_head *hd;
	struct ext4_btree t;
	unsigned int nr;
	__le64 lo, kk;
	u8 *img, *vals;
	int i, err = 0;

	ext4_btree_init(&t, &geo4, &mem_host_ops, h, 4096, 1, 0, mode);
	ext4_btree_begin(&t);
	for (i = 1; i <= 9; i++)
		ins(&t, i * 10);
	ext4_btree_commit(&t);

	mem_host_drop_cache(h);
	img = (u8 *)mem_host_disk_block(h, t.root);
	hd = (void *)img;
	nr = le16_to_cpu(hd->bn_nr_entries);
	vals = img + hdr + t.max_node * 8;
	memcpy(vals + (nr - 1) * 8, vals + (nr - 2) * 8, 8);
	hd->bn_checksum = cpu_to_le32(ext4_btree_node_csum(&t, img));
	memcpy(&lo, img + hdr + (nr - 2) * 8, 8);

	ext4_btree_begin(&t);
	for (i = 0; i < 2 && !err; i++) {
		kk = cpu_to_le64(le64_to_cpu(lo) + 10 * i);
		err = ext4_btree_delete(&t, &kk);
	}
	if (!err)
		err = ins(&t, 1000);
	ok(err == -EFSCORRUPTED,
	   "%s: a node reached through a second parent after it left the "
	   "tree is corruption (%d)", name, err);
	ext4_btree_abort(&t);
	ok(!mem_host_nr_refs(h), "%s: no references left", name);
	mem_host_destroy(h);
}

static void test_small_rfx_block(void)
{
	u8 blk[256] = { 0 };

	ext4_rfx_init(blk, sizeof(blk), 1, 0);
	ok(ext4_rfx_seal(blk, sizeof(blk), 1, 1, 0) == -EINVAL &&
	   ext4_rfx_check(blk, sizeof(blk), 1, 1, 0, NULL) == -EINVAL,
	   "metadata block smaller than its structure is refused");
}

int main(void)
{
	test_bulk_alloc_fail();
	test_destroy_fail();
	test_two_parents(EXT4_BTREE_COW, "cow");
	test_two_parents(EXT4_BTREE_INPLACE, "in-place");
	test_small_rfx_block();
	return done_testing();
}

// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_btree.c - the node verifier and the cursor on fuzzed trees.
 *
 * Input: a 16-byte header, then up to MAX_BLOCKS node images of 1 KiB,
 * written to blocks 1.. of an in-memory host; block 1 is the root.
 *   header[0] flags: 1 fix bn_blocknr/bn_owner, 2 fix checksums,
 *                    4 run a refcount adjust after the walks
 *   header[1] height (mod 6); [2] the root's block (0: block 1);
 *   [4..7] nr_records; [8..11] nr_nodes;
 *   [12..15] adjust start/len seed
 * Rules: verify, cursor walks both ways, seeks and lookups never crash
 * or leak a buffer reference; a tree that verifies clean stays clean
 * after an adjust that succeeds.
 */
#include "fuzz_common.h"
#include "btree/mem_host.h"
#include "refcount/refcount_rec.h"

#define BS		1024
#define MAX_BLOCKS	12
#define HOST_BLOCKS	96
#define SEED		0x5eedf00du
#define GROUP_BLOCKS	(8u * 8192u)

struct walk {
	uint64_t seen[2];	/* blocks 0..127 */
	long problems;
	uint64_t records;
};

static int report(void *priv, const struct ext4_btree_problem *p)
{
	struct walk *w = priv;

	(void)p;
	w->problems++;
	return 0;
}

static bool valid_block(void *priv, u64 blk)
{
	(void)priv;
	return blk && blk < HOST_BLOCKS;
}

static bool seen(void *priv, u64 blk)
{
	struct walk *w = priv;
	uint64_t bit = 1ull << (blk & 63);
	bool was;

	if (blk >= 128)
		return true;
	was = w->seen[blk >> 6] & bit;
	w->seen[blk >> 6] |= bit;
	return was;
}

static int record(void *priv, const void *key, const void *val,
		  const void *pkey, const void *pval)
{
	struct walk *w = priv;
	struct ext4_refcount_rec r, p;

	ext4_refcount_rec_decode(key, val, &r);
	if (pkey)
		ext4_refcount_rec_decode(pkey, pval, &p);
	if (ext4_refcount_check_rec(&r, pkey ? &p : NULL, GROUP_BLOCKS))
		w->problems++;
	w->records++;
	return 0;
}

static long verify(struct ext4_btree *t, struct mem_host *h)
{
	const struct ext4_btree_verify_ops vops = {
		.report = report, .valid_block = valid_block,
		.test_and_set_seen = seen, .record = record,
	};
	struct walk w = { { 0 }, 0, 0 };
	long n = ext4_btree_verify(t, &vops, &w);

	FUZZ_REQUIRE(mem_host_nr_refs(h) == 0, "verify leaked a reference");
	return n < 0 ? n : w.problems;
}

static void cursor_walks(struct ext4_btree *t, struct mem_host *h,
			 struct fz *f)
{
	struct ext4_btree_cursor cur;
	unsigned char key[EXT4_BTREE_MAX_KEY] = { 0 };
	unsigned char k2[EXT4_BTREE_MAX_KEY], v2[EXT4_BTREE_MAX_VAL];
	int i, ret;

	ext4_btree_cursor_init(&cur, t);
	for (ret = ext4_btree_cursor_first(&cur), i = 0; !ret && i < 4096;
	     i++) {
		FUZZ_REQUIRE(ext4_btree_cursor_key(&cur) &&
			     ext4_btree_cursor_val(&cur), "cursor entry");
		ret = ext4_btree_cursor_next(&cur);
	}
	ext4_btree_cursor_release(&cur);
	FUZZ_REQUIRE(mem_host_nr_refs(h) == 0, "cursor next leaked");
	ext4_btree_cursor_init(&cur, t);
	for (ret = ext4_btree_cursor_last(&cur), i = 0; !ret && i < 4096;
	     i++)
		ret = ext4_btree_cursor_prev(&cur);
	ext4_btree_cursor_release(&cur);
	FUZZ_REQUIRE(mem_host_nr_refs(h) == 0, "cursor prev leaked");
	for (i = 0; i < 3; i++) {
		u32 k = fz_u32(f, 4);

		memcpy(key, &k, sizeof(k));
		ext4_btree_cursor_init(&cur, t);
		if (!ext4_btree_cursor_seek(&cur, key, i))
			ext4_btree_cursor_next(&cur);
		ext4_btree_cursor_release(&cur);
		ext4_btree_lookup(t, key, i, k2, v2);
		FUZZ_REQUIRE(mem_host_nr_refs(h) == 0, "seek leaked");
	}
}

static int freed(void *priv, u32 start, u32 len)
{
	(void)priv;
	(void)start;
	(void)len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct ext4_btree t;
	struct mem_host *h;
	struct ext4_btree_buf *buf;
	struct ext4_btree_node_head *nh;
	uint8_t flags, height, root;
	u32 nr_rec, nr_nodes, adj;
	size_t nblocks, i;
	long before;
	u64 blk;

	if (size < 16)
		return 0;
	flags = fz_u8(&f);
	height = fz_u8(&f) % 6;
	root = fz_u8(&f);
	fz_u8(&f);
	nr_rec = fz_u32(&f, 4);
	nr_nodes = fz_u32(&f, 4);
	adj = fz_u32(&f, 4);
	nblocks = f.left / BS;
	if (nblocks > MAX_BLOCKS)
		nblocks = MAX_BLOCKS;

	h = mem_host_create(BS, HOST_BLOCKS);
	if (!h)
		return 0;
	if (ext4_btree_init(&t, &ext4_refcount_geo, &mem_host_ops, h, BS,
			    SEED, 0, EXT4_BTREE_COW))
		goto out;
	for (i = 0; i < nblocks; i++) {
		if (mem_host_ops.alloc_block(h, 0, &blk) ||
		    mem_host_ops.new_block(h, blk, &buf))
			goto out;
		memcpy(buf->data, f.p + i * BS, BS);
		nh = buf->data;
		if (flags & 1) {
			nh->bn_blocknr = cpu_to_le64(blk);
			nh->bn_owner = 0;
		}
		if (flags & 2)
			nh->bn_checksum = cpu_to_le32(
				ext4_btree_node_csum(&t, buf->data));
		mem_host_ops.write_block(h, buf);
		mem_host_ops.put_block(h, buf);
	}
	f.p += nblocks * BS;
	f.left -= nblocks * BS;
	if (mem_host_drop_cache(h))
		goto out;
	t.root = height && nblocks ? (root && root <= nblocks ? root : 1) : 0;
	t.height = t.root ? height : 0;
	t.nr_records = nr_rec;
	t.nr_nodes = nr_nodes;
	t.generation = 1;

	before = verify(&t, h);
	cursor_walks(&t, h, &f);
	if (flags & 4) {
		u32 start = adj % GROUP_BLOCKS, len = 1 + (adj >> 20) % 64;

		if (start + len > GROUP_BLOCKS)
			len = GROUP_BLOCKS - start;
		if (ext4_btree_begin(&t))
			goto out;
		if (ext4_refcount_adjust(&t, GROUP_BLOCKS, start, len,
					 (adj & 0x80) ? -1 : 1, freed, NULL) ||
		    ext4_btree_commit(&t)) {
			ext4_btree_abort(&t);
			FUZZ_REQUIRE(mem_host_nr_refs(h) == 0,
				     "abort leaked a reference");
		} else if (before == 0) {
			FUZZ_REQUIRE(verify(&t, h) == 0,
				     "an adjust broke a clean tree");
		}
	}
	FUZZ_REQUIRE(mem_host_nr_refs(h) == 0, "a reference is left");
out:
	mem_host_destroy(h);
	return 0;
}

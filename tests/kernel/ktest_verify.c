// SPDX-License-Identifier: GPL-2.0
/*
 * ktest_verify.c - COW commit/abort, and one corruption per verifier
 * problem code: each must be reported by ext4_btree_verify() on a tree
 * reread from the corrupted "disk".
 */
#include "ktest.h"

#define KV_BLOCKS	4096
#define KV_BS		4096

static const struct ext4_btree_geo kv_geo = {
	.name = "ktest-verify", .tree_type = EXT4_TREE_TEST_BASE + 8,
	.key_size = 8, .val_size = 8, .max_entries = 6,
	.key_kind = EXT4_BTREE_KEY_LE64,
};

struct kv {
	struct kt_host *h;
	struct ext4_btree t;
	unsigned long *seen;
	u32 codes;			/* bit per problem code reported */
	long problems;
};

static void kv_key(u64 i, __le64 *k, __le64 *v)
{
	*k = cpu_to_le64(i * 10 + 5);
	*v = cpu_to_le64(i ^ 0xabcdef);
}

/* A committed COW tree of nr records 0..nr-1 (keys i*10+5) */
static int kv_build(struct kv *kv, u64 nr)
{
	__le64 k, v;
	u64 i;
	int err;

	memset(kv, 0, sizeof(*kv));
	kv->h = kt_host_create(KV_BS, KV_BLOCKS);
	kv->seen = bitmap_zalloc(KV_BLOCKS, GFP_KERNEL);
	if (!kv->h || !kv->seen)
		return -ENOMEM;
	err = ext4_btree_init(&kv->t, &kv_geo, &kt_host_ops, kv->h, KV_BS,
			      0xc0ffee, 5, EXT4_BTREE_COW);
	err = err ?: ext4_btree_begin(&kv->t);
	for (i = 0; i < nr && !err; i++) {
		kv_key(i, &k, &v);
		err = ext4_btree_insert(&kv->t, &k, &v);
	}
	return err ?: ext4_btree_commit(&kv->t);
}

static void kv_free(struct kv *kv)
{
	kt_host_destroy(kv->h);
	bitmap_free(kv->seen);
}

static int kv_report(void *priv, const struct ext4_btree_problem *p)
{
	struct kv *kv = priv;

	if (p->code > 0 && p->code < 32)
		kv->codes |= 1u << p->code;
	return 0;
}

static bool kv_valid(void *priv, u64 blk)
{
	struct kv *kv = priv;

	return kt_host_valid_block(kv->h, blk);
}

static bool kv_seen(void *priv, u64 blk)
{
	struct kv *kv = priv;

	return blk < KV_BLOCKS && test_and_set_bit(blk, kv->seen);
}

/* Forget the cache and run the verifier over what is on "disk" */
static int kv_verify(struct kv *kv)
{
	static const struct ext4_btree_verify_ops vops = {
		.report = kv_report,
		.valid_block = kv_valid,
		.test_and_set_seen = kv_seen,
	};
	int err = kt_host_drop_cache(kv->h);

	if (err)
		return err;
	bitmap_zero(kv->seen, KV_BLOCKS);
	kv->codes = 0;
	kv->problems = ext4_btree_verify(&kv->t, &vops, kv);
	return kv->problems < 0 ? (int)kv->problems : 0;
}

static struct ext4_btree_node_head *head(void *data)
{
	return data;
}

/* Recompute a node's checksum after an edit, as a bad writer would */
static void reseal(struct kv *kv, void *data)
{
	head(data)->bn_checksum = 0;
	head(data)->bn_checksum = cpu_to_le32(ext4_btree_node_csum(&kv->t,
								   data));
}

/* Offsets inside a node of kv_geo (6 entries of 8-byte keys) */
#define KEY_OFF(i)	(48 + 8 * (i))
#define VAL_OFF(i)	(48 + 8 * 6 + 8 * (i))

/* Leftmost leaf: follow child 0 down */
static u64 first_leaf(struct kv *kv)
{
	u64 blk = kv->t.root;
	void *d = kt_host_disk(kv->h, blk);
	__le64 c;

	while (le16_to_cpu(head(d)->bn_level)) {
		memcpy(&c, (u8 *)d + VAL_OFF(0), 8);
		blk = le64_to_cpu(c);
		d = kt_host_disk(kv->h, blk);
	}
	return blk;
}

enum kv_where { ROOT, LEAF, SLOT };

struct kv_case {
	enum ext4_btree_problem_code code;
	const char *what;
	enum kv_where where;
	bool reseal;
	void (*corrupt)(struct kv *kv, u8 *d);
};

static void c_magic(struct kv *kv, u8 *d)
{
	head(d)->bn_magic = cpu_to_le32(0x12345678);
}

static void c_csum(struct kv *kv, u8 *d)
{
	d[KEY_OFF(1)] ^= 0x10;
}

static void c_blocknr(struct kv *kv, u8 *d)
{
	le64_add_cpu(&head(d)->bn_blocknr, 1);
}

static void c_owner(struct kv *kv, u8 *d)
{
	le32_add_cpu(&head(d)->bn_owner, 1);
}

static void c_type(struct kv *kv, u8 *d)
{
	le16_add_cpu(&head(d)->bn_tree_type, 1);
}

static void c_level(struct kv *kv, u8 *d)
{
	head(d)->bn_level = cpu_to_le16(1);
}

static void c_geometry(struct kv *kv, u8 *d)
{
	head(d)->bn_key_size = cpu_to_le16(4);
}

static void c_nr(struct kv *kv, u8 *d)
{
	head(d)->bn_nr_entries = cpu_to_le16(7);
}

static void c_order(struct kv *kv, u8 *d)
{
	u8 tmp[8];

	memcpy(tmp, d + KEY_OFF(0), 8);
	memcpy(d + KEY_OFF(0), d + KEY_OFF(1), 8);
	memcpy(d + KEY_OFF(1), tmp, 8);
}

static void c_bounds(struct kv *kv, u8 *d)
{
	/* the leftmost leaf's last key past every separator to its right */
	__le64 k = cpu_to_le64(~0ULL >> 1);

	memcpy(d + KEY_OFF(le16_to_cpu(head(d)->bn_nr_entries) - 1), &k, 8);
}

static void c_child(struct kv *kv, u8 *d)
{
	__le64 c = cpu_to_le64(KV_BLOCKS + 100);

	memcpy(d + VAL_OFF(1), &c, 8);
}

static void c_twice(struct kv *kv, u8 *d)
{
	memcpy(d + VAL_OFF(1), d + VAL_OFF(0), 8);
}

static void c_tail(struct kv *kv, u8 *d)
{
	d[KV_BS - 1] = 1;
}

static void c_reserved(struct kv *kv, u8 *d)
{
	head(d)->bn_reserved = cpu_to_le64(1);
}

static void c_read(struct kv *kv, u8 *d)
{
	kt_host_lose(kv->h, le64_to_cpu(head(d)->bn_blocknr));
}

static void c_records(struct kv *kv, u8 *d)
{
	kv->t.nr_records++;
}

static void c_nodes(struct kv *kv, u8 *d)
{
	kv->t.nr_nodes--;
}

static void c_height(struct kv *kv, u8 *d)
{
	kv->t.height++;
}

static void c_generation(struct kv *kv, u8 *d)
{
	head(d)->bn_generation = cpu_to_le64(kv->t.generation + 3);
}

static const struct kv_case kv_cases[] = {
	{ EXT4_BTREE_BAD_MAGIC, "magic", LEAF, true, c_magic },
	{ EXT4_BTREE_BAD_CSUM, "flipped bit", LEAF, false, c_csum },
	{ EXT4_BTREE_BAD_BLOCKNR, "own block number", LEAF, true, c_blocknr },
	{ EXT4_BTREE_BAD_OWNER, "owner", LEAF, true, c_owner },
	{ EXT4_BTREE_BAD_TREE_TYPE, "tree type", LEAF, true, c_type },
	{ EXT4_BTREE_BAD_LEVEL, "leaf claims level 1", LEAF, true, c_level },
	{ EXT4_BTREE_BAD_GEOMETRY, "key size", LEAF, true, c_geometry },
	{ EXT4_BTREE_BAD_NR_ENTRIES, "entries over max", LEAF, true, c_nr },
	{ EXT4_BTREE_BAD_KEY_ORDER, "swapped keys", LEAF, true, c_order },
	{ EXT4_BTREE_KEY_OUT_OF_BOUNDS, "key past the parent's range", LEAF,
	  true, c_bounds },
	{ EXT4_BTREE_BAD_CHILD_PTR, "child past the device", ROOT, true,
	  c_child },
	{ EXT4_BTREE_NODE_REACHED_TWICE, "two pointers to one child", ROOT,
	  true, c_twice },
	{ EXT4_BTREE_DIRTY_TAIL, "byte in the unused tail", LEAF, true,
	  c_tail },
	{ EXT4_BTREE_BAD_RESERVED, "reserved header field", LEAF, true,
	  c_reserved },
	{ EXT4_BTREE_READ_ERROR, "unreadable leaf", LEAF, false, c_read },
	{ EXT4_BTREE_BAD_RECORD_COUNT, "root slot record count", SLOT, false,
	  c_records },
	{ EXT4_BTREE_BAD_NODE_COUNT, "root slot node count", SLOT, false,
	  c_nodes },
	{ EXT4_BTREE_BAD_HEIGHT, "root slot height", SLOT, false, c_height },
	{ EXT4_BTREE_BAD_GENERATION, "node newer than the last commit", LEAF,
	  true, c_generation },
};

static_assert(ARRAY_SIZE(kv_cases) == EXT4_BTREE_PROBLEM_MAX - 1,
	      "one corruption per problem code");

void kt_verify_codes(void)
{
	struct kv kv;
	unsigned int i;
	int err;

	/* a clean tree reports nothing, else every case below is moot */
	err = kv_build(&kv, 200);
	err = err ?: kv_verify(&kv);
	kt_ok(!err && !kv.problems && kv.t.height >= 3,
	      "verify: a clean tree of height %u has no problem (%d, %ld)",
	      kv.t.height, err, kv.problems);
	kv_free(&kv);

	for (i = 0; i < ARRAY_SIZE(kv_cases); i++) {
		const struct kv_case *c = &kv_cases[i];
		u64 blk = 0;
		u8 *d = NULL;

		err = kv_build(&kv, 200);
		if (!err) {
			blk = c->where == LEAF ? first_leaf(&kv) :
			      c->where == ROOT ? kv.t.root : 0;
			d = blk ? kt_host_disk(kv.h, blk) : NULL;
			if (c->where != SLOT && !d)
				err = -EIO;
		}
		if (!err) {
			c->corrupt(&kv, d);
			if (c->reseal)
				reseal(&kv, d);
			err = kv_verify(&kv);
		}
		kt_ok(!err && kv.codes & 1u << c->code,
		      "verify: %s is reported as problem %d (%d, %ld problems, codes %#x)",
		      c->what, c->code, err, kv.problems, kv.codes);
		kv_free(&kv);
	}
}

/* Checksum of every allocated block's written image, in order */
static u32 disk_sum(struct kv *kv)
{
	u32 sum = 0, i;

	for (i = 1; i < KV_BLOCKS; i++) {
		void *d = kt_host_disk(kv->h, i);

		if (d)
			sum = crc32c(sum ^ i, d, KV_BS);
	}
	return sum;
}

void kt_btree_cow(void)
{
	struct ext4_btree before;
	__le64 k, v;
	struct kv kv;
	u32 sum, nalloc;
	u64 i;
	int err;

	err = kv_build(&kv, 300);
	before = kv.t;
	sum = disk_sum(&kv);
	nalloc = kt_host_nr_allocated(kv.h);

	/* a transaction never writes a block of the committed tree */
	err = err ?: ext4_btree_begin(&kv.t);
	for (i = 0; i < 300 && !err; i += 2) {
		kv_key(i, &k, &v);
		err = ext4_btree_delete(&kv.t, &k);
	}
	for (i = 1000; i < 1200 && !err; i++) {
		kv_key(i, &k, &v);
		err = ext4_btree_insert(&kv.t, &k, &v);
	}
	kt_ok(!err && disk_sum(&kv) == sum,
	      "cow: 350 changes in a transaction leave the committed blocks as written (%d)",
	      err);
	ext4_btree_abort(&kv.t);
	err = err ?: kv_verify(&kv);
	kt_ok(!err && !kv.problems && kv.t.root == before.root &&
	      kv.t.nr_records == 300 && kv.t.generation == before.generation &&
	      kt_host_nr_allocated(kv.h) == nalloc && disk_sum(&kv) == sum,
	      "cow: abort restores the root, frees the new blocks, and the tree verifies (%d, %ld)",
	      err, kv.problems);

	err = err ?: ext4_btree_begin(&kv.t);
	for (i = 0; i < 300 && !err; i += 2) {
		kv_key(i, &k, &v);
		err = ext4_btree_delete(&kv.t, &k);
	}
	err = err ?: ext4_btree_commit(&kv.t);
	err = err ?: kv_verify(&kv);
	kt_ok(!err && !kv.problems && kv.t.root != before.root &&
	      kv.t.nr_records == 150 &&
	      kv.t.generation == before.generation + 1 &&
	      kt_host_nr_allocated(kv.h) == kv.t.nr_nodes,
	      "cow: commit moves the root, frees the replaced blocks, and the tree verifies (%d, %ld)",
	      err, kv.problems);
	for (i = 0; i < 300 && !err; i++) {
		kv_key(i, &k, &v);
		err = ext4_btree_lookup(&kv.t, &k, EXT4_BTREE_EQ, NULL, NULL);
		if (err == (i & 1 ? 0 : -ENOENT))
			err = 0;
		else
			err = err ?: -EEXIST;
	}
	kt_ok(!err && !kt_host_nr_refs(kv.h) && !kt_host_errors(kv.h),
	      "cow: after a reread the committed records are exactly the odd ones (%d)",
	      err);
	kv_free(&kv);
}

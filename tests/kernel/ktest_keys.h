/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktest_keys.h - what the two B-tree model tests share: the in-kernel
 * one (ktest_btree.c) and the longer userspace one
 * (tests/unit/test_btree_model.c, larger key spaces, an undo log and
 * replace operations).  The test geometries besides the refcount tree's
 * own - 64-bit keys; at most 5 entries a node; on 1 KiB blocks; 16-byte
 * keys of two big-endian u64 compared numerically, with 20-byte values -
 * and the codec of their keys.  Header-only (static inline), so each
 * test takes it without a link dependency; it includes only the B-tree.
 */
#ifndef KTEST_KEYS_H
#define KTEST_KEYS_H

#include "btree/ext4_btree.h"

/* How a test key is stored: le32, le64, or two be64 (custom compare) */
enum kt_key_kind { K32, K64, K128 };

/* splitmix64's finaliser: a bijection on u64 */
static inline u64 kt_mix64(u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static inline u64 kt_get_be64(const u8 *p)
{
	u64 v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void kt_put_be64(u8 *p, u64 v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (u8)v;
}

/* Two big-endian u64 compared numerically, not with memcmp */
static inline int kt_cmp_key128(const void *a, const void *b)
{
	u64 ah = kt_get_be64(a), bh = kt_get_be64(b), al, bl;

	if (ah != bh)
		return ah < bh ? -1 : 1;
	al = kt_get_be64((const u8 *)a + 8);
	bl = kt_get_be64((const u8 *)b + 8);
	if (al != bl)
		return al < bl ? -1 : 1;
	return 0;
}

/* The key of high word hi (and low word lo, K128 only) */
static inline void kt_encode_key(enum kt_key_kind kind, u64 hi, u64 lo,
				 u8 *key)
{
	switch (kind) {
	case K32: {
		__le32 k = cpu_to_le32((u32)hi);

		memcpy(key, &k, 4);
		break;
	}
	case K64: {
		__le64 k = cpu_to_le64(hi);

		memcpy(key, &k, 8);
		break;
	}
	case K128:
		kt_put_be64(key, hi);
		kt_put_be64(key + 8, lo);
		break;
	}
}

static const struct ext4_btree_geo kt_geo_le64 = {
	.name = "test-le64", .tree_type = EXT4_TREE_TEST_BASE,
	.key_size = 8, .val_size = 8, .key_kind = EXT4_BTREE_KEY_LE64,
};
static const struct ext4_btree_geo kt_geo_max5 = {
	.name = "test-max5", .tree_type = EXT4_TREE_TEST_BASE + 1,
	.key_size = 8, .val_size = 8, .max_entries = 5,
	.key_kind = EXT4_BTREE_KEY_LE64,
};
static const struct ext4_btree_geo kt_geo_1k = {
	.name = "test-1k", .tree_type = EXT4_TREE_TEST_BASE + 2,
	.key_size = 8, .val_size = 8, .key_kind = EXT4_BTREE_KEY_LE64,
};
static const struct ext4_btree_geo kt_geo_custom128 = {
	.name = "test-custom128", .tree_type = EXT4_TREE_TEST_BASE + 3,
	.key_size = 16, .val_size = 20, .key_kind = EXT4_BTREE_KEY_CUSTOM,
	.cmp_key = kt_cmp_key128,
};

#endif /* KTEST_KEYS_H */

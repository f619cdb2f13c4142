// SPDX-License-Identifier: GPL-2.0
/*
 * blkhash.c - hash-and-compare table of stored blocks (blkhash.h),
 * shared by mkreflink -d and mkreflink --dedup.
 */
#include <stdlib.h>
#include <string.h>

#include "dedup/blkhash.h"

/*
 * A 64-bit hash of one block: four independent multiply-rotate lanes
 * over 8-byte words, then a murmur-style finish.  Only has to spread
 * well; equality is always confirmed by comparing the bytes.
 */
__u64 rfl_block_hash(const void *data, unsigned int len)
{
	const unsigned char *d = data;
	const __u64 k = 0x9e3779b97f4a7c15ULL;
	__u64 a = 1, b = 2, cc = 3, e = 4, w[4], h;
	unsigned int i;

	for (i = 0; i + 32 <= len; i += 32) {
		memcpy(w, d + i, 32);
		a = ((a ^ w[0]) * k);
		a = (a << 31) | (a >> 33);
		b = ((b ^ w[1]) * k);
		b = (b << 29) | (b >> 35);
		cc = ((cc ^ w[2]) * k);
		cc = (cc << 27) | (cc >> 37);
		e = ((e ^ w[3]) * k);
		e = (e << 25) | (e >> 39);
	}
	h = a ^ (b * 3) ^ (cc * 5) ^ (e * 7) ^ len;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static errcode_t tab_grow(struct rfl_blkhash *t)
{
	size_t n = t->size ? t->size * 2 : 1024, i, j;
	struct rfl_blkhash_slot *v = calloc(n, sizeof(*v));

	if (!v)
		return EXT2_ET_NO_MEMORY;
	for (i = 0; i < t->size; i++) {
		if (!t->tab[i].pblk)
			continue;
		for (j = t->tab[i].hash & (n - 1); v[j].pblk;
		     j = (j + 1) & (n - 1))
			;
		v[j] = t->tab[i];
	}
	free(t->tab);
	t->tab = v;
	t->size = n;
	return 0;
}

errcode_t rfl_blkhash_insert(struct rfl_blkhash *t, __u64 hash,
			     blk64_t pblk)
{
	size_t j;
	errcode_t ret;

	if ((t->used + 1) * 2 > t->size) {
		ret = tab_grow(t);
		if (ret)
			return ret;
	}
	for (j = hash & (t->size - 1); t->tab[j].pblk;
	     j = (j + 1) & (t->size - 1))
		;
	t->tab[j].hash = hash;
	t->tab[j].pblk = pblk;
	t->used++;
	return 0;
}

errcode_t rfl_blkhash_find(const struct rfl_blkhash *t, __u64 hash,
			   const void *data, rfl_blkhash_same_fn same,
			   void *priv, blk64_t *pblk)
{
	size_t j;
	bool eq;
	errcode_t ret;

	*pblk = 0;
	if (!t->size)
		return 0;
	for (j = hash & (t->size - 1); t->tab[j].pblk;
	     j = (j + 1) & (t->size - 1)) {
		if (t->tab[j].hash != hash)
			continue;
		ret = same(priv, t->tab[j].pblk, data, &eq);
		if (ret)
			return ret;
		if (eq) {
			*pblk = t->tab[j].pblk;
			return 0;
		}
	}
	return 0;
}

void rfl_blkhash_free(struct rfl_blkhash *t)
{
	free(t->tab);
	t->tab = NULL;
	t->size = t->used = 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * sort.c - stable LSD radix sorts for the checker (see sort.h).
 */
#include <stdlib.h>
#include <string.h>

#include "check/sort.h"

#define DIGIT_BITS	11
#define NR_BUCKETS	(1u << DIGIT_BITS)
#define MAX_DIGITS	((64 + DIGIT_BITS - 1) / DIGIT_BITS)

static inline __u64 key_at(const void *v, size_t i, size_t size, bool k32)
{
	const char *p = (const char *)v + i * size;
	__u64 k;
	__u32 k4;

	if (k32) {
		memcpy(&k4, p, sizeof(k4));
		return k4;
	}
	memcpy(&k, p, sizeof(k));
	return k;
}

/*
 * One counting pass over every digit, then a scatter per digit that
 * varies: the element size is a constant in each caller below, so the
 * copies are plain moves.
 */
static inline errcode_t radix(void *v, size_t nr, size_t size, bool k32)
{
	size_t (*count)[NR_BUCKETS];
	unsigned int d, digits, bits;
	size_t i, sum, n;
	char *src = v, *dst, *tmp;
	__u64 k, prev, max = 0;
	bool sorted = true;

	if (nr < 2)
		return 0;
	prev = key_at(v, 0, size, k32);
	for (i = 0; i < nr; i++) {
		k = key_at(v, i, size, k32);
		if (k < prev)
			sorted = false;
		if (k > max)
			max = k;
		prev = k;
	}
	if (sorted)
		return 0;
	bits = 64 - __builtin_clzll(max);	/* max > 0: not sorted */
	digits = (bits + DIGIT_BITS - 1) / DIGIT_BITS;

	tmp = malloc(nr * size);
	count = calloc(digits, sizeof(*count));
	if (!tmp || !count) {
		free(tmp);
		free(count);
		return EXT2_ET_NO_MEMORY;
	}
	for (i = 0; i < nr; i++) {
		k = key_at(v, i, size, k32);
		for (d = 0; d < digits; d++)
			count[d][(k >> (d * DIGIT_BITS)) & (NR_BUCKETS - 1)]++;
	}
	dst = tmp;
	for (d = 0; d < digits; d++) {
		/* every key has the same digit here: nothing moves */
		k = key_at(src, 0, size, k32);
		if (count[d][(k >> (d * DIGIT_BITS)) & (NR_BUCKETS - 1)] == nr)
			continue;
		for (i = 0, sum = 0; i < NR_BUCKETS; i++) {
			n = count[d][i];
			count[d][i] = sum;
			sum += n;
		}
		for (i = 0; i < nr; i++) {
			k = key_at(src, i, size, k32);
			n = count[d][(k >> (d * DIGIT_BITS)) & (NR_BUCKETS - 1)]++;
			memcpy(dst + n * size, src + i * size, size);
		}
		dst = src;
		src = src == tmp ? v : tmp;
	}
	if (src != v)
		memcpy(v, src, nr * size);
	free(tmp);
	free(count);
	return 0;
}

errcode_t rfl_sort_by_u64(void *v, size_t nr, size_t size)
{
	switch (size) {
	case 8:
		return radix(v, nr, 8, false);
	case 16:
		return radix(v, nr, 16, false);
	case 24:
		return radix(v, nr, 24, false);
	case 32:
		return radix(v, nr, 32, false);
	default:
		return radix(v, nr, size, false);
	}
}

errcode_t rfl_sort_u32(__u32 *v, size_t nr)
{
	return radix(v, nr, sizeof(*v), true);
}

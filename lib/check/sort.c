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

/* Is v sorted?  *maxp: the largest key */
static inline bool scan_keys(const void *v, size_t nr, size_t size,
			     bool k32, __u64 *maxp)
{
	__u64 k, prev = key_at(v, 0, size, k32), max = 0;
	bool sorted = true;
	size_t i;

	for (i = 0; i < nr; i++) {
		k = key_at(v, i, size, k32);
		if (k < prev)
			sorted = false;
		if (k > max)
			max = k;
		prev = k;
	}
	*maxp = max;
	return sorted;
}

/*
 * One counting pass over every digit, then a scatter per digit that
 * varies, through tmp (room for nr elements): the element size is a
 * constant in each caller below, so the copies are plain moves.
 */
static inline errcode_t radix(void *v, size_t nr, size_t size, bool k32,
			      char *tmp)
{
	size_t (*count)[NR_BUCKETS];
	unsigned int d, digits, bits;
	size_t i, sum, n;
	char *src = v, *dst;
	__u64 k, max;

	if (nr < 2 || scan_keys(v, nr, size, k32, &max))
		return 0;
	bits = 64 - __builtin_clzll(max);	/* max > 0: not sorted */
	digits = (bits + DIGIT_BITS - 1) / DIGIT_BITS;

	count = calloc(digits, sizeof(*count));
	if (!count)
		return EXT2_ET_NO_MEMORY;
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
			k = key_at(src, i, size, k32) >> (d * DIGIT_BITS);
			n = count[d][k & (NR_BUCKETS - 1)]++;
			memcpy(dst + n * size, src + i * size, size);
		}
		dst = src;
		src = src == tmp ? v : tmp;
	}
	if (src != v)
		memcpy(v, src, nr * size);
	free(count);
	return 0;
}

/*
 * Up to this many elements (of up to INSERTION_ELEM bytes) an insertion
 * sort: nothing to allocate, where the radix counts alone are 16 KiB a
 * digit, zeroed (a small image's check sorts mostly short arrays).
 * Stable: an element moves only past strictly larger keys.
 */
#define INSERTION_MAX	128
#define INSERTION_ELEM	64

static inline void insertion(char *v, size_t nr, size_t size, bool k32)
{
	char t[INSERTION_ELEM];
	size_t i, j;
	__u64 k;

	for (i = 1; i < nr; i++) {
		k = key_at(v, i, size, k32);
		for (j = i; j > 0 && key_at(v, j - 1, size, k32) > k; j--)
			;
		if (j == i)
			continue;
		memcpy(t, v + i * size, size);
		memmove(v + (j + 1) * size, v + j * size, (i - j) * size);
		memcpy(v + j * size, t, size);
	}
}

/* Below this many elements the halves are not worth their merge */
#define HALVES_MIN	4096

/*
 * The moves need a second copy of the array; sorting each half in turn
 * and then merging them needs only half a copy (the left half, moved
 * out of the way): the checker's peak memory is this sort of its runs.
 * The merge takes the left element on equal keys, so it stays stable.
 */
static inline errcode_t sort_by_key(void *v, size_t nr, size_t size,
				    bool k32)
{
	size_t half = nr / 2, i = 0, j = half, o = 0;
	char *a = v, *tmp;
	errcode_t ret;
	__u64 max;

	if (nr < 2 || scan_keys(v, nr, size, k32, &max))
		return 0;
	if (nr <= INSERTION_MAX && size <= INSERTION_ELEM) {
		insertion(v, nr, size, k32);
		return 0;
	}
	if (nr < HALVES_MIN) {
		tmp = malloc(nr * size);
		ret = tmp ? radix(v, nr, size, k32, tmp) : EXT2_ET_NO_MEMORY;
		free(tmp);
		return ret;
	}
	tmp = malloc((nr - half) * size);
	if (!tmp)
		return EXT2_ET_NO_MEMORY;
	ret = radix(a, half, size, k32, tmp);
	if (!ret)
		ret = radix(a + half * size, nr - half, size, k32, tmp);
	if (ret) {
		free(tmp);
		return ret;
	}
	/* merge tmp (the left half) and a[half..nr) into a[0..nr) */
	memcpy(tmp, a, half * size);
	while (i < half) {
		if (j < nr && key_at(a, j, size, k32) <
			      key_at(tmp, i, size, k32))
			memcpy(a + o++ * size, a + j++ * size, size);
		else
			memcpy(a + o++ * size, tmp + i++ * size, size);
	}
	free(tmp);
	return 0;
}

errcode_t rfl_sort_by_u64(void *v, size_t nr, size_t size)
{
	switch (size) {
	case 8:
		return sort_by_key(v, nr, 8, false);
	case 16:
		return sort_by_key(v, nr, 16, false);
	case 24:
		return sort_by_key(v, nr, 24, false);
	case 32:
		return sort_by_key(v, nr, 32, false);
	default:
		return sort_by_key(v, nr, size, false);
	}
}

errcode_t rfl_sort_u32(__u32 *v, size_t nr)
{
	return sort_by_key(v, nr, sizeof(*v), true);
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktest_user.h - the few kernel interfaces the test suites use, on libc,
 * so tests/unit/test_ktest.c can run the suites of the test module in
 * userspace.  Only what the suites call; same semantics as the kernel's.
 */
#ifndef KTEST_USER_H
#define KTEST_USER_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "kcompat/kcompat.h"

#define GFP_KERNEL	0
#define __printf(a, b)	__attribute__((format(printf, a, b)))
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define module_param(name, type, perm)
#define MODULE_PARM_DESC(name, desc)

static inline void cond_resched(void)
{
}

static inline void *kmalloc(size_t n, int gfp)
{
	(void)gfp;
	return malloc(n);
}

static inline void *kzalloc(size_t n, int gfp)
{
	(void)gfp;
	return calloc(1, n);
}

static inline void *kvzalloc(size_t n, int gfp)
{
	return kzalloc(n, gfp);
}

static inline void *kvcalloc(size_t n, size_t size, int gfp)
{
	(void)gfp;
	return calloc(n, size);
}

static inline void kfree(const void *p)
{
	free((void *)p);
}

static inline void kvfree(const void *p)
{
	free((void *)p);
}

static inline void le16_add_cpu(__le16 *var, u16 val)
{
	*var = cpu_to_le16(le16_to_cpu(*var) + val);
}

static inline void le32_add_cpu(__le32 *var, u32 val)
{
	*var = cpu_to_le32(le32_to_cpu(*var) + val);
}

static inline void le64_add_cpu(__le64 *var, u64 val)
{
	*var = cpu_to_le64(le64_to_cpu(*var) + val);
}

/* Bitmaps of unsigned long, bit n in word n / BITS_PER_LONG */
#define BITS_PER_LONG	(8 * (unsigned long)sizeof(long))
#define BITS_TO_LONGS(n) (((n) + BITS_PER_LONG - 1) / BITS_PER_LONG)

static inline unsigned long *bitmap_zalloc(unsigned int nbits, int gfp)
{
	(void)gfp;
	return calloc(BITS_TO_LONGS(nbits), sizeof(unsigned long));
}

static inline void bitmap_free(const unsigned long *map)
{
	free((void *)map);
}

static inline void bitmap_zero(unsigned long *map, unsigned int nbits)
{
	memset(map, 0, BITS_TO_LONGS(nbits) * sizeof(unsigned long));
}

static inline void set_bit(unsigned long nr, unsigned long *map)
{
	map[nr / BITS_PER_LONG] |= 1UL << (nr % BITS_PER_LONG);
}

static inline void clear_bit(unsigned long nr, unsigned long *map)
{
	map[nr / BITS_PER_LONG] &= ~(1UL << (nr % BITS_PER_LONG));
}

static inline bool test_bit(unsigned long nr, const unsigned long *map)
{
	return map[nr / BITS_PER_LONG] >> (nr % BITS_PER_LONG) & 1;
}

static inline bool test_and_set_bit(unsigned long nr, unsigned long *map)
{
	bool old = test_bit(nr, map);

	set_bit(nr, map);
	return old;
}

static inline unsigned long find_next_zero_bit(const unsigned long *map,
					       unsigned long size,
					       unsigned long offset)
{
	for (; offset < size; offset++) {
		if (!(offset % BITS_PER_LONG) &&
		    map[offset / BITS_PER_LONG] == ~0UL) {
			offset += BITS_PER_LONG - 1;	/* a full word */
			continue;
		}
		if (!test_bit(offset, map))
			return offset;
	}
	return size;
}

#endif /* KTEST_USER_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vec.h - the growable array of every layer: room for one more
 * element, doubling, so memory follows what was found (extents, records,
 * nodes, names).
 */
#ifndef RFL_UTIL_VEC_H
#define RFL_UTIL_VEC_H

#include <stdlib.h>

#include <ext2fs/ext2_err.h>

/* Make room for element nr of *v (size bytes each); -1 out of memory */
static inline int rfl_vec_grow(void **v, size_t *max, size_t nr,
			       size_t size)
{
	size_t n;
	void *p;

	if (nr < *max)
		return 0;
	n = *max ? *max * 2 : 256;
	p = realloc(*v, n * size);
	if (!p)
		return -1;
	*v = p;
	*max = n;
	return 0;
}

/* An untyped array of size-byte elements */
struct rfl_vec {
	void *v;
	size_t nr, max, size;
};

/* Room for one more element at the end: its address, or NULL */
static inline void *rfl_vec_push(struct rfl_vec *a)
{
	if (rfl_vec_grow(&a->v, &a->max, a->nr, a->size))
		return NULL;
	return (char *)a->v + a->size * a->nr++;
}

/* Append val to c->arr of c->nr (room for c->max): errcode_t */
#define RFL_PUSH(c, arr, nr, max, val) ({				\
	errcode_t __r = rfl_vec_grow((void **)&(c)->arr, &(c)->max,	\
				     (c)->nr, sizeof(*(c)->arr)) ?	\
			EXT2_ET_NO_MEMORY : 0;				\
	if (!__r)							\
		(c)->arr[(c)->nr++] = (val);				\
	__r; })

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vec.h - the checker's growable arrays: room for one more element,
 * doubling, so memory follows what was found (extents, records, nodes).
 */
#ifndef RFL_CHECK_VEC_H
#define RFL_CHECK_VEC_H

#include <stdlib.h>

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

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * blkset.h - a set of block numbers (open addressing, doubling): the
 * tree nodes a walk has reached (reflinkck's verifier, refdebug's
 * damage-tolerant walk).  Its size follows the nodes, not the blocks of
 * the flex group.
 */
#ifndef RFL_CHECK_BLKSET_H
#define RFL_CHECK_BLKSET_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <ext2fs/ext2fs.h>

struct rfl_blkset {
	blk64_t *slot;			/* 0 = empty; block 0 is never a node */
	size_t nr, cap;			/* cap: a power of 2, or 0 */
};

static inline size_t rfl_blkset_hash(blk64_t b, size_t cap)
{
	return (size_t)((b * 0x9e3779b97f4a7c15ULL) >> 17) & (cap - 1);
}

static inline void rfl_blkset_clear(struct rfl_blkset *s)
{
	if (s->cap)
		memset(s->slot, 0, s->cap * sizeof(*s->slot));
	s->nr = 0;
}

/* Add b; *was tells whether it was there.  -1 out of memory */
static inline int rfl_blkset_add(struct rfl_blkset *s, blk64_t b, bool *was)
{
	size_t i, j;

	if (2 * (s->nr + 1) > s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 1024;
		blk64_t *n = calloc(ncap, sizeof(*n));

		if (!n)
			return -1;
		for (i = 0; i < s->cap; i++) {
			if (!s->slot[i])
				continue;
			for (j = rfl_blkset_hash(s->slot[i], ncap); n[j];
			     j = (j + 1) & (ncap - 1))
				;
			n[j] = s->slot[i];
		}
		free(s->slot);
		s->slot = n;
		s->cap = ncap;
	}
	for (i = rfl_blkset_hash(b, s->cap); s->slot[i];
	     i = (i + 1) & (s->cap - 1)) {
		if (s->slot[i] == b) {
			*was = true;
			return 0;
		}
	}
	s->slot[i] = b;
	s->nr++;
	*was = false;
	return 0;
}

#endif

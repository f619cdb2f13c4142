// SPDX-License-Identifier: GPL-2.0
/*
 * pop_refs.c - refcount glue for mkreflink -d: every inode owning a
 * block that another maps gets EXT4_REFLINK_FL.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "populate/pop_int.h"

/* Every owner of a block someone else maps gets EXT4_REFLINK_FL too */
errcode_t pop_flag_owners(struct ctx *c)
{
	size_t i, n = 0, max = 0, lo, hi, mid;
	ext2_ino_t *inos = NULL;
	errcode_t ret = 0;

	if (!c->refs.nr)
		return 0;
	qsort(c->owners.v, c->owners.nr, sizeof(*c->owners.v), rfl_brun_cmp);
	for (i = 0; i < c->refs.nr; i++) {
		blk64_t b = c->refs.v[i].start;
		blk64_t end = b + c->refs.v[i].len;

		/* the last owner run starting at or before b, and on */
		lo = 0;
		hi = c->owners.nr;
		while (hi - lo > 1) {
			mid = (lo + hi) / 2;
			if (c->owners.v[mid].start <= b)
				lo = mid;
			else
				hi = mid;
		}
		for (; lo < c->owners.nr && c->owners.v[lo].start < end; lo++) {
			if (c->owners.v[lo].start + c->owners.v[lo].len <= b)
				continue;
			if (n && inos[n - 1] == c->owners.v[lo].ino)
				continue;
			if (rfl_vec_grow((void **)&inos, &max, n,
					 sizeof(*inos))) {
				free(inos);
				return EXT2_ET_NO_MEMORY;
			}
			inos[n++] = c->owners.v[lo].ino;
		}
	}
	ret = rfl_flag_inodes(c->fs, inos, n);
	free(inos);
	return ret;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_flag.c - EXT4_REFLINK_FL on a list of inodes, once each: what
 * mkreflink -d and dedupe do for the owners of blocks they shared.
 */
#include <stdlib.h>

#include "reflink/rfl.h"

static int ino_cmp(const void *a, const void *b)
{
	ext2_ino_t x = *(const ext2_ino_t *)a, y = *(const ext2_ino_t *)b;

	return x < y ? -1 : x > y;
}

errcode_t rfl_flag_inodes(ext2_filsys fs, ext2_ino_t *inos, size_t n)
{
	struct ext2_inode_large in;
	ext2_ino_t last = 0;
	errcode_t ret = 0;
	size_t i;

	if (n)
		qsort(inos, n, sizeof(*inos), ino_cmp);
	for (i = 0; !ret && i < n; i++) {
		if (inos[i] == last)
			continue;
		last = inos[i];
		ret = ext2fs_read_inode_full(fs, last, (struct ext2_inode *)&in,
					     sizeof(in));
		if (ret || (in.i_flags & EXT4_REFLINK_FL))
			continue;
		in.i_flags |= EXT4_REFLINK_FL;
		ret = ext2fs_write_inode_full(fs, last,
					      (struct ext2_inode *)&in,
					      sizeof(in));
	}
	return ret;
}

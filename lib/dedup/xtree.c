// SPDX-License-Identifier: GPL-2.0
/*
 * xtree.c - a file's whole extent tree written at once (xtree.h).
 * Entries are spread evenly over the nodes of each level.
 */
#include <string.h>

#include "dedup/xtree.h"

#include <ext2fs/ext3_extents.h>

/* Entries of an extent block */
static size_t per_block(ext2_filsys fs)
{
	return (fs->blocksize - sizeof(struct ext3_extent_header)) /
	       sizeof(struct ext3_extent);
}

int rfl_xtree_shape(ext2_filsys fs, size_t nr, size_t *blocks)
{
	size_t per = per_block(fs);
	size_t leaves = (nr + per - 1) / per, idx = (leaves + per - 1) / per;

	*blocks = 0;
	if (nr <= 4)
		return 0;
	if (leaves <= 4) {
		*blocks = leaves;
		return 1;
	}
	if (idx <= 4) {
		*blocks = leaves + idx;
		return 2;
	}
	return -1;
}

static void set_header(struct ext3_extent_header *eh, unsigned int nr,
		       unsigned int max, unsigned int depth)
{
	eh->eh_magic = ext2fs_cpu_to_le16(EXT3_EXT_MAGIC);
	eh->eh_entries = ext2fs_cpu_to_le16((__u16)nr);
	eh->eh_max = ext2fs_cpu_to_le16((__u16)max);
	eh->eh_depth = ext2fs_cpu_to_le16((__u16)depth);
	eh->eh_generation = 0;
}

static void set_extent(struct ext3_extent *ee, const struct rfl_xleaf *x)
{
	ee->ee_block = ext2fs_cpu_to_le32((__u32)x->lblk);
	ee->ee_len = ext2fs_cpu_to_le16((__u16)(x->len +
				(x->uninit ? EXT_INIT_MAX_LEN : 0)));
	ee->ee_start = ext2fs_cpu_to_le32((__u32)x->pblk);
	ee->ee_start_hi = ext2fs_cpu_to_le16((__u16)(x->pblk >> 32));
}

static void set_index(struct ext3_extent_idx *ei, blk64_t lblk,
		      blk64_t child)
{
	ei->ei_block = ext2fs_cpu_to_le32((__u32)lblk);
	ei->ei_leaf = ext2fs_cpu_to_le32((__u32)child);
	ei->ei_leaf_hi = ext2fs_cpu_to_le16((__u16)(child >> 32));
	ei->ei_unused = 0;
}

/* Entries per node when n entries go into k nodes, evenly */
static size_t share_of(size_t n, size_t k, size_t j)
{
	return n / k + (j < n % k);
}

/* Write one extent block (checksummed) */
static errcode_t put_block(ext2_filsys fs, ext2_ino_t ino, blk64_t b,
			   void *buf)
{
	errcode_t ret;

	ret = ext2fs_extent_block_csum_set(fs, ino,
					   (struct ext3_extent_header *)buf);
	return ret ?: io_channel_write_blk64(fs->io, b, 1, buf);
}

errcode_t rfl_xtree_write(ext2_filsys fs, ext2_ino_t ino,
			  const struct rfl_xleaf *x, size_t nr, int depth,
			  const blk64_t *nb, __u32 *root, void *buf)
{
	struct ext3_extent_header *rh = (void *)root;
	size_t per = per_block(fs);
	size_t leaves = depth ? (nr + per - 1) / per : 0;
	size_t idx = depth == 2 ? (leaves + per - 1) / per : 0;
	size_t j, k, pos = 0, lpos;
	errcode_t ret;

	memset(root, 0, EXT2_N_BLOCKS * sizeof(__u32));
	if (!depth) {
		set_header(rh, (unsigned int)nr, 4, 0);
		for (k = 0; k < nr; k++)
			set_extent((struct ext3_extent *)(rh + 1) + k, &x[k]);
		return 0;
	}
	/* leaves: nb[0 .. leaves), then index blocks */
	for (j = 0; j < leaves; j++) {
		size_t n = share_of(nr, leaves, j);
		struct ext3_extent_header *eh = buf;

		memset(buf, 0, fs->blocksize);
		set_header(eh, (unsigned int)n, per, 0);
		for (k = 0; k < n; k++)
			set_extent((struct ext3_extent *)(eh + 1) + k,
				   &x[pos + k]);
		pos += n;
		ret = put_block(fs, ino, nb[j], buf);
		if (ret)
			return ret;
	}
	if (depth == 1) {
		set_header(rh, (unsigned int)leaves, 4, 1);
		for (j = 0, pos = 0; j < leaves; j++) {
			set_index((struct ext3_extent_idx *)(rh + 1) + j,
				  x[pos].lblk, nb[j]);
			pos += share_of(nr, leaves, j);
		}
		return 0;
	}
	set_header(rh, (unsigned int)idx, 4, 2);
	for (j = 0, lpos = 0, pos = 0; j < idx; j++) {
		size_t n = share_of(leaves, idx, j);
		struct ext3_extent_header *eh = buf;

		set_index((struct ext3_extent_idx *)(rh + 1) + j, x[pos].lblk,
			  nb[leaves + j]);
		memset(buf, 0, fs->blocksize);
		set_header(eh, (unsigned int)n, per, 1);
		for (k = 0; k < n; k++) {
			set_index((struct ext3_extent_idx *)(eh + 1) + k,
				  x[pos].lblk, nb[lpos]);
			pos += share_of(nr, leaves, lpos);
			lpos++;
		}
		ret = put_block(fs, ino, nb[leaves + j], buf);
		if (ret)
			return ret;
	}
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_extsplit.c - split full extent-tree nodes, and grow the tree a
 * level, before libext2fs would, in an order a crash cannot lose
 * extents by (docs/FORMAT.md 7.6).
 *
 * libext2fs splits a full node by writing the new node, then the old
 * one without the entries it moved, then the parent's entry for the new
 * node: a crash before the last write leaves the moved entries in a
 * node nothing points to.  Keeping them in the old node until the
 * parent points at the new one is no better: stock e2fsck, removing
 * them there, follows their twins into the new node and removes those.
 * So a split here copies on write, each step flushed before the next:
 *
 *  1. both halves of the node in two new blocks, and the bitmaps
 *     marking them in use (before anything points at them: a tool
 *     allocating after a crash must not take them);
 *  2. the parent, pointing at them instead of the node, in one write
 *     (the inode, when the parent is the root: i_blocks with it);
 *  3. the node's block freed in memory, on disk with the bitmaps.
 *
 * Before 2 the new blocks are unused, after it the old one is leaked:
 * states both checkers repair without touching a file's mapping.
 * Growing the tree writes a new node with the root's entries, then the
 * inode with the new root, in one write.
 */
#include <string.h>

#include "reflink/rfl_share_int.h"

errcode_t rfl_xh_open(struct rfl_xh *x, ext2_filsys fs, ext2_ino_t ino,
		      struct ext2_inode *inode)
{
	errcode_t ret;

	x->fs = fs;
	x->ino = ino;
	x->h = NULL;
	if (!inode) {
		ret = ext2fs_read_inode(fs, ino, &x->ibuf);
		if (ret)
			return ret;
		inode = &x->ibuf;
	}
	x->inode = inode;
	return ext2fs_extent_open2(fs, ino, inode, &x->h);
}

void rfl_xh_close(struct rfl_xh *x)
{
	if (x->h)
		ext2fs_extent_free(x->h);
	x->h = NULL;
}

/* The first logical block of a node entry (extent or index alike) */
static __u32 entry_lblk(const struct ext3_extent_header *eh, unsigned int i)
{
	const struct ext3_extent_idx *ix = (const void *)(eh + 1);

	return ext2fs_le32_to_cpu(ix[i].ei_block);
}

static void set_index(struct ext3_extent_idx *ix, __u32 lblk, blk64_t pblk)
{
	ix->ei_block = ext2fs_cpu_to_le32(lblk);
	ix->ei_leaf = ext2fs_cpu_to_le32((__u32)pblk);
	ix->ei_leaf_hi = ext2fs_cpu_to_le16((__u16)(pblk >> 32));
	ix->ei_unused = 0;
}

/* Write a node block with its checksum */
static errcode_t write_node(struct rfl_xh *x, blk64_t pblk, void *buf)
{
	errcode_t ret;

	ret = ext2fs_extent_block_csum_set(x->fs, x->ino, buf);
	if (!ret)
		ret = io_channel_write_blk64(x->fs->io, pblk, 1, buf);
	return ret;
}

/* A new node block near goal, counted in i_blocks (in memory) */
static errcode_t new_node(struct rfl_xh *x, blk64_t goal, void *buf,
			  blk64_t *pblk)
{
	errcode_t ret;

	if (!goal)
		goal = ext2fs_find_inode_goal(x->fs, x->ino, x->inode, 0);
	ret = ext2fs_alloc_block2(x->fs, goal, buf, pblk);
	if (!ret)
		ret = ext2fs_iblk_add_blocks(x->fs, x->inode, 1);
	return ret;
}

/* A fresh handle: one that was open reads a changed root wrong */
static errcode_t reopen(struct rfl_xh *x)
{
	ext2fs_extent_free(x->h);
	x->h = NULL;
	return ext2fs_extent_open2(x->fs, x->ino, x->inode, &x->h);
}

/* Grow the tree a level: the root's entries move to a new node */
static errcode_t grow(struct rfl_xh *x)
{
	struct ext3_extent_header *root = (void *)x->inode->i_block, *eh;
	ext2_filsys fs = x->fs;
	blk64_t pblk;
	char *buf;
	errcode_t ret;
	__u16 n = ext2fs_le16_to_cpu(root->eh_entries);

	ret = ext2fs_get_memzero(fs->blocksize, &buf);
	if (ret)
		return ret;
	ret = new_node(x, 0, buf, &pblk);
	if (ret)
		goto out;
	eh = (void *)buf;
	memcpy(buf, root, sizeof(*eh) + n * sizeof(struct ext3_extent));
	eh->eh_max = ext2fs_cpu_to_le16((fs->blocksize - sizeof(*eh)) /
					sizeof(struct ext3_extent));
	ret = write_node(x, pblk, buf);
	if (!ret)
		ret = ext2fs_flush(fs);
	if (ret)
		goto out;

	/* the new root, with i_blocks, in one inode write */
	set_index((void *)(root + 1), n ? entry_lblk(root, 0) : 0, pblk);
	memset((struct ext3_extent_idx *)(root + 1) + 1, 0,
	       sizeof(x->inode->i_block) - sizeof(*root) -
	       sizeof(struct ext3_extent_idx));
	root->eh_entries = ext2fs_cpu_to_le16(1);
	root->eh_depth = ext2fs_cpu_to_le16(
		ext2fs_le16_to_cpu(root->eh_depth) + 1);
	ret = ext2fs_write_inode(fs, x->ino, x->inode);
	if (!ret)
		ret = io_channel_flush(fs->io);
	if (ret)
		goto out;
	/* a handle's path is as deep as the tree it was opened on */
	ret = reopen(x);
out:
	ext2fs_free_mem(&buf);
	return ret;
}

/* The handle on the node at height (0: a leaf) on the way to lblk */
static errcode_t goto_node(struct rfl_xh *x, int height, blk64_t lblk,
			   struct ext2_extent_info *info)
{
	errcode_t ret;

	ret = ext2fs_extent_goto2(x->h, height, lblk);
	if (ret && ret != EXT2_ET_EXTENT_NOT_FOUND)
		return ret;
	return ext2fs_extent_get_info(x->h, info);
}

/*
 * Split the node at height (below the root) on the way to lblk, whose
 * parent has room: steps 1 to 3 above
 */
static errcode_t split(struct rfl_xh *x, int height, blk64_t lblk)
{
	struct ext3_extent_header *eh, *peh, *half[2];
	struct ext3_extent_idx *pix;
	struct ext2_extent_info info;
	struct ext2fs_extent pex;
	ext2_filsys fs = x->fs;
	blk64_t node, parent = 0, pblk[2];
	unsigned int n, keep, k, pn;
	char *buf = NULL, *pbuf = NULL, *hbuf = NULL;
	errcode_t ret;
	int i;

	ret = ext2fs_get_mem(fs->blocksize, &buf);
	if (!ret)
		ret = ext2fs_get_mem(fs->blocksize, &pbuf);
	if (!ret)
		ret = ext2fs_get_memzero(2 * fs->blocksize, &hbuf);
	if (!ret)
		ret = goto_node(x, height, lblk, &info);
	if (ret)
		goto out;
	n = info.num_entries;
	/* the parent's entry for the node, and where the parent is */
	ret = ext2fs_extent_get(x->h, EXT2_EXTENT_UP, &pex);
	if (!ret)
		ret = ext2fs_extent_get_info(x->h, &info);
	if (ret)
		goto out;
	node = pex.e_pblk;
	k = info.curr_entry - 1;
	if (info.curr_level > 0) {
		ret = ext2fs_extent_get(x->h, EXT2_EXTENT_UP, &pex);
		if (ret)
			goto out;
		parent = pex.e_pblk;
		ret = io_channel_read_blk64(fs->io, parent, 1, pbuf);
		peh = (void *)pbuf;
	} else {
		peh = (void *)x->inode->i_block;
	}
	if (!ret)
		ret = io_channel_read_blk64(fs->io, node, 1, buf);
	if (ret)
		goto out;
	eh = (void *)buf;
	pn = ext2fs_le16_to_cpu(peh->eh_entries);
	pix = (void *)(peh + 1);
	if (ext2fs_le16_to_cpu(eh->eh_entries) != n || n < 2 || k >= pn ||
	    pn >= ext2fs_le16_to_cpu(peh->eh_max) ||
	    (ext2fs_le32_to_cpu(pix[k].ei_leaf) |
	     (blk64_t)ext2fs_le16_to_cpu(pix[k].ei_leaf_hi) << 32) != node) {
		ret = EXT2_ET_EXTENT_HEADER_BAD;
		goto out;
	}
	keep = n - n / 2;

	/* 1. both halves in new nodes */
	for (i = 0; i < 2; i++) {
		half[i] = (void *)(hbuf + i * fs->blocksize);
		ret = new_node(x, i ? pblk[0] : node, (char *)half[i],
			       &pblk[i]);
		if (ret)
			goto out;
		*half[i] = *eh;
		half[i]->eh_entries = ext2fs_cpu_to_le16(i ? n - keep : keep);
		memcpy(half[i] + 1, (struct ext3_extent *)(eh + 1) +
		       (i ? keep : 0),
		       (i ? n - keep : keep) * sizeof(struct ext3_extent));
		ret = write_node(x, pblk[i], half[i]);
		if (ret)
			goto out;
	}
	/* with the bitmaps marking them (ext2fs_flush), as 7.1 wants */
	ret = ext2fs_flush(fs);
	if (ret)
		goto out;

	/*
	 * 2. the parent points at the halves in one write (with i_blocks
	 * when the parent is the root; the inode after it otherwise)
	 */
	memmove(&pix[k + 2], &pix[k + 1], (pn - k - 1) * sizeof(*pix));
	set_index(&pix[k], ext2fs_le32_to_cpu(pix[k].ei_block), pblk[0]);
	set_index(&pix[k + 1], entry_lblk(eh, keep), pblk[1]);
	peh->eh_entries = ext2fs_cpu_to_le16(pn + 1);
	ret = ext2fs_iblk_sub_blocks(fs, x->inode, 1);
	if (!ret && parent)
		ret = write_node(x, parent, pbuf);
	if (!ret)
		ret = ext2fs_write_inode(fs, x->ino, x->inode);
	if (!ret)
		ret = io_channel_flush(fs->io);
	if (ret)
		goto out;

	/* 3. the old node is free: nothing on disk points at it */
	ext2fs_block_alloc_stats2(fs, node, -1);
	ret = reopen(x);
out:
	ext2fs_free_mem(&hbuf);
	ext2fs_free_mem(&pbuf);
	ext2fs_free_mem(&buf);
	return ret;
}

/* Make room for one entry in the node at height on the way to lblk */
static errcode_t room(struct rfl_xh *x, int height, blk64_t lblk,
		      int budget)
{
	struct ext2_extent_info info;
	errcode_t ret;

	/* each pass splits a node or grows the tree: a few suffice */
	while (budget-- > 0) {
		ret = goto_node(x, height, lblk, &info);
		if (ret)
			return ret;
		if (info.num_entries < info.max_entries)
			return 0;
		if (info.curr_level == 0) {
			ret = grow(x);
		} else {
			ret = room(x, height + 1, lblk, budget);
			if (!ret)
				ret = split(x, height, lblk);
		}
		if (ret)
			return ret;
	}
	return EXT2_ET_CANT_INSERT_EXTENT;
}

errcode_t rfl_xh_room(struct rfl_xh *x, blk64_t lblk)
{
	const struct ext3_extent_header *root = (void *)x->inode->i_block;
	struct ext2_extent_info info;
	errcode_t ret;

	ret = ext2fs_extent_get_info(x->h, &info);
	if (ret)
		return ret;
	/* an empty tree is a root with room */
	if (root->eh_entries) {
		ret = room(x, 0, lblk, 2 * (info.max_depth + 2));
		if (ret)
			return ret;
	}
	return ext2fs_extent_goto(x->h, lblk);
}

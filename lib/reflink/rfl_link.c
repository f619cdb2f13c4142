// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_link.c - names for new inodes: link one into a directory, giving
 * the directory another block when it is full, and make an empty file.
 */
#include <string.h>
#include <time.h>

#include "reflink/rfl.h"

errcode_t rfl_link(ext2_filsys fs, ext2_ino_t dir, const char *name,
		   ext2_ino_t ino, int ft)
{
	errcode_t ret;

	ret = ext2fs_link(fs, dir, name, ino, ft);
	if (ret != EXT2_ET_DIR_NO_SPACE)
		return ret;
	ret = ext2fs_expand_dir(fs, dir);
	return ret ?: ext2fs_link(fs, dir, name, ino, ft);
}

errcode_t rfl_create_file(ext2_filsys fs, ext2_ino_t dir, const char *name,
			  ext2_ino_t *inop)
{
	struct ext2_inode inode;
	ext2_extent_handle_t h;
	ext2_ino_t ino;
	errcode_t ret;

	ret = ext2fs_new_inode(fs, dir, LINUX_S_IFREG | 0644, NULL, &ino);
	if (ret)
		return ret;
	memset(&inode, 0, sizeof(inode));
	inode.i_mode = LINUX_S_IFREG | 0644;
	inode.i_links_count = 1;
	/* opening the handle writes an empty extent root into i_block */
	ret = ext2fs_extent_open2(fs, ino, &inode, &h);
	if (ret)
		return ret;
	ext2fs_extent_free(h);
	ret = ext2fs_write_new_inode(fs, ino, &inode);
	if (ret)
		return ret;
	ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
	ret = rfl_link(fs, dir, name, ino, EXT2_FT_REG_FILE);
	if (!ret) {
		*inop = ino;
		return 0;
	}
	/*
	 * No name for it (a full directory on a full filesystem): give the
	 * inode back, deleted as e2fsck expects, so that no unattached
	 * inode is left.  It maps no block (an empty extent root).
	 */
	inode.i_links_count = 0;
	inode.i_dtime = fs->now ? (__u32)fs->now : (__u32)time(NULL);
	if (!ext2fs_write_inode(fs, ino, &inode))
		ext2fs_inode_alloc_stats2(fs, ino, -1, 0);
	return ret;
}

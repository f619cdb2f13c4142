// SPDX-License-Identifier: GPL-2.0
/*
 * place_file - put a regular file's data at a chosen physical block, for
 * tests that need a file beyond 16 TiB (stock tools allocate near the
 * inode, which is always low on a fresh image).
 *
 *	place_file IMAGE NAME GOAL NBLOCKS
 *
 * Creates /NAME with NBLOCKS blocks allocated at the first free block at
 * or after GOAL, each block filled with its own logical number (as
 * 64-bit words), size NBLOCKS blocks.  Prints "NAME INO FIRST_BLOCK".
 * Opens with EXT2_FLAG_FORCE so it also works on a reflink image (it
 * only allocates).  Exit 0, or 1 with one line on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ext2fs/ext2fs.h>

#define PROG	"place_file"

static const char *image;

static void die(errcode_t ret, const char *what)
{
	fprintf(stderr, PROG ": %s: %s while %s\n", image,
		error_message(ret), what);
	exit(1);
}

static unsigned long long number(const char *s)
{
	unsigned long long v;
	char *end;

	v = strtoull(s, &end, 0);
	if (end == s || *end) {
		fprintf(stderr, PROG ": bad number '%s'\n", s);
		exit(1);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct ext2_inode inode;
	unsigned long long goal, n, i, first = 0, *buf;
	const char *name;
	ext2_filsys fs;
	ext2_ino_t ino;
	blk64_t pblk;
	errcode_t ret;
	size_t w;

	if (argc != 5) {
		fprintf(stderr, "usage: " PROG " IMAGE NAME GOAL NBLOCKS\n");
		return 1;
	}
	add_error_table(&et_ext2_error_table);
	image = argv[1];
	name = argv[2];
	goal = number(argv[3]);
	n = number(argv[4]);
	if (!n || n > 1ULL << 20) {
		fprintf(stderr, PROG ": NBLOCKS must be 1..2^20\n");
		return 1;
	}

	ret = ext2fs_open2(image, NULL, EXT2_FLAG_RW | EXT2_FLAG_64BITS |
			   EXT2_FLAG_FORCE, 0, 0, unix_io_manager, &fs);
	if (ret)
		die(ret, "opening");
	ret = ext2fs_read_bitmaps(fs);
	if (ret)
		die(ret, "reading bitmaps");
	ret = ext2fs_new_inode(fs, EXT2_ROOT_INO, LINUX_S_IFREG | 0644, NULL,
			       &ino);
	if (ret)
		die(ret, "allocating an inode");
	ext2fs_inode_alloc_stats2(fs, ino, +1, 0);

	memset(&inode, 0, sizeof(inode));
	inode.i_mode = LINUX_S_IFREG | 0644;
	inode.i_links_count = 1;
	inode.i_flags = EXT4_EXTENTS_FL;
	ret = ext2fs_write_new_inode(fs, ino, &inode);
	if (!ret)
		ret = ext2fs_read_inode(fs, ino, &inode);
	if (!ret)
		ret = ext2fs_fallocate(fs, EXT2_FALLOCATE_FORCE_INIT, ino,
				       &inode, goal, 0, n);
	if (!ret)
		ret = ext2fs_inode_size_set(fs, &inode, n * fs->blocksize);
	if (!ret)
		ret = ext2fs_write_inode(fs, ino, &inode);
	if (ret)
		die(ret, "allocating the blocks");

	ret = ext2fs_get_mem(fs->blocksize, &buf);
	if (ret)
		die(ret, "allocating memory");
	for (i = 0; i < n; i++) {
		ret = ext2fs_bmap2(fs, ino, &inode, NULL, 0, i, NULL, &pblk);
		if (!ret && !pblk)
			ret = EXT2_ET_BAD_BLOCK_NUM;
		if (ret)
			die(ret, "mapping a block");
		if (!i)
			first = pblk;
		for (w = 0; w < fs->blocksize / sizeof(*buf); w++)
			buf[w] = i;
		ret = io_channel_write_blk64(fs->io, pblk, 1, buf);
		if (ret)
			die(ret, "writing data");
	}
	ext2fs_free_mem(&buf);

	ret = ext2fs_link(fs, EXT2_ROOT_INO, name, ino, EXT2_FT_REG_FILE);
	if (ret == EXT2_ET_DIR_NO_SPACE) {
		ret = ext2fs_expand_dir(fs, EXT2_ROOT_INO);
		if (!ret)
			ret = ext2fs_link(fs, EXT2_ROOT_INO, name, ino,
					  EXT2_FT_REG_FILE);
	}
	if (ret)
		die(ret, "linking the file");
	ret = ext2fs_close_free(&fs);
	if (ret)
		die(ret, "closing");
	printf("%s %u %llu\n", name, ino, first);
	return 0;
}

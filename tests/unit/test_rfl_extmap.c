// SPDX-License-Identifier: GPL-2.0
/*
 * test_rfl_extmap.c - rfl_map_repoint, the copy-on-write's in-place
 * repoint: the piece maps its new blocks, every other block its old
 * one, on an image made by stock mke2fs; a range the tree does not map
 * as said is refused and changes nothing.  Thousands of repoints on
 * 1 KiB blocks: the leaves split, the root grows, an index block
 * splits (rfl_extsplit.c), every block still maps where it should and
 * stock e2fsck finds the image clean.  tests/bats/crash.bats and
 * crash_reorder.bats check what a crash in between leaves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "reflink/rfl_share_int.h"

#define FILE_LEN	64

static char img[256];

/* A file of len blocks in one extent at *pblk; returns its inode */
static ext2_ino_t make_file_len(ext2_filsys fs, blk64_t *pblk, blk64_t len)
{
	struct ext2_inode inode = { 0 };
	struct ext2fs_extent ex = { 0 };
	ext2_extent_handle_t h = NULL;
	blk64_t n = len;
	ext2_ino_t ino = 0;
	errcode_t ret;

	ret = ext2fs_new_inode(fs, EXT2_ROOT_INO, LINUX_S_IFREG | 0644, NULL,
			       &ino);
	if (!ret)
		ret = ext2fs_new_range(fs, EXT2_NEWRANGE_MIN_LENGTH, 0, n,
				       NULL, pblk, &n);
	if (ret)
		return 0;
	ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
	ext2fs_block_alloc_stats_range(fs, *pblk, n, +1);
	inode.i_mode = LINUX_S_IFREG | 0644;
	inode.i_links_count = 1;
	inode.i_flags = EXT4_EXTENTS_FL;
	ext2fs_inode_size_set(fs, &inode, len * fs->blocksize);
	ret = ext2fs_write_new_inode(fs, ino, &inode);
	if (!ret)
		ret = ext2fs_extent_open2(fs, ino, &inode, &h);
	ex.e_lblk = 0;
	ex.e_pblk = *pblk;
	ex.e_len = (__u32)len;
	if (!ret)
		ret = ext2fs_extent_insert(h, 0, &ex);
	if (!ret)
		ret = ext2fs_iblk_set(fs, &inode, len);
	if (!ret)
		ret = ext2fs_write_inode(fs, ino, &inode);
	ext2fs_extent_free(h);
	return ret ? 0 : ino;
}

/* A file of FILE_LEN blocks in one extent at *pblk; returns its inode */
static ext2_ino_t make_file(ext2_filsys fs, blk64_t *pblk)
{
	return make_file_len(fs, pblk, FILE_LEN);
}

/* Every block of the file, read from the inode on disk */
static int mapping(ext2_filsys fs, ext2_ino_t ino, blk64_t *map)
{
	blk64_t l;

	for (l = 0; l < FILE_LEN; l++)
		if (ext2fs_bmap2(fs, ino, NULL, NULL, 0, l, NULL, &map[l]))
			return -1;
	return 0;
}

struct piece {
	const char *what;
	blk64_t lblk, len;
};

static void test_repoint(void)
{
	static const struct piece pieces[] = {
		{ "the middle", 20, 5 },
		{ "the head", 0, 3 },
		{ "the tail", 60, 4 },
		{ "a whole extent", 20, 5 },
		{ "one block", 40, 1 },
	};
	blk64_t old, fresh, want[FILE_LEN], got[FILE_LEN], n = FILE_LEN;
	struct rfl_xh x = { .h = NULL };
	ext2_filsys fs = NULL;
	struct rfl_map m;
	char cmd[512];
	ext2_ino_t ino;
	errcode_t ret;
	size_t i;
	blk64_t l;

	unlink(img);
	snprintf(cmd, sizeof(cmd),
		 "mke2fs -q -F -t ext4 -b 4096 %s 8M >/dev/null 2>&1", img);
	if (system(cmd)) {
		ok(0, "mke2fs");
		return;
	}
	ret = ext2fs_open(img, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0,
			  unix_io_manager, &fs);
	if (!ret)
		ret = ext2fs_read_bitmaps(fs);
	ok(!ret, "open a stock image");
	if (ret)
		return;
	ino = make_file(fs, &old);
	ok(ino, "a file of %d blocks in one extent", FILE_LEN);
	ret = ext2fs_new_range(fs, EXT2_NEWRANGE_MIN_LENGTH, old + FILE_LEN,
			       n, NULL, &fresh, &n);
	ok(ino && !ret, "room for its copies");
	if (!ino || ret)
		goto out;
	ext2fs_block_alloc_stats_range(fs, fresh, FILE_LEN, +1);
	for (l = 0; l < FILE_LEN; l++)
		want[l] = old + l;

	ret = rfl_xh_open(&x, fs, ino, NULL);
	for (i = 0; !ret && i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		const struct piece *p = &pieces[i];
		bool same = true;

		m.lblk = p->lblk;
		m.len = (__u32)p->len;
		m.pblk = want[p->lblk];
		m.flags = 0;
		/* the fourth repoints what the first did: to its old blocks */
		ret = rfl_map_repoint(&x, &m, want[p->lblk] == old + p->lblk ?
					     fresh + p->lblk : old + p->lblk);
		ok(!ret, "repoint %s (%s)", p->what,
		   ret ? error_message(ret) : "ok");
		for (l = p->lblk; l < p->lblk + p->len; l++)
			want[l] = want[l] == old + l ? fresh + l : old + l;
		if (mapping(fs, ino, got)) {
			ok(0, "read the mapping back");
			break;
		}
		for (l = 0; l < FILE_LEN; l++)
			same &= got[l] == want[l];
		ok(same, "after %s every block maps where it should", p->what);
	}

	/* a range the tree does not map so: refused, nothing changed */
	m.lblk = 10;
	m.len = 20;
	m.pblk = old + 10;
	tap_is_int(rfl_map_repoint(&x, &m, fresh + 10), RFL_ET_BAD_RANGE,
		   "a range over two extents is refused");
	m.len = 2;
	m.pblk = old + 11;
	tap_is_int(rfl_map_repoint(&x, &m, fresh + 10), RFL_ET_BAD_RANGE,
		   "a range whose old blocks differ is refused");
	ok(!mapping(fs, ino, got) && !memcmp(got, want, sizeof(got)),
	   "refusals change nothing");
out:
	rfl_xh_close(&x);
	ext2fs_close_free(&fs);
}

#define MANY_LEN	8000

/*
 * Every other block of one extent repointed: 8001 extents, more leaves
 * than an index block of 1 KiB holds, so leaves split, the root grows
 * twice and index blocks split
 */
static void test_many_splits(void)
{
	blk64_t old, fresh, l, got, n = MANY_LEN;
	struct rfl_xh x = { .h = NULL };
	struct ext2_extent_info info;
	ext2_filsys fs = NULL;
	struct rfl_map m;
	char cmd[512];
	ext2_ino_t ino;
	errcode_t ret;
	bool same = true;

	unlink(img);
	snprintf(cmd, sizeof(cmd), "mke2fs -q -F -t ext4 -b 1024 -O "
		 "^has_journal %s 64M >/dev/null 2>&1", img);
	if (system(cmd)) {
		ok(0, "mke2fs -b 1024");
		return;
	}
	ret = ext2fs_open(img, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0,
			  unix_io_manager, &fs);
	if (!ret)
		ret = ext2fs_read_bitmaps(fs);
	ino = ret ? 0 : make_file_len(fs, &old, MANY_LEN);
	/* named, for e2fsck */
	if (ino)
		ret = ext2fs_link(fs, EXT2_ROOT_INO, "many", ino,
				  EXT2_FT_REG_FILE);
	if (ino && !ret)
		ret = ext2fs_new_range(fs, EXT2_NEWRANGE_MIN_LENGTH,
				       old + MANY_LEN, n, NULL, &fresh, &n);
	ok(ino && !ret, "a file of %d blocks in one extent, 1 KiB blocks",
	   MANY_LEN);
	if (!ino || ret)
		goto out;
	ret = rfl_xh_open(&x, fs, ino, NULL);
	for (l = 1; !ret && l < MANY_LEN; l += 2) {
		ext2fs_block_alloc_stats2(fs, fresh + l, +1);
		m.lblk = l;
		m.len = 1;
		m.pblk = old + l;
		m.flags = 0;
		ret = rfl_map_repoint(&x, &m, fresh + l);
		ext2fs_block_alloc_stats2(fs, old + l, -1);
	}
	ok(!ret, "repoint every other block (%s)",
	   ret ? error_message(ret) : "ok");
	if (!ret)
		ret = ext2fs_extent_get_info(x.h, &info);
	ok(!ret && info.max_depth == 2, "the tree is 2 levels deep (%d)",
	   ret ? -1 : info.max_depth);
	for (l = 0; !ret && l < MANY_LEN; l++) {
		ret = ext2fs_bmap2(fs, ino, NULL, NULL, 0, l, NULL, &got);
		same &= got == (l % 2 ? fresh : old) + l;
	}
	ok(!ret && same, "every block maps where it should");
	rfl_xh_close(&x);
	ret = ext2fs_close_free(&fs);
	snprintf(cmd, sizeof(cmd), "e2fsck -fn %s >/dev/null 2>&1", img);
	ok(!ret && !system(cmd), "stock e2fsck -fn finds the image clean");
out:
	rfl_xh_close(&x);
	if (fs)
		ext2fs_close_free(&fs);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	initialize_rfl_error_table();
	initialize_ext2_error_table();
	snprintf(img, sizeof(img), "%s/rfl_extmap.%d.img", tmp ? tmp : "/tmp",
		 (int)getpid());
	test_repoint();
	test_many_splits();
	if (!getenv("KEEP"))
		unlink(img);
	return done_testing();
}

// SPDX-License-Identifier: GPL-2.0
/*
 * stock_snap.c - pass 6's metadata snapshot for -n, made by the checker
 * from what its scan found instead of by e2image -r (which reads every
 * inode again and the whole journal).
 *
 * Every block stock e2fsck -fn reads is copied: the superblock, the
 * descriptors and reserved descriptors (not the backups), the bitmaps,
 * the inode tables of groups with inodes in use, every block an inode
 * holds besides the leaf extents of files (index, xattr, block-mapped
 * and unlinked inodes' blocks), the leaf extents of every inode that
 * is not a named regular file (directories, symlinks, devices, the
 * reserved, quota and orphan-file inodes, xattr value inodes), and of
 * the journal its superblock.  That is e2image -r's set less the
 * journal's log, which e2fsck -n never reads.  Whatever the scan could
 * not see (an inode it could not read, an inode with links the bitmap
 * says is free) or e2fsck would read beyond it (a journal to recover,
 * MMP, an external journal) makes this refuse: pass 6 then runs e2image.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "check/check_int.h"

/* blocks per copy: reads in big runs, a small buffer */
#define SNAP_CHUNK	64
/*
 * Ranges this close are copied as one, with the file data between
 * them: a read of a few blocks more costs less than two system calls
 */
#define SNAP_GAP	8

#define JBD2_MAGIC	0xc03b3998U

struct copier {
	ext2_filsys fs;
	int in, out;
	char *buf;
	blk64_t last;			/* blocks_count - 1 */
	blk64_t start, len;		/* the range not copied yet */
};

static errcode_t copy_now(struct copier *k, blk64_t start, blk64_t len)
{
	size_t bs = k->fs->blocksize, n;

	while (len) {
		n = len > SNAP_CHUNK ? SNAP_CHUNK : len;
		if (pread(k->in, k->buf, n * bs, start * bs) !=
		    (ssize_t)(n * bs))
			return EXT2_ET_SHORT_READ;
		if (pwrite(k->out, k->buf, n * bs, start * bs) !=
		    (ssize_t)(n * bs))
			return errno ? errno : EXT2_ET_SHORT_WRITE;
		start += n;
		len -= n;
	}
	return 0;
}

/* What is pending, copied */
static errcode_t copy_flush(struct copier *k)
{
	errcode_t ret = copy_now(k, k->start, k->len);

	k->len = 0;
	return ret;
}

/* [start, start + len) to be copied: merged with what is pending when
 * it follows closely, else that is copied first */
static errcode_t copy_range(struct copier *k, blk64_t start, blk64_t len)
{
	blk64_t end;
	errcode_t ret;

	/* past the end of the fs: e2fsck judges the pointer, not the block */
	if (!len || start > k->last)
		return 0;
	if (len > k->last - start + 1)
		len = k->last - start + 1;
	end = start + len;
	if (k->len && start >= k->start &&
	    start <= k->start + k->len + SNAP_GAP) {
		if (end > k->start + k->len)
			k->len = end - k->start;
		return 0;
	}
	ret = copy_flush(k);
	k->start = start;
	k->len = len;
	return ret;
}

/*
 * Is ino a named regular file (its data never read by e2fsck -fn)?
 * Searched from *hint (the last answer) outwards: runs in block order
 * mostly follow inode order
 */
static bool plain_file(const struct rfl_scan *s, ext2_ino_t ino,
		       size_t *hint)
{
	size_t lo = 0, hi = s->nr_live, mid, i = *hint, step;

	/* [lo, hi) holds the first live[] not below ino */
	if (i < s->nr_live && s->live[i].ino < ino) {
		for (lo = i + 1, step = 1; lo < hi; step *= 2) {
			mid = lo + step < hi ? lo + step : hi;
			if (s->live[mid - 1].ino >= ino) {
				hi = mid;
				break;
			}
			lo = mid;
		}
	} else if (i < s->nr_live) {
		hi = i + 1;
	}
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (s->live[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	*hint = lo;
	return lo < s->nr_live && s->live[lo].ino == ino && s->live[lo].reg;
}

/* The journal's superblock; a journal with anything to recover or a
 * superblock that is not one: e2image's whole copy instead */
static errcode_t copy_journal(struct copier *k)
{
	ext2_filsys fs = k->fs;
	ext2_ino_t ino = fs->super->s_journal_inum;
	const unsigned char *b = (const unsigned char *)k->buf;
	blk64_t pblk = 0;
	errcode_t ret;

	if (!ext2fs_has_feature_journal(fs->super) || !ino)
		return 0;
	ret = ext2fs_bmap2(fs, ino, NULL, NULL, 0, 0, NULL, &pblk);
	if (ret)
		return ret;
	if (!pblk || pblk > k->last)
		return EXT2_ET_BAD_BLOCK_NUM;
	ret = copy_flush(k);
	if (!ret)
		ret = copy_now(k, pblk, 1);
	if (ret)
		return ret;
	/* big-endian: h_magic at 0, s_start at 28 */
	if (((__u32)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) != JBD2_MAGIC ||
	    b[28] | b[29] | b[30] | b[31])
		return EXT2_ET_JOURNAL_UNSUPP_VERSION;
	return 0;
}

/*
 * The fs metadata e2fsck reads: the superblock, the descriptors and
 * the reserved ones after them (the resize inode's indirect blocks),
 * every group's bitmaps and inode table (not those of groups whose
 * inodes were never used: e2fsck skips them).  Not the backups.
 */
static errcode_t copy_meta(struct copier *k)
{
	ext2_filsys fs = k->fs;
	blk64_t first = fs->super->s_first_data_block;
	errcode_t ret;
	dgrp_t g;
	unsigned long j;

	ret = copy_range(k, first, 1);
	for (j = 0; !ret && j < fs->desc_blocks; j++)
		ret = copy_range(k, ext2fs_descriptor_block_loc2(fs, first, j),
				 1);
	if (!ret && !ext2fs_has_feature_meta_bg(fs->super))
		ret = copy_range(k, first + 1 + fs->desc_blocks,
				 fs->super->s_reserved_gdt_blocks);
	/* each kind on its own: with flex_bg, one run of each */
	for (g = 0; !ret && g < fs->group_desc_count; g++)
		ret = copy_range(k, ext2fs_block_bitmap_loc(fs, g), 1);
	for (g = 0; !ret && g < fs->group_desc_count; g++)
		ret = copy_range(k, ext2fs_inode_bitmap_loc(fs, g), 1);
	for (g = 0; !ret && g < fs->group_desc_count; g++) {
		if (ext2fs_has_group_desc_csum(fs) &&
		    ext2fs_bg_flags_test(fs, g, EXT2_BG_INODE_UNINIT))
			continue;
		ret = copy_range(k, ext2fs_inode_table_loc(fs, g),
				 fs->inode_blocks_per_group);
	}
	if (!ret)
		ret = copy_flush(k);
	return ret;
}

/* A backup group's descriptors and reserved descriptors: the resize
 * inode's data, which e2fsck does not read */
static bool backup_gdt(ext2_filsys fs, blk64_t start, blk64_t len)
{
	blk64_t first = fs->super->s_first_data_block, old_desc = 0;
	dgrp_t g;

	if (start < first)
		return false;
	g = (start - first) / fs->super->s_blocks_per_group;
	if (!g || g >= fs->group_desc_count || !ext2fs_bg_has_super(fs, g))
		return false;
	ext2fs_super_and_bgd_loc2(fs, g, NULL, &old_desc, NULL, NULL);
	return old_desc && start >= old_desc &&
	       start + len <= old_desc + fs->desc_blocks +
			      fs->super->s_reserved_gdt_blocks;
}

static errcode_t copy_all(struct checker *c, struct copier *k)
{
	const struct rfl_scan *s = &c->scan;
	ext2_ino_t journal = c->fs->super->s_journal_inum;
	size_t j, hint = 0;
	errcode_t ret;

	ret = copy_meta(k);
	for (j = 0; !ret && j < s->nr_owned; j++) {
		if (backup_gdt(c->fs, s->owned[j].start, s->owned[j].len))
			continue;
		ret = copy_range(k, s->owned[j].start, s->owned[j].len);
	}
	if (!ret)
		ret = copy_flush(k);
	for (j = 0; !ret && j < s->nr_runs; j++) {
		const struct rfl_run *r = &s->runs[j];

		if ((journal && r->ino == journal) ||
		    plain_file(s, r->ino, &hint))
			continue;
		ret = copy_range(k, r->start, r->len);
	}
	if (!ret)
		ret = copy_flush(k);
	if (!ret)
		ret = copy_journal(k);
	return ret;
}

errcode_t rfl_ck_stock_snapshot(struct checker *c, int fd)
{
	ext2_filsys fs = c->fs;
	struct copier k = {
		.fs = fs, .out = fd,
		.last = ext2fs_blocks_count(fs->super) - 1,
	};
	errcode_t ret;

	if (c->o->mode != RFL_NO || c->scan.bad_inodes || c->scan.stray ||
	    !c->rfs->meta_map || ext2fs_has_feature_mmp(fs->super) ||
	    ext2fs_has_feature_journal_needs_recovery(fs->super) ||
	    ext2fs_has_feature_journal_dev(fs->super))
		return EXT2_ET_UNIMPLEMENTED;
	/* as big as the fs, holes where nothing was copied */
	if (ftruncate(fd, (off_t)ext2fs_blocks_count(fs->super) *
		      fs->blocksize))
		return errno;
	k.in = open(c->o->device, O_RDONLY);
	if (k.in < 0)
		return errno;
	ret = ext2fs_get_array(SNAP_CHUNK, fs->blocksize, &k.buf);
	if (!ret)
		ret = copy_all(c, &k);
	ext2fs_free_mem(&k.buf);
	close(k.in);
	return ret;
}

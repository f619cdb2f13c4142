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
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "check/check_int.h"
#include "util/vec.h"

/* blocks per copy: reads in big runs, a small buffer */
#define SNAP_CHUNK	64
/*
 * Ranges this close are copied as one, with the file data between
 * them: a read of a few blocks more costs less than two system calls
 */
#define SNAP_GAP	8

#define JBD2_MAGIC	0xc03b3998U

/* Copies blocks from the image to the snapshot: its own descriptors,
 * so that a thread may use it beside the checker's channel */
struct copier {
	unsigned int bs;
	int in, out;
	char *buf;
	blk64_t last;			/* blocks_count - 1 */
	blk64_t start, len;		/* the range not copied yet */
};

/*
 * The snapshot under way: the fs metadata (most of its blocks: the
 * inode tables) copied by a thread while the checker scans the files,
 * the rest after the scan
 */
struct rfl_snap {
	struct copier k;
	struct rfl_range *meta;		/* listed before the thread starts */
	size_t nr_meta;
	pthread_t thread;
	bool running;			/* the thread, not joined yet */
	bool copied;			/* the metadata, by it or not */
	errcode_t ret;
};

static errcode_t copy_now(struct copier *k, blk64_t start, blk64_t len)
{
	size_t bs = k->bs, n;
	ssize_t done;

	while (len) {
		n = len > SNAP_CHUNK ? SNAP_CHUNK : len;
		if (pread(k->in, k->buf, n * bs, start * bs) !=
		    (ssize_t)(n * bs))
			return EXT2_ET_SHORT_READ;
		done = pwrite(k->out, k->buf, n * bs, start * bs);
		if (done != (ssize_t)(n * bs))
			return done < 0 ? errno : EXT2_ET_SHORT_WRITE;
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

/* The journal's superblock; a journal with anything to recover or a
 * superblock that is not one: e2image's whole copy instead */
static errcode_t copy_journal(ext2_filsys fs, struct copier *k)
{
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

/* A range of fs metadata onto the list, merged with the last where it
 * follows on (with flex_bg, each kind is one run) */
static errcode_t list_range(struct rfl_snap *m, size_t *max, blk64_t start,
			    blk64_t len)
{
	struct rfl_range *r = m->nr_meta ? &m->meta[m->nr_meta - 1] : NULL;

	if (!len)
		return 0;
	if (r && r->start + r->len == start) {
		r->len += len;
		return 0;
	}
	if (rfl_vec_grow((void **)&m->meta, max, m->nr_meta,
			 sizeof(*m->meta)))
		return EXT2_ET_NO_MEMORY;
	m->meta[m->nr_meta].start = start;
	m->meta[m->nr_meta++].len = len;
	return 0;
}

/*
 * The fs metadata e2fsck reads: the superblock, the descriptors and
 * the reserved ones after them (the resize inode's indirect blocks),
 * every group's bitmaps and inode table (not those of groups whose
 * inodes were never used: e2fsck skips them).  Not the backups.
 */
static errcode_t list_meta(ext2_filsys fs, struct rfl_snap *m)
{
	blk64_t first = fs->super->s_first_data_block;
	size_t max = 0;
	errcode_t ret;
	dgrp_t g;
	unsigned long j;

	ret = list_range(m, &max, first, 1);
	for (j = 0; !ret && j < fs->desc_blocks; j++)
		ret = list_range(m, &max,
				 ext2fs_descriptor_block_loc2(fs, first, j), 1);
	if (!ret && !ext2fs_has_feature_meta_bg(fs->super))
		ret = list_range(m, &max, first + 1 + fs->desc_blocks,
				 fs->super->s_reserved_gdt_blocks);
	/* each kind on its own: with flex_bg, one run of each */
	for (g = 0; !ret && g < fs->group_desc_count; g++)
		ret = list_range(m, &max, ext2fs_block_bitmap_loc(fs, g), 1);
	for (g = 0; !ret && g < fs->group_desc_count; g++)
		ret = list_range(m, &max, ext2fs_inode_bitmap_loc(fs, g), 1);
	for (g = 0; !ret && g < fs->group_desc_count; g++) {
		if (ext2fs_has_group_desc_csum(fs) &&
		    ext2fs_bg_flags_test(fs, g, EXT2_BG_INODE_UNINIT))
			continue;
		ret = list_range(m, &max, ext2fs_inode_table_loc(fs, g),
				 fs->inode_blocks_per_group);
	}
	return ret;
}

static void *copy_meta(void *arg)
{
	struct rfl_snap *m = arg;
	errcode_t ret = 0;
	size_t i;

	for (i = 0; !ret && i < m->nr_meta; i++)
		ret = copy_range(&m->k, m->meta[i].start, m->meta[i].len);
	if (!ret)
		ret = copy_flush(&m->k);
	m->ret = ret;
	m->copied = true;
	return NULL;
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

/* After the scan: what the inodes hold that e2fsck reads */
static errcode_t copy_rest(struct checker *c, struct copier *k)
{
	const struct rfl_scan *s = &c->scan;
	ext2_ino_t journal = c->fs->super->s_journal_inum;
	errcode_t ret = 0;
	size_t j;

	for (j = 0; !ret && j < s->nr_owned; j++) {
		if (backup_gdt(c->fs, s->owned[j].start, s->owned[j].len))
			continue;
		ret = copy_range(k, s->owned[j].start, s->owned[j].len);
	}
	if (!ret)
		ret = copy_flush(k);
	for (j = 0; !ret && j < s->nr_runs; j++) {
		const struct rfl_run *r = &s->runs[j];

		/* of the journal, only its superblock (below) */
		if (!r->fsck_reads || (journal && r->ino == journal))
			continue;
		ret = copy_range(k, r->start, r->len);
	}
	if (!ret)
		ret = copy_flush(k);
	if (!ret)
		ret = copy_journal(c->fs, k);
	return ret;
}

static void snap_join(struct rfl_snap *m)
{
	if (m->running) {
		pthread_join(m->thread, NULL);
		m->running = false;
	}
}

void rfl_ck_snap_free(struct rfl_snap *m)
{
	if (!m)
		return;
	snap_join(m);
	if (m->k.in >= 0)
		close(m->k.in);
	ext2fs_free_mem(&m->k.buf);
	free(m->meta);
	free(m);
}

errcode_t rfl_ck_snap_begin(struct checker *c, int fd, struct rfl_snap **mp)
{
	ext2_filsys fs = c->fs;
	struct rfl_snap *m;
	errcode_t ret;

	*mp = NULL;
	if (c->o->mode != RFL_NO || !c->rfs->meta_map ||
	    ext2fs_has_feature_mmp(fs->super) ||
	    ext2fs_has_feature_journal_needs_recovery(fs->super) ||
	    ext2fs_has_feature_journal_dev(fs->super))
		return EXT2_ET_UNIMPLEMENTED;
	/* as big as the fs, holes where nothing is copied */
	if (ftruncate(fd, (off_t)ext2fs_blocks_count(fs->super) *
		      fs->blocksize))
		return errno;
	m = calloc(1, sizeof(*m));
	if (!m)
		return EXT2_ET_NO_MEMORY;
	m->k.bs = fs->blocksize;
	m->k.out = fd;
	m->k.last = ext2fs_blocks_count(fs->super) - 1;
	m->k.in = open(c->o->device, O_RDONLY);
	ret = m->k.in < 0 ? errno : 0;
	if (!ret)
		ret = ext2fs_get_array(SNAP_CHUNK, fs->blocksize, &m->k.buf);
	if (!ret)
		ret = list_meta(fs, m);
	if (ret) {
		rfl_ck_snap_free(m);
		return ret;
	}
	/* no thread: the copy is made at the end, the same */
	if (!pthread_create(&m->thread, NULL, copy_meta, m))
		m->running = true;
	*mp = m;
	return 0;
}

errcode_t rfl_ck_snap_finish(struct checker *c, struct rfl_snap *m)
{
	snap_join(m);
	if (!m->copied)
		copy_meta(m);
	if (m->ret)
		return m->ret;
	if (c->scan.bad_inodes || c->scan.stray)
		return EXT2_ET_UNIMPLEMENTED;
	return copy_rest(c, &m->k);
}

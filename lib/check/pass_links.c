// SPDX-License-Identifier: GPL-2.0
/*
 * pass_links.c - link counts against the directory entries, so that no
 * clean result hides an inode a crash left unnamed (created, but its
 * entry never written; or its entry removed, the inode never freed).
 * Every entry of every directory is collected and sorted: memory follows
 * the number of names, not the number of inodes the disk could hold.
 */
#include "check/check_int.h"
#include "check/sort.h"
#include "util/vec.h"

struct dir_ctx {
	struct rfl_vec refs;		/* ext2_ino_t of every entry */
	bool no_mem;
};

static int count_entry(ext2_ino_t dir, int entry, struct ext2_dir_entry *de,
		       int offset, int blocksize, char *buf, void *priv)
{
	struct dir_ctx *d = priv;
	ext2_ino_t *r;

	(void)dir; (void)entry; (void)offset; (void)blocksize; (void)buf;
	if (!de->inode)
		return 0;
	r = rfl_vec_push(&d->refs);
	if (!r) {
		d->no_mem = true;
		return DIRENT_ABORT;
	}
	*r = de->inode;
	return 0;
}

static void fix_links(struct checker *ck, ext2_ino_t ino, __u16 links)
{
	struct ext2_inode inode;
	errcode_t ret;

	ret = ext2fs_read_inode(ck->fs, ino, &inode);
	if (!ret) {
		inode.i_links_count = links;
		ret = ext2fs_write_inode(ck->fs, ino, &inode);
	}
	if (ret)
		rfl_ck_fail(ck, ret, "setting a link count");
	else
		ck->changed = true;
}

/*
 * An entry names an inode that is not live: what that inode is, in
 * words that hold (the scan counts an inode with links in use whatever
 * the bitmap says, and leaves the internal inodes out)
 */
static void entry_not_live(struct checker *ck, ext2_ino_t ino,
			   struct rfl_pctx *pctx)
{
	struct ext2_inode inode;
	bool in_map;

	pctx->ino = ino;
	if (ino > ck->fs->super->s_inodes_count) {
		pctx->str = "which does not exist";
		goto out;
	}
	in_map = ext2fs_test_inode_bitmap2(ck->fs->inode_map, ino);
	if (ext2fs_read_inode(ck->fs, ino, &inode))
		pctx->str = in_map ? "which cannot be read" :
			    "which is free in the inode bitmap and cannot be "
			    "read";
	else if (!inode.i_links_count)
		pctx->str = in_map ? "which is marked in use but has no links "
			    "(deleted, or never linked)" :
			    "which is not in use";
	else if (!in_map)
		pctx->str = "which has links but is free in the inode bitmap "
			    "(counted in use here)";
	else
		pctx->str = "an internal inode (xattr value, orphan file or "
			    "quota), not a file";
out:
	rfl_fix_problem(&ck->ctx, PR_1_ENTRY_FREE, pctx);
}

/* Each live inode against the entries naming it; refs sorted */
static void judge(struct checker *ck, const ext2_ino_t *refs, size_t nr)
{
	const struct rfl_scan *s = &ck->scan;
	ext2_ino_t first = EXT2_FIRST_INODE(ck->fs->super);
	struct rfl_pctx pctx = { 0 };
	size_t i, j = 0, n;

	for (i = 0; i < s->nr_live && !rfl_ck_stop(ck); i++) {
		const struct rfl_live *lv = &s->live[i];

		/* entries naming inodes that are not live */
		for (; j < nr && refs[j] < lv->ino; j++) {
			if (refs[j] < first || (j && refs[j] == refs[j - 1]))
				continue;
			entry_not_live(ck, refs[j], &pctx);
		}
		for (n = 0; j < nr && refs[j] == lv->ino; j++)
			n++;
		pctx.ino = lv->ino;
		if (!n) {
			rfl_fix_problem(&ck->ctx, PR_1_UNNAMED, &pctx);
			continue;
		}
		/* dir_nlink: a directory past 65000 links counts 1 */
		if (n == lv->links || (lv->dir && lv->links == 1))
			continue;
		pctx.found = lv->links;
		pctx.expected = n;
		if (n > 0xffff ||
		    !rfl_fix_problem(&ck->ctx, PR_1_LINKS, &pctx))
			continue;
		fix_links(ck, lv->ino, n);
		if (!ck->err)
			rfl_problem_fixed(&ck->ctx, PR_1_LINKS, &pctx);
	}
	for (; j < nr && !rfl_ck_stop(ck); j++) {
		if (refs[j] < first || (j && refs[j] == refs[j - 1]))
			continue;
		entry_not_live(ck, refs[j], &pctx);
	}
}

/* The first entry of a directory block whose rec_len cannot be right */
struct walk {
	char *buf;
	struct rfl_pctx *pctx;
	errcode_t err;
	bool found;
};

static int walk_block(ext2_filsys fs, blk64_t *blk, e2_blkcnt_t cnt,
		      blk64_t ref, int off, void *priv)
{
	struct walk *w = priv;
	struct ext2_dir_entry *de;
	unsigned int pos, len, need;

	(void)ref; (void)off;
	w->err = io_channel_read_blk64(fs->io, *blk, 1, w->buf);
	if (w->err)
		return BLOCK_ABORT;
	for (pos = 0; pos < fs->blocksize; pos += len) {
		de = (struct ext2_dir_entry *)(w->buf + pos);
		if (pos + 8 > fs->blocksize ||
		    ext2fs_get_rec_len(fs, de, &len))
			len = 0;
		/* name_len is past the block when the entry head is cut */
		need = len ? ext2fs_dir_rec_len(ext2fs_dirent_name_len(de), 0) :
			     0;
		/* e2fsck's test (check_dir_block) */
		if (len < 12 || len % 4 || pos + len > fs->blocksize ||
		    need > len) {
			w->pctx->blk = cnt;
			w->pctx->found = pos;
			w->pctx->expected = len;
			w->found = true;
			return BLOCK_ABORT;
		}
	}
	return 0;
}

/*
 * libext2fs finds a block's checksum by walking its entries to the tail:
 * a broken rec_len reads as "checksum does not match".  Say which it is,
 * as e2fsck does: true if an entry's rec_len is what is wrong.
 */
static bool bad_rec_len(struct checker *ck, ext2_ino_t ino,
			struct rfl_pctx *pctx)
{
	struct walk w = { .pctx = pctx };

	if (ext2fs_get_mem(ck->fs->blocksize, &w.buf))
		return false;
	ext2fs_block_iterate3(ck->fs, ino, BLOCK_FLAG_READ_ONLY |
			      BLOCK_FLAG_DATA_ONLY, NULL, walk_block, &w);
	ext2fs_free_mem(&w.buf);
	return w.found;
}

void rfl_ck_links(struct checker *ck)
{
	const struct rfl_scan *s = &ck->scan;
	struct dir_ctx d = { .refs = { .size = sizeof(ext2_ino_t) } };
	struct rfl_pctx pctx = { 0 };
	errcode_t ret;
	size_t i;

	/* unreadable inodes may be directories: the counts would lie */
	if (s->bad_inodes)
		return;
	for (i = 0; i < s->nr_live && !rfl_ck_stop(ck); i++) {
		if (!s->live[i].dir)
			continue;
		ret = ext2fs_dir_iterate2(ck->fs, s->live[i].ino, 0, NULL,
					  count_entry, &d);
		if (d.no_mem) {
			rfl_ck_fail(ck, EXT2_ET_NO_MEMORY, "reading directories");
			goto out;
		}
		if (ret) {
			pctx.ino = s->live[i].ino;
			pctx.err = ret;
			if (ret == EXT2_ET_DIR_CSUM_INVALID &&
			    bad_rec_len(ck, pctx.ino, &pctx))
				rfl_fix_problem(&ck->ctx, PR_1_DIR_CORRUPT,
						&pctx);
			else
				rfl_fix_problem(&ck->ctx, PR_1_BAD_DIR,
						&pctx);
			goto out;
		}
	}
	if (rfl_ck_stop(ck))
		goto out;
	if (rfl_sort_u32(d.refs.v, d.refs.nr)) {
		rfl_ck_fail(ck, EXT2_ET_NO_MEMORY, "reading directories");
		goto out;
	}
	judge(ck, d.refs.v, d.refs.nr);
out:
	free(d.refs.v);
}

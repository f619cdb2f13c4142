// SPDX-License-Identifier: GPL-2.0
/*
 * pop_dir.c - the directory writer of mkreflink -d: appends names
 * to a directory block by block, and defers changes to directories that
 * existed before the copy until the whole tree is in.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "populate/pop_int.h"

static int old_cmp(const void *a, const void *b)
{
	return strcmp(((const struct old_ent *)a)->name,
		      ((const struct old_ent *)b)->name);
}

static int old_collect(struct ext2_dir_entry *de, int offset, int blocksize,
		       char *buf, void *priv)
{
	struct dirw *w = priv;
	int len = ext2fs_dirent_name_len(de);
	struct old_ent *o;

	(void)offset;
	(void)blocksize;
	(void)buf;
	if (rfl_dirent_skip(de))
		return 0;
	if (rfl_vec_grow((void **)&w->old, &w->max_old, w->nr_old,
			 sizeof(*w->old)))
		return DIRENT_ABORT;
	o = &w->old[w->nr_old];
	o->name = strndup(de->name, (size_t)len);
	if (!o->name)
		return DIRENT_ABORT;
	o->ino = de->inode;
	o->ft = ext2fs_dirent_file_type(de);
	w->nr_old++;
	return 0;
}

/* The entry name had before the copy began, or NULL */
const struct old_ent *pop_dirw_old(const struct dirw *w, const char *name)
{
	struct old_ent key = { .name = (char *)name };

	if (!w->nr_old)
		return NULL;
	return bsearch(&key, w->old, w->nr_old, sizeof(key), old_cmp);
}

/*
 * Start appending to directory ino.  A directory mkreflink did not just
 * make has its names listed first, so a name in the source that is
 * already there is found without a lookup per entry.
 */
errcode_t pop_dirw_open(struct ctx *c, struct dirw *w, ext2_ino_t ino,
			bool fresh)
{
	ext2_filsys fs = c->fs;
	struct ext2_dir_entry *de;
	struct ext2_inode in;
	unsigned int off, rl;
	errcode_t ret;

	memset(w, 0, sizeof(*w));
	w->ino = ino;
	if (!ino)
		return 0;
	if (!fresh) {
		ret = ext2fs_dir_iterate(fs, ino, 0, NULL, old_collect, w);
		if (ret)
			return ret;
		qsort(w->old, w->nr_old, sizeof(*w->old), old_cmp);
		w->defer = true;
		return 0;
	}
	ret = ext2fs_read_inode(fs, ino, &in);
	if (ret)
		return ret;
	w->slow = (in.i_flags & (EXT2_INDEX_FL | EXT4_INLINE_DATA_FL)) ||
		  !ext2fs_has_feature_filetype(fs->super) ||
		  ext2fs_has_feature_casefold(fs->super) ||
		  EXT2_I_SIZE(&in) < fs->blocksize;
	if (w->slow)
		return 0;
	w->buf = malloc(fs->blocksize);
	if (!w->buf)
		return EXT2_ET_NO_MEMORY;
	w->end = fs->blocksize;
	if (ext2fs_has_feature_metadata_csum(fs->super))
		w->end -= sizeof(struct ext2_dir_entry_tail);
	w->lblk = EXT2_I_SIZE(&in) / fs->blocksize - 1;
	ret = ext2fs_bmap2(fs, ino, &in, NULL, 0, w->lblk, NULL, &w->pblk);
	ret = ret ?: ext2fs_read_dir_block4(fs, w->pblk, w->buf, 0, ino);
	if (ret)
		return ret;
	for (off = 0; off < w->end; off += rl) {
		de = (struct ext2_dir_entry *)(w->buf + off);
		ret = ext2fs_get_rec_len(fs, de, &rl);
		if (ret)
			return ret;
		if (rl < 8 || off + rl > w->end) {
			/* not a block we can append to safely */
			w->slow = true;
			return 0;
		}
		w->last = off;
	}
	return 0;
}

/* Write out the block being filled */
static errcode_t dirw_flush(struct ctx *c, struct dirw *w)
{
	errcode_t ret;

	if (!w->dirty)
		return 0;
	ret = ext2fs_write_dir_block4(c->fs, w->pblk, w->buf, 0, w->ino);
	w->dirty = false;
	return ret;
}

static void dirw_free(struct dirw *w)
{
	size_t i;

	for (i = 0; i < w->nr_old; i++)
		free(w->old[i].name);
	free(w->old);
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

errcode_t pop_dirw_close(struct ctx *c, struct dirw *w)
{
	errcode_t ret = w->ino && !w->defer ? dirw_flush(c, w) : 0;

	dirw_free(w);
	return ret;
}

/* Give the directory one more, empty, block and start filling it */
static errcode_t dirw_grow(struct ctx *c, struct dirw *w)
{
	ext2_filsys fs = c->fs;
	struct ext2_dir_entry *de;
	struct ext2_inode in;
	blk64_t pblk;
	errcode_t ret;

	ret = dirw_flush(c, w);
	ret = ret ?: ext2fs_new_block2(fs, w->pblk, NULL, &pblk);
	if (ret)
		return ret;
	ext2fs_block_alloc_stats2(fs, pblk, +1);
	ret = ext2fs_bmap2(fs, w->ino, NULL, NULL, BMAP_SET, w->lblk + 1,
			   NULL, &pblk);
	/* read after the map: it may have written a new extent root */
	ret = ret ?: ext2fs_read_inode(fs, w->ino, &in);
	if (ret)
		return ret;
	ret = ext2fs_iblk_add_blocks(fs, &in, 1);
	ret = ret ?: ext2fs_inode_size_set(fs, &in, EXT2_I_SIZE(&in) +
					   fs->blocksize);
	ret = ret ?: ext2fs_write_inode(fs, w->ino, &in);
	if (ret)
		return ret;
	w->lblk++;
	w->pblk = pblk;
	memset(w->buf, 0, fs->blocksize);
	de = (struct ext2_dir_entry *)w->buf;
	ret = ext2fs_set_rec_len(fs, w->end, de);
	if (ret)
		return ret;
	if (w->end < fs->blocksize)
		ext2fs_initialize_dirent_tail(fs,
			EXT2_DIRENT_TAIL(w->buf, fs->blocksize));
	w->last = 0;
	w->dirty = true;
	return 0;
}

errcode_t pop_later_add(struct ctx *c, ext2_ino_t dir, const char *name,
			ext2_ino_t ino, int ft, const struct stat *st)
{
	struct later *l;

	if (rfl_vec_grow((void **)&c->later, &c->max_later, c->nr_later,
			 sizeof(*c->later)))
		return EXT2_ET_NO_MEMORY;
	l = &c->later[c->nr_later];
	memset(l, 0, sizeof(*l));
	l->name = strdup(name);
	if (!l->name)
		return EXT2_ET_NO_MEMORY;
	l->dir = dir;
	l->ino = ino;
	l->ft = ft;
	l->seq = c->nr_later++;
	if (st)
		l->st = *st;
	return 0;
}

/* name -> ino at the end of the directory */
errcode_t pop_dirw_add(struct ctx *c, struct dirw *w, const char *name,
		       ext2_ino_t ino, int ft)
{
	ext2_filsys fs = c->fs;
	unsigned int len = (unsigned int)strlen(name);
	unsigned int need = EXT2_DIR_REC_LEN(len), rl, used;
	struct ext2_dir_entry *de;
	errcode_t ret;

	if (!w->ino)
		return 0;
	if (w->defer)
		return pop_later_add(c, w->ino, name, ino, ft, NULL);
	if (w->slow)
		return rfl_link(c->fs, w->ino, name, ino, ft);
	de = (struct ext2_dir_entry *)(w->buf + w->last);
	ret = ext2fs_get_rec_len(fs, de, &rl);
	if (ret)
		return ret;
	used = de->inode ? EXT2_DIR_REC_LEN(ext2fs_dirent_name_len(de)) : 0;
	if (rl < used + need) {
		ret = dirw_grow(c, w);
		if (ret)
			return ret;
		de = (struct ext2_dir_entry *)w->buf;
		rl = w->end;
		used = 0;
	}
	if (used) {
		/* split the last entry's slack off into the new one */
		ret = ext2fs_set_rec_len(fs, used, de);
		if (ret)
			return ret;
		w->last += used;
		de = (struct ext2_dir_entry *)(w->buf + w->last);
		ret = ext2fs_set_rec_len(fs, rl - used, de);
		if (ret)
			return ret;
	}
	de->inode = ino;
	ext2fs_dirent_set_name_len(de, (int)len);
	ext2fs_dirent_set_file_type(de, ft);
	memcpy(de->name, name, len);
	w->dirty = true;
	return 0;
}

static int later_cmp(const void *a, const void *b)
{
	const struct later *x = a, *y = b;

	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * The whole tree is in: now the directories that were there before get
 * their new names (one pass over each), their link counts for the new
 * subdirectories, and the source's metadata where it has them too.
 */
errcode_t pop_put_later(struct ctx *c)
{
	struct ext2_inode in;
	struct dirw w = { 0 };
	size_t i, j;
	errcode_t ret = 0;

	qsort(c->later, c->nr_later, sizeof(*c->later), later_cmp);
	for (i = 0; !ret && i < c->nr_later; i = j) {
		ext2_ino_t dir = c->later[i].dir;
		unsigned int subdirs = 0;

		if (!dir) {
			ret = pop_update_meta(c, c->later[i].ino,
					      &c->later[i].st, 0);
			ret = ret ?: pop_copy_xattrs(c, c->later[i].ino,
						     c->later[i].name);
			j = i + 1;
			continue;
		}
		ret = pop_dirw_open(c, &w, dir, true);
		for (j = i; j < c->nr_later && c->later[j].dir == dir; j++) {
			if (ret)
				continue;
			ret = pop_dirw_add(c, &w, c->later[j].name,
					   c->later[j].ino, c->later[j].ft);
			subdirs += c->later[j].ft == EXT2_FT_DIR;
		}
		ret = pop_dirw_close(c, &w) ?: ret;
		if (ret || !subdirs)
			continue;
		ret = ext2fs_read_inode(c->fs, dir, &in);
		if (ret)
			break;
		/* as ext2fs_mkdir() counts them; dir_nlink caps at 1 */
		if (in.i_links_count > 1 &&
		    in.i_links_count + subdirs < EXT2_LINK_MAX)
			in.i_links_count += subdirs;
		else
			in.i_links_count = 1;
		ret = ext2fs_write_inode(c->fs, dir, &in);
	}
	return ret;
}

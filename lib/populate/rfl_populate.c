// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_populate.c - copy a directory tree into a reflink image, sharing
 * identical blocks (mkreflink -d).  Written on the public libext2fs API;
 * what is copied follows mke2fs -d.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <ext2fs/ext3_extents.h>

#include "populate/rfl_populate.h"
#include "dedup/blkhash.h"
#include "dedup/refload.h"

/* Blocks read from a file at a time, and written to the image at a time */
#define CHUNK_BLOCKS	256

/* A source inode with more than one link, and where it went */
struct link_ent {
	dev_t dev;
	ino_t sino;
	ext2_ino_t ino;
};

struct ctx {
	struct rfl_fs *rfs;
	ext2_filsys fs;
	struct rfl_populate *p;
	bool full;			/* out of space: only count now */

	struct rfl_blkhash tab;		/* the distinct blocks stored */

	struct rfl_bruns owners;	/* first copies, by inode */
	struct rfl_bruns refs;		/* one extra reference each */

	struct link_ent *links;
	size_t nr_links, max_links;

	char *buf;			/* CHUNK_BLOCKS of file data */
	char *pend;			/* new blocks not yet written */
	blk64_t pend_start;
	unsigned int pend_nr;
	char *cmp;			/* one block read back */
	blk64_t goal;

	/*
	 * Names for directories that existed before the copy, and the
	 * metadata of those the source also has: applied only once the
	 * whole tree is in, so a failed copy leaves them as they were.
	 */
	struct later *later;
	size_t nr_later, max_later;

	/* inodes taken, to wipe again if the copy fails */
	ext2_ino_t *inos;
	size_t nr_inos, max_inos;
};

/* A change to a directory that existed before the copy */
struct later {
	ext2_ino_t dir;			/* where name goes, or 0 */
	ext2_ino_t ino;			/* what it names; or whose meta */
	int ft;
	size_t seq;			/* order of the changes */
	char *name;			/* or, with dir 0, the source path */
	struct stat st;			/* with dir 0: the metadata */
};

static errcode_t why(struct ctx *c, errcode_t ret, const char *fmt,
		     const char *path)
{
	snprintf(c->p->why, sizeof(c->p->why), fmt, path);
	/* "%s" alone names a path for the error code; more is a sentence */
	c->p->why_full = strcmp(fmt, "%s") != 0;
	return ret;
}

/* "path: what: reason", for a system call that failed on path */
static errcode_t why_errno(struct ctx *c, int err, const char *what,
			   const char *path)
{
	snprintf(c->p->why, sizeof(c->p->why), "%s: %s: %s", path, what,
		 strerror(err));
	c->p->why_full = true;
	return err;
}

static void progress(struct ctx *c)
{
	if (c->p->progress)
		c->p->progress(c->p, c->p->bytes_done, c->p->bytes_total);
}

/* nftw() passes no context: the sum of one walk at a time */
static __u64 tree_bytes;

static int add_size(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode))
		tree_bytes += (__u64)st->st_size;
	return 0;
}

/* The data bytes the copy will read, for the progress total */
static void size_tree(struct ctx *c)
{
	tree_bytes = 0;
	/* an unreadable part only makes the total short: copy says why */
	nftw(c->p->src, add_size, 64, FTW_PHYS);
	c->p->bytes_total = tree_bytes;
}

/* ---------------------------------------------------------------- */
/* Block I/O                                                         */
/* ---------------------------------------------------------------- */

static errcode_t pend_flush(struct ctx *c)
{
	errcode_t ret;

	if (!c->pend_nr)
		return 0;
	ret = io_channel_write_blk64(c->fs->io, c->pend_start, c->pend_nr,
				     c->pend);
	c->pend_nr = 0;
	return ret;
}

static errcode_t pend_add(struct ctx *c, blk64_t pblk, const void *data)
{
	errcode_t ret;

	if (c->pend_nr && (c->pend_nr == CHUNK_BLOCKS ||
			   c->pend_start + c->pend_nr != pblk)) {
		ret = pend_flush(c);
		if (ret)
			return ret;
	}
	if (!c->pend_nr)
		c->pend_start = pblk;
	memcpy(c->pend + (size_t)c->pend_nr * c->fs->blocksize, data,
	       c->fs->blocksize);
	c->pend_nr++;
	return 0;
}

/* Does stored block pblk hold data?  (rfl_blkhash_same_fn) */
static errcode_t same_block(void *priv, blk64_t pblk, const void *data,
			    bool *same)
{
	struct ctx *c = priv;
	unsigned int bs = c->fs->blocksize;
	errcode_t ret;

	/* past the end of space nothing is stored to compare */
	if (c->full) {
		*same = true;
		return 0;
	}

	if (c->pend_nr && pblk >= c->pend_start &&
	    pblk < c->pend_start + c->pend_nr) {
		*same = !memcmp(c->pend + (pblk - c->pend_start) * bs, data,
				bs);
		return 0;
	}
	ret = io_channel_read_blk64(c->fs->io, pblk, 1, c->cmp);
	if (ret)
		return ret;
	*same = !memcmp(c->cmp, data, bs);
	return 0;
}

/* An earlier block equal to data, or 0 */
static errcode_t find_block(struct ctx *c, __u64 hash, const void *data,
			    blk64_t *pblk)
{
	return rfl_blkhash_find(&c->tab, hash, data, same_block, c, pblk);
}

static errcode_t new_block(struct ctx *c, blk64_t *pblk)
{
	errcode_t ret;

	ret = ext2fs_new_block2(c->fs, c->goal, NULL, pblk);
	if (ret)
		return ret;
	ext2fs_block_alloc_stats2(c->fs, *pblk, +1);
	c->goal = *pblk + 1;
	return 0;
}

static bool all_zero(const char *d, unsigned int len)
{
	return !d[0] && !memcmp(d, d + 1, len - 1);
}

/* ---------------------------------------------------------------- */
/* Inodes                                                            */
/* ---------------------------------------------------------------- */

static __u32 time_extra(const struct timespec *ts)
{
	/* bits 0-1 extend the 32-bit seconds, as the kernel encodes it */
	__u64 epoch = ((__u64)((__s64)ts->tv_sec - (__s32)ts->tv_sec)) >> 32;

	return (__u32)((epoch & 3) | ((__u64)ts->tv_nsec << 2));
}

/* ts, or the build time if later (reproducible builds' clamping) */
static struct timespec clamp(const struct ctx *c, struct timespec ts)
{
	if (c->p->build_time && ts.tv_sec >= c->p->build_time) {
		ts.tv_sec = c->p->build_time;
		ts.tv_nsec = 0;
	}
	return ts;
}

/* Owner, permissions and times from st, onto an inode read in full */
static void set_meta(const struct ctx *c, struct ext2_inode_large *in,
		     const struct stat *st)
{
	struct timespec at = clamp(c, st->st_atim);
	struct timespec mt = clamp(c, st->st_mtim);
	struct timespec ct = st->st_ctim;

	/* nobody can set a ctime: a reproducible image takes the build's */
	if (c->p->build_time) {
		ct.tv_sec = c->p->build_time;
		ct.tv_nsec = 0;
	}
	in->i_mode = (__u16)((in->i_mode & LINUX_S_IFMT) |
			     (st->st_mode & 07777));
	in->i_uid = (__u16)st->st_uid;
	ext2fs_set_i_uid_high(*in, st->st_uid >> 16);
	in->i_gid = (__u16)st->st_gid;
	ext2fs_set_i_gid_high(*in, st->st_gid >> 16);
	in->i_atime = (__u32)at.tv_sec;
	in->i_mtime = (__u32)mt.tv_sec;
	in->i_ctime = (__u32)ct.tv_sec;
	if (in->i_extra_isize >= 24) {
		in->i_atime_extra = time_extra(&at);
		in->i_mtime_extra = time_extra(&mt);
		in->i_ctime_extra = time_extra(&ct);
	}
}

static errcode_t update_meta(struct ctx *c, ext2_ino_t ino,
			     const struct stat *st, __u32 add_flags)
{
	struct ext2_inode_large in;
	errcode_t ret;

	ret = ext2fs_read_inode_full(c->fs, ino, (struct ext2_inode *)&in,
				     sizeof(in));
	if (ret)
		return ret;
	set_meta(c, &in, st);
	in.i_flags |= add_flags;
	return ext2fs_write_inode_full(c->fs, ino, (struct ext2_inode *)&in,
				       sizeof(in));
}

/* The directory entry's file type for a mode */
static int dir_file_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return EXT2_FT_REG_FILE;
	case S_IFDIR:
		return EXT2_FT_DIR;
	case S_IFCHR:
		return EXT2_FT_CHRDEV;
	case S_IFBLK:
		return EXT2_FT_BLKDEV;
	case S_IFIFO:
		return EXT2_FT_FIFO;
	case S_IFSOCK:
		return EXT2_FT_SOCK;
	case S_IFLNK:
		return EXT2_FT_SYMLINK;
	default:
		return EXT2_FT_UNKNOWN;
	}
}

static errcode_t link_in(struct ctx *c, ext2_ino_t dir, const char *name,
			 ext2_ino_t ino, int ft)
{
	errcode_t ret;

	ret = ext2fs_link(c->fs, dir, name, ino, ft);
	if (ret == EXT2_ET_DIR_NO_SPACE) {
		ret = ext2fs_expand_dir(c->fs, dir);
		if (!ret)
			ret = ext2fs_link(c->fs, dir, name, ino, ft);
	}
	return ret;
}

/* A free inode near dir, remembered in case the copy fails */
static errcode_t alloc_inode(struct ctx *c, ext2_ino_t dir, int mode,
			     ext2_ino_t *ino)
{
	errcode_t ret;

	if (c->nr_inos == c->max_inos) {
		size_t n = c->max_inos ? c->max_inos * 2 : 1024;
		ext2_ino_t *v = realloc(c->inos, n * sizeof(*v));

		if (!v)
			return EXT2_ET_NO_MEMORY;
		c->inos = v;
		c->max_inos = n;
	}
	ret = ext2fs_new_inode(c->fs, dir, mode, NULL, ino);
	if (!ret)
		c->inos[c->nr_inos++] = *ino;
	return ret;
}

/*
 * After a failed copy: the on-disk bitmaps call the inodes taken free,
 * but a checker that reads an inode table slot below the group's unused
 * mark would find a file with links and no name.  Zero them.
 */
static void wipe_inodes(struct ctx *c)
{
	unsigned int size = EXT2_INODE_SIZE(c->fs->super);
	struct ext2_inode_large in;
	size_t i;

	memset(&in, 0, sizeof(in));
	if (size > sizeof(in))
		size = sizeof(in);
	for (i = 0; i < c->nr_inos; i++)
		ext2fs_write_inode_full(c->fs, c->inos[i],
					(struct ext2_inode *)&in, size);
}

/* A fresh inode of the type and owner of st, near dir; not linked yet */
static errcode_t new_inode(struct ctx *c, ext2_ino_t dir,
			   const struct stat *st, __u32 flags,
			   ext2_ino_t *inop)
{
	struct ext2_inode_large in;
	ext2_ino_t ino;
	errcode_t ret;

	ret = alloc_inode(c, dir, (int)(st->st_mode & S_IFMT), &ino);
	if (ret)
		return ret;
	ext2fs_inode_alloc_stats2(c->fs, ino, +1, 0);
	memset(&in, 0, sizeof(in));
	in.i_mode = (__u16)(st->st_mode & S_IFMT);
	in.i_links_count = 1;
	in.i_flags = flags;
	in.i_extra_isize = (__u16)(sizeof(in) - EXT2_GOOD_OLD_INODE_SIZE);
	if (EXT2_INODE_SIZE(c->fs->super) < sizeof(in))
		in.i_extra_isize = (__u16)(EXT2_INODE_SIZE(c->fs->super) -
					   EXT2_GOOD_OLD_INODE_SIZE);
	if (flags & EXT4_EXTENTS_FL) {
		/* an empty extent root, valid even if nothing gets mapped */
		struct ext3_extent_header *eh = (void *)in.i_block;

		eh->eh_magic = ext2fs_cpu_to_le16(EXT3_EXT_MAGIC);
		eh->eh_max = ext2fs_cpu_to_le16((sizeof(in.i_block) -
						 sizeof(*eh)) /
						sizeof(struct ext3_extent));
	}
	set_meta(c, &in, st);
	/* a creation time that is reproducible, as every other one */
	in.i_crtime = (__u32)(c->fs->now ? c->fs->now : time(NULL));
	ret = ext2fs_write_new_inode(c->fs, ino, (struct ext2_inode *)&in);
	/* that wrote the small inode only: now the nanoseconds too */
	ret = ret ?: ext2fs_write_inode_full(c->fs, ino,
					     (struct ext2_inode *)&in,
					     sizeof(in));
	if (ret)
		return ret;
	*inop = ino;
	return 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The extended attributes of path onto ino, in name order so the image
 * does not depend on the order the source lists them.  libext2fs turns
 * system.posix_acl_* from the kernel's xattr form into ext4's.
 */
static errcode_t copy_xattrs(struct ctx *c, ext2_ino_t ino, const char *path)
{
	struct ext2_xattr_handle *h = NULL;
	char *names = NULL, **v = NULL, *val = NULL, *n;
	ssize_t len, vlen;
	size_t nr = 0, i;
	errcode_t ret = 0;

	len = llistxattr(path, NULL, 0);
	if (len <= 0)
		return len < 0 && errno != ENOTSUP && errno != ENODATA ?
		       why_errno(c, errno, "listing extended attributes",
				 path) : 0;
	names = malloc((size_t)len);
	if (!names)
		return EXT2_ET_NO_MEMORY;
	len = llistxattr(path, names, (size_t)len);
	if (len < 0) {
		ret = why_errno(c, errno, "listing extended attributes",
				path);
		goto out;
	}
	for (n = names; n < names + len; n += strlen(n) + 1)
		nr++;
	v = malloc(nr * sizeof(*v));
	if (!v) {
		ret = EXT2_ET_NO_MEMORY;
		goto out;
	}
	for (i = 0, n = names; n < names + len; n += strlen(n) + 1)
		v[i++] = n;
	qsort(v, nr, sizeof(*v), str_cmp);
	ret = ext2fs_xattrs_open(c->fs, ino, &h);
	ret = ret ?: ext2fs_xattrs_read(h);
	for (i = 0; !ret && i < nr; i++) {
		vlen = lgetxattr(path, v[i], NULL, 0);
		if (vlen < 0) {
			ret = why_errno(c, errno, "reading extended attributes",
					path);
			break;
		}
		free(val);
		val = malloc(vlen ? (size_t)vlen : 1);
		if (!val) {
			ret = EXT2_ET_NO_MEMORY;
			break;
		}
		vlen = lgetxattr(path, v[i], val, (size_t)vlen);
		if (vlen < 0) {
			ret = why_errno(c, errno, "reading extended attributes",
					path);
			break;
		}
		ret = ext2fs_xattr_set(h, v[i], val, (size_t)vlen);
		if (ret) {
			snprintf(c->p->why, sizeof(c->p->why),
				 "%s: extended attribute %s", path, v[i]);
			break;
		}
	}
out:
	if (h)
		ext2fs_xattrs_close(&h);
	free(val);
	free(v);
	free(names);
	return ret;
}

/* ---------------------------------------------------------------- */
/* Directories                                                       */
/* ---------------------------------------------------------------- */

/* A name a directory held before the copy began */
struct old_ent {
	char *name;
	ext2_ino_t ino;
	int ft;
};

/*
 * Appends entries to one directory.  ext2fs_link() walks the whole
 * directory on every call, which makes a directory of n entries cost
 * n^2 / 2 entry visits (minutes for 60,000 names); this keeps the last
 * block in memory and fills it, so each entry costs the same.  An htree
 * or inline-data directory, or a filesystem without the filetype
 * feature, goes through ext2fs_link() instead: it knows those formats.
 */
struct dirw {
	ext2_ino_t ino;			/* 0: counting only, nothing written */
	bool defer;			/* existed before: names go to later */
	bool slow;			/* use ext2fs_link() */
	bool dirty;
	blk64_t lblk, pblk;		/* the block being filled */
	char *buf;
	unsigned int last;		/* offset of its last entry */
	unsigned int end;		/* end of entries (a csum tail after) */
	struct old_ent *old;		/* names there before, sorted */
	size_t nr_old, max_old;
};

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
	if (!de->inode || (len == 1 && de->name[0] == '.') ||
	    (len == 2 && de->name[0] == '.' && de->name[1] == '.'))
		return 0;
	if (w->nr_old == w->max_old) {
		size_t n = w->max_old ? w->max_old * 2 : 16;

		o = realloc(w->old, n * sizeof(*o));
		if (!o)
			return DIRENT_ABORT;
		w->old = o;
		w->max_old = n;
	}
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
static const struct old_ent *dirw_old(const struct dirw *w, const char *name)
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
static errcode_t dirw_open(struct ctx *c, struct dirw *w, ext2_ino_t ino,
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

static errcode_t dirw_close(struct ctx *c, struct dirw *w)
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

static errcode_t later_add(struct ctx *c, ext2_ino_t dir, const char *name,
			   ext2_ino_t ino, int ft, const struct stat *st)
{
	struct later *l;

	if (c->nr_later == c->max_later) {
		size_t n = c->max_later ? c->max_later * 2 : 64;

		l = realloc(c->later, n * sizeof(*l));
		if (!l)
			return EXT2_ET_NO_MEMORY;
		c->later = l;
		c->max_later = n;
	}
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
static errcode_t dirw_add(struct ctx *c, struct dirw *w, const char *name,
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
		return later_add(c, w->ino, name, ino, ft, NULL);
	if (w->slow)
		return link_in(c, w->ino, name, ino, ft);
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

/* ---------------------------------------------------------------- */
/* Regular files                                                     */
/* ---------------------------------------------------------------- */

/* Map [lblk, lblk + len) onto pblk..; the extent code merges neighbours */
static errcode_t map_run(ext2_extent_handle_t h, blk64_t lblk, blk64_t pblk,
			 blk64_t len)
{
	errcode_t ret;
	blk64_t i;

	for (i = 0; i < len; i++) {
		ret = ext2fs_extent_set_bmap(h, lblk + i, pblk + i, 0);
		if (ret)
			return ret;
	}
	return 0;
}

static errcode_t read_full(int fd, char *buf, size_t len, off_t off,
			   size_t *got)
{
	ssize_t n;

	*got = 0;
	while (*got < len) {
		n = pread(fd, buf + *got, len - *got, off + (off_t)*got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (!n)
			break;
		*got += (size_t)n;
	}
	return 0;
}

/*
 * The first block at or after lblk holding data (*next, past the end if
 * none), and how many of the *n blocks from there do before a hole.
 * Where SEEK_DATA is not supported everything is data.
 */
static errcode_t data_span(int fd, blk64_t lblk, unsigned int bs,
			   blk64_t *next, blk64_t *n)
{
	off_t data, hole;
	blk64_t end;

	*next = lblk;
	data = lseek(fd, (off_t)(lblk * bs), SEEK_DATA);
	if (data < 0)
		return errno == ENXIO ? (*next = ~0ULL, 0) :
		       errno == EINVAL ? 0 : errno;
	*next = (blk64_t)data / bs;
	hole = lseek(fd, data, SEEK_HOLE);
	if (hole < 0)
		return 0;
	end = ((blk64_t)hole + bs - 1) / bs;
	if (end - *next < *n)
		*n = end - *next;
	return 0;
}

static errcode_t copy_data(struct ctx *c, int fd, const struct stat *st,
			   ext2_ino_t ino, const char *path)
{
	unsigned int bs = c->fs->blocksize;
	blk64_t nblocks = ((__u64)st->st_size + bs - 1) / bs, lblk, i;
	blk64_t run_l = 0, run_p = 0, run_n = 0, mapped = 0;
	ext2_extent_handle_t h = NULL;
	struct ext2_inode_large in;
	bool shared = false;
	errcode_t ret = 0, ret2;
	size_t got, want;

	if (!c->full) {
		ret = ext2fs_extent_open(c->fs, ino, &h);
		if (ret)
			return ret;
	}
	for (lblk = 0; lblk < nblocks; lblk += want / bs) {
		blk64_t n = nblocks - lblk < CHUNK_BLOCKS ? nblocks - lblk :
			    CHUNK_BLOCKS, next;

		/* skip the source's holes rather than read their zeroes */
		ret = data_span(fd, lblk, bs, &next, &n);
		if (ret) {
			why(c, ret, "%s", path);
			goto out;
		}
		if (next >= nblocks)
			break;
		lblk = next;
		if (n > nblocks - lblk)
			n = nblocks - lblk;
		want = (size_t)(n * bs);
		ret = read_full(fd, c->buf, want, (off_t)(lblk * bs), &got);
		if (ret) {
			why(c, ret, "%s", path);
			goto out;
		}
		if (got < want &&
		    (__u64)(lblk * bs + got) < (__u64)st->st_size) {
			ret = why(c, EIO, "%s shrank while being copied",
				  path);
			goto out;
		}
		memset(c->buf + got, 0, want - got);
		for (i = 0; i < want / bs; i++) {
			const char *d = c->buf + i * bs;
			blk64_t pblk = 0;
			__u64 hash = 0;

			if (!c->p->keep_zero && all_zero(d, bs)) {
				c->p->zero_blocks++;
				continue;
			}
			c->p->data_blocks++;
			if (!c->p->no_dedup) {
				hash = rfl_block_hash(d, bs);
				ret = find_block(c, hash, d, &pblk);
				if (ret)
					goto out;
			}
			if (pblk) {
				c->p->deduped++;
				if (c->full)
					continue;
				shared = true;
				ret = rfl_bruns_add(&c->refs, pblk, 1, 0);
			} else if (c->full) {
				c->p->more_blocks++;
				/* any non-zero stand-in marks the hash seen */
				if (!c->p->no_dedup)
					ret = rfl_blkhash_insert(&c->tab,
								 hash, 1);
				if (ret)
					goto out;
				continue;
			} else {
				ret = new_block(c, &pblk);
				if (ret == EXT2_ET_BLOCK_ALLOC_FAIL) {
					c->full = true;
					c->p->more_blocks++;
					ret = 0;
					continue;
				}
				ret = ret ?: pend_add(c, pblk, d);
				ret = ret ?: rfl_bruns_add(&c->owners, pblk, 1,
							   ino);
				if (!ret && !c->p->no_dedup)
					ret = rfl_blkhash_insert(&c->tab, hash,
								 pblk);
				c->p->written++;
			}
			if (ret)
				goto out;
			if (c->full)
				continue;
			if (run_n && run_l + run_n == lblk + i &&
			    run_p + run_n == pblk && run_n < 32768) {
				run_n++;
				continue;
			}
			if (run_n) {
				ret = map_run(h, run_l, run_p, run_n);
				if (ret)
					goto out;
				mapped += run_n;
			}
			run_l = lblk + i;
			run_p = pblk;
			run_n = 1;
		}
	}
	if (c->full)
		goto out;
	if (run_n) {
		ret = map_run(h, run_l, run_p, run_n);
		if (ret)
			goto out;
		mapped += run_n;
	}
out:
	if (h)
		ext2fs_extent_free(h);
	if (ret || c->full)
		return ret;
	/* the extent code has counted its own tree blocks in i_blocks */
	ret2 = ext2fs_read_inode_full(c->fs, ino, (struct ext2_inode *)&in,
				      sizeof(in));
	if (ret2)
		return ret2;
	ret2 = ext2fs_iblk_add_blocks(c->fs, (struct ext2_inode *)&in,
				      mapped);
	if (ret2)
		return ret2;
	ret2 = ext2fs_inode_size_set(c->fs, (struct ext2_inode *)&in,
				     (ext2_off64_t)st->st_size);
	if (ret2)
		return ret2;
	if (shared)
		in.i_flags |= EXT4_REFLINK_FL;
	set_meta(c, &in, st);
	return ext2fs_write_inode_full(c->fs, ino, (struct ext2_inode *)&in,
				       sizeof(in));
}

/* ---------------------------------------------------------------- */
/* The walk                                                          */
/* ---------------------------------------------------------------- */

/* Slot of a source inode in the link table: its own, or the empty one */
static size_t link_slot(const struct ctx *c, dev_t dev, ino_t sino)
{
	__u64 h = ((__u64)sino ^ ((__u64)dev << 32)) * 0x9e3779b97f4a7c15ULL;
	size_t mask = c->max_links - 1, j;

	for (j = (size_t)(h >> 20) & mask; c->links[j].ino;
	     j = (j + 1) & mask)
		if (c->links[j].dev == dev && c->links[j].sino == sino)
			break;
	return j;
}

/* The inode a source file with several links was copied to, or 0 */
static ext2_ino_t find_link(const struct ctx *c, const struct stat *st)
{
	if (!c->max_links)
		return 0;
	return c->links[link_slot(c, st->st_dev, st->st_ino)].ino;
}

static errcode_t add_link(struct ctx *c, const struct stat *st,
			  ext2_ino_t ino)
{
	struct link_ent *old = c->links;
	size_t n = c->max_links, i;

	/* a hash table at most half full: trees with many hard links */
	if ((c->nr_links + 1) * 2 > c->max_links) {
		c->max_links = n ? n * 2 : 64;
		c->links = calloc(c->max_links, sizeof(*c->links));
		if (!c->links) {
			c->links = old;
			c->max_links = n;
			return EXT2_ET_NO_MEMORY;
		}
		for (i = 0; i < n; i++)
			if (old[i].ino)
				c->links[link_slot(c, old[i].dev,
						   old[i].sino)] = old[i];
		free(old);
	}
	i = link_slot(c, st->st_dev, st->st_ino);
	c->links[i].dev = st->st_dev;
	c->links[i].sino = st->st_ino;
	c->links[i].ino = ino;
	c->nr_links++;
	return 0;
}

/* One more name for an inode already copied */
static errcode_t hard_link(struct ctx *c, struct dirw *w, const char *name,
			   ext2_ino_t ino, const struct stat *st)
{
	struct ext2_inode_large in;
	errcode_t ret;

	ret = dirw_add(c, w, name, ino, dir_file_type(st->st_mode));
	if (ret)
		return ret;
	ret = ext2fs_read_inode_full(c->fs, ino, (struct ext2_inode *)&in,
				     sizeof(in));
	if (ret)
		return ret;
	in.i_links_count++;
	c->p->hardlinks++;
	return ext2fs_write_inode_full(c->fs, ino, (struct ext2_inode *)&in,
				       sizeof(in));
}

static errcode_t copy_file(struct ctx *c, struct dirw *w, const char *name,
			   const char *path, const struct stat *st,
			   ext2_ino_t *inop)
{
	ext2_ino_t ino = 0;
	errcode_t ret;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return why(c, errno, "%s", path);
	if (!c->full) {
		ret = new_inode(c, w->ino, st, EXT4_EXTENTS_FL, &ino);
		ret = ret ?: dirw_add(c, w, name, ino, EXT2_FT_REG_FILE);
		if (ret) {
			close(fd);
			return ret;
		}
	}
	ret = copy_data(c, fd, st, ino, path);
	if (!ret) {
		struct stat now;

		/* a copy of a file being written would be neither version */
		if (fstat(fd, &now))
			ret = why(c, errno, "%s", path);
		else if (now.st_size != st->st_size ||
			 now.st_mtim.tv_sec != st->st_mtim.tv_sec ||
			 now.st_mtim.tv_nsec != st->st_mtim.tv_nsec)
			ret = why(c, EAGAIN, "%s changed while it was being "
				  "copied", path);
	}
	close(fd);
	if (!ret && !c->full)
		ret = copy_xattrs(c, ino, path);
	c->p->files++;
	c->p->bytes_done += (__u64)st->st_size;
	progress(c);
	*inop = ino;
	return ret;
}

static errcode_t copy_symlink(struct ctx *c, struct dirw *w,
			      const char *name, const char *path,
			      const struct stat *st, ext2_ino_t *inop)
{
	char target[PATH_MAX + 1];
	ext2_ino_t ino;
	errcode_t ret;
	ssize_t n;

	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return why(c, errno, "%s", path);
	target[n] = 0;
	ret = alloc_inode(c, w->ino, LINUX_S_IFLNK, &ino);
	ret = ret ?: ext2fs_symlink(c->fs, w->ino, ino, NULL, target);
	ret = ret ?: dirw_add(c, w, name, ino, EXT2_FT_SYMLINK);
	if (ret)
		return ret;
	c->p->symlinks++;
	*inop = ino;
	ret = update_meta(c, ino, st, 0);
	return ret ?: copy_xattrs(c, ino, path);
}

static errcode_t copy_special(struct ctx *c, struct dirw *w,
			      const char *name, const char *path,
			      const struct stat *st, ext2_ino_t *inop)
{
	struct ext2_inode_large in;
	unsigned int maj = major(st->st_rdev), min = minor(st->st_rdev);
	ext2_ino_t ino;
	errcode_t ret;

	ret = new_inode(c, w->ino, st, 0, &ino);
	ret = ret ?: dirw_add(c, w, name, ino, dir_file_type(st->st_mode));
	ret = ret ?: ext2fs_read_inode_full(c->fs, ino,
					    (struct ext2_inode *)&in,
					    sizeof(in));
	if (ret)
		return ret;
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		/* the old 16-bit encoding when it fits, as the kernel does */
		if (maj < 256 && min < 256)
			in.i_block[0] = maj * 256 + min;
		else
			in.i_block[1] = (min & 0xff) | (maj << 8) |
					((min & ~0xffU) << 12);
	}
	c->p->specials++;
	*inop = ino;
	ret = ext2fs_write_inode_full(c->fs, ino, (struct ext2_inode *)&in,
				      sizeof(in));
	return ret ?: copy_xattrs(c, ino, path);
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") && strcmp(d->d_name, "..");
}

static errcode_t copy_dir(struct ctx *c, ext2_ino_t dir, bool fresh,
			  const char *path, int depth);

/*
 * ext2fs_mkdir() counts the new ".." in the parent's links at once; a
 * parent that existed before the copy gets that count with its name,
 * after the copy (put_later), so undo it here.
 */
static errcode_t make_dir(struct ctx *c, struct dirw *w, ext2_ino_t *inop)
{
	struct ext2_inode parent;
	errcode_t ret;

	if (w->defer) {
		ret = ext2fs_read_inode(c->fs, w->ino, &parent);
		if (ret)
			return ret;
	}
	ret = alloc_inode(c, w->ino, LINUX_S_IFDIR, inop);
	/* no name: ext2fs_mkdir() would look it up and link it */
	ret = ret ?: ext2fs_mkdir(c->fs, w->ino, *inop, NULL);
	if (!ret && w->defer)
		ret = ext2fs_write_inode(c->fs, w->ino, &parent);
	return ret;
}

/* A directory: a new one, or one of the same name already there */
static errcode_t copy_subdir(struct ctx *c, struct dirw *w, const char *name,
			     const char *path, const struct stat *st,
			     const struct old_ent *old, int depth)
{
	ext2_ino_t ino;
	errcode_t ret;

	if (c->full)
		return copy_dir(c, 0, true, path, depth + 1);
	if (old) {
		ino = old->ino;
	} else {
		ret = make_dir(c, w, &ino);
		ret = ret ?: dirw_add(c, w, name, ino, EXT2_FT_DIR);
		if (ret)
			return ret;
	}
	c->p->dirs++;
	ret = copy_dir(c, ino, !old, path, depth + 1);
	if (ret)
		return ret;
	if (old)
		return c->p->keep_meta ? 0 : later_add(c, 0, path, ino, 0, st);
	/* after the entries: linking into it changed nothing we set */
	ret = update_meta(c, ino, st, 0);
	return ret ?: copy_xattrs(c, ino, path);
}

static errcode_t copy_entry(struct ctx *c, struct dirw *w, const char *name,
			    const char *path, int depth)
{
	const struct old_ent *old;
	ext2_ino_t ino = 0;
	struct stat st;
	errcode_t ret;

	if (strlen(name) > EXT2_NAME_LEN)
		return why(c, ENAMETOOLONG, "%s: name longer than 255 bytes",
			   path);
	if (lstat(path, &st))
		return why(c, errno, "%s", path);
	old = dirw_old(w, name);
	if (old && (!S_ISDIR(st.st_mode) || old->ft != EXT2_FT_DIR))
		return why(c, EXT2_ET_FILE_EXISTS, "%s: the image already "
			   "has that name", path);
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		ino = find_link(c, &st);
		if (ino) {
			c->p->bytes_done += (__u64)st.st_size;
			return c->full ? 0 : hard_link(c, w, name, ino, &st);
		}
	}
	if (S_ISDIR(st.st_mode))
		return copy_subdir(c, w, name, path, &st, old, depth);
	if (S_ISREG(st.st_mode))
		ret = copy_file(c, w, name, path, &st, &ino);
	else if (c->full)
		return 0;
	else if (S_ISLNK(st.st_mode))
		ret = copy_symlink(c, w, name, path, &st, &ino);
	else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ||
		 S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
		ret = copy_special(c, w, name, path, &st, &ino);
	else
		return why(c, EXT2_ET_UNIMPLEMENTED, "%s: unknown file type",
			   path);
	if (ret || c->full || st.st_nlink < 2)
		return ret;
	return add_link(c, &st, ino);
}

/*
 * Copy the entries of path into directory dir (0: past the end of
 * space, only count).  fresh: mkreflink just made dir, so it holds no
 * name the source could collide with.
 */
static errcode_t copy_dir(struct ctx *c, ext2_ino_t dir, bool fresh,
			  const char *path, int depth)
{
	struct dirent **ents = NULL;
	struct dirw w;
	char *child = NULL;
	errcode_t ret = 0, ret2;
	int n, i;

	if (depth > 4096)
		return why(c, ELOOP, "%s: tree too deep", path);
	n = scandir(path, &ents, not_dots, name_cmp);
	if (n < 0)
		return why(c, errno, "%s", path);
	ret = dirw_open(c, &w, c->full ? 0 : dir, fresh);
	for (i = 0; i < n; i++) {
		if (!ret) {
			if (asprintf(&child, "%s/%s", path,
				     ents[i]->d_name) < 0) {
				ret = EXT2_ET_NO_MEMORY;
			} else {
				ret = copy_entry(c, &w, ents[i]->d_name,
						 child, depth);
				if (ret && !c->p->why[0])
					why(c, ret, "%s", child);
				free(child);
			}
		}
		free(ents[i]);
	}
	free(ents);
	ret2 = dirw_close(c, &w);
	return ret ?: ret2;
}

/* ---------------------------------------------------------------- */
/* Reflink flags                                                     */
/* ---------------------------------------------------------------- */

static int ino_cmp(const void *a, const void *b)
{
	ext2_ino_t x = *(const ext2_ino_t *)a, y = *(const ext2_ino_t *)b;

	return x < y ? -1 : x > y;
}

/* Every owner of a block someone else maps gets EXT4_REFLINK_FL too */
static errcode_t flag_owners(struct ctx *c)
{
	struct ext2_inode_large in;
	size_t i, n = 0, max = 0, lo, hi, mid;
	ext2_ino_t *inos = NULL, last = 0;
	errcode_t ret = 0;

	if (!c->refs.nr)
		return 0;
	qsort(c->owners.v, c->owners.nr, sizeof(*c->owners.v), rfl_brun_cmp);
	for (i = 0; i < c->refs.nr; i++) {
		blk64_t b = c->refs.v[i].start;
		blk64_t end = b + c->refs.v[i].len;

		/* the last owner run starting at or before b, and on */
		lo = 0;
		hi = c->owners.nr;
		while (hi - lo > 1) {
			mid = (lo + hi) / 2;
			if (c->owners.v[mid].start <= b)
				lo = mid;
			else
				hi = mid;
		}
		for (; lo < c->owners.nr && c->owners.v[lo].start < end; lo++) {
			if (c->owners.v[lo].start + c->owners.v[lo].len <= b)
				continue;
			if (n && inos[n - 1] == c->owners.v[lo].ino)
				continue;
			if (n == max) {
				void *v;

				max = max ? max * 2 : 256;
				v = realloc(inos, max * sizeof(*inos));
				if (!v) {
					free(inos);
					return EXT2_ET_NO_MEMORY;
				}
				inos = v;
			}
			inos[n++] = c->owners.v[lo].ino;
		}
	}
	qsort(inos, n, sizeof(*inos), ino_cmp);
	for (i = 0; !ret && i < n; i++) {
		if (inos[i] == last)
			continue;
		last = inos[i];
		ret = ext2fs_read_inode_full(c->fs, last,
					     (struct ext2_inode *)&in,
					     sizeof(in));
		if (ret)
			break;
		in.i_flags |= EXT4_REFLINK_FL;
		ret = ext2fs_write_inode_full(c->fs, last,
					      (struct ext2_inode *)&in,
					      sizeof(in));
	}
	free(inos);
	return ret;
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
static errcode_t put_later(struct ctx *c)
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
			ret = update_meta(c, c->later[i].ino,
					  &c->later[i].st, 0);
			ret = ret ?: copy_xattrs(c, c->later[i].ino,
						 c->later[i].name);
			j = i + 1;
			continue;
		}
		ret = dirw_open(c, &w, dir, true);
		for (j = i; j < c->nr_later && c->later[j].dir == dir; j++) {
			if (ret)
				continue;
			ret = dirw_add(c, &w, c->later[j].name,
				       c->later[j].ino, c->later[j].ft);
			subdirs += c->later[j].ft == EXT2_FT_DIR;
		}
		ret = dirw_close(c, &w) ?: ret;
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

errcode_t rfl_populate(struct rfl_fs *rfs, struct rfl_populate *p)
{
	struct ctx c = { .rfs = rfs, .fs = rfs->fs, .p = p };
	ext2_ino_t root = p->root ? p->root : EXT2_ROOT_INO;
	unsigned int bs = rfs->fs->blocksize;
	struct stat st;
	errcode_t ret;
	size_t i;

	p->why[0] = 0;
	if (stat(p->src, &st))
		return why(&c, errno, "%s", p->src);
	if (!S_ISDIR(st.st_mode))
		return why(&c, ENOTDIR, "%s", p->src);
	c.buf = malloc((size_t)CHUNK_BLOCKS * bs);
	c.pend = malloc((size_t)CHUNK_BLOCKS * bs);
	c.cmp = malloc(bs);
	if (!c.buf || !c.pend || !c.cmp) {
		ret = EXT2_ET_NO_MEMORY;
		goto out;
	}
	ret = ext2fs_read_bitmaps(c.fs);
	if (ret)
		goto out;
	p->bytes_done = 0;
	if (p->progress) {
		size_tree(&c);
		progress(&c);
	}
	ret = copy_dir(&c, root, false, p->src, 0);
	ret = ret ?: pend_flush(&c);
	if (!ret && c.full) {
		ret = RFL_ET_NO_SPACE;
		goto out;
	}
	ret = ret ?: flag_owners(&c);
	ret = ret ?: rfl_refs_load(rfs, &c.refs, &p->records);
	ret = ret ?: put_later(&c);
	if (!ret && !p->keep_meta) {
		ret = update_meta(&c, root, &st, 0);
		ret = ret ?: copy_xattrs(&c, root, p->src);
	}
	if (!ret && p->progress) {
		/* the end, whatever changed in the tree since it was sized */
		p->bytes_total = p->bytes_done;
		progress(&c);
	}
out:
	if (ret)
		wipe_inodes(&c);
	free(c.inos);
	for (i = 0; i < c.nr_later; i++)
		free(c.later[i].name);
	free(c.later);
	rfl_blkhash_free(&c.tab);
	rfl_bruns_free(&c.owners);
	rfl_bruns_free(&c.refs);
	free(c.links);
	free(c.buf);
	free(c.pend);
	free(c.cmp);
	return ret;
}

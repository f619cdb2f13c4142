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

#include "populate/pop_int.h"

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

	ret = pop_dirw_add(c, w, name, ino, pop_dir_file_type(st->st_mode));
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
		return pop_why(c, errno, "%s", path);
	if (!c->full) {
		ret = pop_new_inode(c, w->ino, st, EXT4_EXTENTS_FL, &ino);
		ret = ret ?: pop_dirw_add(c, w, name, ino, EXT2_FT_REG_FILE);
		if (ret) {
			close(fd);
			return ret;
		}
	}
	ret = pop_copy_data(c, fd, st, ino, path);
	if (!ret) {
		struct stat now;

		/* a copy of a file being written would be neither version */
		if (fstat(fd, &now))
			ret = pop_why(c, errno, "%s", path);
		else if (now.st_size != st->st_size ||
			 now.st_mtim.tv_sec != st->st_mtim.tv_sec ||
			 now.st_mtim.tv_nsec != st->st_mtim.tv_nsec)
			ret = pop_why(c, EAGAIN,
				      "%s changed while it was being copied",
				      path);
	}
	close(fd);
	if (!ret && !c->full)
		ret = pop_copy_xattrs(c, ino, path);
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
		return pop_why(c, errno, "%s", path);
	target[n] = 0;
	ret = pop_alloc_inode(c, w->ino, LINUX_S_IFLNK, &ino);
	ret = ret ?: ext2fs_symlink(c->fs, w->ino, ino, NULL, target);
	ret = ret ?: pop_dirw_add(c, w, name, ino, EXT2_FT_SYMLINK);
	if (ret)
		return ret;
	c->p->symlinks++;
	*inop = ino;
	ret = pop_update_meta(c, ino, st, 0);
	return ret ?: pop_copy_xattrs(c, ino, path);
}

static errcode_t copy_special(struct ctx *c, struct dirw *w,
			      const char *name, const char *path,
			      const struct stat *st, ext2_ino_t *inop)
{
	struct ext2_inode_large in;
	unsigned int maj = major(st->st_rdev), min = minor(st->st_rdev);
	ext2_ino_t ino;
	errcode_t ret;

	ret = pop_new_inode(c, w->ino, st, 0, &ino);
	ret = ret ?: pop_dirw_add(c, w, name, ino,
				  pop_dir_file_type(st->st_mode));
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
	return ret ?: pop_copy_xattrs(c, ino, path);
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
	ret = pop_alloc_inode(c, w->ino, LINUX_S_IFDIR, inop);
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
		ret = ret ?: pop_dirw_add(c, w, name, ino, EXT2_FT_DIR);
		if (ret)
			return ret;
	}
	c->p->dirs++;
	ret = copy_dir(c, ino, !old, path, depth + 1);
	if (ret)
		return ret;
	if (old)
		return c->p->keep_meta ? 0 :
		       pop_later_add(c, 0, path, ino, 0, st);
	/* after the entries: linking into it changed nothing we set */
	ret = pop_update_meta(c, ino, st, 0);
	return ret ?: pop_copy_xattrs(c, ino, path);
}

static errcode_t copy_entry(struct ctx *c, struct dirw *w, const char *name,
			    const char *path, int depth)
{
	const struct old_ent *old;
	ext2_ino_t ino = 0;
	struct stat st;
	errcode_t ret;

	if (strlen(name) > EXT2_NAME_LEN)
		return pop_why(c, ENAMETOOLONG,
			       "%s: name longer than 255 bytes", path);
	if (lstat(path, &st))
		return pop_why(c, errno, "%s", path);
	old = pop_dirw_old(w, name);
	if (old && (!S_ISDIR(st.st_mode) || old->ft != EXT2_FT_DIR))
		return pop_why(c, EXT2_ET_FILE_EXISTS, "%s: the image already "
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
		return pop_why(c, EXT2_ET_UNIMPLEMENTED,
			       "%s: unknown file type", path);
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
		return pop_why(c, ELOOP, "%s: tree too deep", path);
	n = scandir(path, &ents, not_dots, name_cmp);
	if (n < 0)
		return pop_why(c, errno, "%s", path);
	ret = pop_dirw_open(c, &w, c->full ? 0 : dir, fresh);
	for (i = 0; i < n; i++) {
		if (!ret) {
			if (asprintf(&child, "%s/%s", path,
				     ents[i]->d_name) < 0) {
				ret = EXT2_ET_NO_MEMORY;
			} else {
				ret = copy_entry(c, &w, ents[i]->d_name,
						 child, depth);
				if (ret && !c->p->why[0])
					pop_why(c, ret, "%s", child);
				free(child);
			}
		}
		free(ents[i]);
	}
	free(ents);
	ret2 = pop_dirw_close(c, &w);
	return ret ?: ret2;
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
		return pop_why(&c, errno, "%s", p->src);
	if (!S_ISDIR(st.st_mode))
		return pop_why(&c, ENOTDIR, "%s", p->src);
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
	ret = ret ?: pop_pend_flush(&c);
	if (!ret && c.full) {
		ret = RFL_ET_NO_SPACE;
		goto out;
	}
	ret = ret ?: pop_flag_owners(&c);
	ret = ret ?: rfl_refs_load(rfs, &c.refs, &p->records);
	ret = ret ?: pop_put_later(&c);
	if (!ret && !p->keep_meta) {
		ret = pop_update_meta(&c, root, &st, 0);
		ret = ret ?: pop_copy_xattrs(&c, root, p->src);
	}
	if (!ret && p->progress) {
		/* the end, whatever changed in the tree since it was sized */
		p->bytes_total = p->bytes_done;
		progress(&c);
	}
out:
	if (ret)
		pop_wipe_inodes(&c);
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

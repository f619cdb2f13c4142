// SPDX-License-Identifier: GPL-2.0
/*
 * pop_inode.c - inodes for mkreflink -d: allocation, metadata and
 * extended attributes from the source, and the error wording.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

#include "populate/pop_int.h"

#include <ext2fs/ext3_extents.h>

errcode_t pop_why(struct ctx *c, errcode_t ret, const char *fmt,
		  const char *path)
{
	snprintf(c->p->why, sizeof(c->p->why), fmt, path);
	/* "%s" alone names a path for the error code; more is a sentence */
	c->p->why_full = strcmp(fmt, "%s") != 0;
	return ret;
}

/* "path: what: reason", for a system call that failed on path */
errcode_t pop_why_errno(struct ctx *c, int err, const char *what,
			const char *path)
{
	snprintf(c->p->why, sizeof(c->p->why), "%s: %s: %s", path, what,
		 strerror(err));
	c->p->why_full = true;
	return err;
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
void pop_set_meta(const struct ctx *c, struct ext2_inode_large *in,
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

errcode_t pop_update_meta(struct ctx *c, ext2_ino_t ino,
			  const struct stat *st, __u32 add_flags)
{
	struct ext2_inode_large in;
	errcode_t ret;

	ret = ext2fs_read_inode_full(c->fs, ino, (struct ext2_inode *)&in,
				     sizeof(in));
	if (ret)
		return ret;
	pop_set_meta(c, &in, st);
	in.i_flags |= add_flags;
	return ext2fs_write_inode_full(c->fs, ino, (struct ext2_inode *)&in,
				       sizeof(in));
}

/* The directory entry's file type for a mode */
int pop_dir_file_type(mode_t mode)
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

/* A free inode near dir, remembered in case the copy fails */
errcode_t pop_alloc_inode(struct ctx *c, ext2_ino_t dir, int mode,
			  ext2_ino_t *ino)
{
	errcode_t ret;

	if (rfl_vec_grow((void **)&c->inos, &c->max_inos, c->nr_inos,
			 sizeof(*c->inos)))
		return EXT2_ET_NO_MEMORY;
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
void pop_wipe_inodes(struct ctx *c)
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
errcode_t pop_new_inode(struct ctx *c, ext2_ino_t dir,
			const struct stat *st, __u32 flags,
			ext2_ino_t *inop)
{
	struct ext2_inode_large in;
	ext2_ino_t ino;
	errcode_t ret;

	ret = pop_alloc_inode(c, dir, (int)(st->st_mode & S_IFMT), &ino);
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
	pop_set_meta(c, &in, st);
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
errcode_t pop_copy_xattrs(struct ctx *c, ext2_ino_t ino, const char *path)
{
	struct ext2_xattr_handle *h = NULL;
	char *names = NULL, **v = NULL, *val = NULL, *n;
	ssize_t len, vlen;
	size_t nr = 0, i;
	errcode_t ret = 0;

	len = llistxattr(path, NULL, 0);
	if (len <= 0)
		return len < 0 && errno != ENOTSUP && errno != ENODATA ?
		       pop_why_errno(c, errno, "listing extended attributes",
				     path) : 0;
	names = malloc((size_t)len);
	if (!names)
		return EXT2_ET_NO_MEMORY;
	len = llistxattr(path, names, (size_t)len);
	if (len < 0) {
		ret = pop_why_errno(c, errno, "listing extended attributes",
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
			ret = pop_why_errno(c, errno,
					"reading extended attributes", path);
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
			ret = pop_why_errno(c, errno,
					"reading extended attributes", path);
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

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pop_int.h - what the parts of rfl_populate share: the copy's state and
 * the calls one part makes into another.  Not for use outside
 * lib/populate.
 */
#ifndef RFL_POP_INT_H
#define RFL_POP_INT_H

#include <stdbool.h>
#include <sys/stat.h>

#include "populate/rfl_populate.h"
#include "dedup/blkhash.h"
#include "dedup/refload.h"
#include "util/vec.h"

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

/* pop_inode.c: errors, inodes and their metadata */
errcode_t pop_why(struct ctx *c, errcode_t ret, const char *fmt,
		  const char *path);
errcode_t pop_why_errno(struct ctx *c, int err, const char *what,
			const char *path);
void pop_set_meta(const struct ctx *c, struct ext2_inode_large *in,
		  const struct stat *st);
errcode_t pop_update_meta(struct ctx *c, ext2_ino_t ino,
			  const struct stat *st, __u32 add_flags);
int pop_dir_file_type(mode_t mode);
errcode_t pop_alloc_inode(struct ctx *c, ext2_ino_t dir, int mode,
			  ext2_ino_t *ino);
void pop_wipe_inodes(struct ctx *c);
errcode_t pop_new_inode(struct ctx *c, ext2_ino_t dir,
			const struct stat *st, __u32 flags,
			ext2_ino_t *inop);
errcode_t pop_copy_xattrs(struct ctx *c, ext2_ino_t ino, const char *path);

/* pop_dir.c: the directory writer and the deferred changes */
const struct old_ent *pop_dirw_old(const struct dirw *w, const char *name);
errcode_t pop_dirw_open(struct ctx *c, struct dirw *w, ext2_ino_t ino,
			bool fresh);
errcode_t pop_dirw_close(struct ctx *c, struct dirw *w);
errcode_t pop_dirw_add(struct ctx *c, struct dirw *w, const char *name,
		       ext2_ino_t ino, int ft);
errcode_t pop_later_add(struct ctx *c, ext2_ino_t dir, const char *name,
			ext2_ino_t ino, int ft, const struct stat *st);
errcode_t pop_put_later(struct ctx *c);

/* pop_file.c: a regular file's data */
errcode_t pop_pend_flush(struct ctx *c);
errcode_t pop_copy_data(struct ctx *c, int fd, const struct stat *st,
			ext2_ino_t ino, const char *path);

/* pop_refs.c: reflink flags for the owners of shared blocks */
errcode_t pop_flag_owners(struct ctx *c);

#endif

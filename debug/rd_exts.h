/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rd_exts.h - every leaf extent of every file in use, gathered by one
 * inode scan, with a path for each inode (rd_files.c): what owners,
 * shared, icheck and ncheck look things up in.
 */
#ifndef RD_EXTS_H
#define RD_EXTS_H

#include "refdebug.h"

struct rd_ext {
	ext2_ino_t ino;
	ull lblk;
	ull pblk;
	ull len;
};

struct ext_list {
	struct rd_ext *v;
	size_t nr, max;
	char **paths;			/* first path of every inode */
	ext2_ino_t nr_inodes;
};

errcode_t rd_gather_exts(struct ext_list *l);
void rd_free_exts(struct ext_list *l);
/* The first path found for ino, or "(no name)" */
const char *rd_name_of(const struct ext_list *l, ext2_ino_t ino);

void do_cp(RD_ARGS);
void do_pwrite(RD_ARGS);
void do_dump_refcounts(RD_ARGS);
void do_dump_file(RD_ARGS);

#endif /* RD_EXTS_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * refdebug.h - state and helpers shared by the files of refdebug, the
 * interactive debug shell for reflink images.
 *
 * Every command is a libss request handler.  Handlers report bad input
 * with one line "CMD: message" on stderr through rd_err(), which also
 * marks the run as failed so that -R and -f exit 1.
 */
#ifndef REFDEBUG_H
#define REFDEBUG_H

#include <stdbool.h>
#include <stdio.h>

#include "reflink/rfl_share.h"

typedef unsigned long long ull;

struct rd_state {
	struct rfl_fs *rfs;		/* NULL when no image is open */
	char *image;
	bool rw;			/* -w: writing commands allowed */
	bool catastrophic;		/* -c: damaged trees do not stop open */
	bool failed;			/* some command failed */
	bool json;			/* --format json / format json */
};

extern struct rd_state rd;

#define RD_ARGS	int argc, const char *const *argv, int sci_idx, void *infop

/* One line "CMD: message" on stderr; marks the run failed */
void rd_err(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same with error_message(ret) appended after "what: " */
void rd_com_err(const char *cmd, errcode_t ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Command prologues: false (after a message) if the command cannot run */
bool rd_check_args(int argc, const char *const *argv, int min, int max,
		   const char *usage);
bool rd_need_open(const char *cmd);
bool rd_need_rw(const char *cmd);

/* Parse an unsigned number (decimal, 0x hex, 0 octal) no larger than max */
bool rd_parse_u64(const char *cmd, const char *s, const char *what, ull max,
		  ull *out);

/* Open and close the image (also the open/close commands) */
errcode_t rd_open(const char *image, bool rw, bool catastrophic,
		  const char *undo);
void rd_close(void);

/*
 * Raw block access past every cache.  After a raw write the library's
 * cached group state is dropped (rd_invalidate) so the next command sees
 * the block as written.
 */
errcode_t rd_read_block(ull blk, void *buf);
errcode_t rd_write_block(ull blk, const void *buf);
void rd_invalidate(void);

ext2_filsys rd_fs(void);
unsigned int rd_block_size(void);
ull rd_blocks_count(void);
u32 rd_nr_flex(void);
u32 rd_flex_of(ull blk);
ull rd_flex_first(u32 fg);
ull rd_flex_len(u32 fg);
/* Absolute metadata block of fg from bg_reserved, 0 if none */
ull rd_meta_block(u32 fg);
/* bg_reserved value as stored */
u32 rd_bg_reserved(u32 fg);
/* A tree for decoding and checksumming nodes of fg (no host) */
void rd_check_tree(u32 fg, struct ext4_btree *tree);
/* Entry capacity of a refcount node (leaf and interior are equal) */
unsigned int rd_node_capacity(void);

/* Nodes: layout of entry i */
unsigned int rd_key_off(unsigned int i);
unsigned int rd_val_off(unsigned int i);

/* Look up a path inside the image; 0 on failure (message printed) */
ext2_ino_t rd_lookup(const char *cmd, const char *path);
/*
 * The directory of a new name path (its inode) and the name in it
 * (*name, inside path); 0 on failure, a message printed about arg (the
 * argument as typed) that calls the name a noun ("file", "directory").
 */
ext2_ino_t rd_parent_of(const char *cmd, const char *arg, char *path,
			const char *noun, const char **name);

#endif /* REFDEBUG_H */

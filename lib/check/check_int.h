/* SPDX-License-Identifier: GPL-2.0 */
/*
 * check_int.h - the checker's state, shared by its passes (check.c,
 * pass_tree.c, pass_bitmap.c, pass_xlink.c).
 */
#ifndef RFL_CHECK_INT_H
#define RFL_CHECK_INT_H

#include "check/blkset.h"
#include "check/check.h"
#include "check/recount.h"
#include "reflink/rfl.h"

struct blk_list {
	blk64_t *v;
	size_t nr, max;
};

struct rfl_run_ref {
	ext2_ino_t ino;
	size_t idx;			/* into scan.runs */
};

struct checker {
	const struct rfl_check_opts *o;
	struct rfl_check_ctx ctx;
	struct rfl_fs *rfs;
	ext2_filsys fs;
	struct rfl_scan scan;
	blk64_t *max_end;		/* max run end over runs[0..i] */
	blk64_t *owned_max_end;		/* the same over scan.owned */
	struct rfl_run_ref *runs_by_ino;	/* scan.runs by inode */
	struct rfl_rec *exp;
	size_t nr_exp;
	unsigned long long records, tree_blocks;
	bool changed;			/* something was written */
	bool stock_written;		/* the round trip wrote the image:
					 * the in-memory fs is stale */
	struct rfl_stock *stock;	/* pass 6 under way (pass_stock.c) */
	/* pass 6's e2fsck ended in an operational error (its exit 8, or
	 * not run), left unrepaired: the run's exit code has 8 too */
	bool stock_abort;

	/* the first operational error, and what we were doing */
	errcode_t err;
	const char *err_what;

	/* every tree node and metadata block reached (pass 4) */
	struct blk_list tree_blks;
	/* every flex group's reserve: start, len pairs (pass 4) */
	struct blk_list resv;
	/* shared ranges a clean tree had no record of: start, len pairs */
	struct blk_list xlink_ranges;
	/* file data under fs metadata: nothing may be written (pass 6 too) */
	bool meta_overlap;
	/* flex groups whose metadata pointer the floor cleared (pass 0) */
	struct blk_list lost_meta;
	/*
	 * flex groups whose tree was left damaged (1) or written by a newer
	 * version (2): leaks not judged
	 */
	unsigned char *unsure;

	/*
	 * RFL_CHECK_RECHECK=1 (the tests): the old tree blocks a rebuild
	 * took over, which no later pass may find leaked
	 */
	bool recheck;
	/* the floor replayed the journal: the check starts again */
	bool journal_replayed;
	/* ... or asked about the data of a journal without the flag, which
	 * pass 6's e2fsck -fn would ask about again */
	bool journal_data;
	bool recheck_failed;
	/*
	 * The first block the device failed to read up to the end of the
	 * scan, whoever read it: libext2fs itself goes on past some (the
	 * bad blocks inode read when an inode scan opens), and a repair
	 * from what was not read could free what is in use.  Exit 8,
	 * nothing written.
	 */
	errcode_t read_err;
	blk64_t read_err_blk;
	bool read_err_told;
	/* the quiet read-only run after a repair (rfl_ck_rerun), once */
	bool after_run;
	int after_code;
	struct rfl_check_summary after;
	char *after_text;
	struct blk_list released;

	/* the flex group being checked */
	struct rfl_group *grp;
	struct rfl_blkset seen;		/* the group's nodes reached */
	struct rfl_rec *found;
	size_t nr_found, max_found;
	struct blk_list damaged;	/* nodes that failed a check */
	unsigned long long grp_nodes;	/* nodes that passed their checks */
	bool rebuild;			/* a fix was accepted */
	bool bad;			/* a problem was found */
	bool tree_clean;		/* passes 1-2 found nothing here */
	unsigned int node_problems;	/* of single nodes, this group */
	/*
	 * pass 3's differences, with inodes that could not be read: one
	 * problem a tree (as e2fsck reports an inode once), how many and
	 * the first, as it would have been reported
	 */
	unsigned long long unsure_diffs;
	enum rfl_problem unsure_code;
	struct rfl_pctx unsure_first;
	char desc[160];			/* a problem's words, built */

	/* progress (-C) */
	int last_pass;
	unsigned int last_permille;
};

/*
 * Call fn (if not NULL) for every run of a file overlapping [start,
 * start + len); true if every such run's inode has EXT4_REFLINK_FL.
 */
bool rfl_ck_for_runs(const struct checker *c, blk64_t start, blk64_t len,
		     void (*fn)(void *priv, const struct rfl_run *r),
		     void *priv);

/*
 * Does a file's data lie on fs metadata, or a group's bitmap or inode
 * table on a block an inode holds outside its extents (an extent index,
 * xattr or block map block)?  Those are not compared with all of the fs
 * metadata: the resize inode legitimately holds the reserved GDT blocks.
 * Called with fn, each such group's bitmap or table is passed to it.
 */
bool rfl_ck_meta_overlap(const struct checker *c);
void rfl_ck_read_only(struct checker *c);
int rfl_ck_rerun(const struct rfl_check_opts *o, bool whole,
		 struct rfl_check_summary *sum, char **text);
errcode_t rfl_ck_copy_changed(struct checker *c, const char *img,
			      const char *orig, unsigned long long *nr);
bool rfl_ck_meta_on_owned(const struct checker *c,
			  void (*fn)(void *priv, dgrp_t g, const char *what,
				     blk64_t blk, blk64_t len),
			  void *priv);

/* Record the first operational error; returns ret */
errcode_t rfl_ck_fail(struct checker *c, errcode_t ret, const char *what);

/* Stop checking: an error, a cancel, or -p met a problem it may not fix */
static inline bool rfl_ck_stop(const struct checker *c)
{
	return c->err || c->ctx.cancelled || c->ctx.halted;
}

/* -C: pass, done of total */
void rfl_ck_progress(struct checker *c, int pass, unsigned long long done,
		     unsigned long long total);

/* Does any inode hold blk (as data, index, xattr or mapped block)? */
bool rfl_ck_file_owns(const struct checker *c, blk64_t blk);

errcode_t rfl_ck_push_blk(struct blk_list *l, blk64_t blk);

/*
 * Pass 0, the floor (pass_floor.c): device size, descriptors, their
 * checksums, the feature bit.  0 to go on, else the exit code (the
 * problems and the commands that recover are printed; c->err set for
 * an operational error).
 */
int rfl_ck_floor(struct checker *c);
/* needs_recovery: -n says it is skipped (0); -y, -p replay the journal
 * into the image (1: check it again), or say why not (-1).  Without the
 * flag, a journal holding data is asked about as e2fsck asks (-n: 0,
 * -y: replayed, -p: -1) */
int rfl_ck_journal(struct checker *c);
/* argv[0] with its output to file: its exit status, or -1 */
int rfl_ck_run_tool(char *const argv[], const char *out);

/*
 * Pass 6 (pass_stock.c): stock e2fsck -fn on a metadata snapshot; with
 * -y/-p its repair through the round trip, written under the undo file
 */
void rfl_ck_stock(struct checker *c);
/*
 * -fn: pass 6 begun before the scan (the snapshot's fs metadata copied
 * beside it), and after it (the snapshot finished, stock e2fsck started
 * to run beside the other passes)
 */
void rfl_ck_stock_begin(struct checker *c);
void rfl_ck_stock_start(struct checker *c);
/*
 * -n: the metadata snapshot stock e2fsck reads, made into fd by the
 * checker (stock_snap.c): begun before the scan, finished after it
 * (an error where it cannot be: e2image then); freed after either
 */
struct rfl_snap;
errcode_t rfl_ck_snap_begin(struct checker *c, int fd, struct rfl_snap **mp);
errcode_t rfl_ck_snap_finish(struct checker *c, struct rfl_snap *m);
void rfl_ck_snap_free(struct rfl_snap *m);
/* Pass 6's children stopped and its files removed (after any pass) */
void rfl_ck_stock_free(struct checker *c);

/* Link counts against directory entries (pass_links.c) */
void rfl_ck_links(struct checker *c);

/* Interrupted extent splits, i_blocks (pass_split.c) */
void rfl_ck_splits(struct checker *c);
void rfl_ck_iblocks(struct checker *c);

/* Metadata blocks of a newer version: before any repair (pass_tree.c) */
void rfl_ck_newer(struct checker *c);

/* Passes 1-3 and the rebuild of flex group fg (pass_tree.c) */
void rfl_ck_group(struct checker *c, dgrp_t fg);

/* Blocks files or fs metadata hold, free in the bitmap: before any
 * repair allocates (pass_bitmap.c) */
void rfl_ck_used_blocks(struct checker *c);

/* Does any inode hold a block of [start, start + len)? */
bool rfl_ck_file_owns_range(const struct checker *c, blk64_t start,
			    blk64_t len);

/* The refcount tree reserve of flex group fg (pass_resv.c) */
void rfl_ck_reserve(struct checker *c, dgrp_t fg);

/* Pass 4: leaked blocks and free counts (pass_bitmap.c) */
void rfl_ck_bitmaps(struct checker *c);

/* Pass 5: cross-links (pass_xlink.c) */
void rfl_ck_cross_links(struct checker *c);

#endif

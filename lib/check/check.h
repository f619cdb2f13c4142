/* SPDX-License-Identifier: GPL-2.0 */
/*
 * check.h - the reflink checker as a library: every pass of reflinkck
 * (docs/FORMAT.md section 8), for reflinkck itself and for the debug
 * shell's `check`.
 *
 * Pass 0: the floor: device size, descriptors, bg_checksum, feature bit.
 * Pass 1: each flex group's bg_reserved pointer and metadata block.
 * Pass 2: every tree node and record.
 * Pass 3: the records against the counts recomputed from the files.
 * Pass 4: tree and metadata blocks in the bitmap; leaked blocks; free
 *         block counts.
 * Pass 5: files that share blocks without EXT4_REFLINK_FL (cross-links).
 * Pass 6 (-f): stock e2fsck on a metadata snapshot, outside the feature.
 */
#ifndef RFL_CHECK_H
#define RFL_CHECK_H

#include <stdio.h>
#include "check/problem.h"

/* e2fsck's exit codes */
#define RFL_EXIT_OK		0
#define RFL_EXIT_NONDESTRUCT	1
#define RFL_EXIT_UNCORRECTED	4
#define RFL_EXIT_ERROR		8
#define RFL_EXIT_USAGE		16
#define RFL_EXIT_CANCEL		32

struct rfl_check_opts {
	const char *device;
	/* NULL: unix io; else e.g. rfl_mem_io_manager (no -f with it:
	 * pass 6's e2image and e2fsck read the device by its name) */
	io_manager io;
	enum rfl_answer_mode mode;	/* RFL_NO opens read-only */
	bool verbose;			/* -v: statistics */
	bool whole;			/* -f: stock e2fsck's verdict outside
					 * the feature too (pass_stock.c) */
	int progress_fd;		/* -C fd: -1 none, 0 a bar on out */
	const char *undo_file;		/* -z FILE, or NULL */
	FILE *out;			/* problems, fixes, summary */
	FILE *err;			/* operational errors */
	const char *prog;		/* names operational errors */
	/* --format json: every problem as an object, comma separated */
	FILE *json;
	/* filled with the summary line's numbers when it is printed */
	struct rfl_check_summary *summary;
};

struct rfl_check_summary {
	bool done;			/* the summary was reached */
	unsigned long long extents, shared_blocks, records, tree_blocks;
	unsigned long long other, expected;	/* -v's lines too */
	unsigned int flex_groups;
	unsigned int fixed, left;	/* problems fixed and left */
};

/*
 * Check (and with mode != RFL_NO repair) the image at opts->device.
 * Returns e2fsck's exit code: RFL_EXIT_OK clean, RFL_EXIT_NONDESTRUCT
 * fixed, RFL_EXIT_UNCORRECTED left, RFL_EXIT_ERROR operational error
 * (one line on opts->err; nothing written), RFL_EXIT_CANCEL (or'ed)
 * when the user cancelled.
 */
int rfl_check_run(const struct rfl_check_opts *opts);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * problem.h - reflinkck's problem table: every message the checker
 * prints (except the summary) comes from one entry here.
 */
#ifndef RFL_CHECK_PROBLEM_H
#define RFL_CHECK_PROBLEM_H

#include <stdbool.h>
#include <ext2fs/ext2fs.h>

/* What a problem report may name; unused fields are ignored */
struct rfl_pctx {
	dgrp_t fg;
	blk64_t blk, len;
	ext2_ino_t ino;
	__u64 expected, found;
	errcode_t err;
};

/* Problem codes: pass in the top byte, like e2fsck */
enum rfl_problem {
	PR_1_BAD_META = 0x010001,	/* metadata block unreadable/bad */
	PR_1_META_RANGE = 0x010002,	/* bg_reserved out of its flex group */
	PR_2_BAD_TREE = 0x020001,	/* tree failed verification */
};

/* Entry flags */
#define PR_PREEN_OK	0x01	/* -p may fix it without asking */
#define PR_NO_OK	0x02	/* answering no is not an error */
#define PR_FATAL	0x04	/* cannot go on */

/* How questions are answered */
enum rfl_answer_mode {
	RFL_ASK,			/* interactive, on a tty */
	RFL_NO,				/* -n */
	RFL_YES,			/* -y */
	RFL_PREEN,			/* -p */
};

struct rfl_check_ctx {
	const char *device;
	enum rfl_answer_mode mode;
	unsigned int fixed;		/* problems fixed */
	unsigned int left;		/* problems left unfixed */
	bool cancelled;
};

/*
 * Report problem code with pctx; true if the caller should fix it.  The
 * caller then reports the fix with rfl_problem_fixed.
 */
bool rfl_fix_problem(struct rfl_check_ctx *ctx, enum rfl_problem code,
		     const struct rfl_pctx *pctx);
void rfl_problem_fixed(struct rfl_check_ctx *ctx, enum rfl_problem code,
		       const struct rfl_pctx *pctx);

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * reflinkck.c - check the refcount trees of an ext4 reflink image, with
 * e2fsck's options and exit codes (see ../shared/REFERENCE.md).
 *
 *	reflinkck [-n|-p|-y] [-f] [-v] [-C fd] device
 *
 * First step: pass 1 loads every flex group's metadata block and tree
 * root, pass 2 walks every record.  Problems are reported from the
 * problem table; repair is not written yet, so a fix request is left
 * unfixed (exit 4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <et/com_err.h>

#include "check/problem.h"
#include "reflink/rfl.h"

#define EXIT_OK		0
#define EXIT_NONDESTRUCT 1
#define EXIT_UNCORRECTED 4
#define EXIT_ERROR	8
#define EXIT_USAGE	16
#define EXIT_CANCEL	32

static const char *prog = "reflinkck";

static void usage(void)
{
	fprintf(stderr, "Usage: %s [-n|-p|-y] [-f] [-v] [-C fd] device\n",
		prog);
	exit(EXIT_USAGE);
}

struct stats {
	unsigned long long records, shared_blocks;
	dgrp_t groups_bad;
};

static int count_rec(void *priv, dgrp_t fg, blk64_t start, blk64_t len,
		     __u32 count)
{
	struct stats *st = priv;

	(void)fg;
	(void)start;
	(void)count;
	st->records++;
	st->shared_blocks += len;
	return 0;
}

int main(int argc, char **argv)
{
	struct rfl_check_ctx ctx = { .mode = RFL_ASK };
	struct stats st = { 0 };
	struct rfl_fs *rfs;
	int c, modes = 0, verbose = 0;
	bool bad_tree = false;
	errcode_t ret;
	dgrp_t fg;

	while ((c = getopt(argc, argv, "npyfvC:")) != -1) {
		switch (c) {
		case 'n': ctx.mode = RFL_NO; modes++; break;
		case 'p': ctx.mode = RFL_PREEN; modes++; break;
		case 'y': ctx.mode = RFL_YES; modes++; break;
		case 'f': break;
		case 'v': verbose = 1; break;
		case 'C': break;
		default: usage();
		}
	}
	if (modes > 1) {
		fprintf(stderr, "%s: Only one of the options -p/-a, -n or -y "
			"may be specified.\n", prog);
		exit(EXIT_USAGE);
	}
	if (optind != argc - 1)
		usage();
	ctx.device = argv[optind];
	if (ctx.mode == RFL_ASK && !isatty(0)) {
		fprintf(stderr, "%s: need terminal for interactive repairs\n",
			prog);
		exit(EXIT_ERROR);
	}

	add_error_table(&et_ext2_error_table);
	initialize_rfl_error_table();
	ret = rfl_open(ctx.device, ctx.mode == RFL_NO ? 0 : RFL_OPEN_RW, NULL,
		       &rfs);
	if (ret) {
		com_err(prog, ret, "while opening %s", ctx.device);
		exit(EXIT_ERROR);
	}

	/* Pass 1 and 2: every flex group's metadata block and tree */
	for (fg = 0; fg < rfs->nr_flex; fg++) {
		struct rfl_group *grp;
		struct rfl_pctx pctx = { .fg = fg };

		ret = rfl_group_load(rfs, fg, &grp);
		if (!ret)
			continue;
		pctx.err = ret;
		pctx.blk = rfl_bg_reserved(rfs->fs,
					   fg << rfs->fs->super->s_log_groups_per_flex);
		bad_tree = true;
		st.groups_bad++;
		rfl_fix_problem(&ctx, PR_1_BAD_META, &pctx);
		if (ctx.cancelled)
			break;
	}
	if (!bad_tree && !ctx.cancelled) {
		ret = rfl_for_each_record(rfs, count_rec, &st);
		if (ret) {
			struct rfl_pctx pctx = { .err = ret };

			rfl_fix_problem(&ctx, PR_2_BAD_TREE, &pctx);
		}
	}

	if (verbose)
		printf("%12llu shared blocks\n", st.shared_blocks);
	printf("%s: %llu records, %u flex groups\n", ctx.device, st.records,
	       rfs->nr_flex);
	rfl_abandon(rfs);
	if (ctx.cancelled)
		return EXIT_CANCEL | (ctx.left ? EXIT_UNCORRECTED : 0);
	if (ctx.left)
		return EXIT_UNCORRECTED;
	return ctx.fixed ? EXIT_NONDESTRUCT : EXIT_OK;
}

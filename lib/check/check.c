// SPDX-License-Identifier: GPL-2.0
/*
 * check.c - the checker's driver: open the image, scan the files once,
 * compute the expected records, run the passes over every flex group,
 * print the summary and return e2fsck's exit code.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <et/com_err.h>

#include "btree/e2fs_host.h"
#include "check/check_int.h"
#include "util/vec.h"

errcode_t rfl_ck_fail(struct checker *c, errcode_t ret, const char *what)
{
	if (!c->err) {
		c->err = ret;
		c->err_what = what;
	} else if (!c->err_what) {
		c->err_what = what;
	}
	return ret;
}

errcode_t rfl_ck_push_blk(struct blk_list *l, blk64_t blk)
{
	if (rfl_vec_grow((void **)&l->v, &l->max, l->nr, sizeof(*l->v)))
		return EXT2_ET_NO_MEMORY;
	l->v[l->nr++] = blk;
	return 0;
}

/*
 * e2fsck's -C convention: "pass done total device" lines on fd, at most
 * one per thousandth; -C 0 draws a bar on a terminal instead.
 */
void rfl_ck_progress(struct checker *c, int pass, unsigned long long done,
		     unsigned long long total)
{
	const struct rfl_check_opts *o = c->o;
	unsigned int permille;
	int fd = o->progress_fd;

	if (fd < 0 || !total)
		return;
	permille = done >= total ? 1000 : done * 1000 / total;
	if (pass == c->last_pass && permille == c->last_permille)
		return;
	c->last_pass = pass;
	c->last_permille = permille;
	if (fd > 0) {
		dprintf(fd, "%d %llu %llu %s\n", pass, done, total,
			o->device);
		return;
	}
	if (!isatty(fileno(o->out)))
		return;
	fprintf(o->out, "\r%s: pass %d |%-40.*s| %5.1f%%", o->device, pass,
		(int)(permille * 40 / 1000),
		"========================================", permille / 10.0);
	/* a problem or the summary clears a bar left on the line */
	c->ctx.bar_shown = permille != 1000;
	if (permille == 1000)
		fputs("\r\033[K", o->out);
	fflush(o->out);
}

static void scan_progress(void *priv, dgrp_t done, dgrp_t total)
{
	rfl_ck_progress(priv, 1, done, total);
}

/*
 * Sorted ranges (struct rfl_run and struct rfl_range both begin with
 * blk64_t start, len) and the running maximum of their ends: one binary
 * search answers whether any range covers a block.
 */
struct span {
	blk64_t start, len;
};
_Static_assert(offsetof(struct rfl_run, start) == 0 &&
	       offsetof(struct rfl_run, len) == sizeof(blk64_t) &&
	       offsetof(struct rfl_range, start) == 0 &&
	       offsetof(struct rfl_range, len) == sizeof(blk64_t),
	       "ranges begin with start, len");

static const struct span *span_at(const void *v, size_t size, size_t i)
{
	return (const struct span *)((const char *)v + i * size);
}

static blk64_t *max_ends(const void *v, size_t nr, size_t size)
{
	blk64_t *m = malloc((nr ? nr : 1) * sizeof(blk64_t)), end;
	size_t i;

	for (i = 0; m && i < nr; i++) {
		end = span_at(v, size, i)->start + span_at(v, size, i)->len;
		m[i] = i && m[i - 1] > end ? m[i - 1] : end;
	}
	return m;
}

static bool covered(const void *v, size_t nr, size_t size,
		    const blk64_t *max_end, blk64_t blk)
{
	size_t lo = 0, hi = nr, mid;

	/* ranges starting at or before blk: [0, lo) */
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (span_at(v, size, mid)->start <= blk)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && max_end[lo - 1] > blk;
}

bool rfl_ck_for_runs(const struct checker *c, blk64_t start, blk64_t len,
		     void (*fn)(void *priv, const struct rfl_run *r),
		     void *priv)
{
	const struct rfl_scan *s = &c->scan;
	size_t lo = 0, hi = s->nr_runs, mid;
	bool flagged = true;

	/* runs starting before the end: [0, lo); walk back while they reach */
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (s->runs[mid].start < start + len)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo-- > 0 && c->max_end[lo] > start) {
		const struct rfl_run *r = &s->runs[lo];

		if (r->start + r->len <= start)
			continue;
		flagged &= r->flagged;
		if (fn)
			fn(priv, r);
	}
	return flagged;
}

bool rfl_ck_file_owns(const struct checker *c, blk64_t blk)
{
	const struct rfl_scan *s = &c->scan;

	return covered(s->runs, s->nr_runs, sizeof(*s->runs), c->max_end,
		       blk) ||
	       covered(s->owned, s->nr_owned, sizeof(*s->owned),
		       c->owned_max_end, blk);
}

/* Ranges sorted by start with running max ends: any overlapping [a, b)? */
static bool overlaps(const void *v, size_t nr, size_t size,
		     const blk64_t *max_end, blk64_t a, blk64_t b)
{
	size_t lo = 0, hi = nr, mid;

	/* ranges starting before b: [0, lo) */
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (span_at(v, size, mid)->start < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && max_end[lo - 1] > a;
}

bool rfl_ck_file_owns_range(const struct checker *c, blk64_t start,
			    blk64_t len)
{
	const struct rfl_scan *s = &c->scan;

	return overlaps(s->runs, s->nr_runs, sizeof(*s->runs), c->max_end,
			start, start + len) ||
	       overlaps(s->owned, s->nr_owned, sizeof(*s->owned),
			c->owned_max_end, start, start + len);
}

/*
 * A crash between a bitmap block and its group descriptor leaves a
 * checksum that does not match: load the bits anyway (pass 4 judges
 * them) and write every bitmap again with fresh checksums.
 */
static errcode_t load_bitmaps(struct checker *c)
{
	struct rfl_pctx pctx = { 0 };
	errcode_t ret;

	ret = ext2fs_read_bitmaps(c->fs);
	if (ret != EXT2_ET_BLOCK_BITMAP_CSUM_INVALID &&
	    ret != EXT2_ET_INODE_BITMAP_CSUM_INVALID)
		return ret;
	c->fs->flags |= EXT2_FLAG_IGNORE_CSUM_ERRORS;
	ret = ext2fs_read_bitmaps(c->fs);
	c->fs->flags &= ~EXT2_FLAG_IGNORE_CSUM_ERRORS;
	if (ret)
		return ret;
	if (rfl_fix_problem(&c->ctx, PR_4_BITMAP_CSUM, &pctx)) {
		ext2fs_mark_bb_dirty(c->fs);
		ext2fs_mark_ib_dirty(c->fs);
		c->changed = true;
		rfl_problem_fixed(&c->ctx, PR_4_BITMAP_CSUM, &pctx);
	}
	return 0;
}

static void bad_inode(void *priv, ext2_ino_t ino, errcode_t err)
{
	struct checker *c = priv;
	struct rfl_pctx pctx = { .ino = ino, .err = err };

	rfl_fix_problem(&c->ctx, PR_3_BAD_INODE, &pctx);
}

/* Outside the feature, but a clean result must not hide it */
static void report_unlinked(struct checker *c)
{
	struct rfl_pctx pctx = { 0 };
	size_t i;

	for (i = 0; i < c->scan.nr_unlinked && !rfl_ck_stop(c); i++) {
		pctx.ino = c->scan.unlinked[i];
		rfl_fix_problem(&c->ctx, PR_1_UNLINKED, &pctx);
	}
}

static errcode_t scan_files(struct checker *c)
{
	struct rfl_scan *s = &c->scan;
	errcode_t ret;

	ret = rfl_scan_files(c->fs, bad_inode, scan_progress, c, s);
	if (ret)
		return rfl_ck_fail(c, ret, "scanning the inodes");
	c->max_end = max_ends(s->runs, s->nr_runs, sizeof(*s->runs));
	c->owned_max_end = max_ends(s->owned, s->nr_owned, sizeof(*s->owned));
	if (!c->max_end || !c->owned_max_end)
		return rfl_ck_fail(c, EXT2_ET_NO_MEMORY, "scanning the inodes");
	ret = rfl_expected_records(c->fs, s->runs, s->nr_runs, &c->exp,
				   &c->nr_exp);
	if (ret)
		return rfl_ck_fail(c, ret, "counting the shared blocks");
	return 0;
}

static errcode_t check_groups(struct checker *c)
{
	errcode_t ret;
	dgrp_t fg;

	for (fg = 0; fg < c->rfs->nr_flex && !rfl_ck_stop(c); fg++) {
		rfl_ck_group(c, fg);
		rfl_ck_reserve(c, fg);
		/* one flex group in memory at a time */
		ret = rfl_group_release(c->rfs, fg);
		if (ret)
			return rfl_ck_fail(c, ret, "writing a refcount tree");
		rfl_ck_progress(c, 2, fg + 1, c->rfs->nr_flex);
	}
	return c->err;
}

static int check_run(const struct rfl_check_opts *o);

/* The summary line's numbers for the image as this run read it */
static void count(struct checker *c, struct rfl_check_summary *r)
{
	unsigned long long shared = 0;
	size_t i;

	for (i = 0; i < c->nr_exp; i++)
		shared += c->exp[i].len;
	r->done = true;
	r->extents = c->scan.nr_runs;
	r->shared_blocks = shared;
	r->records = c->records;
	r->tree_blocks = c->tree_blocks;
	r->flex_groups = c->rfs->nr_flex;
	r->other = c->scan.nr_owned;
	r->expected = c->nr_exp;
}

/*
 * The checker again over the image as written, read-only and quiet: the
 * numbers after a repair, pass 6's verdict after its round trip, and
 * RFL_CHECK_RECHECK's.  whole: with pass 6; text: its output kept.
 */
int rfl_ck_rerun(const struct rfl_check_opts *o, bool whole,
		 struct rfl_check_summary *sum, char **text)
{
	struct rfl_check_opts ro = *o;
	size_t len = 0;
	FILE *f;
	int code;

	if (text) {
		*text = NULL;
		f = open_memstream(text, &len);
	} else {
		f = fopen("/dev/null", "w");
	}
	if (!f)
		return RFL_EXIT_ERROR;
	ro.mode = RFL_NO;
	ro.whole = whole;
	ro.progress_fd = -1;
	ro.undo_file = NULL;
	ro.verbose = false;
	ro.json = NULL;
	ro.out = f;
	ro.err = f;
	ro.summary = sum;
	code = check_run(&ro);
	fclose(f);
	return code;
}

/*
 * After a repair the numbers this run gathered are those from before
 * it: the image as written is read again, once, without pass 6 unless
 * RFL_CHECK_RECHECK wants every pass; pass 6's own run after its round
 * trip, the last write, serves as it is
 */
static void read_again(struct checker *c, struct rfl_check_summary *r)
{
	if (!c->after_run) {
		c->after_run = true;
		c->after_code = rfl_ck_rerun(c->o, c->recheck && c->o->whole,
					     &c->after,
					     c->recheck ? &c->after_text :
					     NULL);
	}
	if (c->after.done)
		*r = c->after;
}

/*
 * RFL_CHECK_RECHECK=1 (set by the tests): after a repair that says it
 * fixed everything, every pass again, read-only, must find nothing; a
 * repair's side effects are then never hidden by a later pass or run.
 */
static int recheck(struct checker *c, int code)
{
	if (!c->recheck || code != RFL_EXIT_NONDESTRUCT || !c->after_run ||
	    c->after_code == RFL_EXIT_OK)
		return code;
	fprintf(c->o->err, "%s: RFL_CHECK_RECHECK: the read-only run after "
		"the repair exits %d on %s:\n%s", c->o->prog, c->after_code,
		c->o->device, c->after_text ? c->after_text : "");
	return RFL_EXIT_ERROR;
}

static void summary(const struct rfl_check_opts *o,
		    const struct rfl_check_summary *r)
{
	if (o->verbose) {
		fprintf(o->out, "\n%12llu extents\n", r->extents);
		fprintf(o->out, "%12llu other inode block ranges\n", r->other);
		fprintf(o->out, "%12llu shared blocks\n", r->shared_blocks);
		fprintf(o->out, "%12llu expected records\n", r->expected);
		fprintf(o->out, "%12llu tree blocks\n", r->tree_blocks);
		fprintf(o->out, "%12u flex groups\n\n", r->flex_groups);
	}
	fprintf(o->out, "%s: %llu extents, %llu shared blocks, %llu records, "
		"%llu tree blocks, %u flex groups\n", o->device,
		r->extents, r->shared_blocks, r->records, r->tree_blocks,
		r->flex_groups);
	if (o->summary) {
		o->summary->done = true;
		o->summary->extents = r->extents;
		o->summary->shared_blocks = r->shared_blocks;
		o->summary->records = r->records;
		o->summary->tree_blocks = r->tree_blocks;
		o->summary->flex_groups = r->flex_groups;
	}
}

static void free_checker(struct checker *c)
{
	rfl_ck_stock_free(c);
	rfl_scan_free(&c->scan);
	free(c->max_end);
	free(c->owned_max_end);
	free(c->runs_by_ino);
	free(c->exp);
	free(c->found);
	free(c->seen.slot);
	free(c->unsure);
	free(c->resv.v);
	free(c->damaged.v);
	free(c->tree_blks.v);
	free(c->released.v);
	free(c->xlink_ranges.v);
	free(c->lost_meta.v);
}

static int error_exit(struct checker *c, errcode_t ret, const char *what)
{
	fprintf(c->o->err, "%s: %s while %s on %s\n", c->o->prog,
		error_message(ret), what, c->o->device);
	if (c->rfs)
		rfl_abandon(c->rfs);
	free_checker(c);
	return RFL_EXIT_ERROR;
}

/* The floor is broken: nothing more is read, nothing written */
static int floor_exit(struct checker *c, int code)
{
	if (c->err == RFL_ET_NO_FEATURE) {
		fprintf(c->o->err, "%s: %s while opening %s\n", c->o->prog,
			error_message(c->err), c->o->device);
		c->err = 0;
		code = RFL_EXIT_ERROR;
	} else if (c->err) {
		return error_exit(c, c->err, c->err_what);
	}
	rfl_abandon(c->rfs);
	free_checker(c);
	return code;
}

int rfl_check_run(const struct rfl_check_opts *o)
{
	return check_run(o);
}

/*
 * A descriptor pointing a bitmap at a file's block: writing the bitmaps
 * would overwrite the file (found by tests/fuzz/fuzz_image).  Nothing
 * is written, not even the bitmap checksums agreed to above; pass 5
 * names the files.
 */
/* Nothing is written, not even what was agreed to before; nor by pass 6 */
void rfl_ck_read_only(struct checker *c)
{
	c->ctx.mode = RFL_NO;
	c->meta_overlap = true;
	c->changed = false;
	c->ctx.fixed = 0;
	c->fs->flags &= ~(EXT2_FLAG_BB_DIRTY | EXT2_FLAG_IB_DIRTY |
			  EXT2_FLAG_DIRTY);
}

static void read_only_if_overlap(struct checker *c)
{
	struct rfl_pctx pctx = { 0 };

	/* the mode asked for: bad inodes may have made the passes -n,
	 * but pass 6 would still repair through e2fsck */
	if (c->o->mode == RFL_NO || !rfl_ck_meta_overlap(c))
		return;
	rfl_fix_problem(&c->ctx, PR_3_META_NO_REPAIR, &pctx);
	rfl_ck_read_only(c);
}

/*
 * A group whose inode table reads back as mostly empty inodes (the
 * descriptor pointing it elsewhere): a repair would free every file of
 * the group as leaked, and e2fsck's would too.  Said in every mode.
 */
static void read_only_if_empty_table(struct checker *c)
{
	struct rfl_pctx pctx = {
		.fg = c->scan.empty_group,
		.expected = c->scan.empty,
		.found = c->scan.empty_of,
	};

	if (!c->scan.empty_of)
		return;
	rfl_fix_problem(&c->ctx, PR_3_TABLE_NO_REPAIR, &pctx);
	/* bad inodes may have made this run -n already, but not pass 6 */
	if (c->o->mode != RFL_NO)
		rfl_ck_read_only(c);
}

/* Any read the device failed (struct checker's read_err says why) */
static errcode_t read_failed(io_channel ch, unsigned long block, int count,
			     void *data, size_t size, int actual,
			     errcode_t error)
{
	ext2_filsys fs = ch->app_data;
	struct checker *c = fs ? fs->priv_data : NULL;

	(void)count; (void)data; (void)size; (void)actual;
	if (c && !c->read_err) {
		c->read_err = error;
		c->read_err_blk = block;
	}
	return error;
}

/*
 * After the scan, before the first write: a read that failed under the
 * floor or the scan (whether or not the reader said so) makes the run
 * read-only.  Later passes meet their read errors themselves, each
 * with its problem: they are not watched.
 */
static void tell_read_error(struct checker *c)
{
	struct rfl_pctx pctx = { 0 };

	c->fs->io->read_error = NULL;
	if (!c->read_err)
		return;
	c->read_err_told = true;
	pctx.blk = c->read_err_blk;
	pctx.str = error_message(c->read_err);
	rfl_fix_problem(&c->ctx, PR_0_READ_ERROR, &pctx);
	rfl_ck_read_only(c);
}

/* Every pass after the floor, in order */
static errcode_t run_passes(struct checker *c)
{
	errcode_t ret;

	ret = load_bitmaps(c);
	if (ret)
		return rfl_ck_fail(c, ret, "reading the bitmaps");
	if (!c->rfs->meta_map) {
		ret = e2fs_meta_map_build(c->fs, &c->rfs->meta_map);
		if (ret)
			return rfl_ck_fail(c, ret, "mapping the fs metadata");
	}
	/* -fn: stock e2fsck's snapshot begun, beside the scan */
	rfl_ck_stock_begin(c);

	/* The files first: every pass asks who owns a block */
	c->unsure = calloc(c->rfs->nr_flex, 1);
	if (!c->unsure)
		return rfl_ck_fail(c, EXT2_ET_NO_MEMORY, "checking the trees");
	rfl_ck_newer(c);
	if (!rfl_ck_stop(c) && !scan_files(c) && !rfl_ck_stop(c)) {
		/* before the first write: nothing repaired from a guess */
		tell_read_error(c);
		if (c->scan.bad_inodes && c->ctx.mode != RFL_NO) {
			/* counts from part of the files would be too low */
			struct rfl_pctx pctx = {
				.expected = c->scan.bad_inodes,
			};

			rfl_fix_problem(&c->ctx, PR_3_NO_REPAIR, &pctx);
			c->ctx.mode = RFL_NO;
		}
		read_only_if_empty_table(c);
		read_only_if_overlap(c);
		/* -fn: stock e2fsck's verdict comes meanwhile */
		rfl_ck_stock_start(c);
		report_unlinked(c);
		rfl_ck_links(c);
		rfl_ck_used_blocks(c);
		rfl_ck_splits(c);
		rfl_ck_iblocks(c);
		check_groups(c);
	}
	if (!rfl_ck_stop(c))
		rfl_ck_bitmaps(c);
	if (!rfl_ck_stop(c))
		rfl_ck_cross_links(c);
	if (!rfl_ck_stop(c) && c->o->whole)
		rfl_ck_stock(c);
	return c->err;
}

/* The summary, the image closed (written if changed): the exit code */
static int finish(struct checker *c)
{
	const struct rfl_check_opts *o = c->o;
	struct rfl_check_summary counts = { 0 };
	errcode_t ret;
	int code;

	if (c->ctx.bar_shown)
		fputs("\r\033[K", o->out);
	/* e2fsck says so after a cancel too: what was fixed stays fixed */
	if (c->ctx.cancelled && (c->changed || c->ctx.fixed))
		fprintf(o->out, "\n%s: ***** FILE SYSTEM WAS MODIFIED *****\n",
			o->device);
	/* like e2fsck's preenhalt: the run stops at the message */
	if (!c->ctx.halted)
		count(c, &counts);

	if (c->stock_written) {
		/* written through the channel; the fs in memory is stale */
		rfl_abandon(c->rfs);
	} else if (c->changed) {
		ret = rfl_close(c->rfs);
		if (ret) {
			c->rfs = NULL;
			return error_exit(c, ret, "closing");
		}
	} else {
		rfl_abandon(c->rfs);
	}
	free_checker(c);
	if (!c->ctx.halted) {
		if (c->changed || c->stock_written || c->ctx.fixed)
			read_again(c, &counts);
		summary(o, &counts);
	}
	if (c->recheck_failed) {
		free(c->after_text);
		return RFL_EXIT_ERROR;
	}
	if (o->summary) {
		o->summary->fixed = c->ctx.fixed;
		o->summary->left = c->ctx.left;
	}
	/* e2fsck's convention: its operational error is the run's too */
	code = c->stock_abort || c->read_err_told ? RFL_EXIT_ERROR : 0;
	if (c->ctx.cancelled)
		code |= RFL_EXIT_CANCEL |
			(c->ctx.left ? RFL_EXIT_UNCORRECTED : 0) |
			(c->ctx.fixed ? RFL_EXIT_NONDESTRUCT : 0);
	else if (c->ctx.left || c->ctx.halted)
		code |= RFL_EXIT_UNCORRECTED;
	else
		code |= c->ctx.fixed ? RFL_EXIT_NONDESTRUCT : RFL_EXIT_OK;
	code = recheck(c, code);
	free(c->after_text);
	return code;
}

static int check_run(const struct rfl_check_opts *o)
{
	struct checker c = {
		.o = o,
		.ctx = { .device = o->device, .mode = o->mode, .out = o->out,
			 .json = o->json },
		.last_pass = -1,
		.recheck = getenv("RFL_CHECK_RECHECK") &&
			   !strcmp(getenv("RFL_CHECK_RECHECK"), "1"),
	};
	int flags = RFL_OPEN_NO_FEATURE | RFL_OPEN_ANY_SIZE | RFL_OPEN_BAD_DESC,
	    code;
	errcode_t ret;

	/* once a process: add_error_table() would add it again each run,
	 * a list growing by a malloc per check (fuzz_image, refdebug) */
	initialize_ext2_error_table();
	initialize_rfl_error_table();
	/* -n: the descriptors are read as needed, not held (by the disk) */
	if (o->mode != RFL_NO)
		flags |= RFL_OPEN_RW;
	else
		flags |= RFL_OPEN_DESC_ON_DEMAND;
	if (o->undo_file)
		flags |= RFL_OPEN_UNDO;
	if (o->io && o->whole)
		ret = EXT2_ET_UNIMPLEMENTED;
	else
		ret = rfl_open_io(o->device, flags, o->undo_file, o->io,
				  &c.rfs);
	if (ret) {
		fprintf(o->err, "%s: %s while opening %s\n", o->prog,
			error_message(ret), o->device);
		return RFL_EXIT_ERROR;
	}
	/* rfl_open makes the bitmaps trees of extents, as e2fsck does */
	c.fs = c.rfs->fs;
	c.fs->priv_data = &c;
	c.fs->io->app_data = c.fs;
	c.fs->io->read_error = read_failed;
	/* the floor first: nothing is read through what it has not judged */
	code = rfl_ck_floor(&c);
	if (code)
		return floor_exit(&c, code);
	if (c.journal_replayed) {
		/* e2fsck's restart: the image in memory is stale */
		rfl_abandon(c.rfs);
		free_checker(&c);
		return check_run(o);
	}
	if (run_passes(&c))
		return error_exit(&c, c.err, c.err_what ? c.err_what :
				  "checking");
	return finish(&c);
}

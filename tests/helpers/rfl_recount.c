// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_recount - count every block's sharers from the files themselves and
 * compare with the refcount trees, both ways: the tests' oracle.
 * Deliberately independent of lib/check (its own scan, sweep and
 * compare), so that it can judge reflinkck.
 *
 *	rfl_recount IMAGE
 *
 * Opens IMAGE read-only, walks the extent tree of every in-use inode
 * (leaf extents, uninitialized ones included) into (block, length) runs,
 * sorts them and sweeps to the expected count of every block
 * (FORMAT.md 8.9); memory grows with the number of extents, not blocks.
 * Expected records (count >= 2, split at flex-group edges, adjacent equal
 * counts merged) are matched against rfl_for_each_record: a missing
 * record, an extra one, a wrong count and a wrong length are each a
 * difference, as is an inode that maps a shared block without
 * EXT4_REFLINK_FL (8.11).  One line per difference, then
 *
 *	recount: N extents, N shared blocks, N records, N differences
 *
 * Exit: 0 no difference, 1 differences, 8 operational error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reflink/rfl.h"

#define PROG		"rfl_recount"
#define EXIT_DIFF	1
#define EXIT_OPER	8

typedef unsigned long long ull;

struct run {
	blk64_t start;
	blk64_t len;
	ext2_ino_t ino;
	bool flagged;		/* the inode has EXT4_REFLINK_FL */
};

struct rec {
	blk64_t start;
	blk64_t len;
	__u64 count;
};

struct vec {
	void *v;
	size_t nr, max, size;
};

static const char *image;
static ull differences;

static void *vec_push(struct vec *a)
{
	if (a->nr == a->max) {
		size_t n = a->max ? a->max * 2 : 256;
		void *p = realloc(a->v, n * a->size);

		if (!p) {
			fprintf(stderr, "%s: %s: out of memory\n", PROG,
				image);
			exit(EXIT_OPER);
		}
		a->v = p;
		a->max = n;
	}
	return (char *)a->v + a->size * a->nr++;
}

static void oper_error(const char *what, errcode_t ret)
{
	fprintf(stderr, "%s: %s: %s: %s\n", PROG, image, what,
		error_message(ret));
	exit(EXIT_OPER);
}

static void differ(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void differ(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	differences++;
}

/* Append the leaf extents of one inode to runs */
static void walk_inode(ext2_filsys fs, ext2_ino_t ino,
		       struct ext2_inode *inode, struct vec *runs)
{
	ext2_extent_handle_t h;
	struct ext2fs_extent ex;
	struct run *r;
	errcode_t ret;
	int op = EXT2_EXTENT_ROOT;

	ret = ext2fs_extent_open2(fs, ino, inode, &h);
	if (ret) {
		differ("inode %u: extent tree unreadable: %s", ino,
		       error_message(ret));
		return;
	}
	for (;;) {
		ret = ext2fs_extent_get(h, op, &ex);
		if (ret == EXT2_ET_EXTENT_NO_NEXT ||
		    ret == EXT2_ET_NO_CURRENT_NODE)
			break;
		if (ret) {
			differ("inode %u: extent tree unreadable: %s", ino,
			       error_message(ret));
			break;
		}
		op = EXT2_EXTENT_NEXT;
		if (!(ex.e_flags & EXT2_EXTENT_FLAGS_LEAF) || !ex.e_len)
			continue;
		r = vec_push(runs);
		r->start = ex.e_pblk;
		r->len = ex.e_len;
		r->ino = ino;
		r->flagged = inode->i_flags & EXT4_REFLINK_FL;
	}
	ext2fs_extent_free(h);
}

static void scan_inodes(ext2_filsys fs, struct vec *runs)
{
	struct ext2_inode_large inode;
	struct ext2_inode *raw = (struct ext2_inode *)&inode;
	ext2_inode_scan scan;
	ext2_ino_t ino;
	errcode_t ret;

	ret = ext2fs_read_inode_bitmap(fs);
	if (ret)
		oper_error("reading the inode bitmap", ret);
	ret = ext2fs_open_inode_scan(fs, 0, &scan);
	if (ret)
		oper_error("opening the inode scan", ret);
	for (;;) {
		ret = ext2fs_get_next_inode_full(scan, &ino, raw,
						 sizeof(inode));
		if (ret)
			oper_error("scanning inodes", ret);
		if (!ino)
			break;
		/* in use, and not an orphan waiting to be freed */
		if (!ext2fs_test_inode_bitmap2(fs->inode_map, ino) ||
		    !inode.i_links_count || inode.i_dtime)
			continue;
		if (!(inode.i_flags & EXT4_EXTENTS_FL) ||
		    !ext2fs_inode_has_valid_blocks2(fs, raw))
			continue;
		walk_inode(fs, ino, raw, runs);
	}
	ext2fs_close_inode_scan(scan);
}

static int cmp_run(const void *a, const void *b)
{
	const struct run *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

static int cmp_blk(const void *a, const void *b)
{
	blk64_t x = *(const blk64_t *)a, y = *(const blk64_t *)b;

	return x < y ? -1 : x > y;
}

/* Add [s, e) with count c to the expected records, split per flex group */
static void expect(ext2_filsys fs, struct vec *exp, blk64_t s, blk64_t e,
		   __u64 c)
{
	blk64_t first = fs->super->s_first_data_block;
	blk64_t per_flex = (blk64_t)e2fs_flex_group_size(fs) *
			   fs->super->s_blocks_per_group;
	struct rec *last, *r;
	blk64_t edge;

	while (s < e) {
		edge = first + ((s - first) / per_flex + 1) * per_flex;
		if (edge > e)
			edge = e;
		last = exp->nr ? (struct rec *)exp->v + exp->nr - 1 : NULL;
		if (last && last->start + last->len == s &&
		    last->count == c &&
		    (s - first) % per_flex != 0) {
			last->len += edge - s;
		} else {
			r = vec_push(exp);
			r->start = s;
			r->len = edge - s;
			r->count = c;
		}
		s = edge;
	}
}

/*
 * Sweep the sorted run starts and ends: between two consecutive points
 * every block has the same number of runs over it.
 */
static void sweep(ext2_filsys fs, const struct vec *runs, struct vec *exp)
{
	const struct run *r = runs->v;
	blk64_t *ends, pos = 0, x;
	size_t i = 0, j = 0;
	__u64 depth = 0;

	ends = malloc((runs->nr ? runs->nr : 1) * sizeof(*ends));
	if (!ends) {
		fprintf(stderr, "%s: %s: out of memory\n", PROG, image);
		exit(EXIT_OPER);
	}
	for (i = 0; i < runs->nr; i++)
		ends[i] = r[i].start + r[i].len;
	qsort(ends, runs->nr, sizeof(*ends), cmp_blk);

	i = 0;
	while (i < runs->nr || j < runs->nr) {
		x = i < runs->nr && r[i].start < ends[j] ? r[i].start :
		    ends[j];
		if (depth >= 2 && x > pos)
			expect(fs, exp, pos, x, depth);
		pos = x;
		while (i < runs->nr && r[i].start == x) {
			depth++;
			i++;
		}
		while (j < runs->nr && ends[j] == x) {
			depth--;
			j++;
		}
	}
	free(ends);
}

static int collect_rec(void *priv, dgrp_t fg, blk64_t start, blk64_t len,
		       __u32 count)
{
	struct rec *r = vec_push(priv);

	(void)fg;
	r->start = start;
	r->len = len;
	r->count = count;
	return 0;
}

static void compare(const struct vec *expv, const struct vec *actv)
{
	const struct rec *e = expv->v, *a = actv->v;
	size_t i = 0, j = 0;

	while (i < expv->nr || j < actv->nr) {
		const struct rec *x = i < expv->nr ? &e[i] : NULL;
		const struct rec *y = j < actv->nr ? &a[j] : NULL;

		if (x && y && x->start == y->start) {
			if (x->len != y->len)
				differ("wrong length: record %llu+%llu "
				       "count %llu, expected %llu+%llu "
				       "count %llu", (ull)y->start,
				       (ull)y->len, (ull)y->count,
				       (ull)x->start, (ull)x->len,
				       (ull)x->count);
			else if (x->count != y->count)
				differ("wrong count: record %llu+%llu "
				       "count %llu, expected %llu",
				       (ull)y->start, (ull)y->len,
				       (ull)y->count, (ull)x->count);
			if (x->start + x->len <= y->start + y->len)
				i++;
			if (y->start + y->len <= x->start + x->len)
				j++;
		} else if (x && (!y || x->start + x->len <= y->start)) {
			differ("missing record: %llu+%llu count %llu",
			       (ull)x->start, (ull)x->len, (ull)x->count);
			i++;
		} else if (y && (!x || y->start + y->len <= x->start)) {
			differ("extra record: %llu+%llu count %llu",
			       (ull)y->start, (ull)y->len, (ull)y->count);
			j++;
		} else {
			/* overlapping, different starts */
			differ("wrong range: record %llu+%llu count %llu, "
			       "expected %llu+%llu count %llu",
			       (ull)y->start, (ull)y->len, (ull)y->count,
			       (ull)x->start, (ull)x->len, (ull)x->count);
			if (x->start + x->len <= y->start + y->len)
				i++;
			if (y->start + y->len <= x->start + x->len)
				j++;
		}
	}
}

static int cmp_ino(const void *a, const void *b)
{
	ext2_ino_t x = *(const ext2_ino_t *)a, y = *(const ext2_ino_t *)b;

	return x < y ? -1 : x > y;
}

/* Every inode that maps a block expected to be shared must be flagged */
static void check_flags(const struct vec *runs, const struct vec *expv)
{
	const struct run *r = runs->v;
	const struct rec *e = expv->v;
	struct vec bad = { .size = sizeof(ext2_ino_t) };
	ext2_ino_t *ino;
	size_t i, lo, hi, mid;

	for (i = 0; i < runs->nr; i++) {
		if (r[i].flagged)
			continue;
		/* first expected record ending after the run's start */
		lo = 0;
		hi = expv->nr;
		while (lo < hi) {
			mid = (lo + hi) / 2;
			if (e[mid].start + e[mid].len <= r[i].start)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < expv->nr && e[lo].start < r[i].start + r[i].len) {
			ino = vec_push(&bad);
			*ino = r[i].ino;
		}
	}
	if (bad.nr)
		qsort(bad.v, bad.nr, sizeof(ext2_ino_t), cmp_ino);
	ino = bad.v;
	for (i = 0; i < bad.nr; i++)
		if (!i || ino[i] != ino[i - 1])
			differ("inode %u maps shared blocks but lacks "
			       "EXT4_REFLINK_FL", ino[i]);
	free(bad.v);
}

int main(int argc, char **argv)
{
	struct vec runs = { .size = sizeof(struct run) };
	struct vec expv = { .size = sizeof(struct rec) };
	struct vec actv = { .size = sizeof(struct rec) };
	struct rfl_fs *rfs;
	ull shared = 0;
	errcode_t ret;
	size_t i;

	initialize_rfl_error_table();
	initialize_ext2_error_table();
	if (argc != 2) {
		fprintf(stderr, "usage: %s IMAGE\n", PROG);
		return EXIT_OPER;
	}
	image = argv[1];
	ret = rfl_open(image, RFL_OPEN_NO_FEATURE, NULL, &rfs);
	if (ret)
		oper_error("opening", ret);

	scan_inodes(rfs->fs, &runs);
	if (runs.nr)
		qsort(runs.v, runs.nr, sizeof(struct run), cmp_run);
	sweep(rfs->fs, &runs, &expv);
	for (i = 0; i < expv.nr; i++) {
		const struct rec *e = (const struct rec *)expv.v + i;

		shared += e->len;
		if (e->count > 0xffffffffull)
			differ("count overflow: %llu+%llu count %llu",
			       (ull)e->start, (ull)e->len, (ull)e->count);
	}
	/* without the feature there are no trees: every share differs */
	if (rfl_has_feature(rfs->fs)) {
		ret = rfl_for_each_record(rfs, collect_rec, &actv);
		if (ret)
			oper_error("reading the refcount trees", ret);
	}
	compare(&expv, &actv);
	check_flags(&runs, &expv);

	printf("recount: %llu extents, %llu shared blocks, %llu records, "
	       "%llu differences\n", (ull)runs.nr, shared, (ull)actv.nr,
	       differences);
	rfl_abandon(rfs);
	free(runs.v);
	free(expv.v);
	free(actv.v);
	return differences ? EXIT_DIFF : 0;
}

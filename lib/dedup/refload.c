// SPDX-License-Identifier: GPL-2.0
/*
 * refload.c - extra references gathered in memory, turned into refcount
 * records in one sort and sweep and written once per flex group
 * (refload.h).
 */
#include <stdlib.h>

#include "dedup/refload.h"

errcode_t rfl_bruns_add(struct rfl_bruns *r, blk64_t start, blk64_t len,
			ext2_ino_t ino)
{
	struct rfl_brun *last = r->nr ? &r->v[r->nr - 1] : NULL;

	if (last && last->ino == ino && last->start + last->len == start) {
		last->len += len;
		return 0;
	}
	if (rfl_vec_grow((void **)&r->v, &r->max, r->nr, sizeof(*r->v)))
		return EXT2_ET_NO_MEMORY;
	r->v[r->nr].start = start;
	r->v[r->nr].len = len;
	r->v[r->nr].ino = ino;
	r->nr++;
	return 0;
}

void rfl_bruns_free(struct rfl_bruns *r)
{
	free(r->v);
	r->v = NULL;
	r->nr = r->max = 0;
}

int rfl_brun_cmp(const void *a, const void *b)
{
	const struct rfl_brun *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

/* A record and its flex group; extra = references beyond the first */
struct grec {
	dgrp_t fg;
	__u32 extra;
	struct ext4_refcount_rec r;
};

struct rec_iter {
	const struct grec *v;
	size_t pos;
};

static int rec_next(void *priv, void *key, void *val)
{
	struct rec_iter *it = priv;

	ext4_refcount_rec_encode(&it->v[it->pos++].r, key, val);
	return 0;
}

/*
 * A tree with records already: the counts are added, not loaded, in the
 * transaction rfl_refs_load commits (count = 1 + extra only holds for
 * blocks that had no record)
 */
static errcode_t adjust_group(struct rfl_fs *rfs, struct rfl_group *grp,
			      const struct grec *v, size_t nr)
{
	errcode_t ret = 0;
	size_t i;
	__u32 k;

	if (!rfs->in_txn)
		ret = rfl_begin(rfs);
	for (i = 0; !ret && i < nr; i++)
		for (k = 0; !ret && k < v[i].extra; k++)
			ret = rfl_adjust(rfs, grp->first + v[i].r.start,
					 v[i].r.len, +1);
	return ret;
}

/* Load one flex group's records: into its empty tree, or on top */
static errcode_t load_group(struct rfl_fs *rfs, dgrp_t fg,
			    const struct grec *v, size_t nr)
{
	struct rfl_group *grp;
	struct rec_iter it = { v, 0 };
	errcode_t ret;

	ret = rfl_group_load(rfs, fg, &grp);
	if (!ret && !grp->meta_blk) {
		ret = rfl_group_create(rfs, fg);
		ret = ret ?: rfl_group_load(rfs, fg, &grp);
	}
	if (ret)
		return ret;
	if (grp->tree.nr_records)
		return adjust_group(rfs, grp, v, nr);
	return rfl_group_bulk_load(grp, nr, 75, rec_next, &it);
}

struct edge {
	blk64_t pos;
	long delta;
};

static int edge_cmp(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;

	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return 0;
}

/*
 * Turn the extra references into canonical records (count = 1 + the
 * references over a block), split at flex group ends, and load each
 * flex group: one sort and one sweep, never a tree update per share.
 */
errcode_t rfl_refs_load(struct rfl_fs *rfs, const struct rfl_bruns *refs,
			__u64 *records)
{
	size_t nr_edges = refs->nr * 2, i, nr = 0, first;
	struct grec *recs = NULL;
	struct edge *e;
	errcode_t ret = 0;
	long active = 0;

	if (records)
		*records = 0;
	if (!refs->nr)
		return 0;
	e = malloc(nr_edges * sizeof(*e));
	recs = malloc((nr_edges + rfs->nr_flex) * sizeof(*recs));
	if (!e || !recs) {
		ret = EXT2_ET_NO_MEMORY;
		goto out;
	}
	for (i = 0; i < refs->nr; i++) {
		e[2 * i].pos = refs->v[i].start;
		e[2 * i].delta = 1;
		e[2 * i + 1].pos = refs->v[i].start + refs->v[i].len;
		e[2 * i + 1].delta = -1;
	}
	qsort(e, nr_edges, sizeof(*e), edge_cmp);
	for (i = 0; i < nr_edges; i++) {
		blk64_t start = e[i].pos, end;

		active += e[i].delta;
		if (i + 1 == nr_edges || e[i + 1].pos == start || !active)
			continue;
		end = e[i + 1].pos;
		while (start < end) {
			struct grec *last = nr ? &recs[nr - 1] : NULL;
			struct rfl_group *grp;
			blk64_t piece;
			dgrp_t fg;

			fg = rfl_block_flex_group(rfs, start);
			ret = rfl_group_load(rfs, fg, &grp);
			if (ret)
				goto out;
			piece = grp->first + grp->nr_blocks - start;
			if (piece > end - start)
				piece = end - start;
			if (last && last->fg == fg &&
			    grp->first + ext4_refcount_rec_end(&last->r) ==
			    start && last->r.count == (u32)(active + 1)) {
				last->r.len += (u32)piece;
			} else {
				recs[nr].fg = fg;
				recs[nr].extra = (u32)active;
				recs[nr].r.start = (u32)(start - grp->first);
				recs[nr].r.len = (u32)piece;
				recs[nr].r.count = (u32)(active + 1);
				nr++;
			}
			start += piece;
		}
	}
	if (records)
		*records = nr;
	/* records are in block order, so each flex group's are together */
	for (first = 0; !ret && first < nr; first = i) {
		for (i = first; i < nr && recs[i].fg == recs[first].fg; i++)
			;
		ret = load_group(rfs, recs[first].fg, recs + first, i - first);
	}
	/* the groups that had records take their increments in one commit */
	if (rfs->in_txn) {
		if (ret)
			rfl_abort(rfs);
		else
			ret = rfl_commit(rfs);
	}
out:
	free(e);
	free(recs);
	return ret;
}

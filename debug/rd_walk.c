// SPDX-License-Identifier: GPL-2.0
/*
 * rd_walk.c - the damage-tolerant tree walk behind stats, tree, records
 * and dump.
 */
#include <stdlib.h>
#include <string.h>

#include "rd_walk.h"

bool rd_load_meta(u32 fg, void *buf, ull *blk)
{
	*blk = rd_meta_block(fg);
	if (!*blk || *blk >= rd_flex_first(fg) + rd_flex_len(fg))
		return false;
	return !rd_read_block(*blk, buf);
}

/*
 * A cycle or a shared child must not loop the walk, and a big tree must
 * not make it quadratic: the nodes reached are a hash set
 */
static bool seen_before(struct rd_walk *w, ull blk)
{
	bool was;

	if (!blk)
		return true;
	if (rfl_blkset_add(&w->seen, blk, &was))
		return true;	/* out of memory: stop descending */
	return was;
}

static errcode_t walk_node(struct rd_walk *w, ull blk, int level)
{
	struct ext4_btree_problem p;
	struct ext4_refcount_rec rec;
	unsigned int nr, i;
	errcode_t ret;
	char *buf;
	char why[96];

	if (w->stop)
		return 0;
	if (blk < rd_flex_first(w->fg) ||
	    blk >= rd_flex_first(w->fg) + rd_flex_len(w->fg)) {
		w->bad(w, blk, level, "block outside the flex group");
		return 0;
	}
	if (seen_before(w, blk)) {
		w->bad(w, blk, level, "node reached twice");
		return 0;
	}
	buf = malloc(rd_block_size());
	if (!buf)
		return EXT2_ET_NO_MEMORY;
	ret = rd_read_block(blk, buf);
	if (ret) {
		w->bad(w, blk, level, error_message(ret));
		ret = 0;
		goto out;
	}
	if (ext4_btree_check_node(&w->tree, buf, blk, level, &p)) {
		snprintf(why, sizeof(why), "%s, not descended",
			 ext4_btree_problem_words(p.code));
		w->bad(w, blk, level, why);
		goto out;
	}
	w->nodes++;
	if (w->node && w->node(w, blk, level, buf)) {
		w->stop = true;
		goto out;
	}
	nr = le16_to_cpu(((struct ext4_btree_node_head *)buf)->bn_nr_entries);
	for (i = 0; i < nr && !w->stop; i++) {
		if (level) {
			__le64 c;

			memcpy(&c, buf + rd_val_off(i), 8);
			ret = walk_node(w, le64_to_cpu(c), level - 1);
			if (ret)
				goto out;
			continue;
		}
		ext4_refcount_rec_decode(buf + rd_key_off(i),
					 buf + rd_val_off(i), &rec);
		w->records++;
		w->shared += rec.len;
		if (w->record && w->record(w, &rec))
			w->stop = true;
	}
out:
	free(buf);
	return ret;
}

errcode_t rd_walk_group(struct rd_walk *w, u32 fg)
{
	struct ext4_rfx_problem p;
	struct ext4_rfx_block *fm;
	errcode_t ret = 0;
	unsigned int i;
	char why[128];
	blk64_t blk;

	w->fg = fg;
	w->root = 0;
	w->height = 0;
	w->generation = 0;
	w->nodes = w->records = w->shared = 0;
	rfl_blkset_clear(&w->seen);
	w->stop = false;
	rd_check_tree(fg, &w->tree);
	fm = malloc(rd_block_size());
	if (!fm)
		return EXT2_ET_NO_MEMORY;
	/* A damaged block is walked as far as it can be trusted */
	if (rfl_fg_read_meta(rd_fs(), rd.rfs->csum_seed, fg, fm, &blk, &p) &&
	    p.code == EXT4_RFX_OK) {
		w->meta_blk = rd_meta_block(fg);
		w->bad(w, w->meta_blk, -1,
		       "bg_reserved points outside the flex group "
		       "or the block cannot be read");
		goto out;
	}
	w->meta_blk = blk;
	if (!blk)
		goto out;
	if (p.code != EXT4_RFX_OK) {
		snprintf(why, sizeof(why), "metadata block: %s",
			 ext4_rfx_problem_words(p.code));
		w->bad(w, w->meta_blk, -1, why);
		/* without the magic nothing in it can be trusted */
		if (p.code == EXT4_RFX_BAD_MAGIC)
			goto out;
	}
	w->generation = le64_to_cpu(fm->fm_generation);
	w->tree.generation = w->generation;
	for (i = 0; i < EXT4_RFX_NR_SLOTS; i++) {
		if (le16_to_cpu(fm->fm_roots[i].rr_type) != EXT4_TREE_REFCOUNT)
			continue;
		w->root = le64_to_cpu(fm->fm_roots[i].rr_root);
		w->height = le16_to_cpu(fm->fm_roots[i].rr_height);
		break;
	}
	if (!w->root || !w->height)
		goto out;
	if (w->height > EXT4_BTREE_MAX_HEIGHT) {
		w->bad(w, w->meta_blk, -1, "tree height over 32");
		goto out;
	}
	ret = walk_node(w, w->root, w->height - 1);
out:
	free(fm);
	free(w->seen.slot);
	memset(&w->seen, 0, sizeof(w->seen));
	return ret;
}

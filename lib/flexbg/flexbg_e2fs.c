// SPDX-License-Identifier: GPL-2.0
/*
 * flexbg_e2fs.c - the tree's reserve of a flex group on libext2fs.
 */
#include <stdlib.h>
#include <string.h>

#include "btree/e2fs_host.h"
#include "flexbg/flexbg_e2fs.h"
#include "flexbg/flexbg_rec.h"
#include "refcount/refcount_rec.h"
#include "reflink_err.h"

/* The descriptor fields FORMAT.md 4.1 names, at the offsets it states */
static_assert(offsetof(struct ext4_group_desc, bg_checksum) == 0x1e,
	      "bg_checksum");
static_assert(offsetof(struct ext4_group_desc, bg_reserved) == 0x3c,
	      "bg_reserved");

dgrp_t e2fs_flex_group_size(ext2_filsys fs)
{
	unsigned int log = fs->super->s_log_groups_per_flex;

	if (!ext2fs_has_feature_flex_bg(fs->super))
		return 1;
	/* A flex group larger than the fs is the whole fs */
	if (log >= 31 || (1ULL << log) >= fs->group_desc_count)
		return fs->group_desc_count ? fs->group_desc_count : 1;
	return 1U << log;
}

dgrp_t e2fs_flex_group_count(ext2_filsys fs)
{
	dgrp_t size = e2fs_flex_group_size(fs);

	return (fs->group_desc_count + (u64)size - 1) / size;
}

blk64_t e2fs_flex_group_first_block(ext2_filsys fs, dgrp_t fg)
{
	return ext2fs_group_first_block2(fs, fg * e2fs_flex_group_size(fs));
}

blk64_t e2fs_flex_group_blocks(ext2_filsys fs, dgrp_t fg)
{
	u64 size = e2fs_flex_group_size(fs);
	u64 last = (fg + 1ULL) * size - 1;

	if (last >= fs->group_desc_count)
		last = fs->group_desc_count - 1;
	return ext2fs_group_last_block2(fs, last) -
		e2fs_flex_group_first_block(fs, fg) + 1;
}

dgrp_t e2fs_flex_group_of(ext2_filsys fs, blk64_t blk)
{
	blk64_t first = fs->super->s_first_data_block;

	if (blk < first)
		return 0;
	return (blk - first) / ((blk64_t)e2fs_flex_group_size(fs) *
				fs->super->s_blocks_per_group);
}

u32 e2fs_host_csum_seed(ext2_filsys fs)
{
	if (ext2fs_has_feature_csum_seed(fs->super))
		return fs->super->s_checksum_seed;
	return ext2fs_crc32c_le(~0U, fs->super->s_uuid,
				sizeof(fs->super->s_uuid));
}

__u32 rfl_bg_reserved(ext2_filsys fs, dgrp_t g)
{
	struct ext4_group_desc *gd;

	gd = (struct ext4_group_desc *)ext2fs_group_desc(fs, fs->group_desc,
							 g);
	return gd->bg_reserved;
}

void rfl_set_bg_reserved(ext2_filsys fs, dgrp_t g, __u32 value)
{
	struct ext4_group_desc *gd;

	gd = (struct ext4_group_desc *)ext2fs_group_desc(fs, fs->group_desc,
							 g);
	gd->bg_reserved = value;
	ext2fs_group_desc_csum_set(fs, g);
	ext2fs_mark_super_dirty(fs);
}

/* ---------------------------------------------------------------- */
/* The fs metadata map                                                */
/* ---------------------------------------------------------------- */

/*
 * The bitmap already keeps the allocator off metadata on a consistent fs;
 * this map is what keeps a corrupt tree pointer or a damaged bitmap from
 * turning into a write over an inode table or a freed bitmap block.
 */
static errcode_t meta_push(struct e2fs_meta_map *m, blk64_t first,
			   blk64_t last, blk64_t start, blk64_t len)
{
	blk64_t end;
	errcode_t ret;

	if (!len)
		return 0;
	end = start + len;
	if (start < first)
		start = first;
	if (end > last)
		end = last;
	if (start >= end)
		return 0;
	/* contiguous with the last run: one run (memory by runs, not groups) */
	if (m->nr && start >= m->runs[m->nr - 1].start &&
	    start <= m->runs[m->nr - 1].start + m->runs[m->nr - 1].len) {
		if (end > m->runs[m->nr - 1].start + m->runs[m->nr - 1].len)
			m->runs[m->nr - 1].len = end - m->runs[m->nr - 1].start;
		return 0;
	}
	if (m->nr == m->cap) {
		unsigned int ncap = m->cap ? m->cap * 2 : 32;

		/* resize_array's prototype and body disagree on order */
		ret = ext2fs_resize_mem(m->cap * sizeof(*m->runs),
					ncap * sizeof(*m->runs), &m->runs);
		if (ret)
			return ret;
		m->cap = ncap;
	}
	m->runs[m->nr].start = start;
	m->runs[m->nr].len = end - start;
	m->nr++;
	return 0;
}

/* A location of 0 means "none" to libext2fs */
static errcode_t meta_add(struct e2fs_meta_map *m, blk64_t first,
			  blk64_t last, blk64_t start, blk64_t len)
{
	return start ? meta_push(m, first, last, start, len) : 0;
}

static int meta_cmp(const void *a, const void *b)
{
	const struct e2fs_meta_run *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

static void meta_sort(struct e2fs_meta_map *m)
{
	unsigned int i, j;

	if (!m->nr)
		return;
	qsort(m->runs, m->nr, sizeof(*m->runs), meta_cmp);
	for (i = 0, j = 1; j < m->nr; j++) {
		struct e2fs_meta_run *a = &m->runs[i], *b = &m->runs[j];

		if (b->start <= a->start + a->len) {
			if (b->start + b->len > a->start + a->len)
				a->len = b->start + b->len - a->start;
		} else {
			m->runs[++i] = *b;
		}
	}
	m->nr = i + 1;
}

/*
 * Collect the metadata of groups [g0, g1) that lies in [first, last):
 * superblock and descriptor copies of those groups, and the bitmaps and
 * inode tables of every group (flex_bg may pack them anywhere).
 */
static errcode_t meta_collect(ext2_filsys fs, struct e2fs_meta_map *m,
			      blk64_t first, blk64_t last, dgrp_t g0,
			      dgrp_t g1)
{
	blk64_t sb, old_desc, new_desc, old_desc_blocks;
	blk_t used;
	errcode_t ret;
	dgrp_t g;

	if (g1 > fs->group_desc_count)
		g1 = fs->group_desc_count;
	if (ext2fs_has_feature_meta_bg(fs->super))
		old_desc_blocks = fs->super->s_first_meta_bg;
	else
		old_desc_blocks = fs->desc_blocks +
			fs->super->s_reserved_gdt_blocks;

	for (g = g0; g < g1; g++) {
		ret = ext2fs_super_and_bgd_loc2(fs, g, &sb, &old_desc,
						&new_desc, &used);
		if (ret)
			return ret;
		ret = meta_add(m, first, last, sb, 1);
		/* with 4 KiB blocks group 0's superblock is block 0 */
		if (!ret && g == 0 && !sb)
			ret = meta_push(m, first, last, 0, 1);
		if (!ret)
			ret = meta_add(m, first, last, old_desc,
				       old_desc_blocks);
		if (!ret)
			ret = meta_add(m, first, last, new_desc, 1);
		if (ret)
			return ret;
	}
	/* one kind at a time: flex_bg packs each kind in a run */
	for (g = 0; g < fs->group_desc_count; g++) {
		ret = meta_add(m, first, last, ext2fs_block_bitmap_loc(fs, g),
			       1);
		if (ret)
			return ret;
	}
	for (g = 0; g < fs->group_desc_count; g++) {
		ret = meta_add(m, first, last, ext2fs_inode_bitmap_loc(fs, g),
			       1);
		if (ret)
			return ret;
	}
	for (g = 0; g < fs->group_desc_count; g++) {
		ret = meta_add(m, first, last, ext2fs_inode_table_loc(fs, g),
			       fs->inode_blocks_per_group);
		if (ret)
			return ret;
	}
	meta_sort(m);
	return 0;
}

errcode_t e2fs_meta_map_build(ext2_filsys fs, struct e2fs_meta_map **mapp)
{
	struct e2fs_meta_map *m;
	errcode_t ret;

	ret = ext2fs_get_memzero(sizeof(*m), &m);
	if (ret)
		return ret;
	ret = meta_collect(fs, m, 0, ext2fs_blocks_count(fs->super), 0,
			   fs->group_desc_count);
	if (ret) {
		e2fs_meta_map_free(m);
		return ret;
	}
	*mapp = m;
	return 0;
}

void e2fs_meta_map_free(struct e2fs_meta_map *map)
{
	if (!map)
		return;
	e2fs_meta_map_release(map);
	ext2fs_free_mem(&map);
}

unsigned int e2fs_meta_map_nr(const struct e2fs_meta_map *map)
{
	return map->nr;
}

void e2fs_meta_map_run(const struct e2fs_meta_map *map, unsigned int i,
		       blk64_t *start, blk64_t *len)
{
	*start = map->runs[i].start;
	*len = map->runs[i].len;
}

/* Index of the first run ending after blk */
static unsigned int meta_lower(const struct e2fs_meta_map *m, blk64_t blk)
{
	unsigned int lo = 0, hi = m->nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (m->runs[mid].start + m->runs[mid].len <= blk)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool e2fs_meta_map_overlaps(const struct e2fs_meta_map *map, blk64_t start,
			    blk64_t len)
{
	unsigned int i = meta_lower(map, start);

	return i < map->nr && map->runs[i].start < start + len;
}

bool e2fs_meta_map_data_range(ext2_filsys fs,
			      const struct e2fs_meta_map *map, blk64_t start,
			      blk64_t len)
{
	blk64_t end = start + len;

	return start >= fs->super->s_first_data_block && end > start &&
	       end <= ext2fs_blocks_count(fs->super) &&
	       !e2fs_meta_map_overlaps(map, start, len);
}

/* Fill m (zeroed) with the runs of src inside [first, end) */
errcode_t e2fs_meta_map_slice(struct e2fs_meta_map *m,
			      const struct e2fs_meta_map *src, blk64_t first,
			      blk64_t end)
{
	unsigned int i;
	errcode_t ret;

	for (i = meta_lower(src, first);
	     i < src->nr && src->runs[i].start < end; i++) {
		ret = meta_add(m, first, end, src->runs[i].start,
			       src->runs[i].len);
		if (ret)
			return ret;
	}
	return 0;
}

errcode_t e2fs_meta_map_fill_fg(ext2_filsys fs, struct e2fs_meta_map *m,
				dgrp_t fg)
{
	dgrp_t size = e2fs_flex_group_size(fs);
	blk64_t first = e2fs_flex_group_first_block(fs, fg);

	return meta_collect(fs, m, first,
			    first + e2fs_flex_group_blocks(fs, fg),
			    (u64)fg * size, (u64)fg * size + size);
}

void e2fs_meta_map_release(struct e2fs_meta_map *m)
{
	ext2fs_free_mem(&m->runs);
	m->nr = m->cap = 0;
}

const struct e2fs_meta_run *e2fs_meta_map_find(const struct e2fs_meta_map *m,
					       blk64_t blk)
{
	unsigned int i = meta_lower(m, blk);

	if (i < m->nr && m->runs[i].start <= blk)
		return &m->runs[i];
	return NULL;
}

/*
 * Read flex group fg's metadata block into buf and check it.  *blkp is
 * its block, 0 when bg_reserved is 0 (no block: buf untouched).
 */
errcode_t rfl_fg_read_meta(ext2_filsys fs, __u32 seed, dgrp_t fg, void *buf,
			   blk64_t *blkp, struct ext4_rfx_problem *p)
{
	__u32 rel = rfl_bg_reserved(fs, fg * e2fs_flex_group_size(fs));

	*blkp = 0;
	if (p)
		p->code = EXT4_RFX_OK;
	if (!rel)
		return 0;
	if (rel >= e2fs_flex_group_blocks(fs, fg))
		return RFL_ET_CORRUPT_META;
	*blkp = e2fs_flex_group_first_block(fs, fg) + rel;
	return rfl_fg_read_meta_at(fs, seed, fg, *blkp, buf, p);
}

errcode_t rfl_fg_read_meta_at(ext2_filsys fs, __u32 seed, dgrp_t fg,
			      blk64_t blk, void *buf,
			      struct ext4_rfx_problem *p)
{
	struct ext4_rfx_problem local;
	errcode_t ret;

	if (!p)
		p = &local;
	p->code = EXT4_RFX_OK;
	ret = io_channel_read_blk64(fs->io, blk, 1, buf);
	if (ret)
		return ret;
	if (!ext4_rfx_check(buf, fs->blocksize, seed, blk, fg, p))
		return 0;
	switch (p->code) {
	case EXT4_RFX_BAD_MAGIC:
		return RFL_ET_BAD_MAGIC;
	case EXT4_RFX_BAD_CSUM:
		return RFL_ET_BAD_CSUM;
	case EXT4_RFX_BAD_VERSION:
	case EXT4_RFX_UNKNOWN_SLOT_TYPE:
		return RFL_ET_BAD_VERSION;
	default:
		return RFL_ET_CORRUPT_META;
	}
}


blk64_t rfl_fg_resv_blocks(ext2_filsys fs, dgrp_t fg)
{
	struct ext4_refcount_resv r;

	if (ext4_refcount_resv_calc(fs->blocksize,
				    e2fs_flex_group_blocks(fs, fg), &r))
		return 0;
	return r.total;
}

/* [lo, hi): the first free run of len blocks, or 0 */
static blk64_t find_in(ext2_filsys fs, const struct e2fs_meta_map *map,
		       blk64_t lo, blk64_t hi, blk64_t len)
{
	ext2fs_block_bitmap bmap = fs->block_map;
	blk64_t z, s;

	while (lo < hi && hi - lo >= len) {
		if (ext2fs_find_first_zero_block_bitmap2(bmap, lo, hi - 1,
							 &z))
			return 0;
		if (hi - z < len)
			return 0;
		if (ext2fs_find_first_set_block_bitmap2(bmap, z,
							z + len - 1, &s))
			s = z + len;
		if (s - z >= len &&
		    !(map && e2fs_meta_map_overlaps(map, z, len)))
			return z;
		/* metadata unmarked in the bitmap: step over it slowly */
		lo = s > z ? s : z + 1;
	}
	return 0;
}

blk64_t rfl_fg_find_run(ext2_filsys fs, const struct e2fs_meta_map *map,
			blk64_t lo, blk64_t hi, blk64_t goal, blk64_t len)
{
	blk64_t r = 0;

	if (!len)
		return 0;
	if (goal > lo && goal < hi)
		r = find_in(fs, map, goal, hi, len);
	if (!r)
		r = find_in(fs, map, lo, hi, len);
	return r;
}

/* The longest free run inside [lo, hi) */
static blk64_t longest_run(ext2_filsys fs, blk64_t lo, blk64_t hi)
{
	ext2fs_block_bitmap bmap = fs->block_map;
	blk64_t z, s, best = 0;

	while (lo < hi) {
		if (ext2fs_find_first_zero_block_bitmap2(bmap, lo, hi - 1,
							 &z))
			break;
		if (ext2fs_find_first_set_block_bitmap2(bmap, z, hi - 1, &s))
			s = hi;
		if (s - z > best)
			best = s - z;
		lo = s;
	}
	return best;
}

/* The free blocks of [lo, hi), scattered or not */
static blk64_t free_in(ext2_filsys fs, blk64_t lo, blk64_t hi)
{
	blk64_t z, s, n = 0;

	while (lo < hi) {
		if (ext2fs_find_first_zero_block_bitmap2(fs->block_map, lo,
							 hi - 1, &z))
			break;
		if (ext2fs_find_first_set_block_bitmap2(fs->block_map, z,
							hi - 1, &s))
			s = hi;
		n += s - z;
		lo = s;
	}
	return n;
}

blk64_t rfl_fg_resv_missing(ext2_filsys fs, const struct e2fs_meta_map *map,
			    bool (*needs)(void *priv, dgrp_t fg,
					  bool *has_meta),
			    void *priv, struct rfl_resv_short *why)
{
	dgrp_t fg, n = e2fs_flex_group_count(fs);
	blk64_t missing = 0, first, end, want, run;
	bool has_meta;

	if (why)
		memset(why, 0, sizeof(*why));
	for (fg = 0; fg < n; fg++) {
		has_meta = false;
		if (!needs(priv, fg, &has_meta))
			continue;
		first = e2fs_flex_group_first_block(fs, fg);
		end = first + e2fs_flex_group_blocks(fs, fg);
		want = rfl_fg_resv_blocks(fs, fg) + (has_meta ? 0 : 1);
		run = longest_run(fs, first + 1, end);
		/* the metadata block can sit in the run too */
		if (run >= want &&
		    (!map || rfl_fg_find_run(fs, map, first + 1, end, 0,
					     want)))
			continue;
		missing += want > run ? want - run : 1;
		if (!why)
			continue;
		if (!why->nr_fg) {
			why->fg = fg;
			why->first = first;
			why->end = end;
			why->want = want;
			why->longest = run;
			why->free = free_in(fs, first + 1, end);
		}
		why->nr_fg++;
	}
	return missing;
}

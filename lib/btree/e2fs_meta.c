// SPDX-License-Identifier: GPL-2.0
/*
 * e2fs_meta.c - the filesystem's metadata blocks as sorted runs: what
 * keeps the B-tree host (e2fs_host.c) and the checker from writing over
 * a superblock copy, a bitmap or an inode table.
 */
#include <stdlib.h>

#include "e2fs_host.h"
#include "e2fs_meta_int.h"
#include "util/vec.h"

/*
 * The bitmap already keeps the allocator off metadata on a consistent fs;
 * this map is what keeps a corrupt tree pointer or a damaged bitmap from
 * turning into a write over an inode table or a freed bitmap block.
 */
static errcode_t meta_push(struct e2fs_meta_map *m, blk64_t first,
			   blk64_t last, blk64_t start, blk64_t len)
{
	blk64_t end;

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
	if (rfl_vec_grow((void **)&m->runs, &m->cap, m->nr, sizeof(*m->runs)))
		return EXT2_ET_NO_MEMORY;
	m->runs[m->nr].start = start;
	m->runs[m->nr].len = end - start;
	m->nr++;
	return 0;
}

/* A location of 0 means "none" to libext2fs */
errcode_t e2fs_meta_add(struct e2fs_meta_map *m, blk64_t first, blk64_t last,
			blk64_t start, blk64_t len)
{
	return start ? meta_push(m, first, last, start, len) : 0;
}

static int meta_cmp(const void *a, const void *b)
{
	const struct meta_run *x = a, *y = b;

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
		struct meta_run *a = &m->runs[i], *b = &m->runs[j];

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
errcode_t e2fs_meta_collect(ext2_filsys fs, struct e2fs_meta_map *m,
			    blk64_t first, blk64_t last, dgrp_t g0, dgrp_t g1)
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
		ret = e2fs_meta_add(m, first, last, sb, 1);
		/* with 4 KiB blocks group 0's superblock is block 0 */
		if (!ret && g == 0 && !sb)
			ret = meta_push(m, first, last, 0, 1);
		if (!ret)
			ret = e2fs_meta_add(m, first, last, old_desc,
					    old_desc_blocks);
		if (!ret)
			ret = e2fs_meta_add(m, first, last, new_desc, 1);
		if (ret)
			return ret;
	}
	/* one kind at a time: flex_bg packs each kind in a run */
	for (g = 0; g < fs->group_desc_count; g++) {
		ret = e2fs_meta_add(m, first, last,
				    ext2fs_block_bitmap_loc(fs, g), 1);
		if (ret)
			return ret;
	}
	for (g = 0; g < fs->group_desc_count; g++) {
		ret = e2fs_meta_add(m, first, last,
				    ext2fs_inode_bitmap_loc(fs, g), 1);
		if (ret)
			return ret;
	}
	for (g = 0; g < fs->group_desc_count; g++) {
		ret = e2fs_meta_add(m, first, last,
				    ext2fs_inode_table_loc(fs, g),
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
	ret = e2fs_meta_collect(fs, m, 0, ext2fs_blocks_count(fs->super), 0,
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
	ext2fs_free_mem(&map->runs);
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
unsigned int e2fs_meta_lower(const struct e2fs_meta_map *m, blk64_t blk)
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
	unsigned int i = e2fs_meta_lower(map, start);

	return i < map->nr && map->runs[i].start < start + len;
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sort.h - the checker's sorts: stable LSD radix sorts by an unsigned key
 * at the start of each element.  The extents come out of the inode scan
 * in thousands of short ascending runs (a clone's extents point back at
 * its source's blocks), which a comparison sort pays for with log n
 * indirect calls per element; a radix sort moves each element once per
 * 11 bits of the largest key, and skips the digits all keys share.
 */
#ifndef RFL_CHECK_SORT_H
#define RFL_CHECK_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <ext2fs/ext2fs.h>

/*
 * Sort nr elements of size bytes (8, 16, 24 or 32, or any multiple of 8)
 * by the __u64 at their start; equal keys keep their order.  Needs half
 * a copy of the array for the moves: EXT2_ET_NO_MEMORY (the elements
 * all there, their order undefined) when there is no room for it.
 */
errcode_t rfl_sort_by_u64(void *v, size_t nr, size_t size);

/* The same for an array of __u32 */
errcode_t rfl_sort_u32(__u32 *v, size_t nr);

#endif

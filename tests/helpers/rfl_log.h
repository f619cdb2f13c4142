/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfl_log.h - the write log of rflctl's logging io manager (RFLCTL_LOG),
 * read by rfl_replay.
 *
 * The file is RFL_LOG_MAGIC, then entries in the order libext2fs issued
 * them, each a struct rfl_log_entry in host byte order (the log never
 * leaves the machine that wrote it), followed for RFL_LOG_WRITE by
 * le_len bytes of data:
 *
 *	RFL_LOG_WRITE	le_len bytes at byte le_offset of the image
 *	RFL_LOG_ZERO	le_len zero bytes at le_offset (zeroout, discard)
 *	RFL_LOG_FLUSH	a completed flush: every entry before it is on
 *			the disk, nothing after it is
 *
 * A write of several blocks is logged as one entry per block.
 */
#ifndef RFL_LOG_H
#define RFL_LOG_H

#include <ext2fs/ext2_types.h>

#define RFL_LOG_MAGIC		"RFLLOG1\n"
#define RFL_LOG_MAGIC_LEN	8

enum {
	RFL_LOG_WRITE = 'W',
	RFL_LOG_ZERO = 'Z',
	RFL_LOG_FLUSH = 'F',
};

struct rfl_log_entry {
	__u32 le_type;
	__u32 le_len;
	__u64 le_offset;
};

_Static_assert(sizeof(struct rfl_log_entry) == 16, "rfl_log_entry size");

#endif

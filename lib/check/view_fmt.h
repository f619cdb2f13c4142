/* SPDX-License-Identifier: GPL-2.0 */
/*
 * view_fmt.h - the overlay pass 6 hands to stock e2fsck -fn (view.c
 * writes it, misc/preload/reflinkck_view.c serves it): the units of the
 * image that the stripped view changes, by byte offset.
 *
 * A memfd holding: this head, then nr offsets (__u64, ascending, each a
 * multiple of unit), then nr units of data in the same order.
 */
#ifndef RFL_CHECK_VIEW_FMT_H
#define RFL_CHECK_VIEW_FMT_H

#include <ext2fs/ext2_types.h>

#define RFL_VIEW_MAGIC		"RFLVIEW1"
/* the superblock's size: every write libext2fs makes is a multiple */
#define RFL_VIEW_UNIT		1024
/* the environment of the e2fsck child: the overlay's fd, and the pipe
 * the shim writes one byte to once it has served the superblock */
#define RFL_VIEW_ENV_FD		"REFLINKCK_VIEW_FD"
#define RFL_VIEW_ENV_ACK	"REFLINKCK_VIEW_ACK"

struct rfl_view_head {
	char magic[8];
	__u32 unit;
	__u32 pad;
	__u64 nr;
	/* the image the overlay is for (st_dev, st_ino; st_rdev of a
	 * block device): any other file is read as it is */
	__u64 dev, ino, rdev;
};

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * problem.h - reflinkck's problem table: every message the checker
 * prints (except the summary) comes from one entry here.
 */
#ifndef RFL_CHECK_PROBLEM_H
#define RFL_CHECK_PROBLEM_H

#include <stdbool.h>
#include <stdio.h>
#include <ext2fs/ext2fs.h>

/* What a problem report may name; unused fields are ignored */
struct rfl_pctx {
	dgrp_t fg;
	blk64_t blk, len;
	ext2_ino_t ino;
	blk64_t blk2, len2;		/* the expected range */
	__u64 expected, found;
	errcode_t err;
	const char *str;		/* what a lower layer found */
	const char *dev;		/* the device, in commands */
	const char *where;		/* what stock e2fsck was run on */
};

/* Problem codes: pass in the top byte, like e2fsck */
enum rfl_problem {
	PR_0_SHORT_DEVICE = 0x000001,	/* the device ends before the fs */
	PR_0_BAD_DESC = 0x000002,	/* ext2fs_check_desc refuses */
	PR_0_DESC_CSUM = 0x000003,	/* a bg_checksum is wrong */
	PR_0_DESC_CSUM_META = 0x000004,	/* ... and its bg_reserved is bad */
	PR_0_FEATURE_CLEARED = 0x000005,	/* no bit, trees remain */
	PR_0_RECOVER_SHORT = 0x000006,	/* the commands that recover */
	PR_0_RECOVER_DESC = 0x000007,
	PR_0_RECOVER_CLEARED = 0x000008,
	PR_0_RECOVER_CLEARED_NOSB = 0x000009,
	PR_0_JOURNAL_SKIP = 0x00000a,	/* -n: needs_recovery left */
	PR_0_JOURNAL_RECOVER = 0x00000b,	/* -y, -p: replayed first */
	PR_0_JOURNAL_FAILED = 0x00000c,	/* ... and it failed */
	PR_0_DESC_SUSPECT = 0x00000d,	/* bg_checksum and bitmaps' wrong */
	PR_0_JOURNAL_RUN = 0x00000e,	/* no needs_recovery, s_start set */
	PR_0_JOURNAL_RESET = 0x00000f,	/* ... and not replayed: empty it */
	PR_0_READ_ERROR = 0x000010,	/* a block could not be read */
	PR_1_BAD_META = 0x010001,	/* metadata block unreadable/bad */
	PR_1_META_RANGE = 0x010002,	/* bg_reserved out of its flex group */
	PR_1_STRAY_RESERVED = 0x010003,	/* bg_reserved set in a later group */
	PR_1_SPLIT = 0x010004,		/* an interrupted extent split */
	PR_1_SPLIT_FAILED = 0x010005,	/* ... that could not be completed */
	PR_1_UNLINKED = 0x010006,	/* in use, no links: e2fsck's */
	PR_1_I_BLOCKS = 0x010007,	/* i_blocks not what it maps */
	PR_1_UNNAMED = 0x010008,	/* live inode no entry names */
	PR_1_LINKS = 0x010009,		/* i_links_count != entries */
	PR_1_ENTRY_FREE = 0x01000a,	/* an entry names a free inode */
	PR_1_BAD_DIR = 0x01000b,	/* a directory cannot be read */
	PR_1_SPLIT_LEFT = 0x01000c,	/* splits left: no refcount repair */
	PR_1_NEWER = 0x01000d,		/* metadata of a newer version */
	PR_1_NEWER_NO_WRITE = 0x01000e,	/* ... so nothing is written */
	PR_1_DIR_CORRUPT = 0x01000f,	/* a directory entry's rec_len */
	PR_2_TREE = 0x020001,		/* a node failed verification */
	PR_2_BAD_RECORD = 0x020002,	/* a record is malformed */
	PR_2_TREE_COUNTS = 0x020003,	/* root slot's counts or height */
	PR_2_RESV_RANGE = 0x020004,	/* reserve outside/over metadata */
	PR_2_RESV_SIZE = 0x020005,	/* reserve of the wrong size */
	PR_2_RESV_FILE = 0x020006,	/* reserve holds file blocks */
	PR_2_RESV_UNMARKED = 0x020007,	/* reserve free in the bitmap */
	PR_2_RESV_NO_ROOM = 0x020008,	/* ... and cannot be moved */
	PR_3_BAD_INODE = 0x030001,	/* extent tree unreadable */
	PR_3_MISSING = 0x030002,	/* expected record absent */
	PR_3_EXTRA = 0x030003,		/* record nobody shares */
	PR_3_COUNT = 0x030004,		/* wrong count */
	PR_3_LENGTH = 0x030005,		/* wrong range */
	PR_3_LOST_TREE = 0x030006,	/* records lost with the metadata */
	PR_3_NO_REPAIR = 0x030007,	/* bad inodes: nothing is repaired */
	PR_3_OVERFLOW = 0x030008,	/* more sharers than a count holds */
	PR_3_XLINK_NO_RECORD = 0x030009, /* shared, flagged, no record */
	PR_3_META_NO_REPAIR = 0x03000a,	/* data on fs metadata: no write */
	PR_3_TABLE_NO_REPAIR = 0x03000b, /* inode table reads empty */
	PR_3_UNSURE = 0x03000c,		/* records differ, inodes unread */
	PR_4_TREE_UNMARKED = 0x040001,	/* tree node free in the bitmap */
	PR_4_TREE_FILE = 0x040002,	/* tree node is also file data */
	PR_4_META_UNMARKED = 0x040003,	/* metadata block free in bitmap */
	PR_4_LEAKED = 0x040004,		/* in use, owned by nothing */
	PR_4_GROUP_FREE = 0x040005,	/* group's free block count wrong */
	PR_4_SUPER_FREE = 0x040006,	/* superblock's free count wrong */
	PR_4_BITMAP_CSUM = 0x040007,	/* a bitmap's checksum is wrong */
	PR_4_USED_FREE = 0x040008,	/* held, but free in the bitmap */
	PR_4_GROUP_INODES = 0x040009,	/* group's free inode count wrong */
	PR_4_SUPER_INODES = 0x04000a,	/* superblock's free inodes wrong */
	PR_4_ITABLE_UNUSED = 0x04000b,	/* inode in use past itable_unused */
	PR_5_CROSS_LINK = 0x050001,	/* shared without EXT4_REFLINK_FL */
	PR_5_NO_CLONE = 0x050002,	/* the cross-link cannot be cloned */
	PR_5_META_XLINK = 0x050003,	/* file data over metadata */
	PR_5_XLINK_NO_RECORD = 0x050004, /* ... its files given own copies */
	PR_5_META_ON_OWNED = 0x050005,	/* a bitmap on an index/xattr block */
	PR_6_STOCK = 0x060001,		/* stock e2fsck finds damage */
	PR_6_NO_SNAPSHOT = 0x060002,	/* e2image failed */
	PR_6_NO_PRESENT = 0x060003,	/* the snapshot cannot be opened */
	PR_6_STOCK_FAILED = 0x060004,	/* e2fsck could not check */
	PR_6_STOCK_LEFT = 0x060005,	/* e2fsck left damage */
	PR_6_NOT_CLEAN = 0x060006,	/* not clean after the repair */
	PR_R_REBUILT = 0x0f0001,	/* what a rebuild did */
};

/* Entry flags */
#define PR_PREEN_OK	0x01	/* -p may fix it without asking */
#define PR_NO_OK	0x02	/* answering no is not an error */
#define PR_NO_FIX	0x04	/* no repair exists yet: always left */
#define PR_MSG_ONLY	0x08	/* a statement: no question, no count */
#define PR_PREEN_HALT	0x10	/* ... of damage left: -p halts */
#define PR_DEVICE	0x20	/* the device first in every mode */
#define PR_FOLLOW_UP	0x40	/* a second question on the problem just
				 * printed: its words (JSON's) not printed */

/* How questions are answered */
enum rfl_answer_mode {
	RFL_ASK,			/* interactive, on a tty */
	RFL_NO,				/* -n */
	RFL_YES,			/* -y */
	RFL_PREEN,			/* -p */
};

struct rfl_check_ctx {
	const char *device;
	enum rfl_answer_mode mode;
	FILE *out;			/* where problems are printed */
	unsigned int fixed;		/* problems fixed */
	unsigned int left;		/* problems left unfixed */
	bool cancelled;			/* EOF at a question */
	bool halted;			/* -p met a problem it may not fix */
	bool yes_to_all;		/* 'a' answered a question */
	bool bar_shown;			/* a -C 0 bar is on the line */
	int pending;			/* a key read ahead (-2: EOF), or 0 */
	FILE *json;			/* each problem as a JSON object, or NULL */
	unsigned int nr_json;		/* objects written there */
};

/*
 * Report problem code with pctx; true if the caller should fix it.  The
 * caller then reports the fix with rfl_problem_fixed.
 */
bool rfl_fix_problem(struct rfl_check_ctx *ctx, enum rfl_problem code,
		     const struct rfl_pctx *pctx);
void rfl_problem_fixed(struct rfl_check_ctx *ctx, enum rfl_problem code,
		       const struct rfl_pctx *pctx);

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * problem.c - reflinkck's problem table and the question machinery
 *
 * Templates expand %-codes from struct rfl_pctx: %g flex group, %b block,
 * %l length, %i inode, %e expected, %f found, %x/%y found/expected in
 * hex (checksums, as e2fsck prints them), %m error message,
 * %B/%L the expected range, %s a lower layer's description; %r the
 * blocks %b to %B ("block 7" or "blocks 7-9"), %v and %t the "is"/"are"
 * and "it"/"them" that go with it; %d the device (in commands); %w what
 * stock e2fsck was run on (pass 6).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <et/com_err.h>
#include "check/problem.h"
#include "reflink/rfl_json.h"

struct rfl_problem_ent {
	enum rfl_problem code;
	const char *name;		/* the code's name, for the unit test */
	const char *msg;		/* what is wrong */
	const char *question;		/* "Fix", "Rebuild", ... */
	const char *done;		/* what the fix did */
	unsigned int flags;
};

/*
 * Sorted by code; tests/unit/test_problem.c checks that, and that each
 * name's pass matches its code's top byte.
 */
#define PR_ENT(code)	code, #code

static const struct rfl_problem_ent problem_table[] = {
	/* pass 0, the floor (pass_floor.c): nothing else is read before */
	{ PR_ENT(PR_0_SHORT_DEVICE),
	  "the superblock says the filesystem has %e blocks of %l bytes, "
	  "but the device holds only %f: the image is cut short (or the "
	  "superblock is wrong); nothing is checked or written",
	  NULL, NULL, PR_MSG_ONLY },
	{ PR_ENT(PR_0_BAD_DESC),
	  "group descriptors: %m (ext2fs_check_desc)%s; no bitmap, inode or "
	  "tree is read through them, nothing is written",
	  NULL, NULL, PR_MSG_ONLY },
	{ PR_ENT(PR_0_DESC_CSUM),
	  "group %g: descriptor checksum is %x, should be %y",
	  "Fix", "group %g: descriptor checksum set to %y", PR_PREEN_OK },
	{ PR_ENT(PR_0_DESC_CSUM_META),
	  "group %g: descriptor checksum is %x, should be %y, and its "
	  "bg_reserved %b names no metadata block of flex group %B",
	  "Fix", "group %g: bg_reserved cleared (the tree is rebuilt from "
	  "the files), descriptor checksum set", PR_PREEN_OK },
	{ PR_ENT(PR_0_FEATURE_CLEARED),
	  "the reflink feature is not set, but flex group %g still has its "
	  "refcount metadata block %b (%e flex groups in all): a cleared "
	  "feature bit, or an interrupted mkreflink --strip; nothing is "
	  "written",
	  NULL, NULL, PR_MSG_ONLY },
	{ PR_ENT(PR_0_RECOVER_SHORT),
	  "\nTo check what is left (the blocks past the end are lost), give "
	  "the image its size again:\n    truncate -s %B %d\n    reflinkck "
	  "-fy %d",
	  NULL, NULL, PR_MSG_ONLY },
	{ PR_ENT(PR_0_RECOVER_DESC),
	  "\nStock e2fsck repairs the descriptors from their backups once "
	  "the feature is off; the sharing is kept as shared_blocks and "
	  "counted again by --enable:\n    mkreflink --strip %d\n    "
	  "e2fsck -fy %d\n    mkreflink --enable %d\n    reflinkck -fy %d",
	  NULL, NULL, PR_MSG_ONLY | PR_PREEN_HALT },
	{ PR_ENT(PR_0_RECOVER_CLEARED),
	  "\nTo keep the sharing (counted again from the files; the old "
	  "trees are freed as leaked, so -F, or --enable refuses the "
	  "blocks e2fsck calls leaked):\n    mkreflink -F --enable %d\n    "
	  "reflinkck -fy %d\nor to finish the strip (stock e2fsck frees the "
	  "old trees):\n    e2fsck -fy %d",
	  NULL, NULL, PR_MSG_ONLY | PR_PREEN_HALT },
	{ PR_ENT(PR_0_RECOVER_CLEARED_NOSB),
	  "\nshared_blocks is not set either: before anything else, keep "
	  "stock e2fsck from cloning the shared blocks apart:\n    debugfs "
	  "-w -R 'feature shared_blocks' %d\nThen, to keep the sharing "
	  "(counted again from the files; the old trees are freed as "
	  "leaked, so -F):\n    mkreflink -F --enable %d\n    reflinkck -fy "
	  "%d\nor to "
	  "finish the strip (stock e2fsck frees the old trees):\n    "
	  "e2fsck -fy %d",
	  NULL, NULL, PR_MSG_ONLY | PR_PREEN_HALT },
	/* e2fsck's words and exit codes for the same flag */
	{ PR_ENT(PR_0_JOURNAL_SKIP),
	  "Warning: skipping journal recovery because doing a read-only "
	  "filesystem check.",
	  NULL, NULL, PR_MSG_ONLY },
	{ PR_ENT(PR_0_JOURNAL_RECOVER),
	  "recovering journal",
	  NULL, NULL, PR_MSG_ONLY | PR_DEVICE },
	{ PR_ENT(PR_0_JOURNAL_FAILED),
	  "the journal cannot be replayed: %m%s\nnothing else is checked",
	  NULL, NULL, PR_MSG_ONLY | PR_PREEN_HALT },
	{ PR_ENT(PR_0_DESC_SUSPECT),
	  "group %g: its descriptor checksum is wrong, and so is the "
	  "checksum of a bitmap it points at: its pointers may be wrong, and "
	  "a repair through them could free every file's blocks; nothing is "
	  "written; run e2fsck after mkreflink --strip\n",
	  NULL, NULL, PR_MSG_ONLY },
	/* e2fsck's words, questions and exit codes (0 with -n; -p halts) */
	{ PR_ENT(PR_0_JOURNAL_RUN),
	  "Superblock needs_recovery flag is clear, but journal has data.",
	  "Run journal anyway", NULL, PR_NO_OK },
	{ PR_ENT(PR_0_JOURNAL_RESET),
	  "the journal's data is not replayed",
	  "Clear journal", NULL, PR_NO_OK | PR_FOLLOW_UP },
	{ PR_ENT(PR_0_READ_ERROR),
	  "block %b could not be read (%s): what it holds is not known, "
	  "so nothing is repaired; check the device, then run the check "
	  "again\n",
	  NULL, NULL, PR_MSG_ONLY },
	{ PR_ENT(PR_1_BAD_META),
	  "flex group %g: metadata block %b: %s",
	  "Rebuild", NULL, PR_PREEN_OK },
	{ PR_ENT(PR_1_META_RANGE),
	  "flex group %g: bg_reserved %b points %s",
	  "Rebuild", NULL, PR_PREEN_OK },
	{ PR_ENT(PR_1_STRAY_RESERVED),
	  "group %g: bg_reserved is %f, expected 0 (only the first group "
	  "of a flex group points at its metadata block)",
	  "Clear", "group %g: bg_reserved cleared", PR_PREEN_OK },
	{ PR_ENT(PR_1_SPLIT),
	  "inode %i: the extent at logical block %b (%l blocks) runs over "
	  "the next one: an interrupted split",
	  "Complete", "inode %i: the extent at logical block %b now has %e "
	  "blocks", PR_PREEN_OK },
	{ PR_ENT(PR_1_SPLIT_FAILED),
	  "inode %i: the split at logical block %b cannot be completed: %s",
	  "Complete", NULL, PR_NO_FIX },
	{ PR_ENT(PR_1_UNLINKED),
	  "inode %i is marked in use but has no links or is deleted (an "
	  "interrupted create or unlink); run e2fsck after mkreflink --strip",
	  "Fix", NULL, PR_NO_FIX },
	{ PR_ENT(PR_1_I_BLOCKS),
	  "inode %i: i_blocks is %f, should be %e (fs blocks)",
	  "Fix", "inode %i: i_blocks set to %e blocks", PR_PREEN_OK },
	{ PR_ENT(PR_1_UNNAMED),
	  "inode %i is in use but no directory entry names it (an "
	  "interrupted create or unlink); run e2fsck after mkreflink --strip",
	  "Fix", NULL, PR_NO_FIX },
	{ PR_ENT(PR_1_LINKS),
	  "inode %i: i_links_count is %f, %e directory entries name it",
	  "Fix", "inode %i: i_links_count set to %e", PR_PREEN_OK },
	{ PR_ENT(PR_1_ENTRY_FREE),
	  "a directory entry names inode %i, %s; run e2fsck after mkreflink "
	  "--strip",
	  "Fix", NULL, PR_NO_FIX },
	{ PR_ENT(PR_1_BAD_DIR),
	  "directory inode %i cannot be read (%m): link counts not checked; "
	  "run e2fsck after mkreflink --strip",
	  "Fix", NULL, PR_NO_FIX },
	{ PR_ENT(PR_1_SPLIT_LEFT),
	  "%e interrupted splits left: no refcount is changed in this run\n",
	  NULL, NULL, PR_MSG_ONLY },
	{ PR_ENT(PR_1_NEWER),
	  "flex group %g: metadata block %b was written by a newer version "
	  "(%s): neither checked nor changed",
	  "Fix", NULL, PR_NO_FIX },
	{ PR_ENT(PR_1_NEWER_NO_WRITE),
	  "%e flex groups of a newer version: nothing is written to the "
	  "image (docs/FORMAT.md 10)\n",
	  NULL, NULL, PR_MSG_ONLY },
	/* e2fsck's words for it, pass 2 */
	{ PR_ENT(PR_1_DIR_CORRUPT),
	  "directory inode %i, block #%b, offset %f: directory corrupted (an "
	  "entry's rec_len is %e): link counts not checked; run e2fsck after "
	  "mkreflink --strip",
	  "Fix", NULL, PR_NO_FIX },
	{ PR_ENT(PR_2_TREE),
	  "flex group %g: refcount tree node %b: %s",
	  "Rebuild", NULL, PR_PREEN_OK },
	{ PR_ENT(PR_2_BAD_RECORD),
	  "flex group %g: refcount record %b+%l count %f: %s",
	  "Rebuild", NULL, PR_PREEN_OK },
	{ PR_ENT(PR_2_TREE_COUNTS),
	  "flex group %g: refcount tree: %s",
	  "Rebuild", NULL, PR_PREEN_OK },
	{ PR_ENT(PR_2_RESV_RANGE),
	  "flex group %g: refcount tree reserve %b+%l %s",
	  "Move", "flex group %g: refcount tree reserve moved to %B+%L",
	  PR_PREEN_OK },
	{ PR_ENT(PR_2_RESV_SIZE),
	  "flex group %g: refcount tree reserve %b+%l has %f blocks, "
	  "expected %e",
	  "Move", "flex group %g: refcount tree reserve moved to %B+%L",
	  PR_PREEN_OK },
	{ PR_ENT(PR_2_RESV_FILE),
	  "flex group %g: refcount tree reserve %b+%l holds blocks of a file",
	  "Move", "flex group %g: refcount tree reserve moved to %B+%L",
	  PR_PREEN_OK },
	{ PR_ENT(PR_2_RESV_UNMARKED),
	  "flex group %g: refcount tree reserve blocks %b-%B are not marked "
	  "in use",
	  "Fix", "flex group %g: blocks %b-%B marked in use", PR_PREEN_OK },
	{ PR_ENT(PR_2_RESV_NO_ROOM),
	  "flex group %g: no free run of %e blocks to move the reserve to",
	  NULL, NULL, PR_MSG_ONLY | PR_PREEN_HALT },
	{ PR_ENT(PR_3_BAD_INODE),
	  "inode %i: its blocks cannot be read (%m); run e2fsck after "
	  "mkreflink --strip",
	  "Fix", NULL, PR_NO_FIX },
	{ PR_ENT(PR_3_MISSING),
	  "flex group %g: missing refcount record %b+%l, expected count %e",
	  "Rebuild", NULL, PR_PREEN_OK },
	{ PR_ENT(PR_3_EXTRA),
	  "flex group %g: extra refcount record %b+%l count %f, "
	  "no file shares it",
	  "Rebuild", NULL, PR_PREEN_OK },
	{ PR_ENT(PR_3_COUNT),
	  "flex group %g: refcount record %b+%l has count %f, expected %e",
	  "Rebuild", NULL, PR_PREEN_OK },
	{ PR_ENT(PR_3_LENGTH),
	  "flex group %g: refcount record %b+%l count %f, expected "
	  "%B+%L count %e",
	  "Rebuild", NULL, PR_PREEN_OK },
	{ PR_ENT(PR_3_LOST_TREE),
	  "flex group %g: %e expected refcount records are lost with the "
	  "metadata block",
	  "Rebuild", NULL, PR_PREEN_OK },
	{ PR_ENT(PR_3_NO_REPAIR),
	  "%e inodes could not be read: no refcount is changed until e2fsck "
	  "has repaired them\n",
	  NULL, NULL, PR_MSG_ONLY },
	{ PR_ENT(PR_3_OVERFLOW),
	  "flex group %g: blocks %b+%l are mapped %e times, more than a "
	  "refcount holds; unshare some of their files",
	  "Fix", NULL, PR_NO_FIX },
	{ PR_ENT(PR_3_XLINK_NO_RECORD),
	  "flex group %g: blocks %b+%l are mapped %e times and no refcount "
	  "record counts them, which no crash leaves (docs/FORMAT.md 7.5): "
	  "cross-linked files",
	  NULL, NULL, PR_MSG_ONLY | PR_PREEN_HALT },
	{ PR_ENT(PR_3_META_NO_REPAIR),
	  "a file's blocks (data, extent index, xattr) and fs metadata (a "
	  "bitmap, an inode table) claim the same blocks: nothing is "
	  "written, bitmaps would land on a file; "
	  "run e2fsck after mkreflink --strip\n",
	  NULL, NULL, PR_MSG_ONLY },
	{ PR_ENT(PR_3_TABLE_NO_REPAIR),
	  "group %g: %e of the %f inodes its inode bitmap marks in use read "
	  "back with no links or unreadable: its inode table pointer "
	  "may be wrong, and "
	  "freeing their blocks could free every file's; nothing is "
	  "written; run e2fsck after mkreflink --strip\n",
	  NULL, NULL, PR_MSG_ONLY },
	{ PR_ENT(PR_3_UNSURE),
	  "flex group %g: %e refcount records differ from what the files "
	  "that could be read share (the first at block %b); %f inodes "
	  "could not be read, whose blocks are not counted",
	  "Rebuild", NULL, PR_PREEN_OK },
	{ PR_ENT(PR_4_TREE_UNMARKED),
	  "flex group %g: refcount tree block %b is not marked in use",
	  "Rebuild", NULL, PR_PREEN_OK },
	{ PR_ENT(PR_4_TREE_FILE),
	  "flex group %g: refcount tree block %b is also file data",
	  "Rebuild", NULL, PR_PREEN_OK },
	{ PR_ENT(PR_4_META_UNMARKED),
	  "flex group %g: metadata block is not marked in use",
	  "Rebuild", NULL, PR_PREEN_OK },
	{ PR_ENT(PR_4_LEAKED),
	  "%r %v marked in use but nothing owns %t (leaked)",
	  "Free", "%r freed", PR_PREEN_OK },
	{ PR_ENT(PR_4_GROUP_FREE),
	  "group %g: free blocks count wrong (%f, counted=%e)",
	  "Fix", "group %g: free blocks count set to %e", PR_PREEN_OK },
	{ PR_ENT(PR_4_SUPER_FREE),
	  "free blocks count wrong (%f, counted=%e)",
	  "Fix", "free blocks count set to %e", PR_PREEN_OK },
	{ PR_ENT(PR_4_BITMAP_CSUM),
	  "bitmap checksums do not match the bitmaps",
	  "Fix", "bitmaps written again with their checksums", PR_PREEN_OK },
	{ PR_ENT(PR_4_USED_FREE),
	  "%r %v in use but marked free",
	  "Fix", "%r marked in use", PR_PREEN_OK },
	{ PR_ENT(PR_4_GROUP_INODES),
	  "group %g: free inodes count wrong (%f, counted=%e)",
	  "Fix", "group %g: free inodes count set to %e", PR_PREEN_OK },
	{ PR_ENT(PR_4_SUPER_INODES),
	  "free inodes count wrong (%f, counted=%e)",
	  "Fix", "free inodes count set to %e", PR_PREEN_OK },
	{ PR_ENT(PR_4_ITABLE_UNUSED),
	  "group %g: inode %i is marked in use past the group's initialized "
	  "inodes (an interrupted create); run e2fsck after mkreflink --strip",
	  "Fix", NULL, PR_NO_FIX },
	{ PR_ENT(PR_5_CROSS_LINK),
	  "inode %i shares blocks with other files but lacks "
	  "EXT4_REFLINK_FL: cross-linked",
	  "Clone", "inode %i: %e shared blocks copied; the file has its own "
	  "copy now", 0 },
	{ PR_ENT(PR_5_NO_CLONE),
	  "inode %i: cannot give the file its own copy: %s",
	  "Clone", NULL, PR_NO_FIX },
	{ PR_ENT(PR_5_META_XLINK),
	  "inode %i maps blocks in %b+%l that fs metadata or another "
	  "inode's extent index, xattr or block map also uses; run e2fsck "
	  "after mkreflink --strip",
	  "Clone", NULL, PR_NO_FIX },
	{ PR_ENT(PR_5_XLINK_NO_RECORD),
	  "inode %i maps blocks %b+%l that another file maps, and no refcount "
	  "record counted that share: cross-linked",
	  "Clone", "inode %i: %e shared blocks copied; the file has its own "
	  "copy now", 0 },
	{ PR_ENT(PR_5_META_ON_OWNED),
	  "group %g: its %s at %b+%l is also an inode's extent index, xattr "
	  "or block map block; run e2fsck after mkreflink --strip",
	  "Fix", NULL, PR_NO_FIX },
	/* pass 6, stock e2fsck outside the feature (pass_stock.c) */
	{ PR_ENT(PR_6_STOCK),
	  "stock e2fsck -fn finds damage outside the feature (exit %e; run "
	  "on %w, the trees shown free, the sharing as shared_blocks):\n%s",
	  "Repair through the round trip",
	  "repaired by stock e2fsck on the snapshot, the sharing counted "
	  "again; %f blocks written to the image:\n%s", PR_PREEN_OK },
	{ PR_ENT(PR_6_NO_SNAPSHOT),
	  "e2image -r could not make a metadata snapshot (exit %e): %s; "
	  "nothing outside the feature is checked",
	  NULL, NULL, PR_MSG_ONLY | PR_PREEN_HALT },
	{ PR_ENT(PR_6_NO_PRESENT),
	  "the metadata snapshot cannot be prepared for stock e2fsck (%m); "
	  "nothing outside the feature is checked",
	  NULL, NULL, PR_MSG_ONLY | PR_PREEN_HALT },
	{ PR_ENT(PR_6_STOCK_FAILED),
	  "stock e2fsck could not check %w (exit %e):\n%s",
	  NULL, NULL, PR_MSG_ONLY | PR_PREEN_HALT },
	{ PR_ENT(PR_6_STOCK_LEFT),
	  "stock e2fsck left damage in the snapshot (exit %e); none of its "
	  "repairs is written to the image:\n%s",
	  NULL, NULL, PR_MSG_ONLY | PR_PREEN_HALT },
	{ PR_ENT(PR_6_NOT_CLEAN),
	  "after the round trip the image does not check clean "
	  "(reflinkck -fn)",
	  NULL, NULL, PR_MSG_ONLY | PR_PREEN_HALT },
	{ PR_ENT(PR_R_REBUILT), NULL, NULL,
	  "flex group %g: refcount tree rebuilt from the files: %e records "
	  "in %f blocks, metadata block %b",
	  0 },
};

static const struct rfl_problem_ent *find_problem(enum rfl_problem code)
{
	size_t i;

	for (i = 0; i < sizeof(problem_table) / sizeof(problem_table[0]); i++)
		if (problem_table[i].code == code)
			return &problem_table[i];
	return NULL;
}

static void expand(FILE *f, const char *tmpl, const struct rfl_pctx *p)
{
	const char *s;

	for (s = tmpl; *s; s++) {
		if (*s != '%' || !s[1]) {
			fputc(*s, f);
			continue;
		}
		switch (*++s) {
		case 'g': fprintf(f, "%u", p->fg); break;
		case 'b': fprintf(f, "%llu", (unsigned long long)p->blk);
			break;
		case 'l': fprintf(f, "%llu", (unsigned long long)p->len);
			break;
		case 'i': fprintf(f, "%u", p->ino); break;
		case 'e': fprintf(f, "%llu", (unsigned long long)p->expected);
			break;
		case 'f': fprintf(f, "%llu", (unsigned long long)p->found);
			break;
		/* checksums, as e2fsck prints them: found, expected */
		case 'x': fprintf(f, "0x%04llx", (unsigned long long)p->found);
			break;
		case 'y': fprintf(f, "0x%04llx",
				  (unsigned long long)p->expected);
			break;
		case 'B': fprintf(f, "%llu", (unsigned long long)p->blk2);
			break;
		case 'L': fprintf(f, "%llu", (unsigned long long)p->len2);
			break;
		case 'r':
			if (p->blk == p->blk2)
				fprintf(f, "block %llu",
					(unsigned long long)p->blk);
			else
				fprintf(f, "blocks %llu-%llu",
					(unsigned long long)p->blk,
					(unsigned long long)p->blk2);
			break;
		case 'v': fputs(p->blk == p->blk2 ? "is" : "are", f); break;
		case 't': fputs(p->blk == p->blk2 ? "it" : "them", f); break;
		case 's': fputs(p->str ? p->str : "", f); break;
		case 'd': fputs(p->dev ? p->dev : "", f); break;
		case 'w': fputs(p->where ? p->where : "", f); break;
		case 'm': fputs(error_message(p->err), f); break;
		default: fputc('%', f); fputc(*s, f); break;
		}
	}
}

/* One byte from fd 0, or EOF; a signal does not end the question */
static int read_key(void)
{
	unsigned char ch;
	ssize_t r;

	do {
		r = read(0, &ch, 1);
	} while (r < 0 && errno == EINTR);
	return r == 1 ? ch : EOF;
}

/*
 * The answer to a question, as e2fsck's ask_yn: one key, read raw (no
 * line editing, no echo: the answer is printed as a word), y or n, a for
 * yes to all, Enter or space for the default shown (yes), ^C, ^D or the
 * end of input cancels.  Other keys are ignored.
 */
enum answer { ANS_NO, ANS_YES, ANS_ALL, ANS_CANCEL };

/*
 * A y, n or a typed as a line ("y" Enter) leaves its newline waiting:
 * it belongs to that answer and must not answer the next question.  A
 * tty cannot be peeked at, so a key read here waits in ctx->pending.
 */
static void drain_newlines(struct rfl_check_ctx *ctx)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	int c;

	while (poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
		c = read_key();
		if (c == '\n' || c == '\r')
			continue;
		ctx->pending = c == EOF ? -2 : c;
		break;
	}
}

static enum answer ask_tty(struct rfl_check_ctx *ctx)
{
	struct termios old, raw;
	bool restore = false;
	enum answer a;
	int c;

	fflush(ctx->out);
	if (isatty(0) && !tcgetattr(0, &old)) {
		raw = old;
		raw.c_lflag &= ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		restore = !tcsetattr(0, TCSANOW, &raw);
	}
	for (;;) {
		if (ctx->pending) {
			c = ctx->pending == -2 ? EOF : ctx->pending;
			ctx->pending = 0;
		} else {
			c = read_key();
		}
		if (c == EOF || c == 3 || c == 4) {
			a = ANS_CANCEL;
			break;
		}
		if (c == 'y' || c == 'Y' || c == '\n' || c == '\r' ||
		    c == ' ') {
			a = ANS_YES;
			break;
		}
		if (c == 'n' || c == 'N') {
			a = ANS_NO;
			break;
		}
		if (c == 'a' || c == 'A') {
			a = ANS_ALL;
			break;
		}
	}
	if (a != ANS_CANCEL && c != '\n' && c != '\r' && c != ' ')
		drain_newlines(ctx);
	if (restore)
		tcsetattr(0, TCSANOW, &old);
	return a;
}

/* A -C 0 bar is on the line: clear it before text is printed */
static void clear_bar(struct rfl_check_ctx *ctx)
{
	if (!ctx->bar_shown)
		return;
	fputs("\r\033[K", ctx->out);
	ctx->bar_shown = false;
}

/* e2fsck's preenhalt: a person must look at it; the run stops here */
static void preen_halt(struct rfl_check_ctx *ctx)
{
	fprintf(ctx->out, "\n\n%s: UNEXPECTED INCONSISTENCY; RUN reflinkck "
		"MANUALLY.\n\t(i.e., without -a or -p options)\n",
		ctx->device);
	ctx->halted = true;
}

static bool ask_problem(struct rfl_check_ctx *ctx, enum rfl_problem code,
			const struct rfl_pctx *pctx);

/* --format json: {"code", "message", "question", "answer"} */
static void json_problem(struct rfl_check_ctx *ctx,
			 const struct rfl_problem_ent *e,
			 const struct rfl_pctx *pctx, bool fix)
{
	char *msg = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&msg, &len);

	if (!m)
		return;
	expand(m, e->msg, pctx);
	fclose(m);
	fprintf(ctx->json, "%s{\"code\": %d, \"message\": ",
		ctx->nr_json++ ? ", " : "", (int)e->code);
	rfl_json_str(ctx->json, msg ? msg : "");
	fputs(", \"question\": ", ctx->json);
	if (e->flags & PR_MSG_ONLY)
		fputs("null, \"answer\": null}", ctx->json);
	else {
		rfl_json_str(ctx->json, e->question);
		fprintf(ctx->json, ", \"answer\": \"%s\"}",
			ctx->cancelled ? "cancelled" : fix ? "yes" : "no");
	}
	free(msg);
}

bool rfl_fix_problem(struct rfl_check_ctx *ctx, enum rfl_problem code,
		     const struct rfl_pctx *pctx)
{
	bool fix = ask_problem(ctx, code, pctx);
	const struct rfl_problem_ent *e = find_problem(code);

	if (ctx->json && e)
		json_problem(ctx, e, pctx, fix);
	return fix;
}

/* Print the problem, ask or answer the question, count it */
static bool ask_problem(struct rfl_check_ctx *ctx, enum rfl_problem code,
			const struct rfl_pctx *pctx)
{
	const struct rfl_problem_ent *e = find_problem(code);
	const char *msg;
	bool fix;

	if (!e)
		return false;
	clear_bar(ctx);
	msg = e->msg;
	/* a follow-up's words were printed with the first question */
	if (!(e->flags & PR_FOLLOW_UP)) {
		if (ctx->mode == RFL_PREEN || (e->flags & PR_DEVICE)) {
			/* the device on the line with the words, after a
			 * blank one */
			for (; *msg == '\n'; msg++)
				fputc('\n', ctx->out);
			fprintf(ctx->out, "%s: ", ctx->device);
		}
		expand(ctx->out, msg, pctx);
		fputc('\n', ctx->out);
	}
	if (e->flags & PR_MSG_ONLY) {
		/* damage the run leaves: -p must not pass it by quietly */
		if ((e->flags & PR_PREEN_HALT) && ctx->mode == RFL_PREEN)
			preen_halt(ctx);
		return false;
	}
	if (e->flags & PR_NO_FIX) {
		ctx->left++;
		if (ctx->mode == RFL_PREEN) {
			preen_halt(ctx);
			return false;
		}
		/* say so rather than pretend: the problem stays */
		fprintf(ctx->out, "%s? no (not repaired by this version)\n\n",
			e->question);
		return false;
	}
	switch (ctx->yes_to_all ? RFL_YES : ctx->mode) {
	case RFL_NO:
		fprintf(ctx->out, "%s? no\n\n", e->question);
		fix = false;
		break;
	case RFL_YES:
		fprintf(ctx->out, "%s? yes\n\n", e->question);
		fix = true;
		break;
	case RFL_PREEN:
		fix = e->flags & PR_PREEN_OK;
		if (!fix)
			preen_halt(ctx);
		break;
	default:
		fprintf(ctx->out, "%s<y>? ", e->question);
		/* like e2fsck, say what the answer was (keys are not echoed) */
		switch (ask_tty(ctx)) {
		case ANS_CANCEL:
			ctx->cancelled = true;
			fix = false;
			fputs("cancelled!\n\n", ctx->out);
			break;
		case ANS_ALL:
			ctx->yes_to_all = true;
			fix = true;
			fputs("yes to all\n\n", ctx->out);
			break;
		case ANS_YES:
			fix = true;
			fputs("yes\n\n", ctx->out);
			break;
		default:
			fix = false;
			fputs("no\n\n", ctx->out);
			break;
		}
		break;
	}
	if (!fix && !(e->flags & PR_NO_OK))
		ctx->left++;
	return fix;
}

void rfl_problem_fixed(struct rfl_check_ctx *ctx, enum rfl_problem code,
		       const struct rfl_pctx *pctx)
{
	const struct rfl_problem_ent *e = find_problem(code);

	if (!e)
		return;
	clear_bar(ctx);
	if (ctx->mode == RFL_PREEN)
		fprintf(ctx->out, "%s: ", ctx->device);
	expand(ctx->out, e->done, pctx);
	fputc('\n', ctx->out);
	ctx->fixed++;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * journal.c - a journal that needs recovery (INCOMPAT_RECOVER), treated
 * as e2fsck treats it: -n checks the image as it is and says that the
 * recovery is skipped; -y and -p replay the journal first, and the whole
 * check then runs again on the recovered image (check.c).
 *
 * A journal whose superblock says it holds transactions (s_start set)
 * while the flag is clear is asked about as e2fsck asks: -n answers no
 * to replaying and to clearing it (exit 0), -y replays it as above
 * (the flag set in the snapshot only), -p halts.
 *
 * Stock e2fsck cannot replay it: the journal may hold the superblock
 * with the reflink feature set, and e2fsck refuses to reopen the fs
 * after the replay.  debugfs's journal_run (e2fsprogs' recovery code)
 * opens with -f.  It replays into a metadata snapshot (e2image -r
 * copies the journal); the blocks it changed are written to the image
 * through the checker's channel, so that the undo file (-z) holds them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/check_int.h"

struct jsnap {
	char dir[64];
	char img[96];			/* replayed by debugfs */
	char orig[96];			/* left as e2image made it */
	char cmd[96];			/* debugfs's commands */
	char out[96];			/* the tools' output */
};

static errcode_t jsnap_make(struct jsnap *s)
{
	const char *tmp = getenv("TMPDIR");

	if (!tmp || !*tmp || strlen(tmp) > 40)
		tmp = "/tmp";
	snprintf(s->dir, sizeof(s->dir), "%s/reflinkck.XXXXXX", tmp);
	if (!mkdtemp(s->dir)) {
		s->dir[0] = 0;
		return errno;
	}
	snprintf(s->img, sizeof(s->img), "%s/snapshot", s->dir);
	snprintf(s->orig, sizeof(s->orig), "%s/orig", s->dir);
	snprintf(s->cmd, sizeof(s->cmd), "%s/commands", s->dir);
	snprintf(s->out, sizeof(s->out), "%s/output", s->dir);
	return 0;
}

static void jsnap_free(struct jsnap *s)
{
	if (!s->dir[0])
		return;
	unlink(s->img);
	unlink(s->orig);
	unlink(s->cmd);
	unlink(s->out);
	rmdir(s->dir);
}

/* The start of a tool's output, after a newline, for the message */
static const char *tool_output(const struct jsnap *s, char *text,
			       size_t len)
{
	ssize_t n = 0;
	int fd;

	text[0] = 0;
	fd = open(s->out, O_RDONLY);
	if (fd < 0)
		return text;
	text[0] = '\n';
	n = pread(fd, text + 1, len - 2, 0);
	close(fd);
	n = n > 0 ? n + 1 : 0;
	text[n] = 0;
	while (n > 0 && text[n - 1] == '\n')
		text[--n] = 0;
	return text;
}

/* Did the replay clear the flag in the snapshot's superblock? */
static bool replayed(const struct jsnap *s)
{
	ext2_filsys fs;
	bool done;

	if (ext2fs_open2(s->img, NULL, EXT2_FLAG_FORCE | EXT2_FLAG_64BITS,
			 0, 0, unix_io_manager, &fs))
		return false;
	done = !ext2fs_has_feature_journal_needs_recovery(fs->super);
	ext2fs_close_free(&fs);
	return done;
}

/* Is the flag clear in the image's superblock now (no second restart)? */
static errcode_t cleared(struct checker *c)
{
	unsigned int bs = c->fs->blocksize;
	struct ext2_super_block *sb;
	errcode_t ret;
	char *buf;

	ret = ext2fs_get_mem(bs, &buf);
	if (ret)
		return ret;
	ret = io_channel_read_blk64(c->fs->io, SUPERBLOCK_OFFSET / bs, 1, buf);
	sb = (struct ext2_super_block *)(buf + SUPERBLOCK_OFFSET % bs);
	if (!ret && (ext2fs_le32_to_cpu(sb->s_feature_incompat) &
		     EXT3_FEATURE_INCOMPAT_RECOVER))
		ret = RFL_ET_JOURNAL_RECOVERY;
	ext2fs_free_mem(&buf);
	return ret;
}

/*
 * The journal superblock (jbd2's: big-endian) fields read here, by
 * offset: e2fsprogs' kernel-jbd.h is not installed with libext2fs
 */
#define JSB_MAGIC	0xc03b3998U
#define JSB_BLOCKTYPE	0x04		/* 3: V1, 4: V2 */
#define JSB_MAXLEN	0x10
#define JSB_SEQUENCE	0x18
#define JSB_START	0x1c		/* 0: the journal is empty */
#define JSB_INCOMPAT	0x28
#define JSB_CSUM_V2	0x08
#define JSB_CSUM_V3	0x10
#define JSB_CHECKSUM	0xfc
#define JSB_SIZE	1024

static __u32 jsb_get(const void *buf, unsigned int off)
{
	return ext2fs_be32_to_cpu(*(const __u32 *)((const char *)buf + off));
}

static void jsb_set(void *buf, unsigned int off, __u32 v)
{
	*(__u32 *)((char *)buf + off) = ext2fs_cpu_to_be32(v);
}

/*
 * The internal journal's superblock into buf (a block), and where it
 * is; false where there is none, or it is not one e2fsck would load (it
 * says so itself: pass 6)
 */
static bool journal_super(struct checker *c, void *buf, blk64_t *blk)
{
	ext2_filsys fs = c->fs;
	struct ext2_inode inode;
	__u32 type;

	if (!ext2fs_has_feature_journal(fs->super) ||
	    ext2fs_has_feature_journal_dev(fs->super) ||
	    !fs->super->s_journal_inum ||
	    fs->blocksize < JSB_SIZE ||
	    ext2fs_read_inode(fs, fs->super->s_journal_inum, &inode) ||
	    ext2fs_bmap2(fs, fs->super->s_journal_inum, &inode, NULL, 0, 0,
			 NULL, blk) ||
	    !*blk || *blk >= ext2fs_blocks_count(fs->super) ||
	    io_channel_read_blk64(fs->io, *blk, 1, buf))
		return false;
	type = jsb_get(buf, JSB_BLOCKTYPE);
	return jsb_get(buf, 0) == JSB_MAGIC && (type == 3 || type == 4);
}

/*
 * e2fsck's "Clear journal": the journal made empty.  The sequence moves
 * past any transaction the log can hold (each takes two blocks at
 * least), so that none left in it is replayed after the next one.
 */
static errcode_t journal_reset(struct checker *c, void *buf, blk64_t blk)
{
	__u32 incompat = jsb_get(buf, JSB_INCOMPAT);
	errcode_t ret;

	jsb_set(buf, JSB_START, 0);
	jsb_set(buf, JSB_SEQUENCE, jsb_get(buf, JSB_SEQUENCE) +
		jsb_get(buf, JSB_MAXLEN) + 1);
	if (jsb_get(buf, JSB_BLOCKTYPE) == 4 &&
	    (incompat & (JSB_CSUM_V2 | JSB_CSUM_V3))) {
		jsb_set(buf, JSB_CHECKSUM, 0);
		jsb_set(buf, JSB_CHECKSUM,
			ext2fs_crc32c_le(~0U, buf, JSB_SIZE));
	}
	ret = io_channel_write_blk64(c->fs->io, blk, 1, buf);
	if (!ret)
		ret = io_channel_flush(c->fs->io);
	if (!ret)
		c->changed = true;
	return ret;
}

/*
 * The flag clear, yet the journal holds transactions: 1 to replay it
 * (-y), 0 to go on without (-n), -1 when the run stops (-p, or the
 * reset failed)
 */
static int journal_data(struct checker *c)
{
	struct rfl_pctx pctx = { .dev = c->o->device };
	blk64_t blk = 0;
	int run = 0;
	void *buf;

	if (ext2fs_get_mem(c->fs->blocksize, &buf))
		return 0;
	if (!journal_super(c, buf, &blk) || !jsb_get(buf, JSB_START))
		goto out;
	c->journal_data = true;
	if (rfl_fix_problem(&c->ctx, PR_0_JOURNAL_RUN, &pctx)) {
		run = 1;
		goto out;
	}
	/* -p: a person must decide */
	if (c->ctx.halted) {
		run = -1;
		goto out;
	}
	if (rfl_fix_problem(&c->ctx, PR_0_JOURNAL_RESET, &pctx)) {
		pctx.err = journal_reset(c, buf, blk);
		if (pctx.err) {
			rfl_ck_fail(c, pctx.err, "clearing the journal");
			run = -1;
		} else {
			c->ctx.fixed++;
		}
	}
out:
	ext2fs_free_mem(&buf);
	return run;
}

/* The journal replayed into the snapshot, then written to the image;
 * flag: needs_recovery set in the snapshot first (e2fsck's "Run journal
 * anyway") */
static errcode_t recover(struct checker *c, struct jsnap *s, bool flag,
			 unsigned long long *nr)
{
	char *e2image[] = { "e2image", "-r", (char *)c->o->device, s->img,
			    NULL };
	char *debugfs[] = { "debugfs", "-f", s->cmd, NULL };
	errcode_t ret;
	FILE *f;

	ret = jsnap_make(s);
	if (ret)
		return ret;
	if (rfl_ck_run_tool(e2image, s->out))
		return RFL_ET_JOURNAL_RECOVERY;
	e2image[3] = s->orig;
	if (rfl_ck_run_tool(e2image, s->out))
		return RFL_ET_JOURNAL_RECOVERY;
	f = fopen(s->cmd, "w");
	if (!f)
		return errno;
	/* -f: the reflink feature is unknown to libext2fs */
	fprintf(f, "open -w -f %s\n%sjournal_run\nclose\n", s->img,
		flag ? "feature needs_recovery\n" : "");
	if (fclose(f))
		return errno;
	/* debugfs exits 0 whatever a command did: the flag tells */
	if (rfl_ck_run_tool(debugfs, s->out) || !replayed(s))
		return RFL_ET_JOURNAL_RECOVERY;
	ret = rfl_ck_copy_changed(c, s->img, s->orig, nr);
	return ret ? ret : cleared(c);
}

int rfl_ck_journal(struct checker *c)
{
	struct rfl_pctx pctx = { .dev = c->o->device };
	unsigned long long nr = 0;
	struct jsnap s = { 0 };
	char text[512];
	errcode_t ret;
	int code;
	bool flag = ext2fs_has_feature_journal_needs_recovery(c->fs->super);

	if (!flag) {
		code = journal_data(c);
		if (code <= 0)
			return code;
	} else if (c->ctx.mode == RFL_NO) {
		rfl_fix_problem(&c->ctx, PR_0_JOURNAL_SKIP, &pctx);
		return 0;
	}
	rfl_fix_problem(&c->ctx, PR_0_JOURNAL_RECOVER, &pctx);
	ret = recover(c, &s, !flag, &nr);
	if (ret) {
		pctx.err = ret;
		pctx.str = ret == RFL_ET_JOURNAL_RECOVERY ?
			   tool_output(&s, text, sizeof(text)) : "";
		rfl_fix_problem(&c->ctx, PR_0_JOURNAL_FAILED, &pctx);
		c->ctx.left++;
		jsnap_free(&s);
		return -1;
	}
	jsnap_free(&s);
	return 1;
}

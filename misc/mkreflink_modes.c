// SPDX-License-Identifier: GPL-2.0
/*
 * mkreflink_modes.c - mkreflink on an existing filesystem: --enable,
 * --strip [--unshare] and --dedup, each after the checks that would
 * make it refuse, done read-only so a refusal writes nothing.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>

#include "check/check.h"
#include "dedup/rfl_dedup.h"
#include "flexbg/flexbg_e2fs.h"
#include "reflink/rfl_share.h"
#include "mkreflink.h"

/* ---------------------------------------------------------------- */
/* Enable and strip                                                  */
/* ---------------------------------------------------------------- */

/* Missing feature names after the first, for the refusal line */
static void missing_features(ext2_filsys fs, errcode_t first, char *buf,
			     size_t len)
{
	static const struct {
		errcode_t code;
		const char *name;
	} need[] = {
		{ RFL_ET_NEED_64BIT, "64bit" },
		{ RFL_ET_NEED_EXTENTS, "extent" },
		{ RFL_ET_NEED_FLEX_BG, "flex_bg" },
	};
	struct ext2_super_block *sb = fs->super;
	bool has[3];
	size_t i, n = 0;

	has[0] = ext2fs_has_feature_64bit(sb) &&
		 EXT2_DESC_SIZE(sb) >= EXT2_MIN_DESC_SIZE_64BIT;
	has[1] = ext2fs_has_feature_extents(sb);
	has[2] = ext2fs_has_feature_flex_bg(sb);
	buf[0] = 0;
	for (i = 0; i < 3; i++) {
		if (has[i] || need[i].code == first)
			continue;
		n += snprintf(buf + n, n < len ? len - n : 0, "%s%s",
			      n ? ", " : "; it also lacks ", need[i].name);
	}
}

/* How to get what rfl_check_features() found missing */
static const char *feature_hint(errcode_t code)
{
	switch (code) {
	case RFL_ET_NEED_64BIT:
		return "; convert it with 'resize2fs -b %s' first";
	case RFL_ET_NEED_EXTENTS:
		return "; 'tune2fs -O extent %s' adds it (files made without "
		       "extents never share)";
	case RFL_ET_NEED_FLEX_BG:
		return "; 'tune2fs -O flex_bg %s' adds it";
	case RFL_ET_BIGALLOC:
		return "; reflink counts blocks, not clusters";
	case RFL_ET_SHARED_BLOCKS:
		return "; its files share blocks without counts: "
		       "'e2fsck -fE unshare_blocks %s' gives each its own "
		       "copy, then --enable";
	default:
		return NULL;
	}
}

/* An image made before the reserve: --enable run again adds them */
static bool lacks_reserve(struct rfl_fs *rfs)
{
	struct rfl_group *grp;
	dgrp_t fg;

	for (fg = 0; fg < rfs->nr_flex; fg++)
		if (rfl_group_load(rfs, fg, &grp) || !grp->resv_len)
			return true;
	return false;
}

/* Room for every flex group's reserve (FORMAT.md 4.4), or say what lacks */
static int reserve_precheck(const struct opts *o, struct rfl_fs *rfs)
{
	struct rfl_resv_short w;
	blk64_t missing = 0;
	errcode_t ret;

	ret = rfl_enable_missing(rfs, &missing, &w);
	if (ret) {
		com_err(prog, ret, "while sizing the reserves of %s", o->dev);
		return EXIT_FAIL;
	}
	if (!missing)
		return EXIT_OK;
	/* a reserve is one run: scattered free blocks do not make room */
	fail("%s: no room for the refcount tree reserves: each is one run "
	     "of contiguous free blocks in its flex group, and flex group %u "
	     "(blocks %llu-%llu) has no run of %llu: its longest is %llu, of "
	     "%llu free blocks; %llu more free blocks needed, contiguous "
	     "(%u flex group%s short)", o->dev, w.fg,
	     (unsigned long long)w.first, (unsigned long long)w.end - 1,
	     (unsigned long long)w.want, (unsigned long long)w.longest,
	     (unsigned long long)w.free, (unsigned long long)missing,
	     w.nr_fg, w.nr_fg == 1 ? "" : "s");
	return EXIT_FAIL;
}

/* A shared_blocks image is converted: what else reflink needs */
static errcode_t shared_features(ext2_filsys fs)
{
	__u32 *ro = &fs->super->s_feature_ro_compat;
	errcode_t ret;

	*ro &= ~EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS;
	ret = rfl_check_features(fs);
	*ro |= EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS;
	return ret;
}

/*
 * Everything that would make enable refuse, checked on a read-only open
 * so a refusal leaves no trace, not even an undo file.
 */
/* Stock e2fsck -fn's exit status on dev, its output thrown away */
static int stock_check(const char *dev)
{
	int status, fd;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("e2fsck", "e2fsck", "-fn", dev, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * --enable and --dedup allocate from the block bitmap and give files new
 * extent trees: a bitmap that calls a file's block free would put the
 * metadata block, the reserve or a new tree over its data.  resize2fs
 * asks for a fresh e2fsck -f for the same reason; this runs the check
 * itself, read-only: stock e2fsck on an image without reflink,
 * reflinkck's passes on one that has it.
 */
static bool checked_clean(const struct opts *o, bool has_feature)
{
	struct rfl_check_opts co = {
		.device = o->dev, .mode = RFL_NO, .progress_fd = -1,
		.prog = prog,
	};
	const char *tool = has_feature ? "reflinkck" : "e2fsck";
	FILE *null;
	int rc;

	if (has_feature) {
		null = fopen("/dev/null", "w");
		if (!null)
			return false;
		co.out = co.err = null;
		rc = rfl_check_run(&co);
		fclose(null);
	} else {
		rc = stock_check(o->dev);
	}
	if (!rc)
		return true;
	if (rc < 0 || rc == 127)
		fail("%s: could not run %s -fn on it; nothing was written "
		     "(-F skips the check)", o->dev, tool);
	else
		fail("%s: %s -fn finds damage (exit %d): repair it first "
		     "(%s), or force with -F; nothing was written", o->dev,
		     tool, rc, has_feature ? "reflinkck -fy" : "e2fsck -f");
	return false;
}

static int precheck(const struct opts *o, const char *doing, int flags,
		    dgrp_t *nr_flex)
{
	char extra[128], line[512];
	struct ext2_super_block *sb;
	struct rfl_fs *rfs = NULL;
	const char *hint;
	errcode_t ret;

	ret = rfl_open(o->dev, flags, NULL, &rfs);
	if (ret)
		return refuse_open(o, ret, doing);
	sb = rfs->fs->super;
	*nr_flex = rfs->nr_flex;
	ret = 0;
	if ((sb->s_feature_incompat & ~EXT2_LIB_FEATURE_INCOMPAT_SUPP) ||
	    (sb->s_feature_ro_compat & ~(EXT2_LIB_FEATURE_RO_COMPAT_SUPP |
					 EXT4_FEATURE_RO_COMPAT_REFLINK)))
		ret = RFL_ET_UNKNOWN_FEATURE;
	else if (o->mode == MODE_ENABLE && rfl_has_feature(rfs->fs) &&
		 (o->root_dir || !lacks_reserve(rfs)))
		ret = RFL_ET_HAS_FEATURE;
	if (ret) {
		rfl_abandon(rfs);
		com_err(prog, ret, "while %s %s", doing, o->dev);
		return EXIT_FAIL;
	}
	if (o->mode == MODE_ENABLE) {
		ret = rfl_check_features(rfs->fs);
		if (ret == RFL_ET_SHARED_BLOCKS)
			ret = shared_features(rfs->fs);
		if (ret) {
			missing_features(rfs->fs, ret, extra, sizeof(extra));
			hint = feature_hint(ret);
			snprintf(line, sizeof(line), hint ? hint : "", o->dev);
			rfl_abandon(rfs);
			com_err(prog, ret, "while %s %s%s%s", doing, o->dev,
				line, extra);
			return EXIT_FAIL;
		}
	}
	if (o->mode == MODE_ENABLE && reserve_precheck(o, rfs)) {
		rfl_abandon(rfs);
		return EXIT_FAIL;
	}
	if (o->target && !find_target(o, rfs->fs)) {
		rfl_abandon(rfs);
		return EXIT_FAIL;
	}
	if (!o->force && ext2fs_has_feature_journal_needs_recovery(sb)) {
		rfl_abandon(rfs);
		fail("%s needs journal recovery; mount it or run e2fsck "
		     "first", o->dev);
		return EXIT_FAIL;
	}
	if (!o->force && (!(sb->s_state & EXT2_VALID_FS) ||
			  (sb->s_state & EXT2_ERROR_FS))) {
		rfl_abandon(rfs);
		fail("%s is not clean; run e2fsck -f first (or -F)", o->dev);
		return EXIT_FAIL;
	}
	if (!o->force && (o->mode == MODE_ENABLE || o->mode == MODE_DEDUP)) {
		bool has = rfl_has_feature(rfs->fs);

		rfl_abandon(rfs);
		rfs = NULL;
		if (!checked_clean(o, has))
			return EXIT_FAIL;
	}
	rfl_abandon(rfs);
	return EXIT_OK;
}

static dgrp_t count_meta(const struct rfl_fs *rfs)
{
	dgrp_t fg, n = 0, gpf = e2fs_flex_group_size(rfs->fs);

	/* released groups too: bg_reserved is the pointer */
	for (fg = 0; fg < rfs->nr_flex; fg++)
		if (rfl_bg_reserved(rfs->fs, fg * gpf))
			n++;
	return n;
}

/*
 * A copy after --enable failed: enable has already written its metadata
 * and the feature (rfl_enable flushes as it goes), the copy nothing that
 * counts.  Take the feature off again, so the filesystem is the one
 * before.  The undo file, if any, already holds what enable changed.
 */
void undo_enable(struct opts *o)
{
	const char *undo = o->undo_file;
	struct rfl_fs *rfs;
	bool shared = false;
	errcode_t ret;

	o->undo_file = NULL;
	o->mode = MODE_STRIP;
	if (open_rw(o, "removing reflink again from", &rfs))
		goto out;
	ret = rfl_disable(rfs, &shared);
	if (ret) {
		rfl_abandon(rfs);
		com_err(prog, ret, "while removing reflink again from %s",
			o->dev);
		goto out;
	}
	if (!close_rw(o, rfs))
		fail("%s was left as it was (reflink removed again)", o->dev);
out:
	o->mode = MODE_ENABLE;
	o->undo_file = undo;
}

/* --dedup's meter: the data read, in the units of -d's */
struct dedup_meter {
	struct meter m;			/* first: show_progress's priv */
	unsigned int bs;
};

static void dedup_progress(struct rfl_dedup *d, __u64 done, __u64 total)
{
	struct dedup_meter *dm = d->progress_priv;
	struct rfl_populate p = { .progress_priv = &dm->m };

	show_progress(&p, done * dm->bs, total * dm->bs);
}

/* What a dedup run did (or would do); the record count once written */
static void dedup_summary(const struct rfl_dedup *d, bool records)
{
	printf(" %lld blocks%s (%llu copies remapped in %llu runs in %llu "
	       "files, extent trees %+lld, %llu new metadata); %llu files "
	       "read, %llu left alone, %llu data blocks, %llu copies",
	       d->net, records ? " freed" : "",
	       (unsigned long long)d->freed, (unsigned long long)d->runs,
	       (unsigned long long)d->files_changed, d->tree_blocks,
	       (unsigned long long)d->new_meta,
	       (unsigned long long)d->files,
	       (unsigned long long)d->skipped,
	       (unsigned long long)d->blocks,
	       (unsigned long long)d->copies);
	if (records)
		printf("; %llu refcount records",
		       (unsigned long long)d->records);
	putchar('\n');
}

/*
 * --dedup: share the copies of rfs's files (lib/dedup) and close it, or
 * with -n only say what it would free.  A failure before the first
 * write leaves the image as it was.
 */
static int dedup_close(struct opts *o, struct rfl_fs *rfs)
{
	struct rfl_dedup d = { .min_run = o->min_run, .dry_run = o->dry_run };
	struct dedup_meter dm = { { .o = o, .fd = o->progress_fd },
				  rfs->fs->blocksize };
	errcode_t ret;

	if (!o->dry_run && want_meter(o)) {
		d.progress = dedup_progress;
		d.progress_priv = &dm;
	}
	if (!o->dry_run) {
		say(o, "Deduplicating: ");
		fflush(stdout);
	}
	ret = rfl_dedup(rfs, &d);
	if (ret) {
		blk64_t nfree = ext2fs_free_blocks_count(rfs->fs->super);

		if (!o->quiet && !o->dry_run)
			putchar('\n');
		rfl_abandon(rfs);
		if (d.bad_ino)
			com_err(prog, ret, "while deduplicating %s (inode %u)",
				o->dev, d.bad_ino);
		else if (ret == RFL_ET_NO_SPACE && d.tree_new)
			fail("%s: the new extent trees need %llu free blocks "
			     "before any copy is freed, %llu are free", o->dev,
			     (unsigned long long)d.tree_new,
			     (unsigned long long)nfree);
		else
			com_err(prog, ret, "while deduplicating %s", o->dev);
		if (d.wrote)
			fail("%s: run reflinkck -fy on it: an interrupted "
			     "dedup leaves leaked blocks", o->dev);
		else if (o->mode == MODE_ENABLE && !o->dry_run)
			undo_enable(o);
		return EXIT_FAIL;
	}
	if (o->dry_run)
		rfl_abandon(rfs);
	else if (close_rw(o, rfs))
		return EXIT_FAIL;
	if (d.progress && dm.m.fd <= 0)
		fputs("      \b\b\b\b\b\b", stdout);
	/* the net figure both ways: the -n one is the real run's */
	if (o->dry_run)
		printf("Dry run: %s: would free", o->dev);
	else
		say(o, "done\n%s:", o->dev);
	if (!o->quiet || o->dry_run)
		dedup_summary(&d, !o->dry_run);
	return EXIT_OK;
}

/* --dedup [-n]: on an image with reflink, or (-n) one about to get it */
int do_dedup(struct opts *o)
{
	int flags = o->mode == MODE_ENABLE ? RFL_OPEN_NO_FEATURE : 0;
	struct rfl_fs *rfs;
	dgrp_t nr_flex;
	errcode_t ret;

	if (o->mode == MODE_DEDUP &&
	    !rfl_open(o->dev, RFL_OPEN_NO_FEATURE, NULL, &rfs)) {
		bool has = rfl_has_feature(rfs->fs);

		rfl_abandon(rfs);
		if (!has) {
			fail("%s has no reflink feature: --enable --dedup "
			     "adds it first", o->dev);
			return EXIT_FAIL;
		}
	}
	if (o->mode == MODE_DEDUP &&
	    precheck(o, "deduplicating", 0, &nr_flex))
		return EXIT_FAIL;
	if (!o->dry_run)
		return open_rw(o, "deduplicating", &rfs) ?:
		       dedup_close(o, rfs);
	ret = rfl_open(o->dev, flags, NULL, &rfs);
	if (ret)
		return refuse_open(o, ret, "deduplicating");
	return dedup_close(o, rfs);
}

/*
 * A shared_blocks image (mkreflink --strip, e2fsdroid -s) has its
 * sharing counted into the trees; any other gets empty ones
 */
static errcode_t enable(struct opts *o, struct rfl_fs *rfs)
{
	unsigned long long shared = 0, files = 0;
	errcode_t ret;

	if (!(rfs->fs->super->s_feature_ro_compat &
	      EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS))
		return rfl_enable(rfs);
	ret = rfl_enable_shared(rfs, &shared, &files);
	if (!ret)
		say(o, "%llu shared blocks counted, %llu files marked "
		    "EXT4_REFLINK_FL, shared_blocks cleared; ", shared, files);
	return ret;
}

int do_enable(struct opts *o)
{
	static const char doing[] = "enabling reflink on";
	struct rfl_fs *rfs;
	dgrp_t nr_flex = 0, nr_meta;
	errcode_t ret;

	if (precheck(o, doing, RFL_OPEN_NO_FEATURE, &nr_flex))
		return EXIT_FAIL;
	if (o->dry_run) {
		printf("Dry run: would add reflink and a metadata block to "
		       "each of the %u flex groups of %s%s%s.\n", nr_flex,
		       o->dev, o->root_dir ? ", then copy in " : "",
		       o->root_dir ? o->root_dir : "");
		return o->dedup ? do_dedup(o) : EXIT_OK;
	}
	if (open_rw(o, doing, &rfs))
		return EXIT_FAIL;
	say(o, "Writing reflink metadata: ");
	fflush(stdout);
	ret = enable(o, rfs);
	if (ret)
		return step_failed(o, rfs, ret, doing);
	nr_meta = count_meta(rfs);
	if (o->dedup) {
		say(o, "done\n");
		return dedup_close(o, rfs);
	}
	if (o->root_dir) {
		/* one open: a failed copy leaves the feature off too */
		say(o, "done\n");
		if (populate_close(o, rfs))
			return EXIT_FAIL;
		say(o, "%s: reflink enabled; %u of %u flex groups have a "
		    "metadata block\n", o->dev, nr_meta, nr_flex);
		return EXIT_OK;
	}
	if (close_rw(o, rfs))
		return EXIT_FAIL;
	say(o, "done\n");
	say(o, "%s: reflink enabled; %u of %u flex groups have a metadata "
	    "block\n", o->dev, nr_meta, nr_flex);
	return EXIT_OK;
}

/*
 * --unshare's space check (rfl_unshare_space), before anything is
 * written: with -n and without, the same refusal and exit code
 */
static int unshare_room(const struct opts *o, struct rfl_fs *rfs)
{
	blk64_t need, avail;
	errcode_t ret;

	ret = rfl_unshare_space(rfs, &need, &avail);
	if (!ret)
		return EXIT_OK;
	if (ret == RFL_ET_NO_DATA_SPACE)
		com_err(prog, ret, "while unsharing the files of %s: %llu "
			"free blocks needed, %llu free; nothing was written",
			o->dev, (unsigned long long)need,
			(unsigned long long)avail);
	else
		com_err(prog, ret, "while unsharing the files of %s", o->dev);
	rfl_abandon(rfs);
	return EXIT_FAIL;
}

/* --strip --unshare -n: refuse as the real run would, writing nothing */
static int unshare_dry_run(const struct opts *o)
{
	struct rfl_fs *rfs;
	errcode_t ret;

	ret = rfl_open(o->dev, 0, NULL, &rfs);
	if (ret)
		return refuse_open(o, ret, "stripping reflink from");
	if (unshare_room(o, rfs))
		return EXIT_FAIL;
	rfl_abandon(rfs);
	return EXIT_OK;
}

int do_strip(struct opts *o)
{
	static const char doing[] = "stripping reflink from";
	struct rfl_fs *rfs;
	bool shared = false;
	dgrp_t nr_flex = 0;
	errcode_t ret;

	if (precheck(o, doing, o->unshare ? 0 : RFL_OPEN_BAD_DESC, &nr_flex))
		return EXIT_FAIL;
	if (o->dry_run) {
		if (o->unshare && unshare_dry_run(o))
			return EXIT_FAIL;
		printf("Dry run: would %sremove reflink and its metadata "
		       "from %s.\n", o->unshare ? "unshare every file, then "
		       : "", o->dev);
		return EXIT_OK;
	}
	if (open_rw(o, doing, &rfs))
		return EXIT_FAIL;
	if (o->unshare) {
		if (unshare_room(o, rfs))
			return EXIT_FAIL;
		say(o, "Unsharing files: ");
		fflush(stdout);
		ret = rfl_unshare_all(rfs);
		if (ret)
			return step_failed(o, rfs, ret,
					   "unsharing the files of");
		say(o, "done\n");
	}
	say(o, "Removing reflink metadata: ");
	fflush(stdout);
	ret = rfl_disable(rfs, &shared);
	if (ret)
		return step_failed(o, rfs, ret, doing);
	if (close_rw(o, rfs))
		return EXIT_FAIL;
	say(o, "done\n");
	if (shared)
		say(o, "%s: files still share blocks, so shared_blocks is set:"
		    " stock e2fsck accepts it, the kernel mounts it read-only "
		    "(--unshare copies them apart)\n", o->dev);
	else
		say(o, "%s: reflink removed\n", o->dev);
	return EXIT_OK;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * pass_stock.c - pass 6: stock e2fsck's verdict on everything outside
 * the feature, without writing the image.
 *
 * A metadata snapshot of the image (e2image -r: superblocks,
 * descriptors, bitmaps, inode tables, directories, extent and xattr
 * blocks, into a sparse temporary file; no file data) is presented to
 * stock e2fsck as the round trip would present the image: reflink off,
 * shared_blocks on, every tree, metadata and reserve block free,
 * bg_reserved clear.  e2fsck -fn judges it; what it finds is reported here, and
 * is the run's exit code too.
 *
 * Repair (-y, -p) is the round trip done on the snapshot: e2fsck
 * repairs it, rfl_enable_shared counts the sharing into new trees, and
 * every block of the snapshot that then differs from a second snapshot
 * left as made is written to the image through the checker's own
 * channel, so that one undo file (-z) holds it all.  File data never
 * moves: the snapshot allocates only blocks free in its bitmap, which
 * are free in the image or were tree blocks.  A check of the result
 * (-n, quietly) decides whether the run says fixed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check/check_int.h"

struct snap {
	char dir[64];			/* empty: the files are in memory */
	char img[96];
	char orig[96];			/* a second one, left as made */
	char out[96];
};

/* Pass 6's state from the start of a -fn run to its end */
struct rfl_stock {
	struct snap s;
	int img_fd, out_fd;		/* in memory (memfd), or -1 */
	pid_t pid;			/* e2image, started early */
	pid_t fsck;			/* e2fsck -fn, started early */
	struct rfl_snap *snap;		/* the checker's own, under way */
};

/*
 * argv[0] with the output to file, not waited for; its pid, or -1.
 * posix_spawn: no copy of this process's memory to fault in while
 * the passes go on beside the child.  Where it fails (no such program,
 * the output not opened), fork reports it as e2fsck's shells do: 127.
 */
static pid_t spawn(char *const argv[], const char *out)
{
	posix_spawn_file_actions_t fa;
	extern char **environ;
	int fd, err;
	pid_t pid;

	fflush(NULL);
	if (posix_spawn_file_actions_init(&fa))
		goto by_fork;
	err = posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY |
					       O_CREAT | O_TRUNC, 0600) ||
	      posix_spawn_file_actions_adddup2(&fa, 1, 2) ||
	      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
					       O_RDONLY, 0) ||
	      posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (!err)
		return pid;
by_fork:
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* The exit status of a spawned child, or -1 */
static int reap(pid_t pid)
{
	int status;

	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* argv[0] with the output to file; its exit status, or -1 */
static int run(char *const argv[], const char *out)
{
	return reap(spawn(argv, out));
}

/* The tool's output, without its banner, the snapshot named as device */
static char *read_output(const struct snap *s, const char *device)
{
	char line[1024], *buf = NULL, *p;
	size_t len = 0, n;
	FILE *f, *m;

	f = fopen(s->out, "r");
	if (!f)
		return NULL;
	m = open_memstream(&buf, &len);
	if (!m) {
		fclose(f);
		return NULL;
	}
	while (fflush(m), fgets(line, sizeof(line), f)) {
		/* the banner, headings and summary say nothing here */
		if (!strncmp(line, "e2fsck ", 7) ||
		    !strncmp(line, "e2image ", 8) ||
		    !strncmp(line, "Pass ", 5) ||
		    strstr(line, "*****") || strstr(line, " files ("))
			continue;
		/* one blank line at most */
		if (line[0] == '\n' && (!len || (len > 1 &&
		    buf[len - 1] == '\n' && buf[len - 2] == '\n')))
			continue;
		p = strstr(line, s->img);
		if (p) {
			n = strlen(s->img);
			fprintf(m, "%.*s%s%s", (int)(p - line), line, device,
				p + n);
		} else {
			fputs(line, m);
		}
	}
	fclose(f);
	fclose(m);
	/* no trailing newline: the problem table adds one */
	while (len && buf[len - 1] == '\n')
		buf[--len] = 0;
	return buf;
}

static void no_bad_inode(void *priv, ext2_ino_t ino, errcode_t err)
{
	(void)priv; (void)ino; (void)err;
}

/* Does any of the sorted ranges v[0..nr) (start, len first) hold b? */
static bool in_ranges(const struct rfl_range *v, size_t nr, blk64_t b,
		      size_t *hint)
{
	size_t i = *hint;

	while (i < nr && v[i].start + v[i].len <= b)
		i++;
	*hint = i;
	return i < nr && v[i].start <= b;
}

/*
 * Ranges sorted by start (struct rfl_run or rfl_range: blk64_t start,
 * len first, size bytes each), walked once in block order, those that
 * overlap or touch merged on the way (shared blocks): no merged copy
 */
struct cursor {
	const char *v;
	size_t nr, size, i;
	blk64_t start, end;		/* the merged range last reached */
};

static void cursor_init(struct cursor *k, const void *v, size_t nr,
			size_t size)
{
	*k = (struct cursor){ .v = v, .nr = nr, .size = size };
}

/* Does a range hold b (b never smaller than at the last call)?  If so,
 * k->end is where the merged range holding it ends */
static bool cursor_holds(struct cursor *k, blk64_t b)
{
	const blk64_t *r;

	while (k->end <= b) {
		if (k->i >= k->nr)
			return false;
		r = (const blk64_t *)(k->v + k->i++ * k->size);
		k->start = r[0];
		k->end = r[0] + r[1];
		for (; k->i < k->nr; k->i++) {
			r = (const blk64_t *)(k->v + k->i * k->size);
			if (r[0] > k->end)
				break;
			if (r[0] + r[1] > k->end)
				k->end = r[0] + r[1];
		}
	}
	return k->start <= b;
}

/* A tree node or metadata block by its magic (in the image: e2image
 * copied none of them) */
static bool feature_block(io_channel io, blk64_t b, void *buf)
{
	__u32 magic;

	if (io_channel_read_blk64(io, b, 1, buf))
		return false;
	magic = ext2fs_le32_to_cpu(*(__u32 *)buf);
	return magic == EXT4_RFX_MAGIC || magic == EXT4_BTREE_MAGIC;
}

/* What the files and the fs metadata hold, in the snapshot */
struct owners {
	const struct rfl_scan *scan;
	const struct e2fs_meta_map *map;
	const struct rfl_range *resv;
	size_t nr_resv;
	/* the image's block bitmap as the checker loaded it (-n, before
	 * any pass): the snapshot's, without reading it again */
	ext2fs_block_bitmap bits;
};

/*
 * Free every block the snapshot marks in use that neither an inode nor
 * the fs metadata holds and that is a tree node or metadata block in
 * the image (reached or not, of any version: leaked nodes are pass 4's
 * to report).  The blocks of an inode that cannot be read stay (e2fsck
 * judges that inode).
 */
static errcode_t free_blocks(ext2_filsys fs, io_channel io,
			     const struct owners *w)
{
	blk64_t b, end, last = ext2fs_blocks_count(fs->super) - 1;
	struct cursor runs, owned;
	size_t hv = 0;
	void *buf;
	errcode_t ret;

	ret = ext2fs_get_mem(fs->blocksize, &buf);
	if (ret)
		return ret;
	cursor_init(&runs, w->scan->runs, w->scan->nr_runs,
		    sizeof(*w->scan->runs));
	cursor_init(&owned, w->scan->owned, w->scan->nr_owned,
		    sizeof(*w->scan->owned));
	b = fs->super->s_first_data_block;
	while (b <= last &&
	       !ext2fs_find_first_set_block_bitmap2(fs->block_map, b, last,
						    &b)) {
		if (ext2fs_find_first_zero_block_bitmap2(fs->block_map, b,
							 last, &end))
			end = last + 1;
		for (; b < end; b++) {
			/* a file's range: on past its end at once */
			if (cursor_holds(&runs, b)) {
				b = runs.end - 1;
				continue;
			}
			if (cursor_holds(&owned, b)) {
				b = owned.end - 1;
				continue;
			}
			if (e2fs_meta_map_overlaps(w->map, b, 1) ||
			    (!in_ranges(w->resv, w->nr_resv, b, &hv) &&
			     !feature_block(io, b, buf)))
				continue;
			ext2fs_block_alloc_stats2(fs, b, -1);
		}
	}
	ext2fs_free_mem(&buf);
	return 0;
}

/*
 * The owners worked out from the snapshot itself, so that they hold
 * after this run's own repairs (-y, -p), or (-n: the snapshot is the
 * image as the checker read it) the checker's own
 */
static errcode_t free_unowned(ext2_filsys fs, io_channel io,
			      const struct owners *given)
{
	struct rfl_scan scan = { 0 };
	struct owners w = *given;
	struct e2fs_meta_map *map = NULL;
	errcode_t ret;

	if (w.scan && w.map)
		return free_blocks(fs, io, &w);
	ret = rfl_scan_files(fs, no_bad_inode, NULL, NULL, &scan);
	if (!ret)
		ret = e2fs_meta_map_build(fs, &map);
	w.scan = &scan;
	w.map = map;
	if (!ret)
		ret = free_blocks(fs, io, &w);
	e2fs_meta_map_free(map);
	rfl_scan_free(&scan);
	return ret;
}

/*
 * The tree reserves (FORMAT.md 4.4) of every flex group whose metadata
 * block loads: blocks held for the trees, owned by no inode, free once
 * the feature is off.  In block order (flex groups are).
 */
static errcode_t reserves(struct checker *c, struct rfl_range **vp,
			  size_t *nrp)
{
	struct rfl_range *v;
	struct rfl_group *grp;
	size_t nr = 0;
	dgrp_t fg;

	v = calloc(c->rfs->nr_flex + 1, sizeof(*v));
	if (!v)
		return EXT2_ET_NO_MEMORY;
	for (fg = 0; fg < c->rfs->nr_flex; fg++) {
		if (rfl_group_load(c->rfs, fg, &grp))
			continue;
		if (grp->resv_len && !grp->resv_bad) {
			v[nr].start = grp->resv_start;
			v[nr++].len = grp->resv_len;
		}
		rfl_group_release(c->rfs, fg);
	}
	*vp = v;
	*nrp = nr;
	return 0;
}

/* The snapshot as the round trip shows it to stock tools */
static errcode_t present(const char *img, io_channel io,
			 const struct owners *w)
{
	int flags = EXT2_FLAG_RW | EXT2_FLAG_FORCE | EXT2_FLAG_64BITS;
	ext2_filsys fs;
	errcode_t ret;
	dgrp_t g;

	ret = ext2fs_open2(img, NULL, flags, 0, 0, unix_io_manager, &fs);
	if (ret)
		return ret;
	fs->default_bitmap_type = EXT2FS_BMAP64_RBTREE;
	if (w->bits)
		ret = ext2fs_copy_bitmap(w->bits, &fs->block_map);
	else
		ret = ext2fs_read_bitmaps(fs);
	if (ret == EXT2_ET_BLOCK_BITMAP_CSUM_INVALID ||
	    ret == EXT2_ET_INODE_BITMAP_CSUM_INVALID) {
		fs->flags |= EXT2_FLAG_IGNORE_CSUM_ERRORS;
		ret = ext2fs_read_bitmaps(fs);
	}
	if (!ret)
		ret = free_unowned(fs, io, w);
	/* (ext2fs_close writes only bitmaps ext2fs_read_bitmaps read) */
	if (!ret && w->bits)
		ret = ext2fs_write_block_bitmap(fs);
	if (ret) {
		fs->flags &= ~EXT2_FLAG_DIRTY;
		ext2fs_free(fs);
		return ret;
	}
	for (g = 0; g < fs->group_desc_count; g++)
		if (rfl_bg_reserved(fs, g))
			rfl_set_bg_reserved(fs, g, 0);
	fs->super->s_feature_ro_compat &= ~EXT4_FEATURE_RO_COMPAT_REFLINK;
	fs->super->s_feature_ro_compat |= EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS;
	ext2fs_mark_super_dirty(fs);
	ext2fs_mark_bb_dirty(fs);
	/* a temporary file: no fsync */
	ret = ext2fs_close2(fs, EXT2_FLAG_FLUSH_NO_SYNC);
	if (ret)
		ext2fs_free(fs);	/* close frees only on success */
	return ret;
}

/* The sharing counted back into the repaired snapshot */
static errcode_t enable_snapshot(const char *img)
{
	struct rfl_fs *rfs;
	errcode_t ret;

	ret = rfl_open(img, RFL_OPEN_RW | RFL_OPEN_NO_FEATURE, NULL, &rfs);
	if (ret)
		return ret;
	ret = rfl_enable_shared(rfs, NULL, NULL);
	if (ret) {
		rfl_abandon(rfs);
		return ret;
	}
	return rfl_close(rfs);
}

/*
 * Every block the round trip changed in the snapshot (against a second
 * snapshot left as e2image made it: a hole reads as zeros in both, so
 * file data the snapshot never held is never written), written to the
 * image through the checker's channel (and its undo file).
 */
static errcode_t copy_back(struct checker *c, const struct snap *s,
			   unsigned long long *nr)
{
	ext2_filsys fs = c->fs;
	unsigned int bs = fs->blocksize;
	char *a = NULL, *b = NULL, *o = NULL;
	off_t pos = 0, end, size;
	errcode_t ret = 0;
	blk64_t blk;
	int fd, fo;

	fd = open(s->img, O_RDONLY);
	if (fd < 0)
		return errno;
	fo = open(s->orig, O_RDONLY);
	if (fo < 0) {
		close(fd);
		return errno;
	}
	size = lseek(fd, 0, SEEK_END);
	ret = ext2fs_get_mem(bs, &a);
	if (!ret)
		ret = ext2fs_get_mem(bs, &b);
	if (!ret)
		ret = ext2fs_get_mem(bs, &o);
	while (!ret && pos < size) {
		pos = lseek(fd, pos, SEEK_DATA);
		if (pos < 0)
			break;		/* ENXIO: no more data */
		end = lseek(fd, pos, SEEK_HOLE);
		if (end < 0)
			end = size;
		for (blk = pos / bs; !ret && (off_t)(blk * bs) < end; blk++) {
			if (blk >= ext2fs_blocks_count(fs->super))
				break;
			if (pread(fd, a, bs, blk * bs) != (ssize_t)bs) {
				ret = EXT2_ET_SHORT_READ;
				break;
			}
			/* past the copy's end, or a hole: zeros */
			memset(o, 0, bs);
			if (pread(fo, o, bs, blk * bs) < 0) {
				ret = errno;
				break;
			}
			if (!memcmp(a, o, bs))
				continue;
			ret = io_channel_read_blk64(fs->io, blk, 1, b);
			if (ret || !memcmp(a, b, bs))
				continue;
			ret = io_channel_write_blk64(fs->io, blk, 1, a);
			(*nr)++;
		}
		pos = end;
	}
	if (!ret)
		ret = io_channel_flush(fs->io);
	ext2fs_free_mem(&a);
	ext2fs_free_mem(&b);
	ext2fs_free_mem(&o);
	close(fd);
	close(fo);
	return ret;
}

/* The image as it is now on disk: what the snapshot copies */
static errcode_t write_out(struct checker *c)
{
	errcode_t ret;

	if (!c->changed)
		return 0;
	ret = ext2fs_flush(c->fs);
	if (!ret)
		ret = io_channel_flush(c->fs->io);
	return ret;
}

/* Did the repair leave the image clean?  The whole check, -n, quietly */
static bool clean_after(struct checker *c)
{
	struct rfl_check_opts o = *c->o;
	FILE *null = fopen("/dev/null", "w");
	int code;

	if (!null)
		return false;
	o.mode = RFL_NO;
	o.undo_file = NULL;
	o.progress_fd = -1;
	o.verbose = false;
	o.out = null;
	o.err = null;
	code = rfl_check_run(&o);
	fclose(null);
	return code == RFL_EXIT_OK;
}

/* The snapshot and the tools' output in memory: nothing to sync or
 * to free on disk; a -fn run writes no file */
static bool in_memory(struct rfl_stock *st)
{
	st->img_fd = memfd_create("reflinkck-snapshot", 0);
	st->out_fd = memfd_create("reflinkck-output", 0);
	if (st->img_fd < 0 || st->out_fd < 0)
		return false;
	snprintf(st->s.img, sizeof(st->s.img), "/proc/self/fd/%d",
		 st->img_fd);
	snprintf(st->s.out, sizeof(st->s.out), "/proc/self/fd/%d",
		 st->out_fd);
	/* a child opens them by those names */
	return !access(st->s.img, R_OK | W_OK) &&
	       !access(st->s.out, R_OK | W_OK);
}

/* The snapshot's files in a new directory under $TMPDIR (or /tmp) */
static errcode_t in_directory(struct rfl_stock *st)
{
	const char *tmp = getenv("TMPDIR");

	if (!tmp || !*tmp || strlen(tmp) > 40)
		tmp = "/tmp";
	snprintf(st->s.dir, sizeof(st->s.dir), "%s/reflinkck.XXXXXX", tmp);
	if (!mkdtemp(st->s.dir)) {
		st->s.dir[0] = 0;
		return errno;
	}
	snprintf(st->s.img, sizeof(st->s.img), "%s/snapshot", st->s.dir);
	snprintf(st->s.out, sizeof(st->s.out), "%s/output", st->s.dir);
	snprintf(st->s.orig, sizeof(st->s.orig), "%s/orig", st->s.dir);
	return 0;
}

static struct rfl_stock *stock_new(void)
{
	struct rfl_stock *st = calloc(1, sizeof(*st));

	if (st) {
		st->img_fd = st->out_fd = -1;
		st->pid = st->fsck = -1;
	}
	return st;
}

void rfl_ck_stock_free(struct checker *c)
{
	struct rfl_stock *st = c->stock;

	if (!st)
		return;
	/* the check stopped before pass 6: they are not needed */
	if (st->pid > 0) {
		kill(st->pid, SIGKILL);
		reap(st->pid);
	}
	if (st->fsck > 0) {
		kill(st->fsck, SIGKILL);
		reap(st->fsck);
	}
	/* its thread writes to the snapshot */
	rfl_ck_snap_free(st->snap);
	if (st->img_fd >= 0)
		close(st->img_fd);
	if (st->out_fd >= 0)
		close(st->out_fd);
	if (st->s.dir[0]) {
		unlink(st->s.img);
		unlink(st->s.orig);
		unlink(st->s.out);
		rmdir(st->s.dir);
	}
	free(st);
	c->stock = NULL;
}

static char **e2image_argv(struct checker *c, const char *dst)
{
	static char *argv[5];

	argv[0] = "e2image";
	argv[1] = "-r";
	argv[2] = (char *)c->o->device;
	argv[3] = (char *)dst;
	argv[4] = NULL;
	return argv;
}

/* The snapshot as the round trip shows it; with -n, the checker's
 * own scan says which blocks files hold (and, early: before any pass,
 * its bitmap is the snapshot's) */
static errcode_t present_snapshot(struct checker *c, struct rfl_stock *st,
				  bool early)
{
	struct owners w = { 0 };
	struct rfl_range *resv = NULL;
	errcode_t ret;

	if (c->o->mode == RFL_NO) {
		w.scan = &c->scan;
		w.map = c->rfs->meta_map;
		if (early)
			w.bits = c->fs->block_map;
	}
	ret = reserves(c, &resv, &w.nr_resv);
	w.resv = resv;
	if (!ret)
		ret = present(st->s.img, c->fs->io, &w);
	free(resv);
	return ret;
}

/*
 * -fn, before the scan: the snapshot in memory, its fs metadata (most of
 * it) copied by a thread while the checker scans the files
 */
void rfl_ck_stock_begin(struct checker *c)
{
	struct rfl_stock *st;

	if (!c->o->whole || c->o->mode != RFL_NO || c->stock)
		return;
	st = stock_new();
	if (!st)
		return;
	c->stock = st;
	if (!in_memory(st)) {
		rfl_ck_stock_free(c);
		return;
	}
	/* where it cannot: e2image, after the scan */
	rfl_ck_snap_begin(c, st->img_fd, &st->snap);
}

/*
 * -fn, once the files are scanned: the checker finishes the snapshot
 * (stock_snap.c) and stock e2fsck judges it while the other passes
 * run; pass 6 collects its verdict.  Where the checker cannot make it,
 * e2image starts instead.  Anything that fails here is done again, and
 * reported, by pass 6 itself.
 */
void rfl_ck_stock_start(struct checker *c)
{
	struct rfl_stock *st = c->stock;
	char *e2fsck[] = { "e2fsck", "-fn", NULL, NULL };

	if (!st || st->pid > 0 || st->fsck > 0)
		return;
	if (st->snap && !rfl_ck_snap_finish(c, st->snap) &&
	    !present_snapshot(c, st, true)) {
		rfl_ck_snap_free(st->snap);
		st->snap = NULL;
		e2fsck[2] = st->s.img;
		st->fsck = spawn(e2fsck, st->s.out);
		if (st->fsck > 0)
			return;
	}
	rfl_ck_snap_free(st->snap);
	st->snap = NULL;
	st->pid = spawn(e2image_argv(c, st->s.img), st->s.out);
	if (st->pid < 0)
		rfl_ck_stock_free(c);
}

/* -y stays -y for what e2fsck repairs (unreadable inodes made this run
 * read-only), but metadata of a newer version forbids writing */
static enum rfl_answer_mode stock_mode(struct checker *c)
{
	enum rfl_answer_mode mode = c->o->mode;
	dgrp_t fg;

	for (fg = 0; fg < c->rfs->nr_flex; fg++)
		if (c->unsure[fg] == 2)
			mode = RFL_NO;
	/* bitmaps would land on a file's data: e2fsck alone, after strip */
	if (c->meta_overlap)
		mode = RFL_NO;
	return mode;
}

/* The snapshot made by e2image (or waited for) and presented: 0, or
 * -1 with the problem reported */
static int make_snapshot(struct checker *c, struct rfl_stock *st,
			 char **text)
{
	struct rfl_pctx pctx = { .dev = c->o->device };
	errcode_t ret;
	int code;

	if (st->pid > 0) {
		code = reap(st->pid);
		st->pid = -1;
	} else {
		code = run(e2image_argv(c, st->s.img), st->s.out);
	}
	if (code) {
		*text = read_output(&st->s, c->o->device);
		pctx.str = *text ? *text : "";
		pctx.expected = code;
		rfl_fix_problem(&c->ctx, PR_6_NO_SNAPSHOT, &pctx);
		c->ctx.left++;
		return -1;
	}
	ret = present_snapshot(c, st, false);
	if (ret) {
		pctx.err = ret;
		rfl_fix_problem(&c->ctx, PR_6_NO_PRESENT, &pctx);
		c->ctx.left++;
		return -1;
	}
	return 0;
}

/* Stock e2fsck -fn's verdict on the snapshot (started early or run
 * now): its exit status, or -1 with the problem reported */
static int stock_judge(struct checker *c, struct rfl_stock *st,
		       char **text)
{
	struct rfl_pctx pctx = { .dev = c->o->device };
	char *e2fsck[] = { "e2fsck", "-fn", st->s.img, NULL };
	int code;

	if (st->fsck > 0) {
		code = reap(st->fsck);
		st->fsck = -1;
	} else {
		if (make_snapshot(c, st, text))
			return -1;
		code = run(e2fsck, st->s.out);
	}
	if (!code)
		return 0;
	*text = read_output(&st->s, c->o->device);
	pctx.str = *text ? *text : "";
	pctx.expected = code;
	/* 8 (or no exit status): e2fsck's operational error, the exit
	 * code's too; 12: -n stops at damage it would have to salvage */
	c->stock_abort = code < 0 || (code & 8);
	if (code < 0 || !(code & 4)) {
		rfl_fix_problem(&c->ctx, PR_6_STOCK_FAILED, &pctx);
		return -1;
	}
	return code;
}

/*
 * The round trip, on the snapshot (e2fsck has found damage there and
 * the repair was agreed to); what it changes is written to the image
 */
static void stock_repair(struct checker *c, struct rfl_stock *st,
			 enum rfl_answer_mode mode, char **text)
{
	struct rfl_pctx pctx = { .dev = c->o->device };
	char *e2fsck[] = { "e2fsck", "-fy", st->s.img, NULL };
	unsigned long long nr = 0;
	errcode_t ret;
	int code;

	/*
	 * What the image holds, to tell what the round trip changes: a
	 * second snapshot (the image is held open and unchanged since),
	 * made only when there is something to repair
	 */
	code = run(e2image_argv(c, st->s.orig), st->s.out);
	if (code) {
		rfl_ck_fail(c, EXT2_ET_SHORT_READ, "copying the image again");
		return;
	}
	if (mode == RFL_PREEN)
		e2fsck[1] = "-fp";
	code = run(e2fsck, st->s.out);
	free(*text);
	*text = read_output(&st->s, c->o->device);
	pctx.str = *text ? *text : "";
	pctx.expected = code;
	c->stock_abort = code < 0 || (code & 8);
	if (code < 0 || code > 2) {
		rfl_fix_problem(&c->ctx, PR_6_STOCK_LEFT, &pctx);
		c->ctx.left++;
		return;
	}
	ret = enable_snapshot(st->s.img);
	if (!ret)
		ret = copy_back(c, &st->s, &nr);
	if (ret) {
		rfl_ck_fail(c, ret, "writing the stock repair to the image");
		return;
	}
	c->stock_written = true;
	pctx.found = nr;
	rfl_problem_fixed(&c->ctx, PR_6_STOCK, &pctx);
	if (!clean_after(c)) {
		rfl_fix_problem(&c->ctx, PR_6_NOT_CLEAN, &pctx);
		c->ctx.left++;
	} else {
		/*
		 * what this run left was outside the feature (it stops
		 * before the floor or the trees are left damaged): the
		 * round trip repaired it, and the check says so
		 */
		c->ctx.left = 0;
	}
}

void rfl_ck_stock(struct checker *c)
{
	enum rfl_answer_mode mode = stock_mode(c);
	struct rfl_pctx pctx = { .dev = c->o->device };
	struct rfl_stock *st = c->stock;
	char *text = NULL;
	errcode_t ret;
	int code;

	c->ctx.mode = mode;
	if (st) {
		/* (never begun after the scan) */
		rfl_ck_snap_free(st->snap);
		st->snap = NULL;
	} else {
		st = c->stock = stock_new();
		if (!st) {
			rfl_ck_fail(c, EXT2_ET_NO_MEMORY,
				    "making a directory for the snapshot");
			return;
		}
		ret = in_directory(st);
		if (ret) {
			rfl_ck_fail(c, ret,
				    "making a directory for the snapshot");
			goto out;
		}
	}
	if (mode != RFL_NO) {
		ret = write_out(c);
		if (ret) {
			rfl_ck_fail(c, ret, "writing the image out");
			goto out;
		}
	}
	code = stock_judge(c, st, &text);
	if (code <= 0)
		goto out;
	pctx.str = text ? text : "";
	pctx.expected = code;
	if (rfl_fix_problem(&c->ctx, PR_6_STOCK, &pctx))
		stock_repair(c, st, mode, &text);
out:
	free(text);
	rfl_ck_stock_free(c);
}

/* For the journal's replay (journal.c): the tools run the same way */
int rfl_ck_run_tool(char *const argv[], const char *out)
{
	return run(argv, out);
}

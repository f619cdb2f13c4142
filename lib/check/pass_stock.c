// SPDX-License-Identifier: GPL-2.0
/*
 * pass_stock.c - pass 6: stock e2fsck's verdict on everything outside
 * the feature, without writing the image.
 *
 * The image is presented to stock e2fsck as the round trip would
 * present it: reflink off, shared_blocks on, every tree, metadata and
 * reserve block free, bg_reserved clear.  With -n, e2fsck reads the
 * image itself through a stripped view (view.c: an overlay of the
 * blocks that differ, served by the preloaded shim); elsewhere, or
 * where the view cannot be used, a metadata snapshot of the image
 * (e2image -r: superblocks, descriptors, bitmaps, inode tables,
 * directories, extent and xattr blocks, into a sparse temporary file;
 * no file data) is presented instead.  e2fsck -fn judges it; what it
 * finds is reported here, and is the run's exit code too.
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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check/check_int.h"
#include "check/view.h"
#include "check/view_fmt.h"
#include "util/vec.h"

struct snap {
	char dir[64];			/* empty: the files are in memory */
	const char *target;		/* e2fsck's device, if not img */
	char img[96];
	char orig[96];			/* a second one, left as made */
	char out[96];
};

/* Pass 6's state from the start of a -fn run to its end */
struct rfl_stock {
	struct snap s;
	int img_fd, out_fd, orig_fd;	/* memfds, or -1 */
	pid_t pid;			/* e2image, started early */
	pid_t fsck;			/* e2fsck -fn, started early */
	struct rfl_snap *snap;		/* the checker's own, under way */
	struct rfl_view *view;		/* or the overlay e2fsck reads */
	int ack;			/* and its shim's pipe (view_fmt.h) */
	bool view_ok;			/* the scan agreed with the view */
	bool via_view;			/* the verdict is the view's */
	time_t now;			/* the views' write time: the same */
};

/*
 * argv[0] with the output to file, not waited for; its pid, or -1.
 * posix_spawn: no copy of this process's memory to fault in while
 * the passes go on beside the child.  Where it fails (no such program,
 * the output not opened), fork reports it as e2fsck's shells do: 127.
 */
static pid_t spawn_env(char *const argv[], const char *out,
		       char *const envp[])
{
	posix_spawn_file_actions_t fa;
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
	      posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
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
		execvpe(argv[0], argv, envp);
		_exit(127);
	}
	return pid;
}

static pid_t spawn(char *const argv[], const char *out)
{
	extern char **environ;

	return spawn_env(argv, out, environ);
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

/*
 * What e2fsck asks of a journal with data but no needs_recovery flag,
 * answered no: the floor asked it of the image already (journal.c)
 */
static const char *const journal_lines[] = {
	"Superblock needs_recovery flag is clear, but journal has data.\n",
	"Run journal anyway? no\n",
	"Clear journal? no\n",
};

static bool journal_line(const char *line)
{
	size_t i;

	for (i = 0; i < sizeof(journal_lines) / sizeof(*journal_lines); i++)
		if (!strcmp(line, journal_lines[i]))
			return true;
	return false;
}

/* The tool's output, without its banner, the snapshot named as device
 * (nor, journal: what the floor said of the journal already) */
static char *read_output(const struct snap *s, const char *device,
			 bool journal)
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
		    strstr(line, "*****") || strstr(line, " files (") ||
		    (journal && journal_line(line)))
			continue;
		/* one blank line at most */
		if (line[0] == '\n' && (!len || (len > 1 &&
		    buf[len - 1] == '\n' && buf[len - 2] == '\n')))
			continue;
		p = strstr(line, s->target ? s->target : s->img);
		if (p) {
			n = strlen(s->target ? s->target : s->img);
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

/*
 * Blocks to free, gathered into runs: each run's groups get their
 * counts and checksum once, not once a block (the same result)
 */
struct free_run {
	blk64_t start, len;
};

static void run_flush(ext2_filsys fs, struct free_run *r)
{
	if (r->len)
		ext2fs_block_alloc_stats_range(fs, r->start, r->len, -1);
	r->len = 0;
}

/* b freed, after any block already given */
static void run_add(ext2_filsys fs, struct free_run *r, blk64_t b)
{
	if (r->len && r->start + r->len == b && r->len < 1U << 30) {
		r->len++;
		return;
	}
	run_flush(fs, r);
	r->start = b;
	r->len = 1;
}

/* What the files and the fs metadata hold, in the snapshot */
struct owners {
	/* before the scan (-fn): resv alone says what to free, checked
	 * against what the scan says once it has run */
	bool predict;
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
	struct free_run fr = { 0 };
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
			run_add(fs, &fr, b);
		}
	}
	run_flush(fs, &fr);
	ext2fs_free_mem(&buf);
	return 0;
}

/*
 * Before the scan: every marked block of the reserves and metadata
 * blocks (resv, with predict) that is not fs metadata.  In an image
 * whose tree nodes lie in their reserves and on which no file trespasses
 * that is what free_blocks frees; the scan tells whether it was.
 */
static errcode_t free_predicted(ext2_filsys fs, const struct owners *w)
{
	blk64_t b, end, last = ext2fs_blocks_count(fs->super) - 1;
	blk64_t done = fs->super->s_first_data_block;
	struct free_run fr = { 0 };
	size_t i;

	/* sorted by start; where they overlap, each block once */
	for (i = 0; i < w->nr_resv; i++) {
		end = w->resv[i].start + w->resv[i].len;
		b = w->resv[i].start > done ? w->resv[i].start : done;
		for (; b < end && b <= last; b++)
			if (ext2fs_test_block_bitmap2(fs->block_map, b) &&
			    !e2fs_meta_map_overlaps(w->map, b, 1))
				run_add(fs, &fr, b);
		if (end > done)
			done = end;
	}
	run_flush(fs, &fr);
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

	if (w.predict && w.map)
		return free_predicted(fs, &w);
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
static int range_cmp(const void *a, const void *b)
{
	const struct rfl_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The blocks a walk of the trees reaches (reserves(), with nodes) */
struct node_list {
	struct rfl_range *v;
	size_t nr, max;
	struct rfl_blkset seen;
	bool nomem;
};

static errcode_t node_add(struct node_list *l, blk64_t start, blk64_t len)
{
	if (rfl_vec_grow((void **)&l->v, &l->max, l->nr, sizeof(*l->v)))
		return EXT2_ET_NO_MEMORY;
	l->v[l->nr].start = start;
	l->v[l->nr++].len = len;
	return 0;
}

static int n_report(void *priv, const struct ext4_btree_problem *p)
{
	(void)priv; (void)p;
	return 0;
}

static bool n_seen(void *priv, u64 blocknr)
{
	struct node_list *l = priv;
	bool was = false;

	if (rfl_blkset_add(&l->seen, blocknr, &was))
		l->nomem = true;
	return was || l->nomem;
}

static int n_node(void *priv, u64 blocknr, int level)
{
	struct node_list *l = priv;

	(void)level;
	if (node_add(l, blocknr, 1))
		l->nomem = true;
	return l->nomem;
}

/*
 * ... with nodes: and the metadata blocks and every node their trees
 * reach (those outside the reserves: trees made before them), sorted.
 *
 * A flex group of a newer version (FORMAT.md 10) is neither read nor
 * judged: where its layout keeps its trees and reserve is not known, so
 * without nodes (after the scan: c->unsure) the whole flex group is
 * given, and every block in it that no inode and no fs metadata holds
 * is shown free; e2fsck then judges the files and fs metadata in it,
 * not its leaks (pass 4 leaves them too).  With nodes (the prediction,
 * before the scan) it is left out: the scan's view replaces that one.
 */
static errcode_t reserves(struct checker *c, bool nodes,
			  struct rfl_range **vp, size_t *nrp)
{
	static const struct ext4_btree_verify_ops ops = {
		.report = n_report,
		.test_and_set_seen = n_seen,
		.node = n_node,
	};
	struct node_list l = { 0 };
	struct rfl_group *grp;
	errcode_t ret = 0;
	dgrp_t fg;

	for (fg = 0; !ret && fg < c->rfs->nr_flex; fg++) {
		if (c->unsure && c->unsure[fg] == 2) {
			if (!nodes)
				ret = node_add(&l,
				     e2fs_flex_group_first_block(c->fs, fg),
				     e2fs_flex_group_blocks(c->fs, fg));
			continue;
		}
		if (rfl_group_load(c->rfs, fg, &grp))
			continue;
		if (nodes && grp->meta_blk)
			ret = node_add(&l, grp->meta_blk, 1);
		if (!ret && grp->resv_len && !grp->resv_bad)
			ret = node_add(&l, grp->resv_start, grp->resv_len);
		if (!ret && nodes) {
			rfl_blkset_clear(&l.seen);
			if (ext4_btree_verify(&grp->tree, &ops, &l) < 0 ||
			    l.nomem)
				ret = EXT2_ET_NO_MEMORY;
		}
		rfl_group_release(c->rfs, fg);
	}
	free(l.seen.slot);
	if (ret) {
		free(l.v);
		return ret;
	}
	if (nodes && l.nr)
		qsort(l.v, l.nr, sizeof(*l.v), range_cmp);
	*vp = l.v;
	*nrp = l.nr;
	return 0;
}

/* The snapshot (or the view: mgr) as the round trip shows it to stock
 * tools; now, if not 0, as the time it is written */
static errcode_t present(const char *img, io_manager mgr, io_channel io,
			 const struct owners *w, time_t now)
{
	int flags = EXT2_FLAG_RW | EXT2_FLAG_FORCE | EXT2_FLAG_64BITS;
	ext2_filsys fs;
	errcode_t ret;
	dgrp_t g;

	ret = ext2fs_open2(img, NULL, flags, 0, 0, mgr, &fs);
	if (ret)
		return ret;
	fs->now = now;
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
 * Every block a stock tool changed in a snapshot (img, against a second
 * one left as made: orig), written to the image through the checker's
 * channel (and its undo file) where the image differs.  A hole reads as
 * zeros in both, so file data the snapshot never held is never written;
 * a block the tool wrote as zeros over such a hole cannot be told from
 * it and is not written either (the check that follows judges what is
 * left).  Used by pass 6's round trip and the journal replay.
 */
errcode_t rfl_ck_copy_changed(struct checker *c, const char *img,
			      const char *orig, unsigned long long *nr)
{
	ext2_filsys fs = c->fs;
	unsigned int bs = fs->blocksize;
	blk64_t blk, last = ext2fs_blocks_count(fs->super);
	char *a = NULL, *b = NULL, *o = NULL;
	off_t pos = 0, end, size;
	errcode_t ret;
	int fd, fo;

	fd = open(img, O_RDONLY);
	if (fd < 0)
		return errno;
	fo = open(orig, O_RDONLY);
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
		for (blk = pos / bs; !ret && (off_t)(blk * bs) < end &&
		     blk < last; blk++) {
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
			if (!ret)
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
	/* the last write: finish() takes its numbers from this run */
	c->after_run = true;
	c->after_code = rfl_ck_rerun(c->o, true, &c->after, NULL);
	return c->after_code == RFL_EXIT_OK;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A new memfd, named for a child by path; false where there is none */
static bool memfd_path(const char *name, int *fd, char *path, size_t size)
{
	*fd = memfd_create(name, 0);
	if (*fd < 0)
		return false;
	snprintf(path, size, "/proc/self/fd/%d", *fd);
	/* a child opens it by that name */
	return !access(path, R_OK | W_OK);
}

/*
 * The snapshot (and, repairing: the second one) and the tools' output
 * in memory: nothing to sync or to free on disk, a -fn run writes no
 * file, and no size limit but the fs's (tmpfs holds a sparse file as
 * big as any disk; $TMPDIR on ext4 stops at 16 TiB)
 */
static bool in_memory(struct rfl_stock *st, bool orig)
{
	st->now = time(NULL);
	if (memfd_path("reflinkck-snapshot", &st->img_fd, st->s.img,
		       sizeof(st->s.img)) &&
	    memfd_path("reflinkck-output", &st->out_fd, st->s.out,
		       sizeof(st->s.out)) &&
	    (!orig || memfd_path("reflinkck-orig", &st->orig_fd, st->s.orig,
				 sizeof(st->s.orig))))
		return true;
	close_fd(&st->img_fd);
	close_fd(&st->out_fd);
	close_fd(&st->orig_fd);
	return false;
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
		st->img_fd = st->out_fd = st->orig_fd = st->ack = -1;
		st->pid = st->fsck = -1;
	}
	return st;
}

/* The view and its e2fsck given up (the snapshot's way instead) */
static void view_drop(struct rfl_stock *st)
{
	if (st->fsck > 0) {
		kill(st->fsck, SIGKILL);
		reap(st->fsck);
		st->fsck = -1;
	}
	if (st->ack >= 0)
		close(st->ack);
	st->ack = -1;
	rfl_view_free(st->view);
	st->view = NULL;
	st->view_ok = false;
	st->s.target = NULL;
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
	view_drop(st);
	/* its thread writes to the snapshot */
	rfl_ck_snap_free(st->snap);
	close_fd(&st->img_fd);
	close_fd(&st->out_fd);
	close_fd(&st->orig_fd);
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
 * its bitmap is the snapshot's; predict: before the scan, see
 * free_predicted).  To the view (view.c) if one is given. */
static errcode_t present_as(struct checker *c, struct rfl_stock *st,
			    struct rfl_view *view, bool early, bool predict)
{
	struct owners w = { .predict = predict };
	struct rfl_range *resv = NULL;
	char name[64];
	errcode_t ret;

	if (c->o->mode == RFL_NO) {
		w.scan = &c->scan;
		w.map = c->rfs->meta_map;
		if (early)
			w.bits = c->fs->block_map;
	}
	ret = reserves(c, predict, &resv, &w.nr_resv);
	w.resv = resv;
	if (!ret && view) {
		rfl_view_name(view, name, sizeof(name));
		ret = present(name, rfl_view_io_manager, c->fs->io, &w,
			      st->now);
	} else if (!ret) {
		ret = present(st->s.img, unix_io_manager, c->fs->io, &w,
			      st->now);
	}
	free(resv);
	return ret;
}

static errcode_t present_snapshot(struct checker *c, struct rfl_stock *st,
				  bool early)
{
	return present_as(c, st, NULL, early, false);
}

/* The environment with LD_PRELOAD and the view's variables set */
struct view_env {
	char **env;
	char *added[3];
};

static bool env_ours(const char *v)
{
	return !strncmp(v, "LD_PRELOAD=", 11) ||
	       !strncmp(v, RFL_VIEW_ENV_FD "=", strlen(RFL_VIEW_ENV_FD) + 1) ||
	       !strncmp(v, RFL_VIEW_ENV_ACK "=", strlen(RFL_VIEW_ENV_ACK) + 1);
}

static void view_env_free(struct view_env *e)
{
	unsigned int i;

	for (i = 0; i < 3; i++)
		free(e->added[i]);
	free(e->env);
}

static bool view_env(struct view_env *e, const char *shim, int vfd, int ack)
{
	extern char **environ;
	const char *old = getenv("LD_PRELOAD");
	size_t n = 0, i, j = 0;

	*e = (struct view_env){ 0 };
	while (environ[n])
		n++;
	e->env = calloc(n + 4, sizeof(*e->env));
	if (!e->env)
		return false;
	for (i = 0; i < n; i++)
		if (!env_ours(environ[i]))
			e->env[j++] = environ[i];
	/* the shim first: its open() is the one libext2fs calls */
	if (asprintf(&e->added[0], "LD_PRELOAD=%s%s%s", shim,
		     old && *old ? ":" : "", old ? old : "") < 0)
		e->added[0] = NULL;
	if (asprintf(&e->added[1], RFL_VIEW_ENV_FD "=%d", vfd) < 0)
		e->added[1] = NULL;
	if (asprintf(&e->added[2], RFL_VIEW_ENV_ACK "=%d", ack) < 0)
		e->added[2] = NULL;
	for (i = 0; i < 3; i++) {
		if (!e->added[i]) {
			view_env_free(e);
			return false;
		}
		e->env[j++] = e->added[i];
	}
	return true;
}

/* Stock e2fsck -fn on the image through st->view; 0 or why not */
static errcode_t view_spawn(struct rfl_stock *st, const char *device)
{
	char *e2fsck[] = { "e2fsck", "-fn", (char *)device, NULL };
	char shim[PATH_MAX];
	struct view_env e;
	int vfd, p[2];
	errcode_t ret;

	if (!rfl_view_shim(shim, sizeof(shim)))
		return EXT2_ET_UNIMPLEMENTED;
	ret = rfl_view_memfd(st->view, &vfd);
	if (ret)
		return ret;
	/* the read end stays here; the write end is the child's alone */
	if (pipe2(p, 0)) {
		ret = errno;
		close(vfd);
		return ret;
	}
	fcntl(p[0], F_SETFD, FD_CLOEXEC);
	if (view_env(&e, shim, vfd, p[1])) {
		st->fsck = spawn_env(e2fsck, st->s.out, e.env);
		view_env_free(&e);
	}
	close(vfd);
	close(p[1]);
	if (st->fsck < 0) {
		close(p[0]);
		return EXT2_ET_UNIMPLEMENTED;
	}
	st->ack = p[0];
	st->s.target = device;
	return 0;
}

/*
 * Is the image one the view can show as the snapshot would: what
 * rfl_ck_snap_begin refuses is refused here too, and an image shorter
 * than its fs (e2fsck would say so of it, never of the snapshot)
 */
static bool view_fits(struct checker *c)
{
	ext2_filsys fs = c->fs;
	const char *env = getenv("REFLINKCK_VIEW");
	blk64_t size = 0;

	/* e2fsck would read an option, or LABEL= or UUID= (blkid's) */
	if (c->o->device[0] == '-' || strchr(c->o->device, '='))
		return false;
	if ((env && !strcmp(env, "0")) || c->o->mode != RFL_NO ||
	    !c->rfs->meta_map || ext2fs_has_feature_mmp(fs->super) ||
	    ext2fs_has_feature_journal_needs_recovery(fs->super) ||
	    ext2fs_has_feature_journal_dev(fs->super))
		return false;
	if (ext2fs_get_device_size2(c->o->device, fs->blocksize, &size))
		return false;
	return size >= ext2fs_blocks_count(fs->super);
}

/*
 * -fn, before the scan: stock e2fsck started at once on the image,
 * shown as the round trip would show it by an overlay made from the
 * reserves (view.c); the scan then tells whether that was the view
 * the snapshot would have been (rfl_ck_stock_start).  False where it
 * cannot be.
 */
static bool view_begin(struct checker *c, struct rfl_stock *st)
{
	if (!view_fits(c) || rfl_view_new(c->o->device, &st->view))
		return false;
	if (present_as(c, st, st->view, true, true) ||
	    view_spawn(st, c->o->device)) {
		view_drop(st);
		return false;
	}
	return true;
}

/*
 * -fn, after the scan: the view made as the snapshot's would be
 * (free_blocks) is the one e2fsck was given, or e2fsck starts again
 * with it; where it cannot be, the snapshot's way
 */
static void view_confirm(struct checker *c, struct rfl_stock *st)
{
	struct rfl_view *exact = NULL;

	if (c->scan.bad_inodes || c->scan.stray ||
	    rfl_view_new(c->o->device, &exact) ||
	    present_as(c, st, exact, true, false))
		goto snapshot;
	if (rfl_view_same(exact, st->view)) {
		rfl_view_free(exact);
		st->view_ok = true;
		return;
	}
	view_drop(st);
	st->view = exact;
	exact = NULL;
	if (!view_spawn(st, c->o->device)) {
		st->view_ok = true;
		return;
	}
snapshot:
	rfl_view_free(exact);
	view_drop(st);
	st->pid = spawn(e2image_argv(c, st->s.img), st->s.out);
	if (st->pid < 0)
		rfl_ck_stock_free(c);
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
	if (!in_memory(st, false)) {
		rfl_ck_stock_free(c);
		return;
	}
	if (view_begin(c, st))
		return;
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

	if (st && st->view && st->pid < 0) {
		view_confirm(c, st);
		return;
	}
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
		*text = read_output(&st->s, c->o->device, c->journal_data);
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

/* Did the shim serve e2fsck the view's superblock?  (A static e2fsck,
 * or a shim not loaded, reads the image as it is: no verdict) */
static bool view_acked(struct rfl_stock *st)
{
	char b = 0;
	ssize_t n;

	do
		n = read(st->ack, &b, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 && b == 1;
}

/* e2fsck's exit code says it could not do its job (or did not run) */
static bool stock_failed(int code)
{
	return code < 0 || code >= 16 || (code & 8);
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
		st->via_view = st->view;
		if (st->view && !view_acked(st)) {
			/* the shim did not show the view: the snapshot */
			view_drop(st);
			st->via_view = false;
			if (make_snapshot(c, st, text))
				return -1;
			code = run(e2fsck, st->s.out);
		}
	} else {
		if (make_snapshot(c, st, text))
			return -1;
		code = run(e2fsck, st->s.out);
	}
	if (!code)
		return 0;
	*text = read_output(&st->s, c->o->device, c->journal_data);
	pctx.str = *text ? *text : "";
	pctx.expected = code;
	pctx.where = st->via_view ? "the image through the stripped view" :
		     "the metadata snapshot";
	/* 8 (or no exit status): e2fsck's operational error, the exit
	 * code's too; 12: -n stops at damage it would have to salvage;
	 * 16 and over (usage, cancel, library, 127 from a missing
	 * e2fsck) found nothing: it did not run */
	c->stock_abort = stock_failed(code);
	if (code < 0 || code >= 16 || !(code & 4)) {
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
	*text = read_output(&st->s, c->o->device, c->journal_data);
	pctx.str = *text ? *text : "";
	pctx.expected = code;
	c->stock_abort = stock_failed(code);
	if (code < 0 || code > 2) {
		rfl_fix_problem(&c->ctx, PR_6_STOCK_LEFT, &pctx);
		c->ctx.left++;
		return;
	}
	ret = enable_snapshot(st->s.img);
	if (!ret)
		ret = rfl_ck_copy_changed(c, st->s.img, st->s.orig, &nr);
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
		/* nor the view confirmed by it */
		if (st->view && !st->view_ok)
			view_drop(st);
	} else {
		st = c->stock = stock_new();
		if (!st) {
			rfl_ck_fail(c, EXT2_ET_NO_MEMORY,
				    "making a directory for the snapshot");
			return;
		}
		/* in memory where the system has memfds, else on disk */
		ret = in_memory(st, true) ? 0 : in_directory(st);
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
	/* -fn alone reads the image through the view (view_fits) */
	pctx.where = st->via_view ? "the image through a stripped view" :
		     "a metadata snapshot";
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

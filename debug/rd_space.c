// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
/*
 * rd_space.c - du [-s] PATH...: the space files take, as btrfs
 * filesystem du reports it (total, exclusive, set shared) plus what
 * sharing saves; the words are defined once, in lib/reflink/rfl_space.h
 * and refdebug(8).
 *
 * Without -s every regular file below each PATH gets a line, then PATH
 * its own (every file below it, each inode once); with -s only PATH.
 */
#include <stdlib.h>
#include <string.h>

#include "refdebug.h"
#include "reflink/rfl_json.h"
#include "reflink/rfl_space.h"

static unsigned long du_lines;

static void du_header(void)
{
	du_lines = 0;
	if (rd.json)
		printf("{\"du\": [");
	else
		printf("%14s %14s %14s %14s  %s\n", "Total", "Exclusive",
		       "Set shared", "Saved", "Filename");
}

static void du_line(const struct rfl_space *sp, const char *name)
{
	if (rd.json) {
		printf("%s{\"path\": ", du_lines ? ", " : "");
		rfl_json_str(stdout, name);
		printf(", \"total\": %llu, \"exclusive\": %llu, "
		       "\"shared\": %llu, \"saved\": %llu}", (ull)sp->total,
		       (ull)sp->exclusive, (ull)sp->shared, (ull)sp->saved);
	} else {
		printf("%14llu %14llu %14llu %14llu  %s\n", (ull)sp->total,
		       (ull)sp->exclusive, (ull)sp->shared, (ull)sp->saved,
		       name);
	}
	du_lines++;
}

static void du_end(void)
{
	if (rd.json)
		printf("]}\n");
}

struct du_walk {
	const char *cmd;
	errcode_t err;
	int depth;
	char *path;
};

static errcode_t du_file(const char *cmd, ext2_ino_t ino, const char *path)
{
	struct rfl_space_set *s;
	struct rfl_space sp;
	errcode_t ret;

	ret = rfl_space_set_new(rd.rfs, &s);
	if (ret)
		return ret;
	ret = rfl_space_add_inode(s, ino);
	if (!ret) {
		rfl_space_result(s, &sp);
		du_line(&sp, path);
	} else {
		rd_com_err(cmd, ret, "%s", path);
	}
	rfl_space_set_free(s);
	return ret;
}

static void du_dir(struct du_walk *w, ext2_ino_t dir);

static int du_entry(struct ext2_dir_entry *d, int offset, int blocksize,
		    char *buf, void *priv)
{
	struct du_walk *w = priv;
	int len = ext2fs_dirent_name_len(d);
	char *saved = w->path, *p;

	(void)offset;
	(void)blocksize;
	(void)buf;
	if (rfl_dirent_skip(d))
		return 0;
	if (asprintf(&p, "%s/%.*s", strcmp(saved, "/") ? saved : "", len,
		     d->name) < 0) {
		w->err = EXT2_ET_NO_MEMORY;
		return DIRENT_ABORT;
	}
	switch (ext2fs_dirent_file_type(d)) {
	case EXT2_FT_REG_FILE:
		w->err = du_file(w->cmd, d->inode, p);
		break;
	case EXT2_FT_DIR:
		w->path = p;
		du_dir(w, d->inode);
		w->path = saved;
		break;
	}
	free(p);
	return w->err ? DIRENT_ABORT : 0;
}

/* Directories nest at most 64 deep here, as the other path walks */
static void du_dir(struct du_walk *w, ext2_ino_t dir)
{
	errcode_t ret;

	if (w->depth > 64)
		return;
	w->depth++;
	ret = ext2fs_dir_iterate(rd_fs(), dir, 0, NULL, du_entry, w);
	if (ret && !w->err) {
		w->err = ret;
		rd_com_err(w->cmd, ret, "%s", w->path);
	}
	w->depth--;
}

static bool du_one(const char *cmd, const char *arg, bool summary)
{
	struct rfl_space_set *s = NULL;
	struct ext2_inode inode;
	struct rfl_space sp;
	ext2_ino_t ino;
	errcode_t ret;

	ino = rd_lookup(cmd, arg);
	if (!ino)
		return false;
	ret = ext2fs_read_inode(rd_fs(), ino, &inode);
	if (ret) {
		rd_com_err(cmd, ret, "%s", arg);
		return false;
	}
	if (!summary && LINUX_S_ISDIR(inode.i_mode)) {
		struct du_walk w = { .cmd = cmd, .path = (char *)arg };

		du_dir(&w, ino);
		if (w.err)
			return false;
	}
	ret = rfl_space_set_new(rd.rfs, &s);
	if (!ret)
		ret = rfl_space_add_tree(s, ino);
	if (ret) {
		rd_com_err(cmd, ret, "%s", arg);
		rfl_space_set_free(s);
		return false;
	}
	rfl_space_result(s, &sp);
	du_line(&sp, arg);
	rfl_space_set_free(s);
	return true;
}

/* du [-s] PATH... */
void do_du(RD_ARGS)
{
	bool summary = false;
	int i = 1;

	(void)sci_idx;
	(void)infop;
	if (argc > 1 && !strcmp(argv[1], "-s")) {
		summary = true;
		i++;
	}
	if (i >= argc) {
		rd_err(argv[0], "usage: %s [-s] PATH...", argv[0]);
		return;
	}
	if (!rd_need_open(argv[0]))
		return;
	du_header();
	for (; i < argc; i++)
		if (!du_one(argv[0], argv[i], summary))
			break;
	du_end();
}

// SPDX-License-Identifier: GPL-2.0
/*
 * refdebug - interactive debug shell for ext4 reflink images, in the
 * manner of debugfs: a libss shell (history, line editing, help, ?),
 * -R for one request, -f for a script, -w to write, -z for an undo file,
 * -c to open an image whose trees are damaged.
 *
 * This file holds main, the shell, open/close and the helpers every
 * command file uses.  Output never depends on time or addresses, so
 * tests can compare it verbatim.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ss/ss.h>

#include "refdebug.h"
#include "rd_walk.h"
#include "rfl_version.h"
#include "reflink/rfl_dev.h"

#define PROG	"refdebug"

extern ss_request_table refdebug_cmds;

struct rd_state rd;

void rd_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	rd.failed = true;
}

void rd_com_err(const char *cmd, errcode_t ret, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cmd);
	if (fmt) {
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputs(": ", stderr);
	}
	fprintf(stderr, "%s\n", error_message(ret));
	rd.failed = true;
}

bool rd_check_args(int argc, const char *const *argv, int min, int max,
		   const char *usage)
{
	if (argc - 1 < min || (max >= 0 && argc - 1 > max)) {
		rd_err(argv[0], "usage: %s %s", argv[0], usage);
		return false;
	}
	return true;
}

bool rd_need_open(const char *cmd)
{
	if (rd.rfs)
		return true;
	rd_err(cmd, "no image is open (open IMAGE)");
	return false;
}

bool rd_need_rw(const char *cmd)
{
	if (!rd_need_open(cmd))
		return false;
	if (rd.rw)
		return true;
	rd_err(cmd, "%s is open read-only: this command writes "
	       "(reopen with -w)", rd.image);
	return false;
}

bool rd_parse_u64(const char *cmd, const char *s, const char *what, ull max,
		  ull *out)
{
	char *end;
	ull v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno == ERANGE || end == s || *end || *s == '-' || *s == '+') {
		rd_err(cmd, "bad %s '%s': not a number", what, s);
		return false;
	}
	if (v > max) {
		rd_err(cmd, "%s %s out of range (0..%llu)", what, s, max);
		return false;
	}
	*out = v;
	return true;
}

ext2_filsys rd_fs(void)
{
	return rd.rfs->fs;
}

unsigned int rd_block_size(void)
{
	return rd.rfs->fs->blocksize;
}

ull rd_blocks_count(void)
{
	return ext2fs_blocks_count(rd.rfs->fs->super);
}

u32 rd_nr_flex(void)
{
	return rd.rfs->nr_flex;
}

u32 rd_flex_of(ull blk)
{
	return rfl_block_flex_group(rd.rfs, blk);
}

ull rd_flex_first(u32 fg)
{
	return e2fs_flex_group_first_block(rd.rfs->fs, fg);
}

ull rd_flex_len(u32 fg)
{
	return e2fs_flex_group_blocks(rd.rfs->fs, fg);
}

u32 rd_bg_reserved(u32 fg)
{
	return rfl_bg_reserved(rd.rfs->fs,
			       fg * e2fs_flex_group_size(rd.rfs->fs));
}

ull rd_meta_block(u32 fg)
{
	u32 rel = rd_bg_reserved(fg);

	return rel ? rd_flex_first(fg) + rel : 0;
}

void rd_check_tree(u32 fg, struct ext4_btree *tree)
{
	/* only geometry, seed and owner are used: no host is needed */
	ext4_btree_init(tree, &ext4_refcount_geo, &e2fs_host_ops, NULL,
			rd_block_size(), rd.rfs->csum_seed, fg, EXT4_BTREE_COW);
}

unsigned int rd_node_capacity(void)
{
	return ext4_btree_leaf_capacity(&ext4_refcount_geo, rd_block_size());
}

unsigned int rd_key_off(unsigned int i)
{
	return sizeof(struct ext4_btree_node_head) +
	       i * sizeof(struct ext4_refcount_key);
}

unsigned int rd_val_off(unsigned int i)
{
	return sizeof(struct ext4_btree_node_head) +
	       rd_node_capacity() * sizeof(struct ext4_refcount_key) +
	       i * sizeof(struct ext4_refcount_val);
}

errcode_t rd_read_block(ull blk, void *buf)
{
	return io_channel_read_blk64(rd.rfs->fs->io, blk, 1, buf);
}

errcode_t rd_write_block(ull blk, const void *buf)
{
	errcode_t ret;

	rd_invalidate();
	ret = io_channel_write_blk64(rd.rfs->fs->io, blk, 1, buf);
	if (!ret)
		ret = io_channel_flush(rd.rfs->fs->io);
	return ret;
}

/*
 * Forget what the library cached about every flex group (metadata block
 * image, tree root, node cache): a raw write changed the disk under it.
 * No transaction is open between commands, so nothing dirty is lost.
 */
void rd_invalidate(void)
{
	struct rfl_fs *rfs = rd.rfs;
	dgrp_t i;

	for (i = 0; rfs && i < rfs->nr_flex; i++) {
		struct rfl_group *grp = &rfs->groups[i];

		if (grp->host) {
			e2fs_host_close(grp->host);
			grp->host = NULL;
		}
		grp->loaded = false;
	}
}

ext2_ino_t rd_lookup(const char *cmd, const char *path)
{
	ext2_ino_t ino;
	errcode_t ret;

	ret = ext2fs_namei(rd.rfs->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path,
			   &ino);
	if (ret) {
		rd_com_err(cmd, ret, "%s", path);
		return 0;
	}
	return ino;
}

ext2_ino_t rd_parent_of(const char *cmd, const char *arg, char *path,
			const char *noun, const char **name)
{
	char *slash = strrchr(path, '/');
	ext2_ino_t dir;

	if (!slash) {
		*name = path;
		return EXT2_ROOT_INO;
	}
	*name = slash + 1;
	if (!**name) {
		rd_err(cmd, "%s: no %s name", arg, noun);
		return 0;
	}
	if (slash == path)
		return EXT2_ROOT_INO;
	*slash = '\0';
	dir = rd_lookup(cmd, path);
	*slash = '/';
	return dir;
}

struct open_problem {
	long nr;
	struct ext4_btree_problem first;
};

static int open_report(void *priv, const struct ext4_btree_problem *p)
{
	struct open_problem *op = priv;

	if (!op->nr++)
		op->first = *p;
	return 1;
}

/*
 * Without -c every flex group's metadata block and tree must be sound:
 * a later command would otherwise fail half-way on a bad node.
 */
static errcode_t open_verify(u32 *bad_fg, ull *bad_blk, const char **why)
{
	static const struct ext4_btree_verify_ops vops = {
		.report = open_report,
	};
	struct rfl_group *grp;
	struct open_problem op;
	errcode_t ret;
	u32 fg;

	for (fg = 0; fg < rd.rfs->nr_flex; fg++) {
		*bad_fg = fg;
		*bad_blk = rd_meta_block(fg);
		*why = NULL;
		ret = rfl_group_load(rd.rfs, fg, &grp);
		if (ret)
			return ret;
		memset(&op, 0, sizeof(op));
		if (ext4_btree_verify(&grp->tree, &vops, &op) < 0)
			return EXT2_ET_NO_MEMORY;
		if (op.nr) {
			if (op.first.blocknr)
				*bad_blk = op.first.blocknr;
			*why = ext4_btree_problem_words(op.first.code);
			return RFL_ET_CORRUPT_TREE;
		}
	}
	return 0;
}

errcode_t rd_open(const char *image, bool rw, bool catastrophic,
		  const char *undo)
{
	int flags = RFL_OPEN_NO_FEATURE;
	const char *why = NULL;
	char *dev;
	errcode_t ret;
	u32 fg;
	ull blk;

	if (rw)
		flags |= RFL_OPEN_RW;
	if (rw && undo)
		flags |= RFL_OPEN_UNDO;
	/* LABEL= and UUID= as debugfs takes them */
	dev = rfl_resolve_device(image);
	if (!dev) {
		rd_err(PROG, "unable to resolve '%s'", image);
		return RFL_ET_BAD_ARG;
	}
	ret = rfl_open(dev, flags, undo, &rd.rfs);
	if (ret) {
		rd_com_err(PROG, ret, "%s", image);
		free(dev);
		return ret;
	}
	free(dev);
	if (!rfl_has_feature(rd.rfs->fs)) {
		rfl_abandon(rd.rfs);
		rd.rfs = NULL;
		rd_com_err(PROG, RFL_ET_NO_FEATURE, "%s", image);
		return RFL_ET_NO_FEATURE;
	}
	rd.image = strdup(image);
	rd.rw = rw;
	rd.catastrophic = catastrophic;
	if (!rd.image) {
		rd_close();
		return EXT2_ET_NO_MEMORY;
	}
	ret = ext2fs_read_bitmaps(rd.rfs->fs);
	if (ret) {
		rd_com_err(PROG, ret, "%s: reading bitmaps", image);
		rd_close();
		return ret;
	}
	if (catastrophic)
		return 0;
	ret = open_verify(&fg, &blk, &why);
	if (ret) {
		rd_err(PROG, "%s: flex group %u, block %llu: %s%s%s (use -c "
		       "to open it anyway)", image, fg, blk,
		       error_message(ret), why ? ": " : "", why ? why : "");
		rfl_abandon(rd.rfs);
		rd.rfs = NULL;
		free(rd.image);
		rd.image = NULL;
	}
	rd_invalidate();
	return ret;
}

void rd_close(void)
{
	errcode_t ret;

	if (!rd.rfs)
		return;
	rd_invalidate();
	if (rd.rw) {
		ret = rfl_close(rd.rfs);
		if (ret)
			rd_com_err(PROG, ret, "%s: closing", rd.image);
	} else {
		rfl_abandon(rd.rfs);
	}
	rd.rfs = NULL;
	free(rd.image);
	rd.image = NULL;
}

/* open [-w] [-c] [-z UNDO] IMAGE */
void do_open(RD_ARGS)
{
	const char *undo = NULL;
	bool rw = false, cat = false;
	int i;

	(void)sci_idx;
	(void)infop;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-w")) {
			rw = true;
		} else if (!strcmp(argv[i], "-c")) {
			cat = true;
		} else if (!strcmp(argv[i], "-z") && i + 1 < argc) {
			undo = argv[++i];
		} else {
			rd_err(argv[0], "unknown option %s", argv[i]);
			return;
		}
	}
	if (i != argc - 1) {
		rd_err(argv[0], "usage: open [-w] [-c] [-z UNDO] IMAGE");
		return;
	}
	if (rd.rfs) {
		rd_err(argv[0], "%s is open (close it first)", rd.image);
		return;
	}
	rd_open(argv[i], rw, cat, undo);
}

void do_close(RD_ARGS)
{
	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 0, 0, "") || !rd_need_open(argv[0]))
		return;
	rd_close();
}

static bool set_format(const char *cmd, const char *arg)
{
	if (!strcmp(arg, "json"))
		rd.json = true;
	else if (!strcmp(arg, "text"))
		rd.json = false;
	else {
		rd_err(cmd, "format json or text, not '%s'", arg);
		return false;
	}
	return true;
}

/* format [json|text]: what stats, du, shared and records print */
void do_format(RD_ARGS)
{
	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 0, 1, "[json|text]"))
		return;
	if (argc == 1)
		printf("%s\n", rd.json ? "json" : "text");
	else
		set_format(argv[0], argv[1]);
}

static void usage(void)
{
	fprintf(stderr, "usage: " PROG " [-V] [-w] [-c] [-z UNDO] [--format "
		"json|text] [-R request | -f cmdfile] [IMAGE]\n");
	exit(1);
}

/* Run every line of file ("-" is stdin); comments and blank lines skip */
static void run_script(int sci_idx, const char *file)
{
	char *line = NULL, *p;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int ret;

	f = strcmp(file, "-") ? fopen(file, "r") : stdin;
	if (!f) {
		rd_err(PROG, "%s: %s", file, strerror(errno));
		return;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (!*p || *p == '#')
			continue;
		/* as debugfs -f: each command before its output */
		printf(PROG ": %s\n", p);
		fflush(stdout);
		ret = ss_execute_line(sci_idx, p);
		if (ret) {
			ss_perror(sci_idx, ret, p);
			rd.failed = true;
		}
	}
	free(line);
	if (f != stdin)
		fclose(f);
}

int main(int argc, char **argv)
{
	const char *request = NULL, *script = NULL, *undo = NULL;
	bool rw = false, cat = false;
	int c, sci_idx, ret;

	initialize_rfl_error_table();
	initialize_ext2_error_table();
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};

	while ((c = getopt_long(argc, argv, "Vwcz:R:f:", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'F':
			if (!set_format(PROG, optarg))
				exit(1);
			break;
		case 'V':
			rfl_print_version(stderr, PROG);
			exit(0);
		case 'w':
			rw = true;
			break;
		case 'c':
			cat = true;
			break;
		case 'z':
			undo = optarg;
			break;
		case 'R':
			request = optarg;
			break;
		case 'f':
			script = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind < argc - 1 || (request && script))
		usage();
	/* debugfs's banner, on stderr */
	fprintf(stderr, PROG " " RFL_VERSION " (" RFL_DATE ")\n");
	if (undo && !rw) {
		fprintf(stderr, PROG ": -z needs -w (nothing is written "
			"read-only)\n");
		exit(1);
	}
	if (optind == argc - 1 && rd_open(argv[optind], rw, cat, undo))
		exit(1);

	sci_idx = ss_create_invocation(PROG, RFL_VERSION, NULL, &refdebug_cmds,
				       &ret);
	if (ret) {
		ss_perror(sci_idx, ret, "creating invocation");
		exit(1);
	}
	ss_get_readline(sci_idx);
	ss_add_request_table(sci_idx, &ss_std_requests, 1, &ret);
	if (ret) {
		ss_perror(sci_idx, ret, "adding standard requests");
		exit(1);
	}
	if (request) {
		char *line = strdup(request);

		ret = line ? ss_execute_line(sci_idx, line) : ENOMEM;
		if (ret) {
			ss_perror(sci_idx, ret, request);
			rd.failed = true;
		}
		free(line);
	} else if (script) {
		run_script(sci_idx, script);
	} else {
		ss_listen(sci_idx);
	}
	ss_delete_invocation(sci_idx);
	rd_close();
	return rd.failed ? 1 : 0;
}

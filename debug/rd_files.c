// SPDX-License-Identifier: GPL-2.0
/*
 * rd_files.c - who maps what (owners, shared) and the offline file
 * operations on the sharing primitives of lib/reflink/rfl_share.h:
 * reflink, dedupe, write, punch, rm, cp.  Each operation is one of the
 * library's crash-safe transactions, so the refcounts stay right.
 *
 * Logical positions are in filesystem blocks except the byte offset of
 * write; punch's END is inclusive, as in ext2fs_punch.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "refdebug.h"
#include "rd_exts.h"
#include "reflink/rfl_extwalk.h"
#include "reflink/rfl_json.h"
#include "util/vec.h"

struct gather_ctx {
	struct ext_list *l;
	ext2_ino_t ino;
};

static errcode_t add_ext(void *priv, blk64_t lblk, blk64_t pblk, __u32 len,
			 __u32 flags)
{
	struct gather_ctx *g = priv;
	struct ext_list *l = g->l;

	(void)flags;
	if (rfl_vec_grow((void **)&l->v, &l->max, l->nr, sizeof(*l->v)))
		return EXT2_ET_NO_MEMORY;
	l->v[l->nr].ino = g->ino;
	l->v[l->nr].lblk = lblk;
	l->v[l->nr].pblk = pblk;
	l->v[l->nr].len = len;
	l->nr++;
	return 0;
}

struct path_ctx {
	struct ext_list *l;
	const char *dir;
	int depth;
};

static int path_entry(struct ext2_dir_entry *d, int offset, int blocksize,
		      char *buf, void *priv);

static void walk_dir(ext2_filsys fs, ext2_ino_t dir, const char *path,
		     struct ext_list *l, int depth)
{
	struct path_ctx pc = { l, path, depth };

	if (depth > 64)
		return;
	ext2fs_dir_iterate(fs, dir, 0, NULL, path_entry, &pc);
}

static int path_entry(struct ext2_dir_entry *d, int offset, int blocksize,
		      char *buf, void *priv)
{
	struct path_ctx *pc = priv;
	int len = ext2fs_dirent_name_len(d);
	char *p;

	(void)offset;
	(void)blocksize;
	(void)buf;
	if (rfl_dirent_skip(d) || d->inode > pc->l->nr_inodes)
		return 0;
	if (pc->l->paths[d->inode - 1])
		return 0;
	p = malloc(strlen(pc->dir) + len + 2);
	if (!p)
		return DIRENT_ABORT;
	sprintf(p, "%s/%.*s", pc->dir, len, d->name);
	pc->l->paths[d->inode - 1] = p;
	if (ext2fs_dirent_file_type(d) == EXT2_FT_DIR)
		walk_dir(rd_fs(), d->inode, p, pc->l, pc->depth + 1);
	return 0;
}

void rd_free_exts(struct ext_list *l)
{
	ext2_ino_t i;

	for (i = 0; l->paths && i < l->nr_inodes; i++)
		free(l->paths[i]);
	free(l->paths);
	free(l->v);
}

/* Every extent-mapped inode in use, directories too */
static errcode_t gather_inode(void *priv, ext2_ino_t ino,
			      struct ext2_inode_large *inode)
{
	static const struct rfl_extwalk_ops ops = { .leaf = add_ext };
	struct gather_ctx *g = priv;

	if (!(inode->i_flags & EXT4_EXTENTS_FL))
		return 0;
	g->ino = ino;
	return rfl_extent_walk(rd_fs(), ino, (struct ext2_inode *)inode, &ops,
			       g);
}

errcode_t rd_gather_exts(struct ext_list *l)
{
	struct gather_ctx g = { .l = l };
	ext2_filsys fs = rd_fs();

	memset(l, 0, sizeof(*l));
	l->nr_inodes = fs->super->s_inodes_count;
	l->paths = calloc(l->nr_inodes, sizeof(char *));
	if (!l->paths)
		return EXT2_ET_NO_MEMORY;
	walk_dir(fs, EXT2_ROOT_INO, "", l, 0);
	return rfl_for_each_inode(fs, gather_inode, &g);
}

const char *rd_name_of(const struct ext_list *l, ext2_ino_t ino)
{
	const char *p = ino <= l->nr_inodes ? l->paths[ino - 1] : NULL;

	return p ? p : "(no name)";
}

/* owners BLOCK: every (inode, logical block) that maps BLOCK */
void do_owners(RD_ARGS)
{
	struct ext_list l;
	errcode_t ret;
	size_t i, n = 0;
	ull blk;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 1, 1, "BLOCK") ||
	    !rd_need_open(argv[0]) ||
	    !rd_parse_u64(argv[0], argv[1], "block", rd_blocks_count() - 1,
			  &blk))
		return;
	ret = rd_gather_exts(&l);
	if (ret) {
		rd_com_err(argv[0], ret, "scanning inodes");
		goto out;
	}
	for (i = 0; i < l.nr; i++) {
		const struct rd_ext *e = &l.v[i];

		if (blk < e->pblk || blk >= e->pblk + e->len)
			continue;
		printf("block %llu: inode %u lblk %llu %s\n", blk, e->ino,
		       e->lblk + (blk - e->pblk), rd_name_of(&l, e->ino));
		n++;
	}
	if (!n)
		printf("block %llu: no file maps it\n", blk);
out:
	rd_free_exts(&l);
}

struct shared_ctx {
	struct ext_list *l;
	const struct rd_ext *self;
	ull n;
};

static int shared_cb(void *priv, blk64_t start, blk64_t len, __u32 count)
{
	struct shared_ctx *sc = priv;
	const struct rd_ext *s = sc->self;
	size_t i;
	bool first = true;

	if (rd.json)
		printf("%s{\"lblk_first\": %llu, \"lblk_last\": %llu, "
		       "\"block_first\": %llu, \"block_last\": %llu, "
		       "\"count\": %u, \"with\": [", sc->n ? ", " : "",
		       s->lblk + (start - s->pblk), s->lblk +
		       (start - s->pblk) + len - 1, (ull)start,
		       (ull)(start + len - 1), count);
	else
		printf("lblk %llu-%llu blocks %llu-%llu count %u with",
		       s->lblk + (start - s->pblk), s->lblk +
		       (start - s->pblk) + len - 1, (ull)start,
		       (ull)(start + len - 1), count);
	for (i = 0; i < sc->l->nr; i++) {
		const struct rd_ext *e = &sc->l->v[i];
		ull lo, hi;

		if (e == s)
			continue;
		lo = e->pblk > start ? e->pblk : start;
		hi = e->pblk + e->len < start + len ? e->pblk + e->len :
		     start + len;
		if (lo >= hi)
			continue;
		if (rd.json) {
			printf("%s{\"path\": ", first ? "" : ", ");
			rfl_json_str(stdout, rd_name_of(sc->l, e->ino));
			printf(", \"lblk_first\": %llu, \"lblk_last\": %llu}",
			       e->lblk + (lo - e->pblk),
			       e->lblk + (hi - e->pblk) - 1);
		} else {
			printf("%s %s lblk %llu-%llu", first ? "" : ",",
			       rd_name_of(sc->l, e->ino),
			       e->lblk + (lo - e->pblk),
			       e->lblk + (hi - e->pblk) - 1);
		}
		first = false;
	}
	printf(rd.json ? "]}" : "\n");
	sc->n++;
	return 0;
}

/* shared FILE: which ranges of FILE are shared, and with whom */
void do_shared(RD_ARGS)
{
	struct shared_ctx sc = { 0 };
	struct ext_list l;
	ext2_ino_t ino;
	errcode_t ret;
	size_t i;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 1, 1, "FILE") ||
	    !rd_need_open(argv[0]))
		return;
	ino = rd_lookup(argv[0], argv[1]);
	if (!ino)
		return;
	ret = rd_gather_exts(&l);
	if (ret) {
		rd_com_err(argv[0], ret, "scanning inodes");
		goto out;
	}
	sc.l = &l;
	if (rd.json) {
		printf("{\"file\": ");
		rfl_json_str(stdout, argv[1]);
		printf(", \"shared\": [");
	}
	for (i = 0; i < l.nr; i++) {
		if (l.v[i].ino != ino)
			continue;
		sc.self = &l.v[i];
		ret = rfl_for_each_shared(rd.rfs, l.v[i].pblk, l.v[i].len,
					  shared_cb, &sc);
		if (ret) {
			rd_com_err(argv[0], ret, "%s", argv[1]);
			goto out;
		}
	}
	if (rd.json)
		printf("]}\n");
	else if (!sc.n)
		printf("%s: no shared blocks\n", argv[1]);
out:
	rd_free_exts(&l);
}

static void report(const char *cmd, const char *what, errcode_t ret)
{
	if (ret)
		rd_com_err(cmd, ret, "%s", what);
}

/* reflink SRC DST: DST becomes a clone of SRC */
void do_reflink(RD_ARGS)
{
	ext2_ino_t src, dir;
	const char *name;
	char *dst;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 2, 2, "SRC DST") ||
	    !rd_need_rw(argv[0]))
		return;
	src = rd_lookup(argv[0], argv[1]);
	dst = strdup(argv[2]);
	if (!src || !dst)
		goto out;
	dir = rd_parent_of(argv[0], argv[2], dst, "file", &name);
	if (dir)
		report(argv[0], argv[2],
		       rfl_clone_inode(rd.rfs, src, dir, name, NULL));
out:
	free(dst);
}

static errcode_t read_range(ext2_ino_t ino, ull off, ull len, char *buf,
			    unsigned int *got)
{
	ext2_file_t f;
	errcode_t ret, ret2;

	*got = 0;
	ret = ext2fs_file_open(rd_fs(), ino, 0, &f);
	if (ret)
		return ret;
	ret = ext2fs_file_llseek(f, off, EXT2_SEEK_SET, NULL);
	while (!ret && *got < len) {
		unsigned int n;

		ret = ext2fs_file_read(f, buf + *got, len - *got, &n);
		if (!n)
			break;
		*got += n;
	}
	ret2 = ext2fs_file_close(f);
	return ret ? ret : ret2;
}

/*
 * dedupe FILE1 BLK1 FILE2 BLK2 NR: FILE2's blocks BLK2.. come to share
 * FILE1's blocks BLK1.. only if the bytes are equal (FIDEDUPERANGE)
 */
void do_dedupe(RD_ARGS)
{
	unsigned int bs, got1, got2;
	ext2_ino_t i1, i2;
	ull b1, b2, nr;
	char *p1 = NULL, *p2 = NULL;
	errcode_t ret;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 5, 5, "FILE1 BLK1 FILE2 BLK2 NR") ||
	    !rd_need_rw(argv[0]) ||
	    !rd_parse_u64(argv[0], argv[2], "block", RFL_LBLK_END - 1, &b1) ||
	    !rd_parse_u64(argv[0], argv[4], "block", RFL_LBLK_END - 1, &b2) ||
	    !rd_parse_u64(argv[0], argv[5], "count", 65536, &nr))
		return;
	i1 = rd_lookup(argv[0], argv[1]);
	i2 = i1 ? rd_lookup(argv[0], argv[3]) : 0;
	if (!i2)
		return;
	bs = rd_block_size();
	p1 = malloc(nr * bs + 1);
	p2 = malloc(nr * bs + 1);
	if (!p1 || !p2) {
		rd_com_err(argv[0], EXT2_ET_NO_MEMORY, NULL);
		goto out;
	}
	ret = read_range(i1, b1 * bs, nr * bs, p1, &got1);
	if (!ret)
		ret = read_range(i2, b2 * bs, nr * bs, p2, &got2);
	if (ret) {
		rd_com_err(argv[0], ret, "reading");
		goto out;
	}
	if (!nr || got1 != got2 || memcmp(p1, p2, got1)) {
		printf("dedupe: contents differ: nothing shared\n");
		goto out;
	}
	ret = rfl_share_range(rd.rfs, i1, b1, i2, b2, nr);
	if (ret)
		rd_com_err(argv[0], ret, "%s", argv[ret == RFL_ET_BAD_RANGE ?
						      1 : 3]);
	else
		printf("dedupe: %llu blocks shared\n", nr);
out:
	free(p1);
	free(p2);
}

static char *slurp(const char *cmd, const char *host, size_t *len)
{
	struct stat st;
	char *buf;
	FILE *f;

	f = fopen(host, "rb");
	if (!f || fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		rd_err(cmd, "%s: %s", host, f ? "not a regular file" :
		       strerror(errno));
		if (f)
			fclose(f);
		return NULL;
	}
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf || fread(buf, 1, st.st_size, f) != (size_t)st.st_size) {
		rd_err(cmd, "%s: cannot read", host);
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = st.st_size;
	return buf;
}

/*
 * pwrite FILE OFFSET HOSTFILE: HOSTFILE's bytes at byte OFFSET, with
 * CoW.  "write" with two arguments is debugfs's (write HOSTFILE FILE,
 * a new file: cp); with three, this (its name before pwrite).
 */
void do_write(RD_ARGS)
{
	if (argc == 3 && !strcmp(argv[0], "write")) {
		do_cp(argc, argv, sci_idx, infop);
		return;
	}
	do_pwrite(argc, argv, sci_idx, infop);
}

void do_pwrite(RD_ARGS)
{
	ext2_ino_t ino;
	size_t len;
	char *buf;
	ull off;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 3, 3, "FILE OFFSET HOSTFILE") ||
	    !rd_need_rw(argv[0]) ||
	    !rd_parse_u64(argv[0], argv[2], "offset",
			  RFL_LBLK_END * rd_block_size() - 1, &off))
		return;
	ino = rd_lookup(argv[0], argv[1]);
	if (!ino)
		return;
	buf = slurp(argv[0], argv[3], &len);
	if (!buf)
		return;
	if (off + len > RFL_LBLK_END * rd_block_size())
		rd_err(argv[0], "%s: write ends past the largest file size",
		       argv[1]);
	else if (len)
		report(argv[0], argv[1],
		       rfl_write_range(rd.rfs, ino, off, buf, len));
	free(buf);
}

/* punch FILE START END: unmap logical blocks START..END (inclusive) */
void do_punch(RD_ARGS)
{
	ext2_ino_t ino;
	ull start, end;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 3, 3, "FILE START END") ||
	    !rd_need_rw(argv[0]) ||
	    !rd_parse_u64(argv[0], argv[2], "start", RFL_LBLK_END - 1,
			  &start) ||
	    !rd_parse_u64(argv[0], argv[3], "end", RFL_LBLK_END - 1, &end))
		return;
	if (end < start) {
		rd_err(argv[0], "end %llu is before start %llu", end, start);
		return;
	}
	ino = rd_lookup(argv[0], argv[1]);
	if (ino)
		report(argv[0], argv[1], rfl_punch(rd.rfs, ino, start, end));
}

/* rm FILE */
void do_rm(RD_ARGS)
{
	ext2_ino_t dir;
	const char *name;
	char *path;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 1, 1, "FILE") ||
	    !rd_need_rw(argv[0]))
		return;
	path = strdup(argv[1]);
	if (!path)
		return;
	dir = rd_parent_of(argv[0], argv[1], path, "file", &name);
	if (dir)
		report(argv[0], argv[1], rfl_unlink(rd.rfs, dir, name));
	free(path);
}

/* An empty regular file with an extent root, linked as name in dir */
static errcode_t create_file(ext2_ino_t dir, const char *name,
			     ext2_ino_t *inop)
{
	ext2_filsys fs = rd_fs();
	ext2_ino_t ino;
	errcode_t ret;

	ret = ext2fs_lookup(fs, dir, name, strlen(name), NULL, &ino);
	if (!ret)
		return EXT2_ET_FILE_EXISTS;
	if (ret != EXT2_ET_FILE_NOT_FOUND)
		return ret;
	return rfl_create_file(fs, dir, name, inop);
}

/* cp HOSTFILE FILE: a plain copy of a host file into the image */
void do_cp(RD_ARGS)
{
	ext2_ino_t dir, ino;
	const char *name;
	char *path = NULL, *buf;
	errcode_t ret;
	size_t len;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 2, 2, "HOSTFILE FILE") ||
	    !rd_need_rw(argv[0]))
		return;
	buf = slurp(argv[0], argv[1], &len);
	if (!buf)
		return;
	path = strdup(argv[2]);
	if (!path)
		goto out;
	dir = rd_parent_of(argv[0], argv[2], path, "file", &name);
	if (!dir)
		goto out;
	ret = create_file(dir, name, &ino);
	if (!ret && len) {
		ret = rfl_write_range(rd.rfs, ino, 0, buf, len);
		/* a failed copy leaves no file: its blocks and inode freed */
		if (ret)
			rfl_unlink(rd.rfs, dir, name);
	}
	report(argv[0], argv[2], ret);
out:
	free(path);
	free(buf);
}

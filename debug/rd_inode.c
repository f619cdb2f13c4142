// SPDX-License-Identifier: GPL-2.0
/*
 * rd_inode.c - the file commands of debugfs, with its meaning: stat
 * (and each extent's share count), ls, blocks, icheck, ncheck, cat, and
 * dump FILE HOSTFILE.  Nothing printed depends on the time: ls -l and
 * stat leave the timestamps out, so tests can compare the output.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "refdebug.h"
#include "rd_exts.h"
#include "reflink/rfl_extwalk.h"

static const char *type_name(__u16 mode)
{
	switch (mode & LINUX_S_IFMT) {
	case LINUX_S_IFREG: return "regular";
	case LINUX_S_IFDIR: return "directory";
	case LINUX_S_IFLNK: return "symlink";
	case LINUX_S_IFCHR: return "character special";
	case LINUX_S_IFBLK: return "block special";
	case LINUX_S_IFIFO: return "FIFO";
	case LINUX_S_IFSOCK: return "socket";
	default: return "bad type";
	}
}

static bool read_inode(const char *cmd, const char *path, ext2_ino_t *ino,
		       struct ext2_inode *inode)
{
	errcode_t ret;

	*ino = rd_lookup(cmd, path);
	if (!*ino)
		return false;
	ret = ext2fs_read_inode(rd_fs(), *ino, inode);
	if (ret) {
		rd_com_err(cmd, ret, "%s", path);
		return false;
	}
	return true;
}

/* stat: one line per run of equal count within an extent */
struct stat_ctx {
	ull lblk, pblk;		/* the extent */
	bool uninit;
	ull next;		/* first block of the extent not printed */
};

static void stat_run(const struct stat_ctx *sc, ull start, ull len,
		     unsigned int count)
{
	ull l = sc->lblk + (start - sc->pblk);

	printf("(%llu-%llu):%llu-%llu count %u%s\n", l, l + len - 1, start,
	       start + len - 1, count, sc->uninit ? " [uninit]" : "");
}

static int stat_shared(void *priv, blk64_t start, blk64_t len, __u32 count)
{
	struct stat_ctx *sc = priv;

	if (start > sc->next)
		stat_run(sc, sc->next, start - sc->next, 1);
	stat_run(sc, start, len, count);
	sc->next = start + len;
	return 0;
}

static errcode_t stat_extent(void *priv, blk64_t lblk, blk64_t pblk,
			     __u32 len, __u32 flags)
{
	struct stat_ctx *sc = priv;
	ull end = pblk + len;
	errcode_t ret;

	sc->lblk = lblk;
	sc->pblk = pblk;
	sc->uninit = flags & EXT2_EXTENT_FLAGS_UNINIT;
	sc->next = pblk;
	ret = rfl_for_each_shared(rd.rfs, pblk, len, stat_shared, sc);
	if (ret)
		return ret;
	if (sc->next < end)
		stat_run(sc, sc->next, end - sc->next, 1);
	return 0;
}

/* stat FILE: the inode, then its extents with their share counts */
void do_stat(RD_ARGS)
{
	static const struct rfl_extwalk_ops ops = { .leaf = stat_extent };
	struct stat_ctx sc;
	struct ext2_inode inode;
	ext2_ino_t ino;
	errcode_t ret;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 1, 1, "FILE") ||
	    !rd_need_open(argv[0]) ||
	    !read_inode(argv[0], argv[1], &ino, &inode))
		return;
	printf("Inode: %u   Type: %s    Mode:  %04o   Flags: 0x%x%s\n", ino,
	       type_name(inode.i_mode), inode.i_mode & 07777, inode.i_flags,
	       inode.i_flags & EXT4_REFLINK_FL ? " (reflink)" : "");
	printf("User: %5u   Group: %5u   Size: %llu\n", inode_uid(inode),
	       inode_gid(inode), (ull)EXT2_I_SIZE(&inode));
	printf("Links: %u   Blockcount: %llu\n", inode.i_links_count,
	       (ull)ext2fs_get_stat_i_blocks(rd_fs(), &inode));
	if (!(inode.i_flags & EXT4_EXTENTS_FL))
		return;
	printf("EXTENTS: (logical):physical count N, N the blocks' sharers\n");
	ret = rfl_extent_walk(rd_fs(), ino, &inode, &ops, &sc);
	if (ret)
		rd_com_err(argv[0], ret, "%s", argv[1]);
}

static errcode_t blocks_extent(void *priv, blk64_t lblk, blk64_t pblk,
			       __u32 len, __u32 flags)
{
	__u32 i;

	(void)priv;
	(void)lblk;
	(void)flags;
	for (i = 0; i < len; i++)
		printf("%llu ", (ull)pblk + i);
	return 0;
}

/* blocks FILE: the file's physical blocks in logical order, one line */
void do_blocks(RD_ARGS)
{
	static const struct rfl_extwalk_ops ops = { .leaf = blocks_extent };
	struct ext2_inode inode;
	ext2_ino_t ino;
	errcode_t ret = 0;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 1, 1, "FILE") ||
	    !rd_need_open(argv[0]) ||
	    !read_inode(argv[0], argv[1], &ino, &inode))
		return;
	if (inode.i_flags & EXT4_EXTENTS_FL)
		ret = rfl_extent_walk(rd_fs(), ino, &inode, &ops, NULL);
	printf("\n");
	if (ret)
		rd_com_err(argv[0], ret, "%s", argv[1]);
}

struct ls_ctx {
	bool l;
};

static int ls_entry(struct ext2_dir_entry *d, int offset, int blocksize,
		    char *buf, void *priv)
{
	struct ls_ctx *lc = priv;
	int len = ext2fs_dirent_name_len(d);
	struct ext2_inode inode;

	(void)offset;
	(void)blocksize;
	(void)buf;
	if (!d->inode)
		return 0;
	if (!lc->l) {
		printf("%u  %.*s\n", d->inode, len, d->name);
		return 0;
	}
	if (ext2fs_read_inode(rd_fs(), d->inode, &inode))
		memset(&inode, 0, sizeof(inode));
	printf("%7u %6o %5u %5u %12llu  %.*s\n", d->inode, inode.i_mode,
	       inode_uid(inode), inode_gid(inode), (ull)EXT2_I_SIZE(&inode),
	       len, d->name);
	return 0;
}

/* ls [-l] [DIR]: each entry's inode and name (-l: mode, ids, size) */
void do_ls(RD_ARGS)
{
	struct ls_ctx lc = { .l = false };
	const char *path = "/";
	ext2_ino_t ino;
	errcode_t ret;
	int i = 1;

	(void)sci_idx;
	(void)infop;
	if (argc > 1 && !strcmp(argv[1], "-l")) {
		lc.l = true;
		i++;
	}
	if (argc - i > 1) {
		rd_err(argv[0], "usage: %s [-l] [DIR]", argv[0]);
		return;
	}
	if (!rd_need_open(argv[0]))
		return;
	if (i < argc)
		path = argv[i];
	ino = rd_lookup(argv[0], path);
	if (!ino)
		return;
	ret = ext2fs_dir_iterate(rd_fs(), ino, 0, NULL, ls_entry, &lc);
	if (ret)
		rd_com_err(argv[0], ret, "%s", path);
}

/* icheck BLOCK...: the inodes that map each block (all of its sharers) */
void do_icheck(RD_ARGS)
{
	struct ext_list l;
	errcode_t ret;
	size_t i;
	ull *blks;
	int a;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 1, -1, "BLOCK...") ||
	    !rd_need_open(argv[0]))
		return;
	blks = calloc(argc, sizeof(*blks));
	if (!blks)
		return;
	for (a = 1; a < argc; a++)
		if (!rd_parse_u64(argv[0], argv[a], "block",
				  rd_blocks_count() - 1, &blks[a]))
			goto out;
	ret = rd_gather_exts(&l);
	if (ret) {
		rd_com_err(argv[0], ret, "scanning inodes");
		goto out_list;
	}
	printf("Block\tInode number\n");
	for (a = 1; a < argc; a++) {
		bool found = false;

		for (i = 0; i < l.nr; i++) {
			const struct rd_ext *e = &l.v[i];

			if (blks[a] < e->pblk || blks[a] >= e->pblk + e->len)
				continue;
			printf("%llu\t%u\n", blks[a], e->ino);
			found = true;
		}
		if (!found)
			printf("%llu\t<block not found>\n", blks[a]);
	}
out_list:
	rd_free_exts(&l);
out:
	free(blks);
}

/* ncheck INODE...: a path of each inode */
void do_ncheck(RD_ARGS)
{
	struct ext_list l;
	errcode_t ret;
	ull ino;
	int a;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 1, -1, "INODE...") ||
	    !rd_need_open(argv[0]))
		return;
	for (a = 1; a < argc; a++) {
		if (!rd_parse_u64(argv[0], argv[a], "inode",
				  rd_fs()->super->s_inodes_count, &ino))
			return;
		if (!ino) {
			rd_err(argv[0], "inode 0 does not exist");
			return;
		}
	}
	ret = rd_gather_exts(&l);
	if (ret) {
		rd_com_err(argv[0], ret, "scanning inodes");
		goto out;
	}
	printf("Inode\tPathname\n");
	for (a = 1; a < argc; a++) {
		rd_parse_u64(argv[0], argv[a], "inode",
			     rd_fs()->super->s_inodes_count, &ino);
		if (ino == EXT2_ROOT_INO)
			printf("%llu\t/\n", ino);
		else if (l.paths[ino - 1])
			printf("%llu\t%s\n", ino, l.paths[ino - 1]);
	}
out:
	rd_free_exts(&l);
}

/* The bytes of a file, to out */
static void copy_out(const char *cmd, const char *path, FILE *out)
{
	ext2_file_t f;
	char buf[65536];
	unsigned int got;
	ext2_ino_t ino;
	errcode_t ret;

	ino = rd_lookup(cmd, path);
	if (!ino)
		return;
	ret = ext2fs_file_open(rd_fs(), ino, 0, &f);
	if (ret) {
		rd_com_err(cmd, ret, "%s", path);
		return;
	}
	for (;;) {
		ret = ext2fs_file_read(f, buf, sizeof(buf), &got);
		if (ret || !got)
			break;
		if (fwrite(buf, 1, got, out) != got) {
			rd_err(cmd, "writing %s: %s", path, strerror(errno));
			break;
		}
	}
	if (ret)
		rd_com_err(cmd, ret, "reading %s", path);
	ext2fs_file_close(f);
}

/* cat FILE: the file's bytes on standard output */
void do_cat(RD_ARGS)
{
	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 1, 1, "FILE") ||
	    !rd_need_open(argv[0]))
		return;
	copy_out(argv[0], argv[1], stdout);
	fflush(stdout);
}

/* dump FILE HOSTFILE: the file's bytes into a host file, as debugfs */
void do_dump_file(RD_ARGS)
{
	FILE *out;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 2, 2, "FILE HOSTFILE") ||
	    !rd_need_open(argv[0]))
		return;
	out = fopen(argv[2], "w");
	if (!out) {
		rd_err(argv[0], "%s: %s", argv[2], strerror(errno));
		return;
	}
	copy_out(argv[0], argv[1], out);
	if (fclose(out))
		rd_err(argv[0], "%s: %s", argv[2], strerror(errno));
}

/*
 * dump: debugfs's with two arguments (FILE HOSTFILE); with one, the
 * refcount metadata as text (dump_refcounts, its name before).
 */
void do_dump(RD_ARGS)
{
	if (argc == 3)
		do_dump_file(argc, argv, sci_idx, infop);
	else
		do_dump_refcounts(argc, argv, sci_idx, infop);
}

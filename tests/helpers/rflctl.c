// SPDX-License-Identifier: GPL-2.0
/*
 * rflctl - drive the reflink library's file-sharing primitives on an
 * image, one command per run, for the tests.
 *
 *	rflctl [-w] IMAGE CMD ARGS
 *
 * Commands that change the image need -w.  Paths are absolute paths
 * inside the image; block numbers are in filesystem blocks; END of punch
 * is inclusive.  Errors print one line "rflctl: IMAGE: message" and exit
 * 1 (2 for usage); a refused command leaves the image as it was.
 *
 * With RFLCTL_CRASH_AFTER=N in the environment every block write after
 * the first N is dropped (yet reported done), as if the power failed
 * there; RFLCTL_CRASH_COUNT=1 prints "writes: N" on stderr at the end.
 * tests/bats/crash.bats makes every crash point of a command this way.
 *
 * With RFLCTL_LOG=FILE every write that can reach the disk and every
 * flush is appended to FILE, in the order libext2fs issues them (the
 * format is in tests/helpers/rfl_log.h); tests/helpers/rfl_replay
 * rebuilds the image after any prefix of the writes, or any subset of
 * the writes between two flushes (tests/bats/crash_reorder.bats).
 *
 * adjust, flags, setb, bg_free and bg_reserved damage an image on
 * purpose, for the tests of rfl_recount and reflinkck (descriptor
 * checksums are kept valid).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rfl_log.h"
#include "rfl_number.h"
#include "reflink/rfl_share.h"
#include "dedup/rfl_dedup.h"
#include "dedup/rfl_snapshot.h"

#define PROG		"rflctl"
#define EXIT_ERR	1
#define EXIT_USAGE	2

typedef unsigned long long ull;

static const char *image;
static struct rfl_fs *rfs;

/* The crash io manager: unix_io_manager that stops writing after N */
static struct struct_io_manager crash_io;
static unsigned long long crash_after = ~0ULL, crash_writes;

static bool crash_trace;

static bool crash_drop(unsigned long long blk, int count)
{
	if (crash_trace)
		fprintf(stderr, "write %llu: block %llu count %d%s\n",
			crash_writes, blk, count,
			crash_writes >= crash_after ? " (dropped)" : "");
	return crash_writes++ >= crash_after;
}

static errcode_t crash_write_blk(io_channel ch, unsigned long blk, int count,
				 const void *data)
{
	return crash_drop(blk, count) ? 0 :
	       unix_io_manager->write_blk(ch, blk, count,
							      data);
}

static errcode_t crash_write_blk64(io_channel ch, unsigned long long blk,
				   int count, const void *data)
{
	return crash_drop(blk, count) ? 0 :
	       unix_io_manager->write_blk64(ch, blk, count,
								data);
}

static io_manager crash_io_manager(void)
{
	const char *n = getenv("RFLCTL_CRASH_AFTER");

	if (!n && !getenv("RFLCTL_CRASH_COUNT"))
		return NULL;
	if (n)
		crash_after = strtoull(n, NULL, 0);
	crash_trace = getenv("RFLCTL_CRASH_TRACE");
	crash_io = *unix_io_manager;
	crash_io.name = "crash I/O manager";
	crash_io.write_blk = crash_write_blk;
	crash_io.write_blk64 = crash_write_blk64;
	/* no write_byte: libext2fs then writes whole superblocks */
	crash_io.write_byte = NULL;
	return &crash_io;
}

/*
 * The logging io manager: unix_io_manager, every write and flush also
 * appended to the log.  A write of COUNT blocks is logged as COUNT
 * entries of one block each, so a replay can tear it between blocks;
 * zeroout and discard are logged as what
 * they leave on the disk (discard of a file punches a hole: zeroes).
 * write_byte is left out, so libext2fs writes the superblock whole
 * rather than the bytes that changed: every entry is then a whole block
 * or the whole superblock, and no two overlap in part.
 * Only a flush (fsync) orders writes: unix_io's cache, set_blksize and
 * close write without one, so the log gives them no barrier.
 */
static struct struct_io_manager log_io;
static FILE *log_file;
static const char *log_name;

static void log_fail(void)
{
	fprintf(stderr, "%s: %s: %s\n", PROG, log_name, strerror(errno));
	exit(EXIT_ERR);
}

static void log_entry(__u32 type, __u64 offset, __u32 len, const void *data)
{
	struct rfl_log_entry e = {
		.le_type = type,
		.le_len = len,
		.le_offset = offset,
	};

	if (fwrite(&e, sizeof(e), 1, log_file) != 1 ||
	    (data && len && fwrite(data, len, 1, log_file) != 1))
		log_fail();
}

/* COUNT blocks of the channel's size at BLK, or -COUNT bytes */
static void log_blocks(io_channel ch, unsigned long long blk, int count,
		       const void *data, __u32 type)
{
	__u64 off = blk * (__u64)ch->block_size;
	int i;

	if (count < 0) {
		log_entry(type, off, (__u32)-count, data);
		return;
	}
	for (i = 0; i < count; i++)
		log_entry(type, off + (__u64)i * ch->block_size,
			  ch->block_size,
			  data ? (const char *)data +
				 (size_t)i * ch->block_size : NULL);
}

static errcode_t log_write_blk(io_channel ch, unsigned long blk, int count,
			       const void *data)
{
	errcode_t ret = unix_io_manager->write_blk(ch, blk, count, data);

	if (!ret)
		log_blocks(ch, blk, count, data, RFL_LOG_WRITE);
	return ret;
}

static errcode_t log_write_blk64(io_channel ch, unsigned long long blk,
				 int count, const void *data)
{
	errcode_t ret = unix_io_manager->write_blk64(ch, blk, count, data);

	if (!ret)
		log_blocks(ch, blk, count, data, RFL_LOG_WRITE);
	return ret;
}

/* zeroout and discard: the log replays both as zeros */
static errcode_t log_zeros(errcode_t (*op)(io_channel, unsigned long long,
					   unsigned long long),
			   io_channel ch, unsigned long long blk,
			   unsigned long long count)
{
	errcode_t ret = op(ch, blk, count);

	if (!ret)
		log_blocks(ch, blk, (int)count, NULL, RFL_LOG_ZERO);
	return ret;
}

static errcode_t log_zeroout(io_channel ch, unsigned long long blk,
			     unsigned long long count)
{
	return log_zeros(unix_io_manager->zeroout, ch, blk, count);
}

static errcode_t log_discard(io_channel ch, unsigned long long blk,
			     unsigned long long count)
{
	return log_zeros(unix_io_manager->discard, ch, blk, count);
}

static errcode_t log_flush(io_channel ch)
{
	errcode_t ret = unix_io_manager->flush(ch);

	/* a failed fsync orders nothing */
	if (!ret)
		log_entry(RFL_LOG_FLUSH, 0, 0, NULL);
	if (fflush(log_file))
		log_fail();
	return ret;
}

static errcode_t log_close(io_channel ch)
{
	errcode_t ret = unix_io_manager->close(ch);

	if (fclose(log_file))
		log_fail();
	log_file = NULL;
	return ret;
}

static io_manager log_io_manager(void)
{
	static const char magic[RFL_LOG_MAGIC_LEN] = RFL_LOG_MAGIC;

	log_name = getenv("RFLCTL_LOG");
	if (!log_name)
		return NULL;
	log_file = fopen(log_name, "wb");
	if (!log_file || fwrite(magic, sizeof(magic), 1, log_file) != 1)
		log_fail();
	log_io = *unix_io_manager;
	log_io.name = "logging I/O manager";
	log_io.write_blk = log_write_blk;
	log_io.write_blk64 = log_write_blk64;
	/* no write_byte: libext2fs then writes the superblock whole */
	log_io.write_byte = NULL;
	log_io.zeroout = unix_io_manager->zeroout ? log_zeroout : NULL;
	log_io.discard = unix_io_manager->discard ? log_discard : NULL;
	log_io.flush = log_flush;
	log_io.close = log_close;
	return &log_io;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: " PROG " [-w] IMAGE CMD ARGS   (-w: open read-write)\n"
		"  enable | disable [--unshare]\n"
		"  clone SRC DST\n"
		"  dedup [MIN_RUN]             share identical blocks\n"
		"  snapshot SRCDIR DSTDIR      copy a tree, files cloned\n"
		"  share SRC SRC_BLK DST DST_BLK NR\n"
		"  punch PATH START END        (END inclusive)\n"
		"  truncate PATH SIZE\n"
		"  rm PATH\n"
		"  cow PATH START NR\n"
		"  write PATH OFFSET HOSTFILE\n"
		"  touch PATH\n"
		"  count BLOCK | records\n"
		"  nodes                       \"FG BLOCK LEVEL\" of every "
		"metadata\n"
		"                              block (level -1) and tree node\n"
		"  adjust BLOCK LEN +1|-1      raw refcount change (tests)\n"
		"  flags PATH [VALUE]          print or set i_flags (tests)\n"
		"  setb BLOCK | clrb BLOCK     mark in use or free, counts "
		"untouched\n"
		"  sb_free N                   set the superblock's free count\n"
		"  links PATH N                set i_links_count\n"
		"  map PATH LBLK PBLK          point a logical block at any "
		"block\n"
		"  reseal BLOCK                recompute the checksum of a "
		"metadata\n"
		"                              block or tree node edited raw\n"
		"  bg_free GROUP N             set bg_free_blocks_count\n"
		"  bg_reserved GROUP VALUE     set bg_reserved\n"
		"  bg_bitmap GROUP BLOCK       set bg_block_bitmap (checksum "
		"made valid)\n"
		"  bg_csum GROUP VALUE         set bg_checksum raw\n"
		"  ro_compat VALUE             set s_feature_ro_compat raw\n");
	exit(EXIT_USAGE);
}

static void die(const char *what, errcode_t ret)
{
	if (what)
		fprintf(stderr, "%s: %s: %s: %s\n", PROG, image, what,
			error_message(ret));
	else
		fprintf(stderr, "%s: %s: %s\n", PROG, image,
			error_message(ret));
	/* out of space for data: nothing was changed, so write nothing */
	if (rfs && ret == RFL_ET_NO_DATA_SPACE)
		rfl_abandon(rfs);
	else if (rfs)
		rfl_close(rfs);
	exit(EXIT_ERR);
}

static void fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: %s: ", PROG, image);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	if (rfs)
		rfl_abandon(rfs);
	exit(EXIT_ERR);
}

static ull number(const char *s, const char *what)
{
	ull v;

	if (!rfl_number(s, &v))
		fail("bad %s", what);
	return v;
}

static ext2_ino_t lookup(const char *path)
{
	ext2_ino_t ino;
	errcode_t ret;

	ret = ext2fs_namei(rfs->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino);
	if (ret)
		die(path, ret);
	return ino;
}

/* Split path into its directory's inode and its last component */
static ext2_ino_t parent_of(char *path, const char **name)
{
	char *slash = strrchr(path, '/');
	ext2_ino_t dir;

	if (!slash) {
		*name = path;
		return EXT2_ROOT_INO;
	}
	*name = slash + 1;
	if (slash == path)
		return EXT2_ROOT_INO;
	*slash = '\0';
	dir = lookup(path);
	*slash = '/';
	return dir;
}

static void cmd_touch(char *path)
{
	ext2_filsys fs = rfs->fs;
	const char *name;
	ext2_ino_t dir, ino;
	errcode_t ret;

	dir = parent_of(path, &name);
	if (!*name)
		fail("%s: no file name", path);
	ret = ext2fs_read_bitmaps(fs);
	if (!ret)
		ret = ext2fs_lookup(fs, dir, name, strlen(name), NULL, &ino);
	if (!ret)
		die(path, EXT2_ET_FILE_EXISTS);
	if (ret != EXT2_ET_FILE_NOT_FOUND)
		die(path, ret);
	ret = rfl_create_file(fs, dir, name, &ino);
	if (ret)
		die(path, ret);
}

static void cmd_write(const char *path, ull offset, const char *host)
{
	ext2_ino_t ino = lookup(path);
	struct stat st;
	char *buf;
	FILE *f;
	errcode_t ret;

	f = fopen(host, "rb");
	if (!f || fstat(fileno(f), &st))
		fail("%s: cannot read", host);
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf || fread(buf, 1, st.st_size, f) != (size_t)st.st_size)
		fail("%s: cannot read", host);
	fclose(f);
	ret = rfl_write_range(rfs, ino, offset, buf, st.st_size);
	free(buf);
	if (ret)
		die(path, ret);
}

/* A bare refcount change, so tests can make the trees disagree */
static void cmd_adjust(char **a)
{
	blk64_t blk = number(a[0], "block"), len = number(a[1], "length");
	int delta;
	errcode_t ret;

	if (!strcmp(a[2], "+1"))
		delta = 1;
	else if (!strcmp(a[2], "-1"))
		delta = -1;
	else
		fail("bad delta %s: +1 or -1", a[2]);
	ret = rfl_begin(rfs);
	if (!ret)
		ret = rfl_adjust(rfs, blk, len, delta);
	if (!ret)
		ret = rfl_commit(rfs);
	if (ret) {
		rfl_abort(rfs);
		die("adjust", ret);
	}
}

/* A wrong link count, for the checker's tests */
static errcode_t cmd_links(char **a)
{
	ext2_ino_t ino = lookup(a[0]);
	struct ext2_inode inode;
	errcode_t ret;

	ret = ext2fs_read_inode(rfs->fs, ino, &inode);
	if (ret)
		return ret;
	inode.i_links_count = (__u16)number(a[1], "count");
	return ext2fs_write_inode(rfs->fs, ino, &inode);
}

/* Print i_flags, or set them (tests clear EXT4_REFLINK_FL with it) */
static void cmd_flags(char **a, int nargs)
{
	ext2_ino_t ino = lookup(a[0]);
	struct ext2_inode inode;
	errcode_t ret;

	ret = ext2fs_read_inode(rfs->fs, ino, &inode);
	if (ret)
		die(a[0], ret);
	if (nargs == 1) {
		printf("0x%x\n", inode.i_flags);
		return;
	}
	inode.i_flags = (__u32)number(a[1], "flags");
	ret = ext2fs_write_inode(rfs->fs, ino, &inode);
	if (ret)
		die(a[0], ret);
}

struct node_ctx {
	dgrp_t fg;
};

static int node_report(void *priv, const struct ext4_btree_problem *p)
{
	(void)priv;
	(void)p;
	return 0;
}

static int node_print(void *priv, u64 blk, int level)
{
	struct node_ctx *nc = priv;

	printf("%u %llu %d\n", nc->fg, (ull)blk, level);
	return 0;
}

/* Where the refcount metadata lives, for tests that damage it */
static errcode_t cmd_nodes(void)
{
	static const struct ext4_btree_verify_ops ops = {
		.report = node_report,
		.node = node_print,
	};
	struct rfl_group *grp;
	struct node_ctx nc;
	errcode_t ret;

	for (nc.fg = 0; nc.fg < rfs->nr_flex; nc.fg++) {
		ret = rfl_group_load(rfs, nc.fg, &grp);
		if (ret)
			return ret;
		if (!grp->meta_blk)
			continue;
		printf("%u %llu -1\n", nc.fg, (ull)grp->meta_blk);
		if (ext4_btree_verify(&grp->tree, &ops, &nc) < 0)
			return EXT2_ET_NO_MEMORY;
	}
	return 0;
}

/*
 * After a raw edit of a field: a fresh checksum, so that the checker
 * meets the field's own problem rather than a bad checksum
 */
static errcode_t cmd_reseal(char **a)
{
	ext2_filsys fs = rfs->fs;
	blk64_t blk = number(a[0], "block");
	struct ext4_btree_node_head *nh;
	struct rfl_group *grp;
	errcode_t ret;
	char *buf;
	u32 csum;

	if (blk >= ext2fs_blocks_count(fs->super))
		fail("block %s out of range", a[0]);
	ret = ext2fs_get_mem(fs->blocksize, &buf);
	if (ret)
		return ret;
	ret = io_channel_read_blk64(fs->io, blk, 1, buf);
	if (ret)
		goto out;
	nh = (struct ext4_btree_node_head *)buf;
	if (le32_to_cpu(nh->bn_magic) == EXT4_BTREE_MAGIC) {
		ret = rfl_group_load(rfs, rfl_block_flex_group(rfs, blk),
				     &grp);
		if (ret)
			goto out;
		csum = ext4_btree_node_csum(&grp->tree, buf);
	} else if (le32_to_cpu(nh->bn_magic) == EXT4_RFX_MAGIC) {
		csum = ext4_rfx_csum(buf, fs->blocksize, rfs->csum_seed);
	} else {
		fail("block %s is neither a tree node nor a metadata block",
		     a[0]);
	}
	nh->bn_checksum = cpu_to_le32(csum);
	ret = io_channel_write_blk64(fs->io, blk, 1, buf);
	if (!ret)
		ret = io_channel_flush(fs->io);
out:
	ext2fs_free_mem(&buf);
	return ret;
}

/*
 * Map logical block lblk of PATH to pblk, whoever holds pblk: makes
 * cross-links and files over tree blocks
 */
static errcode_t cmd_map(char **a)
{
	ext2_filsys fs = rfs->fs;
	ext2_ino_t ino = lookup(a[0]);
	blk64_t lblk = number(a[1], "block"), pblk = number(a[2], "block");
	struct ext2_inode inode;
	errcode_t ret;

	if (pblk >= ext2fs_blocks_count(fs->super) || lblk >= RFL_LBLK_END)
		fail("block out of range: %s", a[2]);
	ret = ext2fs_read_bitmaps(fs);
	if (!ret)
		ret = ext2fs_read_inode(fs, ino, &inode);
	if (!ret)
		ret = ext2fs_bmap2(fs, ino, &inode, NULL, BMAP_SET, lblk, NULL,
				   &pblk);
	if (!ret)
		ret = ext2fs_read_inode(fs, ino, &inode);
	if (ret)
		return ret;
	ext2fs_iblk_add_blocks(fs, &inode, 1);
	if (EXT2_I_SIZE(&inode) < (lblk + 1) * fs->blocksize)
		ext2fs_inode_size_set(fs, &inode, (lblk + 1) * fs->blocksize);
	return ext2fs_write_inode(fs, ino, &inode);
}

/* Raw damage to the bitmap and the group descriptors */
static void cmd_raw(const char *name, char **a)
{
	ext2_filsys fs = rfs->fs;
	blk64_t v = number(a[0], "number");
	errcode_t ret;

	if (!strcmp(name, "setb") || !strcmp(name, "clrb")) {
		if (v < fs->super->s_first_data_block ||
		    v >= ext2fs_blocks_count(fs->super))
			fail("block %s out of range", a[0]);
		ret = ext2fs_read_block_bitmap(fs);
		if (ret)
			die(name, ret);
		if (name[0] == 's')
			ext2fs_mark_block_bitmap2(fs->block_map, v);
		else
			ext2fs_unmark_block_bitmap2(fs->block_map, v);
		ext2fs_mark_bb_dirty(fs);
		return;
	}
	if (!strcmp(name, "ro_compat")) {
		fs->super->s_feature_ro_compat = (__u32)v;
		ext2fs_mark_super_dirty(fs);
		return;
	}
	if (!strcmp(name, "sb_free")) {
		ext2fs_free_blocks_count_set(fs->super, v);
		ext2fs_mark_super_dirty(fs);
		return;
	}
	if (v >= fs->group_desc_count)
		fail("group %s out of range", a[0]);
	if (!strcmp(name, "bg_free")) {
		ext2fs_bg_free_blocks_count_set(fs, v, number(a[1], "count"));
		ext2fs_group_desc_csum_set(fs, v);
		ext2fs_mark_super_dirty(fs);
	} else if (!strcmp(name, "bg_bitmap")) {
		ext2fs_block_bitmap_loc_set(fs, v, number(a[1], "block"));
		ext2fs_group_desc_csum_set(fs, v);
		ext2fs_mark_super_dirty(fs);
	} else if (!strcmp(name, "bg_csum")) {
		ext2fs_bg_checksum_set(fs, v, (__u16)number(a[1], "value"));
		ext2fs_mark_super_dirty(fs);
	} else {
		rfl_set_bg_reserved(fs, v, (__u32)number(a[1], "value"));
	}
}

static int print_record(void *priv, dgrp_t fg, blk64_t start, blk64_t len,
			__u32 count)
{
	(void)priv;
	printf("%u %llu %llu %u\n", fg, (ull)start, (ull)len, count);
	return 0;
}

struct command {
	const char *name;
	int nargs;		/* -1: 0 or 1, -2: 1 or 2 */
	bool writes;
	bool no_feature;	/* may run on an image without the bit */
};

static const struct command commands[] = {
	{ "enable",	0, true,  true  },
	{ "disable",	-1, true, false },
	{ "clone",	2, true,  false },
	{ "dedup",	-1, true, false },
	{ "snapshot",	2, true,  false },
	{ "share",	5, true,  false },
	{ "punch",	3, true,  false },
	{ "truncate",	2, true,  false },
	{ "rm",		1, true,  false },
	{ "cow",	3, true,  false },
	{ "write",	3, true,  false },
	{ "touch",	1, true,  false },
	{ "count",	1, false, false },
	{ "records",	0, false, false },
	{ "nodes",	0, false, false },
	{ "reseal",	1, true,  false },
	{ "map",	3, true,  false },
	{ "links",	2, true,  false },
	{ "adjust",	3, true,  false },
	{ "flags",	-2, false, false },
	{ "setb",	1, true,  false },
	{ "clrb",	1, true,  false },
	{ "sb_free",	1, true,  false },
	{ "bg_free",	2, true,  false },
	{ "bg_reserved", 2, true, false },
	{ "bg_bitmap",	2, true,  false },
	{ "bg_csum",	2, true,  false },
	{ "ro_compat",	1, true,  true  },
};

int main(int argc, char **argv)
{
	const struct command *c = NULL;
	bool rw = false;
	char **a;
	const char *name;
	ext2_ino_t ino, dir;
	errcode_t ret = 0;
	size_t i;
	int nargs;

	initialize_rfl_error_table();
	initialize_ext2_error_table();
	if (argc > 1 && !strcmp(argv[1], "-w")) {
		rw = true;
		argv++;
		argc--;
	}
	if (argc < 3)
		usage();
	image = argv[1];
	a = argv + 3;
	nargs = argc - 3;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[2], commands[i].name))
			c = &commands[i];
	if (!c)
		usage();
	if (c->nargs == -1 ? nargs > 1 : c->nargs == -2 ?
	    nargs < 1 || nargs > 2 : nargs != c->nargs)
		usage();
	if (!strcmp(c->name, "flags") && nargs == 2 && !rw)
		fail("%s changes the image: give -w", c->name);
	if (c->writes && !rw)
		fail("%s changes the image: give -w", c->name);

	ret = rfl_open(image, (rw ? RFL_OPEN_RW : 0) |
		       (c->no_feature ? RFL_OPEN_NO_FEATURE : 0), NULL, &rfs);
	if (ret)
		die(NULL, ret);
	/* unix_open sets the channel's manager: replace it afterwards */
	if (crash_io_manager())
		rfs->fs->io->manager = &crash_io;
	else if (rw && log_io_manager())
		rfs->fs->io->manager = &log_io;

	if (!strcmp(c->name, "enable")) {
		ret = rfl_enable(rfs);
	} else if (!strcmp(c->name, "disable")) {
		bool unshare = false, shared = false;

		if (nargs && strcmp(a[0], "--unshare"))
			usage();
		unshare = nargs;
		if (unshare) {
			ret = rfl_unshare_all(rfs);
			if (ret == RFL_ET_NO_DATA_SPACE)
				fail("%s: not enough free space to copy the "
				     "shared blocks", "disable --unshare");
		}
		if (!ret)
			ret = rfl_disable(rfs, &shared);
		if (!ret && shared)
			printf("shared blocks kept: shared_blocks set\n");
	} else if (!strcmp(c->name, "clone")) {
		ino = lookup(a[0]);
		dir = parent_of(a[1], &name);
		ret = rfl_clone_inode(rfs, ino, dir, name, NULL);
		/* most refusals are about the source */
		if (ret == EXT2_ET_FILE_EXISTS || ret == RFL_ET_BAD_ARG ||
		    ret == EXT2_ET_NO_DIRECTORY)
			die(a[1], ret);
		if (ret)
			die(a[0], ret);
	} else if (!strcmp(c->name, "dedup")) {
		struct rfl_dedup d = { 0 };

		if (nargs)
			d.min_run = (unsigned int)number(a[0], "count");
		ret = rfl_dedup(rfs, &d);
		if (!ret)
			printf("freed %llu\n", (ull)d.freed);
	} else if (!strcmp(c->name, "snapshot")) {
		struct rfl_snapshot s;

		ino = lookup(a[0]);
		dir = parent_of(a[1], &name);
		ret = rfl_snapshot(rfs, ino, dir, name, &s);
		if (ret)
			die(a[1], ret);
	} else if (!strcmp(c->name, "share")) {
		ext2_ino_t src = lookup(a[0]), dst = lookup(a[2]);

		ret = rfl_share_range(rfs, src, number(a[1], "block"), dst,
				      number(a[3], "block"),
				      number(a[4], "count"));
		if (ret)
			die(a[ret == RFL_ET_BAD_RANGE ? 0 : 2], ret);
	} else if (!strcmp(c->name, "punch")) {
		ino = lookup(a[0]);
		ret = rfl_punch(rfs, ino, number(a[1], "block"),
				number(a[2], "block"));
		if (ret)
			die(a[0], ret);
	} else if (!strcmp(c->name, "truncate")) {
		ino = lookup(a[0]);
		ret = rfl_truncate(rfs, ino, number(a[1], "size"));
		if (ret)
			die(a[0], ret);
	} else if (!strcmp(c->name, "rm")) {
		dir = parent_of(a[0], &name);
		ret = rfl_unlink(rfs, dir, name);
		if (ret)
			die(a[0], ret);
	} else if (!strcmp(c->name, "cow")) {
		ino = lookup(a[0]);
		ret = rfl_cow_range(rfs, ino, number(a[1], "block"),
				    number(a[2], "count"));
		if (ret)
			die(a[0], ret);
	} else if (!strcmp(c->name, "write")) {
		cmd_write(a[0], number(a[1], "offset"), a[2]);
	} else if (!strcmp(c->name, "touch")) {
		cmd_touch(a[0]);
	} else if (!strcmp(c->name, "count")) {
		__u32 count;

		ret = rfl_refcount(rfs, number(a[0], "block"), &count);
		if (!ret)
			printf("%u\n", count);
	} else if (!strcmp(c->name, "nodes")) {
		ret = cmd_nodes();
	} else if (!strcmp(c->name, "links")) {
		ret = cmd_links(a);
	} else if (!strcmp(c->name, "map")) {
		ret = cmd_map(a);
	} else if (!strcmp(c->name, "reseal")) {
		ret = cmd_reseal(a);
		if (ret)
			die(c->name, ret);
		/* written behind the library's back: close without writing */
		rfl_abandon(rfs);
		return 0;
	} else if (!strcmp(c->name, "records")) {
		ret = rfl_for_each_record(rfs, print_record, NULL);
	} else if (!strcmp(c->name, "adjust")) {
		cmd_adjust(a);
	} else if (!strcmp(c->name, "flags")) {
		cmd_flags(a, nargs);
	} else {
		cmd_raw(c->name, a);
	}
	if (ret)
		die(c->name, ret);
	ret = rfl_close(rfs);
	rfs = NULL;
	if (getenv("RFLCTL_CRASH_COUNT"))
		fprintf(stderr, "writes: %llu\n", crash_writes);
	if (ret)
		die(NULL, ret);
	return 0;
}

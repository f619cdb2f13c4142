// SPDX-License-Identifier: GPL-2.0
/*
 * mkreflink_format.c - mkreflink DEVICE [FS-SIZE]: check the device, make
 * the filesystem (lib/mkfs does the work) and, with -d, copy a tree into
 * it (lib/populate).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <e2p/e2p.h>
#include <uuid/uuid.h>

#include "reflink/rfl_space.h"
#include "mkreflink.h"

/* ---------------------------------------------------------------- */
/* Format                                                            */
/* ---------------------------------------------------------------- */

/* mke2fs' "created on ..." line for an ext2/3/4 filesystem */
static void print_ext_info(const char *dev)
{
	ext2_filsys fs;
	time_t t;

	if (ext2fs_open2(dev, NULL, EXT2_FLAG_64BITS, 0, 0, unix_io_manager,
			 &fs))
		return;
	if (fs->super->s_mtime) {
		t = fs->super->s_mtime;
		printf("\tlast mounted on %s", ctime(&t));
	} else if (fs->super->s_mkfs_time) {
		t = fs->super->s_mkfs_time;
		printf("\tcreated on %s", ctime(&t));
	}
	ext2fs_free(fs);
}

/* The question mke2fs asks; anything but y/Y is no */
static bool proceed_question(void)
{
	char buf[256];

	fflush(stdout);
	fflush(stderr);
	fputs("Proceed anyway? (y,N) ", stdout);
	fflush(stdout);
	if (!fgets(buf, sizeof(buf), stdin) || !buf[0] ||
	    !strchr("yY", buf[0])) {
		putchar('\n');
		return false;
	}
	return true;
}

/* Refuse a mounted or busy device; true if we may go on */
static bool check_mount(const char *dev)
{
	int mf = 0;
	errcode_t ret;

	ret = ext2fs_check_if_mounted(dev, &mf);
	if (ret) {
		com_err(prog, ret, "while determining whether %s is mounted",
			dev);
		return false;
	}
	if (mf & EXT2_MF_MOUNTED) {
		fail("%s is mounted; will not make a filesystem here!", dev);
		return false;
	}
	if (mf & EXT2_MF_BUSY) {
		fail("%s is apparently in use by the system; will not make a "
		     "filesystem here!", dev);
		return false;
	}
	return true;
}

static int int_log10(unsigned long long v)
{
	int l = 0;

	for (; v >= 10; v /= 10)
		l++;
	return l;
}

static void show_summary(const struct opts *o, ext2_filsys fs)
{
	struct ext2_super_block *s = fs->super;
	int need, col_left = 0;
	blk64_t blk;
	char buf[40];
	dgrp_t g;

	printf("Creating filesystem with %llu %uk blocks and %u inodes\n",
	       (unsigned long long)ext2fs_blocks_count(s), fs->blocksize >> 10,
	       s->s_inodes_count);
	if (!uuid_is_null(s->s_uuid)) {
		uuid_unparse(s->s_uuid, buf);
		printf("Filesystem UUID: %s\n", buf);
	}
	if (o->m.nr_flex == 1)
		printf("Flex groups: 1 (all %u block group%s), one reflink "
		       "metadata block\n", fs->group_desc_count,
		       fs->group_desc_count == 1 ? "" : "s");
	else
		printf("Flex groups: %u of up to %u block groups, one reflink "
		       "metadata block each\n", o->m.nr_flex,
		       e2fs_flex_group_size(fs));
	if (fs->group_desc_count > 1) {
		fputs("Superblock backups stored on blocks: ", stdout);
		blk = s->s_first_data_block;
		for (g = 1; g < fs->group_desc_count; g++) {
			blk += s->s_blocks_per_group;
			if (!ext2fs_bg_has_super(fs, g))
				continue;
			if (g != 1)
				fputs(", ", stdout);
			need = int_log10(blk) + 3;
			if (need > col_left) {
				fputs("\n\t", stdout);
				col_left = 72;
			}
			col_left -= need;
			printf("%llu", (unsigned long long)blk);
		}
		putchar('\n');
	}
	putchar('\n');
}

/* Refuse to overwrite what libblkid recognises, unless -F or a yes */
static bool check_contents(const struct opts *o)
{
	char *what, *type;
	bool ok = true;

	/* told to overwrite: spare the probe, as mke2fs -F does */
	if (o->force)
		return true;
	what = probe_contents(o->dev, &type);
	if (!what)
		return true;
	if (o->dry_run) {
		say(o, "%s %s (a real run needs -F)\n", o->dev, what);
	} else if (isatty(0) && isatty(1)) {
		printf("%s %s\n", o->dev, what);
		if (type && !strncmp(type, "ext", 3))
			print_ext_info(o->dev);
		ok = proceed_question();
	} else {
		fail("%s %s; will not overwrite it without -F", o->dev, what);
		ok = false;
	}
	free(what);
	free(type);
	return ok;
}

void show_progress(struct rfl_populate *p, __u64 done, __u64 total)
{
	struct meter *m = p->progress_priv;
	unsigned long long cur = done >> 10, max = total >> 10;
	unsigned int pm;

	if (done > total)
		done = total;
	pm = total ? (unsigned int)(done * 1000 / total) : 1000;
	/* at most a thousand updates, however many files */
	if (pm + 1 == m->shown)
		return;
	m->shown = pm + 1;
	if (m->fd > 0) {
		if (cur > max)
			cur = max;
		dprintf(m->fd, "1 %llu %llu %s\n", cur, max, m->o->dev);
	} else {
		printf("%3u.%u%%\b\b\b\b\b\b", pm / 10, pm % 10);
		fflush(stdout);
	}
}

/* A meter: on -C's fd, or (-C 0, or a terminal) on stdout unless -q */
bool want_meter(const struct opts *o)
{
	return o->progress_fd > 0 ||
	       (o->progress_fd < 0 && !o->quiet && isatty(1)) ||
	       (o->progress_fd == 0 && !o->quiet);
}

/* The inode of -E root=, a directory that must exist; 0 and a message if not */
ext2_ino_t find_target(const struct opts *o, ext2_filsys fs)
{
	ext2_ino_t ino = 0;
	errcode_t ret;

	ret = ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, o->target, &ino);
	ret = ret ?: ext2fs_check_directory(fs, ino);
	if (!ret)
		return ino;
	fail("%s: no directory %s in it (-E root= must name one that "
	     "exists)", o->dev, o->target);
	return 0;
}

/*
 * -d: copy the tree into rfs, a filesystem with reflink, and close it.
 * On failure nothing of the copy reaches the superblock, the bitmaps or
 * a directory that was there before (rfl_populate): the image is left
 * as it was when rfs was opened.
 */
int populate_close(struct opts *o, struct rfl_fs *rfs)
{
	struct rfl_populate p = {
		.src = o->root_dir,
		.no_dedup = o->no_dedup,
		.keep_zero = o->keep_zero,
		/* an existing filesystem's directories keep their own */
		.keep_meta = o->mode == MODE_ENABLE,
		/* set only by SOURCE_DATE_EPOCH */
		.build_time = o->m.now,
	};
	struct meter meter = { .o = o, .fd = o->progress_fd };
	errcode_t ret, space_ret = 1;
	struct rfl_space space;

	if (want_meter(o)) {
		p.progress = show_progress;
		p.progress_priv = &meter;
	}
	if (o->target) {
		p.root = find_target(o, rfs->fs);
		if (!p.root) {
			rfl_abandon(rfs);
			if (o->mode == MODE_ENABLE)
				undo_enable(o);
			return EXIT_FAIL;
		}
	}
	say(o, "Copying files into the device: ");
	fflush(stdout);
	ret = rfl_populate(rfs, &p);
	if (ret) {
		if (!o->quiet)
			putchar('\n');
		rfl_abandon(rfs);
		if (ret == RFL_ET_NO_SPACE && p.more_blocks)
			fail("%s does not fit in %s: it needs %llu more blocks "
			     "of data (and room for their metadata)",
			     o->root_dir, o->dev,
			     (unsigned long long)p.more_blocks);
		else if (ret == RFL_ET_NO_SPACE)
			fail("%s does not fit in %s: no room left for the "
			     "refcount trees", o->root_dir, o->dev);
		else if (p.why_full)
			fail("%s", p.why);
		else if (p.why[0])
			com_err(prog, ret, "while copying %s", p.why);
		else
			com_err(prog, ret, "while copying %s into %s",
				o->root_dir, o->dev);
		if (o->mode == MODE_ENABLE)
			undo_enable(o);
		return EXIT_FAIL;
	}
	/* the space words of refdebug du and stats (rfl_space.h) */
	if (!o->quiet)
		space_ret = rfl_space_fs(rfs, &space);
	if (close_rw(o, rfs))
		return EXIT_FAIL;
	/* the meter's last line ends where "done" starts */
	if (p.progress && meter.fd <= 0)
		fputs("      \b\b\b\b\b\b", stdout);
	say(o, "done\n");
	say(o, "%llu files, %llu directories, %llu symlinks, %llu special; "
	    "%llu data blocks stored as %llu (%llu mapped onto an earlier "
	    "one, %llu zero blocks left as holes)\n",
	    (unsigned long long)p.files, (unsigned long long)p.dirs,
	    (unsigned long long)p.symlinks, (unsigned long long)p.specials,
	    (unsigned long long)p.data_blocks, (unsigned long long)p.written,
	    (unsigned long long)p.deduped, (unsigned long long)p.zero_blocks);
	if (!space_ret)
		say(o, "space: total %llu exclusive %llu shared %llu saved "
		    "%llu bytes\n", (unsigned long long)space.total,
		    (unsigned long long)space.exclusive,
		    (unsigned long long)space.shared,
		    (unsigned long long)space.saved);
	return EXIT_OK;
}

/* -d after a format: copy the tree into the image just made */
static int do_populate(struct opts *o)
{
	const char *undo = o->undo_file;
	struct rfl_fs *rfs;

	/* the format's undo file already covers the whole device */
	o->undo_file = NULL;
	if (open_rw(o, "copying files into", &rfs)) {
		o->undo_file = undo;
		return EXIT_FAIL;
	}
	o->undo_file = undo;
	return populate_close(o, rfs);
}

static int int_log2(unsigned long long v)
{
	int l = 0;

	while (v >>= 1)
		l++;
	return l;
}

/*
 * mke2fs.conf (or $MKE2FS_CONFIG): the geometry the options left open
 * and the features, then -O over them.
 */
static bool read_profile(struct opts *o)
{
	const char *path = getenv("MKE2FS_CONFIG");
	struct rfl_mkfs *m = &o->m;
	__u32 features[3];
	errcode_t ret;

	if (!path || !*path)
		path = "/etc/mke2fs.conf";
	ret = rfl_mkfs_profile(m, path, "ext4", o->usage_types,
			       m->size ? m->size : m->dev_size,
			       o->quiet ? NULL : stderr,
			       o->verbose ? stdout : NULL, features);
	if (ret) {
		if (m->why[0])
			fail("%s", m->why);
		else
			com_err(prog, ret, "while reading %s", path);
		return false;
	}
	return apply_features(o, features);
}

/*
 * The size and contents of an existing device or file (m->dev_size,
 * m->sector_size), refusing what mke2fs refuses; *exists says whether
 * there is one.
 */
static int probe_device(struct opts *o, bool *exists)
{
	struct rfl_mkfs *m = &o->m;
	unsigned long long dev_bytes = 0;
	blk64_t count = 0;
	struct stat st;
	bool is_dev = false;
	errcode_t ret;
	int sect = 0;

	*exists = !stat(o->dev, &st);
	if (!*exists && errno != ENOENT) {
		com_err(prog, errno, "while trying to open %s", o->dev);
		return EXIT_FAIL;
	}
	if (!*exists && !m->size) {
		fail("The file %s does not exist and no size was specified.",
		     o->dev);
		return EXIT_FAIL;
	}
	if (*exists) {
		is_dev = S_ISBLK(st.st_mode);
		ret = ext2fs_get_device_size2(o->dev, 1024, &count);
		if (ret && ret != EXT2_ET_UNIMPLEMENTED) {
			com_err(prog, ret, "while trying to determine "
				"filesystem size");
			return EXIT_FAIL;
		}
		dev_bytes = count * 1024;
		if (is_dev && !ext2fs_get_device_sectsize(o->dev, &sect) &&
		    sect > 0)
			m->sector_size = (unsigned int)sect;
		if (!m->size && !dev_bytes) {
			fail("Device size of %s reported to be zero; give a "
			     "size", o->dev);
			return EXIT_FAIL;
		}
		if (is_dev && m->size > dev_bytes && !o->force) {
			fail("Filesystem larger than apparent device size of "
			     "%s; -F to make it anyway", o->dev);
			return EXIT_FAIL;
		}
		if (dev_bytes && !check_contents(o))
			return EXIT_FAIL;
	}
	m->dev_size = dev_bytes;
	return EXIT_OK;
}

/* A regular file for an image that does not exist yet */
static int create_file(struct opts *o)
{
	int fd;

	fd = open(o->dev, O_CREAT | O_WRONLY, 0666);
	if (fd < 0) {
		com_err(prog, errno, "while creating %s", o->dev);
		return EXIT_FAIL;
	}
	/*
	 * At its size at once: the undo io manager reads what each
	 * write replaces, and a short read of an empty file failed
	 * the format with -z
	 */
	if (o->size_arg && ftruncate(fd, (off_t)o->m.size)) {
		com_err(prog, errno, "while creating %s", o->dev);
		close(fd);
		unlink(o->dev);
		return EXIT_FAIL;
	}
	close(fd);
	o->created = true;
	say(o, "Creating regular file %s\n", o->dev);
	return EXIT_OK;
}

int do_format(struct opts *o)
{
	struct rfl_mkfs *m = &o->m;
	unsigned long long unit, blocks;
	ext2_filsys fs = NULL;
	bool exists;
	errcode_t ret;

	free(o->dev);
	o->dev = strdup(o->device);
	m->device = o->dev;
	if (o->size_arg) {
		/* in blocks of -b, else of 1 KiB, as mke2fs (libe2p) */
		unit = m->block_size ? m->block_size : 1024;
		blocks = parse_num_blocks2(o->size_arg,
					   int_log2(unit) - EXT2_MIN_BLOCK_LOG_SIZE);
		if (*o->size_arg == '-' || !blocks || blocks > ~0ULL / unit) {
			fail("invalid blocks '%s' on device '%s'",
			     o->size_arg, o->dev);
			return EXIT_FAIL;
		}
		m->size = blocks * unit;
	}
	if (!check_mount(o->dev))
		return EXIT_FAIL;

	if (probe_device(o, &exists))
		return EXIT_FAIL;

	if (!read_profile(o))
		return EXIT_FAIL;
	ret = rfl_mkfs_plan(m);
	if (ret) {
		if (m->why[0] && ret == EXT2_ET_INVALID_ARGUMENT)
			fail("%s", m->why);
		else
			com_err(prog, ret, "while planning a filesystem on "
				"%s%s%s", o->dev, m->why[0] ? ": " : "",
				m->why);
		return EXIT_FAIL;
	}

	if (o->uuid_arg)
		parse_uuid_arg("UUID", o->uuid_arg, m->uuid);
	else
		uuid_generate(m->uuid);
	if (o->hash_seed_arg)
		parse_uuid_arg("hash seed", o->hash_seed_arg, m->hash_seed);
	else
		uuid_generate(m->hash_seed);

	m->dry_run = o->dry_run;
	if (!exists && !o->dry_run && create_file(o))
		return EXIT_FAIL;
	if (!o->dry_run) {
		m->undo_file = o->undo_file;
		if (!prepare_undo(o))
			return EXIT_FAIL;
	}

	ret = rfl_mkfs_open(m, &fs);
	if (ret) {
		if (ret == EXT2_ET_INVALID_ARGUMENT && m->why[0])
			fail("%s", m->why);
		else
			com_err(prog, ret, "%s on %s", m->why[0] ? m->why :
				"while setting up superblock", o->dev);
		return EXIT_FAIL;
	}
	if (!o->quiet || o->dry_run)
		show_summary(o, fs);
	/* mke2fs goes on without one, and says so */
	if (ext2fs_has_feature_journal(&m->param) && !m->journal_blocks)
		say(o, "Filesystem too small for a journal\n");
	if (o->dry_run) {
		printf("Dry run: %s was not written.\n", o->dev);
		ext2fs_free(fs);
		return EXIT_OK;
	}

	m->out = o->quiet ? NULL : stdout;
	ret = rfl_mkfs_write(m, fs);
	if (ret) {
		if (m->out)
			putchar('\n');
		com_err(prog, ret, "%s on %s", m->why[0] ? m->why :
			"while formatting", o->dev);
		/* the undo file, if any, still covers what was written */
		ext2fs_free(fs);
		return EXIT_FAIL;
	}
	say(o, "Writing superblocks and filesystem accounting information: ");
	fflush(stdout);
	ret = ext2fs_close_free(&fs);
	if (ret) {
		com_err(prog, ret, "while writing out and closing file system");
		return EXIT_FAIL;
	}
	say(o, "done\n\n");
	return o->root_dir ? do_populate(o) : EXIT_OK;
}

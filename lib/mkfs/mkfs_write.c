// SPDX-License-Identifier: GPL-2.0
/*
 * mkfs_write.c - lay a new ext4 filesystem with reflink onto a device:
 * the mke2fs sequence on libext2fs, then a reflink metadata block in
 * every flex group.
 */
#include <string.h>

#include "flexbg/flexbg_e2fs.h"
#include "mkfs/rfl_mkfs.h"
#include "reflink/rfl.h"

/* mke2fs discards in steps of this many MiB */
#define DISCARD_STEP_MB		2048

static void progress(struct rfl_mkfs *m, const char *what)
{
	if (m->out) {
		fputs(what, m->out);
		fflush(m->out);
	}
}

static void progress_done(struct rfl_mkfs *m)
{
	if (m->out)
		fputs("done\n", m->out);
}

static void set_why(struct rfl_mkfs *m, const char *what)
{
	snprintf(m->why, sizeof(m->why), "%s", what);
}

errcode_t rfl_mkfs_open(struct rfl_mkfs *m, ext2_filsys *fsp)
{
	struct ext2fs_journal_params jp;
	struct ext2_super_block *sb;
	io_manager io = unix_io_manager;
	ext2_filsys fs;
	errcode_t ret;
	char opt[40];

	*fsp = NULL;
	m->why[0] = 0;
	if (m->dry_run) {
		io = rfl_null_io_manager;
	} else if (m->undo_file) {
		ret = set_undo_io_backing_manager(unix_io_manager);
		if (!ret)
			ret = set_undo_io_backup_file((char *)m->undo_file);
		if (ret) {
			set_why(m, "while setting up the undo file");
			return ret;
		}
		io = undo_io_manager;
	}
	ret = ext2fs_initialize(m->device, EXT2_FLAG_EXCLUSIVE |
				EXT2_FLAG_64BITS, &m->param, io, &fs);
	if (ret) {
		set_why(m, "while setting up superblock");
		return ret;
	}
	sb = fs->super;
	if (io == undo_io_manager) {
		/* what mke2fs uses: the undo file keeps whole 32 KiB chunks */
		snprintf(opt, sizeof(opt), "tdb_data_size=%u",
			 fs->blocksize <= 4096 ? 32768 : fs->blocksize * 8);
		io_channel_set_options(fs->io, opt);
	}
	if (m->now) {
		fs->now = m->now;
		sb->s_mkfs_time = sb->s_lastcheck = (__u32)m->now;
	}
	/* flex_bg and friends: tell the kernel this fs counts kbytes */
	sb->s_kbytes_written = 1;

	memcpy(sb->s_uuid, m->uuid, sizeof(sb->s_uuid));
	if (ext2fs_has_feature_csum_seed(sb))
		sb->s_checksum_seed = ext2fs_crc32c_le(~0U, sb->s_uuid,
						       sizeof(sb->s_uuid));
	ext2fs_init_csum_seed(fs);
	sb->s_def_hash_version = EXT2_HASH_HALF_MD4;
	memcpy(sb->s_hash_seed, m->hash_seed, sizeof(sb->s_hash_seed));
	/* enable_periodic_fsck = 0 */
	sb->s_max_mnt_count = -1;
	if (m->label) {
		memset(sb->s_volume_name, 0, sizeof(sb->s_volume_name));
		strncpy((char *)sb->s_volume_name, m->label,
			sizeof(sb->s_volume_name));
	}
	if (ext2fs_has_feature_metadata_csum(sb))
		sb->s_checksum_type = EXT2_CRC32C_CHKSUM;

	m->journal_blocks = 0;
	if (ext2fs_has_feature_journal(sb)) {
		ret = ext2fs_get_journal_params(&jp, fs);
		if (ret && m->journal_mb) {
			set_why(m, "the filesystem is too small for a journal");
			goto fail;
		}
		if (!ret && m->journal_mb) {
			unsigned long long n;

			n = (unsigned long long)m->journal_mb * 1024 /
			    (fs->blocksize / 1024);

			if (n < 1024 || n > 10240000) {
				snprintf(m->why, sizeof(m->why),
					 "the journal would be %llu blocks; it "
					 "must be between 1024 and 10240000",
					 n);
				ret = EXT2_ET_INVALID_ARGUMENT;
				goto fail;
			}
			if (n > ext2fs_free_blocks_count(sb) / 2) {
				set_why(m, "the journal is too big for the "
					"filesystem");
				ret = EXT2_ET_INVALID_ARGUMENT;
				goto fail;
			}
			jp.num_journal_blocks = (blk_t)n;
		}
		/* mke2fs makes a journal-less fs when too small for one */
		if (ret)
			ext2fs_clear_feature_journal(sb);
		else
			m->journal_blocks = jp.num_journal_blocks;
		ret = 0;
	}
	m->nr_flex = e2fs_flex_group_count(fs);
	*fsp = fs;
	return 0;
fail:
	ext2fs_free(fs);
	return ret;
}

/* Whole device, in steps; true when it now reads back as zeroes */
static bool discard_device(struct rfl_mkfs *m, ext2_filsys fs)
{
	blk64_t blocks = ext2fs_blocks_count(fs->super);
	blk64_t step = (blk64_t)DISCARD_STEP_MB * 1024 * 1024 / fs->blocksize;
	blk64_t cur;

	/* block 0 first: whether the device can discard at all */
	if (io_channel_discard(fs->io, 0, 1))
		return false;
	progress(m, "Discarding device blocks: ");
	for (cur = 0; cur < blocks; cur += step) {
		if (io_channel_discard(fs->io, cur, cur + step > blocks ?
				       blocks - cur : step)) {
			if (m->out)
				fputs("failed - ", m->out);
			progress_done(m);
			return false;
		}
	}
	progress_done(m);
	return io_channel_discard_zeroes_data(fs->io);
}

/* The superblock area of a former filesystem: bytes 1024..4095 */
static errcode_t zap_old_super(ext2_filsys fs)
{
	char buf[6 * 512];
	errcode_t ret;

	memset(buf, 0, sizeof(buf));
	io_channel_set_blksize(fs->io, 512);
	ret = io_channel_write_blk64(fs->io, 2, -(int)sizeof(buf), buf);
	io_channel_set_blksize(fs->io, fs->blocksize);
	return ret;
}

/* Old RAID (and other) signatures live at the end of the device */
static errcode_t zap_end(struct rfl_mkfs *m, ext2_filsys fs)
{
	blk64_t rsv = 65536 / fs->blocksize;
	blk64_t blocks = ext2fs_blocks_count(fs->super);
	blk64_t start = blocks & ~(rsv - 1), bad;
	errcode_t ret;

	if (start > rsv)
		start -= rsv;
	if (!start)
		return 0;
	ret = ext2fs_zero_blocks2(fs, start, (int)(blocks - start), &bad,
				  NULL);
	if (ret)
		snprintf(m->why, sizeof(m->why),
			 "while zeroing block %llu at end of filesystem",
			 (unsigned long long)bad);
	return ret;
}

static errcode_t write_inode_tables(struct rfl_mkfs *m, ext2_filsys fs,
				    bool lazy, bool zeroed)
{
	struct ext2_inode_large *inode;
	unsigned int isz = EXT2_INODE_SIZE(fs->super);
	blk64_t blk, bad;
	errcode_t ret;
	ext2_ino_t ino;
	dgrp_t g;
	int num;

	progress(m, "Writing inode tables: ");
	for (g = 0; g < fs->group_desc_count; g++) {
		blk = ext2fs_inode_table_loc(fs, g);
		num = fs->inode_blocks_per_group;
		/* lazy: only the part that holds inodes in use now */
		if (lazy)
			num = ext2fs_div_ceil((fs->super->s_inodes_per_group -
					       ext2fs_bg_itable_unused(fs, g)) *
					      isz, fs->blocksize);
		if (!lazy || zeroed) {
			/* nothing left for the kernel's lazyinit thread */
			ext2fs_bg_flags_set(fs, g, EXT2_BG_INODE_ZEROED);
			ext2fs_group_desc_csum_set(fs, g);
		}
		if (!zeroed && num) {
			ret = ext2fs_zero_blocks2(fs, blk, num, &bad, NULL);
			if (ret) {
				snprintf(m->why, sizeof(m->why),
					 "while zeroing the inode table at "
					 "block %llu", (unsigned long long)bad);
				return ret;
			}
		}
	}
	progress_done(m);

	if (!ext2fs_has_feature_metadata_csum(fs->super))
		return 0;
	/* reserved inodes must carry valid checksums even while unused */
	ret = ext2fs_get_memzero(isz, &inode);
	if (ret)
		return ret;
	for (ino = 1; ino < EXT2_FIRST_INO(fs->super) && !ret; ino++)
		ret = ext2fs_write_inode_full(fs, ino,
					      (struct ext2_inode *)inode, isz);
	ext2fs_free_mem(&inode);
	if (ret)
		set_why(m, "while writing reserved inodes");
	return ret;
}

static errcode_t create_root_dir(struct rfl_mkfs *m, ext2_filsys fs)
{
	struct ext2_inode_large inode;
	errcode_t ret;

	ret = ext2fs_mkdir(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, 0);
	if (ret) {
		set_why(m, "while creating root dir");
		return ret;
	}
	if (!m->root_uid && !m->root_gid)
		return 0;
	ret = ext2fs_read_inode_full(fs, EXT2_ROOT_INO,
				     (struct ext2_inode *)&inode,
				     sizeof(inode));
	if (ret)
		goto fail;
	inode.i_uid = (__u16)m->root_uid;
	ext2fs_set_i_uid_high(inode, m->root_uid >> 16);
	inode.i_gid = (__u16)m->root_gid;
	ext2fs_set_i_gid_high(inode, m->root_gid >> 16);
	ret = ext2fs_write_inode_full(fs, EXT2_ROOT_INO,
				      (struct ext2_inode *)&inode,
				      sizeof(inode));
	if (!ret)
		return 0;
fail:
	set_why(m, "while setting root inode ownership");
	return ret;
}

static errcode_t create_lost_and_found(struct rfl_mkfs *m, ext2_filsys fs)
{
	static const char name[] = "lost+found";
	unsigned int size = 0;
	ext2_ino_t ino;
	errcode_t ret;
	int i;

	fs->umask = 077;
	ret = ext2fs_mkdir(fs, EXT2_ROOT_INO, 0, name);
	fs->umask = 022;
	if (!ret)
		ret = ext2fs_lookup(fs, EXT2_ROOT_INO, name, sizeof(name) - 1,
				    NULL, &ino);
	/*
	 * e2fsck reconnects into lost+found without allocating, so it gets
	 * 16 KiB up front, and at least two blocks so large empty blocks
	 * get exercised on big-block filesystems.
	 */
	for (i = 1; !ret && i < EXT2_NDIR_BLOCKS; i++) {
		size += fs->blocksize;
		if (size >= 16 * 1024 && size >= 2 * fs->blocksize)
			break;
		ret = ext2fs_expand_dir(fs, ino);
	}
	if (ret)
		set_why(m, "while creating /lost+found");
	return ret;
}

static errcode_t reserve_inodes(struct rfl_mkfs *m, ext2_filsys fs)
{
	errcode_t ret;
	ext2_ino_t i;

	for (i = EXT2_ROOT_INO + 1; i < EXT2_FIRST_INODE(fs->super); i++)
		ext2fs_inode_alloc_stats2(fs, i, +1, 0);
	ext2fs_mark_ib_dirty(fs);

	ext2fs_mark_inode_bitmap2(fs->inode_map, EXT2_BAD_INO);
	ext2fs_inode_alloc_stats2(fs, EXT2_BAD_INO, +1, 0);
	ret = ext2fs_update_bb_inode(fs, NULL);
	if (ret) {
		set_why(m, "while setting bad block inode");
		return ret;
	}
	if (ext2fs_has_feature_resize_inode(fs->super)) {
		ret = ext2fs_create_resize_inode(fs);
		if (ret)
			set_why(m, "while reserving blocks for online resize");
	}
	return ret;
}

static errcode_t create_journal(struct rfl_mkfs *m, ext2_filsys fs)
{
	struct ext2fs_journal_params jp = {
		.num_journal_blocks = m->journal_blocks,
	};
	int flags = EXT2_MKJOURNAL_NO_MNT_CHECK;
	errcode_t ret;

	/* blocks that already read as zeroes need no zeroing */
	if (m->lazy_journal_init || m->discarded)
		flags |= EXT2_MKJOURNAL_LAZYINIT;
	if (m->out) {
		fprintf(m->out, "Creating journal (%u blocks): ",
			m->journal_blocks);
		fflush(m->out);
	}
	ret = ext2fs_add_journal_inode3(fs, &jp, ~0ULL, flags);
	if (ret) {
		set_why(m, "while trying to create journal");
		return ret;
	}
	progress_done(m);
	return 0;
}

/* No flex group needs less than a metadata block and its reserve */
static bool all_need(void *priv, dgrp_t fg, bool *has_meta)
{
	(void)priv;
	(void)fg;
	*has_meta = false;
	return true;
}

/*
 * Before anything is written: in every flex group a metadata block and
 * right after it the tree's reserve (FORMAT.md 4.4), marked in the
 * bitmap so that nothing else (journal, files, -d) takes them, found by
 * bg_reserved.  Same goal as the library's allocator (the first free
 * run after the flex group's first block), so a fresh format and
 * mke2fs + enable place the blocks alike.  Too small: how many blocks
 * are missing, and nothing written.
 */
static errcode_t place_reserves(struct rfl_mkfs *m, ext2_filsys fs)
{
	dgrp_t gpf = e2fs_flex_group_size(fs), fg;
	blk64_t first, len, rlen, blk, missing;

	for (fg = 0; fg < m->nr_flex; fg++) {
		first = e2fs_flex_group_first_block(fs, fg);
		len = e2fs_flex_group_blocks(fs, fg);
		rlen = rfl_fg_resv_blocks(fs, fg);
		blk = rlen ? rfl_fg_find_run(fs, NULL, first + 1, first + len,
					     first + 1, rlen + 1) : 0;
		if (!blk)
			break;
		ext2fs_block_alloc_stats_range(fs, blk, rlen + 1, +1);
		rfl_set_bg_reserved(fs, fg * gpf, (__u32)(blk - first));
	}
	if (fg == m->nr_flex)
		return 0;
	/* undo, then count what every flex group lacks */
	while (fg--) {
		first = e2fs_flex_group_first_block(fs, fg);
		blk = first + rfl_bg_reserved(fs, fg * gpf);
		ext2fs_block_alloc_stats_range(fs, blk,
					       rfl_fg_resv_blocks(fs, fg) + 1,
					       -1);
		rfl_set_bg_reserved(fs, fg * gpf, 0);
	}
	missing = rfl_fg_resv_missing(fs, NULL, all_need, NULL, NULL);
	snprintf(m->why, sizeof(m->why), "while reserving room for the "
		 "refcount trees: the filesystem is %llu blocks too small",
		 (unsigned long long)(missing ? missing : 1));
	return RFL_ET_NO_RESERVE_ROOM;
}

/*
 * The metadata blocks place_reserves chose, each with an empty refcount
 * tree and its reserve, as rfl_enable() would add, but in memory: a
 * half-made filesystem is no filesystem, so none of enable's ordered
 * flushes are needed and one close writes the lot.
 */
static errcode_t write_reflink_meta(struct rfl_mkfs *m, ext2_filsys fs)
{
	dgrp_t gpf = e2fs_flex_group_size(fs), fg;
	u32 seed = e2fs_host_csum_seed(fs);
	blk64_t first, blk;
	errcode_t ret = 0;
	__u32 rel;
	void *buf;

	progress(m, "Writing reflink metadata: ");
	ret = ext2fs_get_mem(fs->blocksize, &buf);
	if (ret)
		return ret;
	m->nr_meta = 0;
	for (fg = 0; fg < m->nr_flex; fg++) {
		first = e2fs_flex_group_first_block(fs, fg);
		rel = rfl_bg_reserved(fs, fg * gpf);
		if (!rel)
			continue;
		blk = first + rel;
		ext4_rfx_init(buf, fs->blocksize, blk, fg);
		ext4_rfx_set_resv(buf, rel + 1,
				  (u32)rfl_fg_resv_blocks(fs, fg));
		if (ext4_rfx_seal(buf, fs->blocksize, seed, blk, fg)) {
			ret = RFL_ET_CORRUPT_META;
			break;
		}
		ret = io_channel_write_blk64(fs->io, blk, 1, buf);
		if (ret)
			break;
		m->nr_meta++;
	}
	ext2fs_free_mem(&buf);
	if (ret) {
		set_why(m, "while writing reflink metadata");
		return ret;
	}
	fs->super->s_feature_ro_compat |= EXT4_FEATURE_RO_COMPAT_REFLINK;
	ext2fs_mark_super_dirty(fs);
	progress_done(m);
	return 0;
}

errcode_t rfl_mkfs_write(struct rfl_mkfs *m, ext2_filsys fs)
{
	bool lazy = m->lazy_itable_init != 0, zeroed = false;
	blk64_t overhead;
	errcode_t ret;

	m->why[0] = 0;
	m->discarded = false;
	/* a new file reads as zeroes already; an undo file cannot undo this */
	if (!m->nodiscard && m->dev_size && fs->io->manager != undo_io_manager)
		m->discarded = discard_device(m, fs);
	if (m->discarded)
		lazy = zeroed = true;

	/* in memory only, up to place_reserves: a refusal writes nothing */
	progress(m, "Allocating group tables: ");
	ret = ext2fs_allocate_tables(fs);
	if (ret) {
		set_why(m, "while trying to allocate filesystem tables");
		return ret;
	}
	progress_done(m);
	ret = ext2fs_convert_subcluster_bitmap(fs, &fs->block_map);
	if (!ret)
		ret = ext2fs_count_used_clusters(fs,
				fs->super->s_first_data_block,
				ext2fs_blocks_count(fs->super) - 1, &overhead);
	if (ret) {
		set_why(m, "while calculating overhead");
		return ret;
	}
	/* not overhead: --strip gives the reserve back */
	ret = place_reserves(m, fs);
	if (ret)
		return ret;

	ret = zap_old_super(fs);
	if (ret) {
		set_why(m, "while erasing the old superblock");
		return ret;
	}

	ret = zap_end(m, fs);
	if (!ret)
		ret = write_inode_tables(m, fs, lazy, zeroed);
	if (!ret)
		ret = create_root_dir(m, fs);
	if (!ret)
		ret = create_lost_and_found(m, fs);
	if (!ret)
		ret = reserve_inodes(m, fs);
	if (!ret && m->journal_blocks) {
		ret = create_journal(m, fs);
		overhead += m->journal_blocks;
	}
	if (ret)
		return ret;
	overhead += fs->super->s_first_data_block;
	fs->super->s_overhead_clusters = (__u32)overhead;

	return write_reflink_meta(m, fs);
}

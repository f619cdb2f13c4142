// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_share.c - clone a file, share a range, and release blocks (punch,
 * truncate, unlink) on a reflink image, in the order of FORMAT.md 7.5.
 *
 * Every primitive first reads what it will change and takes all its
 * refcount steps inside one rfl_begin: a refusal or an error there aborts
 * with nothing written.  Then, for a share, the increments are committed
 * before any extent points at the blocks; for a release, the extents are
 * removed and the inode written before the decrements are committed.
 */
#include <string.h>
#include <time.h>

#include "reflink/rfl_share_int.h"

/* ---------------------------------------------------------------- */
/* Inode helpers                                                     */
/* ---------------------------------------------------------------- */

errcode_t rfl_inode_read(ext2_filsys fs, ext2_ino_t ino,
			 struct rfl_inode *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->ino = ino;
	if (!ino || ino > fs->super->s_inodes_count)
		return EXT2_ET_BAD_INODE_NUM;
	return ext2fs_read_inode_full(fs, ino, rfl_raw(ri), sizeof(ri->i));
}

errcode_t rfl_inode_write(ext2_filsys fs, struct rfl_inode *ri)
{
	return ext2fs_write_inode_full(fs, ri->ino, rfl_raw(ri),
				       sizeof(ri->i));
}

errcode_t rfl_inode_check(const struct rfl_inode *ri)
{
	const struct ext2_inode_large *i = &ri->i;
	int n;

	if (!LINUX_S_ISREG(i->i_mode))
		return RFL_ET_NOT_REGULAR;
	if (i->i_flags & (EXT4_ENCRYPT_FL | EXT4_VERITY_FL))
		return RFL_ET_UNSUPPORTED;
	if (i->i_flags & EXT4_INLINE_DATA_FL)
		return RFL_ET_NO_EXTENTS;
	if (i->i_flags & EXT4_EXTENTS_FL)
		return 0;
	/* an empty file gets an extent root the first time it is opened */
	for (n = 0; n < EXT2_N_BLOCKS; n++)
		if (i->i_block[n])
			return RFL_ET_NO_EXTENTS;
	return 0;
}

blk64_t rfl_inode_size_blocks(ext2_filsys fs, const struct rfl_inode *ri)
{
	__u64 size = EXT2_I_SIZE(&ri->i);

	return (size + fs->blocksize - 1) / fs->blocksize;
}

static __u32 now(ext2_filsys fs)
{
	return fs->now ? (__u32)fs->now : (__u32)time(NULL);
}

void rfl_inode_touch(ext2_filsys fs, struct rfl_inode *ri)
{
	ri->i.i_mtime = ri->i.i_ctime = now(fs);
}

errcode_t rfl_check_writable(struct rfl_fs *rfs)
{
	ext2_filsys fs = rfs->fs;

	if (!(fs->flags & EXT2_FLAG_RW))
		return EXT2_ET_RO_FILSYS;
	if (!rfl_has_feature(fs))
		return RFL_ET_NO_FEATURE;
	if (rfs->in_txn)
		return RFL_ET_BAD_ARG;
	return ext2fs_read_bitmaps(fs);
}

/* Read ino and check that it can share */
static errcode_t read_shareable(ext2_filsys fs, ext2_ino_t ino,
				struct rfl_inode *ri)
{
	errcode_t ret = rfl_inode_read(fs, ino, ri);

	return ret ? ret : rfl_inode_check(ri);
}

/* Leaf mappings of [start, end) of ri */
static errcode_t collect(ext2_filsys fs, struct rfl_inode *ri, blk64_t start,
			 blk64_t end, struct rfl_maps *out)
{
	ext2_extent_handle_t h;
	errcode_t ret;

	ret = ext2fs_extent_open2(fs, ri->ino, rfl_raw(ri), &h);
	if (ret)
		return ret;
	ret = rfl_map_collect(h, start, end, out);
	ext2fs_extent_free(h);
	return ret;
}

static blk64_t maps_blocks(const struct rfl_maps *m, size_t from, size_t to)
{
	blk64_t n = 0;

	for (; from < to; from++)
		n += m->v[from].len;
	return n;
}

/* Add delta to the count of every block of maps[from, to) */
static errcode_t adjust_maps(struct rfl_fs *rfs, const struct rfl_maps *m,
			     size_t from, size_t to, int delta)
{
	errcode_t ret;
	size_t i;

	for (i = from; i < to; i++) {
		ret = rfl_adjust(rfs, m->v[i].pblk, m->v[i].len, delta);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * After a failure part-way through an extent change, put the counts of
 * maps[from, to) right in a transaction of their own.  If even that fails
 * the counts stay too high, which FORMAT.md 7.5 allows (a leak).
 */
static void settle(struct rfl_fs *rfs, const struct rfl_maps *m, size_t from,
		   size_t to, int delta)
{
	if (from >= to || rfl_begin(rfs))
		return;
	if (adjust_maps(rfs, m, from, to, delta) || rfl_commit(rfs))
		rfl_abort(rfs);
}

static errcode_t set_reflink_flag(ext2_filsys fs, struct rfl_inode *ri)
{
	if (ri->i.i_flags & EXT4_REFLINK_FL)
		return 0;
	ri->i.i_flags |= EXT4_REFLINK_FL;
	return rfl_inode_write(fs, ri);
}

/* ---------------------------------------------------------------- */
/* Release                                                           */
/* ---------------------------------------------------------------- */

/*
 * The first i maps of m were unmapped from ri (all of them unless ret
 * says something failed): account them, write the inode and make it
 * durable, then commit the prepared refcount changes.  On failure the
 * transaction is aborted and only the unmapped maps get their decrement.
 */
static errcode_t commit_unmap(struct rfl_fs *rfs, struct rfl_inode *ri,
			      const struct rfl_maps *m, size_t i,
			      errcode_t ret)
{
	ext2_filsys fs = rfs->fs;
	errcode_t ret2;

	ret2 = ext2fs_iblk_sub_blocks(fs, rfl_raw(ri), maps_blocks(m, 0, i));
	if (!ret2)
		ret2 = rfl_inode_write(fs, ri);
	/* the unmapping must be on disk before the counts drop */
	if (!ret2)
		ret2 = io_channel_flush(fs->io);
	if (!ret)
		ret = ret2;
	if (ret) {
		rfl_abort(rfs);
		if (!ret2)
			settle(rfs, m, 0, i, -1);
		return ret;
	}
	return rfl_commit(rfs);
}

/*
 * Unmap [start, end) of ri and drop a reference from each block: the
 * decrements are prepared first (a refusal changes nothing), the extents
 * removed and the inode written, then the decrements committed.
 */
static errcode_t release_range(struct rfl_fs *rfs, struct rfl_inode *ri,
			       blk64_t start, blk64_t end)
{
	ext2_filsys fs = rfs->fs;
	struct rfl_maps maps = { 0 };
	struct rfl_xh x;
	errcode_t ret;
	size_t i = 0;

	ret = rfl_xh_open(&x, fs, ri->ino, rfl_raw(ri));
	if (ret)
		goto out;
	ret = rfl_map_collect(x.h, start, end, &maps);
	if (ret || !maps.nr)
		goto out;

	ret = rfl_begin(rfs);
	if (ret)
		goto out;
	ret = adjust_maps(rfs, &maps, 0, maps.nr, -1);
	if (ret) {
		rfl_abort(rfs);
		goto out;
	}
	for (i = 0; i < maps.nr; i++) {
		ret = rfl_map_remove(&x, &maps.v[i]);
		if (ret)
			break;
	}
	ret = commit_unmap(rfs, ri, &maps, i, ret);
out:
	rfl_xh_close(&x);
	rfl_maps_free(&maps);
	return ret;
}

errcode_t rfl_punch(struct rfl_fs *rfs, ext2_ino_t ino, blk64_t start,
		    blk64_t end)
{
	struct rfl_inode ri;
	errcode_t ret;

	ret = rfl_check_writable(rfs);
	if (!ret)
		ret = read_shareable(rfs->fs, ino, &ri);
	if (ret)
		return ret;
	if (start > end || start >= RFL_LBLK_END)
		return RFL_ET_BAD_RANGE;
	ret = release_range(rfs, &ri, start,
			    end >= RFL_LBLK_END - 1 ? RFL_LBLK_END : end + 1);
	if (ret)
		return ret;
	rfl_inode_touch(rfs->fs, &ri);
	ret = rfl_inode_write(rfs->fs, &ri);
	return ret ? ret : ext2fs_flush(rfs->fs);
}

/*
 * Zero the bytes of the block holding offset that lie past it, so a
 * later size change cannot expose them.  A shared block is copied first.
 */
static errcode_t zero_tail(struct rfl_fs *rfs, struct rfl_inode *ri,
			   __u64 offset)
{
	ext2_filsys fs = rfs->fs;
	blk64_t lblk = offset / fs->blocksize;
	unsigned int off = offset % fs->blocksize;
	struct rfl_maps maps = { 0 };
	char *buf = NULL;
	unsigned int i;
	errcode_t ret;

	if (!off)
		return 0;
	ret = collect(fs, ri, lblk, lblk + 1, &maps);
	if (ret || !maps.nr || maps.v[0].flags)
		goto out;	/* a hole or unwritten block reads as zeroes */
	ret = ext2fs_get_mem(fs->blocksize, &buf);
	if (ret)
		goto out;
	ret = io_channel_read_blk64(fs->io, maps.v[0].pblk, 1, buf);
	if (ret)
		goto out;
	for (i = off; i < fs->blocksize && !buf[i]; i++)
		;
	if (i == fs->blocksize)
		goto out;

	ret = rfl_cow_inode(rfs, ri->ino, lblk, lblk + 1, NULL);
	if (!ret)
		ret = rfl_inode_read(fs, ri->ino, ri);
	if (ret)
		goto out;
	maps.nr = 0;
	ret = collect(fs, ri, lblk, lblk + 1, &maps);
	if (ret || !maps.nr)
		goto out;
	memset(buf + off, 0, fs->blocksize - off);
	ret = io_channel_write_blk64(fs->io, maps.v[0].pblk, 1, buf);
out:
	ext2fs_free_mem(&buf);
	rfl_maps_free(&maps);
	return ret;
}

errcode_t rfl_truncate(struct rfl_fs *rfs, ext2_ino_t ino, __u64 new_size)
{
	ext2_filsys fs = rfs->fs;
	struct rfl_inode ri;
	__u64 old_size;
	errcode_t ret;

	ret = rfl_check_writable(rfs);
	if (!ret)
		ret = read_shareable(fs, ino, &ri);
	if (ret)
		return ret;
	if ((new_size + fs->blocksize - 1) / fs->blocksize > RFL_LBLK_END)
		return EXT2_ET_FILE_TOO_BIG;
	old_size = EXT2_I_SIZE(&ri.i);

	/* the partial block that ends up last must read zero past EOF */
	ret = zero_tail(rfs, &ri, new_size < old_size ? new_size : old_size);
	if (ret)
		return ret;
	if (new_size < old_size) {
		ret = release_range(rfs, &ri,
				    (new_size + fs->blocksize - 1) /
				    fs->blocksize, RFL_LBLK_END);
		if (ret)
			return ret;
	}
	ret = ext2fs_inode_size_set(fs, rfl_raw(&ri), new_size);
	if (ret)
		return ret;
	rfl_inode_touch(fs, &ri);
	ret = rfl_inode_write(fs, &ri);
	return ret ? ret : ext2fs_flush(fs);
}

/* Drop an extended attribute block reference of an inode being freed */
static errcode_t release_xattr_block(ext2_filsys fs, struct rfl_inode *ri)
{
	blk64_t blk = ext2fs_file_acl_block(fs, rfl_raw(ri));
	__u32 count = 0;
	errcode_t ret;

	if (!blk)
		return 0;
	ret = ext2fs_adjust_ea_refcount3(fs, blk, NULL, -1, &count, ri->ino);
	if (ret)
		return ret;
	if (!count)
		ext2fs_block_alloc_stats2(fs, blk, -1);
	ext2fs_file_acl_block_set(fs, rfl_raw(ri), 0);
	return ext2fs_iblk_sub_blocks(fs, rfl_raw(ri), 1);
}

errcode_t rfl_unlink(struct rfl_fs *rfs, ext2_ino_t parent_ino,
		     const char *name)
{
	ext2_filsys fs = rfs->fs;
	struct rfl_inode ri;
	ext2_ino_t ino;
	errcode_t ret;

	ret = rfl_check_writable(rfs);
	if (ret)
		return ret;
	if (!name || !*name || strchr(name, '/'))
		return RFL_ET_BAD_ARG;
	ret = ext2fs_check_directory(fs, parent_ino);
	if (!ret)
		ret = ext2fs_lookup(fs, parent_ino, name, strlen(name), NULL,
				    &ino);
	if (!ret)
		ret = rfl_inode_read(fs, ino, &ri);
	if (ret)
		return ret;
	if (LINUX_S_ISDIR(ri.i.i_mode))
		return RFL_ET_NOT_REGULAR;

	ret = ext2fs_unlink(fs, parent_ino, name, ino, 0);
	if (ret)
		return ret;
	ri.i.i_ctime = now(fs);
	if (ri.i.i_links_count > 1) {
		ri.i.i_links_count--;
		ret = rfl_inode_write(fs, &ri);
		return ret ? ret : ext2fs_flush(fs);
	}

	/*
	 * Unreferenced but not yet deleted while its blocks go: a crash
	 * leaves an inode the checker reconnects, with counts that match.
	 */
	ri.i.i_links_count = 0;
	ret = rfl_inode_write(fs, &ri);
	if (ret)
		return ret;
	if (!ext2fs_inode_has_valid_blocks2(fs, rfl_raw(&ri)))
		ret = 0;
	else if (ri.i.i_flags & EXT4_EXTENTS_FL)
		ret = release_range(rfs, &ri, 0, RFL_LBLK_END);
	else	/* block-mapped blocks are never shared */
		ret = ext2fs_punch(fs, ino, rfl_raw(&ri), NULL, 0, ~0ULL);
	if (!ret)
		ret = release_xattr_block(fs, &ri);
	if (ret)
		return ret;
	ri.i.i_dtime = now(fs);
	ret = rfl_inode_write(fs, &ri);
	if (ret)
		return ret;
	ext2fs_inode_alloc_stats2(fs, ino, -1, 0);
	return ext2fs_flush(fs);
}

/* ---------------------------------------------------------------- */
/* Share                                                             */
/* ---------------------------------------------------------------- */

/* Give the clone that failed half-way back: its tree blocks and inode */
static void drop_new_inode(ext2_filsys fs, struct rfl_inode *dst)
{
	ext2_extent_handle_t h;

	if (!ext2fs_extent_open2(fs, dst->ino, rfl_raw(dst), &h)) {
		rfl_map_free_nodes(fs, h);
		ext2fs_extent_free(h);
	}
	memset(dst->i.i_block, 0, sizeof(dst->i.i_block));
	dst->i.i_links_count = 0;
	dst->i.i_dtime = now(fs);
	ext2fs_iblk_set(fs, rfl_raw(dst), 0);
	rfl_inode_write(fs, dst);
	ext2fs_inode_alloc_stats2(fs, dst->ino, -1, 0);
}

/* Write dst as a fresh inode: src's fields, no blocks, no xattrs */
static errcode_t init_clone_inode(ext2_filsys fs, const struct rfl_inode *src,
				  struct rfl_inode *dst, bool shares)
{
	int size = EXT2_INODE_SIZE(fs->super);
	char *buf;
	errcode_t ret;

	dst->i = src->i;
	memset(dst->i.i_block, 0, sizeof(dst->i.i_block));
	dst->i.i_links_count = 1;
	dst->i.i_dtime = 0;
	if (shares)
		dst->i.i_flags |= EXT4_REFLINK_FL;
	ext2fs_file_acl_block_set(fs, rfl_raw(dst), 0);
	ext2fs_iblk_set(fs, rfl_raw(dst), 0);

	/* whatever the slot held past the fields we know goes */
	ret = ext2fs_get_memzero(size > (int)sizeof(dst->i) ?
				 size : (int)sizeof(dst->i), &buf);
	if (ret)
		return ret;
	memcpy(buf, &dst->i, size < (int)sizeof(dst->i) ?
	       size : (int)sizeof(dst->i));
	ret = ext2fs_write_inode_full(fs, dst->ino, (struct ext2_inode *)buf,
				      size);
	ext2fs_free_mem(&buf);
	return ret;
}

errcode_t rfl_clone_inode(struct rfl_fs *rfs, ext2_ino_t src_ino,
			  ext2_ino_t parent_ino, const char *name,
			  ext2_ino_t *new_ino)
{
	ext2_filsys fs = rfs->fs;
	struct rfl_inode src, dst;
	struct rfl_maps maps = { 0 };
	struct rfl_xh x;
	ext2_ino_t found;
	bool counted = false;
	errcode_t ret;
	size_t i;

	memset(&dst, 0, sizeof(dst));
	ret = rfl_check_writable(rfs);
	if (!ret)
		ret = read_shareable(fs, src_ino, &src);
	if (ret)
		return ret;
	if (!name || !*name || strchr(name, '/') ||
	    strlen(name) > EXT2_NAME_LEN)
		return RFL_ET_BAD_ARG;
	ret = ext2fs_check_directory(fs, parent_ino);
	if (ret)
		return ret;
	ret = ext2fs_lookup(fs, parent_ino, name, strlen(name), NULL, &found);
	if (!ret)
		return EXT2_ET_FILE_EXISTS;
	if (ret != EXT2_ET_FILE_NOT_FOUND)
		return ret;
	ret = collect(fs, &src, 0, RFL_LBLK_END, &maps);
	if (ret)
		goto out;

	/* the clone may only point at blocks already counted for it */
	if (maps.nr) {
		ret = rfl_begin(rfs);
		if (ret)
			goto out;
		ret = adjust_maps(rfs, &maps, 0, maps.nr, +1);
		if (ret) {
			rfl_abort(rfs);
			goto out;
		}
		ret = rfl_commit(rfs);
		if (ret)
			goto out;
		counted = true;
		ret = set_reflink_flag(fs, &src);
		if (ret)
			goto undo;
	}

	ret = ext2fs_new_inode(fs, parent_ino, src.i.i_mode, NULL, &dst.ino);
	if (ret)
		goto undo;
	ext2fs_inode_alloc_stats2(fs, dst.ino, +1, 0);
	ret = init_clone_inode(fs, &src, &dst, maps.nr != 0);
	if (ret)
		goto undo;

	ret = rfl_xh_open(&x, fs, dst.ino, rfl_raw(&dst));
	if (ret) {
		rfl_xh_close(&x);
		goto undo;
	}
	ret = ext2fs_iblk_set(fs, rfl_raw(&dst), rfl_maps_blocks(&maps));
	for (i = 0; !ret && i < maps.nr; i++)
		ret = rfl_map_insert(&x, &maps.v[i]);
	rfl_xh_close(&x);
	if (!ret)
		ret = rfl_inode_write(fs, &dst);
	/* complete and counted on disk before a name makes it reachable */
	if (!ret)
		ret = ext2fs_flush(fs);
	if (ret)
		goto undo;

	ret = rfl_link(fs, parent_ino, name, dst.ino, EXT2_FT_REG_FILE);
	if (ret)
		goto undo;
	if (new_ino)
		*new_ino = dst.ino;
	ret = ext2fs_flush(fs);
	goto out;

undo:
	if (dst.ino)
		drop_new_inode(fs, &dst);
	if (counted)
		settle(rfs, &maps, 0, maps.nr, -1);
	ext2fs_flush(fs);
out:
	rfl_maps_free(&maps);
	return ret;
}

/* Move every map by delta logical blocks */
static void shift_maps(struct rfl_maps *m, blk64_t from, blk64_t to)
{
	size_t i;

	for (i = 0; i < m->nr; i++)
		m->v[i].lblk = m->v[i].lblk - from + to;
}

errcode_t rfl_share_range(struct rfl_fs *rfs, ext2_ino_t src_ino,
			  blk64_t src_lblk, ext2_ino_t dst_ino,
			  blk64_t dst_lblk, blk64_t nr)
{
	ext2_filsys fs = rfs->fs;
	struct rfl_inode src, dst;
	struct rfl_maps add = { 0 }, old = { 0 };
	struct rfl_xh x = { .h = NULL };
	__u64 src_size, end, bs = fs->blocksize;
	errcode_t ret, ret2;
	size_t i = 0;

	ret = rfl_check_writable(rfs);
	if (!ret)
		ret = read_shareable(fs, src_ino, &src);
	if (!ret)
		ret = read_shareable(fs, dst_ino, &dst);
	if (ret)
		return ret;
	if (!nr || src_lblk >= RFL_LBLK_END || dst_lblk >= RFL_LBLK_END ||
	    nr > RFL_LBLK_END - dst_lblk ||
	    nr > rfl_inode_size_blocks(fs, &src) ||
	    src_lblk > rfl_inode_size_blocks(fs, &src) - nr)
		return RFL_ET_BAD_RANGE;

	ret = collect(fs, &src, src_lblk, src_lblk + nr, &add);
	if (!ret)
		ret = collect(fs, &dst, dst_lblk, dst_lblk + nr, &old);
	if (ret)
		goto out;
	shift_maps(&add, src_lblk, dst_lblk);

	/*
	 * One transaction for src's blocks + 1 (to commit before dst maps
	 * them) and dst's old blocks - 1 (to commit after dst stops mapping
	 * them): committing between the two extent changes satisfies both.
	 */
	ret = rfl_begin(rfs);
	if (ret)
		goto out;
	ret = adjust_maps(rfs, &add, 0, add.nr, +1);
	if (!ret)
		ret = adjust_maps(rfs, &old, 0, old.nr, -1);
	if (ret) {
		rfl_abort(rfs);
		goto out;
	}
	ret = rfl_xh_open(&x, fs, dst.ino, rfl_raw(&dst));
	for (i = 0; !ret && i < old.nr; i++) {
		ret = rfl_map_remove(&x, &old.v[i]);
		if (ret)
			break;	/* old.v[i] is still mapped */
	}
	ret = commit_unmap(rfs, &dst, &old, i, ret);
	if (ret)
		goto out;
	if (!add.nr)
		goto size;

	/*
	 * Counted: now both sides become sharers, flagged on disk before
	 * an extent (which may live in a leaf block) says so.
	 */
	i = 0;
	if (src_ino != dst_ino)
		ret = set_reflink_flag(fs, &src);
	if (!ret)
		ret = set_reflink_flag(fs, &dst);
	if (ret)
		goto undo;
	for (; i < add.nr; i++) {
		ret = rfl_map_insert(&x, &add.v[i]);
		if (ret)
			goto undo;	/* counted for add.v[i] on, unused */
		ret = ext2fs_iblk_add_blocks(fs, rfl_raw(&dst),
					     add.v[i].len);
		if (ret) {
			i++;
			goto undo;
		}
	}
size:
	/* dst now ends where src's data in the range ends, if that is later */
	src_size = EXT2_I_SIZE(&src.i);
	end = (src_lblk + nr) * bs < src_size ? (src_lblk + nr) * bs : src_size;
	end = end - src_lblk * bs + dst_lblk * bs;
	if (end > EXT2_I_SIZE(&dst.i))
		ret = ext2fs_inode_size_set(fs, rfl_raw(&dst), end);
	rfl_inode_touch(fs, &dst);
	ret2 = rfl_inode_write(fs, &dst);
	if (!ret)
		ret = ret2;
	if (!ret)
		ret = ext2fs_flush(fs);
	goto out;

undo:
	rfl_inode_write(fs, &dst);
	settle(rfs, &add, i, add.nr, -1);
	ext2fs_flush(fs);
out:
	rfl_xh_close(&x);
	rfl_maps_free(&add);
	rfl_maps_free(&old);
	return ret;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * pop_file.c - a regular file's data for mkreflink -d: read in
 * chunks, all-zero blocks left as holes, equal blocks shared, new ones
 * written in runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "populate/pop_int.h"

/* ---------------------------------------------------------------- */
/* Block I/O                                                         */
/* ---------------------------------------------------------------- */

errcode_t pop_pend_flush(struct ctx *c)
{
	errcode_t ret;

	if (!c->pend_nr)
		return 0;
	ret = io_channel_write_blk64(c->fs->io, c->pend_start, c->pend_nr,
				     c->pend);
	c->pend_nr = 0;
	return ret;
}

static errcode_t pend_add(struct ctx *c, blk64_t pblk, const void *data)
{
	errcode_t ret;

	if (c->pend_nr && (c->pend_nr == CHUNK_BLOCKS ||
			   c->pend_start + c->pend_nr != pblk)) {
		ret = pop_pend_flush(c);
		if (ret)
			return ret;
	}
	if (!c->pend_nr)
		c->pend_start = pblk;
	memcpy(c->pend + (size_t)c->pend_nr * c->fs->blocksize, data,
	       c->fs->blocksize);
	c->pend_nr++;
	return 0;
}

/* Does stored block pblk hold data?  (rfl_blkhash_same_fn) */
static errcode_t same_block(void *priv, blk64_t pblk, const void *data,
			    bool *same)
{
	struct ctx *c = priv;
	unsigned int bs = c->fs->blocksize;
	errcode_t ret;

	/* past the end of space nothing is stored to compare */
	if (c->full) {
		*same = true;
		return 0;
	}

	if (c->pend_nr && pblk >= c->pend_start &&
	    pblk < c->pend_start + c->pend_nr) {
		*same = !memcmp(c->pend + (pblk - c->pend_start) * bs, data,
				bs);
		return 0;
	}
	ret = io_channel_read_blk64(c->fs->io, pblk, 1, c->cmp);
	if (ret)
		return ret;
	*same = !memcmp(c->cmp, data, bs);
	return 0;
}

/* An earlier block equal to data, or 0 */
static errcode_t find_block(struct ctx *c, __u64 hash, const void *data,
			    blk64_t *pblk)
{
	return rfl_blkhash_find(&c->tab, hash, data, same_block, c, pblk);
}

static errcode_t new_block(struct ctx *c, blk64_t *pblk)
{
	errcode_t ret;

	ret = ext2fs_new_block2(c->fs, c->goal, NULL, pblk);
	if (ret)
		return ret;
	ext2fs_block_alloc_stats2(c->fs, *pblk, +1);
	c->goal = *pblk + 1;
	return 0;
}

static bool all_zero(const char *d, unsigned int len)
{
	return !d[0] && !memcmp(d, d + 1, len - 1);
}

/* ---------------------------------------------------------------- */
/* Regular files                                                     */
/* ---------------------------------------------------------------- */

/* Map [lblk, lblk + len) onto pblk..; the extent code merges neighbours */
static errcode_t map_run(ext2_extent_handle_t h, blk64_t lblk, blk64_t pblk,
			 blk64_t len)
{
	errcode_t ret;
	blk64_t i;

	for (i = 0; i < len; i++) {
		ret = ext2fs_extent_set_bmap(h, lblk + i, pblk + i, 0);
		if (ret)
			return ret;
	}
	return 0;
}

static errcode_t read_full(int fd, char *buf, size_t len, off_t off,
			   size_t *got)
{
	ssize_t n;

	*got = 0;
	while (*got < len) {
		n = pread(fd, buf + *got, len - *got, off + (off_t)*got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (!n)
			break;
		*got += (size_t)n;
	}
	return 0;
}

/*
 * The first block at or after lblk holding data (*next, past the end if
 * none), and how many of the *n blocks from there do before a hole.
 * Where SEEK_DATA is not supported everything is data.
 */
static errcode_t data_span(int fd, blk64_t lblk, unsigned int bs,
			   blk64_t *next, blk64_t *n)
{
	off_t data, hole;
	blk64_t end;

	*next = lblk;
	data = lseek(fd, (off_t)(lblk * bs), SEEK_DATA);
	if (data < 0)
		return errno == ENXIO ? (*next = ~0ULL, 0) :
		       errno == EINVAL ? 0 : errno;
	*next = (blk64_t)data / bs;
	hole = lseek(fd, data, SEEK_HOLE);
	if (hole < 0)
		return 0;
	end = ((blk64_t)hole + bs - 1) / bs;
	if (end - *next < *n)
		*n = end - *next;
	return 0;
}

/*
 * Where block d of inode ino goes: onto an earlier equal block (*shared
 * set), or a new one; *pblk 0 for nowhere (a hole, or past the end of
 * space, where it is only counted).
 */
static errcode_t store_block(struct ctx *c, const char *d, ext2_ino_t ino,
			     blk64_t *pblk, bool *shared)
{
	unsigned int bs = c->fs->blocksize;
	errcode_t ret = 0;
	__u64 hash = 0;

	*pblk = 0;
	if (!c->p->keep_zero && all_zero(d, bs)) {
		c->p->zero_blocks++;
		return 0;
	}
	c->p->data_blocks++;
	if (!c->p->no_dedup) {
		hash = rfl_block_hash(d, bs);
		ret = find_block(c, hash, d, pblk);
		if (ret)
			return ret;
	}
	if (*pblk) {
		c->p->deduped++;
		if (c->full) {
			*pblk = 0;
			return 0;
		}
		*shared = true;
		return rfl_bruns_add(&c->refs, *pblk, 1, 0);
	}
	if (c->full) {
		c->p->more_blocks++;
		/* any non-zero stand-in marks the hash seen */
		return c->p->no_dedup ? 0 :
		       rfl_blkhash_insert(&c->tab, hash, 1);
	}
	ret = new_block(c, pblk);
	if (ret == EXT2_ET_BLOCK_ALLOC_FAIL) {
		c->full = true;
		c->p->more_blocks++;
		*pblk = 0;
		return 0;
	}
	ret = ret ?: pend_add(c, *pblk, d);
	ret = ret ?: rfl_bruns_add(&c->owners, *pblk, 1, ino);
	if (!ret && !c->p->no_dedup)
		ret = rfl_blkhash_insert(&c->tab, hash, *pblk);
	c->p->written++;
	return ret;
}

/* Logical blocks mapped in one extent, gathered before they are mapped */
struct run {
	blk64_t l, p, n;
	blk64_t mapped;			/* blocks mapped so far */
};

/* Map the run gathered so far */
static errcode_t run_flush(ext2_extent_handle_t h, struct run *r)
{
	errcode_t ret;

	if (!r->n)
		return 0;
	ret = map_run(h, r->l, r->p, r->n);
	if (ret)
		return ret;
	r->mapped += r->n;
	r->n = 0;
	return 0;
}

/* lblk -> pblk: onto the end of the run, or map the run and start anew */
static errcode_t run_add(ext2_extent_handle_t h, struct run *r,
			 blk64_t lblk, blk64_t pblk)
{
	errcode_t ret;

	if (r->n && r->l + r->n == lblk && r->p + r->n == pblk &&
	    r->n < 32768) {
		r->n++;
		return 0;
	}
	ret = run_flush(h, r);
	if (ret)
		return ret;
	r->l = lblk;
	r->p = pblk;
	r->n = 1;
	return 0;
}

/*
 * The next chunk of the file holding data, from *lblk on, into c->buf
 * (zero-padded to whole blocks): *lblk moves to its first block, *want
 * is its length in bytes, 0 past the last data.
 */
static errcode_t read_chunk(struct ctx *c, int fd, const struct stat *st,
			    const char *path, blk64_t *lblk, size_t *want)
{
	unsigned int bs = c->fs->blocksize;
	blk64_t nblocks = ((__u64)st->st_size + bs - 1) / bs;
	blk64_t n = nblocks - *lblk < CHUNK_BLOCKS ? nblocks - *lblk :
		    CHUNK_BLOCKS, next;
	errcode_t ret;
	size_t got;

	*want = 0;
	/* skip the source's holes rather than read their zeroes */
	ret = data_span(fd, *lblk, bs, &next, &n);
	if (ret)
		return pop_why(c, ret, "%s", path);
	if (next >= nblocks)
		return 0;
	*lblk = next;
	if (n > nblocks - *lblk)
		n = nblocks - *lblk;
	*want = (size_t)(n * bs);
	ret = read_full(fd, c->buf, *want, (off_t)(*lblk * bs), &got);
	if (ret)
		return pop_why(c, ret, "%s", path);
	if (got < *want && (__u64)(*lblk * bs + got) < (__u64)st->st_size)
		return pop_why(c, EIO, "%s shrank while being copied", path);
	memset(c->buf + got, 0, *want - got);
	return 0;
}

/* Size, block count, flags and metadata of a file whose data is in */
static errcode_t finish_file(struct ctx *c, ext2_ino_t ino,
			     const struct stat *st, blk64_t mapped,
			     bool shared)
{
	struct ext2_inode_large in;
	errcode_t ret;

	/* the extent code has counted its own tree blocks in i_blocks */
	ret = ext2fs_read_inode_full(c->fs, ino, (struct ext2_inode *)&in,
				     sizeof(in));
	if (ret)
		return ret;
	ret = ext2fs_iblk_add_blocks(c->fs, (struct ext2_inode *)&in,
				     mapped);
	if (ret)
		return ret;
	ret = ext2fs_inode_size_set(c->fs, (struct ext2_inode *)&in,
				    (ext2_off64_t)st->st_size);
	if (ret)
		return ret;
	if (shared)
		in.i_flags |= EXT4_REFLINK_FL;
	pop_set_meta(c, &in, st);
	return ext2fs_write_inode_full(c->fs, ino, (struct ext2_inode *)&in,
				       sizeof(in));
}

errcode_t pop_copy_data(struct ctx *c, int fd, const struct stat *st,
			ext2_ino_t ino, const char *path)
{
	unsigned int bs = c->fs->blocksize;
	blk64_t nblocks = ((__u64)st->st_size + bs - 1) / bs, lblk, i, pblk;
	ext2_extent_handle_t h = NULL;
	struct run r = { 0 };
	bool shared = false;
	errcode_t ret = 0;
	size_t want;

	if (!c->full) {
		ret = ext2fs_extent_open(c->fs, ino, &h);
		if (ret)
			return ret;
	}
	for (lblk = 0; lblk < nblocks; lblk += want / bs) {
		ret = read_chunk(c, fd, st, path, &lblk, &want);
		if (ret || !want)
			break;
		for (i = 0; i < want / bs; i++) {
			ret = store_block(c, c->buf + i * bs, ino, &pblk,
					  &shared);
			if (ret)
				goto out;
			if (!pblk || c->full)
				continue;
			ret = run_add(h, &r, lblk + i, pblk);
			if (ret)
				goto out;
		}
	}
	if (!ret && !c->full)
		ret = run_flush(h, &r);
out:
	if (h)
		ext2fs_extent_free(h);
	if (ret || c->full)
		return ret;
	return finish_file(c, ino, st, r.mapped, shared);
}

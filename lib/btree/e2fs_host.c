// SPDX-License-Identifier: GPL-2.0
/*
 * e2fs_host.c - the userspace host of the B-tree on libext2fs.
 *
 * The cache holds at most `limit` buffers unless the tree pins more: a
 * copy-on-write transaction keeps every node it shadowed referenced until
 * commit, and failing such a transaction for want of cache would be
 * worse than a temporary overshoot.  Writes are deferred to the next
 * flush (or to eviction) and then issued in block order, because a
 * commit's new nodes are allocated close together and the sorted writes
 * become a near-sequential stream.
 */
#include <stdlib.h>

#include "e2fs_host.h"
#include "reflink_err.h"

#define ENT_DIRTY	0x1	/* write_block called; not yet on disk */

struct e2fs_host_ent {
	struct ext4_btree_buf buf;	/* first: the tree sees only this */
	struct e2fs_host_ent *hash_next;	/* also the pool link */
	struct e2fs_host_ent *lru_prev;	/* on the LRU while refs == 0 */
	struct e2fs_host_ent *lru_next;
	unsigned int refs;
	unsigned int flags;		/* ENT_* */
};

struct e2fs_host {
	ext2_filsys fs;
	dgrp_t flex_group;
	blk64_t first;			/* first block of the flex group */
	blk64_t end;			/* one past its last block */
	blk64_t next_goal;		/* after the last allocation */

	struct e2fs_meta_map meta;	/* sorted, merged */

	struct e2fs_host_ent **hash;
	unsigned int hash_mask;
	struct e2fs_host_ent lru;	/* sentinel; next = most recent */
	struct e2fs_host_ent *pool;	/* entries of freed blocks */
	unsigned int nr_pool;
	unsigned int nr_ents;		/* hashed entries */
	unsigned int nr_refs;
	unsigned int nr_dirty;
	unsigned int limit;

	e2fs_host_commit_fn commit_root;
	void *priv;
	errcode_t io_err;		/* first I/O error, for errcode_t */
	struct e2fs_host_stats stats;

	/*
	 * The tree's reserve (FORMAT.md 4.4): blocks marked in the bitmap
	 * whether a node uses them or not; resv_used says which do.  Filled
	 * from the committed tree on the first allocation.
	 */
	blk64_t resv_start, resv_len;
	unsigned char *resv_used;
	u64 resv_root;			/* committed root, for the scan */
	u16 resv_height;
	u64 resv_nodes;			/* its rr_nodes: bounds the scan */
	bool resv_scanned;
};

static inline struct e2fs_host_ent *to_ent(struct ext4_btree_buf *buf)
{
	return (struct e2fs_host_ent *)buf;
}

/* errcode_t values below 256 are errnos in com_err's numbering */
static errcode_t to_errcode(const struct e2fs_host *h, int err)
{
	if (err == -EIO && h->io_err)
		return h->io_err;
	if (err == -ENOMEM)
		return EXT2_ET_NO_MEMORY;
	return (errcode_t)-err;
}


/* ---------------------------------------------------------------- */
/* Metadata map                                                      */
/* ---------------------------------------------------------------- */

/* The host's slice [h->first, h->end) of the fs metadata map */
static errcode_t meta_build(struct e2fs_host *h,
			    const struct e2fs_meta_map *map)
{
	if (map)
		return e2fs_meta_map_slice(&h->meta, map, h->first, h->end);
	return e2fs_meta_map_fill_fg(h->fs, &h->meta, h->flex_group);
}

/* The metadata run containing blk, or NULL */
static const struct e2fs_meta_run *meta_find(const struct e2fs_host *h,
					     blk64_t blk)
{
	return e2fs_meta_map_find(&h->meta, blk);
}

bool e2fs_host_valid_block(const struct e2fs_host *h, u64 blk)
{
	/* Offset 0 means "none" in every relative pointer of the format */
	if (blk <= h->first || blk >= h->end)
		return false;
	return !meta_find(h, blk);
}

/* ---------------------------------------------------------------- */
/* Cache                                                             */
/* ---------------------------------------------------------------- */

static inline unsigned int hash_blk(const struct e2fs_host *h, blk64_t blk)
{
	return (unsigned int)((blk * 0x9e3779b97f4a7c15ULL) >> 32) &
		h->hash_mask;
}

static struct e2fs_host_ent *cache_find(const struct e2fs_host *h,
					blk64_t blk)
{
	struct e2fs_host_ent *e = h->hash[hash_blk(h, blk)];

	while (e && e->buf.blocknr != blk)
		e = e->hash_next;
	return e;
}

static void hash_insert(struct e2fs_host *h, struct e2fs_host_ent *e)
{
	struct e2fs_host_ent **head = &h->hash[hash_blk(h, e->buf.blocknr)];

	e->hash_next = *head;
	*head = e;
	h->nr_ents++;
	h->stats.cached = h->nr_ents;
	if (h->nr_ents > h->stats.peak)
		h->stats.peak = h->nr_ents;
}

static void hash_remove(struct e2fs_host *h, struct e2fs_host_ent *e)
{
	struct e2fs_host_ent **pp = &h->hash[hash_blk(h, e->buf.blocknr)];

	while (*pp != e)
		pp = &(*pp)->hash_next;
	*pp = e->hash_next;
	e->hash_next = NULL;
	h->nr_ents--;
	h->stats.cached = h->nr_ents;
}

/* Keep chains short when a transaction pins far more than the limit */
static void hash_grow(struct e2fs_host *h)
{
	unsigned int nsize = (h->hash_mask + 1) * 2, i;
	struct e2fs_host_ent **nhash, **old = h->hash;
	unsigned int omask = h->hash_mask;

	if (h->nr_ents < (omask + 1) * 2)
		return;
	if (ext2fs_get_arrayzero(nsize, sizeof(*nhash), &nhash))
		return;		/* longer chains still work */
	h->hash = nhash;
	h->hash_mask = nsize - 1;
	for (i = 0; i <= omask; i++) {
		struct e2fs_host_ent *e = old[i], *next;

		for (; e; e = next) {
			struct e2fs_host_ent **head =
				&h->hash[hash_blk(h, e->buf.blocknr)];

			next = e->hash_next;
			e->hash_next = *head;
			*head = e;
		}
	}
	ext2fs_free_mem(&old);
}

static void lru_del(struct e2fs_host_ent *e)
{
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_add_head(struct e2fs_host *h, struct e2fs_host_ent *e)
{
	e->lru_next = h->lru.lru_next;
	e->lru_prev = &h->lru;
	h->lru.lru_next->lru_prev = e;
	h->lru.lru_next = e;
}

static void ent_free(struct e2fs_host_ent *e)
{
	ext2fs_free_mem(&e->buf.data);
	ext2fs_free_mem(&e);
}

/*
 * Forget an unreferenced entry.  Its memory goes to the pool, since a
 * COW commit frees about as many blocks as it allocates, but the pool
 * stays within the limit so one huge transaction does not keep its
 * overshoot for the life of the host.
 */
static void ent_drop(struct e2fs_host *h, struct e2fs_host_ent *e)
{
	if (e->lru_next)
		lru_del(e);
	if (e->flags & ENT_DIRTY)
		h->nr_dirty--;
	e->flags = 0;
	hash_remove(h, e);
	if (h->nr_pool + h->nr_ents >= h->limit) {
		ent_free(e);
		return;
	}
	e->hash_next = h->pool;
	h->pool = e;
	h->nr_pool++;
}

static int ent_write(struct e2fs_host *h, struct e2fs_host_ent *e)
{
	errcode_t ret;

	ret = io_channel_write_blk64(h->fs->io, e->buf.blocknr, 1,
				     e->buf.data);
	if (ret) {
		if (!h->io_err)
			h->io_err = ret;
		return -EIO;
	}
	e->flags &= ~ENT_DIRTY;
	h->nr_dirty--;
	h->stats.writes++;
	return 0;
}

static int ent_cmp(const void *a, const void *b)
{
	const struct e2fs_host_ent *x = *(struct e2fs_host_ent * const *)a;
	const struct e2fs_host_ent *y = *(struct e2fs_host_ent * const *)b;

	if (x->buf.blocknr != y->buf.blocknr)
		return x->buf.blocknr < y->buf.blocknr ? -1 : 1;
	return 0;
}

/* Write every dirty buffer, in block order */
static int writeback(struct e2fs_host *h)
{
	struct e2fs_host_ent **v, *e;
	unsigned int n = 0, i;
	int err = 0;

	if (!h->nr_dirty)
		return 0;
	if (ext2fs_get_array(h->nr_dirty, sizeof(*v), &v)) {
		/* Unsorted is slower, never wrong */
		for (i = 0; i <= h->hash_mask && !err; i++)
			for (e = h->hash[i]; e && !err; e = e->hash_next)
				if (e->flags & ENT_DIRTY)
					err = ent_write(h, e);
		return err;
	}
	for (i = 0; i <= h->hash_mask; i++)
		for (e = h->hash[i]; e; e = e->hash_next)
			if (e->flags & ENT_DIRTY)
				v[n++] = e;
	qsort(v, n, sizeof(*v), ent_cmp);
	for (i = 0; i < n && !err; i++)
		err = ent_write(h, v[i]);
	ext2fs_free_mem(&v);
	return err;
}

/* Drop clean unreferenced buffers, oldest first, down to target */
static void cache_trim(struct e2fs_host *h, unsigned int target)
{
	struct e2fs_host_ent *e = h->lru.lru_prev, *prev;

	for (; e != &h->lru && h->nr_ents > target; e = prev) {
		prev = e->lru_prev;
		if (!(e->flags & ENT_DIRTY)) {
			ent_drop(h, e);
			h->stats.evictions++;
		}
	}
}

/*
 * An entry for blk, hashed, referenced once, state cleared; the caller
 * fills the data.  Makes room first: clean buffers go, and if only dirty
 * ones could go, all dirty buffers are written (one sorted batch rather
 * than a trickle of single evictions).
 */
static int ent_get(struct e2fs_host *h, blk64_t blk,
		   struct e2fs_host_ent **entp)
{
	struct e2fs_host_ent *e;
	errcode_t ret;
	int err;

	if (h->nr_ents >= h->limit) {
		cache_trim(h, h->limit - 1);
		if (h->nr_ents >= h->limit && h->nr_dirty &&
		    h->lru.lru_prev != &h->lru) {
			err = writeback(h);
			if (err)
				return err;
			cache_trim(h, h->limit - 1);
		}
	}
	e = h->pool;
	if (e) {
		h->pool = e->hash_next;
		h->nr_pool--;
	} else {
		ret = ext2fs_get_memzero(sizeof(*e), &e);
		if (ret)
			return -ENOMEM;
		ret = io_channel_alloc_buf(h->fs->io, 0, &e->buf.data);
		if (ret) {
			ext2fs_free_mem(&e);
			return -ENOMEM;
		}
	}
	e->buf.blocknr = blk;
	e->buf.state = 0;
	e->buf.tx_next = NULL;
	e->hash_next = NULL;
	e->lru_prev = e->lru_next = NULL;
	e->refs = 1;
	e->flags = 0;
	hash_insert(h, e);
	hash_grow(h);
	h->nr_refs++;
	*entp = e;
	return 0;
}

static void ent_ref(struct e2fs_host *h, struct e2fs_host_ent *e)
{
	if (!e->refs++)
		lru_del(e);
	h->nr_refs++;
}

/* ---------------------------------------------------------------- */
/* Ops                                                               */
/* ---------------------------------------------------------------- */

static int e2h_read_block(void *host, u64 blk, struct ext4_btree_buf **bufp)
{
	struct e2fs_host *h = host;
	struct e2fs_host_ent *e;
	errcode_t ret;
	int err;

	/* Only a corrupt node can point outside the flex group */
	if (unlikely(!e2fs_host_valid_block(h, blk)))
		return -EFSCORRUPTED;
	e = cache_find(h, blk);
	if (e) {
		ent_ref(h, e);
		h->stats.hits++;
		*bufp = &e->buf;
		return 0;
	}
	err = ent_get(h, blk, &e);
	if (err)
		return err;
	ret = io_channel_read_blk64(h->fs->io, blk, 1, e->buf.data);
	if (ret) {
		if (!h->io_err)
			h->io_err = ret;
		e->refs = 0;
		h->nr_refs--;
		ent_drop(h, e);
		return -EIO;
	}
	h->stats.reads++;
	*bufp = &e->buf;
	return 0;
}

static int e2h_new_block(void *host, u64 blk, struct ext4_btree_buf **bufp)
{
	struct e2fs_host *h = host;
	struct e2fs_host_ent *e;
	int err;

	if (unlikely(!e2fs_host_valid_block(h, blk) ||
		     !ext2fs_test_block_bitmap2(h->fs->block_map, blk)))
		return -EINVAL;
	e = cache_find(h, blk);
	if (e) {
		/* A stale copy of a block freed and allocated again */
		if (unlikely(e->refs))
			return -EBUSY;
		ent_ref(h, e);
		if (e->flags & ENT_DIRTY) {
			e->flags &= ~ENT_DIRTY;
			h->nr_dirty--;
		}
		e->buf.state = 0;
		e->buf.tx_next = NULL;
	} else {
		err = ent_get(h, blk, &e);
		if (err)
			return err;
	}
	memset(e->buf.data, 0, h->fs->blocksize);
	*bufp = &e->buf;
	return 0;
}

static void e2h_put_block(void *host, struct ext4_btree_buf *buf)
{
	struct e2fs_host *h = host;
	struct e2fs_host_ent *e = to_ent(buf);

	if (unlikely(!e->refs))
		return;
	h->nr_refs--;
	/*
	 * No trimming here even past the limit: at the end of a commit the
	 * tree puts the new nodes first and the replaced ones after, and
	 * the replaced ones are about to be freed; the next miss trims the
	 * oldest instead.
	 */
	if (!--e->refs)
		lru_add_head(h, e);
}

static int e2h_write_block(void *host, struct ext4_btree_buf *buf)
{
	struct e2fs_host *h = host;
	struct e2fs_host_ent *e = to_ent(buf);

	if (!(h->fs->flags & EXT2_FLAG_RW))
		return -EROFS;
	if (unlikely(!e2fs_host_valid_block(h, buf->blocknr) ||
		     cache_find(h, buf->blocknr) != e))
		return -EINVAL;
	if (!(e->flags & ENT_DIRTY)) {
		e->flags |= ENT_DIRTY;
		h->nr_dirty++;
	}
	return 0;
}

static int e2h_flush(void *host)
{
	struct e2fs_host *h = host;
	errcode_t ret;
	int err;

	err = writeback(h);
	if (err)
		return err;
	ret = io_channel_flush(h->fs->io);
	if (ret) {
		if (!h->io_err)
			h->io_err = ret;
		return -EIO;
	}
	h->stats.flushes++;
	return 0;
}

/* First free, non-metadata block in [lo, hi], or 0 */
static blk64_t find_free(struct e2fs_host *h, blk64_t lo, blk64_t hi)
{
	const struct e2fs_meta_run *m;
	blk64_t blk;

	while (lo <= hi) {
		if (ext2fs_find_first_zero_block_bitmap2(h->fs->block_map,
							 lo, hi, &blk))
			return 0;
		m = meta_find(h, blk);
		if (!m)
			return blk;
		/* Metadata unmarked in the bitmap: the fs is damaged */
		lo = m->start + m->len;
	}
	return 0;
}

static bool in_resv(const struct e2fs_host *h, blk64_t blk)
{
	return h->resv_used && blk >= h->resv_start &&
	       blk - h->resv_start < h->resv_len;
}

static bool resv_test(const struct e2fs_host *h, blk64_t blk)
{
	blk64_t i = blk - h->resv_start;

	return h->resv_used[i >> 3] & (1u << (i & 7));
}

static void resv_set(struct e2fs_host *h, blk64_t blk, bool used)
{
	blk64_t i = blk - h->resv_start;

	if (used)
		h->resv_used[i >> 3] |= 1u << (i & 7);
	else
		h->resv_used[i >> 3] &= ~(1u << (i & 7));
}

/*
 * Mark the committed tree's nodes that lie in the reserve.  Only
 * interior nodes are read (leaves are known from their parents).  A node
 * that does not look like one is skipped, not trusted: the walk serves
 * the allocator, the checker judges the tree.
 */
static void resv_scan_node(struct e2fs_host *h, blk64_t blk, int level,
			   u64 *budget)
{
	const struct ext4_btree_node_head *hd;
	struct ext4_btree_buf *buf;
	u32 nr, max, ks, i;
	const u8 *vals;

	if (!*budget || !e2fs_host_valid_block(h, blk))
		return;
	(*budget)--;
	if (in_resv(h, blk))
		resv_set(h, blk, true);
	if (!level)
		return;
	if (e2h_read_block(h, blk, &buf))
		return;
	hd = buf->data;
	nr = le16_to_cpu(hd->bn_nr_entries);
	max = le16_to_cpu(hd->bn_max_entries);
	ks = le16_to_cpu(hd->bn_key_size);
	if (le32_to_cpu(hd->bn_magic) == EXT4_BTREE_MAGIC &&
	    le16_to_cpu(hd->bn_level) == level && nr <= max &&
	    le16_to_cpu(hd->bn_val_size) == 8 &&
	    sizeof(*hd) + (u64)max * (ks + 8) <= h->fs->blocksize) {
		vals = (const u8 *)buf->data + sizeof(*hd) + (u64)max * ks;
		for (i = 0; i < nr; i++) {
			__le64 child;

			memcpy(&child, vals + 8 * i, 8);
			resv_scan_node(h, le64_to_cpu(child), level - 1,
				       budget);
		}
	}
	e2h_put_block(h, buf);
}

static void resv_scan(struct e2fs_host *h)
{
	/* a damaged count must not make a cycle endless */
	u64 budget = h->resv_nodes + h->resv_len + 1;

	h->resv_scanned = true;
	if (h->resv_root && h->resv_height &&
	    h->resv_height <= EXT4_BTREE_MAX_HEIGHT)
		resv_scan_node(h, h->resv_root, h->resv_height - 1, &budget);
}

/* A free block of the reserve from goal on, wrapping; 0 if none */
static blk64_t resv_alloc(struct e2fs_host *h, blk64_t goal)
{
	blk64_t i, n = h->resv_len, start;

	if (!h->resv_scanned)
		resv_scan(h);
	start = in_resv(h, goal) ? goal - h->resv_start : 0;
	for (i = 0; i < n; i++) {
		blk64_t blk = h->resv_start + (start + i) % n;

		if (!resv_test(h, blk) && !meta_find(h, blk))
			return blk;
	}
	return 0;
}

static int e2h_alloc_block(void *host, u64 goal, u64 *blocknrp)
{
	struct e2fs_host *h = host;
	blk64_t lo = h->first + 1, hi = h->end - 1, blk;

	if (!(h->fs->flags & EXT2_FLAG_RW))
		return -EROFS;
	if (h->resv_used) {
		blk = resv_alloc(h, goal);
		if (blk) {
			resv_set(h, blk, true);
			/* a reserve block found free: the bitmap was lost */
			if (!ext2fs_test_block_bitmap2(h->fs->block_map, blk))
				ext2fs_block_alloc_stats2(h->fs, blk, +1);
			h->stats.allocs++;
			h->stats.resv_allocs++;
			*blocknrp = blk;
			return 0;
		}
	}
	if (goal < lo || goal > hi)
		goal = h->next_goal;
	if (goal < lo || goal > hi)
		goal = lo;
	blk = find_free(h, goal, hi);
	if (!blk && goal > lo)
		blk = find_free(h, lo, goal - 1);
	if (!blk)
		return -ENOSPC;
	ext2fs_block_alloc_stats2(h->fs, blk, +1);
	h->next_goal = blk + 1;
	h->stats.allocs++;
	*blocknrp = blk;
	return 0;
}

static int e2h_free_block(void *host, u64 blk)
{
	struct e2fs_host *h = host;
	struct e2fs_host_ent *e;

	if (!(h->fs->flags & EXT2_FLAG_RW))
		return -EROFS;
	/* Block numbers reach here from disk: never free fs metadata */
	if (unlikely(!e2fs_host_valid_block(h, blk)))
		return -EFSCORRUPTED;
	if (unlikely(!ext2fs_test_block_bitmap2(h->fs->block_map, blk)))
		return -EFSCORRUPTED;
	e = cache_find(h, blk);
	if (e) {
		if (unlikely(e->refs))
			return -EINVAL;
		/* A dirty copy must not land on a reallocated block */
		ent_drop(h, e);
	}
	h->stats.frees++;
	/* back to the reserve: it stays marked, for this tree only */
	if (in_resv(h, blk)) {
		if (!h->resv_scanned)
			resv_scan(h);
		resv_set(h, blk, false);
		return 0;
	}
	ext2fs_block_alloc_stats2(h->fs, blk, -1);
	return 0;
}

static int e2h_commit_root(void *host, struct ext4_btree *tree)
{
	struct e2fs_host *h = host;
	errcode_t ret;
	int err;

	err = writeback(h);
	if (err)
		return err;
	/*
	 * Bitmaps, descriptors (the bitmap checksums live there) and the
	 * superblock's free count, then a sync: the new root may only be
	 * published once its blocks are marked in use on disk.
	 */
	ret = ext2fs_flush(h->fs);
	if (ret) {
		if (!h->io_err)
			h->io_err = ret;
		return -EIO;
	}
	if (h->commit_root) {
		err = h->commit_root(h->priv, tree);
		if (err)
			return err;
	}
	h->stats.commits++;
	return 0;
}

const struct ext4_btree_ops e2fs_host_ops = {
	.read_block	= e2h_read_block,
	.new_block	= e2h_new_block,
	.put_block	= e2h_put_block,
	.write_block	= e2h_write_block,
	.flush		= e2h_flush,
	.alloc_block	= e2h_alloc_block,
	.free_block	= e2h_free_block,
	.commit_root	= e2h_commit_root,
};

/* ---------------------------------------------------------------- */
/* Userspace API                                                     */
/* ---------------------------------------------------------------- */

static void host_free(struct e2fs_host *h)
{
	struct e2fs_host_ent *e, *next;
	unsigned int i;

	if (h->hash) {
		for (i = 0; i <= h->hash_mask; i++)
			for (e = h->hash[i]; e; e = next) {
				next = e->hash_next;
				ent_free(e);
			}
		ext2fs_free_mem(&h->hash);
	}
	for (e = h->pool; e; e = next) {
		next = e->hash_next;
		ent_free(e);
	}
	e2fs_meta_map_release(&h->meta);
	free(h->resv_used);
	ext2fs_free_mem(&h);
}

errcode_t e2fs_host_set_reserve(struct e2fs_host *h, blk64_t start,
				blk64_t len, u64 root, u16 height, u64 nodes)
{
	free(h->resv_used);
	h->resv_used = NULL;
	h->resv_start = h->resv_len = 0;
	h->resv_scanned = false;
	if (!len)
		return 0;
	if (start <= h->first || start >= h->end || len > h->end - start)
		return RFL_ET_BAD_ARG;
	h->resv_used = calloc((len + 7) / 8, 1);
	if (!h->resv_used)
		return EXT2_ET_NO_MEMORY;
	h->resv_start = start;
	h->resv_len = len;
	h->resv_root = root;
	h->resv_height = height;
	h->resv_nodes = nodes;
	return 0;
}

bool e2fs_host_in_reserve(const struct e2fs_host *h, blk64_t blk)
{
	return in_resv(h, blk);
}

blk64_t e2fs_host_reserve_free(struct e2fs_host *h)
{
	blk64_t i, n = 0;

	if (!h->resv_used)
		return 0;
	if (!h->resv_scanned)
		resv_scan(h);
	for (i = 0; i < h->resv_len; i++)
		if (!resv_test(h, h->resv_start + i))
			n++;
	return n;
}

errcode_t e2fs_host_open(ext2_filsys fs, dgrp_t flex_group,
			 unsigned int cache_blocks,
			 e2fs_host_commit_fn commit_root, void *priv,
			 struct e2fs_host **hostp)
{
	return e2fs_host_open2(fs, flex_group, cache_blocks, NULL,
			       commit_root, priv, hostp);
}

errcode_t e2fs_host_open2(ext2_filsys fs, dgrp_t flex_group,
			  unsigned int cache_blocks,
			  const struct e2fs_meta_map *map,
			  e2fs_host_commit_fn commit_root, void *priv,
			  struct e2fs_host **hostp)
{
	struct e2fs_host *h;
	unsigned int nhash;
	errcode_t ret;

	*hostp = NULL;
	if (ext2fs_has_feature_bigalloc(fs->super))
		return RFL_ET_BIGALLOC;
	if (flex_group >= e2fs_flex_group_count(fs))
		return RFL_ET_BAD_ARG;
	if (!fs->block_map) {
		ret = ext2fs_read_block_bitmap(fs);
		if (ret)
			return ret;
	}
	if (!cache_blocks)
		cache_blocks = E2FS_HOST_CACHE_DEFAULT;
	if (cache_blocks < E2FS_HOST_CACHE_MIN)
		cache_blocks = E2FS_HOST_CACHE_MIN;
	if (cache_blocks > E2FS_HOST_CACHE_MAX)
		cache_blocks = E2FS_HOST_CACHE_MAX;

	ret = ext2fs_get_memzero(sizeof(*h), &h);
	if (ret)
		return ret;
	h->fs = fs;
	h->flex_group = flex_group;
	h->first = e2fs_flex_group_first_block(fs, flex_group);
	h->end = h->first + e2fs_flex_group_blocks(fs, flex_group);
	h->next_goal = h->first + 1;
	h->limit = cache_blocks;
	h->stats.limit = cache_blocks;
	h->lru.lru_next = h->lru.lru_prev = &h->lru;
	h->commit_root = commit_root;
	h->priv = priv;
	for (nhash = 64; nhash < cache_blocks * 2; nhash *= 2)
		;
	ret = ext2fs_get_arrayzero(nhash, sizeof(*h->hash), &h->hash);
	if (ret)
		goto out;
	h->hash_mask = nhash - 1;
	ret = meta_build(h, map);
	if (ret)
		goto out;
	*hostp = h;
	return 0;
out:
	host_free(h);
	return ret;
}

errcode_t e2fs_host_close(struct e2fs_host *h)
{
	errcode_t ret = 0;
	int err;

	if (!h)
		return 0;
	err = e2h_flush(h);
	if (err)
		ret = to_errcode(h, err);
	host_free(h);
	return ret;
}

errcode_t e2fs_host_sync(struct e2fs_host *h)
{
	int err = e2h_flush(h);

	return err ? to_errcode(h, err) : 0;
}

errcode_t e2fs_host_tree_init(struct e2fs_host *h, struct ext4_btree *tree,
			      const struct ext4_btree_geo *geo,
			      enum ext4_btree_mode mode)
{
	int err;

	err = ext4_btree_init(tree, geo, &e2fs_host_ops, h, h->fs->blocksize,
			      e2fs_host_csum_seed(h->fs), h->flex_group, mode);
	return err ? to_errcode(h, err) : 0;
}

ext2_filsys e2fs_host_fs(const struct e2fs_host *h)
{
	return h->fs;
}

dgrp_t e2fs_host_flex_group(const struct e2fs_host *h)
{
	return h->flex_group;
}

blk64_t e2fs_host_first_block(const struct e2fs_host *h)
{
	return h->first;
}

blk64_t e2fs_host_nr_blocks(const struct e2fs_host *h)
{
	return h->end - h->first;
}

unsigned int e2fs_host_nr_refs(const struct e2fs_host *h)
{
	return h->nr_refs;
}

void e2fs_host_get_stats(const struct e2fs_host *h,
			 struct e2fs_host_stats *st)
{
	*st = h->stats;
}

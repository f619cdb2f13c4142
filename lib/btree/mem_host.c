// SPDX-License-Identifier: GPL-2.0
/*
 * mem_host.c - an in-memory B-tree host for tests and benchmarks.
 *
 * Every lookup is an array index by block number.  Buffers live in one
 * allocation each (header, then the block) and go back to a pool when
 * their block is freed, because a copy-on-write benchmark frees and
 * allocates a block per modified node.  Under AddressSanitizer the pool
 * is bypassed so a buffer used after its block was freed is caught.
 */
#include <stdio.h>
#include <stdlib.h>

#include "mem_host.h"

#if defined(__SANITIZE_ADDRESS__)
#define MEM_HOST_NO_POOL 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEM_HOST_NO_POOL 1
#endif
#endif

/* The data follows the header at this alignment */
#define MEM_BUF_ALIGN	64

struct mem_buf {
	struct ext4_btree_buf b;
	u32 refs;
	struct mem_buf *pool_next;
};

#define MEM_BUF_HDR \
	((sizeof(struct mem_buf) + MEM_BUF_ALIGN - 1) & \
	 ~(size_t)(MEM_BUF_ALIGN - 1))

struct mem_fault {
	u64 nth;
	int err;
};

struct mem_host {
	u32 block_size;
	u64 nr_blocks;
	u8 **disk;			/* written images, lazily allocated */
	struct mem_buf **cache;		/* cached buffers */
	u64 *bitmap;			/* allocated; block 0, tail set */
	u64 nr_words;
	u64 nr_allocated;
	u64 nr_refs;
	struct mem_buf *pool;
	void *img_pool;			/* freed disk images, linked in place */
	struct mem_host_stats stats;
	struct mem_host_root root;
	struct mem_fault fault[MEM_OP_MAX];
};

static inline struct mem_buf *to_mem_buf(struct ext4_btree_buf *b)
{
	return (struct mem_buf *)((char *)b - offsetof(struct mem_buf, b));
}

static void host_error(struct mem_host *h, const char *what, u64 blk)
{
	h->stats.errors++;
	fprintf(stderr, "mem_host: %s (block %llu)\n", what,
		(unsigned long long)blk);
}

/* Returns the injected error if this call is the one armed to fail */
static inline int fault(struct mem_host *h, enum mem_host_op op)
{
	struct mem_fault *f = &h->fault[op];

	if (likely(!f->nth))
		return 0;
	if (--f->nth)
		return 0;
	return f->err;
}

static inline bool test_bit64(const u64 *map, u64 nr)
{
	return (map[nr >> 6] >> (nr & 63)) & 1;
}

static inline void set_bit64(u64 *map, u64 nr)
{
	map[nr >> 6] |= 1ULL << (nr & 63);
}

static inline void clear_bit64(u64 *map, u64 nr)
{
	map[nr >> 6] &= ~(1ULL << (nr & 63));
}

static struct mem_buf *buf_get(struct mem_host *h)
{
	struct mem_buf *mb = h->pool;
	void *p;

	if (mb) {
		h->pool = mb->pool_next;
		return mb;
	}
	if (posix_memalign(&p, MEM_BUF_ALIGN, MEM_BUF_HDR + h->block_size))
		return NULL;
	mb = p;
	mb->b.data = (char *)p + MEM_BUF_HDR;
	return mb;
}

static void buf_release(struct mem_host *h, struct mem_buf *mb)
{
#ifdef MEM_HOST_NO_POOL
	(void)h;
	free(mb);
#else
	mb->pool_next = h->pool;
	h->pool = mb;
#endif
}

/* Disk images are recycled too: a COW run frees one per node it copies */
static void *img_get(struct mem_host *h)
{
	void *img = h->img_pool;

	if (img) {
		memcpy(&h->img_pool, img, sizeof(void *));
		return img;
	}
	return malloc(h->block_size);
}

static void img_put(struct mem_host *h, void *img)
{
	if (!img)
		return;
#ifdef MEM_HOST_NO_POOL
	(void)h;
	free(img);
#else
	memcpy(img, &h->img_pool, sizeof(void *));
	h->img_pool = img;
#endif
}

/* Drop the cached copy of blk, which must be unreferenced */
static void uncache(struct mem_host *h, u64 blk)
{
	struct mem_buf *mb = h->cache[blk];

	if (mb) {
		h->cache[blk] = NULL;
		buf_release(h, mb);
	}
}

static struct mem_buf *cache_insert(struct mem_host *h, u64 blk)
{
	struct mem_buf *mb = buf_get(h);

	if (!mb)
		return NULL;
	mb->b.blocknr = blk;
	mb->b.state = 0;
	mb->b.tx_next = NULL;
	mb->refs = 0;
	mb->pool_next = NULL;
	h->cache[blk] = mb;
	return mb;
}

static int mem_read_block(void *host, u64 blk, struct ext4_btree_buf **bufp)
{
	struct mem_host *h = host;
	struct mem_buf *mb;
	int err;

	/* A pointer off the disk can only come from a corrupt node */
	if (unlikely(blk == 0 || blk >= h->nr_blocks))
		return -EFSCORRUPTED;
	err = fault(h, MEM_OP_READ);
	if (unlikely(err))
		return err;
	mb = h->cache[blk];
	if (!mb) {
		mb = cache_insert(h, blk);
		if (!mb)
			return -ENOMEM;
		if (h->disk[blk])
			memcpy(mb->b.data, h->disk[blk], h->block_size);
		else
			memset(mb->b.data, 0, h->block_size);
	}
	mb->refs++;
	h->nr_refs++;
	h->stats.reads++;
	*bufp = &mb->b;
	return 0;
}

static int mem_new_block(void *host, u64 blk, struct ext4_btree_buf **bufp)
{
	struct mem_host *h = host;
	struct mem_buf *mb;
	int err;

	if (unlikely(blk == 0 || blk >= h->nr_blocks ||
		     !test_bit64(h->bitmap, blk))) {
		host_error(h, "new_block of an unallocated block", blk);
		return -EINVAL;
	}
	err = fault(h, MEM_OP_NEW);
	if (unlikely(err))
		return err;
	mb = h->cache[blk];
	if (mb) {
		if (unlikely(mb->refs)) {
			host_error(h, "new_block of a referenced block", blk);
			return -EBUSY;
		}
		mb->b.state = 0;
		mb->b.tx_next = NULL;
	} else {
		mb = cache_insert(h, blk);
		if (!mb)
			return -ENOMEM;
	}
	/* the tree writes every byte of a new block; don't pay twice */
#ifdef MEM_HOST_NO_POOL
	memset(mb->b.data, 0xa5, h->block_size);
#endif
	mb->refs = 1;
	h->nr_refs++;
	*bufp = &mb->b;
	return 0;
}

static void mem_put_block(void *host, struct ext4_btree_buf *buf)
{
	struct mem_host *h = host;
	struct mem_buf *mb = to_mem_buf(buf);

	if (unlikely(!mb->refs)) {
		host_error(h, "put_block of an unreferenced buffer",
			   buf->blocknr);
		return;
	}
	mb->refs--;
	h->nr_refs--;
}

static int mem_write_block(void *host, struct ext4_btree_buf *buf)
{
	struct mem_host *h = host;
	u64 blk = buf->blocknr;
	u8 *img;
	int err;

	if (unlikely(blk == 0 || blk >= h->nr_blocks ||
		     !test_bit64(h->bitmap, blk))) {
		host_error(h, "write_block of an unallocated block", blk);
		return -EINVAL;
	}
	if (unlikely(h->cache[blk] != to_mem_buf(buf))) {
		host_error(h, "write_block of a stale buffer", blk);
		return -EINVAL;
	}
	err = fault(h, MEM_OP_WRITE);
	if (unlikely(err))
		return err;
	img = h->disk[blk];
	if (!img) {
		img = img_get(h);
		if (!img)
			return -ENOMEM;
		h->disk[blk] = img;
	}
	memcpy(img, buf->data, h->block_size);
	h->stats.writes++;
	return 0;
}

static int mem_flush(void *host)
{
	struct mem_host *h = host;
	int err = fault(h, MEM_OP_FLUSH);

	if (unlikely(err))
		return err;
	h->stats.flushes++;
	return 0;
}

/* First clear bit at or after start, or nr_words * 64 if none */
static u64 find_clear(const struct mem_host *h, u64 start)
{
	u64 w = start >> 6;
	u64 word;

	if (w >= h->nr_words)
		return h->nr_words << 6;
	word = ~h->bitmap[w] & (~0ULL << (start & 63));
	while (!word) {
		if (++w >= h->nr_words)
			return h->nr_words << 6;
		word = ~h->bitmap[w];
	}
	return (w << 6) + (u64)__builtin_ctzll(word);
}

static int mem_alloc_block(void *host, u64 goal, u64 *blocknrp)
{
	struct mem_host *h = host;
	u64 blk;
	int err;

	err = fault(h, MEM_OP_ALLOC);
	if (unlikely(err))
		return err;
	if (goal == 0 || goal >= h->nr_blocks)
		goal = 1;
	/* Bits past the last block are set, so a hit is always in range */
	blk = find_clear(h, goal);
	if (blk >= h->nr_blocks && goal > 1)
		blk = find_clear(h, 1);
	if (blk >= h->nr_blocks)
		return -ENOSPC;
	set_bit64(h->bitmap, blk);
	h->nr_allocated++;
	h->stats.allocs++;
	*blocknrp = blk;
	return 0;
}

static int mem_free_block(void *host, u64 blk)
{
	struct mem_host *h = host;
	int err;

	if (unlikely(blk == 0 || blk >= h->nr_blocks ||
		     !test_bit64(h->bitmap, blk))) {
		host_error(h, "free_block of an unallocated block", blk);
		return -EINVAL;
	}
	if (unlikely(h->cache[blk] && h->cache[blk]->refs)) {
		host_error(h, "free_block of a referenced block", blk);
		return -EINVAL;
	}
	err = fault(h, MEM_OP_FREE);
	if (unlikely(err))
		return err;
	clear_bit64(h->bitmap, blk);
	h->nr_allocated--;
	h->stats.frees++;
	/*
	 * A freed block has no contents: reading it back gives zeros, so a
	 * tree that still points at it sees a bad magic, not stale data.
	 */
	img_put(h, h->disk[blk]);
	h->disk[blk] = NULL;
	uncache(h, blk);
	return 0;
}

static int mem_commit_root(void *host, struct ext4_btree *tree)
{
	struct mem_host *h = host;
	int err = fault(h, MEM_OP_COMMIT_ROOT);

	if (unlikely(err))
		return err;
	h->root.root = tree->root;
	h->root.height = tree->height;
	h->root.nr_records = tree->nr_records;
	h->root.nr_nodes = tree->nr_nodes;
	h->root.generation = tree->generation;
	h->root.commits++;
	return 0;
}

const struct ext4_btree_ops mem_host_ops = {
	.read_block	= mem_read_block,
	.new_block	= mem_new_block,
	.put_block	= mem_put_block,
	.write_block	= mem_write_block,
	.flush		= mem_flush,
	.alloc_block	= mem_alloc_block,
	.free_block	= mem_free_block,
	.commit_root	= mem_commit_root,
};

struct mem_host *mem_host_create(u32 block_size, u64 nr_blocks)
{
	struct mem_host *h;
	u64 i;

	if (!block_size || !nr_blocks)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->block_size = block_size;
	h->nr_blocks = nr_blocks;
	h->nr_words = (nr_blocks + 63) / 64;
	h->disk = calloc(nr_blocks, sizeof(*h->disk));
	h->cache = calloc(nr_blocks, sizeof(*h->cache));
	h->bitmap = calloc(h->nr_words, sizeof(*h->bitmap));
	if (!h->disk || !h->cache || !h->bitmap) {
		mem_host_destroy(h);
		return NULL;
	}
	/* Reserve block 0 and the bits past the end so no scan returns them */
	set_bit64(h->bitmap, 0);
	for (i = nr_blocks; i < h->nr_words * 64; i++)
		set_bit64(h->bitmap, i);
	return h;
}

void mem_host_destroy(struct mem_host *h)
{
	struct mem_buf *mb;
	u64 i;

	if (!h)
		return;
	for (i = 0; i < h->nr_blocks; i++) {
		if (h->disk)
			free(h->disk[i]);
		if (h->cache)
			free(h->cache[i]);
	}
	while ((mb = h->pool)) {
		h->pool = mb->pool_next;
		free(mb);
	}
	while (h->img_pool) {
		void *img = h->img_pool;

		memcpy(&h->img_pool, img, sizeof(void *));
		free(img);
	}
	free(h->disk);
	free(h->cache);
	free(h->bitmap);
	free(h);
}

int mem_host_drop_cache(struct mem_host *h)
{
	u64 i;

	if (h->nr_refs)
		return -EBUSY;
	for (i = 1; i < h->nr_blocks; i++)
		uncache(h, i);
	return 0;
}

u64 mem_host_nr_allocated(const struct mem_host *h)
{
	return h->nr_allocated;
}

bool mem_host_is_allocated(const struct mem_host *h, u64 blk)
{
	return blk && blk < h->nr_blocks && test_bit64(h->bitmap, blk);
}

const void *mem_host_disk_block(const struct mem_host *h, u64 blk)
{
	return blk < h->nr_blocks ? h->disk[blk] : NULL;
}

const void *mem_host_cached_block(const struct mem_host *h, u64 blk)
{
	return blk < h->nr_blocks && h->cache[blk] ?
		h->cache[blk]->b.data : NULL;
}

u64 mem_host_nr_refs(const struct mem_host *h)
{
	return h->nr_refs;
}

void mem_host_get_stats(const struct mem_host *h, struct mem_host_stats *st)
{
	*st = h->stats;
}

void mem_host_get_root(const struct mem_host *h, struct mem_host_root *r)
{
	*r = h->root;
}

void mem_host_fail_after(struct mem_host *h, enum mem_host_op op, u64 nth,
			 int err)
{
	if ((unsigned int)op >= MEM_OP_MAX)
		return;
	h->fault[op].nth = err ? nth : 0;
	h->fault[op].err = err;
}

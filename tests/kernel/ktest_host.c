// SPDX-License-Identifier: GPL-2.0
/*
 * ktest_host.c - a kmalloc-backed host for ext4_btree_ops.
 *
 * The "disk" (written images) is kept apart from the buffer cache, as in
 * the userspace mem_host, so a test can drop the cache (a crash) and see
 * what was really written, or corrupt an image and reread it.  Cached
 * buffers live until the cache is dropped or the block is freed.
 */
#include "ktest.h"

struct kt_buf {
	struct ext4_btree_buf b;
	u32 refs;
};

struct kt_host {
	u32 block_size;
	u32 nr_blocks;
	u32 nr_allocated;
	u32 nr_refs;
	u32 errors;
	unsigned long *bitmap;		/* allocated blocks */
	unsigned long *lost;		/* reads fail with -EIO */
	struct kt_buf **cache;
	void **disk;
	struct kt_root root;
};

static void host_error(struct kt_host *h, const char *what, u64 blk)
{
	if (h->errors++ < 5)
		kt_diag("host misuse: %s, block %llu", what, blk);
}

struct kt_host *kt_host_create(u32 block_size, u32 nr_blocks)
{
	struct kt_host *h = kzalloc(sizeof(*h), GFP_KERNEL);

	if (!h)
		return NULL;
	h->block_size = block_size;
	h->nr_blocks = nr_blocks;
	h->bitmap = bitmap_zalloc(nr_blocks, GFP_KERNEL);
	h->lost = bitmap_zalloc(nr_blocks, GFP_KERNEL);
	h->cache = kvcalloc(nr_blocks, sizeof(*h->cache), GFP_KERNEL);
	h->disk = kvcalloc(nr_blocks, sizeof(*h->disk), GFP_KERNEL);
	if (!h->bitmap || !h->lost || !h->cache || !h->disk) {
		kt_host_destroy(h);
		return NULL;
	}
	set_bit(0, h->bitmap);		/* 0 means "no block" */
	return h;
}

static void uncache(struct kt_host *h, u64 blk)
{
	struct kt_buf *kb = h->cache[blk];

	if (kb) {
		h->cache[blk] = NULL;
		kfree(kb->b.data);
		kfree(kb);
	}
}

void kt_host_destroy(struct kt_host *h)
{
	u32 i;

	if (!h)
		return;
	for (i = 0; h->cache && h->disk && i < h->nr_blocks; i++) {
		uncache(h, i);
		kfree(h->disk[i]);
	}
	kvfree(h->cache);
	kvfree(h->disk);
	bitmap_free(h->bitmap);
	bitmap_free(h->lost);
	kfree(h);
}

int kt_host_drop_cache(struct kt_host *h)
{
	u32 i;

	if (h->nr_refs)
		return -EBUSY;
	for (i = 0; i < h->nr_blocks; i++)
		uncache(h, i);
	return 0;
}

void *kt_host_disk(struct kt_host *h, u64 blk)
{
	return blk < h->nr_blocks ? h->disk[blk] : NULL;
}

void kt_host_lose(struct kt_host *h, u64 blk)
{
	if (blk < h->nr_blocks)
		set_bit(blk, h->lost);
}

u32 kt_host_nr_allocated(const struct kt_host *h)
{
	return h->nr_allocated;
}

u32 kt_host_nr_refs(const struct kt_host *h)
{
	return h->nr_refs;
}

u32 kt_host_errors(const struct kt_host *h)
{
	return h->errors;
}

bool kt_host_valid_block(const struct kt_host *h, u64 blk)
{
	return blk && blk < h->nr_blocks;
}

void kt_host_get_root(const struct kt_host *h, struct kt_root *r)
{
	*r = h->root;
}

void kt_host_load_root(const struct kt_host *h, struct ext4_btree *tree)
{
	tree->root = h->root.root;
	tree->height = h->root.height;
	tree->nr_records = h->root.nr_records;
	tree->nr_nodes = h->root.nr_nodes;
	tree->generation = h->root.generation;
}

static struct kt_buf *cache_insert(struct kt_host *h, u64 blk)
{
	struct kt_buf *kb = kzalloc(sizeof(*kb), GFP_KERNEL);

	if (!kb)
		return NULL;
	kb->b.data = kmalloc(h->block_size, GFP_KERNEL);
	if (!kb->b.data) {
		kfree(kb);
		return NULL;
	}
	kb->b.blocknr = blk;
	h->cache[blk] = kb;
	return kb;
}

static int kt_read_block(void *host, u64 blk, struct ext4_btree_buf **bufp)
{
	struct kt_host *h = host;
	struct kt_buf *kb;

	/* a pointer off the disk can only come from a corrupt node */
	if (blk == 0 || blk >= h->nr_blocks)
		return -EFSCORRUPTED;
	if (test_bit(blk, h->lost))
		return -EIO;
	kb = h->cache[blk];
	if (!kb) {
		kb = cache_insert(h, blk);
		if (!kb)
			return -ENOMEM;
		if (h->disk[blk])
			memcpy(kb->b.data, h->disk[blk], h->block_size);
		else
			memset(kb->b.data, 0, h->block_size);
	}
	kb->refs++;
	h->nr_refs++;
	*bufp = &kb->b;
	return 0;
}

static int kt_new_block(void *host, u64 blk, struct ext4_btree_buf **bufp)
{
	struct kt_host *h = host;
	struct kt_buf *kb;

	if (blk == 0 || blk >= h->nr_blocks || !test_bit(blk, h->bitmap)) {
		host_error(h, "new_block of an unallocated block", blk);
		return -EINVAL;
	}
	kb = h->cache[blk];
	if (kb && kb->refs) {
		host_error(h, "new_block of a referenced block", blk);
		return -EBUSY;
	}
	if (!kb) {
		kb = cache_insert(h, blk);
		if (!kb)
			return -ENOMEM;
	}
	/* the tree must write every byte it relies on */
	memset(kb->b.data, 0xa5, h->block_size);
	kb->b.state = 0;
	kb->b.tx_next = NULL;
	kb->refs = 1;
	h->nr_refs++;
	*bufp = &kb->b;
	return 0;
}

static void kt_put_block(void *host, struct ext4_btree_buf *buf)
{
	struct kt_host *h = host;
	struct kt_buf *kb = container_of(buf, struct kt_buf, b);

	if (!kb->refs) {
		host_error(h, "put_block of an unreferenced buffer",
			   buf->blocknr);
		return;
	}
	kb->refs--;
	h->nr_refs--;
}

static int kt_write_block(void *host, struct ext4_btree_buf *buf)
{
	struct kt_host *h = host;
	u64 blk = buf->blocknr;

	if (blk == 0 || blk >= h->nr_blocks || !test_bit(blk, h->bitmap) ||
	    h->cache[blk] != container_of(buf, struct kt_buf, b)) {
		host_error(h, "write_block of a free block or stale buffer",
			   blk);
		return -EINVAL;
	}
	if (!h->disk[blk]) {
		h->disk[blk] = kmalloc(h->block_size, GFP_KERNEL);
		if (!h->disk[blk])
			return -ENOMEM;
	}
	memcpy(h->disk[blk], buf->data, h->block_size);
	return 0;
}

static int kt_flush(void *host)
{
	return 0;
}

static int kt_alloc_block(void *host, u64 goal, u64 *blocknrp)
{
	struct kt_host *h = host;
	unsigned long blk;

	if (goal == 0 || goal >= h->nr_blocks)
		goal = 1;
	blk = find_next_zero_bit(h->bitmap, h->nr_blocks, goal);
	if (blk >= h->nr_blocks)
		blk = find_next_zero_bit(h->bitmap, h->nr_blocks, 1);
	if (blk >= h->nr_blocks)
		return -ENOSPC;
	set_bit(blk, h->bitmap);
	clear_bit(blk, h->lost);
	h->nr_allocated++;
	*blocknrp = blk;
	return 0;
}

static int kt_free_block(void *host, u64 blk)
{
	struct kt_host *h = host;

	if (blk == 0 || blk >= h->nr_blocks || !test_bit(blk, h->bitmap)) {
		host_error(h, "free of a free block", blk);
		return -EINVAL;
	}
	if (h->cache[blk] && h->cache[blk]->refs) {
		host_error(h, "free of a referenced block", blk);
		return -EBUSY;
	}
	uncache(h, blk);
	kfree(h->disk[blk]);
	h->disk[blk] = NULL;
	clear_bit(blk, h->bitmap);
	h->nr_allocated--;
	return 0;
}

static int kt_commit_root(void *host, struct ext4_btree *tree)
{
	struct kt_host *h = host;

	h->root.root = tree->root;
	h->root.height = tree->height;
	h->root.nr_records = tree->nr_records;
	h->root.nr_nodes = tree->nr_nodes;
	h->root.generation = tree->generation;
	return 0;
}

const struct ext4_btree_ops kt_host_ops = {
	.read_block = kt_read_block,
	.new_block = kt_new_block,
	.put_block = kt_put_block,
	.write_block = kt_write_block,
	.flush = kt_flush,
	.alloc_block = kt_alloc_block,
	.free_block = kt_free_block,
	.commit_root = kt_commit_root,
};

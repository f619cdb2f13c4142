/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mem_host.h - an in-memory B-tree host for tests and benchmarks.
 *
 * The "disk" is an array of nr_blocks blocks kept apart from the buffer
 * cache, so a test can corrupt the disk image, forget the cache (a crash)
 * and watch what the tree reads back.  Cached buffers are never evicted
 * while the host lives: a benchmark runs from memory.  Block 0 is
 * reserved (it means "no block" in the tree) and is never allocated.
 *
 * Userspace only; not kernel-shareable.
 */
#ifndef MEM_HOST_H
#define MEM_HOST_H

#include "ext4_btree.h"

struct mem_host;

extern const struct ext4_btree_ops mem_host_ops;

/* NULL on ENOMEM or a block size / count of zero */
struct mem_host *mem_host_create(u32 block_size, u64 nr_blocks);
void mem_host_destroy(struct mem_host *h);

/*
 * Simulate a crash: forget every cached buffer.  All must be unreferenced,
 * else -EBUSY and nothing is dropped.  The disk keeps what was written.
 */
int mem_host_drop_cache(struct mem_host *h);

u64 mem_host_nr_allocated(const struct mem_host *h);
bool mem_host_is_allocated(const struct mem_host *h, u64 blk);
/*
 * The written ("on disk") image; NULL if never written since the block
 * was last allocated (freeing a block discards its image) or out of range
 */
const void *mem_host_disk_block(const struct mem_host *h, u64 blk);
/* The cached copy, or NULL */
const void *mem_host_cached_block(const struct mem_host *h, u64 blk);
/* Outstanding buffer references; must be 0 between tree operations */
u64 mem_host_nr_refs(const struct mem_host *h);

/*
 * Counters of successful calls, except errors: host misuse detected by
 * the host (reference underflow, double free, freeing or writing a
 * block that is not allocated or still referenced).  Injected failures
 * are not errors.
 */
struct mem_host_stats {
	u64 reads, writes, flushes, allocs, frees, errors;
};
void mem_host_get_stats(const struct mem_host *h, struct mem_host_stats *st);

/* The last committed root as commit_root stored it */
struct mem_host_root {
	u64 root;
	u16 height;
	u64 nr_records, nr_nodes, generation;
	u64 commits;
};
void mem_host_get_root(const struct mem_host *h, struct mem_host_root *r);

/*
 * Fault injection: the nth next call of op (1 = the very next) fails with
 * err and changes nothing; the trigger then disarms.  nth == 0 or
 * err == 0 disarms it.
 */
enum mem_host_op {
	MEM_OP_READ,
	MEM_OP_NEW,
	MEM_OP_WRITE,
	MEM_OP_FLUSH,
	MEM_OP_ALLOC,
	MEM_OP_FREE,
	MEM_OP_COMMIT_ROOT,
	MEM_OP_MAX,
};
void mem_host_fail_after(struct mem_host *h, enum mem_host_op op, u64 nth,
			 int err);

#endif /* MEM_HOST_H */

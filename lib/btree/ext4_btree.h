/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ext4_btree.h - a generic on-disk B-tree with copy-on-write transactions.
 *
 * Kernel-shareable: includes only kcompat.h and the format header, returns
 * negative errno, keeps no globals, and reaches storage only through the
 * host's ops table.  Node layout: docs/FORMAT.md and reflink_format.h.
 *
 * Concurrency: none.  The caller serialises every call on one tree.
 */
#ifndef EXT4_BTREE_H
#define EXT4_BTREE_H

#include "../kcompat/kcompat.h"
#include "../reflink_format.h"

#define EXT4_BTREE_MIN_ENTRIES	4	/* smallest node capacity allowed */
#define EXT4_BTREE_MAX_KEY	32	/* largest key size in bytes */
#define EXT4_BTREE_MAX_VAL	64	/* largest value size in bytes */

/* How keys compare; the fixed kinds let the search inline the compare */
enum ext4_btree_key_kind {
	EXT4_BTREE_KEY_LE32,	/* one __le32, unsigned order */
	EXT4_BTREE_KEY_LE64,	/* one __le64, unsigned order */
	EXT4_BTREE_KEY_CUSTOM,	/* geo->cmp_key */
};

struct ext4_btree;

/*
 * Per-tree-type geometry and callbacks; one const instance per type.
 */
struct ext4_btree_geo {
	const char *name;
	u16 tree_type;			/* EXT4_TREE_* */
	u16 key_size;			/* 1..EXT4_BTREE_MAX_KEY */
	u16 val_size;			/* leaf value size, 1..MAX_VAL */
	u16 max_entries;		/* cap on node capacity, 0 = none */
	enum ext4_btree_key_kind key_kind;
	/* <0, 0, >0 like memcmp; only for EXT4_BTREE_KEY_CUSTOM */
	int (*cmp_key)(const void *a, const void *b);
};

/*
 * A block as the host caches it.  The host owns the memory (it may embed
 * this in a larger structure); the tree owns state and tx_next.
 */
struct ext4_btree_buf {
	void *data;			/* block_size bytes */
	u64 blocknr;
	unsigned int state;		/* EXT4_BUF_*; host clears on reload */
	struct ext4_btree_buf *tx_next;	/* tree's transaction lists */
};

#define EXT4_BUF_VERIFIED	0x1	/* contents passed the read verifier */
#define EXT4_BUF_NEW		0x2	/* written in the current transaction */
#define EXT4_BUF_DIRTY		0x4	/* on the transaction's dirty list */

/*
 * What the host supplies.  All return 0 or a negative errno.
 */
struct ext4_btree_ops {
	/* Reference an existing block, reading it if not cached. */
	int (*read_block)(void *host, u64 blocknr, struct ext4_btree_buf **bufp);
	/* Reference a just-allocated block without reading it. */
	int (*new_block)(void *host, u64 blocknr, struct ext4_btree_buf **bufp);
	/* Drop a reference taken by read_block or new_block. */
	void (*put_block)(void *host, struct ext4_btree_buf *buf);
	/* Optional: the tree is about to modify buf (journal hook). */
	void (*dirty_block)(void *host, struct ext4_btree_buf *buf);
	/* Write buf->data to buf->blocknr (may be deferred to flush). */
	int (*write_block)(void *host, struct ext4_btree_buf *buf);
	/* Make every earlier write durable. */
	int (*flush)(void *host);
	/* Allocate one block, preferably near goal (0 = no preference). */
	int (*alloc_block)(void *host, u64 goal, u64 *blocknrp);
	/* Return a block to the free pool; its cached copy is dropped. */
	int (*free_block)(void *host, u64 blocknr);
	/* Persist tree->root/height/nr_records/nr_nodes (the root slot). */
	int (*commit_root)(void *host, struct ext4_btree *tree);
};

/* Update strategy, chosen by the host when it opens the tree */
enum ext4_btree_mode {
	EXT4_BTREE_COW,		/* shadow every changed node; atomic commit */
	EXT4_BTREE_INPLACE,	/* modify nodes in place (host journals) */
};

/*
 * One tree.  Fill it with ext4_btree_init(), then set the root fields
 * from the root slot.  Fields below "private" belong to the tree code.
 */
struct ext4_btree {
	const struct ext4_btree_geo *geo;
	const struct ext4_btree_ops *ops;
	void *host;
	u32 block_size;
	u32 csum_seed;
	u32 owner;			/* flex group number */
	enum ext4_btree_mode mode;

	/* Root slot contents; committed values outside a transaction */
	u64 root;			/* 0 = empty tree */
	u16 height;			/* 0 = empty tree */
	u64 nr_records;
	u64 nr_nodes;
	u64 generation;			/* of the last commit */

	/* private */
	u16 max_leaf;
	u16 max_node;
	u16 min_leaf;
	u16 min_node;
	bool in_txn;
	bool bulk_loaded;		/* txn was a bulk load; no more ops */
	u64 old_root;			/* state at txn begin, for abort */
	u16 old_height;
	u64 old_nr_records;
	u64 old_nr_nodes;
	u64 txn_gen;
	u64 alloc_goal;
	struct ext4_btree_buf *dirty_list;	/* NEW or modified nodes */
	struct ext4_btree_buf *free_list;	/* old nodes freed at commit */
};

int ext4_btree_init(struct ext4_btree *tree, const struct ext4_btree_geo *geo,
		    const struct ext4_btree_ops *ops, void *host,
		    u32 block_size, u32 csum_seed, u32 owner,
		    enum ext4_btree_mode mode);

/* Capacity of a leaf / interior node for this geometry and block size */
u16 ext4_btree_leaf_capacity(const struct ext4_btree_geo *geo, u32 block_size);
u16 ext4_btree_node_capacity(const struct ext4_btree_geo *geo, u32 block_size);

/*
 * Transactions.  Every modification happens between begin and
 * commit/abort.  Commit: write all new/changed nodes, flush, commit_root,
 * flush, free the replaced blocks.  Abort (COW mode): free the new blocks;
 * the committed tree was never written to and stays valid.  In in-place
 * mode abort cannot undo changes already made; the host's journal must.
 * After any failed modification the tree in the transaction may be
 * half-changed: abort is the only valid next call.
 * If commit fails before commit_root succeeded, the transaction is still
 * open and the caller aborts it.  If only the flush after commit_root
 * fails, the transaction is over (the new root stands), the replaced
 * blocks are leaked rather than freed, and the error is returned.
 */
int ext4_btree_begin(struct ext4_btree *tree);
int ext4_btree_commit(struct ext4_btree *tree);
void ext4_btree_abort(struct ext4_btree *tree);

/* Modifications; key/val are geo->key_size / geo->val_size bytes */
int ext4_btree_insert(struct ext4_btree *tree, const void *key,
		      const void *val);		/* -EEXIST if present */
int ext4_btree_update(struct ext4_btree *tree, const void *key,
		      const void *val);		/* -ENOENT if absent */
int ext4_btree_delete(struct ext4_btree *tree, const void *key);

/*
 * Replace the key and value of an existing entry.  The new key must keep
 * the order (greater than the previous entry's key, smaller than the
 * next's); -EINVAL otherwise.  Used to move a record's start.
 */
int ext4_btree_replace(struct ext4_btree *tree, const void *key,
		       const void *new_key, const void *new_val);

enum ext4_btree_lookup_mode {
	EXT4_BTREE_EQ,		/* exactly key */
	EXT4_BTREE_LE,		/* greatest key <= key */
	EXT4_BTREE_GE,		/* smallest key >= key */
};

/* 0 and the entry found (key_out/val_out may be NULL), or -ENOENT */
int ext4_btree_lookup(struct ext4_btree *tree, const void *key,
		      enum ext4_btree_lookup_mode mode,
		      void *key_out, void *val_out);

/*
 * Cursor for range iteration in either direction.  It holds references to
 * one root-to-leaf path; release it before modifying the tree.
 */
struct ext4_btree_cursor {
	struct ext4_btree *tree;
	int height;
	struct {
		struct ext4_btree_buf *buf;
		int idx;
	} path[EXT4_BTREE_MAX_HEIGHT];
};

void ext4_btree_cursor_init(struct ext4_btree_cursor *cur,
			    struct ext4_btree *tree);
/* Position on the entry chosen by mode; -ENOENT if there is none */
int ext4_btree_cursor_seek(struct ext4_btree_cursor *cur, const void *key,
			   enum ext4_btree_lookup_mode mode);
int ext4_btree_cursor_first(struct ext4_btree_cursor *cur);
int ext4_btree_cursor_last(struct ext4_btree_cursor *cur);
/* Move one entry; -ENOENT past either end (cursor then released) */
int ext4_btree_cursor_next(struct ext4_btree_cursor *cur);
int ext4_btree_cursor_prev(struct ext4_btree_cursor *cur);
const void *ext4_btree_cursor_key(const struct ext4_btree_cursor *cur);
const void *ext4_btree_cursor_val(const struct ext4_btree_cursor *cur);
void ext4_btree_cursor_release(struct ext4_btree_cursor *cur);

/*
 * Bulk load: replace the whole tree with nr sorted, unique entries pulled
 * from next().  fill_pct (50..100) sets how full nodes are; every node
 * still meets the minimum fill.  Must be the only operation of its
 * transaction; the old tree's blocks are freed at commit.
 */
typedef int (*ext4_btree_next_fn)(void *priv, void *key, void *val);
int ext4_btree_bulk_load(struct ext4_btree *tree, u64 nr,
			 unsigned int fill_pct, ext4_btree_next_fn next,
			 void *priv);

/* ---------------------------------------------------------------- */
/* Verification                                                      */
/* ---------------------------------------------------------------- */

/*
 * The verifier's problems and their words, once: X(name, words) for
 * EXT4_BTREE_<name>.  Userspace tools print the words
 * (ext4_btree_problem_words), so reflinkck and refdebug say the same.
 * BAD_BLOCKNR: bn_blocknr is not where the node lives; BAD_LEVEL: not the
 * parent's level - 1 or the root height's; BAD_GEOMETRY: max entries, key
 * or value size; BAD_NR_ENTRIES: 0, over max or under the minimum fill;
 * NODE_REACHED_TWICE: a cycle or a shared child.
 */
#define EXT4_BTREE_PROBLEM_LIST(X) \
	X(BAD_MAGIC, "bad magic") \
	X(BAD_CSUM, "bad checksum") \
	X(BAD_BLOCKNR, "wrong own block number") \
	X(BAD_OWNER, "wrong owner")	/* flex group */ \
	X(BAD_TREE_TYPE, "wrong tree type") \
	X(BAD_LEVEL, "wrong level") \
	X(BAD_GEOMETRY, "wrong geometry") \
	X(BAD_NR_ENTRIES, "bad entry count") \
	X(BAD_KEY_ORDER, "keys out of order")	/* not strictly increasing */ \
	X(KEY_OUT_OF_BOUNDS, "key outside its parent's range") \
	X(BAD_CHILD_PTR, "child pointer out of range") \
	X(NODE_REACHED_TWICE, "node reached twice") \
	X(DIRTY_TAIL, "unused space not zero") \
	X(BAD_RESERVED, "reserved field not zero")	/* in the header */ \
	X(READ_ERROR, "read error") \
	X(BAD_RECORD_COUNT, "record count differs from the root slot") \
	X(BAD_NODE_COUNT, "node count differs from the root slot") \
	X(BAD_HEIGHT, "bad height")	/* root slot height invalid */ \
	X(BAD_GENERATION, "written after the last commit")

enum ext4_btree_problem_code {
	EXT4_BTREE_NO_PROBLEM = 0,
#define EXT4_BTREE_PROBLEM_ENUM(name, words) EXT4_BTREE_##name,
	EXT4_BTREE_PROBLEM_LIST(EXT4_BTREE_PROBLEM_ENUM)
#undef EXT4_BTREE_PROBLEM_ENUM
	EXT4_BTREE_PROBLEM_MAX,
};

/* The words of a problem code; "unknown problem" for any other value */
const char *ext4_btree_problem_words(int code);

struct ext4_btree_problem {
	enum ext4_btree_problem_code code;
	u64 blocknr;		/* node, or 0 for the root slot */
	int level;		/* expected level, -1 if unknown */
	int index;		/* entry index, -1 if none */
	u64 expected;
	u64 found;
};

struct ext4_btree_verify_ops {
	/* Every problem; return non-zero to stop the walk. */
	int (*report)(void *priv, const struct ext4_btree_problem *p);
	/* Optional: is blocknr a place a node may live (in its flex group,
	 * not fs metadata)?  Return true if fine. */
	bool (*valid_block)(void *priv, u64 blocknr);
	/* Optional: mark blocknr seen; return true if it was seen before. */
	bool (*test_and_set_seen)(void *priv, u64 blocknr);
	/* Optional: each leaf record in key order, with the previous one
	 * (NULL first); return non-zero to stop. */
	int (*record)(void *priv, const void *key, const void *val,
		      const void *prev_key, const void *prev_val);
	/* Optional: each node that passed its checks, with its level. */
	int (*node)(void *priv, u64 blocknr, int level);
};

/*
 * Walk the committed tree and report every structural problem.  Returns
 * the number of problems found (>= 0), or a negative errno if the walk
 * itself failed (e.g. out of memory in the host).  Nodes that fail magic,
 * checksum, geometry or level checks are not descended into.
 */
long ext4_btree_verify(struct ext4_btree *tree,
		       const struct ext4_btree_verify_ops *vops, void *priv);

/*
 * Check one node image as it would be checked on read: 0, -EFSBADCRC or
 * -EFSCORRUPTED.  level < 0 skips the level check.  Exposed for tools that
 * decode single blocks.
 */
int ext4_btree_check_node(const struct ext4_btree *tree, const void *data,
			  u64 blocknr, int level,
			  struct ext4_btree_problem *p);

/* Node checksum as stored in bn_checksum */
u32 ext4_btree_node_csum(const struct ext4_btree *tree, const void *data);

/* Free every block of the committed tree (used when stripping). */
int ext4_btree_destroy(struct ext4_btree *tree);

#endif /* EXT4_BTREE_H */

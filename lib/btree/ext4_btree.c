// SPDX-License-Identifier: GPL-2.0
/*
 * ext4_btree.c - generic on-disk B-tree with copy-on-write transactions.
 *
 * Nodes are whole blocks (see reflink_format.h).  Interior key i is a lower
 * bound of child i's subtree.  Paths are kept in a cursor indexed by level
 * (0 = leaf); every buffer in a path holds one host reference.
 *
 * A modification first walks down read-only, then makes the path writable
 * from the root down: in COW mode a node not yet written in this
 * transaction is copied to a new block and its parent repointed.  Nodes
 * made writable sit on the transaction's dirty list until commit; nodes
 * replaced or removed sit on the free list (or are flagged FREED on the
 * dirty list) and are returned to the host only after the root switch.
 *
 * One file over the project's 1,000-line rule, on purpose: it is copied
 * into the kernel as one unit, and its cursor, COW and node helpers are
 * static to it; split, they would become exported symbols of the kernel
 * copy and the shared file list would grow for no reader's gain.
 */
#include "ext4_btree.h"

#define HDR_SIZE	((u32)sizeof(struct ext4_btree_node_head))
#define CHILD_SIZE	8u

/* Tree-private buffer state bits, next to the public ones */
#define EXT4_BUF_FREED		0x8	/* left the tree in this transaction */
#define EXT4_BUF_RETIRED	0x10	/* on the free list: never reach it again */

struct bt_frame;

/* ---------------------------------------------------------------- */
/* Node accessors                                                    */
/* ---------------------------------------------------------------- */

static inline struct ext4_btree_node_head *node_head(void *data)
{
	return data;
}

static inline const struct ext4_btree_node_head *cnode_head(const void *data)
{
	return data;
}

static inline unsigned int node_nr(const void *data)
{
	return le16_to_cpu(cnode_head(data)->bn_nr_entries);
}

static inline void set_node_nr(void *data, unsigned int nr)
{
	node_head(data)->bn_nr_entries = cpu_to_le16(nr);
}

static inline unsigned int node_level(const void *data)
{
	return le16_to_cpu(cnode_head(data)->bn_level);
}

static inline unsigned int level_max(const struct ext4_btree *t,
				     unsigned int level)
{
	return level ? t->max_node : t->max_leaf;
}

static inline unsigned int level_min(const struct ext4_btree *t,
				     unsigned int level)
{
	return level ? t->min_node : t->min_leaf;
}

static inline unsigned int level_vsize(const struct ext4_btree *t,
				       unsigned int level)
{
	return level ? CHILD_SIZE : t->geo->val_size;
}

static inline u8 *key_at(const struct ext4_btree *t, const void *data,
			 unsigned int i)
{
	return (u8 *)data + HDR_SIZE + i * t->geo->key_size;
}

static inline u8 *val_at(const struct ext4_btree *t, const void *data,
			 unsigned int level, unsigned int i)
{
	return (u8 *)data + HDR_SIZE + level_max(t, level) * t->geo->key_size +
	       i * level_vsize(t, level);
}

static inline u64 child_at(const struct ext4_btree *t, const void *data,
			   unsigned int i)
{
	__le64 v;

	memcpy(&v, val_at(t, data, 1, i), sizeof(v));
	return le64_to_cpu(v);
}

static inline void set_child(const struct ext4_btree *t, void *data,
			     unsigned int i, u64 blk)
{
	__le64 v = cpu_to_le64(blk);

	memcpy(val_at(t, data, 1, i), &v, sizeof(v));
}

static int cmp_keys(const struct ext4_btree *t, const void *a, const void *b)
{
	switch (t->geo->key_kind) {
	case EXT4_BTREE_KEY_LE32: {
		__le32 x, y;

		memcpy(&x, a, 4);
		memcpy(&y, b, 4);
		if (le32_to_cpu(x) == le32_to_cpu(y))
			return 0;
		return le32_to_cpu(x) < le32_to_cpu(y) ? -1 : 1;
	}
	case EXT4_BTREE_KEY_LE64: {
		__le64 x, y;

		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		if (le64_to_cpu(x) == le64_to_cpu(y))
			return 0;
		return le64_to_cpu(x) < le64_to_cpu(y) ? -1 : 1;
	}
	default:
		return t->geo->cmp_key(a, b);
	}
}

/* Index of the last entry whose key is <= key, or -1 */
static int node_search(const struct ext4_btree *t, const void *data,
		       const void *key)
{
	unsigned int lo = 0, hi = node_nr(data), mid;
	const u8 *keys = key_at(t, data, 0);

	switch (t->geo->key_kind) {
	case EXT4_BTREE_KEY_LE32: {
		__le32 k, m;
		u32 want;

		memcpy(&k, key, 4);
		want = le32_to_cpu(k);
		while (lo < hi) {
			mid = (lo + hi) / 2;
			memcpy(&m, keys + mid * 4, 4);
			if (le32_to_cpu(m) <= want)
				lo = mid + 1;
			else
				hi = mid;
		}
		break;
	}
	case EXT4_BTREE_KEY_LE64: {
		__le64 k, m;
		u64 want;

		memcpy(&k, key, 8);
		want = le64_to_cpu(k);
		while (lo < hi) {
			mid = (lo + hi) / 2;
			memcpy(&m, keys + mid * 8, 8);
			if (le64_to_cpu(m) <= want)
				lo = mid + 1;
			else
				hi = mid;
		}
		break;
	}
	default:
		while (lo < hi) {
			mid = (lo + hi) / 2;
			if (t->geo->cmp_key(keys + mid * t->geo->key_size,
					    key) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		break;
	}
	return (int)lo - 1;
}

/* Index of the first key not greater than its predecessor, or 0 */
static unsigned int first_unordered(const struct ext4_btree *t,
				    const void *data, unsigned int nr)
{
	const u8 *keys = key_at(t, data, 0);
	unsigned int i;

	switch (t->geo->key_kind) {
	case EXT4_BTREE_KEY_LE32: {
		__le32 a, b;

		for (i = 1; i < nr; i++) {
			memcpy(&a, keys + (i - 1) * 4, 4);
			memcpy(&b, keys + i * 4, 4);
			if (le32_to_cpu(a) >= le32_to_cpu(b))
				return i;
		}
		return 0;
	}
	case EXT4_BTREE_KEY_LE64: {
		__le64 a, b;

		for (i = 1; i < nr; i++) {
			memcpy(&a, keys + (i - 1) * 8, 8);
			memcpy(&b, keys + i * 8, 8);
			if (le64_to_cpu(a) >= le64_to_cpu(b))
				return i;
		}
		return 0;
	}
	default:
		for (i = 1; i < nr; i++)
			if (t->geo->cmp_key(keys + (i - 1) * t->geo->key_size,
					    keys + i * t->geo->key_size) >= 0)
				return i;
		return 0;
	}
}

/* Zero entries [from, to) so unused space stays zero on disk */
static void clear_entries(const struct ext4_btree *t, void *data,
			  unsigned int level, unsigned int from,
			  unsigned int to)
{
	if (from >= to)
		return;
	memset(key_at(t, data, from), 0, (to - from) * t->geo->key_size);
	memset(val_at(t, data, level, from), 0,
	       (to - from) * level_vsize(t, level));
}

/* Open a gap of one entry at pos (the node has room) */
static void open_gap(const struct ext4_btree *t, void *data,
		     unsigned int level, unsigned int pos)
{
	unsigned int nr = node_nr(data);
	unsigned int ks = t->geo->key_size, vs = level_vsize(t, level);

	memmove(key_at(t, data, pos + 1), key_at(t, data, pos),
		(nr - pos) * ks);
	memmove(val_at(t, data, level, pos + 1), val_at(t, data, level, pos),
		(nr - pos) * vs);
	set_node_nr(data, nr + 1);
}

static void put_entry(const struct ext4_btree *t, void *data,
		      unsigned int level, unsigned int pos, const void *key,
		      const void *val)
{
	memcpy(key_at(t, data, pos), key, t->geo->key_size);
	memcpy(val_at(t, data, level, pos), val, level_vsize(t, level));
}

static void remove_entry(const struct ext4_btree *t, void *data,
			 unsigned int level, unsigned int pos)
{
	unsigned int nr = node_nr(data);
	unsigned int ks = t->geo->key_size, vs = level_vsize(t, level);

	memmove(key_at(t, data, pos), key_at(t, data, pos + 1),
		(nr - pos - 1) * ks);
	memmove(val_at(t, data, level, pos), val_at(t, data, level, pos + 1),
		(nr - pos - 1) * vs);
	clear_entries(t, data, level, nr - 1, nr);
	set_node_nr(data, nr - 1);
}

/* Copy n entries from src[sfrom] to dst[dfrom] (distinct nodes) */
static void copy_entries(const struct ext4_btree *t, void *dst,
			 unsigned int dfrom, const void *src,
			 unsigned int sfrom, unsigned int n,
			 unsigned int level)
{
	memcpy(key_at(t, dst, dfrom), key_at(t, src, sfrom),
	       n * t->geo->key_size);
	memcpy(val_at(t, dst, level, dfrom), val_at(t, src, level, sfrom),
	       n * level_vsize(t, level));
}

/* ---------------------------------------------------------------- */
/* Checksums and node checks                                         */
/* ---------------------------------------------------------------- */

u32 ext4_btree_node_csum(const struct ext4_btree *tree, const void *data)
{
	const u8 *p = data;
	u32 zero = 0;
	u32 crc;

	crc = crc32c(tree->csum_seed, p, 4);
	crc = crc32c(crc, &zero, 4);
	return crc32c(crc, p + 8, tree->block_size - 8);
}

static bool bt_all_zero(const u8 *p, u32 len)
{
	/* each byte equals the next and the first is 0 */
	return !len || (!p[0] && !memcmp(p, p + 1, len - 1));
}

static int set_problem(struct ext4_btree_problem *p,
		       enum ext4_btree_problem_code code, u64 blocknr,
		       int level, int index, u64 expected, u64 found)
{
	if (p) {
		p->code = code;
		p->blocknr = blocknr;
		p->level = level;
		p->index = index;
		p->expected = expected;
		p->found = found;
	}
	return code == EXT4_BTREE_BAD_CSUM ? -EFSBADCRC : -EFSCORRUPTED;
}

/*
 * Everything one node can be checked for on its own.  Parent bounds, min
 * fill and reachability need the tree and are checked by the walk.
 */
static int check_node(const struct ext4_btree *t, const void *data,
		      u64 blocknr, int level, bool csum,
		      struct ext4_btree_problem *p)
{
	const struct ext4_btree_node_head *h = data;
	unsigned int lvl, nr, max, vs, i;
	const u8 *end;

	if (le32_to_cpu(h->bn_magic) != EXT4_BTREE_MAGIC)
		return set_problem(p, EXT4_BTREE_BAD_MAGIC, blocknr, level,
				   -1, EXT4_BTREE_MAGIC,
				   le32_to_cpu(h->bn_magic));
	if (csum && le32_to_cpu(h->bn_checksum) !=
		    ext4_btree_node_csum(t, data))
		return set_problem(p, EXT4_BTREE_BAD_CSUM, blocknr, level, -1,
				   ext4_btree_node_csum(t, data),
				   le32_to_cpu(h->bn_checksum));
	if (le64_to_cpu(h->bn_blocknr) != blocknr)
		return set_problem(p, EXT4_BTREE_BAD_BLOCKNR, blocknr, level,
				   -1, blocknr, le64_to_cpu(h->bn_blocknr));
	if (le32_to_cpu(h->bn_owner) != t->owner)
		return set_problem(p, EXT4_BTREE_BAD_OWNER, blocknr, level, -1,
				   t->owner, le32_to_cpu(h->bn_owner));
	if (le16_to_cpu(h->bn_tree_type) != t->geo->tree_type)
		return set_problem(p, EXT4_BTREE_BAD_TREE_TYPE, blocknr, level,
				   -1, t->geo->tree_type,
				   le16_to_cpu(h->bn_tree_type));
	lvl = le16_to_cpu(h->bn_level);
	if ((level >= 0 && lvl != (unsigned int)level) ||
	    lvl >= EXT4_BTREE_MAX_HEIGHT)
		return set_problem(p, EXT4_BTREE_BAD_LEVEL, blocknr, level, -1,
				   level >= 0 ? (u64)level : 0, lvl);
	max = level_max(t, lvl);
	vs = level_vsize(t, lvl);
	if (le16_to_cpu(h->bn_max_entries) != max)
		return set_problem(p, EXT4_BTREE_BAD_GEOMETRY, blocknr, lvl,
				   -1, max, le16_to_cpu(h->bn_max_entries));
	if (le16_to_cpu(h->bn_key_size) != t->geo->key_size)
		return set_problem(p, EXT4_BTREE_BAD_GEOMETRY, blocknr, lvl,
				   -1, t->geo->key_size,
				   le16_to_cpu(h->bn_key_size));
	if (le16_to_cpu(h->bn_val_size) != vs)
		return set_problem(p, EXT4_BTREE_BAD_GEOMETRY, blocknr, lvl,
				   -1, vs, le16_to_cpu(h->bn_val_size));
	nr = le16_to_cpu(h->bn_nr_entries);
	if (nr == 0 || nr > max)
		return set_problem(p, EXT4_BTREE_BAD_NR_ENTRIES, blocknr, lvl,
				   -1, max, nr);
	if (h->bn_reserved)
		return set_problem(p, EXT4_BTREE_BAD_RESERVED, blocknr, lvl,
				   -1, 0, le64_to_cpu(h->bn_reserved));
	i = first_unordered(t, data, nr);
	if (i)
		return set_problem(p, EXT4_BTREE_BAD_KEY_ORDER, blocknr, lvl, i,
				   0, 0);
	if (!bt_all_zero(key_at(t, data, nr), (max - nr) * t->geo->key_size))
		return set_problem(p, EXT4_BTREE_DIRTY_TAIL, blocknr, lvl, nr,
				   0, 0);
	if (!bt_all_zero(val_at(t, data, lvl, nr), (max - nr) * vs))
		return set_problem(p, EXT4_BTREE_DIRTY_TAIL, blocknr, lvl, nr,
				   0, 0);
	end = val_at(t, data, lvl, max);
	if (!bt_all_zero(end, t->block_size - (u32)(end - (const u8 *)data)))
		return set_problem(p, EXT4_BTREE_DIRTY_TAIL, blocknr, lvl, max,
				   0, 0);
	if (lvl) {
		for (i = 0; i < nr; i++) {
			u64 c = child_at(t, data, i);

			if (c == 0 || c == blocknr)
				return set_problem(p, EXT4_BTREE_BAD_CHILD_PTR,
						   blocknr, lvl, i, 0, c);
		}
	}
	return 0;
}

int ext4_btree_check_node(const struct ext4_btree *tree, const void *data,
			  u64 blocknr, int level,
			  struct ext4_btree_problem *p)
{
	return check_node(tree, data, blocknr, level, true, p);
}

/* Checksum a node about to be written, refusing to write a bad one */
static int seal_node(struct ext4_btree *t, struct ext4_btree_buf *buf)
{
	struct ext4_btree_node_head *h = buf->data;
	int err;

	err = check_node(t, buf->data, buf->blocknr, -1, false, NULL);
	if (err)
		return err;
	h->bn_checksum = cpu_to_le32(ext4_btree_node_csum(t, buf->data));
	return 0;
}

/* ---------------------------------------------------------------- */
/* Buffers and the transaction lists                                 */
/* ---------------------------------------------------------------- */

static inline void put_buf(struct ext4_btree *t, struct ext4_btree_buf *buf)
{
	if (buf)
		t->ops->put_block(t->host, buf);
}

/* Take a second reference to a buffer the caller holds */
static int ref_buf(struct ext4_btree *t, struct ext4_btree_buf *buf)
{
	struct ext4_btree_buf *again;
	int err;

	err = t->ops->read_block(t->host, buf->blocknr, &again);
	if (err)
		return err;
	if (again != buf) {
		/* the host must return the cached buffer we already hold */
		put_buf(t, again);
		return -EIO;
	}
	return 0;
}

static int read_node(struct ext4_btree *t, u64 blocknr, int level,
		     struct ext4_btree_buf **bufp)
{
	struct ext4_btree_buf *buf;
	int err;

	if (!blocknr)
		return -EFSCORRUPTED;
	err = t->ops->read_block(t->host, blocknr, &buf);
	if (err)
		return err;
	if (unlikely(buf->state & (EXT4_BUF_RETIRED | EXT4_BUF_FREED))) {
		/* a node replaced in this transaction has a second parent */
		put_buf(t, buf);
		return -EFSCORRUPTED;
	}
	if (!(buf->state & EXT4_BUF_VERIFIED)) {
		err = check_node(t, buf->data, blocknr, level, true, NULL);
		if (err) {
			put_buf(t, buf);
			return err;
		}
		buf->state |= EXT4_BUF_VERIFIED;
	} else if (level >= 0 && node_level(buf->data) != (unsigned int)level) {
		put_buf(t, buf);
		return -EFSCORRUPTED;
	}
	*bufp = buf;
	return 0;
}

static void init_node(struct ext4_btree *t, void *data, u64 blocknr,
		      unsigned int level)
{
	struct ext4_btree_node_head *h = data;

	memset(data, 0, t->block_size);
	h->bn_magic = cpu_to_le32(EXT4_BTREE_MAGIC);
	h->bn_blocknr = cpu_to_le64(blocknr);
	h->bn_generation = cpu_to_le64(t->txn_gen);
	h->bn_owner = cpu_to_le32(t->owner);
	h->bn_tree_type = cpu_to_le16(t->geo->tree_type);
	h->bn_level = cpu_to_le16(level);
	h->bn_max_entries = cpu_to_le16(level_max(t, level));
	h->bn_key_size = cpu_to_le16(t->geo->key_size);
	h->bn_val_size = cpu_to_le16(level_vsize(t, level));
}

/* Allocate a block and reference its buffer; not on any list yet */
static int alloc_buf(struct ext4_btree *t, struct ext4_btree_buf **bufp)
{
	struct ext4_btree_buf *buf;
	u64 blk;
	int err;

	err = t->ops->alloc_block(t->host, t->alloc_goal, &blk);
	if (err)
		return err;
	if (!blk)
		return -EIO;	/* 0 means "no block": a host bug */
	err = t->ops->new_block(t->host, blk, &buf);
	if (err) {
		t->ops->free_block(t->host, blk);
		return err;
	}
	t->alloc_goal = blk + 1;
	*bufp = buf;
	return 0;
}

/* Put buf on the dirty list; the list takes its own reference */
static int add_dirty(struct ext4_btree *t, struct ext4_btree_buf *buf)
{
	int err = ref_buf(t, buf);

	if (err)
		return err;
	buf->state |= EXT4_BUF_DIRTY;
	buf->tx_next = t->dirty_list;
	t->dirty_list = buf;
	if (t->ops->dirty_block)
		t->ops->dirty_block(t->host, buf);
	return 0;
}

/* A fresh, writable node; the caller gets one reference */
static int new_node(struct ext4_btree *t, unsigned int level,
		    struct ext4_btree_buf **bufp)
{
	struct ext4_btree_buf *buf;
	int err;

	err = alloc_buf(t, &buf);
	if (err)
		return err;
	init_node(t, buf->data, buf->blocknr, level);
	buf->state = EXT4_BUF_NEW | EXT4_BUF_VERIFIED;
	err = add_dirty(t, buf);
	if (err) {
		u64 blk = buf->blocknr;

		buf->state = 0;
		put_buf(t, buf);
		t->ops->free_block(t->host, blk);
		return err;
	}
	t->nr_nodes++;
	*bufp = buf;
	return 0;
}

/*
 * The node in *bufp leaves the tree; consumes the caller's reference.
 * Blocks are handed back to the host only after commit.
 */
static void free_node(struct ext4_btree *t, struct ext4_btree_buf *buf)
{
	if (buf->state & EXT4_BUF_DIRTY) {
		buf->state |= EXT4_BUF_FREED;
		put_buf(t, buf);
	} else {
		buf->state |= EXT4_BUF_RETIRED;
		buf->tx_next = t->free_list;
		t->free_list = buf;
	}
	t->nr_nodes--;
}

/*
 * Make *bufp writable.  parent/pidx say where it hangs (parent NULL for
 * the root); the parent must already be writable.  In COW mode a node not
 * written in this transaction is copied to a new block.
 */
static int make_writable(struct ext4_btree *t, struct ext4_btree_buf **bufp,
			 struct ext4_btree_buf *parent, unsigned int pidx)
{
	struct ext4_btree_buf *old = *bufp, *nb;
	struct ext4_btree_node_head *h;
	int err;

	if (old->state & EXT4_BUF_DIRTY)
		return 0;
	if (unlikely(old->state & EXT4_BUF_RETIRED))
		return -EFSCORRUPTED;

	if (t->mode == EXT4_BTREE_INPLACE) {
		err = add_dirty(t, old);
		if (err)
			return err;
		h = old->data;
		h->bn_generation = cpu_to_le64(t->txn_gen);
		return 0;
	}

	err = alloc_buf(t, &nb);
	if (err)
		return err;
	memcpy(nb->data, old->data, t->block_size);
	h = nb->data;
	h->bn_blocknr = cpu_to_le64(nb->blocknr);
	h->bn_generation = cpu_to_le64(t->txn_gen);
	nb->state = EXT4_BUF_NEW | EXT4_BUF_VERIFIED;
	err = add_dirty(t, nb);
	if (err) {
		u64 blk = nb->blocknr;

		nb->state = 0;
		put_buf(t, nb);
		t->ops->free_block(t->host, blk);
		return err;
	}
	if (parent)
		set_child(t, parent->data, pidx, nb->blocknr);
	else
		t->root = nb->blocknr;

	/* the old copy waits for commit on the free list */
	old->state |= EXT4_BUF_RETIRED;
	old->tx_next = t->free_list;
	t->free_list = old;
	*bufp = nb;
	return 0;
}

static int require_txn(struct ext4_btree *t)
{
	if (!t->in_txn)
		return -EINVAL;
	if (t->bulk_loaded)
		return -EBUSY;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Setup                                                             */
/* ---------------------------------------------------------------- */

static u16 capacity(const struct ext4_btree_geo *geo, u32 block_size,
		    u32 vsize)
{
	u32 n;

	if (block_size <= HDR_SIZE)
		return 0;
	n = (block_size - HDR_SIZE) / (geo->key_size + vsize);
	if (geo->max_entries && n > geo->max_entries)
		n = geo->max_entries;
	return n > 0xffff ? 0xffff : n;
}

u16 ext4_btree_leaf_capacity(const struct ext4_btree_geo *geo, u32 block_size)
{
	return capacity(geo, block_size, geo->val_size);
}

u16 ext4_btree_node_capacity(const struct ext4_btree_geo *geo, u32 block_size)
{
	return capacity(geo, block_size, CHILD_SIZE);
}

int ext4_btree_init(struct ext4_btree *tree, const struct ext4_btree_geo *geo,
		    const struct ext4_btree_ops *ops, void *host,
		    u32 block_size, u32 csum_seed, u32 owner,
		    enum ext4_btree_mode mode)
{
	if (!geo || !ops || !geo->key_size ||
	    geo->key_size > EXT4_BTREE_MAX_KEY || !geo->val_size ||
	    geo->val_size > EXT4_BTREE_MAX_VAL ||
	    (geo->key_kind == EXT4_BTREE_KEY_LE32 && geo->key_size != 4) ||
	    (geo->key_kind == EXT4_BTREE_KEY_LE64 && geo->key_size != 8) ||
	    (geo->key_kind == EXT4_BTREE_KEY_CUSTOM && !geo->cmp_key) ||
	    block_size < 256 || (block_size & (block_size - 1)))
		return -EINVAL;

	memset(tree, 0, sizeof(*tree));
	tree->geo = geo;
	tree->ops = ops;
	tree->host = host;
	tree->block_size = block_size;
	tree->csum_seed = csum_seed;
	tree->owner = owner;
	tree->mode = mode;
	tree->max_leaf = ext4_btree_leaf_capacity(geo, block_size);
	tree->max_node = ext4_btree_node_capacity(geo, block_size);
	if (tree->max_leaf < EXT4_BTREE_MIN_ENTRIES ||
	    tree->max_node < EXT4_BTREE_MIN_ENTRIES)
		return -EINVAL;
	tree->min_leaf = tree->max_leaf / 2;
	tree->min_node = tree->max_node / 2;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Cursor                                                            */
/* ---------------------------------------------------------------- */

/* Only path[0 .. height) is ever meaningful; the rest is not cleared */
void ext4_btree_cursor_init(struct ext4_btree_cursor *cur,
			    struct ext4_btree *tree)
{
	cur->tree = tree;
	cur->height = 0;
}

void ext4_btree_cursor_release(struct ext4_btree_cursor *cur)
{
	int l;

	for (l = 0; l < cur->height; l++) {
		put_buf(cur->tree, cur->path[l].buf);
		cur->path[l].buf = NULL;
	}
	cur->height = 0;
}

/* Release the cursor and size its path for a tree of the given height */
static void path_reset(struct ext4_btree_cursor *cur, int height)
{
	int l;

	ext4_btree_cursor_release(cur);
	for (l = 0; l < height; l++)
		cur->path[l].buf = NULL;
	cur->height = height;
}

/*
 * Walk from the root to a leaf: at each level take the child holding key
 * (the first child if key is below every key).  path[0].idx is the last
 * leaf entry <= key, or -1.
 */
static int descend(struct ext4_btree_cursor *cur, const void *key)
{
	struct ext4_btree *t = cur->tree;
	u64 blk = t->root;
	int level, idx, err;

	ext4_btree_cursor_release(cur);
	if (!t->height)
		return -ENOENT;
	if (t->height > EXT4_BTREE_MAX_HEIGHT)
		return -EFSCORRUPTED;
	path_reset(cur, t->height);
	for (level = t->height - 1; level >= 0; level--) {
		err = read_node(t, blk, level, &cur->path[level].buf);
		if (err)
			goto fail;
		idx = node_search(t, cur->path[level].buf->data, key);
		if (level > 0) {
			if (idx < 0)
				idx = 0;
			blk = child_at(t, cur->path[level].buf->data, idx);
		}
		cur->path[level].idx = idx;
	}
	return 0;
fail:
	ext4_btree_cursor_release(cur);
	return err;
}

/* Fill path levels below 'level' along the first (or last) children */
static int descend_edge(struct ext4_btree_cursor *cur, int level, bool last)
{
	struct ext4_btree *t = cur->tree;
	int err;

	while (level > 0) {
		void *data = cur->path[level].buf->data;
		u64 blk = child_at(t, data, cur->path[level].idx);

		level--;
		put_buf(t, cur->path[level].buf);
		cur->path[level].buf = NULL;
		err = read_node(t, blk, level, &cur->path[level].buf);
		if (err)
			return err;
		cur->path[level].idx =
			last ? (int)node_nr(cur->path[level].buf->data) - 1 : 0;
	}
	return 0;
}

static int cursor_edge(struct ext4_btree_cursor *cur, bool last)
{
	struct ext4_btree *t = cur->tree;
	int top, err;

	ext4_btree_cursor_release(cur);
	if (!t->height)
		return -ENOENT;
	if (t->height > EXT4_BTREE_MAX_HEIGHT)
		return -EFSCORRUPTED;
	path_reset(cur, t->height);
	top = t->height - 1;
	err = read_node(t, t->root, top, &cur->path[top].buf);
	if (err)
		goto fail;
	cur->path[top].idx = last ? (int)node_nr(cur->path[top].buf->data) - 1
				  : 0;
	err = descend_edge(cur, top, last);
	if (err)
		goto fail;
	return 0;
fail:
	ext4_btree_cursor_release(cur);
	return err;
}

int ext4_btree_cursor_first(struct ext4_btree_cursor *cur)
{
	return cursor_edge(cur, false);
}

int ext4_btree_cursor_last(struct ext4_btree_cursor *cur)
{
	return cursor_edge(cur, true);
}

int ext4_btree_cursor_next(struct ext4_btree_cursor *cur)
{
	int level, err;

	if (!cur->height)
		return -ENOENT;
	if (cur->path[0].idx + 1 < (int)node_nr(cur->path[0].buf->data)) {
		cur->path[0].idx++;
		return 0;
	}
	for (level = 1; level < cur->height; level++)
		if (cur->path[level].idx + 1 <
		    (int)node_nr(cur->path[level].buf->data))
			break;
	if (level >= cur->height) {
		ext4_btree_cursor_release(cur);
		return -ENOENT;
	}
	cur->path[level].idx++;
	err = descend_edge(cur, level, false);
	if (err)
		ext4_btree_cursor_release(cur);
	return err;
}

int ext4_btree_cursor_prev(struct ext4_btree_cursor *cur)
{
	int level, err;

	if (!cur->height)
		return -ENOENT;
	if (cur->path[0].idx > 0) {
		cur->path[0].idx--;
		return 0;
	}
	for (level = 1; level < cur->height; level++)
		if (cur->path[level].idx > 0)
			break;
	if (level >= cur->height) {
		ext4_btree_cursor_release(cur);
		return -ENOENT;
	}
	cur->path[level].idx--;
	err = descend_edge(cur, level, true);
	if (err)
		ext4_btree_cursor_release(cur);
	return err;
}

int ext4_btree_cursor_seek(struct ext4_btree_cursor *cur, const void *key,
			   enum ext4_btree_lookup_mode mode)
{
	struct ext4_btree *t = cur->tree;
	const void *leaf;
	int idx, err;

	err = descend(cur, key);
	if (err)
		return err;
	leaf = cur->path[0].buf->data;
	idx = cur->path[0].idx;
	if (idx >= 0 && !cmp_keys(t, key_at(t, leaf, idx), key))
		return 0;
	switch (mode) {
	case EXT4_BTREE_LE:
		if (idx >= 0)
			return 0;
		cur->path[0].idx = 0;
		return ext4_btree_cursor_prev(cur);
	case EXT4_BTREE_GE:
		/* idx + 1 may be past this leaf: step from its last entry */
		cur->path[0].idx = idx + 1;
		if (idx + 1 < (int)node_nr(leaf))
			return 0;
		cur->path[0].idx = idx;
		return ext4_btree_cursor_next(cur);
	default:
		ext4_btree_cursor_release(cur);
		return -ENOENT;
	}
}

const void *ext4_btree_cursor_key(const struct ext4_btree_cursor *cur)
{
	return key_at(cur->tree, cur->path[0].buf->data, cur->path[0].idx);
}

const void *ext4_btree_cursor_val(const struct ext4_btree_cursor *cur)
{
	return val_at(cur->tree, cur->path[0].buf->data, 0, cur->path[0].idx);
}

int ext4_btree_lookup(struct ext4_btree *tree, const void *key,
		      enum ext4_btree_lookup_mode mode, void *key_out,
		      void *val_out)
{
	struct ext4_btree_cursor cur;
	int err;

	ext4_btree_cursor_init(&cur, tree);
	err = ext4_btree_cursor_seek(&cur, key, mode);
	if (err)
		return err;
	if (key_out)
		memcpy(key_out, ext4_btree_cursor_key(&cur),
		       tree->geo->key_size);
	if (val_out)
		memcpy(val_out, ext4_btree_cursor_val(&cur),
		       tree->geo->val_size);
	ext4_btree_cursor_release(&cur);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Transactions                                                      */
/* ---------------------------------------------------------------- */

int ext4_btree_begin(struct ext4_btree *tree)
{
	if (tree->in_txn)
		return -EBUSY;
	tree->in_txn = true;
	tree->bulk_loaded = false;
	tree->old_root = tree->root;
	tree->old_height = tree->height;
	tree->old_nr_records = tree->nr_records;
	tree->old_nr_nodes = tree->nr_nodes;
	tree->txn_gen = tree->generation + 1;
	if (!tree->alloc_goal)
		tree->alloc_goal = tree->root;
	tree->dirty_list = NULL;
	tree->free_list = NULL;
	return 0;
}

static int free_tree(struct ext4_btree *t, u64 root, unsigned int height);

/*
 * Drop the transaction's lists.  committed: free what the new tree no
 * longer uses, unless free_old is false (the switch may not be durable,
 * so leaking is the safe side).  Aborted: free the new blocks.
 */
static void end_txn(struct ext4_btree *t, bool committed, bool free_old)
{
	struct ext4_btree_buf *buf, *next;
	bool cow = t->mode == EXT4_BTREE_COW;

	for (buf = t->dirty_list; buf; buf = next) {
		u64 blk = buf->blocknr;
		bool drop = committed ? free_old && buf->state & EXT4_BUF_FREED :
					buf->state & EXT4_BUF_NEW;

		next = buf->tx_next;
		buf->tx_next = NULL;
		if (!committed && !cow)
			buf->state &= ~EXT4_BUF_VERIFIED;
		buf->state &= ~(EXT4_BUF_DIRTY | EXT4_BUF_NEW | EXT4_BUF_FREED);
		put_buf(t, buf);
		if (drop)
			t->ops->free_block(t->host, blk);
	}
	for (buf = t->free_list; buf; buf = next) {
		u64 blk = buf->blocknr;

		next = buf->tx_next;
		buf->tx_next = NULL;
		buf->state &= ~EXT4_BUF_RETIRED;
		put_buf(t, buf);
		if (committed && free_old)
			t->ops->free_block(t->host, blk);
	}
	t->dirty_list = NULL;
	t->free_list = NULL;
	t->in_txn = false;
}

int ext4_btree_commit(struct ext4_btree *tree)
{
	struct ext4_btree_buf *buf;
	int err;

	if (!tree->in_txn)
		return -EINVAL;
	for (buf = tree->dirty_list; buf; buf = buf->tx_next) {
		if (buf->state & EXT4_BUF_FREED)
			continue;
		err = seal_node(tree, buf);
		if (err)
			return err;
		err = tree->ops->write_block(tree->host, buf);
		if (err)
			return err;
	}
	err = tree->ops->flush(tree->host);
	if (err)
		return err;
	tree->generation = tree->txn_gen;
	err = tree->ops->commit_root(tree->host, tree);
	if (err) {
		tree->generation = tree->txn_gen - 1;
		return err;
	}
	/*
	 * The root may be on disk now, so the transaction is over whatever
	 * the flush says.  Only a durable switch makes the old blocks free.
	 */
	err = tree->ops->flush(tree->host);
	end_txn(tree, true, !err);
	if (!err && tree->bulk_loaded && tree->old_root &&
	    tree->old_root != tree->root)
		free_tree(tree, tree->old_root, tree->old_height);
	tree->bulk_loaded = false;
	return err;
}

void ext4_btree_abort(struct ext4_btree *tree)
{
	if (!tree->in_txn)
		return;
	end_txn(tree, false, false);
	if (tree->bulk_loaded && tree->root && tree->root != tree->old_root)
		free_tree(tree, tree->root, tree->height);
	tree->bulk_loaded = false;
	tree->root = tree->old_root;
	tree->height = tree->old_height;
	tree->nr_records = tree->old_nr_records;
	tree->nr_nodes = tree->old_nr_nodes;
	tree->alloc_goal = tree->root;
}

/* Make every node of cur's path writable, root first */
static int make_path_writable(struct ext4_btree *t,
			      struct ext4_btree_cursor *cur)
{
	int level, err;

	for (level = cur->height - 1; level >= 0; level--) {
		struct ext4_btree_buf *parent = NULL;
		unsigned int pidx = 0;

		if (level + 1 < cur->height) {
			parent = cur->path[level + 1].buf;
			pidx = cur->path[level + 1].idx;
		}
		err = make_writable(t, &cur->path[level].buf, parent, pidx);
		if (err)
			return err;
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Insert                                                            */
/* ---------------------------------------------------------------- */

/*
 * Put (key, val) at pos of the writable node path[level], splitting it if
 * full and pushing the new right node's first key into the parent, up to
 * a new root if needed.
 */
static int insert_at(struct ext4_btree *t, struct ext4_btree_cursor *cur,
		     unsigned int level, unsigned int pos, const void *key,
		     const void *val)
{
	u8 sep_key[EXT4_BTREE_MAX_KEY];
	__le64 sep_val;
	int err;

	for (;;) {
		struct ext4_btree_buf *left = cur->path[level].buf, *right;
		unsigned int nr = node_nr(left->data);
		unsigned int max = level_max(t, level), lc, rc;

		if (nr < max) {
			open_gap(t, left->data, level, pos);
			put_entry(t, left->data, level, pos, key, val);
			return 0;
		}

		err = new_node(t, level, &right);
		if (err)
			return err;
		/* nr + 1 entries: ceil half left, the rest right */
		lc = (nr + 2) / 2;
		rc = nr + 1 - lc;
		if (pos < lc) {
			copy_entries(t, right->data, 0, left->data, lc - 1, rc,
				     level);
			clear_entries(t, left->data, level, lc - 1, nr);
			set_node_nr(left->data, lc - 1);
			set_node_nr(right->data, rc);
			open_gap(t, left->data, level, pos);
			put_entry(t, left->data, level, pos, key, val);
		} else {
			copy_entries(t, right->data, 0, left->data, lc,
				     nr - lc, level);
			clear_entries(t, left->data, level, lc, nr);
			set_node_nr(left->data, lc);
			set_node_nr(right->data, nr - lc);
			open_gap(t, right->data, level, pos - lc);
			put_entry(t, right->data, level, pos - lc, key, val);
		}
		memcpy(sep_key, key_at(t, right->data, 0), t->geo->key_size);
		sep_val = cpu_to_le64(right->blocknr);
		put_buf(t, right);

		if (level + 1 == (unsigned int)cur->height) {
			struct ext4_btree_buf *root;

			if (cur->height >= EXT4_BTREE_MAX_HEIGHT)
				return -EFBIG;
			err = new_node(t, level + 1, &root);
			if (err)
				return err;
			put_entry(t, root->data, level + 1, 0,
				  key_at(t, left->data, 0),
				  &(__le64){ cpu_to_le64(left->blocknr) });
			put_entry(t, root->data, level + 1, 1, sep_key,
				  &sep_val);
			set_node_nr(root->data, 2);
			cur->path[level + 1].buf = root;
			cur->path[level + 1].idx = 0;
			cur->height++;
			t->root = root->blocknr;
			t->height++;
			return 0;
		}
		level++;
		pos = cur->path[level].idx + 1;
		key = sep_key;
		val = &sep_val;
	}
}

/* Lower the interior bounds on the path so they admit key */
static void lower_bounds(struct ext4_btree *t, struct ext4_btree_cursor *cur,
			 const void *key)
{
	int level;

	for (level = 1; level < cur->height; level++) {
		void *data = cur->path[level].buf->data;
		unsigned int idx = cur->path[level].idx;

		if (cmp_keys(t, key, key_at(t, data, idx)) < 0)
			memcpy(key_at(t, data, idx), key, t->geo->key_size);
	}
}

int ext4_btree_insert(struct ext4_btree *tree, const void *key,
		      const void *val)
{
	struct ext4_btree_cursor cur;
	struct ext4_btree_buf *leaf;
	int idx, err;

	err = require_txn(tree);
	if (err)
		return err;
	if (!tree->height) {
		err = new_node(tree, 0, &leaf);
		if (err)
			return err;
		put_entry(tree, leaf->data, 0, 0, key, val);
		set_node_nr(leaf->data, 1);
		tree->root = leaf->blocknr;
		tree->height = 1;
		tree->nr_records = 1;
		put_buf(tree, leaf);
		return 0;
	}

	ext4_btree_cursor_init(&cur, tree);
	err = descend(&cur, key);
	if (err)
		return err;
	idx = cur.path[0].idx;
	if (idx >= 0 &&
	    !cmp_keys(tree, key_at(tree, cur.path[0].buf->data, idx), key)) {
		err = -EEXIST;
		goto out;
	}
	err = make_path_writable(tree, &cur);
	if (err)
		goto out;
	lower_bounds(tree, &cur, key);
	err = insert_at(tree, &cur, 0, idx + 1, key, val);
	if (!err)
		tree->nr_records++;
out:
	ext4_btree_cursor_release(&cur);
	return err;
}

/* ---------------------------------------------------------------- */
/* Delete                                                            */
/* ---------------------------------------------------------------- */

/* Move entries so left and right hold about the same number */
static void redistribute(struct ext4_btree *t, unsigned int level,
			 void *left, void *right)
{
	unsigned int ln = node_nr(left), rn = node_nr(right);
	unsigned int total = ln + rn, want = total / 2, n;

	if (ln < want) {
		n = want - ln;
		copy_entries(t, left, ln, right, 0, n, level);
		memmove(key_at(t, right, 0), key_at(t, right, n),
			(rn - n) * t->geo->key_size);
		memmove(val_at(t, right, level, 0), val_at(t, right, level, n),
			(rn - n) * level_vsize(t, level));
		clear_entries(t, right, level, rn - n, rn);
		set_node_nr(left, ln + n);
		set_node_nr(right, rn - n);
	} else if (ln > want) {
		n = ln - want;
		memmove(key_at(t, right, n), key_at(t, right, 0),
			rn * t->geo->key_size);
		memmove(val_at(t, right, level, n), val_at(t, right, level, 0),
			rn * level_vsize(t, level));
		copy_entries(t, right, 0, left, want, n, level);
		clear_entries(t, left, level, want, ln);
		set_node_nr(left, want);
		set_node_nr(right, rn + n);
	}
}

/*
 * path[level] (writable, not the root) fell below min fill: borrow from or
 * merge with a sibling.  Returns 1 if the parent lost an entry.
 */
static int rebalance(struct ext4_btree *t, struct ext4_btree_cursor *cur,
		     unsigned int level)
{
	struct ext4_btree_buf *node = cur->path[level].buf;
	struct ext4_btree_buf *parent = cur->path[level + 1].buf, *sib;
	unsigned int pidx = cur->path[level + 1].idx;
	unsigned int pnr = node_nr(parent->data), sidx;
	unsigned int max = level_max(t, level);
	struct ext4_btree_buf *left, *right;
	unsigned int lidx;
	int err;

	if (pnr < 2)
		return -EFSCORRUPTED;
	sidx = pidx > 0 ? pidx - 1 : pidx + 1;
	err = read_node(t, child_at(t, parent->data, sidx), level, &sib);
	if (err)
		return err;
	if (unlikely(sib == node)) {
		/* two parent entries name one child */
		put_buf(t, sib);
		return -EFSCORRUPTED;
	}

	if (node_nr(node->data) + node_nr(sib->data) <= max) {
		/* merge right into left, drop right's parent entry */
		if (sidx < pidx) {
			err = make_writable(t, &sib, parent, sidx);
			if (err)
				goto out_put;
			left = sib;
			right = node;
			lidx = sidx;
		} else {
			left = node;
			right = sib;
			lidx = pidx;
		}
		copy_entries(t, left->data, node_nr(left->data), right->data,
			     0, node_nr(right->data), level);
		set_node_nr(left->data,
			    node_nr(left->data) + node_nr(right->data));
		remove_entry(t, parent->data, level + 1, lidx + 1);
		if (right == node) {
			/* the path now continues through left */
			cur->path[level].buf = left;
			cur->path[level].idx += node_nr(left->data) -
						node_nr(right->data);
			cur->path[level + 1].idx = lidx;
		}
		/* consumes the path's reference or sib's, whichever is right */
		free_node(t, right);
		return 1;
	}

	err = make_writable(t, &sib, parent, sidx);
	if (err)
		goto out_put;
	if (sidx < pidx) {
		redistribute(t, level, sib->data, node->data);
		memcpy(key_at(t, parent->data, pidx), key_at(t, node->data, 0),
		       t->geo->key_size);
	} else {
		redistribute(t, level, node->data, sib->data);
		memcpy(key_at(t, parent->data, sidx), key_at(t, sib->data, 0),
		       t->geo->key_size);
	}
	err = 0;
out_put:
	put_buf(t, sib);
	return err;
}

/* After removals on the writable path, restore fill and shrink the root */
static int fix_after_remove(struct ext4_btree *t,
			    struct ext4_btree_cursor *cur)
{
	struct ext4_btree_buf *root;
	unsigned int level;
	int err;

	for (level = 0; level + 1 < (unsigned int)cur->height; level++) {
		if (node_nr(cur->path[level].buf->data) >= level_min(t, level))
			break;
		err = rebalance(t, cur, level);
		if (err < 0)
			return err;
		if (!err)
			break;
	}

	root = cur->path[cur->height - 1].buf;
	while (cur->height > 1 && node_nr(root->data) == 1) {
		/* a root with one child is replaced by that child */
		unsigned int top = cur->height - 1;

		t->root = child_at(t, root->data, 0);
		t->height--;
		cur->path[top].buf = NULL;
		free_node(t, root);
		cur->height--;
		root = cur->path[top - 1].buf;
	}
	if (cur->height == 1 && node_nr(root->data) == 0) {
		cur->path[0].buf = NULL;
		free_node(t, root);
		cur->height = 0;
		t->root = 0;
		t->height = 0;
	}
	return 0;
}

/*
 * Inside a transaction, walk down to the leaf entry holding exactly key.
 * Returns its index with cur holding the path, or an error (cur released).
 */
static int seek_exact(struct ext4_btree *t, struct ext4_btree_cursor *cur,
		      const void *key)
{
	int idx, err;

	err = require_txn(t);
	if (err)
		return err;
	ext4_btree_cursor_init(cur, t);
	err = descend(cur, key);
	if (err)
		return err;
	idx = cur->path[0].idx;
	if (idx < 0 || cmp_keys(t, key_at(t, cur->path[0].buf->data, idx),
				key)) {
		ext4_btree_cursor_release(cur);
		return -ENOENT;
	}
	return idx;
}

int ext4_btree_delete(struct ext4_btree *tree, const void *key)
{
	struct ext4_btree_cursor cur;
	int idx, err;

	idx = seek_exact(tree, &cur, key);
	if (idx < 0)
		return idx;
	err = make_path_writable(tree, &cur);
	if (err)
		goto out;
	remove_entry(tree, cur.path[0].buf->data, 0, idx);
	tree->nr_records--;
	err = fix_after_remove(tree, &cur);
out:
	ext4_btree_cursor_release(&cur);
	return err;
}

/* ---------------------------------------------------------------- */
/* Update and replace                                                */
/* ---------------------------------------------------------------- */

int ext4_btree_update(struct ext4_btree *tree, const void *key,
		      const void *val)
{
	struct ext4_btree_cursor cur;
	int idx, err;

	idx = seek_exact(tree, &cur, key);
	if (idx < 0)
		return idx;
	err = make_path_writable(tree, &cur);
	if (!err)
		memcpy(val_at(tree, cur.path[0].buf->data, 0, idx), val,
		       tree->geo->val_size);
	ext4_btree_cursor_release(&cur);
	return err;
}

/* Does new_key still sort between key's neighbours? */
static int check_neighbours(struct ext4_btree *t, const void *key,
			    const void *new_key)
{
	struct ext4_btree_cursor cur;
	int err;

	ext4_btree_cursor_init(&cur, t);
	err = ext4_btree_cursor_seek(&cur, key, EXT4_BTREE_EQ);
	if (err)
		return err;
	if (cmp_keys(t, new_key, key) < 0) {
		err = ext4_btree_cursor_prev(&cur);
		if (err == -ENOENT)
			return 0;
		if (!err && cmp_keys(t, ext4_btree_cursor_key(&cur),
				     new_key) >= 0)
			err = -EINVAL;
	} else {
		err = ext4_btree_cursor_next(&cur);
		if (err == -ENOENT)
			return 0;
		if (!err && cmp_keys(t, ext4_btree_cursor_key(&cur),
				     new_key) <= 0)
			err = -EINVAL;
	}
	ext4_btree_cursor_release(&cur);
	return err;
}

/* Is new_key below the lower bound of every later subtree on the path? */
static bool below_upper_bounds(struct ext4_btree *t,
			       struct ext4_btree_cursor *cur,
			       const void *new_key)
{
	int level;

	for (level = 1; level < cur->height; level++) {
		const void *data = cur->path[level].buf->data;
		unsigned int next = cur->path[level].idx + 1;

		if (next < node_nr(data) &&
		    cmp_keys(t, new_key, key_at(t, data, next)) >= 0)
			return false;
	}
	return true;
}

int ext4_btree_replace(struct ext4_btree *tree, const void *key,
		       const void *new_key, const void *new_val)
{
	struct ext4_btree_cursor cur;
	int idx, err;

	err = require_txn(tree);
	if (err)
		return err;
	if (!cmp_keys(tree, key, new_key))
		return ext4_btree_update(tree, key, new_val);
	err = check_neighbours(tree, key, new_key);
	if (err)
		return err;

	idx = seek_exact(tree, &cur, key);
	if (idx < 0)
		return idx;
	if (!below_upper_bounds(tree, &cur, new_key)) {
		/* the key moves past a separator: take the long way */
		ext4_btree_cursor_release(&cur);
		err = ext4_btree_delete(tree, key);
		if (!err)
			err = ext4_btree_insert(tree, new_key, new_val);
		return err;
	}
	err = make_path_writable(tree, &cur);
	if (err)
		goto out;
	lower_bounds(tree, &cur, new_key);
	put_entry(tree, cur.path[0].buf->data, 0, idx, new_key, new_val);
out:
	ext4_btree_cursor_release(&cur);
	return err;
}

/* ---------------------------------------------------------------- */
/* Freeing whole trees                                               */
/* ---------------------------------------------------------------- */

/*
 * Return every node of a tree to the host.  Only nodes that pass the read
 * verifier are freed, so a damaged tree never frees a block that is not
 * one of its nodes; what it cannot reach is left for the checker.
 */
static int free_tree(struct ext4_btree *t, u64 root, unsigned int height)
{
	struct {
		struct ext4_btree_buf *buf;
		unsigned int next;
	} stack[EXT4_BTREE_MAX_HEIGHT];
	struct ext4_btree_buf *buf;
	int top, err, first_err = 0;

	if (!root || !height || height > EXT4_BTREE_MAX_HEIGHT)
		return 0;
	top = height - 1;
	err = read_node(t, root, top, &stack[top].buf);
	if (err)
		return err;
	stack[top].next = 0;
	while (top < (int)height) {
		buf = stack[top].buf;
		if (top > 0 && stack[top].next < node_nr(buf->data)) {
			u64 child = child_at(t, buf->data, stack[top].next++);

			err = read_node(t, child, top - 1,
					&stack[top - 1].buf);
			if (err) {
				if (!first_err)
					first_err = err;
				continue;
			}
			top--;
			stack[top].next = 0;
			continue;
		}
		root = buf->blocknr;
		put_buf(t, buf);
		err = t->ops->free_block(t->host, root);
		if (err && !first_err)
			first_err = err;
		top++;
	}
	return first_err;
}

int ext4_btree_destroy(struct ext4_btree *tree)
{
	u64 root = tree->root;
	u16 height = tree->height;
	u64 nr_records = tree->nr_records, nr_nodes = tree->nr_nodes;
	int err;

	if (tree->in_txn)
		return -EBUSY;
	tree->root = 0;
	tree->height = 0;
	tree->nr_records = 0;
	tree->nr_nodes = 0;
	tree->generation++;
	err = tree->ops->commit_root(tree->host, tree);
	if (err) {
		tree->root = root;
		tree->height = height;
		tree->nr_records = nr_records;
		tree->nr_nodes = nr_nodes;
		tree->generation--;
		return err;
	}
	/* the empty root may be on disk: leak the old tree, never free it */
	err = tree->ops->flush(tree->host);
	if (err)
		return err;
	return free_tree(tree, root, height);
}

/* ---------------------------------------------------------------- */
/* Bulk load                                                         */
/* ---------------------------------------------------------------- */

/*
 * One level of a bulk load.  How many nodes each level has follows from
 * the record count and the fill (bulk_shape()), so it is recomputed when
 * a node opens rather than stored: EXT4_BTREE_MAX_HEIGHT of these, and
 * the quota of each open node (bulk_load()'s quota[]), must stay small
 * for a kernel stack frame.
 */
struct bulk_level {
	struct ext4_btree_buf *buf;	/* open node, or NULL */
	u64 done;			/* nodes closed so far */
};

/* How many nodes hold n entries at the chosen fill, within [min, max] */
static u64 bulk_nodes(u64 n, unsigned int max, unsigned int min,
		      unsigned int fill_pct)
{
	u64 target = (u64)max * fill_pct / 100, nodes, lo, hi;

	if (target < min)
		target = min;
	if (target < 1)
		target = 1;
	if (n <= target)
		return 1;
	nodes = (n + target - 1) / target;
	lo = (n + max - 1) / max;
	hi = n / (min ? min : 1);
	if (nodes < lo)
		nodes = lo;
	if (nodes > hi)
		nodes = hi;
	return nodes ? nodes : 1;
}

/* Level l of a bulk load of nr records: its entries and its nodes */
static void bulk_shape(const struct ext4_btree *t, u64 nr,
		       unsigned int fill_pct, unsigned int l, u64 *entries,
		       u64 *nodes)
{
	unsigned int i;
	u64 n = nr;

	for (i = 0;; i++) {
		*entries = n;
		n = n ? bulk_nodes(n, level_max(t, i), level_min(t, i),
				   fill_pct) : 0;
		if (i == l)
			break;
	}
	*nodes = n;
}

/* Entries of level l's next node: an even share, the first get one more */
static u64 bulk_quota(const struct ext4_btree *t, const struct bulk_level *lv,
		      unsigned int l, u64 nr, unsigned int fill_pct)
{
	u64 entries, nodes, base;

	bulk_shape(t, nr, fill_pct, l, &entries, &nodes);
	base = entries / nodes;
	return base + (lv[l].done < entries - base * nodes ? 1 : 0);
}

static u64 bulk_level_nodes(const struct ext4_btree *t, u64 nr,
			    unsigned int fill_pct, unsigned int l)
{
	u64 entries, nodes;

	bulk_shape(t, nr, fill_pct, l, &entries, &nodes);
	return nodes;
}

/* Free an unwritten bulk node, the subtrees below it and its block */
static void bulk_drop(struct ext4_btree *t, struct ext4_btree_buf *buf,
		      unsigned int level)
{
	unsigned int i;
	u64 blk;

	for (i = 0; level > 0 && i < node_nr(buf->data); i++)
		free_tree(t, child_at(t, buf->data, i), level);
	blk = buf->blocknr;
	buf->state = 0;
	put_buf(t, buf);
	t->ops->free_block(t->host, blk);
}

/* Seal, write and drop a finished bulk node; on failure free it all */
static int bulk_close(struct ext4_btree *t, struct ext4_btree_buf *buf,
		      unsigned int level)
{
	int err = seal_node(t, buf);

	if (!err)
		err = t->ops->write_block(t->host, buf);
	if (err) {
		bulk_drop(t, buf, level);
		return err;
	}
	put_buf(t, buf);
	return 0;
}

/* Free what a failed bulk load built: every open node and its subtree */
static void bulk_unwind(struct ext4_btree *t, struct bulk_level *lv,
			unsigned int height)
{
	unsigned int l;

	for (l = 0; l < height; l++) {
		if (lv[l].buf)
			bulk_drop(t, lv[l].buf, l);
		lv[l].buf = NULL;
	}
}

static int bulk_append(struct ext4_btree *t, struct bulk_level *lv,
		       u16 *quota, unsigned int height, u64 records,
		       unsigned int fill_pct, unsigned int level,
		       const void *key, const void *val)
{
	u8 sep_key[EXT4_BTREE_MAX_KEY];
	__le64 sep_val;
	int err;

	for (;;) {
		struct bulk_level *bl = &lv[level];
		struct ext4_btree_buf *buf;
		unsigned int nr;

		if (!bl->buf) {
			if (bl->done >= bulk_level_nodes(t, records, fill_pct,
							 level))
				return -EINVAL;
			quota[level] = bulk_quota(t, lv, level, records,
						  fill_pct);
			err = alloc_buf(t, &bl->buf);
			if (err) {
				/* the node just closed below has no parent */
				if (val == &sep_val)
					free_tree(t, le64_to_cpu(sep_val), level);
				return err;
			}
			init_node(t, bl->buf->data, bl->buf->blocknr, level);
			bl->buf->state = EXT4_BUF_VERIFIED;
		}
		buf = bl->buf;
		nr = node_nr(buf->data);
		put_entry(t, buf->data, level, nr, key, val);
		set_node_nr(buf->data, ++nr);
		if (nr < quota[level])
			return 0;

		/* full: write it and hand its first key to the parent */
		memcpy(sep_key, key_at(t, buf->data, 0), t->geo->key_size);
		sep_val = cpu_to_le64(buf->blocknr);
		bl->buf = NULL;
		bl->done++;
		err = bulk_close(t, buf, level);
		if (err)
			return err;
		if (level + 1 == height) {
			t->root = le64_to_cpu(sep_val);
			return 0;
		}
		level++;
		key = sep_key;
		val = &sep_val;
	}
}

int ext4_btree_bulk_load(struct ext4_btree *tree, u64 nr,
			 unsigned int fill_pct, ext4_btree_next_fn next,
			 void *priv)
{
	struct bulk_level lv[EXT4_BTREE_MAX_HEIGHT];
	u16 quota[EXT4_BTREE_MAX_HEIGHT];
	u8 key[EXT4_BTREE_MAX_KEY], prev[EXT4_BTREE_MAX_KEY];
	u8 val[EXT4_BTREE_MAX_VAL];
	unsigned int height = 0, l;
	u64 n = nr, i, nodes = 0;
	int err;

	err = require_txn(tree);
	if (err)
		return err;
	if (tree->dirty_list || tree->free_list ||
	    tree->root != tree->old_root)
		return -EBUSY;
	if (fill_pct < 50 || fill_pct > 100)
		return -EINVAL;

	memset(lv, 0, sizeof(lv));
	do {
		unsigned int max = level_max(tree, height);
		unsigned int min = level_min(tree, height);

		if (height >= EXT4_BTREE_MAX_HEIGHT)
			return -EFBIG;
		n = n ? bulk_nodes(n, max, min, fill_pct) : 0;
		nodes += n;
		height++;
	} while (n > 1);
	if (!nr)
		height = 0;

	tree->bulk_loaded = true;
	tree->root = 0;
	tree->height = 0;
	tree->nr_records = 0;
	tree->nr_nodes = 0;
	for (i = 0; i < nr; i++) {
		err = next(priv, key, val);
		if (err)
			goto fail;
		if (i && cmp_keys(tree, prev, key) >= 0) {
			err = -EINVAL;
			goto fail;
		}
		memcpy(prev, key, tree->geo->key_size);
		err = bulk_append(tree, lv, quota, height, nr, fill_pct, 0, key,
				  val);
		if (err)
			goto fail;
	}
	for (l = 0; l < height; l++) {
		if (lv[l].buf ||
		    lv[l].done != bulk_level_nodes(tree, nr, fill_pct, l)) {
			err = -EIO;
			goto fail;
		}
	}
	tree->height = height;
	tree->nr_records = nr;
	tree->nr_nodes = nodes;
	return 0;
fail:
	/* a finished root means a finished tree; otherwise unwind */
	if (tree->root && height && lv[height - 1].done)
		free_tree(tree, tree->root, height);
	bulk_unwind(tree, lv, height);
	tree->root = tree->old_root;
	tree->height = tree->old_height;
	tree->nr_records = tree->old_nr_records;
	tree->nr_nodes = tree->old_nr_nodes;
	tree->bulk_loaded = false;
	return err;
}

/* ---------------------------------------------------------------- */
/* Verifier walk                                                     */
/* ---------------------------------------------------------------- */

/*
 * One node on the walk's path.  The key bounds are not copied into the
 * frame: they are keys of the ancestors, whose buffers stay referenced
 * while a descendant is on the path (frame_hi()).  This keeps the whole
 * walk under 1 KiB of stack with EXT4_BTREE_MAX_HEIGHT levels, which a
 * kernel build needs (CONFIG_FRAME_WARN is 2048 on distro kernels).
 */
struct bt_frame {
	struct ext4_btree_buf *buf;
	unsigned int next;		/* next child to visit */
};

struct bt_walk {
	struct ext4_btree *t;
	const struct ext4_btree_verify_ops *vops;
	void *priv;
	long problems;
	bool stop;
	u64 nodes, records;
	bool have_prev;
	u8 prev_key[EXT4_BTREE_MAX_KEY];
	u8 prev_val[EXT4_BTREE_MAX_VAL];
	struct bt_frame stack[EXT4_BTREE_MAX_HEIGHT];
};

static void walk_report(struct bt_walk *w, enum ext4_btree_problem_code code,
			u64 blocknr, int level, int index, u64 expected,
			u64 found)
{
	struct ext4_btree_problem p;

	set_problem(&p, code, blocknr, level, index, expected, found);
	w->problems++;
	if (w->vops->report && w->vops->report(w->priv, &p))
		w->stop = true;
}

static void walk_report_p(struct bt_walk *w,
			  const struct ext4_btree_problem *p)
{
	walk_report(w, p->code, p->blocknr, p->level, p->index, p->expected,
		    p->found);
}

/* Checks of a node that need its place in the tree */
static void walk_node_checks(struct bt_walk *w, struct bt_frame *f,
			     int level, bool is_root, const void *lo,
			     const void *hi)
{
	struct ext4_btree *t = w->t;
	const void *data = f->buf->data;
	unsigned int nr = node_nr(data), i;
	u64 blk = f->buf->blocknr;

	if (is_root ? (level > 0 && nr < 2) : nr < level_min(t, level))
		walk_report(w, EXT4_BTREE_BAD_NR_ENTRIES, blk, level, -1,
			    is_root ? 2 : level_min(t, level), nr);
	if (le64_to_cpu(cnode_head(data)->bn_generation) > t->generation)
		walk_report(w, EXT4_BTREE_BAD_GENERATION, blk, level, -1,
			    t->generation,
			    le64_to_cpu(cnode_head(data)->bn_generation));
	if (lo && cmp_keys(t, key_at(t, data, 0), lo) < 0)
		walk_report(w, EXT4_BTREE_KEY_OUT_OF_BOUNDS, blk, level, 0, 0,
			    0);
	if (hi && cmp_keys(t, key_at(t, data, nr - 1), hi) >= 0)
		walk_report(w, EXT4_BTREE_KEY_OUT_OF_BOUNDS, blk, level,
			    nr - 1, 0, 0);
	w->nodes++;
	if (w->vops->node && w->vops->node(w->priv, blk, level))
		w->stop = true;
	if (level)
		return;
	w->records += nr;
	for (i = 0; i < nr && !w->stop && w->vops->record; i++) {
		const void *k = key_at(t, data, i), *v = val_at(t, data, 0, i);

		if (w->vops->record(w->priv, k, v,
				    w->have_prev ? w->prev_key : NULL,
				    w->have_prev ? w->prev_val : NULL))
			w->stop = true;
		memcpy(w->prev_key, k, t->geo->key_size);
		memcpy(w->prev_val, v, t->geo->val_size);
		w->have_prev = true;
	}
}

/*
 * Read and check the node at blk expected at level; on success push it as
 * a frame with the given bounds and return its level, else -1.  Only the
 * root's level can differ from the one expected.
 */
static int walk_enter(struct bt_walk *w, u64 blk, int level, bool is_root,
		       const void *lo, const void *hi)
{
	struct ext4_btree *t = w->t;
	struct ext4_btree_problem p;
	struct ext4_btree_buf *buf;
	struct bt_frame *f;
	int err, expect = level;

	if (w->vops->valid_block && !w->vops->valid_block(w->priv, blk)) {
		walk_report(w, EXT4_BTREE_BAD_CHILD_PTR, blk, level, -1, 0,
			    blk);
		return -1;
	}
	if (w->vops->test_and_set_seen &&
	    w->vops->test_and_set_seen(w->priv, blk)) {
		walk_report(w, EXT4_BTREE_NODE_REACHED_TWICE, blk, level, -1,
			    0, blk);
		return -1;
	}
	err = t->ops->read_block(t->host, blk, &buf);
	if (err) {
		walk_report(w, EXT4_BTREE_READ_ERROR, blk, level, -1, 0,
			    (u64)-err);
		return -1;
	}
	if (is_root) {
		/* the root slot's height and the root's level must agree */
		err = check_node(t, buf->data, blk, -1, true, &p);
		if (!err && node_level(buf->data) != (unsigned int)level) {
			walk_report(w, EXT4_BTREE_BAD_HEIGHT, 0, level, -1,
				    node_level(buf->data) + 1, level + 1);
			expect = node_level(buf->data);
		}
	} else {
		err = check_node(t, buf->data, blk, level, true, &p);
	}
	if (err) {
		walk_report_p(w, &p);
		put_buf(t, buf);
		return -1;
	}
	buf->state |= EXT4_BUF_VERIFIED;
	f = &w->stack[expect];
	f->buf = buf;
	f->next = 0;
	walk_node_checks(w, f, expect, is_root, lo, hi);
	return expect;
}

/*
 * Upper bound of the keys under the child just taken from the frame at
 * level + 1: the parent's next key, else the bound above the parent,
 * up to the root (none).
 */
static const void *frame_hi(const struct bt_walk *w, int level, int height)
{
	for (level++; level < height; level++) {
		const struct bt_frame *f = &w->stack[level];

		if (f->next < node_nr(f->buf->data))
			return key_at(w->t, f->buf->data, f->next);
	}
	return NULL;
}

long ext4_btree_verify(struct ext4_btree *tree,
		       const struct ext4_btree_verify_ops *vops, void *priv)
{
	struct bt_walk *w, walk;
	int top, height = tree->height;

	w = &walk;
	memset(w, 0, sizeof(*w));
	w->t = tree;
	w->vops = vops;
	w->priv = priv;

	if (height > EXT4_BTREE_MAX_HEIGHT || (!tree->root) != (!height)) {
		walk_report(w, EXT4_BTREE_BAD_HEIGHT, 0, -1, -1, 0, height);
		return w->problems;
	}
	if (height) {
		/* the root's own level wins over the slot's height */
		top = walk_enter(w, tree->root, height - 1, true, NULL, NULL);
		height = top + 1;
		while (top >= 0 && top < height && !w->stop) {
			struct bt_frame *f = &w->stack[top];
			void *data = f->buf->data;
			unsigned int nr = node_nr(data), i = f->next;

			if (top > 0 && i < nr) {
				const void *hi;

				f->next++;
				hi = frame_hi(w, top - 1, height);
				if (walk_enter(w, child_at(tree, data, i),
					       top - 1, false,
					       key_at(tree, data, i), hi) >= 0)
					top--;
				continue;
			}
			put_buf(tree, f->buf);
			f->buf = NULL;
			top++;
		}
		for (top = 0; top < EXT4_BTREE_MAX_HEIGHT; top++) {
			put_buf(tree, w->stack[top].buf);
			w->stack[top].buf = NULL;
		}
	}
	if (w->stop)
		return w->problems;
	if (w->records != tree->nr_records)
		walk_report(w, EXT4_BTREE_BAD_RECORD_COUNT, 0, -1, -1,
			    w->records, tree->nr_records);
	if (!w->stop && w->nodes != tree->nr_nodes)
		walk_report(w, EXT4_BTREE_BAD_NODE_COUNT, 0, -1, -1, w->nodes,
			    tree->nr_nodes);
	return w->problems;
}

static const char *const ext4_btree_problem_table[EXT4_BTREE_PROBLEM_MAX] = {
#define EXT4_BTREE_PROBLEM_WORDS(name, words) [EXT4_BTREE_##name] = words,
	EXT4_BTREE_PROBLEM_LIST(EXT4_BTREE_PROBLEM_WORDS)
#undef EXT4_BTREE_PROBLEM_WORDS
};

const char *ext4_btree_problem_words(int code)
{
	if (code > 0 && code < EXT4_BTREE_PROBLEM_MAX)
		return ext4_btree_problem_table[code];
	return "unknown problem";
}

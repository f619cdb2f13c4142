// SPDX-License-Identifier: GPL-2.0
/*
 * test_btree_verify.c - the verifier finds each kind of damage.
 *
 * A small valid tree (5 entries per node, so 4+ levels) is built afresh
 * for every case; one field of one node is then edited in the mem_host
 * disk image (checksum resealed unless the checksum is the point) and the
 * cache dropped.  ext4_btree_verify must report the intended problem code
 * on the intended block and nothing else except the record/node count
 * mismatches that follow from skipping a rejected subtree.  Lookups,
 * scans and deletes through the damage must fail with -EFSCORRUPTED or
 * -EFSBADCRC (when the read verifier can see it), never return wrong
 * data, leak a reference or crash.  ext4_btree_check_node is also run on
 * hand-built images.
 *
 * SEED=<n> replays a run.
 */
#include <stdio.h>
#include <stdlib.h>

#include "btree/ext4_btree.h"
#include "btree/mem_host.h"
#include "tap.h"

#define BS		4096
#define NR_BLOCKS	4096u
#define NR_KEYS		300
#define HDR		((u32)sizeof(struct ext4_btree_node_head))
#define CSUM_SEED	0xc0ffee
#define OWNER		42

static const struct ext4_btree_geo geo = {
	.name = "verify-test",
	.tree_type = EXT4_TREE_TEST_BASE + 0x20,
	.key_size = 8,
	.val_size = 8,
	.max_entries = 5,
	.key_kind = EXT4_BTREE_KEY_LE64,
};

/* What a case damages */
enum target {
	T_LEAF,		/* not a first/last child, 3..max-1 entries */
	T_INTERIOR,	/* a non-root interior node, not the first child */
	T_ROOT,		/* the root node */
	T_SLOT,		/* the root slot (tree fields), no node */
	T_MAX,
};

struct venv {
	struct mem_host *h;
	struct ext4_btree t;
	u64 keys[NR_KEYS];	/* sorted */
	u64 vals[NR_KEYS];
	/* chosen nodes and what their parents say about them */
	u64 blk[T_MAX];		/* 0 for T_SLOT */
	u64 parent[T_MAX];
	unsigned int pidx[T_MAX];
};

/* ---------------------------------------------------------------- */
/* Raw node access                                                   */
/* ---------------------------------------------------------------- */

static struct ext4_btree_node_head *hd(void *node)
{
	return node;
}

static const struct ext4_btree_node_head *chd(const void *node)
{
	return node;
}

static unsigned int n_nr(const void *node)
{
	return le16_to_cpu(chd(node)->bn_nr_entries);
}

static unsigned int n_max(const void *node)
{
	return le16_to_cpu(chd(node)->bn_max_entries);
}

static unsigned int n_level(const void *node)
{
	return le16_to_cpu(chd(node)->bn_level);
}

static u8 *n_key(void *node, unsigned int i)
{
	return (u8 *)node + HDR + i * 8;
}

static u8 *n_val(void *node, unsigned int i)
{
	return (u8 *)node + HDR + n_max(node) * 8 + i * 8;
}

static u64 get64(const void *p)
{
	__le64 v;

	memcpy(&v, p, 8);
	return le64_to_cpu(v);
}

static void set64(void *p, u64 x)
{
	__le64 v = cpu_to_le64(x);

	memcpy(p, &v, 8);
}

/* The disk image, writable: this test is the disk's vandal */
static u8 *disk(struct venv *e, u64 blk)
{
	return (u8 *)mem_host_disk_block(e->h, blk);
}

static void reseal(struct venv *e, void *node)
{
	hd(node)->bn_checksum = cpu_to_le32(ext4_btree_node_csum(&e->t, node));
}

/* ---------------------------------------------------------------- */
/* Setup                                                             */
/* ---------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * Find the nodes the cases damage by walking the image: depth first, so
 * the first match at each kind is deterministic for a given seed.
 */
static void pick_nodes(struct venv *e, u64 blk, u64 parent,
		       unsigned int pidx, unsigned int pnr)
{
	u8 *n = disk(e, blk);
	unsigned int i, nr = n_nr(n);

	if (n_level(n) == 0) {
		/* room in the tail, and enough entries to reorder */
		if (!e->blk[T_LEAF] && pidx > 0 && pidx + 1 < pnr && nr >= 3 &&
		    nr < n_max(n)) {
			e->blk[T_LEAF] = blk;
			e->parent[T_LEAF] = parent;
			e->pidx[T_LEAF] = pidx;
		}
		return;
	}
	if (!e->blk[T_INTERIOR] && parent && pidx > 0 && nr < n_max(n)) {
		e->blk[T_INTERIOR] = blk;
		e->parent[T_INTERIOR] = parent;
		e->pidx[T_INTERIOR] = pidx;
	}
	for (i = 0; i < nr; i++)
		pick_nodes(e, get64(n_val(n, i)), blk, i, nr);
}

/* The same tree for the same seed, committed and out of the cache */
static struct venv *venv_new(uint64_t seed)
{
	struct venv *e = calloc(1, sizeof(*e));
	unsigned int order[NR_KEYS];
	uint64_t rng = seed;
	unsigned int i;
	int ret;

	if (!e)
		tap_bail_out("out of memory");
	e->h = mem_host_create(BS, NR_BLOCKS);
	if (!e->h || ext4_btree_init(&e->t, &geo, &mem_host_ops, e->h, BS,
				     CSUM_SEED, OWNER, EXT4_BTREE_COW))
		tap_bail_out("setup failed");
	for (i = 0; i < NR_KEYS; i++) {
		/* distinct, and never 0 or ~0 so bounds can move both ways */
		e->keys[i] = (tap_rand(&rng) >> 2 << 1) + 2;
		e->vals[i] = tap_rand(&rng);
	}
	qsort(e->keys, NR_KEYS, sizeof(u64), cmp_u64);
	/* insert in a random order so the shape depends on the seed */
	for (i = 0; i < NR_KEYS; i++)
		order[i] = i;
	for (i = NR_KEYS - 1; i > 0; i--) {
		unsigned int j = (unsigned int)(tap_rand(&rng) % (i + 1));
		unsigned int x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	ret = ext4_btree_begin(&e->t);
	for (i = 0; !ret && i < NR_KEYS; i++) {
		__le64 k = cpu_to_le64(e->keys[order[i]]);
		__le64 v = cpu_to_le64(e->vals[order[i]]);

		ret = ext4_btree_insert(&e->t, &k, &v);
	}
	ret = ret ?: ext4_btree_commit(&e->t);
	ret = ret ?: mem_host_drop_cache(e->h);
	if (ret)
		tap_bail_out("building the tree failed: %d", ret);
	e->blk[T_ROOT] = e->t.root;
	pick_nodes(e, e->t.root, 0, 0, 0);
	if (!e->blk[T_LEAF] || !e->blk[T_INTERIOR])
		tap_bail_out("tree too small to pick nodes");
	return e;
}

static void venv_free(struct venv *e)
{
	mem_host_destroy(e->h);
	free(e);
}

/* ---------------------------------------------------------------- */
/* Verify and read back                                              */
/* ---------------------------------------------------------------- */

struct vres {
	struct venv *e;
	u64 problems;
	u32 codes;		/* bit per code seen */
	u64 code_blk[EXT4_BTREE_PROBLEM_MAX];	/* first block per code */
	u8 seen[NR_BLOCKS];
};

static int r_report(void *priv, const struct ext4_btree_problem *p)
{
	struct vres *r = priv;

	r->problems++;
	if (p->code > 0 && p->code < EXT4_BTREE_PROBLEM_MAX) {
		if (!(r->codes & 1u << p->code))
			r->code_blk[p->code] = p->blocknr;
		r->codes |= 1u << p->code;
	}
	return 0;
}

static bool r_valid(void *priv, u64 blk)
{
	struct vres *r = priv;

	return blk < NR_BLOCKS && mem_host_is_allocated(r->e->h, blk);
}

static bool r_seen(void *priv, u64 blk)
{
	struct vres *r = priv;
	bool was;

	if (blk >= NR_BLOCKS)
		return false;
	was = r->seen[blk];
	r->seen[blk] = 1;
	return was;
}

static const struct ext4_btree_verify_ops rops = {
	.report = r_report,
	.valid_block = r_valid,
	.test_and_set_seen = r_seen,
};

static long run_verify(struct venv *e, struct vres *r)
{
	memset(r, 0, sizeof(*r));
	r->e = e;
	return ext4_btree_verify(&e->t, &rops, r);
}

static bool host_clean(struct venv *e)
{
	struct mem_host_stats st;

	mem_host_get_stats(e->h, &st);
	return !st.errors && !mem_host_nr_refs(e->h);
}

static void codes_diag(const struct vres *r)
{
	char buf[256];
	int c, n = 0;

	buf[0] = 0;
	for (c = 1; c < EXT4_BTREE_PROBLEM_MAX; c++)
		if (r->codes & 1u << c)
			n += snprintf(buf + n, sizeof(buf) - n, " %d@%llu", c,
				      (unsigned long long)r->code_blk[c]);
	diag("  reported codes (code@block):%s", n ? buf : " none");
}

/*
 * Every key looked up, then a full scan, then a delete of every key in a
 * transaction that is aborted.  A result is right or the corruption
 * error; unless strict (damage the read verifier cannot see) a key may
 * also be missing and the scan may differ.  Returns how many corruption
 * errors were seen, or -1 on a wrong result, another error or a leak.
 */
static long read_back(struct venv *e, const char *what, int corrupt_err,
		      bool strict)
{
	struct ext4_btree_cursor cur;
	unsigned int i, wrong = 0, other = 0;
	long errs = 0;
	int ret;

	for (i = 0; i < NR_KEYS; i++) {
		__le64 k = cpu_to_le64(e->keys[i]), ko, vo;

		ret = ext4_btree_lookup(&e->t, &k, EXT4_BTREE_EQ, &ko, &vo);
		if (ret == corrupt_err)
			errs++;
		else if (ret == -ENOENT && !strict)
			continue;
		else if (ret && other++ < 3)
			diag("  lookup of key %u: %d", i, ret);
		else if (ret)
			;
		else if (get64(&ko) != e->keys[i] || get64(&vo) != e->vals[i])
			wrong++;
	}
	ext4_btree_cursor_init(&cur, &e->t);
	for (ret = ext4_btree_cursor_first(&cur), i = 0; !ret;
	     ret = ext4_btree_cursor_next(&cur), i++) {
		const void *key = ext4_btree_cursor_key(&cur);

		if (i >= 4 * NR_KEYS ||
		    (strict && (i >= NR_KEYS || get64(key) != e->keys[i]))) {
			wrong++;
			ext4_btree_cursor_release(&cur);
			ret = -ENOENT;
			break;
		}
	}
	if (ret == corrupt_err)
		errs++;
	else if (ret != -ENOENT && ++other)
		diag("  scan: %d", ret);
	else if (strict && i != NR_KEYS && !wrong)
		wrong++;
	if (mem_host_nr_refs(e->h) && ++other)
		diag("  scans and lookups left %llu references",
		     (unsigned long long)mem_host_nr_refs(e->h));

	/* one transaction per delete: after an error only abort is valid */
	for (i = 0; i < NR_KEYS; i++) {
		__le64 k = cpu_to_le64(e->keys[i]);
		int r = ext4_btree_begin(&e->t);

		r = r ?: ext4_btree_delete(&e->t, &k);
		if (r == corrupt_err)
			errs++;
		else if (r && !(r == -ENOENT && !strict) && other++ < 3)
			diag("  delete of key %u: %d", i, r);
		ext4_btree_abort(&e->t);
		if (mem_host_nr_refs(e->h) && other++ < 3)
			diag("  delete of key %u left %llu references after abort",
			     i, (unsigned long long)mem_host_nr_refs(e->h));
	}
	if (wrong || other)
		diag("%s: %u wrong results, %u unexpected errors or leaks",
		     what, wrong, other);
	return wrong || other ? -1 : errs;
}

/* ---------------------------------------------------------------- */
/* The cases                                                         */
/* ---------------------------------------------------------------- */

struct vcase {
	const char *name;
	enum ext4_btree_problem_code code;
	enum target target;
	void (*corrupt)(struct venv *e, u8 *n, u64 blk);
	bool keep_csum;		/* do not reseal */
	bool read_detects;	/* the read verifier sees it */
	u32 extra;		/* other codes the damage also causes */
	/* the block the report names: 0 = the damaged node */
	u64 (*report_blk)(struct venv *e, u8 *n, u64 blk);
};

static void c_magic(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	hd(n)->bn_magic = cpu_to_le32(0x12345678);
}

static void c_csum(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	n_val(n, 1)[3] ^= 0x40;
}

static void c_blocknr(struct venv *e, u8 *n, u64 blk)
{
	(void)e;
	hd(n)->bn_blocknr = cpu_to_le64(blk + 1);
}

static void c_owner(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	hd(n)->bn_owner = cpu_to_le32(OWNER + 1);
}

static void c_type(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	hd(n)->bn_tree_type = cpu_to_le16(EXT4_TREE_REFCOUNT);
}

static void c_level_up(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	hd(n)->bn_level = cpu_to_le16(n_level(n) + 1);
}

static void c_max(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	hd(n)->bn_max_entries = cpu_to_le16(n_max(n) + 1);
}

static void c_key_size(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	hd(n)->bn_key_size = cpu_to_le16(4);
}

static void c_val_size(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	hd(n)->bn_val_size = cpu_to_le16(16);
}

static void c_nr_zero(struct venv *e, u8 *n, u64 blk)
{
	unsigned int nr = n_nr(n);

	(void)e; (void)blk;
	/* clear the entries too, so only the count is wrong */
	memset(n_key(n, 0), 0, nr * 8);
	memset(n_val(n, 0), 0, nr * 8);
	hd(n)->bn_nr_entries = 0;
}

static void c_nr_over(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	hd(n)->bn_nr_entries = cpu_to_le16(n_max(n) + 1);
}

static void c_nr_under(struct venv *e, u8 *n, u64 blk)
{
	unsigned int nr = n_nr(n);

	(void)e; (void)blk;
	memset(n_key(n, 1), 0, (nr - 1) * 8);
	memset(n_val(n, 1), 0, (nr - 1) * 8);
	hd(n)->bn_nr_entries = cpu_to_le16(1);
}

static void c_order(struct venv *e, u8 *n, u64 blk)
{
	u8 tk[8], tv[8];

	(void)e; (void)blk;
	memcpy(tk, n_key(n, 1), 8);
	memcpy(n_key(n, 1), n_key(n, 2), 8);
	memcpy(n_key(n, 2), tk, 8);
	memcpy(tv, n_val(n, 1), 8);
	memcpy(n_val(n, 1), n_val(n, 2), 8);
	memcpy(n_val(n, 2), tv, 8);
}

static void c_dup_key(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	memcpy(n_key(n, 2), n_key(n, 1), 8);
}

/* First key below the parent's separator for this node */
static void c_below_parent(struct venv *e, u8 *n, u64 blk)
{
	u8 *p = disk(e, e->parent[T_LEAF]);

	(void)blk;
	set64(n_key(n, 0), get64(n_key(p, e->pidx[T_LEAF])) - 1);
}

/* Last key at the next sibling's separator */
static void c_above_parent(struct venv *e, u8 *n, u64 blk)
{
	u8 *p = disk(e, e->parent[T_LEAF]);

	(void)blk;
	memcpy(n_key(n, n_nr(n) - 1), n_key(p, e->pidx[T_LEAF] + 1), 8);
}

/* Interior node: first key below its own parent's separator */
static void c_interior_below(struct venv *e, u8 *n, u64 blk)
{
	u8 *p = disk(e, e->parent[T_INTERIOR]);

	(void)blk;
	set64(n_key(n, 0), get64(n_key(p, e->pidx[T_INTERIOR])) - 1);
}

static void c_child_far(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	set64(n_val(n, 1), NR_BLOCKS + 1000);
}

static u64 r_child1(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	return get64(n_val(n, 1));
}

/* In range but not a tree block: reads as zeros */
static void c_child_free(struct venv *e, u8 *n, u64 blk)
{
	u64 b;

	(void)blk;
	for (b = NR_BLOCKS - 1; mem_host_is_allocated(e->h, b); b--)
		;
	set64(n_val(n, 1), b);
}

static void c_child_zero(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	set64(n_val(n, 1), 0);
}

static void c_child_self(struct venv *e, u8 *n, u64 blk)
{
	(void)e;
	set64(n_val(n, 1), blk);
}

/* Two entries of one node point at the same child */
static void c_child_twice(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	memcpy(n_val(n, 1), n_val(n, 0), 8);
}

static u64 r_child0(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	return get64(n_val(n, 0));
}

/* A node of another subtree points at this node's first child */
static void c_shared_child(struct venv *e, u8 *n, u64 blk)
{
	u8 *p = disk(e, e->parent[T_INTERIOR]);
	u8 *left = disk(e, get64(n_val(p, e->pidx[T_INTERIOR] - 1)));

	(void)blk;
	/* the left sibling's last child becomes this node's first child */
	memcpy(n_val(left, n_nr(left) - 1), n_val(n, 0), 8);
	reseal(e, left);
}

static void c_tail_key(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	n_key(n, n_max(n) - 1)[5] = 1;
}

static void c_tail_val(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	n_val(n, n_max(n) - 1)[0] = 1;
}

static void c_tail_end(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	n[BS - 1] = 0x80;
}

static void c_reserved(struct venv *e, u8 *n, u64 blk)
{
	(void)e; (void)blk;
	hd(n)->bn_reserved = cpu_to_le64(1);
}

static void c_generation(struct venv *e, u8 *n, u64 blk)
{
	(void)blk;
	hd(n)->bn_generation = cpu_to_le64(e->t.generation + 1);
}

static void s_records(struct venv *e, u8 *n, u64 blk)
{
	(void)n; (void)blk;
	e->t.nr_records++;
}

static void s_nodes(struct venv *e, u8 *n, u64 blk)
{
	(void)n; (void)blk;
	e->t.nr_nodes--;
}

static void s_height_up(struct venv *e, u8 *n, u64 blk)
{
	(void)n; (void)blk;
	e->t.height++;
}

static void s_height_down(struct venv *e, u8 *n, u64 blk)
{
	(void)n; (void)blk;
	e->t.height--;
}

static void s_height_zero(struct venv *e, u8 *n, u64 blk)
{
	(void)n; (void)blk;
	e->t.height = 0;
}

static void s_height_huge(struct venv *e, u8 *n, u64 blk)
{
	(void)n; (void)blk;
	e->t.height = EXT4_BTREE_MAX_HEIGHT + 1;
}

static const struct vcase cases[] = {
	{ .name = "bad magic (leaf)", .code = EXT4_BTREE_BAD_MAGIC,
	  .target = T_LEAF, .corrupt = c_magic,
	  .keep_csum = true, .read_detects = true },
	{ .name = "bad magic (interior)", .code = EXT4_BTREE_BAD_MAGIC,
	  .target = T_INTERIOR, .corrupt = c_magic,
	  .keep_csum = true, .read_detects = true },
	{ .name = "bad magic (root)", .code = EXT4_BTREE_BAD_MAGIC,
	  .target = T_ROOT, .corrupt = c_magic,
	  .keep_csum = true, .read_detects = true },
	{ .name = "bad checksum (leaf)", .code = EXT4_BTREE_BAD_CSUM,
	  .target = T_LEAF, .corrupt = c_csum,
	  .keep_csum = true, .read_detects = true },
	{ .name = "bad checksum (interior)", .code = EXT4_BTREE_BAD_CSUM,
	  .target = T_INTERIOR, .corrupt = c_csum,
	  .keep_csum = true, .read_detects = true },
	{ .name = "wrong bn_blocknr", .code = EXT4_BTREE_BAD_BLOCKNR,
	  .target = T_LEAF, .corrupt = c_blocknr,
	  .read_detects = true },
	{ .name = "wrong owner", .code = EXT4_BTREE_BAD_OWNER,
	  .target = T_INTERIOR, .corrupt = c_owner,
	  .read_detects = true },
	{ .name = "wrong tree type", .code = EXT4_BTREE_BAD_TREE_TYPE,
	  .target = T_LEAF, .corrupt = c_type,
	  .read_detects = true },
	{ .name = "wrong level (leaf)", .code = EXT4_BTREE_BAD_LEVEL,
	  .target = T_LEAF, .corrupt = c_level_up,
	  .read_detects = true },
	{ .name = "wrong level (interior)", .code = EXT4_BTREE_BAD_LEVEL,
	  .target = T_INTERIOR, .corrupt = c_level_up, .read_detects = true },
	{ .name = "wrong max entries", .code = EXT4_BTREE_BAD_GEOMETRY,
	  .target = T_LEAF, .corrupt = c_max,
	  .read_detects = true },
	{ .name = "wrong key size", .code = EXT4_BTREE_BAD_GEOMETRY,
	  .target = T_INTERIOR, .corrupt = c_key_size,
	  .read_detects = true },
	{ .name = "wrong value size", .code = EXT4_BTREE_BAD_GEOMETRY,
	  .target = T_LEAF, .corrupt = c_val_size,
	  .read_detects = true },
	{ .name = "nr_entries 0", .code = EXT4_BTREE_BAD_NR_ENTRIES,
	  .target = T_LEAF, .corrupt = c_nr_zero,
	  .read_detects = true },
	{ .name = "nr_entries over max", .code = EXT4_BTREE_BAD_NR_ENTRIES,
	  .target = T_INTERIOR, .corrupt = c_nr_over, .read_detects = true },
	{ .name = "nr_entries under min", .code = EXT4_BTREE_BAD_NR_ENTRIES,
	  .target = T_LEAF, .corrupt = c_nr_under },
	{ .name = "keys out of order", .code = EXT4_BTREE_BAD_KEY_ORDER,
	  .target = T_LEAF, .corrupt = c_order,
	  .read_detects = true },
	{ .name = "duplicate key", .code = EXT4_BTREE_BAD_KEY_ORDER,
	  .target = T_LEAF, .corrupt = c_dup_key,
	  .read_detects = true },
	{ .name = "leaf key below the parent's bound",
	  .code = EXT4_BTREE_KEY_OUT_OF_BOUNDS,
	  .target = T_LEAF, .corrupt = c_below_parent },
	{ .name = "leaf key at the next separator",
	  .code = EXT4_BTREE_KEY_OUT_OF_BOUNDS,
	  .target = T_LEAF, .corrupt = c_above_parent },
	{ .name = "interior key below the parent's bound",
	  .code = EXT4_BTREE_KEY_OUT_OF_BOUNDS,
	  .target = T_INTERIOR, .corrupt = c_interior_below },
	{ .name = "child pointer past the disk",
	  .code = EXT4_BTREE_BAD_CHILD_PTR,
	  .target = T_INTERIOR, .corrupt = c_child_far, .read_detects = true,
	  .report_blk = r_child1 },
	{ .name = "child pointer to a free block",
	  .code = EXT4_BTREE_BAD_CHILD_PTR,
	  .target = T_INTERIOR, .corrupt = c_child_free, .read_detects = true,
	  .report_blk = r_child1 },
	{ .name = "child pointer 0", .code = EXT4_BTREE_BAD_CHILD_PTR,
	  .target = T_INTERIOR, .corrupt = c_child_zero, .read_detects = true },
	{ .name = "child pointer to itself", .code = EXT4_BTREE_BAD_CHILD_PTR,
	  .target = T_INTERIOR, .corrupt = c_child_self, .read_detects = true },
	{ .name = "child referenced twice by one node",
	  .code = EXT4_BTREE_NODE_REACHED_TWICE,
	  .target = T_INTERIOR, .corrupt = c_child_twice,
	  .report_blk = r_child0 },
	{ .name = "child shared by two nodes",
	  .code = EXT4_BTREE_NODE_REACHED_TWICE,
	  .target = T_INTERIOR, .corrupt = c_shared_child,
	  .report_blk = r_child0,
	  /* the shared child is also outside the left node's range */
	  .extra = 1u << EXT4_BTREE_KEY_OUT_OF_BOUNDS },
	{ .name = "non-zero unused key slot", .code = EXT4_BTREE_DIRTY_TAIL,
	  .target = T_LEAF, .corrupt = c_tail_key, .read_detects = true },
	{ .name = "non-zero unused value slot", .code = EXT4_BTREE_DIRTY_TAIL,
	  .target = T_INTERIOR, .corrupt = c_tail_val, .read_detects = true },
	{ .name = "non-zero block tail", .code = EXT4_BTREE_DIRTY_TAIL,
	  .target = T_ROOT, .corrupt = c_tail_end,
	  .read_detects = true },
	{ .name = "non-zero bn_reserved", .code = EXT4_BTREE_BAD_RESERVED,
	  .target = T_LEAF, .corrupt = c_reserved,
	  .read_detects = true },
	{ .name = "node newer than the last commit",
	  .code = EXT4_BTREE_BAD_GENERATION,
	  .target = T_LEAF, .corrupt = c_generation },
	{ .name = "root slot record count", .code = EXT4_BTREE_BAD_RECORD_COUNT,
	  .target = T_SLOT, .corrupt = s_records },
	{ .name = "root slot node count", .code = EXT4_BTREE_BAD_NODE_COUNT,
	  .target = T_SLOT, .corrupt = s_nodes },
	{ .name = "root slot height too big", .code = EXT4_BTREE_BAD_HEIGHT,
	  .target = T_SLOT, .corrupt = s_height_up, .read_detects = true },
	{ .name = "root slot height too small", .code = EXT4_BTREE_BAD_HEIGHT,
	  .target = T_SLOT, .corrupt = s_height_down, .read_detects = true },
	{ .name = "root slot height 0 with a root",
	  .code = EXT4_BTREE_BAD_HEIGHT,
	  .target = T_SLOT, .corrupt = s_height_zero },
	{ .name = "root slot height over the maximum",
	  .code = EXT4_BTREE_BAD_HEIGHT,
	  .target = T_SLOT, .corrupt = s_height_huge, .read_detects = true },
};

/* Problems that follow from a rejected subtree not being counted */
#define COUNT_CODES	(1u << EXT4_BTREE_BAD_RECORD_COUNT | \
			 1u << EXT4_BTREE_BAD_NODE_COUNT)

static void run_case(const struct vcase *c, uint64_t seed)
{
	struct venv *e = venv_new(seed);
	struct vres *r = calloc(1, sizeof(*r));
	u64 blk = e->blk[c->target], want_blk;
	int err = c->code == EXT4_BTREE_BAD_CSUM ? -EFSBADCRC : -EFSCORRUPTED;
	u32 allowed = 1u << c->code | c->extra;
	u8 *n = NULL;
	long ret, errs;

	if (!r)
		tap_bail_out("out of memory");
	if (c->target != T_SLOT) {
		n = disk(e, blk);
		c->corrupt(e, n, blk);
		if (!c->keep_csum)
			reseal(e, n);
		allowed |= COUNT_CODES;
		want_blk = c->report_blk ? c->report_blk(e, n, blk) : blk;
	} else {
		c->corrupt(e, NULL, 0);
		want_blk = 0;
	}
	if (mem_host_drop_cache(e->h))
		tap_bail_out("drop_cache failed");

	ret = run_verify(e, r);
	if (!ok(ret > 0 && (r->codes & 1u << c->code),
		"%s: verify reports code %d", c->name, c->code)) {
		diag("  verify returned %ld", ret);
		codes_diag(r);
	}
	if (!ok(!(r->codes & ~allowed) && ret == (long)r->problems,
		"%s: and nothing else", c->name))
		codes_diag(r);
	if (!tap_is_u64(r->code_blk[c->code], want_blk,
			"%s: on the damaged block", c->name))
		codes_diag(r);
	ok(!mem_host_nr_refs(e->h), "%s: verify holds no references",
	   c->name);

	errs = read_back(e, c->name, err, c->read_detects);
	if (c->read_detects)
		ok(errs > 0, "%s: lookups, scans and deletes fail with %d (%ld times), never wrong",
		   c->name, err, errs);
	else
		ok(errs >= 0, "%s: lookups, scans and deletes do not crash or return wrong data",
		   c->name);
	ok(host_clean(e), "%s: no references left, no host errors", c->name);
	free(r);
	venv_free(e);
}

/* A clean tree, verified, then READ failing part way through the walk */
static void test_clean_and_read_error(uint64_t seed)
{
	struct venv *e = venv_new(seed);
	struct vres *r = calloc(1, sizeof(*r));
	long ret;

	if (!r)
		tap_bail_out("out of memory");
	ok(e->t.height >= 3, "the test tree has height %u >= 3", e->t.height);
	ret = run_verify(e, r);
	if (!ok(ret == 0 && !r->problems, "the clean tree verifies clean"))
		codes_diag(r);
	tap_is_int(read_back(e, "clean", -EFSCORRUPTED, true), 0,
		   "the clean tree reads back right");

	mem_host_drop_cache(e->h);
	mem_host_fail_after(e->h, MEM_OP_READ, 5, -EIO);
	ret = run_verify(e, r);
	mem_host_fail_after(e->h, MEM_OP_READ, 0, 0);
	if (!ok(ret > 0 && (r->codes & 1u << EXT4_BTREE_READ_ERROR) &&
		!(r->codes & ~(1u << EXT4_BTREE_READ_ERROR | COUNT_CODES)),
		"a failed read is reported as READ_ERROR"))
		codes_diag(r);
	ok(!mem_host_nr_refs(e->h), "read error: no references left");
	free(r);
	venv_free(e);
}

/*
 * Damage no read check can see: two entries of one node point at the same
 * child.  Changing the tree through both pointers in one transaction must
 * not shadow that child twice, which would free its block twice at
 * commit.  The tree may refuse (-EFSCORRUPTED) or go on, but the host
 * must see no double free and no leaked reference.
 */
static void test_shared_child_txn(uint64_t seed)
{
	struct venv *e = venv_new(seed);
	u64 blk = e->blk[T_INTERIOR];
	u8 *n = disk(e, blk);
	__le64 k0 = cpu_to_le64(get64(n_key(n, 0)) + 1);
	__le64 k1 = cpu_to_le64(get64(n_key(n, 1)) + 1);
	struct mem_host_stats st;
	int r0, r1, rc = -1;

	c_child_twice(e, n, blk);
	reseal(e, n);
	mem_host_drop_cache(e->h);
	r0 = ext4_btree_begin(&e->t);
	/* keys are even, so these two are new; one goes down each pointer */
	r0 = r0 ?: ext4_btree_insert(&e->t, &k0, &k0);
	r1 = r0 ?: ext4_btree_insert(&e->t, &k1, &k1);
	if (!r0 && !r1)
		rc = ext4_btree_commit(&e->t);
	if (rc)
		ext4_btree_abort(&e->t);
	mem_host_get_stats(e->h, &st);
	if (!ok(!st.errors && !mem_host_nr_refs(e->h),
		"shared child changed twice in one transaction: no double free, no leaked reference"))
		diag("  inserts %d %d, commit %d, host errors %llu, refs %llu",
		     r0, r1, rc, (unsigned long long)st.errors,
		     (unsigned long long)mem_host_nr_refs(e->h));
	venv_free(e);
}

/* ext4_btree_check_node on images built by hand */
static void build_node(struct venv *e, u8 *n, u64 blk, unsigned int level,
		       unsigned int nr)
{
	unsigned int max = level ? ext4_btree_node_capacity(&geo, BS) :
				   ext4_btree_leaf_capacity(&geo, BS);
	unsigned int i;

	memset(n, 0, BS);
	hd(n)->bn_magic = cpu_to_le32(EXT4_BTREE_MAGIC);
	hd(n)->bn_blocknr = cpu_to_le64(blk);
	hd(n)->bn_generation = cpu_to_le64(9);
	hd(n)->bn_owner = cpu_to_le32(OWNER);
	hd(n)->bn_tree_type = cpu_to_le16(geo.tree_type);
	hd(n)->bn_level = cpu_to_le16(level);
	hd(n)->bn_max_entries = cpu_to_le16(max);
	hd(n)->bn_key_size = cpu_to_le16(geo.key_size);
	hd(n)->bn_val_size = cpu_to_le16(level ? 8 : geo.val_size);
	hd(n)->bn_nr_entries = cpu_to_le16(nr);
	for (i = 0; i < nr; i++) {
		set64(n_key(n, i), 1000 + 10 * i);
		set64(n_val(n, i), level ? 100 + i : 0xdead0000 + i);
	}
	reseal(e, n);
}

static int check(struct venv *e, const u8 *n, u64 blk, int level,
		 enum ext4_btree_problem_code *code)
{
	struct ext4_btree_problem p;
	int ret;

	memset(&p, 0, sizeof(p));
	ret = ext4_btree_check_node(&e->t, n, blk, level, &p);
	*code = ret ? p.code : 0;
	return ret;
}

static void test_check_node(uint64_t seed)
{
	struct venv *e = venv_new(seed);
	static u8 n[BS];
	enum ext4_btree_problem_code code;
	const u8 *real = disk(e, e->blk[T_LEAF]);
	int ret;

	ret = check(e, real, e->blk[T_LEAF], 0, &code);
	tap_is_int(ret, 0, "check_node: a real leaf passes");
	ret = check(e, real, e->blk[T_LEAF], -1, &code);
	tap_is_int(ret, 0, "check_node: level -1 skips the level check");
	ret = check(e, real, e->blk[T_LEAF], 1, &code);
	ok(ret == -EFSCORRUPTED && code == EXT4_BTREE_BAD_LEVEL,
	   "check_node: a leaf checked as level 1 is BAD_LEVEL (%d, %d)",
	   ret, code);
	ret = check(e, real, e->blk[T_LEAF] + 1, 0, &code);
	ok(ret == -EFSCORRUPTED && code == EXT4_BTREE_BAD_BLOCKNR,
	   "check_node: the wrong block number is BAD_BLOCKNR (%d, %d)",
	   ret, code);

	build_node(e, n, 77, 0, 3);
	tap_is_int(check(e, n, 77, 0, &code), 0,
		   "check_node: a hand-built leaf passes");
	build_node(e, n, 77, 2, 4);
	tap_is_int(check(e, n, 77, 2, &code), 0,
		   "check_node: a hand-built interior node passes");

	build_node(e, n, 77, 0, 3);
	n[HDR + 2] ^= 1;
	ret = check(e, n, 77, 0, &code);
	ok(ret == -EFSBADCRC && code == EXT4_BTREE_BAD_CSUM,
	   "check_node: a flipped bit is -EFSBADCRC/BAD_CSUM (%d, %d)", ret,
	   code);

	build_node(e, n, 77, 0, 3);
	hd(n)->bn_magic = 0;
	ret = check(e, n, 77, 0, &code);
	ok(ret == -EFSCORRUPTED && code == EXT4_BTREE_BAD_MAGIC,
	   "check_node: magic 0 is BAD_MAGIC (%d, %d)", ret, code);

	build_node(e, n, 77, 0, 3);
	set64(n_key(n, 2), 1000);
	reseal(e, n);
	ret = check(e, n, 77, 0, &code);
	ok(ret == -EFSCORRUPTED && code == EXT4_BTREE_BAD_KEY_ORDER,
	   "check_node: unsorted keys are BAD_KEY_ORDER (%d, %d)", ret, code);

	build_node(e, n, 77, 0, 0);
	ret = check(e, n, 77, 0, &code);
	ok(ret == -EFSCORRUPTED && code == EXT4_BTREE_BAD_NR_ENTRIES,
	   "check_node: an empty node is BAD_NR_ENTRIES (%d, %d)", ret, code);

	build_node(e, n, 77, 0, 3);
	hd(n)->bn_nr_entries = cpu_to_le16(6);
	reseal(e, n);
	ret = check(e, n, 77, 0, &code);
	ok(ret == -EFSCORRUPTED && code == EXT4_BTREE_BAD_NR_ENTRIES,
	   "check_node: nr over max is BAD_NR_ENTRIES (%d, %d)", ret, code);

	build_node(e, n, 77, 0, 3);
	n[BS / 2] = 1;
	reseal(e, n);
	ret = check(e, n, 77, 0, &code);
	ok(ret == -EFSCORRUPTED && code == EXT4_BTREE_DIRTY_TAIL,
	   "check_node: a dirty tail is DIRTY_TAIL (%d, %d)", ret, code);

	build_node(e, n, 77, 0, 3);
	hd(n)->bn_reserved = cpu_to_le64(1ull << 63);
	reseal(e, n);
	ret = check(e, n, 77, 0, &code);
	ok(ret == -EFSCORRUPTED && code == EXT4_BTREE_BAD_RESERVED,
	   "check_node: bn_reserved set is BAD_RESERVED (%d, %d)", ret, code);

	build_node(e, n, 77, 1, 3);
	set64(n_val(n, 1), 0);
	reseal(e, n);
	ret = check(e, n, 77, 1, &code);
	ok(ret == -EFSCORRUPTED && code == EXT4_BTREE_BAD_CHILD_PTR,
	   "check_node: a child pointer 0 is BAD_CHILD_PTR (%d, %d)", ret,
	   code);

	build_node(e, n, 77, 0, 3);
	hd(n)->bn_val_size = cpu_to_le16(geo.val_size + 8);
	reseal(e, n);
	ret = check(e, n, 77, 0, &code);
	ok(ret == -EFSCORRUPTED && code == EXT4_BTREE_BAD_GEOMETRY,
	   "check_node: a wrong value size is BAD_GEOMETRY (%d, %d)", ret,
	   code);

	build_node(e, n, 77, 0, 3);
	hd(n)->bn_level = cpu_to_le16(EXT4_BTREE_MAX_HEIGHT);
	reseal(e, n);
	ret = check(e, n, 77, -1, &code);
	ok(ret == -EFSCORRUPTED && code == EXT4_BTREE_BAD_LEVEL,
	   "check_node: a level past the maximum is BAD_LEVEL (%d, %d)", ret,
	   code);
	venv_free(e);
}

int main(void)
{
	uint64_t seed = tap_seed();
	unsigned int i;

	test_clean_and_read_error(seed);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], seed);
	test_shared_child_txn(seed);
	test_check_node(seed);
	return done_testing();
}

// SPDX-License-Identifier: GPL-2.0
/*
 * rd_inspect.c - read-only commands: stats, flexbg, tree, node, records,
 * refcount.  Damage found on the way is printed as part of the output
 * (it is what the user is looking for), not as an error.
 */
#include <stdlib.h>
#include <string.h>

#include "flexbg/flexbg_e2fs.h"
#include "rd_fields.h"
#include "rd_walk.h"
#include "reflink/rfl_space.h"

static void print_bad(struct rd_walk *w, ull blk, int level, const char *why)
{
	/* JSON output stays JSON: what is damaged goes to stderr then */
	FILE *f = rd.json ? stderr : stdout;

	(void)w;
	if (level < 0)
		fprintf(f, "  block %llu: %s\n", blk, why);
	else
		fprintf(f, "  node %llu (level %d): %s\n", blk, level, why);
}

static bool parse_fg(const char *cmd, const char *s, u32 *fg)
{
	ull v;

	if (!rd_parse_u64(cmd, s, "flex group", rd_nr_flex() - 1, &v))
		return false;
	*fg = (u32)v;
	return true;
}

static bool parse_block(const char *cmd, const char *s, ull *blk)
{
	return rd_parse_u64(cmd, s, "block", rd_blocks_count() - 1, blk);
}

static void stats_json_group(u32 fg, const struct rd_walk *w, bool first)
{
	printf("%s{\"flex_group\": %u, \"metadata_block\": %llu", first ?
	       "" : ", ", fg, rd_meta_block(fg));
	if (w)
		printf(", \"height\": %u, \"nodes\": %llu, \"records\": %llu, "
		       "\"shared_blocks\": %llu}", w->height, w->nodes,
		       w->records, w->shared);
	else
		printf("}");
}

void do_stats(RD_ARGS)
{
	struct rd_walk w = { .bad = print_bad };
	ull nodes = 0, records = 0, shared = 0, trees = 0;
	struct rfl_space sp;
	errcode_t ret;
	u32 fg;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 0, 0, "") || !rd_need_open(argv[0]))
		return;
	if (rd.json)
		printf("{\"block_size\": %u, \"blocks\": %llu, "
		       "\"flex_groups\": [", rd_block_size(),
		       rd_blocks_count());
	else
		printf("block size %u, %u flex groups of %llu blocks, %llu "
		       "blocks\n", rd_block_size(), rd_nr_flex(),
		       (ull)e2fs_flex_group_size(rd_fs()) *
		       rd_fs()->super->s_blocks_per_group,
		       rd_blocks_count());
	for (fg = 0; fg < rd_nr_flex(); fg++) {
		if (!rd_meta_block(fg)) {
			if (rd.json)
				stats_json_group(fg, NULL, !fg);
			else
				printf("flex group %u: no metadata block\n",
				       fg);
			continue;
		}
		if (!rd.json)
			printf("flex group %u: metadata block %llu\n", fg,
			       rd_meta_block(fg));
		ret = rd_walk_group(&w, fg);
		if (ret) {
			if (rd.json)
				printf("]}\n");
			rd_com_err(argv[0], ret, "flex group %u", fg);
			return;
		}
		if (rd.json)
			stats_json_group(fg, &w, !fg);
		else
			printf("flex group %u: height %u nodes %llu records "
			       "%llu shared blocks %llu\n", fg, w.height,
			       w.nodes, w.records, w.shared);
		trees += w.height > 0;
		nodes += w.nodes;
		records += w.records;
		shared += w.shared;
	}
	if (rd.json)
		printf("], \"total\": {\"trees\": %llu, \"nodes\": %llu, "
		       "\"records\": %llu, \"shared_blocks\": %llu}", trees,
		       nodes, records, shared);
	else
		printf("total: trees %llu nodes %llu records %llu shared "
		       "blocks %llu\n", trees, nodes, records, shared);
	/* the words of du, for every regular file (rfl_space.h) */
	ret = rfl_space_fs(rd.rfs, &sp);
	if (rd.json) {
		if (ret)
			printf(", \"space\": null}\n");
		else
			printf(", \"space\": {\"total\": %llu, \"exclusive\": "
			       "%llu, \"shared\": %llu, \"saved\": %llu}}\n",
			       (ull)sp.total, (ull)sp.exclusive,
			       (ull)sp.shared, (ull)sp.saved);
	} else if (ret) {
		/* a damaged tree (open -c) still gets the rest of stats */
		printf("space: not counted: %s\n", error_message(ret));
	} else {
		printf("space: total %llu exclusive %llu shared %llu saved "
		       "%llu bytes\n", (ull)sp.total, (ull)sp.exclusive,
		       (ull)sp.shared, (ull)sp.saved);
	}
}

/* The tree's reserve: where, how large, how much of it the tree uses */
static void print_reserve(u32 fg, const void *buf)
{
	struct rfl_group *grp;
	u32 rs, rl;
	ull want = rfl_fg_resv_blocks(rd.rfs->fs, fg);

	if (!ext4_rfx_get_resv(buf, &rs, &rl)) {
		printf("reserve: none (made before reserves; mkreflink "
		       "--enable adds %llu blocks)\n", want);
		return;
	}
	printf("reserve: blocks %llu-%llu (%u blocks, %llu expected)",
	       rd_flex_first(fg) + rs, rd_flex_first(fg) + rs + rl - 1, rl,
	       want);
	if (rfl_group_load(rd.rfs, fg, &grp))
		printf(", metadata block not loaded");
	else if (grp->resv_bad)
		printf(", BAD");
	else if (grp->resv_len)
		printf(", %llu free for the tree",
		       (ull)e2fs_host_reserve_free(grp->host));
	putchar('\n');
}

void do_flexbg(RD_ARGS)
{
	struct ext4_rfx_problem p = { .code = EXT4_RFX_OK };
	u32 fg, stored, csum;
	blk64_t mblk;
	ull blk;
	char *buf;
	errcode_t ret;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 1, 1, "FLEXGROUP") ||
	    !rd_need_open(argv[0]) || !parse_fg(argv[0], argv[1], &fg))
		return;
	blk = rd_meta_block(fg);
	printf("flex group %u: first block %llu, %llu blocks, bg_reserved "
	       "%u\n", fg, rd_flex_first(fg), rd_flex_len(fg),
	       rd_bg_reserved(fg));
	if (!blk) {
		printf("no metadata block\n");
		return;
	}
	buf = malloc(rd_block_size());
	if (!buf)
		return;
	/* A problem in the block is printed below, not refused */
	ret = rfl_fg_read_meta(rd_fs(), rd.rfs->csum_seed, fg, buf, &mblk,
			       &p);
	if (ret && p.code == EXT4_RFX_OK) {
		if (!mblk)
			rd_err(argv[0], "flex group %u: bg_reserved %u is "
			       "outside the flex group", fg,
			       rd_bg_reserved(fg));
		else
			rd_com_err(argv[0], ret, "block %llu", blk);
		goto out;
	}
	printf("metadata block %llu\n", blk);
	rd_struct_print(buf, &rd_flexbg_struct, 0, 0);
	stored = le32_to_cpu(((struct ext4_rfx_block *)buf)->fm_checksum);
	csum = ext4_rfx_csum(buf, rd_block_size(), rd.rfs->csum_seed);
	if (stored == csum)
		printf("checksum: valid\n");
	else
		printf("checksum: INVALID (stored 0x%08x, computed 0x%08x)\n",
		       stored, csum);
	if (p.code != EXT4_RFX_OK && p.slot >= 0)
		printf("check: FAIL: %s in slot %d (expected %llu, found "
		       "%llu)\n", ext4_rfx_problem_words(p.code), p.slot,
		       (ull)p.expected, (ull)p.found);
	else if (p.code == EXT4_RFX_BAD_MAGIC || p.code == EXT4_RFX_BAD_CSUM)
		printf("check: FAIL: %s (expected 0x%08llx, found 0x%08llx)\n",
		       ext4_rfx_problem_words(p.code), (ull)p.expected,
		       (ull)p.found);
	else if (p.code != EXT4_RFX_OK)
		printf("check: FAIL: %s (expected %llu, found %llu)\n",
		       ext4_rfx_problem_words(p.code), (ull)p.expected,
		       (ull)p.found);
	else
		printf("check: ok\n");
	print_reserve(fg, buf);
out:
	free(buf);
}

/* tree: collect every node, print them level by level */
struct tree_node {
	int level;
	ull blk;
	unsigned int nr;
	u32 lo, hi;
};

struct tree_ctx {
	struct tree_node *v;
	size_t nr, max;
};

static int tree_node_cb(struct rd_walk *w, ull blk, int level,
			const void *data)
{
	struct tree_ctx *tc = w->priv;
	const struct ext4_btree_node_head *h = data;
	struct tree_node *n;
	__le32 k;

	if (tc->nr == tc->max) {
		size_t m = tc->max ? tc->max * 2 : 64;
		void *p = realloc(tc->v, m * sizeof(*tc->v));

		if (!p)
			return 1;
		tc->v = p;
		tc->max = m;
	}
	n = &tc->v[tc->nr++];
	n->level = level;
	n->blk = blk;
	n->nr = le16_to_cpu(h->bn_nr_entries);
	memcpy(&k, (const char *)data + rd_key_off(0), 4);
	n->lo = le32_to_cpu(k);
	memcpy(&k, (const char *)data + rd_key_off(n->nr - 1), 4);
	n->hi = le32_to_cpu(k);
	return 0;
}

void do_tree(RD_ARGS)
{
	struct tree_ctx tc = { 0 };
	struct rd_walk w = { .bad = print_bad, .node = tree_node_cb,
			     .priv = &tc };
	errcode_t ret;
	size_t i;
	int level;
	u32 fg;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 1, 1, "FLEXGROUP") ||
	    !rd_need_open(argv[0]) || !parse_fg(argv[0], argv[1], &fg))
		return;
	if (!rd_meta_block(fg)) {
		printf("flex group %u: no metadata block\n", fg);
		return;
	}
	ret = rd_walk_group(&w, fg);
	if (ret) {
		rd_com_err(argv[0], ret, "flex group %u", fg);
		goto out;
	}
	printf("flex group %u: root %llu height %u\n", fg, w.root, w.height);
	for (level = (int)w.height - 1; level >= 0; level--) {
		printf("level %d:\n", level);
		for (i = 0; i < tc.nr; i++)
			if (tc.v[i].level == level)
				printf("  node %llu level %d entries %u keys "
				       "%u..%u\n", tc.v[i].blk, level,
				       tc.v[i].nr, tc.v[i].lo, tc.v[i].hi);
	}
	printf("nodes %llu records %llu\n", w.nodes, w.records);
out:
	free(tc.v);
}

static bool all_zero(const char *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/*
 * Every check the verifier makes on a lone node (FORMAT.md 8.6), each
 * reported separately, where ext4_btree_check_node stops at the first
 */
static unsigned int node_checks(u32 fg, ull blk, const char *buf)
{
	const struct ext4_btree_node_head *h = (const void *)buf;
	unsigned int cap = rd_node_capacity(), nr, lvl, i, bad = 0;
	struct ext4_btree tree;
	ull first = rd_flex_first(fg), end = first + rd_flex_len(fg);
	u32 csum;

#define FAIL(...) do { printf("check: FAIL: " __VA_ARGS__); \
		       printf("\n"); bad++; } while (0)
	rd_check_tree(fg, &tree);
	if (le32_to_cpu(h->bn_magic) != EXT4_BTREE_MAGIC)
		FAIL("bn_magic 0x%08x, expected 0x%08x",
		     le32_to_cpu(h->bn_magic), EXT4_BTREE_MAGIC);
	csum = ext4_btree_node_csum(&tree, buf);
	if (le32_to_cpu(h->bn_checksum) != csum)
		FAIL("bn_checksum 0x%08x, computed 0x%08x",
		     le32_to_cpu(h->bn_checksum), csum);
	if (le64_to_cpu(h->bn_blocknr) != blk)
		FAIL("bn_blocknr %llu, expected %llu",
		     (ull)le64_to_cpu(h->bn_blocknr), blk);
	if (le32_to_cpu(h->bn_owner) != fg)
		FAIL("bn_owner %u, expected %u", le32_to_cpu(h->bn_owner), fg);
	if (le16_to_cpu(h->bn_tree_type) != EXT4_TREE_REFCOUNT)
		FAIL("bn_tree_type %u, expected %u",
		     le16_to_cpu(h->bn_tree_type), EXT4_TREE_REFCOUNT);
	lvl = le16_to_cpu(h->bn_level);
	if (lvl >= EXT4_BTREE_MAX_HEIGHT)
		FAIL("bn_level %u, at most %u", lvl, EXT4_BTREE_MAX_HEIGHT - 1);
	if (le16_to_cpu(h->bn_max_entries) != cap)
		FAIL("bn_max_entries %u, expected %u",
		     le16_to_cpu(h->bn_max_entries), cap);
	if (le16_to_cpu(h->bn_key_size) != 4)
		FAIL("bn_key_size %u, expected 4",
		     le16_to_cpu(h->bn_key_size));
	if (le16_to_cpu(h->bn_val_size) != 8)
		FAIL("bn_val_size %u, expected 8",
		     le16_to_cpu(h->bn_val_size));
	nr = le16_to_cpu(h->bn_nr_entries);
	if (!nr || nr > cap)
		FAIL("bn_nr_entries %u, expected 1..%u", nr, cap);
	if (h->bn_reserved)
		FAIL("bn_reserved 0x%llx, expected 0",
		     (ull)le64_to_cpu(h->bn_reserved));
	if (nr > cap)
		nr = cap;
	for (i = 1; i < nr; i++) {
		__le32 a, b;

		memcpy(&a, buf + rd_key_off(i - 1), 4);
		memcpy(&b, buf + rd_key_off(i), 4);
		if (le32_to_cpu(a) >= le32_to_cpu(b))
			FAIL("key %u (%u) not above key %u (%u)", i,
			     le32_to_cpu(b), i - 1, le32_to_cpu(a));
	}
	if (!all_zero(buf + rd_key_off(nr), (cap - nr) * 4) ||
	    !all_zero(buf + rd_val_off(nr), (cap - nr) * 8))
		FAIL("entries past bn_nr_entries not zero");
	if (!all_zero(buf + rd_val_off(cap),
		      rd_block_size() - rd_val_off(cap)))
		FAIL("tail of the block not zero");
	for (i = 0; lvl && i < nr; i++) {
		__le64 c;

		memcpy(&c, buf + rd_val_off(i), 8);
		if (le64_to_cpu(c) < first || le64_to_cpu(c) >= end ||
		    le64_to_cpu(c) == blk)
			FAIL("child %u (%llu) outside the flex group", i,
			     (ull)le64_to_cpu(c));
	}
#undef FAIL
	return bad;
}

/* node [-f] BLOCK: decode a tree node; -f decodes whatever is there */
void do_node(RD_ARGS)
{
	const struct ext4_btree_node_head *h;
	unsigned int cap, nr, i;
	bool force = false;
	char *buf;
	errcode_t ret;
	ull blk;
	u32 fg;

	(void)sci_idx;
	(void)infop;
	if (argc > 1 && !strcmp(argv[1], "-f")) {
		force = true;
		argc--;
		argv++;
	}
	if (!rd_check_args(argc, argv, 1, 1, "[-f] BLOCK") ||
	    !rd_need_open(argv[0]) || !parse_block(argv[0], argv[1], &blk))
		return;
	buf = malloc(rd_block_size());
	if (!buf)
		return;
	ret = rd_read_block(blk, buf);
	if (ret) {
		rd_com_err(argv[0], ret, "block %llu", blk);
		goto out;
	}
	h = (const void *)buf;
	if (le32_to_cpu(h->bn_magic) != EXT4_BTREE_MAGIC && !force) {
		rd_err(argv[0], "block %llu is not a tree node (bn_magic "
		       "0x%08x; node -f decodes it anyway)", blk,
		       le32_to_cpu(h->bn_magic));
		goto out;
	}
	fg = rd_flex_of(blk);
	cap = rd_node_capacity();
	printf("node %llu (flex group %u)\n", blk, fg);
	rd_struct_print(buf, &rd_node_struct, 0, 0);
	nr = le16_to_cpu(h->bn_nr_entries);
	if (nr > cap)
		nr = cap;
	for (i = 0; i < nr; i++) {
		__le32 k, len, count;
		__le64 c;

		memcpy(&k, buf + rd_key_off(i), 4);
		if (le16_to_cpu(h->bn_level)) {
			memcpy(&c, buf + rd_val_off(i), 8);
			printf("entry %u: rk_start %u child %llu\n", i,
			       le32_to_cpu(k), (ull)le64_to_cpu(c));
			continue;
		}
		memcpy(&len, buf + rd_val_off(i), 4);
		memcpy(&count, buf + rd_val_off(i) + 4, 4);
		printf("entry %u: rk_start %u rv_len %u rv_count %u\n", i,
		       le32_to_cpu(k), le32_to_cpu(len), le32_to_cpu(count));
	}
	if (!node_checks(fg, blk, buf))
		printf("check: ok\n");
out:
	free(buf);
}

struct records_ctx {
	u32 lo, hi;
	ull first;
	ull n;
};

static int records_cb(struct rd_walk *w, const struct ext4_refcount_rec *r)
{
	struct records_ctx *rc = w->priv;

	if (r->start < rc->lo || r->start > rc->hi)
		return 0;
	if (rd.json)
		printf("%s{\"start\": %u, \"len\": %u, \"count\": %u, "
		       "\"first_block\": %llu, \"last_block\": %llu}",
		       rc->n ? ", " : "", r->start, r->len, r->count,
		       rc->first + r->start,
		       rc->first + r->start + r->len - 1);
	else
		printf("start %u len %u count %u blocks %llu-%llu\n",
		       r->start, r->len, r->count, rc->first + r->start,
		       rc->first + r->start + r->len - 1);
	rc->n++;
	return 0;
}

/* records FLEXGROUP [START [END]]: START, END relative, inclusive */
void do_records(RD_ARGS)
{
	struct records_ctx rc = { 0, 0xffffffffu, 0, 0 };
	struct rd_walk w = { .bad = print_bad, .record = records_cb,
			     .priv = &rc };
	errcode_t ret;
	ull v;
	u32 fg;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 1, 3, "FLEXGROUP [START [END]]") ||
	    !rd_need_open(argv[0]) || !parse_fg(argv[0], argv[1], &fg))
		return;
	if (argc > 2) {
		if (!rd_parse_u64(argv[0], argv[2], "start", 0xffffffffu, &v))
			return;
		rc.lo = v;
	}
	if (argc > 3) {
		if (!rd_parse_u64(argv[0], argv[3], "end", 0xffffffffu, &v))
			return;
		rc.hi = v;
	}
	if (rc.hi < rc.lo) {
		rd_err(argv[0], "end %u is before start %u", rc.hi, rc.lo);
		return;
	}
	rc.first = rd_flex_first(fg);
	if (rd.json)
		printf("{\"flex_group\": %u, \"records\": [", fg);
	ret = rd_walk_group(&w, fg);
	if (rd.json)
		printf("]}\n");
	if (ret)
		rd_com_err(argv[0], ret, "flex group %u", fg);
}

void do_refcount(RD_ARGS)
{
	errcode_t ret;
	__u32 count;
	ull blk;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 1, 1, "BLOCK") ||
	    !rd_need_open(argv[0]) || !parse_block(argv[0], argv[1], &blk))
		return;
	ret = rfl_refcount(rd.rfs, blk, &count);
	if (ret) {
		rd_com_err(argv[0], ret, "block %llu", blk);
		return;
	}
	printf("block %llu: refcount %u\n", blk, count);
}

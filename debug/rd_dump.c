// SPDX-License-Identifier: GPL-2.0
/*
 * rd_dump.c - dump every flex group's refcount metadata as text, and
 * restore it.
 *
 *	flexgroup FG meta BLOCK		(or: flexgroup FG none)
 *	field NAME VALUE		metadata block fields
 *	record START LEN COUNT		one per record, relative, in order
 *
 * Fields a commit sets (fm_checksum, fm_generation and each slot's
 * rr_height, rr_root, rr_records, rr_nodes) are left out, so dump,
 * restore, dump gives the same text.  restore rebuilds each tree with
 * the bulk loader in one copy-on-write commit, then writes the dumped
 * fields into the metadata block with a valid checksum; it checks the
 * whole file before it writes anything.  Editing a dump and restoring it
 * is the way to repair a tree by hand.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rd_fields.h"
#include "rd_walk.h"
#include "util/vec.h"

#define DUMP_HEADER	"# refdebug dump v1"

static bool derived(const char *name)
{
	static const char *const list[] = {
		"fm_checksum", "fm_generation", ".rr_height", ".rr_root",
		".rr_records", ".rr_nodes",
	};
	size_t i, n = strlen(name), m;

	for (i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
		m = strlen(list[i]);
		if (n >= m && !strcmp(name + n - m, list[i]))
			return true;
	}
	return false;
}

struct dump_ctx {
	FILE *out;
	const void *block;
};

static void dump_field(void *priv, const struct rd_fref *ref)
{
	struct dump_ctx *dc = priv;

	if (derived(ref->name))
		return;
	if (ref->hex)
		fprintf(dc->out, "field %s 0x%llx\n", ref->name,
			rd_field_get(dc->block, ref));
	else
		fprintf(dc->out, "field %s %llu\n", ref->name,
			rd_field_get(dc->block, ref));
}

static int dump_record(struct rd_walk *w, const struct ext4_refcount_rec *r)
{
	struct dump_ctx *dc = w->priv;

	fprintf(dc->out, "record %u %u %u\n", r->start, r->len, r->count);
	return 0;
}

static void dump_bad(struct rd_walk *w, ull blk, int level, const char *why)
{
	(void)w;
	if (level < 0)
		rd_err("dump", "block %llu: %s", blk, why);
	else
		rd_err("dump", "node %llu: %s: its records are missing from "
		       "the dump", blk, why);
}

/* dump FILE ("-": stdout) */
void do_dump_refcounts(RD_ARGS)
{
	struct dump_ctx dc;
	struct rd_walk w = { .record = dump_record, .bad = dump_bad,
			     .priv = &dc };
	errcode_t ret;
	char *buf;
	ull blk;
	u32 fg;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 1, 1, "FILE") ||
	    !rd_need_open(argv[0]))
		return;
	buf = malloc(rd_block_size());
	if (!buf)
		return;
	dc.out = strcmp(argv[1], "-") ? fopen(argv[1], "w") : stdout;
	if (!dc.out) {
		rd_err(argv[0], "%s: %s", argv[1], strerror(errno));
		goto out;
	}
	dc.block = buf;
	fprintf(dc.out, DUMP_HEADER "\n");
	for (fg = 0; fg < rd_nr_flex(); fg++) {
		if (!rd_load_meta(fg, buf, &blk)) {
			if (blk)
				rd_err(argv[0], "flex group %u: metadata "
				       "block %llu cannot be read", fg, blk);
			fprintf(dc.out, "flexgroup %u none\n", fg);
			continue;
		}
		fprintf(dc.out, "flexgroup %u meta %llu\n", fg, blk);
		rd_field_each(&rd_flexbg_struct, 0, 0, dump_field, &dc);
		ret = rd_walk_group(&w, fg);
		if (ret) {
			rd_com_err(argv[0], ret, "flex group %u", fg);
			break;
		}
	}
	if (dc.out != stdout && fclose(dc.out))
		rd_err(argv[0], "%s: %s", argv[1], strerror(errno));
	else if (dc.out == stdout)
		fflush(stdout);
out:
	free(buf);
}

/* One flex group as the dump describes it */
struct rgroup {
	bool present;
	ull meta;			/* 0: none */
	struct rd_fref *refs;
	ull *vals;
	unsigned int nr_fields;
	struct ext4_refcount_rec *recs;
	size_t nr_recs, max_recs;
};

static void free_groups(struct rgroup *g, u32 n)
{
	u32 i;

	for (i = 0; g && i < n; i++) {
		free(g[i].refs);
		free(g[i].vals);
		free(g[i].recs);
	}
	free(g);
}

static bool add_rec(struct rgroup *g, u32 start, u32 len, u32 count)
{
	if (rfl_vec_grow((void **)&g->recs, &g->max_recs, g->nr_recs,
			 sizeof(*g->recs)))
		return false;
	g->recs[g->nr_recs].start = start;
	g->recs[g->nr_recs].len = len;
	g->recs[g->nr_recs].count = count;
	g->nr_recs++;
	return true;
}

static bool add_field(struct rgroup *g, const struct rd_fref *ref, ull v)
{
	void *p = realloc(g->refs, (g->nr_fields + 1) * sizeof(*g->refs));

	if (!p)
		return false;
	g->refs = p;
	p = realloc(g->vals, (g->nr_fields + 1) * sizeof(*g->vals));
	if (!p)
		return false;
	g->vals = p;
	g->refs[g->nr_fields] = *ref;
	g->vals[g->nr_fields++] = v;
	return true;
}

/* Parse and check the whole dump; NULL (after a message) if it is bad */
static struct rgroup *parse_dump(const char *cmd, const char *file)
{
	struct rgroup *groups, *cur = NULL;
	char *line = NULL, w1[64], w2[64];
	unsigned long long a, b, c;
	struct rd_fref ref;
	size_t cap = 0;
	unsigned int lineno = 0;
	FILE *f;
	bool ok = false;
	int n;

	f = strcmp(file, "-") ? fopen(file, "r") : stdin;
	if (!f) {
		rd_err(cmd, "%s: %s", file, strerror(errno));
		return NULL;
	}
	groups = calloc(rd_nr_flex(), sizeof(*groups));
	if (!groups)
		goto out;
#define BAD(...) do { fprintf(stderr, "%s: %s: line %u: ", cmd, file, \
			      lineno); fprintf(stderr, __VA_ARGS__); \
		      fputc('\n', stderr); rd.failed = true; goto out; } \
		 while (0)
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		if (sscanf(line, "flexgroup %llu %63s %n", &a, w1, &n) == 2) {
			if (a >= rd_nr_flex())
				BAD("flex group %llu out of range (0..%u)", a,
				    rd_nr_flex() - 1);
			cur = &groups[a];
			if (cur->present)
				BAD("flex group %llu appears twice", a);
			cur->present = true;
			if (!strcmp(w1, "none") && !line[n])
				continue;
			if (strcmp(w1, "meta") ||
			    sscanf(line + n, "%llu %63s", &b, w2) != 1)
				BAD("expected 'flexgroup N meta BLOCK' or "
				    "'flexgroup N none'");
			if (b != rd_meta_block(a))
				BAD("flex group %llu: metadata block %llu, "
				    "but the image has %llu", a, b,
				    rd_meta_block(a));
			cur->meta = b;
			continue;
		}
		if (!cur)
			BAD("expected 'flexgroup N ...' first");
		if (sscanf(line, "field %63s %63s %n", w1, w2, &n) == 2 &&
		    !line[n]) {
			if (!cur->meta)
				BAD("field of a flex group without metadata "
				    "block");
			if (!rd_field_find(&rd_flexbg_struct, 0, 0, w1, &ref) ||
			    derived(w1))
				BAD("unknown field '%s'", w1);
			errno = 0;
			a = strtoull(w2, NULL, 0);
			if (errno || w2[0] == '-' || a > rd_field_max(&ref))
				BAD("%s: bad value '%s'", w1, w2);
			if (!add_field(cur, &ref, a))
				BAD("out of memory");
			continue;
		}
		if (sscanf(line, "record %llu %llu %llu %n", &a, &b, &c, &n) ==
		    3 && !line[n] && !strchr(line, '-')) {
			if (a > 0xffffffffu || b > 0xffffffffu ||
			    c > 0xffffffffu)
				BAD("record value out of range (32 bits)");
			if (cur->nr_recs &&
			    cur->recs[cur->nr_recs - 1].start >= a)
				BAD("record %llu is not after the previous "
				    "one (records go in increasing order)", a);
			if (!add_rec(cur, a, b, c))
				BAD("out of memory");
			continue;
		}
		BAD("cannot parse '%s'", line);
	}
#undef BAD
	ok = true;
out:
	free(line);
	if (f != stdin)
		fclose(f);
	if (!ok) {
		free_groups(groups, rd_nr_flex());
		return NULL;
	}
	return groups;
}

struct feed {
	const struct rgroup *g;
	size_t i;
};

static int feed_next(void *priv, void *key, void *val)
{
	struct feed *fd = priv;

	ext4_refcount_rec_encode(&fd->g->recs[fd->i++], key, val);
	return 0;
}

/*
 * The library will not load a damaged metadata block: write a fresh one
 * with no tree in its place.  The old tree's blocks stay marked in use
 * (leaked); reflinkck -fy frees them.
 */
static errcode_t fresh_meta(u32 fg, ull blk)
{
	errcode_t ret;
	char *buf;

	buf = malloc(rd_block_size());
	if (!buf)
		return EXT2_ET_NO_MEMORY;
	ext4_rfx_init(buf, rd_block_size(), blk, fg);
	ext4_rfx_seal(buf, rd_block_size(), rd.rfs->csum_seed, blk, fg);
	ret = rd_write_block(blk, buf);
	free(buf);
	if (!ret)
		printf("flex group %u: damaged metadata block %llu rewritten; "
		       "the old tree's blocks are leaked (reflinkck -fy frees "
		       "them)\n", fg, blk);
	return ret;
}

/* Rebuild one group's tree, then put the dumped fields in place */
static errcode_t restore_group(u32 fg, const struct rgroup *g)
{
	struct rfl_group *grp;
	struct feed fd = { g, 0 };
	errcode_t ret;
	unsigned int i;
	char *buf;

	ret = rfl_group_load(rd.rfs, fg, &grp);
	if (ret == RFL_ET_BAD_MAGIC || ret == RFL_ET_BAD_CSUM ||
	    ret == RFL_ET_CORRUPT_META || ret == RFL_ET_BAD_VERSION) {
		ret = fresh_meta(fg, g->meta);
		if (!ret)
			ret = rfl_group_load(rd.rfs, fg, &grp);
	}
	if (ret)
		return ret;
	ret = rfl_group_bulk_load(grp, g->nr_recs, 75, feed_next, &fd);
	if (ret)
		return ret;
	buf = malloc(rd_block_size());
	if (!buf)
		return EXT2_ET_NO_MEMORY;
	ret = rd_read_block(g->meta, buf);
	if (!ret) {
		for (i = 0; i < g->nr_fields; i++)
			rd_field_set(buf, &g->refs[i], g->vals[i]);
		((struct ext4_rfx_block *)buf)->fm_checksum =
			cpu_to_le32(ext4_rfx_csum(buf, rd_block_size(),
						  rd.rfs->csum_seed));
		ret = rd_write_block(g->meta, buf);
	}
	free(buf);
	return ret;
}

static void count_bad(struct rd_walk *w, ull blk, int level,
		      const char *why)
{
	(void)blk;
	(void)level;
	(void)why;
	(*(unsigned int *)w->priv)++;
}

/* The bulk loader frees the old tree by walking it: say if it cannot */
static bool old_tree_damaged(u32 fg)
{
	unsigned int bad = 0;
	struct rd_walk w = { .bad = count_bad, .priv = &bad };

	return rd_walk_group(&w, fg) || bad;
}

/* restore FILE ("-": stdin) */
void do_restore(RD_ARGS)
{
	struct rgroup *groups;
	errcode_t ret;
	u32 fg;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 1, 1, "FILE") ||
	    !rd_need_rw(argv[0]))
		return;
	groups = parse_dump(argv[0], argv[1]);
	if (!groups)
		return;
	for (fg = 0; fg < rd_nr_flex(); fg++) {
		const struct rgroup *g = &groups[fg];

		if (!g->present || (!g->meta && !rd_meta_block(fg)))
			continue;
		if (!g->meta && rd_meta_block(fg)) {
			rd_err(argv[0], "flex group %u: the dump has no "
			       "metadata block, the image has %llu: left "
			       "alone", fg, rd_meta_block(fg));
			continue;
		}
		if (old_tree_damaged(fg))
			printf("flex group %u: the old tree is damaged: blocks "
			       "of it the walk cannot reach are left leaked "
			       "(reflinkck -fy frees them)\n", fg);
		ret = restore_group(fg, g);
		rd_invalidate();
		if (ret)
			rd_com_err(argv[0], ret, "flex group %u", fg);
		else
			printf("flex group %u: %zu records restored\n", fg,
			       g->nr_recs);
	}
	free_groups(groups, rd_nr_flex());
}

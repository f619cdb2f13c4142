// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_recount - the tests' oracle: every block's number of mappers, from
 * the files, against the refcount trees read straight off the disk.
 *
 *	rfl_recount [-b] IMAGE
 *
 * Independent of the code it judges, in linkage and in method: nothing
 * of lib/ is used.  The files are read through libext2fs's extent API;
 * the per-flex-group metadata blocks and tree nodes are read with raw
 * block reads and decoded here from the offsets of docs/FORMAT.md
 * (sections 2-6), with their own checksum rule.  Where lib/check sweeps
 * sorted runs into canonical records, this program expands every mapped
 * block into a plain map (sorted array) from block to number of mappers,
 * and compares it block by block with the counts the records give.
 * Memory grows with the number of mapped blocks: a test tool.
 *
 * Differences, one line each (ranges are START+LEN, absolute blocks):
 *	missing record: S+L count E		shared, no record
 *	extra record: S+L count T		a record, not shared
 *	wrong count: record S+L count T, expected E
 *	records overlap / not merged / past the flex group / zero length /
 *	count below 2 (FORMAT.md 6.1 canonical form)
 *	inode I maps shared blocks but lacks EXT4_REFLINK_FL (6.3)
 *	tree or metadata block B free in the bitmap, or reached twice, or
 *	mapped by a file; a block under a record or mapped by a file free
 *	in the bitmap (7.1: never a tree or a count on a free block)
 *	any node or metadata block failing its checks (4.2, 5)
 * then
 *	recount: N extents, N shared blocks, N records, N differences
 *
 * -b: the invariants of a crash point only (crash.bats): the trees are
 * read and checked, every block they reach and every block under a
 * record must be marked in use; the files are not counted (a crash may
 * leave a file's new block unmarked, FORMAT.md 7.6).
 *
 * Exit: 0 no difference, 1 differences, 8 operational error.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ext2fs/ext2fs.h>
#include <et/com_err.h>

#define PROG		"rfl_recount"
#define EXIT_DIFF	1
#define EXIT_OPER	8

/* docs/FORMAT.md, written out again on purpose */
#define RO_COMPAT_REFLINK	0x00020000	/* 1 */
#define INCOMPAT_CSUM_SEED	0x2000		/* 3 */
#define BG_RESERVED_OFF		0x3c		/* 4.1 */
#define RFX_MAGIC		0x424d4652	/* 4.2 */
#define RFX_NR_SLOTS		8
#define RFX_SLOTS_OFF		0x40		/* 4.3 */
#define RFX_SLOT_SIZE		32
#define TREE_REFCOUNT		1
#define MAX_HEIGHT		32
#define NODE_MAGIC		0x54424652	/* 5.1 */
#define NODE_HEAD		0x30
#define REC_KEY			4		/* 6.1 */
#define REC_VAL			8
#define REFLINK_FL		0x00400000	/* 6.3 */

typedef unsigned long long ull;

struct rec {
	blk64_t start, len;
	ull count;
};

struct xrun {			/* an extent of an inode without the flag */
	blk64_t start, len;
	ext2_ino_t ino;
};

struct vec {
	void *v;
	size_t nr, max, size;
};

static const char *image;
static ext2_filsys fs;
static ull differences;
static bool crash_mode;
static __u32 seed;
static unsigned char *buf;		/* one block */

static struct vec mapped = { .size = sizeof(blk64_t) };	/* per mapper */
static struct vec xruns = { .size = sizeof(struct xrun) };
static struct vec recs = { .size = sizeof(struct rec) };
static struct vec tree = { .size = sizeof(blk64_t) };	/* blocks reached */
static ull nr_extents;

static void oom(void)
{
	fprintf(stderr, "%s: %s: out of memory\n", PROG, image);
	exit(EXIT_OPER);
}

static void *push(struct vec *a)
{
	if (a->nr == a->max) {
		size_t n = a->max ? a->max * 2 : 1024;
		void *p = realloc(a->v, n * a->size);

		if (!p)
			oom();
		a->v = p;
		a->max = n;
	}
	return (char *)a->v + a->size * a->nr++;
}

static void oper(const char *what, errcode_t ret)
{
	fprintf(stderr, "%s: %s: %s: %s\n", PROG, image, what,
		error_message(ret));
	exit(EXIT_OPER);
}

static void differ(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void differ(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	differences++;
}

static __u16 le16(const unsigned char *p)
{
	return p[0] | p[1] << 8;
}

static __u32 le32(const unsigned char *p)
{
	return (__u32)le16(p) | (__u32)le16(p + 2) << 16;
}

static __u64 le64(const unsigned char *p)
{
	return (__u64)le32(p) | (__u64)le32(p + 4) << 32;
}

/* ---------------------------------------------------------------- */
/* The files: one map entry per block per mapper                    */
/* ---------------------------------------------------------------- */

static void add_extent(ext2_ino_t ino, bool flagged, blk64_t start,
		       blk64_t len)
{
	blk64_t b;

	nr_extents++;
	if (start >= ext2fs_blocks_count(fs->super) ||
	    len > ext2fs_blocks_count(fs->super) - start) {
		differ("inode %u maps %llu+%llu past the end of the "
		       "filesystem", ino, (ull)start, (ull)len);
		return;
	}
	for (b = start; b < start + len; b++)
		*(blk64_t *)push(&mapped) = b;
	if (!flagged) {
		struct xrun *x = push(&xruns);

		x->start = start;
		x->len = len;
		x->ino = ino;
	}
}

static void read_extents(ext2_ino_t ino, struct ext2_inode *inode)
{
	bool flagged = inode->i_flags & REFLINK_FL;
	ext2_extent_handle_t h;
	struct ext2fs_extent ex;
	int op = EXT2_EXTENT_ROOT;
	errcode_t ret;

	ret = ext2fs_extent_open2(fs, ino, inode, &h);
	if (ret) {
		differ("inode %u: extent tree unreadable: %s", ino,
		       error_message(ret));
		return;
	}
	for (;;) {
		ret = ext2fs_extent_get(h, op, &ex);
		op = EXT2_EXTENT_NEXT;
		if (ret == EXT2_ET_EXTENT_NO_NEXT ||
		    ret == EXT2_ET_NO_CURRENT_NODE)
			break;
		if (ret) {
			differ("inode %u: extent tree unreadable: %s", ino,
			       error_message(ret));
			break;
		}
		/* leaf extents, uninitialized ones too (FORMAT.md 6.1) */
		if ((ex.e_flags & EXT2_EXTENT_FLAGS_LEAF) && ex.e_len)
			add_extent(ino, flagged, ex.e_pblk, ex.e_len);
	}
	ext2fs_extent_free(h);
}

static void read_files(void)
{
	struct ext2_inode_large inode;
	struct ext2_inode *raw = (struct ext2_inode *)&inode;
	ext2_inode_scan scan;
	ext2_ino_t ino;
	errcode_t ret;

	ret = ext2fs_open_inode_scan(fs, 0, &scan);
	if (ret)
		oper("opening the inode scan", ret);
	for (;;) {
		ret = ext2fs_get_next_inode_full(scan, &ino, raw,
						 sizeof(inode));
		if (ret)
			oper("scanning the inodes", ret);
		if (!ino)
			break;
		/* in use, and not an orphan waiting to be freed */
		if (!ext2fs_test_inode_bitmap2(fs->inode_map, ino) ||
		    !inode.i_links_count || inode.i_dtime)
			continue;
		if ((inode.i_flags & EXT4_EXTENTS_FL) &&
		    ext2fs_inode_has_valid_blocks2(fs, raw))
			read_extents(ino, raw);
	}
	ext2fs_close_inode_scan(scan);
}

/* ---------------------------------------------------------------- */
/* The trees, raw                                                    */
/* ---------------------------------------------------------------- */

struct group {
	__u32 fg;
	blk64_t first, end;	/* FORMAT.md 2 */
	__u64 generation;
	ull nodes, records;
};

static bool read_block(blk64_t blk)
{
	errcode_t ret;

	if (blk >= ext2fs_blocks_count(fs->super))
		return false;
	ret = io_channel_read_blk64(fs->io, blk, 1, buf);
	if (ret)
		oper("reading a block", ret);
	return true;
}

/* crc32c of the block with the 4 bytes at 4 read as zero (FORMAT.md 3) */
static bool csum_ok(void)
{
	static const unsigned char zero[4];
	__u32 c;

	c = ext2fs_crc32c_le(seed, buf, 4);
	c = ext2fs_crc32c_le(c, zero, 4);
	c = ext2fs_crc32c_le(c, buf + 8, fs->blocksize - 8);
	return c == le32(buf + 4);
}

static bool in_bitmap(blk64_t b)
{
	return b < ext2fs_blocks_count(fs->super) &&
	       ext2fs_test_block_bitmap2(fs->block_map, b);
}

/* An open-addressing set of the tree blocks reached (never 0) */
static blk64_t *seen;
static size_t seen_size;

static bool seen_add(blk64_t blk)
{
	size_t i, mask;

	if (2 * (tree.nr + 1) > seen_size) {
		blk64_t *old = seen, *t = tree.v;
		size_t n = seen_size;

		seen_size = n ? 2 * n : 1024;
		seen = calloc(seen_size, sizeof(*seen));
		if (!seen)
			oom();
		free(old);
		for (i = 0; i < tree.nr; i++)
			seen_add(t[i]);
	}
	mask = seen_size - 1;
	for (i = (blk * 0x9e3779b97f4a7c15ull) >> 20 & mask; seen[i];
	     i = (i + 1) & mask)
		if (seen[i] == blk)
			return false;
	seen[i] = blk;
	return true;
}

/* Reach blk from the trees: false if reached before (not descended) */
static bool reached(const struct group *g, blk64_t blk, const char *what)
{
	if (!seen_add(blk)) {
		differ("flex group %u: %s %llu reached twice", g->fg, what,
		       (ull)blk);
		return false;
	}
	*(blk64_t *)push(&tree) = blk;
	if (!in_bitmap(blk))
		differ("flex group %u: %s %llu is free in the bitmap", g->fg,
		       what, (ull)blk);
	return true;
}

/* 5.1, 5.2: the node in buf, expected at level, keys in [lo, hi) */
static const char *bad_node(const struct group *g, blk64_t blk,
			    unsigned int level, __u64 lo, __u64 hi)
{
	unsigned int m = (fs->blocksize - NODE_HEAD) / (REC_KEY + REC_VAL);
	unsigned int n = le16(buf + 0x20), i;
	__u64 key, prev = 0;

	if (le32(buf) != NODE_MAGIC)
		return "bad magic";
	if (!csum_ok())
		return "bad checksum";
	if (le64(buf + 0x08) != blk)
		return "bn_blocknr is not the block";
	if (le32(buf + 0x18) != g->fg || le16(buf + 0x1c) != TREE_REFCOUNT)
		return "wrong owner";
	if (le64(buf + 0x10) > g->generation)
		return "generation newer than the metadata block's";
	if (le16(buf + 0x1e) != level)
		return "wrong level";
	if (le16(buf + 0x22) != m || le16(buf + 0x24) != REC_KEY ||
	    le16(buf + 0x26) != REC_VAL)
		return "wrong geometry";
	if (n < 1 || n > m)
		return "wrong number of entries";
	for (i = 0; i < n; i++) {
		key = le32(buf + NODE_HEAD + REC_KEY * i);
		if (key < lo || key >= hi || (i && key <= prev))
			return "keys out of order or out of bounds";
		prev = key;
	}
	return NULL;
}

static void walk(struct group *g, blk64_t blk, unsigned int level,
		 __u64 lo, __u64 hi)
{
	unsigned int m = (fs->blocksize - NODE_HEAD) / (REC_KEY + REC_VAL);
	const unsigned char *vals = buf + NODE_HEAD + REC_KEY * m;
	blk64_t child[m], i, n;
	__u64 key[m + 1];
	const char *why;
	struct rec *r;

	if (blk <= g->first || blk >= g->end) {
		differ("flex group %u: tree node %llu outside the flex group",
		       g->fg, (ull)blk);
		return;
	}
	if (!reached(g, blk, "tree node"))
		return;
	g->nodes++;
	read_block(blk);
	why = bad_node(g, blk, level, lo, hi);
	if (why) {
		differ("flex group %u: tree node %llu: %s", g->fg, (ull)blk,
		       why);
		return;
	}
	n = le16(buf + 0x20);
	for (i = 0; i < n; i++) {
		key[i] = le32(buf + NODE_HEAD + REC_KEY * i);
		if (level) {
			child[i] = le64(vals + 8 * i);
			continue;
		}
		r = push(&recs);
		r->start = g->first + key[i];
		r->len = le32(vals + 8 * i);
		r->count = le32(vals + 8 * i + 4);
		g->records++;
	}
	key[n] = hi;
	for (i = 0; level && i < n; i++)
		walk(g, child[i], level - 1, key[i], key[i + 1]);
}

/* 4.1-4.3: flex group g's metadata block and its refcount tree */
static void read_group(struct group *g)
{
	dgrp_t bg = g->fg << fs->super->s_log_groups_per_flex;
	const unsigned char *slot;
	__u32 rel;
	blk64_t meta, root;
	unsigned int i, height;
	ull nodes0, recs0;

	rel = le32((const unsigned char *)ext2fs_group_desc(fs,
				fs->group_desc, bg) + BG_RESERVED_OFF);
	if (!rel)
		return;
	meta = g->first + rel;
	if (meta >= g->end) {
		differ("flex group %u: bg_reserved %u outside the flex group",
		       g->fg, rel);
		return;
	}
	if (!reached(g, meta, "metadata block"))
		return;
	read_block(meta);
	if (le32(buf) != RFX_MAGIC || !csum_ok() ||
	    le32(buf + 0x0c) != g->fg || le64(buf + 0x10) != meta ||
	    le16(buf + 0x0a) != RFX_NR_SLOTS) {
		differ("flex group %u: metadata block %llu: bad magic, "
		       "checksum, owner, number or slots", g->fg, (ull)meta);
		return;
	}
	g->generation = le64(buf + 0x18);
	for (i = 0; i < RFX_NR_SLOTS; i++) {
		read_block(meta);
		slot = buf + RFX_SLOTS_OFF + RFX_SLOT_SIZE * i;
		if (le16(slot) != TREE_REFCOUNT)
			continue;	/* unused, or not ours to judge */
		height = le16(slot + 2);
		root = le64(slot + 8);
		recs0 = le64(slot + 0x10);
		nodes0 = le64(slot + 0x18);
		if (height > MAX_HEIGHT || !height != !root) {
			differ("flex group %u: slot %u: height %u, root %llu",
			       g->fg, i, height, (ull)root);
			continue;
		}
		g->nodes = g->records = 0;
		if (height)
			walk(g, root, height - 1, 0, 1ull << 32);
		if (g->nodes != nodes0 || g->records != recs0)
			differ("flex group %u: slot %u says %llu nodes, %llu "
			       "records; found %llu, %llu", g->fg, i, nodes0,
			       recs0, g->nodes, g->records);
	}
}

/* 6.1: the records of one flex group, in key order, canonical */
static void canonical(const struct group *g, size_t from)
{
	const struct rec *r = (const struct rec *)recs.v, *p;
	size_t i;

	for (i = from; i < recs.nr; i++) {
		if (!r[i].len)
			differ("zero-length record: %llu+0 count %llu",
			       (ull)r[i].start, r[i].count);
		if (r[i].count < 2)
			differ("count below 2: record %llu+%llu count %llu",
			       (ull)r[i].start, (ull)r[i].len, r[i].count);
		if (r[i].start + r[i].len > g->end)
			differ("record past the flex group: %llu+%llu "
			       "count %llu", (ull)r[i].start, (ull)r[i].len,
			       r[i].count);
		if (i == from)
			continue;
		p = &r[i - 1];
		if (p->start + p->len > r[i].start)
			differ("records overlap: %llu+%llu and %llu+%llu",
			       (ull)p->start, (ull)p->len, (ull)r[i].start,
			       (ull)r[i].len);
		else if (p->start + p->len == r[i].start &&
			 p->count == r[i].count)
			differ("records not merged: %llu+%llu and %llu+%llu "
			       "count %llu", (ull)p->start, (ull)p->len,
			       (ull)r[i].start, (ull)r[i].len, r[i].count);
	}
}

static void read_trees(void)
{
	blk64_t total = ext2fs_blocks_count(fs->super);
	blk64_t span = (blk64_t)fs->super->s_blocks_per_group <<
		       fs->super->s_log_groups_per_flex;
	dgrp_t gpf = 1u << fs->super->s_log_groups_per_flex;
	struct group g;
	size_t from;
	__u32 fg, nr_flex = (fs->group_desc_count + gpf - 1) / gpf;

	if (EXT2_DESC_SIZE(fs->super) < BG_RESERVED_OFF + 4) {
		differ("descriptors of %u bytes have no bg_reserved",
		       EXT2_DESC_SIZE(fs->super));
		return;
	}
	for (fg = 0; fg < nr_flex; fg++) {
		memset(&g, 0, sizeof(g));
		g.fg = fg;
		g.first = fs->super->s_first_data_block + fg * span;
		g.end = g.first + span < total ? g.first + span : total;
		from = recs.nr;
		read_group(&g);
		canonical(&g, from);
	}
}

/* ---------------------------------------------------------------- */
/* The compare, block by block                                      */
/* ---------------------------------------------------------------- */

static int cmp_blk(const void *a, const void *b)
{
	blk64_t x = *(const blk64_t *)a, y = *(const blk64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* mapped[] sorted: the number of mappers of block b, and where it is */
static ull mappers(blk64_t b, size_t *at)
{
	const blk64_t *m = mapped.v;
	size_t lo = 0, hi = mapped.nr, mid, n;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (m[mid] < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (n = lo; n < mapped.nr && m[n] == b; n++)
		;
	if (at)
		*at = n;
	return n - lo;
}

/* One line per range of blocks that disagree the same way */
enum kind { K_NONE, K_MISSING, K_EXTRA, K_COUNT };
static struct {
	enum kind kind;
	blk64_t start, len;
	ull found, expected;
} pend;

static void flush_pending(void)
{
	ull s = pend.start, l = pend.len;

	switch (pend.kind) {
	case K_MISSING:
		differ("missing record: %llu+%llu count %llu", s, l,
		       pend.expected);
		break;
	case K_EXTRA:
		differ("extra record: %llu+%llu count %llu", s, l,
		       pend.found);
		break;
	case K_COUNT:
		differ("wrong count: record %llu+%llu count %llu, expected "
		       "%llu", s, l, pend.found, pend.expected);
		break;
	case K_NONE:
		break;
	}
	pend.kind = K_NONE;
}

static void note(enum kind kind, blk64_t start, blk64_t len, ull found,
		 ull expected)
{
	if (pend.kind == kind && pend.start + pend.len == start &&
	    pend.found == found && pend.expected == expected) {
		pend.len += len;
		return;
	}
	flush_pending();
	if (kind == K_NONE)
		return;
	pend.kind = kind;
	pend.start = start;
	pend.len = len;
	pend.found = found;
	pend.expected = expected;
}

/*
 * Walk the blocks in order: the shared blocks of the map (>= 2 mappers)
 * and the blocks under records.  A block in both must have equal counts;
 * in the map only, a record is missing; under a record only, it is extra.
 */
static ull compare(void)
{
	const blk64_t *m = mapped.v;
	const struct rec *r = recs.v;
	size_t i = 0, j;
	blk64_t pos = 0, b, s, e, next;
	ull n, shared = 0;

	for (j = 0; j <= recs.nr; j++) {
		s = j < recs.nr ? r[j].start : ~0ull;
		e = j < recs.nr ? r[j].start + r[j].len : ~0ull;
		if (s < pos)
			s = pos;	/* overlap: reported already */
		if (e < s)
			e = s;
		/* shared blocks before the record: missing */
		while (i < mapped.nr && m[i] < s) {
			b = m[i];
			n = mappers(b, &i);
			if (n >= 2) {
				shared++;
				note(K_MISSING, b, 1, 0, n);
			}
		}
		/* the record's blocks */
		for (b = s; b < e; b = next) {
			while (i < mapped.nr && m[i] < b)
				i++;
			if (i < mapped.nr && m[i] == b) {
				n = mappers(b, &i);
				next = b + 1;
			} else {
				n = 0;
				next = i < mapped.nr && m[i] < e ? m[i] : e;
			}
			if (n >= 2)
				shared++;
			if (n < 2)
				note(K_EXTRA, b, next - b, r[j].count, 0);
			else if (n != r[j].count)
				note(K_COUNT, b, 1, r[j].count, n);
			else
				note(K_NONE, b, 1, 0, 0);
		}
		if (e > pos)
			pos = e;
	}
	flush_pending();
	return shared;
}

/* 6.3: every mapper of a shared block carries EXT4_REFLINK_FL */
static void check_flags(void)
{
	const struct xrun *x = xruns.v;
	ext2_ino_t last = 0;
	blk64_t b;
	size_t i;

	for (i = 0; i < xruns.nr; i++) {
		if (x[i].ino == last)
			continue;
		for (b = x[i].start; b < x[i].start + x[i].len; b++) {
			if (mappers(b, NULL) >= 2) {
				differ("inode %u maps shared blocks but lacks "
				       "EXT4_REFLINK_FL", x[i].ino);
				last = x[i].ino;
				break;
			}
		}
	}
}

/* 7.1, 6.2: nothing in use sits on a free block, nothing twice */
static void check_bitmap(void)
{
	const blk64_t *t = tree.v, *m = mapped.v;
	const struct rec *r = recs.v;
	blk64_t b, end, last;
	size_t i;

	if (tree.nr)
		qsort(tree.v, tree.nr, sizeof(blk64_t), cmp_blk);
	for (i = 0; !crash_mode && i < tree.nr; i++)
		if (mappers(t[i], NULL))
			differ("tree block %llu is mapped by a file",
			       (ull)t[i]);
	last = ext2fs_blocks_count(fs->super) - 1;
	for (i = 0; i < recs.nr; i++) {
		if (!r[i].len || r[i].start > last)
			continue;
		end = r[i].start + r[i].len - 1;
		if (end > last || end < r[i].start)
			end = last;
		if (!ext2fs_find_first_zero_block_bitmap2(fs->block_map,
							  r[i].start, end,
							  &b))
			differ("record %llu+%llu covers block %llu, free in "
			       "the bitmap", (ull)r[i].start, (ull)r[i].len,
			       (ull)b);
	}
	for (i = 0; !crash_mode && i < mapped.nr; i++) {
		if (i && m[i] == m[i - 1])
			continue;
		if (!in_bitmap(m[i]))
			differ("block %llu is mapped by a file but free in "
			       "the bitmap", (ull)m[i]);
	}
}

/* ---------------------------------------------------------------- */

static void open_fs(void)
{
	struct ext2_super_block *sb;
	errcode_t ret;

	ret = ext2fs_open2(image, NULL, EXT2_FLAG_64BITS |
			   EXT2_FLAG_IGNORE_CSUM_ERRORS, 0, 0,
			   unix_io_manager, &fs);
	if (ret)
		oper("opening", ret);
	fs->flags |= EXT2_FLAG_IGNORE_CSUM_ERRORS;
	ret = ext2fs_read_bitmaps(fs);
	if (ret)
		oper("reading the bitmaps", ret);
	sb = fs->super;
	if (sb->s_feature_incompat & INCOMPAT_CSUM_SEED)
		seed = sb->s_checksum_seed;
	else
		seed = ext2fs_crc32c_le(~0U, sb->s_uuid, sizeof(sb->s_uuid));
	buf = malloc(fs->blocksize);
	if (!buf)
		oom();
}

int main(int argc, char **argv)
{
	ull shared = 0;
	int opt;

	add_error_table(&et_ext2_error_table);
	while ((opt = getopt(argc, argv, "b")) != -1) {
		if (opt != 'b')
			goto usage;
		crash_mode = true;
	}
	if (optind != argc - 1)
		goto usage;
	image = argv[optind];
	open_fs();

	/* without the feature there are no trees: every share differs */
	if (fs->super->s_feature_ro_compat & RO_COMPAT_REFLINK)
		read_trees();
	if (!crash_mode)
		read_files();
	/* (an empty list may have no array: qsort wants one) */
	if (mapped.nr)
		qsort(mapped.v, mapped.nr, sizeof(blk64_t), cmp_blk);
	if (recs.nr)
		qsort(recs.v, recs.nr, sizeof(struct rec), cmp_rec);
	if (!crash_mode) {
		shared = compare();
		check_flags();
	}
	check_bitmap();

	printf("recount: %llu extents, %llu shared blocks, %zu records, "
	       "%llu differences\n", nr_extents, shared, recs.nr,
	       differences);
	ext2fs_close_free(&fs);
	free(mapped.v);
	free(xruns.v);
	free(recs.v);
	free(tree.v);
	free(seen);
	free(buf);
	return differences ? EXIT_DIFF : 0;
usage:
	fprintf(stderr, "usage: %s [-b] IMAGE\n", PROG);
	return EXIT_OPER;
}

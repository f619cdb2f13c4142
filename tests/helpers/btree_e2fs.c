// SPDX-License-Identifier: GPL-2.0
/*
 * btree_e2fs - drive a test B-tree on a real ext4 image through e2fs_host.
 *
 * Creates (or reopens) a tree of type EXT4_TREE_TEST_BASE with 8-byte
 * keys and values in one flex group, inserts and deletes seeded records
 * in COW transactions, verifies it, and prints one "name value" line per
 * fact so scripts can grep them.  The committed root goes to a sidecar
 * file (--root) at every commit, standing in for the flex group's
 * metadata block, so a later run can --open the tree again.
 *
 * Keys are a bijective mix of (seed, index), so one seed never repeats a
 * key; the value of key k is always ~k, which lets --open runs check
 * every record without knowing the seeds that made them.
 *
 * Exit: 0 ok, 1 error or refusal, 2 usage, 3 the verifier found problems.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "btree/e2fs_host.h"
#include "reflink_err.h"

#define PROG		"btree_e2fs"
#define EXIT_ERR	1
#define EXIT_USAGE	2
#define EXIT_PROBLEMS	3

#define ROOT_FILE_MAGIC	"btree_e2fs-root v1"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* For printf: u64 is __u64, which is not unsigned long long everywhere */
typedef unsigned long long ull;

static const struct ext4_btree_geo test_geo = {
	.name		= "test64",
	.tree_type	= EXT4_TREE_TEST_BASE,
	.key_size	= 8,
	.val_size	= 8,
	.key_kind	= EXT4_BTREE_KEY_LE64,
};

struct opts {
	const char *image;
	const char *root_file;
	dgrp_t group;
	bool group_set;
	u64 nr_insert;
	u64 nr_delete;
	u64 nr_abort;
	u64 per_txn;
	u64 seed;
	unsigned int cache;
	bool bulk;
	bool open;
	bool destroy;
	bool list_blocks;
	bool quiet;
	bool do_lookup;
	u64 lookup_idx;
	u64 range;
};

struct ctx {
	struct opts *o;
	ext2_filsys fs;
	struct e2fs_host *host;
	struct ext4_btree tree;
	u64 commits;
	/* verify */
	u8 *seen;			/* one bit per flex group block */
	u64 lo, hi;			/* block range of the nodes */
	u64 nodes;
	u64 unmarked;			/* nodes free in the block bitmap */
	u64 bad_vals;
};

static void say(const struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->o->quiet)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static void fail(const char *what, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One line: "btree_e2fs: WHAT: message" */
static void fail(const char *what, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: %s: ", PROG, what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* splitmix64's finaliser: a bijection, so distinct inputs never collide */
static u64 mix64(u64 x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static u64 key_of(u64 seed, u64 idx)
{
	return mix64(seed * 0x9e3779b97f4a7c15ULL + idx);
}

static u64 val_of(u64 key)
{
	return ~key;
}

static u64 get_le64(const void *p)
{
	__le64 v;

	memcpy(&v, p, sizeof(v));
	return le64_to_cpu(v);
}

static void put_le64(void *p, u64 x)
{
	__le64 v = cpu_to_le64(x);

	memcpy(p, &v, sizeof(v));
}

/* ---------------------------------------------------------------- */
/* Root sidecar                                                      */
/* ---------------------------------------------------------------- */

static int write_root_file(const char *path, dgrp_t group,
			   const struct ext4_btree *t)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%s\nflex_group %u\nroot %llu\nheight %u\nrecords %llu\n"
		"nodes %llu\ngeneration %llu\n", ROOT_FILE_MAGIC, group,
		(ull)t->root, (unsigned int)t->height, (ull)t->nr_records,
		(ull)t->nr_nodes, (ull)t->generation);
	/* The sidecar plays the root slot: it must not outrun the image */
	if (fflush(f) || fsync(fileno(f))) {
		int err = -errno;

		fclose(f);
		unlink(tmp);
		return err;
	}
	if (fclose(f) || rename(tmp, path)) {
		int err = -errno;

		unlink(tmp);
		return err;
	}
	return 0;
}

/* The root slot as the sidecar holds it */
struct root_slot {
	unsigned long long flex_group, root, height, records, nodes, gen;
};

static int read_root_file(const char *path, struct root_slot *rs)
{
	static const char *const names[] = {
		"flex_group", "root", "height", "records", "nodes",
		"generation",
	};
	unsigned long long *fields[] = {
		&rs->flex_group, &rs->root, &rs->height, &rs->records,
		&rs->nodes, &rs->gen,
	};
	char line[256], name[64];
	unsigned long long v;
	unsigned int seen = 0, i;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f) ||
	    strncmp(line, ROOT_FILE_MAGIC, strlen(ROOT_FILE_MAGIC))) {
		fclose(f);
		return -EINVAL;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %llu", name, &v) != 2)
			continue;
		for (i = 0; i < ARRAY_SIZE(names); i++) {
			if (!strcmp(name, names[i])) {
				*fields[i] = v;
				seen |= 1U << i;
			}
		}
	}
	fclose(f);
	if (seen != (1U << ARRAY_SIZE(names)) - 1 ||
	    rs->flex_group > 0xffffffffULL ||
	    rs->height > EXT4_BTREE_MAX_HEIGHT)
		return -EINVAL;
	return 0;
}

static int commit_cb(void *priv, struct ext4_btree *tree)
{
	struct ctx *c = priv;

	c->commits++;
	if (!c->o->root_file)
		return 0;
	return write_root_file(c->o->root_file, e2fs_host_flex_group(c->host),
			       tree);
}

/* ---------------------------------------------------------------- */
/* Opening the image                                                 */
/* ---------------------------------------------------------------- */

/*
 * Open read-write, forcing past an unknown RO_COMPAT bit only when it is
 * the reflink bit alone: EXT2_FLAG_FORCE would also skip the INCOMPAT
 * check, which must still protect the image.
 */
static errcode_t open_image(const char *image, ext2_filsys *fsp)
{
	int flags = EXT2_FLAG_RW | EXT2_FLAG_64BITS;
	ext2_filsys fs;
	errcode_t ret;
	__u32 unknown;

	ret = ext2fs_open(image, flags, 0, 0, unix_io_manager, &fs);
	if (ret != EXT2_ET_RO_UNSUPP_FEATURE) {
		if (!ret)
			*fsp = fs;
		return ret;
	}
	ret = ext2fs_open(image, EXT2_FLAG_64BITS, 0, 0, unix_io_manager,
			  &fs);
	if (ret)
		return ret;
	unknown = fs->super->s_feature_ro_compat &
		  ~EXT2_LIB_FEATURE_RO_COMPAT_SUPP;
	ext2fs_free(fs);
	if (unknown != EXT4_FEATURE_RO_COMPAT_REFLINK)
		return EXT2_ET_RO_UNSUPP_FEATURE;
	return ext2fs_open(image, flags | EXT2_FLAG_FORCE, 0, 0,
			   unix_io_manager, fsp);
}

/* ---------------------------------------------------------------- */
/* Verification                                                      */
/* ---------------------------------------------------------------- */

static const char *const problem_names[EXT4_BTREE_PROBLEM_MAX] = {
	[EXT4_BTREE_BAD_MAGIC]		= "bad_magic",
	[EXT4_BTREE_BAD_CSUM]		= "bad_csum",
	[EXT4_BTREE_BAD_BLOCKNR]	= "bad_blocknr",
	[EXT4_BTREE_BAD_OWNER]		= "bad_owner",
	[EXT4_BTREE_BAD_TREE_TYPE]	= "bad_tree_type",
	[EXT4_BTREE_BAD_LEVEL]		= "bad_level",
	[EXT4_BTREE_BAD_GEOMETRY]	= "bad_geometry",
	[EXT4_BTREE_BAD_NR_ENTRIES]	= "bad_nr_entries",
	[EXT4_BTREE_BAD_KEY_ORDER]	= "bad_key_order",
	[EXT4_BTREE_KEY_OUT_OF_BOUNDS]	= "key_out_of_bounds",
	[EXT4_BTREE_BAD_CHILD_PTR]	= "bad_child_ptr",
	[EXT4_BTREE_NODE_REACHED_TWICE]	= "node_reached_twice",
	[EXT4_BTREE_DIRTY_TAIL]		= "dirty_tail",
	[EXT4_BTREE_BAD_RESERVED]	= "bad_reserved",
	[EXT4_BTREE_READ_ERROR]		= "read_error",
	[EXT4_BTREE_BAD_RECORD_COUNT]	= "bad_record_count",
	[EXT4_BTREE_BAD_NODE_COUNT]	= "bad_node_count",
	[EXT4_BTREE_BAD_HEIGHT]		= "bad_height",
};

static int v_report(void *priv, const struct ext4_btree_problem *p)
{
	const char *name = NULL;

	(void)priv;
	if (p->code > 0 && p->code < EXT4_BTREE_PROBLEM_MAX)
		name = problem_names[p->code];
	printf("problem %s block %llu level %d index %d expected %llu "
	       "found %llu\n", name ? name : "unknown",
	       (ull)p->blocknr, p->level, p->index,
	       (ull)p->expected, (ull)p->found);
	return 0;
}

static bool v_valid_block(void *priv, u64 blk)
{
	struct ctx *c = priv;

	return e2fs_host_valid_block(c->host, blk);
}

static bool v_seen(void *priv, u64 blk)
{
	struct ctx *c = priv;
	u64 off = blk - e2fs_host_first_block(c->host);
	u8 bit = 1U << (off & 7);
	bool was = c->seen[off >> 3] & bit;

	c->seen[off >> 3] |= bit;
	return was;
}

static int v_record(void *priv, const void *key, const void *val,
		    const void *prev_key, const void *prev_val)
{
	struct ctx *c = priv;
	u64 k = get_le64(key);

	(void)prev_key;
	(void)prev_val;
	if (get_le64(val) != val_of(k)) {
		if (!c->bad_vals)
			printf("bad_value key 0x%016llx val 0x%016llx\n",
			       (ull)k,
			       (ull)get_le64(val));
		c->bad_vals++;
	}
	return 0;
}

static int v_node(void *priv, u64 blk, int level)
{
	struct ctx *c = priv;

	if (!c->nodes || blk < c->lo)
		c->lo = blk;
	if (!c->nodes || blk > c->hi)
		c->hi = blk;
	c->nodes++;
	if (!ext2fs_test_block_bitmap2(c->fs->block_map, blk)) {
		printf("unmarked_block %llu\n", (ull)blk);
		c->unmarked++;
	}
	if (c->o->list_blocks)
		printf("tree_block %llu level %d\n", (ull)blk, level);
	return 0;
}

static const struct ext4_btree_verify_ops verify_ops = {
	.report			= v_report,
	.valid_block		= v_valid_block,
	.test_and_set_seen	= v_seen,
	.record			= v_record,
	.node			= v_node,
};

/* Returns the number of problems, or a negative errno */
static long verify(struct ctx *c)
{
	u64 nr = e2fs_host_nr_blocks(c->host);
	long n;

	c->seen = calloc(nr / 8 + 1, 1);
	if (!c->seen)
		return -ENOMEM;
	c->nodes = c->unmarked = c->bad_vals = 0;
	n = ext4_btree_verify(&c->tree, &verify_ops, c);
	free(c->seen);
	c->seen = NULL;
	if (n < 0)
		return n;
	return n + c->unmarked + c->bad_vals;
}

/* ---------------------------------------------------------------- */
/* Workload                                                          */
/* ---------------------------------------------------------------- */

static int txn_begin(struct ctx *c)
{
	return ext4_btree_begin(&c->tree);
}

static int txn_commit(struct ctx *c)
{
	int err = ext4_btree_commit(&c->tree);

	if (err)
		ext4_btree_abort(&c->tree);
	return err;
}

/* Apply op to count indices, per_txn of them per transaction */
static int run_batched(struct ctx *c, u64 count, const u64 *idx,
		       int (*op)(struct ctx *c, u64 key))
{
	u64 i, in_txn = 0;
	int err = 0;

	for (i = 0; i < count; i++) {
		if (!in_txn) {
			err = txn_begin(c);
			if (err)
				return err;
		}
		err = op(c, key_of(c->o->seed, idx ? idx[i] : i));
		if (err) {
			ext4_btree_abort(&c->tree);
			return err;
		}
		if (++in_txn == c->o->per_txn) {
			err = txn_commit(c);
			if (err)
				return err;
			in_txn = 0;
		}
	}
	return in_txn ? txn_commit(c) : 0;
}

static int op_insert(struct ctx *c, u64 key)
{
	u8 k[8], v[8];

	put_le64(k, key);
	put_le64(v, val_of(key));
	return ext4_btree_insert(&c->tree, k, v);
}

static int op_delete(struct ctx *c, u64 key)
{
	u8 k[8];

	put_le64(k, key);
	return ext4_btree_delete(&c->tree, k);
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

struct bulk_src {
	const u64 *keys;
	u64 pos;
};

static int bulk_next(void *priv, void *key, void *val)
{
	struct bulk_src *s = priv;
	u64 k = s->keys[s->pos++];

	put_le64(key, k);
	put_le64(val, val_of(k));
	return 0;
}

static int bulk_insert(struct ctx *c)
{
	struct bulk_src src = { 0 };
	u64 *keys, i;
	int err;

	keys = malloc(c->o->nr_insert * sizeof(*keys) + 1);
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < c->o->nr_insert; i++)
		keys[i] = key_of(c->o->seed, i);
	qsort(keys, c->o->nr_insert, sizeof(*keys), cmp_u64);
	src.keys = keys;
	err = txn_begin(c);
	if (!err) {
		err = ext4_btree_bulk_load(&c->tree, c->o->nr_insert, 75,
					   bulk_next, &src);
		if (err)
			ext4_btree_abort(&c->tree);
		else
			err = txn_commit(c);
	}
	free(keys);
	return err;
}

/*
 * Which indices to delete: a seeded shuffle, so deletions hit leaves all
 * over the tree rather than in insertion order.  Returned array lists
 * the deleted indices first; *deleted marks them.
 */
static u64 *pick_deletes(const struct opts *o, u8 **deleted)
{
	u64 *idx, i, r = o->seed ^ 0x6a09e667f3bcc909ULL;

	idx = malloc(o->nr_insert * sizeof(*idx) + 1);
	*deleted = calloc(o->nr_insert + 1, 1);
	if (!idx || !*deleted) {
		free(idx);
		free(*deleted);
		*deleted = NULL;
		return NULL;
	}
	for (i = 0; i < o->nr_insert; i++)
		idx[i] = i;
	for (i = 0; i < o->nr_delete; i++) {
		u64 j, t;

		r = mix64(r + i);
		j = i + r % (o->nr_insert - i);
		t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
		(*deleted)[idx[i]] = 1;
	}
	return idx;
}

/* Every record of this run is found with its value; deleted ones not */
static int check_lookups(struct ctx *c, const u8 *deleted, u64 *checked)
{
	u8 k[8], v[8];
	u64 i, key;
	int err;

	for (i = 0; i < c->o->nr_insert; i++) {
		key = key_of(c->o->seed, i);
		put_le64(k, key);
		err = ext4_btree_lookup(&c->tree, k, EXT4_BTREE_EQ, NULL, v);
		if (deleted && deleted[i]) {
			if (err != -ENOENT) {
				printf("lookup_error key 0x%016llx deleted "
				       "but found (%d)\n", (ull)key, err);
				return -EFSCORRUPTED;
			}
			continue;
		}
		if (err || get_le64(v) != val_of(key)) {
			printf("lookup_error key 0x%016llx (%d)\n", (ull)key,
			       err);
			return err ? err : -EFSCORRUPTED;
		}
	}
	*checked = c->o->nr_insert;
	return 0;
}

static int show_lookup(struct ctx *c)
{
	struct ext4_btree_cursor cur;
	u64 key = key_of(c->o->seed, c->o->lookup_idx), n;
	u8 k[8], v[8];
	int err;

	put_le64(k, key);
	err = ext4_btree_lookup(&c->tree, k, EXT4_BTREE_EQ, NULL, v);
	if (err == -ENOENT)
		say(c, "lookup 0x%016llx absent\n", (ull)key);
	else if (err)
		return err;
	else
		say(c, "lookup 0x%016llx -> 0x%016llx\n",
		    (ull)key, (ull)get_le64(v));
	if (!c->o->range)
		return 0;

	ext4_btree_cursor_init(&cur, &c->tree);
	err = ext4_btree_cursor_seek(&cur, k, EXT4_BTREE_GE);
	for (n = 0; !err && n < c->o->range; n++) {
		say(c, "range %llu 0x%016llx -> 0x%016llx\n", (ull)n,
		    (ull)get_le64(ext4_btree_cursor_key(&cur)),
		    (ull)get_le64(ext4_btree_cursor_val(&cur)));
		err = ext4_btree_cursor_next(&cur);
	}
	ext4_btree_cursor_release(&cur);
	return err == -ENOENT ? 0 : err;
}

/* ---------------------------------------------------------------- */
/* Main                                                              */
/* ---------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: " PROG " [options] IMAGE\n"
"  -g, --group N        flex group of a new tree (default 0)\n"
"  -n, --insert N       insert N records (default 0)\n"
"  -x, --delete N       then delete N of them, chosen by the seed\n"
"  -a, --abort N        then insert N more and abort that transaction\n"
"  -t, --txn N          operations per transaction (default 1000)\n"
"  -s, --seed N         key seed (default 1)\n"
"  -b, --bulk           insert with the bulk loader (new tree only)\n"
"  -c, --cache N        host cache size in blocks (default %u)\n"
"  -r, --root FILE      root sidecar, rewritten at every commit\n"
"  -o, --open           reopen the tree from --root\n"
"  -D, --destroy        free every block of the tree (with --open)\n"
"  -l, --list-blocks    print every tree block\n"
"  -L, --lookup I       look up the key of index I of the seed\n"
"  -R, --range N        with --lookup: print N records from that key\n"
"  -q, --quiet          print errors only\n"
"Exit: 0 ok, 1 error, 2 usage, 3 verifier found problems.\n",
		E2FS_HOST_CACHE_DEFAULT);
}

static bool parse_u64(const char *s, u64 *v)
{
	char *end;

	errno = 0;
	if (!*s || *s == '-')
		return false;
	*v = strtoull(s, &end, 0);
	return !errno && !*end;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "group",	 required_argument, NULL, 'g' },
		{ "insert",	 required_argument, NULL, 'n' },
		{ "delete",	 required_argument, NULL, 'x' },
		{ "abort",	 required_argument, NULL, 'a' },
		{ "txn",	 required_argument, NULL, 't' },
		{ "seed",	 required_argument, NULL, 's' },
		{ "bulk",	 no_argument,	    NULL, 'b' },
		{ "cache",	 required_argument, NULL, 'c' },
		{ "root",	 required_argument, NULL, 'r' },
		{ "open",	 no_argument,	    NULL, 'o' },
		{ "destroy",	 no_argument,	    NULL, 'D' },
		{ "list-blocks", no_argument,	    NULL, 'l' },
		{ "lookup",	 required_argument, NULL, 'L' },
		{ "range",	 required_argument, NULL, 'R' },
		{ "quiet",	 no_argument,	    NULL, 'q' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	u64 v = 0;
	int ch;

	o->per_txn = 1000;
	o->seed = 1;
	while ((ch = getopt_long(argc, argv, "g:n:x:a:t:s:bc:r:oDlL:R:qh",
				 lopts, NULL)) != -1) {
		if (ch > 0 && strchr("gnxatscLR", ch) &&
		    !parse_u64(optarg, &v)) {
			fail("option", "-%c: not a number: '%s'", ch, optarg);
			return -1;
		}
		switch (ch) {
		case 'g':
			if (v > 0xffffffffULL) {
				fail("option", "--group: too large");
				return -1;
			}
			o->group = v;
			o->group_set = true;
			break;
		case 'n':
			o->nr_insert = v;
			break;
		case 'x':
			o->nr_delete = v;
			break;
		case 'a':
			o->nr_abort = v;
			break;
		case 't':
			o->per_txn = v;
			break;
		case 's':
			o->seed = v;
			break;
		case 'b':
			o->bulk = true;
			break;
		case 'c':
			o->cache = v > 1000000 ? 1000000 : v;
			break;
		case 'r':
			o->root_file = optarg;
			break;
		case 'o':
			o->open = true;
			break;
		case 'D':
			o->destroy = true;
			break;
		case 'l':
			o->list_blocks = true;
			break;
		case 'L':
			o->lookup_idx = v;
			o->do_lookup = true;
			break;
		case 'R':
			o->range = v;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return -1;
	}
	o->image = argv[optind];
	if (!o->per_txn) {
		fail("option", "--txn must be at least 1");
		return -1;
	}
	if (o->nr_delete > o->nr_insert) {
		fail("option", "--delete exceeds --insert");
		return -1;
	}
	if ((o->open || o->destroy) && !o->root_file) {
		fail("option", "--open and --destroy need --root FILE");
		return -1;
	}
	if (o->destroy && !o->open) {
		fail("option", "--destroy needs --open");
		return -1;
	}
	if (o->bulk && o->open) {
		fail("option", "--bulk builds a new tree; not with --open");
		return -1;
	}
	return 0;
}

static void print_tree(struct ctx *c)
{
	say(c, "root %llu\n", (ull)c->tree.root);
	say(c, "height %u\n", (unsigned int)c->tree.height);
	say(c, "records %llu\n", (ull)c->tree.nr_records);
	say(c, "nodes %llu\n", (ull)c->tree.nr_nodes);
}

static int run(struct ctx *c)
{
	struct opts *o = c->o;
	u8 *deleted = NULL;
	u64 *del_idx = NULL, checked = 0, frees;
	struct e2fs_host_stats st;
	long problems;
	int err = 0;

	if (o->bulk && o->nr_insert)
		err = bulk_insert(c);
	else if (o->nr_insert)
		err = run_batched(c, o->nr_insert, NULL, op_insert);
	if (err) {
		fail(o->image, "insert: %s", strerror(-err));
		return EXIT_ERR;
	}
	if (o->nr_delete) {
		del_idx = pick_deletes(o, &deleted);
		if (!del_idx) {
			fail(o->image, "%s", strerror(ENOMEM));
			return EXIT_ERR;
		}
		err = run_batched(c, o->nr_delete, del_idx, op_delete);
		if (err) {
			fail(o->image, "delete: %s", strerror(-err));
			goto out;
		}
	}
	if (o->nr_abort) {
		u64 i;

		/* Keys from a seed of its own so they cannot already exist */
		err = txn_begin(c);
		for (i = 0; !err && i < o->nr_abort; i++)
			err = op_insert(c, key_of(~o->seed, i));
		ext4_btree_abort(&c->tree);
		if (err) {
			fail(o->image, "abort run: %s", strerror(-err));
			goto out;
		}
	}
	say(c, "inserted %llu deleted %llu aborted %llu commits %llu\n",
	    (ull)o->nr_insert, (ull)o->nr_delete, (ull)o->nr_abort,
	    (ull)c->commits);
	if (o->nr_insert) {
		err = check_lookups(c, deleted, &checked);
		if (err) {
			fail(o->image, "lookups: %s", strerror(-err));
			goto out;
		}
		say(c, "lookups ok %llu\n", (ull)checked);
	}
	if (o->do_lookup) {
		err = show_lookup(c);
		if (err) {
			fail(o->image, "lookup: %s", strerror(-err));
			goto out;
		}
	}
	print_tree(c);

	problems = verify(c);
	if (problems < 0) {
		err = problems;
		fail(o->image, "verify: %s", strerror(-err));
		goto out;
	}
	if (c->nodes)
		say(c, "block_range %llu-%llu\n", (ull)c->lo, (ull)c->hi);
	e2fs_host_get_stats(c->host, &st);
	say(c, "host reads %llu writes %llu hits %llu allocs %llu frees %llu\n",
	    (ull)st.reads, (ull)st.writes, (ull)st.hits, (ull)st.allocs,
	    (ull)st.frees);
	if (problems) {
		printf("verify FAILED problems %ld\n", problems);
		free(del_idx);
		free(deleted);
		return EXIT_PROBLEMS;
	}
	say(c, "verify ok\n");

	if (o->destroy) {
		/* Count what the host really freed, not what the tree says */
		frees = st.frees;
		err = ext4_btree_destroy(&c->tree);
		if (err) {
			fail(o->image, "destroy: %s", strerror(-err));
			goto out;
		}
		e2fs_host_get_stats(c->host, &st);
		say(c, "destroyed %llu\n", (ull)(st.frees - frees));
	}
out:
	free(del_idx);
	free(deleted);
	return err ? EXIT_ERR : 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct ctx c = { .o = &o };
	struct root_slot rs = { 0 };
	errcode_t ret;
	int err, rc;

	add_error_table(&et_ext2_error_table);
	initialize_rfl_error_table();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse_args(argc, argv, &o))
		return EXIT_USAGE;

	if (o.open) {
		err = read_root_file(o.root_file, &rs);
		if (err) {
			fail(o.root_file, "cannot read root file: %s",
			     err == -EINVAL ? "malformed" : strerror(-err));
			return EXIT_ERR;
		}
		if (o.group_set && o.group != rs.flex_group) {
			fail(o.root_file, "tree is in flex group %llu, not %u",
			     rs.flex_group, o.group);
			return EXIT_ERR;
		}
		o.group = rs.flex_group;
	}

	ret = open_image(o.image, &c.fs);
	if (ret) {
		fail(o.image, "%s", error_message(ret));
		return EXIT_ERR;
	}
	/* Refusals below free fs without writing: the image stays as it was */
	if (!ext2fs_has_feature_extents(c.fs->super)) {
		fail(o.image, "not an ext4 filesystem (no extents feature)");
		ext2fs_free(c.fs);
		return EXIT_ERR;
	}
	if (o.group >= e2fs_flex_group_count(c.fs)) {
		fail(o.image, "flex group %u out of range (the filesystem has "
		     "%u)", o.group, e2fs_flex_group_count(c.fs));
		ext2fs_free(c.fs);
		return EXIT_ERR;
	}
	ret = e2fs_host_open(c.fs, o.group, o.cache, commit_cb, &c, &c.host);
	if (!ret)
		ret = e2fs_host_tree_init(c.host, &c.tree, &test_geo,
					  EXT4_BTREE_COW);
	if (ret) {
		fail(o.image, "%s", error_message(ret));
		e2fs_host_close(c.host);
		ext2fs_free(c.fs);
		return EXIT_ERR;
	}
	c.tree.root = rs.root;
	c.tree.height = rs.height;
	c.tree.nr_records = rs.records;
	c.tree.nr_nodes = rs.nodes;
	c.tree.generation = rs.gen;
	say(&c, "flex_group %u first_block %llu blocks %llu\n", o.group,
	    (ull)e2fs_host_first_block(c.host),
	    (ull)e2fs_host_nr_blocks(c.host));

	rc = run(&c);

	ret = e2fs_host_close(c.host);
	if (ret && !rc) {
		fail(o.image, "%s", error_message(ret));
		rc = EXIT_ERR;
	}
	ret = ext2fs_close_free(&c.fs);
	if (ret && !rc) {
		fail(o.image, "close: %s", error_message(ret));
		rc = EXIT_ERR;
	}
	return rc;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * rd_edit.c - edit and fuzz: set_flexbg, set_node, set_record, fuzz, and
 * the raw record insert_record / delete_record that bypass the refcount
 * logic.  They exist to make damaged images on purpose (the checker's
 * golden cases), so they check the user's input but never the result.
 *
 * After an edit the block's checksum is made valid again, so that a
 * checker meets the edited field's own problem rather than a bad
 * checksum; -s leaves it stale.  Editing the checksum field itself
 * never recomputes it.
 */
#include <stdlib.h>
#include <string.h>

#include "rd_fields.h"
#include "rd_walk.h"

struct target {
	const char *cmd;
	ull blk;
	u32 fg;
	bool is_meta;
	char *buf;
	const struct rd_struct *s;
	unsigned int base, val_base;
};

struct edit_opts {
	bool stale;			/* -s: keep the old checksum */
	bool force;			/* -f: edit a block that is no node */
};

/* Leading -s/--stale and -f; returns the index of the first operand */
static int parse_opts(int argc, const char *const *argv,
		      struct edit_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-s") || !strcmp(argv[i], "--stale"))
			o->stale = true;
		else if (!strcmp(argv[i], "-f"))
			o->force = true;
		else
			break;
	}
	return i;
}

static bool load_target(struct target *t)
{
	errcode_t ret;

	t->buf = malloc(rd_block_size());
	if (!t->buf) {
		rd_com_err(t->cmd, EXT2_ET_NO_MEMORY, NULL);
		return false;
	}
	ret = rd_read_block(t->blk, t->buf);
	if (ret) {
		rd_com_err(t->cmd, ret, "block %llu", t->blk);
		return false;
	}
	return true;
}

static bool target_flexbg(struct target *t, const char *arg)
{
	ull v;

	if (!rd_parse_u64(t->cmd, arg, "flex group", rd_nr_flex() - 1, &v))
		return false;
	t->fg = v;
	t->blk = rd_meta_block(t->fg);
	if (!t->blk) {
		rd_err(t->cmd, "flex group %u has no metadata block", t->fg);
		return false;
	}
	if (t->blk >= rd_flex_first(t->fg) + rd_flex_len(t->fg)) {
		rd_err(t->cmd, "flex group %u: bg_reserved %u is outside the "
		       "flex group", t->fg, rd_bg_reserved(t->fg));
		return false;
	}
	t->is_meta = true;
	t->s = &rd_flexbg_struct;
	return load_target(t);
}

static bool target_node(struct target *t, const char *arg, bool force)
{
	const struct ext4_btree_node_head *h;

	if (!rd_parse_u64(t->cmd, arg, "block", rd_blocks_count() - 1,
			  &t->blk))
		return false;
	t->fg = rd_flex_of(t->blk);
	t->s = &rd_node_struct;
	if (!load_target(t))
		return false;
	h = (const void *)t->buf;
	if (le32_to_cpu(h->bn_magic) != EXT4_BTREE_MAGIC && !force) {
		rd_err(t->cmd, "block %llu is not a tree node (bn_magic "
		       "0x%08x; -f to edit it anyway)", t->blk,
		       le32_to_cpu(h->bn_magic));
		return false;
	}
	return true;
}

static bool target_record(struct target *t, const char *blk,
			  const char *idx, bool force)
{
	const struct ext4_btree_node_head *h;
	ull i;

	if (!target_node(t, blk, force))
		return false;
	if (!rd_parse_u64(t->cmd, idx, "index", rd_node_capacity() - 1, &i))
		return false;
	h = (const void *)t->buf;
	t->s = le16_to_cpu(h->bn_level) ? &rd_index_struct : &rd_leaf_struct;
	t->base = rd_key_off(i);
	t->val_base = rd_val_off(i);
	return true;
}

static bool find_field(struct target *t, const char *name,
		       struct rd_fref *ref)
{
	char names[512];

	if (rd_field_find(t->s, t->base, t->val_base, name, ref))
		return true;
	rd_field_names(t->s, names, sizeof(names));
	rd_err(t->cmd, "unknown field '%s' of %s (fields: %s)", name,
	       t->s->name, names);
	return false;
}

/* Write the target back, with a fresh checksum unless asked not to */
static void store(struct target *t, const struct rd_fref *ref,
		  const struct edit_opts *o, ull old, ull v)
{
	struct ext4_btree tree;
	errcode_t ret;
	bool csum_field = ref->offset == 4 && ref->size == 4 &&
			  t->s != &rd_leaf_struct && t->s != &rd_index_struct;

	rd_field_set(t->buf, ref, v);
	if (!o->stale && !csum_field) {
		if (t->is_meta) {
			((struct ext4_rfx_block *)t->buf)->fm_checksum =
				cpu_to_le32(ext4_rfx_csum(t->buf,
							  rd_block_size(),
							  rd.rfs->csum_seed));
		} else {
			rd_check_tree(t->fg, &tree);
			((struct ext4_btree_node_head *)t->buf)->bn_checksum =
				cpu_to_le32(ext4_btree_node_csum(&tree,
								 t->buf));
		}
	}
	ret = rd_write_block(t->blk, t->buf);
	if (ret) {
		rd_com_err(t->cmd, ret, "writing block %llu", t->blk);
		return;
	}
	if (ref->hex)
		printf("%s: 0x%0*llx -> 0x%0*llx\n", ref->name, ref->size * 2,
		       old, ref->size * 2, v);
	else
		printf("%s: %llu -> %llu\n", ref->name, old, v);
}

static void set_field(struct target *t, const struct edit_opts *o,
		      const char *field, const char *value)
{
	struct rd_fref ref;
	ull v;

	if (!find_field(t, field, &ref))
		return;
	if (!rd_parse_u64(t->cmd, value, field, rd_field_max(&ref), &v))
		return;
	store(t, &ref, o, rd_field_get(t->buf, &ref), v);
}

/* set_flexbg [-s] FLEXGROUP FIELD VALUE */
void do_set_flexbg(RD_ARGS)
{
	struct target t = { .cmd = argv[0] };
	struct edit_opts o;
	int i = parse_opts(argc, argv, &o);

	(void)sci_idx;
	(void)infop;
	if (argc - i != 3 || o.force) {
		rd_err(argv[0], "usage: set_flexbg [-s] FLEXGROUP FIELD VALUE");
		return;
	}
	if (rd_need_rw(argv[0]) && target_flexbg(&t, argv[i]))
		set_field(&t, &o, argv[i + 1], argv[i + 2]);
	free(t.buf);
}

/* set_node [-s] [-f] BLOCK FIELD VALUE */
void do_set_node(RD_ARGS)
{
	struct target t = { .cmd = argv[0] };
	struct edit_opts o;
	int i = parse_opts(argc, argv, &o);

	(void)sci_idx;
	(void)infop;
	if (argc - i != 3) {
		rd_err(argv[0], "usage: set_node [-s] [-f] BLOCK FIELD VALUE");
		return;
	}
	if (rd_need_rw(argv[0]) && target_node(&t, argv[i], o.force))
		set_field(&t, &o, argv[i + 1], argv[i + 2]);
	free(t.buf);
}

/* set_record [-s] [-f] BLOCK INDEX FIELD VALUE */
void do_set_record(RD_ARGS)
{
	struct target t = { .cmd = argv[0] };
	struct edit_opts o;
	int i = parse_opts(argc, argv, &o);

	(void)sci_idx;
	(void)infop;
	if (argc - i != 4) {
		rd_err(argv[0], "usage: set_record [-s] [-f] BLOCK INDEX "
		       "FIELD VALUE");
		return;
	}
	if (rd_need_rw(argv[0]) &&
	    target_record(&t, argv[i], argv[i + 1], o.force))
		set_field(&t, &o, argv[i + 2], argv[i + 3]);
	free(t.buf);
}

/* xorshift64*: the same seed gives the same value on every machine */
static ull next_random(ull *state)
{
	ull x = *state ? *state : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/*
 * fuzz [-s] [-f] flexbg N | node BLOCK | record BLOCK INDEX  FIELD VERB [ARG]
 * The verbs of xfs_db's fuzz; bits count from the most significant
 * (firstbit) to the least significant (lastbit).
 */
void do_fuzz(RD_ARGS)
{
	static const char usage[] = "usage: fuzz [-s] [-f] flexbg N | node "
		"BLOCK | record BLOCK INDEX  FIELD VERB [ARG]  (VERB: zeroes "
		"ones firstbit middlebit lastbit add sub random)";
	struct target t = { .cmd = argv[0] };
	struct edit_opts o;
	struct rd_fref ref;
	const char *field, *verb, *arg;
	int i = parse_opts(argc, argv, &o), n;
	ull old, v, max, amount = 1, seed;
	unsigned int bits;
	bool ok;

	(void)sci_idx;
	(void)infop;
	if (argc - i < 4) {
		rd_err(argv[0], "%s", usage);
		return;
	}
	if (!strcmp(argv[i], "record"))
		n = 3;
	else if (!strcmp(argv[i], "flexbg") || !strcmp(argv[i], "node"))
		n = 2;
	else {
		rd_err(argv[0], "unknown target '%s' (flexbg, node, record)",
		       argv[i]);
		return;
	}
	if (argc - i < n + 2 || argc - i > n + 3) {
		rd_err(argv[0], "%s", usage);
		return;
	}
	field = argv[i + n];
	verb = argv[i + n + 1];
	arg = argc - i == n + 3 ? argv[i + n + 2] : NULL;
	if (!rd_need_rw(argv[0]))
		return;
	if (n == 3) {
		ok = target_record(&t, argv[i + 1], argv[i + 2], o.force);
	} else if (argv[i][0] == 'n') {
		ok = target_node(&t, argv[i + 1], o.force);
	} else if (o.force) {
		rd_err(argv[0], "-f is for nodes and records only");
		ok = false;
	} else {
		ok = target_flexbg(&t, argv[i + 1]);
	}
	if (!ok || !find_field(&t, field, &ref))
		goto out;
	old = rd_field_get(t.buf, &ref);
	max = rd_field_max(&ref);
	bits = ref.size * 8;
	if (arg && strcmp(verb, "add") && strcmp(verb, "sub") &&
	    strcmp(verb, "random")) {
		rd_err(argv[0], "%s takes no argument", verb);
		goto out;
	}
	if (arg && !rd_parse_u64(argv[0], arg, "argument", ~0ULL, &amount))
		goto out;
	if (!strcmp(verb, "zeroes")) {
		v = 0;
	} else if (!strcmp(verb, "ones")) {
		v = max;
	} else if (!strcmp(verb, "firstbit")) {
		v = old ^ (1ULL << (bits - 1));
	} else if (!strcmp(verb, "middlebit")) {
		v = old ^ (1ULL << (bits / 2));
	} else if (!strcmp(verb, "lastbit")) {
		v = old ^ 1;
	} else if (!strcmp(verb, "add")) {
		v = (old + amount) & max;
	} else if (!strcmp(verb, "sub")) {
		v = (old - amount) & max;
	} else if (!strcmp(verb, "random")) {
		/* no seed: derived from the place, so reruns agree */
		seed = arg ? amount : t.blk * 4096 + ref.offset;
		v = next_random(&seed) & max;
		if (v == old)
			v = (v + 1) & max;
	} else {
		rd_err(argv[0], "unknown verb '%s' (zeroes ones firstbit "
		       "middlebit lastbit add sub random)", verb);
		goto out;
	}
	store(&t, &ref, &o, old, v);
out:
	free(t.buf);
}

static bool raw_group(const char *cmd, const char *arg,
		      struct rfl_group **grpp)
{
	errcode_t ret;
	ull fg;

	if (!rd_parse_u64(cmd, arg, "flex group", rd_nr_flex() - 1, &fg))
		return false;
	ret = rfl_group_create(rd.rfs, fg);
	if (!ret)
		ret = rfl_group_load(rd.rfs, fg, grpp);
	if (ret) {
		rd_com_err(cmd, ret, "flex group %llu", fg);
		return false;
	}
	return true;
}

static void raw_finish(const char *cmd, struct rfl_group *grp, int err)
{
	if (!err)
		err = ext4_btree_commit(&grp->tree);
	if (err) {
		if (grp->tree.in_txn)
			ext4_btree_abort(&grp->tree);
		rd_err(cmd, "flex group %u: %s", grp->fg,
		       err == -EEXIST ? "a record starts there already" :
		       err == -ENOENT ? "no record starts there" :
		       err == -EFSCORRUPTED || err == -EFSBADCRC ?
		       "the tree is corrupt" : strerror(-err));
	}
	rd_invalidate();
}

/* insert_record FLEXGROUP START LEN COUNT: no check of the values */
void do_insert_record(RD_ARGS)
{
	struct ext4_refcount_rec rec;
	struct ext4_refcount_key key;
	struct ext4_refcount_val val;
	struct rfl_group *grp;
	ull start, len, count;
	int err;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 4, 4, "FLEXGROUP START LEN COUNT") ||
	    !rd_need_rw(argv[0]) ||
	    !rd_parse_u64(argv[0], argv[2], "start", 0xffffffffu, &start) ||
	    !rd_parse_u64(argv[0], argv[3], "length", 0xffffffffu, &len) ||
	    !rd_parse_u64(argv[0], argv[4], "count", 0xffffffffu, &count) ||
	    !raw_group(argv[0], argv[1], &grp))
		return;
	rec.start = start;
	rec.len = len;
	rec.count = count;
	ext4_refcount_rec_encode(&rec, &key, &val);
	err = ext4_btree_begin(&grp->tree);
	if (!err)
		err = ext4_btree_insert(&grp->tree, &key, &val);
	raw_finish(argv[0], grp, err);
}

/* delete_record FLEXGROUP START */
void do_delete_record(RD_ARGS)
{
	struct ext4_refcount_key key;
	struct rfl_group *grp;
	ull start;
	int err;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 2, 2, "FLEXGROUP START") ||
	    !rd_need_rw(argv[0]) ||
	    !rd_parse_u64(argv[0], argv[2], "start", 0xffffffffu, &start) ||
	    !raw_group(argv[0], argv[1], &grp))
		return;
	key.rk_start = cpu_to_le32((u32)start);
	err = ext4_btree_begin(&grp->tree);
	if (!err)
		err = ext4_btree_delete(&grp->tree, &key);
	raw_finish(argv[0], grp, err);
}

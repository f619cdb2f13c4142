// SPDX-License-Identifier: GPL-2.0
/*
 * test_btree_model.c - the B-tree against a reference model, at random.
 *
 * The model is a dense array over a bounded key space of slots; slot s
 * maps monotonically to a key spread over the whole 32/64/128-bit range,
 * so the tree sees extreme keys and sparse gaps while the model answers
 * every query with a bitmap scan.  Each geometry runs in COW mode (commit
 * or abort at random; an abort rolls the model back through an undo log)
 * and in INPLACE mode (commit only).  After every commit the record,
 * node and block counts must agree; at checkpoints the verifier must
 * report nothing and see exactly the model's records; at the end (and at
 * some checkpoints) the cache is dropped and the tree reopened from the
 * committed root, so what was committed must be on disk.
 *
 * SEED=<n> replays a run; OPS_SCALE scales the operation count.
 */
#include <stdio.h>
#include <stdlib.h>

#include "btree/ext4_btree.h"
#include "btree/mem_host.h"
#include "refcount/refcount_rec.h"
#include "tap.h"
#include "../kernel/ktest_keys.h"

#define OPS_PER_GEO	1000000
#define MAX_COMMIT_OPS	2000
#define NR_CHECKPOINTS	40

struct gcase {
	const char *name;
	const struct ext4_btree_geo *geo;	/* ktest_keys.h's, refcount */
	u32 block_size;
	unsigned int slot_bits;		/* 2^slot_bits model slots */
	enum kt_key_kind kind;
	double max_density;		/* peak share of slots in use */
	u64 nr_blocks;
};

/* ---------------------------------------------------------------- */
/* Keys and values                                                   */
/* ---------------------------------------------------------------- */

struct run {
	const struct gcase *g;
	u32 nr_slots;
	u64 span;		/* key distance between slots (high word) */
	u64 koff;		/* key of slot 0 */
	u64 lo_salt;		/* K128: low words differ per slot */
};

static u64 slot_hi(const struct run *r, u32 s)
{
	return (u64)s * r->span + r->koff;
}

/* K128 low word: in [1, 2^63) so there is room on both sides */
static u64 slot_lo(const struct run *r, u32 s)
{
	return (kt_mix64(s ^ r->lo_salt) | 1) & ~(1ull << 63);
}

static void encode_key(const struct run *r, u32 s, u8 *key)
{
	kt_encode_key(r->g->kind, slot_hi(r, s),
		      r->g->kind == K128 ? slot_lo(r, s) : 0, key);
}

static void encode_raw(const struct run *r, u64 hi, u64 lo, u8 *key)
{
	kt_encode_key(r->g->kind, hi, lo, key);
}

static void encode_val(const struct run *r, u64 v, u8 *val)
{
	unsigned int i, n = r->g->geo->val_size;
	__le64 lv = cpu_to_le64(v);

	memcpy(val, &lv, n < 8 ? n : 8);
	for (i = 8; i < n; i++)
		val[i] = (u8)(v >> (i % 8 * 8)) ^ (u8)(i * 37);
}

/*
 * A random query key and where it falls: floor is the greatest slot whose
 * key is <= the query (-1 if none), exact whether it is equal.
 */
static void gen_query(const struct run *r, uint64_t *rng, u8 *key, s64 *floor,
		      bool *exact)
{
	u64 x = tap_rand(rng);
	u32 s = (u32)(x % r->nr_slots);
	u64 top = r->g->kind == K32 ? 0xffffffffull : ~0ull;
	u64 hi = slot_hi(r, s), lim;
	int how = (int)(x >> 40) % 4;

	*floor = s;
	*exact = false;
	x = tap_rand(rng);
	if (how == 2) {
		/* strictly between slot s and slot s + 1 */
		if (r->g->kind == K128 && (x & 1)) {
			encode_raw(r, hi, slot_lo(r, s) + 1 +
				   (x >> 1) % (~0ull - slot_lo(r, s)), key);
			return;
		}
		lim = s == r->nr_slots - 1 ? top - hi : r->span - 1;
		if (lim) {
			encode_raw(r, hi + 1 + x % lim, x, key);
			return;
		}
	} else if (how == 3) {
		/* strictly between slot s - 1 and slot s */
		*floor = (s64)s - 1;
		if (r->g->kind == K128 && ((x & 1) || s == 0)) {
			encode_raw(r, hi, (x >> 1) % slot_lo(r, s), key);
			return;
		}
		lim = s == 0 ? hi : r->span - 1;
		if (lim) {
			encode_raw(r, hi - 1 - x % lim, x, key);
			return;
		}
		*floor = s;
	}
	*exact = true;
	encode_key(r, s, key);
}

/* ---------------------------------------------------------------- */
/* The model                                                         */
/* ---------------------------------------------------------------- */

struct undo {
	u32 slot;
	bool present;
	u64 val;
};

struct model {
	u32 nr_slots;
	u64 *val;
	u64 *bits;		/* present slots */
	u64 *sum;		/* bit w: bits[w] != 0 */
	u32 nr_words, nr_sum;
	u64 count;
	struct undo *undo;
	size_t nr_undo, max_undo;
};

static int model_init(struct model *m, u32 nr_slots)
{
	memset(m, 0, sizeof(*m));
	m->nr_slots = nr_slots;
	m->nr_words = (nr_slots + 63) / 64;
	m->nr_sum = (m->nr_words + 63) / 64;
	m->val = calloc(nr_slots, sizeof(*m->val));
	m->bits = calloc(m->nr_words, sizeof(*m->bits));
	m->sum = calloc(m->nr_sum, sizeof(*m->sum));
	m->max_undo = 4096;
	m->undo = malloc(m->max_undo * sizeof(*m->undo));
	if (!m->val || !m->bits || !m->sum || !m->undo)
		return -ENOMEM;
	return 0;
}

static void model_free(struct model *m)
{
	free(m->val);
	free(m->bits);
	free(m->sum);
	free(m->undo);
}

static bool model_has(const struct model *m, s64 s)
{
	return s >= 0 && s < m->nr_slots && (m->bits[s >> 6] >> (s & 63) & 1);
}

/* Smallest present slot >= s, or -1 */
static s64 model_next(const struct model *m, s64 s)
{
	u64 w, word;
	u32 sw;

	if (s < 0)
		s = 0;
	if (s >= m->nr_slots)
		return -1;
	w = (u64)s >> 6;
	word = m->bits[w] & (~0ull << (s & 63));
	if (word)
		return (s64)(w * 64 + __builtin_ctzll(word));
	w++;
	if (w >= m->nr_words)
		return -1;
	sw = (u32)(w >> 6);
	word = m->sum[sw] & (~0ull << (w & 63));
	while (!word) {
		if (++sw >= m->nr_sum)
			return -1;
		word = m->sum[sw];
	}
	w = (u64)sw * 64 + __builtin_ctzll(word);
	return (s64)(w * 64 + __builtin_ctzll(m->bits[w]));
}

/* Greatest present slot <= s, or -1 */
static s64 model_prev(const struct model *m, s64 s)
{
	u64 w, word;
	s64 sw;

	if (s < 0)
		return -1;
	if (s >= m->nr_slots)
		s = m->nr_slots - 1;
	w = (u64)s >> 6;
	word = m->bits[w] & (~0ull >> (63 - (s & 63)));
	if (word)
		return (s64)(w * 64 + 63 - __builtin_clzll(word));
	if (w == 0)
		return -1;
	w--;
	sw = (s64)(w >> 6);
	word = m->sum[sw] & (~0ull >> (63 - (w & 63)));
	while (!word) {
		if (--sw < 0)
			return -1;
		word = m->sum[sw];
	}
	w = (u64)sw * 64 + 63 - __builtin_clzll(word);
	return (s64)(w * 64 + 63 - __builtin_clzll(m->bits[w]));
}

static void model_log(struct model *m, u32 s)
{
	if (m->nr_undo == m->max_undo) {
		m->max_undo *= 2;
		m->undo = realloc(m->undo, m->max_undo * sizeof(*m->undo));
		if (!m->undo)
			tap_bail_out("out of memory for the undo log");
	}
	m->undo[m->nr_undo].slot = s;
	m->undo[m->nr_undo].present = model_has(m, s);
	m->undo[m->nr_undo].val = m->val[s];
	m->nr_undo++;
}

static void model_set_raw(struct model *m, u32 s, bool present, u64 v)
{
	u64 bit = 1ull << (s & 63);

	m->val[s] = v;
	if (present == model_has(m, s))
		return;
	if (present) {
		m->bits[s >> 6] |= bit;
		m->sum[s >> 12] |= 1ull << ((s >> 6) & 63);
		m->count++;
	} else {
		m->bits[s >> 6] &= ~bit;
		if (!m->bits[s >> 6])
			m->sum[s >> 12] &= ~(1ull << ((s >> 6) & 63));
		m->count--;
	}
}

static void model_set(struct model *m, u32 s, bool present, u64 v)
{
	model_log(m, s);
	model_set_raw(m, s, present, v);
}

static void model_commit(struct model *m)
{
	m->nr_undo = 0;
}

static void model_rollback(struct model *m)
{
	while (m->nr_undo) {
		struct undo *u = &m->undo[--m->nr_undo];

		model_set_raw(m, u->slot, u->present, u->val);
	}
}

/* ---------------------------------------------------------------- */
/* The run                                                           */
/* ---------------------------------------------------------------- */

enum op_type {
	OP_INSERT, OP_UPDATE, OP_DELETE, OP_REPLACE, OP_LOOKUP, OP_SCAN,
	OP_BULK, OP_COMMIT, OP_ABORT, OP_VERIFY, OP_REOPEN,
};

static const char *const op_names[] = {
	"insert", "update", "delete", "replace", "lookup", "scan",
	"bulk", "commit", "abort", "verify", "reopen",
};

#define HIST 16

struct hist {
	u64 opno;
	enum op_type type;
	s64 a, b;
	int ret;
};

struct ctx {
	struct run r;
	struct model m;
	struct mem_host *h;
	struct ext4_btree tree;
	enum ext4_btree_mode mode;
	u32 csum_seed, owner;
	uint64_t rng;		/* tap_rand() state */
	u64 opno;
	bool failed;
	char msg[512];
	struct hist hist[HIST];
	unsigned int nr_hist;
	u8 *seen;		/* verify: blocks visited */
	/* statistics for the diag line */
	u64 nr_commits, nr_aborts, nr_bulk, nr_verify, nr_reopen;
	u64 max_records;
	u16 max_height;
};

static void note(struct ctx *c, enum op_type t, s64 a, s64 b, int ret)
{
	struct hist *e = &c->hist[c->nr_hist++ % HIST];

	e->opno = c->opno;
	e->type = t;
	e->a = a;
	e->b = b;
	e->ret = ret;
}

TAP_PRINTF(2, 3)
static void fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->failed)
		return;
	c->failed = true;
	n = snprintf(c->msg, sizeof(c->msg), "op %llu: ",
		     (unsigned long long)c->opno);
	va_start(ap, fmt);
	vsnprintf(c->msg + n, sizeof(c->msg) - n, fmt, ap);
	va_end(ap);
}

static void dump_hist(struct ctx *c)
{
	unsigned int i, n = c->nr_hist < HIST ? c->nr_hist : HIST;

	diag("last %u operations (slot arguments):", n);
	for (i = c->nr_hist - n; i < c->nr_hist; i++) {
		struct hist *e = &c->hist[i % HIST];

		diag("  op %llu %s %lld %lld -> %d",
		     (unsigned long long)e->opno, op_names[e->type],
		     (long long)e->a, (long long)e->b, e->ret);
	}
}

#define CHECK(c, cond, ...)			\
	do {					\
		if (!(cond)) {			\
			fail(c, __VA_ARGS__);	\
			return -1;		\
		}				\
	} while (0)

static int check_counts(struct ctx *c, const char *when)
{
	struct mem_host_stats st;

	mem_host_get_stats(c->h, &st);
	CHECK(c, !c->tree.in_txn, "%s: still in a transaction", when);
	CHECK(c, c->tree.nr_records == c->m.count,
	      "%s: nr_records %llu, model %llu", when,
	      (unsigned long long)c->tree.nr_records,
	      (unsigned long long)c->m.count);
	CHECK(c, mem_host_nr_refs(c->h) == 0, "%s: %llu buffer refs held",
	      when, (unsigned long long)mem_host_nr_refs(c->h));
	CHECK(c, mem_host_nr_allocated(c->h) == c->tree.nr_nodes,
	      "%s: %llu blocks allocated, tree has %llu nodes", when,
	      (unsigned long long)mem_host_nr_allocated(c->h),
	      (unsigned long long)c->tree.nr_nodes);
	CHECK(c, st.errors == 0, "%s: %llu host errors", when,
	      (unsigned long long)st.errors);
	CHECK(c, (c->tree.root == 0) == (c->tree.height == 0) &&
	      (c->tree.root == 0) == (c->tree.nr_nodes == 0),
	      "%s: root %llu height %u nodes %llu disagree", when,
	      (unsigned long long)c->tree.root, c->tree.height,
	      (unsigned long long)c->tree.nr_nodes);
	if (c->tree.nr_records > c->max_records)
		c->max_records = c->tree.nr_records;
	if (c->tree.height > c->max_height)
		c->max_height = c->tree.height;
	return 0;
}

static int do_begin(struct ctx *c)
{
	int ret = ext4_btree_begin(&c->tree);

	CHECK(c, ret == 0, "begin returned %d", ret);
	return 0;
}

static int do_commit(struct ctx *c)
{
	struct mem_host_root hr;
	int ret = ext4_btree_commit(&c->tree);

	note(c, OP_COMMIT, (s64)c->m.count, 0, ret);
	CHECK(c, ret == 0, "commit returned %d", ret);
	model_commit(&c->m);
	c->nr_commits++;
	mem_host_get_root(c->h, &hr);
	CHECK(c, hr.root == c->tree.root && hr.height == c->tree.height &&
	      hr.nr_records == c->tree.nr_records &&
	      hr.nr_nodes == c->tree.nr_nodes,
	      "commit: host root slot differs from the tree");
	return check_counts(c, "after commit");
}

static int do_abort(struct ctx *c)
{
	ext4_btree_abort(&c->tree);
	note(c, OP_ABORT, (s64)c->m.nr_undo, 0, 0);
	model_rollback(&c->m);
	c->nr_aborts++;
	return check_counts(c, "after abort");
}

static int check_entry(struct ctx *c, const char *what, s64 want,
		       const u8 *key, const u8 *val)
{
	u8 k[EXT4_BTREE_MAX_KEY], v[EXT4_BTREE_MAX_VAL];

	encode_key(&c->r, (u32)want, k);
	CHECK(c, !memcmp(k, key, c->r.g->geo->key_size),
	      "%s: wrong key, expected slot %lld", what, (long long)want);
	if (val) {
		encode_val(&c->r, c->m.val[want], v);
		CHECK(c, !memcmp(v, val, c->r.g->geo->val_size),
		      "%s: wrong value for slot %lld", what, (long long)want);
	}
	return 0;
}

/* Mostly a present slot, so deletes and updates usually hit */
static s64 pick_slot(struct ctx *c, bool want_present)
{
	s64 s = (s64)(tap_rand(&c->rng) % c->r.nr_slots);
	s64 p;

	if (!want_present || tap_rand(&c->rng) % 8 == 0)
		return s;
	p = model_next(&c->m, s);
	if (p < 0)
		p = model_prev(&c->m, s);
	return p < 0 ? s : p;
}

static int op_insert(struct ctx *c)
{
	s64 s = pick_slot(c, false);
	u64 v = tap_rand(&c->rng);
	u8 k[EXT4_BTREE_MAX_KEY], val[EXT4_BTREE_MAX_VAL];
	int ret, want = model_has(&c->m, s) ? -EEXIST : 0;

	encode_key(&c->r, (u32)s, k);
	encode_val(&c->r, v, val);
	ret = ext4_btree_insert(&c->tree, k, val);
	note(c, OP_INSERT, s, 0, ret);
	CHECK(c, ret == want, "insert slot %lld returned %d, expected %d",
	      (long long)s, ret, want);
	if (!ret)
		model_set(&c->m, (u32)s, true, v);
	return 0;
}

static int op_update(struct ctx *c)
{
	s64 s = pick_slot(c, true);
	u64 v = tap_rand(&c->rng);
	u8 k[EXT4_BTREE_MAX_KEY], val[EXT4_BTREE_MAX_VAL];
	int ret, want = model_has(&c->m, s) ? 0 : -ENOENT;

	encode_key(&c->r, (u32)s, k);
	encode_val(&c->r, v, val);
	ret = ext4_btree_update(&c->tree, k, val);
	note(c, OP_UPDATE, s, 0, ret);
	CHECK(c, ret == want, "update slot %lld returned %d, expected %d",
	      (long long)s, ret, want);
	if (!ret)
		model_set(&c->m, (u32)s, true, v);
	return 0;
}

static int op_delete(struct ctx *c)
{
	s64 s = pick_slot(c, true);
	u8 k[EXT4_BTREE_MAX_KEY];
	int ret, want = model_has(&c->m, s) ? 0 : -ENOENT;

	encode_key(&c->r, (u32)s, k);
	ret = ext4_btree_delete(&c->tree, k);
	note(c, OP_DELETE, s, 0, ret);
	CHECK(c, ret == want, "delete slot %lld returned %d, expected %d",
	      (long long)s, ret, want);
	if (!ret)
		model_set(&c->m, (u32)s, false, 0);
	return 0;
}

/*
 * Move an entry to a new slot between its neighbours, or (sometimes) try
 * a slot outside them, which must fail with -EINVAL and change nothing.
 */
static int op_replace(struct ctx *c)
{
	s64 s = pick_slot(c, true);
	s64 p = model_prev(&c->m, s - 1), n = model_next(&c->m, s + 1);
	s64 lo = p + 1, hi = n < 0 ? (s64)c->r.nr_slots - 1 : n - 1;
	s64 t;
	u64 v = tap_rand(&c->rng), x = tap_rand(&c->rng);
	u8 k[EXT4_BTREE_MAX_KEY], nk[EXT4_BTREE_MAX_KEY];
	u8 val[EXT4_BTREE_MAX_VAL];
	int ret, want;

	if (!model_has(&c->m, s)) {
		t = s;
		want = -ENOENT;
	} else if (x % 10 == 0 && (p >= 0 || n >= 0)) {
		/* onto or past a neighbour */
		if (p >= 0 && (n < 0 || x & 16))
			t = (s64)((x >> 8) % (u64)(p + 1));
		else
			t = n + (s64)((x >> 8) % (c->r.nr_slots - (u64)n));
		want = -EINVAL;
	} else {
		t = lo + (s64)((x >> 8) % (u64)(hi - lo + 1));
		want = 0;
	}
	encode_key(&c->r, (u32)s, k);
	encode_key(&c->r, (u32)t, nk);
	encode_val(&c->r, v, val);
	ret = ext4_btree_replace(&c->tree, k, nk, val);
	note(c, OP_REPLACE, s, t, ret);
	CHECK(c, ret == want,
	      "replace slot %lld by %lld (neighbours %lld %lld) returned %d, expected %d",
	      (long long)s, (long long)t, (long long)p, (long long)n, ret,
	      want);
	if (!ret) {
		model_set(&c->m, (u32)s, false, 0);
		model_set(&c->m, (u32)t, true, v);
	}
	return 0;
}

static s64 model_answer(struct ctx *c, enum ext4_btree_lookup_mode mode,
			s64 floor, bool exact)
{
	switch (mode) {
	case EXT4_BTREE_EQ:
		return exact && model_has(&c->m, floor) ? floor : -1;
	case EXT4_BTREE_LE:
		return model_prev(&c->m, floor);
	case EXT4_BTREE_GE:
		return model_next(&c->m, exact ? floor : floor + 1);
	}
	return -1;
}

static int op_lookup(struct ctx *c)
{
	u8 q[EXT4_BTREE_MAX_KEY], k[EXT4_BTREE_MAX_KEY];
	u8 v[EXT4_BTREE_MAX_VAL];
	enum ext4_btree_lookup_mode mode;
	bool exact, with_out;
	s64 floor, want;
	int ret;

	gen_query(&c->r, &c->rng, q, &floor, &exact);
	mode = (enum ext4_btree_lookup_mode)(tap_rand(&c->rng) % 3);
	with_out = tap_rand(&c->rng) % 8;
	want = model_answer(c, mode, floor, exact);
	ret = ext4_btree_lookup(&c->tree, q, mode, with_out ? k : NULL,
				with_out ? v : NULL);
	note(c, OP_LOOKUP, floor, mode, ret);
	CHECK(c, ret == (want < 0 ? -ENOENT : 0),
	      "lookup mode %d near slot %lld (exact %d) returned %d, expected slot %lld",
	      mode, (long long)floor, exact, ret, (long long)want);
	if (!ret && with_out)
		return check_entry(c, "lookup", want, k, v);
	return 0;
}

/* Seek (or first/last), then walk a random distance either way */
static int op_scan(struct ctx *c)
{
	struct ext4_btree_cursor cur;
	u8 q[EXT4_BTREE_MAX_KEY];
	enum ext4_btree_lookup_mode mode;
	u64 x = tap_rand(&c->rng);
	bool exact, forward = x & 1;
	s64 floor = -1, want;
	u64 len, i;
	int ret;

	len = x % 50 == 0 ? c->r.nr_slots : 1 + (x >> 8) % 64;
	ext4_btree_cursor_init(&cur, &c->tree);
	if ((x >> 1) % 10 == 0) {
		mode = forward ? EXT4_BTREE_GE : EXT4_BTREE_LE;
		if (forward) {
			ret = ext4_btree_cursor_first(&cur);
			want = model_next(&c->m, 0);
		} else {
			ret = ext4_btree_cursor_last(&cur);
			want = model_prev(&c->m, c->r.nr_slots);
		}
	} else {
		gen_query(&c->r, &c->rng, q, &floor, &exact);
		mode = (enum ext4_btree_lookup_mode)(tap_rand(&c->rng) % 3);
		want = model_answer(c, mode, floor, exact);
		ret = ext4_btree_cursor_seek(&cur, q, mode);
	}
	note(c, OP_SCAN, floor, (s64)len * (forward ? 1 : -1), ret);
	if (ret) {
		CHECK(c, ret == -ENOENT && want < 0,
		      "cursor seek mode %d near slot %lld returned %d, expected slot %lld",
		      mode, (long long)floor, ret, (long long)want);
		goto out;
	}
	CHECK(c, want >= 0,
	      "cursor seek mode %d near slot %lld found an entry, model has none",
	      mode, (long long)floor);
	for (i = 0; ; i++) {
		if (check_entry(c, "cursor", want, ext4_btree_cursor_key(&cur),
				ext4_btree_cursor_val(&cur)))
			goto out_release;
		if (i == len)
			break;
		if (forward) {
			ret = ext4_btree_cursor_next(&cur);
			want = model_next(&c->m, want + 1);
		} else {
			ret = ext4_btree_cursor_prev(&cur);
			want = model_prev(&c->m, want - 1);
		}
		if (ret) {
			CHECK(c, ret == -ENOENT && want < 0,
			      "cursor %s step %llu returned %d, expected slot %lld",
			      forward ? "next" : "prev",
			      (unsigned long long)i, ret, (long long)want);
			goto out;
		}
		CHECK(c, want >= 0,
		      "cursor %s step %llu found an entry past the end",
		      forward ? "next" : "prev", (unsigned long long)i);
	}
	ext4_btree_cursor_release(&cur);
out:
	return 0;
out_release:
	ext4_btree_cursor_release(&cur);
	return -1;
}

struct bulk_src {
	struct ctx *c;
	s64 next;
	u64 given;
};

static int bulk_next(void *priv, void *key, void *val)
{
	struct bulk_src *src = priv;
	struct ctx *c = src->c;

	if (src->next < 0)
		return -ENODATA;
	encode_key(&c->r, (u32)src->next, key);
	encode_val(&c->r, c->m.val[src->next], val);
	src->next = model_next(&c->m, src->next + 1);
	src->given++;
	return 0;
}

/* A transaction of its own: the model does not change */
static int op_bulk(struct ctx *c)
{
	struct bulk_src src = { c, model_next(&c->m, 0), 0 };
	unsigned int fill = 50 + (unsigned int)(tap_rand(&c->rng) % 51);
	bool abort = c->mode == EXT4_BTREE_COW && tap_rand(&c->rng) % 4 == 0;
	int ret;

	if (do_commit(c) || do_begin(c))
		return -1;
	ret = ext4_btree_bulk_load(&c->tree, c->m.count, fill, bulk_next,
				   &src);
	note(c, OP_BULK, (s64)c->m.count, fill, ret);
	CHECK(c, ret == 0, "bulk load of %llu at fill %u returned %d",
	      (unsigned long long)c->m.count, fill, ret);
	CHECK(c, src.given == c->m.count, "bulk load pulled %llu of %llu",
	      (unsigned long long)src.given, (unsigned long long)c->m.count);
	c->nr_bulk++;
	if (abort ? do_abort(c) : do_commit(c))
		return -1;
	return do_begin(c);
}

struct vctx {
	struct ctx *c;
	s64 next;		/* expected slot of the next record */
	u64 records, nodes, problems;
	bool prev_seen;
	u8 prev_key[EXT4_BTREE_MAX_KEY];
	u8 prev_val[EXT4_BTREE_MAX_VAL];
	struct ext4_btree_problem first;
};

static int v_report(void *priv, const struct ext4_btree_problem *p)
{
	struct vctx *v = priv;

	if (!v->problems++)
		v->first = *p;
	return 0;
}

static bool v_valid_block(void *priv, u64 blk)
{
	struct vctx *v = priv;

	return mem_host_is_allocated(v->c->h, blk);
}

static bool v_seen(void *priv, u64 blk)
{
	struct vctx *v = priv;
	u8 *s = &v->c->seen[blk >> 3];
	bool was = *s >> (blk & 7) & 1;

	*s |= 1 << (blk & 7);
	return was;
}

static int v_record(void *priv, const void *key, const void *val,
		    const void *prev_key, const void *prev_val)
{
	struct vctx *v = priv;
	struct ctx *c = v->c;
	size_t ks = c->r.g->geo->key_size, vs = c->r.g->geo->val_size;

	v->records++;
	if (c->failed)
		return 1;
	if (v->next < 0) {
		fail(c, "verify: record %llu past the model's last",
		     (unsigned long long)v->records);
		return 1;
	}
	if (check_entry(c, "verify record", v->next, key, val))
		return 1;
	if (v->prev_seen ? !prev_key || !prev_val ||
	    memcmp(prev_key, v->prev_key, ks) ||
	    memcmp(prev_val, v->prev_val, vs) : prev_key != NULL) {
		fail(c, "verify: record %llu has the wrong previous record",
		     (unsigned long long)v->records);
		return 1;
	}
	memcpy(v->prev_key, key, ks);
	memcpy(v->prev_val, val, vs);
	v->prev_seen = true;
	v->next = model_next(&c->m, v->next + 1);
	return 0;
}

static int v_node(void *priv, u64 blk, int level)
{
	struct vctx *v = priv;

	(void)blk;
	(void)level;
	v->nodes++;
	return 0;
}

static const struct ext4_btree_verify_ops verify_ops = {
	.report			= v_report,
	.valid_block		= v_valid_block,
	.test_and_set_seen	= v_seen,
	.record			= v_record,
	.node			= v_node,
};

static int op_verify(struct ctx *c)
{
	struct vctx v = { .c = c, .next = model_next(&c->m, 0) };
	long ret;

	memset(c->seen, 0, (c->r.g->nr_blocks + 7) / 8);
	ret = ext4_btree_verify(&c->tree, &verify_ops, &v);
	note(c, OP_VERIFY, (s64)v.records, (s64)v.nodes, (int)ret);
	c->nr_verify++;
	if (c->failed)
		return -1;
	CHECK(c, ret == 0 && v.problems == 0,
	      "verify returned %ld, %llu problems, first code %d at block %llu level %d index %d",
	      ret, (unsigned long long)v.problems, v.first.code,
	      (unsigned long long)v.first.blocknr, v.first.level,
	      v.first.index);
	CHECK(c, v.next < 0 && v.records == c->m.count,
	      "verify saw %llu records, model has %llu",
	      (unsigned long long)v.records, (unsigned long long)c->m.count);
	CHECK(c, v.nodes == c->tree.nr_nodes,
	      "verify saw %llu nodes, tree has %llu", (unsigned long long)v.nodes,
	      (unsigned long long)c->tree.nr_nodes);
	CHECK(c, mem_host_nr_refs(c->h) == 0, "verify left %llu refs",
	      (unsigned long long)mem_host_nr_refs(c->h));
	return 0;
}

/* Forget the cache and open the tree again from the committed root slot */
static int op_reopen(struct ctx *c)
{
	struct mem_host_root hr;
	int ret;

	ret = mem_host_drop_cache(c->h);
	note(c, OP_REOPEN, 0, 0, ret);
	CHECK(c, ret == 0, "drop_cache returned %d", ret);
	mem_host_get_root(c->h, &hr);
	ret = ext4_btree_init(&c->tree, c->r.g->geo, &mem_host_ops, c->h,
			      c->r.g->block_size, c->csum_seed, c->owner,
			      c->mode);
	CHECK(c, ret == 0, "init returned %d", ret);
	c->tree.root = hr.root;
	c->tree.height = hr.height;
	c->tree.nr_records = hr.nr_records;
	c->tree.nr_nodes = hr.nr_nodes;
	c->tree.generation = hr.generation;
	c->nr_reopen++;
	return 0;
}

/* Every entry through the cursor, both ways */
static int full_compare(struct ctx *c)
{
	struct ext4_btree_cursor cur;
	s64 want;
	int ret, dir;

	for (dir = 0; dir < 2; dir++) {
		ext4_btree_cursor_init(&cur, &c->tree);
		if (dir == 0) {
			ret = ext4_btree_cursor_first(&cur);
			want = model_next(&c->m, 0);
		} else {
			ret = ext4_btree_cursor_last(&cur);
			want = model_prev(&c->m, c->r.nr_slots);
		}
		while (!ret) {
			if (want < 0) {
				ext4_btree_cursor_release(&cur);
				CHECK(c, 0,
				      "full compare: tree has more entries than the model");
			}
			if (check_entry(c, "full compare", want,
					ext4_btree_cursor_key(&cur),
					ext4_btree_cursor_val(&cur))) {
				ext4_btree_cursor_release(&cur);
				return -1;
			}
			if (dir == 0) {
				ret = ext4_btree_cursor_next(&cur);
				want = model_next(&c->m, want + 1);
			} else {
				ret = ext4_btree_cursor_prev(&cur);
				want = model_prev(&c->m, want - 1);
			}
		}
		CHECK(c, ret == -ENOENT, "full compare: cursor returned %d",
		      ret);
		CHECK(c, want < 0, "full compare: tree ends before slot %lld",
		      (long long)want);
		CHECK(c, mem_host_nr_refs(c->h) == 0,
		      "full compare left %llu refs",
		      (unsigned long long)mem_host_nr_refs(c->h));
	}
	return 0;
}

/* Share of slots the run aims at: a triangle wave, empty to full, x3 */
static double target_density(struct ctx *c, u64 nr_ops)
{
	u64 period = nr_ops / 3 + 1, pos = c->opno % period;
	double t = (double)pos / (double)period * 2;

	return c->r.g->max_density * (t <= 1 ? t : 2 - t);
}

static int one_op(struct ctx *c, u64 nr_ops)
{
	u64 x = tap_rand(&c->rng) % 1000, refs;
	double dens, p_ins;

	if (x < 550) {
		if (x < 60)
			return op_update(c);
		if (x < 100)
			return op_replace(c);
		dens = (double)c->m.count / c->r.nr_slots;
		p_ins = 0.5 + (target_density(c, nr_ops) - dens) * 8;
		if (p_ins < 0.1)
			p_ins = 0.1;
		if (p_ins > 0.9)
			p_ins = 0.9;
		if ((double)(tap_rand(&c->rng) % 1000) < p_ins * 1000)
			return op_insert(c);
		return op_delete(c);
	}
	/* inside a transaction the tree holds its dirty and freed nodes */
	refs = mem_host_nr_refs(c->h);
	if (x < 900 ? op_lookup(c) : op_scan(c))
		return -1;
	CHECK(c, mem_host_nr_refs(c->h) == refs,
	      "%s changed the buffer refs from %llu to %llu",
	      x < 900 ? "lookup" : "scan", (unsigned long long)refs,
	      (unsigned long long)mem_host_nr_refs(c->h));
	return 0;
}

static int run_ops(struct ctx *c, u64 nr_ops)
{
	u64 next_commit, next_check, check_every, bulk_every;
	bool cow = c->mode == EXT4_BTREE_COW;

	check_every = nr_ops / NR_CHECKPOINTS;
	if (check_every < 500)
		check_every = 500;
	bulk_every = nr_ops / 12 + 1;
	next_check = check_every;
	if (do_begin(c))
		return -1;
	next_commit = 1 + tap_rand(&c->rng) % MAX_COMMIT_OPS;
	for (c->opno = 1; c->opno <= nr_ops; c->opno++) {
		if (one_op(c, nr_ops))
			return -1;
		if (tap_rand(&c->rng) % bulk_every == 0 && op_bulk(c))
			return -1;
		if (--next_commit)
			continue;
		next_commit = 1 + tap_rand(&c->rng) % MAX_COMMIT_OPS;
		if (cow && tap_rand(&c->rng) % 7 == 0) {
			if (do_abort(c))
				return -1;
		} else if (do_commit(c)) {
			return -1;
		}
		if (c->opno >= next_check) {
			next_check = c->opno + check_every;
			if (op_verify(c))
				return -1;
			if (tap_rand(&c->rng) % 4 == 0 &&
			    (op_reopen(c) || op_verify(c)))
				return -1;
		}
		if (do_begin(c))
			return -1;
	}
	return do_commit(c);
}

static void run_case(const struct gcase *g, unsigned int idx,
		     enum ext4_btree_mode mode, u64 seed, u64 nr_ops)
{
	const char *mname = mode == EXT4_BTREE_COW ? "cow" : "inplace";
	struct ctx *c = calloc(1, sizeof(*c));
	struct timespec t0, t1;
	int ret;

	if (!c)
		tap_bail_out("out of memory");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c->r.g = g;
	c->r.nr_slots = 1u << g->slot_bits;
	c->rng = seed ^ kt_mix64((u64)idx << 8 | mode);
	c->mode = mode;
	c->csum_seed = (u32)tap_rand(&c->rng);
	c->owner = (u32)tap_rand(&c->rng);
	c->r.span = 1ull << ((g->kind == K32 ? 32 : 64) - g->slot_bits);
	/* Alternate the offset so both the smallest and largest keys occur */
	switch (tap_rand(&c->rng) % 3) {
	case 0:
		c->r.koff = 0;
		break;
	case 1:
		c->r.koff = c->r.span - 1;
		break;
	default:
		c->r.koff = tap_rand(&c->rng) % c->r.span;
	}
	c->r.lo_salt = tap_rand(&c->rng);
	c->h = mem_host_create(g->block_size, g->nr_blocks);
	c->seen = calloc((g->nr_blocks + 7) / 8, 1);
	if (!c->h || !c->seen || model_init(&c->m, c->r.nr_slots))
		tap_bail_out("out of memory");
	ret = ext4_btree_init(&c->tree, g->geo, &mem_host_ops, c->h,
			      g->block_size, c->csum_seed, c->owner, mode);
	if (!ok(ret == 0, "%s/%s: init", g->name, mname))
		goto out;

	ret = run_ops(c, nr_ops);
	if (!ok(!c->failed, "%s/%s: %llu random operations match the model",
		g->name, mname, (unsigned long long)nr_ops)) {
		diag("%s", c->msg);
		dump_hist(c);
		diag("replay with SEED=%llu", (unsigned long long)seed);
		goto out;
	}
	ret = op_verify(c);
	ret = ret ?: op_reopen(c);
	ret = ret ?: full_compare(c);
	ret = ret ?: op_verify(c);
	if (!ok(!ret && !c->failed,
		"%s/%s: after dropping the cache the committed tree matches the model",
		g->name, mname)) {
		diag("%s", c->msg);
		diag("replay with SEED=%llu", (unsigned long long)seed);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	diag("%s/%s: %.2fs, %llu commits, %llu aborts, %llu bulk loads, %llu verifies, %llu reopens, peak %llu records, height %u, nodes now %llu",
	     g->name, mname, (double)(t1.tv_sec - t0.tv_sec) +
	     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	     (unsigned long long)c->nr_commits,
	     (unsigned long long)c->nr_aborts,
	     (unsigned long long)c->nr_bulk,
	     (unsigned long long)c->nr_verify,
	     (unsigned long long)c->nr_reopen,
	     (unsigned long long)c->max_records, c->max_height,
	     (unsigned long long)c->tree.nr_nodes);
out:
	model_free(&c->m);
	mem_host_destroy(c->h);
	free(c->seen);
	free(c);
}

static const struct gcase cases[] = {
	{
		.name = "le64", .geo = &kt_geo_le64,
		.block_size = 4096, .slot_bits = 17, .kind = K64,
		.max_density = 0.6, .nr_blocks = 1 << 18,
	},
	{
		.name = "refcount", .geo = &ext4_refcount_geo,
		.block_size = 4096, .slot_bits = 17, .kind = K32,
		.max_density = 0.6, .nr_blocks = 1 << 18,
	},
	{
		.name = "max5", .geo = &kt_geo_max5,
		.block_size = 4096, .slot_bits = 15, .kind = K64,
		.max_density = 0.5, .nr_blocks = 1 << 18,
	},
	{
		.name = "1k", .geo = &kt_geo_1k,
		.block_size = 1024, .slot_bits = 17, .kind = K64,
		.max_density = 0.6, .nr_blocks = 1 << 18,
	},
	{
		.name = "custom128", .geo = &kt_geo_custom128,
		.block_size = 4096, .slot_bits = 17, .kind = K128,
		.max_density = 0.6, .nr_blocks = 1 << 18,
	},
};

int main(int argc, char **argv)
{
	u64 seed = tap_seed();
	u64 nr_ops = tap_scale(OPS_PER_GEO);
	const char *only = argc > 1 ? argv[1] : NULL;
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (only && strcmp(only, cases[i].name))
			continue;
		/* the geometry's operations, half in each mode */
		run_case(&cases[i], i, EXT4_BTREE_COW, seed, nr_ops / 2 + 1);
		run_case(&cases[i], i, EXT4_BTREE_INPLACE, seed,
			 nr_ops / 2 + 1);
	}
	return done_testing();
}

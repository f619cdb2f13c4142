// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_refcount.c - refcount record decode and adjust against a model.
 *
 * Input: 12-byte record images checked by ext4_refcount_check_rec, then
 * a stream of adjusts (start, len, delta) on an in-memory tree, each in
 * its own transaction; a per-block count array is the model.
 * Rules: the tree verifies clean after every commit, its records are
 * exactly the runs of blocks the model counts twice or more,
 * ext4_refcount_get agrees at both ends of each range, a failed adjust (only
 * -EOVERFLOW is expected) is aborted without a leaked reference, and the
 * in-memory host saw no misuse (a double free, a write to a block not
 * allocated).
 */
#include "fuzz_common.h"
#include "btree/mem_host.h"
#include "refcount/refcount_rec.h"

#define BS		1024
#define GROUP_BLOCKS	2048u
#define HOST_BLOCKS	512
#define MAX_OPS		256

static u32 model[GROUP_BLOCKS];

/* As fuzz_image.c: ASan's 256 MiB quarantine made every node new memory */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=16";
}

/*
 * The harness's own code over the model and the records: no coverage
 * tracing (every comparison a call; a fifth of the run time).  The code
 * under test, whose paths guide the fuzzer, keeps it.
 */
#define NO_COVERAGE __attribute__((no_sanitize("coverage"), noinline))

NO_COVERAGE static int freed(void *priv, u32 start, u32 len)
{
	u32 i;

	(void)priv;
	for (i = start; i < start + len; i++) {
		FUZZ_REQUIRE(model[i] == 1, "freed a block not counted 1");
		model[i] = 0;
	}
	return 0;
}

/*
 * The model comparison is incremental, and as strong as a full one: the
 * records after each commit are kept, and a record or a gap between
 * records that was there after the last commit too, outside the range
 * the op changed, agreed with the model then (by induction) and the
 * model has not changed on it.  Only the rest is compared block by
 * block: the range and what the tree changed around it.  Comparing
 * every block of the group after every op was most of the run time of
 * a long input (256 ops of 2048 blocks).
 */
#define MAX_RECS	GROUP_BLOCKS

struct vstate {
	long problems;
	u32 nr;
	struct ext4_refcount_rec *recs;	/* this verify's records */
};

static struct ext4_refcount_rec recs_a[MAX_RECS], recs_b[MAX_RECS];

static int report(void *priv, const struct ext4_btree_problem *p)
{
	(void)p;
	((struct vstate *)priv)->problems++;
	return 0;
}

NO_COVERAGE static int record(void *priv, const void *key, const void *val,
		  const void *pkey, const void *pval)
{
	struct vstate *v = priv;
	struct ext4_refcount_rec r, p;

	ext4_refcount_rec_decode(key, val, &r);
	if (pkey)
		ext4_refcount_rec_decode(pkey, pval, &p);
	if (ext4_refcount_check_rec(&r, pkey ? &p : NULL, GROUP_BLOCKS)) {
		v->problems++;
		return 0;
	}
	/* check_rec: in order, apart, inside the group: at most 1024 */
	FUZZ_REQUIRE(v->nr < MAX_RECS, "more records than blocks");
	v->recs[v->nr++] = r;
	return 0;
}

/* No record: used at most once; in a record: exactly its count */
NO_COVERAGE static void compare_gap(u32 start, u32 end)
{
	u32 i;

	for (i = start; i < end; i++)
		FUZZ_REQUIRE(model[i] < 2, "a shared block has no record");
}

NO_COVERAGE static void compare_rec(const struct ext4_refcount_rec *r)
{
	u32 i;

	for (i = r->start; i < r->start + r->len; i++)
		FUZZ_REQUIRE(model[i] == r->count,
			     "record disagrees with model");
}

static bool outside(u32 s, u32 e, u32 start, u32 len)
{
	return e <= start || s >= start + len;
}

/* Gap j of recs[nr]: the blocks before recs[j] and after recs[j - 1] */
static u32 gap_start(const struct ext4_refcount_rec *recs, u32 j)
{
	return j ? recs[j - 1].start + recs[j - 1].len : 0;
}

static u32 gap_end(const struct ext4_refcount_rec *recs, u32 nr, u32 j)
{
	return j < nr ? recs[j].start : GROUP_BLOCKS;
}

/*
 * The records cur[ncur] and the gaps between them against the model.
 * last[nlast]: the records that agreed with the model before only
 * [start, start + len) of it changed; NULL: compare every block.
 */
NO_COVERAGE static void compare(const struct ext4_refcount_rec *cur,
				u32 ncur, const struct ext4_refcount_rec *last,
				u32 nlast, u32 start, u32 len)
{
	u32 i, j = 0, k = 0, gs, ge;
	bool same;

	for (i = 0; i <= ncur; i++) {
		gs = gap_start(cur, i);
		ge = gap_end(cur, ncur, i);
		same = false;
		if (last) {
			while (j < nlast && gap_end(last, nlast, j) < ge)
				j++;
			same = gap_end(last, nlast, j) == ge &&
			       gap_start(last, j) == gs;
		}
		if (!same || !outside(gs, ge, start, len))
			compare_gap(gs, ge);
		if (i == ncur)
			break;
		same = false;
		if (last) {
			while (k < nlast && last[k].start < cur[i].start)
				k++;
			same = k < nlast && !memcmp(&last[k], &cur[i],
						    sizeof(cur[i]));
		}
		if (!same || !outside(cur[i].start, cur[i].start + cur[i].len,
				      start, len))
			compare_rec(&cur[i]);
	}
}

/* Every block in use once */
NO_COVERAGE static void model_reset(void)
{
	u32 b;

	for (b = 0; b < GROUP_BLOCKS; b++)
		model[b] = 1;
}

/* -1 only on blocks in use (a free block has no count), +1 below the max */
NO_COVERAGE static bool op_applies(u32 start, u32 len, int delta)
{
	u32 b;

	for (b = start; b < start + len; b++)
		if (!model[b] || (delta > 0 && model[b] >= EXT4_REFCOUNT_MAX))
			return false;
	return true;
}

/* The adjust done on the model; freed() already zeroed blocks at 0 */
NO_COVERAGE static void model_apply(u32 start, u32 len, int delta)
{
	u32 b;

	for (b = start; b < start + len; b++) {
		if (delta > 0) {
			model[b]++;
			continue;
		}
		FUZZ_REQUIRE(model[b] != 1, "a block at 1 not freed");
		if (model[b] > 1)
			model[b]--;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ext4_btree_verify_ops vops = {
		.report = report, .record = record,
	};
	struct fz f = { data, size };
	struct ext4_refcount_rec r, prev;
	struct ext4_btree t;
	struct mem_host *h;
	struct mem_host_stats st;
	const struct ext4_refcount_rec *last;
	unsigned int nrec, op, i;
	u32 nlast;
	u32 start, len, count, b;
	int delta, ret;

	/* decode: arbitrary record images and neighbour pairs */
	nrec = fz_u8(&f) % 8;
	for (i = 0; i < nrec && f.left >= 24; i++) {
		struct ext4_refcount_key k1, k2;
		struct ext4_refcount_val v1, v2;

		memcpy(&k1, f.p, sizeof(k1));
		memcpy(&v1, f.p + 4, sizeof(v1));
		memcpy(&k2, f.p + 12, sizeof(k2));
		memcpy(&v2, f.p + 16, sizeof(v2));
		f.p += 24;
		f.left -= 24;
		ext4_refcount_rec_decode(&k1, &v1, &prev);
		ext4_refcount_rec_decode(&k2, &v2, &r);
		ext4_refcount_check_rec(&r, &prev, GROUP_BLOCKS);
		ext4_refcount_check_rec(&r, NULL, fz_u32(&f, 4));
		ext4_refcount_rec_encode(&r, &k1, &v1);
		ext4_refcount_rec_decode(&k1, &v1, &prev);
		FUZZ_REQUIRE(!memcmp(&r, &prev, sizeof(r)),
			     "encode/decode round trip");
	}

	h = mem_host_create(BS, HOST_BLOCKS);
	if (!h)
		return 0;
	if (ext4_btree_init(&t, &ext4_refcount_geo, &mem_host_ops, h, BS, 7,
			    0, EXT4_BTREE_COW))
		goto out;
	model_reset();
	last = NULL;
	nlast = 0;
	for (op = 0; op < MAX_OPS && f.left >= 4; op++) {
		struct vstate v = { 0, 0, last == recs_a ? recs_b : recs_a };
		u32 x = fz_u32(&f, 4);

		start = x % GROUP_BLOCKS;
		len = 1 + (x >> 11) % 200;
		if (start + len > GROUP_BLOCKS)
			len = GROUP_BLOCKS - start;
		delta = (x >> 31) ? -1 : 1;
		if (!op_applies(start, len, delta))
			continue;
		if (ext4_btree_begin(&t))
			goto out;
		ret = ext4_refcount_adjust(&t, GROUP_BLOCKS, start, len, delta,
					   freed, NULL);
		if (!ret)
			ret = ext4_btree_commit(&t);
		if (ret) {
			ext4_btree_abort(&t);
			FUZZ_REQUIRE(mem_host_nr_refs(h) == 0, "abort leaked");
			FUZZ_REQUIRE(0, "adjust of counted blocks failed");
		}
		model_apply(start, len, delta);
		FUZZ_REQUIRE(ext4_btree_verify(&t, &vops, &v) == 0 &&
			     v.problems == 0, "tree not clean after adjust");
		compare(v.recs, v.nr, last, nlast, start, len);
		last = v.recs;
		nlast = v.nr;
		/* the lookup path too, at both ends of the range */
		for (b = start; b < start + len; b += len > 1 ? len - 1 : 1) {
			ret = ext4_refcount_get(&t, b, &count);
			FUZZ_REQUIRE(!ret, "get failed");
			FUZZ_REQUIRE(count == (model[b] >= 2 ? model[b] : 1),
				     "get disagrees with the model");
		}
		FUZZ_REQUIRE(mem_host_nr_refs(h) == 0, "reference left");
		/* a block freed twice, written unallocated: printed, not failed */
		mem_host_get_stats(h, &st);
		FUZZ_REQUIRE(st.errors == 0, "the tree misused its host");
	}
	/* and once every block, as the first commit did */
	if (last)
		compare(last, nlast, NULL, 0, 0, 0);
out:
	mem_host_destroy(h);
	return 0;
}

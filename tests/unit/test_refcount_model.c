// SPDX-License-Identifier: GPL-2.0
/*
 * test_refcount_model.c - the refcount model test of the in-kernel test
 * module (tests/kernel/ktest_refcount.c: random adjusts against a
 * per-block counter array; after every batch the tree verifies, every
 * record is canonical and in range, and the records are exactly the runs
 * of blocks whose count is >= 2) on the geometries too large for the
 * module: a dense group, a sparse 1M-block group with long ranges, and
 * in-place mode.  test_ktest runs the module's own geometry.
 *
 * SEED=<n> replays a run; OPS_SCALE scales the 1,000,000 adjusts.
 */
#include "ktest_tap.h"
#include "../kernel/ktest_refcount.c"

static const struct kt_rc_case cases[] = {
	{ "dense 4096 blocks, ranges <= 64", 4096, 64, EXT4_BTREE_COW,
	  1 << 16 },
	{ "sparse 1M blocks, ranges <= 4096", 1 << 20, 4096, EXT4_BTREE_COW,
	  1 << 20 },
	{ "in-place, 16384 blocks, ranges <= 256", 16384, 256,
	  EXT4_BTREE_INPLACE, 1 << 16 },
};

/* the share of the adjusts each geometry gets, in quarters */
static const unsigned int quarters[] = { 2, 1, 1 };

int main(void)
{
	u64 ops = tap_scale(1000000);
	unsigned int i;

	kt_setup();
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		kt_refcount_run(&cases[i], (u32)(ops * quarters[i] / 4),
				kt_seed(400 + i));
	kt_refcount_overflow();
	return done_testing();
}

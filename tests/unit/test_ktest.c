// SPDX-License-Identifier: GPL-2.0
/*
 * test_ktest.c - the suites of the in-kernel test module (tests/kernel/)
 * run in userspace: the same source, on tests/kernel/ktest_user.h instead
 * of the kernel.  So the module's tests are written once, checked here
 * natively, under ASan+UBSan and on s390x, and in a running kernel by
 * scripts/run-kernel-tests.  OPS_SCALE scales the model test's 100,000
 * operations per geometry; SEED replays.
 */
#include "tap.h"
#include "../kernel/ktest.h"

static u64 seed;

bool kt_ok(bool cond, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = tap_vok_(cond, fmt, ap);
	va_end(ap);
	return r;
}

void kt_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vdiag_(fmt, ap);
	va_end(ap);
}

/* As ktest_main.c: one stream per suite */
u64 kt_seed(unsigned int salt)
{
	u64 s = seed * 0x9e3779b97f4a7c15ULL + salt;

	return s ? s : 1;
}

/* kernel style: callbacks ignore what they don't need (no -Wextra there) */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "../kernel/ktest_host.c"
#include "../kernel/ktest_btree.c"
#include "../kernel/ktest_verify.c"
#include "../kernel/ktest_refcount.c"
#include "../kernel/ktest_flexbg.c"

int main(void)
{
	seed = tap_seed();
	ops = (uint)tap_scale(KT_OPS);
	kt_flexbg();
	kt_verify_codes();
	kt_btree_cow();
	kt_refcount_model();
	kt_btree_model();
	return done_testing();
}

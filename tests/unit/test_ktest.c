// SPDX-License-Identifier: GPL-2.0
/*
 * test_ktest.c - the suites of the in-kernel test module (tests/kernel/)
 * run in userspace: the same source, on tests/kernel/ktest_user.h instead
 * of the kernel.  So the module's tests are written once, checked here
 * natively, under ASan+UBSan and on s390x, and in a running kernel by
 * scripts/run-kernel-tests.  OPS_SCALE scales the model test's 100,000
 * operations per geometry; SEED replays.
 */
#include "ktest_tap.h"
#include "../kernel/ktest_btree.c"
#include "../kernel/ktest_verify.c"
#include "../kernel/ktest_refcount.c"
#include "../kernel/ktest_flexbg.c"

int main(void)
{
	kt_setup();
	kt_flexbg();
	kt_verify_codes();
	kt_btree_cow();
	kt_refcount_model();
	kt_btree_model();
	return done_testing();
}

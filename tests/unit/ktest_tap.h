/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktest_tap.h - what ktest_main.c gives the suites of the in-kernel test
 * module (tests/kernel/), on tap.h: kt_ok, kt_diag, kt_seed, kt_scale,
 * and the kmalloc host.  Included once by each userspace program that
 * runs a suite (test_ktest.c, test_refcount_model.c); kt_setup() first.
 */
#ifndef KTEST_TAP_H
#define KTEST_TAP_H

#include "tap.h"
#include "../kernel/ktest.h"

static u64 kt_seed_base;
static uint kt_ops = KT_OPS;

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
	u64 s = kt_seed_base * 0x9e3779b97f4a7c15ULL + salt;

	return s ? s : 1;
}

/* As ktest_main.c, OPS_SCALE standing for the ops parameter */
u32 kt_scale(u32 n)
{
	u64 v = (u64)n * kt_ops / KT_OPS;

	return v ? v : 1;
}

/* SEED and OPS_SCALE from the environment (tap.h) */
static inline void kt_setup(void)
{
	kt_seed_base = tap_seed();
	kt_ops = (uint)tap_scale(KT_OPS);
}

/* kernel style: callbacks ignore what they don't need (no -Wextra there) */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "../kernel/ktest_host.c"

#endif /* KTEST_TAP_H */

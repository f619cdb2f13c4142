// SPDX-License-Identifier: GPL-2.0
/*
 * ktest_main.c - module entry: run every suite once at load time and
 * print TAP on the console.  The module stays loaded (init returns 0)
 * so a failure is reported by the TAP lines, not by insmod.
 */
#define pr_fmt(fmt) "reflink_ktest: " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>
#include "ktest.h"

static ulong seed = 1;
module_param(seed, ulong, 0444);
MODULE_PARM_DESC(seed, "seed of every randomized test (printed in TAP)");

static uint ops = KT_OPS;
module_param(ops, uint, 0444);
MODULE_PARM_DESC(ops, "random operations per geometry (half per mode)");

static unsigned int nr_tests;

bool kt_ok(bool cond, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	nr_tests++;
	pr_info("%sok %u - %pV\n", cond ? "" : "not ", nr_tests, &vaf);
	va_end(args);
	return cond;
}

void kt_diag(const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	pr_info("# %pV\n", &vaf);
	va_end(args);
}

/* One stream per suite, so a suite replays alone from the same seed */
u64 kt_seed(unsigned int salt)
{
	u64 s = (u64)seed * 0x9e3779b97f4a7c15ULL + salt;

	return s ? s : 1;
}

/* n scaled as ops is to its default: a short run is short everywhere */
u32 kt_scale(u32 n)
{
	u64 v = (u64)n * ops / KT_OPS;

	return v ? v : 1;
}

static int __init reflink_ktest_init(void)
{
	pr_info("# SEED=%lu\n", seed);
	kt_flexbg();
	kt_verify_codes();
	kt_btree_cow();
	kt_refcount_model();
	kt_btree_model();
	pr_info("1..%u\n", nr_tests);
	return 0;
}

static void __exit reflink_ktest_exit(void)
{
}

module_init(reflink_ktest_init);
module_exit(reflink_ktest_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ext4 reflink B-tree, refcount and flexbg tests");

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tap.h - a tiny header-only TAP producer for the C unit tests.
 *
 *	int main(void)
 *	{
 *		u64 seed = tap_seed();		// prints "# SEED=<n>"
 *		u64 n = tap_scale(100000);	// times $OPS_SCALE
 *
 *		tap_plan(3);			// optional: else planned at the end
 *		ok(x == 1, "x is one");
 *		tap_is_u64(got, want, "count after %d inserts", k);
 *		tap_skip(1, "no SSE4.2 on this CPU");
 *		x = tap_rand(&seed);		// splitmix64 step
 *		diag("anything else, as a '# ' line");
 *		return done_testing();		// 0 only if all passed and
 *	}					// the plan was met
 *
 * scripts/run-tests counts every "ok"/"not ok" line; a test binary that
 * exits non-zero without a "not ok", or whose count differs from its
 * plan, is a failure.  Output is line-buffered so a crash loses nothing.
 */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TAP_PRINTF(a, b) __attribute__((format(printf, a, b)))

static int tap_planned = -1;	/* -1: no plan printed yet */
static int tap_run;
static int tap_failed;

static inline void tap_init_(void)
{
	static int done;

	if (!done) {
		done = 1;
		setvbuf(stdout, NULL, _IOLBF, 0);
	}
}

/* Print the plan "1..n" up front.  Call at most once. */
static inline void tap_plan(int n)
{
	tap_init_();
	tap_planned = n;
	printf("1..%d\n", n);
}

static inline void tap_vdiag_(const char *fmt, va_list ap)
{
	char buf[4096], *line, *nl;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	for (line = buf; ; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		printf("# %s\n", line);
		if (!nl || !nl[1])
			break;
	}
}

/* A diagnostic line ("# ...") on stdout; ignored by the counters. */
TAP_PRINTF(1, 2)
static inline void diag(const char *fmt, ...)
{
	va_list ap;

	tap_init_();
	va_start(ap, fmt);
	tap_vdiag_(fmt, ap);
	va_end(ap);
}

static inline int tap_vok_(int cond, const char *fmt, va_list ap)
{
	tap_init_();
	tap_run++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run);
	vprintf(fmt, ap);
	printf("\n");
	return cond;
}

/* One test point; returns cond so callers can react to a failure. */
TAP_PRINTF(2, 3)
static inline int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vok_(cond, fmt, ap);
	va_end(ap);
	return cond;
}

/* ok(got == want) that prints both values when they differ. */
TAP_PRINTF(3, 4)
static inline int tap_is_u64(uint64_t got, uint64_t want, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vok_(got == want, fmt, ap);
	va_end(ap);
	if (got != want)
		diag("  got: %llu (0x%llx), expected: %llu (0x%llx)",
		     (unsigned long long)got, (unsigned long long)got,
		     (unsigned long long)want, (unsigned long long)want);
	return got == want;
}

/* Same for signed values such as negative errnos. */
TAP_PRINTF(3, 4)
static inline int tap_is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vok_(got == want, fmt, ap);
	va_end(ap);
	if (got != want)
		diag("  got: %lld, expected: %lld", got, want);
	return got == want;
}

/* Record n skipped test points with a reason. */
TAP_PRINTF(2, 3)
static inline void tap_skip(int n, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	tap_init_();
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	while (n-- > 0)
		printf("ok %d - skipped # SKIP %s\n", ++tap_run, why);
}

/* Give up: the runner counts this binary as failed. */
TAP_PRINTF(1, 2)
static inline void tap_bail_out(const char *fmt, ...)
{
	va_list ap;

	tap_init_();
	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(255);
}

/*
 * Finish: print the plan if none was given, check it otherwise, and
 * return the exit status for main (0 = everything passed).
 */
static inline int done_testing(void)
{
	tap_init_();
	if (tap_planned < 0) {
		printf("1..%d\n", tap_run);
	} else if (tap_planned != tap_run) {
		diag("planned %d tests but ran %d", tap_planned, tap_run);
		return 1;
	}
	if (tap_failed)
		diag("failed %d of %d tests", tap_failed, tap_run);
	return tap_failed ? 1 : 0;
}

/*
 * Seed for randomized tests: $SEED if set (decimal or 0x hex), else one
 * from the clock and pid.  Printed as "# SEED=<n>" so a failure can be
 * replayed with SEED=<n> build/tests/test_foo.
 */
static inline uint64_t tap_seed(void)
{
	const char *s = getenv("SEED");
	uint64_t seed;

	tap_init_();
	if (s && *s) {
		seed = strtoull(s, NULL, 0);
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000007ull ^
		       (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
		seed &= 0xffffffffffffull;	/* short enough to type */
	}
	printf("# SEED=%llu\n", (unsigned long long)seed);
	return seed;
}

/*
 * Scale an operation count by $OPS_SCALE (e.g. 0.2 under ASan).  Never
 * returns 0 for n > 0.
 */
static inline uint64_t tap_scale(uint64_t n)
{
	const char *s = getenv("OPS_SCALE");
	double f, r;

	if (!s || !*s)
		return n;
	f = strtod(s, NULL);
	if (!(f > 0))
		return n ? 1 : 0;
	r = (double)n * f;
	if (r < 1)
		return n ? 1 : 0;
	if (r >= 18446744073709551615.0)
		return UINT64_MAX;
	return (uint64_t)r;
}

/* splitmix64: a small deterministic PRNG to drive from tap_seed() */
static inline uint64_t tap_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif /* TAP_H */

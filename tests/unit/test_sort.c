// SPDX-License-Identifier: GPL-2.0
/*
 * test_sort.c - lib/check/sort.c: the radix sorts give keys in order,
 * equal keys in their first order, and every element exactly once, for
 * the shapes the checker sees (clone runs, sorted, equal keys) and for
 * random keys of every width.
 */
#include "check/sort.h"
#include "tap.h"

struct elem {
	__u64 key;
	__u64 seq;			/* the position before the sort */
	__u32 pad[(24 - 16) / 4];
};

enum shape { RANDOM64, SMALL, CLONES, SORTED, REVERSE, EQUAL, NR_SHAPES };

static const char *const shape_name[] = {
	"random 64-bit keys", "keys below 1000", "clone-like runs",
	"sorted", "reversed", "all equal",
};

static __u64 make_key(enum shape sh, size_t i, size_t nr, uint64_t *rng)
{
	switch (sh) {
	case RANDOM64:
		return tap_rand(rng) >> (tap_rand(rng) & 63);
	case SMALL:
		return tap_rand(rng) % 1000;
	case CLONES:
		/* file i/4 at 16 * (i/4); every 7th a far new block */
		return tap_rand(rng) % 7 ? 16 * (i / 4) + (i & 1) :
		       (1ull << 22) + i;
	case SORTED:
		return i * 3;
	case REVERSE:
		return nr - i;
	default:
		return 42;
	}
}

static int check_elems(const struct elem *e, size_t nr, unsigned char *seen)
{
	size_t i;

	memset(seen, 0, nr);
	for (i = 0; i < nr; i++) {
		if (e[i].seq >= nr || seen[e[i].seq])
			return 0;
		seen[e[i].seq] = 1;
		if (i && (e[i].key < e[i - 1].key ||
			  (e[i].key == e[i - 1].key &&
			   e[i].seq < e[i - 1].seq)))
			return 0;
	}
	return 1;
}

int main(void)
{
	uint64_t seed = tap_seed(), rng = seed;
	size_t sizes[] = { 0, 1, 2, 3, 100, 128, 129, 5000, 200000 };
	size_t max = sizes[sizeof(sizes) / sizeof(*sizes) - 1];
	struct elem *e = malloc(max * sizeof(*e)), *orig;
	unsigned char *seen = malloc(max);
	__u32 *u = malloc(max * sizeof(*u));
	unsigned int sh, si;
	size_t i, nr;
	__u64 sum;
	int good;

	orig = malloc(max * sizeof(*orig));
	if (!e || !seen || !u || !orig)
		tap_bail_out("out of memory");
	for (sh = 0; sh < NR_SHAPES; sh++) {
		for (si = 0; si < sizeof(sizes) / sizeof(*sizes); si++) {
			nr = sizes[si];
			for (i = 0; i < nr; i++) {
				e[i].key = make_key(sh, i, nr, &rng);
				e[i].seq = i;
				e[i].pad[0] = e[i].pad[1] = (__u32)i;
			}
			memcpy(orig, e, nr * sizeof(*e));
			good = !rfl_sort_by_u64(e, nr, sizeof(*e)) &&
			       check_elems(e, nr, seen);
			for (i = 0; good && i < nr; i++)
				good = e[i].key == orig[e[i].seq].key &&
				       e[i].pad[0] == e[i].seq &&
				       e[i].pad[1] == e[i].seq;
			ok(good, "24-byte elements, %s, %zu of them",
			   shape_name[sh], nr);

			for (i = 0, sum = 0; i < nr; i++) {
				u[i] = (__u32)make_key(sh, i, nr, &rng);
				sum += u[i] * (u[i] | 1);
			}
			good = !rfl_sort_u32(u, nr);
			for (i = 0; good && i < nr; i++) {
				good = !i || u[i - 1] <= u[i];
				sum -= u[i] * (u[i] | 1);
			}
			good = good && !sum;
			ok(good, "__u32 keys, %s, %zu of them",
			   shape_name[sh], nr);
		}
	}
	free(e);
	free(orig);
	free(seen);
	free(u);
	return done_testing();
}

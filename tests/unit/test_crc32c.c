// SPDX-License-Identifier: GPL-2.0
/*
 * test_crc32c.c - lib/kcompat/crc32c.c against libext2fs's crc32c.
 */
#include "kcompat/kcompat.h"
#include "kcompat/crc32c.h"
#include "tap.h"

/*
 * From <ext2fs/ext2fs.h>, declared here because that header's __le64
 * (unsigned long long) clashes with kcompat.h's (uint64_t).
 */
extern u32 ext2fs_crc32c_le(u32 crc, unsigned char const *p, size_t len);

#define MAXLEN	9000

static unsigned char buf[MAXLEN + 64];

typedef u32 (*crc_fn)(u32, const void *, unsigned int);

/* Random buffers of random lengths at random alignments and seeds */
static int compare_random(crc_fn fn, uint64_t *rng, unsigned int rounds,
			  const char *name)
{
	unsigned int i, bad = 0;

	for (i = 0; i < rounds; i++) {
		uint64_t r = tap_rand(rng);
		unsigned int off = r & 63;
		unsigned int len;
		u32 init = (u32)(r >> 32), want, got;

		/* mostly short, sometimes block sized */
		len = (r >> 8) & 1 ? (r >> 12) % 80 : (r >> 12) % (MAXLEN + 1);
		want = ext2fs_crc32c_le(init, buf + off, len);
		got = fn(init, buf + off, len);
		if (got != want && bad++ < 5)
			diag("%s: off %u len %u init %08x: got %08x want %08x",
			     name, off, len, init, got, want);
	}
	return ok(bad == 0, "%s matches ext2fs_crc32c_le on %u random buffers",
		  name, rounds);
}

/* Chaining: crc of a||b equals crc of b seeded with crc of a */
static int check_chaining(crc_fn fn, uint64_t *rng, const char *name)
{
	unsigned int i, bad = 0;

	for (i = 0; i < 200; i++) {
		unsigned int len = tap_rand(rng) % 4097;
		unsigned int cut = len ? tap_rand(rng) % len : 0;
		u32 whole = fn(~0u, buf, len);
		u32 part = fn(fn(~0u, buf, cut), buf + cut, len - cut);

		bad += whole != part;
	}
	return ok(bad == 0, "%s: split computation equals whole", name);
}

int main(void)
{
	static const char check[] = "123456789";
	uint64_t seed = tap_seed(), rng;
	unsigned int rounds = (unsigned int)tap_scale(20000);
	unsigned int i;
	int hw = crc32c_hw_available();

	for (rng = seed, i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)tap_rand(&rng);
	rng = seed;

	tap_is_u64(~crc32c(~0u, check, 9), 0xE3069283,
		   "crc32c(\"123456789\") check value");
	tap_is_u64(~crc32c_sw(~0u, check, 9), 0xE3069283,
		   "crc32c_sw check value");
	if (hw)
		tap_is_u64(~crc32c_hw(~0u, check, 9), 0xE3069283,
			   "crc32c_hw check value");
	else
		tap_skip(1, "no SSE4.2 on this CPU");
	tap_is_u64(crc32c(0x12345678, buf, 0), 0x12345678,
		   "zero length returns the seed unchanged");
	tap_is_u64(crc32c(0, NULL, 0), 0, "NULL buffer with zero length");

	compare_random(crc32c, &rng, rounds, "crc32c");
	compare_random(crc32c_sw, &rng, rounds, "crc32c_sw");
	if (hw)
		compare_random(crc32c_hw, &rng, rounds, "crc32c_hw");
	else
		tap_skip(1, "no SSE4.2 on this CPU");

	check_chaining(crc32c_sw, &rng, "crc32c_sw");
	if (hw)
		check_chaining(crc32c_hw, &rng, "crc32c_hw");
	else
		tap_skip(1, "no SSE4.2 on this CPU");

	/* every length 0..64 at every alignment 0..7, both paths */
	{
		unsigned int len, off, bad = 0;

		for (len = 0; len <= 64; len++)
			for (off = 0; off < 8; off++) {
				u32 want = ext2fs_crc32c_le(~0u, buf + off, len);

				bad += crc32c_sw(~0u, buf + off, len) != want;
				if (hw)
					bad += crc32c_hw(~0u, buf + off, len) != want;
			}
		ok(bad == 0, "all lengths 0..64 at all alignments 0..7");
	}
	return done_testing();
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuzz_common.h - what the libFuzzer harnesses share: a byte reader over
 * the input and the finding macro.  A finding is an abort() with one line
 * saying which rule broke; the sanitizers report the rest.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fz {
	const uint8_t *p;
	size_t left;
};

static inline uint32_t fz_u32(struct fz *f, unsigned int bytes)
{
	uint32_t v = 0;
	unsigned int i;

	for (i = 0; i < bytes; i++) {
		v <<= 8;
		if (f->left) {
			v |= *f->p++;
			f->left--;
		}
	}
	return v;
}

static inline uint8_t fz_u8(struct fz *f)
{
	return (uint8_t)fz_u32(f, 1);
}

#define FUZZ_REQUIRE(cond, what)					\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "FINDING: %s (%s:%d)\n", what,	\
				__FILE__, __LINE__);			\
			abort();					\
		}							\
	} while (0)

#endif

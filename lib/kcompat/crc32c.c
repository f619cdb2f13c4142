// SPDX-License-Identifier: GPL-2.0
/*
 * crc32c.c - userspace crc32c() for kcompat.h.
 *
 * Same semantics as the kernel's crc32c() and ext2fs_crc32c_le(): the
 * Castagnoli polynomial, bit-reflected, with no pre- or post-inversion
 * (callers pass ~0 or a seed and keep the raw remainder).
 *
 * On x86_64 with SSE4.2 the crc32 instruction does the work; otherwise a
 * slice-by-8 table.  The choice is made once, before main().
 */
#include "kcompat.h"
#include "crc32c.h"

#define CRC32C_POLY_REV	0x82f63b78u

static u32 crc32c_table[8][256];
static bool crc32c_tables_ready;

static void crc32c_init_tables(void)
{
	u32 i, j, c;

	if (crc32c_tables_ready)
		return;
	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c >> 1) ^ (CRC32C_POLY_REV & -(c & 1));
		crc32c_table[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		c = crc32c_table[0][i];
		for (j = 1; j < 8; j++) {
			c = (c >> 8) ^ crc32c_table[0][c & 0xff];
			crc32c_table[j][i] = c;
		}
	}
	crc32c_tables_ready = true;
}

static inline u64 load_le64(const unsigned char *p)
{
	u64 v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

u32 crc32c_sw(u32 crc, const void *buf, unsigned int len)
{
	const unsigned char *p = buf;
	const u32 (*t)[256];

	if (unlikely(!crc32c_tables_ready))
		crc32c_init_tables();
	t = (const u32 (*)[256])crc32c_table;
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		u64 v = load_le64(p) ^ crc;
		u32 lo = (u32)v, hi = (u32)(v >> 32);

		crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^
		      t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
		      t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
		      t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

__attribute__((target("sse4.2")))
u32 crc32c_hw(u32 crc, const void *buf, unsigned int len)
{
	const unsigned char *p = buf;
	unsigned long long c = crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((unsigned int)c, *p++);
		len--;
	}
	/* Four words per round keeps the loop overhead off the crc chain */
	while (len >= 32) {
		u64 w[4];

		memcpy(w, p, sizeof(w));
		c = __builtin_ia32_crc32di(c, w[0]);
		c = __builtin_ia32_crc32di(c, w[1]);
		c = __builtin_ia32_crc32di(c, w[2]);
		c = __builtin_ia32_crc32di(c, w[3]);
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		u64 w;

		memcpy(&w, p, sizeof(w));
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((unsigned int)c, *p++);
	return (u32)c;
}

int crc32c_hw_available(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
}

#else

u32 crc32c_hw(u32 crc, const void *buf, unsigned int len)
{
	return crc32c_sw(crc, buf, len);
}

int crc32c_hw_available(void)
{
	return 0;
}

#endif

static u32 crc32c_resolve(u32 crc, const void *buf, unsigned int len);

static u32 (*crc32c_impl)(u32, const void *, unsigned int) = crc32c_resolve;

__attribute__((constructor))
static void crc32c_setup(void)
{
	crc32c_init_tables();
	crc32c_impl = crc32c_hw_available() ? crc32c_hw : crc32c_sw;
}

/* Only reached if crc32c() runs before the constructor (another one) */
static u32 crc32c_resolve(u32 crc, const void *buf, unsigned int len)
{
	crc32c_setup();
	return crc32c_impl(crc, buf, len);
}

u32 crc32c(u32 crc, const void *buf, unsigned int len)
{
	return crc32c_impl(crc, buf, len);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * ref_crc32c.c - the reference crc32c test_crc32c compares against, for
 * the s390x build, which has no libext2fs: the plain bit-at-a-time
 * Castagnoli CRC (reflected polynomial 0x82f63b78, no pre/post
 * inversion, as ext2fs_crc32c_le()).  Too slow and too simple to share a
 * bug with the table-driven lib/kcompat/crc32c.c.
 */
#include <stddef.h>
#include <stdint.h>

uint32_t ext2fs_crc32c_le(uint32_t crc, unsigned char const *p, size_t len);

uint32_t ext2fs_crc32c_le(uint32_t crc, unsigned char const *p, size_t len)
{
	int i;

	while (len--) {
		crc ^= *p++;
		for (i = 0; i < 8; i++)
			crc = (crc >> 1) ^ (0x82f63b78u & -(crc & 1));
	}
	return crc;
}

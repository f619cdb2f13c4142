// SPDX-License-Identifier: GPL-2.0
/*
 * ext2fs_crc32c.c - libext2fs's crc32c, taken over in every program.
 *
 * libext2fs checksums every inode, directory block and descriptor it
 * reads or writes with ext2fs_crc32c_le, a table-driven crc32c: a third
 * of a check's instructions, and two thirds of mkreflink -d's time (it
 * writes a file's inode once a block).  libext2fs calls it through its
 * PLT, so this definition in the program takes those calls (ELF
 * interposition) and gives them the crc32 instruction where the CPU has
 * it: the same function (the Castagnoli polynomial, no inversion;
 * test_crc32c holds lib/kcompat's crc32c to libext2fs's own), every
 * checksum still computed and verified.  Linked into the programs, not
 * libreflink.a: a test linking the archive would get it instead of the
 * libext2fs function it compares with.
 */
#include <stddef.h>

#include <ext2fs/ext2fs.h>

/* lib/kcompat/crc32c.c; kcompat.h's types clash with ext2fs.h's */
extern __u32 crc32c(__u32 crc, const void *buf, unsigned int len);

__u32 ext2fs_crc32c_le(__u32 crc, unsigned char const *p, size_t len)
{
	const size_t chunk = 1u << 30;

	for (; len > chunk; len -= chunk, p += chunk)
		crc = crc32c(crc, p, chunk);
	return crc32c(crc, p, len);
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * crc32c.h - userspace-only extras of lib/kcompat/crc32c.c.
 *
 * crc32c() itself is declared in kcompat.h.  These expose the two
 * implementations so tests can check each one; nothing else needs them.
 */
#ifndef KCOMPAT_CRC32C_H
#define KCOMPAT_CRC32C_H

#include "kcompat.h"

/* Portable slice-by-8 table implementation */
u32 crc32c_sw(u32 crc, const void *buf, unsigned int len);

/* Non-zero if crc32c_hw() may be called on this CPU */
int crc32c_hw_available(void);

/* SSE4.2 implementation; only when crc32c_hw_available() */
u32 crc32c_hw(u32 crc, const void *buf, unsigned int len);

#endif /* KCOMPAT_CRC32C_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kcompat.h - the only header the kernel-shareable files include.
 *
 * In the kernel (__KERNEL__) it pulls the real kernel headers.  In
 * userspace it maps the same names onto libc.  `make check-shared` builds
 * the shareable files with __KERNEL__ against the stub headers in
 * scripts/kstub/, freestanding, so any other include is a build error.
 */
#ifndef KCOMPAT_H
#define KCOMPAT_H

#ifdef __KERNEL__

#include <linux/types.h>
#include <linux/errno.h>
#include <linux/string.h>
#include <linux/build_bug.h>
#include <linux/compiler.h>
#include <linux/crc32c.h>
#include <linux/math64.h>
#include <asm/byteorder.h>

#else /* userspace */

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <string.h>
#include <errno.h>
#include <assert.h>
#include <endian.h>

#include <linux/types.h>	/* __u64 and __le64 as libext2fs sees them */

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s8 s8;
typedef __s16 s16;
typedef __s32 s32;
typedef __s64 s64;

#ifndef __force
#ifdef __CHECKER__
#define __force __attribute__((force))
#else
#define __force
#endif
#endif

#define cpu_to_le16(x) ((__force __le16)htole16(x))
#define cpu_to_le32(x) ((__force __le32)htole32(x))
#define cpu_to_le64(x) ((__force __le64)htole64(x))
#define le16_to_cpu(x) le16toh((__force u16)(x))
#define le32_to_cpu(x) le32toh((__force u32)(x))
#define le64_to_cpu(x) le64toh((__force u64)(x))

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#ifndef static_assert
#define static_assert _Static_assert
#endif

/* The kernel's 64-bit division helper (linux/math64.h) */
static inline u64 div64_u64(u64 dividend, u64 divisor)
{
	return dividend / divisor;
}

/* crc32c without pre/post inversion, as ext4_chksum() and ext2fs use it */
u32 crc32c(u32 crc, const void *buf, unsigned int len);

#endif /* __KERNEL__ */

/* ext4's names for its corruption errors */
#ifndef EFSCORRUPTED
#define EFSCORRUPTED EUCLEAN
#endif
#ifndef EFSBADCRC
#define EFSBADCRC EBADMSG
#endif

#endif /* KCOMPAT_H */

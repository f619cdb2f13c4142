/* SPDX-License-Identifier: GPL-2.0 */
/*
 * check-shared stub of <asm/byteorder.h> for a little-endian machine.
 * The casts are the kernel's own: a plain integer passed to leXX_to_cpu,
 * or an __leXX used as an integer without it, is a sparse warning.
 */
#ifndef _KSTUB_ASM_BYTEORDER_H
#define _KSTUB_ASM_BYTEORDER_H

#include <linux/types.h>

#define cpu_to_le16(x)	((__force __le16)(__u16)(x))
#define cpu_to_le32(x)	((__force __le32)(__u32)(x))
#define cpu_to_le64(x)	((__force __le64)(__u64)(x))
#define le16_to_cpu(x)	((__force __u16)(__le16)(x))
#define le32_to_cpu(x)	((__force __u32)(__le32)(x))
#define le64_to_cpu(x)	((__force __u64)(__le64)(x))

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/* check-shared stub of <linux/crc32c.h> */
#ifndef _KSTUB_LINUX_CRC32C_H
#define _KSTUB_LINUX_CRC32C_H

#include <linux/types.h>

u32 crc32c(u32 crc, const void *address, unsigned int length);

#endif

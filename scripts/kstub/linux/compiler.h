/* SPDX-License-Identifier: GPL-2.0 */
/* check-shared stub of <linux/compiler.h> */
#ifndef _KSTUB_LINUX_COMPILER_H
#define _KSTUB_LINUX_COMPILER_H

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#endif

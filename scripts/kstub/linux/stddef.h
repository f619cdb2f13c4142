/* SPDX-License-Identifier: GPL-2.0 */
/* check-shared stub of <linux/stddef.h> (reached through linux/types.h) */
#ifndef _KSTUB_LINUX_STDDEF_H
#define _KSTUB_LINUX_STDDEF_H

#undef NULL
#define NULL ((void *)0)

enum {
	false	= 0,
	true	= 1
};

#undef offsetof
#define offsetof(TYPE, MEMBER)	__builtin_offsetof(TYPE, MEMBER)

#endif

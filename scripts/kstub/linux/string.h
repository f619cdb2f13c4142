/* SPDX-License-Identifier: GPL-2.0 */
/* check-shared stub of <linux/string.h> */
#ifndef _KSTUB_LINUX_STRING_H
#define _KSTUB_LINUX_STRING_H

#include <linux/types.h>

void *memcpy(void *dest, const void *src, size_t n);
void *memmove(void *dest, const void *src, size_t n);
void *memset(void *s, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif

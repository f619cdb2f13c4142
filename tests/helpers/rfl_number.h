/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfl_number.h - the number parser the test helpers share (rflctl,
 * rfl_replay): decimal, 0x hex or 0 octal, the whole argument, no sign,
 * no overflow.  Each program reports a bad one its own way.
 */
#ifndef RFL_NUMBER_H
#define RFL_NUMBER_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

static inline bool rfl_number(const char *s, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	/* strtoull takes "-1" as a huge number */
	return !errno && end != s && !*end && *s != '-';
}

#endif

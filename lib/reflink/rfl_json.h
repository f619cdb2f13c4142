/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfl_json.h - the one piece of JSON writing the tools share: a string,
 * quoted and escaped (RFC 8259), for reflinkck --format json and
 * refdebug's.
 */
#ifndef RFL_JSON_H
#define RFL_JSON_H

#include <stdio.h>

/* "s" with quotes, backslashes and control characters escaped */
void rfl_json_str(FILE *f, const char *s);

#endif /* RFL_JSON_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_json.c - a JSON string.  Bytes of 0x80 and above pass through:
 * names in an image are bytes, and UTF-8 ones stay UTF-8.
 */
#include "reflink/rfl_json.h"

void rfl_json_str(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rd_fields.h - one table per on-disk structure, named as in
 * docs/FORMAT.md; the same tables drive printing, set_* and fuzz.
 */
#ifndef RD_FIELDS_H
#define RD_FIELDS_H

#include <stdbool.h>

struct rd_struct;

struct rd_field {
	const char *name;
	unsigned int offset;		/* from the structure (or its part) */
	unsigned int size;		/* 2, 4 or 8 bytes, little endian */
	unsigned int count;		/* array elements (1: plain field) */
	unsigned int stride;		/* array element size */
	bool hex;			/* print in hex */
	bool in_value;			/* records: offset is in the value */
	const struct rd_struct *sub;	/* array of structures */
};

struct rd_struct {
	const char *name;
	const struct rd_field *fields;
	unsigned int nr;
};

/* A field resolved to a place in a block */
struct rd_fref {
	char name[64];
	unsigned int offset;		/* from the start of the block */
	unsigned int size;
	bool hex;
};

extern const struct rd_struct rd_flexbg_struct;	/* struct ext4_rfx_block */
extern const struct rd_struct rd_node_struct;	/* node header */
extern const struct rd_struct rd_leaf_struct;	/* refcount record */
extern const struct rd_struct rd_index_struct;	/* interior entry */

/*
 * Resolve name in s placed at base (value part at val_base for records);
 * false if there is no such field.
 */
bool rd_field_find(const struct rd_struct *s, unsigned int base,
		   unsigned int val_base, const char *name,
		   struct rd_fref *ref);

/* Call fn for every field of s, arrays expanded, in table order */
void rd_field_each(const struct rd_struct *s, unsigned int base,
		   unsigned int val_base,
		   void (*fn)(void *priv, const struct rd_fref *ref),
		   void *priv);

/* Comma-separated field names of s, for error messages */
void rd_field_names(const struct rd_struct *s, char *out, unsigned int len);

unsigned long long rd_field_get(const void *block, const struct rd_fref *ref);
void rd_field_set(void *block, const struct rd_fref *ref,
		  unsigned long long v);
unsigned long long rd_field_max(const struct rd_fref *ref);

/* "name: value" on stdout */
void rd_field_print(const void *block, const struct rd_fref *ref);
/* Print every field of s in block */
void rd_struct_print(const void *block, const struct rd_struct *s,
		     unsigned int base, unsigned int val_base);

#endif /* RD_FIELDS_H */

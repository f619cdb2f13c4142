// SPDX-License-Identifier: GPL-2.0
/*
 * rd_fields.c - the field tables of every on-disk structure of the
 * reflink feature (docs/FORMAT.md sections 4, 5 and 6), and the generic
 * code that prints, reads and writes a field through them.  A new field
 * in the format needs one line here and nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refdebug.h"
#include "rd_fields.h"

#define F(n, o, s, h)	{ .name = n, .offset = o, .size = s, .count = 1, \
			  .hex = h }
#define FV(n, o, s)	{ .name = n, .offset = o, .size = s, .count = 1, \
			  .in_value = true }
#define NR(a)		(sizeof(a) / sizeof((a)[0]))

static const struct rd_field root_fields[] = {
	F("rr_type", 0x00, 2, false),
	F("rr_height", 0x02, 2, false),
	F("rr_flags", 0x04, 4, true),
	F("rr_root", 0x08, 8, false),
	F("rr_records", 0x10, 8, false),
	F("rr_nodes", 0x18, 8, false),
};

static const struct rd_struct root_struct = {
	"ext4_rfx_root", root_fields, NR(root_fields)
};

static const struct rd_field flexbg_fields[] = {
	F("fm_magic", 0x00, 4, true),
	F("fm_checksum", 0x04, 4, true),
	F("fm_version", 0x08, 2, false),
	F("fm_nr_slots", 0x0a, 2, false),
	F("fm_flex_group", 0x0c, 4, false),
	F("fm_blocknr", 0x10, 8, false),
	F("fm_generation", 0x18, 8, false),
	F("fm_flags", 0x20, 4, true),
	F("fm_reserved0", 0x24, 4, true),
	F("fm_resv_start", 0x28, 4, false),
	F("fm_resv_len", 0x2c, 4, false),
	{ .name = "fm_reserved", .offset = 0x30, .size = 8, .count = 2,
	  .stride = 8, .hex = true },
	{ .name = "fm_roots", .offset = 0x40, .size = 0,
	  .count = EXT4_RFX_NR_SLOTS, .stride = 32, .sub = &root_struct },
};

const struct rd_struct rd_flexbg_struct = {
	"ext4_rfx_block", flexbg_fields, NR(flexbg_fields)
};

static const struct rd_field node_fields[] = {
	F("bn_magic", 0x00, 4, true),
	F("bn_checksum", 0x04, 4, true),
	F("bn_blocknr", 0x08, 8, false),
	F("bn_generation", 0x10, 8, false),
	F("bn_owner", 0x18, 4, false),
	F("bn_tree_type", 0x1c, 2, false),
	F("bn_level", 0x1e, 2, false),
	F("bn_nr_entries", 0x20, 2, false),
	F("bn_max_entries", 0x22, 2, false),
	F("bn_key_size", 0x24, 2, false),
	F("bn_val_size", 0x26, 2, false),
	F("bn_reserved", 0x28, 8, true),
};

const struct rd_struct rd_node_struct = {
	"ext4_btree_node_head", node_fields, NR(node_fields)
};

static const struct rd_field leaf_fields[] = {
	F("rk_start", 0x0, 4, false),
	FV("rv_len", 0x0, 4),
	FV("rv_count", 0x4, 4),
};

const struct rd_struct rd_leaf_struct = {
	"refcount record", leaf_fields, NR(leaf_fields)
};

/* FORMAT.md 5.2: an interior value is the child's absolute block */
static const struct rd_field index_fields[] = {
	F("rk_start", 0x0, 4, false),
	FV("child", 0x0, 8),
};

const struct rd_struct rd_index_struct = {
	"interior entry", index_fields, NR(index_fields)
};

static void make_ref(const struct rd_field *f, const char *prefix,
		     unsigned int idx, unsigned int base,
		     unsigned int val_base, struct rd_fref *ref)
{
	if (f->count > 1)
		snprintf(ref->name, sizeof(ref->name), "%s%s[%u]", prefix,
			 f->name, idx);
	else
		snprintf(ref->name, sizeof(ref->name), "%s%s", prefix,
			 f->name);
	ref->offset = (f->in_value ? val_base : base) + f->offset +
		      idx * f->stride;
	ref->size = f->size;
	ref->hex = f->hex;
}

void rd_field_each(const struct rd_struct *s, unsigned int base,
		   unsigned int val_base,
		   void (*fn)(void *priv, const struct rd_fref *ref),
		   void *priv)
{
	const struct rd_field *f;
	struct rd_fref ref;
	char prefix[32];
	unsigned int i, j, k;

	for (i = 0; i < s->nr; i++) {
		f = &s->fields[i];
		for (j = 0; j < f->count; j++) {
			if (!f->sub) {
				make_ref(f, "", j, base, val_base, &ref);
				fn(priv, &ref);
				continue;
			}
			snprintf(prefix, sizeof(prefix), "%s[%u].", f->name,
				 j);
			for (k = 0; k < f->sub->nr; k++) {
				make_ref(&f->sub->fields[k], prefix, 0,
					 base + f->offset + j * f->stride,
					 0, &ref);
				fn(priv, &ref);
			}
		}
	}
}

struct find_ctx {
	const char *name;
	struct rd_fref *ref;
	bool found;
};

static void find_one(void *priv, const struct rd_fref *ref)
{
	struct find_ctx *fc = priv;

	if (!fc->found && !strcmp(ref->name, fc->name)) {
		*fc->ref = *ref;
		fc->found = true;
	}
}

bool rd_field_find(const struct rd_struct *s, unsigned int base,
		   unsigned int val_base, const char *name,
		   struct rd_fref *ref)
{
	struct find_ctx fc = { .name = name, .ref = ref };

	rd_field_each(s, base, val_base, find_one, &fc);
	return fc.found;
}

void rd_field_names(const struct rd_struct *s, char *out, unsigned int len)
{
	unsigned int i, n = 0;

	out[0] = '\0';
	for (i = 0; i < s->nr && n < len; i++) {
		const struct rd_field *f = &s->fields[i];

		n += snprintf(out + n, len - n, "%s%s%s", i ? " " : "",
			      f->name, f->sub ? "[N].rr_*" :
			      f->count > 1 ? "[N]" : "");
	}
}

unsigned long long rd_field_get(const void *block, const struct rd_fref *ref)
{
	const unsigned char *p = (const unsigned char *)block + ref->offset;
	unsigned long long v = 0;
	int i;

	for (i = ref->size - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void rd_field_set(void *block, const struct rd_fref *ref,
		  unsigned long long v)
{
	unsigned char *p = (unsigned char *)block + ref->offset;
	unsigned int i;

	for (i = 0; i < ref->size; i++, v >>= 8)
		p[i] = v & 0xff;
}

unsigned long long rd_field_max(const struct rd_fref *ref)
{
	return ref->size >= 8 ? ~0ULL : (1ULL << (ref->size * 8)) - 1;
}

void rd_field_print(const void *block, const struct rd_fref *ref)
{
	unsigned long long v = rd_field_get(block, ref);

	if (ref->hex)
		printf("%s: 0x%0*llx\n", ref->name, ref->size * 2, v);
	else
		printf("%s: %llu\n", ref->name, v);
}

static void print_one(void *priv, const struct rd_fref *ref)
{
	rd_field_print(priv, ref);
}

void rd_struct_print(const void *block, const struct rd_struct *s,
		     unsigned int base, unsigned int val_base)
{
	rd_field_each(s, base, val_base, print_one, (void *)block);
}

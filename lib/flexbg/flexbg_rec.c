// SPDX-License-Identifier: GPL-2.0
/*
 * flexbg_rec.c - the per-flex-group metadata block (docs/FORMAT.md, 4).
 */
#include "flexbg_rec.h"

static inline struct ext4_rfx_block *rfx(void *block)
{
	return block;
}

static inline const struct ext4_rfx_block *crfx(const void *block)
{
	return block;
}

u32 ext4_rfx_csum(const void *block, u32 block_size, u32 seed)
{
	const u8 *p = block;
	u32 zero = 0;
	u32 crc;

	crc = crc32c(seed, p, 4);
	crc = crc32c(crc, &zero, 4);
	return crc32c(crc, p + 8, block_size - 8);
}

static int problem(struct ext4_rfx_problem *p,
		   enum ext4_rfx_problem_code code, int slot, u64 expected,
		   u64 found)
{
	if (p) {
		p->code = code;
		p->slot = slot;
		p->field = NULL;
		p->expected = expected;
		p->found = found;
	}
	return code == EXT4_RFX_BAD_CSUM ? -EFSBADCRC : -EFSCORRUPTED;
}

/* A bad root slot, naming the field (or the rule) that is wrong */
static int slot_problem(struct ext4_rfx_problem *p, int slot,
			const char *field, u64 expected, u64 found)
{
	int ret = problem(p, EXT4_RFX_BAD_SLOT, slot, expected, found);

	if (p)
		p->field = field;
	return ret;
}

static bool is_zero(const void *buf, u32 len)
{
	const u8 *p = buf;
	u32 i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static bool known_type(u16 type)
{
	return type == EXT4_TREE_REFCOUNT;
}

static int check_slots(const struct ext4_rfx_block *b,
		       struct ext4_rfx_problem *p)
{
	int i, j;

	for (i = 0; i < EXT4_RFX_NR_SLOTS; i++) {
		const struct ext4_rfx_root *r = &b->fm_roots[i];
		u16 type = le16_to_cpu(r->rr_type);
		u16 height = le16_to_cpu(r->rr_height);
		u64 root = le64_to_cpu(r->rr_root);

		if (type == EXT4_TREE_NONE) {
			if (!is_zero(r, sizeof(*r)))
				return slot_problem(p, i, "unused slot not "
						    "zeroed", 0, 0);
			continue;
		}
		if (!known_type(type))
			return problem(p, EXT4_RFX_UNKNOWN_SLOT_TYPE, i, 0,
				       type);
		if (r->rr_flags)
			return slot_problem(p, i, "rr_flags", 0,
					    le32_to_cpu(r->rr_flags));
		if (height > EXT4_BTREE_MAX_HEIGHT)
			return slot_problem(p, i, "rr_height",
					    EXT4_BTREE_MAX_HEIGHT, height);
		if ((!root) != (!height))
			return slot_problem(p, i, root ? "rr_height 0 with "
					    "an rr_root" : "rr_root 0 with an "
					    "rr_height", 0, height);
		if (!height && (r->rr_records || r->rr_nodes))
			return slot_problem(p, i, "rr_records or rr_nodes "
					    "of an empty tree", 0,
					    le64_to_cpu(r->rr_nodes));
		if (height && (!r->rr_records || !r->rr_nodes))
			return slot_problem(p, i, "rr_records or rr_nodes 0 "
					    "in a tree", 0, 0);
		for (j = 0; j < i; j++)
			if (b->fm_roots[j].rr_type == r->rr_type)
				return problem(p, EXT4_RFX_DUP_SLOT, i, j,
					       type);
	}
	return 0;
}

/* Everything but the checksum */
static int check_fields(const void *block, u32 block_size, u64 blocknr,
			u32 fg, struct ext4_rfx_problem *p)
{
	const struct ext4_rfx_block *b = crfx(block);

	u16 version = le16_to_cpu(b->fm_version);

	/* No writer ever wrote 0: damage, not a newer version (FORMAT 10) */
	if (!version)
		return problem(p, EXT4_RFX_INVALID_VERSION, -1,
			       EXT4_RFX_VERSION, 0);
	if (version != EXT4_RFX_VERSION && version != EXT4_RFX_VERSION_NORESV)
		return problem(p, EXT4_RFX_BAD_VERSION, -1, EXT4_RFX_VERSION,
			       version);
	if (le16_to_cpu(b->fm_nr_slots) != EXT4_RFX_NR_SLOTS)
		return problem(p, EXT4_RFX_BAD_NR_SLOTS, -1, EXT4_RFX_NR_SLOTS,
			       le16_to_cpu(b->fm_nr_slots));
	if (le32_to_cpu(b->fm_flex_group) != fg)
		return problem(p, EXT4_RFX_BAD_FLEX_GROUP, -1, fg,
			       le32_to_cpu(b->fm_flex_group));
	if (le64_to_cpu(b->fm_blocknr) != blocknr)
		return problem(p, EXT4_RFX_BAD_BLOCKNR, -1, blocknr,
			       le64_to_cpu(b->fm_blocknr));
	if (version == EXT4_RFX_VERSION_NORESV &&
	    (b->fm_resv_start || b->fm_resv_len))
		return problem(p, EXT4_RFX_BAD_RESERVED, -1, 0, 1);
	/* The block range is the host's to check: it knows len(fg) */
	if (version == EXT4_RFX_VERSION &&
	    (!b->fm_resv_start || !b->fm_resv_len))
		return problem(p, EXT4_RFX_BAD_RESV, -1, 1, 0);
	if (b->fm_flags || b->fm_reserved0 ||
	    !is_zero(b->fm_reserved, sizeof(b->fm_reserved)) ||
	    !is_zero((const u8 *)block + sizeof(*b),
		     block_size - sizeof(*b)))
		return problem(p, EXT4_RFX_BAD_RESERVED, -1, 0, 1);
	return check_slots(b, p);
}

int ext4_rfx_check(const void *block, u32 block_size, u32 seed, u64 blocknr,
		   u32 fg, struct ext4_rfx_problem *p)
{
	const struct ext4_rfx_block *b = crfx(block);
	u32 csum;

	if (block_size < sizeof(*b))
		return -EINVAL;
	if (le32_to_cpu(b->fm_magic) != EXT4_RFX_MAGIC)
		return problem(p, EXT4_RFX_BAD_MAGIC, -1, EXT4_RFX_MAGIC,
			       le32_to_cpu(b->fm_magic));
	csum = ext4_rfx_csum(block, block_size, seed);
	if (le32_to_cpu(b->fm_checksum) != csum)
		return problem(p, EXT4_RFX_BAD_CSUM, -1, csum,
			       le32_to_cpu(b->fm_checksum));
	return check_fields(block, block_size, blocknr, fg, p);
}

void ext4_rfx_init(void *block, u32 block_size, u64 blocknr, u32 fg)
{
	struct ext4_rfx_block *b = rfx(block);

	memset(block, 0, block_size);
	b->fm_magic = cpu_to_le32(EXT4_RFX_MAGIC);
	b->fm_version = cpu_to_le16(EXT4_RFX_VERSION_NORESV);
	b->fm_nr_slots = cpu_to_le16(EXT4_RFX_NR_SLOTS);
	b->fm_flex_group = cpu_to_le32(fg);
	b->fm_blocknr = cpu_to_le64(blocknr);
	b->fm_generation = cpu_to_le64(1);
}

int ext4_rfx_seal(void *block, u32 block_size, u32 seed, u64 blocknr,
		  u32 fg)
{
	struct ext4_rfx_block *b = rfx(block);
	int err;

	if (block_size < sizeof(*b))
		return -EINVAL;
	if (le32_to_cpu(b->fm_magic) != EXT4_RFX_MAGIC)
		return -EFSCORRUPTED;
	err = check_fields(block, block_size, blocknr, fg, NULL);
	if (err)
		return err;
	b->fm_checksum = cpu_to_le32(ext4_rfx_csum(block, block_size, seed));
	return 0;
}

int ext4_rfx_find_slot(const void *block, u16 type)
{
	const struct ext4_rfx_block *b = crfx(block);
	int i;

	for (i = 0; i < EXT4_RFX_NR_SLOTS; i++)
		if (type != EXT4_TREE_NONE &&
		    le16_to_cpu(b->fm_roots[i].rr_type) == type)
			return i;
	return -ENOENT;
}

void ext4_rfx_load_root(const void *block, struct ext4_btree *tree)
{
	const struct ext4_rfx_block *b = crfx(block);
	int i = ext4_rfx_find_slot(block, tree->geo->tree_type);

	tree->generation = le64_to_cpu(b->fm_generation);
	if (i < 0) {
		tree->root = 0;
		tree->height = 0;
		tree->nr_records = 0;
		tree->nr_nodes = 0;
		return;
	}
	tree->root = le64_to_cpu(b->fm_roots[i].rr_root);
	tree->height = le16_to_cpu(b->fm_roots[i].rr_height);
	tree->nr_records = le64_to_cpu(b->fm_roots[i].rr_records);
	tree->nr_nodes = le64_to_cpu(b->fm_roots[i].rr_nodes);
}

int ext4_rfx_store_root(void *block, const struct ext4_btree *tree)
{
	struct ext4_rfx_block *b = rfx(block);
	struct ext4_rfx_root *r;
	int i = ext4_rfx_find_slot(block, tree->geo->tree_type);

	if (i < 0) {
		for (i = 0; i < EXT4_RFX_NR_SLOTS; i++)
			if (!b->fm_roots[i].rr_type)
				break;
		if (i == EXT4_RFX_NR_SLOTS)
			return -ENOSPC;
	}
	r = &b->fm_roots[i];
	r->rr_type = cpu_to_le16(tree->geo->tree_type);
	r->rr_height = cpu_to_le16(tree->height);
	r->rr_flags = 0;
	r->rr_root = cpu_to_le64(tree->root);
	r->rr_records = cpu_to_le64(tree->nr_records);
	r->rr_nodes = cpu_to_le64(tree->nr_nodes);
	b->fm_generation = cpu_to_le64(tree->generation);
	return 0;
}

bool ext4_rfx_is_empty(const void *block)
{
	const struct ext4_rfx_block *b = crfx(block);
	int i;

	for (i = 0; i < EXT4_RFX_NR_SLOTS; i++)
		if (b->fm_roots[i].rr_height)
			return false;
	return true;
}

void ext4_rfx_set_resv(void *block, u32 start, u32 len)
{
	struct ext4_rfx_block *b = rfx(block);

	b->fm_version = cpu_to_le16(start ? EXT4_RFX_VERSION :
				    EXT4_RFX_VERSION_NORESV);
	b->fm_resv_start = cpu_to_le32(start);
	b->fm_resv_len = cpu_to_le32(start ? len : 0);
}

bool ext4_rfx_get_resv(const void *block, u32 *start, u32 *len)
{
	const struct ext4_rfx_block *b = crfx(block);

	*start = le32_to_cpu(b->fm_resv_start);
	*len = le32_to_cpu(b->fm_resv_len);
	return le16_to_cpu(b->fm_version) == EXT4_RFX_VERSION;
}

static const char *const ext4_rfx_problem_table[EXT4_RFX_PROBLEM_MAX] = {
#define EXT4_RFX_PROBLEM_WORDS(name, words) [EXT4_RFX_##name] = words,
	EXT4_RFX_PROBLEM_LIST(EXT4_RFX_PROBLEM_WORDS)
#undef EXT4_RFX_PROBLEM_WORDS
};

const char *ext4_rfx_problem_words(int code)
{
	if (code >= 0 && code < EXT4_RFX_PROBLEM_MAX)
		return ext4_rfx_problem_table[code];
	return "unknown problem";
}

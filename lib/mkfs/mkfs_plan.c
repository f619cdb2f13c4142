// SPDX-License-Identifier: GPL-2.0
/*
 * mkfs_plan.c - from a format request to the superblock parameters that
 * ext2fs_initialize() takes: size type, block size, inode count, features.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mkfs/rfl_mkfs.h"
#include "reflink/rfl.h"

/* ext4 as Debian's mke2fs.conf (base_features + the ext4 fs_type) has it */
static const __u32 ext4_default_features[3] = {
	EXT3_FEATURE_COMPAT_HAS_JOURNAL | EXT2_FEATURE_COMPAT_EXT_ATTR |
	EXT2_FEATURE_COMPAT_RESIZE_INODE | EXT2_FEATURE_COMPAT_DIR_INDEX,

	EXT2_FEATURE_INCOMPAT_FILETYPE | EXT3_FEATURE_INCOMPAT_EXTENTS |
	EXT4_FEATURE_INCOMPAT_64BIT | EXT4_FEATURE_INCOMPAT_FLEX_BG,

	EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER |
	EXT2_FEATURE_RO_COMPAT_LARGE_FILE | EXT4_FEATURE_RO_COMPAT_HUGE_FILE |
	EXT4_FEATURE_RO_COMPAT_DIR_NLINK | EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE |
	EXT4_FEATURE_RO_COMPAT_METADATA_CSUM,
};

enum { F_COMPAT, F_INCOMPAT, F_RO_COMPAT };

/*
 * What the format can make: the features that need no format step we
 * lack (names and -O editing are libe2p's).  reflink itself is added by
 * rfl_mkfs_write; shared_blocks is refused by check_reflink_needs.
 */
static const __u32 supported_features[3] = {
	EXT3_FEATURE_COMPAT_HAS_JOURNAL | EXT2_FEATURE_COMPAT_EXT_ATTR |
	EXT2_FEATURE_COMPAT_RESIZE_INODE | EXT2_FEATURE_COMPAT_DIR_INDEX |
	EXT4_FEATURE_COMPAT_STABLE_INODES,

	EXT2_FEATURE_INCOMPAT_FILETYPE | EXT3_FEATURE_INCOMPAT_EXTENTS |
	EXT4_FEATURE_INCOMPAT_64BIT | EXT4_FEATURE_INCOMPAT_FLEX_BG |
	EXT4_FEATURE_INCOMPAT_CSUM_SEED | EXT4_FEATURE_INCOMPAT_LARGEDIR,

	EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER |
	EXT2_FEATURE_RO_COMPAT_LARGE_FILE | EXT4_FEATURE_RO_COMPAT_HUGE_FILE |
	EXT4_FEATURE_RO_COMPAT_GDT_CSUM | EXT4_FEATURE_RO_COMPAT_DIR_NLINK |
	EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE | EXT4_FEATURE_RO_COMPAT_BIGALLOC |
	EXT4_FEATURE_RO_COMPAT_METADATA_CSUM |
	EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS | EXT4_FEATURE_RO_COMPAT_VERITY |
	EXT4_FEATURE_RO_COMPAT_REFLINK,
};

void rfl_mkfs_default_features(__u32 features[3])
{
	memcpy(features, ext4_default_features, sizeof(ext4_default_features));
}

void rfl_mkfs_supported_features(__u32 features[3])
{
	memcpy(features, supported_features, sizeof(supported_features));
}

static errcode_t invalid(struct rfl_mkfs *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static errcode_t invalid(struct rfl_mkfs *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->why, sizeof(m->why), fmt, ap);
	va_end(ap);
	return EXT2_ET_INVALID_ARGUMENT;
}

static int ilog2_u64(unsigned long long v)
{
	int l = 0;

	while (v >>= 1)
		l++;
	return l;
}

static bool is_pow2(unsigned long long v)
{
	return v && !(v & (v - 1));
}

/* The [fs_types] entry mke2fs would pick for this size */
const char *rfl_mkfs_size_type(unsigned long long bytes)
{
	if (bytes < RFL_MKFS_FLOPPY_MAX)
		return "floppy";
	if (bytes < RFL_MKFS_SMALL_MAX)
		return "small";
	if (bytes < RFL_MKFS_BIG_MIN)
		return "default";
	if (bytes < RFL_MKFS_HUGE_MIN)
		return "big";
	return "huge";
}

static unsigned int type_block_size(const char *type)
{
	return !strcmp(type, "floppy") || !strcmp(type, "small") ? 1024 : 4096;
}

static unsigned int type_inode_ratio(const char *type)
{
	if (!strcmp(type, "floppy"))
		return 8192;
	if (!strcmp(type, "small"))
		return 4096;
	if (!strcmp(type, "big"))
		return 32768;
	if (!strcmp(type, "huge"))
		return 65536;
	return 16384;
}

/* What reflink needs of the feature set (FORMAT.md section 1) */
static errcode_t check_reflink_needs(struct rfl_mkfs *m)
{
	struct ext2_super_block *p = &m->param;
	unsigned long long span;

	if (!ext2fs_has_feature_64bit(p))
		return RFL_ET_NEED_64BIT;
	if (!ext2fs_has_feature_extents(p))
		return RFL_ET_NEED_EXTENTS;
	if (!ext2fs_has_feature_flex_bg(p))
		return RFL_ET_NEED_FLEX_BG;
	if (ext2fs_has_feature_bigalloc(p))
		return RFL_ET_BIGALLOC;
	if (p->s_feature_ro_compat & EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS)
		return RFL_ET_SHARED_BLOCKS;
	span = (1ULL << p->s_log_groups_per_flex) * 8ULL *
	       (1024ULL << p->s_log_block_size);
	if (span > 0x100000000ULL) {
		snprintf(m->why, sizeof(m->why),
			 "%lu groups of %llu blocks span more than 2^32 blocks",
			 m->flex_bg_size ? m->flex_bg_size : 16UL,
			 8ULL * (1024ULL << p->s_log_block_size));
		return RFL_ET_FLEXBG_TOO_BIG;
	}
	return 0;
}

errcode_t rfl_mkfs_plan(struct rfl_mkfs *m)
{
	struct ext2_super_block *p = &m->param;
	unsigned long long bytes, blocks, n;
	unsigned int bs, ratio, isize;
	unsigned long flex;
	double pct;
	int i;

	memset(p, 0, sizeof(*p));
	m->why[0] = 0;
	bytes = m->size ? m->size : m->dev_size;
	if (!bytes)
		return invalid(m, "the size of %s is unknown or zero; give a "
			       "size", m->device);

	m->size_type = rfl_mkfs_size_type(bytes);
	bs = m->block_size ? m->block_size : type_block_size(m->size_type);
	if (!m->block_size && m->sector_size > bs)
		bs = m->sector_size;
	if (bs < EXT2_MIN_BLOCK_SIZE || bs > EXT2_MAX_BLOCK_SIZE ||
	    !is_pow2(bs))
		return invalid(m, "invalid block size %u (1024..65536, a power "
			       "of 2)", bs);
	if (m->sector_size && bs < m->sector_size)
		return invalid(m, "block size %u is smaller than the sector "
			       "size %u of %s", bs, m->sector_size, m->device);
	blocks = bytes / bs;
	/* a device's own size is trimmed to whole pages, as mke2fs does */
	if (!m->size && bs < 4096)
		blocks &= ~((unsigned long long)(4096 / bs) - 1);
	if (blocks > (1ULL << (ilog2_u64(bs) + 3 + 32)) - 1)
		return invalid(m, "%llu blocks of %u bytes are too many block "
			       "groups", blocks, bs);
	m->fs_bytes = blocks * bs;

	p->s_rev_level = EXT2_DYNAMIC_REV;
	p->s_log_block_size = ilog2_u64(bs >> EXT2_MIN_BLOCK_LOG_SIZE);
	p->s_log_cluster_size = p->s_log_block_size;
	for (i = 0; i < 3; i++) {
		__u32 *w = i == F_COMPAT ? &p->s_feature_compat :
			   i == F_INCOMPAT ? &p->s_feature_incompat :
			   &p->s_feature_ro_compat;

		*w = (ext4_default_features[i] | m->feat_on[i]) &
		     ~m->feat_off[i];
	}
	/* The reflink bit goes on after the tables exist; libext2fs refuses
	 * RO_COMPAT bits it does not know at initialize time. */
	p->s_feature_ro_compat &= ~EXT4_FEATURE_RO_COMPAT_REFLINK;
	if (ext2fs_has_feature_metadata_csum(p))
		ext2fs_clear_feature_gdt_csum(p);
	if (!ext2fs_has_feature_metadata_csum(p))
		ext2fs_clear_feature_csum_seed(p);
	if (blocks > 0xffffffffULL)
		ext2fs_clear_feature_resize_inode(p);
	if (ext2fs_has_feature_resize_inode(p) &&
	    !ext2fs_has_feature_sparse_super(p))
		return invalid(m, "resize_inode needs sparse_super");
	p->s_default_mount_opts = EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL;

	flex = m->flex_bg_size ? m->flex_bg_size : 16;
	if (!is_pow2(flex) || flex > 0x80000000UL)
		return invalid(m, "flex_bg size %lu must be a power of 2 up to "
			       "2^31", flex);
	p->s_log_groups_per_flex = ilog2_u64(flex);

	i = (int)check_reflink_needs(m);
	if (i)
		return (errcode_t)i;

	isize = m->inode_size ? m->inode_size : 256;
	if (isize < EXT2_GOOD_OLD_INODE_SIZE || isize > bs || !is_pow2(isize))
		return invalid(m, "invalid inode size %u (min %d/max %u)",
			       isize, EXT2_GOOD_OLD_INODE_SIZE, bs);
	p->s_inode_size = isize;

	ratio = m->inode_ratio;
	if (!ratio)
		ratio = type_inode_ratio(m->size_type);
	if (!m->inode_ratio && ratio < bs)
		ratio = bs;
	if (ratio < EXT2_MIN_BLOCK_SIZE || ratio > EXT2_MAX_BLOCK_SIZE * 1024)
		return invalid(m, "invalid inode ratio %u (min %d/max %d)",
			       ratio, EXT2_MIN_BLOCK_SIZE,
			       EXT2_MAX_BLOCK_SIZE * 1024);
	if (m->nr_inodes) {
		if (m->nr_inodes > 0xffffffffULL)
			return invalid(m, "too many inodes (%llu), specify < "
				       "2^32 inodes", m->nr_inodes);
		n = m->nr_inodes;
	} else {
		n = blocks * bs / ratio;
		if (n > 0xffffffffULL)
			n = 0xffffffffULL;
	}
	if (n * isize >= blocks * bs)
		return invalid(m, "inode_size (%u) * inodes_count (%llu) too "
			       "big for %llu blocks; raise -i or lower -N",
			       isize, n, blocks);
	p->s_inodes_count = (__u32)n;

	pct = m->reserved_pct < 0 ? 5.0 : m->reserved_pct;
	if (pct > 50)
		return invalid(m, "invalid reserved blocks percent - %g", pct);
	ext2fs_blocks_count_set(p, blocks);
	ext2fs_r_blocks_count_set(p, (blk64_t)(pct * blocks / 100.0));
	if (m->errors)
		p->s_errors = m->errors;
	return 0;
}

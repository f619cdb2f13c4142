// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_snapshot.c - offline snapshot of a directory tree (rfl_snapshot.h).
 *
 * Plan: walk the source breadth first (parents before children) into a
 * list of nodes, gathering every regular file's leaf extents as one
 * reference each.  Write: flags, one refcount load per flex group, the
 * new inodes and directories, unreachable until the last link.
 */
#include <stdlib.h>
#include <string.h>

#include "dedup/rfl_snapshot.h"
#include "dedup/refload.h"
#include "dedup/xtree.h"
#include "reflink/rfl_extwalk.h"

#include <ext2fs/ext3_extents.h>

#define NONE		((size_t)-1)

/* Refused outright: cloning them needs their keys or their Merkle tree */
#define REFUSE_FLAGS	(EXT4_ENCRYPT_FL | EXT4_VERITY_FL)

struct snode {
	ext2_ino_t src, dst;
	size_t parent;			/* NONE: the top */
	size_t first;			/* a further hard link: its first */
	char *name;			/* NULL for the top */
	int ft;
	bool blocks;			/* a regular file mapping blocks */
	/* a regular file whose extent tree is not in its inode */
	int depth;
	size_t x0, nx;			/* its leaf extents in c->x */
	size_t t0, nt;			/* its new tree blocks in c->t */
	size_t nold;			/* its source's tree blocks */
};

struct link_slot {
	ext2_ino_t ino;
	size_t node;
};

struct sctx {
	struct rfl_fs *rfs;
	ext2_filsys fs;
	struct rfl_snapshot *s;
	int isize;
	struct snode *n;
	size_t nr, max;
	struct rfl_xleaf *x;
	size_t nr_x, max_x;
	blk64_t *t;
	size_t nr_t, max_t;
	struct rfl_bruns refs;
	struct link_slot *links;	/* open addressing, ino 0 empty */
	size_t links_size, links_used;
	char *ibuf, *ibuf2;		/* raw inodes */
	char *blk;
	errcode_t ret;			/* of a directory listing */
	size_t listing;			/* the node being listed */
};

static struct ext2_inode *raw(char *buf)
{
	return (struct ext2_inode *)buf;
}

static struct ext2_inode_large *large(char *buf)
{
	return (struct ext2_inode_large *)buf;
}

/* ---------------------------------------------------------------- */
/* Plan                                                              */
/* ---------------------------------------------------------------- */

static errcode_t links_grow(struct sctx *c)
{
	size_t n = c->links_size ? c->links_size * 2 : 256, i, j;
	struct link_slot *v = calloc(n, sizeof(*v));

	if (!v)
		return EXT2_ET_NO_MEMORY;
	for (i = 0; i < c->links_size; i++) {
		if (!c->links[i].ino)
			continue;
		for (j = c->links[i].ino & (n - 1); v[j].ino;
		     j = (j + 1) & (n - 1))
			;
		v[j] = c->links[i];
	}
	free(c->links);
	c->links = v;
	c->links_size = n;
	return 0;
}

/* The node that first named ino, or NONE after remembering node */
static errcode_t link_seen(struct sctx *c, ext2_ino_t ino, size_t node,
			   size_t *first)
{
	size_t j;
	errcode_t ret;

	*first = NONE;
	if ((c->links_used + 1) * 2 > c->links_size) {
		ret = links_grow(c);
		if (ret)
			return ret;
	}
	for (j = ino & (c->links_size - 1); c->links[j].ino;
	     j = (j + 1) & (c->links_size - 1)) {
		if (c->links[j].ino == ino) {
			*first = c->links[j].node;
			return 0;
		}
	}
	c->links[j].ino = ino;
	c->links[j].node = node;
	c->links_used++;
	return 0;
}

static int list_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *de,
		   int offset, int blocksize, char *buf, void *priv)
{
	struct sctx *c = priv;
	int len = ext2fs_dirent_name_len(de);
	char *name;

	(void)dir;
	(void)offset;
	(void)blocksize;
	(void)buf;
	if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE ||
	    !de->inode)
		return 0;
	name = strndup(de->name, len);
	if (!name) {
		c->ret = EXT2_ET_NO_MEMORY;
		return DIRENT_ABORT;
	}
	c->ret = RFL_PUSH(c, n, nr, max, ((struct snode){
		.src = de->inode, .parent = c->listing, .first = NONE,
		.name = name, .ft = ext2fs_dirent_file_type(de) }));
	if (c->ret) {
		free(name);
		return DIRENT_ABORT;
	}
	return 0;
}

/* plan_file's walk of one file */
struct plan_walk {
	struct sctx *c;
	size_t i;			/* its node */
	bool deep;			/* its tree is not in its inode */
	size_t nold;			/* its tree blocks */
};

static errcode_t count_tree_block(void *priv, blk64_t pblk)
{
	struct plan_walk *w = priv;

	(void)pblk;
	w->nold++;
	return 0;
}

/* One reference on each block; the leaves themselves if deep */
static errcode_t plan_extent(void *priv, blk64_t lblk, blk64_t pblk,
			     __u32 len, __u32 flags)
{
	struct plan_walk *w = priv;
	struct sctx *c = w->c;
	errcode_t ret;

	/* shared extents must lie inside the data area */
	if (!e2fs_meta_map_data_range(c->fs, c->rfs->meta_map, pblk, len))
		return RFL_ET_BAD_RANGE;
	ret = rfl_bruns_add(&c->refs, pblk, len, 0);
	if (!ret && w->deep)
		ret = RFL_PUSH(c, x, nr_x, max_x, ((struct rfl_xleaf){
			.lblk = lblk, .pblk = pblk, .len = len,
			.uninit = flags & EXT2_EXTENT_FLAGS_UNINIT }));
	if (ret)
		return ret;
	c->s->shared += len;
	c->n[w->i].blocks = true;
	return 0;
}

/* A regular file's extents: one reference each, leaves if deep */
static errcode_t plan_file(struct sctx *c, size_t i)
{
	static const struct rfl_extwalk_ops ops = {
		.leaf = plan_extent,
		.node = count_tree_block,
	};
	struct ext3_extent_header *eh = (void *)raw(c->ibuf)->i_block;
	struct plan_walk w = {
		.c = c, .i = i,
		.deep = ext2fs_le16_to_cpu(eh->eh_depth) > 0,
	};
	size_t x0 = c->nr_x;
	errcode_t ret;

	ret = rfl_extent_walk(c->fs, c->n[i].src, raw(c->ibuf), &ops, &w);
	if (ret || !w.deep)
		return ret;
	c->n[i].x0 = x0;
	c->n[i].nx = c->nr_x - x0;
	c->n[i].nold = w.nold;
	c->n[i].depth = rfl_xtree_shape(c->fs, c->n[i].nx, &c->n[i].nt);
	/* an empty tree with index levels: the inode's root will do */
	if (!c->n[i].nx)
		c->n[i].depth = 0;
	return c->n[i].depth < 0 ? RFL_ET_UNSUPPORTED : 0;
}

static errcode_t plan_node(struct sctx *c, size_t i)
{
	struct ext2_inode *in = raw(c->ibuf);
	size_t first;
	errcode_t ret;
	int k;

	ret = ext2fs_read_inode_full(c->fs, c->n[i].src, in, c->isize);
	if (ret)
		return ret;
	if (!in->i_links_count || in->i_dtime)
		return EXT2_ET_INODE_IS_GARBAGE;
	if (in->i_flags & REFUSE_FLAGS)
		return RFL_ET_UNSUPPORTED;
	if (LINUX_S_ISDIR(in->i_mode)) {
		if (i && c->n[i].ft != EXT2_FT_DIR)
			return EXT2_ET_INODE_IS_GARBAGE;
		c->s->dirs++;
		c->listing = i;
		c->ret = 0;
		ret = ext2fs_dir_iterate2(c->fs, c->n[i].src, 0, NULL,
					  list_cb, c);
		return ret ?: c->ret;
	}
	if (!i)
		return EXT2_ET_NO_DIRECTORY;
	if (in->i_links_count > 1) {
		ret = link_seen(c, c->n[i].src, i, &first);
		if (ret)
			return ret;
		if (first != NONE) {
			c->n[i].first = first;
			c->s->hardlinks++;
			return 0;
		}
	}
	if (LINUX_S_ISLNK(in->i_mode)) {
		c->s->symlinks++;
		return 0;
	}
	if (!LINUX_S_ISREG(in->i_mode)) {
		c->s->specials++;
		return 0;
	}
	c->s->files++;
	if (in->i_flags & EXT4_INLINE_DATA_FL)
		return 0;
	if (in->i_flags & EXT4_EXTENTS_FL)
		return plan_file(c, i);
	/* a block-mapped file: only an empty one can be copied as is */
	for (k = 0; k < EXT2_N_BLOCKS; k++)
		if (in->i_block[k])
			return RFL_ET_NO_EXTENTS;
	return 0;
}

static errcode_t plan(struct sctx *c, ext2_ino_t src)
{
	errcode_t ret;
	size_t i;

	ret = RFL_PUSH(c, n, nr, max, ((struct snode){
		.src = src, .parent = NONE, .first = NONE, .ft = EXT2_FT_DIR }));
	for (i = 0; !ret && i < c->nr; i++) {
		ret = plan_node(c, i);
		if (ret)
			c->s->bad_ino = c->n[i].src;
	}
	return ret;
}

/* ---------------------------------------------------------------- */
/* Write                                                             */
/* ---------------------------------------------------------------- */

/* Refuse what cannot fit before anything is written */
static errcode_t check_space(struct sctx *c)
{
	ext2_filsys fs = c->fs;
	blk64_t need = 64;		/* room for the refcount trees */
	ext2_ino_t inodes = 0;
	size_t i;

	for (i = 0; i < c->nr; i++) {
		if (c->n[i].first != NONE)
			continue;
		inodes++;
		need += c->n[i].nt + (c->n[i].ft == EXT2_FT_DIR ||
				      c->n[i].ft == EXT2_FT_SYMLINK);
	}
	if (inodes > fs->super->s_free_inodes_count ||
	    need > ext2fs_free_blocks_count(fs->super))
		return RFL_ET_NO_SPACE;
	return 0;
}

/* Every source that will share gets EXT4_REFLINK_FL first (6.3) */
static errcode_t flag_sources(struct sctx *c)
{
	struct ext2_inode *in = raw(c->ibuf);
	errcode_t ret = 0;
	size_t i;

	for (i = 0; !ret && i < c->nr; i++) {
		if (!c->n[i].blocks)
			continue;
		ret = ext2fs_read_inode_full(c->fs, c->n[i].src, in, c->isize);
		if (ret || (in->i_flags & EXT4_REFLINK_FL))
			continue;
		in->i_flags |= EXT4_REFLINK_FL;
		ret = ext2fs_write_inode_full(c->fs, c->n[i].src, in,
					      c->isize);
	}
	return ret;
}

static errcode_t allocate(struct sctx *c)
{
	errcode_t ret;
	size_t i, k;
	blk64_t b;

	for (i = 0; i < c->nr; i++) {
		blk64_t goal = c->n[i].nx ? c->x[c->n[i].x0].pblk : 0;

		c->n[i].t0 = c->nr_t;
		for (k = 0; k < c->n[i].nt; k++) {
			ret = ext2fs_new_block2(c->fs, goal, NULL, &b);
			if (ret == EXT2_ET_BLOCK_ALLOC_FAIL)
				ret = RFL_ET_NO_SPACE;
			ret = ret ?: RFL_PUSH(c, t, nr_t, max_t, b);
			if (ret)
				return ret;
			ext2fs_block_alloc_stats2(c->fs, b, +1);
			goal = b + 1;
		}
	}
	return 0;
}

/* The external xattr block of src, one reference more, for dst */
static errcode_t share_xattr_block(struct sctx *c, ext2_ino_t dst,
				   struct ext2_inode *in)
{
	blk64_t blk = ext2fs_file_acl_block(c->fs, in);

	if (!blk)
		return 0;
	return ext2fs_adjust_ea_refcount3(c->fs, blk, NULL, +1, NULL, dst);
}

/*
 * A new directory or slow symlink takes the source's permissions,
 * owner, times, flags and extended attributes
 */
static errcode_t copy_meta(struct sctx *c, ext2_ino_t ino)
{
	const __u32 keep = EXT4_EXTENTS_FL | EXT2_INDEX_FL |
			   EXT4_INLINE_DATA_FL;
	struct ext2_inode_large *s = large(c->ibuf), *d = large(c->ibuf2);
	blk64_t blk = ext2fs_file_acl_block(c->fs, raw(c->ibuf));
	errcode_t ret;
	int off;

	ret = ext2fs_read_inode_full(c->fs, ino, raw(c->ibuf2), c->isize);
	if (ret)
		return ret;
	d->i_mode = (__u16)((d->i_mode & LINUX_S_IFMT) |
			    (s->i_mode & 07777));
	d->i_uid = s->i_uid;
	d->i_gid = s->i_gid;
	d->osd2.linux2.l_i_uid_high = s->osd2.linux2.l_i_uid_high;
	d->osd2.linux2.l_i_gid_high = s->osd2.linux2.l_i_gid_high;
	d->i_atime = s->i_atime;
	d->i_mtime = s->i_mtime;
	d->i_ctime = s->i_ctime;
	d->i_flags = (s->i_flags & ~keep) | (d->i_flags & keep);
	if (blk) {
		ret = share_xattr_block(c, ino, raw(c->ibuf));
		ret = ret ?: ext2fs_iblk_add_blocks(c->fs, raw(c->ibuf2), 1);
		if (ret)
			return ret;
		ext2fs_file_acl_block_set(c->fs, raw(c->ibuf2), blk);
	}
	if (c->isize > EXT2_GOOD_OLD_INODE_SIZE &&
	    s->i_extra_isize == d->i_extra_isize &&
	    s->i_extra_isize >= 24) {
		d->i_ctime_extra = s->i_ctime_extra;
		d->i_mtime_extra = s->i_mtime_extra;
		d->i_atime_extra = s->i_atime_extra;
		d->i_crtime = s->i_crtime;
		d->i_crtime_extra = s->i_crtime_extra;
		/* in-inode xattrs (ACLs), unless they hold inline data */
		off = EXT2_GOOD_OLD_INODE_SIZE + s->i_extra_isize;
		if (!((s->i_flags | d->i_flags) & EXT4_INLINE_DATA_FL) &&
		    off < c->isize)
			memcpy(c->ibuf2 + off, c->ibuf + off, c->isize - off);
	}
	return ext2fs_write_inode_full(c->fs, ino, raw(c->ibuf2), c->isize);
}

static errcode_t make_dir(struct sctx *c, ext2_ino_t parent,
			  const char *name, ext2_ino_t *ino)
{
	errcode_t ret;

	ret = ext2fs_new_inode(c->fs, parent, LINUX_S_IFDIR | 0755, NULL,
			       ino);
	ret = ret ?: ext2fs_mkdir(c->fs, parent, *ino, name);
	return ret ?: copy_meta(c, *ino);
}

static errcode_t make_symlink(struct sctx *c, size_t i, ext2_ino_t parent,
			      ext2_ino_t *ino)
{
	unsigned int size = EXT2_I_SIZE(raw(c->ibuf)), got = 0;
	ext2_file_t f;
	errcode_t ret, ret2;

	if (size >= c->fs->blocksize)
		return EXT2_ET_INODE_IS_GARBAGE;
	ret = ext2fs_file_open2(c->fs, c->n[i].src, raw(c->ibuf), 0, &f);
	if (ret)
		return ret;
	ret = ext2fs_file_read(f, c->blk, size, &got);
	ret2 = ext2fs_file_close(f);
	ret = ret ?: ret2;
	if (!ret && got != size)
		ret = EXT2_ET_SHORT_READ;
	if (ret)
		return ret;
	c->blk[size] = 0;
	ret = ext2fs_new_inode(c->fs, parent, LINUX_S_IFLNK | 0777, NULL,
			       ino);
	ret = ret ?: ext2fs_symlink(c->fs, parent, *ino, c->n[i].name, c->blk);
	return ret ?: copy_meta(c, *ino);
}

/* Everything else: the source inode, bytes and all, with its own tree */
static errcode_t clone_raw(struct sctx *c, size_t i, ext2_ino_t parent,
			   ext2_ino_t *ino)
{
	const struct snode *n = &c->n[i];
	struct ext2_inode *in = raw(c->ibuf);
	errcode_t ret;

	ret = ext2fs_new_inode(c->fs, parent, in->i_mode, NULL, ino);
	if (ret)
		return ret;
	ext2fs_inode_alloc_stats2(c->fs, *ino, +1, 0);
	in->i_links_count = 1;
	if (n->blocks)
		in->i_flags |= EXT4_REFLINK_FL;
	ret = share_xattr_block(c, *ino, in);
	if (!ret && n->depth > 0) {
		/* the tree's checksums need the inode's generation */
		memset(in->i_block, 0, sizeof(in->i_block));
		ret = ext2fs_write_inode_full(c->fs, *ino, in, c->isize);
		ret = ret ?: rfl_xtree_write(c->fs, *ino, c->x + n->x0, n->nx,
					     n->depth, c->t + n->t0,
					     in->i_block, c->blk);
		ret = ret ?: ext2fs_iblk_sub_blocks(c->fs, in, n->nold);
		ret = ret ?: ext2fs_iblk_add_blocks(c->fs, in, n->nt);
	}
	ret = ret ?: ext2fs_write_inode_full(c->fs, *ino, in, c->isize);
	return ret ?: rfl_link(c->fs, parent, n->name, *ino, n->ft);
}

static errcode_t add_link(struct sctx *c, size_t i, ext2_ino_t parent)
{
	ext2_ino_t ino = c->n[c->n[i].first].dst;
	struct ext2_inode in;
	errcode_t ret;

	ret = rfl_link(c->fs, parent, c->n[i].name, ino, c->n[i].ft);
	ret = ret ?: ext2fs_read_inode(c->fs, ino, &in);
	if (ret)
		return ret;
	in.i_links_count++;
	return ext2fs_write_inode(c->fs, ino, &in);
}

static errcode_t build(struct sctx *c, ext2_ino_t top_parent)
{
	struct ext2_inode *in = raw(c->ibuf);
	errcode_t ret = 0;
	size_t i;

	for (i = 0; !ret && i < c->nr; i++) {
		struct snode *n = &c->n[i];
		ext2_ino_t parent = i ? c->n[n->parent].dst : top_parent;

		if (n->first != NONE) {
			ret = add_link(c, i, parent);
			continue;
		}
		ret = ext2fs_read_inode_full(c->fs, n->src, in, c->isize);
		if (ret)
			break;
		if (LINUX_S_ISDIR(in->i_mode))
			/* the top is linked in last */
			ret = make_dir(c, parent, n->name, &n->dst);
		else if (LINUX_S_ISLNK(in->i_mode) &&
			 !ext2fs_is_fast_symlink(in) &&
			 !(in->i_flags & EXT4_INLINE_DATA_FL))
			ret = make_symlink(c, i, parent, &n->dst);
		else
			ret = clone_raw(c, i, parent, &n->dst);
		if (ret)
			c->s->bad_ino = n->src;
	}
	return ret;
}

errcode_t rfl_snapshot(struct rfl_fs *rfs, ext2_ino_t src, ext2_ino_t parent,
		       const char *name, struct rfl_snapshot *s)
{
	struct sctx c = { .rfs = rfs, .fs = rfs->fs, .s = s };
	ext2_ino_t found;
	errcode_t ret;
	size_t i;

	memset(s, 0, sizeof(*s));
	if (rfs->in_txn || !name || !*name || strchr(name, '/') ||
	    strlen(name) > EXT2_NAME_LEN)
		return RFL_ET_BAD_ARG;
	if (!(rfs->fs->flags & EXT2_FLAG_RW))
		return EXT2_ET_RO_FILSYS;
	if (!rfl_has_feature(rfs->fs))
		return RFL_ET_NO_FEATURE;
	ret = ext2fs_check_directory(c.fs, parent);
	ret = ret ?: ext2fs_check_directory(c.fs, src);
	if (ret)
		return ret;
	ret = ext2fs_lookup(c.fs, parent, name, strlen(name), NULL, &found);
	if (!ret)
		return EXT2_ET_FILE_EXISTS;
	if (ret != EXT2_ET_FILE_NOT_FOUND)
		return ret;
	c.isize = EXT2_INODE_SIZE(c.fs->super);
	c.ibuf = calloc(1, c.isize);
	c.ibuf2 = calloc(1, c.isize);
	c.blk = malloc(c.fs->blocksize + 1);
	if (!c.ibuf || !c.ibuf2 || !c.blk) {
		ret = EXT2_ET_NO_MEMORY;
		goto out;
	}
	ret = ext2fs_read_bitmaps(c.fs);
	if (!ret && !rfs->meta_map)
		ret = e2fs_meta_map_build(c.fs, &rfs->meta_map);
	ret = ret ?: plan(&c, src);
	ret = ret ?: check_space(&c);
	if (ret)
		goto out;

	/* FORMAT.md 7.8: flags, counts, the new tree, its name */
	s->wrote = true;
	ret = allocate(&c);
	ret = ret ?: flag_sources(&c);
	ret = ret ?: rfl_refs_load(rfs, &c.refs, &s->records);
	ret = ret ?: build(&c, parent);
	/* all of it on disk before a name makes it reachable */
	ret = ret ?: ext2fs_flush(c.fs);
	ret = ret ?: rfl_link(c.fs, parent, name, c.n[0].dst, EXT2_FT_DIR);
out:
	for (i = 0; i < c.nr; i++)
		free(c.n[i].name);
	free(c.n);
	free(c.x);
	free(c.t);
	free(c.links);
	rfl_bruns_free(&c.refs);
	free(c.ibuf);
	free(c.ibuf2);
	free(c.blk);
	return ret;
}

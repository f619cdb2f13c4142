// SPDX-License-Identifier: GPL-2.0
/*
 * mkfs_profile.c - what mke2fs.conf says for an ext4 of a given size and
 * usage types, read as mke2fs reads it.
 *
 * The file is parsed by the profile library of MIT krb5 (libkrb5):
 * e2fsprogs' own profile code is a copy of it, but libext2fs does not
 * export it, so mke2fs.conf and this reader see the same syntax.
 *
 * The rules are mke2fs's (misc/mke2fs.c, parse_fs_type and
 * get_*_from_profile): the types are the filesystem type then the usage
 * types (-T, else the size type); an integer is [defaults] then each type
 * in order, the last one set winning; a string is the last type that has
 * it, else [defaults]; the features are base_features, then each type's
 * features, then default_features, each an -O style edit of the last.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <e2p/e2p.h>
#include <profile.h>

#include "mkfs/rfl_mkfs.h"

#define MAX_TYPES	16

struct prof_ctx {
	profile_t prof;
	const char *types[MAX_TYPES + 1];
	int nr_types;
	char *buf;		/* the usage types, split in place */
};

static errcode_t why(struct rfl_mkfs *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static errcode_t why(struct rfl_mkfs *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->why, sizeof(m->why), fmt, ap);
	va_end(ap);
	return EXT2_ET_INVALID_ARGUMENT;
}

static bool has_type(profile_t prof, const char *type)
{
	const char *names[] = { "fs_types", NULL };
	char **list = NULL;
	bool found = false;
	int i;

	if (profile_get_subsection_names(prof, names, &list) || !list)
		return false;
	for (i = 0; list[i]; i++)
		if (!strcmp(list[i], type))
			found = true;
	profile_free_list(list);
	return found;
}

static int get_int(struct prof_ctx *c, const char *key, int def)
{
	int v = def, i;

	profile_get_integer(c->prof, "defaults", key, NULL, def, &v);
	for (i = 0; i < c->nr_types; i++)
		profile_get_integer(c->prof, "fs_types", c->types[i], key, v,
				    &v);
	return v;
}

/* A string the caller frees; NULL when out of memory */
static char *get_str(struct prof_ctx *c, const char *key, const char *def)
{
	char *v = NULL, *dup;
	int i;

	for (i = c->nr_types - 1; i >= 0; i--) {
		if (!profile_get_string(c->prof, "fs_types", c->types[i], key,
					NULL, &v) && v)
			goto found;
	}
	if (profile_get_string(c->prof, "defaults", key, NULL, def, &v) || !v)
		return strdup(def);
found:
	dup = strdup(v);
	profile_release_string(v);
	return dup;
}

static errcode_t edit(struct rfl_mkfs *m, const char *what, const char *list,
		      __u32 features[3])
{
	if (!list || !*list)
		return 0;
	if (e2p_edit_feature2(list, features, NULL, NULL, NULL, NULL))
		return why(m, "invalid filesystem option set in mke2fs.conf "
			   "(%s): %s", what, list);
	return 0;
}

/*
 * The type list: fs_type, then each usage type mke2fs.conf defines
 * ("default" and unknown ones are left out, with mke2fs's warning).
 */
static errcode_t build_types(struct rfl_mkfs *m, struct prof_ctx *c,
			     const char *fs_type, const char *usage,
			     FILE *warn)
{
	char *tok, *save = NULL;

	c->types[c->nr_types++] = fs_type;
	if (!has_type(c->prof, fs_type) && warn)
		fprintf(warn, "\nYour mke2fs.conf file does not define the "
			"%s filesystem type.\n", fs_type);
	c->buf = strdup(usage);
	if (!c->buf)
		return EXT2_ET_NO_MEMORY;
	for (tok = strtok_r(c->buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!has_type(c->prof, tok)) {
			if (strcmp(tok, "default") && warn)
				fprintf(warn, "\nWarning: the fs_type %s is not "
					"defined in mke2fs.conf\n\n", tok);
			continue;
		}
		if (c->nr_types == MAX_TYPES)
			return why(m, "too many usage types: %s", usage);
		c->types[c->nr_types++] = tok;
	}
	c->types[c->nr_types] = NULL;
	return 0;
}

/* what mke2fs -v says */
static void print_types(const struct prof_ctx *c, FILE *info)
{
	int i;

	fputs("fs_types for mke2fs.conf resolution: ", info);
	for (i = 0; i < c->nr_types; i++)
		fprintf(info, "%s'%s'", i ? ", " : "", c->types[i]);
	fputs("\n", info);
}

static errcode_t apply(struct rfl_mkfs *m, struct prof_ctx *c,
		       __u32 features[3])
{
	char *s;
	errcode_t ret;
	long page;
	int i, v;

	memset(features, 0, 3 * sizeof(features[0]));
	s = get_str(c, "base_features", "sparse_super,large_file,filetype,"
		    "resize_inode,dir_index");
	if (!s)
		return EXT2_ET_NO_MEMORY;
	ret = edit(m, "base_features", s, features);
	free(s);
	for (i = 0; !ret && i < c->nr_types; i++) {
		s = NULL;
		if (profile_get_string(c->prof, "fs_types", c->types[i],
				       "features", "", &s) || !s)
			continue;
		ret = edit(m, c->types[i], s, features);
		profile_release_string(s);
	}
	if (ret)
		return ret;
	s = get_str(c, "default_features", "");
	if (!s)
		return EXT2_ET_NO_MEMORY;
	ret = edit(m, "default_features", s, features);
	free(s);
	if (ret)
		return ret;

	if (!m->block_size) {
		v = get_int(c, "blocksize", 4096);
		if (v == -1) {		/* "the page size" (largefile) */
			page = sysconf(_SC_PAGESIZE);
			v = page > 0 ? (int)page : 4096;
		}
		if (v <= 0)
			return why(m, "invalid blocksize %d in mke2fs.conf", v);
		if (m->sector_size > (unsigned int)v)
			v = (int)m->sector_size;
		m->block_size = (unsigned int)v;
	}
	if (!m->inode_size) {
		v = get_int(c, "inode_size", 0);
		if (v < 0)
			return why(m, "invalid inode_size %d in mke2fs.conf", v);
		m->inode_size = (unsigned int)v;
	}
	if (!m->inode_ratio) {
		v = get_int(c, "inode_ratio", 8192);
		if (v <= 0)
			return why(m, "invalid inode_ratio %d in mke2fs.conf",
				   v);
		if ((unsigned int)v < m->block_size)
			v = (int)m->block_size;
		m->inode_ratio = (unsigned int)v;
	}
	if (!m->flex_bg_size) {
		v = get_int(c, "flex_bg_size", 16);
		if (v <= 0)
			return why(m, "invalid flex_bg_size %d in mke2fs.conf",
				   v);
		m->flex_bg_size = (unsigned long)v;
	}
	return 0;
}

errcode_t rfl_mkfs_profile(struct rfl_mkfs *m, const char *path,
			   const char *fs_type, const char *usage_types,
			   unsigned long long bytes, FILE *warn, FILE *info,
			   __u32 features[3])
{
	const_profile_filespec_t files[2] = { path, NULL };
	struct prof_ctx c = { .prof = NULL };
	errcode_t ret;
	long err;

	m->why[0] = 0;
	if (access(path, F_OK)) {
		if (errno != ENOENT)
			return why(m, "cannot read %s: %s", path,
				   strerror(errno));
		/* as mke2fs: no file, the built-in defaults */
		rfl_mkfs_default_features(features);
		return 0;
	}
	err = profile_init(files, &c.prof);
	if (err) {
		why(m, "syntax error in %s: %s", path, error_message(err));
		return EXT2_ET_INVALID_ARGUMENT;
	}
	if (!usage_types)
		usage_types = rfl_mkfs_size_type(bytes);
	ret = build_types(m, &c, fs_type, usage_types, warn);
	if (!ret && info)
		print_types(&c, info);
	if (!ret)
		ret = apply(m, &c, features);
	free(c.buf);
	profile_release(c.prof);
	return ret;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * rd_snapshot.c - snapshot SRC DST: an offline snapshot of a directory
 * tree inside the image (lib/dedup/rfl_snapshot.h): directories copied,
 * regular files cloned onto the same blocks, one refcount load per flex
 * group.
 */
#include <stdlib.h>
#include <string.h>

#include "refdebug.h"
#include "dedup/rfl_snapshot.h"

void do_snapshot(RD_ARGS)
{
	struct rfl_snapshot s;
	ext2_ino_t src, dir;
	const char *name;
	char *dst;
	errcode_t ret;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 2, 2, "SRC DST") ||
	    !rd_need_rw(argv[0]))
		return;
	src = rd_lookup(argv[0], argv[1]);
	dst = strdup(argv[2]);
	if (!src || !dst)
		goto out;
	/* DST: a new name in a directory that exists */
	while (strlen(dst) > 1 && dst[strlen(dst) - 1] == '/')
		dst[strlen(dst) - 1] = '\0';
	dir = rd_parent_of(argv[0], argv[2], dst, "directory", &name);
	if (!dir)
		goto out;
	ret = rfl_snapshot(rd.rfs, src, dir, name, &s);
	if (ret) {
		if (s.bad_ino)
			rd_com_err(argv[0], ret, "%s (inode %u)", argv[1],
				   s.bad_ino);
		else
			rd_com_err(argv[0], ret, "%s", argv[2]);
		if (s.wrote)
			rd_err(argv[0], "the image needs reflinkck -fy, then "
			       "e2fsck -fy after --strip");
		goto out;
	}
	printf("snapshot: %llu files, %llu directories, %llu symlinks, "
	       "%llu special, %llu hard links; %llu data blocks shared, "
	       "%llu refcount records\n", (ull)s.files, (ull)s.dirs,
	       (ull)s.symlinks, (ull)s.specials, (ull)s.hardlinks,
	       (ull)s.shared, (ull)s.records);
out:
	free(dst);
}

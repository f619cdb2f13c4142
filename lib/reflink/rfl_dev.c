// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_dev.c - device names and the version line, shared by mkreflink,
 * reflinkck and refdebug.
 */
#include <stdlib.h>
#include <string.h>
#include <blkid/blkid.h>
#include <ext2fs/ext2fs.h>

#include "reflink/rfl_dev.h"

char *rfl_resolve_device(const char *arg)
{
	blkid_cache cache = NULL;
	char *dev;

	if (!strchr(arg, '='))
		return strdup(arg);
	if (blkid_get_cache(&cache, NULL) < 0)
		return NULL;
	dev = blkid_get_devname(cache, arg, NULL);
	if (!dev) {
		/* a cached device may have changed (a loop device reused) */
		blkid_probe_all(cache);
		dev = blkid_get_devname(cache, arg, NULL);
	}
	blkid_put_cache(cache);
	return dev;
}

void rfl_print_version(FILE *f, const char *prog)
{
	const char *lib_ver = NULL;

	ext2fs_get_library_version(&lib_ver, NULL);
	fprintf(f, "%s %s (%s)\n\tUsing EXT2FS Library version %s\n", prog,
		RFL_VERSION, RFL_DATE, lib_ver ? lib_ver : "?");
}

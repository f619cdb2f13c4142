/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfl_dev.h - what every program of the toolkit says and takes alike:
 * the device named as LABEL=/UUID= (through libblkid, as tune2fs and
 * e2fsck take it) and the -V version line.
 */
#ifndef RFL_DEV_H
#define RFL_DEV_H

#include <stdio.h>

#include "rfl_version.h"

/*
 * The device arg names: LABEL=label and UUID=uuid through the blkid
 * cache, anything else as given.  A malloc'ed string, or NULL when
 * nothing answers to it.
 */
char *rfl_resolve_device(const char *arg);

/* "prog 0.1 (date)" and the libext2fs version, e2fsprogs' -V lines */
void rfl_print_version(FILE *f, const char *prog);

#endif

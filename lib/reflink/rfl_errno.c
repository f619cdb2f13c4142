// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_errno.c - the one place a negative errno from the kernel-shareable
 * tree code becomes an errcode_t of reflink_err.et.
 */
#include "reflink/rfl.h"

errcode_t rfl_errcode(int err)
{
	switch (err) {
	case -EFSCORRUPTED:
	case -EFSBADCRC:
		return RFL_ET_CORRUPT_TREE;
	case -ENOSPC:
		return RFL_ET_NO_SPACE;
	case -EOVERFLOW:
		return RFL_ET_COUNT_OVERFLOW;
	case -EFBIG:
		return RFL_ET_TREE_TOO_DEEP;
	case -EINVAL:
		return RFL_ET_BAD_ARG;
	default:
		/* errcode_t values below 256 are errnos, as com_err counts */
		return err < 0 ? (errcode_t)-err : (errcode_t)err;
	}
}

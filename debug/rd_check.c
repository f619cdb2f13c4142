// SPDX-License-Identifier: GPL-2.0
/*
 * rd_check.c - check: every reflinkck pass in no-modify mode (lib/check),
 * on the image the shell has open.
 */
#include "check/check.h"
#include "refdebug.h"

void do_check(RD_ARGS)
{
	struct rfl_check_opts o = {
		.mode = RFL_NO,
		.progress_fd = -1,
		.out = stdout,
		.err = stderr,
		.prog = "check",
	};
	errcode_t ret;
	int rc;

	(void)sci_idx;
	(void)infop;
	if (!rd_check_args(argc, argv, 0, 0, "") || !rd_need_open(argv[0]))
		return;
	/* the checker reads the disk: bitmaps and counts must be there */
	if (rd.rw) {
		ret = ext2fs_flush(rd_fs());
		if (ret) {
			rd_com_err(argv[0], ret, "writing the bitmaps");
			return;
		}
	}
	o.device = rd.image;
	fflush(stdout);
	rc = rfl_check_run(&o);
	fflush(stdout);
	printf("check: exit status %d\n", rc);
	if (rc)
		rd.failed = true;
}

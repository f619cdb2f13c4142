// SPDX-License-Identifier: GPL-2.0
/*
 * reflinkck.c - check and repair the reflink metadata of an ext4 image,
 * with e2fsck's options and exit codes (../shared/REFERENCE.md).  The
 * passes live in lib/check (check.h).
 *
 *	reflinkck [-n|-p|-a|-y] [-f] [-v] [-V] [-C fd] [-z undo_file] device
 *
 * device may be LABEL=label or UUID=uuid, as for e2fsck.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/check.h"
#include "reflink/rfl_dev.h"

static const char *prog = "reflinkck";

/* lib/kcompat/crc32c.c; kcompat.h's types clash with ext2fs.h's */
extern __u32 crc32c(__u32 crc, const void *buf, unsigned int len);

/*
 * libext2fs verifies every inode, directory block and descriptor it reads
 * with ext2fs_crc32c_le, a table-driven crc32c that cost a third of a
 * check's instructions.  It calls it through its PLT, so this definition
 * in the program takes those calls (ELF interposition) and gives them
 * the crc32 instruction where the CPU has it: the same function (the
 * Castagnoli polynomial, no inversion; test_crc32c holds lib/kcompat's
 * crc32c to libext2fs's own), every checksum still verified.  Here, not
 * in libreflink.a: a test linking the archive would get it instead of
 * the libext2fs function it compares with.
 */
__u32 ext2fs_crc32c_le(__u32 crc, unsigned char const *p, size_t len)
{
	const size_t chunk = 1u << 30;

	for (; len > chunk; len -= chunk, p += chunk)
		crc = crc32c(crc, p, chunk);
	return crc32c(crc, p, len);
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: %s [-n|-p|-a|-y] [-f] [-v] [-V] [-C fd] [-z undo_file] "
		"device\n\n"
		" -n  check only, open read-only, answer no\n"
		" -p  fix what is safe without asking (-a is the same)\n"
		" -y  answer yes to every question\n"
		" -f  also stock e2fsck's checks outside the feature (on a "
		"snapshot)\n"
		" -v  print statistics\n"
		" -V  print the version and exit\n"
		" -C fd  progress as \"pass done total device\" lines on fd "
		"(0: a bar)\n"
		" -z file  save what repairs overwrite, for e2undo\n", prog);
	exit(RFL_EXIT_USAGE);
}

int main(int argc, char **argv)
{
	struct rfl_check_opts o = {
		.mode = RFL_ASK, .progress_fd = -1, .out = stdout,
		.err = stderr, .prog = prog,
	};
	int opt, modes = 0, code;
	char *end;
	long fd;

	while ((opt = getopt(argc, argv, "npayfvVC:z:")) != -1) {
		switch (opt) {
		case 'n': o.mode = RFL_NO; modes++; break;
		case 'a':
		case 'p': o.mode = RFL_PREEN; modes++; break;
		case 'y': o.mode = RFL_YES; modes++; break;
		case 'f': o.whole = true; break;
		case 'v': o.verbose = true; break;
		case 'V':
			rfl_print_version(stderr, prog);
			exit(RFL_EXIT_OK);
		case 'C':
			fd = strtol(optarg, &end, 10);
			if (*end || fd < 0 || fd > 1 << 20) {
				fprintf(stderr, "%s: bad progress fd '%s'\n",
					prog, optarg);
				exit(RFL_EXIT_USAGE);
			}
			/* e2fsck: a closed fd is an error, not silence */
			if (fd > 0 && fcntl((int)fd, F_GETFD) < 0) {
				fprintf(stderr, "%s: Error validating file "
					"descriptor %ld: %s\n", prog, fd,
					strerror(errno));
				exit(RFL_EXIT_ERROR);
			}
			o.progress_fd = fd;
			break;
		case 'z': o.undo_file = optarg; break;
		default: usage();
		}
	}
	if (modes > 1) {
		fprintf(stderr, "%s: Only one of the options -p/-a, -n or -y "
			"may be specified.\n", prog);
		exit(RFL_EXIT_USAGE);
	}
	if (optind != argc - 1)
		usage();
	o.device = argv[optind];
	if (o.mode == RFL_ASK && !isatty(0)) {
		fprintf(stderr, "%s: need terminal for interactive repairs\n",
			prog);
		exit(RFL_EXIT_ERROR);
	}
	if (o.undo_file && o.mode == RFL_NO) {
		fprintf(stderr, "%s: -z makes no sense with -n (nothing is "
			"written)\n", prog);
		exit(RFL_EXIT_USAGE);
	}
	o.device = rfl_resolve_device(argv[optind]);
	if (!o.device) {
		fprintf(stderr, "%s: Unable to resolve '%s'\n", prog,
			argv[optind]);
		exit(RFL_EXIT_ERROR);
	}
	code = rfl_check_run(&o);
	free((char *)o.device);
	return code;
}

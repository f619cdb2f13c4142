// SPDX-License-Identifier: GPL-2.0
/*
 * reflinkck.c - check and repair the reflink metadata of an ext4 image,
 * with e2fsck's options and exit codes (misc/reflinkck.8).  The passes
 * live in lib/check (check.h).
 *
 *	reflinkck [-n|-p|-a|-y] [-f] [-v] [-V] [-C fd] [-z undo_file] device
 *
 * device may be LABEL=label or UUID=uuid, as for e2fsck.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/check.h"
#include "reflink/rfl_json.h"
#include "rfl_version.h"
#include "reflink/rfl_dev.h"

static const char *prog = "reflinkck";

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
		" -z file  save what repairs overwrite, for e2undo\n"
		" --format json  the problems and the summary as one JSON "
		"object\n", prog);
	exit(RFL_EXIT_USAGE);
}

/* --format json: the run as one object on stdout (reflinkck(8) keys) */
static void print_json(const struct rfl_check_opts *o, const char *problems,
		       const struct rfl_check_summary *r, int rc)
{
	fputs("{\"device\": ", stdout);
	rfl_json_str(stdout, o->device);
	printf(", \"problems\": [%s], \"summary\": ",
	       problems ? problems : "");
	if (r->done)
		printf("{\"extents\": %llu, \"shared_blocks\": %llu, "
		       "\"records\": %llu, \"tree_blocks\": %llu, "
		       "\"flex_groups\": %u}", r->extents, r->shared_blocks,
		       r->records, r->tree_blocks, r->flex_groups);
	else
		fputs("null", stdout);
	printf(", \"fixed\": %u, \"left\": %u, \"exit_status\": %d}\n",
	       r->fixed, r->left, rc);
}

static int run_json(struct rfl_check_opts *o)
{
	struct rfl_check_summary r = { .done = false };
	char *text = NULL, *problems = NULL;
	size_t text_len = 0, len = 0;
	int rc;

	/* the text report is not printed; the problems and numbers are */
	o->out = open_memstream(&text, &text_len);
	o->json = open_memstream(&problems, &len);
	if (!o->out || !o->json) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return RFL_EXIT_ERROR;
	}
	o->summary = &r;
	rc = rfl_check_run(o);
	fclose(o->out);
	fclose(o->json);
	print_json(o, problems, &r, rc);
	free(text);
	free(problems);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	struct rfl_check_opts o = {
		.mode = RFL_ASK, .progress_fd = -1, .out = stdout,
		.err = stderr, .prog = prog,
	};
	int opt, modes = 0, code;
	char *end;
	long fd;

	while ((opt = getopt_long(argc, argv, "npayfvVC:z:", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'F':
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				fprintf(stderr, "%s: --format json or text, "
					"not '%s'\n", prog, optarg);
				exit(RFL_EXIT_USAGE);
			}
			json = !strcmp(optarg, "json");
			break;
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
	/* e2fsck's banner, on stderr; preening stays quiet */
	if (o.mode != RFL_PREEN)
		fprintf(stderr, "%s %s (%s)\n", prog, RFL_VERSION, RFL_DATE);
	if (json && o.mode == RFL_ASK) {
		fprintf(stderr, "%s: --format json needs -n, -p or -y (no "
			"questions)\n", prog);
		exit(RFL_EXIT_USAGE);
	}
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
	code = json ? run_json(&o) : rfl_check_run(&o);
	free((char *)o.device);
	return code;
}

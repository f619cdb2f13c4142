// SPDX-License-Identifier: GPL-2.0
/*
 * mkreflink.c - make an ext4 filesystem with reflink, or add the feature
 * to an existing one, or take it away again.
 *
 *	mkreflink [options] DEVICE [FS-SIZE]	format (lib/mkfs does the work)
 *	mkreflink --enable DEVICE		add reflink in place
 *	mkreflink --strip [--unshare] DEVICE	remove it
 *
 * Options, messages and exit codes follow mke2fs: 0 done, 1 error or
 * refusal (usage errors print the usage on stderr and exit 1 too).  A
 * refusal writes nothing and says why on one line of stderr.
 *
 * This file holds main, the messages and the opening of the device; the
 * rest is in misc/mkreflink_*.c (mkreflink.h lists them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <blkid/blkid.h>
#include "reflink/rfl_dev.h"

#include "mkreflink.h"

const char *prog = "mkreflink";

static void free_opts(struct opts *o)
{
	size_t i;

	for (i = 0; i < o->nr_opt_args; i++)
		free(o->opt_args[i]);
	free(o->opt_args);
	free((char *)o->device);
	free((char *)o->size_arg);
	free((char *)o->hash_seed_arg);
	free((char *)o->target);
	free(o->features_arg);
	free(o->dev);
	memset(o, 0, sizeof(*o));
}

/* One line on stderr: "mkreflink: <text>" */
void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void say(const struct opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- */
/* The device                                                        */
/* ---------------------------------------------------------------- */

/*
 * What libblkid recognises on dev, as mke2fs words it ("contains a ext4
 * file system labelled 'x'"), or NULL.  *type gets the TYPE found.
 */
char *probe_contents(const char *dev, char **type)
{
	const char *val = NULL, *label = NULL;
	char *what = NULL;
	blkid_probe pr;
	int rc;

	*type = NULL;
	pr = blkid_new_probe_from_filename(dev);
	if (!pr)
		return NULL;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE |
					  BLKID_SUBLKS_LABEL);
	blkid_probe_enable_partitions(pr, 1);
	rc = blkid_do_safeprobe(pr);
	if (rc == -2) {
		if (asprintf(&what, "contains more than one filesystem "
			     "signature") < 0)
			what = NULL;
	} else if (rc == 0) {
		if (!blkid_probe_lookup_value(pr, "TYPE", &val, NULL)) {
			*type = strdup(val);
			if (!blkid_probe_lookup_value(pr, "LABEL", &label,
						      NULL) && *label)
				rc = asprintf(&what, "contains a %s file "
					      "system labelled '%s'", val,
					      label);
			else
				rc = asprintf(&what, "contains a %s file "
					      "system", val);
		} else if (!blkid_probe_lookup_value(pr, "PTTYPE", &val,
						     NULL)) {
			rc = asprintf(&what, "contains a %s partition table",
				      val);
		}
		if (rc < 0)
			what = NULL;
	}
	blkid_free_probe(pr);
	return what;
}

/* LABEL=... and UUID=... as tune2fs takes them (lib/reflink/rfl_dev.c) */
static char *resolve_device(const char *arg)
{
	return rfl_resolve_device(arg);
}

/* Undo files are replaced, never appended to, as in e2fsprogs */
bool prepare_undo(const struct opts *o)
{
	if (!o->undo_file)
		return true;
	if (unlink(o->undo_file) && errno != ENOENT) {
		com_err(prog, errno, "while trying to delete %s",
			o->undo_file);
		return false;
	}
	say(o, "Overwriting existing filesystem; this can be undone using "
	    "the command:\n    e2undo %s %s\n\n", o->undo_file, o->dev);
	return true;
}

/* SOURCE_DATE_EPOCH: every timestamp of a reproducible image */
static bool source_date_epoch(time_t *now)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	unsigned long long v;
	char *end;

	*now = 0;
	if (!s || !*s)
		return true;
	errno = 0;
	v = strtoull(s, &end, 10);
	/* 0 would mean "now" to libext2fs; the superblock holds 32 bits */
	if (errno || *end || *s == '-' || !v || v > 0xffffffffULL) {
		fail("SOURCE_DATE_EPOCH must be seconds since 1970 in 1.."
		     "4294967295, not '%s'", s);
		return false;
	}
	*now = (time_t)v;
	return true;
}

int refuse_open(const struct opts *o, errcode_t ret, const char *doing)
{
	char *what = NULL, *type = NULL;

	switch (ret) {
	case EXT2_ET_BAD_MAGIC:
	case EXT2_ET_SHORT_READ:
	case EXT2_ET_CORRUPT_SUPERBLOCK:
	case EXT2_ET_UNEXPECTED_BLOCK_SIZE:
		what = probe_contents(o->dev, &type);
		com_err(prog, RFL_ET_NOT_EXT4, "while %s %s%s%s%s", doing,
			o->dev, type ? " (it holds " : "", type ? type : "",
			type ? ")" : "");
		free(what);
		free(type);
		break;
	case RFL_ET_MOUNTED:
		com_err(prog, ret, "while %s %s; unmount it first", doing,
			o->dev);
		break;
	default:
		com_err(prog, ret, "while %s %s", doing, o->dev);
	}
	return EXIT_FAIL;
}

int open_rw(const struct opts *o, const char *doing,
	    struct rfl_fs **rfsp)
{
	int flags = RFL_OPEN_RW;
	errcode_t ret;

	if (o->mode == MODE_ENABLE)
		flags |= RFL_OPEN_NO_FEATURE;
	/* strip on bad descriptors writes only the superblock (rfl_disable) */
	if (o->mode == MODE_STRIP && !o->unshare)
		flags |= RFL_OPEN_BAD_DESC;
	if (o->undo_file) {
		if (!prepare_undo(o))
			return EXIT_FAIL;
		flags |= RFL_OPEN_UNDO;
	}
	ret = rfl_open(o->dev, flags, o->undo_file, rfsp);
	if (ret)
		return refuse_open(o, ret, doing);
	/* s_wtime and friends, for reproducible images */
	if (o->m.now)
		(*rfsp)->fs->now = o->m.now;
	return EXIT_OK;
}

/* Write out and close rfs, or say why not */
int close_rw(const struct opts *o, struct rfl_fs *rfs)
{
	errcode_t ret = rfl_close(rfs);

	if (ret) {
		com_err(prog, ret, "while writing out and closing %s", o->dev);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/*
 * A step on rfs failed with ret: end the line its "...: " began, drop
 * rfs unwritten and say "while <doing> <device>"
 */
int step_failed(const struct opts *o, struct rfl_fs *rfs, errcode_t ret,
		const char *doing)
{
	if (!o->quiet)
		putchar('\n');
	rfl_abandon(rfs);
	com_err(prog, ret, "while %s %s", doing, o->dev);
	return EXIT_FAIL;
}

int main(int argc, char **argv)
{
	struct opts o = { .m.reserved_pct = -1, .m.lazy_itable_init = -1,
			  .progress_fd = -1 };
	int rc;

	add_error_table(&et_ext2_error_table);
	initialize_rfl_error_table();
	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv, &o);
	if (!source_date_epoch(&o.m.now))
		return EXIT_FAIL;

	if (o.mode == MODE_FORMAT) {
		rc = do_format(&o);
		/* a failed format leaves no half-made file of ours behind */
		if (rc && o.created)
			unlink(o.dev);
	} else {
		o.dev = resolve_device(o.device);
		if (!o.dev) {
			fail("unable to resolve '%s'", o.device);
			rc = EXIT_FAIL;
		} else {
			rc = o.mode == MODE_DEDUP ? do_dedup(&o) :
			     o.mode == MODE_ENABLE ? do_enable(&o) :
			     do_strip(&o);
		}
	}
	free_opts(&o);
	return rc;
}

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
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <blkid/blkid.h>
#include <e2p/e2p.h>
#include "reflink/rfl_dev.h"
#include <popt.h>
#include <uuid/uuid.h>

#include "check/check.h"
#include "mkfs/rfl_mkfs.h"
#include "populate/rfl_populate.h"
#include "dedup/rfl_dedup.h"
#include "reflink/rfl.h"
#include "reflink/rfl_space.h"

#include "reflink/rfl_share.h"

#define MKREFLINK_VERSION	"0.1"
#define MKREFLINK_DATE		"23-Nov-2025"

#define EXIT_OK		0
#define EXIT_FAIL	1	/* mke2fs uses 1 for errors and usage alike */

static const char *prog = "mkreflink";

enum mode { MODE_FORMAT, MODE_ENABLE, MODE_STRIP, MODE_DEDUP };

struct opts {
	enum mode mode;
	bool enable, strip, unshare;
	bool quiet, dry_run, verbose;
	int force;
	const char *undo_file;
	const char *device;		/* as given */
	char *dev;			/* LABEL=/UUID= resolved */
	const char *size_arg;
	const char *usage_types;	/* -T */
	char *features_arg;		/* every -O, joined */
	const char *uuid_arg;
	const char *hash_seed_arg;
	const char *root_dir;		/* -d: copy this tree in */
	const char *target;		/* -E root=: into this directory */
	int progress_fd;		/* -C: -1 none, 0 the terminal */
	bool no_dedup, keep_zero;
	bool dedup;			/* --dedup: share an image's copies */
	unsigned int min_run;		/* --min-run */
	bool created;			/* we made the image file */
	struct rfl_mkfs m;
	char **opt_args;		/* popt's option arguments, ours */
	size_t nr_opt_args;
};

/*
 * Every option argument popt hands out is ours to free; the fields above
 * point into them, so they live until free_opts.
 */
static char *keep_opt_arg(struct opts *o, char *arg)
{
	char **v;

	if (!arg)
		return NULL;
	v = realloc(o->opt_args, (o->nr_opt_args + 1) * sizeof(*v));
	if (!v) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(EXIT_FAIL);
	}
	o->opt_args = v;
	v[o->nr_opt_args++] = arg;
	return arg;
}

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

static void usage(void)
{
	fprintf(stderr,
		"Usage: %s [-b block-size] [-i bytes-per-inode] "
		"[-I inode-size]\n"
		"\t[-J size=journal-size-MiB] [-G flex-group-size] "
		"[-N number-of-inodes]\n"
		"\t[-m reserved-blocks-percentage] [-L volume-label] "
		"[-U UUID]\n"
		"\t[-O feature[,...]] [-E extended-option[,...]] "
		"[-t ext4] [-T usage-type]\n"
		"\t[-e errors-behavior] [-z undo_file] "
		"[-d root-directory [--no-dedup] [--keep-zero] [-C fd]]\n"
		"\t[-jnqvFV] device [fs-size]\n"
		"       %s --enable [-nqF] [-z undo_file] "
		"[-d root-directory [-E root=path] ...] device\n"
		"       %s --strip [--unshare] [-nqF] [-z undo_file] device\n"
		"       %s [--enable] --dedup [--min-run blocks] [-C fd] "
		"[-nqF] [-z undo_file] device\n",
		prog, prog, prog, prog);
	exit(EXIT_FAIL);
}

/* One line on stderr: "mkreflink: <text>" */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void say(const struct opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(const struct opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static void show_version(void)
{
	const char *lib_ver = NULL;

	ext2fs_get_library_version(&lib_ver, NULL);
	fprintf(stderr, "%s %s (%s)\n\tUsing EXT2FS Library version %s\n",
		prog, MKREFLINK_VERSION, MKREFLINK_DATE,
		lib_ver ? lib_ver : "?");
}

/* ---------------------------------------------------------------- */
/* Option parsing                                                    */
/* ---------------------------------------------------------------- */

static unsigned long long parse_uint(const char *opt, const char *arg,
				     unsigned long long max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || end == arg || *end || *arg == '-' || v > max) {
		fail("invalid %s - %s", opt, arg);
		exit(EXIT_FAIL);
	}
	return v;
}

static void parse_uuid_arg(const char *what, const char *arg,
			   unsigned char *uuid)
{
	if (!strcasecmp(arg, "null") || !strcasecmp(arg, "clear"))
		uuid_clear(uuid);
	else if (!strcasecmp(arg, "time"))
		uuid_generate_time(uuid);
	else if (!strcasecmp(arg, "random"))
		uuid_generate(uuid);
	else if (uuid_parse(arg, uuid)) {
		fail("could not parse %s: %s", what, arg);
		exit(EXIT_FAIL);
	}
}

/* -O: kept as given, applied over mke2fs.conf's features when formatting */
static void parse_features(struct opts *o, const char *arg)
{
	char *all;

	if (asprintf(&all, "%s%s%s", o->features_arg ? o->features_arg : "",
		     o->features_arg ? "," : "", arg) < 0) {
		fail("out of memory");
		exit(EXIT_FAIL);
	}
	free(o->features_arg);
	o->features_arg = all;
}

/*
 * -O without "reflink", which libe2p has no name for: the format always
 * makes it, so "reflink" is a no-op and "^reflink" a refusal.
 */
static char *features_without_reflink(const char *arg)
{
	char *list = strdup(arg), *out = calloc(1, strlen(arg) + 1);
	char *tok, *save = NULL, *name;

	if (!list || !out) {
		fail("out of memory");
		exit(EXIT_FAIL);
	}
	for (tok = strtok_r(list, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		name = tok + (*tok == '^' || *tok == '-' || *tok == '+');
		if (!strcasecmp(name, "reflink")) {
			if (name != tok && *tok != '+') {
				fail("reflink cannot be turned off here; "
				     "mke2fs makes ext4 without it");
				exit(EXIT_FAIL);
			}
			continue;
		}
		if (*out)
			strcat(out, ",");
		strcat(out, tok);
	}
	free(list);
	return out;
}

/*
 * The feature set: mke2fs.conf's (or the built-in ext4 one), then -O
 * through libe2p.  A feature -O asks for that the format cannot make is
 * refused by name; one that mke2fs.conf asks for is left out, with a
 * warning.
 */
static bool apply_features(struct opts *o, __u32 features[3])
{
	struct rfl_mkfs *m = &o->m;
	int type_err = 0, w;
	unsigned int mask_err = 0;
	__u32 ok[3], drop;
	char *list;
	bool good = true;

	rfl_mkfs_supported_features(ok);
	if (o->features_arg) {
		list = features_without_reflink(o->features_arg);
		if (e2p_edit_feature2(list, features, ok, NULL, &type_err,
				      &mask_err)) {
			if (mask_err)
				fail("feature %s is not supported by %s",
				     e2p_feature2string(type_err &
						E2P_FEATURE_TYPE_MASK,
						mask_err), prog);
			else
				fail("Invalid filesystem option set: %s",
				     o->features_arg);
			good = false;
		}
		free(list);
		if (!good)
			return false;
	}
	for (w = 0; w < 3; w++) {
		drop = features[w] & ~ok[w];
		while (drop) {
			__u32 bit = drop & -drop;

			fprintf(stderr, "Warning: mke2fs.conf asks for "
				"feature %s, which %s does not make; left "
				"out\n", e2p_feature2string(w, bit), prog);
			drop &= ~bit;
		}
		features[w] &= ok[w];
		m->feat_on[w] = features[w];
		m->feat_off[w] = ~features[w];
	}
	return true;
}

/*
 * -E: hash_seed=, root_owner[=uid:gid], lazy_itable_init[=0|1], ...,
 * and root=PATH (where -d copies to).  True if any option shapes a new
 * filesystem, which --enable refuses.
 */
static bool parse_extended(struct opts *o, const char *arg)
{
	char *list = strdup(arg), *tok, *save = NULL, *val;
	struct rfl_mkfs *m = &o->m;
	bool format = false;

	if (!list) {
		fail("out of memory");
		exit(EXIT_FAIL);
	}
	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		val = strchr(tok, '=');
		if (val)
			*val++ = 0;
		if (!strcmp(tok, "root") && val && *val) {
			free((char *)o->target);
			o->target = strdup(val);
			continue;
		}
		format = true;
		if (!strcmp(tok, "hash_seed") && val) {
			free((char *)o->hash_seed_arg);
			o->hash_seed_arg = strdup(val);
		} else if (!strcmp(tok, "root_owner")) {
			unsigned long uid, gid;
			char *end;

			if (!val) {
				m->root_uid = getuid();
				m->root_gid = getgid();
				continue;
			}
			errno = 0;
			uid = strtoul(val, &end, 0);
			if (errno || end == val || *end != ':')
				goto bad;
			val = end + 1;
			gid = strtoul(val, &end, 0);
			if (errno || end == val || *end || uid > UINT_MAX ||
			    gid > UINT_MAX)
				goto bad;
			m->root_uid = (uid_t)uid;
			m->root_gid = (gid_t)gid;
		} else if (!strcmp(tok, "lazy_itable_init")) {
			m->lazy_itable_init = val ? atoi(val) != 0 : 1;
		} else if (!strcmp(tok, "lazy_journal_init")) {
			m->lazy_journal_init = val ? atoi(val) != 0 : true;
		} else if (!strcmp(tok, "nodiscard") && !val) {
			m->nodiscard = true;
		} else if (!strcmp(tok, "discard") && !val) {
			m->nodiscard = false;
		} else {
			goto bad;
		}
	}
	free(list);
	return format;
bad:
	fail("Bad option(s) specified: %s (extended options are "
	     "hash_seed=UUID, root_owner[=UID:GID], lazy_itable_init[=0|1], "
	     "lazy_journal_init[=0|1], discard, nodiscard, root=PATH)", arg);
	exit(EXIT_FAIL);
}

/* -J size=N (MiB), the one journal option an internal journal needs */
static void parse_journal(struct opts *o, const char *arg)
{
	if (strncmp(arg, "size=", 5)) {
		fail("Bad journal options specified: %s (only size=MiB is "
		     "supported)", arg);
		exit(EXIT_FAIL);
	}
	o->m.journal_mb = (unsigned int)parse_uint("journal size", arg + 5,
						   10240000);
	o->m.feat_on[0] |= EXT3_FEATURE_COMPAT_HAS_JOURNAL;
	o->m.feat_off[0] &= ~EXT3_FEATURE_COMPAT_HAS_JOURNAL;
}

enum {
	OPT_STRIP = 1000,
	OPT_UNSHARE,
	OPT_ENABLE,
	OPT_ERRORS,
	OPT_HELP,
	OPT_NO_DEDUP,
	OPT_KEEP_ZERO,
	OPT_DEDUP,
	OPT_MIN_RUN,
};

/* mke2fs options mkreflink does not take, refused by name */
static const struct {
	char opt;
	const char *what;
} unsupported[] = {
	{ 'c', "checking the device for bad blocks" },
	{ 'l', "a bad blocks list" },
	{ 'g', "blocks per group" },
	{ 'o', "the creator OS" },
	{ 'r', "the revision" },
	{ 's', "the sparse_super flag (use -O)" },
	{ 'D', "direct I/O" },
	{ 'K', "keeping discarded blocks (use -E nodiscard)" },
	{ 'M', "the last mounted directory" },
	{ 'R', "RAID options (use -E)" },
	{ 'S', "writing superblocks and descriptors only" },
};

static void refuse_unsupported(int c)
{
	size_t i;

	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (unsupported[i].opt == c)
			fail("-%c (%s) is not supported by %s", c,
			     unsupported[i].what, prog);
	exit(EXIT_FAIL);
}

/* What the options left for the checks after them */
struct parse_state {
	const char *bs_arg;
	bool version;
	int format_opt;		/* the last option that shapes a new fs */
};

static int parse_errors_behavior(const char *arg)
{
	if (!strcmp(arg, "continue"))
		return EXT2_ERRORS_CONTINUE;
	if (!strcmp(arg, "remount-ro"))
		return EXT2_ERRORS_RO;
	if (!strcmp(arg, "panic"))
		return EXT2_ERRORS_PANIC;
	fail("bad error behavior - %s", arg);
	usage();
	return 0;
}

/* -i: bytes per inode, with mke2fs's suffixes (libe2p) */
static unsigned int parse_inode_ratio(const char *arg)
{
	unsigned long long v = parse_num_blocks2(arg, -1);

	if (*arg == '-' || v < EXT2_MIN_BLOCK_SIZE ||
	    v > EXT2_MAX_BLOCK_SIZE * 1024ULL) {
		fail("invalid inode ratio %s (min %d/max %d)", arg,
		     EXT2_MIN_BLOCK_SIZE, EXT2_MAX_BLOCK_SIZE * 1024);
		exit(EXIT_FAIL);
	}
	return (unsigned int)v;
}

/* -b, after every option was read */
static unsigned int parse_block_size(const char *arg)
{
	unsigned long long v = parse_num_blocks2(arg, -1);

	if (*arg == '-' || v < EXT2_MIN_BLOCK_SIZE ||
	    v > EXT2_MAX_BLOCK_SIZE || (v & (v - 1))) {
		fail("invalid block size - %s", arg);
		exit(EXIT_FAIL);
	}
	if (v > 4096)
		fprintf(stderr, "Warning: blocksize %llu not usable on most "
			"systems.\n", v);
	return (unsigned int)v;
}

static void parse_label(struct rfl_mkfs *m, char *arg)
{
	if (strlen(arg) > EXT2_LABEL_LEN) {
		arg[EXT2_LABEL_LEN] = 0;
		fprintf(stderr, "Warning: label too long; will be truncated "
			"to '%s'\n\n", arg);
	}
	m->label = arg;
}

static void parse_reserved(struct rfl_mkfs *m, const char *arg)
{
	char *end;

	m->reserved_pct = strtod(arg, &end);
	if (*end || end == arg || m->reserved_pct < 0 ||
	    m->reserved_pct > 50) {
		fail("invalid reserved blocks percent - %s", arg);
		exit(EXIT_FAIL);
	}
}

static void parse_progress_fd(struct opts *o, const char *arg)
{
	o->progress_fd = (int)parse_uint("progress fd", arg, INT_MAX);
	if (o->progress_fd > 0 && fcntl(o->progress_fd, F_GETFD) < 0) {
		fail("bad progress fd - %s", arg);
		exit(EXIT_FAIL);
	}
}

/* The options that shape a new filesystem */
static void geometry_option(struct opts *o, struct parse_state *st, int c,
			    char *arg)
{
	struct rfl_mkfs *m = &o->m;

	switch (c) {
	case 'b':
		st->bs_arg = arg;
		break;
	case 'L':
		parse_label(m, arg);
		break;
	case 'U':
		o->uuid_arg = arg;
		break;
	case 'N':
		m->nr_inodes = parse_uint("number of inodes", arg, ~0ULL);
		break;
	case 'i':
		m->inode_ratio = parse_inode_ratio(arg);
		break;
	case 'I':
		m->inode_size = (unsigned int)parse_uint("inode size", arg,
							 65536);
		break;
	case 'G':
		m->flex_bg_size = (unsigned long)parse_uint("flex_bg size",
							    arg, 0x80000000UL);
		/* 0 is not "the default": mke2fs refuses it too */
		if (!m->flex_bg_size ||
		    (m->flex_bg_size & (m->flex_bg_size - 1))) {
			fail("flex_bg size must be a power of 2");
			exit(EXIT_FAIL);
		}
		break;
	case 'm':
		parse_reserved(m, arg);
		break;
	case 'J':
		parse_journal(o, arg);
		break;
	case 'j':
		parse_features(o, "has_journal");
		break;
	case 'O':
		parse_features(o, arg);
		break;
	case 't':
		if (strcmp(arg, "ext4")) {
			fail("-t %s is not supported by %s: it makes ext4 "
			     "only", arg, prog);
			exit(EXIT_FAIL);
		}
		break;
	case 'T':
		o->usage_types = arg;
		break;
	case 'e':
	case OPT_ERRORS:
		m->errors = parse_errors_behavior(arg);
		break;
	}
}

static void other_option(struct opts *o, struct parse_state *st, int c,
			 char *arg)
{
	switch (c) {
	case 'E':
		if (parse_extended(o, arg))
			st->format_opt = c;
		break;
	case 'z':
		o->undo_file = arg;
		break;
	case 'd':
		o->root_dir = arg;
		break;
	case 'C':
		parse_progress_fd(o, arg);
		break;
	case OPT_NO_DEDUP:
		o->no_dedup = true;
		break;
	case OPT_KEEP_ZERO:
		o->keep_zero = true;
		break;
	case 'q':
		o->quiet = true;
		break;
	case 'v':
		o->verbose = true;
		break;
	case 'n':
		o->dry_run = true;
		break;
	case 'F':
		o->force++;
		break;
	case 'V':
		st->version = true;
		break;
	case OPT_ENABLE:
		o->enable = true;
		break;
	case OPT_STRIP:
		o->strip = true;
		break;
	case OPT_UNSHARE:
		o->unshare = true;
		break;
	case OPT_DEDUP:
		o->dedup = true;
		break;
	case OPT_MIN_RUN:
		o->min_run = (unsigned int)parse_uint("minimum run", arg,
						      32768);
		if (!o->min_run) {
			fail("invalid minimum run %s (at least 1 block)", arg);
			exit(EXIT_FAIL);
		}
		break;
	case OPT_HELP:
		usage();
		break;
	default:
		refuse_unsupported(c);
	}
}

/* Which options go together, once all were read */
static void check_combinations(struct opts *o, const struct parse_state *st,
			       int nr_args)
{
	if (o->enable && o->strip) {
		fail("--enable and --strip are mutually exclusive");
		usage();
	}
	if (o->unshare && !o->strip) {
		fail("--unshare goes with --strip");
		usage();
	}
	o->mode = o->enable ? MODE_ENABLE : o->strip ? MODE_STRIP :
		  o->dedup ? MODE_DEDUP : MODE_FORMAT;
	if (o->dedup && (o->strip || o->root_dir)) {
		fail("--dedup does not go with %s", o->strip ? "--strip" :
		     "-d (which stores identical blocks once already)");
		usage();
	}
	if (o->min_run && !o->dedup) {
		fail("--min-run goes with --dedup");
		usage();
	}
	if (o->mode != MODE_FORMAT && nr_args > 1) {
		fail("%s takes no size", o->enable ? "--enable" : o->strip ?
		     "--strip" : "--dedup");
		usage();
	}
	if (nr_args > 2)
		usage();
	if (o->mode != MODE_FORMAT && st->format_opt) {
		if (st->format_opt == OPT_ERRORS)
			fail("--errors only applies when formatting");
		else
			fail("-%c only applies when formatting",
			     st->format_opt);
		usage();
	}
	if ((o->no_dedup || o->keep_zero) && !o->root_dir) {
		fail("--%s goes with -d", o->no_dedup ? "no-dedup" :
		     "keep-zero");
		usage();
	}
	if ((o->target || (o->progress_fd >= 0 && !o->dedup)) &&
	    !o->root_dir) {
		fail("%s goes with -d", o->target ? "-E root=" : "-C");
		usage();
	}
	if (o->root_dir && o->mode == MODE_STRIP) {
		fail("-d does not go with --strip");
		usage();
	}
}

#define OPT_ARG(c)	{ NULL, c, POPT_ARG_STRING, NULL, c, NULL, NULL }
#define OPT_FLAG(c)	{ NULL, c, POPT_ARG_NONE, NULL, c, NULL, NULL }
#define OPT_LONG(name, type, val) { name, 0, type, NULL, val, NULL, NULL }

static const struct poptOption option_table[] = {
	/* mke2fs's, with its letters */
	OPT_ARG('b'), OPT_ARG('L'), OPT_ARG('U'), OPT_ARG('N'), OPT_ARG('i'),
	OPT_ARG('I'), OPT_ARG('G'), OPT_ARG('m'), OPT_ARG('E'), OPT_ARG('J'),
	OPT_ARG('O'), OPT_ARG('z'), OPT_ARG('d'), OPT_ARG('C'), OPT_ARG('t'),
	OPT_ARG('T'), OPT_ARG('e'), OPT_FLAG('j'), OPT_FLAG('q'),
	OPT_FLAG('v'), OPT_FLAG('n'), OPT_FLAG('F'), OPT_FLAG('V'),
	/* mke2fs's that mkreflink refuses by name */
	OPT_FLAG('c'), OPT_ARG('l'), OPT_ARG('g'), OPT_ARG('o'), OPT_ARG('r'),
	OPT_ARG('s'), OPT_FLAG('D'), OPT_FLAG('K'), OPT_ARG('M'),
	OPT_ARG('R'), OPT_FLAG('S'),
	/* mkreflink's own */
	OPT_LONG("no-dedup", POPT_ARG_NONE, OPT_NO_DEDUP),
	OPT_LONG("keep-zero", POPT_ARG_NONE, OPT_KEEP_ZERO),
	OPT_LONG("enable", POPT_ARG_NONE, OPT_ENABLE),
	OPT_LONG("strip", POPT_ARG_NONE, OPT_STRIP),
	OPT_LONG("unshare", POPT_ARG_NONE, OPT_UNSHARE),
	OPT_LONG("dedup", POPT_ARG_NONE, OPT_DEDUP),
	OPT_LONG("min-run", POPT_ARG_STRING, OPT_MIN_RUN),
	OPT_LONG("errors", POPT_ARG_STRING, OPT_ERRORS),
	{ "help", 'h', POPT_ARG_NONE, NULL, OPT_HELP, NULL, NULL },
	POPT_TABLEEND
};

static void parse_args(int argc, char **argv, struct opts *o)
{
	struct parse_state st = { .bs_arg = NULL };
	const char **args;
	poptContext pc;
	char *arg;
	int c, n = 0;

	pc = poptGetContext(prog, argc, (const char **)argv, option_table, 0);
	while ((c = poptGetNextOpt(pc)) >= 0) {
		arg = keep_opt_arg(o, poptGetOptArg(pc));
		if ((c < 128 && strchr("bLUNiIGmJjOtTe", c)) ||
		    c == OPT_ERRORS) {
			st.format_opt = c;
			geometry_option(o, &st, c, arg);
		} else {
			other_option(o, &st, c, arg);
		}
	}
	if (c < -1) {
		fail("%s: %s", poptBadOption(pc, POPT_BADOPTION_NOALIAS),
		     poptStrerror(c));
		usage();
	}
	if (st.version) {
		show_version();
		exit(EXIT_OK);
	}

	args = poptGetArgs(pc);
	while (args && args[n])
		n++;
	if (!n)
		usage();
	o->device = strdup(args[0]);
	if (n > 1)
		o->size_arg = strdup(args[1]);
	poptFreeContext(pc);

	check_combinations(o, &st, n);
	if (st.bs_arg)
		o->m.block_size = parse_block_size(st.bs_arg);
}

/* ---------------------------------------------------------------- */
/* The device                                                        */
/* ---------------------------------------------------------------- */

/*
 * What libblkid recognises on dev, as mke2fs words it ("contains a ext4
 * file system labelled 'x'"), or NULL.  *type gets the TYPE found.
 */
static char *probe_contents(const char *dev, char **type)
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

/* mke2fs' "created on ..." line for an ext2/3/4 filesystem */
static void print_ext_info(const char *dev)
{
	ext2_filsys fs;
	time_t t;

	if (ext2fs_open2(dev, NULL, EXT2_FLAG_64BITS, 0, 0, unix_io_manager,
			 &fs))
		return;
	if (fs->super->s_mtime) {
		t = fs->super->s_mtime;
		printf("\tlast mounted on %s", ctime(&t));
	} else if (fs->super->s_mkfs_time) {
		t = fs->super->s_mkfs_time;
		printf("\tcreated on %s", ctime(&t));
	}
	ext2fs_free(fs);
}

/* The question mke2fs asks; anything but y/Y is no */
static bool proceed_question(void)
{
	char buf[256];

	fflush(stdout);
	fflush(stderr);
	fputs("Proceed anyway? (y,N) ", stdout);
	fflush(stdout);
	if (!fgets(buf, sizeof(buf), stdin) || !buf[0] ||
	    !strchr("yY", buf[0])) {
		putchar('\n');
		return false;
	}
	return true;
}

/* Refuse a mounted or busy device; true if we may go on */
static bool check_mount(const char *dev)
{
	int mf = 0;
	errcode_t ret;

	ret = ext2fs_check_if_mounted(dev, &mf);
	if (ret) {
		com_err(prog, ret, "while determining whether %s is mounted",
			dev);
		return false;
	}
	if (mf & EXT2_MF_MOUNTED) {
		fail("%s is mounted; will not make a filesystem here!", dev);
		return false;
	}
	if (mf & EXT2_MF_BUSY) {
		fail("%s is apparently in use by the system; will not make a "
		     "filesystem here!", dev);
		return false;
	}
	return true;
}

/* LABEL=... and UUID=... as tune2fs takes them (lib/reflink/rfl_dev.c) */
static char *resolve_device(const char *arg)
{
	return rfl_resolve_device(arg);
}

/* Undo files are replaced, never appended to, as in e2fsprogs */
static bool prepare_undo(const struct opts *o)
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

/* ---------------------------------------------------------------- */
/* Format                                                            */
/* ---------------------------------------------------------------- */

static int int_log10(unsigned long long v)
{
	int l = 0;

	for (; v >= 10; v /= 10)
		l++;
	return l;
}

static void show_summary(const struct opts *o, ext2_filsys fs)
{
	struct ext2_super_block *s = fs->super;
	int need, col_left = 0;
	blk64_t blk;
	char buf[40];
	dgrp_t g;

	printf("Creating filesystem with %llu %uk blocks and %u inodes\n",
	       (unsigned long long)ext2fs_blocks_count(s), fs->blocksize >> 10,
	       s->s_inodes_count);
	if (!uuid_is_null(s->s_uuid)) {
		uuid_unparse(s->s_uuid, buf);
		printf("Filesystem UUID: %s\n", buf);
	}
	if (o->m.nr_flex == 1)
		printf("Flex groups: 1 (all %u block group%s), one reflink "
		       "metadata block\n", fs->group_desc_count,
		       fs->group_desc_count == 1 ? "" : "s");
	else
		printf("Flex groups: %u of up to %u block groups, one reflink "
		       "metadata block each\n", o->m.nr_flex,
		       e2fs_flex_group_size(fs));
	if (fs->group_desc_count > 1) {
		fputs("Superblock backups stored on blocks: ", stdout);
		blk = s->s_first_data_block;
		for (g = 1; g < fs->group_desc_count; g++) {
			blk += s->s_blocks_per_group;
			if (!ext2fs_bg_has_super(fs, g))
				continue;
			if (g != 1)
				fputs(", ", stdout);
			need = int_log10(blk) + 3;
			if (need > col_left) {
				fputs("\n\t", stdout);
				col_left = 72;
			}
			col_left -= need;
			printf("%llu", (unsigned long long)blk);
		}
		putchar('\n');
	}
	putchar('\n');
}

/* Refuse to overwrite what libblkid recognises, unless -F or a yes */
static bool check_contents(const struct opts *o)
{
	char *what, *type;
	bool ok = true;

	/* told to overwrite: spare the probe, as mke2fs -F does */
	if (o->force)
		return true;
	what = probe_contents(o->dev, &type);
	if (!what)
		return true;
	if (o->dry_run) {
		say(o, "%s %s (a real run needs -F)\n", o->dev, what);
	} else if (isatty(0) && isatty(1)) {
		printf("%s %s\n", o->dev, what);
		if (type && !strncmp(type, "ext", 3))
			print_ext_info(o->dev);
		ok = proceed_question();
	} else {
		fail("%s %s; will not overwrite it without -F", o->dev, what);
		ok = false;
	}
	free(what);
	free(type);
	return ok;
}

static int open_rw(const struct opts *o, const char *doing,
		   struct rfl_fs **rfsp);

/* Progress of -d: e2fsck's -C conventions */
struct meter {
	const struct opts *o;
	int fd;				/* > 0: "pass cur max device" lines */
	unsigned int shown;		/* last permille (+1; 0 none yet) */
};

static void show_progress(struct rfl_populate *p, __u64 done, __u64 total)
{
	struct meter *m = p->progress_priv;
	unsigned long long cur = done >> 10, max = total >> 10;
	unsigned int pm;

	if (done > total)
		done = total;
	pm = total ? (unsigned int)(done * 1000 / total) : 1000;
	/* at most a thousand updates, however many files */
	if (pm + 1 == m->shown)
		return;
	m->shown = pm + 1;
	if (m->fd > 0) {
		if (cur > max)
			cur = max;
		dprintf(m->fd, "1 %llu %llu %s\n", cur, max, m->o->dev);
	} else {
		printf("%3u.%u%%\b\b\b\b\b\b", pm / 10, pm % 10);
		fflush(stdout);
	}
}

/* The inode of -E root=, a directory that must exist; 0 and a message if not */
static ext2_ino_t find_target(const struct opts *o, ext2_filsys fs)
{
	ext2_ino_t ino = 0;
	errcode_t ret;

	ret = ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, o->target, &ino);
	ret = ret ?: ext2fs_check_directory(fs, ino);
	if (!ret)
		return ino;
	fail("%s: no directory %s in it (-E root= must name one that "
	     "exists)", o->dev, o->target);
	return 0;
}

/*
 * A copy after --enable failed: enable has already written its metadata
 * and the feature (rfl_enable flushes as it goes), the copy nothing that
 * counts.  Take the feature off again, so the filesystem is the one
 * before.  The undo file, if any, already holds what enable changed.
 */
static void undo_enable(struct opts *o)
{
	const char *undo = o->undo_file;
	struct rfl_fs *rfs;
	bool shared = false;
	errcode_t ret;

	o->undo_file = NULL;
	o->mode = MODE_STRIP;
	if (open_rw(o, "removing reflink again from", &rfs))
		goto out;
	ret = rfl_disable(rfs, &shared);
	if (ret) {
		rfl_abandon(rfs);
		com_err(prog, ret, "while removing reflink again from %s",
			o->dev);
		goto out;
	}
	ret = rfl_close(rfs);
	if (ret)
		com_err(prog, ret, "while writing out and closing %s", o->dev);
	else
		fail("%s was left as it was (reflink removed again)", o->dev);
out:
	o->mode = MODE_ENABLE;
	o->undo_file = undo;
}

/*
 * -d: copy the tree into rfs, a filesystem with reflink, and close it.
 * On failure nothing of the copy reaches the superblock, the bitmaps or
 * a directory that was there before (rfl_populate): the image is left
 * as it was when rfs was opened.
 */
static int populate_close(struct opts *o, struct rfl_fs *rfs)
{
	struct rfl_populate p = {
		.src = o->root_dir,
		.no_dedup = o->no_dedup,
		.keep_zero = o->keep_zero,
		/* an existing filesystem's directories keep their own */
		.keep_meta = o->mode == MODE_ENABLE,
		/* set only by SOURCE_DATE_EPOCH */
		.build_time = o->m.now,
	};
	struct meter meter = { .o = o, .fd = o->progress_fd };
	errcode_t ret, space_ret = 1;
	struct rfl_space space;

	if (o->progress_fd > 0 || (o->progress_fd < 0 && !o->quiet &&
				   isatty(1)) ||
	    (o->progress_fd == 0 && !o->quiet)) {
		p.progress = show_progress;
		p.progress_priv = &meter;
	}
	if (o->target) {
		p.root = find_target(o, rfs->fs);
		if (!p.root) {
			rfl_abandon(rfs);
			if (o->mode == MODE_ENABLE)
				undo_enable(o);
			return EXIT_FAIL;
		}
	}
	say(o, "Copying files into the device: ");
	fflush(stdout);
	ret = rfl_populate(rfs, &p);
	if (ret) {
		if (!o->quiet)
			putchar('\n');
		rfl_abandon(rfs);
		if (ret == RFL_ET_NO_SPACE && p.more_blocks)
			fail("%s does not fit in %s: it needs %llu more blocks "
			     "of data (and room for their metadata)",
			     o->root_dir, o->dev,
			     (unsigned long long)p.more_blocks);
		else if (ret == RFL_ET_NO_SPACE)
			fail("%s does not fit in %s: no room left for the "
			     "refcount trees", o->root_dir, o->dev);
		else if (p.why_full)
			fail("%s", p.why);
		else if (p.why[0])
			com_err(prog, ret, "while copying %s", p.why);
		else
			com_err(prog, ret, "while copying %s into %s",
				o->root_dir, o->dev);
		if (o->mode == MODE_ENABLE)
			undo_enable(o);
		return EXIT_FAIL;
	}
	/* the space words of refdebug du and stats (rfl_space.h) */
	if (!o->quiet)
		space_ret = rfl_space_fs(rfs, &space);
	ret = rfl_close(rfs);
	if (ret) {
		com_err(prog, ret, "while writing out and closing %s", o->dev);
		return EXIT_FAIL;
	}
	/* the meter's last line ends where "done" starts */
	if (p.progress && meter.fd <= 0)
		fputs("      \b\b\b\b\b\b", stdout);
	say(o, "done\n");
	say(o, "%llu files, %llu directories, %llu symlinks, %llu special; "
	    "%llu data blocks stored as %llu (%llu mapped onto an earlier "
	    "one, %llu zero blocks left as holes)\n",
	    (unsigned long long)p.files, (unsigned long long)p.dirs,
	    (unsigned long long)p.symlinks, (unsigned long long)p.specials,
	    (unsigned long long)p.data_blocks, (unsigned long long)p.written,
	    (unsigned long long)p.deduped, (unsigned long long)p.zero_blocks);
	if (!space_ret)
		say(o, "space: total %llu exclusive %llu shared %llu saved "
		    "%llu bytes\n", (unsigned long long)space.total,
		    (unsigned long long)space.exclusive,
		    (unsigned long long)space.shared,
		    (unsigned long long)space.saved);
	return EXIT_OK;
}

/* --dedup's meter: the data read, in the units of -d's */
struct dedup_meter {
	struct meter m;			/* first: show_progress's priv */
	unsigned int bs;
};

static void dedup_progress(struct rfl_dedup *d, __u64 done, __u64 total)
{
	struct dedup_meter *dm = d->progress_priv;
	struct rfl_populate p = { .progress_priv = &dm->m };

	show_progress(&p, done * dm->bs, total * dm->bs);
}

/*
 * --dedup: share the copies of rfs's files (lib/dedup) and close it, or
 * with -n only say what it would free.  A failure before the first
 * write leaves the image as it was.
 */
static int dedup_close(struct opts *o, struct rfl_fs *rfs)
{
	struct rfl_dedup d = { .min_run = o->min_run, .dry_run = o->dry_run };
	struct dedup_meter dm = { { .o = o, .fd = o->progress_fd },
				  rfs->fs->blocksize };
	errcode_t ret;

	if (!o->dry_run && (o->progress_fd > 0 ||
			    (o->progress_fd < 0 && !o->quiet && isatty(1)) ||
			    (o->progress_fd == 0 && !o->quiet))) {
		d.progress = dedup_progress;
		d.progress_priv = &dm;
	}
	if (!o->dry_run) {
		say(o, "Deduplicating: ");
		fflush(stdout);
	}
	ret = rfl_dedup(rfs, &d);
	if (ret) {
		if (!o->quiet && !o->dry_run)
			putchar('\n');
		rfl_abandon(rfs);
		if (d.bad_ino)
			com_err(prog, ret, "while deduplicating %s (inode %u)",
				o->dev, d.bad_ino);
		else
			com_err(prog, ret, "while deduplicating %s", o->dev);
		if (d.wrote)
			fail("%s: run reflinkck -fy on it: an interrupted "
			     "dedup leaves leaked blocks", o->dev);
		else if (o->mode == MODE_ENABLE && !o->dry_run)
			undo_enable(o);
		return EXIT_FAIL;
	}
	ret = o->dry_run ? (rfl_abandon(rfs), 0) : rfl_close(rfs);
	if (ret) {
		com_err(prog, ret, "while writing out and closing %s", o->dev);
		return EXIT_FAIL;
	}
	if (d.progress && dm.m.fd <= 0)
		fputs("      \b\b\b\b\b\b", stdout);
	if (o->dry_run)
		printf("Dry run: %s: would free %llu blocks (%llu runs in "
		       "%llu files); %llu files read, %llu left alone, "
		       "%llu data blocks, %llu copies\n", o->dev,
		       (unsigned long long)d.freed,
		       (unsigned long long)d.runs,
		       (unsigned long long)d.files_changed,
		       (unsigned long long)d.files,
		       (unsigned long long)d.skipped,
		       (unsigned long long)d.blocks,
		       (unsigned long long)d.copies);
	else
		say(o, "done\n%s: %llu blocks freed (%llu runs in %llu "
		    "files); %llu files read, %llu left alone, %llu data "
		    "blocks, %llu copies; %lld extent-tree blocks, %llu "
		    "refcount records\n", o->dev,
		    (unsigned long long)d.freed, (unsigned long long)d.runs,
		    (unsigned long long)d.files_changed,
		    (unsigned long long)d.files,
		    (unsigned long long)d.skipped,
		    (unsigned long long)d.blocks,
		    (unsigned long long)d.copies, d.tree_blocks,
		    (unsigned long long)d.records);
	return EXIT_OK;
}

/* -d after a format: copy the tree into the image just made */
static int do_populate(struct opts *o)
{
	const char *undo = o->undo_file;
	struct rfl_fs *rfs;

	/* the format's undo file already covers the whole device */
	o->undo_file = NULL;
	if (open_rw(o, "copying files into", &rfs)) {
		o->undo_file = undo;
		return EXIT_FAIL;
	}
	o->undo_file = undo;
	return populate_close(o, rfs);
}

static int int_log2(unsigned long long v)
{
	int l = 0;

	while (v >>= 1)
		l++;
	return l;
}

/*
 * mke2fs.conf (or $MKE2FS_CONFIG): the geometry the options left open
 * and the features, then -O over them.
 */
static bool read_profile(struct opts *o)
{
	const char *path = getenv("MKE2FS_CONFIG");
	struct rfl_mkfs *m = &o->m;
	__u32 features[3];
	errcode_t ret;

	if (!path || !*path)
		path = "/etc/mke2fs.conf";
	ret = rfl_mkfs_profile(m, path, "ext4", o->usage_types,
			       m->size ? m->size : m->dev_size,
			       o->quiet ? NULL : stderr,
			       o->verbose ? stdout : NULL, features);
	if (ret) {
		if (m->why[0])
			fail("%s", m->why);
		else
			com_err(prog, ret, "while reading %s", path);
		return false;
	}
	return apply_features(o, features);
}

static int do_format(struct opts *o)
{
	struct rfl_mkfs *m = &o->m;
	unsigned long long dev_bytes = 0, unit, blocks;
	blk64_t count = 0;
	ext2_filsys fs = NULL;
	struct stat st;
	bool exists, is_dev = false;
	errcode_t ret;
	int sect = 0, fd;

	free(o->dev);
	o->dev = strdup(o->device);
	m->device = o->dev;
	if (o->size_arg) {
		/* in blocks of -b, else of 1 KiB, as mke2fs (libe2p) */
		unit = m->block_size ? m->block_size : 1024;
		blocks = parse_num_blocks2(o->size_arg,
					   int_log2(unit) - EXT2_MIN_BLOCK_LOG_SIZE);
		if (*o->size_arg == '-' || !blocks || blocks > ~0ULL / unit) {
			fail("invalid blocks '%s' on device '%s'",
			     o->size_arg, o->dev);
			return EXIT_FAIL;
		}
		m->size = blocks * unit;
	}
	if (!check_mount(o->dev))
		return EXIT_FAIL;

	exists = !stat(o->dev, &st);
	if (!exists && errno != ENOENT) {
		com_err(prog, errno, "while trying to open %s", o->dev);
		return EXIT_FAIL;
	}
	if (!exists && !m->size) {
		fail("The file %s does not exist and no size was specified.",
		     o->dev);
		return EXIT_FAIL;
	}
	if (exists) {
		is_dev = S_ISBLK(st.st_mode);
		ret = ext2fs_get_device_size2(o->dev, 1024, &count);
		if (ret && ret != EXT2_ET_UNIMPLEMENTED) {
			com_err(prog, ret, "while trying to determine "
				"filesystem size");
			return EXIT_FAIL;
		}
		dev_bytes = count * 1024;
		if (is_dev && !ext2fs_get_device_sectsize(o->dev, &sect) &&
		    sect > 0)
			m->sector_size = (unsigned int)sect;
		if (!m->size && !dev_bytes) {
			fail("Device size of %s reported to be zero; give a "
			     "size", o->dev);
			return EXIT_FAIL;
		}
		if (is_dev && m->size > dev_bytes && !o->force) {
			fail("Filesystem larger than apparent device size of "
			     "%s; -F to make it anyway", o->dev);
			return EXIT_FAIL;
		}
		if (dev_bytes && !check_contents(o))
			return EXIT_FAIL;
	}
	m->dev_size = dev_bytes;

	if (!read_profile(o))
		return EXIT_FAIL;
	ret = rfl_mkfs_plan(m);
	if (ret) {
		if (m->why[0] && ret == EXT2_ET_INVALID_ARGUMENT)
			fail("%s", m->why);
		else
			com_err(prog, ret, "while planning a filesystem on "
				"%s%s%s", o->dev, m->why[0] ? ": " : "",
				m->why);
		return EXIT_FAIL;
	}

	if (o->uuid_arg)
		parse_uuid_arg("UUID", o->uuid_arg, m->uuid);
	else
		uuid_generate(m->uuid);
	if (o->hash_seed_arg)
		parse_uuid_arg("hash seed", o->hash_seed_arg, m->hash_seed);
	else
		uuid_generate(m->hash_seed);

	m->dry_run = o->dry_run;
	if (!exists && !o->dry_run) {
		fd = open(o->dev, O_CREAT | O_WRONLY, 0666);
		if (fd < 0) {
			com_err(prog, errno, "while creating %s", o->dev);
			return EXIT_FAIL;
		}
		/*
		 * At its size at once: the undo io manager reads what each
		 * write replaces, and a short read of an empty file failed
		 * the format with -z
		 */
		if (o->size_arg && ftruncate(fd, (off_t)m->size)) {
			com_err(prog, errno, "while creating %s", o->dev);
			close(fd);
			unlink(o->dev);
			return EXIT_FAIL;
		}
		close(fd);
		o->created = true;
		say(o, "Creating regular file %s\n", o->dev);
	}
	if (!o->dry_run) {
		m->undo_file = o->undo_file;
		if (!prepare_undo(o))
			return EXIT_FAIL;
	}

	ret = rfl_mkfs_open(m, &fs);
	if (ret) {
		if (ret == EXT2_ET_INVALID_ARGUMENT && m->why[0])
			fail("%s", m->why);
		else
			com_err(prog, ret, "%s on %s", m->why[0] ? m->why :
				"while setting up superblock", o->dev);
		return EXIT_FAIL;
	}
	if (!o->quiet || o->dry_run)
		show_summary(o, fs);
	/* mke2fs goes on without one, and says so */
	if (ext2fs_has_feature_journal(&m->param) && !m->journal_blocks)
		say(o, "Filesystem too small for a journal\n");
	if (o->dry_run) {
		printf("Dry run: %s was not written.\n", o->dev);
		ext2fs_free(fs);
		return EXIT_OK;
	}

	m->out = o->quiet ? NULL : stdout;
	ret = rfl_mkfs_write(m, fs);
	if (ret) {
		if (m->out)
			putchar('\n');
		com_err(prog, ret, "%s on %s", m->why[0] ? m->why :
			"while formatting", o->dev);
		/* the undo file, if any, still covers what was written */
		ext2fs_free(fs);
		return EXIT_FAIL;
	}
	say(o, "Writing superblocks and filesystem accounting information: ");
	fflush(stdout);
	ret = ext2fs_close_free(&fs);
	if (ret) {
		com_err(prog, ret, "while writing out and closing file system");
		return EXIT_FAIL;
	}
	say(o, "done\n\n");
	return o->root_dir ? do_populate(o) : EXIT_OK;
}

/* ---------------------------------------------------------------- */
/* Enable and strip                                                  */
/* ---------------------------------------------------------------- */

/* Missing feature names after the first, for the refusal line */
static void missing_features(ext2_filsys fs, errcode_t first, char *buf,
			     size_t len)
{
	static const struct {
		errcode_t code;
		const char *name;
	} need[] = {
		{ RFL_ET_NEED_64BIT, "64bit" },
		{ RFL_ET_NEED_EXTENTS, "extent" },
		{ RFL_ET_NEED_FLEX_BG, "flex_bg" },
	};
	struct ext2_super_block *sb = fs->super;
	bool has[3];
	size_t i, n = 0;

	has[0] = ext2fs_has_feature_64bit(sb) &&
		 EXT2_DESC_SIZE(sb) >= EXT2_MIN_DESC_SIZE_64BIT;
	has[1] = ext2fs_has_feature_extents(sb);
	has[2] = ext2fs_has_feature_flex_bg(sb);
	buf[0] = 0;
	for (i = 0; i < 3; i++) {
		if (has[i] || need[i].code == first)
			continue;
		n += snprintf(buf + n, n < len ? len - n : 0, "%s%s",
			      n ? ", " : "; it also lacks ", need[i].name);
	}
}

/* How to get what rfl_check_features() found missing */
static const char *feature_hint(errcode_t code)
{
	switch (code) {
	case RFL_ET_NEED_64BIT:
		return "; convert it with 'resize2fs -b %s' first";
	case RFL_ET_NEED_EXTENTS:
		return "; 'tune2fs -O extent %s' adds it (files made without "
		       "extents never share)";
	case RFL_ET_NEED_FLEX_BG:
		return "; 'tune2fs -O flex_bg %s' adds it";
	case RFL_ET_BIGALLOC:
		return "; reflink counts blocks, not clusters";
	case RFL_ET_SHARED_BLOCKS:
		return "; its files share blocks without counts: "
		       "'e2fsck -fE unshare_blocks %s' gives each its own "
		       "copy, then --enable";
	default:
		return NULL;
	}
}

static int refuse_open(const struct opts *o, errcode_t ret, const char *doing)
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

/* An image made before the reserve: --enable run again adds them */
static bool lacks_reserve(struct rfl_fs *rfs)
{
	struct rfl_group *grp;
	dgrp_t fg;

	for (fg = 0; fg < rfs->nr_flex; fg++)
		if (rfl_group_load(rfs, fg, &grp) || !grp->resv_len)
			return true;
	return false;
}

/* Room for every flex group's reserve (FORMAT.md 4.4), or say what lacks */
static int reserve_precheck(const struct opts *o, struct rfl_fs *rfs)
{
	blk64_t missing = 0;
	errcode_t ret;

	ret = rfl_enable_missing(rfs, &missing);
	if (ret) {
		com_err(prog, ret, "while sizing the reserves of %s", o->dev);
		return EXIT_FAIL;
	}
	if (!missing)
		return EXIT_OK;
	fail("%s: no room for the refcount tree reserves: %llu more free "
	     "blocks needed (in runs, one per flex group)", o->dev,
	     (unsigned long long)missing);
	return EXIT_FAIL;
}

/* A shared_blocks image is converted: what else reflink needs */
static errcode_t shared_features(ext2_filsys fs)
{
	__u32 *ro = &fs->super->s_feature_ro_compat;
	errcode_t ret;

	*ro &= ~EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS;
	ret = rfl_check_features(fs);
	*ro |= EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS;
	return ret;
}

/*
 * Everything that would make enable refuse, checked on a read-only open
 * so a refusal leaves no trace, not even an undo file.
 */
/* Stock e2fsck -fn's exit status on dev, its output thrown away */
static int stock_check(const char *dev)
{
	int status, fd;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("e2fsck", "e2fsck", "-fn", dev, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * --enable and --dedup allocate from the block bitmap and give files new
 * extent trees: a bitmap that calls a file's block free would put the
 * metadata block, the reserve or a new tree over its data.  resize2fs
 * asks for a fresh e2fsck -f for the same reason; this runs the check
 * itself, read-only: stock e2fsck on an image without reflink,
 * reflinkck's passes on one that has it.
 */
static bool checked_clean(const struct opts *o, bool has_feature)
{
	struct rfl_check_opts co = {
		.device = o->dev, .mode = RFL_NO, .progress_fd = -1,
		.prog = prog,
	};
	const char *tool = has_feature ? "reflinkck" : "e2fsck";
	FILE *null;
	int rc;

	if (has_feature) {
		null = fopen("/dev/null", "w");
		if (!null)
			return false;
		co.out = co.err = null;
		rc = rfl_check_run(&co);
		fclose(null);
	} else {
		rc = stock_check(o->dev);
	}
	if (!rc)
		return true;
	if (rc < 0 || rc == 127)
		fail("%s: could not run %s -fn on it; nothing was written "
		     "(-F skips the check)", o->dev, tool);
	else
		fail("%s: %s -fn finds damage (exit %d): repair it first "
		     "(%s), or force with -F; nothing was written", o->dev,
		     tool, rc, has_feature ? "reflinkck -fy" : "e2fsck -f");
	return false;
}

static int precheck(const struct opts *o, const char *doing, int flags,
		    dgrp_t *nr_flex)
{
	char extra[128], line[512];
	struct ext2_super_block *sb;
	struct rfl_fs *rfs = NULL;
	const char *hint;
	errcode_t ret;

	ret = rfl_open(o->dev, flags, NULL, &rfs);
	if (ret)
		return refuse_open(o, ret, doing);
	sb = rfs->fs->super;
	*nr_flex = rfs->nr_flex;
	ret = 0;
	if ((sb->s_feature_incompat & ~EXT2_LIB_FEATURE_INCOMPAT_SUPP) ||
	    (sb->s_feature_ro_compat & ~(EXT2_LIB_FEATURE_RO_COMPAT_SUPP |
					 EXT4_FEATURE_RO_COMPAT_REFLINK)))
		ret = RFL_ET_UNKNOWN_FEATURE;
	else if (o->mode == MODE_ENABLE && rfl_has_feature(rfs->fs) &&
		 (o->root_dir || !lacks_reserve(rfs)))
		ret = RFL_ET_HAS_FEATURE;
	if (ret) {
		rfl_abandon(rfs);
		com_err(prog, ret, "while %s %s", doing, o->dev);
		return EXIT_FAIL;
	}
	if (o->mode == MODE_ENABLE) {
		ret = rfl_check_features(rfs->fs);
		if (ret == RFL_ET_SHARED_BLOCKS)
			ret = shared_features(rfs->fs);
		if (ret) {
			missing_features(rfs->fs, ret, extra, sizeof(extra));
			hint = feature_hint(ret);
			snprintf(line, sizeof(line), hint ? hint : "", o->dev);
			rfl_abandon(rfs);
			com_err(prog, ret, "while %s %s%s%s", doing, o->dev,
				line, extra);
			return EXIT_FAIL;
		}
	}
	if (o->mode == MODE_ENABLE && reserve_precheck(o, rfs)) {
		rfl_abandon(rfs);
		return EXIT_FAIL;
	}
	if (o->target && !find_target(o, rfs->fs)) {
		rfl_abandon(rfs);
		return EXIT_FAIL;
	}
	if (!o->force && ext2fs_has_feature_journal_needs_recovery(sb)) {
		rfl_abandon(rfs);
		fail("%s needs journal recovery; mount it or run e2fsck "
		     "first", o->dev);
		return EXIT_FAIL;
	}
	if (!o->force && (!(sb->s_state & EXT2_VALID_FS) ||
			  (sb->s_state & EXT2_ERROR_FS))) {
		rfl_abandon(rfs);
		fail("%s is not clean; run e2fsck -f first (or -F)", o->dev);
		return EXIT_FAIL;
	}
	if (!o->force && (o->mode == MODE_ENABLE || o->mode == MODE_DEDUP)) {
		bool has = rfl_has_feature(rfs->fs);

		rfl_abandon(rfs);
		rfs = NULL;
		if (!checked_clean(o, has))
			return EXIT_FAIL;
	}
	rfl_abandon(rfs);
	return EXIT_OK;
}

static dgrp_t count_meta(const struct rfl_fs *rfs)
{
	dgrp_t fg, n = 0, gpf = e2fs_flex_group_size(rfs->fs);

	/* released groups too: bg_reserved is the pointer */
	for (fg = 0; fg < rfs->nr_flex; fg++)
		if (rfl_bg_reserved(rfs->fs, fg * gpf))
			n++;
	return n;
}

static int open_rw(const struct opts *o, const char *doing,
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

/* --dedup [-n]: on an image with reflink, or (-n) one about to get it */
static int do_dedup(struct opts *o)
{
	int flags = o->mode == MODE_ENABLE ? RFL_OPEN_NO_FEATURE : 0;
	struct rfl_fs *rfs;
	dgrp_t nr_flex;
	errcode_t ret;

	if (o->mode == MODE_DEDUP &&
	    !rfl_open(o->dev, RFL_OPEN_NO_FEATURE, NULL, &rfs)) {
		bool has = rfl_has_feature(rfs->fs);

		rfl_abandon(rfs);
		if (!has) {
			fail("%s has no reflink feature: --enable --dedup "
			     "adds it first", o->dev);
			return EXIT_FAIL;
		}
	}
	if (o->mode == MODE_DEDUP &&
	    precheck(o, "deduplicating", 0, &nr_flex))
		return EXIT_FAIL;
	if (!o->dry_run)
		return open_rw(o, "deduplicating", &rfs) ?:
		       dedup_close(o, rfs);
	ret = rfl_open(o->dev, flags, NULL, &rfs);
	if (ret)
		return refuse_open(o, ret, "deduplicating");
	return dedup_close(o, rfs);
}

/*
 * A shared_blocks image (mkreflink --strip, e2fsdroid -s) has its
 * sharing counted into the trees; any other gets empty ones
 */
static errcode_t enable(struct opts *o, struct rfl_fs *rfs)
{
	unsigned long long shared = 0, files = 0;
	errcode_t ret;

	if (!(rfs->fs->super->s_feature_ro_compat &
	      EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS))
		return rfl_enable(rfs);
	ret = rfl_enable_shared(rfs, &shared, &files);
	if (!ret)
		say(o, "%llu shared blocks counted, %llu files marked "
		    "EXT4_REFLINK_FL, shared_blocks cleared; ", shared, files);
	return ret;
}

static int do_enable(struct opts *o)
{
	static const char doing[] = "enabling reflink on";
	struct rfl_fs *rfs;
	dgrp_t nr_flex = 0, nr_meta;
	errcode_t ret;

	if (precheck(o, doing, RFL_OPEN_NO_FEATURE, &nr_flex))
		return EXIT_FAIL;
	if (o->dry_run) {
		printf("Dry run: would add reflink and a metadata block to "
		       "each of the %u flex groups of %s%s%s.\n", nr_flex,
		       o->dev, o->root_dir ? ", then copy in " : "",
		       o->root_dir ? o->root_dir : "");
		return o->dedup ? do_dedup(o) : EXIT_OK;
	}
	if (open_rw(o, doing, &rfs))
		return EXIT_FAIL;
	say(o, "Writing reflink metadata: ");
	fflush(stdout);
	ret = enable(o, rfs);
	if (ret) {
		if (!o->quiet)
			putchar('\n');
		rfl_abandon(rfs);
		com_err(prog, ret, "while %s %s", doing, o->dev);
		return EXIT_FAIL;
	}
	nr_meta = count_meta(rfs);
	if (o->dedup) {
		say(o, "done\n");
		return dedup_close(o, rfs);
	}
	if (o->root_dir) {
		/* one open: a failed copy leaves the feature off too */
		say(o, "done\n");
		if (populate_close(o, rfs))
			return EXIT_FAIL;
		say(o, "%s: reflink enabled; %u of %u flex groups have a "
		    "metadata block\n", o->dev, nr_meta, nr_flex);
		return EXIT_OK;
	}
	ret = rfl_close(rfs);
	if (ret) {
		com_err(prog, ret, "while writing out and closing %s", o->dev);
		return EXIT_FAIL;
	}
	say(o, "done\n");
	say(o, "%s: reflink enabled; %u of %u flex groups have a metadata "
	    "block\n", o->dev, nr_meta, nr_flex);
	return EXIT_OK;
}

static int do_strip(struct opts *o)
{
	static const char doing[] = "stripping reflink from";
	struct rfl_fs *rfs;
	bool shared = false;
	dgrp_t nr_flex = 0;
	errcode_t ret;

	if (precheck(o, doing, o->unshare ? 0 : RFL_OPEN_BAD_DESC, &nr_flex))
		return EXIT_FAIL;
	if (o->dry_run) {
		printf("Dry run: would %sremove reflink and its metadata "
		       "from %s.\n", o->unshare ? "unshare every file, then "
		       : "", o->dev);
		return EXIT_OK;
	}
	if (open_rw(o, doing, &rfs))
		return EXIT_FAIL;
	if (o->unshare) {
		say(o, "Unsharing files: ");
		fflush(stdout);
		ret = rfl_unshare_all(rfs);
		if (ret) {
			if (!o->quiet)
				putchar('\n');
			rfl_abandon(rfs);
			com_err(prog, ret, "while unsharing the files of %s",
				o->dev);
			return EXIT_FAIL;
		}
		say(o, "done\n");
	}
	say(o, "Removing reflink metadata: ");
	fflush(stdout);
	ret = rfl_disable(rfs, &shared);
	if (ret) {
		if (!o->quiet)
			putchar('\n');
		rfl_abandon(rfs);
		com_err(prog, ret, "while %s %s", doing, o->dev);
		return EXIT_FAIL;
	}
	ret = rfl_close(rfs);
	if (ret) {
		com_err(prog, ret, "while writing out and closing %s", o->dev);
		return EXIT_FAIL;
	}
	say(o, "done\n");
	if (shared)
		say(o, "%s: files still share blocks, so shared_blocks is set:"
		    " stock e2fsck accepts it, the kernel mounts it read-only "
		    "(--unshare copies them apart)\n", o->dev);
	else
		say(o, "%s: reflink removed\n", o->dev);
	return EXIT_OK;
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

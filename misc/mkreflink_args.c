// SPDX-License-Identifier: GPL-2.0
/*
 * mkreflink_args.c - mkreflink's command line: mke2fs's options as
 * mke2fs takes them, mkreflink's own, and which go together.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <e2p/e2p.h>
#include <popt.h>
#include <uuid/uuid.h>

#include "mkreflink.h"

#define MKREFLINK_VERSION	"0.1"
#define MKREFLINK_DATE		"23-Nov-2025"

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

void parse_uuid_arg(const char *what, const char *arg,
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
bool apply_features(struct opts *o, __u32 features[3])
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

void parse_args(int argc, char **argv, struct opts *o)
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

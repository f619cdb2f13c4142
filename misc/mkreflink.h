/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mkreflink.h - what the files of mkreflink share (private to misc/):
 *
 *	mkreflink.c		main, messages, opening the device
 *	mkreflink_args.c	the command line
 *	mkreflink_format.c	format, and -d's copy into a filesystem
 *	mkreflink_modes.c	--enable, --strip, --dedup and their prechecks
 */
#ifndef MKREFLINK_H
#define MKREFLINK_H

#include <stdbool.h>
#include <stddef.h>

#include "mkfs/rfl_mkfs.h"
#include "populate/rfl_populate.h"
#include "reflink/rfl.h"

#define EXIT_OK		0
#define EXIT_FAIL	1	/* mke2fs uses 1 for errors and usage alike */

extern const char *prog;

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

/* Progress of -d: e2fsck's -C conventions */
struct meter {
	const struct opts *o;
	int fd;				/* > 0: "pass cur max device" lines */
	unsigned int shown;		/* last permille (+1; 0 none yet) */
};

/* mkreflink.c */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void say(const struct opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
char *probe_contents(const char *dev, char **type);
bool prepare_undo(const struct opts *o);
int refuse_open(const struct opts *o, errcode_t ret, const char *doing);
int open_rw(const struct opts *o, const char *doing, struct rfl_fs **rfsp);
int close_rw(const struct opts *o, struct rfl_fs *rfs);
int step_failed(const struct opts *o, struct rfl_fs *rfs, errcode_t ret,
		const char *doing);

/* mkreflink_args.c */
void parse_args(int argc, char **argv, struct opts *o);
void parse_uuid_arg(const char *what, const char *arg, unsigned char *uuid);
bool apply_features(struct opts *o, __u32 features[3]);

/* mkreflink_format.c */
int do_format(struct opts *o);
void show_progress(struct rfl_populate *p, __u64 done, __u64 total);
bool want_meter(const struct opts *o);
ext2_ino_t find_target(const struct opts *o, ext2_filsys fs);
int populate_close(struct opts *o, struct rfl_fs *rfs);

/* mkreflink_modes.c */
void undo_enable(struct opts *o);
int do_dedup(struct opts *o);
int do_enable(struct opts *o);
int do_strip(struct opts *o);

#endif /* MKREFLINK_H */

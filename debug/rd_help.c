// SPDX-License-Identifier: GPL-2.0
/*
 * rd_help.c - help [COMMAND...]: libss's own help looks for an info
 * directory refdebug does not have ("No info directory (null)"), so a
 * named command is answered from the request tables instead.
 */
#include <string.h>
#include <ss/ss.h>

#include "refdebug.h"

extern ss_request_table refdebug_cmds;

/* The entry naming cmd in table t, or NULL */
static ss_request_entry *find_request(ss_request_table *t, const char *cmd)
{
	ss_request_entry *e;
	const char *const *n;

	for (e = t->requests; e->command_names; e++)
		for (n = e->command_names; *n; n++)
			if (!strcmp(*n, cmd))
				return e;
	return NULL;
}

static void print_request(ss_request_entry *e)
{
	const char *const *n;

	for (n = e->command_names; *n; n++)
		printf("%s%s", n == e->command_names ? "" : ", ", *n);
	printf(": %s\n", e->info_string ? e->info_string : "");
}

void do_help(RD_ARGS)
{
	ss_request_entry *e;
	int i;

	if (argc < 2) {
		ss_help(argc, argv, sci_idx, infop);
		return;
	}
	for (i = 1; i < argc; i++) {
		e = find_request(&refdebug_cmds, argv[i]);
		if (!e)
			e = find_request(&ss_std_requests, argv[i]);
		if (e)
			print_request(e);
		else
			rd_err(argv[0], "no such command: %s (help lists "
			       "them)", argv[i]);
	}
}

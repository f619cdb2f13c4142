// SPDX-License-Identifier: GPL-2.0
/*
 * problem.c - reflinkck's problem table and the question machinery
 *
 * Templates expand %-codes from struct rfl_pctx: %g flex group, %b block,
 * %l length, %i inode, %e expected, %f found, %m error message.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <et/com_err.h>
#include "check/problem.h"

struct rfl_problem_ent {
	enum rfl_problem code;
	const char *msg;		/* what is wrong */
	const char *question;		/* "Fix", "Rebuild", ... */
	const char *done;		/* what the fix did */
	unsigned int flags;
};

static const struct rfl_problem_ent problem_table[] = {
	{ PR_1_BAD_META,
	  "flex group %g: metadata block %b is invalid (%m)",
	  "Rebuild", "flex group %g: tree and metadata rebuilt",
	  PR_PREEN_OK },
	{ PR_1_META_RANGE,
	  "flex group %g: bg_reserved %b is not inside the flex group",
	  "Rebuild", "flex group %g: metadata block recreated",
	  PR_PREEN_OK },
	{ PR_2_BAD_TREE,
	  "flex group %g: refcount tree is corrupt (%m)",
	  "Rebuild", "flex group %g: tree rebuilt from the file extents",
	  PR_PREEN_OK },
};

static const struct rfl_problem_ent *find_problem(enum rfl_problem code)
{
	size_t i;

	for (i = 0; i < sizeof(problem_table) / sizeof(problem_table[0]); i++)
		if (problem_table[i].code == code)
			return &problem_table[i];
	return NULL;
}

static void expand(const char *tmpl, const struct rfl_pctx *p)
{
	const char *s;

	for (s = tmpl; *s; s++) {
		if (*s != '%' || !s[1]) {
			putchar(*s);
			continue;
		}
		switch (*++s) {
		case 'g': printf("%u", p->fg); break;
		case 'b': printf("%llu", (unsigned long long)p->blk); break;
		case 'l': printf("%llu", (unsigned long long)p->len); break;
		case 'i': printf("%u", p->ino); break;
		case 'e': printf("%llu", (unsigned long long)p->expected);
			break;
		case 'f': printf("%llu", (unsigned long long)p->found); break;
		case 'm': fputs(error_message(p->err), stdout); break;
		default: putchar('%'); putchar(*s); break;
		}
	}
}

/* Read y/n from the terminal; EOF or ^D cancels like e2fsck */
static int ask_tty(struct rfl_check_ctx *ctx)
{
	int c;

	fflush(stdout);
	for (;;) {
		c = getchar();
		if (c == EOF) {
			ctx->cancelled = true;
			return 0;
		}
		if (c == 'y' || c == 'Y')
			return 1;
		if (c == 'n' || c == 'N' || c == '\n')
			return 0;
	}
}

bool rfl_fix_problem(struct rfl_check_ctx *ctx, enum rfl_problem code,
		     const struct rfl_pctx *pctx)
{
	const struct rfl_problem_ent *e = find_problem(code);
	bool fix;

	if (!e)
		return false;
	if (ctx->mode == RFL_PREEN)
		printf("%s: ", ctx->device);
	expand(e->msg, pctx);
	putchar('\n');
	switch (ctx->mode) {
	case RFL_NO:
		printf("%s? no\n\n", e->question);
		fix = false;
		break;
	case RFL_YES:
		printf("%s? yes\n\n", e->question);
		fix = true;
		break;
	case RFL_PREEN:
		fix = e->flags & PR_PREEN_OK;
		if (!fix)
			printf("\n%s: UNEXPECTED INCONSISTENCY; RUN reflinkck "
			       "MANUALLY.\n", ctx->device);
		break;
	default:
		printf("%s<y>? ", e->question);
		fix = ask_tty(ctx);
		putchar('\n');
		break;
	}
	if (!fix && !(e->flags & PR_NO_OK))
		ctx->left++;
	return fix;
}

void rfl_problem_fixed(struct rfl_check_ctx *ctx, enum rfl_problem code,
		       const struct rfl_pctx *pctx)
{
	const struct rfl_problem_ent *e = find_problem(code);

	if (!e)
		return;
	if (ctx->mode == RFL_PREEN)
		printf("%s: ", ctx->device);
	expand(e->done, pctx);
	putchar('\n');
	ctx->fixed++;
}

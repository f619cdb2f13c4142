// SPDX-License-Identifier: GPL-2.0
/*
 * test_problem.c - reflinkck's problem table, like e2fsck's
 * verify_problem_table: codes ascending and unique, the pass in each
 * code's top byte the pass its name says (PR_<pass>_..., PR_R_ = 0x0f),
 * every entry with words to print, and the words of the verifiers'
 * problem codes (lib/btree, lib/flexbg) all present.
 *
 * problem.c is included so the test sees its static table; the test
 * object then defines every symbol of problem.o and the archive's copy is
 * never linked.
 */
#include "check/problem.c"
#include "btree/ext4_btree.h"
#include "flexbg/flexbg_rec.h"
#include "tap.h"

#define NR_PROBLEMS	(sizeof(problem_table) / sizeof(problem_table[0]))

/* The pass a problem's name gives: PR_<digit>_ or PR_R_ (0x0f) */
static int name_pass(const char *name)
{
	if (!name || strncmp(name, "PR_", 3) || !name[3] || name[4] != '_')
		return -1;
	if (name[3] == 'R')
		return 0x0f;
	if (name[3] >= '0' && name[3] <= '9')
		return name[3] - '0';
	return -1;
}

static void check_order(void)
{
	size_t i, bad = 0;

	for (i = 1; i < NR_PROBLEMS; i++) {
		if (problem_table[i - 1].code < problem_table[i].code)
			continue;
		diag("%s (0x%06x) after %s (0x%06x)", problem_table[i].name,
		     problem_table[i].code, problem_table[i - 1].name,
		     problem_table[i - 1].code);
		bad++;
	}
	ok(!bad, "%zu problem codes ascending and unique", NR_PROBLEMS);
}

static void check_entries(void)
{
	size_t i, bad_pass = 0, bad_words = 0;

	for (i = 0; i < NR_PROBLEMS; i++) {
		const struct rfl_problem_ent *e = &problem_table[i];
		int pass = name_pass(e->name);

		if (pass < 0 || (unsigned int)pass != e->code >> 16) {
			diag("%s: code 0x%06x, pass %d", e->name ? e->name :
			     "(no name)", e->code, pass);
			bad_pass++;
		}
		/* A statement of what was done (PR_R_) has no message */
		if (e->msg ? !*e->msg : !(e->done && *e->done)) {
			diag("%s: nothing to print", e->name);
			bad_words++;
		}
		if (e->question && !*e->question) {
			diag("%s: empty question", e->name);
			bad_words++;
		}
		if ((e->flags & PR_PREEN_HALT) && !(e->flags & PR_MSG_ONLY)) {
			diag("%s: PR_PREEN_HALT on a question", e->name);
			bad_words++;
		}
		if (find_problem(e->code) != e) {
			diag("%s: lookup finds another entry", e->name);
			bad_words++;
		}
	}
	ok(!bad_pass, "every code's top byte is the pass its name says");
	ok(!bad_words, "every problem has a non-empty message");
}

static void check_verifier_words(void)
{
	int code, bad = 0;

	for (code = 1; code < EXT4_BTREE_PROBLEM_MAX; code++) {
		const char *w = ext4_btree_problem_words(code);

		if (!w || !*w || !strcmp(w, "unknown problem")) {
			diag("btree problem %d has no words", code);
			bad++;
		}
	}
	for (code = 0; code < EXT4_RFX_PROBLEM_MAX; code++) {
		const char *w = ext4_rfx_problem_words(code);

		if (!w || !*w || !strcmp(w, "unknown problem")) {
			diag("metadata block problem %d has no words", code);
			bad++;
		}
	}
	ok(!bad, "every verifier problem code has words");
	ok(!strcmp(ext4_btree_problem_words(EXT4_BTREE_PROBLEM_MAX),
		   "unknown problem") &&
	   !strcmp(ext4_btree_problem_words(0), "unknown problem") &&
	   !strcmp(ext4_rfx_problem_words(-1), "unknown problem") &&
	   !strcmp(ext4_rfx_problem_words(EXT4_RFX_PROBLEM_MAX),
		   "unknown problem"),
	   "codes out of range are an unknown problem");
}

/* e2fsck prints checksums in hex: a checksum's words use %x and %y */
static void check_csum_hex(void)
{
	struct rfl_pctx p = { .fg = 3, .found = 0x1234, .expected = 0x6267 };
	size_t i, bad = 0, len = 0;
	const char *t[3];
	char *out = NULL;
	FILE *f;
	int j;

	for (i = 0; i < NR_PROBLEMS; i++) {
		t[0] = problem_table[i].msg;
		t[1] = problem_table[i].done;
		t[2] = problem_table[i].question;
		for (j = 0; j < 3; j++) {
			if (!t[j] || !strstr(t[j], "checksum") ||
			    (!strstr(t[j], "%e") && !strstr(t[j], "%f")))
				continue;
			diag("%s: a checksum printed in decimal",
			     problem_table[i].name);
			bad++;
		}
	}
	ok(!bad, "no problem prints a checksum in decimal");
	f = open_memstream(&out, &len);
	if (f) {
		expand(f, find_problem(PR_0_DESC_CSUM)->msg, &p);
		fclose(f);
	}
	ok(out && !strcmp(out, "group 3: descriptor checksum is 0x1234, "
			  "should be 0x6267"), "descriptor checksums in hex");
	if (out && !strstr(out, "0x1234"))
		diag("  got: %s", out);
	free(out);
}

int main(void)
{
	tap_plan(7);
	check_order();
	check_entries();
	check_verifier_words();
	check_csum_hex();
	return done_testing();
}

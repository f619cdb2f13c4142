// SPDX-License-Identifier: GPL-2.0
/*
 * btree_vs_lmdb.c - random insert / lookup / delete throughput of
 * ext4_btree (8-byte LE64 keys, 8-byte values, 4 KiB blocks, COW mode,
 * in-memory host) against LMDB on tmpfs.
 *
 * Both engines get the same N random distinct keys in the same orders:
 * inserts in key-generation order, lookups and deletes each in their own
 * shuffled order.  Writes are grouped into one transaction per
 * commit_every operations on both sides.  Every phase is checked (each
 * lookup must return its value, each insert and delete must succeed, the
 * tree must verify and both must end empty) so a broken engine fails
 * loudly instead of winning.
 *
 * Each engine runs each round in a forked child so that a crash is
 * contained, every round starts from a fresh empty store, and the peak
 * RSS of each engine can be reported separately.  The best time of each
 * phase over all rounds is reported.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <lmdb.h>

#include "btree/ext4_btree.h"
#include "btree/mem_host.h"

#define BLOCK_SIZE		4096
#define DEFAULT_N		1000000UL
#define DEFAULT_ROUNDS		3
#define DEFAULT_COMMIT		1000UL
#define DEFAULT_SEED		0x5eedb7ee5eedUL
#define CSUM_SEED		0x1badb002U

enum phase { PH_INSERT, PH_LOOKUP, PH_DELETE, NR_PHASES };
static const char *const phase_name[NR_PHASES] = {
	"insert", "lookup", "delete",
};

enum engine { ENG_OURS, ENG_LMDB, NR_ENGINES };
static const char *const engine_name[NR_ENGINES] = { "ours", "LMDB" };

enum lmdb_keys { LK_INTEGER, LK_BIGENDIAN };

struct bench {
	unsigned long n;
	unsigned long commit_every;
	unsigned int rounds;
	u64 seed;
	enum lmdb_keys lmdb_keys;
	bool run[NR_ENGINES];
	const u64 *ins_keys;	/* insert order (generation order) */
	const u64 *look_keys;	/* shuffled */
	const u64 *del_keys;	/* shuffled differently */
	char lmdb_dir[256];
};

/* What a child reports through its pipe */
struct result {
	int ok;
	double secs[NR_PHASES];	/* wall clock */
	double cpu[NR_PHASES];		/* this process's CPU time */
	long maxrss_kb;
	u64 height;		/* after the insert phase */
	u64 nodes;
	u64 blocks;		/* host blocks / LMDB pages in use */
	char msg[512];
};

static const struct ext4_btree_geo bench_geo = {
	.name		= "bench_le64",
	.tree_type	= EXT4_TREE_TEST_BASE,
	.key_size	= 8,
	.val_size	= 8,
	.max_entries	= 0,
	.key_kind	= EXT4_BTREE_KEY_LE64,
};

/* ---------------------------------------------------------------- */
/* Helpers                                                           */
/* ---------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct timer {
	double wall, cpu;
};

static void phase_begin(struct timer *tm)
{
	tm->cpu = cpu_now();
	tm->wall = now();
}

static void phase_end(struct result *res, enum phase p,
		      const struct timer *tm)
{
	res->secs[p] = now() - tm->wall;
	res->cpu[p] = cpu_now() - tm->cpu;
}

/* splitmix64's finaliser: a bijection on u64 */
static u64 mix64(u64 x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static u64 rng_state;

static u64 rng_next(void)
{
	rng_state += 0x9e3779b97f4a7c15ULL;
	return mix64(rng_state);
}

/* Uniform in [0, bound) without modulo bias worth mentioning (bound < 2^32) */
static u64 rng_below(u64 bound)
{
	return (u64)(((unsigned __int128)rng_next() * bound) >> 64);
}

/* The value stored with a key, so every lookup can be checked */
static inline u64 val_of(u64 key)
{
	return ~key * 0x9e3779b97f4a7c15ULL;
}

static void shuffle(u64 *a, unsigned long n)
{
	unsigned long i;

	for (i = n - 1; i > 0; i--) {
		unsigned long j = rng_below(i + 1);
		u64 t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

/* x^(1/n) for x > 0 by Newton's method; avoids linking libm */
static double nth_root(double x, unsigned int n)
{
	double y = x > 1 ? x : 1;
	unsigned int i, k;

	for (i = 0; i < 200; i++) {
		double pw = 1;

		for (k = 1; k < n; k++)
			pw *= y;
		y = ((n - 1) * y + x / pw) / n;
	}
	return y;
}

static void *xmalloc(size_t size)
{
	void *p = malloc(size);

	if (!p) {
		fprintf(stderr, "btree_vs_lmdb: out of memory (%zu bytes)\n",
			size);
		exit(1);
	}
	return p;
}

static long maxrss_kb(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return -1;
	return ru.ru_maxrss;
}

#define fail(res, fmt, ...)						\
	do {								\
		snprintf((res)->msg, sizeof((res)->msg), fmt, ##__VA_ARGS__); \
		return -1;						\
	} while (0)

/* ---------------------------------------------------------------- */
/* ext4_btree on the in-memory host                                  */
/* ---------------------------------------------------------------- */

struct verify_ctx {
	u64 problems;
	u64 records;
	struct ext4_btree_problem first;
};

static int vreport(void *priv, const struct ext4_btree_problem *p)
{
	struct verify_ctx *vc = priv;

	if (!vc->problems++)
		vc->first = *p;
	return 0;
}

static int vrecord(void *priv, const void *key, const void *val,
		   const void *prev_key, const void *prev_val)
{
	struct verify_ctx *vc = priv;
	__le64 k, v;

	(void)prev_key;
	(void)prev_val;
	memcpy(&k, key, 8);
	memcpy(&v, val, 8);
	vc->records++;
	if (le64_to_cpu(v) != val_of(le64_to_cpu(k)))
		vc->problems++;
	return 0;
}

static const struct ext4_btree_verify_ops bench_vops = {
	.report	= vreport,
	.record	= vrecord,
};

static int ours_insert(struct ext4_btree *t, const struct bench *b,
		       struct result *res)
{
	unsigned long i, pending = 0;
	int err;

	for (i = 0; i < b->n; i++) {
		__le64 k = cpu_to_le64(b->ins_keys[i]);
		__le64 v = cpu_to_le64(val_of(b->ins_keys[i]));

		if (!pending) {
			err = ext4_btree_begin(t);
			if (err)
				fail(res, "insert: begin: %d", err);
		}
		err = ext4_btree_insert(t, &k, &v);
		if (err)
			fail(res, "insert #%lu (%#llx): %d", i,
			     b->ins_keys[i], err);
		if (++pending == b->commit_every) {
			err = ext4_btree_commit(t);
			if (err)
				fail(res, "insert: commit: %d", err);
			pending = 0;
		}
	}
	if (pending) {
		err = ext4_btree_commit(t);
		if (err)
			fail(res, "insert: commit: %d", err);
	}
	return 0;
}

static int ours_lookup(struct ext4_btree *t, const struct bench *b,
		       struct result *res)
{
	unsigned long i;
	int err;

	for (i = 0; i < b->n; i++) {
		__le64 k = cpu_to_le64(b->look_keys[i]);
		__le64 v;

		err = ext4_btree_lookup(t, &k, EXT4_BTREE_EQ, NULL, &v);
		if (err)
			fail(res, "lookup #%lu (%#llx): %d", i,
			     b->look_keys[i], err);
		if (le64_to_cpu(v) != val_of(b->look_keys[i]))
			fail(res, "lookup #%lu (%#llx): wrong value",
			     i, b->look_keys[i]);
	}
	return 0;
}

static int ours_delete(struct ext4_btree *t, const struct bench *b,
		       struct result *res)
{
	unsigned long i, pending = 0;
	int err;

	for (i = 0; i < b->n; i++) {
		__le64 k = cpu_to_le64(b->del_keys[i]);

		if (!pending) {
			err = ext4_btree_begin(t);
			if (err)
				fail(res, "delete: begin: %d", err);
		}
		err = ext4_btree_delete(t, &k);
		if (err)
			fail(res, "delete #%lu (%#llx): %d", i,
			     b->del_keys[i], err);
		if (++pending == b->commit_every) {
			err = ext4_btree_commit(t);
			if (err)
				fail(res, "delete: commit: %d", err);
			pending = 0;
		}
	}
	if (pending) {
		err = ext4_btree_commit(t);
		if (err)
			fail(res, "delete: commit: %d", err);
	}
	return 0;
}

/* The host must see no leaked references and no misuse after a phase */
static int host_check(struct mem_host *h, const char *phase,
		      struct result *res)
{
	struct mem_host_stats st;

	mem_host_get_stats(h, &st);
	if (mem_host_nr_refs(h))
		fail(res, "after %s: %llu buffer references leaked",
		     phase, mem_host_nr_refs(h));
	if (st.errors)
		fail(res, "after %s: %llu host misuse errors", phase,
		     st.errors);
	return 0;
}

static int run_ours(const struct bench *b, struct result *res)
{
	struct verify_ctx vc = { 0 };
	struct ext4_btree tree;
	struct mem_host *h;
	u64 nr_blocks;
	u16 leaf_cap;
	struct timer tm;
	long nprob;
	int err;

	leaf_cap = ext4_btree_leaf_capacity(&bench_geo, BLOCK_SIZE);
	if (leaf_cap < 2)
		fail(res, "leaf capacity %u", leaf_cap);
	/*
	 * Half-full leaves, twice over (a transaction may shadow every
	 * node before the old copies are freed), plus interior nodes.
	 */
	nr_blocks = 4 * (b->n / (leaf_cap / 2) + 1) + 4096;
	h = mem_host_create(BLOCK_SIZE, nr_blocks);
	if (!h)
		fail(res, "mem_host_create(%d, %llu) failed",
		     BLOCK_SIZE, nr_blocks);
	err = ext4_btree_init(&tree, &bench_geo, &mem_host_ops, h, BLOCK_SIZE,
			      CSUM_SEED, 0, EXT4_BTREE_COW);
	if (err)
		fail(res, "ext4_btree_init: %d", err);

	phase_begin(&tm);
	if (ours_insert(&tree, b, res))
		return -1;
	phase_end(res, PH_INSERT, &tm);

	if (host_check(h, "insert", res))
		return -1;
	if (tree.nr_records != b->n)
		fail(res, "after insert: nr_records %llu, expected %lu",
		     tree.nr_records, b->n);
	nprob = ext4_btree_verify(&tree, &bench_vops, &vc);
	if (nprob < 0)
		fail(res, "ext4_btree_verify: %ld", nprob);
	if (nprob || vc.problems)
		fail(res, "tree fails verify: %llu problems, first code %d at block %llu",
		     vc.problems, vc.first.code, vc.first.blocknr);
	if (vc.records != b->n)
		fail(res, "verify saw %llu records, expected %lu",
		     vc.records, b->n);
	res->height = tree.height;
	res->nodes = tree.nr_nodes;
	res->blocks = mem_host_nr_allocated(h);

	phase_begin(&tm);
	if (ours_lookup(&tree, b, res))
		return -1;
	phase_end(res, PH_LOOKUP, &tm);
	if (host_check(h, "lookup", res))
		return -1;

	phase_begin(&tm);
	if (ours_delete(&tree, b, res))
		return -1;
	phase_end(res, PH_DELETE, &tm);

	if (host_check(h, "delete", res))
		return -1;
	if (tree.nr_records || tree.height || tree.root || tree.nr_nodes)
		fail(res, "after delete: records %llu height %u root %llu nodes %llu",
		     tree.nr_records, tree.height, tree.root, tree.nr_nodes);
	if (mem_host_nr_allocated(h))
		fail(res, "after delete: %llu blocks still allocated",
		     mem_host_nr_allocated(h));

	mem_host_destroy(h);
	return 0;
}

/* ---------------------------------------------------------------- */
/* LMDB                                                              */
/* ---------------------------------------------------------------- */

struct lmdb_ctx {
	MDB_env *env;
	MDB_dbi dbi;
	bool bigendian;
};

/* The key as LMDB sees it: native u64 (INTEGERKEY) or big-endian bytes */
static inline u64 lkey(const struct lmdb_ctx *c, u64 key)
{
	return c->bigendian ? htobe64(key) : key;
}

static int lmdb_write_phase(struct lmdb_ctx *c, const struct bench *b,
			    const u64 *keys, bool insert, struct result *res)
{
	const char *what = insert ? "insert" : "delete";
	unsigned long i, pending = 0;
	MDB_txn *txn = NULL;
	int rc;

	for (i = 0; i < b->n; i++) {
		u64 k = lkey(c, keys[i]);
		u64 v = val_of(keys[i]);
		MDB_val mk = { sizeof(k), &k };
		MDB_val mv = { sizeof(v), &v };

		if (!pending) {
			rc = mdb_txn_begin(c->env, NULL, 0, &txn);
			if (rc)
				fail(res, "%s: txn_begin: %s", what,
				     mdb_strerror(rc));
		}
		if (insert)
			rc = mdb_put(txn, c->dbi, &mk, &mv, MDB_NOOVERWRITE);
		else
			rc = mdb_del(txn, c->dbi, &mk, NULL);
		if (rc)
			fail(res, "%s #%lu (%#llx): %s", what, i,
			     keys[i], mdb_strerror(rc));
		if (++pending == b->commit_every) {
			rc = mdb_txn_commit(txn);
			if (rc)
				fail(res, "%s: commit: %s", what,
				     mdb_strerror(rc));
			pending = 0;
		}
	}
	if (pending) {
		rc = mdb_txn_commit(txn);
		if (rc)
			fail(res, "%s: commit: %s", what, mdb_strerror(rc));
	}
	return 0;
}

static int lmdb_lookup(struct lmdb_ctx *c, const struct bench *b,
		       struct result *res)
{
	MDB_txn *txn;
	unsigned long i;
	int rc;

	rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		fail(res, "lookup: txn_begin: %s", mdb_strerror(rc));
	for (i = 0; i < b->n; i++) {
		u64 k = lkey(c, b->look_keys[i]);
		MDB_val mk = { sizeof(k), &k };
		MDB_val mv;
		u64 v;

		rc = mdb_get(txn, c->dbi, &mk, &mv);
		if (rc)
			fail(res, "lookup #%lu (%#llx): %s", i,
			     b->look_keys[i], mdb_strerror(rc));
		if (mv.mv_size != sizeof(v))
			fail(res, "lookup #%lu: value size %zu", i,
			     mv.mv_size);
		memcpy(&v, mv.mv_data, sizeof(v));
		if (v != val_of(b->look_keys[i]))
			fail(res, "lookup #%lu (%#llx): wrong value",
			     i, b->look_keys[i]);
	}
	mdb_txn_abort(txn);
	return 0;
}

static int lmdb_stat(struct lmdb_ctx *c, MDB_stat *st, struct result *res)
{
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		fail(res, "stat: txn_begin: %s", mdb_strerror(rc));
	rc = mdb_stat(txn, c->dbi, st);
	mdb_txn_abort(txn);
	if (rc)
		fail(res, "mdb_stat: %s", mdb_strerror(rc));
	return 0;
}

static int run_lmdb(const struct bench *b, struct result *res)
{
	struct lmdb_ctx c = { .bigendian = b->lmdb_keys == LK_BIGENDIAN };
	size_t mapsize = (size_t)b->n * 256 + (64UL << 20);
	MDB_txn *txn;
	MDB_stat st;
	struct timer tm;
	int rc;

	rc = mdb_env_create(&c.env);
	if (!rc)
		rc = mdb_env_set_mapsize(c.env, mapsize);
	if (!rc)
		rc = mdb_env_open(c.env, b->lmdb_dir,
				  MDB_NOSYNC | MDB_NOMETASYNC, 0600);
	if (rc)
		fail(res, "mdb_env_open(%s): %s", b->lmdb_dir,
		     mdb_strerror(rc));
	rc = mdb_txn_begin(c.env, NULL, 0, &txn);
	if (rc)
		fail(res, "txn_begin: %s", mdb_strerror(rc));
	rc = mdb_dbi_open(txn, NULL, c.bigendian ? 0 : MDB_INTEGERKEY,
			  &c.dbi);
	if (!rc)
		rc = mdb_txn_commit(txn);
	if (rc)
		fail(res, "mdb_dbi_open: %s", mdb_strerror(rc));

	phase_begin(&tm);
	if (lmdb_write_phase(&c, b, b->ins_keys, true, res))
		return -1;
	phase_end(res, PH_INSERT, &tm);

	if (lmdb_stat(&c, &st, res))
		return -1;
	if (st.ms_entries != b->n)
		fail(res, "after insert: %zu entries, expected %lu",
		     st.ms_entries, b->n);
	res->height = st.ms_depth;
	res->nodes = st.ms_branch_pages + st.ms_leaf_pages +
		     st.ms_overflow_pages;
	{
		MDB_envinfo ei;

		mdb_env_info(c.env, &ei);
		res->blocks = ei.me_last_pgno + 1;
	}

	phase_begin(&tm);
	if (lmdb_lookup(&c, b, res))
		return -1;
	phase_end(res, PH_LOOKUP, &tm);

	phase_begin(&tm);
	if (lmdb_write_phase(&c, b, b->del_keys, false, res))
		return -1;
	phase_end(res, PH_DELETE, &tm);

	if (lmdb_stat(&c, &st, res))
		return -1;
	if (st.ms_entries || st.ms_depth)
		fail(res, "after delete: %zu entries, depth %u",
		     st.ms_entries, st.ms_depth);

	mdb_env_close(c.env);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Driver                                                            */
/* ---------------------------------------------------------------- */

static char lmdb_data_path[300], lmdb_lock_path[300], lmdb_dir_path[256];

/* Async-signal-safe: only unlink/rmdir on paths fixed in advance */
static void lmdb_clean_files(void)
{
	unlink(lmdb_data_path);
	unlink(lmdb_lock_path);
}

static void lmdb_remove_dir(void)
{
	if (!lmdb_dir_path[0])
		return;
	lmdb_clean_files();
	rmdir(lmdb_dir_path);
}

static volatile pid_t child_pid;

static void on_signal(int sig)
{
	if (child_pid > 0)
		kill(child_pid, SIGKILL);
	lmdb_remove_dir();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Run one engine once in a child; 0 and *res, or -1 */
static int run_child(const struct bench *b, enum engine e, struct result *res)
{
	int fds[2], status;
	ssize_t got;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	if (pipe(fds)) {
		perror("pipe");
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (!pid) {
		struct result r = { 0 };
		int ret;

		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		close(fds[0]);
		ret = e == ENG_OURS ? run_ours(b, &r) : run_lmdb(b, &r);
		r.ok = !ret;
		r.maxrss_kb = maxrss_kb();
		if (write(fds[1], &r, sizeof(r)) != sizeof(r))
			_exit(2);
		_exit(ret ? 1 : 0);
	}
	child_pid = pid;
	close(fds[1]);
	got = read(fds[0], res, sizeof(*res));
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	child_pid = 0;
	if (e == ENG_LMDB)
		lmdb_clean_files();
	if (got != sizeof(*res)) {
		if (WIFSIGNALED(status))
			snprintf(res->msg, sizeof(res->msg),
				 "child killed by signal %d (%s)",
				 WTERMSIG(status), strsignal(WTERMSIG(status)));
		else
			snprintf(res->msg, sizeof(res->msg),
				 "child exited with status %d, no result",
				 WEXITSTATUS(status));
		res->ok = 0;
	}
	return res->ok ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: btree_vs_lmdb [-n keys] [-r rounds] [-c commit_every] [-s seed]\n"
		"                     [-k int|be] [-e ours|lmdb|both] [-d dir]\n"
		"  -n  number of keys (default %lu)\n"
		"  -r  rounds; the best time of each phase is reported (default %d)\n"
		"  -c  operations per write transaction (default %lu)\n"
		"  -s  seed for keys and shuffles (default %#lx)\n"
		"  -k  LMDB keys: int = MDB_INTEGERKEY native u64 (default),\n"
		"      be = big-endian bytes compared with memcmp\n"
		"  -e  engines to run (default both)\n"
		"  -d  directory for the LMDB environment; use tmpfs (default /dev/shm)\n",
		DEFAULT_N, DEFAULT_ROUNDS, DEFAULT_COMMIT, DEFAULT_SEED);
}

static unsigned long parse_ul(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end || !v) {
		fprintf(stderr, "btree_vs_lmdb: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static void fmt_rate(char *buf, size_t len, const struct bench *b,
		     double secs)
{
	if (secs > 0)
		snprintf(buf, len, "%.0f", b->n / secs);
	else
		snprintf(buf, len, "-");
}

int main(int argc, char **argv)
{
	double best[NR_ENGINES][NR_PHASES];
	struct result info[NR_ENGINES];
	long rss[NR_ENGINES] = { 0 };
	bool failed[NR_ENGINES] = { false };
	const char *dir = "/dev/shm";
	struct bench b = {
		.n = DEFAULT_N,
		.commit_every = DEFAULT_COMMIT,
		.rounds = DEFAULT_ROUNDS,
		.seed = DEFAULT_SEED,
		.lmdb_keys = LK_INTEGER,
		.run = { true, true },
	};
	unsigned int r, p, e, nr_ratios = 0, nr_faster = 0;
	double ratio_prod = 1, tot[NR_ENGINES] = { 0 };
	u64 *keys, *look, *del, salt;
	unsigned long i;
	int opt, ret = 0;

	while ((opt = getopt(argc, argv, "n:r:c:s:k:e:d:h")) != -1) {
		switch (opt) {
		case 'n':
			b.n = parse_ul(optarg, "key count");
			break;
		case 'r':
			b.rounds = parse_ul(optarg, "round count");
			break;
		case 'c':
			b.commit_every = parse_ul(optarg, "commit interval");
			break;
		case 's':
			errno = 0;
			b.seed = strtoull(optarg, NULL, 0);
			if (errno) {
				fprintf(stderr, "btree_vs_lmdb: bad seed\n");
				return 2;
			}
			break;
		case 'k':
			if (!strcmp(optarg, "int")) {
				b.lmdb_keys = LK_INTEGER;
			} else if (!strcmp(optarg, "be")) {
				b.lmdb_keys = LK_BIGENDIAN;
			} else {
				usage(stderr);
				return 2;
			}
			break;
		case 'e':
			b.run[ENG_OURS] = !strcmp(optarg, "ours") ||
					  !strcmp(optarg, "both");
			b.run[ENG_LMDB] = !strcmp(optarg, "lmdb") ||
					  !strcmp(optarg, "both");
			if (!b.run[ENG_OURS] && !b.run[ENG_LMDB]) {
				usage(stderr);
				return 2;
			}
			break;
		case 'd':
			dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || b.n > UINT32_MAX) {
		usage(stderr);
		return 2;
	}

	/* Distinct keys: a bijection applied to distinct inputs */
	rng_state = b.seed;
	salt = rng_next();
	keys = xmalloc(b.n * sizeof(*keys));
	look = xmalloc(b.n * sizeof(*look));
	del = xmalloc(b.n * sizeof(*del));
	for (i = 0; i < b.n; i++)
		keys[i] = mix64(i ^ salt);
	memcpy(look, keys, b.n * sizeof(*keys));
	memcpy(del, keys, b.n * sizeof(*keys));
	shuffle(look, b.n);
	shuffle(del, b.n);
	b.ins_keys = keys;
	b.look_keys = look;
	b.del_keys = del;

	if (b.run[ENG_LMDB]) {
		snprintf(lmdb_dir_path, sizeof(lmdb_dir_path),
			 "%s/btree_vs_lmdb.XXXXXX", dir);
		if (!mkdtemp(lmdb_dir_path)) {
			fprintf(stderr, "btree_vs_lmdb: mkdtemp %s: %s\n",
				lmdb_dir_path, strerror(errno));
			return 1;
		}
		snprintf(b.lmdb_dir, sizeof(b.lmdb_dir), "%s", lmdb_dir_path);
		snprintf(lmdb_data_path, sizeof(lmdb_data_path), "%s/data.mdb",
			 lmdb_dir_path);
		snprintf(lmdb_lock_path, sizeof(lmdb_lock_path), "%s/lock.mdb",
			 lmdb_dir_path);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	printf("btree_vs_lmdb: %lu random distinct 8-byte keys, 8-byte values, seed %#llx, best wall-clock time of %u round%s\n",
	       b.n, b.seed, b.rounds, b.rounds == 1 ? "" : "s");
	printf("  inserts in random order; lookups and deletes of all keys, each in its own shuffled order\n");
	printf("  ours: ext4_btree, LE64 keys, %d-byte blocks, in-memory host, COW, commit every %lu ops; lookups outside a txn\n",
	       BLOCK_SIZE, b.commit_every);
	printf("  LMDB %d.%d.%d: env on %s (tmpfs), MDB_NOSYNC|MDB_NOMETASYNC, %s, one write txn per %lu ops, lookups in one read txn\n",
	       MDB_VERSION_MAJOR, MDB_VERSION_MINOR, MDB_VERSION_PATCH, dir,
	       b.lmdb_keys == LK_INTEGER ?
			"MDB_INTEGERKEY native u64 keys" :
			"big-endian keys, default memcmp order",
	       b.commit_every);
	fflush(stdout);

	for (e = 0; e < NR_ENGINES; e++)
		for (p = 0; p < NR_PHASES; p++)
			best[e][p] = 0;
	memset(info, 0, sizeof(info));

	/* Interleave the engines so drift hits both alike */
	for (r = 0; r < b.rounds; r++) {
		for (e = 0; e < NR_ENGINES; e++) {
			struct result res;

			if (!b.run[e] || failed[e])
				continue;
			if (run_child(&b, e, &res)) {
				fprintf(stderr, "btree_vs_lmdb: %s, round %u: FAILED: %s\n",
					engine_name[e], r + 1, res.msg);
				failed[e] = true;
				ret = 1;
				continue;
			}
			fprintf(stderr, "  round %u %-4s: insert %.3fs (cpu %.3fs) lookup %.3fs (cpu %.3fs) delete %.3fs (cpu %.3fs)\n",
				r + 1, engine_name[e],
				res.secs[PH_INSERT], res.cpu[PH_INSERT],
				res.secs[PH_LOOKUP], res.cpu[PH_LOOKUP],
				res.secs[PH_DELETE], res.cpu[PH_DELETE]);
			for (p = 0; p < NR_PHASES; p++)
				if (!best[e][p] || res.secs[p] < best[e][p])
					best[e][p] = res.secs[p];
			if (res.maxrss_kb > rss[e])
				rss[e] = res.maxrss_kb;
			info[e] = res;
		}
	}
	lmdb_remove_dir();

	for (e = 0; e < NR_ENGINES; e++) {
		if (!b.run[e] || failed[e])
			continue;
		printf("  %-4s after insert: height %llu, %llu nodes, %llu %s in use (%.1f MiB)\n",
		       engine_name[e], info[e].height, info[e].nodes,
		       info[e].blocks, e == ENG_OURS ? "blocks" : "pages",
		       info[e].blocks * 4096.0 / (1 << 20));
	}

	printf("\n%-8s %14s %14s %10s\n", "phase", "ours ops/s", "LMDB ops/s",
	       "ours/LMDB");
	for (p = 0; p < NR_PHASES; p++) {
		char ours[32], lmdb[32], ratio[32] = "-";
		bool have_o = b.run[ENG_OURS] && !failed[ENG_OURS];
		bool have_l = b.run[ENG_LMDB] && !failed[ENG_LMDB];

		fmt_rate(ours, sizeof(ours), &b,
			 have_o ? best[ENG_OURS][p] : 0);
		fmt_rate(lmdb, sizeof(lmdb), &b,
			 have_l ? best[ENG_LMDB][p] : 0);
		if (have_o && have_l) {
			double q = best[ENG_LMDB][p] / best[ENG_OURS][p];

			snprintf(ratio, sizeof(ratio), "%.2f", q);
			ratio_prod *= q;
			nr_ratios++;
			nr_faster += q > 1;
		}
		for (e = 0; e < NR_ENGINES; e++)
			tot[e] += best[e][p];
		printf("%-8s %14s %14s %10s\n", phase_name[p], ours, lmdb,
		       ratio);
	}
	if (nr_ratios == NR_PHASES)
		printf("summary: ours/LMDB geometric mean %.2f (>1 = ours faster); ours faster in %u of %u phases; total %.2fs vs %.2fs\n",
		       nth_root(ratio_prod, nr_ratios), nr_faster, nr_ratios,
		       tot[ENG_OURS], tot[ENG_LMDB]);
	else
		printf("summary: no comparison (%s)\n",
		       ret ? "an engine FAILED" : "only one engine run");

	printf("peak RSS (getrusage): ours %.1f MiB, LMDB %.1f MiB, driver %.1f MiB; each engine's includes the %.1f MiB of key arrays it reads, LMDB's its mapped tmpfs pages\n",
	       rss[ENG_OURS] / 1024.0, rss[ENG_LMDB] / 1024.0,
	       maxrss_kb() / 1024.0, 3.0 * b.n * sizeof(u64) / (1 << 20));

	free(keys);
	free(look);
	free(del);
	return ret;
}

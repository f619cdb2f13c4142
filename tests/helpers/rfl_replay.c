// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_replay - rebuild the states a power failure can leave, from the
 * write log of `RFLCTL_LOG=LOG rflctl -w IMAGE CMD...` (tests/helpers/
 * rfl_log.h), the method of dm-log-writes and xfstests generic/455.
 *
 *	rfl_replay plan [-s STEP] [-n VARIANTS] [-S SEED] LOG
 *	rfl_replay apply LOG STATE IMAGE
 *	rfl_replay dump LOG
 *
 * plan prints "# writes W flushes F epochs E seed S", then one STATE a
 * line:
 *  - "N": the first N writes, in order (a crash after the Nth write),
 *    for N = 0, STEP, 2 STEP, ..., W and at every flush (STEP 0: only
 *    0, W and the flushes);
 *  - "N+i,j,k": the first N writes, which end at a flush, then the
 *    writes numbered i, j, k (0-based, counted without the flushes) of
 *    the epoch that follows: VARIANTS random subsets of each epoch of
 *    two writes or more.
 * apply writes a STATE's writes into IMAGE, a copy of the image the
 * command started from.  dump prints the log: "N write OFFSET LEN"
 * (bytes), "N zero OFFSET LEN", "flush".
 *
 * The model: a flush (fsync) completes every write before it, and no
 * write after it has started.  Between two flushes the disk (and the
 * page cache in front of it) may land any subset of the writes: for
 * each block, its content before the epoch or any one of the versions
 * the epoch wrote to it.  A subset applied in log order makes each of
 * those states (choose the version, leave out the later writes to the
 * block), so the variants are subsets in log order, not permutations:
 * a permutation of a subset leaves each block the last version it
 * applies, which is again a subset in log order.  (That needs writes
 * that never overlap in part: the logging io manager has no write_byte,
 * so libext2fs writes whole blocks and the whole superblock.)
 * Each variant keeps each write with a probability of 1/4, 1/2 or 3/4
 * in turn; a subset that leaves the same image as a state in order or
 * an earlier variant (the same last bytes at every place the epoch
 * writes) is drawn again, up to MAX_TRIES times, so an epoch with few
 * possible states gets fewer variants.  A torn block (part of a block
 * written) is not modelled: every metadata block carries a checksum.
 *
 * The seed is printed; -S (or SEED in the environment) replays a run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rfl_log.h"
#include "rfl_number.h"

#define PROG		"rfl_replay"
#define EXIT_ERR	1
#define EXIT_USAGE	2
#define MAX_TRIES	20

typedef unsigned long long ull;

struct write {
	ull offset;
	__u32 len;
	const char *data;	/* NULL: zeroes */
};

struct log {
	const char *name;
	char *buf;
	struct write *w;
	size_t nr;
	size_t *flush;		/* writes before each flush */
	size_t nr_flush;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: " PROG " plan [-s STEP] [-n VARIANTS] [-S SEED] LOG\n"
		"       " PROG " apply LOG STATE IMAGE\n"
		"       " PROG " dump LOG\n");
	exit(EXIT_USAGE);
}

static void fail(const char *file, const char *msg)
{
	fprintf(stderr, "%s: %s: %s\n", PROG, file, msg);
	exit(EXIT_ERR);
}

/* Room for element nr: the array doubles when nr reaches a power of 2 */
static void *grow(void *p, size_t nr, size_t size)
{
	if (nr && (nr & (nr - 1)))
		return p;
	p = realloc(p, (nr ? 2 * nr : 1) * size);
	if (!p)
		fail("memory", strerror(ENOMEM));
	return p;
}

static void read_log(const char *name, struct log *l)
{
	struct rfl_log_entry e;
	size_t size = 0, pos;
	FILE *f;
	size_t n;

	memset(l, 0, sizeof(*l));
	l->name = name;
	f = fopen(name, "rb");
	if (!f)
		fail(name, strerror(errno));
	for (;;) {
		l->buf = realloc(l->buf, size + 65536);
		if (!l->buf)
			fail(name, strerror(ENOMEM));
		n = fread(l->buf + size, 1, 65536, f);
		size += n;
		if (n < 65536)
			break;
	}
	if (ferror(f))
		fail(name, strerror(errno));
	fclose(f);
	if (size < RFL_LOG_MAGIC_LEN ||
	    memcmp(l->buf, RFL_LOG_MAGIC, RFL_LOG_MAGIC_LEN))
		fail(name, "not a write log (bad magic)");
	for (pos = RFL_LOG_MAGIC_LEN; pos < size;) {
		if (size - pos < sizeof(e))
			fail(name, "truncated entry");
		memcpy(&e, l->buf + pos, sizeof(e));
		pos += sizeof(e);
		if (e.le_type == RFL_LOG_FLUSH) {
			l->flush = grow(l->flush, l->nr_flush,
					sizeof(*l->flush));
			l->flush[l->nr_flush++] = l->nr;
			continue;
		}
		if (e.le_type != RFL_LOG_WRITE && e.le_type != RFL_LOG_ZERO)
			fail(name, "unknown entry type");
		if (e.le_type == RFL_LOG_WRITE && size - pos < e.le_len)
			fail(name, "truncated data");
		l->w = grow(l->w, l->nr, sizeof(*l->w));
		l->w[l->nr].offset = e.le_offset;
		l->w[l->nr].len = e.le_len;
		l->w[l->nr].data = NULL;
		if (e.le_type == RFL_LOG_WRITE) {
			l->w[l->nr].data = l->buf + pos;
			pos += e.le_len;
		}
		l->nr++;
	}
}

static void free_log(struct log *l)
{
	free(l->buf);
	free(l->w);
	free(l->flush);
}

static ull rng_state;

/* xorshift64*: small, seeded, the same on every machine */
static ull rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static ull number(const char *s, const char *what)
{
	ull v;

	if (!rfl_number(s, &v))
		fail(s, what);
	return v;
}

/* Writes i and j leave the same bytes at the same place */
static bool same_write(const struct log *l, size_t i, size_t j)
{
	const struct write *a = &l->w[i], *b = &l->w[j];

	if (a->offset != b->offset || a->len != b->len ||
	    !a->data != !b->data)
		return false;
	return !a->data || !memcmp(a->data, b->data, a->len);
}

/*
 * What an epoch's subset leaves on the disk, as one number per place the
 * epoch writes: the first write of the epoch with the bytes the last
 * kept write there left, or -1 (the bytes there before the epoch, as far
 * as the log tells)
 */
struct epoch {
	const struct log *l;
	size_t start, n;
	size_t *place;		/* per write: index of its place */
	long *version;		/* per write: first write, its bytes */
	size_t nr_places;
	long *sig;		/* signatures seen, nr_places each */
	size_t nr_sig;
};

static void *alloc(size_t nr, size_t size)
{
	void *p = calloc(nr ? nr : 1, size);

	if (!p)
		fail("memory", strerror(ENOMEM));
	return p;
}

static void epoch_init(struct epoch *ep, const struct log *l, size_t start,
		       size_t end, size_t max_sig)
{
	size_t i, j;

	ep->l = l;
	ep->start = start;
	ep->n = end - start;
	ep->place = alloc(ep->n, sizeof(*ep->place));
	ep->version = alloc(ep->n, sizeof(*ep->version));
	ep->nr_places = 0;
	for (i = 0; i < ep->n; i++) {
		for (j = 0; j < i; j++)
			if (l->w[start + j].offset == l->w[start + i].offset)
				break;
		ep->place[i] = j < i ? ep->place[j] : ep->nr_places++;
		for (j = 0; j < i; j++)
			if (same_write(l, start + j, start + i))
				break;
		ep->version[i] = (long)j;
		/* the bytes an earlier epoch left (a bitmap written again) */
		for (j = start; j-- > 0;)
			if (l->w[j].offset == l->w[start + i].offset)
				break;
		if (j != (size_t)-1 && same_write(l, j, start + i))
			ep->version[i] = -1;
	}
	ep->sig = alloc(max_sig * ep->nr_places, sizeof(*ep->sig));
	ep->nr_sig = 0;
}

/* Remember the state keep[] leaves; false if it was seen before */
static bool epoch_new_state(struct epoch *ep, const bool *keep)
{
	long *sig = ep->sig + ep->nr_sig * ep->nr_places;
	size_t i;

	for (i = 0; i < ep->nr_places; i++)
		sig[i] = -1;
	for (i = 0; i < ep->n; i++)
		if (keep[i])
			sig[ep->place[i]] = ep->version[i];
	for (i = 0; i < ep->nr_sig; i++)
		if (!memcmp(ep->sig + i * ep->nr_places, sig,
			    ep->nr_places * sizeof(*sig)))
			return false;
	ep->nr_sig++;
	return true;
}

/*
 * Print up to VARIANTS random subsets of the writes [start, end) applied
 * on the first START writes, each leaving an image different from every
 * other and from every state in order ("N", whether planned or not)
 */
static void epoch_variants(const struct log *l, size_t start, size_t end,
			   unsigned int variants)
{
	struct epoch ep;
	size_t i, kept;
	unsigned int v, tries;
	bool *keep;

	epoch_init(&ep, l, start, end, end - start + 1 + variants);
	keep = alloc(ep.n, sizeof(*keep));
	/* the states in order: every prefix of the epoch */
	for (i = 0; i <= ep.n; i++) {
		epoch_new_state(&ep, keep);
		if (i < ep.n)
			keep[i] = true;
	}
	for (v = 0; v < variants; v++) {
		/* keep 1/4, 1/2, 3/4 of the writes in turn */
		unsigned int quarters = v % 3 + 1;

		for (tries = 0; tries < MAX_TRIES; tries++) {
			for (i = 0; i < ep.n; i++)
				keep[i] = rng() % 4 < quarters;
			if (epoch_new_state(&ep, keep))
				break;
		}
		if (tries == MAX_TRIES)
			continue;
		printf("%zu+", start);
		for (i = 0, kept = 0; i < ep.n; i++)
			if (keep[i])
				printf("%s%zu", kept++ ? "," : "", start + i);
		putchar('\n');
	}
	free(keep);
	free(ep.sig);
	free(ep.version);
	free(ep.place);
}

static int cmd_plan(int argc, char **argv)
{
	unsigned int variants = 4;
	ull step = 1, seed;
	const char *s = getenv("SEED");
	struct log l;
	size_t n, e, start, epochs = 0;
	int opt;

	seed = s && *s ? number(s, "bad SEED") :
	       (ull)time(NULL) ^ ((ull)getpid() << 20);
	while ((opt = getopt(argc, argv, "s:n:S:")) != -1) {
		switch (opt) {
		case 's':
			step = number(optarg, "bad step");
			break;
		case 'n':
			variants = (unsigned int)number(optarg,
							"bad variant count");
			break;
		case 'S':
			seed = number(optarg, "bad seed");
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc)
		usage();
	read_log(argv[optind], &l);
	rng_state = seed ? seed : 1;
	for (e = 0, start = 0; e <= l.nr_flush; e++) {
		size_t end = e < l.nr_flush ? l.flush[e] : l.nr;

		epochs += end > start;
		start = end;
	}
	printf("# writes %zu flushes %zu epochs %zu seed %llu\n", l.nr,
	       l.nr_flush, epochs, seed);

	/* every STEPth prefix, and the state at every flush */
	for (n = 0, e = 0; n <= l.nr; n++) {
		bool at_flush = false;

		while (e < l.nr_flush && l.flush[e] < n)
			e++;
		at_flush = e < l.nr_flush && l.flush[e] == n;
		if ((step && n % step == 0) || !n || n == l.nr || at_flush)
			printf("%zu\n", n);
	}
	/* each epoch torn: the writes before its flush may land in part */
	for (e = 0, start = 0; e <= l.nr_flush; e++) {
		size_t end = e < l.nr_flush ? l.flush[e] : l.nr;

		if (end - start >= 2)
			epoch_variants(&l, start, end, variants);
		start = end;
	}
	free_log(&l);
	if (fflush(stdout))
		fail("stdout", strerror(errno));
	return 0;
}

static void apply_write(const struct log *l, int fd, const char *image,
			size_t i)
{
	static char zero[65536];
	const struct write *w = &l->w[i];
	ull done;
	ssize_t n;

	for (done = 0; done < w->len; done += (ull)n) {
		size_t len = w->len - done;

		if (!w->data && len > sizeof(zero))
			len = sizeof(zero);
		n = pwrite(fd, w->data ? w->data + done : zero, len,
			   (off_t)(w->offset + done));
		if (n <= 0)
			fail(image, n < 0 ? strerror(errno) : "short write");
	}
}

static int cmd_apply(int argc, char **argv)
{
	const char *spec, *image;
	struct log l;
	size_t n, i;
	char *end;
	int fd;

	if (argc != 4)
		usage();
	spec = argv[2];
	image = argv[3];
	read_log(argv[1], &l);
	errno = 0;
	n = strtoull(spec, &end, 10);
	if (errno || end == spec || (*end && *end != '+') || n > l.nr)
		fail(spec, "bad state");
	fd = open(image, O_WRONLY);
	if (fd < 0)
		fail(image, strerror(errno));
	for (i = 0; i < n; i++)
		apply_write(&l, fd, image, i);
	while (*end) {
		const char *p = end + 1;

		errno = 0;
		i = strtoull(p, &end, 10);
		if (errno || end == p || (*end && *end != ',') || i >= l.nr)
			fail(spec, "bad state");
		apply_write(&l, fd, image, i);
	}
	if (close(fd))
		fail(image, strerror(errno));
	free_log(&l);
	return 0;
}

/* The log as text: "N write OFFSET LEN", "N zero OFFSET LEN", "flush" */
static int cmd_dump(int argc, char **argv)
{
	struct log l;
	size_t i, e = 0;

	if (argc != 2)
		usage();
	read_log(argv[1], &l);
	for (i = 0; i <= l.nr; i++) {
		for (; e < l.nr_flush && l.flush[e] == i; e++)
			printf("flush\n");
		if (i < l.nr)
			printf("%zu %s %llu %u\n", i,
			       l.w[i].data ? "write" : "zero",
			       l.w[i].offset, l.w[i].len);
	}
	free_log(&l);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "plan"))
		return cmd_plan(argc - 1, argv + 1);
	if (!strcmp(argv[1], "apply"))
		return cmd_apply(argc - 1, argv + 1);
	if (!strcmp(argv[1], "dump"))
		return cmd_dump(argc - 1, argv + 1);
	usage();
	return EXIT_USAGE;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * mkseeds.c - write the seed corpus of the libFuzzer harnesses:
 *
 *	mkseeds DIR	DIR/btree/ DIR/flexbg/ DIR/refcount/ DIR/image/
 *
 * btree: real refcount trees of height 1 to 3 bulk-loaded on an
 * in-memory host, in fuzz_btree's input layout, checksums valid (so
 * the fuzzer starts past them).  flexbg: sealed metadata blocks, empty
 * and with a root.  refcount and image: short fixed byte strings.
 * Deterministic: the same files every run.  make fuzz-seeds runs it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "btree/mem_host.h"
#include "flexbg/flexbg_rec.h"
#include "refcount/refcount_rec.h"

#define BS	1024
#define SEED	0x5eedf00du

static const char *dir;

static void put(const char *sub, const char *name, const void *a, size_t na,
		const void *b, size_t nb)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	f = fopen(path, "wb");
	if (!f || fwrite(a, 1, na, f) != na ||
	    (nb && fwrite(b, 1, nb, f) != nb) || fclose(f)) {
		perror(path);
		exit(1);
	}
}

struct gen {
	u32 i, nr, step;
};

static int next_rec(void *priv, void *key, void *val)
{
	struct gen *g = priv;
	struct ext4_refcount_rec r = {
		.start = g->i * g->step, .len = 1 + g->i % 3,
		.count = 2 + g->i % 5,
	};

	g->i++;
	ext4_refcount_rec_encode(&r, key, val);
	return 0;
}

static void btree_seed(const char *name, u32 nr, unsigned int fill,
		       uint8_t flags)
{
	struct mem_host *h = mem_host_create(BS, 96);
	struct gen g = { 0, nr, 5 };
	struct ext4_btree t;
	uint8_t hdr[16] = { 0 }, *img;
	u64 blk, n;

	if (!h || ext4_btree_init(&t, &ext4_refcount_geo, &mem_host_ops, h,
				  BS, SEED, 0, EXT4_BTREE_COW) ||
	    ext4_btree_begin(&t) ||
	    ext4_btree_bulk_load(&t, nr, fill, next_rec, &g) ||
	    ext4_btree_commit(&t) || mem_host_drop_cache(h)) {
		fprintf(stderr, "mkseeds: building %s failed\n", name);
		exit(1);
	}
	n = mem_host_nr_allocated(h);
	img = calloc(n, BS);
	if (!img || n > 12 || t.root > n) {
		fprintf(stderr, "mkseeds: %s: %llu blocks, root %llu\n", name,
			(unsigned long long)n, (unsigned long long)t.root);
		exit(1);
	}
	for (blk = 1; blk <= n; blk++) {
		const void *d = mem_host_disk_block(h, blk);

		if (!d) {
			fprintf(stderr, "mkseeds: %s: block %llu unwritten\n",
				name, (unsigned long long)blk);
			exit(1);
		}
		memcpy(img + (blk - 1) * BS, d, BS);
	}
	hdr[0] = flags;
	hdr[1] = (uint8_t)t.height;
	hdr[2] = (uint8_t)t.root;
	hdr[4] = (uint8_t)(t.nr_records >> 24);
	hdr[5] = (uint8_t)(t.nr_records >> 16);
	hdr[6] = (uint8_t)(t.nr_records >> 8);
	hdr[7] = (uint8_t)t.nr_records;
	hdr[11] = (uint8_t)t.nr_nodes;
	hdr[12] = 0x00;
	hdr[13] = 0x10;
	hdr[14] = 0x00;
	hdr[15] = 0x42;
	put("btree", name, hdr, sizeof(hdr), img, n * BS);
	free(img);
	mem_host_destroy(h);
}

static void flexbg_seed(const char *name, u32 bs, bool with_root)
{
	static uint8_t blk[1 + 4096];
	struct ext4_btree t;

	memset(blk, 0, sizeof(blk));
	blk[0] = (uint8_t)((bs == 1024 ? 0 : bs == 2048 ? 1 : 2) << 2);
	ext4_rfx_init(blk + 1, bs, 777, 3);
	if (with_root) {
		ext4_btree_init(&t, &ext4_refcount_geo, &mem_host_ops, NULL,
				bs, 0, 3, EXT4_BTREE_COW);
		t.root = 800;
		t.height = 2;
		t.nr_records = 500;
		t.nr_nodes = 6;
		t.generation = 1;
		if (ext4_rfx_store_root(blk + 1, &t))
			exit(1);
	}
	if (ext4_rfx_seal(blk + 1, bs, 0xc0ffee11u, 777, 3)) {
		fprintf(stderr, "mkseeds: sealing %s failed\n", name);
		exit(1);
	}
	put("flexbg", name, blk, 1 + bs, NULL, 0);
}

int main(int argc, char **argv)
{
	static const uint8_t rc1[] = {
		2, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0,
		0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 8, 0,
		0x00, 0x08, 0x00, 0x10, 0x00, 0x08, 0x00, 0x10,
		0x80, 0x08, 0x00, 0x10, 0x00, 0x28, 0x01, 0x00,
	};
	static const uint8_t rc2[] = {
		0, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x40, 0x00,
		0x00, 0x00, 0x40, 0x00, 0x80, 0x00, 0x40, 0x00,
		0x00, 0x20, 0x30, 0x01, 0x00, 0x20, 0x30, 0x01,
	};
	/* superblock magic, a descriptor, an inode, the metadata block */
	static const uint8_t im1[] = {
		0x03, 0x00, 0x00, 0x38, 0x00,
		0x05, 0x00, 0x00, 0x20, 0x7f,
		0x00, 0x10, 0x01, 0x04, 0xff,
	};

	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds DIR\n");
		return 1;
	}
	dir = argv[1];
	mkdir(dir, 0755);
	btree_seed("leaf", 20, 100, 0);
	btree_seed("height2", 300, 100, 4);
	btree_seed("height2-half", 300, 60, 7);
	flexbg_seed("empty-1k", 1024, false);
	flexbg_seed("root-1k", 1024, true);
	flexbg_seed("root-4k", 4096, true);
	put("refcount", "ops1", rc1, sizeof(rc1), NULL, 0);
	put("refcount", "ops2", rc2, sizeof(rc2), NULL, 0);
	put("image", "patches1", im1, sizeof(im1), NULL, 0);
	put("image", "empty", "", 0, NULL, 0);
	return 0;
}

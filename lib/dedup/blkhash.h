/* SPDX-License-Identifier: GPL-2.0 */
/*
 * blkhash.h - the hash-and-compare table that finds a stored block equal
 * to a given one: mkreflink -d (lib/populate) and --dedup (rfl_dedup.c).
 *
 * A 64-bit hash per block picks the candidates; the caller's compare
 * callback decides, byte for byte, whether a candidate is equal.  An
 * open-addressing table of 16-byte (hash, block) entries kept at most
 * half full: about 32 bytes per distinct block.
 */
#ifndef RFL_BLKHASH_H
#define RFL_BLKHASH_H

#include <stdbool.h>
#include <ext2fs/ext2fs.h>

/* Table entry; pblk 0 is an empty slot (block 0 is never data) */
struct rfl_blkhash_slot {
	__u64 hash;
	blk64_t pblk;
};

struct rfl_blkhash {
	struct rfl_blkhash_slot *tab;
	size_t size, used;		/* size a power of 2 */
};

/* Is stored block pblk equal to data?  (*same, or an error) */
typedef errcode_t (*rfl_blkhash_same_fn)(void *priv, blk64_t pblk,
					 const void *data, bool *same);

/* The hash of one block of len bytes (spreads well; not cryptographic) */
__u64 rfl_block_hash(const void *data, unsigned int len);

/* Remember that block pblk (non-zero) holds data of this hash */
errcode_t rfl_blkhash_insert(struct rfl_blkhash *t, __u64 hash,
			     blk64_t pblk);

/*
 * An earlier block equal to data (same() says so), or 0 in *pblk.
 * Candidates are tried in insertion order of the probe sequence.
 */
errcode_t rfl_blkhash_find(const struct rfl_blkhash *t, __u64 hash,
			   const void *data, rfl_blkhash_same_fn same,
			   void *priv, blk64_t *pblk);

void rfl_blkhash_free(struct rfl_blkhash *t);

#endif /* RFL_BLKHASH_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_roio.c - the io manager of a read-only open: pread, and nothing
 * else.  unix_io_manager fsyncs the device when it opens it and on every
 * flush, even when the channel was opened read-only and nothing was
 * written; a check with -n would otherwise sync a disk it must not
 * touch, and pay for it.  Reads keep unix_io's contract: a count below 0
 * is a byte count, a short read zero-fills the rest and is
 * EXT2_ET_SHORT_READ (or what the channel's read_error says).  Every
 * write is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reflink/rfl.h"

/*
 * The last few single blocks read.  libext2fs reads a descriptor block
 * for every descriptor field it is asked for when the table is not held
 * (RFL_OPEN_DESC_ON_DEMAND), many times per group: those come from
 * here.  Nothing writes through this channel, so nothing goes stale.
 */
#define CACHE_BLOCKS	8

struct roio_block {
	unsigned long long block;
	unsigned long last_use;		/* 0: empty */
	char *buf;
};

struct roio {
	int fd;
	unsigned long long bytes_read;
	struct struct_io_stats stats;
	unsigned long clock;
	struct roio_block cache[CACHE_BLOCKS];
};

static void cache_drop(struct roio *p)
{
	unsigned int i;

	for (i = 0; i < CACHE_BLOCKS; i++) {
		free(p->cache[i].buf);
		p->cache[i].buf = NULL;
		p->cache[i].last_use = 0;
	}
}

/* Copy block from the cache into buf: found? */
static bool cache_get(struct roio *p, unsigned long long block, void *buf,
		      int size)
{
	unsigned int i;

	for (i = 0; i < CACHE_BLOCKS; i++) {
		if (p->cache[i].last_use && p->cache[i].block == block) {
			p->cache[i].last_use = ++p->clock;
			memcpy(buf, p->cache[i].buf, size);
			return true;
		}
	}
	return false;
}

/* Keep a copy of block in the least recently used slot (best effort) */
static void cache_put(struct roio *p, unsigned long long block,
		      const void *buf, int size)
{
	struct roio_block *b = &p->cache[0];
	unsigned int i;

	for (i = 1; i < CACHE_BLOCKS; i++)
		if (p->cache[i].last_use < b->last_use)
			b = &p->cache[i];
	if (!b->buf)
		b->buf = malloc(size);
	if (!b->buf)
		return;
	memcpy(b->buf, buf, size);
	b->block = block;
	b->last_use = ++p->clock;
}

static struct roio *priv_of(io_channel ch)
{
	return ch->private_data;
}

static errcode_t roio_open(const char *name, int flags, io_channel *chp)
{
	io_channel ch = NULL;
	struct roio *p = NULL;
	errcode_t ret;

	if (!name)
		return EXT2_ET_BAD_DEVICE_NAME;
	if (flags & IO_FLAG_RW)
		return EXT2_ET_RO_FILSYS;
	ret = ext2fs_get_memzero(sizeof(*ch), &ch);
	if (!ret)
		ret = ext2fs_get_memzero(sizeof(*p), &p);
	if (!ret)
		ret = ext2fs_get_mem(strlen(name) + 1, &ch->name);
	if (ret)
		goto fail;
	strcpy(ch->name, name);
	p->fd = open(name, O_RDONLY | O_CLOEXEC |
		     ((flags & IO_FLAG_EXCLUSIVE) ? O_EXCL : 0));
	if (p->fd < 0) {
		ret = errno;
		goto fail;
	}
	ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	ch->manager = rfl_ro_io_manager;
	ch->block_size = 1024;
	ch->refcount = 1;
	ch->private_data = p;
	p->stats.num_fields = 2;
	*chp = ch;
	return 0;
fail:
	if (ch)
		ext2fs_free_mem(&ch->name);
	ext2fs_free_mem(&p);
	ext2fs_free_mem(&ch);
	return ret;
}

static errcode_t roio_close(io_channel ch)
{
	struct roio *p = priv_of(ch);
	errcode_t ret = 0;

	if (--ch->refcount > 0)
		return 0;
	if (close(p->fd) < 0)
		ret = errno;
	cache_drop(p);
	ext2fs_free_mem(&ch->private_data);
	ext2fs_free_mem(&ch->name);
	ext2fs_free_mem(&ch);
	return ret;
}

static errcode_t roio_set_blksize(io_channel ch, int blksize)
{
	if (ch->block_size != blksize)
		cache_drop(priv_of(ch));
	ch->block_size = blksize;
	return 0;
}

static errcode_t roio_read_blk64(io_channel ch, unsigned long long block,
				 int count, void *buf)
{
	struct roio *p = priv_of(ch);
	size_t size = count < 0 ? (size_t)-(long)count :
				  (size_t)count * ch->block_size;
	off_t pos = (off_t)(block * ch->block_size);
	size_t done = 0;
	ssize_t n;
	errcode_t ret = 0;

	if (count == 1 && cache_get(p, block, buf, ch->block_size))
		return 0;
	while (done < size) {
		n = pread(p->fd, (char *)buf + done, size - done,
			  pos + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? (errcode_t)errno : EXT2_ET_SHORT_READ;
			break;
		}
		done += n;
	}
	p->bytes_read += done;
	if (!ret) {
		if (count == 1)
			cache_put(p, block, buf, ch->block_size);
		return 0;
	}
	memset((char *)buf + done, 0, size - done);
	if (ch->read_error)
		ret = ch->read_error(ch, block, count, buf, size, done, ret);
	return ret;
}

static errcode_t roio_read_blk(io_channel ch, unsigned long block, int count,
			       void *buf)
{
	return roio_read_blk64(ch, block, count, buf);
}

static errcode_t roio_write_blk64(io_channel ch, unsigned long long block,
				  int count, const void *buf)
{
	(void)ch; (void)block; (void)count; (void)buf;
	return EXT2_ET_RO_FILSYS;
}

static errcode_t roio_write_blk(io_channel ch, unsigned long block,
				int count, const void *buf)
{
	return roio_write_blk64(ch, block, count, buf);
}

static errcode_t roio_write_byte(io_channel ch, unsigned long offset,
				 int count, const void *buf)
{
	(void)ch; (void)offset; (void)count; (void)buf;
	return EXT2_ET_RO_FILSYS;
}

/* Nothing was written: nothing to sync */
static errcode_t roio_flush(io_channel ch)
{
	(void)ch;
	return 0;
}

static errcode_t roio_set_option(io_channel ch, const char *option,
				 const char *arg)
{
	(void)ch; (void)option; (void)arg;
	return EXT2_ET_INVALID_ARGUMENT;
}

static errcode_t roio_get_stats(io_channel ch, io_stats *stats)
{
	struct roio *p = priv_of(ch);

	p->stats.bytes_read = p->bytes_read;
	p->stats.bytes_written = 0;
	if (stats)
		*stats = &p->stats;
	return 0;
}

static errcode_t roio_readahead(io_channel ch, unsigned long long block,
				unsigned long long count)
{
	struct roio *p = priv_of(ch);

	/* advice only: a failure costs speed, never a result */
	(void)posix_fadvise(p->fd, (off_t)(block * ch->block_size),
			    (off_t)(count * ch->block_size),
			    POSIX_FADV_WILLNEED);
	return 0;
}

static struct struct_io_manager ro_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "reflink read-only I/O manager",
	.open = roio_open,
	.close = roio_close,
	.set_blksize = roio_set_blksize,
	.read_blk = roio_read_blk,
	.write_blk = roio_write_blk,
	.flush = roio_flush,
	.write_byte = roio_write_byte,
	.set_option = roio_set_option,
	.get_stats = roio_get_stats,
	.read_blk64 = roio_read_blk64,
	.write_blk64 = roio_write_blk64,
	.cache_readahead = roio_readahead,
};

io_manager rfl_ro_io_manager = &ro_manager;

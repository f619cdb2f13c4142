// SPDX-License-Identifier: GPL-2.0
/*
 * rfl_memio.c - the io manager of an image held in memory, for callers
 * that check many images in one process (tests/fuzz/fuzz_image).  A file
 * opened through /proc/self/fd costs a path walk, a mount table read and
 * syscalls on every block; this is memcpy.  Reads keep unix_io's
 * contract (a count below 0 is bytes; past the end zero-fills and is
 * EXT2_ET_SHORT_READ, or what read_error says).  A channel opened
 * without IO_FLAG_RW refuses every write; every write asked for, refused
 * or not, is counted, and the 1 KiB units written are marked in the
 * image's dirty bitmap when it has one, so that the caller can restore
 * only those.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reflink/rfl.h"

struct memio {
	struct rfl_mem_image *img;
	bool rw;
	unsigned long long bytes_read, bytes_written;
	struct struct_io_stats stats;
};

static struct memio *priv_of(io_channel ch)
{
	return ch->private_data;
}

void rfl_mem_io_name(const struct rfl_mem_image *img, char *buf, size_t len)
{
	snprintf(buf, len, "mem:%p", (const void *)img);
}

bool rfl_mem_io_size(io_channel ch, int blocksize, blk64_t *blocks)
{
	if (!ch || ch->manager != rfl_mem_io_manager || blocksize <= 0)
		return false;
	*blocks = priv_of(ch)->img->size / (unsigned int)blocksize;
	return true;
}

static errcode_t memio_open(const char *name, int flags, io_channel *chp)
{
	struct rfl_mem_image *img;
	io_channel ch = NULL;
	struct memio *p = NULL;
	errcode_t ret;
	void *ptr;

	if (!name || sscanf(name, "mem:%p", &ptr) != 1 || !ptr)
		return EXT2_ET_BAD_DEVICE_NAME;
	img = ptr;
	ret = ext2fs_get_memzero(sizeof(*ch), &ch);
	if (!ret)
		ret = ext2fs_get_memzero(sizeof(*p), &p);
	if (!ret)
		ret = ext2fs_get_mem(strlen(name) + 1, &ch->name);
	if (ret) {
		if (ch)
			ext2fs_free_mem(&ch->name);
		ext2fs_free_mem(&p);
		ext2fs_free_mem(&ch);
		return ret;
	}
	strcpy(ch->name, name);
	p->img = img;
	p->rw = flags & IO_FLAG_RW;
	p->stats.num_fields = 2;
	ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	ch->manager = rfl_mem_io_manager;
	ch->block_size = 1024;
	ch->refcount = 1;
	ch->private_data = p;
	*chp = ch;
	return 0;
}

static errcode_t memio_close(io_channel ch)
{
	if (--ch->refcount > 0)
		return 0;
	ext2fs_free_mem(&ch->private_data);
	ext2fs_free_mem(&ch->name);
	ext2fs_free_mem(&ch);
	return 0;
}

static errcode_t memio_set_blksize(io_channel ch, int blksize)
{
	ch->block_size = blksize;
	return 0;
}

/* The bytes [*pos, *pos + *size) of the request, or false if overflowed */
static bool extent_of(io_channel ch, unsigned long long block, int count,
		      unsigned long long *pos, size_t *size)
{
	unsigned long long bs = (unsigned long long)ch->block_size;

	*size = count < 0 ? (size_t)-(long)count : (size_t)count * bs;
	if (block > ~0ULL / bs)
		return false;
	*pos = block * bs;
	return true;
}

static errcode_t memio_read_blk64(io_channel ch, unsigned long long block,
				  int count, void *buf)
{
	struct memio *p = priv_of(ch);
	size_t size = p->img->size, len, done = 0;
	unsigned long long pos;

	if (extent_of(ch, block, count, &pos, &len) && pos < size)
		done = len < size - pos ? len : size - pos;
	if (done)
		memcpy(buf, p->img->data + pos, done);
	p->bytes_read += done;
	if (done == len)
		return 0;
	memset((char *)buf + done, 0, len - done);
	if (ch->read_error)
		return ch->read_error(ch, block, count, buf, len, done,
				      EXT2_ET_SHORT_READ);
	return EXT2_ET_SHORT_READ;
}

static errcode_t memio_read_blk(io_channel ch, unsigned long block, int count,
				void *buf)
{
	return memio_read_blk64(ch, block, count, buf);
}

static errcode_t memio_write(io_channel ch, unsigned long long pos,
			     size_t len, const void *buf)
{
	struct memio *p = priv_of(ch);
	struct rfl_mem_image *img = p->img;
	size_t size = img->size, done = 0;
	unsigned long long u;

	img->writes++;
	if (!p->rw)
		return EXT2_ET_RO_FILSYS;
	if (pos < size)
		done = len < size - pos ? len : size - pos;
	if (!done)
		return len ? EXT2_ET_SHORT_WRITE : 0;
	memcpy(img->data + pos, buf, done);
	p->bytes_written += done;
	for (u = pos / RFL_MEM_IO_UNIT; img->dirty &&
	     u <= (pos + done - 1) / RFL_MEM_IO_UNIT; u++)
		img->dirty[u / 8] |= 1U << (u % 8);
	return done == len ? 0 : EXT2_ET_SHORT_WRITE;
}

static errcode_t memio_write_blk64(io_channel ch, unsigned long long block,
				   int count, const void *buf)
{
	unsigned long long pos;
	size_t len;
	errcode_t ret;

	if (!extent_of(ch, block, count, &pos, &len)) {
		priv_of(ch)->img->writes++;
		return EXT2_ET_SHORT_WRITE;
	}
	ret = memio_write(ch, pos, len, buf);
	if (ret == EXT2_ET_SHORT_WRITE && ch->write_error)
		ret = ch->write_error(ch, block, count, buf, len, 0, ret);
	return ret;
}

static errcode_t memio_write_blk(io_channel ch, unsigned long block,
				 int count, const void *buf)
{
	return memio_write_blk64(ch, block, count, buf);
}

static errcode_t memio_write_byte(io_channel ch, unsigned long offset,
				  int count, const void *buf)
{
	if (count < 0)
		return EXT2_ET_INVALID_ARGUMENT;
	return memio_write(ch, offset, (size_t)count, buf);
}

/* Nothing is cached: nothing to flush */
static errcode_t memio_flush(io_channel ch)
{
	(void)ch;
	return 0;
}

static errcode_t memio_set_option(io_channel ch, const char *option,
				  const char *arg)
{
	(void)ch; (void)option; (void)arg;
	return EXT2_ET_INVALID_ARGUMENT;
}

static errcode_t memio_get_stats(io_channel ch, io_stats *stats)
{
	struct memio *p = priv_of(ch);

	p->stats.bytes_read = p->bytes_read;
	p->stats.bytes_written = p->bytes_written;
	if (stats)
		*stats = &p->stats;
	return 0;
}

static errcode_t memio_readahead(io_channel ch, unsigned long long block,
				 unsigned long long count)
{
	(void)ch; (void)block; (void)count;
	return 0;
}

static struct struct_io_manager mem_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "reflink in-memory I/O manager",
	.open = memio_open,
	.close = memio_close,
	.set_blksize = memio_set_blksize,
	.read_blk = memio_read_blk,
	.write_blk = memio_write_blk,
	.flush = memio_flush,
	.write_byte = memio_write_byte,
	.set_option = memio_set_option,
	.get_stats = memio_get_stats,
	.read_blk64 = memio_read_blk64,
	.write_blk64 = memio_write_blk64,
	.cache_readahead = memio_readahead,
};

io_manager rfl_mem_io_manager = &mem_manager;

// SPDX-License-Identifier: GPL-2.0
/*
 * null_io.c - an io manager that never touches the device.  A dry run
 * (mkreflink -n) must be able to run ext2fs_initialize(), which opens its
 * device read-write, on a file that may not even exist yet.
 */
#include <stdlib.h>
#include <string.h>

#include "mkfs/rfl_mkfs.h"

static errcode_t null_open(const char *name, int flags, io_channel *chp);

static errcode_t null_close(io_channel ch)
{
	if (--ch->refcount > 0)
		return 0;
	free(ch->name);
	free(ch);
	return 0;
}

static errcode_t null_set_blksize(io_channel ch, int blksize)
{
	ch->block_size = blksize;
	return 0;
}

static errcode_t null_read_blk64(io_channel ch, unsigned long long block,
				 int count, void *buf)
{
	size_t len = count < 0 ? (size_t)-count :
		     (size_t)count * ch->block_size;

	(void)block;
	memset(buf, 0, len);
	return 0;
}

static errcode_t null_read_blk(io_channel ch, unsigned long block, int count,
			       void *buf)
{
	return null_read_blk64(ch, block, count, buf);
}

static errcode_t null_write_blk64(io_channel ch, unsigned long long block,
				  int count, const void *buf)
{
	(void)ch;
	(void)block;
	(void)count;
	(void)buf;
	return EXT2_ET_RO_FILSYS;
}

static errcode_t null_write_blk(io_channel ch, unsigned long block, int count,
				const void *buf)
{
	return null_write_blk64(ch, block, count, buf);
}

static errcode_t null_flush(io_channel ch)
{
	(void)ch;
	return 0;
}

static errcode_t null_set_option(io_channel ch, const char *opt,
				 const char *arg)
{
	(void)ch;
	(void)opt;
	(void)arg;
	return 0;
}

static struct struct_io_manager null_io = {
	.magic		= EXT2_ET_MAGIC_IO_MANAGER,
	.name		= "reflink null I/O manager",
	.open		= null_open,
	.close		= null_close,
	.set_blksize	= null_set_blksize,
	.read_blk	= null_read_blk,
	.write_blk	= null_write_blk,
	.flush		= null_flush,
	.set_option	= null_set_option,
	.read_blk64	= null_read_blk64,
	.write_blk64	= null_write_blk64,
};

io_manager rfl_null_io_manager = &null_io;

static errcode_t null_open(const char *name, int flags, io_channel *chp)
{
	io_channel ch;

	(void)flags;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return EXT2_ET_NO_MEMORY;
	ch->name = strdup(name ? name : "");
	if (!ch->name) {
		free(ch);
		return EXT2_ET_NO_MEMORY;
	}
	ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	ch->manager = &null_io;
	ch->block_size = 1024;
	ch->refcount = 1;
	*chp = ch;
	return 0;
}

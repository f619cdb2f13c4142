// SPDX-License-Identifier: GPL-2.0
/*
 * test_memio.c - rfl_mem_io_manager: reads and writes land in the
 * caller's buffer, a read-only channel refuses and counts writes, the
 * dirty map marks exactly the units written, reads past the end zero-fill
 * and fail as unix_io's do.
 */
#include <stdlib.h>
#include <string.h>

#include "reflink/rfl.h"
#include "tap.h"

#define SIZE	(8 * RFL_MEM_IO_UNIT)

static unsigned char data[SIZE], dirty[1], buf[4 * RFL_MEM_IO_UNIT];

static io_channel open_ch(struct rfl_mem_image *mi, int flags)
{
	char name[64];
	io_channel ch = NULL;

	rfl_mem_io_name(mi, name, sizeof(name));
	if (rfl_mem_io_manager->open(name, flags, &ch))
		return NULL;
	return ch;
}

int main(void)
{
	struct rfl_mem_image mi = { data, SIZE, dirty, 0 };
	io_channel ch;
	blk64_t blocks = 0;
	size_t i;

	initialize_ext2_error_table();
	for (i = 0; i < SIZE; i++)
		data[i] = (unsigned char)(i * 7 + i / 1024);

	ch = open_ch(&mi, 0);
	if (!ch)
		tap_bail_out("cannot open a read-only channel");
	tap_is_int(io_channel_read_blk64(ch, 2, 1, buf), 0, "read a block");
	ok(!memcmp(buf, data + 2048, 1024), "it is the image's");
	tap_is_int(io_channel_write_blk64(ch, 2, 1, buf), EXT2_ET_RO_FILSYS,
		   "read-only: a write is refused");
	tap_is_u64(mi.writes, 1, "and counted");
	ok(!dirty[0], "and marks nothing");
	ok(rfl_mem_io_size(ch, 2048, &blocks) && blocks == 4,
	   "the size in 2 KiB blocks: 4");
	tap_is_int(io_channel_set_blksize(ch, 2048), 0, "2 KiB blocks");
	memset(buf, 0xaa, sizeof(buf));
	tap_is_int(io_channel_read_blk64(ch, 3, 2, buf), EXT2_ET_SHORT_READ,
		   "a read past the end: short");
	ok(!memcmp(buf, data + 6144, 2048) && !buf[2048] &&
	   !memcmp(buf + 2048, buf + 2049, 2047),
	   "the part past the end reads as zeroes");
	tap_is_int(io_channel_read_blk64(ch, 1ULL << 62, 1, buf),
		   EXT2_ET_SHORT_READ, "a block number that overflows: short");
	io_channel_close(ch);

	mi.writes = 0;
	ch = open_ch(&mi, IO_FLAG_RW);
	if (!ch)
		tap_bail_out("cannot open a read-write channel");
	memset(buf, 0x55, sizeof(buf));
	tap_is_int(io_channel_write_blk64(ch, 5, 1, buf), 0, "write a block");
	ok(data[5 * 1024] == 0x55 && data[6 * 1024 - 1] == 0x55 &&
	   data[6 * 1024] != 0x55 && data[5 * 1024 - 1] != 0x55,
	   "exactly it is written");
	tap_is_int(io_channel_write_byte(ch, 1030, 2000, buf), 0,
		   "write bytes across two units");
	tap_is_int(dirty[0], (1 << 1) | (1 << 2) | (1 << 5),
		   "the dirty map: units 1, 2 and 5");
	tap_is_int(io_channel_write_blk64(ch, 7, 2, buf), EXT2_ET_SHORT_WRITE,
		   "a write past the end: short");
	ok(data[SIZE - 1] == 0x55 && (dirty[0] & 0x80),
	   "what fits is written and marked");
	tap_is_u64(mi.writes, 3, "every write counted");
	io_channel_close(ch);
	tap_is_int(rfl_mem_io_manager->open("/dev/null", 0, &ch),
		   EXT2_ET_BAD_DEVICE_NAME, "a name not of rfl_mem_io_name");
	return done_testing();
}

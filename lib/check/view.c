// SPDX-License-Identifier: GPL-2.0
/*
 * view.c - pass 6 without a snapshot (-n): the stripped view of the
 * image as an overlay of the few units it changes (superblocks,
 * descriptors, block bitmaps), served to stock e2fsck -fn reading the
 * image itself, read-only, through a preloaded shim
 * (misc/preload/reflinkck_view.c).
 *
 * The overlay is what present() writes, caught by an io manager that
 * reads the image and keeps every write in memory: the same code makes
 * the snapshot's view and this one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check/view.h"
#include "check/view_fmt.h"
#include "util/vec.h"

struct view_unit {
	__u64 off;
	char *data;
};

struct rfl_view {
	int fd;				/* the image, read-only */
	struct stat st;
	struct view_unit *v;		/* ascending by offset */
	size_t nr, max;
};

#define VIEW_NAME	"rfl-view:"

/* The first unit at or after off */
static size_t unit_find(const struct rfl_view *w, __u64 off)
{
	size_t lo = 0, hi = w->nr, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (w->v[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The overlay's units over [off, off + len) copied into buf */
static void unit_patch(const struct rfl_view *w, __u64 off, size_t len,
		       char *buf)
{
	size_t i = unit_find(w, off - off % RFL_VIEW_UNIT);
	__u64 a, b;

	for (; i < w->nr && w->v[i].off < off + len; i++) {
		a = w->v[i].off > off ? w->v[i].off : off;
		b = w->v[i].off + RFL_VIEW_UNIT;
		if (b > off + len)
			b = off + len;
		memcpy(buf + (a - off), w->v[i].data + (a - w->v[i].off),
		       b - a);
	}
}

static errcode_t unit_write(struct rfl_view *w, __u64 off, const char *data)
{
	size_t i = unit_find(w, off);
	char *p;

	if (i < w->nr && w->v[i].off == off) {
		memcpy(w->v[i].data, data, RFL_VIEW_UNIT);
		return 0;
	}
	if (rfl_vec_grow((void **)&w->v, &w->max, w->nr, sizeof(*w->v)))
		return EXT2_ET_NO_MEMORY;
	p = malloc(RFL_VIEW_UNIT);
	if (!p)
		return EXT2_ET_NO_MEMORY;
	memcpy(p, data, RFL_VIEW_UNIT);
	memmove(&w->v[i + 1], &w->v[i], (w->nr - i) * sizeof(*w->v));
	w->v[i].off = off;
	w->v[i].data = p;
	w->nr++;
	return 0;
}

static struct rfl_view *chan_view(io_channel ch)
{
	return ch->private_data;
}

static errcode_t view_open(const char *name, int flags, io_channel *chp)
{
	struct rfl_view *w = NULL;
	io_channel ch;
	errcode_t ret;

	(void)flags;
	if (strncmp(name, VIEW_NAME, strlen(VIEW_NAME)) ||
	    sscanf(name + strlen(VIEW_NAME), "%p", (void **)&w) != 1 || !w)
		return EXT2_ET_BAD_DEVICE_NAME;
	ret = ext2fs_get_memzero(sizeof(*ch), &ch);
	if (ret)
		return ret;
	ret = ext2fs_get_mem(strlen(name) + 1, &ch->name);
	if (ret) {
		ext2fs_free_mem(&ch);
		return ret;
	}
	strcpy(ch->name, name);
	ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	ch->manager = rfl_view_io_manager;
	ch->block_size = 1024;
	ch->refcount = 1;
	ch->private_data = w;
	*chp = ch;
	return 0;
}

static errcode_t view_close(io_channel ch)
{
	if (--ch->refcount > 0)
		return 0;
	ext2fs_free_mem(&ch->name);
	ext2fs_free_mem(&ch);
	return 0;
}

static errcode_t view_set_blksize(io_channel ch, int blksize)
{
	ch->block_size = blksize;
	return 0;
}

/* count < 0: -count bytes (libext2fs's convention) */
static size_t io_size(io_channel ch, int count)
{
	return count < 0 ? (size_t)-count : (size_t)count * ch->block_size;
}

static errcode_t view_read64(io_channel ch, unsigned long long blk,
			     int count, void *data)
{
	struct rfl_view *w = chan_view(ch);
	size_t size = io_size(ch, count);
	__u64 off = blk * ch->block_size;

	if (pread(w->fd, data, size, off) != (ssize_t)size)
		return EXT2_ET_SHORT_READ;
	unit_patch(w, off, size, data);
	return 0;
}

static errcode_t view_write64(io_channel ch, unsigned long long blk,
			      int count, const void *data)
{
	struct rfl_view *w = chan_view(ch);
	size_t size = io_size(ch, count), i;
	__u64 off = blk * ch->block_size;
	errcode_t ret = 0;

	/* what the shim could not serve by units: refused */
	if (off % RFL_VIEW_UNIT || size % RFL_VIEW_UNIT)
		return EXT2_ET_UNIMPLEMENTED;
	for (i = 0; !ret && i < size; i += RFL_VIEW_UNIT)
		ret = unit_write(w, off + i, (const char *)data + i);
	return ret;
}

static errcode_t view_read(io_channel ch, unsigned long blk, int count,
			   void *data)
{
	return view_read64(ch, blk, count, data);
}

static errcode_t view_write(io_channel ch, unsigned long blk, int count,
			    const void *data)
{
	return view_write64(ch, blk, count, data);
}

static errcode_t view_flush(io_channel ch)
{
	(void)ch;
	return 0;
}

static errcode_t view_set_option(io_channel ch, const char *option,
				 const char *arg)
{
	(void)ch; (void)option; (void)arg;
	return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager view_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "reflinkck view I/O manager",
	.open = view_open,
	.close = view_close,
	.set_blksize = view_set_blksize,
	.read_blk = view_read,
	.write_blk = view_write,
	.flush = view_flush,
	.set_option = view_set_option,
	.read_blk64 = view_read64,
	.write_blk64 = view_write64,
};

io_manager rfl_view_io_manager = &view_manager;

errcode_t rfl_view_new(const char *device, struct rfl_view **wp)
{
	struct rfl_view *w = calloc(1, sizeof(*w));

	*wp = NULL;
	if (!w)
		return EXT2_ET_NO_MEMORY;
	w->fd = open(device, O_RDONLY | O_CLOEXEC);
	if (w->fd < 0 || fstat(w->fd, &w->st)) {
		errcode_t ret = errno;

		rfl_view_free(w);
		return ret;
	}
	*wp = w;
	return 0;
}

void rfl_view_free(struct rfl_view *w)
{
	size_t i;

	if (!w)
		return;
	for (i = 0; i < w->nr; i++)
		free(w->v[i].data);
	free(w->v);
	if (w->fd >= 0)
		close(w->fd);
	free(w);
}

void rfl_view_name(const struct rfl_view *w, char *buf, size_t size)
{
	snprintf(buf, size, VIEW_NAME "%p", (const void *)w);
}

bool rfl_view_same(const struct rfl_view *a, const struct rfl_view *b)
{
	size_t i;

	if (a->nr != b->nr)
		return false;
	for (i = 0; i < a->nr; i++)
		if (a->v[i].off != b->v[i].off ||
		    memcmp(a->v[i].data, b->v[i].data, RFL_VIEW_UNIT))
			return false;
	return true;
}

/* All of buf to fd */
static errcode_t put(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EXT2_ET_SHORT_WRITE;
		p += n;
		len -= n;
	}
	return 0;
}

errcode_t rfl_view_memfd(const struct rfl_view *w, int *fdp)
{
	struct rfl_view_head h = {
		.magic = RFL_VIEW_MAGIC,
		.unit = RFL_VIEW_UNIT,
		.nr = w->nr,
		.dev = w->st.st_dev,
		.ino = w->st.st_ino,
		.rdev = S_ISBLK(w->st.st_mode) ? w->st.st_rdev : 0,
	};
	errcode_t ret;
	size_t i;
	int fd;

	/* inherited by the child: no close-on-exec */
	fd = memfd_create("reflinkck-view", 0);
	if (fd < 0)
		return errno;
	ret = put(fd, &h, sizeof(h));
	for (i = 0; !ret && i < w->nr; i++)
		ret = put(fd, &w->v[i].off, sizeof(w->v[i].off));
	for (i = 0; !ret && i < w->nr; i++)
		ret = put(fd, w->v[i].data, RFL_VIEW_UNIT);
	if (ret) {
		close(fd);
		return ret;
	}
	*fdp = fd;
	return 0;
}

/*
 * The shim beside this program: <bindir>/../lib/ext4-reflink/ (both
 * the build tree and make install lay it out so); false where it is
 * not there
 */
bool rfl_view_shim(char *buf, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return false;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return false;
	*slash = 0;
	if ((size_t)snprintf(buf, size, "%s/../lib/%s", exe, RFL_VIEW_SHIM) >=
	    size)
		return false;
	/* ld.so splits LD_PRELOAD at spaces and colons */
	if (strpbrk(buf, " :"))
		return false;
	return !access(buf, R_OK);
}

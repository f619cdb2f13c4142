// SPDX-License-Identifier: GPL-2.0
/*
 * reflinkck_view.c - preloaded into the stock e2fsck -fn that reflinkck
 * -fn runs as pass 6: the image it reads is shown as the round trip
 * shows it (lib/check/view.c), without a copy of it.
 *
 * Every read of the image (a file opened by any name with the device
 * and inode the overlay names) gets the overlay's units laid over it.
 * The image can only be opened read-only: nothing is written to it, and
 * nothing synced (libext2fs syncs what it opens; a check must not).
 * Once the superblock has been served, one byte goes down the ack pipe:
 * reflinkck trusts the verdict only then (a static e2fsck, or one that
 * reads the image some other way, leaves the pipe empty).  Without the
 * environment, or with an overlay it cannot read, it does nothing.
 * Linked in with it, misc/tool/ext2fs_crc32c.c: e2fsck's checksums are
 * computed with the crc32 instruction, as in reflinkck (the same values).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "check/view_fmt.h"

#define MAX_FD	1024

static struct {
	const struct rfl_view_head *head;
	const __u64 *off;
	const char *data;
	__u64 nr;
	int ack;
	unsigned char fds[MAX_FD / 8];	/* the image's descriptors */
} view = { .ack = -1 };

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_open_2)(const char *, int);
static int (*real_open64_2)(const char *, int);
static int (*real_close)(int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_pread64)(int, void *, size_t, off64_t);
static off64_t (*real_lseek64)(int, off64_t, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

static void *sym(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

static int env_fd(const char *name)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	v = strtol(s, &end, 10);
	return *end || v < 0 || v > 1 << 20 ? -1 : (int)v;
}

static bool load(int fd)
{
	struct stat st;
	const char *p;
	size_t need;

	if (fstat(fd, &st) || st.st_size < (off_t)sizeof(*view.head))
		return false;
	p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return false;
	view.head = (const void *)p;
	if (memcmp(view.head->magic, RFL_VIEW_MAGIC, 8) ||
	    view.head->unit != RFL_VIEW_UNIT ||
	    view.head->nr > (__u64)st.st_size / RFL_VIEW_UNIT)
		goto bad;
	need = sizeof(*view.head) + view.head->nr * (8 + RFL_VIEW_UNIT);
	if ((size_t)st.st_size != need)
		goto bad;
	view.off = (const void *)(p + sizeof(*view.head));
	view.data = p + sizeof(*view.head) + view.head->nr * 8;
	view.nr = view.head->nr;
	return true;
bad:
	munmap((void *)p, st.st_size);
	view.head = NULL;
	return false;
}

/* Also from a wrapper called before the constructor (by another
 * library's): every name once */
static void resolve(void)
{
	static bool done;

	if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
		return;
	real_open = sym("open");
	real_open64 = sym("open64");
	real_openat = sym("openat");
	real_openat64 = sym("openat64");
	real_open_2 = sym("__open_2");
	real_open64_2 = sym("__open64_2");
	real_close = sym("close");
	real_dup = sym("dup");
	real_dup2 = sym("dup2");
	real_dup3 = sym("dup3");
	real_read = sym("read");
	real_pread = sym("pread");
	real_pread64 = sym("pread64");
	real_lseek64 = sym("lseek64");
	real_fsync = sym("fsync");
	real_fdatasync = sym("fdatasync");
	__atomic_store_n(&done, true, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void view_init(void)
{
	int fd = env_fd(RFL_VIEW_ENV_FD);

	resolve();
	if (fd < 0)
		return;
	/* any symbol missing: reads would go around the overlay */
	if (real_open && real_open64 && real_openat && real_openat64 &&
	    real_close && real_dup && real_dup2 && real_dup3 && real_read &&
	    real_pread && real_pread64 && real_lseek64 && real_fsync &&
	    real_fdatasync && load(fd))
		view.ack = env_fd(RFL_VIEW_ENV_ACK);
	close(fd);
}

static bool tracked(int fd)
{
	return view.nr && fd >= 0 && fd < MAX_FD &&
	       view.fds[fd / 8] & (1 << (fd % 8));
}

static void track(int fd, bool on)
{
	if (fd < 0 || fd >= MAX_FD)
		return;
	if (on)
		view.fds[fd / 8] |= 1 << (fd % 8);
	else
		view.fds[fd / 8] &= ~(1 << (fd % 8));
}

/* A descriptor just opened: the image's is tracked, and read-only */
static int opened(int fd, int flags)
{
	struct stat st;
	bool image;

	if (fd < 0 || !view.nr)
		return fd;
	track(fd, false);
	if (fstat(fd, &st))
		return fd;
	if (S_ISBLK(st.st_mode))
		image = view.head->rdev && st.st_rdev == view.head->rdev;
	else
		image = st.st_dev == view.head->dev &&
			st.st_ino == view.head->ino;
	if (!image)
		return fd;
	if ((flags & O_ACCMODE) != O_RDONLY || fd >= MAX_FD) {
		real_close(fd);
		errno = EROFS;
		return -1;
	}
	track(fd, true);
	return fd;
}

static void ack(void)
{
	int fd = __atomic_exchange_n(&view.ack, -1, __ATOMIC_SEQ_CST);
	char c = 1;

	if (fd < 0)
		return;
	/* not written: reflinkck does without this verdict */
	if (write(fd, &c, 1) != 1)
		c = 0;
	real_close(fd);
}

/* The overlay laid over what was read at off */
static void patch(char *buf, __u64 off, size_t len)
{
	size_t lo = 0, hi = view.nr, mid;
	__u64 a, b, u;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (view.off[mid] + RFL_VIEW_UNIT <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < view.nr && view.off[lo] < off + len; lo++) {
		u = view.off[lo];
		a = u > off ? u : off;
		b = u + RFL_VIEW_UNIT < off + len ? u + RFL_VIEW_UNIT :
						    off + len;
		memcpy(buf + (a - off), view.data + lo * RFL_VIEW_UNIT +
		       (a - u), b - a);
		/* the primary superblock */
		if (u == 1024)
			ack();
	}
}

static int mode_of(int flags, va_list ap)
{
	return flags & (O_CREAT | __O_TMPFILE) ? va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	resolve();
	va_start(ap, flags);
	mode = mode_of(flags, ap);
	va_end(ap);
	return opened(real_open(path, flags, mode), flags);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	resolve();
	va_start(ap, flags);
	mode = mode_of(flags, ap);
	va_end(ap);
	return opened(real_open64(path, flags, mode), flags);
}

int openat(int dir, const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	resolve();
	va_start(ap, flags);
	mode = mode_of(flags, ap);
	va_end(ap);
	return opened(real_openat(dir, path, flags, mode), flags);
}

int openat64(int dir, const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	resolve();
	va_start(ap, flags);
	mode = mode_of(flags, ap);
	va_end(ap);
	return opened(real_openat64(dir, path, flags, mode), flags);
}

int __open_2(const char *path, int flags)
{
	resolve();
	return opened(real_open_2 ? real_open_2(path, flags) :
		      real_open(path, flags), flags);
}

int __open64_2(const char *path, int flags)
{
	resolve();
	return opened(real_open64_2 ? real_open64_2(path, flags) :
		      real_open64(path, flags), flags);
}

int close(int fd)
{
	resolve();
	track(fd, false);
	return real_close(fd);
}

int dup(int fd)
{
	int r;

	resolve();
	r = real_dup(fd);

	if (r >= 0 && tracked(fd)) {
		if (r >= MAX_FD) {
			real_close(r);
			errno = EMFILE;
			return -1;
		}
		track(r, true);
	}
	return r;
}

static int duped(int fd, int r)
{
	if (r < 0)
		return r;
	track(r, tracked(fd));
	return r;
}

int dup2(int fd, int to)
{
	resolve();
	return duped(fd, real_dup2(fd, to));
}

int dup3(int fd, int to, int flags)
{
	resolve();
	return duped(fd, real_dup3(fd, to, flags));
}

ssize_t read(int fd, void *buf, size_t len)
{
	off64_t pos;
	ssize_t r;

	resolve();
	pos = tracked(fd) ? real_lseek64(fd, 0, SEEK_CUR) : -1;
	r = real_read(fd, buf, len);

	if (r > 0 && pos >= 0)
		patch(buf, pos, r);
	return r;
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	ssize_t r;

	resolve();
	r = real_pread(fd, buf, len, off);

	if (r > 0 && tracked(fd))
		patch(buf, off, r);
	return r;
}

ssize_t pread64(int fd, void *buf, size_t len, off64_t off)
{
	ssize_t r;

	resolve();
	r = real_pread64(fd, buf, len, off);

	if (r > 0 && tracked(fd))
		patch(buf, off, r);
	return r;
}

/* Nothing of the image's was written: no sync of it either */
int fsync(int fd)
{
	resolve();
	return tracked(fd) ? 0 : real_fsync(fd);
}

int fdatasync(int fd)
{
	resolve();
	return tracked(fd) ? 0 : real_fdatasync(fd);
}

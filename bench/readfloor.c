// SPDX-License-Identifier: GPL-2.0
/*
 * readfloor.c - the read floor of a check: pread exactly the byte
 * ranges a list names from an image, and nothing else.
 *
 *	readfloor IMAGE LIST
 *
 * LIST holds "offset length" lines (decimal bytes), sorted and merged:
 * bench/run makes it from the preads of one reflinkck -fn run, so the
 * time of this program is what reading the metadata the checker needs
 * costs, with no checking at all.  Prints "ranges bytes" on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK	(1 << 20)

int main(int argc, char **argv)
{
	unsigned long long off, len, total = 0, ranges = 0;
	static char buf[CHUNK];
	FILE *list;
	ssize_t n;
	size_t want;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: readfloor IMAGE LIST\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "readfloor: %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	list = fopen(argv[2], "r");
	if (!list) {
		fprintf(stderr, "readfloor: %s: %s\n", argv[2],
			strerror(errno));
		return 1;
	}
	while (fscanf(list, "%llu %llu", &off, &len) == 2) {
		ranges++;
		while (len) {
			want = len < CHUNK ? len : CHUNK;
			n = pread(fd, buf, want, (off_t)off);
			if (n <= 0) {
				fprintf(stderr, "readfloor: %s: short read at "
					"%llu\n", argv[1], off);
				return 1;
			}
			off += n;
			len -= n;
			total += n;
		}
	}
	fclose(list);
	close(fd);
	printf("%llu %llu\n", ranges, total);
	return 0;
}

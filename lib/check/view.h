/* SPDX-License-Identifier: GPL-2.0 */
/*
 * view.h - pass 6's overlay of the stripped view (view.c)
 */
#ifndef RFL_CHECK_VIEW_H
#define RFL_CHECK_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include <ext2fs/ext2fs.h>

/* the shim, under the directory of libraries */
#define RFL_VIEW_SHIM	"ext4-reflink/reflinkck-view.so"

struct rfl_view;

/* Opens the rfl_view named by rfl_view_name: reads the image, keeps
 * every write in memory */
extern io_manager rfl_view_io_manager;

errcode_t rfl_view_new(const char *device, struct rfl_view **wp);
void rfl_view_free(struct rfl_view *w);
void rfl_view_name(const struct rfl_view *w, char *buf, size_t size);
bool rfl_view_same(const struct rfl_view *a, const struct rfl_view *b);
/* The overlay as the shim reads it, in a new memfd (inheritable) */
errcode_t rfl_view_memfd(const struct rfl_view *w, int *fdp);
bool rfl_view_shim(char *buf, size_t size);

#endif

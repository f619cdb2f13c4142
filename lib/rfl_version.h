/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfl_version.h - the version and date the tools print in their banners
 * ("reflinkck 0.1 (02-Dec-2026)", as e2fsck and debugfs print theirs).
 */
#ifndef RFL_VERSION_H
#define RFL_VERSION_H

#define RFL_VERSION	"0.1"
#define RFL_DATE	"02-Dec-2026"

#endif /* RFL_VERSION_H */

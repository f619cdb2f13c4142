/* SPDX-License-Identifier: GPL-2.0 */
/* vec.h - moved to lib/util/vec.h: every layer uses the one array */
#include "util/vec.h"

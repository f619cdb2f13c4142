/* SPDX-License-Identifier: GPL-2.0 */
/* check-shared stub of <linux/errno.h>: the generic Linux values */
#ifndef _KSTUB_LINUX_ERRNO_H
#define _KSTUB_LINUX_ERRNO_H

#define EPERM		 1
#define ENOENT		 2
#define EIO		 5
#define E2BIG		 7
#define EAGAIN		11
#define ENOMEM		12
#define EFAULT		14
#define EBUSY		16
#define EEXIST		17
#define EINVAL		22
#define EFBIG		27
#define ENOSPC		28
#define EROFS		30
#define ERANGE		34
#define ENOSYS		38
#define ENOTEMPTY	39
#define ELOOP		40
#define ENODATA		61
#define EBADMSG		74
#define EOVERFLOW	75
#define EOPNOTSUPP	95
#define ESTALE		116
#define EUCLEAN		117

#endif

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# mkbase.sh [tiny] - remake tests/fuzz/base.img.gz, the small image
# fuzz_image starts from: 4 MiB, 1 KiB blocks, 4 groups in 2 flex
# groups, files with extents of depth 0 and 1, a directory, an xattr
# block, and clones so both trees hold records.  Needs make first.
#
# With "tiny": tests/fuzz/tiny.img.gz, the one mutate-images starts
# from: the same kinds of metadata in 1 MiB (256 blocks a group), no
# journal, 64 inodes, fewer and smaller files.  Each of a mutant's runs
# (reflinkck -f with its e2image and e2fsck, refdebug, mkreflink) costs
# about in proportion to the image, and the journal is stock e2fsck's.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=build/bin
out=tests/fuzz/base.img.gz
# size, blocks a group, inodes, extra mke2fs features, files in dir/,
# bytes of /a
geo=(4M 1024 128 "" 40 40000)
if [[ ${1:-} == tiny ]]; then
	out=tests/fuzz/tiny.img.gz
	geo=(1M 256 64 ",^has_journal" 12 20000)
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/src/dir/sub"
export SOURCE_DATE_EPOCH=1700000000
python3 - "$T/src" "${geo[4]}" "${geo[5]}" <<'PY'
import os, random, sys
r = random.Random(15)
d = sys.argv[1]
nfiles, abytes = int(sys.argv[2]), int(sys.argv[3])
open(os.path.join(d, "a"), "wb").write(bytes((i * 7 + i // 251) % 251 for i in range(abytes)))
open(os.path.join(d, "small"), "wb").write(b"x" * 3000)
# many small extents: an extent tree of depth 1 once written with holes
with open(os.path.join(d, "frag"), "wb") as f:
    for i in range(12):
        f.seek(i * 8192)
        f.write(bytes([65 + i]) * 1024)
for i in range(nfiles):
    open(os.path.join(d, "dir", "f%02d" % i), "w").write("%d\n" % i)
open(os.path.join(d, "dir", "sub", "deep"), "wb").write(b"y" * 5000)
PY
mke2fs -q -F -t ext4 -O "64bit,^resize_inode${geo[3]}" -b 1024 \
	-g "${geo[1]}" -G 2 -N "${geo[2]}" \
	-I 256 -U 0ecf5c1a-15ee-4a5b-9c2e-2f3b4e5d6c7a \
	-E hash_seed=1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b \
	-d "$T/src" "$T/base.img" "${geo[0]}" >/dev/null
# an xattr too big for the inode: an xattr block
debugfs -w -R "ea_set -f /dev/stdin /small user.big" "$T/base.img" \
	< <(head -c 400 /dev/zero | tr '\0' 'z') >/dev/null 2>&1
debugfs -R "stat /small" "$T/base.img" 2>/dev/null | grep -q "File ACL: [1-9]" ||
	{ echo "mkbase: no xattr block" >&2; exit 1; }
"$B/rflctl" -w "$T/base.img" enable
"$B/rflctl" -w "$T/base.img" clone /a /a2
"$B/rflctl" -w "$T/base.img" clone /frag /frag2
"$B/rflctl" -w "$T/base.img" clone /dir/sub/deep /deep2
"$B/reflinkck" -fn "$T/base.img"
gzip -9n <"$T/base.img" >"$out"
ls -l "$out"

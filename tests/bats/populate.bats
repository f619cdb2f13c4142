#!/usr/bin/env bats
# populate.bats - mkreflink -d: copy a tree in, sharing identical blocks.
#
# Outside oracles: the kernel's read-only mount compared with the source
# (diff -r and a find -printf metadata listing), rfl_recount (the refcount
# trees equal a recount of the extents), stock e2fsck -fn after --strip,
# and mke2fs -d on the same tree for the blocks used.

bats_require_minimum_version 1.5.0

load common

U1=6e1b7a3c-0f4d-4c2b-9a51-3d2e8f7c6b10
HS=9d3c2b1a-4e5f-4a6b-8c7d-0e1f2a3b4c5d
export SOURCE_DATE_EPOCH=1700000000

teardown() {
	unmount_mnt
}

setup() {
	need_built mkreflink
	need_tools mke2fs e2fsck debugfs sha256sum dd find
	IMG="$BATS_TEST_TMPDIR/img"
	MNT="$BATS_TEST_TMPDIR/mnt"
	SRC="$BATS_TEST_TMPDIR/src"
	mkdir -p "$MNT"
}

# A deterministic block of 4 KiB: seed n
blk() {
	python3 -c "import random,sys; r=random.Random($1); \
sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(4096)))"
}

# make_tree DIR [reverse]: the same tree, files created in either order
make_tree() {
	local d=$1 order=${2:-} i f files
	mkdir -p "$d/sub/deep" "$d/empty_dir"
	for i in 1 2 3 4 5 6 7 8; do blk $i; done > "$d/.base"
	files=(whole1 sub/whole2 sub/deep/whole3 partial onediff sparse
	       zeros tail small)
	[ "$order" = reverse ] &&
		files=(small tail zeros sparse onediff partial sub/deep/whole3
		       sub/whole2 whole1)
	for f in "${files[@]}"; do
		case $f in
		whole*|sub/whole2|sub/deep/whole3) cp "$d/.base" "$d/$f" ;;
		partial)
			# blocks 4..7 of base, then new data
			{ dd if="$d/.base" bs=4096 skip=4 2>/dev/null
			  blk 100; blk 101; } > "$d/$f" ;;
		onediff)
			cp "$d/.base" "$d/$f"
			blk 200 | dd of="$d/$f" bs=4096 seek=3 conv=notrunc \
				2>/dev/null ;;
		sparse)
			truncate -s 1M "$d/$f"
			blk 2 | dd of="$d/$f" bs=4096 seek=100 conv=notrunc \
				2>/dev/null ;;
		zeros) dd if=/dev/zero of="$d/$f" bs=4096 count=3 2>/dev/null ;;
		tail) { cat "$d/.base"; printf 'tail'; } > "$d/$f" ;;
		small) echo hello > "$d/$f" ;;
		esac
	done
	rm "$d/.base"
	ln -s whole1 "$d/fastlink"
	ln -s "$(printf 'l%.0s' $(seq 1 200))" "$d/slowlink"
	ln "$d/whole1" "$d/sub/hard_whole1"
	mkfifo "$d/fifo"
	mknod "$d/chardev" c 1 3
	mknod "$d/blockdev" b 7 200
	chown 1234:5678 "$d/small"
	chmod 4751 "$d/partial"
	chmod 700 "$d/sub/deep"
	# fixed times with nanoseconds, deepest first so parents keep theirs
	find "$d" -depth -exec touch -h -d '2021-05-06 07:08:09.123456789' {} +
	touch -h -a -d '2020-01-02 03:04:05.987654321' "$d/small"
}

# The metadata the kernel shows: type, mode, owner, size (not of
# directories), links, mtime, atime, link target; ctime is the copy's own
listing() {
	(cd "$1" && find . -path ./lost+found -prune -o -path . -o \
		\( -type d -printf '%P %y %m %U %G - %n %T@ %A@\n' \) -o \
		-printf '%P %y %m %U %G %s %n %T@ %A@ %l\n' | sort)
}

@test "populate: the kernel sees the source tree, byte for byte" {
	[ "$(id -u)" -eq 0 ] || skip "not root: mknod needs it"
	make_tree "$SRC"
	# times as they are, not clamped to SOURCE_DATE_EPOCH
	unset SOURCE_DATE_EPOCH
	# reading a directory or symlink moves its atime once (relatime):
	# let that happen before the snapshot, not during the copy
	listing "$SRC" > /dev/null
	listing "$SRC" > "$BATS_TEST_TMPDIR/src.list"
	run "$BIN/mkreflink" -q -F -d "$SRC" "$IMG" 16M
	[ "$status" -eq 0 ]
	mount_ro "$IMG"
	run diff -r --no-dereference -x lost+found -x fifo -x chardev \
		-x blockdev "$SRC" "$MNT"
	echo "$output"
	[ "$status" -eq 0 ]
	listing "$MNT" > "$BATS_TEST_TMPDIR/img.list"
	run diff "$BATS_TEST_TMPDIR/src.list" "$BATS_TEST_TMPDIR/img.list"
	echo "$output"
	[ "$status" -eq 0 ]
	run stat -c '%t:%T' "$MNT/blockdev"
	[ "$output" = "7:c8" ]
}

# Extended attributes of every name under a tree, as one sorted text
xattrs() {
	python3 - "$1" <<'PY'
import os, sys
root = sys.argv[1]
for dp, dn, fn in sorted(os.walk(root)):
    for n in sorted(dn + fn) + ["."]:
        p = os.path.join(dp, n)
        r = os.path.relpath(p, root)
        if r.startswith("lost+found"):
            continue
        for k in sorted(os.listxattr(p, follow_symlinks=False)):
            print(r, k, os.getxattr(p, k, follow_symlinks=False).hex())
PY
}

@test "populate: extended attributes and POSIX ACLs survive" {
	[ "$(id -u)" -eq 0 ] || skip "not root: trusted.* and mknod need it"
	make_tree "$SRC"
	python3 - "$SRC" <<'PY' || skip "the source filesystem has no xattrs"
import os, struct, sys
d = sys.argv[1]
os.setxattr(d + "/small", "user.colour", b"blue")
os.setxattr(d + "/whole1", "security.big", b"x" * 300)
os.setxattr(d + "/sub", "user.dir", b"")
os.setxattr(d + "/fastlink", "trusted.t", b"1", follow_symlinks=False)
os.setxattr(d, "user.root", b"r")
# user::rw- user:1000:rwx group::r-- mask::rwx other::r--
acl = struct.pack("<I", 2) + b"".join(
    struct.pack("<HHI", t, p, i) for t, p, i in
    [(1, 6, 0xffffffff), (2, 7, 1000), (4, 4, 0xffffffff),
     (0x10, 7, 0xffffffff), (0x20, 4, 0xffffffff)])
os.setxattr(d + "/tail", "system.posix_acl_access", acl)
os.setxattr(d + "/sub", "system.posix_acl_default", acl)
PY
	xattrs "$SRC" > "$BATS_TEST_TMPDIR/src.x"
	grep -q posix_acl_access "$BATS_TEST_TMPDIR/src.x"
	run "$BIN/mkreflink" -q -F -d "$SRC" "$IMG" 16M
	[ "$status" -eq 0 ]
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ]
	mount_ro "$IMG"
	xattrs "$MNT" > "$BATS_TEST_TMPDIR/img.x"
	run diff "$BATS_TEST_TMPDIR/src.x" "$BATS_TEST_TMPDIR/img.x"
	echo "$output"
	[ "$status" -eq 0 ]
	umount "$MNT"
	"$BIN/mkreflink" -q --strip "$IMG"
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "populate: refcounts equal a recount, and shared inodes are flagged" {
	[ "$(id -u)" -eq 0 ] || skip "not root: mknod needs it"
	make_tree "$SRC"
	run "$BIN/mkreflink" -F -d "$SRC" "$IMG" 16M
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"shared"* ]]
	run "$BIN/rfl_recount" "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *" 0 differences"* ]]
	[[ "$output" != *" 0 records"* ]]
	# every file with a shared block carries EXT4_REFLINK_FL (0x400000)
	for f in whole1 sub/whole2 sub/deep/whole3 partial onediff tail; do
		run debugfs -R "stat /$f" "$IMG"
		[[ "$output" =~ Flags:\ 0x4[0-9a-f]{5} ]] ||
			{ echo "$f: $output" | head -5; false; }
	done
	run debugfs -R "stat /small" "$IMG"
	[[ ! "$output" =~ Flags:\ 0x4[0-9a-f]{5} ]]
}

@test "populate: holes stay holes, zero blocks become holes" {
	[ "$(id -u)" -eq 0 ] || skip "not root: mknod needs it"
	make_tree "$SRC"
	run "$BIN/mkreflink" -q -F -d "$SRC" "$IMG" 16M
	[ "$status" -eq 0 ]
	run debugfs -R "stat /zeros" "$IMG"
	[[ "$output" == *"Blockcount: 0"* ]]
	run debugfs -R "stat /sparse" "$IMG"
	[[ "$output" == *"Blockcount: 8"* ]]
}

@test "populate: a 1 TiB sparse file is not read; --keep-zero keeps zeroes" {
	[ "$(id -u)" -eq 0 ] || skip "not root: mknod needs it"
	make_tree "$SRC"
	truncate -s 1T "$SRC/huge"
	printf x >> "$SRC/huge"
	run timeout 20 "$BIN/mkreflink" -q -F -b 1024 --keep-zero -d "$SRC" "$IMG" 16M
	[ "$status" -eq 0 ]
	run debugfs -R "stat /huge" "$IMG"
	[[ "$output" == *"Size: 1099511627777"* ]]
	[[ "$output" == *"Blockcount: 2"* ]]
	# 12 KiB of zeroes kept: 12 one-block extents onto one block, which
	# need an extent tree block
	run debugfs -R "stat /zeros" "$IMG"
	[[ "$output" == *"Blockcount: 26"* ]]
	run debugfs -R "stat /sparse" "$IMG"
	[[ "$output" == *"Blockcount: 8"* ]]
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ]
}

@test "populate: fewer blocks than mke2fs -d; --no-dedup stores all" {
	[ "$(id -u)" -eq 0 ] || skip "not root: mknod needs it"
	make_tree "$SRC"
	mke2fs -q -F -t ext4 -b 4096 -U "$U1" -d "$SRC" "$IMG.e2" 16M
	"$BIN/mkreflink" -q -F -b 4096 -d "$SRC" "$IMG" 16M
	"$BIN/mkreflink" -q -F -b 4096 --no-dedup -d "$SRC" "$IMG.nd" 16M
	# without the trees' reserves (FORMAT.md 4.4), which --strip frees
	stripped_used() {
		cp "$1" "$1.s"
		"$BIN/mkreflink" -q --strip "$1.s"
		used "$1.s"
	}
	e2=$(used "$IMG.e2") ours=$(stripped_used "$IMG")
	nd=$(stripped_used "$IMG.nd")
	echo "mke2fs -d $e2, mkreflink -d $ours, --no-dedup $nd (stripped)"
	# 8 + 8 + 8 + 2 + 1 + 1 + 1 + 1 + 1 data blocks without dedup, 11 with
	[ $((e2 - ours)) -ge 18 ]
	[ $((nd - ours)) -ge 18 ]
	run "$BIN/rfl_recount" "$IMG.nd"
	[ "$status" -eq 0 ]
}

@test "populate: --strip, then stock e2fsck -fn is clean" {
	[ "$(id -u)" -eq 0 ] || skip "not root: mknod needs it"
	make_tree "$SRC"
	"$BIN/mkreflink" -q -F -d "$SRC" "$IMG" 16M
	"$BIN/mkreflink" -q --strip "$IMG"
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "populate: the same tree made in another order gives the same image" {
	[ "$(id -u)" -eq 0 ] || skip "not root: mknod needs it"
	make_tree "$SRC"
	make_tree "$SRC.2" reverse
	"$BIN/mkreflink" -q -F -U "$U1" -E hash_seed="$HS" -d "$SRC" "$IMG" 16M
	"$BIN/mkreflink" -q -F -U "$U1" -E hash_seed="$HS" -d "$SRC.2" "$IMG.2" 16M
	a=$(sha256sum < "$IMG") b=$(sha256sum < "$IMG.2")
	[ "$a" = "$b" ]
}

@test "populate: a tree larger than the image says how much more it needs" {
	mkdir -p "$SRC"
	head -c 3M /dev/urandom > "$SRC/big"
	run "$BIN/mkreflink" -q -F -d "$SRC" "$IMG" 2M
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" =~ needs\ [0-9]+\ more\ blocks ]]
	[ ! -e "$IMG" ]
}

@test "populate: an unreadable file is named, and fails the run" {
	[ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null ||
		skip "needs root and setpriv to read as another user"
	# somewhere the other user can reach
	TOP=$(mktemp -d /tmp/populate.XXXXXX)
	chmod 777 "$TOP"
	SRC="$TOP/src"
	mkdir -p "$SRC"
	echo secret > "$SRC/locked"
	chmod 000 "$SRC/locked"
	run setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$BIN/mkreflink" -q -F -d "$SRC" "$TOP/img" 4M
	rm -rf "$TOP"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$SRC/locked"* ]]
	[[ "$output" == *"ermission denied"* ]]
}

@test "populate: a name longer than 255 bytes is refused by name" {
	mkdir -p "$SRC"
	n=$(printf 'n%.0s' $(seq 1 256))
	touch "$SRC/$n" 2>/dev/null || skip "the source filesystem refuses it"
	run "$BIN/mkreflink" -q -F -d "$SRC" "$IMG" 4M
	[ "$status" -eq 1 ]
}

@test "populate: --no-dedup without -d is a usage error" {
	run "$BIN/mkreflink" --no-dedup "$IMG" 4M
	[ "$status" -eq 1 ]
	[[ "$output" == *"goes with -d"* ]]
}

@test "populate: a directory of 3000 names spans many blocks, all found" {
	mkdir -p "$SRC/big"
	# names of every length 1..200, so entries split blocks unevenly
	python3 - "$SRC/big" <<'PY'
import os, sys
d = sys.argv[1]
for i in range(3000):
    n = ("%d-" % i).ljust(1 + i % 200, "x")
    with open(os.path.join(d, n), "w") as f:
        f.write(str(i))
PY
	run "$BIN/mkreflink" -q -F -d "$SRC" "$IMG" 32M
	echo "$output"
	[ "$status" -eq 0 ]
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ]
	# ~330 KiB of entries: many blocks, and a tree of extents
	run debugfs -R "stat /big" "$IMG"
	[[ "$output" =~ Size:\ ([0-9]+) ]]
	[ "${BASH_REMATCH[1]}" -gt 200000 ]
	cp "$IMG" "$IMG.s"
	"$BIN/mkreflink" -q --strip "$IMG.s"
	run e2fsck -fn "$IMG.s"
	echo "$output"
	[ "$status" -eq 0 ]
	mount_ro "$IMG"
	run diff -r -x lost+found "$SRC" "$MNT"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "populate: -C fd writes 'pass cur max device' lines, rising to max" {
	make_tree_plain() {
		mkdir -p "$SRC/d"
		for i in $(seq 1 40); do
			head -c $((i * 5000)) /dev/urandom > "$SRC/d/f$i"
		done
		cp "$SRC/d/f40" "$SRC/copy"
	}
	make_tree_plain
	run "$BIN/mkreflink" -q -F -C 3 -d "$SRC" "$IMG" 16M 3>"$BATS_TEST_TMPDIR/p"
	echo "$output"
	[ "$status" -eq 0 ]
	cat "$BATS_TEST_TMPDIR/p"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/p")" -ge 3 ]
	awk -v dev="$IMG" '
		NF != 4 || $1 != 1 || $2 !~ /^[0-9]+$/ ||
		    $3 !~ /^[0-9]+$/ || $4 != dev { print "bad: " $0; bad = 1 }
		NR > 1 && ($2 < cur || $3 != max) { print "not rising: " $0
						     bad = 1 }
		{ cur = $2; max = $3 }
		END { if (cur != max || max == 0) { print "ends short"
						    bad = 1 }
		      exit bad }' "$BATS_TEST_TMPDIR/p"
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ]
}

@test "populate: -C with a closed fd, or without -d, is refused" {
	mkdir -p "$SRC"
	run "$BIN/mkreflink" -q -F -C 9 -d "$SRC" "$IMG" 16M 9>&-
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad progress fd"* ]]
	run "$BIN/mkreflink" -q -F -C 1 "$IMG" 16M
	[ "$status" -eq 1 ]
	[[ "$output" == *"goes with -d"* ]]
}

dcat() {
	debugfs -R "cat $2" "$1" 2>/dev/null
}

# A stock ext4 image holding /old/a and /keep, to copy more into
stock_image() {
	mkdir -p "$BATS_TEST_TMPDIR/stock/old"
	head -c 20000 /dev/urandom > "$BATS_TEST_TMPDIR/stock/old/a"
	echo keep > "$BATS_TEST_TMPDIR/stock/keep"
	mke2fs -q -F -t ext4 -O 64bit -b 4096 -d "$BATS_TEST_TMPDIR/stock" \
		"$IMG" "${1:-32M}"
}

@test "populate: --enable -d copies into an existing image's root" {
	stock_image
	mkdir -p "$SRC/old" "$SRC/new"
	head -c 40000 /dev/urandom > "$SRC/new/b"
	cp "$SRC/new/b" "$SRC/old/b2"
	cp "$BATS_TEST_TMPDIR/stock/old/a" "$SRC/new/a_again"
	run "$BIN/mkreflink" --enable -d "$SRC" "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"reflink enabled"* ]]
	run "$BIN/rfl_recount" "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	# old and new side by side; /old merged
	for f in keep old/a old/b2 new/b new/a_again; do
		debugfs -R "dump /$f $BATS_TEST_TMPDIR/out" "$IMG" 2>/dev/null
		want=$BATS_TEST_TMPDIR/stock/$f
		[ -e "$want" ] || want=$SRC/$f
		cmp "$want" "$BATS_TEST_TMPDIR/out"
	done
	"$BIN/mkreflink" -q --strip "$IMG"
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "populate: -E root= copies into a directory of the image" {
	stock_image
	mkdir -p "$SRC"
	echo new > "$SRC/n"
	run "$BIN/mkreflink" -q --enable -E root=/old -d "$SRC" "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	run dcat "$IMG" /old/n
	[ "$output" = new ]
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ]
}

@test "populate: -E root= must name a directory; a taken name is refused" {
	stock_image
	mkdir -p "$SRC"
	echo new > "$SRC/keep"
	before=$(sha256sum < "$IMG")
	for r in /nothere /keep; do
		run "$BIN/mkreflink" -q --enable -E root=$r -d "$SRC" "$IMG"
		echo "$output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"no directory $r"* ]]
	done
	[ "$(sha256sum < "$IMG")" = "$before" ]
	# a precheck refusal writes nothing; a name clash stops the copy
	run "$BIN/mkreflink" -q --enable -d "$SRC" "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$SRC/keep: the image already has that name"* ]]
	[[ "$output" == *"left as it was"* ]]
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	run dcat "$IMG" /keep
	[ "$output" = keep ]
}

@test "populate: --enable -d of a tree too big leaves the image as it was" {
	stock_image 8M
	mkdir -p "$SRC/sub"
	for i in 1 2 3 4 5 6; do
		head -c 1M /dev/urandom > "$SRC/sub/f$i"
	done
	run "$BIN/mkreflink" -q --enable -d "$SRC" "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" =~ needs\ [0-9]+\ more\ blocks ]]
	[[ "$output" == *"left as it was"* ]]
	# no feature, files as before, and stock e2fsck finds nothing
	run dumpe2fs -h "$IMG"
	[[ "$output" != *FEATURE_R17* ]]
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	run debugfs -R "ls -p /" "$IMG"
	[[ "$output" != *"/sub/"* ]]
	run dcat "$IMG" /keep
	[ "$output" = keep ]
}

@test "populate: a failed -d on an existing device leaves the empty format" {
	mkdir -p "$SRC/d"
	head -c 3M /dev/urandom > "$SRC/big"
	echo x > "$SRC/d/y"
	truncate -s 2M "$IMG"
	run "$BIN/mkreflink" -q -F -d "$SRC" "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" =~ needs\ [0-9]+\ more\ blocks ]]
	# the root holds what the format made, nothing of the copy
	run debugfs -R "ls /" "$IMG"
	[[ "$output" == *lost+found* ]]
	[[ "$output" != *big* ]]
	[[ "$output" != *" d "* ]]
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ]
	"$BIN/mkreflink" -q --strip "$IMG"
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
}

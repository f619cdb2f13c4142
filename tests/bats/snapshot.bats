#!/usr/bin/env bats
# snapshot.bats - refdebug snapshot SRC DST: an offline snapshot of a
# directory tree, regular files cloned.
#
# Outside oracles: the kernel's read-only mount (diff -r, a find -printf
# metadata listing, getfattr), rfl_recount, stock e2fsck -fn after
# --strip, dumpe2fs's free block count.

bats_require_minimum_version 1.5.0

load common

teardown() {
	unmount_mnt
}

setup() {
	need_built mkreflink refdebug reflinkck rfl_recount
	need_tools e2fsck dumpe2fs debugfs python3 getfattr setfattr setfacl
	IMG="$BATS_TEST_TMPDIR/img"
	MNT="$BATS_TEST_TMPDIR/mnt"
	SRC="$BATS_TEST_TMPDIR/src"
	mkdir -p "$MNT" "$SRC"
}

# "N tree blocks" of reflinkck -fn's summary
tree_blocks() {
	"$BIN/reflinkck" -fn "$IMG" | sed -n 's/.* \([0-9]*\) tree blocks.*/\1/p'
}

rd() {
	run "$BIN/refdebug" "$@"
	echo "$output"
}

@test "snapshot: 10,000 files share every data block, cost no data blocks, check clean" {
	python3 - "$SRC" <<'PY'
import os, random, sys
r = random.Random(18)
for d in range(100):
    os.mkdir("%s/d%02d" % (sys.argv[1], d))
    for f in range(100):
        with open("%s/d%02d/f%02d" % (sys.argv[1], d, f), "wb") as o:
            o.write(r.randbytes(r.randint(1, 3) * 4096 - r.randint(0, 4000)))
PY
	run "$BIN/mkreflink" -q -F -b 4096 -d "$SRC" "$IMG" 256M
	[ "$status" -eq 0 ]
	free0=$(free_blocks)
	tree0=$(tree_blocks)
	ex=$(debugfs -R "ex /d42/f17" "$IMG" 2>/dev/null)

	rd -w -R "snapshot / /snap" "$IMG"
	[ "$status" -eq 0 ]
	[[ "$output" == *"10000 files, 102 directories"* ]]
	blocks=$(sed -n 's/.*; \([0-9]*\) data blocks shared.*/\1/p' <<<"$output")
	[ "$blocks" -gt 10000 ]

	# every block a clone maps is a source's: all of them now shared
	run "$BIN/rfl_recount" "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *" $blocks shared blocks"* ]]
	[ "$(debugfs -R "ex /snap/d42/f17" "$IMG" 2>/dev/null)" = "$ex" ]

	check_clean
	# what it cost: the new directories only (the refcount tree's nodes
	# come from the flex group's reserve, in use already)
	tree1=$(tree_blocks)
	mount_ro
	dirblocks=$(find "$MNT/snap" -type d -printf '%b\n' |
		awk '{ n += $1 } END { print n / 8 }')
	echo "free $free0 -> $(free_blocks), dirs $dirblocks, tree $tree0 -> $tree1"
	[ "$tree1" -gt "$tree0" ]
	[ $((free0 - $(free_blocks))) -eq "$dirblocks" ]
	run diff -r -x lost+found -x snap "$MNT" "$MNT/snap"
	echo "$output"
	[ "$status" -eq 0 ]
	run diff -r -x lost+found "$SRC" "$MNT/snap"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "snapshot: a copy-on-write into the snapshot leaves the source as it was" {
	mkdir -p "$SRC/a"
	head -c 50000 /dev/urandom >"$SRC/a/file"
	head -c 6000 /dev/urandom >"$BATS_TEST_TMPDIR/new"
	run "$BIN/mkreflink" -q -F -b 4096 -d "$SRC" "$IMG" 32M
	[ "$status" -eq 0 ]
	rd -w -R "snapshot /a /snap" "$IMG"
	[ "$status" -eq 0 ]
	rd -w -R "write /snap/file 4096 $BATS_TEST_TMPDIR/new" "$IMG"
	[ "$status" -eq 0 ]
	check_clean
	mount_ro
	cmp "$SRC/a/file" "$MNT/a/file"
	cmp -n 4096 "$SRC/a/file" "$MNT/snap/file"
	cmp -i 0:4096 -n 6000 "$BATS_TEST_TMPDIR/new" "$MNT/snap/file"
	cmp -i 10096 -n 39904 "$SRC/a/file" "$MNT/snap/file"
}

@test "snapshot: symlinks, devices, hard links, xattrs, ACLs and times are kept" {
	[ "$(id -u)" -eq 0 ] || skip "not root: mknod needs it"
	mkdir -p "$SRC/t/d1/d2"
	head -c 100000 /dev/urandom >"$SRC/t/f1"
	cp "$SRC/t/f1" "$SRC/t/d1/f2"
	echo hi >"$SRC/t/d1/d2/small"
	ln -s f1 "$SRC/t/fast"
	ln -s "$(printf 'x%.0s' $(seq 1 300))" "$SRC/t/d1/slow"
	ln "$SRC/t/f1" "$SRC/t/hard"
	mkfifo "$SRC/t/fifo"
	mknod "$SRC/t/chr" c 1 3
	mknod "$SRC/t/blk" b 7 200
	setfattr -n user.k -v hello "$SRC/t/f1"
	setfacl -m u:1234:rw "$SRC/t/d1/f2"
	setfacl -d -m g:55:rx "$SRC/t/d1"
	setfattr -n user.big -v "$(head -c 700 /dev/zero | tr '\0' a)" \
		"$SRC/t/d1/d2"
	chown 12:34 "$SRC/t/d1/d2"
	chmod 2750 "$SRC/t/d1"
	find "$SRC/t" -depth -exec touch -h -d '2021-05-06 07:08:09.123' {} +
	run "$BIN/mkreflink" -q -F -d "$SRC" "$IMG" 32M
	[ "$status" -eq 0 ]
	rd -w -R "snapshot /t /snap" "$IMG"
	[ "$status" -eq 0 ]
	[[ "$output" == *"3 files, 3 directories, 2 symlinks, 3 special, 1 hard links"* ]]
	check_clean
	mount_ro
	listing() {
		(cd "$1" && find . -printf '%P %y %m %U %G %s %n %T@ %l\n' |
			sort)
	}
	xattrs() {
		(cd "$1" && getfattr -h -d -m - -R . 2>/dev/null |
			awk '/^# file:/ { f = $3; next } NF { print f, $0 }' |
			sort)
	}
	run diff <(listing "$MNT/t") <(listing "$MNT/snap")
	echo "$output"
	[ "$status" -eq 0 ]
	run diff <(xattrs "$MNT/t") <(xattrs "$MNT/snap")
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(xattrs "$MNT/snap" | wc -l)" -ge 4 ]
	run diff -r --no-dereference -x fifo -x chr -x blk "$MNT/t" \
		"$MNT/snap"
	[ "$status" -eq 0 ]
	[ "$(stat -c %i "$MNT/snap/f1")" = "$(stat -c %i "$MNT/snap/hard")" ]
	[ "$(stat -c '%t:%T' "$MNT/snap/blk")" = "7:c8" ]
}

@test "snapshot: refusals write nothing" {
	mkdir -p "$SRC/a"
	echo x >"$SRC/a/file"
	run "$BIN/mkreflink" -q -F -d "$SRC" "$IMG" 16M
	[ "$status" -eq 0 ]
	sum=$(sha256sum <"$IMG")
	rd -w -R "snapshot /a /a" "$IMG"
	[ "$status" -eq 1 ]
	rd -w -R "snapshot /a/file /x" "$IMG"
	[ "$status" -eq 1 ]
	rd -w -R "snapshot /nosuch /x" "$IMG"
	[ "$status" -eq 1 ]
	rd -w -R "snapshot /a /nosuch/x" "$IMG"
	[ "$status" -eq 1 ]
	rd -R "snapshot /a /x" "$IMG"
	[ "$status" -eq 1 ]
	[ "$(sha256sum <"$IMG")" = "$sum" ]
}

#!/usr/bin/env bats
# refdebug_debugfs.bats - the file commands with debugfs's meaning (stat,
# ls, blocks, icheck, ncheck, cat, dump FILE HOSTFILE, write HOSTFILE
# FILE), judged by stock debugfs reading the same image, and the old
# meanings of dump and write kept under dump_refcounts and pwrite.

bats_require_minimum_version 1.5.0

load common

setup() {
	need_built mkreflink refdebug rfl_recount
	need_tools debugfs
	SRC="$BATS_TEST_TMPDIR/src"
	IMG="$BATS_TEST_TMPDIR/img"
	src_tree
	printf 'hello\n' >"$SRC/small"
	"$BIN/mkreflink" -q -b 4096 -d "$SRC" "$IMG" 64M
}

dfs() {
	debugfs -R "$1" "$IMG" 2>/dev/null
}

@test "blocks and ncheck print what debugfs prints" {
	for f in /a /d/a2 /d/u /small; do
		[ "$(rdq "blocks $f")" = "$(dfs "blocks $f")" ]
	done
	ino_a=$(dfs "stat /a" | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
	ino_u=$(dfs "stat /d/u" | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
	# debugfs 1.47 doubles the slash of names in the root: "//a"
	[ "$(rdq "ncheck $ino_a $ino_u")" = \
	  "$(dfs "ncheck $ino_a $ino_u" | sed 's|\t//|\t/|')" ]
}

@test "icheck: debugfs's answer, and every sharer of a shared block" {
	b=$(rdq "blocks /d/u" | cut -d' ' -f1)
	[ "$(rdq "icheck $b")" = "$(dfs "icheck $b")" ]
	s=$(rdq "blocks /a" | cut -d' ' -f1)
	ino_a=$(dfs "stat /a" | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
	ino_a2=$(dfs "stat /d/a2" | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
	run rdq "icheck $s"
	[ "${lines[0]}" = $'Block\tInode number' ]
	[ "$(printf '%s\n' "${lines[@]:1}" | sort)" = \
	  "$(printf '%s\t%s\n' "$s" "$ino_a" "$s" "$ino_a2" | sort)" ]
	[ "$(rdq "icheck 5")" = $'Block\tInode number\n5\t<block not found>' ]
}

@test "ls lists what debugfs ls lists; ls -l has mode and size" {
	want=$(dfs "ls -p /d" | awk -F/ 'NF > 5 { print $2 "  " $6 }')
	[ "$(rdq "ls /d")" = "$want" ]
	run rdq "ls -l /"
	grep -Eq '^ +[0-9]+ +100644 +0 +0 +40960  a$' <<<"$output"
	grep -Eq '^ +[0-9]+ +40755 .*  d$' <<<"$output"
}

@test "stat shows each extent's share count, following a clone" {
	run rdq "stat /d/u"
	echo "$output"
	[[ ${lines[0]} == "Inode: "*"Type: regular"* ]]
	grep -Eq '^\(0-2\):[0-9]+-[0-9]+ count 1$' <<<"$output"
	run rdq "stat /a"
	grep -Eq '^\(0-9\):[0-9]+-[0-9]+ count 2$' <<<"$output"
	[[ ${lines[0]} == *"(reflink)" ]]
	"$BIN/refdebug" -w -R "reflink /a /b" "$IMG" 2>/dev/null
	run rdq "stat /b"
	grep -Eq '^\(0-9\):[0-9]+-[0-9]+ count 3$' <<<"$output"
	# a copy-on-write of one block splits the extent's runs
	head -c 4096 /dev/urandom >"$BATS_TEST_TMPDIR/blk"
	"$BIN/refdebug" -w -R "pwrite /b 8192 $BATS_TEST_TMPDIR/blk" "$IMG" \
		2>/dev/null
	run rdq "stat /b"
	echo "$output"
	grep -Eq '^\(0-1\):[0-9]+-[0-9]+ count 3$' <<<"$output"
	grep -Eq '^\(2-2\):[0-9]+-[0-9]+ count 1$' <<<"$output"
	grep -Eq '^\(3-9\):[0-9]+-[0-9]+ count 3$' <<<"$output"
	"$BIN/rfl_recount" "$IMG"
}

@test "cat and dump FILE HOSTFILE give the bytes, as debugfs" {
	rdq "cat /d/u" | cmp - "$SRC/d/u"
	run "$BIN/refdebug" -R "dump /a $BATS_TEST_TMPDIR/out" "$IMG"
	[ "$status" -eq 0 ]
	cmp "$BATS_TEST_TMPDIR/out" "$SRC/a"
	dfs "dump /small $BATS_TEST_TMPDIR/out2"
	rdq "cat /small" | cmp - "$BATS_TEST_TMPDIR/out2"
}

@test "old names: dump FILE is dump_refcounts, write with 3 args pwrite" {
	run "$BIN/refdebug" -R "dump $BATS_TEST_TMPDIR/d1" "$IMG"
	[ "$status" -eq 0 ]
	run "$BIN/refdebug" -R "dump_refcounts $BATS_TEST_TMPDIR/d2" "$IMG"
	[ "$status" -eq 0 ]
	cmp "$BATS_TEST_TMPDIR/d1" "$BATS_TEST_TMPDIR/d2"
	head -1 "$BATS_TEST_TMPDIR/d1" | grep -q '^# refdebug dump'
	# write HOSTFILE FILE makes a new file, as debugfs write
	run "$BIN/refdebug" -w -R "write $SRC/d/u /new" "$IMG"
	[ "$status" -eq 0 ]
	rdq "cat /new" | cmp - "$SRC/d/u"
	# write FILE OFFSET HOSTFILE is pwrite, as before
	printf 'XY' >"$BATS_TEST_TMPDIR/xy"
	run "$BIN/refdebug" -w -R "write /new 1 $BATS_TEST_TMPDIR/xy" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(rdq "cat /new" | head -c 3 | tail -c 2)" = XY ]
	"$BIN/rfl_recount" "$IMG"
}

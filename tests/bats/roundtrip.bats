#!/usr/bin/env bats
# roundtrip.bats - every stock e2fsprogs writer on a reflink image, by
# the round trip: mkreflink --strip (the sharing kept as shared_blocks),
# the stock tool, mkreflink --enable (the sharing counted again).  The
# image is made by mkreflink -d from a tree with duplicates; after the
# trip every shared block is shared again (rfl_recount's count, before
# and after) and every file's bytes are the same (read through the
# kernel's read-only mount where it can, else debugfs).  Then e2image
# -r/-Q copies, whose trees reflinkck -y builds again.

bats_require_minimum_version 1.5.0

load common

setup_file() {
	local src="$BATS_FILE_TMPDIR/src" i

	command -v e2fsck >/dev/null || return 0
	mkdir -p "$src/d"
	for i in 1 2 3; do
		head -c 200K /dev/urandom >"$src/u$i"
		cp "$src/u$i" "$src/d/c$i"
	done
	cp "$src/u1" "$src/d/x1"
	head -c 50K /dev/urandom >"$src/alone"
	BASE="$BATS_FILE_TMPDIR/base.img"
	"$BIN/mkreflink" -q -b 1024 -d "$src" "$BASE" 64M
	# a shared file high up, so that a shrink has to move it
	"$BIN/place_file" "$BASE" far 50000 40 >/dev/null
	"$BIN/rflctl" -w "$BASE" clone /far /far2
	export BASE
}

setup() {
	need_built mkreflink reflinkck rfl_recount rflctl place_file
	need_tools e2fsck tune2fs e2label resize2fs debugfs e2image
	IMG="$BATS_TEST_TMPDIR/img"
	cp "$BASE" "$IMG"
	MNT="$BATS_TEST_TMPDIR/mnt"
	mkdir -p "$MNT"
	SHARED=$(shared "$IMG")
	[ "$SHARED" -gt 0 ]
	sums "$IMG" >"$BATS_TEST_TMPDIR/sums.before"
}

teardown() {
	unmount_mnt
}

# shared IMG: the blocks the files share, by the independent recount
# (which must also agree with the trees)
shared() {
	local out
	out=$("$BIN/rfl_recount" "$1") || { echo "$out" >&2; return 1; }
	sed -n 's/.* \([0-9]*\) shared blocks.*/\1/p' <<<"$out"
}

# sums IMG: every file's sha256, read by the kernel (ro) or debugfs
sums() {
	if [ "$(id -u)" -eq 0 ] && mount -o loop,ro "$1" "$MNT" 2>/dev/null
	then
		"$REPO/images/file-sums" "$MNT"
		umount "$MNT"
	else
		"$REPO/images/file-sums" "$1"
	fi
}

strip() {
	run "$BIN/mkreflink" -q --strip "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ " $(features) " == *" shared_blocks "* ]]
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
}

# enable, then: clean, shared again as before, the same bytes
enable_and_compare() {
	run "$BIN/mkreflink" --enable "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"shared blocks counted"* ]]
	[[ " $(features) " != *" shared_blocks "* ]]
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(shared "$IMG")" -eq "$SHARED" ]
	sums "$IMG" >"$BATS_TEST_TMPDIR/sums.after"
	diff -u "${1:-$BATS_TEST_TMPDIR/sums.before}" \
		"$BATS_TEST_TMPDIR/sums.after"
}

@test "strip, enable: every shared block shared again, the same bytes" {
	strip
	enable_and_compare
}

@test "tune2fs -L and -U, e2label in the round trip" {
	local uuid=0b0e1f00-5eed-4a11-8000-00000000abcd
	strip
	run tune2fs -L newlabel "$IMG"
	[ "$status" -eq 0 ]
	run tune2fs -U "$uuid" "$IMG"
	[ "$status" -eq 0 ]
	enable_and_compare
	[ "$(dumpe2fs -h "$IMG" 2>/dev/null |
	     sed -n 's/^Filesystem UUID: *//p')" = "$uuid" ]
	strip
	run e2label "$IMG" lab2
	[ "$status" -eq 0 ]
	enable_and_compare
	[ "$(e2label "$IMG")" = lab2 ]
}

@test "resize2fs grows and shrinks in the round trip (shared blocks moved together)" {
	local before after
	before=$(debugfs -R "bmap /far 0" "$IMG" 2>/dev/null)
	strip
	run resize2fs "$IMG" 96M
	echo "$output"
	[ "$status" -eq 0 ]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
	enable_and_compare
	[ "$(dumpe2fs -h "$IMG" 2>/dev/null |
	     sed -n 's/^Block count: *//p')" -eq $((96 * 1024)) ]
	strip
	run resize2fs "$IMG" 40M
	echo "$output"
	[ "$status" -eq 0 ]
	after=$(debugfs -R "bmap /far 0" "$IMG" 2>/dev/null)
	# /far was at block 50000, past the new end: it moved, and its
	# clone with it
	[ "$before" -ge 40960 ] && [ "$after" -lt 40960 ]
	[ "$(debugfs -R "bmap /far2 0" "$IMG" 2>/dev/null)" = "$after" ]
	enable_and_compare
}

@test "debugfs -w in the round trip: a new file, a removed one" {
	strip
	printf 'written by debugfs\n' >"$BATS_TEST_TMPDIR/new"
	run debugfs -w -R "write $BATS_TEST_TMPDIR/new newfile" "$IMG"
	[ "$status" -eq 0 ]
	run debugfs -w -R "rm alone" "$IMG"
	[ "$status" -eq 0 ]
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -v ' ./alone$' "$BATS_TEST_TMPDIR/sums.before" >"$BATS_TEST_TMPDIR/want"
	echo "$(sha256sum <"$BATS_TEST_TMPDIR/new" | cut -d' ' -f1)  ./newfile" \
		>>"$BATS_TEST_TMPDIR/want"
	sort -k2 -o "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/want"
	enable_and_compare "$BATS_TEST_TMPDIR/want"
}

@test "e2fsck -fy in the round trip repairs damage outside the feature, sharing kept" {
	local ino
	strip
	# an in-use inode no directory names: e2fsck -fy puts it in lost+found
	ino=$(debugfs -R "stat /alone" "$IMG" 2>/dev/null |
	      sed -n 's/^Inode: *\([0-9]*\).*/\1/p')
	run debugfs -w -R "unlink /alone" "$IMG"
	[ "$status" -eq 0 ]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 4 ]
	run e2fsck -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Connect to /lost+found? yes"* ]]
	debugfs -R "ls -l /lost+found" "$IMG" 2>/dev/null | grep -q "#$ino"
	run "$BIN/mkreflink" --enable "$IMG"
	[ "$status" -eq 0 ]
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(shared "$IMG")" -eq "$SHARED" ]
	# lost+found is left out of the sums: the rest is as before
	sums "$IMG" >"$BATS_TEST_TMPDIR/sums.after"
	grep -v ' ./alone$' "$BATS_TEST_TMPDIR/sums.before" |
		diff -u - "$BATS_TEST_TMPDIR/sums.after"
}

@test "--enable marks the sharers with EXT4_REFLINK_FL (an e2fsdroid -s image has none)" {
	local f
	strip
	for f in /u1 /d/c1 /d/x1 /far /far2; do
		run debugfs -w -R "set_inode_field $f flags 0x80000" "$IMG"
		[ "$status" -eq 0 ]
	done
	enable_and_compare
	for f in /u1 /d/c1 /d/x1 /far /far2; do
		run "$BIN/rflctl" "$IMG" flags "$f"
		echo "$f: $output"
		(( output & 0x400000 ))
	done
	run "$BIN/rflctl" "$IMG" flags /alone
	(( !(output & 0x400000) ))
}

@test "--enable -z: one undo file restores the shared_blocks image" {
	strip
	cp "$IMG" "$BATS_TEST_TMPDIR/stripped"
	run "$BIN/mkreflink" -q --enable -z "$BATS_TEST_TMPDIR/undo" "$IMG"
	[ "$status" -eq 0 ]
	run e2undo "$BATS_TEST_TMPDIR/undo" "$IMG"
	[ "$status" -eq 0 ]
	cmp "$IMG" "$BATS_TEST_TMPDIR/stripped"
}

@test "e2image -r and -Q copies get their trees back with reflinkck -y" {
	local raw="$BATS_TEST_TMPDIR/raw" q="$BATS_TEST_TMPDIR/q"
	run e2image -r "$IMG" "$raw"
	[ "$status" -eq 0 ]
	run e2image -Q "$IMG" "$q.qcow2"
	[ "$status" -eq 0 ]
	run e2image -r "$q.qcow2" "$q"
	[ "$status" -eq 0 ]
	for c in "$raw" "$q"; do
		run "$BIN/reflinkck" -fn "$c"
		echo "$output"
		[ "$status" -eq 4 ]
		run "$BIN/reflinkck" -fy "$c"
		echo "$output"
		[ "$status" -eq 1 ]
		run "$BIN/reflinkck" -fn "$c"
		[ "$status" -eq 0 ]
		[ "$(shared "$c")" -eq "$SHARED" ]
	done
}

@test "reflinkck and refdebug: -V, and LABEL=/UUID= through libblkid" {
	local loopdev uuid
	run "$BIN/reflinkck" -V
	[ "$status" -eq 0 ]
	[[ "$output" == "reflinkck "*"Using EXT2FS Library version"* ]]
	run "$BIN/refdebug" -V
	[ "$status" -eq 0 ]
	[[ "$output" == "refdebug "*"Using EXT2FS Library version"* ]]
	run "$BIN/reflinkck" -fn "LABEL=no-such-label-$$"
	[ "$status" -eq 8 ]
	[[ "$output" == *"Unable to resolve 'LABEL=no-such-label-$$'"* ]]

	[ "$(id -u)" -eq 0 ] || skip "loop devices need root"
	command -v losetup >/dev/null || skip "losetup is not installed"
	strip
	run tune2fs -L "rt$$" "$IMG"
	[ "$status" -eq 0 ]
	run "$BIN/mkreflink" -q --enable "$IMG"
	[ "$status" -eq 0 ]
	uuid=$(dumpe2fs -h "$IMG" 2>/dev/null |
	       sed -n 's/^Filesystem UUID: *//p')
	loopdev=$(losetup -f --show "$IMG") || skip "losetup failed"
	# probe it into the blkid cache (a reused loop device may be cached
	# with what it held before)
	blkid -p "$loopdev" >/dev/null 2>&1 && blkid "$loopdev" >/dev/null ||
		{ losetup -d "$loopdev"; skip "blkid cannot see $loopdev"; }
	# other tests may attach and detach loop devices meanwhile: judge
	# only what stock blkid resolves at the same moment
	run "$BIN/reflinkck" -fn "LABEL=rt$$"
	echo "$output"
	local s1=$status o1=$output
	local b1=$(blkid -t "LABEL=rt$$" -o device 2>/dev/null | head -1)
	run "$BIN/refdebug" -R "stats" "UUID=$uuid"
	echo "$output"
	local s2=$status
	local b2=$(blkid -t "UUID=$uuid" -o device 2>/dev/null | head -1)
	losetup -d "$loopdev"
	[ "$b1" = "$loopdev" ] || [ "$s1" -eq 0 ] ||
		skip "blkid itself does not resolve LABEL=rt$$ now"
	[ "$s1" -eq 0 ]
	# the last line, after the banner
	[[ "${o1##*$'\n'}" == "$loopdev: "*" flex groups" ]]
	[ "$b2" = "$loopdev" ] || [ "$s2" -eq 0 ] ||
		skip "blkid itself does not resolve UUID=$uuid now"
	[ "$s2" -eq 0 ]
}

# damage outside the feature, planted through the round trip: an entry
# naming a free inode, a directory block with a broken rec_len, an
# in-use inode no directory reaches
plant_outside_damage() {
	local blk
	mkdir -p "$BATS_TEST_TMPDIR/e"
	strip
	debugfs -w -R "mkdir /e" "$IMG" 2>/dev/null
	for f in one two three; do
		head -c 2K /dev/urandom >"$BATS_TEST_TMPDIR/e/$f"
		debugfs -w -R "write $BATS_TEST_TMPDIR/e/$f /e/$f" "$IMG" \
			2>/dev/null
	done
	run debugfs -w -R "freei /d/x1" "$IMG"
	[ "$status" -eq 0 ]
	run debugfs -w -R "unlink /alone" "$IMG"
	[ "$status" -eq 0 ]
	blk=$(debugfs -R "bmap /e 0" "$IMG" 2>/dev/null)
	# the third entry of /e ("one"): rec_len 7
	python3 - "$IMG" "$blk" <<'PY'
import struct, sys
img, blk = sys.argv[1], int(sys.argv[2])
with open(img, "r+b") as f:
    f.seek(blk * 1024)
    d = bytearray(f.read(1024))
    off = 0
    for _ in range(2):
        off += struct.unpack_from("<H", d, off + 4)[0]
    struct.pack_into("<H", d, off + 4, 7)
    f.seek(blk * 1024)
    f.write(d)
PY
	# -F: --enable refuses an image stock e2fsck finds damaged
	run "$BIN/mkreflink" -q --enable "$IMG"
	[ "$status" -eq 1 ]
	run "$BIN/mkreflink" -q -F --enable "$IMG"
	[ "$status" -eq 0 ]
}

@test "reflinkck -f judges the whole filesystem: damage outside the feature found (-n), repaired (-y), sharing kept" {
	local before
	plant_outside_damage
	before=$(sha256sum <"$IMG")
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	# e2fsck -n aborts at the corrupted directory (12): so does the run
	[ "$status" -eq 12 ]
	[[ "$output" == *"stock e2fsck -fn finds damage outside the feature"* ]]
	[[ "$output" == *"directory corrupted"* ]]
	[ "$(sha256sum <"$IMG")" = "$before" ]
	run "$BIN/reflinkck" -fy -z "$BATS_TEST_TMPDIR/undo" "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"repaired by stock e2fsck on the snapshot"* ]]
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	# every block shared before is shared still (e2fsck kept /d/x1)
	[ "$(shared "$IMG")" -eq "$SHARED" ]
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ]
	# the files outside the damage read as they did
	sums "$IMG" >"$BATS_TEST_TMPDIR/sums.after"
	for f in ./u1 ./u2 ./u3 ./d/c1 ./d/c2 ./d/c3 ./far ./far2; do
		grep " $f\$" "$BATS_TEST_TMPDIR/sums.before" >>"$BATS_TEST_TMPDIR/want"
	done
	grep -f "$BATS_TEST_TMPDIR/want" -x "$BATS_TEST_TMPDIR/sums.after" |
		sort | diff -u <(sort "$BATS_TEST_TMPDIR/want") -
	# stock e2fsck agrees, and one undo file takes it all back
	cp "$IMG" "$BATS_TEST_TMPDIR/fixed"
	run "$BIN/mkreflink" -q --strip "$BATS_TEST_TMPDIR/fixed"
	run e2fsck -fn "$BATS_TEST_TMPDIR/fixed"
	echo "$output"
	[ "$status" -eq 0 ]
	run e2undo "$BATS_TEST_TMPDIR/undo" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(sha256sum <"$IMG")" = "$before" ]
}

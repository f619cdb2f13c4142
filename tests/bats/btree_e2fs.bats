#!/usr/bin/env bats
# btree_e2fs.bats - the B-tree on a real ext4 image through e2fs_host.
#
# Stock e2fsprogs are the judges: debugfs testb and dumpe2fs say what the
# bitmap and the free counts hold, e2fsck -fn says whether anything else
# was touched.  A test tree's blocks are marked in the bitmap but owned by
# no inode, so e2fsck pass 5 must report exactly them until --destroy.

bats_require_minimum_version 1.5.0

load common

teardown() {
	unmount_mnt
}

setup() {
	need_built btree_e2fs
	need_tools mke2fs e2fsck debugfs dumpe2fs sha256sum
	IMG="$BATS_TEST_TMPDIR/img"
	ROOTF="$BATS_TEST_TMPDIR/root"
}

# mkimg SIZE [mke2fs options...]: a fresh ext4 image at $IMG
mkimg() {
	local size=$1

	shift
	mke2fs -q -F -t ext4 -O 64bit,flex_bg,extents "$@" "$IMG" "$size" \
		>/dev/null
}

# val NAME: the value after "NAME " in the helper's last output
val() {
	awk -v k="$1" '$1 == k { print $2; exit }' <<<"$output"
}

# Blocks e2fsck pass 5 finds marked in the bitmap but used by nothing
unowned_blocks() {
	e2fsck -fn "$IMG" 2>&1 |
		sed -n 's/^Block bitmap differences: *//p' |
		grep -oE -- '-\(?[0-9]+(--[0-9]+)?\)?' |
		tr -d '()' |
		awk -F'--' '{ s += NF == 2 ? $2 - substr($1, 2) + 1 : 1 }
			    END { print s + 0 }'
}

@test "tree blocks lie in the chosen flex group and are marked in the bitmap" {
	# 1 KiB blocks, 4 groups per flex group: 4 flex groups, the last short
	mkimg 100M -b 1024 -G 4
	for fg in 1 3; do
		rm -f "$ROOTF"
		run "$BIN/btree_e2fs" -g "$fg" -n 4000 -x 1000 -t 250 -s "$fg" \
			-r "$ROOTF" -l "$IMG"
		[ "$status" -eq 0 ]
		[ "$(val verify)" = ok ]
		[ "$(val records)" -eq 3000 ]
		first=$(awk '$1 == "flex_group" { print $4 }' <<<"$output")
		nblk=$(awk '$1 == "flex_group" { print $6 }' <<<"$output")
		nodes=$(val nodes)
		blocks=$(awk '$1 == "tree_block" { print $2 }' <<<"$output")
		[ "$(wc -l <<<"$blocks")" -eq "$nodes" ]
		for b in $blocks; do
			[ "$b" -gt "$first" ]
			[ "$b" -lt $((first + nblk)) ]
		done
		sed 's/^/testb /' <<<"$blocks" >"$BATS_TEST_TMPDIR/cmds"
		run debugfs -f "$BATS_TEST_TMPDIR/cmds" "$IMG"
		[ "$(grep -c 'marked in use' <<<"$output")" -eq "$nodes" ]
		! grep -q 'not in use' <<<"$output"
		run "$BIN/btree_e2fs" -q -o -D -r "$ROOTF" "$IMG"
		[ "$status" -eq 0 ]
	done
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
}

@test "free blocks drop by the node count; stock e2fsck sees them unowned" {
	mkimg 64M -b 4096
	before=$(free_blocks)
	run "$BIN/btree_e2fs" -n 20000 -x 2000 -t 1000 -s 7 -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(val verify)" = ok ]
	nodes=$(val nodes)
	[ "$nodes" -gt 1 ]
	[ "$(free_blocks)" -eq $((before - nodes)) ]
	# Proof the blocks are really marked: pass 5 wants to unmark them all
	run e2fsck -fn "$IMG"
	[ "$status" -eq 4 ]
	[ "$(unowned_blocks)" -eq "$nodes" ]
}

@test "--destroy frees every tree block; e2fsck -fn is clean after" {
	mkimg 64M -b 4096
	before=$(free_blocks)
	run "$BIN/btree_e2fs" -q -n 30000 -x 5000 -t 2000 -s 3 -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(free_blocks)" -lt "$before" ]
	run "$BIN/btree_e2fs" -o -D -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(val verify)" = ok ]
	[ "$(val destroyed)" -eq "$(val nodes)" ]
	[ "$(awk '$1 == "root" { print $2 }' "$ROOTF")" -eq 0 ]
	[ "$(free_blocks)" -eq "$before" ]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
}

@test "a second run reopens the committed tree from the root file" {
	mkimg 64M -b 4096
	run "$BIN/btree_e2fs" -n 10000 -x 1000 -t 500 -s 11 -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	first="$output"
	run "$BIN/btree_e2fs" -o -r "$ROOTF" -l "$IMG"
	[ "$status" -eq 0 ]
	[ "$(val verify)" = ok ]
	for k in root height records nodes block_range; do
		[ "$(val "$k")" = "$(output=$first val "$k")" ]
	done
	[ "$(grep -c '^tree_block ' <<<"$output")" -eq "$(val nodes)" ]
	# Grow it with other keys, then check the free count still matches
	before=$(free_blocks)
	nodes=$(val nodes)
	run "$BIN/btree_e2fs" -o -n 5000 -t 700 -s 12 -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(val verify)" = ok ]
	[ "$(val records)" -eq 14000 ]
	[ "$(free_blocks)" -eq $((before - $(val nodes) + nodes)) ]
	run "$BIN/btree_e2fs" -q -o -D -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
}

@test "a 16-buffer cache builds the same tree as a large one" {
	mkimg 64M -b 4096
	cp "$IMG" "$IMG.2"
	run "$BIN/btree_e2fs" -c 4096 -n 20000 -x 3000 -t 3000 -s 5 -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	big="$output"
	[ "$(awk '$1 == "host" { print $3 }' <<<"$big")" -eq 0 ]
	IMG="$IMG.2"
	run "$BIN/btree_e2fs" -c 16 -n 20000 -x 3000 -t 3000 -s 5 -r "$ROOTF.2" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(val verify)" = ok ]
	# Evictions forced re-reads, yet allocation and shape are identical
	[ "$(awk '$1 == "host" { print $3 }' <<<"$output")" -gt 0 ]
	for k in root height records nodes block_range; do
		[ "$(val "$k")" = "$(output=$big val "$k")" ]
	done
	run "$BIN/btree_e2fs" -o -r "$ROOTF.2" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(val verify)" = ok ]
}

@test "an aborted transaction gives all its blocks back" {
	mkimg 64M -b 4096
	before=$(free_blocks)
	run "$BIN/btree_e2fs" -n 3000 -a 8000 -t 1000 -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(val verify)" = ok ]
	[ "$(val records)" -eq 3000 ]
	[ "$(free_blocks)" -eq $((before - $(val nodes))) ]
	[ "$(unowned_blocks)" -eq "$(val nodes)" ]
}

@test "deleting every record empties the tree and frees its blocks" {
	mkimg 64M -b 4096
	before=$(free_blocks)
	run "$BIN/btree_e2fs" -n 6000 -x 6000 -t 800 -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(val verify)" = ok ]
	[ "$(val records)" -eq 0 ]
	[ "$(val nodes)" -eq 0 ]
	[ "$(free_blocks)" -eq "$before" ]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
}

@test "bulk load builds a valid tree in one commit" {
	mkimg 64M -b 4096
	before=$(free_blocks)
	run "$BIN/btree_e2fs" -b -n 50000 -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(val verify)" = ok ]
	[ "$(val records)" -eq 50000 ]
	[ "$(free_blocks)" -eq $((before - $(val nodes))) ]
	run "$BIN/btree_e2fs" -q -o -D -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
}

@test "a full flex group fails with ENOSPC and leaves the image consistent" {
	# No flex_bg packing (-G 1): the last group is a short flex group
	mkimg 100M -b 1024 -G 1
	before=$(free_blocks)
	last=$(dumpe2fs -h "$IMG" 2>/dev/null |
	       awk '/^Block count:/ { b = $3 }
		    /^Blocks per group:/ { g = $4 }
		    END { print int((b - 2) / g) }')
	run --separate-stderr "$BIN/btree_e2fs" -g "$last" -b -n 200000 -r "$ROOTF" "$IMG"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"No space left on device"* ]]
	[ "$(free_blocks)" -eq "$before" ]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
	# Record by record: what was committed before the failure survives
	run --separate-stderr "$BIN/btree_e2fs" -g "$last" -n 200000 -t 5000 \
		-r "$ROOTF" "$IMG"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"No space left on device"* ]]
	run "$BIN/btree_e2fs" -o -D -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(val verify)" = ok ]
	[ "$(val records)" -gt 0 ]
	[ "$(free_blocks)" -eq "$before" ]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
}

@test "refuses an image that is not ext4, naming it, without writing" {
	head -c 4M /dev/zero >"$IMG"
	sum=$(sha256sum <"$IMG")
	run --separate-stderr "$BIN/btree_e2fs" -n 10 "$IMG"
	[ "$status" -eq 1 ]
	[ "$(wc -l <<<"$stderr")" -eq 1 ]
	[[ "$stderr" == "btree_e2fs: $IMG: "* ]]
	[[ "$stderr" == *"magic"* ]]
	[ "$(sha256sum <"$IMG")" = "$sum" ]

	# A valid ext2 filesystem is still not ext4
	mke2fs -q -F -t ext2 "$IMG" 16M >/dev/null
	sum=$(sha256sum <"$IMG")
	run --separate-stderr "$BIN/btree_e2fs" -n 10 "$IMG"
	[ "$status" -eq 1 ]
	[ "$(wc -l <<<"$stderr")" -eq 1 ]
	[[ "$stderr" == "btree_e2fs: $IMG: "*"ext4"* ]]
	[ "$(sha256sum <"$IMG")" = "$sum" ]
}

@test "refuses a flex group out of range, naming the image, without writing" {
	mkimg 64M -b 4096
	sum=$(sha256sum <"$IMG")
	for fg in 1 4294967295; do
		run --separate-stderr "$BIN/btree_e2fs" -g "$fg" -n 10 "$IMG"
		[ "$status" -eq 1 ]
		[ "$(wc -l <<<"$stderr")" -eq 1 ]
		msg="btree_e2fs: $IMG: flex group $fg out of range"
		[[ "$stderr" == "$msg"* ]]
		[ "$(sha256sum <"$IMG")" = "$sum" ]
	done
}

@test "usage errors exit 2 and touch nothing" {
	mkimg 64M -b 4096
	sum=$(sha256sum <"$IMG")
	run "$BIN/btree_e2fs"
	[ "$status" -eq 2 ]
	run "$BIN/btree_e2fs" -n many "$IMG"
	[ "$status" -eq 2 ]
	run "$BIN/btree_e2fs" -n 5 -x 6 "$IMG"
	[ "$status" -eq 2 ]
	run "$BIN/btree_e2fs" -D "$IMG"
	[ "$status" -eq 2 ]
	[ "$(sha256sum <"$IMG")" = "$sum" ]
}

@test "opens an image with the reflink RO_COMPAT bit, refuses other bits" {
	mkimg 64M -b 4096
	# s_feature_ro_compat is at offset 0x64 of the superblock
	word=$(od -An -tu4 -j $((1024 + 0x64)) -N4 "$IMG" | tr -d ' ')
	debugfs -w -R "ssv feature_ro_compat $((word | 0x20000))" "$IMG" \
		>/dev/null 2>&1
	run e2fsck -fn "$IMG"
	[ "$status" -eq 12 ]
	run "$BIN/btree_e2fs" -n 2000 -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(val verify)" = ok ]
	run "$BIN/btree_e2fs" -q -o -D -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	# Stock debugfs opens such an image read-only unless forced
	printf 'open -w -f %s\nssv feature_ro_compat %s\nclose\n' \
		"$IMG" "$word" >"$BATS_TEST_TMPDIR/cmds"
	debugfs -f "$BATS_TEST_TMPDIR/cmds" >/dev/null 2>&1
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]

	# Any other unknown RO_COMPAT bit is still refused
	debugfs -w -R "ssv feature_ro_compat $((word | 0x40000))" "$IMG" \
		>/dev/null 2>&1
	sum=$(sha256sum <"$IMG")
	run --separate-stderr "$BIN/btree_e2fs" -n 10 "$IMG"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "btree_e2fs: $IMG: "*"unsupported"* ]]
	[ "$(sha256sum <"$IMG")" = "$sum" ]
}

@test "the kernel mounts the image read-write after --destroy" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a loop mount"
	[ -e /dev/loop-control ] || skip "no loop device support"
	mkimg 64M -b 4096
	run "$BIN/btree_e2fs" -q -n 20000 -t 2000 -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	run "$BIN/btree_e2fs" -q -o -D -r "$ROOTF" "$IMG"
	[ "$status" -eq 0 ]
	MNT="$BATS_TEST_TMPDIR/mnt"
	mkdir "$MNT"
	mount -o loop "$IMG" "$MNT" 2>/dev/null ||
		skip "loop mount is not permitted here"
	head -c 1M /dev/urandom >"$MNT/f"
	umount "$MNT"
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
}

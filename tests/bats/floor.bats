#!/usr/bin/env bats
# floor.bats - pass 0 of reflinkck, the filesystem it stands on: a
# short image, descriptors ext2fs_check_desc refuses, wrong bg_checksum
# values, the feature bit cleared under its trees (the golden images
# images/reflinkck_floor_*).  -fn is never 0, nothing is written past
# the end, -fy fixes for good or refuses, and the commands a refusal
# prints recover the image with its sharing.  Then -fy twice on every
# golden image: a run that says it fixed (1) leaves nothing for the next.

bats_require_minimum_version 1.5.0

load common

setup() {
	need_built reflinkck mkreflink rfl_recount rflctl
	need_tools e2fsck
	IMG="$BATS_TEST_TMPDIR/test.img"
	PATH="$BIN:$PATH"
}

# refuses CASE STATUS: -fn, -p, -fy and -fy again all exit STATUS and
# leave the image as it was, its size too
refuses() {
	local before size mode
	golden "$1"
	before=$(sum "$IMG")
	size=$(stat -c %s "$IMG")
	for mode in -fn -p -fy -fy; do
		run reflinkck "$mode" "$IMG"
		echo "reflinkck $mode: $status"
		echo "$output"
		[ "$status" -eq "$2" ]
		[ "$(sum "$IMG")" = "$before" ]
		[ "$(stat -c %s "$IMG")" -eq "$size" ]
		# -p leaving damage halts as e2fsck -p does; every line of
		# words carries the device
		if [ "$mode" = -p ] && [ "$2" -eq 4 ]; then
			[[ "${lines[-2]}" == "$IMG: UNEXPECTED INCONSISTENCY; RUN reflinkck MANUALLY." ]]
			[ "$(grep -cx "$IMG: " <<<"$output")" -eq 0 ]
		fi
	done
}

# the commands a refusal printed (indented lines), run as printed
recover() {
	local cmds
	cmds=$(reflinkck -fn "$IMG" | sed -n 's/^    //p')
	[ -n "$cmds" ]
	echo "$cmds"
	cd "$(dirname "$IMG")"
	# e2fsck -fy exits 1 when it fixed something
	while read -r line; do
		echo "+ $line"
		eval "$line" </dev/null || [ $? -eq 1 ]
	done <<<"$cmds"
}

# shared_blocks_of IMG: blocks the files share, by the independent recount
shared_of() {
	rfl_recount "$1" | sed -n 's/.* \([0-9]*\) shared blocks.*/\1/p'
}

@test "a short image: exit 8 with the numbers under -fn, -p, -fy; nothing written" {
	refuses floor_short 8
	[[ "$output" == *"has 32768 blocks of 1024 bytes, but the device holds only 24576"* ]]
	[[ "$output" == *"truncate -s 33554432 "* ]]
}

@test "a short image: no writer of ours writes to it" {
	local before
	golden floor_short
	before=$(sum "$IMG")
	run mkreflink --strip "$IMG"
	[ "$status" -ne 0 ]
	[[ "$output" == *"smaller than the filesystem"* ]]
	run rflctl -w "$IMG" clone /a /z
	[ "$status" -ne 0 ]
	[ "$(sum "$IMG")" = "$before" ]
	[ "$(stat -c %s "$IMG")" -eq $((24 << 20)) ]
}

@test "a short image: the printed commands make it checkable again" {
	golden floor_short
	recover
	run reflinkck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "an impossible block bitmap location: exit 4, nothing written, ever" {
	refuses floor_desc 4
	[[ "$output" == *"bad block for block bitmap (ext2fs_check_desc); group 1's block bitmap is at block 4000000000"* ]]
}

@test "an impossible descriptor: the printed round trip recovers it, sharing kept" {
	local shared
	golden clean_shared
	shared=$(shared_of "$IMG")
	[ "$shared" -gt 0 ]
	golden floor_desc
	recover
	run reflinkck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(shared_of "$IMG")" -eq "$shared" ]
	run rfl_recount "$IMG"
	[ "$status" -eq 0 ]
}

@test "a wrong bg_checksum: -fn 4, -fy fixes it for good" {
	local before
	for c in floor_csum floor_csum_reserved; do
		golden "$c"
		before=$(sum "$IMG")
		run reflinkck -fn "$IMG"
		echo "$output"
		[ "$status" -eq 4 ]
		[[ "$output" == *"descriptor checksum is 0x1234, should be 0x"* ]]
		[ "$(sum "$IMG")" = "$before" ]
		run reflinkck -fy "$IMG"
		[ "$status" -eq 1 ]
		run reflinkck -fy "$IMG"
		[ "$status" -eq 0 ]
		run rfl_recount "$IMG"
		[ "$status" -eq 0 ]
		run mkreflink -q --strip "$IMG"
		[ "$status" -eq 0 ]
		run e2fsck -fn "$IMG"
		echo "$output"
		[ "$status" -eq 0 ]
	done
}

@test "a bg_reserved behind a wrong checksum is not trusted" {
	golden floor_csum_reserved
	run reflinkck -fy "$IMG"
	echo "$output"
	[[ "$output" == *"names no metadata block of flex group 1"* ]]
	[[ "$output" == *"bg_reserved cleared"* ]]
	[ "$status" -eq 1 ]
}

@test "the feature bit cleared under its trees: exit 4, nothing written" {
	refuses floor_cleared 4
	[[ "$output" == *"the reflink feature is not set, but flex group 0 still has its refcount metadata block"* ]]
}

@test "the feature bit cleared: the printed commands give the sharing back" {
	local shared
	golden clean_shared
	shared=$(shared_of "$IMG")
	golden floor_cleared
	# the first way the message offers: keep the sharing
	reflinkck -fn "$IMG" | sed -n '/^or to finish/q; s/^    //p' >"$BATS_TEST_TMPDIR/cmds"
	cd "$BATS_TEST_TMPDIR"
	while read -r line; do
		echo "+ $line"
		eval "$line" </dev/null || [ $? -eq 1 ]
	done <"$BATS_TEST_TMPDIR/cmds"
	run reflinkck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(shared_of "$IMG")" -eq "$shared" ]
}

# bats test_tags=no_asan
@test "-fy twice on every golden image: fixed (1) means nothing is left" {
	local d c s1 s2 bad=0
	for d in "$REPO"/images/reflinkck_*/; do
		c=${d%/}
		c=${c##*/reflinkck_}
		golden "$c"
		reflinkck -fy "$IMG" >/dev/null 2>&1 && s1=0 || s1=$?
		reflinkck -fy "$IMG" >"$BATS_TEST_TMPDIR/out" 2>&1 && s2=0 ||
			s2=$?
		# fixed or clean: the second run is clean; else it may not
		# claim a fix the first run could have made
		if { [ "$s1" -le 1 ] && [ "$s2" -ne 0 ]; } ||
		   { [ "$s1" -gt 1 ] && [ "$s2" -eq 1 ]; }; then
			echo "$c: -fy $s1, then -fy $s2:"
			cat "$BATS_TEST_TMPDIR/out"
			bad=1
		fi
	done
	[ "$bad" -eq 0 ]
}

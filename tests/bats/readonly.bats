#!/usr/bin/env bats
# readonly.bats - a read-only check writes nothing and syncs nothing:
# reflinkck -n opens the image read-only, so an fsync (once per flex
# group it used to be) only costs time.  strace counts the sync calls.

bats_require_minimum_version 1.5.0

load common

# bats file_tags=no_asan

SYNCS=fsync,fdatasync,sync,syncfs,sync_file_range,msync

setup_file() {
	local src="$BATS_FILE_TMPDIR/src"

	for t in mke2fs strace; do
		command -v "$t" >/dev/null || return 0
	done
	mkdir -p "$src"
	head -c 100K /dev/urandom >"$src/a"
	# 1 KiB blocks, 2 groups per flex group: 64 flex groups
	BASE="$BATS_FILE_TMPDIR/base.img"
	mke2fs -q -F -t ext4 -O 64bit -b 1024 -g 2048 -G 2 -d "$src" \
		"$BASE" 256M >/dev/null
	"$BIN/rflctl" -w "$BASE" enable
	"$BIN/rflctl" -w "$BASE" clone /a /b
	export BASE
}

setup() {
	need_tools mke2fs strace
	need_built reflinkck
	IMG="$BATS_TEST_TMPDIR/img"
	cp "$BASE" "$IMG"
	TRACE="$BATS_TEST_TMPDIR/trace"
}

# traced ARGS...: reflinkck ARGS under strace; the calls in $TRACE
traced() {
	run strace -f -y -o "$TRACE" -e trace="openat,$SYNCS" \
		"$BIN/reflinkck" "$@"
	echo "$output"
	cat "$TRACE"
}

# the image was opened (the trace works), and reflinkck made no sync
# call on it, nor a global one.  -f's pass 6 runs stock e2image and
# e2fsck on a temporary snapshot: they are not ours (e2image fsyncs the
# image it only read), so only reflinkck's own process (the first in
# the trace) is judged, and only its calls on the image (strace -y names
# the file; libext2fs's unix_open syncs the snapshot it opens)
no_syncs() {
	local pid
	grep -q "openat(.*\"$IMG\"" "$TRACE"
	pid=$(awk 'NR == 1 { print $1 }' "$TRACE")
	! grep -Eq "^$pid +(${SYNCS//,/|})\((\)|[0-9]+<$IMG>)" "$TRACE"
}

@test "reflinkck -fn on a clean image of 64 flex groups: no sync call" {
	traced -fn "$IMG"
	[ "$status" -eq 0 ]
	[[ "${lines[-1]}" == *", 64 flex groups" ]]
	no_syncs
}

# a cross-link: /b loses EXT4_REFLINK_FL; and a record one too high
damage() {
	unflag /b
	# shellcheck disable=SC2086
	"$BIN/rflctl" -w "$IMG" adjust $(first_record) +1
}

@test "reflinkck -fn on a damaged image: problems found, no sync call" {
	local before
	damage
	before=$(sha256sum <"$IMG")
	traced -fn "$IMG"
	[ "$status" -eq 4 ]
	[[ "$output" == *"lacks EXT4_REFLINK_FL: cross-linked"* ]]
	no_syncs
	[ "$(sha256sum <"$IMG")" = "$before" ]
}

@test "the trace sees the syncs of a repair: reflinkck -fy" {
	damage
	traced -fy "$IMG"
	[ "$status" -eq 1 ]
	grep -Eq "^[0-9]+ +(${SYNCS//,/|})\(" "$TRACE"
}

@test "3 TiB (descriptors read as used, not held): -fn finds, -fy fixes" {
	local big="$BATS_TEST_TMPDIR/big.img" rec before

	truncate -s 3T "$big" 2>/dev/null ||
		skip "no room for a 3 TiB sparse file here"
	"$BIN/mkreflink" -q -F "$big"
	head -c 100K /dev/urandom >"$BATS_TEST_TMPDIR/host"
	"$BIN/rflctl" -w "$big" touch /a
	"$BIN/rflctl" -w "$big" write /a 0 "$BATS_TEST_TMPDIR/host"
	"$BIN/rflctl" -w "$big" clone /a /b
	IMG=$big traced -fn "$big"
	[ "$status" -eq 0 ]
	[[ "${lines[-1]}" == *" 25 shared blocks, 1 records, "* ]]
	[[ "${lines[-1]}" == *", 1536 flex groups" ]]
	IMG=$big no_syncs
	rec=$("$BIN/rflctl" "$big" records | awk 'NR == 1 { print $2, $3 }')
	# shellcheck disable=SC2086
	"$BIN/rflctl" -w "$big" adjust $rec +1
	# (a checksum would read 3 TiB of holes: the records and mtime)
	before="$(stat -c %Y "$big") $("$BIN/rflctl" "$big" records)"
	run "$BIN/reflinkck" -fn "$big"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"has count 3, expected 2"* ]]
	[ "$(stat -c %Y "$big") $("$BIN/rflctl" "$big" records)" = "$before" ]
	run "$BIN/reflinkck" -fy "$big"
	[ "$status" -eq 1 ]
	run "$BIN/reflinkck" -fn "$big"
	[ "$status" -eq 0 ]
}

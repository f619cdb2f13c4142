#!/usr/bin/env bats
# memory.bats - peak memory follows what is on the disk, not its size.
# On an empty 4 TiB image a bit array of its blocks would be 128 MiB;
# the tools hold the bitmaps as trees of extents (ext2fs_check_desc's
# map included: it once made reflinkck -n and --strip take 640 MiB on
# 20 TiB).  Peak RSS from /usr/bin/time; the release build only (ASan's
# shadow memory says nothing of ours).

bats_require_minimum_version 1.5.0

load common

setup_file() {
	[[ $BIN == *asan* || ! -x /usr/bin/time ]] && return 0
	# tmpfs when there is one: the 4 TiB file holds 65 MiB of metadata
	local dir=$BATS_FILE_TMPDIR
	if [[ -d /dev/shm && -w /dev/shm ]]; then
		dir=$(mktemp -d /dev/shm/rfl-memory.XXXXXX)
	fi
	IMG=$dir/4t.img
	truncate -s 4T "$IMG"
	"$BIN/mkreflink" -q -F "$IMG"
	export IMG
}

teardown_file() {
	[[ -n ${IMG:-} ]] && rm -f "$IMG" "$IMG.s"
	[[ ${IMG:-} == /dev/shm/rfl-memory.* ]] && rmdir "${IMG%/*}"
	return 0
}

setup() {
	[[ $BIN == *asan* ]] && skip "peak RSS of the release build only"
	[[ -x /usr/bin/time ]] || skip "/usr/bin/time is not installed"
	return 0
}

# peak RSS in KiB of a command in $kib, its exit status in $rc
peak() {
	local out=$BATS_TEST_TMPDIR/time

	rc=0
	/usr/bin/time -f %M -o "$out" "$@" >/dev/null 2>&1 || rc=$?
	kib=$(tail -n 1 "$out")
	echo "$* : peak $kib KiB, exit $rc"
}

@test "reflinkck -n of an empty 4 TiB image stays under 16 MiB" {
	peak "$BIN/reflinkck" -n "$IMG"
	[ "$rc" -eq 0 ]
	[ "$kib" -lt 16384 ]
}

@test "mkreflink --strip of an empty 4 TiB image stays under 32 MiB" {
	cp --sparse=always "$IMG" "$IMG.s"
	peak "$BIN/mkreflink" -q --strip "$IMG.s"
	[ "$rc" -eq 0 ]
	[ "$kib" -lt 32768 ]
	e2fsck -fn "$IMG.s"
}

#!/usr/bin/env bats
# reflinkck.bats - the checker on images made by stock mke2fs -d, with
# the feature enabled and files cloned through rflctl.  Exit codes are
# e2fsck's: 0 clean, 4 left uncorrected, 8 operational error, 16 usage.

bats_require_minimum_version 1.5.0

REPO="$BATS_TEST_DIRNAME/../.."
BIN="$REPO/build/bin"

setup_file() {
	local src="$BATS_FILE_TMPDIR/src"

	for t in mke2fs sha256sum; do
		command -v "$t" >/dev/null || return 0
	done
	mkdir -p "$src"
	head -c 100K /dev/urandom >"$src/a"
	head -c 3000 /dev/urandom >"$src/small"
	PLAIN="$BATS_FILE_TMPDIR/plain.img"
	mke2fs -q -F -t ext4 -O 64bit -b 1024 -g 2048 -G 2 -d "$src" \
		"$PLAIN" 32M >/dev/null
	BASE="$BATS_FILE_TMPDIR/base.img"
	cp "$PLAIN" "$BASE"
	"$BIN/rflctl" -w "$BASE" enable
	"$BIN/rflctl" -w "$BASE" clone /a /b
	"$BIN/rflctl" -w "$BASE" clone /a /c
	export BASE PLAIN
}

setup() {
	for t in mke2fs sha256sum; do
		command -v "$t" >/dev/null ||
			skip "$t is not installed (scripts/install-deps)"
	done
	for b in rflctl rfl_recount reflinkck; do
		[ -x "$BIN/$b" ] ||
			{ echo "$BIN/$b is not built: run make" >&2; return 1; }
	done
	IMG="$BATS_TEST_TMPDIR/img"
	cp "$BASE" "$IMG"
}

sum() {
	sha256sum "$1" | cut -d' ' -f1
}

@test "a clean image exits 0 with -fn and names its flex groups" {
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[-1]}" == "$IMG: "*" records, "*" flex groups" ]]
}

@test "-n, -p and -y together are a usage error (16)" {
	run "$BIN/reflinkck" -n -y "$IMG"
	[ "$status" -eq 16 ]
	run "$BIN/reflinkck" -p -n "$IMG"
	[ "$status" -eq 16 ]
	run "$BIN/reflinkck"
	[ "$status" -eq 16 ]
}

@test "no terminal and no -n/-p/-y: exit 8, image unchanged" {
	local before
	before=$(sum "$IMG")
	run "$BIN/reflinkck" "$IMG" </dev/null
	echo "$output"
	[ "$status" -eq 8 ]
	[[ "$output" == *"need terminal for interactive repairs"* ]]
	[ "$(sum "$IMG")" = "$before" ]
}

@test "not ext4: exit 8, one line naming the device" {
	head -c 1M /dev/zero >"$IMG"
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 8 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"$IMG"* ]]
	[ "$(sum "$IMG")" = "$(head -c 1M /dev/zero | sha256sum | cut -d' ' -f1)" ]
}

@test "no reflink feature: exit 8, one line, image unchanged" {
	local before
	cp "$PLAIN" "$IMG"
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 8 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"reflink feature"*"$IMG"* ]]
	[ "$(sum "$IMG")" = "$before" ]
}

#!/usr/bin/env bats
# reflinkck_fuzz.bats - random damage to the refcount metadata, with a
# printed seed: each round overwrites 1 to 4 bytes at a random place of a
# random metadata block or tree node (every byte is under a crc32c, so
# every change is detectable).  -fn must find it (exit 4) without
# writing, -fy fix it (exit 1), a second run be clean, the independent
# recount agree, the files be unchanged (and with RFL_CHECK_RECHECK=1
# -fy itself reruns its passes read-only after the repair); every fifth
# round the stripped image must also pass stock e2fsck -fn.
#
#	SEED=<n> FUZZ_ROUNDS=<n> bats tests/bats/reflinkck_fuzz.bats

bats_require_minimum_version 1.5.0
export RFL_CHECK_RECHECK=1

load common

# bats file_tags=no_asan

setup() {
	need_built rflctl rfl_recount reflinkck mkreflink
	SEED=${SEED:-$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')}
	echo "# SEED=$SEED" >&3
	ROUNDS=${FUZZ_ROUNDS:-15}
}

# fuzz_image NAME: ROUNDS rounds on the golden image of case NAME
fuzz_image() {
	local base="$BATS_TEST_TMPDIR/base.img" img="$BATS_TEST_TMPDIR/img"
	local sums="$BATS_TEST_TMPDIR/sums" bs nodes n i line blk off len
	local hex before

	golden "$1" "$base"
	bs=$(dumpe2fs -h "$base" 2>/dev/null | awk '/^Block size:/ {print $3}')
	"$BIN/rflctl" "$base" nodes >"$BATS_TEST_TMPDIR/nodes"
	nodes=$(wc -l <"$BATS_TEST_TMPDIR/nodes")
	[ "$nodes" -gt 0 ]
	"$REPO/images/file-sums" "$base" >"$sums"
	RANDOM=$SEED
	for ((i = 0; i < ROUNDS; i++)); do
		cp "$base" "$img"
		n=$((RANDOM % nodes + 1))
		line=$(sed -n "${n}p" "$BATS_TEST_TMPDIR/nodes")
		blk=${line#* }
		blk=${blk%% *}
		len=$((RANDOM % 4 + 1))
		off=$(((RANDOM * 32768 + RANDOM) % (bs - len + 1)))
		# new bytes that differ from the old ones in the first byte
		hex=$(od -An -tx1 -j $((blk * bs + off)) -N1 "$img" | tr -d ' ')
		hex=$(printf '%02x' $(((0x$hex ^ (RANDOM % 255 + 1)) & 255)))
		for ((n = 1; n < len; n++)); do
			hex+=$(printf '%02x' $((RANDOM % 256)))
		done
		echo "round $i: block $blk (fg/blk/level: $line) offset $off := $hex"
		printf "$(echo "$hex" | sed 's/../\\x&/g')" |
			dd of="$img" bs=1 seek=$((blk * bs + off)) conv=notrunc \
			   status=none
		before=$(sha256sum <"$img")
		run "$BIN/reflinkck" -fn "$img"
		[ "$status" -eq 4 ] || { echo "$output"; return 1; }
		[ "$(sha256sum <"$img")" = "$before" ]
		run "$BIN/reflinkck" -fy "$img"
		[ "$status" -eq 1 ] || { echo "$output"; return 1; }
		run "$BIN/reflinkck" -fn "$img"
		[ "$status" -eq 0 ] || { echo "$output"; return 1; }
		run "$BIN/rfl_recount" "$img"
		[ "$status" -eq 0 ] || { echo "$output"; return 1; }
		"$REPO/images/file-sums" "$img" | cmp - "$sums"
		((i % 5 == 4)) || continue
		"$BIN/mkreflink" -q --strip "$img"
		run e2fsck -fn "$img"
		[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	done
}

@test "fuzzed metadata blocks and nodes: 2 flex groups, 1 KiB blocks" {
	fuzz_image clean_shared
}

@test "fuzzed metadata blocks and nodes: a three-level tree" {
	fuzz_image clean_deep
}

@test "fuzzed metadata blocks and nodes: 16 flex groups" {
	fuzz_image clean_many_fg
}

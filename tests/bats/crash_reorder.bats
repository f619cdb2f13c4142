#!/usr/bin/env bats
# crash_reorder.bats - power failure in the middle of every sharing
# primitive, with the disk free to reorder writes between two flushes
# (the dm-log-writes / xfstests generic/455 method).  rflctl with
# RFLCTL_LOG=FILE logs every write and flush of a command; rfl_replay
# rebuilds, from the image before it:
#  - the state at every flush, and after every REORDER_STEPth prefix of
#    the writes (a crash in order; crash.bats stops at every second
#    write, so by default only the flushes);
#  - REORDER_VARIANTS random subsets, applied in log order, of the
#    writes of each flush epoch on top of every write before it (a
#    crash with the epoch torn: rfl_replay.c says why subsets in log
#    order cover every order), each leaving a different image.
# Every state gets the checks of crash.bats (crash_common.bash).  Each
# test prints, as a TAP comment, the number of states it checked and
# the seed (SEED=S replays the same subsets).
#
#	REORDER_STEP=1 REORDER_VARIANTS=20 bats tests/bats/crash_reorder.bats
#		(the full run; default: the flushes, 3 subsets)

bats_require_minimum_version 1.5.0
export RFL_CHECK_RECHECK=1

load common
load crash_common

setup() {
	crash_setup rfl_replay
	STEP=${REORDER_STEP:-0}
	VARIANTS=${REORDER_VARIANTS:-3}
	RSEED=${SEED:-$(( (RANDOM << 15 | RANDOM) + 1 ))}
}

# reorder_states KEEP CMD...: every replayed state of
# `rflctl -w IMG CMD...`; KEEP is a space-separated list of files that
# must not change
reorder_states() {
	local log="$BATS_TEST_TMPDIR/log" plan state head
	local prefixes=0 torn=0
	kept_sums "$1"
	shift
	cp "$BASE" "$IMG"
	RFLCTL_LOG="$log" "$BIN/rflctl" -w "$IMG" "$@" >/dev/null
	plan=$("$BIN/rfl_replay" plan -s "$STEP" -n "$VARIANTS" -S "$RSEED" \
		"$log")
	head=$(head -n1 <<<"$plan")
	echo "$*: $head"
	UNREADABLE=
	while read -r state; do
		[[ $state == "#"* ]] && continue
		cp "$BASE" "$IMG"
		"$BIN/rfl_replay" apply "$log" "$state" "$IMG"
		check_state "state $state" || return 1
		if [[ $state == *+* ]]; then
			torn=$((torn + 1))
		else
			prefixes=$((prefixes + 1))
		fi
	done <<<"$plan"
	echo "states left to e2fsck by reflinkck:${UNREADABLE:- none}"
	printf '# %s: %d states (%d in order, %d torn epochs); %s\n' \
		"$1" $((prefixes + torn)) "$prefixes" "$torn" \
		"${head#\# }" >&3
}

# bats test_tags=no_asan
@test "reordered crash in a clone" {
	reorder_states "/a /b /dup /far" clone /a /new
}

# bats test_tags=no_asan
@test "reordered crash in a range share" {
	reorder_states "/a /b /far" share /a 3 /dir/unique 5 20
}

# bats test_tags=no_asan
@test "reordered crash in a punch of shared blocks" {
	reorder_states "/a /dup /far" punch /b 2 30
}

# bats test_tags=no_asan
@test "reordered crash in a copy-on-write" {
	# a copy-on-write changes no byte of the file (FORMAT.md 7.5)
	SAME=/c
	reorder_states "/a /b /dup /far" cow /c 4 10
}

# bats test_tags=no_asan
@test "reordered crash in an unlink of a sharer" {
	reorder_states "/a /b /dup /far" rm /c
}

# bats test_tags=no_asan
@test "reordered crash in a write over shared blocks" {
	reorder_states "/a /b /dup /far" write /c 3000 "$BATS_TEST_TMPDIR/data"
}

# bats test_tags=no_asan
@test "reordered crash in a truncate of a sharer" {
	reorder_states "/a /b /far" truncate /dup 7000
}

# bats test_tags=no_asan
@test "reordered crash in a dedup of a stock image" {
	dedup_base
	# dedup changes no file's bytes
	reorder_states "/a /sub/copy /onediff /partial /alt" dedup
}

# bats test_tags=no_asan
@test "reordered crash in a snapshot of a tree" {
	# a copy a crash left unlinked is e2fsck's to put in lost+found
	E2FSCK_CONNECTS=1
	reorder_states "/a /b /dup /far /dir/unique" snapshot / /snap
}

# bats test_tags=no_asan
@test "rflctl and rfl_replay read numbers alike (tests/helpers/rfl_number.h)" {
	local log="$BATS_TEST_TMPDIR/log" bad

	cp "$BASE" "$IMG"
	# a log of one command, so that plan has something to read
	RFLCTL_LOG="$log" "$BIN/rflctl" -w "$IMG" touch /numbers
	for bad in -1 1x "" 0x 99999999999999999999; do
		run "$BIN/rflctl" "$IMG" count "$bad"
		[ "$status" -ne 0 ]
		[[ "$output" == *"bad block"* ]]
		run "$BIN/rfl_replay" plan -s "$bad" "$log"
		[ "$status" -ne 0 ]
		[[ "$output" == *"bad step"* ]]
	done
	run "$BIN/rfl_replay" plan -s 0x10 -n 010 -S 7 "$log"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *"seed 7" ]]
}

# frag_base: BASE with /frag, 200 runs of four 1 KiB blocks with a hole
# of four after each: a depth-1 extent tree of three leaves, the first
# two full (libext2fs appends into a fresh leaf of one entry; a cow adds
# two extents, the first fills the leaf, the second splits it); /big,
# 310 such runs: four leaves, the root in the inode full; /deep, 400:
# two levels, the leaves under an index block; /small, four runs: the
# root full of extents.  Each has a twin that shares its blocks.
frag_base() {
	local d="$BATS_TEST_TMPDIR/fragsrc"
	mkdir -p "$d"
	python3 - "$d" <<'PY'
import random, sys
r = random.Random(7)
for name, runs in (("frag", 200), ("big", 310), ("deep", 400),
                   ("small", 4)):
    data = [r.randbytes(4096) for i in range(runs)]
    # the twin: mkreflink -d shares its blocks, a cow copies them
    for path in (name, name + ".twin"):
        with open(sys.argv[1] + "/" + path, "wb") as f:
            for i in range(runs):
                f.seek(i * 8192)
                f.write(data[i])
PY
	BASE="$BATS_TEST_TMPDIR/frag.img"
	"$BIN/mkreflink" -q -F -b 1024 -G 2 -d "$d" "$BASE" 16M
}

# split_states FILE LBLK: the states of a copy-on-write of two blocks
# in the middle of FILE's extent at LBLK, which splits a full extent
# node; the file's bytes intact in each, also where stock e2fsck -fy
# repairs the state as the crash left it (FORMAT.md 7.6)
split_states() {
	frag_base
	SAME=$1 INTACT=$1
	local keep
	keep=$(printf '%s\n' /{frag,big,deep,small}{,.twin} | grep -vx "$1" |
		tr '\n' ' ')
	reorder_states "$keep" cow "$1" "$2" 2
}

# bats test_tags=no_asan
@test "reordered crash in a copy-on-write that splits a full extent leaf" {
	# the 200-extent file of FORMAT.md 7.6: libext2fs's own split
	# left the moved extents in a leaf nothing pointed to.  Every
	# prefix: the split's writes are few, each state counts
	STEP=1
	split_states /frag 401
}

@test "reordered crash in a copy-on-write that grows the extent tree" {
	# the root in the inode full of extents: a new leaf takes them
	split_states /small 9
}

# bats test_tags=no_asan
@test "reordered crash in a copy-on-write that splits a leaf under a full root" {
	# a full leaf whose parent, the root, is full: the tree grows a
	# level, then the leaf splits under the new index node
	split_states /big 401
}

# bats test_tags=no_asan
@test "reordered crash in a copy-on-write that splits a leaf under an index block" {
	split_states /deep 401
}

# bats test_tags=no_asan
@test "reordered crash in a write into holes that splits a full extent leaf" {
	frag_base
	# two holes and the shared run between them, in a full leaf:
	# reflinkck or stock e2fsck leave each block as before or after
	WRITTEN="/frag $((405 * 1024)) $BATS_TEST_TMPDIR/data9"
	head -c 9000 /dev/urandom >"$BATS_TEST_TMPDIR/data9"
	reorder_states "/frag.twin /big /deep /small" \
		write /frag $((405 * 1024)) "$BATS_TEST_TMPDIR/data9"
}

# common.bash - what the bats suites share.  Every tests/bats/*.bats
# starts with `load common`; a helper only one suite uses stays in it.
#
#   REPO  the source tree
#   BIN   the programs: build/bin, or $BIN_DIR (scripts/run-tests sets
#         it to run every suite again through the ASan+UBSan builds)

REPO="$BATS_TEST_DIRNAME/../.."
BIN="${BIN_DIR:-$REPO/build/bin}"

# need_built PROG...: fail the test when a program it runs is not built
need_built() {
	local b

	for b in "$@"; do
		[ -x "$BIN/$b" ] ||
			{ echo "$BIN/$b is not built: run make" >&2; return 1; }
	done
}

# need_tools TOOL...: skip the test when a tool it runs is not installed
need_tools() {
	local t

	for t in "$@"; do
		command -v "$t" >/dev/null ||
			skip "$t is not installed (scripts/install-deps)"
	done
}

# golden CASE [FILE]: a scratch copy of the golden image
# images/reflinkck_CASE at FILE (default $IMG)
golden() {
	gunzip -c "$REPO/images/reflinkck_$1/image.gz" >"${2:-$IMG}"
}

# cloned_base: for a setup_file, $PLAIN, stock mke2fs -d of a 100 KiB
# file a and a small one (1 KiB blocks, 2 groups per flex group,
# 32 MiB); $BASE, the same with reflink enabled by rflctl and /a cloned
# to /b and /c, so that one record has count 3; $BASE_SUMS, the sums of
# its files
cloned_base() {
	local src="$BATS_FILE_TMPDIR/src"

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
	BASE_SUMS="$BATS_FILE_TMPDIR/base.sums"
	"$REPO/images/file-sums" "$BASE" >"$BASE_SUMS"
	export PLAIN BASE BASE_SUMS
}

# src_tree: $SRC with a 40 KiB file a, its copy d/a2 and a 12 KiB d/u,
# for a suite to add to and copy in with mkreflink -d
src_tree() {
	mkdir -p "$SRC/d"
	head -c 40960 /dev/urandom >"$SRC/a"
	cp "$SRC/a" "$SRC/d/a2"
	head -c 12288 /dev/urandom >"$SRC/d/u"
}

# sum FILE: its SHA-256
sum() {
	sha256sum <"$1" | cut -d' ' -f1
}

# sb IMAGE FIELD: a field of dumpe2fs -h ("Block size", ...)
sb() {
	dumpe2fs -h "$1" 2>/dev/null | sed -n "s/^$2:[[:space:]]*//p"
}

# features [IMAGE]: the feature names of IMAGE (default $IMG)
features() {
	sb "${1:-$IMG}" "Filesystem features"
}

# free_blocks [IMAGE]: the superblock's free block count (default $IMG)
free_blocks() {
	sb "${1:-$IMG}" "Free blocks"
}

# flex_geometry IMAGE: sets first, bpg, groups and gpf (block groups
# per flex group) for the caller, who declares them local
flex_geometry() {
	local blocks flex

	first=$(sb "$1" "First block")
	bpg=$(sb "$1" "Blocks per group")
	blocks=$(sb "$1" "Block count")
	flex=$(sb "$1" "Flex block group size")
	groups=$(((blocks - first + bpg - 1) / bpg))
	gpf=$((flex < groups ? flex : groups))
}

# used IMAGE: its blocks in use, the block count less the free ones
used() {
	echo $(($(sb "$1" "Block count") - $(free_blocks "$1")))
}

# meta_block IMAGE FG: absolute block of flex group FG's metadata block
# (0 if none), read from the primary descriptor table
meta_block() {
	local img=$1 fg=$2 bs dsz first bpg groups gpf g off rel

	flex_geometry "$img"
	bs=$(sb "$img" "Block size")
	dsz=$(sb "$img" "Group descriptor size")
	g=$((fg * gpf))
	off=$(((first + 1) * bs + g * dsz + 60))
	rel=$(od -An -tu4 -j "$off" -N4 "$img" | tr -d ' ')
	if [ "$rel" -eq 0 ]; then
		echo 0
	else
		echo $((first + g * bpg + rel))
	fi
}

# mount_ro [IMAGE]: the kernel's read-only loop mount of IMAGE (default
# $IMG) on $MNT, or skip the test where there is none
mount_ro() {
	[ "$(id -u)" -eq 0 ] || skip "not root: cannot mount the image"
	mount -o loop,ro "${1:-$IMG}" "$MNT" 2>/dev/null ||
		skip "the kernel cannot loop-mount the image here"
}

# unmount_mnt: for teardown, $MNT unmounted if a test left it mounted
unmount_mnt() {
	if [ -n "${MNT:-}" ] && mountpoint -q "$MNT"; then
		umount "$MNT"
	fi
}

# check_clean [IMAGE]: reflinkck -fn and the recount find nothing on
# IMAGE (default $IMG), and stock e2fsck -fn passes a stripped copy
check_clean() {
	local img=${1:-$IMG} stripped="$BATS_TEST_TMPDIR/stripped"

	run "$BIN/reflinkck" -fn "$img"
	echo "$output"
	[ "$status" -eq 0 ]
	run "$BIN/rfl_recount" "$img"
	echo "$output"
	[ "$status" -eq 0 ]
	cp "$img" "$stripped"
	run "$BIN/mkreflink" -q --strip "$stripped"
	[ "$status" -eq 0 ]
	run e2fsck -fn "$stripped"
	echo "$output"
	[ "$status" -eq 0 ]
}

# rdq REQUEST: refdebug -R REQUEST on $IMG, its standard output only
rdq() {
	"$BIN/refdebug" -R "$1" "$IMG" 2>/dev/null
}

# ------------------------------------------------------------------
# Damage: rflctl writes what a bug or a crash could leave, then the
# checker is judged on it
# ------------------------------------------------------------------

# first_record: "start len" of the first record of $IMG's flex group 0
first_record() {
	"$BIN/rflctl" "$IMG" records | awk 'NR == 1 { print $2, $3 }'
}

# unflag FILE: EXT4_REFLINK_FL cleared on FILE of $IMG, so that its
# shares become a cross-link
unflag() {
	local f

	f=$("$BIN/rflctl" "$IMG" flags "$1")
	"$BIN/rflctl" -w "$IMG" flags "$1" $(printf '0x%x' $((f & ~0x400000)))
}

# finds MESSAGE: reflinkck -fn on $IMG exits 4, says MESSAGE and writes
# nothing
finds() {
	local before

	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"$1"* ]]
	[ "$(sum "$IMG")" = "$before" ]
}

# rebuilds: reflinkck -fy on $IMG rebuilds the trees from the files
# (exit 1); then clean_now
rebuilds() {
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"rebuilt from the files"* ]]
	clean_now
}

# clean_now: reflinkck -fn finds $IMG clean and the recount agrees (its
# output left in $output and $lines)
clean_now() {
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	run "$BIN/rfl_recount" "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
}

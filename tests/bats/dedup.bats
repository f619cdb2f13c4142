#!/usr/bin/env bats
# dedup.bats - mkreflink [--enable] --dedup: share the copies of an
# existing image offline.
#
# Outside oracles: stock mke2fs -d makes the image; the kernel's read-only
# mount compared with the source tree (diff -r); rfl_recount (the trees
# equal a recount of the extents); stock e2fsck -fn after --strip;
# mkreflink -d of the same tree for the blocks used; e2undo.

bats_require_minimum_version 1.5.0

load common

teardown() {
	unmount_mnt
}

setup() {
	need_built mkreflink reflinkck rfl_recount refdebug
	need_tools mke2fs e2fsck debugfs dumpe2fs e2undo python3
	IMG="$BATS_TEST_TMPDIR/img"
	MNT="$BATS_TEST_TMPDIR/mnt"
	SRC="$BATS_TEST_TMPDIR/src"
	mkdir -p "$MNT"
}

# Deterministic blocks of 4 KiB: blks SEED COUNT
blks() {
	python3 -c "import random,sys; r=random.Random($1); \
sys.stdout.buffer.write(r.randbytes(4096 * $2))"
}

# A tree with copies: whole files, partial ones, one block different,
# copies inside one file, zeros, tails, and unique data (one python run:
# the tests make it often)
make_tree() {
	python3 - "$1" <<'PY'
import os, random, sys
d = sys.argv[1]
def blks(seed, n):
    return random.Random(seed).randbytes(4096 * n)
def put(name, data):
    os.makedirs(os.path.dirname(d + "/" + name), exist_ok=True)
    open(d + "/" + name, "wb").write(data)
whole = blks(1, 16)
for n in ("whole", "a/whole2", "a/b/whole3"):
    put(n, whole)
# blocks 4..11 of whole, then data of its own
put("partial", whole[4 * 4096:12 * 4096] + blks(2, 3))
# whole with block 7 changed
put("onediff", whole[:7 * 4096] + blks(3, 1) + whole[8 * 4096:])
# the same 4 blocks twice in one file
put("selfcopy", blks(4, 4) + blks(4, 4) + blks(5, 2))
put("tail", whole + b"tail")
for i in range(1, 7):
    put("c/small%d" % i, blks(10 + i % 3, i + 1))
put("unique", blks(20, 40))
put("zeros", bytes(3 * 4096))
put("hello", b"hello\n")
PY
}

stock_image() {
	mke2fs -q -F -t ext4 -O 64bit,extents,flex_bg ${2:--b 4096} -d "$1" \
		"$IMG" ${3:-32M}
}

# "would free N blocks" / "N blocks freed"
would_free() {
	sed -n 's/.*would free \([0-9]*\) blocks.*/\1/p' <<<"$1"
}

freed() {
	sed -n 's/.*: \([0-9-]*\) blocks freed.*/\1/p' <<<"$1"
}

# the copies remapped, before the extent-tree blocks are counted
remapped() {
	sed -n 's/.*(\([0-9]*\) copies remapped.*/\1/p' <<<"$1"
}

# predicted_equals_real IMG: --dedup -n's figure is the real run's, and
# the free block count moves by it
predicted_equals_real() {
	local predicted before after
	run "$BIN/mkreflink" --dedup -n "$1"
	echo "$output"
	[ "$status" -eq 0 ]
	predicted=$(would_free "$output")
	before=$(free_blocks "$1")
	run "$BIN/mkreflink" --dedup "$1"
	echo "$output"
	[ "$status" -eq 0 ]
	after=$(free_blocks "$1")
	echo "predicted $predicted, printed $(freed "$output"), free $before -> $after"
	[ "$(freed "$output")" -eq "$predicted" ]
	[ $((after - before)) -eq "$predicted" ]
}

@test "dedup: a stock mke2fs -d image, --enable --dedup: -d's blocks, clean, the same bytes" {
	make_tree "$SRC"
	stock_image "$SRC"
	untouched=$(free_blocks "$IMG")
	# what --enable alone leaves free (metadata blocks, reserves)
	cp "$IMG" "$BATS_TEST_TMPDIR/enabled"
	run "$BIN/mkreflink" -q --enable "$BATS_TEST_TMPDIR/enabled"
	[ "$status" -eq 0 ]
	before=$(free_blocks "$BATS_TEST_TMPDIR/enabled")

	run "$BIN/mkreflink" --enable --dedup -n "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	predicted=$(would_free "$output")
	[ "$predicted" -gt 0 ]
	# the net figure: copies less the new extent-tree blocks
	[ "$predicted" -le "$(remapped "$output")" ]
	# -n wrote nothing
	[ "$(free_blocks "$IMG")" -eq "$untouched" ]
	run "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 8 ]

	run "$BIN/mkreflink" --enable --dedup "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	real=$(freed "$output")
	[ "$real" -eq "$predicted" ]
	# the copies are free now, less the new extent-tree blocks (the
	# refcount tree's nodes come from the reserve): the figure printed
	after=$(free_blocks "$IMG")
	[ $((after - before)) -eq "$real" ]

	# within 2% of what mkreflink -d of the same tree uses
	run "$BIN/mkreflink" -q -F -b 4096 -d "$SRC" "$BATS_TEST_TMPDIR/ref" 32M
	[ "$status" -eq 0 ]
	d=$(used "$IMG")
	r=$(used "$BATS_TEST_TMPDIR/ref")
	echo "dedup $d, mkreflink -d $r"
	[ $((d * 100)) -le $((r * 102)) ]

	check_clean "$IMG"
	mount_ro "$IMG"
	run diff -r -x lost+found "$SRC" "$MNT"
	echo "$output"
	[ "$status" -eq 0 ]
	umount "$MNT"

	# everything is shared now: a second run finds nothing to free
	run "$BIN/mkreflink" --dedup -n "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(would_free "$output")" -eq 0 ]
}

@test "dedup: an image with reflink and records gets its new copies shared" {
	make_tree "$SRC"
	run "$BIN/mkreflink" -q -F -b 4096 -d "$SRC" "$IMG" 32M
	[ "$status" -eq 0 ]
	# plain copies, as a tool that does not share would write them
	blks 1 16 > "$BATS_TEST_TMPDIR/w"
	run "$BIN/refdebug" -w -R "cp $BATS_TEST_TMPDIR/w /copy1" "$IMG"
	[ "$status" -eq 0 ]
	run "$BIN/refdebug" -w -R "cp $SRC/partial /copy2" "$IMG"
	[ "$status" -eq 0 ]
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ]
	run "$BIN/mkreflink" --dedup -n "$IMG"
	echo "$output"
	[ "$(would_free "$output")" -eq 27 ]
	run "$BIN/mkreflink" --dedup "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(freed "$output")" -eq 27 ]
	check_clean "$IMG"
	mount_ro "$IMG"
	cmp "$BATS_TEST_TMPDIR/w" "$MNT/copy1"
	cmp "$SRC/partial" "$MNT/copy2"
	run diff -r -x lost+found -x copy1 -x copy2 "$SRC" "$MNT"
	[ "$status" -eq 0 ]
}

@test "dedup: immutable and append-only files are left alone" {
	make_tree "$SRC"
	stock_image "$SRC"
	# EXT4_EXTENTS_FL with IMMUTABLE, with APPEND
	debugfs -w -R "set_inode_field /a/whole2 flags 0x80010" "$IMG"
	debugfs -w -R "set_inode_field /a/b/whole3 flags 0x80020" "$IMG"
	ex2=$(debugfs -R "ex /a/whole2" "$IMG" 2>/dev/null)
	ex3=$(debugfs -R "ex /a/b/whole3" "$IMG" 2>/dev/null)
	run "$BIN/mkreflink" --enable --dedup "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *", 2 left alone,"* ]]
	[ "$(debugfs -R "ex /a/whole2" "$IMG" 2>/dev/null)" = "$ex2" ]
	[ "$(debugfs -R "ex /a/b/whole3" "$IMG" 2>/dev/null)" = "$ex3" ]
	# and share nothing
	run "$BIN/refdebug" -R "shared /a/whole2" "$IMG"
	[[ "$output" == *"no shared blocks"* ]]
	check_clean "$IMG"
}

@test "dedup: --min-run leaves shorter runs of copies alone" {
	make_tree "$SRC"
	stock_image "$SRC"
	run "$BIN/mkreflink" --enable --dedup -n "$IMG"
	all=$(would_free "$output")
	run "$BIN/mkreflink" --enable --dedup -n --min-run 8 "$IMG"
	echo "$output"
	some=$(would_free "$output")
	run "$BIN/mkreflink" --enable --dedup -n --min-run 17 "$IMG"
	echo "$output"
	none=$(would_free "$output")
	echo "all $all, >= 8: $some, >= 17: $none"
	[ "$all" -gt "$some" ]
	[ "$some" -gt 0 ]
	[ "$none" -eq 0 ]
	run "$BIN/mkreflink" --enable --dedup --min-run 8 "$IMG"
	[ "$status" -eq 0 ]
	[ "$(freed "$output")" -eq "$some" ]
	check_clean "$IMG"
}

@test "dedup: a file cut into many extents gets a two-level extent tree" {
	mkdir -p "$SRC"
	# 1 KiB blocks: a leaf holds 84 extents, two levels 4 * 84 * 84
	python3 - "$SRC" <<'PY'
import random, sys
r = random.Random(7)
bs = 1024
x = r.randbytes(bs * 1200)
y = b"".join(x[i * bs:(i + 1) * bs] if i % 2 == 0 else r.randbytes(bs)
             for i in range(1200))
open(sys.argv[1] + "/x", "wb").write(x)
open(sys.argv[1] + "/y", "wb").write(y)
PY
	stock_image "$SRC" "-b 1024" 16M
	run "$BIN/mkreflink" --enable --dedup "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(remapped "$output")" -eq 600 ]
	run debugfs -R "ex /y" "$IMG"
	[[ "$output" == *" 0/ 2 "* ]]
	check_clean "$IMG"
	mount_ro "$IMG"
	cmp "$SRC/x" "$MNT/x"
	cmp "$SRC/y" "$MNT/y"
}

@test "dedup: -n predicts the free blocks the real run gains (copies, all-zero files); too full fails alike" {
	local i sum out1
	make_tree "$SRC"
	stock_image "$SRC"
	run "$BIN/mkreflink" -q --enable "$IMG"
	[ "$status" -eq 0 ]
	predicted_equals_real "$IMG"
	check_clean "$IMG"
	# all-zero files, written block by block (mke2fs -d would leave
	# holes): every block becomes a one-block extent onto one zero
	# block, and the extent trees take blocks back
	head -c 300K /dev/zero >"$BATS_TEST_TMPDIR/z"
	"$BIN/mkreflink" -q -F -b 1024 -G 2 -O ^has_journal "$IMG" 16M
	for i in 1 2 3 4 5 6; do
		"$BIN/rflctl" -w "$IMG" touch "/z$i"
		"$BIN/rflctl" -w "$IMG" write "/z$i" 0 "$BATS_TEST_TMPDIR/z"
	done
	predicted_equals_real "$IMG"
	[[ "$output" == *"extent trees +"[1-9]* ]]
	check_clean "$IMG"
	# filled with zeros to the last block: the new extent trees do not
	# fit before the copies are freed; -n says so as the real run does
	"$BIN/mkreflink" -q -F -b 1024 -G 2 -O ^has_journal "$IMG" 16M
	i=0
	while "$BIN/rflctl" -w "$IMG" touch "/z$i" 2>/dev/null &&
	      "$BIN/rflctl" -w "$IMG" write "/z$i" 0 \
			"$BATS_TEST_TMPDIR/z" 2>/dev/null; do
		i=$((i + 1))
	done
	[ "$(free_blocks "$IMG")" -eq 0 ]
	sum=$(sha256sum <"$IMG")
	run "$BIN/mkreflink" --dedup -n "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the new extent trees need "[1-9]*" free blocks before any copy is freed, 0 are free" ]]
	out1=$output
	run "$BIN/mkreflink" -q --dedup "$IMG"
	[ "$status" -eq 1 ]
	[ "$output" = "$out1" ]
	[ "$(sha256sum <"$IMG")" = "$sum" ]
}

@test "dedup: -C shows progress, -z undo lets e2undo put the image back" {
	make_tree "$SRC"
	stock_image "$SRC"
	run "$BIN/mkreflink" -q --enable "$IMG"
	[ "$status" -eq 0 ]
	sum=$(sha256sum < "$IMG")
	run "$BIN/mkreflink" --dedup -C 3 -z "$BATS_TEST_TMPDIR/undo" "$IMG" \
		3>"$BATS_TEST_TMPDIR/progress"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "^1 [0-9]* [0-9]* $IMG\$" "$BATS_TEST_TMPDIR/progress"
	[ "$(sha256sum < "$IMG")" != "$sum" ]
	run e2undo "$BATS_TEST_TMPDIR/undo" "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(sha256sum < "$IMG")" = "$sum" ]
}

@test "dedup: refusals write nothing" {
	make_tree "$SRC"
	stock_image "$SRC"
	sum=$(sha256sum < "$IMG")
	# no reflink yet, no --enable
	run "$BIN/mkreflink" --dedup "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no reflink feature: --enable --dedup adds it"* ]]
	run "$BIN/mkreflink" --dedup -d "$SRC" "$IMG"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--dedup does not go with -d"* ]]
	run "$BIN/mkreflink" --strip --dedup "$IMG"
	[ "$status" -eq 1 ]
	run "$BIN/mkreflink" --enable --min-run 4 "$IMG"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--min-run goes with --dedup"* ]]
	[ "$(sha256sum < "$IMG")" = "$sum" ]
}

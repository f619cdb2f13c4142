#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# mkimages.sh - make the golden images of images/ from scratch with the
# project's own tools (build them first: make).
#
#	images/mkimages.sh [CASE...]	(default: every case)
#	images/mkimages.sh -l		(list the cases)
#	images/mkimages.sh --expect CASE...  (expect.* again from the
#					 committed image, which is kept)
#
# Each case images/reflinkck_<case>/ holds
#	image.gz	the damaged (or clean) image
#	cmd		reflinkck's options for the fixing run
#	expect.1	output of `reflinkck $(cat cmd) test.img`, then
#			"Exit status is N"
#	expect.2	the same for the second run, `reflinkck -fn`
#	sums		"sha256  /path" of every regular file, as made
#	desc		one line: what the case damages
# Outputs name the image test.img; nothing in them depends on dates,
# versions or UUIDs.  A regenerated expect file must be read before it is
# committed: it is what the checker is held to.  The committed images are
# kept when the code changes so that images made by older builds keep
# checking (images/run-golden runs them).
#
# Damage is done with build/bin/rflctl (raw refcount, bitmap and
# descriptor changes), build/bin/refdebug (field edits with checksums
# recomputed) and dd (raw bytes).
set -euo pipefail

cd "$(dirname "$0")/.."
TOP=$PWD
B=$TOP/build/bin
export SOURCE_DATE_EPOCH=1700000000
UUID=0b0e1f00-5eed-4a11-8000-000000000001

for t in mkreflink rflctl reflinkck place_file; do
	[ -x "$B/$t" ] || { echo "mkimages: $B/$t missing: run make" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mkimages.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------------
# Base images
# ---------------------------------------------------------------------

# A source tree with duplicates: whole copies, a half overlap, a file
# differing in one block, and unique files; text, so images compress.
make_src() {
	local d=$1
	mkdir -p "$d/dir"
	seq -f 'file a, line %08g, some words to fill the block' 1 2000 \
		>"$d/a"
	cp "$d/a" "$d/dup"
	head -c 51200 "$d/a" >"$d/half"
	seq -f 'the other half %08g' 1 2000 >>"$d/half"
	cp "$d/a" "$d/dir/oneblock"
	printf 'this block differs' |
		dd of="$d/dir/oneblock" bs=1024 seek=10 conv=notrunc \
		   status=none
	seq -f 'unique %08g' 1 3000 >"$d/dir/unique"
	seq -f 'small %g' 1 300 >"$d/small"
	touch -d @"$SOURCE_DATE_EPOCH" "$d" "$d"/* "$d"/dir/*
}

# base_shared IMG: 32 MiB, 1 KiB blocks, 2 flex groups of 2 groups;
# files deduplicated by mkreflink -d, /a cloned twice more, and a placed
# file in flex group 1 cloned once (records in both flex groups)
base_shared() {
	local img=$1 src=$WORK/src

	[ -d "$src" ] || make_src "$src"
	"$B/mkreflink" -q -F -b 1024 -G 2 -U "$UUID" -E hash_seed="$UUID" \
		-d "$src" "$img" 32M
	"$B/rflctl" -w "$img" clone /a /b
	"$B/rflctl" -w "$img" clone /a /c
	"$B/place_file" "$img" far 20000 40 >/dev/null
	"$B/rflctl" -w "$img" clone /far /far2
}

base_empty() {
	"$B/mkreflink" -q -F -b 4096 -U "$UUID" -E hash_seed="$UUID" "$1" 16M
}

base_noshare() {
	local src=$WORK/noshare

	mkdir -p "$src"
	seq -f 'only copy %08g' 1 5000 >"$src/one"
	seq -f 'another file %08g' 1 5000 >"$src/two"
	touch -d @"$SOURCE_DATE_EPOCH" "$src" "$src"/*
	"$B/mkreflink" -q -F -b 4096 -U "$UUID" -E hash_seed="$UUID" \
		-d "$src" "$1" 16M
}

# Every other block of /x shared with /y: thousands of one-block
# records, a tree three levels deep with 1 KiB blocks
base_deep() {
	local src=$WORK/deep

	mkdir -p "$src"
	python3 - "$src" <<'EOF'
import sys
d = sys.argv[1]
n = 20000
with open(f"{d}/x", "wb") as x, open(f"{d}/y", "wb") as y:
    for i in range(n):
        blk = (b"x%014d\n" % i) * 64          # exactly 1 KiB
        x.write(blk)
        y.write(blk if i % 2 == 0 else (b"y%014d\n" % i) * 64)
EOF
	touch -d @"$SOURCE_DATE_EPOCH" "$src" "$src"/*
	"$B/mkreflink" -q -F -b 1024 -U "$UUID" -E hash_seed="$UUID" \
		-d "$src" "$1" 48M
}

# 16 flex groups of one group each, a shared file in several of them
base_many_fg() {
	local img=$1 i

	"$B/mkreflink" -q -F -b 1024 -G 1 -U "$UUID" -E hash_seed="$UUID" \
		"$img" 128M
	for i in 1 4 9 15; do
		"$B/place_file" "$img" "f$i" $((i * 8192 + 100)) 30 >/dev/null
		"$B/rflctl" -w "$img" clone "/f$i" "/g$i"
		"$B/rflctl" -w "$img" clone "/f$i" "/h$i"
	done
}

# ---------------------------------------------------------------------
# Helpers for damage
# ---------------------------------------------------------------------

# bg_reserved of group $2 (relative to its flex group's first block)
bg_reserved() {
	local img=$1 g=$2
	od -An -tu4 -j $((2 * 1024 + g * 64 + 0x3C)) -N4 "$img" | tr -d ' '
}

# Absolute block of flex group 0's metadata block (1 KiB blocks, first
# data block 1)
meta0() {
	echo $((1 + $(bg_reserved "$1" 0)))
}

# Root node of flex group 0's refcount tree (rr_root of slot 0)
root0() {
	local n
	n=$(od -An -tu8 -j $(($(meta0 "$1") * 1024 + 0x48)) -N8 "$1")
	echo $((n))
}

# First record of flex group $2 (default 0): "start len"
record() {
	"$B/rflctl" "$1" records | awk -v fg="${2:-0}" \
		'$1 == fg { print $2, $3; exit }'
}

poke() {	# poke IMG BYTE_OFFSET OCTAL_ESCAPED_BYTES
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# field IMG BLOCK OFFSET SIZE VALUE: write VALUE little-endian into a
# metadata block or tree node of 1 KiB blocks, then a fresh checksum
field() {
	local img=$1 blk=$2 off=$3 size=$4 val=$5
	python3 -c '
import sys
img, pos, size, val = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
	int(sys.argv[4], 0)
with open(img, "r+b") as f:
	f.seek(pos)
	f.write(val.to_bytes(size, "little"))
' "$img" $((blk * 1024 + off)) "$size" "$val"
	"$B/rflctl" -w "$img" reseal "$blk"
}

# Flex group 0's leaf in base_shared (its only node): four records,
# 1301+10 count 6, 1311+1 count 5, 1312+39 count 6, 1351+52 count 5;
# keys at 0x30, values (len, count) at 0x174
leaf0() {
	"$B/rflctl" "$1" nodes | awk '$1 == 0 && $3 == 0 { print $2; exit }'
}

have_refdebug() {
	[ -x "$B/refdebug" ]
}

rd() {		# rd IMG REQUEST...: refdebug -w, one request each
	local img=$1 r
	shift
	for r in "$@"; do
		"$B/refdebug" -w -R "$r" "$img" >/dev/null
	done
}

# ---------------------------------------------------------------------
# Cases: case_<name> IMG sets CMD and DESC and damages IMG
# ---------------------------------------------------------------------

case_clean_empty() { DESC="clean: empty image"; base_empty "$1"; }
case_clean_noshare() { DESC="clean: files, nothing shared"; base_noshare "$1"; }
case_clean_shared() { DESC="clean: deduplicated and cloned files"; base_shared "$1"; }
case_clean_deep() { DESC="clean: 10000 records, 1 KiB blocks, a three-level tree"; base_deep "$1"; }
case_clean_many_fg() { DESC="clean: 16 flex groups, shares in 4"; base_many_fg "$1"; }

case_count_high() {
	DESC="a record's count one too high"
	base_shared "$1"
	"$B/rflctl" -w "$1" adjust $(record "$1") +1
}

case_count_low() {
	DESC="a record's count one too low (the files still share)"
	base_shared "$1"
	set -- "$1" $(record "$1")
	"$B/rflctl" -w "$1" adjust "$2" "$3" -1
}

case_missing() {
	DESC="a shared range with no record"
	base_shared "$1"
	set -- "$1" $(record "$1" 1)
	"$B/rflctl" -w "$1" adjust "$2" "$3" -1
}

case_extra() {
	DESC="a record for blocks nobody shares"
	base_shared "$1"
	local blk
	blk=$(debugfs -R "bmap /dir/unique 3" "$1" 2>/dev/null)
	"$B/rflctl" -w "$1" adjust "$blk" 2 +1
	"$B/rflctl" -w "$1" adjust "$blk" 2 +1
}

case_length() {
	DESC="part of a record with another count"
	base_shared "$1"
	set -- "$1" $(record "$1")
	"$B/rflctl" -w "$1" adjust $(($2 + 3)) 2 +1
}

case_meta_zeroed() {
	DESC="flex group 0's metadata block zeroed (tree lost)"
	base_shared "$1"
	dd if=/dev/zero of="$1" bs=1024 seek="$(meta0 "$1")" count=1 \
		conv=notrunc status=none
}

case_meta_magic() {
	DESC="metadata block: one byte of the magic changed"
	base_shared "$1"
	poke "$1" $(($(meta0 "$1") * 1024)) 'X'
}

case_meta_csum() {
	DESC="metadata block: a byte in the zero tail (checksum stale)"
	base_shared "$1"
	poke "$1" $(($(meta0 "$1") * 1024 + 700)) '\001'
}

case_ptr_outside() {
	DESC="bg_reserved past the end of its flex group"
	base_shared "$1"
	"$B/rflctl" -w "$1" bg_reserved 0 1048576
}

case_ptr_itable() {
	DESC="bg_reserved at the inode table"
	base_shared "$1"
	local it
	it=$(dumpe2fs "$1" 2>/dev/null |
		awk '/Inode table at/ { split($4, a, "-"); print a[1]; exit }')
	"$B/rflctl" -w "$1" bg_reserved 0 $((it - 1 + 5))
}

case_ptr_filedata() {
	DESC="bg_reserved at a file's data block"
	base_shared "$1"
	local blk
	blk=$(debugfs -R "bmap /dir/unique 0" "$1" 2>/dev/null)
	"$B/rflctl" -w "$1" bg_reserved 0 $((blk - 1))
}

case_ptr_stray() {
	DESC="bg_reserved set in the second group of a flex group"
	base_shared "$1"
	"$B/rflctl" -w "$1" bg_reserved 1 77
}

case_node_flip() {
	DESC="a tree node's byte flipped (bad checksum)"
	base_shared "$1"
	poke "$1" $(($(root0 "$1") * 1024 + 60)) '\377'
}

case_node_magic() {
	DESC="a tree node's magic destroyed"
	base_shared "$1"
	poke "$1" $(($(root0 "$1") * 1024)) 'ZZZZ'
}

case_node_zeroed() {
	DESC="the deep tree: the root's first child zeroed"
	base_deep "$1"
	# child 0 of the root: the first value, at 0x174 with 1 KiB blocks
	local root child
	root=$(root0 "$1")
	child=$(od -An -tu8 -j $((root * 1024 + 0x174)) -N8 "$1")
	dd if=/dev/zero of="$1" bs=1024 seek=$((child)) count=1 \
		conv=notrunc status=none
}

case_tree_unmarked() {
	DESC="the tree's root block free in the bitmap"
	base_shared "$1"
	"$B/rflctl" -w "$1" clrb "$(root0 "$1")"
}

case_meta_unmarked() {
	DESC="the metadata block free in the bitmap"
	base_shared "$1"
	"$B/rflctl" -w "$1" clrb "$(meta0 "$1")"
}

case_leaked() {
	DESC="three free blocks marked in use (leaked)"
	base_shared "$1"
	"$B/rflctl" -w "$1" setb 30000
	"$B/rflctl" -w "$1" setb 30001
	"$B/rflctl" -w "$1" setb 31000
}

case_group_free() {
	DESC="a group's free blocks count wrong"
	base_shared "$1"
	"$B/rflctl" -w "$1" bg_free 2 100
}

case_super_free() {
	DESC="the superblock's free blocks count wrong"
	base_shared "$1"
	"$B/rflctl" -w "$1" sb_free 1234
}

case_cross_link() {
	DESC="a sharer without EXT4_REFLINK_FL (cross-link)"
	base_shared "$1"
	"$B/rflctl" -w "$1" flags /b 0x80000
}

case_cross_link_all() {
	DESC="two files share, neither flagged (classic cross-link)"
	base_shared "$1"
	"$B/rflctl" -w "$1" flags /far 0x80000
	"$B/rflctl" -w "$1" flags /far2 0x80000
}

case_preen_count() {
	DESC="-p fixes a wrong count without asking"
	CMD=-p
	base_shared "$1"
	"$B/rflctl" -w "$1" adjust $(record "$1") +1
}

case_preen_cross_link() {
	DESC="-p stops at a cross-link"
	CMD=-p
	base_shared "$1"
	"$B/rflctl" -w "$1" flags /c 0x80000
}

case_many_fg_damage() {
	DESC="16 flex groups: counts wrong in two, a record missing in one"
	base_many_fg "$1"
	set -- "$1" $(record "$1" 4) $(record "$1" 9) $(record "$1" 15)
	"$B/rflctl" -w "$1" adjust "$2" "$3" +1
	"$B/rflctl" -w "$1" adjust "$4" "$5" -1
	"$B/rflctl" -w "$1" adjust "$4" "$5" -1
	"$B/rflctl" -w "$1" adjust "$6" "$7" +1
}

case_everything() {
	DESC="several problems at once: count, leak, cross-link, stray pointer"
	base_shared "$1"
	"$B/rflctl" -w "$1" adjust $(record "$1" 1) +1
	"$B/rflctl" -w "$1" setb 30500
	"$B/rflctl" -w "$1" flags /b 0x80000
	"$B/rflctl" -w "$1" bg_reserved 3 9
}


# First block of flex group 0's refcount tree reserve (FORMAT.md 4.4)
resv0() {
	"$B/refdebug" -R "flexbg 0" "$1" |
		sed -n 's/^reserve: blocks \([0-9]*\)-.*/\1/p'
}

resv_field() {	# resv_field IMG FIELD VALUE
	"$B/refdebug" -w -R "set_flexbg 0 $2 $3" "$1" >/dev/null
}

case_resv_size() {
	DESC="reserve: fm_resv_len 100, not the formula's 502"
	base_shared "$1"
	resv_field "$1" fm_resv_len 100
}

case_resv_range() {
	DESC="reserve: runs past the end of its flex group"
	base_shared "$1"
	resv_field "$1" fm_resv_start 16000
}

case_resv_meta() {
	DESC="reserve: starts at the metadata block"
	base_shared "$1"
	resv_field "$1" fm_resv_start "$(bg_reserved "$1" 0)"
}

case_resv_file() {
	DESC="reserve: a file maps a block of it"
	base_shared "$1"
	"$B/rflctl" -w "$1" touch /overlay
	"$B/rflctl" -w "$1" map /overlay 0 $(($(resv0 "$1") + 100))
}

case_resv_unmarked() {
	DESC="reserve: ten of its blocks free in the bitmap"
	local r i
	base_shared "$1"
	r=$(resv0 "$1")
	for ((i = 200; i < 210; i++)); do
		"$B/rflctl" -w "$1" clrb $((r + i))
	done
}

case_tree_file() {
	DESC="a file maps the refcount tree's root block"
	base_shared "$1"
	"$B/rflctl" -w "$1" touch /overlay
	"$B/rflctl" -w "$1" map /overlay 0 "$(leaf0 "$1")"
}

case_xlink_dir() {
	DESC="a file maps a directory's block: the directory cannot be copied"
	base_shared "$1"
	"$B/rflctl" -w "$1" touch /overlay
	"$B/rflctl" -w "$1" map /overlay 0 \
		"$(debugfs -R "bmap /dir 0" "$1" 2>/dev/null)"
}

case_bad_inode() {
	DESC="an inode's checksum broken: repaired by stock e2fsck (-f)"
	base_shared "$1"
	# the files as made: the repair makes the broken one readable
	sums_pre "$1"
	local ino itable isize
	ino=$(debugfs -R "stat /small" "$1" 2>/dev/null |
		awk '/^Inode:/ { print $2; exit }')
	itable=$(dumpe2fs "$1" 2>/dev/null |
		awk '/Inode table at/ { split($4, a, "-"); print a[1]; exit }')
	isize=$(dumpe2fs -h "$1" 2>/dev/null | awk '/^Inode size:/ {print $3}')
	poke "$1" $((itable * 1024 + (ino - 1) * isize + 0x20)) '\123'
}

case_bad_inode_and_count() {
	case_bad_inode "$1"
	DESC="a broken inode and a wrong count: counted after e2fsck (-f)"
	"$B/rflctl" -w "$1" adjust $(record "$1") +1
}

# ---------------------------------------------------------------------
# Crashes: rflctl stops writing after N block writes (tests/bats/crash.bats
# makes every point; these are the kinds, FORMAT.md 7.6)
# ---------------------------------------------------------------------

crash() {	# crash IMG N CMD...
	local img=$1 n=$2
	shift 2
	RFLCTL_CRASH_AFTER=$n "$B/rflctl" -w "$img" "$@" >/dev/null 2>&1 ||
		true
}

case_crash_split() {
	DESC="crash in a punch: the extent split half done"
	base_shared "$1"
	crash "$1" 2 punch /b 2 30
}

case_crash_share() {
	DESC="crash in a range share: i_blocks behind the extents"
	base_shared "$1"
	crash "$1" 3 share /a 3 /dir/unique 5 20
}

case_crash_cow() {
	DESC="crash in a copy-on-write: a split, counts too high"
	base_shared "$1"
	crash "$1" 13 cow /c 4 10
}

case_crash_clone() {
	DESC="crash in a clone: bitmap checksums, an inode half made"
	base_shared "$1"
	# the files as made: the repair makes the broken one readable
	sums_pre "$1"
	crash "$1" 14 clone /a /new
}

case_crash_unlink() {
	DESC="crash in an unlink: an inode with no links, stock e2fsck's (-f)"
	base_shared "$1"
	crash "$1" 5 rm /c
}

case_links_high() {
	DESC="a file's link count one too high"
	base_shared "$1"
	"$B/rflctl" -w "$1" links /dir/unique 2
}

case_data_unmarked() {
	DESC="a file's data block free in the bitmap"
	base_shared "$1"
	"$B/rflctl" -w "$1" clrb \
		"$(debugfs -R "bmap /dir/unique 3" "$1" 2>/dev/null)"
}

case_rebuild_unmarked() {
	DESC="a file's data free in the bitmap where a rebuild allocates, and a wrong count"
	base_shared "$1"
	local goal b
	goal=$(debugfs -R "ffb 1 $(($(meta0 "$1") + 1))" "$1" 2>/dev/null |
		awk '{print $NF}')
	"$B/place_file" "$1" near "$goal" 6 >/dev/null
	"$B/rflctl" -w "$1" adjust $(record "$1") +1
	for b in $(debugfs -R "blocks /near" "$1" 2>/dev/null); do
		"$B/rflctl" -w "$1" clrb "$b"
	done
}

# ---------------------------------------------------------------------
# Field edits with the checksum made valid again: the checker must meet
# the field's own check.  Offsets are docs/FORMAT.md's (sections 4, 5).
# ---------------------------------------------------------------------

node_case() {	# node_case DESC OFFSET SIZE VALUE
	DESC="tree node: $1"
	base_shared "$IMG"
	field "$IMG" "$(leaf0 "$IMG")" "$2" "$3" "$4"
}

meta_case() {	# meta_case DESC OFFSET SIZE VALUE
	DESC="metadata block: $1"
	base_shared "$IMG"
	field "$IMG" "$(meta0 "$IMG")" "$2" "$3" "$4"
}

case_rec_low_count() { IMG=$1; node_case "a record with count 1" 0x178 4 1; }
case_rec_zero_len() { IMG=$1; node_case "a record of length 0" 0x17c 4 0; }
case_rec_overlap() { IMG=$1; node_case "a record overlapping the next" 0x174 4 15; }
case_rec_not_merged() { IMG=$1; node_case "equal neighbours not merged" 0x180 4 6; }
case_rec_past_group() { IMG=$1; node_case "a record past the flex group" 0x18c 4 20000; }
case_key_order() { IMG=$1; node_case "two equal keys" 0x34 4 1300; }
case_node_blocknr() { IMG=$1; node_case "bn_blocknr names another block" 0x08 8 7777; }
case_node_generation() { IMG=$1; node_case "bn_generation after the last commit" 0x10 8 999999; }
case_node_owner() { IMG=$1; node_case "bn_owner names flex group 1" 0x18 4 1; }
case_node_type() { IMG=$1; node_case "bn_tree_type 2" 0x1c 2 2; }
case_node_level() { IMG=$1; node_case "a leaf claims level 1" 0x1e 2 1; }
case_node_nr_entries() { IMG=$1; node_case "bn_nr_entries 3 of 4" 0x20 2 3; }
case_node_empty() { IMG=$1; node_case "bn_nr_entries 0 in a root leaf" 0x20 2 0; }
case_node_max_entries() { IMG=$1; node_case "bn_max_entries 80" 0x22 2 80; }
case_node_key_size() { IMG=$1; node_case "bn_key_size 8" 0x24 2 8; }
case_node_reserved() { IMG=$1; node_case "bn_reserved not zero" 0x28 8 1; }
case_node_tail() { IMG=$1; node_case "a byte in the zero tail" 1021 1 0x5a; }
case_meta_version() { IMG=$1; meta_case "fm_version 3" 0x08 2 3; }
case_meta_version_zero() { IMG=$1; meta_case "fm_version 0 (invalid, not newer)" 0x08 2 0; }
case_meta_nr_slots() { IMG=$1; meta_case "fm_nr_slots 7" 0x0a 2 7; }
case_meta_flex_group() { IMG=$1; meta_case "fm_flex_group 1" 0x0c 4 1; }
case_meta_blocknr() { IMG=$1; meta_case "fm_blocknr names another block" 0x10 8 1299; }
case_meta_generation() { IMG=$1; meta_case "fm_generation older than the tree" 0x18 8 0; }
case_meta_flags() { IMG=$1; meta_case "fm_flags not zero" 0x20 4 1; }
case_meta_reserved() { IMG=$1; meta_case "fm_reserved not zero" 0x30 8 1; }
case_slot_type() { IMG=$1; meta_case "root slot of unknown type 5" 0x40 2 5; }
case_slot_height() { IMG=$1; meta_case "rr_height 2 for a one-level tree" 0x42 2 2; }
case_slot_type_test() { IMG=$1; meta_case "root slot of test type 0xff01" 0x40 2 0xff01; }
case_meta_xlink() {
	DESC="a file maps the resize inode's block: left to e2fsck"
	base_shared "$1"
	"$B/rflctl" -w "$1" map /small 0 "$(debugfs -R "stat <7>" "$1" \
		2>/dev/null | grep -o '(DIND):[0-9]*' | cut -d: -f2)"
}
case_slot_flags() { IMG=$1; meta_case "rr_flags not zero" 0x44 4 1; }
case_slot_root() { IMG=$1; meta_case "rr_root at a free block" 0x48 8 9000; }
case_slot_records() { IMG=$1; meta_case "rr_records 5 for 4" 0x50 8 5; }
case_slot_nodes() { IMG=$1; meta_case "rr_nodes 2 for 1" 0x58 8 2; }
case_slot_second() { IMG=$1; meta_case "a second refcount root slot" 0x60 2 1; }
case_meta_tail() { IMG=$1; meta_case "a byte past the slots" 0x150 1 0x5a; }

# ---------------------------------------------------------------------
# The floor (pass 0): what reflinkck stands on
# ---------------------------------------------------------------------

# The sums of the undamaged image: debugfs refuses a wrong bg_checksum
sums_pre() {
	"$TOP/images/file-sums" "$1" >"$WORK/sums.pre"
}

case_floor_short() {
	DESC="the image cut short: 24 of its 32 MiB"
	base_shared "$1"
	truncate -s 24M "$1"
}

case_floor_desc() {
	DESC="group 1's block bitmap at block 4000000000 (valid checksum)"
	base_shared "$1"
	"$B/rflctl" -w "$1" bg_bitmap 1 4000000000
}

case_floor_csum() {
	DESC="group 3's bg_checksum wrong"
	base_shared "$1"
	sums_pre "$1"
	"$B/rflctl" -w "$1" bg_csum 3 4660
}

case_floor_csum_reserved() {
	DESC="group 2's bg_checksum wrong and its bg_reserved pointing at file data"
	base_shared "$1"
	sums_pre "$1"
	local blk
	blk=$(debugfs -R "bmap /far 3" "$1" 2>/dev/null)
	"$B/rflctl" -w "$1" bg_reserved 2 $((blk - 16385))
	"$B/rflctl" -w "$1" bg_csum 2 4660
}

case_floor_cleared() {
	DESC="the reflink bit cleared, the trees left (shared_blocks clear)"
	base_shared "$1"
	local ro
	ro=$(od -An -tu4 -j $((1024 + 0x64)) -N4 "$1" | tr -d ' ')
	"$B/rflctl" -w "$1" ro_compat $((ro & ~0x20000))
}

# ---------------------------------------------------------------------
# Cases made with the debug shell (field edits, checksums recomputed)
# ---------------------------------------------------------------------
RD_CASES=()
if [ -f "$TOP/images/rd_cases.sh" ]; then
	# shellcheck source=rd_cases.sh
	. "$TOP/images/rd_cases.sh"
fi

# ---------------------------------------------------------------------

all_cases() {
	declare -F | awk '$3 ~ /^case_/ { sub(/^case_/, "", $3); print $3 }'
}

gen() {
	local name=$1 dir=$TOP/images/reflinkck_$1 img=$WORK/test.img
	local rc

	CMD=-fy
	DESC=
	rm -f "$img"
	if ! "case_$name" "$img"; then
		echo "mkimages: case $name failed" >&2
		return 1
	fi
	mkdir -p "$dir"
	printf '%s\n' "$DESC" >"$dir/desc"
	printf '%s\n' "$CMD" >"$dir/cmd"
	# what the files hold, read back through libext2fs before any fix
	# (or before the damage, for cases debugfs cannot open: sums_pre)
	if [ -f "$WORK/sums.pre" ]; then
		mv "$WORK/sums.pre" "$dir/sums"
	else
		"$TOP/images/file-sums" "$img" >"$dir/sums"
	fi
	gzip -9n <"$img" >"$dir/image.gz"
	(
		cd "$WORK"
		set +e
		"$B/reflinkck" $CMD test.img 2>&1 | banner_filter >"$dir/expect.1"
		echo "Exit status is ${PIPESTATUS[0]}" >>"$dir/expect.1"
		"$B/reflinkck" -fn test.img 2>&1 | banner_filter >"$dir/expect.2"
		echo "Exit status is ${PIPESTATUS[0]}" >>"$dir/expect.2"
	)
	rc=$(tail -1 "$dir/expect.1")
	printf '%-28s %s; %s\n' "$name" "$rc" "$DESC"
}

# The version banner is not part of the expected output (run-golden)
banner_filter() {
	sed '/^reflinkck [0-9][0-9.]* ([0-9]*-[A-Za-z]*-[0-9]*)$/d'
}

# expect CASE: expect.1 and expect.2 again from the committed image
expect() {
	local dir=$TOP/images/reflinkck_$1 cmd

	[ -f "$dir/image.gz" ] || { echo "mkimages: no $dir/image.gz" >&2; return 1; }
	read -r cmd <"$dir/cmd"
	gunzip -c "$dir/image.gz" >"$WORK/test.img"
	(
		cd "$WORK"
		set +e
		"$B/reflinkck" $cmd test.img 2>&1 | banner_filter >"$dir/expect.1"
		echo "Exit status is ${PIPESTATUS[0]}" >>"$dir/expect.1"
		"$B/reflinkck" -fn test.img 2>&1 | banner_filter >"$dir/expect.2"
		echo "Exit status is ${PIPESTATUS[0]}" >>"$dir/expect.2"
	)
	printf '%-28s %s\n' "$1" "$(tail -1 "$dir/expect.1")"
}

if [ "${1:-}" = -l ]; then
	all_cases
	exit 0
fi
if [ "${1:-}" = --expect ]; then
	shift
	for c in "$@"; do
		expect "$c"
	done
	exit 0
fi
cases=("$@")
[ ${#cases[@]} -gt 0 ] || mapfile -t cases < <(all_cases)
for c in "${cases[@]}"; do
	declare -F "case_$c" >/dev/null ||
		{ echo "mkimages: no case $c" >&2; exit 1; }
	gen "$c"
done

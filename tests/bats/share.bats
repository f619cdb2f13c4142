#!/usr/bin/env bats
# share.bats - the file-sharing primitives (lib/reflink/rfl_share.h) on
# images made by stock mke2fs, driven through rflctl.
#
# Judges from outside the library: rfl_recount (every block's sharers
# counted from the files, compared with the refcount trees both ways)
# after every change; the kernel's read-only mount (debugfs rdump when
# mount is unavailable) for the bytes of every file, against a model kept
# as plain files on the host; stock e2fsck -fn once the feature is off.
#
# The randomized test prints its seed; replay it with SEED=<n> (and
# OPS=<n> for the number of operations).

bats_require_minimum_version 1.5.0

load common

BS=1024

setup_file() {
	local src="$BATS_FILE_TMPDIR/src" mnt="$BATS_FILE_TMPDIR/mnt" i

	for t in mke2fs e2fsck debugfs dumpe2fs sha256sum; do
		command -v "$t" >/dev/null || return 0
	done
	[ -x "$BIN/rflctl" ] && [ -x "$BIN/rfl_recount" ] || return 0

	# One image with 4 MiB flex groups (1 KiB blocks, 2048-block groups)
	mkdir -p "$src/sub" "$mnt"
	head -c 256K /dev/urandom >"$src/a_pad"
	head -c 300K /dev/urandom >"$src/big"
	head -c 3000 /dev/urandom >"$src/small"
	head -c 10 /dev/urandom >"$src/tiny"
	: >"$src/empty"
	# sparse: data, hole, data, hole to a 1 MiB size
	head -c 20K /dev/urandom >"$src/sparse"
	head -c 10K /dev/urandom |
		dd of="$src/sparse" bs=1K seek=300 conv=notrunc status=none
	truncate -s 1M "$src/sparse"
	# frag: 10 islands, more extents than the inode holds (depth 1)
	for i in 0 1 2 3 4 5 6 7 8 9; do
		head -c 2K /dev/urandom |
			dd of="$src/frag" bs=1K seek=$((i * 8)) conv=notrunc \
			   status=none
	done
	head -c 5000 /dev/urandom >"$src/sub/inner"
	# wide: 5 MiB, across the first two flex groups
	head -c 5M /dev/urandom >"$src/wide"
	BASE="$BATS_FILE_TMPDIR/base.img"
	mke2fs -q -F -t ext4 -O 64bit -b 1024 -g 2048 -G 2 -d "$src" \
		"$BASE" 32M >/dev/null
	# wide filled flex group 0: give it room for its refcount tree
	debugfs -w -R "rm /a_pad" "$BASE" >/dev/null 2>&1

	# Unwritten extents need the kernel: fallocate on a loop mount
	HAVE_MOUNT=0
	if mount -o loop "$BASE" "$mnt" 2>/dev/null; then
		HAVE_MOUNT=1
		fallocate -l 64K "$mnt/prealloc"
		head -c 8K /dev/urandom |
			dd of="$mnt/prealloc" bs=1K seek=16 conv=notrunc \
			   status=none
		# unwritten blocks past EOF too
		fallocate -n -o 3000 -l 16K "$mnt/small"
		umount "$mnt"
	fi
	"$BIN/rflctl" -w "$BASE" enable
	BASEMODEL="$BATS_FILE_TMPDIR/base.model"
	mkdir -p "$BASEMODEL"
	debugfs -R "rdump / $BASEMODEL" "$BASE" >/dev/null 2>&1
	rm -rf "$BASEMODEL/lost+found"
	export BASE BASEMODEL HAVE_MOUNT
}

setup() {
	need_tools mke2fs e2fsck debugfs dumpe2fs sha256sum
	need_built rflctl rfl_recount
	IMG="$BATS_TEST_TMPDIR/img"
	MODEL="$BATS_TEST_TMPDIR/model"
	MNT="$BATS_TEST_TMPDIR/mnt"
	mkdir -p "$MNT"
	cp "$BASE" "$IMG"
	cp -a "$BASEMODEL" "$MODEL"
}

teardown() {
	unmount_mnt
}

rfl() {
	"$BIN/rflctl" -w "$IMG" "$@"
}

# The trees agree with the files
recount() {
	run "$BIN/rfl_recount" "${1:-$IMG}"
	echo "$output"
	[ "$status" -eq 0 ]
}

# Name, size and sha256 of every regular file under $1
listing() {
	(cd "$1" && find . -type f ! -path './lost+found/*' -printf '%p %s\n' |
		sort | while read -r f s; do
			echo "$f $s $(sha256sum <"$f" | cut -c1-64)"
		done)
}

# Every file in the image has the model's size and bytes (the kernel
# reads them; debugfs if mount is unavailable)
check_files() {
	local img=${1:-$IMG} dir="$BATS_TEST_TMPDIR/dump"

	if [ "$HAVE_MOUNT" = 1 ]; then
		mount -o loop,ro "$img" "$MNT"
		diff <(listing "$MODEL") <(listing "$MNT")
		umount "$MNT"
	else
		rm -rf "$dir"
		mkdir -p "$dir"
		debugfs -R "rdump / $dir" "$img" >/dev/null 2>&1
		diff <(listing "$MODEL") <(listing "$dir")
	fi
}

need_mount() {
	[ "$HAVE_MOUNT" = 1 ] || skip "mount -o loop is unavailable here"
}

inode_field() {	# PATH FIELD: "Flags", "Blockcount", "Size" of debugfs stat
	debugfs -R "stat $1" "$IMG" 2>/dev/null |
		grep -oE "$2: +(0x)?[0-9a-f]+" | head -1 | awk '{ print $2 }'
}

flagged() {
	local f

	f=$(inode_field "$1" Flags)
	[ $((f & 0x400000)) -ne 0 ]
}

# Physical block of logical block $2 of file $1
pblk() {
	debugfs -R "bmap $1 $2" "$IMG" 2>/dev/null
}

size_of() {
	stat -c %s "$MODEL/$1"
}

# ------------------------------------------------------------------
# The model: the same operations on plain files
# ------------------------------------------------------------------

m_share() {	# SRC SBLK DST DBLK NR
	local t="$BATS_TEST_TMPDIR/range" old bytes want

	old=$(size_of "$3")
	dd if="$MODEL/$1" of="$t" bs=$BS skip="$2" count="$5" \
	   iflag=fullblock status=none
	bytes=$(stat -c %s "$t")
	# whole blocks move: src's zeroes past its EOF come along
	truncate -s $(($5 * BS)) "$t"
	dd if="$t" of="$MODEL/$3" bs=$BS seek="$4" conv=notrunc status=none
	want=$(($4 * BS + bytes))
	[ "$want" -gt "$old" ] || want=$old
	truncate -s "$want" "$MODEL/$3"
}

m_punch() {	# FILE START END
	local size from to

	size=$(size_of "$1")
	from=$(($2 * BS))
	to=$((($3 + 1) * BS))
	[ "$to" -le "$size" ] || to=$size
	[ "$from" -lt "$to" ] || return 0
	head -c $((to - from)) /dev/zero |
		dd of="$MODEL/$1" bs=64K seek="$from" oflag=seek_bytes \
		   conv=notrunc iflag=fullblock status=none
}

m_write() {	# FILE OFFSET HOSTFILE
	dd if="$3" of="$MODEL/$1" bs=64K seek="$2" oflag=seek_bytes \
	   conv=notrunc status=none
}

op_clone()	{ rfl clone "/$1" "/$2" && cp "$MODEL/$1" "$MODEL/$2"; }
op_share()	{ rfl share "/$1" "$2" "/$3" "$4" "$5" && m_share "$@"; }
op_punch()	{ rfl punch "/$1" "$2" "$3" && m_punch "$@"; }
op_truncate()	{ rfl truncate "/$1" "$2" && truncate -s "$2" "$MODEL/$1"; }
op_write()	{ rfl write "/$1" "$2" "$3" && m_write "$@"; }
op_cow()	{ rfl cow "/$1" "$2" "$3"; }
op_rm()		{ rfl rm "/$1" && rm "$MODEL/$1"; }

# ------------------------------------------------------------------

@test "stock e2fsck and the kernel accept EXT4_REFLINK_FL (0x400000)" {
	local img="$BATS_TEST_TMPDIR/stock.img" flags

	mke2fs -q -F -t ext4 -O 64bit -d "$BATS_FILE_TMPDIR/src" "$img" 32M
	debugfs -w -R "set_inode_field /big flags 0x480000" "$img"
	run debugfs -R "stat /big" "$img"
	[[ $output == *"Flags: 0x480000"* ]]
	run -0 e2fsck -fn "$img"
	need_mount
	mount -o loop "$img" "$MNT"
	cmp "$MNT/big" "$BATS_FILE_TMPDIR/src/big"
	echo more >>"$MNT/big"
	umount "$MNT"
	run -0 e2fsck -fn "$img"
	# the kernel kept the bit through a write
	run debugfs -R "stat /big" "$img"
	flags=$(grep -oE 'Flags: 0x[0-9a-f]+' <<<"$output" | awk '{print $2}')
	[ $((flags & 0x400000)) -ne 0 ]
}

@test "enable: no records, recount clean, files intact" {
	recount
	[[ $output == *" 0 shared blocks, 0 records, 0 differences"* ]]
	run -0 "$BIN/rflctl" "$IMG" records
	[ -z "$output" ]
	check_files
}

@test "rfl_recount reports each kind of disagreement, and only those" {
	local b s re='^recount: [0-9]+ extents, [0-9]+ shared blocks, '

	op_clone big big.c
	recount
	[[ ${lines[-1]} =~ $re[0-9]+' records, 0 differences'$ ]]
	b=$(pblk /big 0)
	s=$(pblk /small 0)

	rfl adjust "$b" 300 +1
	run -1 "$BIN/rfl_recount" "$IMG"
	[ "${lines[0]}" = "wrong count: record $b+300 count 3, expected 2" ]
	[[ ${lines[-1]} == *", 1 differences" ]]
	rfl adjust "$b" 300 -1
	recount

	rfl adjust "$b" 300 -1
	run -1 "$BIN/rfl_recount" "$IMG"
	[ "${lines[0]}" = "missing record: $b+300 count 2" ]
	rfl adjust "$b" 300 +1
	recount

	rfl adjust "$s" 2 +1
	run -1 "$BIN/rfl_recount" "$IMG"
	[ "${lines[0]}" = "extra record: $s+2 count 2" ]
	rfl adjust "$s" 2 -1
	recount

	rfl adjust "$b" 10 +1
	run -1 "$BIN/rfl_recount" "$IMG"
	[ "${lines[0]}" = "wrong count: record $b+10 count 3, expected 2" ]
	rfl adjust "$b" 10 -1
	recount

	rfl flags /big.c 0x80000
	run -1 "$BIN/rfl_recount" "$IMG"
	[[ ${lines[0]} == "inode "*" maps shared blocks but lacks EXT4_REFLINK_FL" ]]
	[[ ${lines[-1]} == *", 1 differences" ]]

	run -8 "$BIN/rfl_recount" "$BATS_TEST_TMPDIR/nosuch.img"
}

@test "clone: same bytes, every mapped block counted twice, both flagged" {
	local f

	for f in big frag sparse empty tiny wide; do
		op_clone "$f" "$f.c"
	done
	rfl clone /sub/inner /sub/inner.c
	cp "$MODEL/sub/inner" "$MODEL/sub/inner.c"
	recount
	for f in big frag sparse tiny wide sub/inner; do
		flagged "/$f"
		flagged "/$f.c"
		# data blocks plus its own tree blocks, like the source's
		[ "$(inode_field "/$f.c" Blockcount)" = \
		  "$(inode_field "/$f" Blockcount)" ]
	done
	# nothing mapped, nothing shared
	! flagged /empty
	! flagged /empty.c
	[ "$(pblk /big 0)" = "$(pblk /big.c 0)" ]
	run -0 "$BIN/rflctl" "$IMG" count "$(pblk /big 7)"
	[ "$output" = 2 ]
	# holes stay holes
	run -0 "$BIN/rflctl" "$IMG" count "$(pblk /sparse.c 305)"
	[ "$output" = 2 ]
	[ "$(pblk /sparse.c 100)" = 0 ]
	# wide's blocks lie in two flex groups: records in both
	run -0 "$BIN/rflctl" "$IMG" records
	[ "$(awk '{ print $1 }' <<<"$output" | sort -u | wc -l)" -ge 2 ]
	# a clone of a clone: counts 3
	op_clone big.c big.cc
	run -0 "$BIN/rflctl" "$IMG" count "$(pblk /big 7)"
	[ "$output" = 3 ]
	recount
	check_files
}

@test "clone into a full directory grows it; 60 sharers of one block" {
	local i

	for i in $(seq 1 60); do
		op_clone tiny "sub/tiny-clone-with-a-long-name-$i"
	done
	[ "$(inode_field /sub Size)" -gt 1024 ]
	run -0 "$BIN/rflctl" "$IMG" count "$(pblk /tiny 0)"
	[ "$output" = 61 ]
	recount
	check_files
	# the grown directory passes stock e2fsck once the feature is off
	run -0 rfl disable
	run -0 e2fsck -fn "$IMG"
}

@test "clone keeps uninitialized extents uninitialized" {
	need_mount
	op_clone prealloc prealloc.c
	op_clone small small.c
	run debugfs -R "ex /prealloc.c" "$IMG"
	[ "$(grep -c Uninit <<<"$output")" -ge 2 ]
	# small's unwritten blocks past EOF are shared too
	run debugfs -R "ex /small.c" "$IMG"
	grep -q Uninit <<<"$output"
	recount
	[[ $output == *" 0 differences"* ]]
	check_files
	# and a write into an unwritten shared block copies, then writes
	head -c 2000 /dev/urandom >"$BATS_TEST_TMPDIR/w"
	op_write prealloc.c 1000 "$BATS_TEST_TMPDIR/w"
	op_write prealloc 40000 "$BATS_TEST_TMPDIR/w"
	recount
	check_files
}

@test "share: ranges land at an offset, holes stay holes, dst grows" {
	# into the middle of a file, and past the end of another
	op_share big 10 frag 3 20
	op_share big 0 small 5 12
	[ "$(size_of small)" -eq $((17 * BS)) ]
	# a source range that is partly hole punches dst there
	op_share sparse 15 big 0 10
	[ "$(pblk /big 7)" = 0 ]
	# the source's partial last block: dst ends where the data ends
	op_share tiny 0 empty 4 1
	[ "$(size_of empty)" -eq $((4 * BS + 10)) ]
	op_share sub/inner 2 tiny 0 3
	for f in frag small big empty tiny sparse sub/inner; do
		flagged "/$f"
	done
	recount
	check_files
}

@test "share within one file, overlapping ranges" {
	op_share big 0 big 5 20
	op_share big 30 big 20 40
	op_share frag 0 frag 1 40
	recount
	check_files
	run -0 "$BIN/rflctl" "$IMG" count "$(pblk /big 0)"
	[ "$output" = 2 ]
}

@test "punch drops one reference; only the last frees the blocks" {
	local before

	op_clone big big.c
	before=$(free_blocks)
	op_punch big.c 0 99
	[ "$(free_blocks)" -eq "$before" ]
	recount
	op_punch big 0 99
	[ "$(free_blocks)" -eq $((before + 100)) ]
	# over holes, past EOF, inside a multi-extent tree
	op_punch sparse 10 400
	op_punch frag 5 30
	op_punch tiny 0 100
	recount
	check_files
}

@test "truncate: a shared tail is copied before zeroing; grow leaves a hole" {
	op_clone big big.c
	op_truncate big.c 5000
	recount
	check_files
	op_truncate big.c 20000
	op_truncate sparse 0
	op_truncate frag 30000
	op_truncate small 2999
	recount
	check_files
	[ "$(pblk /big.c 10)" = 0 ]
}

@test "rm: counts follow, the last link frees the blocks" {
	local before inodes

	before=$(free_blocks)
	op_clone big big.c
	op_clone frag frag.c
	[ "$(free_blocks)" -le "$before" ]
	op_rm big
	op_rm frag
	recount
	check_files
	op_rm big.c
	op_rm frag.c
	# frag's clone had its own leaf block, freed with it
	[ "$(free_blocks)" -eq $((before + 300 + 20 + 1)) ]
	recount
	check_files
	run -1 rfl rm /sub
	[[ $output == *"Not a regular file"* ]]
	op_rm sub/inner
	check_files
}

@test "cow: shared blocks get their own copies, unshared blocks stay" {
	local before

	op_clone big big.c
	op_cow big.c 0 50
	[ "$(pblk /big 10)" != "$(pblk /big.c 10)" ]
	[ "$(pblk /big 60)" = "$(pblk /big.c 60)" ]
	recount
	[[ $output == *" 250 shared blocks"* ]]
	op_cow big.c 0 1000
	recount
	[[ $output == *" 0 shared blocks, 0 records"* ]]
	# nothing shared left: another cow changes nothing
	before=$(free_blocks)
	op_cow big 0 300
	[ "$(free_blocks)" -eq "$before" ]
	check_files
}

@test "write: copy-on-write keeps the other sharer's bytes" {
	local w="$BATS_TEST_TMPDIR/w"

	op_clone big big.c
	op_clone sparse sparse.c
	head -c 3000 /dev/urandom >"$w"
	op_write big.c 5000 "$w"
	op_write big 0 "$w"
	# into a hole, and past EOF
	op_write sparse.c 100000 "$w"
	op_write small 10000 "$w"
	recount
	check_files
}

@test "disable keeps shares under shared_blocks; stock e2fsck -fn is clean" {
	op_clone big big.c
	op_clone frag frag.c
	op_share wide 100 sparse 50 30
	run -0 rfl disable
	[[ $output == *"shared_blocks set"* ]]
	run dumpe2fs -h "$IMG"
	[[ $output == *shared_blocks* ]]
	[[ $output != *FEATURE_R17* ]]
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	check_files
}

@test "disable --unshare: e2fsck -fn clean, the kernel mounts read-write" {
	op_clone big big.c
	op_clone frag frag.c
	op_clone wide wide.c
	op_share wide 100 sparse 50 30
	op_write big.c 0 "$BATS_FILE_TMPDIR/src/tiny"
	run -0 rfl disable --unshare
	[[ $output != *"shared_blocks"* ]]
	run dumpe2fs -h "$IMG"
	[[ $output != *shared_blocks* ]]
	[[ $output != *FEATURE_R17* ]]
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	check_files
	need_mount
	mount -o loop "$IMG" "$MNT"
	echo written >"$MNT/new"
	cmp "$MNT/big" "$MODEL/big"
	umount "$MNT"
	run -0 e2fsck -fn "$IMG"
}

@test "unshare refuses when free space is short, changing nothing" {
	local sum

	IMG="$BATS_TEST_TMPDIR/full.img"
	mkdir -p "$BATS_TEST_TMPDIR/fsrc"
	head -c 1200K /dev/urandom >"$BATS_TEST_TMPDIR/fsrc/f"
	mke2fs -q -F -t ext4 -O 64bit -b 1024 -d "$BATS_TEST_TMPDIR/fsrc" \
		"$IMG" 4M
	rfl enable
	rfl clone /f /g
	rfl clone /f /h
	rfl clone /f /i
	sum=$(sha256sum <"$IMG")
	run -1 rfl disable --unshare
	echo "$output"
	[ "$(wc -l <<<"$output")" -eq 1 ]
	[[ $output == "rflctl: $IMG: "*"not enough free space"* ]]
	[ "$(sha256sum <"$IMG")" = "$sum" ]
	recount
}

@test "refusals: one clear line, non-zero exit, image unchanged" {
	local sum stock="$BATS_TEST_TMPDIR/stock.img"

	sum=$(sha256sum <"$IMG")
	run -1 rfl clone /sub /subclone
	[[ $output == "rflctl: $IMG: /sub: Not a regular file" ]]
	run -1 rfl share /small 0 /big 0 10
	[[ $output == "rflctl: $IMG: "*"outside the file"* ]]
	run -1 rfl share /big 299 /tiny 0 2
	[[ $output == "rflctl: $IMG: "*"outside the file"* ]]
	run -1 rfl clone /big /tiny
	[[ $output == "rflctl: $IMG: /tiny: "*"exists"* ]]
	run -1 rfl clone /nosuch /x
	[[ $output == "rflctl: $IMG: /nosuch: "* ]]
	run -1 "$BIN/rflctl" "$IMG" clone /big /x
	[[ $output == "rflctl: $IMG: clone changes the image: give -w" ]]
	run -2 rfl frobnicate
	[ "$(sha256sum <"$IMG")" = "$sum" ]

	# an image without the feature
	mke2fs -q -F -t ext4 -O 64bit -d "$BATS_FILE_TMPDIR/src" "$stock" 32M
	sum=$(sha256sum <"$stock")
	run -1 "$BIN/rflctl" -w "$stock" share /big 0 /small 0 1
	[ "$output" = \
	  "rflctl: $stock: Filesystem does not have the reflink feature" ]
	run -1 "$BIN/rflctl" -w "$stock" clone /big /big2
	[ "${#lines[@]}" -eq 1 ]
	[ "$(sha256sum <"$stock")" = "$sum" ]
}

# ------------------------------------------------------------------
# Randomized
# ------------------------------------------------------------------

# A random existing file name, into $pick
pick_file() {
	pick=${files[RANDOM % ${#files[@]}]}
}

blocks_of() {
	local s

	s=$(size_of "$1")
	echo $(((s + BS - 1) / BS))
}

# bats test_tags=no_asan
@test "randomized clone/share/punch/cow/write/truncate/rm against a model" {
	local seed=${SEED:-$((RANDOM * 32768 + RANDOM))} ops=${OPS:-300}
	local step op a b sb db nr n next=0 w="$BATS_TEST_TMPDIR/w"
	local -a files keep

	echo "# SEED=$seed OPS=$ops" >&3
	echo "SEED=$seed"
	RANDOM=$seed
	files=(big small tiny empty sparse frag)
	[ "$HAVE_MOUNT" != 1 ] || files+=(prealloc)
	for step in $(seq 1 "$ops"); do
		op=$((RANDOM % 8))
		pick_file
		a=$pick
		case $op in
		0)	# clone
			[ "${#files[@]}" -lt 24 ] || continue
			b="r$next"
			next=$((next + 1))
			echo "$step: clone $a $b"
			op_clone "$a" "$b"
			files+=("$b")
			;;
		1 | 2)	# share a range of a into b at a random offset
			pick_file
			b=$pick
			sb=$(blocks_of "$a")
			[ "$sb" -gt 0 ] || continue
			n=$((RANDOM % sb))
			nr=$((1 + RANDOM % (sb - n < 24 ? sb - n : 24)))
			db=$((RANDOM % ($(blocks_of "$b") + 8)))
			echo "$step: share $a $n $b $db $nr"
			op_share "$a" "$n" "$b" "$db" "$nr"
			;;
		3)	# punch
			sb=$(blocks_of "$a")
			n=$((RANDOM % (sb + 2)))
			nr=$((n + RANDOM % 12))
			echo "$step: punch $a $n $nr"
			op_punch "$a" "$n" "$nr"
			;;
		4)	# cow
			sb=$(blocks_of "$a")
			n=$((RANDOM % (sb + 1)))
			nr=$((1 + RANDOM % 32))
			echo "$step: cow $a $n $nr"
			op_cow "$a" "$n" "$nr"
			;;
		5)	# write
			n=$((RANDOM % ($(size_of "$a") + 3000)))
			head -c $((1 + RANDOM % 6000)) /dev/urandom >"$w"
			echo "$step: write $a $n ($(stat -c %s "$w") bytes)"
			op_write "$a" "$n" "$w"
			;;
		6)	# truncate, mostly within 64 KiB
			n=$((RANDOM % 65536))
			echo "$step: truncate $a $n"
			op_truncate "$a" "$n"
			;;
		7)	# rm
			[ "${#files[@]}" -gt 3 ] || continue
			echo "$step: rm $a"
			op_rm "$a"
			keep=()
			for b in "${files[@]}"; do
				[ "$b" = "$a" ] || keep+=("$b")
			done
			files=("${keep[@]}")
			;;
		esac
		if [ $((step % 25)) -eq 0 ]; then
			recount >/dev/null || { recount; false; }
		fi
		if [ $((step % 100)) -eq 0 ]; then
			check_files
		fi
	done
	recount
	check_files

	# the end state survives both ways of turning the feature off
	cp "$IMG" "$BATS_TEST_TMPDIR/keep.img"
	run -0 rfl disable
	run -0 e2fsck -fn "$IMG"
	check_files
	IMG="$BATS_TEST_TMPDIR/keep.img"
	run -0 rfl disable --unshare
	run -0 e2fsck -fn "$IMG"
	check_files
}

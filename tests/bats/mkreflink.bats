#!/usr/bin/env bats
# mkreflink.bats - format, enable and strip, judged by stock e2fsprogs and
# the kernel.
#
# dumpe2fs prints the reflink bit as FEATURE_R17; stock e2fsck refuses the
# image (exit 12 with -n) until --strip, after which it must be clean; the
# kernel mounts it read-only only.  The per-flex-group metadata blocks are
# read straight from the image: bg_reserved of the flex group's first
# descriptor (offset 0x3C) and the "RFMB" magic of the block it names.

bats_require_minimum_version 1.5.0

load common

U1=6e1b7a3c-0f4d-4c2b-9a51-3d2e8f7c6b10
U2=0b9c8d7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e
HS=9d3c2b1a-4e5f-4a6b-8c7d-0e1f2a3b4c5d

teardown() {
	unmount_mnt
	if [ -n "${LOOPDEV:-}" ]; then
		losetup -d "$LOOPDEV" 2>/dev/null || true
	fi
	if [ -n "${TMPFS:-}" ] && mountpoint -q "$TMPFS"; then
		umount "$TMPFS"
	fi
}

setup() {
	need_built mkreflink
	need_tools mke2fs e2fsck debugfs dumpe2fs e2undo sha256sum od dd
	IMG="$BATS_TEST_TMPDIR/img"
	MNT="$BATS_TEST_TMPDIR/mnt"
	export SOURCE_DATE_EPOCH=
	unset SOURCE_DATE_EPOCH
}

# Kernel loop mounts: skip (with the reason) where they are unavailable
need_loop() {
	[ "$(id -u)" -eq 0 ] || skip "loop mounts need root"
	command -v losetup >/dev/null || skip "losetup is not installed"
	[ -e /dev/loop-control ] || skip "no /dev/loop-control"
	mkdir -p "$MNT"
}

# Stock mke2fs image at $IMG: mkimg SIZE [mke2fs options...]
mkimg() {
	local size=$1

	shift
	rm -f "$IMG"
	mke2fs -q -F "$@" "$IMG" "$size" >/dev/null 2>&1
}

# nr_flex IMAGE: how many flex groups it has
nr_flex() {
	local first bpg groups gpf

	flex_geometry "$1"
	echo $(((groups + gpf - 1) / gpf))
}

# The 4-byte magic of block BLK
magic_at() {
	local bs

	bs=$(sb "$1" "Block size")
	dd if="$1" bs="$bs" skip="$2" count=1 2>/dev/null | head -c 4
}

# Every flex group of IMAGE has a metadata block with the RFMB magic
all_meta() {
	local img=$1 n fg blk

	n=$(nr_flex "$img")
	for ((fg = 0; fg < n; fg++)); do
		blk=$(meta_block "$img" "$fg")
		if [ "$blk" -eq 0 ]; then
			echo "flex group $fg has no metadata block" >&2
			return 1
		fi
		if [ "$(magic_at "$img" "$blk")" != RFMB ]; then
			echo "flex group $fg: block $blk is not RFMB" >&2
			return 1
		fi
	done
}

# A refusal: exit 1, one line on stderr naming the image, image unchanged
refused() {
	local before=$1 pattern=$2

	[ "$status" -eq 1 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ $stderr == *"$IMG"* ]]
	[[ $stderr == *$pattern* ]]
	[ "$(sum "$IMG")" = "$before" ]
}

# Files for mke2fs -d: small, empty, multi-block, sparse, a subdirectory
mktree() {
	local d=$1 i

	mkdir -p "$d/sub/deeper"
	for i in $(seq 1 40); do
		head -c $((i * 997)) /dev/urandom >"$d/f$i"
	done
	: >"$d/empty"
	head -c 3000000 /dev/urandom >"$d/sub/big"
	truncate -s 50M "$d/sub/sparse"
	head -c 70000 /dev/urandom | dd of="$d/sub/sparse" bs=1 \
		seek=20000000 conv=notrunc 2>/dev/null
	head -c 5000 /dev/urandom >"$d/sub/deeper/leaf"
	ln -s f1 "$d/link"
}

# sha256 of every regular file, as debugfs reads them from the image
tree_sums() {
	local out=$1

	rm -rf "$out"
	mkdir -p "$out"
	debugfs -R "rdump / $out" "$2" >/dev/null 2>&1
	(cd "$out" && find . -type f -print0 | sort -z |
		xargs -0 sha256sum)
}

@test "format: FEATURE_R17, e2fsck refuses, metadata in every flex group" {
	run "$BIN/mkreflink" -q "$IMG" 1G
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	feat=$(features "$IMG")
	for f in has_journal ext_attr resize_inode dir_index filetype extent \
		 64bit flex_bg sparse_super large_file huge_file dir_nlink \
		 extra_isize metadata_csum FEATURE_R17; do
		[[ " $feat " == *" $f "* ]]
	done
	[ "$(sb "$IMG" "Block size")" -eq 4096 ]
	[ "$(sb "$IMG" "Inode size")" -eq 256 ]
	[ "$(sb "$IMG" "Flex block group size")" -eq 16 ]
	[ "$(sb "$IMG" "Inode count")" -eq 65536 ]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 12 ]
	[[ $output == *"unsupported feature(s): FEATURE_R17"* ]]
	all_meta "$IMG"
}

@test "format: summary names blocks, inodes, flex groups and the reflink step" {
	run "$BIN/mkreflink" -U "$U1" "$IMG" 256M
	[ "$status" -eq 0 ]
	[[ $output == *"Creating regular file $IMG"* ]]
	line="Creating filesystem with 262144 1k blocks and 65536 inodes"
	[[ $output == *"$line"* ]]
	[[ $output == *"Filesystem UUID: $U1"* ]]
	[[ $output == *"Flex groups: 2 of up to 16 block groups"* ]]
	[[ $output == *"Writing reflink metadata: done"* ]]
	line="Writing superblocks and filesystem accounting information: done"
	[[ $output == *"$line"* ]]
	[ "$(sb "$IMG" "Block size")" -eq 1024 ]
	all_meta "$IMG"
}

@test "format: options reach the superblock" {
	run "$BIN/mkreflink" -q -b 4096 -L mylabel -U "$U1" -N 5000 -I 512 -G 2 -m 1 \
		-J size=8 -E hash_seed=$HS,root_owner=1234:567 "$IMG" 300M
	[ "$status" -eq 0 ]
	[ "$(sb "$IMG" "Filesystem volume name")" = mylabel ]
	[ "$(sb "$IMG" "Filesystem UUID")" = "$U1" ]
	[ "$(sb "$IMG" "Directory Hash Seed")" = "$HS" ]
	[ "$(sb "$IMG" "Inode size")" -eq 512 ]
	[ "$(sb "$IMG" "Flex block group size")" -eq 2 ]
	[ "$(sb "$IMG" "Inode count")" -ge 5000 ]
	[ "$(sb "$IMG" "Inode count")" -lt 6000 ]
	[ "$(sb "$IMG" "Reserved block count")" -eq 768 ]
	[ "$(sb "$IMG" "Total journal size")" = 8M ]
	run debugfs -R "stat /" "$IMG"
	[[ $output == *"User:  1234   Group:   567"* ]]
	all_meta "$IMG"
	[ "$(nr_flex "$IMG")" -eq 2 ]

	rm -f "$IMG"
	run "$BIN/mkreflink" -q -O ^has_journal,^metadata_csum -i 65536 "$IMG" 64M
	[ "$status" -eq 0 ]
	feat=$(features "$IMG")
	[[ " $feat " != *" has_journal "* ]]
	[[ " $feat " != *" metadata_csum "* ]]
	[[ " $feat " == *" FEATURE_R17 "* ]]
	[ "$(sb "$IMG" "Inode count")" -eq 1024 ]
	run "$BIN/mkreflink" -q --strip "$IMG"
	[ "$status" -eq 0 ]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
}

@test "format: the kernel mounts it ro only; stripped, e2fsck clean and rw" {
	need_loop
	run "$BIN/mkreflink" -q "$IMG" 512M
	[ "$status" -eq 0 ]
	run mount -o loop,ro "$IMG" "$MNT"
	[ "$status" -eq 0 ] || skip "loop mount failed: $output"
	[ -d "$MNT/lost+found" ]
	umount "$MNT"
	run mount -o loop "$IMG" "$MNT"
	[ "$status" -ne 0 ]
	! mountpoint -q "$MNT"

	run "$BIN/mkreflink" --strip "$IMG"
	[ "$status" -eq 0 ]
	[[ $output == *"reflink removed"* ]]
	[[ " $(features "$IMG") " != *" FEATURE_R17 "* ]]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
	run mount -o loop "$IMG" "$MNT"
	[ "$status" -eq 0 ]
	echo hello >"$MNT/new"
	umount "$MNT"
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
}

@test "enable then strip on stock images: e2fsck clean, files unchanged" {
	mktree "$BATS_TEST_TMPDIR/src"
	for cfg in "64M -b 1024" "64M -b 1024 -O ^metadata_csum" \
		   "200M -b 1024 -G 2" "300M -b 4096" "1G" \
		   "1G -O ^metadata_csum,uninit_bg" "600M -b 2048 -I 128"; do
		read -r size opts <<<"$cfg"
		# shellcheck disable=SC2086
		mkimg "$size" -t ext4 -O 64bit $opts -d "$BATS_TEST_TMPDIR/src"
		feat=$(features "$IMG")
		before=$(tree_sums "$BATS_TEST_TMPDIR/d0" "$IMG")
		[ -n "$before" ]

		run "$BIN/mkreflink" --enable "$IMG"
		[ "$status" -eq 0 ] || { echo "[$cfg] $output"; false; }
		[[ $output == *"reflink enabled"* ]]
		[ "$(features "$IMG")" = "$feat FEATURE_R17" ]
		all_meta "$IMG"
		run e2fsck -fn "$IMG"
		[ "$status" -eq 12 ]
		[ "$(tree_sums "$BATS_TEST_TMPDIR/d1" "$IMG")" = "$before" ]

		run "$BIN/mkreflink" --strip "$IMG"
		[ "$status" -eq 0 ] || { echo "[$cfg] $output"; false; }
		[ "$(features "$IMG")" = "$feat" ]
		run e2fsck -fn "$IMG"
		[ "$status" -eq 0 ] || { echo "[$cfg] $output"; false; }
		[ "$(tree_sums "$BATS_TEST_TMPDIR/d2" "$IMG")" = "$before" ]
	done
}

@test "enable and dedup refuse a bitmap that calls a file's blocks free" {
	local blk before
	mktree "$BATS_TEST_TMPDIR/src"
	mkimg 64M -t ext4 -O 64bit -d "$BATS_TEST_TMPDIR/src"
	# the first data blocks of /sub/big, freed in the bitmap by stock
	# debugfs: e2fsck -fn sees it, and so must the enable
	blk=$(debugfs -R 'bmap /sub/big 0' "$IMG" 2>/dev/null)
	[ -n "$blk" ] && [ "$blk" -gt 0 ]
	debugfs -w -R "freeb $blk 8" "$IMG"
	before=$(sha256sum <"$IMG")
	for args in "--enable" "--enable --dedup" "--enable -n"; do
		# shellcheck disable=SC2086
		run "$BIN/mkreflink" $args "$IMG"
		echo "[$args] $output"
		[ "$status" -eq 1 ]
		[[ $output == *"e2fsck -fn finds damage"*"nothing was written"* ]]
		[ "$(sha256sum <"$IMG")" = "$before" ]
	done
}

@test "enable on a stock image that was mounted and written by the kernel" {
	need_loop
	mkimg 256M -t ext4
	run mount -o loop "$IMG" "$MNT"
	[ "$status" -eq 0 ] || skip "loop mount failed: $output"
	cp -r "$REPO/lib" "$MNT/"
	umount "$MNT"
	run "$BIN/mkreflink" -q --enable "$IMG"
	[ "$status" -eq 0 ]
	all_meta "$IMG"
	run mount -o loop,ro "$IMG" "$MNT"
	[ "$status" -eq 0 ]
	diff -r "$REPO/lib" "$MNT/lib"
	umount "$MNT"
	run "$BIN/mkreflink" -q --strip "$IMG"
	[ "$status" -eq 0 ]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
}

# 20 TiB does not fit in a file on a 4 KiB ext4; tmpfs holds it sparsely
big_image() {
	IMG="$BATS_TEST_TMPDIR/big.img"
	if ! truncate -s 20T "$IMG" 2>/dev/null; then
		[ "$(id -u)" -eq 0 ] || skip "no room for a 20 TiB sparse file"
		TMPFS="$BATS_TEST_TMPDIR/tmpfs"
		mkdir -p "$TMPFS"
		mount -t tmpfs -o size=4G tmpfs "$TMPFS" ||
			skip "no tmpfs for a 20 TiB sparse file"
		IMG="$TMPFS/big.img"
		truncate -s 20T "$IMG" ||
			skip "cannot make a 20 TiB sparse file"
	fi
}

@test "20 TiB: format, metadata beyond 16 TiB, strip, enable, strip" {
	big_image
	run "$BIN/mkreflink" -q -F "$IMG"
	[ "$status" -eq 0 ]
	[ "$(sb "$IMG" "Block count")" -eq 5368709120 ]
	[ "$(sb "$IMG" "Block size")" -eq 4096 ]
	last=$(($(nr_flex "$IMG") - 1))
	[ "$last" -eq 10239 ]
	blk=$(meta_block "$IMG" "$last")
	[ "$blk" -gt 4294967296 ]
	[ "$(magic_at "$IMG" "$blk")" = RFMB ]
	blk=$(meta_block "$IMG" 8192)
	[ "$blk" -gt 4294967296 ]
	[ "$(magic_at "$IMG" "$blk")" = RFMB ]

	run "$BIN/mkreflink" -q --strip "$IMG"
	[ "$status" -eq 0 ]
	[ "$(meta_block "$IMG" "$last")" -eq 0 ]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]

	run "$BIN/mkreflink" --enable "$IMG"
	[ "$status" -eq 0 ]
	[[ $output == *"10240 of 10240 flex groups have a metadata block"* ]]
	blk=$(meta_block "$IMG" "$last")
	[ "$blk" -gt 4294967296 ]
	[ "$(magic_at "$IMG" "$blk")" = RFMB ]
	run "$BIN/mkreflink" -q --strip "$IMG"
	[ "$status" -eq 0 ]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
}

# bats test_tags=no_asan
@test "20 TiB: a file beyond 16 TiB is cloned and counted" {
	for t in place_file rflctl rfl_recount; do
		[ -x "$BIN/$t" ] || skip "$t is not built"
	done
	big_image
	run "$BIN/mkreflink" -q -F -O ^has_journal "$IMG"
	[ "$status" -eq 0 ]
	# 5e9 is in flex group 9536, past block 2^32 (place_file only
	# allocates: the reflink image takes it; the test above makes
	# --enable place metadata there)
	run "$BIN/place_file" "$IMG" high 5000000000 64
	[ "$status" -eq 0 ]
	first=$(awk '{ print $3 }' <<<"$output")
	[ "$first" -gt 4294967296 ]
	run "$BIN/rflctl" -w "$IMG" clone /high /high2
	[ "$status" -eq 0 ]
	run "$BIN/rflctl" "$IMG" count "$first"
	[ "$status" -eq 0 ]
	[ "$output" -eq 2 ]
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ]
	[[ $output == *"64 shared blocks, 1 records, 0 differences"* ]]

	run "$BIN/mkreflink" -q --strip --unshare "$IMG"
	[ "$status" -eq 0 ] || skip "--strip --unshare: $output"
	[[ " $(features "$IMG") " != *" shared_blocks "* ]]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
	a=$(debugfs -R "cat /high" "$IMG" 2>/dev/null | sha256sum)
	b=$(debugfs -R "cat /high2" "$IMG" 2>/dev/null | sha256sum)
	[ "$a" = "$b" ]
}

@test "strip keeps sharing under shared_blocks; --unshare copies apart" {
	for t in place_file rflctl; do
		[ -x "$BIN/$t" ] || skip "$t is not built"
	done
	mkimg 128M -t ext4
	run "$BIN/place_file" "$IMG" a 20000 100
	[ "$status" -eq 0 ]
	run "$BIN/mkreflink" -q --enable "$IMG"
	[ "$status" -eq 0 ]
	run "$BIN/rflctl" -w "$IMG" clone /a /b
	[ "$status" -eq 0 ]
	cp "$IMG" "$IMG.2"

	run "$BIN/mkreflink" --strip "$IMG"
	[ "$status" -eq 0 ]
	[[ $output == *"files still share blocks, so shared_blocks is set"* ]]
	[[ " $(features "$IMG") " == *" shared_blocks "* ]]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]

	IMG="$IMG.2"
	run "$BIN/mkreflink" --strip --unshare "$IMG"
	[ "$status" -eq 0 ] || skip "--strip --unshare: $output"
	[[ " $(features "$IMG") " != *" shared_blocks "* ]]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
	a=$(debugfs -R "cat /a" "$IMG" 2>/dev/null | sha256sum)
	b=$(debugfs -R "cat /b" "$IMG" 2>/dev/null | sha256sum)
	[ "$a" = "$b" ]
}

@test "strip --unshare -n: refused for space exactly when the real run is, nothing written" {
	local n sum out
	[ -x "$BIN/rflctl" ] || skip "rflctl is not built"
	head -c 4M /dev/urandom >"$BATS_TEST_TMPDIR/r"
	# a 4 MiB file and 3 clones in 16 MiB: 12 MiB of copies do not fit;
	# with 2 clones they do
	for n in 3 2; do
		"$BIN/mkreflink" -q -F -b 1024 -G 2 -O ^has_journal "$IMG" 16M
		"$BIN/rflctl" -w "$IMG" touch /a
		"$BIN/rflctl" -w "$IMG" write /a 0 "$BATS_TEST_TMPDIR/r"
		for ((i = 1; i <= n; i++)); do
			"$BIN/rflctl" -w "$IMG" clone /a "/c$i"
		done
		sum=$(sha256sum <"$IMG")
		run "$BIN/mkreflink" -q --strip --unshare -n "$IMG"
		echo "$output"
		[ "$(sha256sum <"$IMG")" = "$sum" ]
		if [ "$n" -eq 3 ]; then
			[ "$status" -eq 1 ]
			[[ "$output" =~ while\ unsharing\ the\ files\ of\ .*:\ [0-9]+\ free\ blocks\ needed,\ [0-9]+\ free\;\ nothing\ was\ written$ ]]
			out=$output
			run "$BIN/mkreflink" -q --strip --unshare "$IMG"
			[ "$status" -eq 1 ]
			[ "$output" = "$out" ]
			[ "$(sha256sum <"$IMG")" = "$sum" ]
		else
			[ "$status" -eq 0 ]
			run "$BIN/mkreflink" -q --strip --unshare "$IMG"
			[ "$status" -eq 0 ] || { echo "$output"; false; }
			run e2fsck -fn "$IMG"
			[ "$status" -eq 0 ]
		fi
	done
}

@test "refuse: enable, strip and format of a mounted image" {
	need_loop
	mkimg 64M -t ext4
	run mount -o loop "$IMG" "$MNT"
	[ "$status" -eq 0 ] || skip "loop mount failed: $output"
	before=$(sum "$IMG")
	run --separate-stderr "$BIN/mkreflink" --enable "$IMG"
	refused "$before" "is mounted"
	run --separate-stderr "$BIN/mkreflink" --strip "$IMG"
	refused "$before" "is mounted"
	run --separate-stderr "$BIN/mkreflink" -F "$IMG"
	refused "$before" "is mounted"
}

@test "refuse: no 64bit, and say resize2fs -b" {
	mkimg 64M -t ext4 -O ^64bit
	before=$(sum "$IMG")
	run --separate-stderr "$BIN/mkreflink" --enable "$IMG"
	refused "$before" "requires the 64bit feature"
	[[ $stderr == *"resize2fs -b $IMG"* ]]
	[[ $stderr != *"lacks"* ]]
}

@test "refuse: no extents (ext3, and extents alone)" {
	mkimg 64M -t ext3
	before=$(sum "$IMG")
	run --separate-stderr "$BIN/mkreflink" --enable "$IMG"
	refused "$before" "lacks extent, flex_bg"
	[[ $stderr == *"64bit"* ]]

	mkimg 64M -t ext4
	debugfs -w -R "feature -extent" "$IMG" >/dev/null 2>&1
	before=$(sum "$IMG")
	run --separate-stderr "$BIN/mkreflink" --enable "$IMG"
	refused "$before" "requires the extent feature"
	[[ $stderr == *"tune2fs -O extent $IMG"* ]]
}

@test "refuse: no flex_bg" {
	mkimg 64M -t ext4 -O ^flex_bg
	before=$(sum "$IMG")
	run --separate-stderr "$BIN/mkreflink" --enable "$IMG"
	refused "$before" "requires the flex_bg feature"
}

@test "refuse: bigalloc" {
	mkimg 64M -t ext4 -O bigalloc
	before=$(sum "$IMG")
	run --separate-stderr "$BIN/mkreflink" --enable "$IMG"
	refused "$before" "bigalloc"
}

@test "refuse: not a filesystem" {
	truncate -s 64M "$IMG"
	before=$(sum "$IMG")
	run --separate-stderr "$BIN/mkreflink" --enable "$IMG"
	refused "$before" "Not an ext4 filesystem"
	run --separate-stderr "$BIN/mkreflink" --strip "$IMG"
	refused "$before" "Not an ext4 filesystem"
	if command -v mkswap >/dev/null; then
		mkswap "$IMG" >/dev/null
		before=$(sum "$IMG")
		run --separate-stderr "$BIN/mkreflink" --enable "$IMG"
		refused "$before" "(it holds swap)"
	fi
}

@test "refuse: enable twice" {
	run "$BIN/mkreflink" -q "$IMG" 64M
	[ "$status" -eq 0 ]
	before=$(sum "$IMG")
	run --separate-stderr "$BIN/mkreflink" --enable "$IMG"
	refused "$before" "already has the reflink feature"
}

@test "refuse: strip without the feature" {
	mkimg 64M -t ext4
	before=$(sum "$IMG")
	run --separate-stderr "$BIN/mkreflink" --strip "$IMG"
	refused "$before" "does not have the reflink feature"
}

@test "refuse: format over a filesystem without -F (no tty), -F overwrites" {
	mkimg 64M -t ext4 -L oldfs
	before=$(sum "$IMG")
	run --separate-stderr "$BIN/mkreflink" "$IMG" </dev/null
	refused "$before" "contains a ext4 file system labelled 'oldfs'"
	[[ $stderr == *"-F"* ]]
	run "$BIN/mkreflink" -q -F "$IMG" </dev/null
	[ "$status" -eq 0 ]
	[[ " $(features "$IMG") " == *" FEATURE_R17 "* ]]
}

@test "refuse: no write with -z either (no undo file is left)" {
	mkimg 64M -t ext4 -O ^64bit
	before=$(sum "$IMG")
	run --separate-stderr "$BIN/mkreflink" -z "$IMG.undo" --enable "$IMG"
	refused "$before" "64bit"
	[ ! -e "$IMG.undo" ]
}

@test "undo: e2undo restores enable, strip and format byte for byte" {
	mkimg 256M -t ext4
	before=$(sum "$IMG")
	run "$BIN/mkreflink" -z "$IMG.undo" --enable "$IMG"
	[ "$status" -eq 0 ]
	[[ $output == *"e2undo $IMG.undo $IMG"* ]]
	[ "$(sum "$IMG")" != "$before" ]
	run e2undo "$IMG.undo" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(sum "$IMG")" = "$before" ]

	run "$BIN/mkreflink" -q --enable "$IMG"
	[ "$status" -eq 0 ]
	before=$(sum "$IMG")
	run "$BIN/mkreflink" -q -z "$IMG.undo" --strip "$IMG"
	[ "$status" -eq 0 ]
	[ "$(sum "$IMG")" != "$before" ]
	run e2undo "$IMG.undo" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(sum "$IMG")" = "$before" ]

	mkimg 256M -t ext4 -b 4096 -L keepme
	before=$(sum "$IMG")
	run "$BIN/mkreflink" -q -F -z "$IMG.undo" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(sum "$IMG")" != "$before" ]
	run e2undo "$IMG.undo" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(sum "$IMG")" = "$before" ]
	[ "$(sb "$IMG" "Filesystem volume name")" = keepme ]
}

@test "reproducible: same -U, hash_seed and SOURCE_DATE_EPOCH, same bytes" {
	for i in 1 2; do
		SOURCE_DATE_EPOCH=1700000000 run "$BIN/mkreflink" -q -U "$U1" \
			-E hash_seed=$HS "$IMG.$i" 1G
		[ "$status" -eq 0 ]
		sleep 1
	done
	cmp "$IMG.1" "$IMG.2"
	for f in "Filesystem created" "Last write time" "Last checked"; do
		[ "$(TZ=UTC sb "$IMG.1" "$f")" = \
		  "$(TZ=UTC date -d @1700000000 '+%a %b %e %H:%M:%S %Y')" ]
	done

	# existing files of the same size, 1 KiB blocks, every inode zeroed
	for i in 1 2; do
		truncate -s 300M "$IMG.$i"
		SOURCE_DATE_EPOCH=1700000000 run "$BIN/mkreflink" -q -F -U "$U1" \
			-E hash_seed=$HS,lazy_itable_init=0 -L same "$IMG.$i"
		[ "$status" -eq 0 ]
	done
	cmp "$IMG.1" "$IMG.2"

	# and enable of identical images is reproducible too
	for i in 1 2; do
		rm -f "$IMG.$i"
		E2FSPROGS_FAKE_TIME=1600000000 mke2fs -q -t ext4 -U "$U2" \
			-E hash_seed=$HS "$IMG.$i" 200M >/dev/null 2>&1
		SOURCE_DATE_EPOCH=1700000000 run "$BIN/mkreflink" -q --enable "$IMG.$i"
		[ "$status" -eq 0 ]
		sleep 1
	done
	cmp "$IMG.1" "$IMG.2"

	SOURCE_DATE_EPOCH=1700000000 run "$BIN/mkreflink" -q -F -U "$U2" \
		-E hash_seed=$HS "$IMG.2" 1G
	[ "$status" -eq 0 ]
	SOURCE_DATE_EPOCH=1700000000 run "$BIN/mkreflink" -q -F -U "$U1" \
		-E hash_seed=$HS "$IMG.1" 1G
	[ "$status" -eq 0 ]
	! cmp -s "$IMG.1" "$IMG.2"
}

@test "-n writes nothing: no file made, an image left as it was" {
	run "$BIN/mkreflink" -n "$IMG" 1G
	[ "$status" -eq 0 ]
	[[ $output == *"Creating filesystem with 262144 4k blocks"* ]]
	[[ $output == *"Dry run"* ]]
	[ ! -e "$IMG" ]

	mkimg 64M -t ext4
	before=$(sum "$IMG")
	run "$BIN/mkreflink" -n -z "$IMG.undo" "$IMG"
	[ "$status" -eq 0 ]
	[[ $output == *"contains a ext4 file system"* ]]
	run "$BIN/mkreflink" -n --enable "$IMG"
	[ "$status" -eq 0 ]
	[ "$(sum "$IMG")" = "$before" ]
	[ ! -e "$IMG.undo" ]
	run "$BIN/mkreflink" -q --enable "$IMG"
	before=$(sum "$IMG")
	run "$BIN/mkreflink" -n --strip "$IMG"
	[ "$status" -eq 0 ]
	[ "$(sum "$IMG")" = "$before" ]
}

@test "LABEL= and UUID= name the device for --enable and --strip" {
	need_loop
	mkimg 64M -t ext4 -L rfltest$$ -U "$U2"
	LOOPDEV=$(losetup -f --show "$IMG" 2>/dev/null) ||
		skip "losetup failed"
	blkid -p "$LOOPDEV" >/dev/null 2>&1 || skip "blkid cannot see $LOOPDEV"
	run "$BIN/mkreflink" -q --enable "LABEL=rfltest$$"
	[ "$status" -eq 0 ] || skip "LABEL= did not resolve: $output"
	losetup -d "$LOOPDEV"
	LOOPDEV=
	[[ " $(features "$IMG") " == *" FEATURE_R17 "* ]]
	LOOPDEV=$(losetup -f --show "$IMG")
	run "$BIN/mkreflink" -q --strip "UUID=$U2"
	[ "$status" -eq 0 ]
	losetup -d "$LOOPDEV"
	LOOPDEV=
	[[ " $(features "$IMG") " != *" FEATURE_R17 "* ]]
	run e2fsck -fn "$IMG"
	[ "$status" -eq 0 ]
	run --separate-stderr "$BIN/mkreflink" --enable "LABEL=no-such-label-$$"
	[ "$status" -eq 1 ]
	[[ $stderr == *"unable to resolve"* ]]
}

@test "usage: errors exit 1 with the usage on stderr; -V exits 0" {
	run --separate-stderr "$BIN/mkreflink"
	[ "$status" -eq 1 ]
	[[ $stderr == *"Usage: mkreflink"* ]]
	run --separate-stderr "$BIN/mkreflink" --no-such-option "$IMG"
	[ "$status" -eq 1 ]
	[[ $stderr == *"Usage: mkreflink"* ]]
	run --separate-stderr "$BIN/mkreflink" --enable --strip "$IMG"
	[ "$status" -eq 1 ]
	run --separate-stderr "$BIN/mkreflink" --enable -b 4096 "$IMG"
	[ "$status" -eq 1 ]
	[[ $stderr == *"-b only applies when formatting"* ]]
	run --separate-stderr "$BIN/mkreflink" -b 3000 "$IMG" 64M
	[ "$status" -eq 1 ]
	[[ $stderr == *"invalid block size"* ]]
	run --separate-stderr "$BIN/mkreflink" -O ^extent "$IMG" 64M
	[ "$status" -eq 1 ]
	[[ $stderr == *"requires the extent feature"* ]]
	run --separate-stderr "$BIN/mkreflink" -O bigalloc "$IMG" 64M
	[ "$status" -eq 1 ]
	run --separate-stderr "$BIN/mkreflink" -O no_such_feature "$IMG" 64M
	[ "$status" -eq 1 ]
	run --separate-stderr "$BIN/mkreflink" -E bogus "$IMG" 64M
	[ "$status" -eq 1 ]
	[ ! -e "$IMG" ]
	run --separate-stderr "$BIN/mkreflink" "$IMG"
	[ "$status" -eq 1 ]
	[[ $stderr == *"does not exist and no size"* ]]
	# too small to hold the reserved inodes: the new file goes again
	run --separate-stderr "$BIN/mkreflink" -q "$IMG" 100K
	[ "$status" -eq 1 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[ ! -e "$IMG" ]
	run --separate-stderr "$BIN/mkreflink" -q -J size=1 "$IMG" 1G
	[ "$status" -eq 1 ]
	[[ $stderr == *"journal would be 256 blocks"* ]]
	[ ! -e "$IMG" ]
	run --separate-stderr "$BIN/mkreflink" -V
	[ "$status" -eq 0 ]
	[[ $stderr == *"mkreflink"*"EXT2FS Library version"* ]]
}

@test "-G: 0 and non-powers of 2 are refused as mke2fs does" {
	local g
	for g in 0 3 24; do
		run --separate-stderr "$BIN/mkreflink" -q -G "$g" "$IMG" 64M
		[ "$status" -eq 1 ]
		[ "$stderr" = "mkreflink: flex_bg size must be a power of 2" ]
		[ ! -e "$IMG" ]
		# mke2fs agrees
		run mke2fs -q -F -G "$g" "$IMG" 64M
		[ "$status" -ne 0 ]
		rm -f "$IMG"
	done
	run "$BIN/mkreflink" -q -G 4 "$IMG" 64M
	[ "$status" -eq 0 ]
	[ "$(dumpe2fs -h "$IMG" 2>/dev/null |
	     awk -F: '/^Flex block group size/ { print $2 + 0 }')" = 4 ]
}

@test "format with -z of a file that does not exist yet: made, and undone to zeroes" {
	run "$BIN/mkreflink" -q -z "$IMG.undo" "$IMG" 64M
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(stat -c %s "$IMG")" -eq $((64 << 20)) ]
	run "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 0 ]
	run e2undo "$IMG.undo" "$IMG"
	[ "$status" -eq 0 ]
	cmp -n $((64 << 20)) "$IMG" /dev/zero
}

#!/usr/bin/env bats
# mkreflink_conf.bats - mke2fs habits: mke2fs.conf / MKE2FS_CONFIG, -t,
# -T, -j, -v, -e, and mke2fs options mkreflink refuses by name.
#
# The judge is stock mke2fs: given the same configuration file, options,
# UUID and hash seed, dumpe2fs -h must print the same superblock, field
# by field, but for what reflink or the time changes.

bats_require_minimum_version 1.5.0

load common

U1=6e1b7a3c-0f4d-4c2b-9a51-3d2e8f7c6b10
HS=9d3c2b1a-4e5f-4a6b-8c7d-0e1f2a3b4c5d

setup() {
	need_built mkreflink
	need_tools mke2fs dumpe2fs e2fsck
	CONF="$BATS_TEST_TMPDIR/mke2fs.conf"
	IMG="$BATS_TEST_TMPDIR/img"
	REF="$BATS_TEST_TMPDIR/ref"
	unset SOURCE_DATE_EPOCH MKE2FS_CONFIG
}

# A configuration like Debian's, but 512-byte inodes and a usage type
# "tiny" with its own block size, inode ratio and flex_bg size
write_conf() {
	cat >"$CONF" <<-'EOF'
	[defaults]
		base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
		default_mntopts = acl,user_xattr
		enable_periodic_fsck = 0
		blocksize = 4096
		inode_size = 512
		inode_ratio = 16384

	[fs_types]
		ext4 = {
			features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
		}
		small = {
			blocksize = 1024
			inode_ratio = 4096
		}
		tiny = {
			blocksize = 2048
			inode_ratio = 8192
			flex_bg_size = 4
			features = ^huge_file,large_dir
		}
		news = {
			inode_ratio = 4096
		}
	EOF
}

# dumpe2fs -h without the fields reflink or the clock make differ: the
# times, the free block count and the superblock checksum (the metadata
# blocks), the feature list (FEATURE_R17)
geometry() {
	dumpe2fs -h "$1" 2>/dev/null | grep -Ev '^(Filesystem created|Last (mount time|write time|checked)|Lifetime writes|Free blocks|Checksum|Filesystem features|Journal (checksum|start|sequence)|Filesystem flags):'
}

# same_geometry MKE2FS-OPTIONS...: mke2fs and mkreflink with them agree
same_geometry() {
	rm -f "$IMG" "$REF"
	MKE2FS_CONFIG="$CONF" mke2fs -q -F -t ext4 -U "$U1" \
		-E hash_seed=$HS "$@" "$REF" 256M
	MKE2FS_CONFIG="$CONF" run --separate-stderr "$BIN/mkreflink" -q -U "$U1" \
		-E hash_seed=$HS "$@" "$IMG" 256M
	echo "$stderr"
	[ "$status" -eq 0 ]
	diff -u <(geometry "$REF") <(geometry "$IMG")
	# the features too, but for reflink
	[ "$(dumpe2fs -h "$IMG" 2>/dev/null |
		sed -n 's/^Filesystem features:[[:space:]]*//p')" = \
	  "$(dumpe2fs -h "$REF" 2>/dev/null |
		sed -n 's/^Filesystem features:[[:space:]]*//p') FEATURE_R17" ]
}

@test "MKE2FS_CONFIG with inode_size = 512: the geometry of mke2fs" {
	write_conf
	same_geometry
	[ "$(dumpe2fs -h "$IMG" 2>/dev/null |
		sed -n 's/^Inode size:[[:space:]]*//p')" = 512 ]
	[ "$(dumpe2fs -h "$IMG" 2>/dev/null |
		sed -n 's/^Block size:[[:space:]]*//p')" = 1024 ]
}

@test "-T tiny (blocksize, inode_ratio, flex_bg_size, features): as mke2fs" {
	write_conf
	same_geometry -T tiny
	[ "$(dumpe2fs -h "$IMG" 2>/dev/null |
		sed -n 's/^Block size:[[:space:]]*//p')" = 2048 ]
	[ "$(dumpe2fs -h "$IMG" 2>/dev/null |
		sed -n 's/^Flex block group size:[[:space:]]*//p')" = 4 ]
	dumpe2fs -h "$IMG" 2>/dev/null | grep -q '^Filesystem features:.*large_dir'
}

@test "-T news, -j, -O, -I and -e as mke2fs takes them" {
	write_conf
	same_geometry -T news -j -O ^dir_nlink -I 1024 -e remount-ro
	[ "$(dumpe2fs -h "$IMG" 2>/dev/null |
		sed -n 's/^Errors behavior:[[:space:]]*//p')" = "Remount read-only" ]
	same_geometry -b 4096 -i 65536 -e panic
}

@test "/etc/mke2fs.conf is read when MKE2FS_CONFIG is not set" {
	[ -r /etc/mke2fs.conf ] || skip "no /etc/mke2fs.conf"
	rm -f "$IMG" "$REF"
	mke2fs -q -F -t ext4 -T news -U "$U1" -E hash_seed=$HS "$REF" 256M
	run "$BIN/mkreflink" -q -T news -U "$U1" -E hash_seed=$HS "$IMG" 256M
	[ "$status" -eq 0 ]
	diff -u <(geometry "$REF") <(geometry "$IMG")
}

@test "-v names the types read, as mke2fs -v" {
	write_conf
	rm -f "$IMG"
	MKE2FS_CONFIG="$CONF" run -0 "$BIN/mkreflink" -v -n -T tiny,news "$IMG" 64M
	truncate -s 64M "$REF"
	want=$(MKE2FS_CONFIG="$CONF" mke2fs -v -n -t ext4 -T tiny,news \
		-F "$REF" 2>/dev/null | grep '^fs_types for')
	[ -n "$want" ]
	[[ $output == *"$want"* ]]
}

@test "a feature of mke2fs.conf mkreflink cannot make is left out, said" {
	write_conf
	sed -i 's/extra_isize$/extra_isize,orphan_file/' "$CONF"
	rm -f "$IMG"
	MKE2FS_CONFIG="$CONF" run --separate-stderr "$BIN/mkreflink" -q "$IMG" 64M
	[ "$status" -eq 0 ]
	[[ $stderr == *"feature orphan_file"*"left out"* ]]
	! dumpe2fs -h "$IMG" 2>/dev/null | grep -q orphan_file
}

@test "a broken mke2fs.conf: one line naming it, exit 1, nothing made" {
	printf '[defaults]\n\tinode_size = 256\n[fs_types\n' >"$CONF"
	rm -f "$IMG"
	MKE2FS_CONFIG="$CONF" run --separate-stderr "$BIN/mkreflink" -q "$IMG" 64M
	[ "$status" -eq 1 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ $stderr == *"$CONF"* ]]
	[ ! -e "$IMG" ]
}

@test "refused by name: mke2fs options, -t other than ext4, features" {
	rm -f "$IMG"
	for o in -c -D -K -S "-g 8192" "-o hurd" "-r 1" "-s 1" \
		 "-M /mnt" "-R stride=4" "-l list"; do
		run --separate-stderr "$BIN/mkreflink" $o "$IMG" 64M
		echo "$o: $status $stderr"
		[ "$status" -eq 1 ]
		[[ $stderr == *"${o%% *} ("*") is not supported by mkreflink"* ]]
	done
	run --separate-stderr "$BIN/mkreflink" -t ext3 "$IMG" 64M
	[ "$status" -eq 1 ]
	[[ $stderr == *"-t ext3 is not supported by mkreflink"* ]]
	run --separate-stderr "$BIN/mkreflink" -O orphan_file "$IMG" 64M
	[ "$status" -eq 1 ]
	[[ $stderr == *"feature orphan_file is not supported by mkreflink"* ]]
	run --separate-stderr "$BIN/mkreflink" -O ^reflink "$IMG" 64M
	[ "$status" -eq 1 ]
	run --separate-stderr "$BIN/mkreflink" -e sometimes "$IMG" 64M
	[ "$status" -eq 1 ]
	[[ $stderr == *"bad error behavior - sometimes"* ]]
	[ ! -e "$IMG" ]
}

@test "-e is the errors behavior; --enable is spelled out" {
	rm -f "$IMG"
	mke2fs -q -F -t ext4 "$IMG" 64M
	# -e with an image and no behaviour is not --enable any more
	run --separate-stderr "$BIN/mkreflink" -e "$IMG"
	[ "$status" -eq 1 ]
	! dumpe2fs -h "$IMG" 2>/dev/null | grep -q FEATURE_R17
	run "$BIN/mkreflink" -q --enable "$IMG"
	[ "$status" -eq 0 ]
	dumpe2fs -h "$IMG" 2>/dev/null | grep -q FEATURE_R17
	run --separate-stderr "$BIN/mkreflink" --enable -e panic "$IMG"
	[ "$status" -eq 1 ]
	[[ $stderr == *"-e only applies when formatting"* ]]
}

@test "sizes with mke2fs's suffixes (libe2p): -b 2k, -i 8k, 65536s" {
	rm -f "$IMG"
	run "$BIN/mkreflink" -q -b 2k -i 8k "$IMG" 65536s
	[ "$status" -eq 0 ]
	[ "$(dumpe2fs -h "$IMG" 2>/dev/null |
		sed -n 's/^Block count:[[:space:]]*//p')" = 16384 ]
	[ "$(dumpe2fs -h "$IMG" 2>/dev/null |
		sed -n 's/^Inode count:[[:space:]]*//p')" = 4096 ]
	run --separate-stderr "$BIN/mkreflink" -q "$IMG.2" 12q
	[ "$status" -eq 1 ]
	[[ $stderr == *"invalid blocks '12q'"* ]]
}

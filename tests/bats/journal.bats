#!/usr/bin/env bats
# journal.bats - a journal that needs recovery (INCOMPAT_RECOVER) on a
# reflink image, held to what stock e2fsck 1.47 does on a plain ext4
# image with the same flag: -n prints "Warning: skipping journal
# recovery because doing a read-only filesystem check.", checks the image
# as it is, writes nothing and exits 0 if that is clean; -y and -p print
# "DEVICE: recovering journal", replay it, clear the flag and check the
# recovered image (exit 0 if nothing else was fixed).  The transactions
# are written with debugfs's journal_open/journal_write/journal_close.

bats_require_minimum_version 1.5.0
export RFL_CHECK_RECHECK=1

load common

SKIP_MSG="Warning: skipping journal recovery because doing a read-only filesystem check."

setup_file() {
	for t in mke2fs sha256sum debugfs e2image; do
		command -v "$t" >/dev/null || return 0
	done
	cloned_base
}

setup() {
	need_tools mke2fs sha256sum debugfs e2image
	need_built rflctl rfl_recount reflinkck mkreflink
	IMG="$BATS_TEST_TMPDIR/img"
	cp "$BASE" "$IMG"
}

# same_files_as_base: every file of $IMG reads back (debugfs) as in $BASE
same_files_as_base() {
	"$REPO/images/file-sums" "$IMG" >"$BATS_TEST_TMPDIR/now.sums"
	diff -u "$BASE_SUMS" "$BATS_TEST_TMPDIR/now.sums"
}

# set_recover IMAGE: needs_recovery set (open -f: debugfs does not know
# the reflink feature)
set_recover() {
	printf 'open -w -f %s\nfeature needs_recovery\nclose\n' "$1" |
		debugfs >/dev/null 2>&1
	needs_recovery "$1"
}

# needs_recovery IMAGE: is the flag set?
needs_recovery() {
	[[ " $(features "$1") " == *" needs_recovery "* ]]
}

# journal_from IMAGE OTHER: every block where OTHER differs from IMAGE
# written to IMAGE's journal as a transaction (IMAGE itself unchanged
# but for the journal and the flag)
journal_from() {
	local img=$1 other=$2 bs cmds="$BATS_TEST_TMPDIR/jcmds" b n=0

	bs=$(sb "$img" "Block size")
	echo "open -w -f $img" >"$cmds"
	echo "jo" >>"$cmds"
	for b in $(cmp -l "$img" "$other" |
		   awk -v bs="$bs" '{ print int(($1 - 1) / bs) }' | uniq); do
		dd if="$other" of="$BATS_TEST_TMPDIR/blk.$b" bs="$bs" \
		   skip="$b" count=1 status=none
		echo "jw -b $b $BATS_TEST_TMPDIR/blk.$b" >>"$cmds"
		n=$((n + 1))
	done
	echo "jc" >>"$cmds"
	echo "close" >>"$cmds"
	[ "$n" -gt 0 ]
	debugfs -f "$cmds" >/dev/null 2>&1
	needs_recovery "$img"
}

# raised: $IMG with a journal that raises the first record's count by
# one (the image itself left clean)
raised() {
	local other="$BATS_TEST_TMPDIR/other"

	cp "$IMG" "$other"
	IMG=$other "$BIN/rflctl" -w "$other" adjust $(IMG=$other first_record) +1
	journal_from "$IMG" "$other"
}

@test "e2fsck on a plain image: the words and exit codes matched here" {
	local p="$BATS_TEST_TMPDIR/plain"

	cp "$PLAIN" "$p"
	debugfs -w -R 'feature needs_recovery' "$p" >/dev/null 2>&1
	needs_recovery "$p"
	run e2fsck -fn "$p"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$SKIP_MSG"* ]]
	needs_recovery "$p"
	run e2fsck -fy "$p"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$p: recovering journal"* ]]
	! needs_recovery "$p"
}

@test "-fn: says the recovery is skipped, checks the image as it is, exit 0, writes nothing" {
	local before

	raised
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "$SKIP_MSG" ]
	[ "$(sum "$IMG")" = "$before" ]
	needs_recovery "$IMG"
}

@test "-fn: damage on the image is found though the journal is not replayed (exit 4)" {
	local start len

	read -r start len < <(first_record)
	"$BIN/rflctl" -w "$IMG" adjust "$start" "$len" +1
	set_recover "$IMG"
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"$SKIP_MSG"* ]]
	[[ "$output" == *"has count"* ]]
}

@test "-fy with only the flag (empty journal): recovers, clears the flag, exit 0" {
	set_recover "$IMG"
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "$IMG: recovering journal" ]
	! needs_recovery "$IMG"
	check_clean
	same_files_as_base
}

@test "-fy: the count the journal raises is replayed, then found and fixed (exit 1)" {
	raised
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${lines[1]}" = "$IMG: recovering journal" ]
	[[ "$output" == *"has count"*"Rebuild? yes"* ]]
	! needs_recovery "$IMG"
	check_clean
	same_files_as_base
}

@test "-fp: the same under preen, every line prefixed, exit 1" {
	raised
	run "$BIN/reflinkck" -fp "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "$IMG: recovering journal" ]
	[[ "$output" == *"$IMG: flex group 0: refcount record"*"has count"* ]]
	! needs_recovery "$IMG"
	check_clean
}

@test "-fy: damage on the image that the journal repairs is replayed over, not repaired first (exit 0)" {
	local good="$BATS_TEST_TMPDIR/good" start len

	cp "$IMG" "$good"
	read -r start len < <(first_record)
	"$BIN/rflctl" -w "$IMG" adjust "$start" "$len" +1
	journal_from "$IMG" "$good"
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"has count"* ]]
	! needs_recovery "$IMG"
	check_clean
}

@test "-fy -z: e2undo takes the image back to before the replay" {
	local before

	raised
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fy -z "$BATS_TEST_TMPDIR/undo" "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	run e2undo "$BATS_TEST_TMPDIR/undo" "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(sum "$IMG")" = "$before" ]
}

@test "-fy: a corrupt journal superblock ends as with e2fsck -fy: journal cleared and made again, exit 1" {
	local jblk

	set_recover "$IMG"
	jblk=$(debugfs -R 'bmap <8> 0' "$IMG" 2>/dev/null)
	dd if=/dev/zero of="$IMG" bs=1024 seek="$jblk" count=1 conv=notrunc \
	   status=none
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Superblock has an invalid journal (inode 8)."*"Clear? yes"* ]]
	[[ "$output" == *"*** journal has been regenerated ***"* ]]
	! needs_recovery "$IMG"
	check_clean
	same_files_as_base
}

@test "-fy: no snapshot for the replay: the run stops (exit 4), nothing written, the flag stays" {
	local before

	raised
	before=$(sum "$IMG")
	TMPDIR=$BATS_TEST_TMPDIR/none run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"the journal cannot be replayed: No such file or directory"* ]]
	[ "$(sum "$IMG")" = "$before" ]
	needs_recovery "$IMG"
}

# ------------------------------------------------------------------
# A journal with data but no needs_recovery flag: e2fsck asks whether to
# run it anyway (-n: no, and no to clearing it, exit 0; -y: replayed;
# -p: halts, exit 4)
# ------------------------------------------------------------------

DATA_MSG="Superblock needs_recovery flag is clear, but journal has data."

# jsb_start IMAGE [VALUE]: the journal superblock's s_start (jbd2's
# superblock is big-endian; offset 0x1c of the journal's first block),
# first set to VALUE by a raw write if given
jsb_start() {
	local img=$1 bs jblk off v

	bs=$(sb "$img" "Block size")
	jblk=$(debugfs -R 'bmap <8> 0' "$img" 2>/dev/null)
	[ "$jblk" -gt 0 ]
	off=$((jblk * bs + 0x1c))
	if [ $# -gt 1 ]; then
		v=$2
		printf "$(printf '\\%03o\\%03o\\%03o\\%03o' \
			$((v >> 24 & 255)) $((v >> 16 & 255)) \
			$((v >> 8 & 255)) $((v & 255)))" |
			dd of="$img" bs=1 seek="$off" conv=notrunc status=none
	fi
	od -An -tu1 -j "$off" -N4 "$img" |
		awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4 }'
}

# journal_data IMAGE: s_start set to the journal's first log block
# (which holds no transaction), the flag left clear
journal_data() {
	! needs_recovery "$1"
	[ "$(jsb_start "$1")" -eq 0 ]
	[ "$(jsb_start "$1" 1)" -eq 1 ]
}

# the three lines of e2fsck -fn, in $output
said_no() {
	[[ "$output" == *"$DATA_MSG
Run journal anyway? no

Clear journal? no
"* ]]
}

@test "e2fsck on a plain image with journal data and no flag: the words and exit codes matched here" {
	local p="$BATS_TEST_TMPDIR/plain" before

	cp "$PLAIN" "$p"
	journal_data "$p"
	before=$(sum "$p")
	run e2fsck -fn "$p"
	echo "$output"
	[ "$status" -eq 0 ]
	said_no
	[ "$(sum "$p")" = "$before" ]
	run e2fsck -fp "$p"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"$p: $DATA_MSG"*"UNEXPECTED INCONSISTENCY"* ]]
	run e2fsck -fy "$p"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$DATA_MSG
Run journal anyway? yes

$p: recovering journal"* ]]
	[ "$(jsb_start "$p")" -eq 0 ]
	! needs_recovery "$p"
}

@test "journal data, no flag: -fn asks as e2fsck -fn does, answers no, exit 0, writes nothing" {
	local before

	journal_data "$IMG"
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "$DATA_MSG" ]
	said_no
	[ "$(sum "$IMG")" = "$before" ]
}

@test "journal data, no flag, damage pass 6 finds: e2fsck's journal lines once, exit 4" {
	journal_data "$IMG"
	printf 'open -w -f %s\nsif / size 0\nclose\n' "$IMG" |
		debugfs >/dev/null 2>&1
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	said_no
	[[ "$output" == *"stock e2fsck -fn finds"*"i_size is 0, should be"* ]]
	[ "$(grep -c "$DATA_MSG" <<<"$output")" -eq 1 ]
	[ "$(grep -c "Clear journal" <<<"$output")" -eq 1 ]
}

@test "journal data, no flag: -fy runs the journal anyway, as e2fsck -fy, exit 0" {
	journal_data "$IMG"
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "$DATA_MSG" ]
	[ "${lines[2]}" = "Run journal anyway? yes" ]
	[ "${lines[3]}" = "$IMG: recovering journal" ]
	[ "$(jsb_start "$IMG")" -eq 0 ]
	! needs_recovery "$IMG"
	check_clean
	same_files_as_base
}

@test "journal data, no flag: -fy replays its transactions, then fixes what they hold (exit 1)" {
	raised
	printf 'open -w -f %s\nfeature ^needs_recovery\nclose\n' "$IMG" |
		debugfs >/dev/null 2>&1
	! needs_recovery "$IMG"
	[ "$(jsb_start "$IMG")" -ne 0 ]
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Run journal anyway? yes"*"$IMG: recovering journal"* ]]
	[[ "$output" == *"has count"*"Rebuild? yes"* ]]
	[ "$(jsb_start "$IMG")" -eq 0 ]
	check_clean
	same_files_as_base
}

@test "journal data, no flag, damage outside the feature: -fy replays, then the round trip repairs it" {
	journal_data "$IMG"
	printf 'open -w -f %s\nsif / size 0\nclose\n' "$IMG" |
		debugfs >/dev/null 2>&1
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Run journal anyway? yes"*"i_size is 0"* ]]
	[ "$(jsb_start "$IMG")" -eq 0 ]
	check_clean
	same_files_as_base
}

@test "journal data, no flag: -fp halts as e2fsck -fp does (exit 4), writes nothing" {
	local before

	journal_data "$IMG"
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fp "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[ "${lines[0]}" = "$IMG: $DATA_MSG" ]
	[[ "$output" == *"$IMG: UNEXPECTED INCONSISTENCY"* ]]
	[ "$(sum "$IMG")" = "$before" ]
}

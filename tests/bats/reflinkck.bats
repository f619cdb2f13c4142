#!/usr/bin/env bats
# reflinkck.bats - the checker on images made by stock mke2fs -d, with
# the feature enabled and files cloned through rflctl.  Exit codes are
# e2fsck's: 0 clean, 4 left uncorrected, 8 operational error, 16 usage.
# Every repair is judged from outside: the files read back as they were
# before the damage (kernel read-only mount, else debugfs), the
# independent recount agrees, and RFL_CHECK_RECHECK=1 makes reflinkck
# rerun its passes read-only after a repair (exit 8 unless clean).

bats_require_minimum_version 1.5.0
export RFL_CHECK_RECHECK=1

load common

setup_file() {
	for t in mke2fs sha256sum; do
		command -v "$t" >/dev/null || return 0
	done
	cloned_base
}

setup() {
	need_tools mke2fs sha256sum
	need_built rflctl rfl_recount reflinkck place_file
	IMG="$BATS_TEST_TMPDIR/img"
	cp "$BASE" "$IMG"
}

# Every file of IMG reads back as in BASE, before any damage: through
# the kernel's read-only mount where it can, else with debugfs
same_files() {
	local mnt="$BATS_TEST_TMPDIR/mnt" now="$BATS_TEST_TMPDIR/now.sums"

	mkdir -p "$mnt"
	if [ "$(id -u)" -eq 0 ] &&
	   mount -o loop,ro "$IMG" "$mnt" 2>/dev/null; then
		"$REPO/images/file-sums" "$mnt" >"$now"
		umount "$mnt"
	else
		"$REPO/images/file-sums" "$IMG" >"$now"
	fi
	diff -u "$BASE_SUMS" "$now"
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
	# the banner, as e2fsck prints it, then one line
	[ "${#lines[@]}" -eq 2 ]
	[[ ${lines[0]} == "reflinkck "[0-9]*" ("*")" ]]
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
	# the banner, as e2fsck prints it, then one line
	[ "${#lines[@]}" -eq 2 ]
	[[ ${lines[0]} == "reflinkck "[0-9]*" ("*")" ]]
	[[ "$output" == *"reflink feature"*"$IMG"* ]]
	[ "$(sum "$IMG")" = "$before" ]
}

# -n finds it (exit 4, named by $2) and changes nothing; -y fixes it
# (exit 1); then clean, the recount agrees, every file's bytes are as
# before the damage, and stock e2fsck accepts the stripped image
fixes() {
	finds "$2"
	rebuilds
	same_files
	command -v e2fsck >/dev/null || return 0
	"$BIN/mkreflink" --strip "$IMG" >/dev/null
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	same_files
}

@test "wrong count: found and fixed" {
	"$BIN/rflctl" -w "$IMG" adjust $(first_record) +1
	fixes count "has count 4, expected 3"
}

# FORMAT.md 7.5: flagged files sharing blocks that a clean tree has no
# record of are cross-linked (no crash leaves it): -p stops, -y gives
# every file but the lowest inode its own copy, counting nothing
@test "shared, flagged, no record in a clean tree: a cross-link, cloned apart" {
	local before s f
	unrecorded_xlink
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"are mapped 3 times and no refcount record counts them"*"cross-linked"* ]]
	[[ "$output" != *"missing refcount record"* ]]
	# not a crash's leftover: preen stops without writing
	run "$BIN/reflinkck" -fp "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"UNEXPECTED INCONSISTENCY"* ]]
	[ "$(sum "$IMG")" = "$before" ]
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Clone? yes"* ]]
	[ "$(grep -c "shared blocks copied" <<<"$output")" -eq 2 ]
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *" 0 shared blocks, 0 records"* ]]
	# three files, three copies, the bytes unchanged
	for f in /a /b /c; do
		debugfs -R "cat $f" "$IMG" 2>/dev/null | sha256sum
	done | diff - "$BATS_TEST_TMPDIR/sums"
	command -v e2fsck >/dev/null || return 0
	"$BIN/mkreflink" -q --strip "$IMG"
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
}

# xlink_unrepaired START LEN TIMES: after a -fy that could not copy the
# cross-link of blocks START+LEN apart, the cross-link is still there,
# the blocks mapped TIMES times: -fn exits 4 and names it, and no
# refcount record counts the blocks (a share nobody made, FORMAT.md 7.5)
xlink_unrepaired() {
	local before
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"blocks $1+$2 are mapped $3 times and no refcount record counts them"*"cross-linked"* ]]
	[[ "$output" == *"maps blocks $1+$2 that another file maps"*"Clone? no"* ]]
	[ "$(sum "$IMG")" = "$before" ]
	run "$BIN/refdebug" -R "records 0" "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"blocks $1-"* ]]
	[[ "$output" != *"count"* ]]
	# the bytes of every file as they were
	for f in /a /b /c; do
		debugfs -R "cat $f" "$IMG" 2>/dev/null | sha256sum
	done | diff - "$BATS_TEST_TMPDIR/sums"
}

# the cross-link of first_record's blocks (no record, three flagged
# files), the files' sums in $BATS_TEST_TMPDIR/sums
unrecorded_xlink() {
	local r f
	r=$(first_record)
	"$BIN/rflctl" -w "$IMG" adjust $r -1
	"$BIN/rflctl" -w "$IMG" adjust $r -1
	[ -z "$("$BIN/rflctl" "$IMG" records)" ]
	for f in /a /b /c; do
		debugfs -R "cat $f" "$IMG" 2>/dev/null | sha256sum
	done >"$BATS_TEST_TMPDIR/sums"
}

# A copy apart that cannot be made must not turn the cross-link into a
# share: no count ever includes the cross-linked mappings, -fy exits 4
# and the next -fn finds the same cross-link
@test "cross-link, no record, image full: -fy cannot copy, exit 4, still a cross-link" {
	local free fill="$BATS_TEST_TMPDIR/fill"
	set -- $(first_record)
	unrecorded_xlink
	# fill the image: fewer free blocks than one copy of the range
	free=$(free_blocks)
	head -c $(((free - 60) * 1024)) /dev/zero >"$fill"
	"$BIN/refdebug" -w -R "write $fill /fill" "$IMG"
	free=$(free_blocks)
	echo "free blocks: $free"
	[ "$free" -lt "$2" ]
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"blocks $1+$2 are mapped 3 times and no refcount record counts them"* ]]
	[ "$(grep -c "cannot give the file its own copy: No space left" <<<"$output")" -eq 2 ]
	[[ "$output" != *"shared blocks copied"* ]]
	[[ "${lines[-1]}" == *", 0 records, "* ]]
	xlink_unrepaired "$1" "$2" 3
}

# strace_eio OFFSET ARGS...: run ARGS (a program reading $IMG) under
# strace with the first read of the image at byte OFFSET failing with
# EIO.  Where that read comes in the program's reads is found on a
# scratch copy first: the run is the same up to it.  unix_io retries a
# failed pread64 with lseek and read, so that read fails too (not the
# lseek: a superblock write seeks, or not, by the clock).  strace counts
# only the calls it traces, so both are traced, to nowhere.
# LeakSanitizer cannot run under ptrace: off for these two runs only.
strace_eio() {
	local off=$1 dry="$BATS_TEST_TMPDIR/dry.img" log="$BATS_TEST_TMPDIR/strace"
	local np nr asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	shift
	cp "$IMG" "$dry"
	ASAN_OPTIONS=$asan strace -qq -o "$log" -e trace=pread64,read \
		"${@/#$IMG/$dry}" >/dev/null 2>&1 || true
	np=$(awk -v off=", $off)" '/^pread64\(/ { n++ }
		/^pread64\(/ && index($0, off) { print n; exit }' "$log")
	nr=$(awk -v off=", $off)" '/^read\(/ { n++ }
		/^pread64\(/ && index($0, off) { print n + 1; exit }' "$log")
	echo "EIO injected at pread64 call $np, read call $nr"
	[ -n "$np" ] || { echo "no read at $off" >&2; return 1; }
	ASAN_OPTIONS=$asan run strace -qq -o /dev/null -e trace=pread64,read \
		-e inject=pread64:error=EIO:when="$np" \
		-e inject=read:error=EIO:when="$nr" "$@"
}

@test "cross-link, no record, the copy's read fails (EIO): exit 4, still a cross-link" {
	need_tools strace
	set -- $(first_record)
	unrecorded_xlink
	# the first copy apart (of /b) reads the range whole: that read fails
	strace_eio "$(($1 * 1024))" "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[[ "$output" != *"strace:"* ]] || skip "strace cannot inject faults here"
	[ "$status" -eq 4 ]
	[[ "$output" == *"cannot give the file its own copy: "*"Input/output error"* ]]
	# the other file copied apart, the blocks cross-linked between two now
	[ "$(grep -c "shared blocks copied" <<<"$output")" -eq 1 ]
	xlink_unrepaired "$1" "$2" 2
	# with the read good again the repair completes
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	clean_now
	for f in /a /b /c; do
		debugfs -R "cat $f" "$IMG" 2>/dev/null | sha256sum
	done | diff - "$BATS_TEST_TMPDIR/sums"
}

# A read the device fails where libext2fs goes on without saying so (the
# bad blocks inode, read when the inode scan opens, shares its inode
# table block with the resize inode): a repair from what was not read
# zeroed the resize inode and freed its blocks.  Now exit 8 (12 with the
# damage found), nothing written, the damage still there for a run on a
# good device.
@test "a read error under the scan (EIO): nothing repaired, exit 8, nothing written" {
	local it before
	need_tools strace
	set -- $(first_record)
	"$BIN/rflctl" -w "$IMG" adjust "$1" "$2" +1
	it=$(dumpe2fs "$IMG" 2>/dev/null |
		awk '/Inode table at/ { split($4, a, "-"); print a[1]; exit }')
	before=$(sha256sum <"$IMG")
	strace_eio "$((it * 1024))" "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[[ "$output" != *"strace:"* ]] || skip "strace cannot inject faults here"
	[ "$status" -eq 12 ]
	[[ "$output" == *"block $it could not be read (Input/output error)"* ]]
	[[ "$output" != *"set to"* && "$output" != *"rebuilt"* ]]
	[ "$(sha256sum <"$IMG")" = "$before" ]
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"has count"* ]]
	[[ "$output" != *"i_blocks"* ]]
}

# One file mapping the same blocks twice, no record: a cross-link too
# (no count ever covered the second mapping), -fn exits 4 and -fy gives
# the second mapping its own copy, the file's bytes unchanged
@test "one file maps blocks twice, no record: a cross-link within the file, copied apart" {
	local r before
	cp "$PLAIN" "$IMG"
	"$BIN/rflctl" -w "$IMG" enable
	"$BIN/rflctl" -w "$IMG" share /a 50 /a 0 10
	r=$(first_record)
	"$BIN/rflctl" -w "$IMG" adjust $r -1
	[ -z "$("$BIN/rflctl" "$IMG" records)" ]
	before=$(debugfs -R "cat /a" "$IMG" 2>/dev/null | sha256sum)
	set -- $r
	finds "blocks $1+10 are mapped 2 times and no refcount record counts them"
	[[ "$output" == *"Clone? no"* ]]
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(grep -c ": 10 shared blocks copied" <<<"$output")" -eq 1 ]
	clean_now
	[[ "${lines[-1]}" == *", 0 shared blocks, 0 records, 0 differences" ]]
	[ "$(debugfs -R "cat /a" "$IMG" 2>/dev/null | sha256sum)" = "$before" ]
}

@test "part of a record with another count: found and fixed" {
	set -- $(first_record)
	"$BIN/rflctl" -w "$IMG" adjust $(($1 + 3)) 2 +1
	fixes length "expected"
}

@test "a sharer without EXT4_REFLINK_FL is a cross-link: the file gets its own copy" {
	local before sb sa
	unflag /b
	sb=$(debugfs -R "cat /b" "$IMG" 2>/dev/null | sha256sum)
	sa=$(debugfs -R "cat /a" "$IMG" 2>/dev/null | sha256sum)
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"inode "*" lacks EXT4_REFLINK_FL: cross-linked"* ]]
	[ "$(sum "$IMG")" = "$before" ]
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"100 shared blocks copied; the file has its own copy now"* ]]
	# never recorded as a share: /b shares nothing now, /a and /c do
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[-1]}" == *" 100 shared blocks, 1 records,"* ]]
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(debugfs -R "cat /b" "$IMG" 2>/dev/null | sha256sum)" = "$sb" ]
	[ "$(debugfs -R "cat /a" "$IMG" 2>/dev/null | sha256sum)" = "$sa" ]
	same_files
	"$BIN/mkreflink" --strip "$IMG" >/dev/null
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "-p fixes a wrong count without asking (exit 1)" {
	"$BIN/rflctl" -w "$IMG" adjust $(first_record) +1
	run "$BIN/reflinkck" -p "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == "$IMG: flex group 0: refcount record"* ]]
	run "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 0 ]
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ]
	same_files
}

@test "-p stops at a cross-link: UNEXPECTED INCONSISTENCY, exit 4, unchanged" {
	local before
	unflag /c
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -p "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"UNEXPECTED INCONSISTENCY; RUN reflinkck MANUALLY."* ]]
	[ "$(sum "$IMG")" = "$before" ]
}

@test "a leaked block (in use, owned by nothing) is found and freed" {
	local free0 blk
	free0=$(free_blocks)
	blk=$(debugfs -R "ffb 1 20000" "$IMG" 2>/dev/null |
		awk '{print $NF}')
	[ -n "$blk" ]
	"$BIN/rflctl" -w "$IMG" setb "$blk"
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"block $blk is marked in use but nothing owns it (leaked)"* ]]
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"block $blk freed"* ]]
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(free_blocks)" = "$free0" ]
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ]
	same_files
	"$BIN/mkreflink" --strip "$IMG" >/dev/null
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "a group's free blocks count is checked against the bitmap" {
	local n
	n=$(dumpe2fs "$IMG" 2>/dev/null |
		awk '/^Group 3:/ {g = 1} g && /free blocks,/ {print $1; exit}')
	"$BIN/rflctl" -w "$IMG" bg_free 3 $((n - 5))
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"group 3: free blocks count wrong ($((n - 5)), counted=$n)"* ]]
	run "$BIN/reflinkck" -fy "$IMG"
	[ "$status" -eq 1 ]
	run "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 0 ]
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ]
	same_files
}

@test "bg_reserved set in a flex group's second descriptor is cleared" {
	"$BIN/rflctl" -w "$IMG" bg_reserved 1 5
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"group 1: bg_reserved is 5, expected 0"* ]]
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	run "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 0 ]
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ]
	same_files
	"$BIN/mkreflink" --strip "$IMG" >/dev/null
	run e2fsck -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "-C fd: e2fsck's \"pass done total device\" lines, each pass rising to its total" {
	run "$BIN/reflinkck" -fn -C 3 "$IMG" 3>"$BATS_TEST_TMPDIR/progress"
	[ "$status" -eq 0 ]
	cat "$BATS_TEST_TMPDIR/progress"
	[ -s "$BATS_TEST_TMPDIR/progress" ]
	awk -v dev="$IMG" '
		NF != 4 || $4 != dev || $2 > $3 { print "bad: " $0; bad = 1 }
		$1 == p && $2 < d { print "falls: " $0; bad = 1 }
		$1 < p { print "pass goes back: " $0; bad = 1 }
		{ p = $1; d = $2; last[$1] = $2 == $3 }
		END { for (k in last) if (!last[k]) { print "pass " k " unfinished"; bad = 1 }
		      exit bad }' "$BATS_TEST_TMPDIR/progress"
	grep -q '^1 ' "$BATS_TEST_TMPDIR/progress"
	grep -q '^2 ' "$BATS_TEST_TMPDIR/progress"
}

@test "-z undo: e2undo puts back what the repair overwrote" {
	local before
	"$BIN/rflctl" -w "$IMG" adjust $(first_record) +1
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fy -z "$BATS_TEST_TMPDIR/undo" "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(sum "$IMG")" != "$before" ]
	e2undo "$BATS_TEST_TMPDIR/undo" "$IMG"
	[ "$(sum "$IMG")" = "$before" ]
}

@test "a mounted image is refused: exit 8, one line" {
	local mnt="$BATS_TEST_TMPDIR/mnt"
	[ "$(id -u)" -eq 0 ] || skip "needs root to mount"
	"$BIN/mkreflink" --strip "$IMG" >/dev/null
	mkdir -p "$mnt"
	mount -o loop,ro "$IMG" "$mnt" || skip "loop mount unavailable"
	"$BIN/rflctl" "$IMG" records >/dev/null 2>&1 || true
	run "$BIN/reflinkck" -fn "$IMG"
	umount "$mnt"
	echo "$output"
	[ "$status" -eq 8 ]
	# the banner, as e2fsck prints it, then one line
	[ "${#lines[@]}" -eq 2 ]
	[[ ${lines[0]} == "reflinkck "[0-9]*" ("*")" ]]
	[[ "$output" == *"$IMG"* ]]
}

@test "metadata block overwritten: found and fixed" {
	local meta
	meta=$(meta_block "$IMG" 0)
	dd if=/dev/urandom of="$IMG" bs=1024 seek="$meta" count=1 \
		conv=notrunc status=none
	fixes meta "flex group 0: metadata block $meta: bad magic"
}

@test "a tree node's byte flipped: found and fixed" {
	local node meta
	# rr_root of root slot 0 (FORMAT.md 4.3): the tree's root node
	meta=$(meta_block "$IMG" 0)
	node=$(od -An -tu8 -j $((meta * 1024 + 0x48)) -N8 "$IMG")
	node=$((node))
	printf '\377' | dd of="$IMG" bs=1 seek=$((node * 1024 + 40)) \
		conv=notrunc status=none
	fixes node "refcount tree node $node: bad checksum"
}

# A file's blocks held but marked free (a lost bitmap write) next to
# the metadata block, where a rebuild allocates: they are marked in use
# before any repair allocates, never overwritten by the new tree
@test "file data marked free beside a damaged tree: the rebuild keeps off it" {
	local meta goal first b
	command -v debugfs >/dev/null || skip "debugfs is not installed"
	meta=$(meta_block "$IMG" 0)
	goal=$(debugfs -R "ffb 1 $((meta + 1))" "$IMG" 2>/dev/null |
		awk '{print $NF}')
	[ -n "$goal" ]
	run "$BIN/place_file" "$IMG" near "$goal" 8
	echo "$output"
	[ "$status" -eq 0 ]
	first=$(awk '{ print $3 }' <<<"$output")
	[ "$first" -eq "$goal" ]
	"$REPO/images/file-sums" "$IMG" >"$BASE_SUMS.near"
	BASE_SUMS="$BASE_SUMS.near"
	"$BIN/rflctl" -w "$IMG" adjust $(first_record) +1
	for b in $(debugfs -R "blocks /near" "$IMG" 2>/dev/null); do
		"$BIN/rflctl" -w "$IMG" clrb "$b"
	done
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	# one block is "block N is", a run "blocks N-M are"
	[[ "$output" == *"blocks $first-"*" are in use but marked free"* ||
	   "$output" == *"block $first is in use but marked free"* ]]
	[[ "$output" == *"rebuilt from the files"* ]]
	clean_now
	same_files
}

@test "bg_reserved outside its flex group: found and fixed" {
	"$BIN/rflctl" -w "$IMG" bg_reserved 0 1048576
	fixes range "points outside the flex group"
}

# The question was answered $1; the pty may echo the typed key right
# after the question, before the answer is printed (a race under load)
answered() {
	tr -d '\r\n' <<<"$output" | grep -Eq "Rebuild<y>\? ([yn]|\^D)?$1"
}

# Answers typed on a terminal (script(1) gives reflinkck a pty)
@test "interactive: y fixes (exit 1), n leaves it (exit 4), ^D cancels (32|4)" {
	command -v script >/dev/null || skip "script(1) is not installed"
	local r
	r=$(first_record)
	"$BIN/rflctl" -w "$IMG" adjust $r +1
	cp "$IMG" "$BATS_TEST_TMPDIR/damaged"
	run timeout 120 script -qec "'$BIN/reflinkck' -f '$IMG'" /dev/null <<<"n"
	echo "$output"
	[ "$status" -eq 4 ]
	answered no
	cmp "$IMG" "$BATS_TEST_TMPDIR/damaged"
	# a second y for a question the repair may raise after the first
	run timeout 120 script -qec "'$BIN/reflinkck' -f '$IMG'" /dev/null \
		<<<$'y\ny'
	echo "$output"
	[ "$status" -eq 1 ]
	answered yes
	run "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 0 ]
	same_files
	cp "$BATS_TEST_TMPDIR/damaged" "$IMG"
	# ^D at the question: cancelled (32), the problem left (4)
	run timeout 120 script -qec "'$BIN/reflinkck' -f '$IMG'" /dev/null < <(printf '\004')
	echo "$output"
	[ "$status" -eq 36 ]
	answered cancelled
	cmp "$IMG" "$BATS_TEST_TMPDIR/damaged"
}

# Two questions: a stray bg_reserved (Clear) and a wrong count (Rebuild)
two_problems() {
	"$BIN/rflctl" -w "$IMG" adjust $(first_record) +1
	"$BIN/rflctl" -w "$IMG" bg_reserved 1 5
	cp "$IMG" "$BATS_TEST_TMPDIR/damaged"
}

# ask KEYS: reflinkck -f on a pty fed KEYS (a here-string: script(1)'s
# own status is unreliable on a pipe, so the status is echoed inside)
ask() {
	run timeout 120 script -qec "'$BIN/reflinkck' -f '$IMG'; echo \"exit \$?\"" \
		/dev/null <<<"$1"
	output=${output//$'\r'/}
	mapfile -t lines <<<"$output"
	echo "$output"
}

@test "interactive: one raw key per question, not echoed; Enter is the <y> shown" {
	command -v script >/dev/null || skip "script(1) is not installed"
	two_problems
	# y typed as a line: its newline does not answer the next question
	ask $'y\nn'
	[[ "$output" == *"Clear<y>? yes"* ]]
	[[ "$output" == *"Rebuild<y>? no"* ]]
	[[ "$output" != *"yyes"* && "$output" != *"nno"* ]]
	[[ "${lines[-1]}" == "exit 4" ]]
	run "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 4 ]
	[[ "$output" != *"bg_reserved is 5"* ]]
	# Enter for every question: the default, yes
	cp "$BATS_TEST_TMPDIR/damaged" "$IMG"
	ask $'\n\n\n\n'
	[[ "$output" == *"Clear<y>? yes"* ]]
	[[ "$output" == *"Rebuild<y>? yes"* ]]
	[[ "${lines[-1]}" == "exit 1" ]]
	run "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 0 ]
}

@test "interactive: a answers yes to all, without waiting" {
	command -v script >/dev/null || skip "script(1) is not installed"
	two_problems
	ask a
	[[ "$output" == *"Clear<y>? yes to all"* ]]
	[[ "$output" == *"Rebuild? yes"* ]]
	[[ "${lines[-1]}" == "exit 1" ]]
	run "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 0 ]
}

@test "interactive: a cancel after a fix exits 37, FILE SYSTEM WAS MODIFIED" {
	command -v script >/dev/null || skip "script(1) is not installed"
	two_problems
	# y, then the end of input at the second question
	ask y
	[[ "$output" == *"Clear<y>? yes"* ]]
	[[ "$output" == *"Rebuild<y>? cancelled"* ]]
	[[ "$output" == *"$IMG: ***** FILE SYSTEM WAS MODIFIED *****"* ]]
	[[ "${lines[-1]}" == "exit 37" ]]
	# the fix made before the cancel is on disk, the rest is left
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" != *"bg_reserved is 5"* ]]
	[[ "$output" == *"has count"* ]]
}

@test "-p: a problem it cannot fix halts with UNEXPECTED INCONSISTENCY (4)" {
	local before
	mke2fs -q -F -t ext4 -O 64bit -b 1024 -g 2048 -G 2 \
		-d "$BATS_FILE_TMPDIR/src" "$IMG" 32M >/dev/null
	# an entry naming a free inode: e2fsck's to repair
	debugfs -w -R "freei /small" "$IMG" >/dev/null 2>&1
	"$BIN/rflctl" -w "$IMG" enable
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fp "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "${lines[0]}" == "$IMG: a directory entry names inode "* ]]
	[[ "$output" == *"$IMG: UNEXPECTED INCONSISTENCY; RUN reflinkck MANUALLY."* ]]
	[[ "$output" != *"Fix?"* ]]
	[ "$(sum "$IMG")" = "$before" ]
}

@test "-p: damage stock e2fsck -p leaves (pass 6) halts with UNEXPECTED INCONSISTENCY (4)" {
	local blk off before
	command -v e2image >/dev/null || skip "e2image is not installed"
	# no metadata_csum: the directory block stays readable after the edit
	mke2fs -q -F -t ext4 -O 64bit,^metadata_csum -b 1024 -g 2048 -G 2 \
		-d "$BATS_FILE_TMPDIR/src" "$IMG" 32M >/dev/null
	"$BIN/rflctl" -w "$IMG" enable
	# a '/' in an entry's name: nothing of the feature, and e2fsck -p
	# asks a person about it
	blk=$(debugfs -R "blocks /" "$IMG" 2>/dev/null | awk '{ print $1 }')
	off=$(dd if="$IMG" bs=1024 skip="$blk" count=1 status=none |
	      grep -obUa small | cut -d: -f1)
	[ -n "$off" ]
	printf 'sm/ll' | dd of="$IMG" bs=1 seek=$((blk * 1024 + off)) \
		conv=notrunc status=none
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fp "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"illegal characters in its name"* ]]
	[[ "${lines[-2]}" == "$IMG: UNEXPECTED INCONSISTENCY; RUN reflinkck MANUALLY." ]]
	# like e2fsck's preenhalt: no summary after it
	[[ "$output" != *" extents, "* ]]
	[ "$(sum "$IMG")" = "$before" ]
}

@test "-C with a closed fd: Error validating file descriptor, exit 8" {
	local before
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fn -C 9 "$IMG" 9>&-
	echo "$output"
	[ "$status" -eq 8 ]
	[[ "$output" == "reflinkck: Error validating file descriptor 9: "* ]]
	[ "$(sum "$IMG")" = "$before" ]
	# an open one works
	run "$BIN/reflinkck" -fn -C 9 "$IMG" 9>"$BATS_TEST_TMPDIR/progress"
	[ "$status" -eq 0 ]
	grep -q "^2 " "$BATS_TEST_TMPDIR/progress"
}

@test "-C 0 on a terminal: the bar is cleared before a problem is printed" {
	command -v script >/dev/null || skip "script(1) is not installed"
	# in later flex groups: pass 2's bar is on the line when found
	"$BIN/rflctl" -w "$IMG" bg_reserved 3 5
	run timeout 120 script -qec "'$BIN/reflinkck' -fn -C 0 '$IMG'" /dev/null <<<""
	echo "$output" | cat -A
	[[ "$output" == *"%"$'\r\033[K'"group 3: bg_reserved is 5"* ]]
	[[ "$output" != *"%group 3"* ]]
}

@test "a descriptor's block bitmap outside the filesystem: exit 4, nothing written" {
	local before
	# group 0's bg_block_bitmap_hi (descriptor at block 2, 0x20)
	printf '\003' | dd of="$IMG" bs=1 seek=$((2 * 1024 + 0x20)) \
		conv=notrunc status=none
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	# the floor (pass 0) judges it: nothing read through the
	# descriptors, nothing written, the commands that recover printed
	[ "$status" -eq 4 ]
	[[ "$output" == *"Corrupt group descriptor"* ]]
	[[ "$output" == *"e2fsck -fy $IMG"* ]]
	[ "$(sum "$IMG")" = "$before" ]
}

# desc_u32 IMG GROUP OFFSET VALUE: a 32-bit field of a group descriptor
# (1 KiB blocks: the table at block 2) written with dd, then bg_checksum
# recomputed (crc32c as docs/FORMAT.md and ext4 define it)
desc_u32() {
	local dsz
	dsz=$(dumpe2fs -h "$1" 2>/dev/null |
		awk '/^Group descriptor size:/ {print $4}')
	printf "$(printf '%08x' "$4" | sed 's/\(..\)\(..\)\(..\)\(..\)/\\x\4\\x\3\\x\2\\x\1/')" |
		dd of="$1" bs=1 seek=$((2048 + $2 * ${dsz:-32} + $3)) \
		   conv=notrunc status=none
	PYTHONPATH=$BATS_TEST_DIRNAME python3 - "$1" "$2" "${dsz:-32}" <<'PY'
import struct, sys
from ext4_crc32c import crc
g, dsz = int(sys.argv[2]), int(sys.argv[3])
with open(sys.argv[1], "r+b") as f:
    f.seek(1024)
    sb = f.read(1024)
    seed = crc(0xFFFFFFFF, sb[0x68:0x78])
    f.seek(2048 + g * dsz)
    d = bytearray(f.read(dsz))
    c = crc(crc(crc(crc(seed, struct.pack("<I", g)), d[:0x1E]), b"\0\0"),
            d[0x20:])
    struct.pack_into("<H", d, 0x1E, c & 0xFFFF)
    f.seek(2048 + g * dsz)
    f.write(d)
PY
}

# bitmap_on_owned FIELD BLOCK WHAT: group 0's bitmap (descriptor offset
# FIELD) moved onto BLOCK of the fuzz image, which a file holds outside
# its extents: reported, and never written through, under any mode
bitmap_on_owned() {
	local before held
	gunzip -c "$REPO/tests/fuzz/tiny.img.gz" >"$IMG"
	held=$(dd if="$IMG" bs=1024 skip="$2" count=1 status=none | sha256sum)
	desc_u32 "$IMG" 0 "$1" "$2"
	before=$(sum "$IMG")
	for mode in -fn -n -p -fy -y; do
		run "$BIN/reflinkck" "$mode" "$IMG"
		echo "reflinkck $mode: $status"
		echo "$output"
		# 12 where pass 6's e2fsck aborts (-f): its 8 or'ed in
		[ "$status" -eq 4 ] ||
			{ [ "$status" -eq 12 ] &&
			  [[ "$output" == *"(exit 12;"* ]]; }
		[[ "$output" == *"group 0: its $3 at $2+1 is also an inode's extent index, xattr or block map block"* ]]
		[ "$(sum "$IMG")" = "$before" ]
	done
	[[ "$output" == *"nothing is written, bitmaps would land on a file"* ]]
	[ "$(dd if="$IMG" bs=1024 skip="$2" count=1 status=none |
	     sha256sum)" = "$held" ]
}

@test "a block bitmap moved onto an extent index block: reported, never written" {
	local blk
	gunzip -c "$REPO/tests/fuzz/tiny.img.gz" >"$IMG"
	# /frag has an extent tree of depth 1: its index block
	blk=$(debugfs -R "ex /frag" "$IMG" 2>/dev/null |
		awk '$1 == "0/" { print $8; exit }')
	echo "index block: $blk"
	[ -n "$blk" ]
	bitmap_on_owned 0 "$blk" "block bitmap"
}

@test "an inode bitmap moved onto an xattr block: reported, never written" {
	local blk
	gunzip -c "$REPO/tests/fuzz/tiny.img.gz" >"$IMG"
	blk=$(debugfs -R "stat /small" "$IMG" 2>/dev/null |
		sed -n 's/.*File ACL: \([0-9]*\).*/\1/p')
	echo "xattr block: $blk"
	[ "${blk:-0}" -gt 0 ]
	bitmap_on_owned 4 "$blk" "inode bitmap"
}

@test "an inode table pointed at the wrong blocks: refused, nothing freed" {
	local before held
	gunzip -c "$REPO/tests/fuzz/tiny.img.gz" >"$IMG"
	held=$(sum "$IMG")
	# group 1's 16 inodes are in use; its table moved onto free blocks
	# (300) and onto a file's data (60): every inode reads empty or
	# fails its checksum, so a repair would free every file as leaked
	for at in 300 60; do
		gunzip -c "$REPO/tests/fuzz/tiny.img.gz" >"$IMG"
		desc_u32 "$IMG" 1 8 "$at"
		before=$(sum "$IMG")
		for mode in -fn -fy -p; do
			run "$BIN/reflinkck" "$mode" "$IMG"
			echo "table at $at, reflinkck $mode: $status"
			echo "$output"
			# 12 where pass 6's e2fsck aborts: its 8 or'ed in
			[ "$status" -eq 4 ] ||
				{ [ "$status" -eq 12 ] &&
				  [[ "$output" == *"(exit 12;"* ]]; }
			# -p may halt earlier, at the first inode it cannot read
			[[ $mode == -p ]] ||
			[[ "$output" == *"group 1: "*" inodes its inode bitmap marks in use read back with no links or unreadable"* ]]
			[ "$(sum "$IMG")" = "$before" ]
		done
	done
	# the pointer put back: every file as it was
	desc_u32 "$IMG" 1 8 11
	[ "$(sum "$IMG")" = "$held" ]
	run "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 0 ]
}

# Found by tests/fuzz/fuzz_image: seven bytes of base.img, bg_checksum
# left as it was: group 0's block and inode bitmaps and group 1's inode
# bitmap and inode table moved, an inode and a directory block changed.
# -fy set the checksums right, trusted the pointers, dropped the records
# of the files it could no longer read (counts too low) and exited 1;
# the next -fn was not clean.  A descriptor behind a wrong checksum
# whose bitmaps fail their checksums too is not trusted for a repair.
@test "descriptor and bitmap checksums both wrong: no repair through the descriptor" {
	local before at
	gunzip -c "$REPO/tests/fuzz/base.img.gz" >"$IMG"
	for at in 2048+5:04 2048+0:5c 17408+0:00 2048+69:04 2048+28:1c \
		  2048+73:01 14336+28:60; do
		printf "\\x${at#*:}" | dd of="$IMG" bs=1 \
			seek=$((${at%:*})) conv=notrunc status=none
	done
	before=$(sum "$IMG")
	for mode in -n -fn -y -fy -p; do
		run "$BIN/reflinkck" "$mode" "$IMG"
		echo "reflinkck $mode: $status"
		echo "$output"
		# -f: pass 6's stock e2fsck -fn aborts on this damage (12)
		if [[ $mode == -f* ]]; then
			[ "$status" -eq 12 ]
		else
			[ "$status" -eq 4 ]
		fi
		[[ "$output" == *"group 1: its descriptor checksum is wrong, and so is the checksum of a bitmap it points at"* ]]
		[[ "$output" != *"Rebuild? yes"* ]]
		[ "$(sum "$IMG")" = "$before" ]
	done
}

@test "an unused inodes count over the group's inodes: refused at the floor, at once" {
	local before
	gunzip -c "$REPO/tests/fuzz/tiny.img.gz" >"$IMG"
	# group 1's bg_itable_unused_lo 0xffff (bg_checksum is recomputed):
	# stock e2image -r, pass 6's snapshot, looped for ever on it
	desc_u32 "$IMG" 1 $((0x1C)) $((0xffff))
	before=$(sum "$IMG")
	for mode in -fn -fy; do
		run timeout 120 "$BIN/reflinkck" "$mode" "$IMG"
		echo "reflinkck $mode: $status"
		echo "$output"
		[ "$status" -eq 4 ]
		[[ "$output" == *"group 1's unused inodes count is 65535, of 16 inodes"* ]]
		[ "$(sum "$IMG")" = "$before" ]
	done
}

# Found by tests/fuzz/fuzz_image (corpus inode-bitmap-on-dir-and-journal):
# group 0's inode bitmap moved onto the journal (block 1029), group 1's
# onto a block of /lost+found (27).  The bitmaps read from there say no
# inode is in use; the files' blocks were freed as leaked and the
# bitmap written over the directory.  An inode with links is in use
# whatever the bitmap says, and then the bitmaps are seen to lie on
# those files: nothing is written under any mode.
@test "inode bitmaps moved onto the journal and a directory: no block freed, nothing written" {
	local before sums="$BATS_TEST_TMPDIR/sums" csum
	for csum in wrong right; do
		gunzip -c "$REPO/tests/fuzz/base.img.gz" >"$IMG"
		"$REPO/images/file-sums" "$IMG" >"$sums"
		[ -s "$sums" ]
		[ "$(debugfs -R "icheck 27 1029" "$IMG" 2>/dev/null |
		     awk 'NR > 1 { printf "%s ", $2 }')" = "11 8 " ]
		if [ $csum = wrong ]; then
			# the fuzzer's two bytes, bg_checksum left as it was
			printf '\004' | dd of="$IMG" bs=1 seek=$((2048 + 5)) \
				conv=notrunc status=none
			printf '\033' | dd of="$IMG" bs=1 seek=$((2048 + 68)) \
				conv=notrunc status=none
		else
			desc_u32 "$IMG" 0 4 1029
			desc_u32 "$IMG" 1 4 27
		fi
		before=$(sum "$IMG")
		for mode in -fn -fy; do
			run "$BIN/reflinkck" "$mode" "$IMG"
			echo "checksum $csum, reflinkck $mode: $status"
			echo "$output"
			[ "$status" -eq 4 ]
			[[ "$output" == *"inode 8 maps blocks in 1027+1022"* ]]
			[[ "$output" == *"inode 11 maps blocks in 24+12"* ]]
			[[ "$output" != *"freed"* ]]
			[ "$(sum "$IMG")" = "$before" ]
		done
		[[ "$output" == *"nothing is written, bitmaps would land on a file"* ]]
	done
	# the descriptors put back: every file reads as it did
	gunzip -c "$REPO/tests/fuzz/base.img.gz" |
		dd of="$IMG" bs=1024 skip=2 seek=2 count=1 conv=notrunc \
		   status=none
	diff -u "$sums" <("$REPO/images/file-sums" "$IMG")
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "the resize inode's reserved GDT blocks are not taken for a bitmap on a file" {
	# the base image has a resize inode, which holds the reserved GDT
	# blocks (fs metadata) legitimately
	dumpe2fs -h "$IMG" 2>/dev/null | grep -q '^Reserved GDT blocks: *[1-9]'
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"extent index, xattr or block map block"* ]]
}

# sb_set OFFSET FORMAT VALUE: a field of $IMG's superblock set (a
# python struct FORMAT, "<I" or "B"), its checksum made valid again
sb_set() {
	PYTHONPATH=$BATS_TEST_DIRNAME python3 - "$IMG" "$@" <<'PY'
import struct, sys
from ext4_crc32c import crc
with open(sys.argv[1], "r+b") as f:
    f.seek(1024)
    sb = bytearray(f.read(1024))
    struct.pack_into(sys.argv[3], sb, int(sys.argv[2], 0),
                     int(sys.argv[4], 0))
    struct.pack_into("<I", sb, 0x3FC, crc(0xFFFFFFFF, sb[:0x3FC]))
    f.seek(1024)
    f.write(sb)
PY
}

# s_first_data_block (0x14) set to 9
bad_first_data_block() {
	sb_set 0x14 "<I" 9
}

@test "a first data block mke2fs never writes: every tool refuses, nothing written" {
	local before
	bad_first_data_block
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 8 ]
	# the banner, as e2fsck prints it, then one line
	[ "${#lines[@]}" -eq 2 ]
	run "$BIN/mkreflink" -q --strip "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	run "$BIN/refdebug" -R stats "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(sum "$IMG")" = "$before" ]
}

@test "a flex group span over 2^32 blocks (s_log_groups_per_flex 22): exit 8, nothing written" {
	local before
	# s_log_groups_per_flex: 2^22 groups of 2048 blocks, 2^33
	sb_set 0x174 B 22
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 8 ]
	[[ "$output" == *"lex"* ]]
	[ "$(sum "$IMG")" = "$before" ]
}

@test "a block bitmap placed on a file's data: -fy writes nothing, exit 4" {
	local before blk
	blk=$(first_record | awk '{ print $1 + 1 + 7 }')
	# group 0's block bitmap moved there, its descriptor checksum valid
	# (a wrong one is the floor's to fix first)
	"$BIN/rflctl" -w "$IMG" bg_bitmap 0 "$blk"
	before=$(sum "$IMG")
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"(data, extent index, xattr) and fs metadata"*"nothing is written"* ]]
	[[ "$output" == *"inode 12 maps blocks"* ]]
	[ "$(sum "$IMG")" = "$before" ]
}

# An image with every kind of block stock e2fsck reads besides the
# tables: directories (one indexed), a slow symlink, an xattr block, a
# file whose extents need an index block; /a cloned.  A damage command
# (run on the image before the feature, debugfs -w needs that) may be
# given.
stock_reads_image() {
	local src="$BATS_TEST_TMPDIR/reads" i
	mkdir -p "$src/big"
	for i in $(seq 400); do : >"$src/big/entry-with-a-long-name-$i"; done
	for i in $(seq 20); do mkdir "$src/d$i"; done
	ln -s "$(printf 'target/%.0s' $(seq 20))" "$src/slowlink"
	head -c 100K /dev/urandom >"$src/a"
	: >"$src/xattr"
	python3 - "$src" <<'PY' || skip "the source filesystem has no xattrs"
import os, sys
d = sys.argv[1]
os.setxattr(d + "/xattr", "user.big", b"v" * 600)
# one block of data in every other block: 200 extents, an index block
with open(d + "/holes", "wb") as f:
    for i in range(200):
        f.seek(i * 2 * 1024)
        f.write(os.urandom(1024))
PY
	mke2fs -q -F -t ext4 -O 64bit -b 1024 -I 256 -d "$src" "$IMG" 32M \
		>/dev/null
	[ $# -eq 0 ] || "$@"
	"$BIN/rflctl" -w "$IMG" enable
	"$BIN/rflctl" -w "$IMG" clone /a /b
}

# What pass 6 quotes of stock e2fsck in $output, without blank lines
pass6_lines() {
	sed -n '/stock e2fsck -fn finds/,/Repair through the round trip/p' \
		<<<"$output" | sed '1d;$d' | grep -v '^$'
}

# The problem lines of e2fsck -fn on a stripped copy of IMG
stock_lines() {
	cp "$IMG" "$BATS_TEST_TMPDIR/stripped"
	"$BIN/mkreflink" -q --strip "$BATS_TEST_TMPDIR/stripped"
	e2fsck -fn "$BATS_TEST_TMPDIR/stripped" 2>&1 |
		grep -v -e '^e2fsck ' -e '^Pass ' -e '\*\*\*\*\*' \
			-e ' files (' -e '^$' |
		sed "s|$BATS_TEST_TMPDIR/stripped|$IMG|g"
}

@test "-fn: the snapshot holds every block stock e2fsck reads (pass 6 clean)" {
	stock_reads_image
	run debugfs -R "stat /holes" "$IMG"
	[[ "$output" == *"(ETB0)"* ]]
	run debugfs -R "stat /xattr" "$IMG"
	[[ "$output" != *"File ACL: 0"* ]]
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"stock e2fsck"* ]]
	[[ "${lines[-1]}" == *", 100 shared blocks, 1 records, "* ]]
}

@test "-fn: damage in an xattr block, a symlink and a directory: stock e2fsck's own words" {
	local blk before
	stock_reads_image
	blk=$(debugfs -R "stat /xattr" "$IMG" 2>/dev/null |
		sed -n 's/.*File ACL: \([0-9]*\).*/\1/p')
	printf 'XXXX' | dd of="$IMG" bs=1 seek=$((blk * 1024)) conv=notrunc \
		2>/dev/null
	blk=$(debugfs -R "blocks /slowlink" "$IMG" 2>/dev/null |
		awk '{ print $1 }')
	printf '\0' | dd of="$IMG" bs=1 seek=$((blk * 1024 + 5)) \
		conv=notrunc 2>/dev/null
	blk=$(debugfs -R "blocks /d7" "$IMG" 2>/dev/null | awk '{ print $1 }')
	printf '\377\377' | dd of="$IMG" bs=1 seek=$((blk * 1024 + 4)) \
		conv=notrunc 2>/dev/null
	before=$(sum "$IMG")
	stock_lines >"$BATS_TEST_TMPDIR/want"
	cat "$BATS_TEST_TMPDIR/want"
	grep -q "extended attribute" "$BATS_TEST_TMPDIR/want"
	grep -q "ymlink" "$BATS_TEST_TMPDIR/want"
	grep -q "irectory" "$BATS_TEST_TMPDIR/want"
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	# e2fsck -n aborts at the directory (12): the run's code too
	[ "$status" -eq 12 ]
	[[ "$output" == *"stock e2fsck -fn finds damage outside the feature"* ]]
	# what e2fsck says of the stripped copy, word for word
	pass6_lines | diff -u "$BATS_TEST_TMPDIR/want" -
	[ "$(sum "$IMG")" = "$before" ]
}

# A copy of reflinkck in $1/bin, and $2 (if given) as the shim it finds
# beside it ($1/lib/ext4-reflink/): the program looks for it from where
# it runs
ck_copy() {
	mkdir -p "$1/bin" "$1/lib/ext4-reflink"
	cp "$BIN/reflinkck" "$1/bin/"
	[ $# -lt 2 ] || cp "$2" "$1/lib/ext4-reflink/reflinkck-view.so"
}

@test "-fn: pass 6 reads the image through the shim, else a snapshot: one verdict" {
	local blk before t="$BATS_TEST_TMPDIR" other
	command -v strace >/dev/null || skip "strace is not installed"
	[ -f "$BIN/../lib/ext4-reflink/reflinkck-view.so" ]
	stock_reads_image
	blk=$(debugfs -R "blocks /d7" "$IMG" 2>/dev/null | awk '{ print $1 }')
	printf '\377\377' | dd of="$IMG" bs=1 seek=$((blk * 1024 + 4)) \
		conv=notrunc 2>/dev/null
	before=$(sum "$IMG")
	stock_lines >"$t/want"
	grep -q "irectory" "$t/want"
	# stock e2fsck -fn aborts on this directory (12), and so does pass 6
	# (LeakSanitizer cannot run under ptrace)
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	# the shim: e2fsck given the image itself, no copy made, nothing
	# synced by it either
	run strace -f -qq -s 4096 -e trace=execve,fsync,fdatasync -o "$t/trace" \
		"$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 12 ]
	pass6_lines | diff -u "$t/want" -
	grep -F "[\"e2fsck\", \"-fn\", \"$IMG\"]" "$t/trace"
	! grep -q 'e2image' "$t/trace"
	! grep -E 'f(data)?sync\(' "$t/trace"
	# not wanted, or not found beside the program: the snapshot
	REFLINKCK_VIEW=0 run strace -f -qq -s 4096 -e trace=execve -o "$t/trace" \
		"$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 12 ]
	pass6_lines | diff -u "$t/want" -
	! grep -F "\"-fn\", \"$IMG\"]" "$t/trace"
	# the ASan builds' reflinkck is a wrapper script that finds the
	# program from where it lies: a copy of it would run itself
	[[ "$(head -c 4 "$BIN/reflinkck")" == $'\x7fELF' ]] ||
		skip "$BIN/reflinkck is a wrapper, not the program"
	ck_copy "$t/alone"
	run "$t/alone/bin/reflinkck" -fn "$IMG"
	[ "$status" -eq 12 ]
	pass6_lines | diff -u "$t/want" -
	# a shim that does not show the view (another library): e2fsck
	# read the image as it is, that verdict is dropped, e2image's
	# snapshot judged instead
	other=$(ldd "$(command -v e2fsck)" | awk '/libcom_err/ { print $3 }')
	[ -f "$other" ] || skip "no library to stand in for the shim"
	ck_copy "$t/other" "$other"
	run strace -f -qq -s 4096 -e trace=execve -o "$t/trace" \
		"$t/other/bin/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 12 ]
	pass6_lines | diff -u "$t/want" -
	grep -q 'e2image' "$t/trace"
	[ "$(sum "$IMG")" = "$before" ]
}

@test "-fy: pass 6 repairs through snapshots in memory, with no \$TMPDIR to write" {
	local blk
	stock_reads_image
	blk=$(debugfs -R "blocks /d7" "$IMG" 2>/dev/null | awk '{ print $1 }')
	printf '\377\377' | dd of="$IMG" bs=1 seek=$((blk * 1024 + 4)) \
		conv=notrunc 2>/dev/null
	# a directory that does not exist: snapshots there would fail
	TMPDIR="$BATS_TEST_TMPDIR/none" run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"repaired by stock e2fsck on the snapshot"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/none" ]
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "-fn: an inode with links the bitmap calls free: e2image's snapshot, the same verdict" {
	local before
	stock_reads_image debugfs -w -R "freei /d3" "$IMG"
	before=$(sum "$IMG")
	stock_lines >"$BATS_TEST_TMPDIR/want"
	cat "$BATS_TEST_TMPDIR/want"
	grep -q "'d3'" "$BATS_TEST_TMPDIR/want"
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	pass6_lines | diff -u "$BATS_TEST_TMPDIR/want" -
	[ "$(sum "$IMG")" = "$before" ]
}

@test "-fy: the summary line counts the image after the repair, as the next -fn does" {
	local after

	# a cross-link copied apart: 4 extents more
	golden cross_link
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"copied"* ]]
	after=${lines[-1]}
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "$after" ]
}

# fake_e2fsck STATUS: an e2fsck first on PATH that says it cannot
# proceed and exits STATUS (pass 6 runs it on its snapshot)
fake_e2fsck() {
	mkdir -p "$BATS_TEST_TMPDIR/fake"
	printf '#!/bin/sh\necho "e2fsck: Cannot proceed with file system check"\nexit %s\n' \
		"$1" >"$BATS_TEST_TMPDIR/fake/e2fsck"
	chmod +x "$BATS_TEST_TMPDIR/fake/e2fsck"
}

@test "pass 6: stock e2fsck's operational error (8) is the run's exit code too" {
	fake_e2fsck 8
	PATH="$BATS_TEST_TMPDIR/fake:$PATH" run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 8 ]
	[[ "$output" == *"stock e2fsck could not check the metadata snapshot (exit 8)"* ]]
	PATH="$BATS_TEST_TMPDIR/fake:$PATH" run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 8 ]
}

# e2fsck's 16 (usage), 32 (cancelled), 128 (library) and the shell's
# 127 (no such program) mean it did not run: not clean, and not damage
@test "pass 6: stock e2fsck exiting 16, 32, 127 or 128 is an operational error (8)" {
	local code
	for code in 16 32 127 128; do
		fake_e2fsck $code
		PATH="$BATS_TEST_TMPDIR/fake:$PATH" run "$BIN/reflinkck" -fn "$IMG"
		echo "e2fsck $code, -fn: $status"
		echo "$output"
		[ "$status" -eq 8 ]
		[[ "$output" == *"stock e2fsck could not check the metadata snapshot (exit $code)"* ]]
		PATH="$BATS_TEST_TMPDIR/fake:$PATH" run "$BIN/reflinkck" -fy "$IMG"
		echo "e2fsck $code, -fy: $status"
		[ "$status" -eq 8 ]
	done
}

@test "pass 6: stock e2fsck's 12 (damage, then aborted) is 12: 4 and 8" {
	fake_e2fsck 12
	PATH="$BATS_TEST_TMPDIR/fake:$PATH" run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 12 ]
	PATH="$BATS_TEST_TMPDIR/fake:$PATH" run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 12 ]
	[[ "$output" == *"stock e2fsck left damage in the snapshot (exit 12)"* ]]
}

@test "an entry naming an inode in use without links says so, not 'not in use'" {
	local ino

	ino=$(debugfs -R 'stat /b' "$IMG" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
	"$BIN/rflctl" -w "$IMG" links /b 0
	finds "a directory entry names inode $ino, which is marked in use but has no links"
	[[ "$output" != *"which is not in use"* ]]
}

@test "an entry naming an inode with links the bitmap calls free says it is counted in use" {
	local ino

	ino=$(debugfs -R 'stat /b' "$IMG" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
	printf 'open -w -f %s\nfreei /b\nclose\n' "$IMG" | debugfs >/dev/null 2>&1
	finds "a directory entry names inode $ino, which has links but is free in the inode bitmap (counted in use here)"
	[[ "$output" != *"which is not in use"* ]]
}

@test "an entry naming a free inode without links: 'which is not in use'" {
	local ino

	ino=$(debugfs -R 'stat /b' "$IMG" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
	"$BIN/rflctl" -w "$IMG" links /b 0
	printf 'open -w -f %s\nfreei /b\nclose\n' "$IMG" | debugfs >/dev/null 2>&1
	finds "a directory entry names inode $ino, which is not in use"
}

@test "a directory entry's broken rec_len is 'directory corrupted' (e2fsck's words), not a checksum" {
	local blk stripped="$BATS_TEST_TMPDIR/stripped"

	blk=$(debugfs -R 'bmap / 0' "$IMG" 2>/dev/null)
	# the rec_len of "..", the second entry (offset 12): 5
	printf '\005\000' | dd of="$IMG" bs=1 seek=$((blk * 1024 + 16)) \
		conv=notrunc status=none
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"directory inode 2, block #0, offset 12: directory corrupted (an entry's rec_len is 5)"* ]]
	[[ "$output" != *"checksum does not match"* ]]
	# e2fsck on a stripped copy says the same of it
	cp "$IMG" "$stripped"
	"$BIN/mkreflink" -q --strip "$stripped"
	run e2fsck -fn "$stripped"
	[[ "$output" == *"Directory inode 2, block #0, offset 12: directory corrupted"* ]]
}

@test "a directory block whose checksum alone is wrong still says so" {
	local blk

	blk=$(debugfs -R 'bmap / 0' "$IMG" 2>/dev/null)
	# a byte of the name "lost+found" (entry 3, name at 12 + 12 + 8)
	printf 'X' | dd of="$IMG" bs=1 seek=$((blk * 1024 + 32)) \
		conv=notrunc status=none
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[[ "$output" == *"directory inode 2 cannot be read (Directory block checksum does not match"* ]]
}

# newer_fg0: flex group 0's metadata block made version 3 (FORMAT.md 10:
# a newer writer's; checksum kept valid), its version-2 reserve still
# marked in the bitmap
newer_fg0() {
	run "$BIN/refdebug" -R "flexbg 0" "$IMG"
	[[ "$output" == *"fm_resv_len: "[1-9]* ]]
	"$BIN/refdebug" -w -R "set_flexbg 0 fm_version 3" "$IMG" >/dev/null
}

@test "-fn, -fy: a flex group of a newer version: pass 6 does not call its unowned blocks (the reserve) leaked" {
	local before

	newer_fg0
	before=$(sum "$IMG")
	for opt in -fn -fy; do
		run "$BIN/reflinkck" "$opt" "$IMG"
		echo "$output"
		[ "$status" -eq 4 ]
		[[ "$output" == *"flex group 0: metadata block"*"written by a newer version"* ]]
		[[ "$output" != *"Block bitmap differences"* ]]
		[[ "$output" != *"stock e2fsck"* ]]
		[ "$(sum "$IMG")" = "$before" ]
	done
	# the snapshot's way shows it the same
	REFLINKCK_VIEW=0 run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" != *"stock e2fsck"* ]]
}

@test "-fn: a flex group of a newer version: pass 6 still judges the files and fs metadata in it" {
	newer_fg0
	printf 'open -w -f %s\nsif / size 0\nclose\n' "$IMG" |
		debugfs >/dev/null 2>&1
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"stock e2fsck -fn finds"*"Inode 2, i_size is 0, should be 1024."* ]]
	[[ "$output" != *"Block bitmap differences"* ]]
}

@test "pass 6's header says what e2fsck ran on: the image through the view (-fn), a metadata snapshot (no view, -fy)" {
	local view="run on the image through a stripped view," \
	      snap="run on a metadata snapshot,"

	[ -f "$BIN/../lib/ext4-reflink/reflinkck-view.so" ]
	printf 'open -w -f %s\nsif / size 0\nclose\n' "$IMG" |
		debugfs >/dev/null 2>&1
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"stock e2fsck -fn finds damage outside the feature (exit 4; $view"* ]]
	[[ "$output" != *"snapshot"* ]]
	REFLINKCK_VIEW=0 run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"(exit 4; $snap"* ]]
	[[ "$output" != *"stripped view"* ]]
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"(exit 4; $snap"* ]]
	[[ "$output" != *"stripped view"* ]]
	check_clean
}

@test "-fn: an unreadable extent block: one problem for the tree's records, not one a record" {
	local src="$BATS_TEST_TMPDIR/src" i etb n

	need_tools debugfs
	mkdir -p "$src"
	head -c 60K /dev/urandom >"$src/a"
	head -c 60K /dev/urandom >"$src/c"
	mke2fs -q -F -t ext4 -O 64bit -b 1024 -g 2048 -G 2 -d "$src" \
		"$IMG" 32M >/dev/null
	"$BIN/rflctl" -w "$IMG" enable
	# every other block of /a shared into /c: 20 records, and /c's
	# 40 extents need an extent block
	for i in $(seq 1 2 39); do
		"$BIN/rflctl" -w "$IMG" share /a "$i" /c "$i" 1
	done
	[ "$("$BIN/rflctl" "$IMG" records | wc -l)" -eq 20 ]
	etb=$(debugfs -R "stat /c" "$IMG" 2>/dev/null |
		sed -n 's/.*(ETB0):\([0-9]*\).*/\1/p')
	[ -n "$etb" ]
	printf 'XXXX' | dd of="$IMG" bs=1024 seek="$etb" conv=notrunc \
		status=none
	run "$BIN/reflinkck" -fn "$IMG"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"its blocks cannot be read"* ]]
	[[ "$output" == *"flex group 0: 20 refcount records differ from what the files that could be read share"*"1 inodes could not be read"* ]]
	n=$(grep -c '^Rebuild? no$' <<<"$output")
	[ "$n" -eq 1 ]
	[[ "$output" != *"extra refcount record"* ]]
}

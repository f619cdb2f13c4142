# crash_common.bash - what crash.bats and crash_reorder.bats assert about
# every state a crash can leave (docs/FORMAT.md 7.5, 7.6):
#  - every tree block reachable from the on-disk roots, and every block
#    under a record, is marked in use (rfl_recount -b): a commit frees
#    the old tree only after the switch (FORMAT.md 7.1);
#  - reflinkck never finds a count too low (a missing record or a count
#    under the recount): an interrupted call may leave counts too high and
#    blocks leaked, never a block freed that a file still maps;
#  - reflinkck -fy repairs it (exit 0 or 1), a second run is clean, the
#    independent recount agrees;
#  - the files the command does not touch read back unchanged, and so
#    do the files whose bytes it does not change (SAME);
#  - stock e2fsck -fn accepts the image after mkreflink --strip.
# Except where reflinkck reports a state outside the feature and leaves
# it to e2fsck (FORMAT.md 7.6: an inode half created or half freed, an
# extent tree libext2fs left unreadable): then strip, e2fsck -fy, and
# e2fsck -fn must be clean; the untouched files intact all the same
# (the files of SAME may be cut by e2fsck, but not those of INTACT, a
# subset of SAME whose bytes no crash state may lose: FORMAT.md 7.6;
# for INTACT also stock e2fsck -fy alone, after strip, on the state as
# the crash left it, keeps their bytes; WRITTEN: see check_written).

# BASE (the image before the command), IMG (the image checked), the
# data file of the write tests
crash_setup() {
	for b in rflctl rfl_recount reflinkck mkreflink "$@"; do
		[ -x "$BIN/$b" ] ||
			{ echo "$BIN/$b is not built: run make" >&2; return 1; }
	done
	BASE="$BATS_TEST_TMPDIR/base.img"
	IMG="$BATS_TEST_TMPDIR/img"
	gunzip -c "$REPO/images/reflinkck_clean_shared/image.gz" >"$BASE"
	head -c 5000 /dev/urandom >"$BATS_TEST_TMPDIR/data"
}

# Every state of a crash runs the helpers below, so they fork only to
# run a program: a fork of the bats shell costs about 5 ms here.

# qrun CMD...: as bats' run (status, output), without its subshell
qrun() {
	local f="$BATS_TEST_TMPDIR/qrun.out" fd
	output=
	# nowhere to write the output: not a run at all
	exec {fd}>"$f" || { status=125; return 0; }
	"$@" >&"$fd" 2>&1 && status=0 || status=$?
	exec {fd}>&-
	IFS= read -r -d '' output <"$f" || true
	while [[ $output == *$'\n' ]]; do
		output=${output%$'\n'}
	done
}

# The states reflinkck leaves to e2fsck: the extent tree of the file
# being changed cannot be read (libext2fs writes the inode twice when an
# extent tree grows a level), or an inode half created or half freed
# (docs/FORMAT.md 7.6): every problem left unfixed ("Fix? no", named by
# an "inode" or "group" line up to two lines above) is one of these
known_unreadable() {
	local l p1= p2= n=0 left=0 known=0 seen=-1
	local re="its blocks cannot be read|has no links or is deleted|past the group's initialized inodes|no directory entry names it"
	[[ $1 == *"Fix? no"* ]] || return 1
	while IFS= read -r l; do
		n=$((n + 1))
		if [[ $l == "Fix? no"* ]]; then
			# each line above counted once, as grep -B2 would
			if [[ $seen -lt $((n - 2)) && $p2 =~ ^(inode|group) ]]
			then
				left=$((left + 1))
			fi
			if [[ $seen -lt $((n - 1)) && $p1 =~ ^(inode|group) ]]
			then
				left=$((left + 1))
			fi
			seen=$((n - 1))
		fi
		[[ $l =~ $re ]] && known=$((known + 1))
		p2=$p1 p1=$l
	done <<<"$1"
	[ "$left" -gt 0 ] && [ "$known" -eq "$left" ]
}

# count_too_low OUTPUT: a record count under the recount, or a record
# missing: "has count C, expected E" or, where the lengths differ too,
# "count C, expected START+LEN count E", with C < E
count_too_low() {
	local l re='count ([0-9]+), expected ([0-9]+\+[0-9]+ count )?([0-9]+)'
	[[ $1 == *"missing refcount record"* ]] && return 0
	while IFS= read -r l; do
		[[ $l =~ $re ]] &&
			[ "${BASH_REMATCH[1]}" -lt "${BASH_REMATCH[3]}" ] &&
			return 0
	done <<<"$1"
	return 1
}

# kept_sums_of IMAGE FILE...: KEPT_NOW is "FILE SUM" a line for each
# FILE in IMAGE, read by one debugfs run and summed by one sha256sum (a
# missing file has the sum of nothing)
kept_sums_of() {
	local img=$1 f i=0 cmds= dumps=() sums=()
	local dir="$BATS_TEST_TMPDIR/kept"
	shift
	[ -d "$dir" ] || mkdir -p "$dir"
	for f in "$@"; do
		# emptied: debugfs dumps nothing for a missing file
		: >"$dir/$i"
		dumps+=("$dir/$i")
		cmds+="dump $f $dir/$i"$'\n'
		i=$((i + 1))
	done
	debugfs -f - "$img" <<<"$cmds" >/dev/null 2>&1 || true
	[ $# -gt 0 ] && mapfile -t sums < <(sha256sum -- "${dumps[@]}")
	KEPT_NOW= i=0
	for f in "$@"; do
		KEPT_NOW+="$f ${sums[i]%% *}"$'\n'
		i=$((i + 1))
	done
	KEPT_NOW=${KEPT_NOW%$'\n'}
}

# kept_sums KEEP: remember the contents in BASE of the files of KEEP (a
# space-separated list: files the command does not touch) and of SAME
# (files whose bytes it does not change; they may change where the
# state is left to e2fsck, which repairs a file by cutting it)
kept_sums() {
	local f sum
	KEEP=$1
	declare -gA KEPT_SUM=()
	# shellcheck disable=SC2086
	kept_sums_of "$BASE" $KEEP ${SAME:-}
	[ -n "$KEPT_NOW" ] || return 0
	while read -r f sum; do
		KEPT_SUM[$f]=$sum
	done <<<"$KEPT_NOW"
}

# check_kept WHERE FILE...: the FILEs read back as they were in IMG
check_kept() {
	local where=$1 want= f
	shift
	kept_sums_of "$IMG" "$@"
	for f in "$@"; do
		want+="$f ${KEPT_SUM[$f]}"$'\n'
	done
	want=${want%$'\n'}
	[ "$KEPT_NOW" = "$want" ] && return
	echo "$where: changed: $(diff <(echo "$want") <(echo "$KEPT_NOW") |
		awk '/^>/ { print $2 }' | tr '\n' ' ')"
	return 1
}

# check_written WHERE: the file of WRITTEN ("FILE OFFSET DATA": a write
# of the host file DATA at byte OFFSET of FILE) in IMG is as long as
# before or after the write, and each of its blocks holds its bytes
# before the write or after it (zeros where the file had a hole)
check_written() {
	local where=$1 file off data bs
	read -r file off data <<<"$WRITTEN"
	# BASE's file and block size once a test: BASE does not change
	[ -n "${WRITTEN_BS:-}" ] ||
		WRITTEN_BS=$(dumpe2fs -h "$BASE" 2>/dev/null |
			awk '/^Block size:/ { print $3 }')
	[ -e "$BATS_TEST_TMPDIR/before" ] ||
		debugfs -R "dump $file $BATS_TEST_TMPDIR/before" "$BASE" \
			>/dev/null 2>&1
	bs=$WRITTEN_BS
	rm -f "$BATS_TEST_TMPDIR/after"
	debugfs -R "dump $file $BATS_TEST_TMPDIR/after" "$IMG" \
		>/dev/null 2>&1
	qrun python3 - "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after" \
		"$off" "$data" "$bs" <<'PY'
import sys
old = open(sys.argv[1], "rb").read()
now = open(sys.argv[2], "rb").read()
off, w, bs = int(sys.argv[3]), open(sys.argv[4], "rb").read(), int(sys.argv[5])
end = max(len(old), off + len(w))
if len(now) not in (len(old), end):
    sys.exit("%d bytes long, not %d or %d" % (len(now), len(old), end))
new = bytearray(old + bytes(end - len(old)))
new[off:off + len(w)] = w
old = old + bytes(end - len(old))
now = now + bytes(end - len(now))
for b in range(0, end, bs):
    if now[b:b + bs] not in (old[b:b + bs], new[b:b + bs]):
        sys.exit("block %d is neither as before nor as after" % (b // bs))
PY
	[ "$status" -eq 0 ] && return
	echo "$where: $file: $output"
	return 1
}

# check_state WHERE: every assertion above on IMG, as a crash left it;
# WHERE names the state in messages.  A state left to e2fsck is added to
# UNREADABLE.  E2FSCK_CONNECTS set: a directory tree not linked in yet
# is e2fsck's to connect (FORMAT.md 7.8)
check_state() {
	local where=$1
	# stock e2fsck alone, on the state as the crash left it, keeps
	# the bytes of INTACT too (where strip takes the state: it
	# refuses a torn bitmap, which reflinkck repairs first)
	if [ -n "${INTACT:-}${WRITTEN:-}" ] && cp "$IMG" "$IMG.e2fsck" &&
	   "$BIN/mkreflink" -q --strip "$IMG.e2fsck" 2>/dev/null; then
		qrun e2fsck -fy "$IMG.e2fsck"
		[ "$status" -le 1 ] ||
			{ echo "$where, e2fsck -fy alone: $output"; return 1; }
		# shellcheck disable=SC2086
		IMG="$IMG.e2fsck" check_kept "$where, e2fsck -fy alone" \
			$INTACT || return 1
		if [ -n "${WRITTEN:-}" ]; then
			IMG="$IMG.e2fsck" check_written \
				"$where, e2fsck -fy alone" || return 1
		fi
	fi
	[ ! -e "$IMG.e2fsck" ] || rm -f "$IMG.e2fsck"
	# as the crash left it: every block reachable from the on-disk
	# roots, and every block under a record, in use
	qrun "$BIN/rfl_recount" -b "$IMG"
	[ "$status" -eq 0 ] || { echo "$where, on disk: $output"; return 1; }
	qrun "$BIN/reflinkck" -fy "$IMG"
	if known_unreadable "$output"; then
		# left to e2fsck: the documented path, strip first
		UNREADABLE+=" ${where##* }"
		"$BIN/mkreflink" -q --strip "$IMG"
		qrun e2fsck -fy "$IMG"
		[ "$status" -le 1 ] ||
			{ echo "$where, e2fsck -fy: $output"; return 1; }
		qrun e2fsck -fn "$IMG"
		[ "$status" -eq 0 ] ||
			{ echo "$where, e2fsck -fn: $output"; return 1; }
		# shellcheck disable=SC2086
		check_kept "$where" $KEEP ${INTACT:-}
		return
	fi
	if [ "$status" -gt 1 ] || count_too_low "$output"; then
		echo "$where: $output"
		return 1
	fi
	qrun "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 0 ] ||
		{ echo "$where, second run: $output"; return 1; }
	qrun "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 0 ] || { echo "$where, recount: $output"; return 1; }
	# shellcheck disable=SC2086
	check_kept "$where" $KEEP ${SAME:-} || return 1
	if [ -n "${WRITTEN:-}" ]; then
		check_written "$where" || return 1
	fi
	# clean for reflinkck: nothing left for e2fsck either
	"$BIN/mkreflink" -q --strip "$IMG"
	if [ -n "${E2FSCK_CONNECTS:-}" ]; then
		qrun e2fsck -fy "$IMG"
		[ "$status" -le 1 ] ||
			{ echo "$where, e2fsck -fy: $output"; return 1; }
	fi
	qrun e2fsck -fn "$IMG"
	[ "$status" -eq 0 ] || { echo "$where, e2fsck: $output"; return 1; }
}

# A stock image with copies to deduplicate, in BASE: "dedup" then
# shares the copies (changes no file's bytes).  Prints the files.
dedup_base() {
	local d="$BATS_TEST_TMPDIR/tree"
	mkdir -p "$d/sub"
	python3 -c "import random,sys; r=random.Random(5); \
sys.stdout.buffer.write(r.randbytes(4096 * 12))" >"$d/a"
	cp "$d/a" "$d/sub/copy"
	# a copy with its middle block changed: two runs and a split
	cp "$d/a" "$d/onediff"
	printf 'x' | dd of="$d/onediff" bs=4096 seek=5 conv=notrunc \
		2>/dev/null
	{ head -c 16384 "$d/a"; cat "$BATS_TEST_TMPDIR/data"; } >"$d/partial"
	# every other block a copy: its new extent tree needs a leaf block
	python3 - "$d" <<'PY'
import random, sys
r = random.Random(6)
a = open(sys.argv[1] + "/a", "rb").read()
open(sys.argv[1] + "/alt", "wb").write(b"".join(
    a[i * 4096:(i + 1) * 4096] if i % 2 else r.randbytes(4096)
    for i in range(12)))
PY
	BASE="$BATS_TEST_TMPDIR/stock.img"
	mke2fs -q -F -t ext4 -O 64bit,extents,flex_bg -b 4096 -d "$d" \
		"$BASE" 8M
	"$BIN/mkreflink" -q --enable "$BASE"
}

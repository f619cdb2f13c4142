#!/usr/bin/env bats
# crash.bats - power failure in the middle of every sharing primitive
# (docs/FORMAT.md 7.5).  rflctl with RFLCTL_CRASH_AFTER=N drops every
# block write after the first N; for each crash point of a command:
#  - every tree block reachable from the on-disk roots, and every block
#    under a record, is marked in use (rfl_recount -b): a commit frees
#    the old tree only after the switch (FORMAT.md 7.1);
#  - reflinkck never finds a count too low (a missing record or a count
#    under the recount): an interrupted call may leave counts too high and
#    blocks leaked, never a block freed that a file still maps;
#  - reflinkck -fy repairs it (exit 0 or 1), a second run is clean, the
#    independent recount agrees;
#  - the files the command does not touch read back unchanged;
#  - stock e2fsck -fn accepts the image after mkreflink --strip.
# Except where reflinkck reports a state outside the feature and leaves
# it to e2fsck (FORMAT.md 7.6: an inode half created or half freed, an
# extent tree libext2fs left unreadable): then strip, e2fsck -fy, and
# e2fsck -fn must be clean; the untouched files intact all the same.
#
#	CRASH_STEP=1 bats tests/bats/crash.bats	(every crash point;
#						 default: every second)

bats_require_minimum_version 1.5.0
export RFL_CHECK_RECHECK=1

load common

setup() {
	for b in rflctl rfl_recount reflinkck mkreflink; do
		[ -x "$BIN/$b" ] ||
			{ echo "$BIN/$b is not built: run make" >&2; return 1; }
	done
	BASE="$BATS_TEST_TMPDIR/base.img"
	IMG="$BATS_TEST_TMPDIR/img"
	gunzip -c "$REPO/images/reflinkck_clean_shared/image.gz" >"$BASE"
	STEP=${CRASH_STEP:-2}
	head -c 5000 /dev/urandom >"$BATS_TEST_TMPDIR/data"
}

# The states reflinkck leaves to e2fsck: the extent tree of the file
# being changed cannot be read (libext2fs writes the inode twice when an
# extent tree grows a level), or an inode half created or half freed
# (docs/FORMAT.md 7.6)
known_unreadable() {
	local left
	# every problem left unfixed is one of these two
	left=$(grep -B2 "^Fix? no" <<<"$1" | grep -c "^inode\|^group" ||
		true)
	[ "$left" -gt 0 ] || return 1
	[ "$(grep -c "its blocks cannot be read\|has no links or is deleted\|past the group's initialized inodes\|no directory entry names it" \
		<<<"$1")" -eq "$left" ]
}

# the files of KEEP read back as they were
check_kept() {
	local f
	for f in $keep; do
		[ "$(debugfs -R "cat $f" "$IMG" 2>/dev/null | sha256sum)" = \
		  "${sums[$f]}" ] ||
			{ echo "crash after $n: $f changed"; return 1; }
	done
}

# crash_points KEEP CMD...: every crash point of `rflctl -w IMG CMD...`;
# KEEP is a space-separated list of files that must not change
crash_points() {
	local keep=$1 total n out f
	shift
	local -A sums

	for f in $keep; do
		sums[$f]=$(debugfs -R "cat $f" "$BASE" 2>/dev/null | sha256sum)
	done
	cp "$BASE" "$IMG"
	total=$(RFLCTL_CRASH_COUNT=1 "$BIN/rflctl" -w "$IMG" "$@" 2>&1 >/dev/null |
		awk '/^writes:/ { print $2 }')
	[ -n "$total" ] && [ "$total" -gt 0 ]
	echo "$* : $total writes"
	UNREADABLE=
	for ((n = 0; n <= total; n += STEP)); do
		cp "$BASE" "$IMG"
		RFLCTL_CRASH_AFTER=$n "$BIN/rflctl" -w "$IMG" "$@" \
			>/dev/null 2>&1 || true
		# as the crash left it: every block reachable from the
		# on-disk roots, and every block under a record, in use
		run "$BIN/rfl_recount" -b "$IMG"
		[ "$status" -eq 0 ] ||
			{ echo "crash after $n, on disk: $output"; return 1; }
		run "$BIN/reflinkck" -fy "$IMG"
		if known_unreadable "$output"; then
			# left to e2fsck: the documented path, strip first
			UNREADABLE+=" $n"
			"$BIN/mkreflink" -q --strip "$IMG"
			run e2fsck -fy "$IMG"
			[ "$status" -le 1 ] || { echo "e2fsck -fy: $output"; return 1; }
			run e2fsck -fn "$IMG"
			[ "$status" -eq 0 ] || { echo "e2fsck -fn: $output"; return 1; }
			check_kept || return 1
			continue
		fi
		if [ "$status" -gt 1 ] ||
		   [[ "$output" == *"missing refcount record"* ]] ||
		   echo "$output" | awk '
			/has count [0-9]+, expected [0-9]+/ {
				for (i = 1; i <= NF; i++) {
					if ($i == "count") c = $(i + 1) + 0
					if ($i == "expected") e = $(i + 1) + 0
				}
				if (c < e) low = 1
			}
			END { exit !low }'; then
			echo "crash after $n writes: $output"
			return 1
		fi
		run "$BIN/reflinkck" -fn "$IMG"
		[ "$status" -eq 0 ] ||
			{ echo "crash after $n, second run: $output"; return 1; }
		run "$BIN/rfl_recount" "$IMG"
		[ "$status" -eq 0 ] ||
			{ echo "crash after $n, recount: $output"; return 1; }
		check_kept || return 1
		# clean for reflinkck: nothing left for e2fsck either
		"$BIN/mkreflink" -q --strip "$IMG"
		# except a directory tree not linked in yet (FORMAT.md 7.8)
		if [ -n "${E2FSCK_CONNECTS:-}" ]; then
			run e2fsck -fy "$IMG"
			[ "$status" -le 1 ] ||
				{ echo "crash after $n, e2fsck -fy: $output"; return 1; }
		fi
		run e2fsck -fn "$IMG"
		[ "$status" -eq 0 ] ||
			{ echo "crash after $n, e2fsck: $output"; return 1; }
	done
	echo "crash points left to e2fsck by reflinkck:${UNREADABLE:- none}"
}

@test "crash anywhere in a clone" {
	crash_points "/a /b /dup /far" clone /a /new
}

@test "crash anywhere in a range share" {
	crash_points "/a /b /far" share /a 3 /dir/unique 5 20
}

@test "crash anywhere in a punch of shared blocks" {
	crash_points "/a /dup /far" punch /b 2 30
}

@test "crash anywhere in a copy-on-write" {
	crash_points "/a /b /dup /far" cow /c 4 10
}

@test "crash anywhere in an unlink of a sharer" {
	crash_points "/a /b /dup /far" rm /c
}

@test "crash anywhere in a write over shared blocks" {
	crash_points "/a /b /dup /far" write /c 3000 "$BATS_TEST_TMPDIR/data"
}

@test "crash anywhere in a truncate of a sharer" {
	crash_points "/a /b /far" truncate /dup 7000
}

@test "crash anywhere in a dedup of a stock image" {
	local d="$BATS_TEST_TMPDIR/tree" f
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
	# dedup changes no file's bytes
	crash_points "/a /sub/copy /onediff /partial /alt" dedup
}

@test "crash anywhere in a snapshot of a tree" {
	# reflinkck does not follow directory connectivity: the copy a
	# crash left unlinked is e2fsck's to put in lost+found
	E2FSCK_CONNECTS=1
	crash_points "/a /b /dup /far /dir/unique" snapshot / /snap
}

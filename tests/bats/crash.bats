#!/usr/bin/env bats
# crash.bats - power failure in the middle of every sharing primitive
# (docs/FORMAT.md 7.5).  rflctl with RFLCTL_CRASH_AFTER=N drops every
# block write after the first N; every crash point of a command is
# checked by check_state (crash_common.bash: the oracle recount,
# reflinkck never finds a count too low, repairs, a second run is clean,
# untouched files intact, stock e2fsck -fn clean after a strip).
# crash_reorder.bats lets the writes between two flushes land in any
# subset.
#
#	CRASH_STEP=1 bats tests/bats/crash.bats	(every crash point;
#						 default: every second)

bats_require_minimum_version 1.5.0
export RFL_CHECK_RECHECK=1

load common

load crash_common

setup() {
	crash_setup
	STEP=${CRASH_STEP:-2}
}

# crash_points KEEP CMD...: every crash point of `rflctl -w IMG CMD...`;
# KEEP is a space-separated list of files that must not change
crash_points() {
	local total n
	kept_sums "$1"
	shift
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
		check_state "crash after $n" || return 1
	done
	echo "crash points left to e2fsck by reflinkck:${UNREADABLE:- none}"
}

@test "crash anywhere in a clone" {
	crash_points "/a /b /dup /far" clone /a /new
}

# bats test_tags=no_asan
@test "crash anywhere in a range share" {
	crash_points "/a /b /far" share /a 3 /dir/unique 5 20
}

# bats test_tags=no_asan
@test "crash anywhere in a punch of shared blocks" {
	crash_points "/a /dup /far" punch /b 2 30
}

# bats test_tags=no_asan
@test "crash anywhere in a copy-on-write" {
	# a copy-on-write changes no byte of the file (FORMAT.md 7.5)
	SAME=/c
	crash_points "/a /b /dup /far" cow /c 4 10
}

# bats test_tags=no_asan
@test "crash anywhere in an unlink of a sharer" {
	crash_points "/a /b /dup /far" rm /c
}

# bats test_tags=no_asan
@test "crash anywhere in a write over shared blocks" {
	crash_points "/a /b /dup /far" write /c 3000 "$BATS_TEST_TMPDIR/data"
}

# bats test_tags=no_asan
@test "crash anywhere in a truncate of a sharer" {
	crash_points "/a /b /far" truncate /dup 7000
}

@test "crash anywhere in a dedup of a stock image" {
	dedup_base
	# dedup changes no file's bytes
	crash_points "/a /sub/copy /onediff /partial /alt" dedup
}

# bats test_tags=no_asan
@test "crash anywhere in a snapshot of a tree" {
	# reflinkck does not follow directory connectivity: the copy a
	# crash left unlinked is e2fsck's to put in lost+found
	E2FSCK_CONNECTS=1
	crash_points "/a /b /dup /far /dir/unique" snapshot / /snap
}

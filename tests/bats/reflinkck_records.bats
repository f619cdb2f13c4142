#!/usr/bin/env bats
# reflinkck_records.bats - records the files do not account for, one
# test per kind of difference the checker's recount reports (missing,
# extra, wrong count, wrong length, overlapping range), written raw with
# refdebug's insert_record/delete_record (START is relative to the flex
# group).  Each time: the independent recount (rfl_recount) sees the
# damage, reflinkck -fn names it and changes nothing, -fy rebuilds,
# then -fn is clean, the recount agrees and every file reads back as
# before the damage.

bats_require_minimum_version 1.5.0
export RFL_CHECK_RECHECK=1

load common

setup_file() {
	command -v mke2fs >/dev/null || return 0
	cloned_base
}

setup() {
	need_tools mke2fs
	need_built rflctl rfl_recount reflinkck refdebug
	IMG="$BATS_TEST_TMPDIR/img"
	cp "$BASE" "$IMG"
	# the one record of the base image: /a's 100 blocks, count 3
	set -- $("$BIN/rflctl" "$IMG" records)
	[ "$#" -eq 4 ] && [ "$1" -eq 0 ] && [ "$3" -eq 100 ] && [ "$4" -eq 3 ]
	ABS=$2
	REL=$((ABS - 1))	# flex group 0 starts at block 1 (1 KiB blocks)
}

raw() {
	run "$BIN/refdebug" -w -R "$1" "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
}

# judged ORACLE_LINE CHECKER_MESSAGE [SHARED]: the oracle reports the
# damage (a line equal to ORACLE_LINE), reflinkck -fn names it and
# writes nothing, -fy rebuilds, then everything agrees again (the
# recount's summary then says SHARED, by default the base image's
# ", 100 shared blocks, 1 records")
judged() {
	run -1 "$BIN/rfl_recount" "$IMG"
	echo "$output"
	grep -qxF "$1" <<<"$output"
	finds "$2"
	rebuilds
	[[ "${lines[-1]}" == *"${3:-, 100 shared blocks, 1 records}, 0 differences" ]]
	"$REPO/images/file-sums" "$IMG" | diff -u "$BASE_SUMS" -
}

@test "extra: a record no file shares" {
	raw "insert_record 0 2000 5 2"
	judged "extra record: 2001+5 count 2" \
		"flex group 0: extra refcount record 2001+5 count 2, no file shares it"
}

@test "extra: a record in a flex group with an empty tree" {
	raw "insert_record 3 100 4 2"
	judged "extra record: 12389+4 count 2" \
		"flex group 3: extra refcount record 12389+4 count 2, no file shares it"
}

@test "wrong length: a record reaching past the shared blocks" {
	raw "delete_record 0 $REL"
	raw "insert_record 0 $REL 110 3"
	judged "extra record: $((ABS + 100))+10 count 3" \
		"refcount record $ABS+110 count 3, expected $ABS+100 count 3"
}

@test "wrong range: an extra record overlapping the start of a share" {
	raw "insert_record 0 $((REL - 3)) 5 2"
	judged "records overlap: $((ABS - 3))+5 and $ABS+100" \
		"refcount record $((ABS - 3))+5 count 2"
}

@test "wrong count: a record counting one sharer too many" {
	raw "delete_record 0 $REL"
	raw "insert_record 0 $REL 100 4"
	judged "wrong count: record $ABS+100 count 4, expected 3" \
		"refcount record $ABS+100 has count 4, expected 3"
}

# flagged files sharing blocks with no record at all: no crash leaves
# that, so the checker calls it a cross-link and gives the files their
# own copies (FORMAT.md 7.5), without a rebuild: the tree, which has no
# record of the blocks, is right for them once copied apart
@test "missing: the record deleted" {
	raw "delete_record 0 $REL"
	run -1 "$BIN/rfl_recount" "$IMG"
	echo "$output"
	grep -qxF "missing record: $ABS+100 count 3" <<<"$output"
	finds "blocks $ABS+100 are mapped 3 times and no refcount record counts them"
	run "$BIN/reflinkck" -fy "$IMG"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(grep -c "shared blocks copied" <<<"$output")" -eq 2 ]
	[[ "$output" != *"rebuilt from the files"* ]]
	clean_now
	[[ "${lines[-1]}" == *", 0 shared blocks, 0 records, 0 differences" ]]
	"$REPO/images/file-sums" "$IMG" | diff -u "$BASE_SUMS" -
}

@test "extra records beside real ones, and only those, are cleared" {
	raw "insert_record 0 $((REL + 100)) 7 2"
	raw "insert_record 0 $((REL + 300)) 1 9"
	judged "extra record: $((ABS + 100))+7 count 2" \
		"extra refcount record $((ABS + 300))+1 count 9"
}

#!/usr/bin/env bats
# refdebug.bats - the debug shell: every command, and its refusals, on a
# small image made by mkreflink -d whose files share blocks (rflctl).
#
# Output is compared line by line where it is stable by design (field
# names, values, messages); block numbers are read from the image first.

bats_require_minimum_version 1.5.0

load common

setup_file() {
	local src="$BATS_FILE_TMPDIR/src" i

	[ -x "$BIN/refdebug" ] && [ -x "$BIN/mkreflink" ] || return 0
	mkdir -p "$src"
	head -c 300K /dev/urandom >"$src/a"
	head -c 5000 /dev/urandom >"$src/b"
	head -c 3000 /dev/urandom >"$src/c"
	BASE="$BATS_FILE_TMPDIR/base.img"
	"$BIN/mkreflink" -q -F -b 1024 -G 2 -d "$src" "$BASE" 16M
	"$BIN/rflctl" -w "$BASE" clone /a /a2
	for i in 0 5 10 20 40; do
		"$BIN/rflctl" -w "$BASE" share /a $i /b $((i / 10)) 1
	done
	export BASE
}

setup() {
	need_built refdebug mkreflink rflctl rfl_recount reflinkck
	IMG="$BATS_TEST_TMPDIR/img"
	cp "$BASE" "$IMG"
	META=$("$BIN/rflctl" "$IMG" nodes | awk '$3 == -1 { print $2 }')
	ROOT=$("$BIN/rflctl" "$IMG" nodes | awk '$3 == 0 { print $2; exit }')
}

rd() {
	run "$BIN/refdebug" "$@"
	strip_banner
	echo "$output"
}

# run's output without the version banner refdebug prints first on stderr
strip_banner() {
	local re='^refdebug [0-9.]+ \([0-9]+-[A-Za-z]+-[0-9]+\)$'

	[[ ${lines[0]:-} =~ $re ]] || return 0
	if [[ $output == *$'\n'* ]]; then
		output=${output#*$'\n'}
		mapfile -t lines <<<"$output"
	else
		output=
		lines=()
	fi
}

# Output of a read-only request, which must succeed
rdr() {
	rd -R "$1" "$IMG"
	[ "$status" -eq 0 ]
}

# A writing request, which must succeed
rdw() {
	rd -w -R "$1" "$IMG"
	[ "$status" -eq 0 ]
}

@test "refdebug: the version banner on stderr, as debugfs prints it" {
	run --separate-stderr "$BIN/refdebug" -R "refcount $ROOT" "$IMG"
	[ "$status" -eq 0 ]
	[[ $stderr =~ ^refdebug\ [0-9.]+\ \([0-9]+-[A-Za-z]+-[0-9]+\)$ ]]
	[ "$output" = "block $ROOT: refcount 1" ]
	run --separate-stderr "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 0 ]
	[[ $stderr =~ ^reflinkck\ [0-9.]+\ \([0-9]+-[A-Za-z]+-[0-9]+\)$ ]]
	# preening prints none, as e2fsck -p
	run --separate-stderr "$BIN/reflinkck" -p "$IMG"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "refdebug: -R help lists the commands; usage errors exit 1" {
	rd -R help "$IMG"
	[ "$status" -eq 0 ]
	for c in stats flexbg tree node records refcount set_flexbg set_node \
		 set_record fuzz insert_record delete_record; do
		grep -q "^$c " <<<"$output"
	done
	rd -x "$IMG"
	[ "$status" -eq 1 ]
	grep -q usage <<<"$output"
	rd -R "nosuchcommand" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "Command not found" <<<"$output"
}

@test "refdebug: help COMMAND says what it does; an unknown one is an error" {
	rd -R "help records" "$IMG"
	[ "$status" -eq 0 ]
	[ "$output" = "records: List records: records FLEXGROUP [START [END]]" ]
	rd -R "help nosuch" "$IMG"
	[ "$status" -eq 1 ]
	[ "$output" = "help: no such command: nosuch (help lists them)" ]
	# the standard requests are found too; one bad name fails the line
	rd -R "help lr nosuch" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^list_requests, lr, ?: " <<<"$output"
	grep -qx "help: no such command: nosuch (help lists them)" <<<"$output"
	[[ "$output" != *"info directory"* ]]
}

@test "refdebug: the shell reads commands from stdin" {
	run "$BIN/refdebug" "$IMG" <<<"refcount $ROOT"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "block $ROOT: refcount 1" <<<"$output"
}

@test "refdebug: -f FILE and -f - run scripts; comments skip" {
	printf '# comment\n\nrefcount %s\nstats\n' "$ROOT" >"$BATS_TEST_TMPDIR/s"
	rd -f "$BATS_TEST_TMPDIR/s" "$IMG"
	[ "$status" -eq 0 ]
	grep -q "refcount 1" <<<"$output"
	grep -q "^total:" <<<"$output"
	run "$BIN/refdebug" -f - "$IMG" <"$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
	grep -q "^total:" <<<"$output"
	rd -f "$BATS_TEST_TMPDIR/nothere" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "nothere: No such file" <<<"$output"
}

@test "refdebug: a failing command in a script makes the exit status 1" {
	rd -f - "$IMG" <<<"refcount 99999999"
	rd -f /dev/stdin "$IMG" <<<"refcount 99999999"
	[ "$status" -eq 1 ]
	grep -q "refcount: block 99999999 out of range" <<<"$output"
}

@test "refdebug: open and close inside the shell" {
	run "$BIN/refdebug" -f - <<-EOF
	stats
	open $IMG
	open $IMG
	close
	open -w $IMG
	set_node $ROOT bn_reserved 0
	close
	EOF
	echo "$output"
	[ "$status" -eq 1 ]
	grep -q "^stats: no image is open" <<<"$output"
	grep -q "^open: .* is open (close it first)" <<<"$output"
	grep -q "bn_reserved: 0x0000000000000000 -> 0x0000000000000000" \
		<<<"$output"
}

@test "refdebug: an image without reflink or not ext4 is refused" {
	: >"$BATS_TEST_TMPDIR/empty"
	truncate -s 1M "$BATS_TEST_TMPDIR/empty"
	rd -R stats "$BATS_TEST_TMPDIR/empty"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	grep -q "^refdebug: .*empty: " <<<"$output"
}

@test "refdebug: stats" {
	rdr stats
	grep -q "^block size 1024, 1 flex groups of 16384 blocks" \
		<<<"$output"
	grep -q "^flex group 0: metadata block $META$" <<<"$output"
	grep -qE "^flex group 0: height 1 nodes 1 records [0-9]+ shared \
blocks [0-9]+$" <<<"$output"
	grep -qE "^total: trees 1 nodes 1 records [0-9]+ shared blocks" \
		<<<"$output"
}

@test "refdebug: flexbg decodes every field and the checksum" {
	rdr "flexbg 0"
	grep -q "^metadata block $META$" <<<"$output"
	grep -q "^fm_magic: 0x424d4652$" <<<"$output"
	grep -q "^fm_version: 2$" <<<"$output"
	grep -q "^fm_blocknr: $META$" <<<"$output"
	grep -q "^fm_resv_len: [1-9][0-9]*$" <<<"$output"
	grep -q "^fm_reserved\[1\]: 0x0000000000000000$" <<<"$output"
	grep -qE "^reserve: blocks [0-9]+-[0-9]+ \(([0-9]+) blocks, \1 expected\)" \
		<<<"$output"
	grep -q "^fm_roots\[0\].rr_root: $ROOT$" <<<"$output"
	grep -q "^fm_roots\[7\].rr_nodes: 0$" <<<"$output"
	grep -q "^checksum: valid$" <<<"$output"
	grep -q "^check: ok$" <<<"$output"
	[ "$(grep -c '^fm_roots' <<<"$output")" -eq 48 ]
}

@test "refdebug: flexbg refuses a bad flex group number" {
	rd -R "flexbg 1" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^flexbg: flex group 1 out of range (0..0)$" <<<"$output"
	rd -R "flexbg x" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^flexbg: bad flex group 'x': not a number$" <<<"$output"
	rd -R "flexbg" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^flexbg: usage: flexbg FLEXGROUP$" <<<"$output"
}

@test "refdebug: tree dumps one level, then two after raw inserts" {
	rdr "tree 0"
	grep -q "^flex group 0: root $ROOT height 1$" <<<"$output"
	grep -qE "^  node $ROOT level 0 entries [0-9]+ keys [0-9]+\.\.[0-9]+$" \
		<<<"$output"
	for i in $(seq 1 120); do
		echo "insert_record 0 $((8000 + i * 4)) 2 2"
	done >"$BATS_TEST_TMPDIR/ins"
	rd -w -f "$BATS_TEST_TMPDIR/ins" "$IMG"
	[ "$status" -eq 0 ]
	rdr "tree 0"
	grep -q "height 2$" <<<"$output"
	grep -q "^level 1:$" <<<"$output"
	[ "$(grep -c ' level 0 entries' <<<"$output")" -ge 2 ]
	[ "$(grep -c ' level 1 entries' <<<"$output")" -eq 1 ]
	rdr stats
	grep -q "height 2 nodes 4" <<<"$output"
}

@test "refdebug: node decodes a leaf entry by entry" {
	rdr "node $ROOT"
	grep -q "^node $ROOT (flex group 0)$" <<<"$output"
	grep -q "^bn_magic: 0x54424652$" <<<"$output"
	grep -q "^bn_blocknr: $ROOT$" <<<"$output"
	grep -q "^bn_max_entries: 81$" <<<"$output"
	grep -qE "^entry 0: rk_start [0-9]+ rv_len [0-9]+ rv_count [0-9]+$" \
		<<<"$output"
	grep -q "^check: ok$" <<<"$output"
}

@test "refdebug: node refuses a block that is no node, or out of range" {
	rd -R "node $META" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^node: block $META is not a tree node (bn_magic 0x424d4652" \
		<<<"$output"
	rdr "node -f $META"
	grep -q "check: FAIL: bn_magic 0x424d4652, expected 0x54424652" \
		<<<"$output"
	rd -R "node 16384" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^node: block 16384 out of range (0..16383)$" <<<"$output"
}

@test "refdebug: node names every failing check" {
	rdw "set_node -s $ROOT bn_reserved 5"
	rd -c -w -R "set_node -s $ROOT bn_owner 3" "$IMG"
	rd -c -R "node $ROOT" "$IMG"
	[ "$status" -eq 0 ]
	grep -q "^check: FAIL: bn_checksum" <<<"$output"
	grep -q "^check: FAIL: bn_owner 3, expected 0$" <<<"$output"
	grep -q "^check: FAIL: bn_reserved 0x5, expected 0$" <<<"$output"
}

@test "refdebug: records, with a range" {
	rdr "records 0"
	n=${#lines[@]}
	[ "$n" -ge 3 ]
	first=$(awk 'NR == 2 { print $2 }' <<<"$output")
	grep -qE "^start [0-9]+ len [0-9]+ count [0-9]+ blocks [0-9]+-[0-9]+$" \
		<<<"$output"
	rdr "records 0 $first"
	[ "${#lines[@]}" -eq $((n - 1)) ]
	rdr "records 0 $first $first"
	[ "${#lines[@]}" -eq 1 ]
	[ "$(echo "$output" | wc -l)" -eq 1 ]
	rd -R "records 0 5 x" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "bad end 'x'" <<<"$output"
	# an end before the start is an error, not an empty list
	rd -R "records 0 5 1" "$IMG"
	[ "$status" -eq 1 ]
	[ "$output" = "records: end 1 is before start 5" ]
	# the same records as the library sees them
	"$BIN/rflctl" "$IMG" records | awk '{ print $2 - 1, $3, $4 }' \
		>"$BATS_TEST_TMPDIR/lib"
	rdr "records 0"
	awk '{ print $2, $4, $6 }' <<<"$output" | diff - "$BATS_TEST_TMPDIR/lib"
}

@test "refdebug: refcount is 0 free, 1 used once, n shared" {
	"$BIN/rflctl" "$IMG" records | head -1 >"$BATS_TEST_TMPDIR/r"
	read -r fg start len count <"$BATS_TEST_TMPDIR/r"
	rdr "refcount $start"
	[ "$output" = "block $start: refcount $count" ]
	rdr "refcount $ROOT"
	[ "$output" = "block $ROOT: refcount 1" ]
	rdr "refcount 16383"
	[ "$output" = "block 16383: refcount 0" ]
	rd -R "refcount -1" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "bad block '-1'" <<<"$output"
}

@test "refdebug: every writing command refuses without -w" {
	sum=$(sha256sum <"$IMG")
	for c in "set_flexbg 0 fm_flags 1" "set_node $ROOT bn_level 1" \
		 "set_record $ROOT 0 rv_count 9" \
		 "fuzz node $ROOT bn_level ones" \
		 "insert_record 0 9000 1 2" "delete_record 0 9000"; do
		rd -R "$c" "$IMG"
		[ "$status" -eq 1 ]
		grep -q "is open read-only: this command writes (reopen with \
-w)" <<<"$output"
	done
	[ "$(sha256sum <"$IMG")" = "$sum" ]
}

@test "refdebug: set_node recomputes the checksum; -s keeps it stale" {
	rdw "set_node $ROOT bn_reserved 1"
	grep -q "^bn_reserved: 0x0000000000000000 -> 0x0000000000000001$" \
		<<<"$output"
	rd -c -R "node $ROOT" "$IMG"
	! grep -q "FAIL: bn_checksum" <<<"$output"
	grep -q "FAIL: bn_reserved" <<<"$output"
	run "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 4 ]
	! grep -q "bad checksum" <<<"$output"
	rd -c -w -R "set_node -s $ROOT bn_reserved 0" "$IMG"
	[ "$status" -eq 0 ]
	rd -c -R "node $ROOT" "$IMG"
	grep -q "FAIL: bn_checksum" <<<"$output"
	rd -c -w -R "set_node $ROOT bn_checksum 0" "$IMG"
	grep -q "^bn_checksum: 0x[0-9a-f]* -> 0x00000000$" <<<"$output"
	rd -c -R "node $ROOT" "$IMG"
	grep -q "FAIL: bn_checksum 0x00000000" <<<"$output"
}

@test "refdebug: a damaged tree needs -c to open" {
	rdw "set_node $ROOT bn_level 3"
	rd -R stats "$IMG"
	[ "$status" -eq 1 ]
	grep -q "flex group 0, block $META: Refcount tree is corrupt: bad \
height (use -c to open it anyway)" <<<"$output"
	rd -c -R stats "$IMG"
	[ "$status" -eq 0 ]
	grep -q "node $ROOT (level 0): wrong level, not descended" <<<"$output"
	rd -c -w -R "set_node $ROOT bn_level 0" "$IMG"
	rdr stats
	"$BIN/reflinkck" -fn "$IMG"
}

@test "refdebug: set refuses unknown fields and values out of range" {
	rd -w -R "set_node $ROOT bn_nosuch 1" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^set_node: unknown field 'bn_nosuch' of ext4_btree_node_head \
(fields: bn_magic " <<<"$output"
	rd -w -R "set_node $ROOT bn_level 65536" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^set_node: bn_level 65536 out of range (0..65535)$" \
		<<<"$output"
	rd -w -R "set_flexbg 0 fm_roots[8].rr_type 1" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "unknown field 'fm_roots\[8\].rr_type' of ext4_rfx_block" \
		<<<"$output"
	rd -w -R "set_record $ROOT 81 rv_len 1" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^set_record: index 81 out of range (0..80)$" <<<"$output"
	rd -w -R "set_record $ROOT 0 child 1" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "unknown field 'child' of refcount record" <<<"$output"
	rd -w -R "set_node $META bn_level 1" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "block $META is not a tree node" <<<"$output"
	"$BIN/reflinkck" -fn "$IMG"
}

@test "refdebug: set_flexbg edits every kind of field, checksum kept valid" {
	rdw "set_flexbg 0 fm_reserved[1] 0x10"
	grep -q "^fm_reserved\[1\]: 0x0000000000000000 -> 0x0000000000000010$" \
		<<<"$output"
	rd -c -R "flexbg 0" "$IMG"
	grep -q "^checksum: valid$" <<<"$output"
	grep -q "^check: FAIL: flags, a reserved field or the tail not zero" \
		<<<"$output"
	rd -c -w -R "set_flexbg 0 fm_reserved[1] 0" "$IMG"
	rdw "set_flexbg 0 fm_roots[0].rr_records 1000"
	run "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 4 ]
	rd -c -w -R "set_flexbg -s 0 fm_roots[0].rr_records 0" "$IMG"
	rd -c -R "flexbg 0" "$IMG"
	grep -q "^checksum: INVALID (stored 0x" <<<"$output"
	grep -Eq "^check: FAIL: bad checksum \(expected 0x[0-9a-f]{8}, found 0x[0-9a-f]{8}\)$" <<<"$output"
}

@test "refdebug: set_record edits a record; the recount disagrees" {
	rdw "set_record $ROOT 0 rv_count 9"
	grep -qE "^rv_count: [0-9]+ -> 9$" <<<"$output"
	rdr "node $ROOT"
	grep -q "^entry 0: .* rv_count 9$" <<<"$output"
	grep -q "^check: ok$" <<<"$output"
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 1 ]
}

@test "refdebug: fuzz verbs" {
	f() {	# VERB [ARG] -> "old -> new" of bn_generation
		run "$BIN/refdebug" -c -w -R "fuzz node $ROOT bn_generation $*" \
			"$IMG"
		[ "$status" -eq 0 ]
		sed -n 's/^bn_generation: //p' <<<"$output"
	}
	rd -R "node $ROOT" "$IMG"
	g=$(sed -n 's/^bn_generation: //p' <<<"$output")
	[ "$(f zeroes)" = "$g -> 0" ]
	[ "$(f ones)" = "0 -> 18446744073709551615" ]
	[ "$(f zeroes)" = "18446744073709551615 -> 0" ]
	[ "$(f firstbit)" = "0 -> 9223372036854775808" ]
	[ "$(f firstbit)" = "9223372036854775808 -> 0" ]
	[ "$(f middlebit)" = "0 -> 4294967296" ]
	[ "$(f middlebit)" = "4294967296 -> 0" ]
	[ "$(f lastbit)" = "0 -> 1" ]
	[ "$(f add)" = "1 -> 2" ]
	[ "$(f add 10)" = "2 -> 12" ]
	[ "$(f sub 13)" = "12 -> 18446744073709551615" ]
	a=$(f random 42)
	f zeroes
	b=$(f random 42)
	[ "${a#* -> }" = "${b#* -> }" ]
	[ "${a#* -> }" != 0 ]
	rd -c -w -R "fuzz node $ROOT bn_generation sideways" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^fuzz: unknown verb 'sideways'" <<<"$output"
	rd -c -w -R "fuzz node $ROOT bn_generation ones 3" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^fuzz: ones takes no argument$" <<<"$output"
	rd -c -w -R "fuzz disk 1 x ones" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^fuzz: unknown target 'disk'" <<<"$output"
	rd -c -w -R "fuzz -f flexbg 0 fm_flags ones" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^fuzz: -f is for nodes and records only$" <<<"$output"
}

@test "refdebug: fuzz targets flexbg, node and record; -s stays stale" {
	rdw "fuzz flexbg 0 fm_version add"
	grep -q "^fm_version: 2 -> 3$" <<<"$output"
	rd -c -R "flexbg 0" "$IMG"
	grep -q "^check: FAIL: unsupported version" <<<"$output"
	rd -c -w -R "fuzz flexbg 0 fm_version sub" "$IMG"
	rdw "fuzz record $ROOT 0 rv_len zeroes"
	grep -qE "^rv_len: [0-9]+ -> 0$" <<<"$output"
	rdw "fuzz -s node $ROOT bn_key_size lastbit"
	grep -q "^bn_key_size: 4 -> 5$" <<<"$output"
	rd -c -R "node $ROOT" "$IMG"
	grep -q "FAIL: bn_checksum" <<<"$output"
	grep -q "FAIL: bn_key_size 5, expected 4" <<<"$output"
}

@test "refdebug: raw insert_record and delete_record bypass the counts" {
	rdw "insert_record 0 9000 4 1"
	rdr "records 0 9000"
	[ "$output" = "start 9000 len 4 count 1 blocks 9001-9004" ]
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 1 ]
	rd -w -R "insert_record 0 9000 4 1" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^insert_record: flex group 0: a record starts there already$" \
		<<<"$output"
	rdw "delete_record 0 9000"
	"$BIN/rfl_recount" "$IMG"
	rd -w -R "delete_record 0 9000" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^delete_record: flex group 0: no record starts there$" \
		<<<"$output"
	rd -w -R "insert_record 0 9000 4" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "usage: insert_record FLEXGROUP START LEN COUNT" <<<"$output"
	rd -w -R "insert_record 0 9000 4 4294967296" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "count 4294967296 out of range" <<<"$output"
}

@test "refdebug: -z writes an undo file that e2undo replays" {
	command -v e2undo >/dev/null || skip "e2undo is not installed"
	sum=$(sha256sum <"$IMG")
	rd -w -z "$BATS_TEST_TMPDIR/undo" -R "set_node $ROOT bn_level 2" \
		"$IMG"
	[ "$status" -eq 0 ]
	[ "$(sha256sum <"$IMG")" != "$sum" ]
	e2undo "$BATS_TEST_TMPDIR/undo" "$IMG"
	[ "$(sha256sum <"$IMG")" = "$sum" ]
	rd -z "$BATS_TEST_TMPDIR/undo2" -R stats "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^refdebug: -z needs -w" <<<"$output"
}

@test "refdebug: owners names every inode and logical block of a block" {
	rdr "owners $(debugfs -R 'bmap /a 7' "$IMG" 2>/dev/null)"
	[ "${#lines[@]}" -eq 2 ]
	grep -qE "^block [0-9]+: inode [0-9]+ lblk 7 /a$" <<<"$output"
	grep -qE "^block [0-9]+: inode [0-9]+ lblk 7 /a2$" <<<"$output"
	rdr "owners $ROOT"
	[ "$output" = "block $ROOT: no file maps it" ]
	rd -R "owners 99999999" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^owners: block 99999999 out of range" <<<"$output"
}

@test "refdebug: shared lists shared ranges and the other files" {
	rdr "shared /b"
	grep -qE "^lblk 0-0 blocks ([0-9]+)-\1 count 3 with /a lblk 5-5, \
/a2 lblk 5-5$" <<<"$output"
	rdr "shared /c"
	[ "$output" = "/c: no shared blocks" ]
	rd -R "shared /nothere" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^shared: /nothere: File not found" <<<"$output"
}

# nothing_left: IMG checks clean with reflinkck and, after --strip,
# stock e2fsck; its free counts are FREE (blocks inodes)
nothing_left() {
	run "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[ "$(free_counts)" = "$1" ] || { free_counts; return 1; }
	cp "$IMG" "$IMG.s"
	"$BIN/mkreflink" -q --strip "$IMG.s"
	run e2fsck -fn "$IMG.s"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
}

free_counts() {
	dumpe2fs -h "$IMG" 2>/dev/null |
		awk '/^Free (blocks|inodes):/ { printf "%s ", $3 }'
}

@test "refdebug: a cp that fails on a full image leaves no inode or block behind" {
	local i=0 before
	head -c 1M /dev/urandom >"$BATS_TEST_TMPDIR/h"
	while "$BIN/rflctl" -w "$IMG" touch "/f$i" 2>/dev/null &&
	      "$BIN/rflctl" -w "$IMG" write "/f$i" 0 "$BATS_TEST_TMPDIR/h" \
			2>/dev/null; do
		i=$((i + 1))
	done
	[ "$(dumpe2fs -h "$IMG" 2>/dev/null |
	     awk '/^Free blocks:/ { print $3 }')" -eq 0 ]
	before=$(free_counts)
	# the data does not fit: the new file is removed again
	rd -w -R "cp $BATS_TEST_TMPDIR/h /new" "$IMG"
	[ "$status" -ne 0 ]
	[[ "$output" == "cp: /new: "* ]]
	rd -R "ls /" "$IMG"
	[[ "$output" != *" new "* ]]
	nothing_left "$before"
	# the root directory full too, and no block to grow it: no name,
	# so the inode taken for it is freed again
	i=0
	while "$BIN/rflctl" -w "$IMG" touch "/pad_with_a_long_name_$i" \
			2>/dev/null; do
		i=$((i + 1))
	done
	before=$(free_counts)
	rd -w -R "cp $BATS_TEST_TMPDIR/h /new" "$IMG"
	[ "$status" -ne 0 ]
	[[ "$output" == "cp: /new: "* ]]
	nothing_left "$before"
}

@test "refdebug: reflink, write, punch, rm, cp keep the counts right" {
	head -c 7000 /dev/urandom >"$BATS_TEST_TMPDIR/h"
	head -c 1500 /dev/urandom >"$BATS_TEST_TMPDIR/w"
	rd -w -f - "$IMG" <<-EOF
	reflink /a /a3
	cp $BATS_TEST_TMPDIR/h /h
	reflink /h /h2
	write /h2 1000 $BATS_TEST_TMPDIR/w
	punch /a3 0 3
	rm /a2
	EOF
	[ "$status" -eq 0 ]
	"$BIN/rfl_recount" "$IMG"
	"$BIN/reflinkck" -fn "$IMG"
	debugfs -R "dump /h $BATS_TEST_TMPDIR/h.out" "$IMG" 2>/dev/null
	cmp "$BATS_TEST_TMPDIR/h" "$BATS_TEST_TMPDIR/h.out"
	cp "$BATS_TEST_TMPDIR/h" "$BATS_TEST_TMPDIR/h2"
	dd if="$BATS_TEST_TMPDIR/w" of="$BATS_TEST_TMPDIR/h2" bs=1000 seek=1 \
	   conv=notrunc status=none
	debugfs -R "dump /h2 $BATS_TEST_TMPDIR/h2.out" "$IMG" 2>/dev/null
	cmp "$BATS_TEST_TMPDIR/h2" "$BATS_TEST_TMPDIR/h2.out"
	rdr "shared /h"
	grep -qE "^lblk 3-6 .* with /h2 lblk 3-6$" <<<"$output"
	rdr "shared /a3"
	grep -q "^lblk 4-" <<<"$output"
	! grep -q "/a2" <<<"$output"
}

@test "refdebug: dedupe shares equal blocks only" {
	head -c 4096 /dev/urandom >"$BATS_TEST_TMPDIR/x"
	rd -w -f - "$IMG" <<-EOF
	cp $BATS_TEST_TMPDIR/x /x1
	cp $BATS_TEST_TMPDIR/x /x2
	dedupe /x1 0 /x2 0 4
	dedupe /x1 0 /c 0 1
	EOF
	[ "$status" -eq 0 ]
	# -f echoes each command before its output, as debugfs -f does
	[ "${lines[0]}" = "refdebug: cp $BATS_TEST_TMPDIR/x /x1" ]
	[ "${lines[2]}" = "refdebug: dedupe /x1 0 /x2 0 4" ]
	[ "${lines[3]}" = "dedupe: 4 blocks shared" ]
	[ "${lines[4]}" = "refdebug: dedupe /x1 0 /c 0 1" ]
	[ "${lines[5]}" = "dedupe: contents differ: nothing shared" ]
	rdr "shared /x2"
	grep -qE "^lblk 0-" <<<"$output"
	grep -qE "^lblk [0-9]+-3 " <<<"$output"
	! grep -v "count 2 with /x1 lblk" <<<"$output"
	"$BIN/rfl_recount" "$IMG"
	"$BIN/reflinkck" -fn "$IMG"
}

@test "refdebug: file operations refuse bad input, changing nothing" {
	sum=$(sha256sum <"$IMG")
	for c in "reflink /a /b" "reflink /nothere /z" "punch /a 5 2" \
		 "punch /a x 2" "rm /nothere" "rm /lost+found" \
		 "cp /nothere/at/all /z" "write /a 0 /nothere" \
		 "dedupe /a 0 /nothere 0 1" "reflink /a /nodir/z"; do
		rd -w -R "$c" "$IMG"
		[ "$status" -eq 1 ]
		[ "${#lines[@]}" -eq 1 ]
		grep -q "^${c%% *}: " <<<"$output"
	done
	"$BIN/rfl_recount" "$IMG"
	for c in "reflink /a /z" "dedupe /a 0 /b 0 1" "write /a 0 /etc/hostname" \
		 "punch /a 0 1" "rm /a" "cp /etc/hostname /z"; do
		rd -R "$c" "$IMG"
		[ "$status" -eq 1 ]
		grep -q "is open read-only" <<<"$output"
	done
}

@test "refdebug: dump, restore, dump gives the same text" {
	rdr "dump $BATS_TEST_TMPDIR/d1"
	[ -z "$output" ]
	head -1 "$BATS_TEST_TMPDIR/d1" | grep -q "^# refdebug dump v1$"
	grep -q "^flexgroup 0 meta $META$" "$BATS_TEST_TMPDIR/d1"
	grep -q "^field fm_magic 0x424d4652$" "$BATS_TEST_TMPDIR/d1"
	grep -q "^field fm_roots\[0\].rr_type 1$" "$BATS_TEST_TMPDIR/d1"
	! grep -q "fm_generation\|rr_root" "$BATS_TEST_TMPDIR/d1"
	[ "$(grep -c '^record ' "$BATS_TEST_TMPDIR/d1")" -eq \
	  "$("$BIN/rflctl" "$IMG" records | wc -l)" ]
	rdw "restore $BATS_TEST_TMPDIR/d1"
	grep -qE "^flex group 0: [0-9]+ records restored$" <<<"$output"
	rdr "dump -"
	diff - "$BATS_TEST_TMPDIR/d1" <<<"$output"
	"$BIN/rfl_recount" "$IMG"
	"$BIN/reflinkck" -fn "$IMG"
	# the root moved: a new tree was written
	rdr "flexbg 0"
	! grep -q "^fm_roots\[0\].rr_root: $ROOT$" <<<"$output"
}

@test "refdebug: restore of an edited dump repairs a damaged tree" {
	rdr "dump $BATS_TEST_TMPDIR/good"
	rdw "set_record $ROOT 0 rv_count 7"
	rdw "set_node -s $ROOT bn_level 2"
	run "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 4 ]
	rd -c -R "dump $BATS_TEST_TMPDIR/bad" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "records are missing from the dump" <<<"$output"
	rd -c -w -R "restore $BATS_TEST_TMPDIR/good" "$IMG"
	[ "$status" -eq 0 ]
	grep -q "the old tree is damaged" <<<"$output"
	"$BIN/rfl_recount" "$IMG"
	"$BIN/reflinkck" -fy "$IMG" >/dev/null || true
	"$BIN/reflinkck" -fn "$IMG"
	# by hand: a wrong count edited back
	sed 's/^\(record [0-9]* [0-9]*\) 2$/\1 5/' "$BATS_TEST_TMPDIR/good" \
		>"$BATS_TEST_TMPDIR/edited"
	rdw "restore $BATS_TEST_TMPDIR/edited"
	run "$BIN/rfl_recount" "$IMG"
	[ "$status" -eq 1 ]
	rdw "restore $BATS_TEST_TMPDIR/good"
	"$BIN/reflinkck" -fn "$IMG"
}

@test "refdebug: restore rewrites a damaged metadata block" {
	rdr "dump $BATS_TEST_TMPDIR/good"
	rdw "set_flexbg 0 fm_flags 4"
	rd -R stats "$IMG"
	[ "$status" -eq 1 ]
	rd -c -w -R "restore $BATS_TEST_TMPDIR/good" "$IMG"
	[ "$status" -eq 0 ]
	grep -q "damaged metadata block $META rewritten" <<<"$output"
	"$BIN/rfl_recount" "$IMG"
	rdr "flexbg 0"
	grep -q "^fm_flags: 0x00000000$" <<<"$output"
	"$BIN/reflinkck" -fy "$IMG" >/dev/null || true
	"$BIN/reflinkck" -fn "$IMG"
}

@test "refdebug: restore refuses a bad dump and writes nothing" {
	rdr "dump $BATS_TEST_TMPDIR/d"
	sum=$(sha256sum <"$IMG")
	bad() {	# SED-EXPRESSION MESSAGE
		sed "$1" "$BATS_TEST_TMPDIR/d" >"$BATS_TEST_TMPDIR/b"
		rd -w -R "restore $BATS_TEST_TMPDIR/b" "$IMG"
		[ "$status" -eq 1 ]
		[ "${#lines[@]}" -eq 1 ]
		grep -q "^restore: $BATS_TEST_TMPDIR/b: line [0-9]*: $2" \
			<<<"$output"
	}
	bad 's/^field fm_flags/field fm_nosuch/' "unknown field 'fm_nosuch'"
	bad 's/^field fm_version 2/field fm_version 70000/' \
		"fm_version: bad value '70000'"
	bad 's/^flexgroup 0 meta .*/flexgroup 0 meta 5/' \
		"flex group 0: metadata block 5, but the image has $META"
	bad '$a record 1 1 2' "record 1 is not after the previous one"
	bad '$a record 1 2' "cannot parse 'record 1 2'"
	bad 's/^flexgroup 0/flexgroup 9/' "flex group 9 out of range (0..0)"
	bad '2i field fm_flags 0' "expected 'flexgroup N ...' first"
	[ "$(sha256sum <"$IMG")" = "$sum" ]
	rd -w -R "restore $BATS_TEST_TMPDIR/nothere" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "nothere: No such file" <<<"$output"
	rd -R "restore $BATS_TEST_TMPDIR/d" "$IMG"
	[ "$status" -eq 1 ]
	grep -q "is open read-only" <<<"$output"
}

@test "refdebug: check runs the reflinkck passes without writing" {
	rdr check
	grep -q "^check: exit status 0$" <<<"$output"
	rdw "set_record $ROOT 0 rv_count 9"
	sum=$(sha256sum <"$IMG")
	rd -R check "$IMG"
	[ "$status" -eq 1 ]
	grep -q "^check: exit status 4$" <<<"$output"
	[ "$(sha256sum <"$IMG")" = "$sum" ]
	# changes made in the session are seen
	rd -w -f - "$IMG" <<-EOF
	set_record $ROOT 0 rv_count 2
	reflink /c /c2
	check
	EOF
	echo "$output"
	grep -q "^check: exit status 0$" <<<"$output"
}

@test "refdebug: every command is in the man page" {
	local man="$REPO/debug/refdebug.8" c
	[ -f "$man" ]
	for c in $(sed -n 's/^\t\([a-z_]*\);$/\1/p' \
		   "$REPO/debug/refdebug_cmds.ct"); do
		grep -qE "^\.(B|BI|BR) $c( |$)" "$man" ||
			{ echo "$c is not documented"; return 1; }
	done
	if command -v man >/dev/null; then
		run man --warnings -l "$man"
		[ "$status" -eq 0 ]
	fi
}

@test "refdebug: stats and du on an image without files (no ranges)" {
	# no file's blocks to sort: once qsort(NULL, 0) under UBSan (found
	# by tests/fuzz/mutate-images)
	"$BIN/mkreflink" -q -F -b 1024 -G 2 "$IMG" 8M
	rd -R stats "$IMG"
	[ "$status" -eq 0 ]
	[[ "$output" != *"runtime error"* ]]
	rd -R "du /" "$IMG"
	[ "$status" -eq 0 ]
	[[ "$output" != *"runtime error"* ]]
}

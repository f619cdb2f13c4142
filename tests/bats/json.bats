#!/usr/bin/env bats
# json.bats - --format json of reflinkck (summary and problems) and of
# refdebug stats, du, shared and records: every output parses with jq
# and carries the numbers of the text output.

bats_require_minimum_version 1.5.0

load common

setup() {
	need_built mkreflink refdebug reflinkck
	need_tools jq
	SRC="$BATS_TEST_TMPDIR/src"
	IMG="$BATS_TEST_TMPDIR/img"
	src_tree
	cat "$SRC/a" "$SRC/a" >"$SRC/aa"
	printf 'a "quoted"\\name\n' >"$SRC/d/we\"ird"
	"$BIN/mkreflink" -q -b 4096 -d "$SRC" "$IMG" 64M
}

rdj() {
	"$BIN/refdebug" --format json -R "$1" "$IMG" 2>/dev/null
}

@test "reflinkck --format json: a clean image, the summary line's numbers" {
	run --separate-stderr "$BIN/reflinkck" -fn "$IMG"
	[ "$status" -eq 0 ]
	text=$output
	run --separate-stderr "$BIN/reflinkck" --format json -fn "$IMG"
	[ "$status" -eq 0 ]
	json=$output
	jq -e . <<<"$json" >/dev/null
	[ "$(jq -r .device <<<"$json")" = "$IMG" ]
	[ "$(jq '.problems | length' <<<"$json")" -eq 0 ]
	[ "$(jq .exit_status <<<"$json")" -eq 0 ]
	want=$(sed -n 's/^.*: \([0-9]*\) extents, \([0-9]*\) shared blocks, \([0-9]*\) records, \([0-9]*\) tree blocks, \([0-9]*\) flex groups$/\1 \2 \3 \4 \5/p' <<<"$text")
	[ -n "$want" ]
	[ "$(jq -r '.summary | "\(.extents) \(.shared_blocks) \(.records) \(.tree_blocks) \(.flex_groups)"' <<<"$json")" = "$want" ]
}

@test "reflinkck --format json: problems and answers as the text says them" {
	golden everything
	run --separate-stderr "$BIN/reflinkck" -fn "$IMG"
	text=$output
	rc=$status
	run --separate-stderr "$BIN/reflinkck" --format json -fn "$IMG"
	[ "$status" -eq "$rc" ]
	json=$output
	[ "$(jq .exit_status <<<"$json")" -eq "$rc" ]
	n=$(jq '.problems | length' <<<"$json")
	[ "$n" -gt 0 ]
	[ "$(jq .left <<<"$json")" -eq "$n" ]
	# each message is a line of the text, followed by its question
	for ((i = 0; i < n; i++)); do
		msg=$(jq -r ".problems[$i].message" <<<"$json")
		q=$(jq -r ".problems[$i].question" <<<"$json")
		[ "$(jq -r ".problems[$i].answer" <<<"$json")" = no ]
		grep -qxF -- "$msg" <<<"$text"
		grep -A1 -xF -- "$msg" <<<"$text" | grep -qxF "$q? no"
	done
	# -y: the same problems, answered yes, then a clean second run
	cp "$IMG" "$IMG.y"
	run --separate-stderr "$BIN/reflinkck" --format json -fy "$IMG.y"
	[ "$(jq .exit_status <<<"$output")" -eq "$status" ]
	[ "$(jq '[.problems[] | select(.answer == "yes")] | length' \
		<<<"$output")" -ge "$n" ]
	[ "$(jq .fixed <<<"$output")" -gt 0 ]
	run --separate-stderr "$BIN/reflinkck" --format json -fn "$IMG.y"
	[ "$status" -eq 0 ]
	[ "$(jq '.problems | length' <<<"$output")" -eq 0 ]
	# no questions in JSON
	run "$BIN/reflinkck" --format json -f "$IMG"
	[ "$status" -eq 16 ]
	run "$BIN/reflinkck" --format xml -fn "$IMG"
	[ "$status" -eq 16 ]
}

@test "refdebug stats: the text's numbers" {
	text=$(rdq stats)
	json=$(rdj stats)
	jq -e . <<<"$json" >/dev/null
	t=$(sed -n 's/^total: trees \([0-9]*\) nodes \([0-9]*\) records \([0-9]*\) shared blocks \([0-9]*\)$/\1 \2 \3 \4/p' <<<"$text")
	[ "$(jq -r '.total | "\(.trees) \(.nodes) \(.records) \(.shared_blocks)"' <<<"$json")" = "$t" ]
	s=$(sed -n 's/^space: total \([0-9]*\) exclusive \([0-9]*\) shared \([0-9]*\) saved \([0-9]*\) bytes$/\1 \2 \3 \4/p' <<<"$text")
	[ "$(jq -r '.space | "\(.total) \(.exclusive) \(.shared) \(.saved)"' <<<"$json")" = "$s" ]
	g=$(sed -n 's/^flex group 0: height \([0-9]*\) nodes \([0-9]*\) records \([0-9]*\) shared blocks \([0-9]*\)$/\1 \2 \3 \4/p' <<<"$text")
	[ "$(jq -r '.flex_groups[0] | "\(.height) \(.nodes) \(.records) \(.shared_blocks)"' <<<"$json")" = "$g" ]
	[ "$(jq .block_size <<<"$json")" -eq 4096 ]
}

@test "refdebug du: every line's numbers and paths, names escaped" {
	text=$(rdq "du /" | tail -n +2)
	json=$(rdj "du /")
	jq -e . <<<"$json" >/dev/null
	[ "$(jq '.du | length' <<<"$json")" -eq "$(wc -l <<<"$text")" ]
	[ "$(jq -r '.du[] | "\(.total) \(.exclusive) \(.shared) \(.saved)  \(.path)"' <<<"$json")" = \
	  "$(awk '{ n = $1 " " $2 " " $3 " " $4 "  "; sub(/^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+  /, ""); print n $0 }' <<<"$text")" ]
	jq -e '.du[] | select(.path == "/d/we\"ird")' <<<"$json" >/dev/null
	[ "$(rdj "du -s /d" | jq -r '.du[0].path')" = /d ]
}

@test "refdebug shared and records: the text's numbers" {
	text=$(rdq "shared /a")
	json=$(rdj "shared /a")
	jq -e . <<<"$json" >/dev/null
	[ "$(jq -r .file <<<"$json")" = /a ]
	[ "$(jq '.shared | length' <<<"$json")" -eq "$(wc -l <<<"$text")" ]
	[ "$(jq -r '.shared[] | "lblk \(.lblk_first)-\(.lblk_last) blocks \(.block_first)-\(.block_last) count \(.count) with " + ([.with[] | "\(.path) lblk \(.lblk_first)-\(.lblk_last)"] | join(", "))' <<<"$json")" = "$text" ]
	[ "$(rdj "shared /d/u" | jq '.shared | length')" -eq 0 ]
	text=$(rdq "records 0")
	json=$(rdj "records 0")
	[ "$(jq -r '.records[] | "start \(.start) len \(.len) count \(.count) blocks \(.first_block)-\(.last_block)"' <<<"$json")" = "$text" ]
	[ "$(jq .flex_group <<<"$json")" -eq 0 ]
}

@test "refdebug format: switches inside the shell; bad values refused" {
	run --separate-stderr "$BIN/refdebug" -f - "$IMG" <<-EOF
	format json
	records 0
	format
	format text
	EOF
	[ "$status" -eq 0 ]
	grep -x '{"flex_group": 0, .*}' <<<"$output" | jq -e . >/dev/null
	grep -qx json <<<"$output"
	run "$BIN/refdebug" --format yaml -R stats "$IMG"
	[ "$status" -eq 1 ]
}

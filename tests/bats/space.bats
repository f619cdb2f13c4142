#!/usr/bin/env bats
# space.bats - refdebug du, the space line of refdebug stats and of the
# mkreflink -d summary, against numbers worked out from the source tree.
#
# mkreflink -d stores every distinct non-zero block once and leaves zero
# blocks as holes, so from the tree alone (4 KiB blocks, files of whole
# blocks): total = every non-zero block, exclusive = blocks whose contents
# occur once in the whole tree, shared = distinct contents that occur
# twice or more (once each), saved = total - exclusive - shared.

bats_require_minimum_version 1.5.0

load common

setup() {
	need_built mkreflink refdebug
	need_tools python3
	SRC="$BATS_TEST_TMPDIR/src"
	IMG="$BATS_TEST_TMPDIR/img"
	SEED=${SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
	echo "# SEED=$SEED" >&3
}

# A tree with duplicates across files, inside a file, and zero blocks
make_tree() {
	python3 - "$SRC" "$SEED" <<-'EOF'
	import os, random, sys
	root, seed = sys.argv[1], int(sys.argv[2])
	rnd = random.Random(seed)
	pool = [bytes(rnd.getrandbits(8) for _ in range(4096))
	        for _ in range(12)]
	zero = bytes(4096)
	for d in ("", "d", "d/e", "f"):
	    os.makedirs(os.path.join(root, d), exist_ok=True)
	for i in range(14):
	    d = rnd.choice(("", "d", "d/e", "f"))
	    blocks = []
	    for _ in range(rnd.randint(1, 6)):
	        r = rnd.random()
	        if r < 0.1:
	            blocks.append(zero)
	        elif r < 0.6:
	            blocks.append(rnd.choice(pool))
	        else:
	            blocks.append(bytes(rnd.getrandbits(8)
	                                for _ in range(4096)))
	    with open(os.path.join(root, d, "file%d" % i), "wb") as f:
	        f.write(b"".join(blocks))
	EOF
}

# expect PREFIX: "total exclusive shared saved" for the files under
# PREFIX ("" for all), with the block counts of the whole tree
expect() {
	python3 - "$SRC" "$1" <<-'EOF'
	import hashlib, os, sys
	root, prefix = sys.argv[1], sys.argv[2]
	blocks = []
	for d, _, files in os.walk(root):
	    for n in files:
	        p = os.path.join(d, n)
	        rel = "/" + os.path.relpath(p, root)
	        data = open(p, "rb").read()
	        for o in range(0, len(data), 4096):
	            b = data[o:o + 4096]
	            if b.count(0) != len(b):
	                blocks.append((rel, hashlib.sha256(b).digest()))
	count = {}
	for _, h in blocks:
	    count[h] = count.get(h, 0) + 1
	mine = [h for rel, h in blocks
	        if prefix == "" or rel == prefix or rel.startswith(prefix + "/")]
	total = len(mine)
	excl = sum(1 for h in mine if count[h] == 1)
	shared = len({h for h in mine if count[h] > 1})
	print(total * 4096, excl * 4096, shared * 4096,
	      (total - excl - shared) * 4096)
	EOF
}

# du_of ARGS...: "total exclusive shared saved" of du's last line
du_of() {
	rdq "du $*" | tail -1 |
		awk '{ print $1, $2, $3, $4 }'
}

@test "du -s, du of a directory and of a file match the tree's blocks" {
	make_tree
	run "$BIN/mkreflink" -b 4096 -d "$SRC" "$IMG" 64M
	echo "$output"
	[ "$status" -eq 0 ]
	want=$(expect "")
	echo "want $want"
	[ "$(du_of -s /)" = "$want" ]
	# the -d summary and stats give the same totals
	set -- $want
	want_line="space: total $1 exclusive $2 shared $3 saved $4 bytes"
	[[ $output == *"$want_line"* ]]
	run "$BIN/refdebug" -R stats "$IMG"
	[[ $output == *"$want_line"* ]]
	for d in /d /d/e /f /file0 /d/file3; do
		[ -e "$SRC$d" ] || continue
		echo "$d: want $(expect "$d") got $(du_of -s "$d")"
		[ "$(du_of -s "$d")" = "$(expect "$d")" ]
	done
}

@test "du without -s: a line per file, then the path; each inode once" {
	make_tree
	"$BIN/mkreflink" -q -b 4096 -d "$SRC" "$IMG" 64M
	run --separate-stderr "$BIN/refdebug" -R "du /d" "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(printf '%14s %14s %14s %14s  %s' Total \
		Exclusive 'Set shared' Saved Filename)" ]
	n=$(find "$SRC/d" -type f | wc -l)
	[ "${#lines[@]}" -eq $((n + 2)) ]
	[ "$(awk '{ print $5 }' <<<"${lines[-1]}")" = /d ]
	# every file's own line, against the tree
	for ((i = 1; i <= n; i++)); do
		f=$(awk '{ print $5 }' <<<"${lines[i]}")
		[ "$(awk '{ print $1, $2, $3, $4 }' <<<"${lines[i]}")" = \
		  "$(expect "$f")" ]
	done
	# a path twice is one set: the same numbers as once
	[ "$(du_of -s /d)" = "$(expect /d)" ]
	run "$BIN/refdebug" -R "du -s /nothere" "$IMG"
	[ "$status" -eq 1 ]
}

@test "du after a clone: the clone's blocks move from exclusive to shared" {
	make_tree
	"$BIN/mkreflink" -q -b 4096 -d "$SRC" "$IMG" 64M
	f=$(cd "$SRC" && find . -type f | sort | head -1)
	f=${f#.}
	run "$BIN/refdebug" -w -R "reflink $f /clone" "$IMG"
	echo "$output"
	[ "$status" -eq 0 ]
	cp "$SRC$f" "$SRC/clone"
	[ "$(du_of -s /)" = "$(expect "")" ]
}

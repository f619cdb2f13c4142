#!/usr/bin/env bats
# refdebug_random.bats - thousands of random reflink, dedupe, write,
# punch, rm and cp operations run through refdebug -f scripts, against a
# model of every file's bytes kept on the host (a Python generator makes
# the scripts and updates the model as it goes).
#
# After every script: the trees equal a recount from the extents
# (rfl_recount).  At the end: reflinkck -fn is clean, the kernel's
# read-only mount shows the model's bytes, and after mkreflink --strip
# stock e2fsck -fn is clean.
#
# RD_OPS sets the number of operations (5000 by default; more for a
# longer run), SEED replays a run (the seed is printed).

bats_require_minimum_version 1.5.0

load common

# bats file_tags=no_asan

setup() {
	need_built refdebug mkreflink rfl_recount reflinkck
	need_tools python3 e2fsck
}

teardown() {
	unmount_mnt
}

# gen.py DIR SEED OPS BATCH: writes DIR/src (initial files), then
# DIR/script.1.. (refdebug commands, BATCH a script), DIR/data/ (host
# files they write), DIR/model/ (every file's bytes at the end); prints
# the number of scripts
gen() {
	python3 - "$@" <<'PY'
import os, random, sys

out, seed, nops, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
	int(sys.argv[4])
BS = 1024
MAXF = 40			# files at most
MAXSZ = 192 * 1024		# no file grows past this
r = random.Random(seed)
model = {}
counter = [0]

def newname():
	counter[0] += 1
	return "/f%d" % counter[0]

def rbytes(n):
	return bytes(r.getrandbits(8) for _ in range(n)) if n < 64 else \
		r.randbytes(n)

os.makedirs(out + "/src")
os.makedirs(out + "/data")
for i in range(8):
	n = newname()
	size = r.choice([0, 1, 100, 1024, 3000, 20000, 65536, 150000])
	model[n] = bytearray(rbytes(size))
	open(out + "/src" + n, "wb").write(model[n])

def blocks(f):
	return (len(model[f]) + BS - 1) // BS

def data_file(data):
	counter[0] += 1
	p = "%s/data/d%d" % (out, counter[0])
	open(p, "wb").write(data)
	return p

def op_reflink():
	if len(model) >= MAXF:
		return op_rm()
	s = r.choice(sorted(model))
	d = newname()
	model[d] = bytearray(model[s])
	return "reflink %s %s" % (s, d)

def op_rm():
	if len(model) <= 3:
		return op_reflink()
	f = r.choice(sorted(model))
	del model[f]
	return "rm %s" % f

def op_cp():
	if len(model) >= MAXF:
		return op_rm()
	d = newname()
	data = rbytes(r.choice([0, 5, 1024, 4000, 9000]))
	model[d] = bytearray(data)
	return "cp %s %s" % (data_file(data), d)

def op_write():
	f = r.choice(sorted(model))
	size = len(model[f])
	n = r.choice([1, 10, 700, 1024, 2048, 5000])
	if r.random() < 0.7 and size:
		off = r.randrange(0, size)
	else:
		off = r.randrange(0, size + 8 * BS)
	if off + n > MAXSZ:
		return op_punch()
	data = rbytes(n)
	m = model[f]
	if off > len(m):
		m.extend(bytes(off - len(m)))
	m[off:off + n] = data
	return "write %s %d %s" % (f, off, data_file(data))

def op_punch():
	f = r.choice(sorted(model))
	nb = blocks(f) + 2
	s = r.randrange(0, nb)
	e = s + r.choice([0, 0, 1, 3, 10, 40])
	m = model[f]
	lo, hi = s * BS, min((e + 1) * BS, len(m))
	if lo < hi:
		m[lo:hi] = bytes(hi - lo)
	return "punch %s %d %d" % (f, s, e)

def rng(f, b, n):
	m = model[f]
	return bytes(m[b * BS:min((b + n) * BS, len(m))])

def op_dedupe():
	files = [f for f in sorted(model) if blocks(f)]
	if not files:
		return op_cp()
	f1 = r.choice(files)
	b1 = r.randrange(0, blocks(f1))
	n = r.randint(1, min(16, blocks(f1) - b1))
	want = rng(f1, b1, n)
	# mostly look for an equal range at the same offset (clones)
	cands = [f for f in files if f != f1 and blocks(f) >= b1 + n and
		 rng(f, b1, n) == want]
	if cands and r.random() < 0.8:
		f2, b2 = r.choice(cands), b1
	else:
		f2 = r.choice(files)
		if blocks(f2) < n or f2 == f1:
			return op_write()
		b2 = r.randrange(0, blocks(f2) - n + 1)
	# equal or not, no byte changes: equal ranges end at the same
	# place in both files, so not even a size changes
	return "dedupe %s %d %s %d %d" % (f1, b1, f2, b2, n)

ops = [op_reflink, op_reflink, op_dedupe, op_dedupe, op_write, op_write,
       op_punch, op_rm, op_cp]
nscript = 0
done = 0
while done < nops:
	nscript += 1
	k = min(batch, nops - done)
	with open("%s/script.%d" % (out, nscript), "w") as s:
		for _ in range(k):
			s.write(r.choice(ops)() + "\n")
	done += k
d = "%s/model" % out
os.makedirs(d)
for f, m in model.items():
	open(d + f, "wb").write(m)
print(nscript)
PY
}

@test "refdebug: random reflink/dedupe/write/punch/rm against a model" {
	local dir="$BATS_TEST_TMPDIR/r" img="$BATS_TEST_TMPDIR/img" n i
	local ops=${RD_OPS:-5000}

	SEED=${SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
	echo "# SEED=$SEED RD_OPS=$ops" >&3
	echo "SEED=$SEED"
	n=$(gen "$dir" "$SEED" "$ops" 1000)
	"$BIN/mkreflink" -q -F -b 1024 -G 2 -d "$dir/src" "$img" 64M
	for i in $(seq 1 "$n"); do
		run "$BIN/refdebug" -w -f "$dir/script.$i" "$img"
		echo "script $i:"
		grep -v "^dedupe: " <<<"$output" | head -20
		[ "$status" -eq 0 ]
		run "$BIN/rfl_recount" "$img"
		echo "after script $i: $output"
		[ "$status" -eq 0 ]
	done
	run "$BIN/reflinkck" -fn "$img"
	echo "$output"
	[ "$status" -eq 0 ]
	# some sharing is left to check
	"$BIN/refdebug" -R stats "$img" | tail -1

	MNT="$BATS_TEST_TMPDIR/mnt"
	mkdir -p "$MNT"
	if mount -o loop,ro "$img" "$MNT" 2>/dev/null; then
		diff -r -x lost+found "$dir/model" "$MNT"
		umount "$MNT"
	else
		# no loop devices here: debugfs reads the files instead
		mkdir -p "$dir/out"
		debugfs -R "rdump / $dir/out" "$img" >/dev/null 2>&1
		rm -rf "$dir/out/lost+found"
		diff -r "$dir/model" "$dir/out"
	fi

	"$BIN/mkreflink" --strip -q "$img"
	run e2fsck -fn "$img"
	echo "$output"
	[ "$status" -eq 0 ]
}

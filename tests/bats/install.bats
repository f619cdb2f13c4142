#!/usr/bin/env bats
# install.bats - make install / uninstall, and the Debian package.
#
# make install puts exactly the three tools in sbin/, reflinkck's pass-6
# shim in lib/ext4-reflink/, their man pages in man8/ and docs/FORMAT.md
# in share/doc/ext4-reflink/; the test helpers stay in build/.  The package is built from a copy of the tree (make
# deb), installed with dpkg -i, run, and removed with dpkg -r.

bats_require_minimum_version 1.5.0

load common

# bats file_tags=no_asan

# make with the flags build/ was made with, so that installing does not
# rebuild it with other ones (make check builds with WERROR=1)
mk() {
	local stamp="$REPO/build/.flags" cc w=
	cc=$(cut -d'|' -f1 "$stamp" | tr -d ' ')
	grep -q -- '-Werror' "$stamp" && w=WERROR=1
	make -s --no-print-directory -C "$REPO" CC="$cc" $w "$@"
}

setup() {
	for p in mkreflink reflinkck refdebug; do
		[ -x "$REPO/build/bin/$p" ] ||
			{ echo "build/bin/$p is not built: run make" >&2; return 1; }
	done
	D="$BATS_TEST_TMPDIR/dest"
}

# every file below $1, relative, sorted
files() {
	(cd "$1" && find . ! -type d | sed 's|^\./||' | sort)
}

@test "make install DESTDIR= installs the three tools, man pages, FORMAT.md" {
	mk install DESTDIR="$D"
	run files "$D"
	[ "$status" -eq 0 ]
	[ "$output" = "usr/local/lib/ext4-reflink/reflinkck-view.so
usr/local/sbin/mkreflink
usr/local/sbin/refdebug
usr/local/sbin/reflinkck
usr/local/share/doc/ext4-reflink/FORMAT.md
usr/local/share/man/man8/mkreflink.8
usr/local/share/man/man8/refdebug.8
usr/local/share/man/man8/reflinkck.8" ]
	cmp "$REPO/docs/FORMAT.md" \
		"$D/usr/local/share/doc/ext4-reflink/FORMAT.md"
	for p in mkreflink reflinkck refdebug; do
		[ "$(stat -c %a "$D/usr/local/sbin/$p")" = 755 ]
		cmp "$REPO/build/bin/$p" "$D/usr/local/sbin/$p"
	done
	cmp "$REPO/build/lib/ext4-reflink/reflinkck-view.so" \
		"$D/usr/local/lib/ext4-reflink/reflinkck-view.so"
	# the man pages name the format document where it was installed
	run grep -l '/usr/local/share/doc/ext4-reflink/FORMAT.md' \
		"$D"/usr/local/share/man/man8/*.8
	[ "${#lines[@]}" -eq 3 ]
	! grep -n 'docs/FORMAT.md' "$D"/usr/local/share/man/man8/*.8
	! grep -n '/usr/share/doc' "$D"/usr/local/share/man/man8/*.8
	# the pages render without a warning
	if command -v groff >/dev/null; then
		for m in "$D"/usr/local/share/man/man8/*.8; do
			run --separate-stderr groff -man -ww -z "$m"
			[ "$status" -eq 0 ]
			[ -z "$stderr" ]
		done
	fi
}

@test "make install PREFIX=/usr, then make uninstall leaves nothing" {
	mk install DESTDIR="$D" PREFIX=/usr
	[ -x "$D/usr/sbin/mkreflink" ]
	[ -f "$D/usr/share/man/man8/reflinkck.8" ]
	[ -f "$D/usr/share/doc/ext4-reflink/FORMAT.md" ]
	grep -q '/usr/share/doc/ext4-reflink/FORMAT.md' \
		"$D/usr/share/man/man8/refdebug.8"
	# an unrelated file next to them stays
	touch "$D/usr/sbin/other"
	mk uninstall DESTDIR="$D" PREFIX=/usr
	run files "$D"
	[ "$output" = "usr/sbin/other" ]
	[ ! -d "$D/usr/share/doc/ext4-reflink" ]
}

@test "the installed tools run from where they were installed" {
	mk install DESTDIR="$D"
	run "$D/usr/local/sbin/mkreflink" -V
	[ "$status" -eq 0 ]
	[[ $output == "mkreflink "* ]]
	img="$BATS_TEST_TMPDIR/img"
	run "$D/usr/local/sbin/mkreflink" -q "$img" 64M
	[ "$status" -eq 0 ]
	run "$D/usr/local/sbin/reflinkck" -fn "$img"
	[ "$status" -eq 0 ]
	# pass 6 found the installed shim: e2fsck was given the image
	if command -v strace >/dev/null; then
		run strace -f -qq -s 4096 -e trace=execve -o "$BATS_TEST_TMPDIR/trace" \
			"$D/usr/local/sbin/reflinkck" -fn "$img"
		[ "$status" -eq 0 ]
		grep -F "[\"e2fsck\", \"-fn\", \"$img\"]" \
			"$BATS_TEST_TMPDIR/trace"
	fi
}

# The package: built, installed, run, removed.  It changes the system, so
# it runs only as root and leaves alone a package installed before.
@test "the Debian package builds, installs, runs and removes cleanly" {
	[ "$(id -u)" -eq 0 ] || skip "dpkg -i needs root"
	command -v dpkg-buildpackage >/dev/null ||
		skip "dpkg-dev is not installed (scripts/install-deps)"
	dpkg-checkbuilddeps "$REPO/debian/control" ||
		skip "build dependencies missing (scripts/install-deps)"
	if dpkg-query -W -f='${db:Status-Status}' ext4-reflink 2>/dev/null |
		grep -q installed; then
		skip "ext4-reflink is installed already; not replacing it"
	fi
	deb_dir="$BATS_TEST_TMPDIR/deb"
	# a smoke test: built quickly (-O0, both cores), not for shipping
	DEB_BUILD_OPTIONS="noopt parallel=2" mk deb DEB_DIR="$deb_dir" \
		>/dev/null
	deb=$(ls "$deb_dir"/ext4-reflink_*.deb)
	run dpkg-deb -c "$deb"
	[ "$status" -eq 0 ]
	run bash -c "dpkg-deb -c '$deb' | awk '{print \$6}' | grep -v '/\$' | sort"
	[ "$output" = "./usr/lib/ext4-reflink/reflinkck-view.so
./usr/sbin/mkreflink
./usr/sbin/refdebug
./usr/sbin/reflinkck
./usr/share/doc/ext4-reflink/FORMAT.md
./usr/share/doc/ext4-reflink/changelog.gz
./usr/share/doc/ext4-reflink/copyright
./usr/share/man/man8/mkreflink.8.gz
./usr/share/man/man8/refdebug.8.gz
./usr/share/man/man8/reflinkck.8.gz" ]

	dpkg -i "$deb"
	for p in mkreflink reflinkck refdebug; do
		run /usr/sbin/$p -V
		echo "$p -V: $status: $output"
		# -V of reflinkck and refdebug lands with issue 15's work
		if [ "$status" -ne 0 ] && [ "$p" != mkreflink ] &&
		   [[ $output == *"invalid option -- 'V'"* ]]; then
			continue
		fi
		[ "$status" -eq 0 ]
		[[ $output == *"$p "* ]]
	done
	img="$BATS_TEST_TMPDIR/img"
	run /usr/sbin/mkreflink -q "$img" 64M
	[ "$status" -eq 0 ]
	run /usr/sbin/reflinkck -fn "$img"
	echo "$output"
	[ "$status" -eq 0 ]
	run /usr/sbin/refdebug -R stats "$img"
	[ "$status" -eq 0 ]
	dpkg -r ext4-reflink
	[ ! -e /usr/sbin/mkreflink ]
	[ ! -e /usr/share/man/man8/reflinkck.8.gz ]
	[ ! -d /usr/share/doc/ext4-reflink ]
	run dpkg-query -W -f='${db:Status-Status}' ext4-reflink
	[ "$output" != installed ]
}

teardown() {
	# a failed run must not leave the package behind
	if [ -n "${deb:-}" ] && [ "$(id -u)" -eq 0 ] &&
	   [ -e /usr/sbin/mkreflink ] &&
	   dpkg -S /usr/sbin/mkreflink 2>/dev/null | grep -q '^ext4-reflink:'
	then
		dpkg -r ext4-reflink >/dev/null 2>&1 || true
	fi
}

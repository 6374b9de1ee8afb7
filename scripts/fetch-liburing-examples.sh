#!/usr/bin/env bash
# Fetch Debian's liburing source package (the version of the installed
# liburing-dev) and build its example programs against the system liburing,
# for the real-application tests (test/apps/liburing-examples.test.ts).
#
#   build/cache/liburing_<ver>.*        cached source package files
#   build/liburing-src/                 unpacked source
#   build/liburing-examples/NAME        io_uring-cp, link-cp, ucontext-cp, io_uring-udp, ...
#   build/liburing-examples/.stamp      version of this build
#
# Like scripts/build-criu.sh: the mirror comes from the machine's apt
# configuration, the download uses a private apt configuration under
# build/apt-liburing (a deb-src line for this release), and the system's
# lists stay untouched.  Idempotent; no network once the source is cached.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
CACHE=$BUILD/cache
APTDIR=$BUILD/apt-liburing
SRC=$BUILD/liburing-src
OUT=$BUILD/liburing-examples
EXAMPLES=(io_uring-cp link-cp ucontext-cp io_uring-udp io_uring-test poll-bench send-zerocopy)

die() {
	echo "fetch-liburing-examples: error: $*" >&2
	exit 1
}

say() {
	echo "fetch-liburing-examples: $*" >&2
}

installed_version() {
	dpkg-query -W -f='${Version}' liburing-dev 2>/dev/null ||
		die "liburing-dev is not installed (scripts/install-deps.sh installs it)"
}

release_codename() {
	local c
	c=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[[ -n $c ]] || die "no VERSION_CODENAME in /etc/os-release"
	echo "$c"
}

apt_opts() {
	printf '%s\n' \
		-o "Dir::Etc::SourceList=$APTDIR/sources.list" \
		-o "Dir::Etc::SourceParts=/dev/null" \
		-o "Dir::State::Lists=$APTDIR/lists" \
		-o "Dir::Cache=$APTDIR/cache" \
		-o "Dir::Cache::pkgcache=" \
		-o "Dir::Cache::srcpkgcache=" \
		-o "APT::Sandbox::User=root"
}

# Download liburing_<ver>.dsc and its files into build/cache.
fetch_source() {
	local ver=$1 mirror codename opts dl
	mirror=$(bash "$ROOT/scripts/build-criu.sh" --print-mirror) || die "cannot find the Debian mirror"
	codename=$(release_codename)
	say "fetching liburing $ver source from $mirror ($codename source index)"
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/dl"
	echo "deb-src $mirror $codename main" >"$APTDIR/sources.list"
	mapfile -t opts < <(apt_opts)
	apt-get "${opts[@]}" -qq update >"$APTDIR/update.log" 2>&1 ||
		die "apt-get update for $codename sources on $mirror failed (see $APTDIR/update.log)"
	dl=$APTDIR/dl
	rm -f "$dl"/liburing_*
	(cd "$dl" && apt-get "${opts[@]}" source --download-only "liburing=$ver") >"$APTDIR/source.log" 2>&1 ||
		die "apt-get source liburing=$ver failed (see $APTDIR/source.log)"
	mkdir -p "$CACHE"
	mv "$dl"/liburing_* "$CACHE/"
}

unpack() {
	local ver=$1 dsc
	dsc=$CACHE/liburing_${ver#*:}.dsc
	[[ -s $dsc ]] || die "$dsc missing after download"
	rm -rf "$SRC"
	# dpkg-source checks the checksums listed in the .dsc.
	dpkg-source --no-copy -x "$dsc" "$SRC" >"$BUILD/liburing-unpack.log" 2>&1 ||
		die "dpkg-source -x $dsc failed (see $BUILD/liburing-unpack.log)"
}

build_examples() {
	local e tmp=$OUT.new
	rm -rf "$tmp"
	mkdir -p "$tmp"
	for e in "${EXAMPLES[@]}"; do
		[[ -f $SRC/examples/$e.c ]] || die "examples/$e.c is not in the liburing source"
		gcc -O2 -D_GNU_SOURCE -o "$tmp/$e" "$SRC/examples/$e.c" -luring -lpthread \
			>>"$BUILD/liburing-examples.log" 2>&1 ||
			die "compiling examples/$e.c failed (see $BUILD/liburing-examples.log)"
	done
	rm -rf "$OUT"
	mv "$tmp" "$OUT"
}

main() {
	local ver want
	mkdir -p "$BUILD"
	exec 9>"$BUILD/.liburing-examples.lock"
	flock 9
	ver=$(installed_version)
	want="liburing=$ver examples=${EXAMPLES[*]}"
	if [[ -r $OUT/.stamp && $(cat "$OUT/.stamp") == "$want" ]]; then
		return 0
	fi
	[[ -s $CACHE/liburing_${ver#*:}.dsc ]] || fetch_source "$ver"
	: >"$BUILD/liburing-examples.log"
	unpack "$ver"
	build_examples
	echo "$want" >"$OUT/.stamp"
	say "built ${#EXAMPLES[@]} examples of liburing $ver in $OUT"
}

main "$@"

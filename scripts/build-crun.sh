#!/usr/bin/env bash
# Build crun 1.8.1 (Debian 12's version, from Debian's source package) with
# CRIU support, against the libcriu of our CRIU 4.2.1 build.
#
# Why: Debian 12's crun package is compiled without CRIU ("compiled without
# CRIU support. Checkpointing not available"), so `podman --runtime crun
# container checkpoint` cannot work with it.  The container tests
# (test/containers/) run podman with this crun for the crun cases.
#
#   build/cache/crun_1.8.1.orig.tar.xz   cached upstream tarball (sha256-checked)
#   build/crun-src/                      unpacked tree
#   build/crun/crun                      the binary (podman --runtime build/crun/crun)
#   build/crun/lib/libcriu.so.2          libcriu 4.2.1, which crun dlopen()s (RUNPATH)
#   build/crun/.stamp                    tarball hash + libcriu hash of this build
#
# Needs scripts/build-criu.sh first (build/criu-src).  When the stamp
# matches, the script does nothing and needs no network.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
CRUN_VERSION=1.8.1
DEB_VERSION=1.8.1-1+deb12u1
ORIG=crun_${CRUN_VERSION}.orig.tar.xz
ORIG_SHA256=01b68269d94e5fe11106a9b14c2f144be03b16ec798951f4efa6aa16ba9da29a
CACHE=$BUILD/cache
APTDIR=$BUILD/apt-crun
SRC=$BUILD/crun-src
OUT=$BUILD/crun
CRIU_SRC=$BUILD/criu-src
LOG=$BUILD/crun-build.log
SUITE=bookworm

die() {
	echo "build-crun: error: $*" >&2
	exit 1
}

say() {
	echo "build-crun: $*" >&2
}

sha256_of() {
	sha256sum "$1" | cut -d' ' -f1
}

# The first plain Debian mirror URI of the machine's apt configuration
# (deb822 or one-line style), without a trailing slash.
debian_mirror() {
	local m
	m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk 'tolower($1) == "uris:" && $2 ~ /debian\/?$/ && $2 !~ /security/ { print $2; exit }')
	[[ -n $m ]] || m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($i ~ /debian\/?$/ && $(i + 1) !~ /security/) { print $i; exit } }')
	[[ -n $m ]] || die "no Debian mirror found in /etc/apt/sources.list(.d)"
	echo "${m%/}"
}

fetch_tarball() {
	local mirror dl
	mirror=$(debian_mirror)
	say "fetching $ORIG from $mirror ($SUITE source index)"
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/dl"
	echo "deb-src $mirror $SUITE main" >"$APTDIR/sources.list"
	local opts=(
		-o "Dir::Etc::SourceList=$APTDIR/sources.list"
		-o "Dir::Etc::SourceParts=/dev/null"
		-o "Dir::State::Lists=$APTDIR/lists"
		-o "Dir::Cache=$APTDIR/cache"
		-o "Dir::Cache::pkgcache="
		-o "Dir::Cache::srcpkgcache="
		-o "APT::Sandbox::User=root"
	)
	apt-get "${opts[@]}" -qq update >"$APTDIR/update.log" 2>&1 ||
		die "apt-get update for $SUITE sources on $mirror failed (see $APTDIR/update.log)"
	dl=$APTDIR/dl
	(cd "$dl" && apt-get "${opts[@]}" source --download-only "crun=$DEB_VERSION") \
		>"$APTDIR/source.log" 2>&1 || true
	[[ -s $dl/$ORIG ]] || die "apt-get source did not deliver $ORIG (see $APTDIR/source.log)"
	[[ $(sha256_of "$dl/$ORIG") == "$ORIG_SHA256" ]] ||
		die "$dl/$ORIG: sha256 $(sha256_of "$dl/$ORIG"), expected $ORIG_SHA256"
	mkdir -p "$CACHE"
	mv "$dl/$ORIG" "$CACHE/$ORIG"
}

[[ -d $CRIU_SRC/lib/c ]] || die "$CRIU_SRC missing: run scripts/build-criu.sh first"

# libcriu 4.2.1 (soname libcriu.so.2) from the patched CRIU tree; the tree
# is unpacked afresh whenever CRIU is rebuilt from scratch, and a make there
# costs seconds even with nothing to do, so only when criu is newer.
if [[ ! -f $CRIU_SRC/lib/c/libcriu.so || $CRIU_SRC/criu/criu -nt $CRIU_SRC/lib/c/libcriu.so ]]; then
	make -s -C "$CRIU_SRC" lib/c/libcriu.so >"$BUILD/libcriu-build.log" 2>&1 || {
		tail -n 20 "$BUILD/libcriu-build.log" >&2
		die "make lib/c/libcriu.so in $CRIU_SRC failed (see $BUILD/libcriu-build.log)"
	}
fi

[[ -s $CACHE/$ORIG && $(sha256_of "$CACHE/$ORIG") == "$ORIG_SHA256" ]] || fetch_tarball

stamp="$ORIG_SHA256 $(sha256_of "$CRIU_SRC/lib/c/libcriu.so") $(sha256_of "${BASH_SOURCE[0]}")"
if [[ -x $OUT/crun && -f $OUT/.stamp && $(cat "$OUT/.stamp") == "$stamp" ]]; then
	exit 0
fi

say "building crun $CRUN_VERSION with CRIU support (log in $LOG)"
rm -rf "$SRC" "$OUT.new"
mkdir -p "$SRC" "$OUT.new/lib" "$OUT.new/include/criu" "$OUT.new/pkgconfig"
: >"$LOG"
tar -xJf "$CACHE/$ORIG" -C "$SRC" --strip-components=1 || die "unpacking $ORIG failed"

# What configure's PKG_CHECK_MODULES([CRIU], [criu >= 3.15]) looks for: the
# headers (crun includes <criu/criu.h>, which includes the other two), the library, and a .pc file describing them.
cp "$CRIU_SRC/lib/c/criu.h" "$CRIU_SRC/criu/include/version.h" "$CRIU_SRC/images/rpc.pb-c.h" "$OUT.new/include/criu/"
cp "$CRIU_SRC/lib/c/libcriu.so" "$OUT.new/lib/libcriu.so.2"
ln -s libcriu.so.2 "$OUT.new/lib/libcriu.so"
cat >"$OUT.new/pkgconfig/criu.pc" <<EOF
Name: CRIU
Description: RPC library for userspace checkpoint and restore (criu-uring build)
Version: 4.2.1
Libs: -L$OUT/lib -lcriu
Cflags: -I$OUT/include
EOF
# configure runs before the tree is moved into place: point it at OUT.new.
sed "s|$OUT/|$OUT.new/|g" "$OUT.new/pkgconfig/criu.pc" >"$OUT.new/pkgconfig/criu-build.pc"

(
	cd "$SRC"
	mkdir -p pc && cp "$OUT.new/pkgconfig/criu-build.pc" pc/criu.pc
	# crun dlopen()s libcriu.so.2: the RUNPATH makes it find ours, not a
	# system libcriu2 (3.17 on Debian 12).
	PKG_CONFIG_PATH=$SRC/pc CPPFLAGS="-I$OUT.new/include" LDFLAGS="-Wl,-rpath,$OUT/lib" \
		./configure --disable-systemd-static --enable-shared=no >>"$LOG" 2>&1 ||
		die "crun configure failed (see $LOG)"
	grep -q '^#define HAVE_CRIU 1' config.h || die "crun configure did not enable CRIU (see $LOG)"
	# libocispec first: crun's Makefile lets its sources compile while
	# libocispec still generates the headers they include (with -j2 a clean
	# build failed on runtime_spec_schema_config_vm).
	make -j2 libocispec/libocispec.la >>"$LOG" 2>&1 || {
		tail -n 20 "$LOG" >&2
		die "make libocispec failed (see $LOG)"
	}
	make -j2 git-version.h crun >>"$LOG" 2>&1 || {
		tail -n 20 "$LOG" >&2
		die "make crun failed (see $LOG)"
	}
) || exit 1
cp "$SRC/crun" "$OUT.new/crun"
"$OUT.new/crun" --version | grep -q '+CRIU' || die "built crun does not report +CRIU"
rm -f "$OUT.new/pkgconfig/criu-build.pc"
echo "$stamp" >"$OUT.new/.stamp"
rm -rf "$OUT"
mv "$OUT.new" "$OUT"
say "built $OUT/crun"

#!/usr/bin/env bash
# Build CRIU 4.2.1 from Debian's source package, with our patches applied.
#
#   build/cache/criu_4.2.1.orig.tar.xz   cached upstream tarball (sha256-checked)
#   build/criu-src/                      unpacked + patched tree (rebuilt from scratch
#                                        whenever the tarball or a patch changes)
#   build/criu/criu                      the binary every script and test uses
#   build/criu/include/                  criu-plugin.h and what it includes
#   build/criu/.stamp                    tarball hash + patch-set hash of this build
#
# The mirror comes from the machine's apt configuration; the download uses a
# private apt configuration under build/apt so the system's lists are untouched.
# Once the tarball is cached, rebuilds need no network.  When the stamp matches,
# the script does nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
CRIU_VERSION=4.2.1
DEB_VERSION=4.2.1-1
ORIG=criu_${CRIU_VERSION}.orig.tar.xz
ORIG_SHA256=29ec0ee09e296479fe7048c80980e8ef1d0684d0b0204c2b101dfea19f6725b9
CACHE=$BUILD/cache
APTDIR=$BUILD/apt
SRC=$BUILD/criu-src
OUT=$BUILD/criu
PATCHDIR=${CRIU_PATCH_DIR:-$ROOT/criu-patches}
APT_ETC=${APT_ETC:-/etc/apt} # overridable only to test the mirror parsing
LOG=$BUILD/criu-build.log

die() {
	echo "build-criu: error: $*" >&2
	exit 1
}

say() {
	echo "build-criu: $*" >&2
}

# Print the first URI of a deb822 stanza (in $APT_ETC/sources.list.d/*.sources)
# that serves the main Debian archive, i.e. whose suites are not -security.
mirror_from_deb822() {
	local f
	for f in "$APT_ETC"/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		awk '
			function flush() {
				if (uris != "" && types ~ /deb/ && suites !~ /-security/ && enabled !~ /no/) {
					split(uris, u, " ")
					print u[1]
					found = 1
					exit
				}
				uris = ""; types = ""; suites = ""; enabled = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			tolower($1) == "uris:"   { $1 = ""; uris = $0 }
			tolower($1) == "types:"  { $1 = ""; types = $0 }
			tolower($1) == "suites:" { $1 = ""; suites = $0 }
			tolower($1) == "enabled:" { enabled = tolower($2) }
			END { if (!found) flush() }
		' "$f"
	done | head -n1 | tr -d ' \t'
}

# Same for one-line style: "deb [opts] URI suite comp..." in sources.list(.d/*.list).
mirror_from_one_line() {
	local files=() f
	[[ -r $APT_ETC/sources.list ]] && files+=("$APT_ETC/sources.list")
	for f in "$APT_ETC"/sources.list.d/*.list; do
		[[ -r $f ]] && files+=("$f")
	done
	((${#files[@]})) || return 0
	awk '
		/^[ \t]*(deb|deb-src)[ \t]/ {
			i = 2
			if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i + 1) ~ /-security/) next
			print $i
			exit
		}
	' "${files[@]}"
}

debian_mirror() {
	local m
	m=$(mirror_from_deb822)
	[[ -n $m ]] || m=$(mirror_from_one_line)
	[[ -n $m ]] || die "no Debian mirror found in $APT_ETC/sources.list or $APT_ETC/sources.list.d/"
	echo "${m%/}"
}

sha256_of() {
	sha256sum "$1" | cut -d' ' -f1
}

# Hash of the patch set: names and the code they change (from the first
# "diff --git" on), in apply order; editing a commit message does not
# rebuild CRIU.
patches_hash() {
	local p
	{
		for p in "${PATCHES[@]}"; do
			echo "${p##*/}"
			sed -n '/^diff --git /,$p' "$p" | sha256sum | cut -d' ' -f1
		done
	} | sha256sum | cut -d' ' -f1
}

# Fetch the orig tarball with a private apt configuration pointing at sid's
# source index on the machine's mirror.
fetch_tarball() {
	local mirror dl
	mirror=$(debian_mirror)
	say "fetching $ORIG from $mirror (sid source index)"
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/dl"
	echo "deb-src $mirror sid main" >"$APTDIR/sources.list"
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
		die "apt-get update for sid sources on $mirror failed (see $APTDIR/update.log)"
	dl=$APTDIR/dl
	# Exits non-zero: the mirror lacks criu's .debian.tar.xz; the orig arrives.
	(cd "$dl" && apt-get "${opts[@]}" source --download-only "criu=$DEB_VERSION") \
		>"$APTDIR/source.log" 2>&1 || true
	[[ -s $dl/$ORIG ]] ||
		die "apt-get source did not deliver $ORIG (see $APTDIR/source.log)"
	if [[ -s $dl/criu_$DEB_VERSION.dsc ]]; then
		grep -q "^ $ORIG_SHA256 [0-9]* $ORIG\$" "$dl/criu_$DEB_VERSION.dsc" ||
			die "$ORIG: sha256 in criu_$DEB_VERSION.dsc differs from the pinned $ORIG_SHA256"
	fi
	verify_tarball "$dl/$ORIG"
	mkdir -p "$CACHE"
	mv "$dl/$ORIG" "$CACHE/$ORIG"
}

verify_tarball() {
	local got
	got=$(sha256_of "$1")
	[[ $got == "$ORIG_SHA256" ]] ||
		die "$1: sha256 $got, expected $ORIG_SHA256"
}

# Fresh unpack, then every criu-patches/*.patch in sorted order.
unpack_and_patch() {
	local p
	rm -rf "$SRC"
	mkdir -p "$SRC"
	tar -xJf "$CACHE/$ORIG" -C "$SRC" --strip-components=1 ||
		die "unpacking $CACHE/$ORIG failed"
	for p in "${PATCHES[@]}"; do
		say "applying ${p##*/}"
		patch -p1 --batch --forward -d "$SRC" <"$p" >>"$LOG" 2>&1 ||
			die "patch ${p##*/} does not apply to CRIU $CRIU_VERSION (see $LOG)"
	done
}

compile_criu() {
	say "compiling CRIU $CRIU_VERSION (make -j2 criu, log in $LOG)"
	make -C "$SRC" -j2 criu >>"$LOG" 2>&1 || {
		tail -n 20 "$LOG" >&2
		die "make criu failed (see $LOG)"
	}
	[[ -x $SRC/criu/criu ]] || die "make criu produced no criu/criu binary"
}

# The plugin ABI (criu-plugin.h) and the logging API criu exports to plugins
# (criu-log.h -> log.h: print_on_level() and the pr_*() macros).  Copy them and,
# transitively, every quoted CRIU-local header they include.
PLUGIN_HEADERS=(criu-plugin.h criu-log.h)

install_headers() {
	local inc=$OUT/include.new h dep src d
	rm -rf "$inc"
	mkdir -p "$inc"
	for h in "${PLUGIN_HEADERS[@]}"; do
		cp "$SRC/criu/include/$h" "$inc/"
	done
	local todo=("${PLUGIN_HEADERS[@]}")
	while ((${#todo[@]})); do
		h=${todo[0]}
		todo=("${todo[@]:1}")
		for dep in $(sed -n 's/^#[ \t]*include[ \t]*"\([^"]*\)".*/\1/p' "$inc/$h"); do
			[[ -e $inc/$dep ]] && continue
			src=""
			for d in criu/include include images; do
				[[ -f $SRC/$d/$dep ]] && { src=$SRC/$d/$dep; break; }
			done
			[[ -n $src ]] || die "header $dep included by $h not found in the CRIU tree"
			mkdir -p "$inc/$(dirname "$dep")"
			cp "$src" "$inc/$dep"
			todo+=("$dep")
		done
	done
	rm -rf "$OUT/include"
	mv "$inc" "$OUT/include"
}

install_binary() {
	mkdir -p "$OUT"
	# Replace atomically: tests may be running the old binary.
	cp "$SRC/criu/criu" "$OUT/criu.new"
	mv -f "$OUT/criu.new" "$OUT/criu"
	install_headers
}

main() {
	mkdir -p "$BUILD"
	# Several people and scripts share this checkout: one build at a time.
	exec 9>"$BUILD/.criu-build.lock"
	flock 9

	shopt -s nullglob
	PATCHES=("$PATCHDIR"/*.patch)
	shopt -u nullglob
	mapfile -t PATCHES < <(printf '%s\n' "${PATCHES[@]}" | LC_ALL=C sort | sed '/^$/d')

	local want have=""
	want="tarball=$ORIG_SHA256 patches=$(patches_hash)"
	[[ -r $OUT/.stamp ]] && have=$(cat "$OUT/.stamp")
	if [[ $want == "$have" && -x $OUT/criu && -r $OUT/include/criu-log.h ]]; then
		return 0
	fi

	if [[ -s $CACHE/$ORIG ]]; then
		verify_tarball "$CACHE/$ORIG"
	else
		fetch_tarball
	fi

	: >"$LOG"
	unpack_and_patch
	compile_criu
	install_binary
	echo "$want" >"$OUT/.stamp"
	say "built $OUT/criu ($("$OUT/criu" --version | head -n1), ${#PATCHES[@]} patches)"
}

if [[ ${1:-} == --print-mirror ]]; then
	debian_mirror
	exit 0
fi
main "$@"

#!/usr/bin/env bash
# Install or uninstall a built checkout (docs/install.md).
#
#   scripts/install.sh install      (make install)
#   scripts/install.sh uninstall    (make uninstall)
#
# Environment (the Makefile passes its variables of the same names):
#   PREFIX     default /usr/local
#   DESTDIR    staging root prepended to every path (default: none)
#   PLUGINDIR  CRIU's plugin directory; default: the one our CRIU was
#              compiled with (`criu --help`: /usr/lib/criu), so no -L and no
#              config file is needed.  Not under PREFIX on purpose.
#   NODE       the Node interpreter the plugin and the CLI run, an absolute
#              path; default: `command -v node` resolved with realpath
#   WITH_CRIU  yes (default) installs build/criu/criu as $PREFIX/sbin/criu;
#              no leaves CRIU out (the criu-uring Debian package)
#   MANIFEST   yes (default) records what was installed in
#              $PREFIX/lib/criu-uring/install-manifest for uninstall; no for
#              package builds (dpkg keeps its own list)
#
# What goes where (paths below DESTDIR):
#   $PREFIX/sbin/criu                         the patched CRIU
#   $PLUGINDIR/io_uring_plugin.so             the plugin
#   $PLUGINDIR/io_uring_plugin.helper         where the plugin finds its helper and Node
#   $PREFIX/lib/criu-uring/                   the helper and the CLI: dist/src, node_modules
#                                             (runtime deps), addon/criu_uring.node (BPF
#                                             programs are compiled into it), proto/,
#                                             package.json, install.json, bin/criu-uring
#   $PREFIX/bin/criu-uring                    symlink to ../lib/criu-uring/bin/criu-uring
#   $PREFIX/share/doc/criu-uring/             README.md and docs/*.md
#
# Paths written into installed files are relative to the file that holds them
# wherever they point inside the tree, so a DESTDIR tree works where it lies
# (the tests run CRIU out of one).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

die() {
	echo "install: error: $*" >&2
	exit 1
}
say() {
	echo "install: $*" >&2
}

ACTION=${1:-}
[[ $ACTION == install || $ACTION == uninstall ]] || die "usage: $0 install|uninstall"

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
WITH_CRIU=${WITH_CRIU:-yes}
MANIFEST=${MANIFEST:-yes}
[[ $PREFIX == /* ]] || die "PREFIX must be absolute: $PREFIX"
[[ -z $DESTDIR || $DESTDIR == /* ]] || DESTDIR=$(realpath -m "$DESTDIR")
DESTDIR=${DESTDIR%/}
PREFIX=$(realpath -m "$PREFIX")
LIBDIR=$PREFIX/lib/criu-uring
MANIFEST_FILE=$LIBDIR/install-manifest
# The oldest Node the installed helper and CLI run on: Debian 12's nodejs
# 18.20 runs the dump/restore suite (docs/install.md).  Building and the
# tests need package.json's engines (>= 20).
NODE_MIN=18

# ---------------------------------------------------------------- uninstall

# The manifest lists "f PATH", "l PATH" and "d PATH" lines (paths without
# DESTDIR) in the order install made them; directories are only those
# install created.
uninstall_manifest() {
	local manifest=$DESTDIR$MANIFEST_FILE kind p
	local -a dirs=()
	[[ -f $manifest ]] || return 1
	while read -r kind p; do
		case $kind in
		f | l) rm -f -- "$DESTDIR$p" ;;
		d) dirs=("$p" "${dirs[@]}") ;;
		esac
	done <"$manifest"
	for p in "${dirs[@]}"; do
		rmdir -- "$DESTDIR$p" 2>/dev/null || [[ ! -d $DESTDIR$p ]] || say "kept $DESTDIR$p (not empty)"
	done
	return 0
}

if [[ $ACTION == uninstall ]]; then
	uninstall_manifest || die "$DESTDIR$MANIFEST_FILE not found: nothing installed with PREFIX=$PREFIX${DESTDIR:+ DESTDIR=$DESTDIR}"
	say "removed everything listed in $DESTDIR$MANIFEST_FILE"
	exit 0
fi

# ---------------------------------------------------------------- install

CRIU_BIN=build/criu/criu
PLUGIN_SO=build/plugins/io_uring_plugin.so
ADDON=build/addon/Release/criu_uring.node
for f in "$PLUGIN_SO" "$ADDON" dist/src/plugin/helper.js dist/src/plugin/helper.bundle.js dist/src/plugin/helper.bundle.cache dist/src/cli/main.js node_modules/protobufjs/package.json; do
	[[ -e $f ]] || die "$f missing: build first (make build)"
done
if [[ $WITH_CRIU == yes ]]; then
	[[ -x $CRIU_BIN ]] || die "$CRIU_BIN missing: build first (make build)"
fi

if [[ -z ${PLUGINDIR:-} ]]; then
	[[ -x $CRIU_BIN ]] || die "PLUGINDIR not given and $CRIU_BIN missing to ask"
	PLUGINDIR=$("$CRIU_BIN" --help 2>/dev/null | sed -n 's/.*plugin directory (by default \(.*\))$/\1/p')
	[[ -n $PLUGINDIR ]] || die "cannot read the default plugin directory from $CRIU_BIN --help; give PLUGINDIR="
fi
[[ $PLUGINDIR == /* ]] || die "PLUGINDIR must be absolute: $PLUGINDIR"
PLUGINDIR=$(realpath -m "$PLUGINDIR")

if [[ -z ${NODE:-} ]]; then
	NODE=$(command -v node) || die "no node on PATH: give NODE=/path/to/node"
	NODE=$(realpath "$NODE")
fi
[[ $NODE == /* ]] || die "NODE must be an absolute path: $NODE"
# The interpreter must exist where it will run: checked here unless staging
# for a package (then the package's postinst checks it).
if [[ -z $DESTDIR || -x $NODE ]]; then
	[[ -x $NODE ]] || die "NODE=$NODE is not executable"
	v=$("$NODE" -p 'process.versions.node') || die "$NODE does not run"
	[[ ${v%%.*} -ge ${NODE_MIN%%.*} ]] || die "$NODE is Node $v; the helper needs Node >= $NODE_MIN"
fi

# A previous install of the same PREFIX: remove it first, so nothing stale
# (a deleted module) stays behind.
if [[ $MANIFEST == yes ]] && uninstall_manifest; then
	say "removed the previous install listed in $DESTDIR$MANIFEST_FILE"
fi

ENTRIES=()
ensure_dir() { # $1: path without DESTDIR; records the directories it creates
	local d=$1
	[[ -d $DESTDIR$d ]] && return 0
	[[ $d == / || -z $d ]] && return 0
	ensure_dir "$(dirname "$d")"
	mkdir -- "$DESTDIR$d"
	chmod 0755 -- "$DESTDIR$d"
	ENTRIES+=("d $d")
}
put() { # $1 mode, $2 source, $3 destination path without DESTDIR
	ensure_dir "$(dirname "$3")"
	install -m "$1" -- "$2" "$DESTDIR$3"
	ENTRIES+=("f $3")
}
put_text() { # $1 mode, $2 destination, stdin: contents
	local tmp
	tmp=$(mktemp)
	cat >"$tmp"
	put "$1" "$tmp" "$2"
	rm -f -- "$tmp"
}
link() { # $1 target, $2 link path without DESTDIR
	ensure_dir "$(dirname "$2")"
	ln -sfn -- "$1" "$DESTDIR$2"
	ENTRIES+=("l $2")
}
put_tree() { # $1 source dir, $2 destination dir, [$3 find name filter]
	local f
	while IFS= read -r -d '' f; do
		put 0644 "$1/$f" "$2/$f"
	done < <(cd "$1" && find . -type f ${3:+-name "$3"} -printf '%P\0' | LC_ALL=C sort -z)
}
rel() { # relative path from directory $1 to $2 (both without DESTDIR)
	realpath -m --relative-to="$1" "$2"
}

[[ -n $DESTDIR ]] && mkdir -p -- "$DESTDIR"

VERSION=$(node -p 'require("./package.json").version' 2>/dev/null || sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)

# The patched CRIU.
if [[ $WITH_CRIU == yes ]]; then
	[[ -e $DESTDIR$PREFIX/sbin/criu ]] && say "replacing $DESTDIR$PREFIX/sbin/criu"
	put 0755 "$CRIU_BIN" "$PREFIX/sbin/criu"
fi

# The helper and the CLI.
put 0644 package.json "$LIBDIR/package.json"
put_tree dist/src "$LIBDIR/dist/src" '*.js'
# the helper bundle's code cache (scripts/bundle-helper.js); a Node other than the build's rejects it, harmlessly
put 0644 dist/src/plugin/helper.bundle.cache "$LIBDIR/dist/src/plugin/helper.bundle.cache"
put 0644 proto/io_uring.proto "$LIBDIR/proto/io_uring.proto"
put 0755 "$ADDON" "$LIBDIR/addon/criu_uring.node"
# node_modules: the runtime dependency closure of the packages src/ requires
# (protobufjs), type-only packages left out.
while IFS= read -r pkg; do
	put_tree "$pkg" "$LIBDIR/$pkg"
done < <(node - <<'EOF'
const fs = require('fs'), path = require('path');
const root = process.cwd(), seen = new Set();
function locate(name, from) {
	for (let dir = from; ; dir = path.dirname(dir)) {
		const p = path.join(dir, 'node_modules', name);
		if (fs.existsSync(path.join(p, 'package.json'))) return p;
		if (dir === root || dir === path.dirname(dir)) throw new Error(`cannot find ${name} from ${from}`);
	}
}
function walk(name, from) {
	if (name.startsWith('@types/')) return;
	const dir = locate(name, from);
	if (seen.has(dir)) return;
	seen.add(dir);
	const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
	for (const dep of Object.keys(pj.dependencies || {})) walk(dep, dir);
}
walk('protobufjs', root);
for (const d of [...seen].sort()) console.log(path.relative(root, d));
EOF
)
# The CLI: the checkout's launcher with the chosen interpreter in its #! line.
# (not a pipe: put_text must run in this shell to record what it installs)
put_text 0755 "$LIBDIR/bin/criu-uring" < <(sed "1s|^#!.*|#!$NODE|" bin/criu-uring)
link "$(rel "$PREFIX/bin" "$LIBDIR/bin/criu-uring")" "$PREFIX/bin/criu-uring"
# Where the installed JS finds CRIU and the plugin (src/util/paths.ts).
put_text 0644 "$LIBDIR/install.json" <<EOF
{
  "version": "$VERSION",
  "criu": "$(rel "$LIBDIR" "$PREFIX/sbin/criu")",
  "plugin_dir": "$(rel "$LIBDIR" "$PLUGINDIR")",
  "node": "$NODE"
}
EOF

# The plugin, and where it finds its helper (plugin-c/helper.c).
put 0755 "$PLUGIN_SO" "$PLUGINDIR/io_uring_plugin.so"
put_text 0644 "$PLUGINDIR/io_uring_plugin.helper" <<EOF
# criu-uring $VERSION: how io_uring_plugin.so starts its Node helper
# (written by scripts/install.sh; see docs/install.md).
# helper: relative to the real directory of io_uring_plugin.so, or absolute.
# node: the interpreter, absolute; \$CRIU_URING_NODE overrides it.
helper $(rel "$PLUGINDIR" "$LIBDIR/dist/src/plugin/helper.js")
node $NODE
EOF

# Documentation.
put 0644 README.md "$PREFIX/share/doc/criu-uring/README.md"
put_tree docs "$PREFIX/share/doc/criu-uring/docs" '*.md'

if [[ $MANIFEST == yes ]]; then
	ENTRIES+=("f $MANIFEST_FILE")
	printf '%s\n' "${ENTRIES[@]}" >"$DESTDIR$MANIFEST_FILE"
	chmod 0644 "$DESTDIR$MANIFEST_FILE"
fi
say "installed criu-uring $VERSION into ${DESTDIR}$PREFIX (plugin in $DESTDIR$PLUGINDIR, node $NODE)"

#!/usr/bin/env bash
# make deb: Debian packages of a built checkout, with dpkg-deb --build from
# DESTDIR trees made by scripts/install.sh (no debhelper).  docs/install.md.
#
#   build/deb/criu-uring_<version>_<arch>.deb
#       the plugin (/usr/lib/criu, CRIU's default plugin directory), the
#       helper (/usr/lib/criu-uring), the CLI (/usr/bin/criu-uring), docs.
#       Depends on nodejs (>= 18: Debian 12's own package will do) and runs
#       /usr/bin/node, which every nodejs package provides; postinst checks it.
#   build/deb/criu-uring-criu_<criu version>+uring<version>_<arch>.deb
#       the patched CRIU as /usr/sbin/criu.  It takes the place of Debian's
#       criu package (Provides/Conflicts/Replaces: criu): one criu on PATH.
#
# Environment: MAINTAINER (the Maintainer field).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

die() {
	echo "deb: error: $*" >&2
	exit 1
}
say() {
	echo "deb: $*" >&2
}

command -v dpkg-deb >/dev/null || die "dpkg-deb missing (apt-get install dpkg)"
command -v dpkg-shlibdeps >/dev/null || die "dpkg-shlibdeps missing (apt-get install dpkg-dev)"
[[ -x build/criu/criu ]] || die "build/criu/criu missing: build first (make build)"

OUT=$ROOT/build/deb
STAGE=$OUT/stage
NODE_MIN=18
MAINTAINER=${MAINTAINER:-criu-uring maintainers <criu-uring@localhost>}
VERSION=$(node -p 'require("./package.json").version')
CRIU_VERSION=$(build/criu/criu --version | sed -n 's/^Version: *//p')
[[ -n $CRIU_VERSION ]] || die "cannot read build/criu/criu --version"
CRIU_DEB_VERSION=$CRIU_VERSION+uring$VERSION
ARCH=$(dpkg --print-architecture)

rm -rf -- "$STAGE"
rm -f -- "$OUT"/*.deb
mkdir -p -- "$STAGE"

# dpkg-shlibdeps wants a debian/control around it; only the Depends it
# computes for the given binaries is used.
shlibdeps() {
	local dir
	dir=$(mktemp -d)
	mkdir "$dir/debian"
	printf 'Source: criu-uring\n\nPackage: criu-uring\nArchitecture: any\n' >"$dir/debian/control"
	(cd "$dir" && dpkg-shlibdeps -O "$@" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
	rm -rf -- "$dir"
}

installed_size() {
	du -sk --exclude=DEBIAN "$1" | cut -f1
}

copyright() { # $1 package, $2 extra paragraph
	cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $1

Files: *
Copyright: the criu-uring authors
License: GPL-2.0-only
$2
License: GPL-2.0-only
 This program is free software; you can redistribute it and/or modify it
 under the terms of the GNU General Public License version 2 as published
 by the Free Software Foundation.
 .
 On Debian systems, the complete text of the GNU General Public License
 version 2 can be found in /usr/share/common-licenses/GPL-2.
EOF
}

# ---- criu-uring: plugin, helper, CLI
P=$STAGE/criu-uring
PREFIX=/usr PLUGINDIR=/usr/lib/criu NODE=/usr/bin/node WITH_CRIU=no MANIFEST=no DESTDIR=$P \
	bash scripts/install.sh install
install -d -m 0755 "$P/DEBIAN"
copyright criu-uring "" >"$P/usr/share/doc/criu-uring/copyright"
chmod 0644 "$P/usr/share/doc/criu-uring/copyright"
deps=$(shlibdeps "$P/usr/lib/criu/io_uring_plugin.so" "$P/usr/lib/criu-uring/addon/criu_uring.node")
[[ -n $deps ]] || die "dpkg-shlibdeps found no dependencies for the plugin and the addon"
cat >"$P/DEBIAN/control" <<EOF
Package: criu-uring
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $(installed_size "$P")
Depends: criu-uring-criu (= $CRIU_DEB_VERSION), nodejs (>= $NODE_MIN), $deps
Section: admin
Priority: optional
Homepage: https://criu.org/
Description: io_uring checkpoint/restore for CRIU
 A CRIU plugin (installed in CRIU's default plugin directory, /usr/lib/criu)
 that checkpoints io_uring instances and rebuilds them at restore, its Node
 helper, and criu-uring, a tool that shows the io_uring state of any process.
 .
 The plugin runs its helper with /usr/bin/node (from the nodejs package).
EOF
cat >"$P/DEBIAN/postinst" <<EOF
#!/bin/sh
# The plugin starts its helper with /usr/bin/node (/usr/lib/criu/io_uring_plugin.helper).
set -e
if [ "\$1" = configure ]; then
	v=\$(/usr/bin/node -p 'process.versions.node' 2>/dev/null) || {
		echo "criu-uring: /usr/bin/node does not run; the io_uring plugin needs Node >= $NODE_MIN" >&2
		exit 1
	}
	if [ "\${v%%.*}" -lt $NODE_MIN ]; then
		echo "criu-uring: /usr/bin/node is Node \$v; the io_uring plugin needs Node >= $NODE_MIN" >&2
		exit 1
	fi
fi
exit 0
EOF
chmod 0755 "$P/DEBIAN/postinst"

# ---- criu-uring-criu: the patched CRIU
C=$STAGE/criu-uring-criu
install -d -m 0755 "$C/DEBIAN" "$C/usr/sbin" "$C/usr/share/doc/criu-uring-criu"
install -m 0755 build/criu/criu "$C/usr/sbin/criu"
install -m 0644 docs/criu-build.md docs/criu-patches.md "$C/usr/share/doc/criu-uring-criu/"
copyright criu-uring-criu "
Files: usr/sbin/criu
Copyright: the CRIU authors
License: GPL-2.0-only
Comment: CRIU $CRIU_VERSION (https://criu.org/), built from Debian's
 criu_$CRIU_VERSION.orig.tar.xz with the criu-uring patches applied
 (criu-build.md, criu-patches.md in this directory).
" >"$C/usr/share/doc/criu-uring-criu/copyright"
chmod 0644 "$C/usr/share/doc/criu-uring-criu/copyright"
deps=$(shlibdeps "$C/usr/sbin/criu")
[[ -n $deps ]] || die "dpkg-shlibdeps found no dependencies for criu"
cat >"$C/DEBIAN/control" <<EOF
Package: criu-uring-criu
Source: criu-uring
Version: $CRIU_DEB_VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $(installed_size "$C")
Depends: $deps
Provides: criu (= $CRIU_VERSION)
Conflicts: criu
Replaces: criu
Section: admin
Priority: optional
Homepage: https://criu.org/
Description: CRIU $CRIU_VERSION with the criu-uring core patches
 Checkpoint/Restore In Userspace, upstream $CRIU_VERSION with the small core
 patches the io_uring plugin (package criu-uring) needs.  It replaces
 Debian's criu package and installs /usr/sbin/criu, where runc, crun and
 podman find it.  Its default plugin directory is /usr/lib/criu.
EOF

for pkg in "$P" "$C"; do
	dpkg-deb --root-owner-group -Zxz --build "$pkg" "$OUT" >&2
done
rm -rf -- "$STAGE"
ls -1 "$OUT"/*.deb

#!/usr/bin/env bash
# Build everything, in dependency order.  Every step is idempotent and cheap
# when nothing changed, so tests and the demo simply call this first.
#
#   1. Debian packages            scripts/install-deps.sh
#   2. node_modules               npm ci (when missing or older than the lock)
#   3. CRIU 4.2.1 + our patches   scripts/build-criu.sh -> build/criu/
#      crun 1.8.1 with CRIU        scripts/build-crun.sh -> build/crun/ (container tests)
#   4. BPF programs               make -C bpf           -> build/bpf/
#   5. native addon               cmake-js              -> build/addon/Release/criu_uring.node
#   6. CRIU plugin                make -C plugin-c      -> build/plugins/io_uring_plugin.so
#   7. test programs              make -C test/progs    -> build/test-progs/
#   8. TypeScript                 tsc                   -> dist/
#      image schema               scripts/proto-json.js -> dist/src/image/schema-compiled.js
#      image codec                scripts/proto-static.js -> dist/src/image/schema-static.js
#      plugin helper bundle       scripts/bundle-helper.js -> dist/src/plugin/helper.bundle.{js,cache}
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Each step with the seconds the build had taken when it started.
step() {
	echo "build: == $* (at ${SECONDS} s)" >&2
}

die() {
	echo "build: error: $*" >&2
	exit 1
}

# A component that does not exist yet: say so loudly, never silently.
skip() {
	echo "build: !!!!!! SKIPPED $1: $2 !!!!!!" >&2
}

step "Debian packages"
bash scripts/install-deps.sh || die "scripts/install-deps.sh failed"

step "node_modules"
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
	npm ci --no-audit --no-fund || die "npm ci failed"
fi

step "CRIU"
bash scripts/build-criu.sh || die "scripts/build-criu.sh failed"

step "crun with CRIU support"
bash scripts/build-crun.sh || die "scripts/build-crun.sh failed"

step "BPF programs"
if [[ -f bpf/Makefile ]]; then
	make -s -C bpf || die "make -C bpf failed"
else
	skip bpf "bpf/Makefile does not exist yet"
fi

step "native addon"
if [[ -f CMakeLists.txt ]]; then
	npx cmake-js compile -O build/addon >build/addon-build.log 2>&1 || {
		tail -n 30 build/addon-build.log >&2
		die "cmake-js compile failed (see build/addon-build.log)"
	}
else
	skip "native addon" "CMakeLists.txt does not exist yet"
fi

step "CRIU plugin"
make -s -C plugin-c || die "make -C plugin-c failed"

step "test programs"
if [[ -f test/progs/Makefile ]]; then
	make -s -C test/progs || die "make -C test/progs failed"
else
	skip "test programs" "test/progs/Makefile does not exist yet"
fi

step "liburing examples"
bash scripts/fetch-liburing-examples.sh || skip "liburing examples" "scripts/fetch-liburing-examples.sh failed; test/apps/liburing-examples skips"

step "TypeScript"
# Incremental: a rebuild re-checks only what changed (a full check took
# 20 s idle, 80 s under load).  The build info lives in dist/, so removing
# dist/ also forgets what was emitted.
npx tsc -p . --incremental --tsBuildInfoFile dist/.tsbuildinfo || die "tsc failed"
# The image schema, parsed here instead of at every helper start.
node scripts/proto-json.js proto/io_uring.proto dist/src/image/schema-compiled.js || die "proto-json.js failed"
# Its encoder and decoder as static code, instead of generated at every helper start.
node scripts/proto-static.js proto/io_uring.proto dist/src/image/schema-static.js || die "proto-static.js failed"
# The helper as one file with a V8 code cache: it starts on every dump and
# restore.  Remade only when something it is made of changed: making the
# cache runs a training dump (src/plugin/train.ts), which loads the BPF
# programs (1-2 s).
helper_stale() {
	local cache=dist/src/plugin/helper.bundle.cache f
	[[ -f $cache ]] || return 0
	for f in node_modules/.package-lock.json build/addon/Release/criu_uring.node "$(realpath "$(command -v node)")"; do
		[[ $f -nt $cache ]] && return 0
	done
	[[ -n $(find dist/src -name '*.js' ! -name helper.bundle.js -newer "$cache" -print -quit) ]]
}
if helper_stale; then
	node scripts/bundle-helper.js || die "bundle-helper.js failed"
fi
# tsc never deletes: drop compiled tests whose source is gone, so tap does
# not run stale ones.
while IFS= read -r js; do
	ts=${js#dist/}
	ts=${ts%.js}.ts
	[[ -f $ts ]] || rm -f "$js" "$js.map"
done < <(find dist/test -name '*.test.js' 2>/dev/null)

echo "build: done in ${SECONDS} s" >&2

#!/usr/bin/env bash
# Build, start a small io_uring program and show what criu-uring inspect
# sees in it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/build.sh

prog=build/test-progs/ring_min
[[ -x $prog ]] || {
	echo "demo: error: $prog is not built (make -C test/progs)" >&2
	exit 1
}

work=$(mktemp -d)
setsid "$prog" "$work/progress" </dev/null >"$work/out" 2>"$work/err" &
pid=$!
disown "$pid" # no "Killed" job notice when the trap ends it
trap 'kill -KILL "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# Wait until the ring has completed a few NOPs.
for _ in $(seq 100); do
	[[ $(wc -l <"$work/progress" 2>/dev/null || echo 0) -ge 3 ]] && break
	sleep 0.05
done
kill -0 "$pid" 2>/dev/null || {
	echo "demo: error: $prog exited early: $(cat "$work/err")" >&2
	exit 1
}

echo "demo: $prog runs as pid $pid with one io_uring ring; inspecting it:"
if [[ ! -f bin/criu-uring || ! -f dist/src/cli/main.js ]]; then
	echo "demo: the criu-uring CLI (bin/criu-uring) is not there yet; nothing to show" >&2
	exit 1
fi
node bin/criu-uring inspect -t "$pid"

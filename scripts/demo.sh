#!/usr/bin/env bash
# The demo: a program doing verified io_uring I/O through registered files
# and buffers is inspected, checkpointed with CRIU and the plugin, restored,
# and shown continuing where it was.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/build.sh

prog=$ROOT/build/test-progs/cr_rw
criu=$ROOT/build/criu/criu
work=$(mktemp -d)
pid=
cleanup() {
	[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Busy mode: write and read back verified blocks through a registered
# file and buffer, in a loop, until SIGUSR1.
(cd "$work" && TRUTH_FILE=$work/truth.json exec setsid -f "$prog" --busy --advance 123456 </dev/null >"$work/out" 2>"$work/err")
for _ in $(seq 200); do
	[[ -f $work/truth.json ]] && break
	sleep 0.05
done
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$work/truth.json")
[[ -n $pid ]] || { echo "demo: the program did not start: $(cat "$work/err")" >&2; exit 1; }

say "pid $pid does io_uring I/O; criu-uring inspect sees:"
node bin/criu-uring inspect -t "$pid"

say "criu dump -t $pid -L build/plugins"
mkdir "$work/img"
"$criu" dump -t "$pid" -D "$work/img" -v4 -o dump.log -L "$ROOT/build/plugins" ||
	{ grep -E 'Error|io_uring' "$work/img/dump.log" >&2; exit 1; }
grep 'io_uring:' "$work/img/dump.log" | sed 's/^/   /'
ls -l "$work/img"/io_uring-* | sed 's/^/   /'
while [[ -e /proc/$pid ]]; do sleep 0.1; done
echo "   process $pid is gone"

say "criu restore -L build/plugins"
(cd / && "$criu" restore -D "$work/img" -d -v4 -o restore.log -L "$ROOT/build/plugins") ||
	{ grep -E 'Error|io_uring' "$work/img/restore.log" >&2; exit 1; }
grep 'io_uring:' "$work/img/restore.log" | sed 's/^/   /'

say "restored pid $pid, same ring, same addresses, same indices:"
node bin/criu-uring inspect -t "$pid"

sleep 1
kill -USR1 "$pid"
while [[ -e /proc/$pid ]]; do sleep 0.1; done
say "the program's own verdict"
if [[ -s $work/err ]]; then
	echo "   FAILED: $(cat "$work/err")"
	exit 1
fi
echo "   $(cat "$work/out") (every CQE checked, every block read back and compared)"
pid=

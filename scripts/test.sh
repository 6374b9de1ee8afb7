#!/usr/bin/env bash
# Build, then run compiled tests (dist/test/**/*.test.js) under tap.
#   bash scripts/test.sh             the regular suite (everything but dist/test/slow/)
#   bash scripts/test.sh --quick     the quick subset (QUICK below, about a minute;
#                                    no CRIU dump of a busy process, no podman)
#   bash scripts/test.sh --slow      only the slow tests (dist/test/slow/: the 2^32
#                                    index wrap-around, tens of minutes)
#   bash scripts/test.sh NAME...     only these files (abi, apps/fio, dist/test/x.test.js)
#   --jobs N  (or TEST_JOBS=N)       test files run in parallel (default 3)
#   TEST_TIMEOUT=S                   per-file timeout in seconds (default 900)
#
# Files run in parallel.  The stress files (busy processes checkpointed at
# random moments) and the podman files take one machine-wide lock first
# (test/lib/exclusive.ts), so no two of them ever run at once, here or from
# another checkout; here they run in a lane of their own, one at a time,
# beside the other files in the remaining job slots.  tap runs under build/test-progs/reaper, a child
# subreaper, so restored processes and other orphans are reaped at once
# instead of by PID 1 (which reaps late here).  The raw TAP of each file is
# kept in build/test-logs/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# The quick subset: no root-only dump stress, no containers, no real apps.
QUICK=(
	abi cli image-envelope image-validate image-roundtrip image-fuzz
	plan-golden restore-epoll inspect-flags inspect-queues dump-restore-eintr dump-restore-attach
)

mode=regular
jobs=${TEST_JOBS:-3}
only=()
while (($#)); do
	case $1 in
	--slow) mode=slow ;;
	--quick) mode=quick ;;
	--jobs)
		[[ $# -ge 2 ]] || { echo "test: error: --jobs needs a number" >&2; exit 2; }
		jobs=$2
		shift
		;;
	--jobs=*) jobs=${1#--jobs=} ;;
	-*)
		echo "test: error: unknown argument $1 (--quick, --slow, --jobs N, or test names)" >&2
		exit 2
		;;
	*) only+=("$1") ;;
	esac
	shift
done
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "test: error: --jobs $jobs is not a positive number" >&2; exit 2; }

bash scripts/build.sh

timeout=${TEST_TIMEOUT:-900}
case $mode in
slow)
	mapfile -t files < <(find dist/test/slow -name '*.test.js' | sort)
	timeout=${TEST_TIMEOUT:-14400}
	;;
quick)
	files=()
	for name in "${QUICK[@]}"; do
		[[ -f dist/test/$name.test.js ]] || { echo "test: error: quick test dist/test/$name.test.js does not exist" >&2; exit 2; }
		files+=("dist/test/$name.test.js")
	done
	;;
*)
	mapfile -t files < <(find dist/test -name '*.test.js' -not -path 'dist/test/slow/*' | sort)
	;;
esac
if ((${#only[@]})); then # named files: "dump-restore", "apps/fio" or a dist/test/... path
	files=()
	for name in "${only[@]}"; do
		[[ $name == dist/* ]] || name=dist/test/${name%.test.ts}.test.js
		[[ -f $name ]] || { echo "test: error: $name does not exist" >&2; exit 2; }
		files+=("$name")
	done
fi

# CRIU restores every process with its old pid, so a pid must not come
# round again while a test holds a dump: with parallel files and the
# default pid_max of 32768 the counter wraps within a run.  Raise it.
PID_MAX=4194304
if [[ -w /proc/sys/kernel/pid_max ]] && (($(cat /proc/sys/kernel/pid_max) < PID_MAX)); then
	echo "test: raising kernel.pid_max from $(cat /proc/sys/kernel/pid_max) to $PID_MAX (restores need their old pids free)"
	echo "$PID_MAX" >/proc/sys/kernel/pid_max
fi

logs=build/test-logs
rm -rf "$logs"
mkdir -p "$logs"
# Two lanes: the files that take the heavy lock (test/lib/exclusive.ts) one
# at a time, the others in the remaining job slots.  In one tap run, heavy
# files waiting for the lock would sit in job slots the light ones need.
heavy=() light=()
for f in "${files[@]}"; do
	if grep -q 'exclusive_1.exclusive)(' "$f"; then heavy+=("$f"); else light+=("$f"); fi
done
lane() { # NAME JOBS FILE...: one tap run under the reaper, its TAP prefixed with NAME
	local name=$1 n=$2
	shift 2
	(($#)) || return 0
	build/test-progs/reaper npx tap --disable-coverage --jobs="$n" --timeout="$timeout" --output-dir="$logs" "$@" \
		>"$tmp/$name" 2>&1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
light_jobs=$((jobs > 1 ? jobs - 1 : 1))
((${#heavy[@]})) || light_jobs=$jobs
echo "test: ${#files[@]} files: ${#light[@]} at up to $light_jobs at a time, ${#heavy[@]} stress/podman files one at a time beside them"
set +e
lane light "$light_jobs" "${light[@]}" &
light_pid=$!
if ((${#heavy[@]})) && ((jobs > 1)); then
	lane heavy 1 "${heavy[@]}" &
	heavy_pid=$!
else
	wait "$light_pid"
	light_rc=$?
	lane heavy 1 "${heavy[@]}"
	heavy_rc=$?
	light_pid=
fi
[[ -z $light_pid ]] || { wait "$light_pid"; light_rc=$?; }
[[ -z ${heavy_pid:-} ]] || { wait "$heavy_pid"; heavy_rc=$?; }
set -e
for name in light heavy; do
	[[ -f $tmp/$name ]] || continue
	echo "== $name files"
	cat "$tmp/$name"
done

# tap closes each run with "# { total: N, pass: N, fail: N, ... }"; add
# them up into a plain "N passed, N failed" line any CI log reader understands.
node -e '
let pass = 0, fail = 0, skip = 0, runs = 0;
for (const f of process.argv.slice(1)) {
	let text = "";
	try { text = require("fs").readFileSync(f, "utf8"); } catch { continue; }
	const last = text.split("\n").filter((l) => /^# \{ total: \d+/.test(l)).pop();
	if (!last) { console.log(`tests: ${f.split("/").pop()} run printed no summary`); fail++; continue; }
	const get = (k) => Number((new RegExp(k + ": (\\d+)").exec(last) || [0, 0])[1]);
	pass += get("pass"); fail += get("fail"); skip += get("skip") + get("todo"); runs++;
}
console.log(`tests: ${pass} passed, ${fail} failed` + (skip ? `, ${skip} skipped` : ""));
' "$tmp/light" "$tmp/heavy"
echo "tests: ${#files[@]} files in $((SECONDS - start)) s (--jobs $jobs); raw TAP per file in $logs/"
((${light_rc:-0} == 0 && ${heavy_rc:-0} == 0))

#!/usr/bin/env bash
# Build, then run compiled tests (dist/test/**/*.test.js) under tap.
#   bash scripts/test.sh             the regular suite (everything but dist/test/slow/)
#   bash scripts/test.sh --quick     the quick subset (QUICK below, about a minute;
#                                    no CRIU dump of a busy process, no podman)
#   bash scripts/test.sh --slow      only the slow tests (dist/test/slow/: the 2^32
#                                    index wrap-around, tens of minutes)
#   --jobs N  (or TEST_JOBS=N)       test files run in parallel (default 3)
#   TEST_TIMEOUT=S                   per-file timeout in seconds (default 900)
#
# Files run in parallel.  The stress files (busy processes checkpointed at
# random moments) and the podman files take one machine-wide lock first
# (test/lib/exclusive.ts), so no two of them ever run at once, here or from
# another checkout.  tap runs under build/test-progs/reaper, a child
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
	*)
		echo "test: error: unknown argument $1 (--quick, --slow, --jobs N)" >&2
		exit 2
		;;
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
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$SECONDS
set +e
build/test-progs/reaper npx tap --disable-coverage --jobs="$jobs" --timeout="$timeout" --output-dir="$logs" \
	"${files[@]}" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e

# tap closes with "# { total: N, pass: N, fail: N, ... }"; repeat it as a
# plain "N passed, N failed" line that any CI log reader understands.
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
const last = lines.filter((l) => /^# \{ total: \d+/.test(l)).pop();
if (!last) { console.log("tests: tap printed no summary"); process.exit(0); }
const get = (k) => Number((new RegExp(k + ": (\\d+)").exec(last) || [0, 0])[1]);
let s = `tests: ${get("pass")} passed, ${get("fail")} failed`;
if (get("skip") + get("todo")) s += `, ${get("skip") + get("todo")} skipped`;
console.log(s);
' "$out"
echo "tests: ${#files[@]} files, $jobs at a time, $((SECONDS - start)) s; raw TAP per file in $logs/"
exit "$rc"

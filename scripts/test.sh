#!/usr/bin/env bash
# Build, then run the compiled tap tests (dist/test/**/*.test.js).
#   bash scripts/test.sh             the regular suite (everything but dist/test/slow/)
#   bash scripts/test.sh --quick     the quick subset (QUICK below, about a minute;
#                                    no CRIU dump of a busy process, no podman)
#   bash scripts/test.sh --slow      only the slow tests (dist/test/slow/: the 2^32
#                                    index wrap-around, tens of minutes)
#   bash scripts/test.sh NAME...     only these files (abi, apps/fio, dist/test/x.test.js)
#   --jobs N  (or TEST_JOBS=N)       test files run in parallel (default 3)
#   TEST_TIMEOUT=S                   per-file timeout in seconds (default 900)
#
# Each file runs as `node FILE` (tap's own TAP, its timeout from
# TAP_TIMEOUT), not under tap's runner: the runner puts its process-info
# hook into NODE_OPTIONS, so every Node process a test starts (the plugin's
# helper at each dump and restore, each criu-uring CLI call) loaded it, at
# 0.3-0.5 s a start; the runner itself cost a second per file.  Each file
# runs under build/test-progs/reaper, a child subreaper, so restored
# processes and other orphans are reaped at once instead of by PID 1 (which
# reaps late here).  The TAP of each file is kept in build/test-logs/
# (NAME.tap, NAME.stderr, NAME.reaped: how each restored process ended),
# and a failed test's logs and program output in build/test-logs/kept/.
#
# Files run in parallel.  The stress files (busy processes checkpointed at
# random moments) and the podman files take one machine-wide lock first
# (test/lib/exclusive.ts), so no two of them ever run at once, here or from
# another checkout; here at most one of them runs, beside light files.
#
# As root, the suite mounts a bpffs of its own on a temporary directory
# for its run and points CRIU_URING_BPF_PIN_DIR at it (docs/bpf.md): the
# first capture loads and pins the BPF programs, every later dump and
# inspect re-attaches them instead of loading them again (0.4 s each on an
# idle machine, over 1 s under load).  CRIU_URING_TEST_PIN=0 turns that off.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# The quick subset: no root-only dump stress, no containers, no real apps.
QUICK=(
	abi cli image-envelope image-validate image-roundtrip image-fuzz
	plan-golden restore-epoll inspect-flags inspect-queues dump-restore-eintr dump-restore-attach
	test-harness dump-sqpoll-wait
)

# Files that take longest, longest first (measured 2026-12-06); the others
# follow in name order.  Only the order depends on it.
LONG_FIRST=(
	dump-restore-combo-quiet dump-restore-pidns dump-restore-setups helper-boundary dump-restore-regs dump-restore-overflow install
	dump-restore-unmapped dump-cleanup inspect-hammer dump-restore-pbuf rearm dump-restore-procs
	dump-restore-regions dump-restore-fdonly image-fuzz
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

# Every Node process the tests start (each criu-uring CLI call, the test
# files) parses the certificates NODE_EXTRA_CA_CERTS names before running
# anything: about 70 ms of CPU per start with a distribution's CA bundle
# (the plugin drops it for its helper itself).  Nothing here speaks TLS.
unset NODE_EXTRA_CA_CERTS

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
tmp=$(mktemp -d)
bpffs=
cleanup() {
	[[ -z $bpffs ]] || { umount "$bpffs" || umount -l "$bpffs"; rmdir "$bpffs"; } || echo "test: cannot unmount $bpffs" >&2
	rm -rf "$tmp"
}
trap cleanup EXIT

# One BPF load for the whole run (see the top).  The pid-namespace tests
# unmount it in their namespaces (test/lib/pidns.ts), containers never see it.
if [[ ${CRIU_URING_TEST_PIN:-1} != 0 && -z ${CRIU_URING_BPF_PIN_DIR:-} && $(id -u) == 0 ]]; then
	bpffs=$(mktemp -d /tmp/criu-uring-test-bpffs.XXXXXX)
	if mount -t bpf bpf "$bpffs" 2>/dev/null; then
		export CRIU_URING_BPF_PIN_DIR=$bpffs/criu-uring
		mkdir -m 0700 "$CRIU_URING_BPF_PIN_DIR"	# private: a pinned set in a root others could write is refused (docs/bpf.md)
		# Load and pin them now, before any file runs: files starting together
		# would otherwise all wait for the first one's load, a dump among them
		# in CRIU's 10 s dump timeout (seen under a load average of 22).
		s=$SECONDS
		state=$(node -e 'const n = require("./dist/src/native").loadNative(); n.runIter(process.pid); console.log(n.bpfPinState());')
		echo "test: BPF programs $state (in $((SECONDS - s)) s)"
	else
		echo "test: no bpffs could be mounted: every capture loads the BPF programs itself" >&2
		rmdir "$bpffs"
		bpffs=
	fi
fi
# The files that take the heavy lock (test/lib/exclusive.ts) run one at a
# time, the others beside them.  A free slot takes the next heavy file when none runs (they are
# one serial chain, the longest path of the run), else the next light file,
# longest first (LONG_FIRST), so the run does not end on one long file
# started late.
declare -A heavy=() rank=()
nheavy=0
for f in "${files[@]}"; do
	if grep -q 'exclusive_1.exclusive)(' "$f"; then heavy[$f]=1; nheavy=$((nheavy + 1)); fi
done
for i in "${!LONG_FIRST[@]}"; do rank[dist/test/${LONG_FIRST[$i]}.test.js]=$i; done
mapfile -t pending < <(for f in "${files[@]}"; do printf '%04d %s\n' "${rank[$f]:-9999}" "$f"; done | sort | cut -d' ' -f2)

log_of() { echo "$logs/${1#dist/test/}.tap"; }
run_file() { # FILE: node FILE under the reaper, its TAP in $logs, "RC SECONDS" next to it
	local log s=$SECONDS rc
	log=$(log_of "$1")
	mkdir -p "$(dirname "$log")"
	# the reaper records how each orphan (restored process) ended; a failed
	# test keeps its scratch files under kept/ (test/lib/criu.ts)
	REAPER_STATUS_FILE=$ROOT/${log%.tap}.reaped CRIU_URING_KEEP_DIR=$ROOT/$logs/kept \
		TAP_TIMEOUT=$timeout timeout -k 30 $((timeout + 120)) build/test-progs/reaper node --enable-source-maps "$1" \
		>"$log" 2>"${log%.tap}.stderr"
	rc=$?
	echo "$rc $((SECONDS - s))" >"${log%.tap}.rc"
}

start=$SECONDS
echo "test: ${#files[@]} files, $jobs at a time; $nheavy stress/podman files of them one at a time"
declare -A file_of=()
running=0 heavy_running= done_files=0 failed=()
set +e
while ((${#pending[@]} + running)); do
	while ((running < jobs)); do
		next=
		for i in "${!pending[@]}"; do # a heavy file if none runs, else the first light one
			f=${pending[$i]}
			if [[ -n ${heavy[$f]:-} ]]; then
				[[ -z $heavy_running ]] && { next=$i; break; }
			elif [[ -z $next ]]; then
				next=$i
				[[ -n $heavy_running || $nheavy == 0 ]] && break
			fi
		done
		[[ -n $next ]] || break
		f=${pending[$next]}
		unset 'pending[next]'
		pending=("${pending[@]}")
		run_file "$f" &
		file_of[$!]=$f
		running=$((running + 1))
		[[ -z ${heavy[$f]:-} ]] || { heavy_running=$f; nheavy=$((nheavy - 1)); }
	done
	wait -n -p pid
	f=${file_of[$pid]}
	running=$((running - 1))
	[[ $heavy_running != "$f" ]] || heavy_running=
	done_files=$((done_files + 1))
	rc=1 took=?
	read -r rc took <"$(log_of "$f" | sed 's/\.tap$/.rc/')"
	if ((rc)); then failed+=("$f"); word=FAIL; else word=ok; fi
	echo "test: [$done_files/${#files[@]}] $word ${f#dist/test/} in $took s (at $((SECONDS - start)) s)"
done
set -e
logfiles=()
for f in "${files[@]}"; do logfiles+=("$(log_of "$f")"); done
for f in "${failed[@]}"; do
	echo "== ${f#dist/test/} failed: its TAP ($(log_of "$f")) and stderr"
	cat "$(log_of "$f")"
	sed 's/^/stderr: /' "$(log_of "$f" | sed 's/\.tap$/.stderr/')"
done
echo "test: the slowest files (s):"
for f in "${files[@]}"; do read -r _ took <"$(log_of "$f" | sed 's/\.tap$/.rc/')"; echo "$took ${f#dist/test/}"; done |
	sort -rn | head -12 | sed 's/^/test:   /'

# Add up the assertions of every file's TAP (a subtest's own result line,
# which follows its plan or opens its buffered body, is not one) into a
# plain "N passed, N failed" line any CI log reader understands.
node -e '
let pass = 0, fail = 0, skip = 0;
for (const f of process.argv.slice(1)) {
	let text = "";
	try { text = require("fs").readFileSync(f, "utf8"); } catch { fail++; continue; }
	let prev = "";
	for (const line of text.split("\n")) {
		if (!line.trim() || /^\s*#/.test(line)) continue;
		const m = /^(\s*)(not )?ok \d+/.exec(line);
		if (m) {
			const p = /^(\s*)1\.\.\d+/.exec(prev);
			const subtest = (p && p[1].length > m[1].length) || /\{\s*$/.test(line);
			if (!subtest) {
				if (/# (SKIP|TODO)\b/i.test(line)) skip++;
				else if (m[2]) fail++;
				else pass++;
			}
		}
		prev = line;
	}
}
console.log(`tests: ${pass} passed, ${fail} failed` + (skip ? `, ${skip} skipped` : ""));
' "${logfiles[@]}"
echo "tests: ${#files[@]} files in $((SECONDS - start)) s (--jobs $jobs); raw TAP per file in $logs/"
((${#failed[@]} == 0)) || { echo "tests: failed: ${failed[*]#dist/test/}"; exit 1; }

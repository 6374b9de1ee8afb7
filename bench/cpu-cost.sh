#!/usr/bin/env bash
# bench/cpu-cost.sh [RUNS] [N...]: CPU time a dump and a restore cost, with and without rings.
#
# Wall times on this shared 2-core VM swing by a factor of ten with the load
# other work puts on it; the CPU time spent is steadier.  For each N (default
# 0 1 16 256) and each of RUNS runs (default 3), test/progs/bench_rings N 0
# is dumped (killing) and restored, and `perf stat -e task-clock` counts
# the CPU time of criu and of everything it forks, the Node helper
# included; N = 0 is the baseline, dumped and restored without the plugin.
# The BPF programs are pinned on a bpffs mounted for the run in a private
# mount namespace (as bench/startup.ts does).  CRIU_URING_SAVED_PLAN=0 in
# the environment: every restore plans with the Node helper, as before the
# dump saved its plan (docs/saved-plan.md).  Prints one line per run
# (N, dump CPU ms, restore CPU ms, dump wall ms, restore wall ms) and the
# medians.  Needs root, perf and a built checkout.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ ${CRIU_URING_BENCH_MNTNS:-} != 1 ]]; then
	exec env CRIU_URING_BENCH_MNTNS=1 unshare -m --propagation private "$0" "$@"
fi
RUNS=${1:-3}
shift || true
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(0 1 16 256)
# fds inherited from the caller would be files CRIU cannot find in this mount namespace
for fd in $(ls /proc/$$/fd); do ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null || true; done

CRIU=$ROOT/build/criu/criu
BPFFS=$(mktemp -d /tmp/cpu-cost-bpffs-XXXXXX)
mount -t bpf bpf "$BPFFS"
export CRIU_URING_BPF_PIN_DIR=$BPFFS/criu-uring
trap 'umount "$BPFFS"; rmdir "$BPFFS"' EXIT
node -e "require('$ROOT/dist/src/native.js').loadNative().runIter(process.pid)"	# the boot's first load pins the set

ms() { awk -F, '/task-clock/ { printf "%.1f", $1 }' "$1"; }
cycle() { # $1 rings
	local n=$1 dir pid lib=(-L "$ROOT/build/plugins") t0 t1 t2 t3
	((n)) || lib=()
	dir=$(mktemp -d /tmp/cpu-cost-XXXXXX)
	{ (cd "$dir" && TRUTH_FILE=$dir/truth.json setsid "$ROOT/build/test-progs/bench_rings" "$n" 0 </dev/null >/dev/null 2>&1 &); } 2>/dev/null
	for _ in $(seq 500); do [[ -s $dir/truth.json ]] && break; sleep 0.02; done
	pid=$(node -p "JSON.parse(require('fs').readFileSync('$dir/truth.json')).pid")
	t0=$(date +%s%N)
	perf stat -x, -e task-clock -o "$dir/dump.cpu" "$CRIU" dump -t "$pid" -D "$dir" -o dump.log "${lib[@]}"
	t1=$(date +%s%N)
	while [[ -e /proc/$pid ]]; do sleep 0.02; done
	t2=$(date +%s%N)
	(cd / && perf stat -x, -e task-clock -o "$dir/restore.cpu" "$CRIU" restore -D "$dir" -d -o restore.log "${lib[@]}")
	t3=$(date +%s%N)
	echo "$n $(ms "$dir/dump.cpu") $(ms "$dir/restore.cpu") $(((t1 - t0) / 1000000)) $(((t3 - t2) / 1000000))"
	kill -9 "$pid" 2>/dev/null || true
	while [[ -e /proc/$pid ]]; do sleep 0.02; done
	rm -rf "$dir"
}

echo "load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
out=$(for _ in $(seq "$RUNS"); do for n in "${SIZES[@]}"; do cycle "$n"; done; done)
echo "$out"
echo "load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| rings | dump CPU ms | restore CPU ms | dump wall ms | restore wall ms |"
echo "|---|---|---|---|---|"
for n in "${SIZES[@]}"; do
	awk -v n="$n" '$1 == n { for (i = 2; i <= 5; i++) v[i] = v[i] " " $i; c++ }
		function med(s,   a, k) { k = split(substr(s, 2), a, " "); asort(a); return a[int((k + 1) / 2)] }
		END { printf "| %s | %s | %s | %s | %s |\n", n, med(v[2]), med(v[3]), med(v[4]), med(v[5]) }' <<<"$out"
done

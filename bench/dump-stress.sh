#!/usr/bin/env bash
# Stress CRIU dumps of a busy process and count how many fail.
#
#   bench/dump-stress.sh [-n ROUNDS] [-m leave|kill] [-p PROG] [-P] [-o OUTDIR] [-- PROG ARGS]
#
#   -n ROUNDS  dumps to run (default 100)
#   -m MODE    leave: criu dump --leave-running, the same process every round;
#              kill (default): dump, wait for the pid to vanish, restore, repeat
#   -p PROG    a program from build/test-progs (default cr_multi)
#   -P         without the io_uring plugin (-L not passed)
#   -o OUTDIR  where images and logs go (default a new dir under /tmp); the
#              -v4 log of every failed dump or restore is kept as
#              OUTDIR/fail-N-{dump,restore}.log
#
# After every restore (kill) or dump (leave), the program must keep burning
# CPU: a busy program that stops is stuck, e.g. on a lost completion; the
# run stops there (images kept in OUTDIR/stuck-img).  A program that died
# (its checks failed after a restore) stops the run too; the images of the
# last two rounds are kept in OUTDIR/dead-img and OUTDIR/dead-img.prev.
# Prints one line per failure ("round N: dump exited C: <first error>") and
# a summary "dumps: OK/N ok, F failed; restores: ...; program: verified|...".
# Exit status 0 only when every dump and restore succeeded and the program
# verified itself at the end.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CRIU=${CRIU_URING_CRIU:-$ROOT/build/criu/criu}
PLUGINS=$ROOT/build/plugins
ROUNDS=100
MODE=kill
PROG=cr_multi
USE_PLUGIN=1
OUT=""

while getopts "n:m:p:Po:" o; do
	case $o in
	n) ROUNDS=$OPTARG ;;
	m) MODE=$OPTARG ;;
	p) PROG=$OPTARG ;;
	P) USE_PLUGIN=0 ;;
	o) OUT=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[[ $MODE == leave || $MODE == kill ]] || { echo "dump-stress: -m must be leave or kill" >&2; exit 2; }
[[ -n $OUT ]] || OUT=$(mktemp -d /tmp/dump-stress.XXXXXX)
mkdir -p "$OUT"

plugin_args=()
((USE_PLUGIN)) && plugin_args=(-L "$PLUGINS")

gone() { [[ ! -e /proc/$1 ]]; }

wait_gone() {
	local i
	for ((i = 0; i < 1000; i++)); do
		gone "$1" && return 0
		sleep 0.01
	done
	return 1
}

# utime + stime of the whole process, in clock ticks
cpu_ticks() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -1; return; }
	stat=${stat##*) }
	set -- $stat
	echo $((${12} + ${13}))
}

# A busy program that burns no CPU for 3 s is stuck (e.g. waiting for a
# completion that was lost).
progressing() {
	local before i
	before=$(cpu_ticks "$1")
	for ((i = 0; i < 30; i++)); do
		sleep 0.1
		(($(cpu_ticks "$1") > before)) && return 0
	done
	return 1
}

# The first real error of a CRIU log.  "Unable to detach from PID: No such
# process" alone says little: CRIU prints it whenever the dump fails after
# it tried to seize a task that had already exited (the Warn before it
# says so), so name that case.
first_error() {
	if grep -q 'Warn .*Unable to interrupt task' "$1"; then
		echo "the process had exited before CRIU seized it: $(grep -m1 'Unable to interrupt task' "$1")"
		return
	fi
	grep 'Error (' "$1" | grep -v RLIMIT_NOFILE | head -n1
}

# A ring image taken while the kernel was half way through a submission
# batch (SQPOLL) or a completion post has its cached SQ head or CQ tail
# ahead of the shared one: the requests in between are in no list and
# would be lost.  Print such rings, one line each.
half_done_rings() {
	node -e '
const { readImage } = require(process.argv[1]);
const fs = require("fs");
for (const f of fs.readdirSync(process.argv[2]).filter((n) => /^io_uring-\d+\.img$/.test(n)))
	for (const r of readImage(process.argv[2] + "/" + f).rings) {
		const x = r.indices;
		if (x.cached_sq_head !== x.sq_head || x.cached_cq_tail !== x.cq_tail)
			console.log(`${f} ring ${r.ring_id}: cached sq head ${x.cached_sq_head} vs ${x.sq_head}, cached cq tail ${x.cached_cq_tail} vs ${x.cq_tail}`);
	}' "$ROOT/dist/src/image/files.js" "$1"
}

export TRUTH_FILE=$OUT/truth.json
rm -f "$TRUTH_FILE"
(cd "$OUT" && exec setsid "$ROOT/build/test-progs/$PROG" "$@" </dev/null >"$OUT/prog.out" 2>"$OUT/prog.err") &
pid=$!
disown "$pid"
for ((i = 0; i < 500; i++)); do [[ -s $TRUTH_FILE ]] && break; sleep 0.01; done
[[ -s $TRUTH_FILE ]] || { echo "dump-stress: $PROG wrote no truth: $(cat "$OUT/prog.err")" >&2; exit 1; }

dump_ok=0 dump_fail=0 rst_ok=0 rst_fail=0 dead=0 stuck=0 half_done=0
for ((n = 0; n < ROUNDS; n++)); do
	echo "$n" >"$OUT/round"
	if gone "$pid"; then
		# died after an earlier restore: keep the last two rounds' images and logs
		[[ -d $OUT/img ]] && cp -r "$OUT/img" "$OUT/dead-img"
		[[ -d $OUT/img.prev ]] && cp -r "$OUT/img.prev" "$OUT/dead-img.prev"
		echo "round $n: $PROG is gone: $(cat "$OUT/prog.err")"
		dead=1
		break
	fi
	sleep "0.$(printf '%03d' $((50 + RANDOM % 200)))"
	img=$OUT/img
	rm -rf "$OUT/img.prev"
	[[ -d $img ]] && mv "$img" "$OUT/img.prev"
	mkdir -p "$img"
	dargs=(dump -t "$pid" -D "$img" -v4 -o "$img/dump.log" "${plugin_args[@]}")
	[[ $MODE == leave ]] && dargs+=(--leave-running)
	timeout -s KILL 120 "$CRIU" "${dargs[@]}" >/dev/null 2>&1
	rc=$?
	if ((rc)); then
		dump_fail=$((dump_fail + 1))
		cp "$img/dump.log" "$OUT/fail-$n-dump.log"
		echo "round $n: dump exited $rc: $(first_error "$img/dump.log")"
		if gone "$pid"; then
			# it died after the previous round's restore: keep that round
			[[ -d $OUT/img.prev ]] && cp -r "$OUT/img.prev" "$OUT/dead-img.prev"
			echo "round $n: $PROG is gone: $(cat "$OUT/prog.err")"
			dead=1
			break
		fi
		continue
	fi
	dump_ok=$((dump_ok + 1))
	half=$(half_done_rings "$img")
	[[ -n $half ]] && { echo "round $n: image with a half-done ring: $half"; half_done=$((half_done + 1)); }
	if [[ $MODE == leave ]]; then
		progressing "$pid" || { echo "round $n: $PROG makes no progress after the dump (stack: $(tr '\n' ' ' </proc/$pid/stack))"; stuck=1; break; }
		continue
	fi
	wait_gone "$pid" || { echo "round $n: pid $pid still there after the dump"; break; }
	(cd / && timeout -s KILL 120 "$CRIU" restore -D "$img" -d -v4 -o "$img/restore.log" "${plugin_args[@]}" >/dev/null 2>&1)
	rc=$?
	if ((rc)); then
		rst_fail=$((rst_fail + 1))
		cp "$img/restore.log" "$OUT/fail-$n-restore.log"
		echo "round $n: restore exited $rc: $(first_error "$img/restore.log")"
		break
	fi
	rst_ok=$((rst_ok + 1))
	progressing "$pid" || { echo "round $n: $PROG makes no progress after the restore (stack: $(tr '\n' ' ' </proc/$pid/stack))"; cp "$img"/*.log "$OUT/"; cp -r "$img" "$OUT/stuck-img"; stuck=1; break; }
done

verdict="gone"
if ! gone "$pid"; then
	kill -USR1 "$pid"
	if ! wait_gone "$pid"; then
		verdict="did not exit after SIGUSR1 (killed)"
		kill -KILL "$pid"
	elif [[ -s $OUT/prog.err ]]; then
		verdict=$(head -c 200 "$OUT/prog.err")
	else
		verdict="verified ($(head -n1 "$OUT/prog.out"))"
	fi
fi
echo "dumps: $dump_ok/$ROUNDS ok, $dump_fail failed; restores: $rst_ok ok, $rst_fail failed; stuck: $stuck; died: $dead; half-done images: $half_done; $PROG: $verdict; logs in $OUT"
[[ $dump_fail == 0 && $rst_fail == 0 && $stuck == 0 && $dead == 0 && $verdict == verified* ]]

/*
 * Restore benchmarks (`npm run bench`; figures in docs/benchmarks.md):
 *
 *  - the index-advance rate inside a restored task, next to the kernel's
 *    raw NOP rate measured in the same run by bench/nop_rate.c (same ring
 *    size, same batch-submit-and-reap loop, in a plain process);
 *  - the worst-case advance (indices near 2^32): measured for a shorter
 *    span, extrapolated to 2^32 operations from the measured rate;
 *  - where restore time goes: the plugin's debug log times every plan step
 *    (plugin-c/plan.c), grouped here by what the step does.
 *
 * Medians over BENCH_RUNS runs (default 3).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CRIU_BIN, PLUGIN_DIR, TEST_PROGS } from '../src/util/paths';

const REPO = resolve(__dirname, existsSync(resolve(__dirname, '../package.json')) ? '..' : '../..');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mops = (ops: number, s: number): string => (ops / s / 1e6).toFixed(1);

function nopRateBinary(): string {
	const out = join(REPO, 'build', 'bench');
	mkdirSync(out, { recursive: true });
	const bin = join(out, 'nop_rate');
	execFileSync('gcc', ['-O2', '-Wall', '-I', join(REPO, 'include'), join(REPO, 'bench', 'nop_rate.c'), '-o', bin]);
	return bin;
}

/** ops/s of plain NOPs from a plain process. */
function rawNopRate(bin: string, entries: number, ops: number): number {
	const [done, secs] = execFileSync(bin, [String(entries), String(ops)], { encoding: 'utf8' }).trim().split(' ').map(Number);
	return done / secs;
}

interface StepTime { verb: string; what: string; ms: number }
interface RestoreRun { advanceOps: number; advanceSecs: number; steps: StepTime[]; restoreMs: number }

async function gone(pid: number): Promise<void> {
	while (existsSync(`/proc/${pid}`)) await sleep(20);
}

/* cr_rw with its ring advanced by `advance` NOPs, dumped and restored; the restore log parsed. */
async function restoreRun(entries: number, advance: number): Promise<RestoreRun> {
	const dir = mkdtempSync(join(tmpdir(), 'bench-restore-'));
	const truth = join(dir, 'truth.json');
	const child = spawn(join(TEST_PROGS, 'cr_rw'), ['--entries', String(entries), '--advance', String(advance)],
		{ cwd: dir, detached: true, stdio: 'ignore', env: { ...process.env, TRUTH_FILE: truth } });
	child.unref();
	const pid = child.pid!;
	try {
		while (!existsSync(truth)) await sleep(20);
		execFileSync(CRIU_BIN, ['dump', '-t', String(pid), '-D', dir, '-o', 'dump.log', '-L', PLUGIN_DIR]);
		await gone(pid);
		const t0 = process.hrtime.bigint();
		execFileSync(CRIU_BIN, ['restore', '-D', dir, '-d', '-v4', '-o', 'restore.log', '-L', PLUGIN_DIR], { cwd: '/' });
		const restoreMs = Number(process.hrtime.bigint() - t0) / 1e6;
		const log = readFileSync(join(dir, 'restore.log'), 'utf8');
		const adv = /advance the kernel indices: (\d+) operations in ([\d.]+) s/.exec(log);
		if (!adv) throw new Error(`bench: the restore log of cr_rw --advance ${advance} has no advance line (${dir})`);
		const steps = [...log.matchAll(/io_uring: step \d+ (\w+) \[([^\]]*)\]: ([\d.]+) ms/g)]
			.map((m) => ({ verb: m[1], what: m[2], ms: Number(m[3]) }));
		return { advanceOps: Number(adv[1]), advanceSecs: Number(adv[2]), steps, restoreMs };
	} finally {
		try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
		await gone(pid);
		rmSync(dir, { recursive: true, force: true });
	}
}

/*
 * A REGISTERED_FD_ONLY ring whose CQ tail leads its SQ head by `extra`:
 * the restore posts those CQEs with the ring's own multishot timeouts.
 * Baseline in the same run: the ticks per second cr_fdonly itself saw
 * while it made the same CQEs in a plain process.
 */
async function fdOnlyRun(flags: string, extra: number): Promise<{ ops: number; secs: number; baseline: number }> {
	const dir = mkdtempSync(join(tmpdir(), 'bench-fdonly-'));
	const truth = join(dir, 'truth.json');
	const child = spawn(join(TEST_PROGS, 'cr_fdonly'), ['--flags', flags, '--extra-cqes', String(extra), '--tick-ns', '1', '--advance', '0'],
		{ cwd: dir, detached: true, stdio: 'ignore', env: { ...process.env, TRUTH_FILE: truth } });
	child.unref();
	const pid = child.pid!;
	try {
		while (!existsSync(truth)) await sleep(20);
		await sleep(50);
		const baseline = Number(JSON.parse(readFileSync(truth, 'utf8')).ticks_per_sec);
		execFileSync(CRIU_BIN, ['dump', '-t', String(pid), '-D', dir, '-o', 'dump.log', '-L', PLUGIN_DIR]);
		await gone(pid);
		execFileSync(CRIU_BIN, ['restore', '-D', dir, '-d', '-v4', '-o', 'restore.log', '-L', PLUGIN_DIR], { cwd: '/' });
		const log = readFileSync(join(dir, 'restore.log'), 'utf8');
		const adv = /user memory: (\d+) operations in ([\d.]+) s/.exec(log);
		if (!adv) throw new Error(`bench: the restore log of cr_fdonly has no advance line (${dir})`);
		return { ops: Number(adv[1]), secs: Number(adv[2]), baseline };
	} finally {
		try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
		await gone(pid);
		rmSync(dir, { recursive: true, force: true });
	}
}

/* What a plan step does, for the phase table (step kinds: src/restore/plan.ts). */
function phaseOf(s: StepTime, afterAdvance: boolean): string {
	if (s.verb === 'advance') return 'index advance (in-task NOP/MSG_RING loop)';
	if (s.verb === 'place') return 'mappings at their exact addresses';
	if (s.verb === 'post') return 'overflow list';
	if (s.what.startsWith('io_uring_setup')) return 'io_uring_setup';
	if (s.what.startsWith('move the ring to fd') || s.what.startsWith('close the setup fd')) return 'ring onto its fds';
	if (/ring region|SQE region/.test(s.what) || (s.verb === 'write' && afterAdvance)) return 'ring bytes written back';
	if (s.verb === 'sys') return 'registrations and enable';
	return 'task entry, scratch memory, argument writes';
}

function phases(steps: StepTime[]): Map<string, number> {
	const out = new Map<string, number>();
	let afterAdvance = false;
	for (const s of steps) {
		const p = phaseOf(s, afterAdvance);
		out.set(p, (out.get(p) ?? 0) + s.ms);
		if (s.verb === 'advance') afterAdvance = true;
	}
	return out;
}

async function main(): Promise<void> {
	const bin = nopRateBinary();
	const cases: [number, number][] = [[8, 3_000_000], [256, 10_000_000]];
	for (const [entries, advance] of cases) {
		const raw: number[] = [];
		const runs: RestoreRun[] = [];
		for (let i = 0; i < RUNS; i++) {
			raw.push(rawNopRate(bin, entries, advance));
			runs.push(await restoreRun(entries, advance));
		}
		const rate = median(runs.map((r) => r.advanceOps / r.advanceSecs));
		const mid = runs.find((r) => r.advanceOps / r.advanceSecs === rate)!;
		console.log(`advance, ${entries}-entry ring: ${mops(rate, 1)} M ops/s in the restored task vs ` +
			`${mops(median(raw), 1)} M NOPs/s raw in a plain process (medians over ${RUNS} runs)`);
		console.log(`  measured: ${mid.advanceOps} operations in ${mid.advanceSecs.toFixed(3)} s; ` +
			`worst case 2^32 operations extrapolated: ${(2 ** 32 / rate).toFixed(0)} s (${(2 ** 32 / rate / 60).toFixed(1)} min)`);
		const ph = phases(mid.steps);
		const total = [...ph.values()].reduce((a, b) => a + b, 0);
		console.log(`  restore phases (plan steps, ${total.toFixed(1)} ms of a ${mid.restoreMs.toFixed(0)} ms criu restore):`);
		for (const [p, ms] of [...ph.entries()].sort((a, b) => b[1] - a[1]))
			console.log(`    ${p}: ${ms.toFixed(2)} ms`);
	}
	for (const [what, flags] of [['plain', '0'], ['DEFER_TASKRUN', '3000']]) {
		const runs: { ops: number; secs: number; baseline: number }[] = [];
		for (let i = 0; i < RUNS; i++) runs.push(await fdOnlyRun(flags, 20_000));
		const rate = median(runs.map((r) => r.ops / r.secs));
		console.log(`REGISTERED_FD_ONLY ${what} ring, 20,000 CQEs beyond its SQEs: the restore posts ${(rate / 1e3).toFixed(1)} k CQEs/s ` +
			`with its own multishot timeouts; the program's own 1 ns multishot ticks: ${(median(runs.map((r) => r.baseline)) / 1e3).toFixed(1)} k/s ` +
			`(medians over ${RUNS} runs)`);
	}
}

main().catch((e: Error) => {
	console.error(`bench restore: ${e.message}`);
	process.exit(1);
});

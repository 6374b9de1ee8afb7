/*
 * The plugin's cost per checkpoint (issue 10; figures in README and
 * docs/benchmarks.md).  `node dist/bench/startup.js`, run by `npm run bench`.
 *
 *  - fixed costs: `node -e 0` (the floor of any Node helper) and the
 *    helper's own start, from spawn to its answer to "hello";
 *  - per process: CRIU dump (killing) and restore wall time, CRIU's frozen
 *    time (stats-dump), and the pause the application itself saw during a
 *    `--leave-running` dump (test/progs/bench_rings PAUSE_FILE: the longest
 *    gap between its 1 ms wake-ups, minus the 1 ms tick);
 *  - baseline in the same run: the same program without io_uring, dumped
 *    and restored by the same CRIU without the plugin;
 *  - with the BPF programs pinned (docs/bpf.md): a bpffs mounted on a
 *    temporary directory for the run (CRIU_URING_BPF_PIN_DIR), the set
 *    created by a first capture before measuring; with and without the
 *    restore plan the dump saves (docs/saved-plan.md).  The bench runs in a
 *    mount namespace of its own (it re-runs itself under unshare): a bpffs
 *    in the host's namespace would break other users' dumps of trees in
 *    new mount namespaces while it is there.
 *
 * Medians over BENCH_RUNS runs (default 5); BENCH_CASES=REGEX runs only
 * the cases whose label matches, beside the baseline.  The "added" columns subtract
 * the baseline's medians.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CRIU_BIN, PLUGIN_DIR, TEST_PROGS } from '../src/util/paths';
import { PROTOCOL_VERSION } from '../src/plugin/protocol';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const HELPER = resolve(__dirname, '../src/plugin/helper.js');
const NATIVE = resolve(__dirname, '../src/native.js');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const msSince = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

/* A protobuf varint at buf[off]: [value, next offset]. */
function varint(buf: Buffer, off: number): [number, number] {
	let v = 0, shift = 0;
	for (;;) {
		const b = buf[off++];
		v += (b & 0x7f) * 2 ** shift;
		if (!(b & 0x80)) return [v, off];
		shift += 7;
	}
}

/* Fields of one protobuf message: number -> varint value or [start, end) of a length-delimited one. */
function fields(buf: Buffer, start: number, end: number): Map<number, number | [number, number]> {
	const out = new Map<number, number | [number, number]>();
	let off = start;
	while (off < end) {
		let key: number, v: number;
		[key, off] = varint(buf, off);
		if ((key & 7) === 0) {
			[v, off] = varint(buf, off);
			out.set(key >>> 3, v);
		} else if ((key & 7) === 2) {
			[v, off] = varint(buf, off);
			out.set(key >>> 3, [off, off + v]);
			off += v;
		} else throw new Error(`stats-dump: unexpected wire type ${key & 7}`);
	}
	return out;
}

/* CRIU's frozen time (ms) from stats-dump: 2 magics, a u32 size, stats_entry { dump_stats_entry dump = 1 { frozen_time = 2 } }. */
function frozenMs(dir: string): number {
	const buf = readFileSync(join(dir, 'stats-dump'));
	const size = buf.readUInt32LE(8);
	const dump = fields(buf, 12, 12 + size).get(1);
	if (!Array.isArray(dump)) throw new Error('stats-dump: no dump entry');
	const frozen = fields(buf, dump[0], dump[1]).get(2);
	if (typeof frozen !== 'number') throw new Error('stats-dump: no frozen_time');
	return frozen / 1000;
}

async function gone(pid: number): Promise<void> {
	while (existsSync(`/proc/${pid}`)) await sleep(20);
}

interface Subject { prog: string; args: (dir: string) => string[] }

async function start(s: Subject, dir: string): Promise<number> {
	const truth = join(dir, 'truth.json');
	spawn(join(TEST_PROGS, s.prog), s.args(dir), {
		cwd: dir, detached: true, stdio: 'ignore', env: { ...process.env, TRUTH_FILE: truth },
	}).unref();
	for (let i = 0; i < 1500 && !existsSync(truth); i++) await sleep(20);
	return JSON.parse(readFileSync(truth, 'utf8')).pid;
}

interface Cycle { dump: number; restore: number; frozen: number; pause: number }

/* One --leave-running dump for the pauses, then one killing dump and a restore for the times. */
async function cycle(s: Subject, plugin: boolean, env: Record<string, string>): Promise<Cycle> {
	const lib = plugin ? ['-L', PLUGIN_DIR] : [];
	const opts = { env: { ...process.env, ...env } };
	const dir = mkdtempSync(join(tmpdir(), 'bench-startup-'));
	let pid = 0;
	try {
		pid = await start(s, dir);
		const pauseFile = join(dir, 'pause');
		await sleep(100);
		const gapBefore = Number(readFileSync(pauseFile, 'utf8').split(' ')[0]);
		const keep = join(dir, 'keep');
		execFileSync('mkdir', [keep]);
		execFileSync(CRIU_BIN, ['dump', '-t', String(pid), '-D', keep, '-o', 'dump.log', '--leave-running', ...lib], opts);
		await sleep(50);
		const gap = Number(readFileSync(pauseFile, 'utf8').split(' ')[0]);
		const frozen = frozenMs(keep);
		if (gap <= gapBefore) console.error(`bench: warning: no pause seen (${gap} us, ${gapBefore} us before the dump)`);

		let t0 = process.hrtime.bigint();
		execFileSync(CRIU_BIN, ['dump', '-t', String(pid), '-D', dir, '-o', 'dump.log', ...lib], opts);
		const dump = msSince(t0);
		await gone(pid);
		t0 = process.hrtime.bigint();
		execFileSync(CRIU_BIN, ['restore', '-D', dir, '-d', '-o', 'restore.log', ...lib], { ...opts, cwd: '/' });
		const restore = msSince(t0);
		return { dump, restore, frozen, pause: (gap - 1000) / 1000 };
	} finally {
		if (pid) {
			try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
			await gone(pid);
		}
		rmSync(dir, { recursive: true, force: true });
	}
}

/* The environment the plugin gives its helper: without NODE_EXTRA_CA_CERTS (plugin-c/helper.c). */
function helperEnv(): NodeJS.ProcessEnv {
	const { NODE_EXTRA_CA_CERTS: _certs, ...env } = process.env;
	return env;
}

/* spawn to the answer to "hello", as the plugin starts the helper */
async function helperStart(stage: string, dirFd: number): Promise<number> {
	const t0 = process.hrtime.bigint();
	const child = spawn(process.execPath, [HELPER, stage], { stdio: ['pipe', 'pipe', 'inherit'], env: helperEnv() });
	child.stdin.write(`hello ${stage} /proc/${process.pid}/fd/${dirFd} ${PROTOCOL_VERSION}\n`);
	const ms = await new Promise<number>((res, rej) => {
		let out = '';
		child.stdout.on('data', (d: Buffer) => {
			out += d.toString();
			/* "log" lines may come before the reply (plugin-c/helper.c prints them) */
			while (/^log [^\n]*\n/.test(out)) out = out.slice(out.indexOf('\n') + 1);
			if (out.includes('\n')) out.startsWith('ok') ? res(msSince(t0)) : rej(new Error(`helper: ${out.trim()}`));
		});
		child.on('error', rej);
	});
	child.stdin.end();
	await new Promise((r) => child.on('exit', r));
	return ms;
}

async function fixedCosts(): Promise<void> {
	const bare: number[] = [];
	for (let i = 0; i < 2 * RUNS; i++) {
		const t0 = process.hrtime.bigint();
		execFileSync(process.execPath, ['-e', '0'], { env: helperEnv() });
		bare.push(msSince(t0));
	}
	const dir = mkdtempSync(join(tmpdir(), 'bench-startup-'));
	const fd = openSync(dir, 'r');
	try {
		for (const stage of ['dump', 'restore']) {
			const ms: number[] = [];
			for (let i = 0; i < 2 * RUNS; i++) ms.push(await helperStart(stage, fd));
			console.log(`| helper start to hello (${stage}) | ${median(ms).toFixed(0)} |`);
		}
	} finally {
		closeSync(fd);
		rmSync(dir, { recursive: true, force: true });
	}
	console.log(`| node -e 0 (baseline) | ${median(bare).toFixed(0)} |`);
}

async function main(): Promise<void> {
	console.log('| fixed cost | ms |');
	console.log('|---|---|');
	await fixedCosts();
	const added = new Map<string, number>();
	const rings = (n: number): Subject => ({ prog: 'bench_rings', args: (dir) => [String(n), '0', join(dir, 'pause')] });
	const bpffs = mkdtempSync(join(tmpdir(), 'bench-bpffs-'));
	execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs]);
	try {
		const pinned = { CRIU_URING_BPF_PIN_DIR: join(bpffs, 'criu-uring') };
		/* the first load of the "boot" pins the set */
		execFileSync(process.execPath, ['-e', `require(${JSON.stringify(NATIVE)}).loadNative().runIter(process.pid)`], { env: { ...process.env, ...pinned } });
		const cases: [string, Subject, boolean, Record<string, string>][] = [
			['no io_uring, no plugin (baseline)', rings(0), false, {}],
			['1 ring', rings(1), true, {}],
			['16 rings', rings(16), true, {}],
			['1 ring, BPF pinned', rings(1), true, pinned],
			['16 rings, BPF pinned', rings(16), true, pinned],
			/* the restore plans with the helper, as before the dump saved its plan (docs/saved-plan.md) */
			['1 ring, BPF pinned, no saved plan', rings(1), true, { ...pinned, CRIU_URING_SAVED_PLAN: '0' }],
			['16 rings, BPF pinned, no saved plan', rings(16), true, { ...pinned, CRIU_URING_SAVED_PLAN: '0' }],
		];
		console.log();
		console.log('| process | dump ms | restore ms | added dump + restore ms | frozen ms (CRIU) | pause the app saw ms |');
		console.log('|---|---|---|---|---|---|');
		let base: Cycle | null = null;
		/* BENCH_CASES=REGEX: only the cases whose label matches (the baseline always runs) */
		const only = process.env.BENCH_CASES ? new RegExp(process.env.BENCH_CASES) : null;
		for (const [label, subject, plugin, env] of cases) {
			if (only && plugin && !only.test(label)) continue;
			const r: Cycle[] = [];
			for (let i = 0; i < RUNS; i++) r.push(await cycle(subject, plugin, env));
			const m: Cycle = {
				dump: median(r.map((x) => x.dump)), restore: median(r.map((x) => x.restore)),
				frozen: median(r.map((x) => x.frozen)), pause: median(r.map((x) => x.pause)),
			};
			const b: Cycle = base ?? m;
			base = b;
			const plus = (k: keyof Cycle): string => (b === m ? '' : ` (+${(m[k] - b[k]).toFixed(1)})`);
			added.set(label, m.dump + m.restore - b.dump - b.restore);
			console.log(`| ${label} | ${m.dump.toFixed(0)} | ${m.restore.toFixed(0)} | ${b === m ? '' : (m.dump + m.restore - b.dump - b.restore).toFixed(0)} | ` +
				`${m.frozen.toFixed(1)}${plus('frozen')} | ${m.pause.toFixed(1)}${plus('pause')} |`);
		}
	} finally {
		execFileSync('umount', [bpffs]);
		rmdirSync(bpffs);
	}
	console.log();
	const perRing = (one: string, sixteen: string): string =>
		(added.has(one) && added.has(sixteen) ? ((added.get(sixteen)! - added.get(one)!) / 15).toFixed(2) : '-');
	console.log(`per additional ring (16 rings vs 1): ${perRing('1 ring', '16 rings')} ms per dump + restore, ` +
		`${perRing('1 ring, BPF pinned', '16 rings, BPF pinned')} ms with the programs pinned, ` +
		`${perRing('1 ring, BPF pinned, no saved plan', '16 rings, BPF pinned, no saved plan')} ms pinned without the saved plan`);
}

if (process.env.CRIU_URING_BENCH_MNTNS !== '1') {
	const r = spawnSync('unshare', ['-m', '--propagation', 'private', process.execPath, __filename],
		{ stdio: 'inherit', env: { ...process.env, CRIU_URING_BENCH_MNTNS: '1' } });
	process.exit(r.status ?? 1);
}

main().catch((e) => {
	console.error(`bench: ${(e as Error).message}`);
	process.exit(1);
});

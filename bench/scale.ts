/*
 * How dump and restore costs grow with the number of rings (1, 16, 256)
 * and of registered files per ring (10, 1000, 10000), with the plugin's
 * share of each: the time between the plugin's first and last log line in
 * CRIU's log.  Baseline in the same run: the same CRIU dumping and
 * restoring a process without io_uring.  `node dist/bench/scale.js`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CRIU_BIN, PLUGIN_DIR, TEST_PROGS } from '../src/util/paths';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function start(args: string[], dir: string): Promise<number> {
	const truth = join(dir, 'truth.json');
	const prog = args.length ? 'bench_rings' : 'plain_sleeper';
	spawn(join(TEST_PROGS, prog), args.length ? args : [join(dir, 'progress')], {
		cwd: dir, detached: true, stdio: 'ignore', env: { ...process.env, TRUTH_FILE: truth },
	}).unref();
	const ready = args.length ? truth : join(dir, 'progress');
	for (let i = 0; i < 1500 && !existsSync(ready); i++) await sleep(20);
	if (!args.length) return Number(readFileSync(ready, 'utf8').split(' ')[0]);
	return JSON.parse(readFileSync(truth, 'utf8')).pid;
}

/* seconds between the first and the last "io_uring:" line of a CRIU log */
function pluginSeconds(log: string): number {
	const ts = log.split('\n').filter((l) => l.includes('io_uring:')).map((l) => Number(/^\((\d+\.\d+)\)/.exec(l)?.[1] ?? NaN));
	return ts.length >= 2 ? ts[ts.length - 1] - ts[0] : 0;
}

function imageBytes(dir: string): number {
	return readdirSync(dir).filter((f) => f.startsWith('io_uring-')).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

async function cycle(args: string[]): Promise<{ dump: number; restore: number; pdump: number; prestore: number; bytes: number }> {
	const dir = mkdtempSync(join(tmpdir(), 'scale-'));
	const pid = await start(args, dir);
	const lib = args.length ? ['-L', PLUGIN_DIR] : [];
	try {
		let t = process.hrtime.bigint();
		execFileSync(CRIU_BIN, ['dump', '-t', String(pid), '-D', dir, '-v4', '-o', 'dump.log', ...lib]);
		const dump = Number(process.hrtime.bigint() - t) / 1e9;
		while (existsSync(`/proc/${pid}`)) await sleep(20);
		t = process.hrtime.bigint();
		execFileSync(CRIU_BIN, ['restore', '-D', dir, '-d', '-v4', '-o', 'restore.log', ...lib], { cwd: '/' });
		const restore = Number(process.hrtime.bigint() - t) / 1e9;
		return {
			dump, restore, bytes: imageBytes(dir),
			pdump: pluginSeconds(readFileSync(join(dir, 'dump.log'), 'utf8')),
			prestore: pluginSeconds(readFileSync(join(dir, 'restore.log'), 'utf8')),
		};
	} finally {
		try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
		while (existsSync(`/proc/${pid}`)) await sleep(20);
		rmSync(dir, { recursive: true, force: true });
	}
}

async function main(): Promise<void> {
	const cases: [string, string[]][] = [
		['no io_uring, no plugin (baseline)', []],
		['1 ring', ['1', '0']], ['16 rings', ['16', '0']], ['256 rings', ['256', '0']],
		['1 ring x 10 files', ['1', '10']], ['1 ring x 1000 files', ['1', '1000']], ['1 ring x 10000 files', ['1', '10000']],
	];
	const runs = Number(process.env.BENCH_RUNS ?? 3);
	console.log('| case | dump s (plugin s) | restore s (plugin s) | io_uring image bytes |');
	console.log('|---|---|---|---|');
	for (const [label, args] of cases) {
		const r: Awaited<ReturnType<typeof cycle>>[] = [];
		for (let i = 0; i < runs; i++) r.push(await cycle(args));
		const m = (k: keyof (typeof r)[0]): string => median(r.map((x) => x[k])).toFixed(3);
		console.log(`| ${label} | ${m('dump')} (${m('pdump')}) | ${m('restore')} (${m('prestore')}) | ${median(r.map((x) => x.bytes))} |`);
	}
}

main().catch((e) => {
	console.error(`bench: ${(e as Error).message}`);
	process.exit(1);
});

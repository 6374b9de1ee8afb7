/*
 * Benchmarks (not tests): medians over repeated runs, each next to a
 * baseline measured in the same run.  `npm run bench`.
 *
 *  - inspect latency: one small ring, and 64 rings x 1024 registered files
 *  - CRIU dump and restore time of a process doing io_uring I/O with the
 *    plugin, next to the same CRIU dumping and restoring a process without
 *    io_uring and without the plugin (the plugin's overhead)
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureProcess } from '../src/capture';
import { CRIU_BIN, PLUGIN_DIR, TEST_PROGS } from '../src/util/paths';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function start(prog: string, args: string[], dir: string): Promise<number> {
	const truth = join(dir, 'truth.json');
	const child = spawn(join(TEST_PROGS, prog), args, {
		cwd: dir, detached: true, stdio: 'ignore', env: { ...process.env, TRUTH_FILE: truth },
	});
	child.unref();
	const ready = prog === 'plain_sleeper' ? join(dir, 'progress') : truth;
	for (let i = 0; i < 500 && !existsSync(ready); i++) await sleep(20);
	if (prog === 'plain_sleeper') return child.pid!;
	return JSON.parse(readFileSync(truth, 'utf8')).pid;
}

function timeMs(fn: () => void): number {
	const t0 = process.hrtime.bigint();
	fn();
	return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function gone(pid: number): Promise<void> {
	while (existsSync(`/proc/${pid}`)) await sleep(20);
}

async function inspectBench(label: string, prog: string, args: string[], runs: number): Promise<void> {
	const dir = mkdtempSync(join(tmpdir(), 'bench-'));
	const pid = await start(prog, args, dir);
	try {
		const ms = Array.from({ length: runs }, () => timeMs(() => captureProcess(pid)));
		console.log(`inspect ${label}: median ${median(ms).toFixed(1)} ms over ${runs} runs`);
	} finally {
		process.kill(pid, 'SIGKILL');
		rmSync(dir, { recursive: true, force: true });
	}
}

async function criuCycle(prog: string, args: string[], plugin: boolean): Promise<{ dump: number; restore: number }> {
	const dir = mkdtempSync(join(tmpdir(), 'bench-'));
	const pid = await start(prog, args, dir);
	const lib = plugin ? ['-L', PLUGIN_DIR] : [];
	try {
		const dump = timeMs(() => execFileSync(CRIU_BIN, ['dump', '-t', String(pid), '-D', dir, '-o', 'dump.log', ...lib]));
		await gone(pid);
		const restore = timeMs(() => execFileSync(CRIU_BIN, ['restore', '-D', dir, '-d', '-o', 'restore.log', ...lib], { cwd: '/' }));
		return { dump, restore };
	} finally {
		try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
		await gone(pid);
		rmSync(dir, { recursive: true, force: true });
	}
}

async function criuBench(runs: number): Promise<void> {
	const rows: [string, string, string[], boolean][] = [
		['plain process, CRIU without the plugin (baseline)', 'plain_sleeper', ['progress'], false],
		['io_uring process (registered file, buffer, eventfd), with the plugin', 'cr_rw', ['--busy'], true],
		['io_uring process, indices at 1,000,000, with the plugin', 'cr_rw', ['--advance', '1000000'], true],
	];
	for (const [label, prog, args, plugin] of rows) {
		const r: { dump: number; restore: number }[] = [];
		for (let i = 0; i < runs; i++) r.push(await criuCycle(prog, args, plugin));
		console.log(`criu ${label}: dump median ${median(r.map((x) => x.dump)).toFixed(0)} ms, ` +
			`restore median ${median(r.map((x) => x.restore)).toFixed(0)} ms over ${runs} runs`);
	}
}

async function main(): Promise<void> {
	await inspectBench('1 small ring', 'cr_rw', [], 20);
	await inspectBench('64 rings x 1024 registered files', 'bench_rings', ['64', '1024'], 10);
	await criuBench(5);
}

main().catch((e) => {
	console.error(`bench: ${(e as Error).message}`);
	process.exit(1);
});

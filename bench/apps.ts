/*
 * Checkpoint/restore cost for real programs: fio (rate-limited random
 * writes, io_uring with registered files and buffers) and MariaDB (InnoDB
 * on io_uring, a client inserting rows), each dumped (killing) and
 * restored BENCH_RUNS times (default 3) while it works.  Baseline in the
 * same run: the same program without io_uring (fio --ioengine=psync,
 * mariadbd --innodb-use-native-aio=0), dumped and restored by the same
 * CRIU without the plugin.
 *
 * Per checkpoint: criu dump and restore wall time; downtime = dump +
 * restore (the freeze comes early in the dump, the process runs again at
 * the end of the restore); the wait in between until the dumped pids are
 * free again (a killed child is reparented to PID 1, which reaps it when it
 * gets to it); the gap the application itself saw (fio: the longest pause
 * between two logged completions in its bandwidth log; MariaDB: from the
 * last insert committed before to the first committed after, client loop
 * paused during CRIU); the plugin's share (first to last `io_uring:` line
 * of CRIU's log); io_uring image bytes next to all image bytes.
 * `node dist/bench/apps.js` (needs root, fio, mariadb-server).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CRIU_BIN, PLUGIN_DIR } from '../src/util/paths';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/* BENCH_APPS=fio or =mariadb runs only that program's rows */
const wanted = (app: string): boolean => (process.env.BENCH_APPS ?? 'fio,mariadb').split(',').includes(app);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = (): number => Number(process.hrtime.bigint()) / 1e9;

interface Sample {
	dump: number;
	restore: number;
	downtime: number;
	/** Waiting between dump and restore until the dumped pids are free again. */
	reap: number;
	/** The application's own view of the pause, seconds (NaN when not measured). */
	gap: number;
	pdump: number;
	prestore: number;
	uringBytes: number;
	totalBytes: number;
	/** ms the restore's plan spent writing ring and SQE bytes back (its "write" steps; 0 without the plugin) */
	writeback: number;
}

/** A program under test, started under a status wrapper in its own session and IPC namespace. */
interface Subject {
	root: number;
	/** Called after the restore: wait until the program makes progress again; returns its gap (s) or NaN. */
	resumed(): Promise<number>;
	/** Called before the dump. */
	pause(): Promise<void>;
	stop(): Promise<void>;
}

const WRAPPER = 'st=$1; shift; "$@"; echo $? > "$st"';

function startWrapped(dir: string, cmd: string, args: string[]): number {
	const child = spawn('unshare', ['--ipc', '/bin/sh', '-c', WRAPPER, 'sh', join(dir, 'status'), cmd, ...args],
		{ cwd: dir, detached: true, stdio: 'ignore' });
	if (child.pid === undefined) throw new Error(`cannot start ${cmd}`);
	child.unref();
	return child.pid;
}

function treeOf(root: number): number[] {
	const out = [root];
	for (const tid of readdirSync(`/proc/${root}/task`)) {
		let kids = '';
		try {
			kids = readFileSync(`/proc/${root}/task/${tid}/children`, 'utf8');
		} catch {
			continue;
		}
		for (const c of kids.trim().split(/\s+/).filter(Boolean)) out.push(...treeOf(Number(c)));
	}
	return out;
}

function killTree(root: number): void {
	let pids: number[] = [];
	try {
		pids = treeOf(root);
	} catch {
		return;
	}
	for (const p of pids.reverse()) {
		try {
			process.kill(p, 'SIGKILL');
		} catch {
			/* gone */
		}
	}
}

async function waitFor(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
	const end = Date.now() + ms;
	while (!cond()) {
		if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
		await sleep(10);
	}
}

/* seconds between the first and the last "io_uring:" line of a CRIU log */
function pluginSeconds(log: string): number {
	const ts = log.split('\n').filter((l) => l.includes('io_uring:')).map((l) => Number(/^\((\d+\.\d+)\)/.exec(l)?.[1] ?? NaN));
	return ts.length >= 2 ? ts[ts.length - 1] - ts[0] : 0;
}

/* ms of the plan's "write" steps in a restore log ("io_uring: step N write [...]: MS ms", plugin-c/plan.c) */
function writebackMs(log: string): number {
	let ms = 0;
	for (const m of log.matchAll(/io_uring: step \d+ write \[[^\]]*\]: ([\d.]+) ms/g)) ms += Number(m[1]);
	return ms;
}

function imageBytes(dir: string, filter: (f: string) => boolean): number {
	return readdirSync(dir).filter((f) => f.endsWith('.img') && filter(f)).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

function criu(args: string[], cwd: string): void {
	try {
		execFileSync(CRIU_BIN, args, { cwd, stdio: 'pipe' });
	} catch (e) {
		const log = args[args.indexOf('-o') + 1];
		const errs = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => /Error \(/.test(l) && !/RLIMIT_NOFILE/.test(l)) : [];
		throw new Error(`criu ${args[0]} failed: ${errs.slice(0, 3).join(' | ') || (e as Error).message}`);
	}
}

/** One checkpoint of @sub: dump (kill), wait for the tree to vanish, restore. */
async function cycle(sub: Subject, dir: string, plugin: boolean): Promise<Sample> {
	const lib = plugin ? ['-L', PLUGIN_DIR] : [];
	const locks = ['--file-locks'];
	rmSync(dir, { recursive: true, force: true });
	mkdirSync(dir, { recursive: true });
	await sub.pause();
	const tree = treeOf(sub.root);
	const t0 = now();
	criu(['dump', '-t', String(sub.root), '-D', dir, '-v4', '-o', join(dir, 'dump.log'), ...lib, ...locks], dir);
	const t1 = now();
	await waitFor(() => tree.every((p) => !existsSync(`/proc/${p}`)), 'the dumped tree to vanish');
	const t2 = now();
	criu(['restore', '-D', dir, '-d', '-v4', '-o', join(dir, 'restore.log'), ...lib, ...locks], '/');
	const t3 = now();
	const gap = await sub.resumed();
	return {
		dump: t1 - t0, restore: t3 - t2, downtime: (t1 - t0) + (t3 - t2), reap: t2 - t1, gap,
		pdump: pluginSeconds(readFileSync(join(dir, 'dump.log'), 'utf8')),
		prestore: pluginSeconds(readFileSync(join(dir, 'restore.log'), 'utf8')),
		writeback: writebackMs(readFileSync(join(dir, 'restore.log'), 'utf8')),
		uringBytes: imageBytes(dir, (f) => f.startsWith('io_uring')),
		totalBytes: imageBytes(dir, () => true),
	};
}

/*
 * fio: a time-based job long enough for every checkpoint; its bandwidth
 * log (one entry per completion, timestamps in ms since the job started)
 * is written at exit, so the gaps are read once fio has finished.
 */
async function fio(dir: string, engine: string, checkpoints: (sub: Subject) => Promise<Sample[]>): Promise<Sample[]> {
	const cycles = RUNS;
	const args = ['--name=bench', '--filename=f', '--thread', `--ioengine=${engine}`, '--rw=randwrite', '--bs=4k',
		'--iodepth=16', '--size=64M', '--time_based', `--runtime=${4 + cycles * 6}`, '--rate=4m',
		...(engine === 'io_uring' ? ['--fixedbufs', '--registerfiles'] : []),
		'--write_bw_log=bw', '--output=fio.out'];
	const root = startWrapped(dir, 'fio', args);
	const sub: Subject = {
		root,
		pause: async () => sleep(1500),
		resumed: async () => NaN,
		stop: async () => {
			await waitFor(() => existsSync(join(dir, 'status')), 'fio to finish', 120_000);
			const st = readFileSync(join(dir, 'status'), 'utf8').trim();
			if (st !== '0') throw new Error(`fio (${engine}) exited ${st}: ${readFileSync(join(dir, 'fio.out'), 'utf8').slice(-300)}`);
		},
	};
	await sleep(1000);
	const samples = await checkpoints(sub);
	await sub.stop();
	/* the longest pauses between completions, one per checkpoint */
	const log = readdirSync(dir).find((f) => /^bw.*\.log$/.test(f));
	if (log) {
		const ms = readFileSync(join(dir, log), 'utf8').split('\n').filter(Boolean).map((l) => Number(l.split(',')[0]));
		const gaps = ms.slice(1).map((m, i) => (m - ms[i]) / 1000).sort((a, b) => b - a).slice(0, samples.length);
		gaps.forEach((g, i) => { samples[i].gap = g; });
	}
	return samples;
}

/* MariaDB: a fresh datadir, one server, a client loop inserting single rows */
async function mariadb(dir: string, nativeAio: boolean, checkpoints: (sub: Subject) => Promise<Sample[]>): Promise<Sample[]> {
	const data = join(dir, 'data');
	const sock = join(dir, 'sock');
	execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=root',
		'--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: 'ignore' });
	const root = startWrapped(dir, 'mariadbd', ['--no-defaults', `--datadir=${data}`, `--socket=${sock}`, '--skip-networking',
		'--user=root', `--innodb-use-native-aio=${nativeAio ? 1 : 0}`, `--log-error=${join(dir, 'err.log')}`]);
	const sql = (q: string): Promise<void> => new Promise((resolve, reject) => {
		execFile('mariadb', ['--no-defaults', '-uroot', `--socket=${sock}`, '-D', 'mysql', '-e', q], (e, _o, err) =>
			(e ? reject(new Error(`mariadb: ${String(err).trim()}`)) : resolve()));
	});
	await waitFor(() => existsSync(sock), 'mariadbd to listen', 60_000);
	await sql('create database b; create table b.r (id int primary key auto_increment, v varchar(200)) engine=innodb');
	if (nativeAio && !/Using io_uring/.test(readFileSync(join(dir, 'err.log'), 'utf8')))
		throw new Error('mariadbd did not log "InnoDB: Using io_uring"');

	/* client loop: one insert of 200 rows per connection, as fast as it goes */
	let paused = false;
	let idle: (() => void) | undefined;
	let lastCommit = now();
	let failure: Error | undefined;
	let stopped = false;
	const loop = (async () => {
		while (!stopped) {
			if (paused) {
				idle?.();
				idle = undefined;
				await sleep(5);
				continue;
			}
			try {
				await sql("insert into b.r (v) select concat('row', seq, repeat('x', 150)) from seq_1_to_200");
				lastCommit = now();
			} catch (e) {
				failure = e as Error;
				idle?.();
				return;
			}
		}
	})();
	const sub: Subject = {
		root,
		pause: async () => {
			await sleep(1500);
			if (failure) throw failure;
			await new Promise<void>((r) => { idle = r; paused = true; });
		},
		resumed: async () => {
			const before = lastCommit;
			paused = false;
			await waitFor(() => lastCommit > before || failure !== undefined, 'an insert after the restore', 60_000);
			if (failure) throw failure;
			return lastCommit - before;
		},
		stop: async () => {
			stopped = true;
			await loop;
			if (failure) throw failure;
			killTree(root);
		},
	};
	try {
		return await checkpoints(sub);
	} finally {
		await sub.stop().catch(() => undefined);
		killTree(root);
	}
}

interface Row {
	label: string;
	samples: Sample[];
}

function table(rows: Row[]): void {
	const f = (r: Row, k: keyof Sample, digits = 3): string => {
		const v = median(r.samples.map((s) => s[k]));
		return Number.isNaN(v) ? '—' : v.toFixed(digits);
	};
	console.log(`Medians of ${RUNS} checkpoints each (dump kills, then restore):\n`);
	console.log('| program | dump s (plugin s) | restore s (plugin s) | downtime s | pid wait s | gap the app saw s | io_uring image / all images | ring bytes written back ms |');
	console.log('|---|---|---|---|---|---|---|---|');
	for (const r of rows) {
		const kb = (k: keyof Sample): string => `${(median(r.samples.map((s) => s[k])) / 1024).toFixed(0)} KiB`;
		console.log(`| ${r.label} | ${f(r, 'dump')} (${f(r, 'pdump')}) | ${f(r, 'restore')} (${f(r, 'prestore')}) | ` +
			`${f(r, 'downtime')} | ${f(r, 'reap')} | ${f(r, 'gap')} | ${kb('uringBytes')} / ${kb('totalBytes')} | ${f(r, 'writeback', 2)} |`);
	}
}

async function main(): Promise<void> {
	if (process.getuid?.() !== 0) throw new Error('needs root (CRIU)');
	const base = mkdtempSync(join(tmpdir(), 'bench-apps-'));
	const rows: Row[] = [];
	const run = async (label: string, plugin: boolean, start: (dir: string, cps: (s: Subject) => Promise<Sample[]>) => Promise<Sample[]>): Promise<void> => {
		const dir = join(base, label.replace(/[^a-z0-9]+/gi, '_'));
		mkdirSync(dir, { recursive: true });
		const samples = await start(dir, async (sub) => {
			const out: Sample[] = [];
			for (let i = 0; i < RUNS; i++) out.push(await cycle(sub, join(dir, `img${i}`), plugin));
			return out;
		});
		rows.push({ label, samples });
		process.stderr.write(`bench apps: ${label} done\n`);
	};
	try {
		if (wanted('fio')) {
			await run('fio psync, no plugin (baseline)', false, (d, c) => fio(d, 'psync', c));
			await run('fio io_uring, fixedbufs + registerfiles', true, (d, c) => fio(d, 'io_uring', c));
		}
		if (wanted('mariadb')) {
			await run('MariaDB, native AIO off, no plugin (baseline)', false, (d, c) => mariadb(d, false, c));
			await run('MariaDB, InnoDB on io_uring', true, (d, c) => mariadb(d, true, c));
		}
	} finally {
		rmSync(base, { recursive: true, force: true });
	}
	table(rows);
}

main().catch((e) => {
	console.error(`bench apps: ${(e as Error).message}`);
	process.exit(1);
});

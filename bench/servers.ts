/*
 * Dump and restore time of a TCP echo server on io_uring
 * (test/progs/cr_tcpserver: a multishot ACCEPT and one armed multishot
 * RECV per connection, on a buffer ring) with N connections, next to the
 * same server with none, measured in the same run.  The clients live in
 * this process; CRIU dumps and restores the server's connections with
 * --tcp-established --network-lock nftables.  After each restore every
 * connection must still echo (its RECV came back armed), so a figure is
 * only printed for a restore that worked.
 *
 *   node dist/bench/servers.js            N = 0 and 10000 (BENCH_CONNS="0 1000 10000")
 *
 * Also printed: the plugin's share (first to last "io_uring:" line of
 * CRIU's log, which includes starting its helper and loading the BPF
 * programs before the freeze), its part of the frozen window (from
 * CHECKPOINT_DEVICES to the end of its capture) and, at restore, the time
 * of the plan step that re-arms the requests.
 *
 * The network lock is `--network-lock skip` (BENCH_LOCK to change it):
 * the clients send nothing while the server is dumped, and CRIU 4.2.1's
 * nftables lock aborts once CRIU holds about 1000 fds ("bit out of range
 * 0 - FD_SETSIZE on fd_set", about 250 connections here), while the
 * iptables lock runs iptables twice per connection (20 s for 300).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CRIU_BIN, PLUGIN_DIR, TEST_PROGS } from '../src/util/paths';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const TCP = ['--tcp-established', '--network-lock', process.env.BENCH_LOCK ?? 'skip'];

interface Conn { sock: net.Socket; buf: string; waiting?: { want: string; done: (e?: Error) => void } }

function connect(port: number): Promise<Conn> {
	return new Promise((resolve, reject) => {
		const sock = net.connect({ host: '127.0.0.1', port });
		const c: Conn = { sock, buf: '' };
		sock.setEncoding('latin1');
		sock.on('data', (d: string) => {
			c.buf += d;
			const w = c.waiting;
			if (w && c.buf.includes('\n')) {
				const line = c.buf.slice(0, c.buf.indexOf('\n'));
				c.buf = c.buf.slice(c.buf.indexOf('\n') + 1);
				c.waiting = undefined;
				w.done(line === w.want ? undefined : new Error(`got "${line}", expected "${w.want}"`));
			}
		});
		sock.on('error', (e) => (c.waiting ? c.waiting.done(e) : undefined));
		sock.once('connect', () => resolve(c));
		sock.once('error', reject);
	});
}

function exchange(c: Conn, seq: number, timeoutMs = 120_000): Promise<void> {
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error(`no echo of ${seq} within ${timeoutMs} ms`)), timeoutMs);
		c.waiting = { want: `echo ${seq}`, done: (e) => { clearTimeout(timer); if (e) reject(e); else resolve(); } };
		c.sock.write(`${seq}\n`);
	});
}

/* on every connection, @limit at a time */
async function each(conns: Conn[], fn: (c: Conn) => Promise<void>, limit = 500): Promise<void> {
	for (let i = 0; i < conns.length; i += limit) await Promise.all(conns.slice(i, i + limit).map(fn));
}

function criu(args: string[], cwd: string, log: string): Promise<number> {
	const t0 = process.hrtime.bigint();
	return new Promise((resolve, reject) => {
		execFile(CRIU_BIN, args, { cwd, timeout: 600_000 }, (err, _out, stderr) => {
			const errors = () => readFileSync(log, 'utf8').split('\n').filter((l) => /Error \(/.test(l) && !/RLIMIT_NOFILE/.test(l)).slice(0, 3).join(' | ');
			if (err) reject(new Error(`criu ${args[0]} failed (${err.code ?? err.signal}): ${errors()} ${String(stderr).trim().split('\n').slice(-3).join(' | ')}`));
			else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
		});
	});
}

function pluginMs(log: string): number {
	const ts = log.split('\n').filter((l) => l.includes('io_uring:')).map((l) => Number(/^\((\d+\.\d+)\)/.exec(l)?.[1] ?? NaN));
	return ts.length >= 2 ? (ts[ts.length - 1] - ts[0]) * 1000 : 0;
}

/* the plugin's part of the time the server is frozen: CHECKPOINT_DEVICES until its capture is done */
function frozenMs(log: string): number {
	const at = (re: RegExp): number => Number(/^\((\d+\.\d+)\)/.exec(log.split('\n').find((l) => re.test(l)) ?? '')?.[1] ?? NaN);
	return (at(/ring\(s\) checkpointed/) - at(/plugin: `io_uring' hook 11 /)) * 1000;
}

function armMs(log: string): number {
	const m = /step \d+ arm \[re-arm (\d+) in-flight request\(s\)\]: ([\d.]+) ms/.exec(log);
	return m ? Number(m[2]) : 0;
}

interface Result { n: number; dump: number; restore: number; pdump: number; frozen: number; prestore: number; arm: number }

async function cycle(n: number): Promise<Result> {
	const dir = mkdtempSync(join(tmpdir(), 'bench-servers-'));
	const truth = join(dir, 'truth.json');
	const child = spawn(join(TEST_PROGS, 'cr_tcpserver'), [], {
		cwd: dir, detached: true, stdio: 'ignore', env: { ...process.env, TRUTH_FILE: truth },
	});
	child.unref();
	const conns: Conn[] = [];
	let pid = 0;
	try {
		for (let i = 0; i < 500 && !existsSync(truth); i++) await sleep(20);
		const tr = JSON.parse(readFileSync(truth, 'utf8'));
		pid = tr.pid;
		for (let i = 0; i < n; i += 200) conns.push(...await Promise.all(Array.from({ length: Math.min(200, n - i) }, () => connect(tr.port))));
		await each(conns, (c) => exchange(c, 0));
		const img = join(dir, 'img');
		mkdirSync(img, { recursive: true });
		const dump = await criu(['dump', '-t', String(pid), '-D', img, '-o', 'dump.log', '-v4', '-L', PLUGIN_DIR, ...TCP], dir, join(img, 'dump.log'));
		for (let i = 0; i < 1000 && existsSync(`/proc/${pid}`); i++) await sleep(20);
		const restore = await criu(['restore', '-D', img, '-d', '-o', 'restore.log', '-v4', '-L', PLUGIN_DIR, ...TCP], '/', join(img, 'restore.log'));
		await each(conns, (c) => exchange(c, 1));
		const dlog = readFileSync(join(img, 'dump.log'), 'utf8');
		const rlog = readFileSync(join(img, 'restore.log'), 'utf8');
		return { n, dump, restore, pdump: pluginMs(dlog), frozen: frozenMs(dlog), prestore: pluginMs(rlog), arm: armMs(rlog) };
	} finally {
		for (const c of conns) c.sock.destroy();
		if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
		for (let i = 0; pid && i < 500 && existsSync(`/proc/${pid}`); i++) await sleep(20);
		if (process.env.BENCH_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
	}
}

async function main(): Promise<void> {
	const ns = (process.env.BENCH_CONNS ?? '0 10000').split(/\s+/).filter(Boolean).map(Number);
	for (const n of ns) {
		const r = await cycle(n);
		console.log(`server with ${r.n} connections (${r.n} armed RECVs + 1 ACCEPT): dump ${r.dump.toFixed(0)} ms ` +
			`(plugin ${r.pdump.toFixed(0)} ms, of it ${r.frozen.toFixed(0)} ms with the server frozen), restore ${r.restore.toFixed(0)} ms (plugin ${r.prestore.toFixed(0)} ms, ` +
			`re-arm step ${r.arm.toFixed(1)} ms); every connection echoed after the restore`);
	}
}

main().catch((e) => {
	console.error(`bench: ${(e as Error).message}`);
	process.exit(1);
});

/*
 * Helpers for checkpointing real programs (fio, liburing's examples,
 * MariaDB) in the middle of their work:
 *
 *   const app = startApp(t, s, 'fio', ['--name=x', ...]);   // own session + IPC ns
 *   await waitFor(() => ..., 'some progress');
 *   const r = await checkpointRestore(app);                 // dump, wait, restore
 *   const status = await app.exitStatus(30_000);            // the program's exit code
 *
 * A restored process is no longer our child, so the program runs under a
 * small /bin/sh wrapper that writes the program's exit status to a file;
 * the wrapper is the root of the dumped tree and comes back with it.
 * The tree runs in its own IPC namespace: fio keeps its job state in
 * SysV shared memory, which CRIU dumps only as part of an IPC namespace.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { execFile, spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import * as path from 'node:path';
import {
	criuDump, criuRestore, CriuResult, describeRun, isAlive, Scratch, Teardownable, waitFor, waitForExit,
} from './criu';
import { ROOT } from '../../src/util/paths';
import { captureProcess } from '../../src/capture';

/* Runs "$@" and writes its exit status (or 128+signal) to $1. */
const WRAPPER = 'st=$1; shift; "$@"; echo $? > "$st.tmp" && mv "$st.tmp" "$st"';

/** Absolute path of @cmd found in PATH, or undefined. */
export function which(cmd: string): string | undefined {
	for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
		const p = path.join(dir, cmd);
		if (existsSync(p)) return p;
	}
	return undefined;
}

export interface App {
	/** pid of the wrapper: the root of the tree CRIU dumps. */
	readonly pid: number;
	/** File the wrapper writes the exit status to. */
	readonly statusFile: string;
	/** stdout / stderr files of the program. */
	readonly out: string;
	readonly err: string;
	/** Exit status once the program finished, else undefined. */
	status(): number | undefined;
	/** Wait for the program to finish; returns its exit status. */
	exitStatus(timeoutMs: number): Promise<number>;
}

function readOr(p: string, dflt = ''): string {
	try {
		return readFileSync(p, 'utf8');
	} catch {
		return dflt;
	}
}

/** Session id of @pid, or undefined when it is gone. */
function sessionOf(pid: number): number | undefined {
	const stat = readOr(`/proc/${pid}/stat`);
	if (!stat) return undefined;
	/* after "comm)": state ppid pgrp session ... */
	return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

/**
 * Start @cmd @args under the status wrapper in a new session and IPC
 * namespace, cwd = scratch root.  At teardown the whole process tree is
 * SIGKILLed, if its root is still our wrapper (also after a restore: the
 * pid and session id come back with it).
 */
export function startApp(t: Teardownable, s: Scratch, cmd: string, args: string[], name = path.basename(cmd),
	env: NodeJS.ProcessEnv = process.env): App {
	const statusFile = s.file(`${name}.status`);
	const out = s.file(`${name}.out`);
	const err = s.file(`${name}.err`);
	const o = openSync(out, 'a');
	const e = openSync(err, 'a');
	let pid: number;
	try {
		const child = spawn('unshare', ['--ipc', '/bin/sh', '-c', WRAPPER, 'sh', statusFile, cmd, ...args],
			{ detached: true, stdio: ['ignore', o, e], cwd: s.root, env });
		if (child.pid === undefined) throw new Error(`cannot start ${cmd}`);
		child.on('error', () => undefined);
		child.unref();
		pid = child.pid;
	} finally {
		closeSync(o);
		closeSync(e);
	}
	const sh = realpathSync('/bin/sh');
	t.teardown(async () => {
		/* only our session: after unshare's exec the leader is the shell */
		if (sessionOf(pid) !== pid) return;
		let exe = '';
		try {
			exe = realpathSync(`/proc/${pid}/exe`);
		} catch {
			return;
		}
		if (exe !== sh && !exe.endsWith('/unshare')) return;
		/* the tree, children first (fio's job processes have their own sessions) */
		const tree = treeOf(pid).reverse();
		for (const p of tree) {
			try {
				process.kill(p, 'SIGKILL');
			} catch {
				/* gone */
			}
		}
		/* gone before the scratch dir is removed: a dying qemu-nbd still writing made its rmdir fail (ENOTEMPTY) */
		await waitFor(() => tree.every((p) => !isAlive(p)), `${name}'s processes to die`).catch(() => undefined);
	});
	const status = (): number | undefined => {
		const text = readOr(statusFile).trim();
		return text === '' ? undefined : Number(text);
	};
	return {
		pid, statusFile, out, err, status,
		exitStatus: async (timeoutMs) => {
			await waitFor(() => status() !== undefined || !existsSync(`/proc/${pid}`),
				`${name} (pid ${pid}) to finish`, timeoutMs);
			const st = status();
			if (st === undefined) throw new Error(`${name} (pid ${pid}) vanished without writing its exit status`);
			return st;
		},
	};
}

export interface CheckpointResult {
	dump: CriuResult;
	restore?: CriuResult;
	/** One-line description of what failed, or undefined when both worked. */
	problem?: string;
}

/**
 * criu dump (plugin loaded) of the app's tree, wait until its pids are gone,
 * criu restore -d.  Stops at the first failure and says which.
 */
export async function checkpointRestore(app: App, imagesDir: string, dumpArgs: string[] = [],
	restoreArgs: string[] = [], dumpEnv: Record<string, string> = {}): Promise<CheckpointResult> {
	const tree = treeOf(app.pid);
	const sockets = inetSockets(tree);
	const dump = await criuDump({ pid: app.pid, imagesDir, plugins: true, extraArgs: dumpArgs, timeoutMs: 120_000, env: dumpEnv });
	if (dump.code !== 0) return { dump, problem: describeRun('dump', dump) };
	/* every pid of the tree, not only the root: the root's pid number stays
	 * in use as the session id until the last member is reaped */
	for (const pid of tree) await waitForExit(pid);
	/*
	 * A socket a ring holds as a registered file outlives the process: the
	 * kernel drops the ring's files in its deferred ring teardown, tens of
	 * milliseconds after the exit here (more under load), and a restore
	 * that binds the socket's address before then fails with EADDRINUSE.
	 */
	await waitFor(() => !inetSockets(null, sockets).size, 'the dumped tree\'s inet sockets to be released', 10_000).catch(() => undefined);
	const restore = await criuRestore({ imagesDir, plugins: true, extraArgs: restoreArgs, timeoutMs: 120_000 });
	if (restore.code !== 0) return { dump, restore, problem: describeRun('restore', restore) };
	if (!isAlive(app.pid) && app.status() === undefined)
		return { dump, restore, problem: `restore exited 0 but pid ${app.pid} is not running` };
	return { dump, restore };
}

/** Result of runCmd: exit status (-1 when killed or not started) and stdout + stderr. */
export interface CmdResult {
	code: number;
	out: string;
}

/** Run @cmd @args to completion (a client, a tool); never rejects. */
export function runCmd(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<CmdResult> {
	return new Promise((resolve) => {
		execFile(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
			const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
			resolve({ code, out: String(stdout) + String(stderr) });
		});
	});
}

/**
 * Requests the rings of @root's tree have taken so far (sum of the SQ
 * heads): grows when the program really submits through its rings, e.g.
 * the restored ring after a restore.
 */
export function submittedTotal(root: number): number {
	let n = 0;
	for (const pid of treeOf(root)) {
		try {
			for (const r of captureProcess(pid).rings) n += r.sq.head;
		} catch {
			/* gone, or no rings */
		}
	}
	return n;
}

/** Lines of /proc/locks on the file @file (by inode; OFD locks show pid -1). */
export function locksOnFile(file: string): string[] {
	const ino = statSync(file).ino;
	return readOr('/proc/locks').split('\n').filter((l) => new RegExp(`:${ino} `).test(l));
}

/** The plugin's "io_uring: ..." error lines of a CRIU log. */
export function uringErrors(log: string): string[] {
	return log.split('\n').filter((l) => /Error \([^)]*\): io_uring: /.test(l));
}

/** Read a file, '' when it does not exist. */
export const readText = readOr;

/** pids of @root and all its descendants, as /proc shows them now. */
/*
 * Inodes of inet sockets (/proc/net/{tcp,udp}{,6}): those of @tree's fds,
 * or with @tree null those of @among still known to the kernel.
 */
function inetSockets(tree: number[] | null, among: Set<string> = new Set()): Set<string> {
	const live = new Set<string>();
	for (const f of ['tcp', 'tcp6', 'udp', 'udp6'])
		for (const line of readOr(`/proc/net/${f}`).split('\n').slice(1)) {
			const inode = line.trim().split(/\s+/)[9];
			if (inode && inode !== '0') live.add(inode);
		}
	if (!tree) return new Set([...among].filter((i) => live.has(i)));
	const out = new Set<string>();
	for (const pid of tree)
		for (const fd of readdirOr(`/proc/${pid}/fd`)) {
			let link = '';
			try {
				link = readlinkSync(`/proc/${pid}/fd/${fd}`);
			} catch {
				continue;
			}
			const m = /^socket:\[(\d+)\]$/.exec(link);
			if (m && live.has(m[1])) out.add(m[1]);
		}
	return out;
}

export function treeOf(root: number): number[] {
	const out: number[] = [];
	const walk = (pid: number): void => {
		out.push(pid);
		for (const tid of readdirOr(`/proc/${pid}/task`))
			for (const c of readOr(`/proc/${pid}/task/${tid}/children`).trim().split(/\s+/).filter(Boolean)) walk(Number(c));
	};
	walk(root);
	return out;
}

function readdirOr(dir: string): string[] {
	try {
		return readdirSync(dir);
	} catch {
		return [];
	}
}

/** Number of io_uring fds held by the processes of @root's tree. */
export function ringFds(root: number): number {
	let n = 0;
	for (const pid of treeOf(root))
		for (const fd of readdirOr(`/proc/${pid}/fd`)) {
			try {
				if (readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:[io_uring]') n++;
			} catch {
				/* closed meanwhile */
			}
		}
	return n;
}

/** Where CRIU logs of failed app checkpoints are kept (the scratch dir is removed). */
export const FAILED_LOGS = path.join(ROOT, 'build', 'test-logs', 'apps');

/** Copy the CRIU logs of @cr to FAILED_LOGS/@name.*.log; returns the directory. */
export function keepLogs(name: string, cr: CheckpointResult): string {
	mkdirSync(FAILED_LOGS, { recursive: true });
	const stem = `${name.replace(/[^A-Za-z0-9_.-]+/g, '_')}.${Date.now()}`;
	copyFileSync(cr.dump.logPath, path.join(FAILED_LOGS, `${stem}.dump.log`));
	if (cr.restore) copyFileSync(cr.restore.logPath, path.join(FAILED_LOGS, `${stem}.restore.log`));
	return path.join(FAILED_LOGS, stem);
}

/**
 * One line per ring of @root's tree: SQ head (requests the kernel took)
 * against CQ tail + overflow (completions posted), and what the capture
 * lists as in flight.  For a program stuck after a restore, a gap with
 * nothing in flight means completions were lost across the checkpoint.
 */
export function ringSummary(root: number): string[] {
	const lines: string[] = [];
	for (const pid of treeOf(root)) {
		let p;
		try {
			p = captureProcess(pid);
		} catch {
			continue;
		}
		for (const r of p.rings) {
			const gap = (r.sq.head - r.cq.tail - r.cq.overflow) | 0; /* u32 indices wrap */
			lines.push(`pid ${pid} ring ${r.inode}: sq head ${r.sq.head}, cq head ${r.cq.head} tail ${r.cq.tail}` +
				` (${gap} submitted without a CQE), ${r.inflight.length} in flight`);
		}
	}
	return lines;
}

/** True when the program reported an interrupted io_uring wait. */
export function sawEintr(app: App): boolean {
	return /Interrupted system call/.test(readOr(app.out) + readOr(app.err));
}

/** True when some ring of @root's tree has submissions without CQEs and nothing in flight. */
export function lostCompletions(root: number): boolean {
	return ringSummary(root).some((l) => /\(([1-9]\d*) submitted without a CQE\), 0 in flight/.test(l));
}

/*
 * A free port below the kernel's ephemeral range (32768-60999 by default)
 * for a server the tests checkpoint.  While the server is dumped its port
 * is free, and a port the kernel picked (bind to 0) can be picked again for
 * any other socket's autobind (another test's client); the restore's bind
 * then fails with EADDRINUSE (seen once in a clean-clone run).  Nothing
 * autobinds below that range.
 */
export async function unusedPort(type: 'tcp' | 'udp'): Promise<number> {
	for (;;) {
		const port = 20000 + Math.floor(Math.random() * 10000);
		const free = await new Promise<boolean>((res) => {
			if (type === 'udp') {
				const sock = createSocket('udp4');
				sock.once('error', () => (sock.close(), res(false)));
				sock.bind(port, '127.0.0.1', () => sock.close(() => res(true)));
			} else {
				const srv = createServer();
				srv.once('error', () => res(false));
				srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
			}
		});
		if (free) return port;
	}
}

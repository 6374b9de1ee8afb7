/*
 * Test helpers for anything that runs CRIU on a real process:
 *
 *   const s = await scratch(t);                  // temp dir + teardown
 *   const pid = s.spawnProg('plain_sleeper', [s.file('progress')]);
 *   const dump = await criuDump({ pid, imagesDir: s.dir('img'), plugins: true });
 *   await waitForExit(pid);                      // before any restore
 *   const rst = await criuRestore({ imagesDir: s.dir('img'), plugins: true });
 *
 * Every process a scratch spawns is SIGKILLed at teardown (also after a
 * restore, where it has the same pid but is no longer our child), and the
 * temp dir is removed, even when the test failed half way; when the test
 * failed, its small files (CRIU's and the helper's logs, the program's
 * stdout and stderr, truth files; not page images) are kept first, with
 * how each process it started ended (keepScratch()).
 */
import type { Test } from 'tap';
import { execFile, spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CRIU_BIN, PLUGIN_DIR, TEST_PROGS } from '../../src/util/paths';

export { CRIU_BIN, PLUGIN_DIR, TEST_PROGS };

/** The part of tap's Test that the helpers use (passing, comment: to keep a failed test's files). */
export interface Teardownable {
	teardown(fn: () => void | Promise<void>): void;
	passing?(): boolean;
	comment?(...msg: unknown[]): void;
}

/** Error line CRIU prints on every run here (CAP_SYS_RESOURCE is withheld). */
const HARMLESS_ERRORS = [/rlimit: Can't setup RLIMIT_NOFILE/];

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll @cond every 20 ms until it returns true; throw "timed out waiting for @what". */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!cond()) {
		if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
		await sleep(20);
	}
}

/** True while /proc/PID exists and is not a zombie. */
export function isAlive(pid: number): boolean {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
		return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
	} catch {
		return false;
	}
}

/** Resolved /proc/PID/exe, or undefined if the process is gone. */
export function exeOf(pid: number): string | undefined {
	try {
		return readlinkSync(`/proc/${pid}/exe`);
	} catch {
		return undefined;
	}
}

/**
 * Wait until /proc/PID is gone entirely (not even a zombie): a restore that
 * starts while the dumped pid still exists fails with "File exists".
 */
export async function waitForExit(pid: number, timeoutMs = 10_000): Promise<void> {
	await waitFor(() => !existsSync(`/proc/${pid}`), `pid ${pid} to disappear`, timeoutMs);
}

/** Path of a program built from test/progs/NAME.c; throws if it is not built. */
export function progPath(name: string): string {
	const p = path.join(TEST_PROGS, name);
	if (!existsSync(p)) throw new Error(`${p} missing: run npm run build (make -C test/progs)`);
	return p;
}

export interface Scratch {
	/** The temp dir itself. */
	readonly root: string;
	/** Path of a file in the temp dir (not created). */
	file(name: string): string;
	/** A (created) subdirectory of the temp dir. */
	dir(name: string): string;
	/**
	 * Start @cmd detached (own session, stdin /dev/null, stdout/stderr to
	 * NAME.out/NAME.err in the temp dir) and return its pid.  Killed at teardown.
	 */
	spawn(cmd: string, args: string[], name?: string, env?: Record<string, string>): number;
	/** spawn() of build/test-progs/NAME. */
	spawnProg(name: string, args: string[], env?: Record<string, string>): number;
	/** Contents of the stderr file of a spawned program. */
	stderrOf(name: string): string;
}

/*
 * Remove a scratch dir whose writers were killed just before.  Node's
 * recursive rm lists the children once and then only retries the final
 * rmdir, so one file created after that listing (a killed process's last
 * write, a CRIU or helper log being finished) failed the whole teardown
 * with ENOTEMPTY (seen once in CI).  Each retry here lists and removes
 * everything again; what is still appearing after 10 s is a real leak and
 * the error names it.
 */
async function removeScratch(root: string): Promise<void> {
	const deadline = Date.now() + 10_000;
	for (;;) {
		try {
			rmSync(root, { recursive: true, force: true });
			return;
		} catch (e) {
			const code = (e as NodeJS.ErrnoException).code;
			if ((code !== 'ENOTEMPTY' && code !== 'EBUSY') || Date.now() > deadline) {
				let left = '';
				try {
					left = readdirSync(root).join(', ');
				} catch {
					/* gone by now */
				}
				throw new Error(`cannot remove ${root} (${code}); still in it: ${left}`);
			}
			await sleep(100);
		}
	}
}

/*
 * How a process ended when nobody's wait() saw it: a restored process is
 * the child of the subreaper scripts/test.sh runs each file under
 * (build/test-progs/reaper), which appends "PID exit N" or "PID signal N"
 * to $REAPER_STATUS_FILE for every orphan it reaps.  The last line of
 * @pid (a pid is dumped and restored many times), or undefined.
 */
export function reapedStatus(pid: number): string | undefined {
	const file = process.env.REAPER_STATUS_FILE;
	if (!file) return undefined;
	const lines = readText(file).split('\n').filter((l) => l.startsWith(`${pid} `));
	return lines.length ? lines[lines.length - 1].slice(String(pid).length + 1) : undefined;
}

/** "pid N: running" / "exit 1" / "signal 9" / "gone (status unknown)", for failure messages. */
export function fateOf(pid: number): string {
	if (isAlive(pid)) return `pid ${pid}: running`;
	return `pid ${pid}: ${reapedStatus(pid) ?? 'gone (status unknown: run under build/test-progs/reaper with REAPER_STATUS_FILE)'}`;
}

const KEEP_MAX_FILE = 1 << 20;

/*
 * A failed test's scratch files, before the teardown removes them: every
 * file under 1 MiB (logs, the program's .out/.err, truth files, small
 * images; page images and data files are left out) is copied to
 * $CRIU_URING_KEEP_DIR (scripts/test.sh: build/test-logs/kept/) or else
 * next to the scratch dir (ROOT.kept), with fate.txt saying how each
 * process the test started ended.  Returns where.
 */
function keepScratch(root: string, pids: number[]): string {
	const base = process.env.CRIU_URING_KEEP_DIR;
	const dest = base ? path.join(base, path.basename(root)) : `${root}.kept`;
	const skipped: string[] = [];
	const copy = (from: string, to: string): void => {
		mkdirSync(to, { recursive: true });
		for (const e of readdirSync(from, { withFileTypes: true })) {
			const src = path.join(from, e.name);
			if (e.isDirectory()) copy(src, path.join(to, e.name));
			else if (!e.isFile()) continue;
			else if (statSync(src).size > KEEP_MAX_FILE) skipped.push(path.relative(root, src));
			else copyFileSync(src, path.join(to, e.name));
		}
	};
	try {
		copy(root, dest);
	} catch (e) {
		skipped.push(`(copy stopped: ${(e as Error).message})`);
	}
	writeFileSync(path.join(dest, 'fate.txt'), [...pids.map(fateOf), ...(skipped.length ? [`not kept (over 1 MiB): ${skipped.join(', ')}`] : [])].join('\n') + '\n');
	return dest;
}

/** A temp dir and process tracker whose cleanup is registered on @t. */
export function scratch(t: Teardownable): Scratch {
	const root = mkdtempSync(path.join(os.tmpdir(), 'criu-uring-test-'));
	const started: { pid: number; exe: string }[] = [];

	t.teardown(async () => {
		if (t.passing && !t.passing() && existsSync(root)) {
			const kept = keepScratch(root, started.map((p) => p.pid));
			t.comment?.(`failed: its files (logs, program output, how its processes ended) are kept in ${kept}`);
		}
		for (const { pid, exe } of started) {
			// Only the process we started (or its restored self): pids get reused.
			if (exeOf(pid) !== exe) continue;
			try {
				process.kill(pid, 'SIGKILL');
			} catch {
				/* already gone */
			}
		}
		/* CRIU_URING_KEEP_SCRATCH=1 (test:kernels guests): the CRIU logs stay for the report */
		if (process.env.CRIU_URING_KEEP_SCRATCH !== '1') await removeScratch(root);
	});

	const s: Scratch = {
		root,
		file: (name) => path.join(root, name),
		dir: (name) => {
			const d = path.join(root, name);
			mkdirSync(d, { recursive: true });
			return d;
		},
		spawn: (cmd, args, name = path.basename(cmd), env) => {
			const out = openSync(s.file(`${name}.out`), 'a');
			const err = openSync(s.file(`${name}.err`), 'a');
			try {
				const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, err], cwd: root,
					env: env ? { ...process.env, ...env } : process.env });
				if (child.pid === undefined) throw new Error(`cannot start ${cmd}`);
				child.on('error', () => undefined);
				child.unref();
				started.push({ pid: child.pid, exe: path.resolve(cmd) });
				return child.pid;
			} finally {
				closeSync(out);
				closeSync(err);
			}
		},
		spawnProg: (name, args, env) => s.spawn(progPath(name), args, name, env),
		stderrOf: (name) => readText(s.file(`${name}.err`)),
	};
	return s;
}

function readText(p: string): string {
	try {
		return readFileSync(p, 'utf8');
	} catch {
		return '';
	}
}

export interface CriuResult {
	/** Exit status, or null if CRIU was killed (timeout). */
	code: number | null;
	/** Full -v4 log. */
	log: string;
	logPath: string;
	stderr: string;
}

export interface CriuRunOptions {
	imagesDir: string;
	/** true: -L build/plugins; a string: -L that dir; absent/false: no plugins. */
	plugins?: boolean | string;
	/** Appended to the command line. */
	extraArgs?: string[];
	/** Log file name inside imagesDir (default dump.log / restore.log). */
	logName?: string;
	/** Kill CRIU after this long (default 60 s). */
	timeoutMs?: number;
	/** Extra environment for CRIU (its plugins and their helper inherit it). */
	env?: Record<string, string>;
}

function pluginArgs(plugins: boolean | string | undefined): string[] {
	if (plugins === true) return ['-L', PLUGIN_DIR];
	if (typeof plugins === 'string') return ['-L', path.resolve(plugins)];
	return [];
}

/** Run build/criu/criu with @args; never rejects on a non-zero exit. */
export function runCriu(args: string[], logPath: string, cwd: string, timeoutMs = 60_000, extraEnv: Record<string, string> = {}): Promise<CriuResult> {
	if (!existsSync(CRIU_BIN)) throw new Error(`${CRIU_BIN} missing: run npm run build`);
	/* CRIU_URING_CHECK_MAPS: the plan executor checks its kept list of each task's mappings (plugin-c/plan.c) */
	const env: NodeJS.ProcessEnv = { CRIU_URING_CHECK_MAPS: '1', ...process.env, ...extraEnv };
	delete env.CRIU_LIBS_DIR; // plugins only when a test asks for them
	return new Promise((resolve) => {
		execFile(CRIU_BIN, args, { cwd, env, timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, _stdout, stderr) => {
			let code: number | null = 0;
			if (error) code = typeof error.code === 'number' ? error.code : null;
			resolve({ code, log: readText(logPath), logPath, stderr: String(stderr) });
		});
	});
}

/*
 * CRIU's --timeout (default 10 s) bounds everything up to the end of the
 * freeze, the plugin's PAUSE_DEVICES work included (the helper's start and
 * the BPF load, before anything is frozen).  With three test files running
 * beside other work on two cores that stage has taken 9 s, and CRIU's alarm
 * then ends the dump.  The tests check what a dump does, not how fast it is
 * under contention (bench/ does), so they allow 60 s, as a loaded machine's
 * user would (README, Checkpointing).
 */
const FREEZE_TIMEOUT_S = 60;

/** criu dump -t PID -D DIR -v4 -o DIR/dump.log --timeout 60 [-L plugins]. */
export function criuDump(opts: CriuRunOptions & { pid: number }): Promise<CriuResult> {
	const logPath = path.join(opts.imagesDir, opts.logName ?? 'dump.log');
	const extra = opts.extraArgs ?? [];
	const args = ['dump', '-t', String(opts.pid), '-D', opts.imagesDir, '-v4', '-o', logPath,
		...(extra.includes('--timeout') ? [] : ['--timeout', String(FREEZE_TIMEOUT_S)]),
		...pluginArgs(opts.plugins), ...extra];
	return runCriu(args, logPath, opts.imagesDir, opts.timeoutMs, opts.env);
}

/** cd / && criu restore -D DIR -d -v4 -o DIR/restore.log [-L plugins]. */
export function criuRestore(opts: CriuRunOptions): Promise<CriuResult> {
	const logPath = path.join(opts.imagesDir, opts.logName ?? 'restore.log');
	const args = ['restore', '-D', opts.imagesDir, '-d', '-v4', '-o', logPath,
		...pluginArgs(opts.plugins), ...(opts.extraArgs ?? [])];
	return runCriu(args, logPath, '/', opts.timeoutMs, opts.env);
}

/** CRIU's "Error (file:line): ..." lines, minus the ones every run prints here. */
export function criuErrors(log: string): string[] {
	return log
		.split('\n')
		.filter((l) => /Error \(/.test(l))
		.filter((l) => !HARMLESS_ERRORS.some((re) => re.test(l)));
}

/** One-line summary of a failed CRIU run for assertion messages. */
export function describeRun(what: string, r: CriuResult): string {
	const errs = criuErrors(r.log);
	/* a failure with no error line (CRIU killed, or failing before its log): the log's and stderr's last lines */
	const tail = (text: string): string => text.trim().split('\n').slice(-3).join(' | ');
	const more = r.code !== 0 && !errs.length ? `; log ends: ${tail(r.log) || '(empty)'}; stderr: ${tail(r.stderr) || '(empty)'}` : '';
	return `${what} exited ${r.code}; errors: ${errs.slice(0, 5).join(' | ') || '(none)'}${more} (log ${r.logPath})`;
}

/** A "PID COUNT" line written by plain_sleeper / ring_min. */
export interface ProgressLine {
	pid: number;
	count: number;
}

/** Parse a progress file; a torn last line (no newline yet) is ignored. */
export function readProgress(file: string): ProgressLine[] {
	const text = readText(file);
	const complete = text.slice(0, text.lastIndexOf('\n') + 1);
	return complete
		.split('\n')
		.filter((l) => l !== '')
		.map((l) => {
			const m = /^(\d+) (\d+)$/.exec(l);
			if (!m) throw new Error(`${file}: malformed progress line "${l}"`);
			return { pid: Number(m[1]), count: Number(m[2]) };
		});
}

/** Last count in a progress file, or -1 when nothing is written yet. */
export function lastCount(file: string): number {
	const lines = readProgress(file);
	return lines.length ? lines[lines.length - 1].count : -1;
}

/**
 * Check that a progress file is exactly 0, 1, 2, ... written by @pid: no
 * restart, no gap, no repeat.  Returns a description of the first problem,
 * or undefined when the sequence is intact.
 */
export function progressProblem(lines: ProgressLine[], pid: number): string | undefined {
	for (let i = 0; i < lines.length; i++) {
		if (lines[i].pid !== pid) return `line ${i + 1} written by pid ${lines[i].pid}, expected ${pid}`;
		if (lines[i].count !== i) return `line ${i + 1} has count ${lines[i].count}, expected ${i}`;
	}
	return undefined;
}

/* ---- the zdtm-style cycle: start with a truth file, dump, restore, verify ---- */

/** The part of tap's Test the cycle helpers assert with. */
export type Asserts = Pick<Test, 'equal' | 'ok' | 'match'>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface TruthProg { pid: number; truth: Record<string, any> }

/**
 * Start build/test-progs/PROG with TRUTH_FILE in the scratch dir (the
 * test/progs convention) and wait until it has written its truth.
 */
export async function startWithTruth(s: Scratch, prog: string, args: string[] = []): Promise<TruthProg> {
	const truthFile = s.file(`${prog}.truth.json`);
	const pid = s.spawnProg(prog, args, { TRUTH_FILE: truthFile });
	await waitFor(() => existsSync(truthFile) || !isAlive(pid), `${prog} to write its truth file`);
	if (!existsSync(truthFile)) throw new Error(`${prog} exited early: ${s.stderrOf(prog)}`);
	return { pid, truth: JSON.parse(readFileSync(truthFile, 'utf8')) };
}

export interface CycleOptions {
	/** Image directory name in the scratch dir (default "img"). */
	name?: string;
	/** Extra dump arguments; with --leave-running there is no restore. */
	dumpArgs?: string[];
	/** Every pid of the dumped tree (default: just the root). */
	pids?: number[];
	/** Extra environment for the dump (e.g. CRIU_URING_CANCEL_INFLIGHT). */
	dumpEnv?: Record<string, string>;
}

/**
 * criu dump with the plugin (killing the tree unless --leave-running),
 * wait until every pid is gone, criu restore -d with the plugin.
 * Asserts each step; false when one failed.
 */
export async function dumpAndRestore(t: Asserts, s: Scratch, pid: number, opts: CycleOptions = {}): Promise<boolean> {
	const dir = s.dir(opts.name ?? 'img');
	const dumpArgs = opts.dumpArgs ?? [];
	const d = await criuDump({ pid, imagesDir: dir, plugins: true, extraArgs: dumpArgs, env: opts.dumpEnv });
	if (!t.equal(d.code, 0, describeRun('dump', d))) return false;
	if (dumpArgs.includes('--leave-running')) return true;
	const pids = opts.pids ?? [pid];
	for (const p of pids) await waitForExit(p);
	const r = await criuRestore({ imagesDir: dir, plugins: true });
	if (!t.equal(r.code, 0, describeRun('restore', r))) return false;
	/* a restored process that died at once: how (the reaper's record) and what it said */
	const dead = pids.filter((p) => !isAlive(p));
	return t.ok(dead.length === 0, 'the restored processes run with their pids' +
		(dead.length ? ` (${dead.map(fateOf).join(', ')}; stderr files: ${stderrTails(s)})` : ''));
}

/* The last line of every NAME.err of the scratch dir, for a failure message. */
function stderrTails(s: Scratch): string {
	let names: string[] = [];
	try {
		names = readdirSync(s.root).filter((n) => n.endsWith('.err'));
	} catch {
		/* gone */
	}
	return names.map((n) => `${n}: ${readText(s.file(n)).trim().split('\n').pop() || '(empty)'}`).join('; ') || '(none)';
}

/** SIGUSR1: the program verifies itself; its stderr must be empty and its stdout match. */
export async function finishVerified(t: Asserts, s: Scratch, prog: string, pid: number, pattern: RegExp = /verified/, ms = 30_000): Promise<void> {
	process.kill(pid, 'SIGUSR1');
	await waitForExit(pid, ms);
	t.equal(s.stderrOf(prog), '', `${prog} found nothing wrong`);
	const out = readText(s.file(`${prog}.out`));
	t.match(out, pattern, `${prog} verified itself` + (pattern.test(out) ? '' : ` (${fateOf(pid)})`));
}

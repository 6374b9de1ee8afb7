/*
 * Start a test program from build/test-progs and read its truth file.
 *
 * Every program under test/progs writes one JSON object (its "truth") to
 * $TRUTH_FILE once its io_uring state is set up, then sleeps until SIGUSR1
 * or SIGTERM.  startProg() runs it detached (its own process group, so a
 * forked child goes down with it), waits for the truth with a deadline, and
 * registers a teardown that kills whatever is left.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Test } from 'tap';

/** Repository root: dist/test/lib/progs.js or test/lib/progs.ts, both three levels down. */
export const REPO = resolve(__dirname, existsSync(resolve(__dirname, '../../package.json')) ? '../..' : '../../..');
export const PROGS_DIR = join(REPO, 'build', 'test-progs');
export const CLI = join(REPO, 'bin', 'criu-uring');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Truth = Record<string, any>;

export interface Prog {
	pid: number;
	truth: Truth;
	/** Ask the program to finish (SIGUSR1 by default) and wait for its exit code. */
	stop(signal?: NodeJS.Signals): Promise<number | null>;
	/** Resolves with the exit code (null when killed by a signal). */
	exited: Promise<number | null>;
	stderr(): string;
	/** The truth file, for programs that rewrite it (insp_hammer writes a verdict at exit). */
	truthFile: string;
	readTruth(): Truth;
}

/** The part of a tap Test this helper needs. */
export interface Teardownable { teardown(fn: () => void | Promise<void>): void }

export interface StartOptions {
	args?: string[];
	env?: Record<string, string>;
	timeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function killGroup(pid: number, sig: NodeJS.Signals): void {
	try {
		process.kill(-pid, sig);
	} catch {
		/* already gone */
	}
}

export function progPath(name: string): string {
	const p = join(PROGS_DIR, name);
	if (!existsSync(p))
		throw new Error(`test program ${name} is not built: ${p} is missing (run make -C test/progs)`);
	return p;
}

export async function startProg(t: Teardownable, name: string, opts: StartOptions = {}): Promise<Prog> {
	const bin = progPath(name);
	const dir = mkdtempSync(join(tmpdir(), `criu-uring-${name}-`));
	const truthFile = join(dir, 'truth.json');
	const child = spawn(bin, opts.args ?? [], {
		detached: true,
		stdio: ['ignore', 'ignore', 'pipe'],
		env: { ...process.env, ...opts.env, TRUTH_FILE: truthFile },
	});
	let err = '';
	child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
	let exitCode: number | null | undefined;
	const exited = new Promise<number | null>((res) => {
		child.on('exit', (code) => { exitCode = code; res(code); });
	});
	const pid = child.pid!;
	t.teardown(async () => {
		if (exitCode === undefined) {
			killGroup(pid, 'SIGKILL');
			await exited;
		} else {
			killGroup(pid, 'SIGKILL'); /* a forked child may outlive its parent */
		}
		rmSync(dir, { recursive: true, force: true });
	});

	const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
	while (!existsSync(truthFile)) {
		if (exitCode !== undefined)
			throw new Error(`${name} exited with ${exitCode} before writing its truth file: ${err.trim()}`);
		if (Date.now() > deadline)
			throw new Error(`${name} wrote no truth file within ${opts.timeoutMs ?? 10_000} ms (pid ${pid}): ${err.trim()}`);
		await sleep(20);
	}
	const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as Truth;
	return {
		pid,
		truth,
		exited,
		stderr: () => err,
		truthFile,
		readTruth: () => JSON.parse(readFileSync(truthFile, 'utf8')) as Truth,
		async stop(signal: NodeJS.Signals = 'SIGUSR1') {
			if (exitCode !== undefined)
				return exitCode;
			killGroup(pid, signal);
			return exited;
		},
	};
}

/* ---- the CLI under test ---- */

function runCli(args: string[], timeoutMs: number): string {
	try {
		return execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
	} catch (e) {
		const x = e as { status?: number; stderr?: string; message: string };
		throw new Error(`criu-uring ${args.join(' ')} failed (status ${x.status ?? '?'}): ${(x.stderr ?? x.message).trim()}`);
	}
}

/** `criu-uring inspect -t PID --json`, parsed (src/capture/model.ts ProcessRings). */
/*
 * What a process holds, to compare before and after a dump that must leave
 * it untouched: its fds (with their inodes), mappings and thread count.
 */
export function holdings(pid: number): Truth {
	const fds = readdirSync(`/proc/${pid}/fd`).sort().map((fd) => {
		try {
			return `${fd} ${readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').split('\n').find((l) => l.startsWith('ino:')) ?? ''}`;
		} catch {
			return fd;
		}
	});
	const maps = readFileSync(`/proc/${pid}/maps`, 'utf8').trim().split('\n');
	const threads = readdirSync(`/proc/${pid}/task`).length;
	return { fds, maps, threads };
}

export function inspectPid(pid: number, timeoutMs = 30_000): Truth {
	return JSON.parse(runCli(['inspect', '-t', String(pid), '--json'], timeoutMs)) as Truth;
}

/** `criu-uring inspect --json` without a pid: { processes: ProcessSummary[], source }. */
export function inspectAll(timeoutMs = 60_000): Truth {
	return JSON.parse(runCli(['inspect', '--json'], timeoutMs)) as Truth;
}

/*
 * A process's inspected rings in an order a restore keeps: by their lowest
 * fd, then (rings without an fd) by their first mapping, then by their
 * registered-ring slot.  inspect lists rings by inode, and a restore
 * creates new inodes in an order of its own, so tests that compare the
 * rings of a process before and after a restore must not match them by
 * position in inspect's list.
 */
export function ringsInStableOrder(inspected: Truth): Truth[] {
	const fd = (r: Truth): number => r.fds?.[0] ?? Number.MAX_SAFE_INTEGER;
	const map = (r: Truth): bigint => (r.mappings?.[0] ? BigInt(r.mappings[0].start) : 0n);
	const slot = (r: Truth): number => r.registered_slots?.[0]?.index ?? -1;
	return [...(inspected.rings as Truth[])].sort((a, b) =>
		fd(a) - fd(b) || (map(a) < map(b) ? -1 : map(a) > map(b) ? 1 : 0) || slot(a) - slot(b));
}

/** The inspected ring with this inode, or undefined. */
export function ringByInode(inspected: Truth, inode: number): Truth | undefined {
	return (inspected.rings as Truth[] | undefined)?.find((r) => r.inode === inode);
}

/** What a truth-vs-inspect comparison needs from a tap Test. */
export type Asserts = Pick<Test, 'equal' | 'same' | 'ok'>;

/*
 * Arrays whose order the model does not fix, with the key to sort by
 * before comparing element by element ("" = the values themselves).
 */
const UNORDERED: Record<string, string> = {
	fds: '', shared_with: '', mappings: 'start', inflight: 'user_data', provided_buffers: 'bgid',
};

function sortedBy(a: unknown[], key: string): unknown[] {
	const k = (v: unknown) => String(key ? (v as Truth)?.[key] : v).padStart(24, '0');
	return [...a].sort((x, y) => (k(x) < k(y) ? -1 : k(x) > k(y) ? 1 : 0));
}

/**
 * Compare every field the truth states with the inspected value, one
 * assertion per leaf, named by its path.  Keys starting with "_" are the
 * program's own notes, not model fields, and are skipped.  Arrays must
 * have the same length and are compared element by element (after
 * sorting, for the arrays in UNORDERED).
 */
export function expectFields(t: Asserts, actual: unknown, truth: unknown, path: string): void {
	if (Array.isArray(truth)) {
		if (!t.ok(Array.isArray(actual) && actual.length === truth.length,
			`${path} has ${truth.length} entries (inspect: ${JSON.stringify(actual)})`))
			return;
		const name = path.slice(path.lastIndexOf('.') + 1);
		const key = UNORDERED[name];
		const want = key === undefined ? truth : sortedBy(truth, key);
		const got = key === undefined ? (actual as unknown[]) : sortedBy(actual as unknown[], key);
		want.forEach((w, i) => expectFields(t, got[i], w, `${path}[${i}]`));
		return;
	}
	if (truth === null || typeof truth !== 'object') {
		t.equal(actual, truth, `${path} is ${JSON.stringify(truth)}`);
		return;
	}
	if (actual === null || typeof actual !== 'object') {
		t.ok(false, `${path} should be an object like ${JSON.stringify(truth)}, inspect has ${JSON.stringify(actual)}`);
		return;
	}
	for (const [k, v] of Object.entries(truth as Truth)) {
		if (k.startsWith('_'))
			continue;
		expectFields(t, (actual as Truth)[k], v, `${path}.${k}`);
	}
}

/** Find the inspected ring for a truth ring (by inode) and compare all stated fields. */
export function expectRing(t: Asserts, inspected: Truth, truthRing: Truth): Truth | undefined {
	const label = `ring ${truthRing._name ?? ''} (inode ${truthRing.inode})`.replace('  ', ' ');
	const ring = ringByInode(inspected, truthRing.inode);
	if (!t.ok(ring, `${label} is listed by inspect`))
		return undefined;
	expectFields(t, ring, truthRing, label);
	return ring;
}

/**
 * The common shape of an inspect test: start @name, inspect it, check the
 * process-level fields and every ring of the truth, then stop it cleanly.
 * Returns the program and the inspect output for extra checks.
 */
export async function inspectAgainstTruth(t: Test, name: string, opts: StartOptions = {}): Promise<{ prog: Prog; got: Truth }> {
	const prog = await startProg(t, name, opts);
	const got = inspectPid(prog.pid);
	t.equal(got.pid, prog.pid, `${name}: inspected pid`);
	t.equal(got.source, 'bpf', `${name}: captured with BPF`);
	t.equal(got.rings?.length, prog.truth.rings.length, `${name}: ${prog.truth.rings.length} ring(s)`);
	for (const want of prog.truth.rings as Truth[])
		expectRing(t, got, want);
	return { prog, got };
}

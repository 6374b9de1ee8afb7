/*
 * Helpers for podman container checkpoint/restore tests:
 *
 *   const s = scratch(t);
 *   const pm = await podmanSetup(t, s, 'runc', ['cr_rw']);   // image, CRIU wiring, seccomp
 *   const c = await pm.run(t, ['/bin/cr_rw', '--advance', '100']);
 *   const truth = await c.truth();                          // the program's JSON line
 *   const ck = await c.checkpoint(['--keep']);              // podman container checkpoint
 *   const rs = await c.restore(['--keep']);                 // podman container restore
 *   await c.finishVerified(t);                               // SIGUSR1, exit 0, "verified"
 *
 * No registry is needed: the image is imported from a tarball of host files
 * (the binaries asked for, their shared libraries from ldd, /bin/sh).
 * Every container and image a test creates is removed at teardown, also
 * when the test failed half way; nothing is written to /etc.
 *
 * How podman's runtime reaches the patched CRIU and the plugin is decided
 * in one place, criuWiring(), so the tests can switch to an installed copy.
 */
import type { Test } from 'tap';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CRIU_BIN, PLUGIN_DIR, type Scratch, type Teardownable, criuErrors, progPath, sleep } from './criu';
import { which } from './apps';
import { ROOT } from '../../src/util/paths';

export type Runtime = 'runc' | 'crun';
export const RUNTIMES: Runtime[] = ['runc', 'crun'];

export const PODMAN = which('podman');
/** crun with CRIU support, built by scripts/build-crun.sh (Debian 12's crun has none). */
export const CRUN_BUILD = path.join(ROOT, 'build', 'crun', 'crun');
export const SECCOMP_SCRIPT = path.join(ROOT, 'contrib', 'seccomp-io_uring.js');

export interface CmdResult {
	/** Exit status; -1 when killed by the timeout or not started. */
	code: number;
	stdout: string;
	stderr: string;
}

/** Run @cmd to completion; never rejects. */
export function runCmd(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 120_000): Promise<CmdResult> {
	return new Promise((resolve) => {
		execFile(cmd, args, { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
			const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
			resolve({ code, stdout: String(stdout), stderr: String(stderr) });
		});
	});
}

function readOr(p: string): string {
	try {
		return readFileSync(p, 'utf8');
	} catch {
		return '';
	}
}

/**
 * The cgroup layout of this kind of machine: cgroup v1 controllers plus a
 * cgroup2 hierarchy at /sys/fs/cgroup/unified that has a controller
 * (hugetlb).  crun (every version up to today) refuses to start any
 * container there ("cgroups in hybrid mode not supported, drop all
 * controllers from cgroupv2"); runc does not mind.
 */
export function hybridCgroupsWithV2Controllers(): boolean {
	return readOr('/proc/self/mountinfo').split('\n').some((l) => / \/sys\/fs\/cgroup\/unified .* - cgroup2 /.test(l)) &&
		readOr('/sys/fs/cgroup/unified/cgroup.controllers').trim() !== '';
}

/** True when this process has CAP_SYS_RESOURCE (bit 24). */
function hasSysResource(): boolean {
	const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readOr('/proc/self/status'));
	return m ? (BigInt(`0x${m[1]}`) & (1n << 24n)) !== 0n : false;
}

/** Hard limit of @name ("Max open files") from /proc/self/limits. */
function hardLimit(name: string): number | undefined {
	const line = readOr('/proc/self/limits').split('\n').find((l) => l.startsWith(name));
	const v = line?.slice(26).trim().split(/\s+/)[1];
	return v && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * Without CAP_SYS_RESOURCE (this machine withholds it) the runtime cannot
 * raise RLIMIT_NOFILE/NPROC to podman's defaults (1048576 / 4194304): the
 * container would not start ("setrlimit RLIMIT_NPROC: Operation not
 * permitted").  Ask for what we have instead; podman itself lowers its
 * RLIMIT_NPROC to 32768 before starting the runtime.
 */
function ulimitArgs(): string[] {
	if (hasSysResource()) return [];
	const nofile = hardLimit('Max open files') ?? 1024;
	const nproc = Math.min(hardLimit('Max processes') ?? 32768, 32768);
	return ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`];
}

export interface WiringOptions {
	/** Environment for CRIU (and the plugin's helper), set by a criu script first on PATH. */
	criuEnv?: Record<string, string>;
	/** Use the installed criu and plugin (default: CRIU_URING_INSTALLED=1 in the environment). */
	installed?: boolean;
	/** A command every podman command runs under, e.g. nsenter into a mount namespace. */
	wrap?: string[];
}

export interface CriuWiring {
	/** Environment for every podman command: our criu first on PATH. */
	env: NodeJS.ProcessEnv;
	/** What to pass as podman --runtime. */
	runtime: string;
	/** Extra `podman run` arguments (the CRIU config annotation for runc). */
	runArgs: string[];
	/** How the plugin is found, for messages. */
	how: string;
}

/**
 * How podman -> runtime -> CRIU reaches the checkout's patched CRIU and
 * plugin, without touching /etc:
 *
 * - podman checks CRIU's version with the `criu` on its PATH and passes
 *   PATH (and nothing else of its environment) to the runtime; runc execs
 *   `criu swrk` from PATH, crun's libcriu does too.  A directory with our
 *   `criu` goes first on PATH.
 * - runc: the plugin directory comes from a CRIU config file named by the
 *   container annotation org.criu.config (`libdir DIR`), the per-container
 *   form of /etc/criu/runc.conf.
 * - crun 1.8.1 passes no config file to CRIU at all, so CRIU looks in
 *   $CRIU_LIBS_DIR or its default /usr/lib/criu: our `criu` is a two-line
 *   script that sets CRIU_LIBS_DIR.  Debian's crun has no CRIU support:
 *   build/crun/crun (scripts/build-crun.sh) is used; on a machine with a
 *   hybrid cgroup layout crun runs in a private mount namespace without
 *   /sys/fs/cgroup/unified (crun-legacy below), which crun then takes for
 *   a cgroup v1 machine.
 * - opts.criuEnv (e.g. CRIU_URING_CANCEL_INFLIGHT=1) goes into that script
 *   too: podman's runtime gives CRIU no other environment.
 * - opts.installed (default: CRIU_URING_INSTALLED=1 in the environment): none of the above
 *   for CRIU and the plugin (the installed criu on PATH, the plugin in
 *   /usr/lib/criu/); crun is still build/crun/crun.
 */
export function criuWiring(s: Scratch, runtime: Runtime, opts: WiringOptions = {}): CriuWiring {
	/* installed: the installed copy (`make install`: criu on root's PATH,
	 * the plugin in CRIU's default /usr/lib/criu/), no wiring. */
	const installed = opts.installed ?? process.env.CRIU_URING_INSTALLED === '1';
	const criuEnv = opts.criuEnv ?? {};
	/* installed and run in another mount namespace (opts.wrap), the
	 * installed criu may not exist here: its standard path then */
	const realCriu = installed ? (which('criu') ?? '/usr/local/sbin/criu') : CRIU_BIN;
	if (!installed && !existsSync(realCriu)) throw new Error(`${CRIU_BIN} missing: run npm run build`);
	const bin = s.dir('bin');
	const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` };
	delete env.CRIU_LIBS_DIR;
	/* CRIU gets PATH and nothing else from podman: anything else for CRIU
	 * (and the plugin's helper) goes into a criu script first on PATH */
	const vars = { ...(runtime === 'crun' && !installed ? { CRIU_LIBS_DIR: PLUGIN_DIR } : {}), ...criuEnv };
	if (Object.keys(vars).length) {
		const assign = Object.entries(vars).map(([k, v]) => `${k}='${v}'`).join(' ');
		writeFileSync(path.join(bin, 'criu'), `#!/bin/sh\n${assign} exec '${realCriu}' "$@"\n`);
		chmodSync(path.join(bin, 'criu'), 0o755);
	} else if (!installed) {
		symlinkSync(realCriu, path.join(bin, 'criu'));
	}
	if (runtime === 'runc') {
		const runc = which('runc');
		if (!runc) throw new Error('runc is not installed (scripts/install-deps.sh installs it)');
		if (installed) return { env, runtime: runc, runArgs: [], how: 'installed criu and plugin' };
		const conf = s.file('criu-runc.conf');
		writeFileSync(conf, `# CRIU options for this container (runc passes this file to criu swrk)\nlibdir ${PLUGIN_DIR}\n`);
		return { env, runtime: runc, runArgs: ['--annotation', `org.criu.config=${conf}`], how: `annotation org.criu.config=${conf}` };
	}
	if (!existsSync(CRUN_BUILD)) throw new Error(`${CRUN_BUILD} missing: run npm run build (scripts/build-crun.sh)`);
	let crun = CRUN_BUILD;
	if (hybridCgroupsWithV2Controllers()) {
		crun = path.join(bin, 'crun-legacy');
		writeFileSync(crun, '#!/bin/sh\n# crun refuses a hybrid cgroup layout whose cgroup2 part has controllers:\n' +
			'# hide /sys/fs/cgroup/unified from it (private mount namespace).\n' +
			`exec unshare --mount --propagation private sh -c 'umount -l /sys/fs/cgroup/unified && exec "$0" "$@"' '${CRUN_BUILD}' "$@"\n`);
		chmodSync(crun, 0o755);
	}
	return { env, runtime: crun, runArgs: [], how: installed ? 'installed criu and plugin' : 'CRIU_LIBS_DIR set by the criu on PATH' };
}

/** Shared libraries @bin needs, as absolute paths (ldd). */
async function libsOf(bin: string): Promise<string[]> {
	const r = await runCmd('ldd', [bin]);
	if (r.code !== 0) return []; /* static */
	const libs: string[] = [];
	for (const l of r.stdout.split('\n')) {
		const m = /=>\s*(\/\S+)/.exec(l) ?? /^\s*(\/\S+)\s+\(/.exec(l);
		if (m) libs.push(m[1]);
	}
	return libs;
}

/** Runs podman with @args (the setup's environment and wrapper); never rejects. */
export type PodmanCmd = (args: string[], timeoutMs?: number) => Promise<CmdResult>;

/** What goes into a test image. */
export type ImageSpec =
	/** each binary in /bin (test program names resolve to build/test-progs) with the libraries ldd lists, /bin/sh */
	| { bins: string[] }
	/**
	 * an empty root with /bin, /sbin, /lib, /lib64 as symlinks into /usr and a
	 * root entry in /etc/passwd: run it with the host's /usr bind-mounted
	 * read-only (HOST_USR) for programs with many files (MariaDB)
	 */
	| { hostUsr: true };

/** `podman run` arguments that bind-mount the host's /usr read-only (for { hostUsr: true } images). */
export const HOST_USR = ['-v', '/usr:/usr:ro'];

/** Fill @rootfs with the files of @spec. */
async function fillRootfs(rootfs: string, spec: ImageSpec): Promise<void> {
	for (const d of ['tmp', 'work', 'proc', 'sys', 'dev', 'etc', 'run', 'var/lib']) mkdirSync(path.join(rootfs, d), { recursive: true });
	chmodSync(path.join(rootfs, 'tmp'), 0o1777);
	writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
	writeFileSync(path.join(rootfs, 'etc', 'group'), 'root:x:0:\n');
	if ('hostUsr' in spec) {
		mkdirSync(path.join(rootfs, 'usr'));
		for (const l of ['bin', 'sbin', 'lib', 'lib64']) symlinkSync(`usr/${l}`, path.join(rootfs, l));
		return;
	}
	mkdirSync(path.join(rootfs, 'bin'));
	const sources = ['/bin/sh', ...spec.bins.map((b) => (b.startsWith('/') ? b : progPath(b)))];
	const libs = new Set<string>();
	for (const src of sources) {
		copyFileSync(src, path.join(rootfs, 'bin', path.basename(src)));
		chmodSync(path.join(rootfs, 'bin', path.basename(src)), 0o755);
		for (const l of await libsOf(src)) libs.add(l);
	}
	for (const l of libs) {
		mkdirSync(path.join(rootfs, path.dirname(l)), { recursive: true });
		copyFileSync(l, path.join(rootfs, l));
	}
}

/**
 * A container image made of host files (@spec), imported from a tarball
 * as a fresh tag; removed at teardown.
 */
export async function buildImage(t: Teardownable, s: Scratch, spec: ImageSpec, podman: PodmanCmd): Promise<string> {
	const rootfs = s.dir('rootfs');
	await fillRootfs(rootfs, spec);
	const tar = s.file('rootfs.tar');
	const tr = await runCmd('tar', ['-C', rootfs, '-cf', tar, '.']);
	if (tr.code !== 0) throw new Error(`tar of the rootfs failed: ${tr.stderr.trim()}`);
	const tag = `localhost/criu-uring-test:${process.pid}-${Date.now()}`;
	t.teardown(async () => {
		await podman(['rmi', '-f', tag], 60_000);
	});
	const r = await podman(['import', '-q', tar, tag]);
	if (r.code !== 0) throw new Error(`podman import exited ${r.code}: ${r.stderr.trim()}`);
	return tag;
}

export interface Podman {
	readonly runtime: Runtime;
	readonly wiring: CriuWiring;
	readonly image: string;
	/** seccomp profile made by contrib/seccomp-io_uring.js. */
	readonly seccomp: string;
	/** podman --runtime RUNTIME @args with the wiring's environment. */
	podman(args: string[], timeoutMs?: number): Promise<CmdResult>;
	/**
	 * podman run -d of @cmd in the image, named uniquely, with the io_uring
	 * seccomp profile (opts.seccomp false: podman's default profile);
	 * removed at teardown.
	 */
	run(t: Teardownable, cmd: string[], opts?: { extraArgs?: string[]; seccomp?: boolean }): Promise<Container>;
	/** A Container handle for @name (e.g. one restored from an export); removed at teardown. */
	container(t: Teardownable, name: string): Container;
}

let serial = 0;

/** True when @pid is a live node process (a test run that may still own its containers). */
function liveNode(pid: number): boolean {
	return /^node/.test(readOr(`/proc/${pid}/comm`));
}

/**
 * Containers and images of earlier test runs that were killed before their
 * teardown (named criu-uring-test-PID-N / tagged PID-TIME): removed when
 * that PID is no longer a running node process.
 */
async function reapStale(podman: PodmanCmd): Promise<void> {
	const ps = await podman(['ps', '-a', '--format', '{{.Names}}'], 60_000);
	for (const name of ps.stdout.split('\n')) {
		const m = /^criu-uring-test-(\d+)-\d+$/.exec(name.trim());
		if (m && !liveNode(Number(m[1]))) await podman(['rm', '-f', '-t', '0', name.trim()], 60_000);
	}
	const im = await podman(['images', '--format', '{{.Repository}}:{{.Tag}}'], 60_000);
	for (const tag of im.stdout.split('\n')) {
		const m = /^localhost\/criu-uring-test:(\d+)-\d+$/.exec(tag.trim());
		if (m && !liveNode(Number(m[1]))) await podman(['rmi', '-f', tag.trim()], 60_000);
	}
}

/**
 * Everything a podman test needs: fails (throws) when podman or the runtime
 * cannot work here, never skips.
 */
export async function podmanSetup(t: Teardownable, s: Scratch, runtime: Runtime, spec: ImageSpec,
	opts: WiringOptions = {}): Promise<Podman> {
	if (!PODMAN) throw new Error('podman is not installed (scripts/install-deps.sh installs it)');
	const wiring = criuWiring(s, runtime, opts);
	const wrap = opts.wrap ?? [];
	const podmanCmd = (args: string[], timeoutMs = 120_000): Promise<CmdResult> =>
		(wrap.length ? runCmd(wrap[0], [...wrap.slice(1), PODMAN!, ...args], wiring.env, timeoutMs) : runCmd(PODMAN!, args, wiring.env, timeoutMs));
	await reapStale(podmanCmd);
	const seccomp = s.file('seccomp-io_uring.json');
	const sc = await runCmd(process.execPath, [SECCOMP_SCRIPT]);
	if (sc.code !== 0) throw new Error(`contrib/seccomp-io_uring.js exited ${sc.code}: ${sc.stderr.trim()}`);
	writeFileSync(seccomp, sc.stdout);
	const image = await buildImage(t, s, spec, podmanCmd);
	const podman = (args: string[], timeoutMs = 120_000): Promise<CmdResult> => podmanCmd(['--runtime', wiring.runtime, ...args], timeoutMs);
	const pm: Podman = {
		runtime, wiring, image, seccomp, podman,
		container: (t, name) => {
			t.teardown(async () => {
				await podman(['rm', '-f', '-t', '0', name], 60_000);
			});
			return new Container(pm, name);
		},
		run: async (t, cmd, { extraArgs = [], seccomp: withProfile = true } = {}) => {
			const name = `criu-uring-test-${process.pid}-${++serial}`;
			const c = pm.container(t, name);
			const r = await podman(['run', '-d', '--name', name, '--network', 'none', ...ulimitArgs(),
				...(withProfile ? ['--security-opt', `seccomp=${seccomp}`] : []), ...wiring.runArgs, '-w', '/work', ...extraArgs, image, ...cmd]);
			if (r.code !== 0) throw new Error(`podman run (${runtime}) exited ${r.code}: ${r.stderr.trim()}`);
			return c;
		},
	};
	return pm;
}

/** Lines of CRIU's log that the io_uring plugin wrote. */
export function pluginLines(log: string): string[] {
	return log.split('\n').filter((l) => /^\([\d.]+\) (Error \([^)]*\): )?io_uring: /.test(l));
}

/** Where CRIU logs of failed container checkpoints/restores are kept (podman removes them with the container). */
export const FAILED_LOGS = path.join(ROOT, 'build', 'test-logs', 'containers');

/**
 * One line for an assertion message about a podman checkpoint/restore:
 * exit status, podman's last stderr lines and CRIU's Error lines.  When
 * it failed, CRIU's log is copied to FAILED_LOGS and named.
 */
export function describeCriuRun(what: string, r: CheckpointRun): string {
	let kept = '';
	if (r.code !== 0 && r.log) {
		mkdirSync(FAILED_LOGS, { recursive: true });
		kept = path.join(FAILED_LOGS, `${what.replace(/[^A-Za-z0-9_.-]+/g, '_')}.${Date.now()}.${path.basename(r.logPath)}`);
		writeFileSync(kept, r.log);
	}
	const errs = criuErrors(r.log);
	return `${what} exited ${r.code}` + (r.code !== 0 ? `: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}` : '') +
		(errs.length ? `; CRIU errors: ${errs.slice(0, 6).join(' | ')}` : '') + (kept ? ` (log kept in ${kept})` : '');
}

export interface CheckpointRun extends CmdResult {
	/** CRIU's log of this run (dump.log / restore.log under the container's userdata), '' if gone. */
	log: string;
	logPath: string;
}

export class Container {
	constructor(readonly pm: Podman, readonly name: string) {}

	/** podman inspect --format FORMAT of this container ('' when it does not exist). */
	async inspect(format: string): Promise<string> {
		const r = await this.pm.podman(['inspect', '--type', 'container', '--format', format, this.name], 30_000);
		return r.code === 0 ? r.stdout.trim() : '';
	}

	/** The container's state ("running", "exited", ...), '' when it does not exist. */
	state(): Promise<string> {
		return this.inspect('{{.State.Status}}');
	}

	/** Host pid of the container's init (0 when not running). */
	async hostPid(): Promise<number> {
		return Number(await this.inspect('{{.State.Pid}}')) || 0;
	}

	/** Where podman keeps CRIU's logs and images: the container's userdata dir. */
	userdata(): Promise<string> {
		return this.inspect('{{.StaticDir}}');
	}

	/** stdout and stderr of the container so far (podman logs). */
	async logs(): Promise<{ stdout: string; stderr: string }> {
		const r = await this.pm.podman(['logs', this.name], 30_000);
		return { stdout: r.stdout, stderr: r.stderr };
	}

	/**
	 * Wait for the test program's truth (the JSON object it prints when
	 * TRUTH_FILE is unset) in its stdout.
	 */
	async truth(timeoutMs = 20_000): Promise<Record<string, unknown>> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const { stdout, stderr } = await this.logs();
			const line = stdout.split('\n').find((l) => l.startsWith('{'));
			if (line) return JSON.parse(line);
			if (stderr.trim() !== '') throw new Error(`${this.name}: the program failed before its truth: ${stderr.trim()}`);
			if ((await this.state()) !== 'running') throw new Error(`${this.name} stopped before its truth (state ${await this.state()})`);
			if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${this.name}'s truth`);
			await sleep(100);
		}
	}

	private async criuRun(what: 'checkpoint' | 'restore', args: string[], logName: string, timeoutMs: number): Promise<CheckpointRun> {
		/* the userdata dir changes on --import: look it up after the run */
		const r = await this.pm.podman(['container', what, ...args, ...(args.some((a) => a.startsWith('--import')) ? [] : [this.name])], timeoutMs);
		const logPath = path.join(await this.userdata(), logName);
		return { ...r, log: readOr(logPath), logPath };
	}

	/** podman container checkpoint @args NAME (add --keep to keep dump.log). */
	checkpoint(args: string[] = [], timeoutMs = 120_000): Promise<CheckpointRun> {
		return this.criuRun('checkpoint', args, 'dump.log', timeoutMs);
	}

	/** podman container restore @args NAME, or with --import=FILE (then no name; use --name). */
	restore(args: string[] = [], timeoutMs = 120_000): Promise<CheckpointRun> {
		return this.criuRun('restore', args, 'restore.log', timeoutMs);
	}

	/** podman kill --signal @sig. */
	async kill(sig: string): Promise<void> {
		const r = await this.pm.podman(['kill', '--signal', sig, this.name], 30_000);
		if (r.code !== 0) throw new Error(`podman kill --signal ${sig} ${this.name} exited ${r.code}: ${r.stderr.trim()}`);
	}

	/** Exit code of the container once it stopped (podman wait); throws on timeout. */
	async exitCode(timeoutMs = 60_000): Promise<number> {
		const r = await this.pm.podman(['wait', this.name], timeoutMs);
		if (r.code !== 0) throw new Error(`podman wait ${this.name} exited ${r.code}: ${r.stderr.trim() || 'timeout'}`);
		return Number(r.stdout.trim());
	}

	/**
	 * SIGUSR1: the test program verifies itself and exits.  Asserts exit
	 * status 0, an empty stderr and "verified" on stdout.
	 */
	async finishVerified(t: Test, pattern: RegExp = /verified/): Promise<void> {
		await this.kill('USR1');
		const code = await this.exitCode(60_000);
		const { stdout, stderr } = await this.logs();
		t.equal(code, 0, `${this.name} exited 0 (139 = SIGSEGV)`);
		t.equal(stderr.trim(), '', 'the program found nothing wrong');
		t.match(stdout, pattern, 'the program verified itself');
	}
}

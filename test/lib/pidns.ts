/*
 * Test programs in their own namespaces, the way containers run them:
 *
 *   const p = await startInNamespaces(s, 'cr_rw', ['--advance', '1000']);
 *   // p.init: host pid of the namespace's init; p.prog: host pid of the program
 *   const r = await dumpRestoreNamespaces(t, s, p);     // host pids after the restore
 *   await finishVerified(t, s, 'cr_rw', r.prog);
 *
 * The program runs as the init of a new pid + mount namespace (unshare
 * --pid --fork --mount-proc, plus --net --ipc --uts when asked), or as the
 * child of a shell that is that init (`asChild`).  Its stdio are reopened
 * inside the mount namespace and every other inherited fd is closed, so
 * CRIU finds everything in the namespace it dumps.  The restore goes into
 * new namespaces, so every task gets a new host pid (read from CRIU's
 * --pidfile and the init's children).
 */
import { existsSync, readFileSync } from 'node:fs';
import { criuDump, criuRestore, describeRun, exeOf, isAlive, progPath, waitFor, waitForExit, type Asserts, type Scratch, type Teardownable } from './criu';

export interface NsOptions {
	/** Also new network, IPC and UTS namespaces. */
	allNamespaces?: boolean;
	/** The program is a child of a shell that is the namespace's init. */
	asChild?: boolean;
}

export interface NsProg {
	/** Host pid of the namespace's init. */
	init: number;
	/** Host pid of the program (the init itself unless asChild). */
	prog: number;
	/** The program's pid inside its namespace. */
	nsPid: number;
	// eslint-disable-next-line @typescript-eslint/no-explicit-any
	truth: Record<string, any>;
	opts: NsOptions;
	name: string;
}

/** Host pids of the children of host task @pid. */
export function childrenOf(pid: number): number[] {
	try {
		return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
	} catch {
		return [];
	}
}

/** The pid of host task @tid inside its own pid namespace (last NSpid field). */
export function nsPidOf(tid: number): number {
	const m = /^NSpid:\s*([\d\s]+)$/m.exec(readFileSync(`/proc/${tid}/status`, 'utf8'));
	if (!m) throw new Error(`no NSpid line for ${tid}`);
	return Number(m[1].trim().split(/\s+/).pop());
}

function shellQuote(s: string): string {
	return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Start build/test-progs/PROG in new namespaces and wait for its truth file.
 * Its namespace's init is killed at @t's teardown if it still runs (killing
 * unshare, which the scratch does, leaves the init running).
 */
export async function startInNamespaces(t: Teardownable, s: Scratch, prog: string, args: string[] = [], opts: NsOptions = {}): Promise<NsProg> {
	const truthFile = s.file(`${prog}.truth.json`);
	const cmd = [progPath(prog), ...args].map(shellQuote).join(' ');
	const stdio = `</dev/null >>${shellQuote(s.file(`${prog}.out`))} 2>>${shellQuote(s.file(`${prog}.err`))}`;
	/* close what the namespace's init inherited (fds of the mount namespace it left), reopen stdio inside */
	const close = 'for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done';
	const run = `exec ${stdio}; ${opts.asChild ? `${cmd} & wait $!` : `exec ${cmd}`}`;
	const unshare = ['--pid', '--fork', '--mount-proc', ...(opts.allNamespaces ? ['--net', '--ipc', '--uts'] : []),
		'--', 'setsid', 'bash', '-c', `${close}; ${onlyNeededMounts([progPath(prog), s.root])}; ${run}`];
	const outer = s.spawn('/usr/bin/unshare', unshare, `unshare-${prog}`, { TRUTH_FILE: truthFile });
	await waitFor(() => existsSync(truthFile) || !isAlive(outer), `${prog} to write its truth file in its namespaces`);
	if (!existsSync(truthFile)) throw new Error(`${prog} exited early: ${s.stderrOf(prog)}${s.stderrOf(`unshare-${prog}`)}`);
	const init = childrenOf(outer)[0];
	if (init) killAtTeardown(t, init);
	const prog_ = opts.asChild ? childrenOf(init)[0] : init;
	if (!init || !prog_) throw new Error(`cannot find ${prog} in its namespaces (unshare ${outer})`);
	return { init, prog: prog_, nsPid: nsPidOf(prog_), truth: JSON.parse(readFileSync(truthFile, 'utf8')), opts, name: prog };
}

/*
 * A shell command that unmounts, inside the new (private) mount namespace,
 * every mount the program does not need: only /, /proc, /dev and the
 * mounts holding @paths stay.  The rest is a copy of the host's mount
 * table, which CRIU would dump too (archiving every tmpfs with tar and
 * re-creating every mount at the restore): a dump would then depend on the
 * machine the suite runs on and on what else changes its mounts meanwhile,
 * as a container's dump does not.  Nothing outside the namespace sees the
 * unmounts (unshare makes its mounts private).
 */
function onlyNeededMounts(paths: string[]): string {
	const need = ['/proc', '/dev/null', ...paths].map(shellQuote).join(' ');
	return 'for m in $(awk \'{print $5}\' /proc/self/mountinfo | tac); do ' +
		'[ "$m" = / ] && continue; keep=0; ' +
		`for p in ${need}; do case "$p/" in "$m"/*) keep=1 ;; esac; done; ` +
		'[ $keep = 1 ] || umount -l "$m"; done';
}

/** Kill the restored namespace init at teardown (that ends every task in its pid namespace). */
function killAtTeardown(t: Teardownable, pid: number): void {
	const exe = exeOf(pid);
	t.teardown(() => {
		if (exe && exeOf(pid) === exe) {
			try {
				process.kill(pid, 'SIGKILL');
			} catch {
				/* gone */
			}
		}
	});
}

export interface Restored {
	init: number;
	prog: number;
}

/**
 * criu dump of the namespace's init with the plugin, then criu restore -d
 * --root / into new namespaces.  Asserts each step; null when one failed.
 */
export async function dumpRestoreNamespaces(t: Asserts & Teardownable, s: Scratch, p: NsProg, name = 'img'): Promise<Restored | null> {
	const dir = s.dir(name);
	const d = await criuDump({ pid: p.init, imagesDir: dir, plugins: true });
	if (!t.equal(d.code, 0, describeRun('dump', d))) return null;
	await waitForExit(p.init);
	const pidfile = s.file(`${name}.pid`);
	const r = await criuRestore({ imagesDir: dir, plugins: true, extraArgs: ['--root', '/', '--pidfile', pidfile] });
	const init = existsSync(pidfile) ? Number(readFileSync(pidfile, 'utf8').trim()) : 0;
	if (init) killAtTeardown(t, init);
	if (!t.equal(r.code, 0, describeRun('restore', r))) return null;
	const prog = p.opts.asChild ? childrenOf(init)[0] : init;
	if (!t.ok(prog && isAlive(prog), 'the restored program runs')) return null;
	t.equal(nsPidOf(prog), p.nsPid, 'with the same pid inside its namespace');
	t.ok(init !== p.init, 'as a new host pid');
	return { init, prog };
}

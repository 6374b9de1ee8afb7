/*
 * Dump and restore of rings across processes and threads, and of state
 * only the ring holds, through the built CRIU and the plugin:
 *  - cr_fork: one ring shared by a parent and its child (rebuilt once,
 *    installed in the child with pidfd_getfd), fds keeping their
 *    close-on-exec flags;
 * Each program verifies itself after SIGUSR1 (see its header comment);
 * inspect before the dump must equal inspect after the restore.
 */
import t, { type Test } from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { criuDump, criuRestore, describeRun, isAlive, scratch, Scratch, waitFor, waitForExit } from './lib/criu';
import { inspectPid, type Truth } from './lib/progs';

async function start(s: Scratch, prog: string, args: string[] = []): Promise<{ pid: number; truth: Truth }> {
	const truthFile = s.file(`${prog}.truth.json`);
	process.env.TRUTH_FILE = truthFile;
	const pid = s.spawnProg(prog, args);
	delete process.env.TRUTH_FILE;
	await waitFor(() => existsSync(truthFile) || !isAlive(pid), `${prog} to write its truth file`);
	if (!existsSync(truthFile)) throw new Error(`${prog} exited early: ${s.stderrOf(prog)}`);
	return { pid, truth: JSON.parse(readFileSync(truthFile, 'utf8')) };
}

async function dumpRestore(t: Test, s: Scratch, pids: number[], name: string, leaveRunning: boolean): Promise<boolean> {
	const dir = s.dir(name);
	const d = await criuDump({ pid: pids[0], imagesDir: dir, plugins: true, extraArgs: leaveRunning ? ['--leave-running'] : [] });
	if (!t.equal(d.code, 0, describeRun('dump', d))) return false;
	if (leaveRunning) return true;
	for (const pid of pids) await waitForExit(pid);
	const r = await criuRestore({ imagesDir: dir, plugins: true });
	return t.equal(r.code, 0, describeRun('restore', r)) && t.ok(pids.every(isAlive), 'every process of the tree runs again with its pid');
}

async function finish(t: Test, s: Scratch, prog: string, pid: number): Promise<void> {
	process.kill(pid, 'SIGUSR1');
	await waitForExit(pid, 30_000);
	t.equal(s.stderrOf(prog), '', `${prog} found nothing wrong`);
	t.match(readFileSync(s.file(`${prog}.out`), 'utf8'), /verified/, `${prog} verified its rings`);
}

/* The fields a restore must bring back, as inspect shows them. */
function ringView(r: Truth): Truth {
	return { flags: r.setup_flags, sq: r.sq, cq: r.cq, files: r.registered_files, bufs: r.registered_buffers, mappings: r.mappings,
		fds: r.fds, slots: r.registered_slots, cqes: r.cqes, pending: r.pending_sqes.length, eventfd: r.eventfd,
		sqpoll: r.sqpoll ? { cpu: r.sqpoll.cpu, idle_ms: r.sqpoll.idle_ms, shared: r.sqpoll.shared_with.length } : null };
}

function view(pid: number): Truth[] {
	return inspectPid(pid).rings.map(ringView);
}

for (const leaveRunning of [false, true]) {
	t.test(`a ring shared by a parent and its child${leaveRunning ? ' (--leave-running)' : ''}`, async (t) => {
		const s = scratch(t);
		const p = await start(s, 'cr_fork');
		const pids = [p.pid, p.truth.child as number];
		const before = pids.map(view);
		t.equal(before[1].length, 1, 'the child holds the ring');
		if (!(await dumpRestore(t, s, pids, 'img', leaveRunning))) return;
		const after = pids.map(view);
		t.same(after, before, 'inspect shows the same ring in both processes');
		if (!leaveRunning) {
			const ino = pids.map((pid) => inspectPid(pid).rings[0].inode);
			t.equal(ino[0], ino[1], 'parent and child hold one restored ring');
		}
		await finish(t, s, 'cr_fork', p.pid);
	});
}

for (const leaveRunning of [false, true]) {
	t.test(`state only the ring holds, registered ring fds${leaveRunning ? ' (--leave-running)' : ''}`, async (t) => {
		const s = scratch(t);
		const p = await start(s, 'cr_ringonly');
		const before = view(p.pid);
		t.equal(before.length, 2, 'both rings are seen');
		if (!(await dumpRestore(t, s, [p.pid], 'img', leaveRunning))) return;
		t.same(view(p.pid), before, 'inspect shows the same files, buffers, eventfd and ring slots');
		await finish(t, s, 'cr_ringonly', p.pid);
	});
}

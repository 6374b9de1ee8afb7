/*
 * Dump and restore of rings across processes and threads, and of state
 * only the ring holds, through the built CRIU and the plugin:
 *  - cr_fork: one ring shared by a parent and its child (rebuilt once,
 *    installed in the child with pidfd_getfd), fds keeping their
 *    close-on-exec flags;
 * Each program verifies itself after SIGUSR1 (see its header comment);
 * inspect before the dump must equal inspect after the restore.
 */
import t from 'tap';
import { dumpAndRestore, finishVerified, scratch, startWithTruth } from './lib/criu';
import { inspectPid, ringsInStableOrder, type Truth } from './lib/progs';

/* The fields a restore must bring back, as inspect shows them. */
function ringView(r: Truth): Truth {
	return { flags: r.setup_flags, sq: r.sq, cq: r.cq, files: r.registered_files, bufs: r.registered_buffers, mappings: r.mappings,
		fds: r.fds, slots: r.registered_slots, cqes: r.cqes, pending: r.pending_sqes.length, eventfd: r.eventfd,
		sqpoll: r.sqpoll ? { cpu: r.sqpoll.cpu, idle_ms: r.sqpoll.idle_ms, shared: r.sqpoll.shared_with.length } : null };
}

/* Matched by fd and mapping, not inode: a restore renews inodes in an order of its own. */
function view(pid: number): Truth[] {
	return ringsInStableOrder(inspectPid(pid)).map(ringView);
}

for (const leaveRunning of [false, true]) {
	t.test(`a ring shared by a parent and its child${leaveRunning ? ' (--leave-running)' : ''}`, async (t) => {
		const s = scratch(t);
		const p = await startWithTruth(s, 'cr_fork');
		const pids = [p.pid, p.truth.child as number];
		const before = pids.map(view);
		t.equal(before[1].length, 1, 'the child holds the ring');
		if (!(await dumpAndRestore(t, s, pids[0], { name: 'img', pids: pids, dumpArgs: leaveRunning ? ['--leave-running'] : [] }))) return;
		const after = pids.map(view);
		t.same(after, before, 'inspect shows the same ring in both processes');
		if (!leaveRunning) {
			const ino = pids.map((pid) => inspectPid(pid).rings[0].inode);
			t.equal(ino[0], ino[1], 'parent and child hold one restored ring');
		}
		await finishVerified(t, s, 'cr_fork', p.pid);
	});
}

for (const leaveRunning of [false, true]) {
	t.test(`state only the ring holds, registered ring fds${leaveRunning ? ' (--leave-running)' : ''}`, async (t) => {
		const s = scratch(t);
		const p = await startWithTruth(s, 'cr_ringonly');
		const before = view(p.pid);
		t.equal(before.length, 2, 'both rings are seen');
		if (!(await dumpAndRestore(t, s, p.pid, { dumpArgs: leaveRunning ? ['--leave-running'] : [] }))) return;
		t.same(view(p.pid), before, 'inspect shows the same files, buffers, eventfd and ring slots');
		await finishVerified(t, s, 'cr_ringonly', p.pid);
	});
}

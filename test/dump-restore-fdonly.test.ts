/*
 * Dump and restore of IORING_SETUP_REGISTERED_FD_ONLY rings (no fd, only
 * an index in the creating thread's registered-ring table) through the
 * built CRIU and the plugin, on test/progs/cr_fdonly: the ring comes back
 * with the same flags, in the same slot of the same thread (with a free
 * slot below it), with its registered files, buffers and eventfd, its
 * exact indices (with the CQ tail ahead of the SQ head, which the restore
 * reaches with the ring's own multishot timeouts, and behind it), its
 * unconsumed CQEs and its pending SQE.  inspect before the dump must
 * equal inspect after the restore, except the identity of the new ring;
 * then the program verifies itself (see its header comment).
 */
import t from 'tap';
import { criuDump, dumpAndRestore, finishVerified, isAlive, scratch, startWithTruth } from './lib/criu';
import { inspectPid, type Truth } from './lib/progs';
import { SETUP } from '../src/uring/abi';


const CASES: [string, string[], string[]][] = [
	['plain, CQ tail ahead of the SQ head', ['--advance', '100000', '--extra-cqes', '4'], []],
	['SINGLE_ISSUER|DEFER_TASKRUN, created disabled, in a second thread, CQ ahead', ['--flags', '3040', '--extra-cqes', '9', '--thread'], []],
	['SQ head ahead of the CQ tail, --leave-running', ['--skips', '5'], ['--leave-running']],
	['SQPOLL', ['--flags', '2', '--advance', '300', '--extra-cqes', '2'], []],
	/* 1 ns ticks: the program's multishots end early on a full CQ and are re-armed, so its CQ tail leads by thousands */
	['thousands of CQEs beyond the SQEs', ['--extra-cqes', '3000', '--tick-ns', '1', '--advance', '0'], []],
	['DEFER_TASKRUN, thousands of CQEs beyond the SQEs', ['--flags', '3000', '--extra-cqes', '3000', '--tick-ns', '1'], []],
];

/* A restored ring is a new kernel object: identity fields differ by design. */
function comparable(r: Truth): Truth {
	const { inode: _inode, ctx: _ctx, ...rest } = r;
	const files = { ...rest.registered_files, entries: rest.registered_files.entries.map((f: Truth) => ({ ...f, inode: null })) };
	/* an idle SQ thread raises NEED_WAKEUP on its own: not state we restore */
	const sq = rest.sqpoll ? { ...rest.sq, flags: rest.sq.flags & ~1 } : rest.sq;
	return { ...rest, sq, registered_files: files, sqpoll: rest.sqpoll && { ...rest.sqpoll, thread_pid: null } };
}

for (const [what, args, dumpArgs] of CASES) {
	t.test(`dump + restore of a REGISTERED_FD_ONLY ring: ${what}`, async (t) => {
		const s = scratch(t);
		const { pid, truth } = await startWithTruth(s, 'cr_fdonly', args);
		const before = inspectPid(pid);
		const ring = before.rings.find((r: Truth) => r.setup_flags & SETUP.REGISTERED_FD_ONLY);
		t.ok(ring, 'inspect sees the fd-only ring');
		if (!ring) return;
		t.same({ fds: ring.fds, slots: ring.registered_slots }, { fds: [], slots: [{ tid: truth.tid, index: truth.slot }] },
			'the ring has no fd, only its slot in the creating thread');
		t.same([ring.sq.cached_head, ring.cq.cached_tail].map(String), [truth.sq_head, truth.cq_tail], 'inspect shows the program\'s indices');
		if (!(await dumpAndRestore(t, s, pid, { dumpArgs }))) return;
		const after = inspectPid(pid);
		t.same(after.unavailable, [], 'the capture of the restored process saw everything');
		const back = after.rings.find((r: Truth) => r.setup_flags & SETUP.REGISTERED_FD_ONLY);
		t.same(comparable(back ?? {}), comparable(ring), 'inspect shows the same fd-only ring after the restore');
		t.same(after.rings.length, before.rings.length, 'no ring more or less');
		await finishVerified(t, s, 'cr_fdonly', pid);
	});
}

t.test('a REGISTERED_FD_ONLY ring with what needs an fd is refused, and keeps running', async (t) => {
	const s = scratch(t);
	/* a personality is registered by a helper process through a copy of the ring fd, which this ring has not */
	const { pid } = await startWithTruth(s, 'cr_fdonly', ['--personality']);
	const d = await criuDump({ pid, imagesDir: s.dir('img'), plugins: true });
	t.not(d.code, 0, 'the dump fails');
	t.match(d.log, /personalities on a REGISTERED_FD_ONLY ring/, 'the log says why');
	t.ok(isAlive(pid), 'the process still runs');
	await finishVerified(t, s, 'cr_fdonly', pid);
});

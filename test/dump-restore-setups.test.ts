/*
 * Dump and restore of ring setups that change where the ring lives or how
 * it completes, through the built CRIU and the plugin, on
 * test/progs/cr_setups: NO_MMAP (ring and SQEs in the program's own
 * memory), IOPOLL and HYBRID_IOPOLL (NOPs only: no polled device here),
 * CQE_MIXED (unconsumed 16- and 32-byte CQEs wrapping the CQ ring), and
 * combinations.  Each case compares the whole inspect record before the
 * dump with the one after the restore (only the inode and the kernel
 * address differ: a new ring), then lets the program reap its CQEs and
 * go on (see the program's header comment).
 */
import t from 'tap';
import { dumpAndRestore, finishVerified, scratch, startWithTruth } from './lib/criu';
import { dumpLeavingRunning } from './lib/leave';
import { inspectPid, type Truth } from './lib/progs';

const CASES: [string, string, string[]][] = [
	['NO_MMAP', '4000', ['--advance', '1000']],
	['NO_MMAP|SINGLE_ISSUER|DEFER_TASKRUN', '7000', ['--advance', '77']],
	['NO_MMAP|SQPOLL', '4002', ['--advance', '300']],
	['NO_MMAP|SQE128|CQE32|NO_SQARRAY', '14c00', ['--advance', '9']],
	['IOPOLL', '1', ['--advance', '1000']],
	['IOPOLL|HYBRID_IOPOLL', '20001', ['--advance', '501']],
	['CQE_MIXED', '40000', ['--advance', '1003', '--cqes', '7']],
	['CQE_MIXED|NO_MMAP|IOPOLL', '44001', ['--advance', '13', '--cqes', '9']],
];

/* A restored ring is a new kernel object with a new SQ thread: identity fields differ by design. */
function comparable(r: Truth): Truth {
	const { inode: _inode, ctx: _ctx, ...rest } = r;
	return { ...rest, sqpoll: rest.sqpoll && { ...rest.sqpoll, thread_pid: null } };
}

for (const [what, flags, args] of CASES) {
	t.test(`dump + restore: ${what}`, async (t) => {
		const s = scratch(t);
		const { pid, truth } = await startWithTruth(s, 'cr_setups', ['--flags', flags, ...args]);
		const before = inspectPid(pid);
		const ring = before.rings[0];
		t.equal(ring.setup_flags, parseInt(flags, 16), 'the ring has the setup flags under test');
		t.same(before.unavailable, [], 'the capture saw everything');
		if (truth.user_memory) t.same(ring.user_memory, truth.user_memory, 'the capture found the ring\'s user memory');
		t.ok(ring.cqes.length > 0, 'unconsumed CQEs to carry over');
		/* twice: the second dump captures a ring the plugin restored (CRIU moved its memory in between) */
		for (const round of [1, 2]) {
			if (!(await dumpAndRestore(t, s, pid, { name: `img${round}` }))) return;
			const after = inspectPid(pid);
			t.same(after.unavailable, [], 'the capture of the restored ring saw everything');
			/* an idle SQPOLL thread raises NEED_WAKEUP on its own: not state we restore */
			const sqpoll = (parseInt(flags, 16) & 2) !== 0;
			if (sqpoll) for (const x of [ring, after.rings[0]]) x.sq.flags &= ~1;
			t.same(comparable(after.rings[0]), comparable(ring), `inspect shows the same ring after restore ${round}`);
		}
		await finishVerified(t, s, 'cr_setups', pid); /* it reaped its CQEs and went on */
	});
}

for (const [what, flags, args] of CASES) {
	t.test(`dump --leave-running: ${what}`, async (t) => {
		const s = scratch(t);
		const { pid } = await startWithTruth(s, 'cr_setups', ['--flags', flags, ...args]);
		if (!(await dumpLeavingRunning(t, s, pid))) return;
		await finishVerified(t, s, 'cr_setups', pid);
	});
}

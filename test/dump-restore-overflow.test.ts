/*
 * Dump and restore of a ring with CQEs on the kernel's overflow list
 * (test/progs/cr_overflow): inspect must show the same indices, CQ
 * contents and overflow list after the restore, and the program must then
 * reap every CQE, overflowed ones included, in the original order with
 * exactly their user_data, res and flags (it checks that itself).
 */
import t from 'tap';
import { criuDump, dumpAndRestore, finishVerified, isAlive, scratch, startWithTruth } from './lib/criu';
import { inspectPid } from './lib/progs';

const CASES: [string, string[]][] = [
	['plain ring, CQ full', []],
	['CQ partly reaped after the overflow, indices advanced', ['--consume', '3', '--advance', '1000']],
	['SINGLE_ISSUER|DEFER_TASKRUN', ['--flags', '3000', '--consume', '1']],
	['CQE32', ['--flags', '800', '--advance', '77']],
	['COOP_TASKRUN|TASKRUN_FLAG, CQ fully reaped', ['--flags', '300', '--consume', '8']],
];

for (const [what, args] of CASES) {
	t.test(`overflow list survives dump + restore: ${what}`, async (t) => {
		const s = scratch(t);
		const { pid, truth } = await startWithTruth(s, 'cr_overflow', args);
		const before = inspectPid(pid).rings[0];
		const fields = (l: { user_data: string; res: number; flags: number; extra1?: string; extra2?: string }[]) =>
			l.map((c) => ({ user_data: c.user_data, res: c.res, flags: c.flags, extras: [c.extra1 ?? '0', c.extra2 ?? '0'] }));
		t.same(fields(before.overflow_cqes), fields(truth.overflow_cqes), 'inspect sees the overflow list the program built');

		if (!(await dumpAndRestore(t, s, pid))) return;

		const after = inspectPid(pid).rings[0];
		t.same({ sq: after.sq, cq: after.cq, cqes: after.cqes, overflow: after.overflow_cqes },
			{ sq: before.sq, cq: before.cq, cqes: before.cqes, overflow: before.overflow_cqes },
			'inspect shows the same indices, CQEs and overflow list');

		await finishVerified(t, s, 'cr_overflow', pid); /* every CQE reaped in the original order */
	});
}

t.test('an overflowed big CQE with extras is refused and the process keeps running', async (t) => {
	const s = scratch(t);
	const { pid } = await startWithTruth(s, 'cr_overflow', ['--flags', '800', '--big']);
	const d = await criuDump({ pid, imagesDir: s.dir('img'), plugins: true });
	t.not(d.code, 0, 'dump fails');
	t.match(d.log, /big CQE\(s\) with extra1\/extra2 on the overflow list/, 'the log says why');
	t.ok(isAlive(pid), 'the process still runs');
	await finishVerified(t, s, 'cr_overflow', pid); /* its ring, overflow list included, is untouched */
});

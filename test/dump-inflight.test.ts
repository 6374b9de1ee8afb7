/*
 * In-flight requests that never complete by themselves (test/progs/cr_inflight:
 * a poll-armed pipe READ, a one-hour TIMEOUT, a multishot POLL_ADD).
 *
 * Default: the dump fails naming each request, and the process keeps
 * running with all three still armed (it checks that itself).
 * CRIU_URING_CANCEL_INFLIGHT=1: the dump cancels them, the image carries
 * the -ECANCELED completions, and after the restore the program reaps
 * exactly those three, re-arms them and sees them complete.
 */
import t from 'tap';
import { criuDump, dumpAndRestore, finishVerified, isAlive, scratch, startWithTruth } from './lib/criu';
import { inspectPid } from './lib/progs';

const FLAGS: [string, string][] = [['plain ring', '0'], ['SINGLE_ISSUER|DEFER_TASKRUN', '3000']];

for (const [what, flags] of FLAGS) {
	t.test(`default: in-flight requests fail the dump and stay armed (${what})`, async (t) => {
		const s = scratch(t);
		const { pid } = await startWithTruth(s, 'cr_inflight', ['--flags', flags, '--expect', 'armed']);
		const d = await criuDump({ pid, imagesDir: s.dir('img'), plugins: true, env: { CRIU_URING_DRAIN_MS: '300' } });
		t.not(d.code, 0, 'dump fails');
		for (const [op, ud] of [['READ', 161], ['TIMEOUT', 162], ['POLL_ADD', 163]] as const)
			t.match(d.log, new RegExp(`${op} user_data ${ud}\\b`), `the log names the ${op} (user_data ${ud})`);
		t.ok(isAlive(pid), 'the process still runs');
		t.equal(inspectPid(pid).rings[0].inflight.length, 3, 'its three requests are still in flight');
		await finishVerified(t, s, 'cr_inflight', pid); /* the READ and poll complete on data, the TIMEOUT is still armed */
	});

	t.test(`CRIU_URING_CANCEL_INFLIGHT=1: cancelled at dump, -ECANCELED after restore (${what})`, async (t) => {
		const s = scratch(t);
		const { pid } = await startWithTruth(s, 'cr_inflight', ['--flags', flags, '--expect', 'cancelled']);
		if (!(await dumpAndRestore(t, s, pid, { dumpEnv: { CRIU_URING_DRAIN_MS: '300', CRIU_URING_CANCEL_INFLIGHT: '1' } }))) return;
		const ring = inspectPid(pid).rings[0];
		t.equal(ring.inflight.length, 0, 'nothing in flight after the restore');
		t.same(ring.cqes.map((c: { user_data: string; res: number }) => [c.user_data, c.res]).sort(),
			[['161', -125], ['162', -125], ['163', -125]], 'the CQ holds one -ECANCELED per cancelled request');
		await finishVerified(t, s, 'cr_inflight', pid); /* cancellations reaped, requests re-armed and completed */
	});
}

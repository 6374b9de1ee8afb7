/*
 * In-flight requests that never complete by themselves (test/progs/cr_inflight:
 * a poll-armed pipe READ, a one-hour TIMEOUT, a multishot POLL_ADD, a
 * MSG_WAITALL SENDMSG that sent part of its message).  The restore
 * re-arms what it can (src/capture/rearm.ts); a partly sent MSG_WAITALL
 * SENDMSG it cannot.
 *
 * Default: the dump fails naming each request that cannot be re-armed and
 * why, not the re-armable ones, and the process keeps running with all
 * four still armed (it checks that itself).
 * CRIU_URING_CANCEL_INFLIGHT=1: the dump cancels only what it cannot
 * re-arm; after the restore the program reaps exactly those completions
 * (-ECANCELED, or what the SENDMSG sent), while the READ and the TIMEOUT
 * are in flight again.
 */
import t from 'tap';
import { criuDump, dumpAndRestore, finishVerified, isAlive, scratch, startWithTruth } from './lib/criu';
import { inspectPid } from './lib/progs';
import { REARMABLE_OPS } from '../src/capture/rearm';

const FLAGS: [string, string][] = [['plain ring', '0'], ['SINGLE_ISSUER|DEFER_TASKRUN', '3000']];
const REQS = [['READ', 161], ['TIMEOUT', 162], ['POLL_ADD', 163], ['SENDMSG', 164]] as const;
/* multishot POLL_ADD joins the re-armed ones with the multishot slice */
const rearmed = (op: string): boolean => op !== 'SENDMSG' && (op !== 'POLL_ADD' || REARMABLE_OPS.multishotPoll);

for (const [what, flags] of FLAGS) {
	t.test(`default: requests that cannot be re-armed fail the dump, everything stays armed (${what})`, async (t) => {
		const s = scratch(t);
		const { pid } = await startWithTruth(s, 'cr_inflight', ['--flags', flags, '--expect', 'armed']);
		const d = await criuDump({ pid, imagesDir: s.dir('img'), plugins: true, env: { CRIU_URING_DRAIN_MS: '300' } });
		t.not(d.code, 0, 'dump fails');
		for (const [op, ud] of REQS) {
			if (rearmed(op)) t.notMatch(d.log, new RegExp(`${op} user_data ${ud}\\b`), `the log does not name the re-armable ${op}`);
			else t.match(d.log, new RegExp(`${op} user_data ${ud}\\b[^;]*not re-armable`), `the log names the ${op} (user_data ${ud}) and why`);
		}
		t.ok(isAlive(pid), 'the process still runs');
		t.equal(inspectPid(pid).rings[0].inflight.length, 4, 'its four requests are still in flight');
		await finishVerified(t, s, 'cr_inflight', pid); /* each completes once on its event */
	});

	t.test(`CRIU_URING_CANCEL_INFLIGHT=1: only what cannot be re-armed is cancelled (${what})`, async (t) => {
		const s = scratch(t);
		const { pid } = await startWithTruth(s, 'cr_inflight', ['--flags', flags, '--expect', 'cancelled']);
		if (!(await dumpAndRestore(t, s, pid, { dumpEnv: { CRIU_URING_DRAIN_MS: '300', CRIU_URING_CANCEL_INFLIGHT: '1' } }))) return;
		const ring = inspectPid(pid).rings[0];
		const cancelled = REQS.filter(([op]) => !rearmed(op));
		t.same(ring.inflight.map((q: { user_data: string }) => Number(q.user_data)).sort(),
			REQS.filter(([op]) => rearmed(op)).map(([, ud]) => ud), 'the re-armable requests are in flight again');
		/* a cancelled SENDMSG that sent part of its message reports that part (io_sendrecv_fail), not -ECANCELED */
		const cqes = ring.cqes.map((c: { user_data: string; res: number }) => [Number(c.user_data), c.res > 0 ? 'sent' : c.res]).sort();
		t.same(cqes, cancelled.map(([op, ud]) => [ud, op === 'SENDMSG' ? 'sent' : -125]),
			'the CQ holds one CQE per request that could not be re-armed: -ECANCELED, or the bytes a partial SENDMSG sent');
		await finishVerified(t, s, 'cr_inflight', pid); /* cancellations reaped and re-armed, then everything completes once */
	});
}

/*
 * inspect vs the queue contents: SQEs published but not submitted, CQEs
 * not consumed, the CQ overflow list, poll-armed requests, and indices in
 * the millions.  Each program's truth lists the exact entries.
 */
import t from 'tap';
import { inspectAgainstTruth } from './lib/progs';

t.test('pending SQEs and unconsumed CQEs (insp_pending)', async (t) => {
	const { prog, got } = await inspectAgainstTruth(t, 'insp_pending');
	const ring = got.rings[0];
	t.same(ring.pending_sqes.map((s: { user_data: string }) => s.user_data), ['2001', '2002', '18364758544493064720'],
		'pending SQEs in SQ order, 64-bit user_data as decimal strings');
	t.equal(await prog.stop(), 0, 'exits cleanly');
});

t.test('CQ overflow list (insp_overflow)', async (t) => {
	const { prog, got } = await inspectAgainstTruth(t, 'insp_overflow');
	t.ok((got.rings[0].sq.flags & 2) !== 0, 'IORING_SQ_CQ_OVERFLOW is set in sq.flags');
	t.equal(await prog.stop(), 0, 'exits cleanly');
});

t.test('poll-armed requests (insp_poll)', async (t) => {
	const { prog } = await inspectAgainstTruth(t, 'insp_poll');
	t.equal(await prog.stop(), 0, 'exits cleanly');
});

t.test('indices in the millions (insp_bigidx)', async (t) => {
	const { prog } = await inspectAgainstTruth(t, 'insp_bigidx', { timeoutMs: 60_000 });
	t.equal(await prog.stop(), 0, 'exits cleanly');
});

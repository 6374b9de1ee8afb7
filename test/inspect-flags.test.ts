/*
 * inspect vs insp_flags: one ring per setup-flag combination (CQSIZE,
 * SQPOLL+SQ_AFF with idle, COOP_TASKRUN|TASKRUN_FLAG, SINGLE_ISSUER|
 * DEFER_TASKRUN, SQE128, CQE32, NO_SQARRAY, SUBMIT_ALL, NO_MMAP,
 * CQE_MIXED, CLAMP, R_DISABLED).  Setup flags, sizes, all four SQ/CQ
 * indices and the SQPOLL thread/cpu/idle must come back from inspect.
 */
import t from 'tap';
import { inspectAgainstTruth, ringByInode } from './lib/progs';

t.test('every ring with its setup flags, sizes and indices', async (t) => {
	const { prog, got } = await inspectAgainstTruth(t, 'insp_flags');
	const disabled = prog.truth.rings.find((r: { _name: string }) => r._name === 'r_disabled');
	t.equal(ringByInode(got, disabled.inode)?.disabled, true, 'the R_DISABLED ring is reported disabled');
	t.equal(await prog.stop(), 0, 'program exits cleanly after inspection');
});

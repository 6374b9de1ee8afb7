/*
 * Per-ring resources invisible in procfs: eventfd (sync/async),
 * personalities with a gap, provided buffers of every kind, io-wq limits,
 * restrictions, and SQPOLL threads shared through ATTACH_WQ.
 */
import t from 'tap';
import { inspectAgainstTruth } from './lib/progs';

for (const [name, what] of [
	['insp_eventfd', 'eventfd sync and async'],
	['insp_personality', 'personalities with a gap, different creds'],
	['insp_pbuf', 'provided buffers: user ring, mmap+inc ring, legacy group'],
	['insp_iowq', 'io-wq max workers'],
	['insp_restricted', 'restrictions on a disabled and an enabled ring'],
	['insp_sqpoll_shared', 'SQPOLL thread shared by ATTACH_WQ'],
]) {
	t.test(`${what} (${name})`, async (t) => {
		const { prog } = await inspectAgainstTruth(t, name);
		t.equal(await prog.stop(), 0, 'exits cleanly');
	});
}

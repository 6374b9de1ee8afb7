/*
 * A completion that exists only as DEFER_TASKRUN task work at the
 * checkpoint (test/progs/cr_taskwork.c): the capture must see it as in
 * flight, the dump must let it be posted (GETEVENTS injected into the
 * frozen owner) and the image must carry the CQE.  Without that the
 * restored program waits forever for a completion that was lost.
 */
import t from 'tap';
import { dumpAndRestore, finishVerified, scratch, startWithTruth } from './lib/criu';
import { inspectPid } from './lib/progs';

t.test('a completion waiting as local task work survives the checkpoint', async (t) => {
	const s = scratch(t);
	const { pid, truth } = await startWithTruth(s, 'cr_taskwork', ['--flags', '3000']);
	t.equal(truth.cq_ready_before, 0, 'the CQE is not posted yet when the checkpoint starts');
	const ring = inspectPid(pid).rings[0];
	t.same(ring.inflight.map((q: { state: string; user_data: string }) => [q.state, q.user_data]), [['task_work', String(0x7a5c)]],
		'inspect shows the completed read waiting in task work');
	if (!(await dumpAndRestore(t, s, pid))) return;
	const after = inspectPid(pid).rings[0];
	t.same(after.cqes.map((c: { user_data: string; res: number }) => [c.user_data, c.res]), [[String(0x7a5c), 4096]],
		'the restored ring holds the posted CQE');
	t.same(after.inflight, [], 'nothing in flight after the restore');
	await finishVerified(t, s, 'cr_taskwork', pid); /* its completion, with the right data */
});

t.test('a completion waiting as local task work: dump --leave-running', async (t) => {
	const s = scratch(t);
	const { pid } = await startWithTruth(s, 'cr_taskwork', ['--flags', '3000']);
	if (!(await dumpAndRestore(t, s, pid, { dumpArgs: ['--leave-running'] }))) return;
	/* the dump ran the task work that posts it, as the owner's next io_uring_enter would have */
	const after = inspectPid(pid).rings[0];
	t.same(after.cqes.map((c: { user_data: string; res: number }) => [c.user_data, c.res]), [[String(0x7a5c), 4096]],
		'the ring left running holds the posted CQE');
	await finishVerified(t, s, 'cr_taskwork', pid);
});

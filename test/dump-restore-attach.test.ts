/*
 * Two SQPOLL rings sharing one poller thread (ATTACH_WQ) come back sharing
 * one thread again (test/progs/cr_attach.c verifies itself).
 */
import t from 'tap';
import { dumpAndRestore, finishVerified, scratch, startWithTruth } from './lib/criu';
import { dumpLeavingRunning } from './lib/leave';
import { inspectPid } from './lib/progs';

interface Ring { setup_flags: number; sqpoll: { thread_pid: number; shared_with: number[] } | null; sq: object; cq: object; mappings: object[]; fds: number[] }

t.test('ATTACH_WQ rings share one SQPOLL thread after restore', async (t) => {
	const s = scratch(t);
	const { pid } = await startWithTruth(s, 'cr_attach');
	/* inspect lists rings in the kernel's order, which a restore may change: compare by fd */
	const shape = (rings: Ring[]) => [...rings].sort((a, b) => a.fds[0] - b.fds[0]).map((r) => ({ flags: r.setup_flags, sharing: r.sqpoll?.shared_with.length, sq: r.sq, cq: r.cq, mappings: r.mappings, fds: r.fds }));
	const before = inspectPid(pid).rings as Ring[];
	if (!(await dumpAndRestore(t, s, pid))) return;
	const after = inspectPid(pid).rings as Ring[];
	for (const x of [...before, ...after]) (x.sq as { flags: number }).flags &= ~1; /* NEED_WAKEUP comes and goes */
	t.same(shape(after), shape(before), 'same flags, sharing, indices, mappings and fds');
	t.equal(new Set(after.map((x) => x.sqpoll?.thread_pid)).size, 1, 'both rings are served by one poller thread');
	await finishVerified(t, s, 'cr_attach', pid); /* both rings complete NOPs, one iou-sqp thread */
});

t.test('ATTACH_WQ rings: dump --leave-running', async (t) => {
	const s = scratch(t);
	const { pid } = await startWithTruth(s, 'cr_attach');
	if (!(await dumpLeavingRunning(t, s, pid))) return;
	await finishVerified(t, s, 'cr_attach', pid);
});

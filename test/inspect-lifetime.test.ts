/*
 * Rings that are not simply "an fd in this process": a ring kept alive
 * only by its mappings, one reachable only through a registered-ring slot,
 * and one shared by two processes after fork.
 */
import t from 'tap';
import { expectRing, inspectAgainstTruth, inspectPid, startProg } from './lib/progs';

t.test('ring whose fd was closed, still mapped (insp_ring_closed)', async (t) => {
	const { prog, got } = await inspectAgainstTruth(t, 'insp_ring_closed');
	t.same(got.rings[0]?.fds, [], 'no fd refers to it');
	t.equal(await prog.stop(), 0, 'exits cleanly');
});

t.test('ring reachable only through a registered-ring slot (insp_regring)', async (t) => {
	const { prog, got } = await inspectAgainstTruth(t, 'insp_regring');
	t.same(got.rings[0]?.mappings, [], 'no mapping refers to it');
	t.equal(await prog.stop(), 0, 'exits cleanly');
});

t.test('ring shared by parent and child after fork (insp_fork)', async (t) => {
	const prog = await startProg(t, 'insp_fork');
	const child = prog.truth._child_pid as number;
	for (const pid of [prog.pid, child]) {
		const got = inspectPid(pid);
		t.equal(got.pid, pid, `inspected pid ${pid}`);
		t.equal(got.rings.length, 1, `pid ${pid} holds one ring`);
		expectRing(t, got, prog.truth.rings[0]);
	}
	t.equal(await prog.stop(), 0, 'parent exits cleanly');
});

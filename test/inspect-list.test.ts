/*
 * `criu-uring inspect` without -t lists every io_uring holder: a running
 * test program must appear with its ring count.
 */
import t from 'tap';
import { inspectAll, startProg } from './lib/progs';

t.test('inspect without -t lists the test program with its ring count', async (t) => {
	const prog = await startProg(t, 'insp_flags');
	const list = inspectAll();
	const mine = (list.processes as { pid: number; rings: number }[]).find((p) => p.pid === prog.pid);
	t.ok(mine, `pid ${prog.pid} is listed`);
	t.equal(mine?.rings, prog.truth.rings.length, `with ${prog.truth.rings.length} rings`);
	t.equal(await prog.stop(), 0, 'exits cleanly');
});

t.test('a ring held only through mappings still counts', async (t) => {
	const prog = await startProg(t, 'insp_ring_closed');
	const list = inspectAll();
	const mine = (list.processes as { pid: number; rings: number }[]).find((p) => p.pid === prog.pid);
	t.equal(mine?.rings, 1, `pid ${prog.pid} is listed with 1 ring`);
	t.equal(await prog.stop(), 0, 'exits cleanly');
});

/*
 * inspect vs insp_flags: one ring per setup-flag combination.  Every field
 * the program knows (setup flags, sizes, all four SQ/CQ indices, SQPOLL
 * cpu/idle/thread) must come back from `criu-uring inspect --json`.
 */
import t from 'tap';
import { expectRing, inspectPid, startProg } from './lib/progs';

t.test('inspect reports every ring with its setup flags and indices', async (t) => {
	const prog = await startProg(t, 'insp_flags');
	const got = inspectPid(prog.pid);
	t.equal(got.pid, prog.pid, 'inspected pid');
	t.equal(got.source, 'bpf', 'captured with BPF');
	t.equal(got.rings.length, prog.truth.rings.length, `${prog.truth.rings.length} rings`);
	for (const want of prog.truth.rings)
		expectRing(t, got, want);
	t.equal(await prog.stop(), 0, 'program exits cleanly after inspection');
});

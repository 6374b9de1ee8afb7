/*
 * A dump that fails part-way through a plan leaves the process as it was.
 * The pinned-buffer read (src/plugin/pinned.ts) creates a temporary ring,
 * a pipe and scratch memory inside the frozen process; its cleanup steps
 * are marked "always" and run whatever failed before them.  With the test
 * hook CRIU_URING_FAIL_STEP=N (plugin-c/plan.c) the Nth plan step of the
 * dump fails; for every N until the dump no longer reaches an Nth step,
 * the dump must fail naming the injected failure, and the process must
 * keep running with exactly the fds, mappings, threads and ring state it
 * had before.  Finally the program verifies its own buffers.
 */
import t from 'tap';
import { criuDump, describeRun, finishVerified, isAlive, scratch, startWithTruth } from './lib/criu';
import { holdings, inspectPid, type Truth } from './lib/progs';

/* An idle SQPOLL thread raises NEED_WAKEUP and moves between CPUs on its own: not state a dump changes. */
function settle(r: Truth): Truth {
	r.sq.flags &= ~1;
	if (r.sqpoll) delete r.sqpoll.cpu;
	return r;
}


const MAX_STEPS = 200; /* far more than the plan of two rings with four unmapped buffers has */

t.test('a failure at every dump step leaves the process untouched (cr_unmapped)', async (t) => {
	const s = scratch(t);
	const p = await startWithTruth(s, 'cr_unmapped', []);
	const before = { rings: inspectPid(p.pid).rings.map(settle), held: holdings(p.pid) };
	let n = 1;
	for (; n <= MAX_STEPS; n++) {
		const d = await criuDump({ pid: p.pid, imagesDir: s.dir(`img${n}`), plugins: true, extraArgs: ['--leave-running'],
			env: { CRIU_URING_FAIL_STEP: String(n) } });
		if (d.code === 0) break; /* the dump has fewer than n steps */
		const injected = new RegExp(`step \\d+: failure injected by CRIU_URING_FAIL_STEP=${n}\\b`);
		if (!t.match(d.log, injected, `step ${n}: the dump fails at the injected failure`)) {
			t.comment(describeRun('dump', d));
			break;
		}
		if (!t.ok(isAlive(p.pid), `step ${n}: the process still runs`)) break;
		const held = holdings(p.pid);
		const rings = inspectPid(p.pid).rings.map(settle);
		if (!t.same(held, before.held, `step ${n}: the same fds, mappings and threads`)) break;
		if (!t.same(rings, before.rings, `step ${n}: every captured ring field unchanged`)) break;
	}
	t.ok(n > 20 && n <= MAX_STEPS, `failures injected at ${n - 1} steps, then the whole plan ran`);
	t.same(holdings(p.pid), before.held, 'after the successful --leave-running dump, nothing is left behind either');
	await finishVerified(t, s, 'cr_unmapped', p.pid);
});

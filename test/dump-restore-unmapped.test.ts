/*
 * Dump and restore of registered buffers whose memory the process unmapped
 * after registration, through the built CRIU and the plugin, on
 * test/progs/cr_unmapped (a dense table on a plain or SINGLE_ISSUER ring, a
 * sparse table; buffers sharing pinned pages; one buffer bigger than a dump
 * chunk).  The dump reads the pinned pages from inside the frozen process
 * (src/plugin/pinned.ts), so:
 *  - after a restore, inspect shows the same buffer tables and indices, and
 *    the program finds every buffer's contents and uses them by index;
 *  - with --leave-running, the process keeps exactly its rings, fds,
 *    mappings and threads (nothing the capture created is left behind).
 */
import t from 'tap';
import { criuDump, dumpAndRestore, finishVerified, isAlive, scratch, startWithTruth } from './lib/criu';
import { holdings, inspectPid, type Truth } from './lib/progs';

/* An idle SQPOLL thread raises NEED_WAKEUP and moves between CPUs on its own: not state a dump changes or restores. */
function settle(r: Truth): Truth {
	r.sq.flags &= ~1;
	if (r.sqpoll) delete r.sqpoll.cpu;
	return r;
}

function ringView(r: Truth): Truth {
	settle(r);
	return { inode: r.inode, flags: r.setup_flags, sq: r.sq, cq: r.cq, bufs: r.registered_buffers, cqes: r.cqes, fds: r.fds, mappings: r.mappings };
}


const MODES: [string, string[]][] = [
	['plain ring', []],
	['SINGLE_ISSUER|DEFER_TASKRUN ring', ['--single-issuer']],
	['SQPOLL ring, sparse table on a ring held only through a registered-ring slot', ['--sqpoll', '--slot-only']],
];

for (const [what, args] of MODES) {
	t.test(`dump + restore: unmapped registered buffers, ${what}`, async (t) => {
		const s = scratch(t);
		const p = await startWithTruth(s, 'cr_unmapped', args);
		/* ring order in inspect follows inode numbers, which the restore does not keep: A has 4 buffer slots, B 8 */
		const view = (): Truth[] => inspectPid(p.pid).rings.map(ringView).sort((x: Truth, y: Truth) => x.bufs.size - y.bufs.size);
		const before = view();
		const unmapped = before.flatMap((r: Truth) => r.bufs.entries.filter((e: Truth) => !e.mapped));
		t.equal(unmapped.length, 4, 'inspect sees the four unmapped buffers');
		if (!(await dumpAndRestore(t, s, p.pid))) return;
		const after = view();
		for (const r of [...before, ...after]) delete r.inode;
		t.same(after.map((r: Truth) => r.bufs), before.map((r: Truth) => r.bufs), 'inspect shows the same buffer tables after the restore');
		t.same(after, before, 'and the same indices, CQEs, fds and ring mappings');
		await finishVerified(t, s, 'cr_unmapped', p.pid);
	});

	t.test(`dump --leave-running: unmapped registered buffers, ${what}`, async (t) => {
		const s = scratch(t);
		const p = await startWithTruth(s, 'cr_unmapped', args);
		const before = { rings: inspectPid(p.pid).rings.map(settle), held: holdings(p.pid) };
		if (!(await dumpAndRestore(t, s, p.pid, { dumpArgs: ['--leave-running'] }))) return;
		t.same(inspectPid(p.pid).rings.map(settle), before.rings, 'every captured ring field is unchanged');
		t.same(holdings(p.pid), before.held, 'the same fds, mappings and threads');
		await finishVerified(t, s, 'cr_unmapped', p.pid);
	});
}

t.test('a registered buffer only partly unmapped is refused at dump, and the process runs on', async (t) => {
	const s = scratch(t);
	const p = await startWithTruth(s, 'cr_unmapped', ['--partial']);
	const before = { rings: inspectPid(p.pid).rings, held: holdings(p.pid) };
	const d = await criuDump({ pid: p.pid, imagesDir: s.dir('img'), plugins: true });
	t.not(d.code, 0, 'the dump fails');
	t.match(d.log, /registered buffer 2 is partly unmapped/, 'naming the buffer and why');
	t.ok(isAlive(p.pid), 'the process still runs');
	t.same(inspectPid(p.pid).rings, before.rings, 'its rings unchanged');
	t.same(holdings(p.pid), before.held, 'the same fds, mappings and threads');
	await finishVerified(t, s, 'cr_unmapped', p.pid);
});

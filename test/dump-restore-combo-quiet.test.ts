/*
 * Reviewer-style programs: rings set up with liburing the way applications
 * do, combining features (test/progs/cr_combo_*.c; each program's header
 * says what it sets up and checks), idle.  For every program:
 *
 *   - the whole inspect record before the dump equals the one after each
 *     of two dump + restore rounds (the second dumps the restored
 *     process), apart from the fields a restore legitimately changes
 *     (comparable() in test/lib/combo.ts, docs/design.md), then the
 *     program verifies its own state and keeps doing I/O;
 *   - --leave-running: the original runs on with an unchanged ring, and is
 *     then killed and restored from those images.
 *
 * Not a stress file (nothing runs while it is dumped): it runs beside the
 * others.  The same programs busy: test/dump-restore-combo.test.ts.
 */
import t from 'tap';
import { criuRestore, describeRun, dumpAndRestore, finishVerified, isAlive, scratch, startWithTruth, type Scratch } from './lib/criu';
import { finish, killAndWait, pidsOf, QUIET, snapshot } from './lib/combo';

for (const c of QUIET) {
	/* what the program expects after the restore is what the kernel does without one */
	t.test(`${c.prog} ${c.args.join(' ')}: ${c.what}: the program's checks hold without a checkpoint`, async (t) => {
		const s = scratch(t);
		const { pid } = await startWithTruth(s, c.prog, c.args);
		await finish(t, s, c, pid);
	});

	t.test(`${c.prog} ${c.args.join(' ')}: ${c.what}: two dump + restore rounds`, async (t) => {
		const s = scratch(t);
		const { pid, truth } = await startWithTruth(s, c.prog, c.args);
		const pids = pidsOf(c, pid, truth);
		const before = snapshot(pids);
		t.same(before.map((p) => p.unavailable), pids.map(() => []), 'the capture saw everything');
		for (const round of [1, 2]) {
			if (!(await dumpAndRestore(t, s, pid, { name: `img${round}`, pids }))) return;
			t.same(snapshot(pids), before, `inspect shows the same rings after restore ${round}`);
		}
		await finish(t, s, c, pid);
	});

	t.test(`${c.prog} ${c.args.join(' ')}: ${c.what}: --leave-running, then a restore of those images`, async (t) => {
		const s = scratch(t);
		const { pid, truth } = await startWithTruth(s, c.prog, c.args);
		const pids = pidsOf(c, pid, truth);
		const before = snapshot(pids);
		if (!(await dumpAndRestore(t, s, pid, { dumpArgs: ['--leave-running'], pids }))) return;
		t.ok(pids.every(isAlive), 'the original processes run on');
		t.same(snapshot(pids), before, 'the dump left the rings as they were');
		await killAndWait(pids);
		if (!(await restoreFrom(t, s, pids))) return;
		t.same(snapshot(pids), before, 'inspect shows the same rings after the restore');
		await finish(t, s, c, pid);
	});
}

/* criu restore of the images a --leave-running dump wrote to "img" */
async function restoreFrom(t: Parameters<typeof finishVerified>[0], s: Scratch, pids: number[]): Promise<boolean> {
	const r = await criuRestore({ imagesDir: s.dir('img'), plugins: true });
	return t.equal(r.code, 0, describeRun('restore', r)) && t.ok(pids.every(isAlive), 'the restored processes run with their pids');
}

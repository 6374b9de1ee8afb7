/*
 * Dump and restore of a ring with CQEs on the kernel's overflow list
 * (test/progs/cr_overflow): inspect must show the same indices, CQ
 * contents and overflow list after the restore, and the program must then
 * reap every CQE, overflowed ones included, in the original order with
 * exactly their user_data, res and flags (it checks that itself).
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { type Scratch, criuDump, criuRestore, describeRun, isAlive, scratch, waitFor, waitForExit } from './lib/criu';
import { inspectPid } from './lib/progs';

const CASES: [string, string[]][] = [
	['plain ring, CQ full', []],
	['CQ partly reaped after the overflow, indices advanced', ['--consume', '3', '--advance', '1000']],
	['SINGLE_ISSUER|DEFER_TASKRUN', ['--flags', '3000', '--consume', '1']],
	['CQE32', ['--flags', '800', '--advance', '77']],
	['COOP_TASKRUN|TASKRUN_FLAG, CQ fully reaped', ['--flags', '300', '--consume', '8']],
];

for (const [what, args] of CASES) {
	t.test(`overflow list survives dump + restore: ${what}`, async (t) => {
		const s = scratch(t);
		const truthFile = s.file('truth.json');
		process.env.TRUTH_FILE = truthFile;
		const pid = s.spawnProg('cr_overflow', args);
		delete process.env.TRUTH_FILE;
		await waitFor(() => existsSync(truthFile) || !isAlive(pid), 'cr_overflow to write its truth file');
		if (!existsSync(truthFile)) throw new Error(`cr_overflow exited early: ${s.stderrOf('cr_overflow')}`);
		const truth = JSON.parse(readFileSync(truthFile, 'utf8'));
		const before = inspectPid(pid).rings[0];
		const fields = (l: { user_data: string; res: number; flags: number; extra1?: string; extra2?: string }[]) =>
			l.map((c) => ({ user_data: c.user_data, res: c.res, flags: c.flags, extras: [c.extra1 ?? '0', c.extra2 ?? '0'] }));
		t.same(fields(before.overflow_cqes), fields(truth.overflow_cqes), 'inspect sees the overflow list the program built');

		const dir = s.dir('img');
		const d = await criuDump({ pid, imagesDir: dir, plugins: true });
		if (!t.equal(d.code, 0, describeRun('dump', d))) return;
		await waitForExit(pid);
		const r = await criuRestore({ imagesDir: dir, plugins: true });
		if (!t.equal(r.code, 0, describeRun('restore', r))) return;
		t.ok(isAlive(pid), 'restored process runs with its pid');

		const after = inspectPid(pid).rings[0];
		t.same({ sq: after.sq, cq: after.cq, cqes: after.cqes, overflow: after.overflow_cqes },
			{ sq: before.sq, cq: before.cq, cqes: before.cqes, overflow: before.overflow_cqes },
			'inspect shows the same indices, CQEs and overflow list');

		process.kill(pid, 'SIGUSR1');
		await waitForExit(pid, 30_000);
		t.equal(s.stderrOf('cr_overflow'), '', 'the program found nothing wrong');
		t.match(readFileSync(s.file('cr_overflow.out'), 'utf8'), /verified/, 'every CQE reaped in the original order');
	});
}

t.test('an overflowed big CQE with extras is refused and the process keeps running', async (t) => {
	const s: Scratch = scratch(t);
	const truthFile = s.file('truth.json');
	process.env.TRUTH_FILE = truthFile;
	const pid = s.spawnProg('cr_overflow', ['--flags', '800', '--big']);
	delete process.env.TRUTH_FILE;
	await waitFor(() => existsSync(truthFile) || !isAlive(pid), 'cr_overflow to write its truth file');
	const d = await criuDump({ pid, imagesDir: s.dir('img'), plugins: true });
	t.not(d.code, 0, 'dump fails');
	t.match(d.log, /big CQE\(s\) with extra1\/extra2 on the overflow list/, 'the log says why');
	t.ok(isAlive(pid), 'the process still runs');
	process.kill(pid, 'SIGUSR1');
	await waitForExit(pid, 30_000);
	t.equal(s.stderrOf('cr_overflow'), '', 'its ring, overflow list included, is untouched');
	t.match(readFileSync(s.file('cr_overflow.out'), 'utf8'), /verified/, 'it verified every CQE');
});

/*
 * Dump and restore of ring registrations through the built CRIU and the
 * plugin, on test/progs/cr_regs: io-wq limits and affinity, the registered
 * clock, NAPI settings, restrictions (enabled and still-disabled rings)
 * and personalities.  Each case compares inspect before the dump with
 * inspect after the restore for the fields the mode sets, then lets the
 * program use the feature (see the program's header comment).
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { criuDump, criuRestore, describeRun, isAlive, scratch, waitFor, waitForExit } from './lib/criu';
import { inspectPid, type Truth } from './lib/progs';

const MODES: [string, (r: Truth) => unknown][] = [
	['iowq', (r) => ({ max: r.iowq_max_workers, aff: r.iowq_affinity })],
	['clock', (r) => r.clock],
	['napi', (r) => r.napi],
	['napi-static', (r) => r.napi],
	['restrict', (r) => ({ restrictions: r.restrictions, eventfd: r.eventfd, disabled: r.disabled, sq: r.sq, cq: r.cq })],
	['disabled', (r) => ({ restrictions: r.restrictions, eventfd: r.eventfd, disabled: r.disabled, flags: r.flags })],
	['pers', (r) => r.personalities],
];

for (const [mode, fields] of MODES) {
	t.test(`dump + restore: ${mode}`, async (t) => {
		const s = scratch(t);
		const truthFile = s.file('truth.json');
		process.env.TRUTH_FILE = truthFile;
		const pid = s.spawnProg('cr_regs', [`--${mode}`, '--advance', '300']);
		delete process.env.TRUTH_FILE;
		await waitFor(() => existsSync(truthFile) || !isAlive(pid), 'cr_regs to write its truth file');
		if (!existsSync(truthFile)) throw new Error(`cr_regs exited early: ${s.stderrOf('cr_regs')}`);
		const before = inspectPid(pid).rings[0];
		t.ok(fields(before), 'the mode set something inspect sees');
		const dir = s.dir('img');
		const d = await criuDump({ pid, imagesDir: dir, plugins: true });
		if (!t.equal(d.code, 0, describeRun('dump', d))) return;
		await waitForExit(pid);
		const r = await criuRestore({ imagesDir: dir, plugins: true });
		if (!t.equal(r.code, 0, describeRun('restore', r)) || !t.ok(isAlive(pid), 'restored process runs with its pid')) return;
		t.same(fields(inspectPid(pid).rings[0]), fields(before), 'inspect shows the same registrations after the restore');
		process.kill(pid, 'SIGUSR1');
		await waitForExit(pid, 30_000);
		t.equal(s.stderrOf('cr_regs'), '', 'the program found nothing wrong');
		t.match(readFileSync(s.file('cr_regs.out'), 'utf8'), /verified/, 'the program used the restored registrations');
	});
}

/*
 * Dump and restore of memory regions and of the personality id allocator
 * through the built CRIU and the plugin, on test/progs/cr_regions: a
 * wait-argument region in the application's memory, one in kernel pages
 * mapped by the application, and a ring whose highest personality ids were
 * unregistered.  Each case compares inspect before the dump with inspect
 * after the restore, then lets the program use the restored state (see
 * the program's header comment).
 */
import t from 'tap';
import { skipUnless } from './lib/kernel';

/* memory regions: IORING_REGISTER_MEM_REGION (6.13) */
const NEEDS = skipUnless({ register: ['MEM_REGION'] });
import { existsSync, readFileSync } from 'node:fs';
import { criuDump, criuRestore, describeRun, finishVerified, isAlive, scratch, startWithTruth, waitFor, waitForExit } from './lib/criu';
import { dumpLeavingRunning } from './lib/leave';
import { inspectPid, type Truth } from './lib/progs';

const MODES: [string, (r: Truth) => unknown][] = [
	['wait-user', (r) => ({ regions: r.mem_regions, disabled: r.disabled })],
	['wait-kernel', (r) => ({ regions: r.mem_regions, mappings: r.mappings.filter((m: Truth) => m.kind === 'param_region') })],
	['pers-next', (r) => ({ next: r.personality_next, ids: r.personalities.map((p: Truth) => p.id) })],
];

for (const [mode, fields] of MODES) {
	t.test(`dump + restore: ${mode}`, { skip: NEEDS }, async (t) => {
		const s = scratch(t);
		const truthFile = s.file('truth.json');
		process.env.TRUTH_FILE = truthFile;
		const pid = s.spawnProg('cr_regions', [`--${mode}`, '--advance', '300']);
		delete process.env.TRUTH_FILE;
		await waitFor(() => existsSync(truthFile) || !isAlive(pid), 'cr_regions to write its truth file');
		if (!existsSync(truthFile)) throw new Error(`cr_regions exited early: ${s.stderrOf('cr_regions')}`);
		const before = inspectPid(pid).rings[0];
		if (mode === 'pers-next') t.equal(before.personality_next, 4, 'inspect sees the allocator cursor past the live ids');
		else t.equal(before.mem_regions.length, 2, 'inspect sees the region and its wait-argument use');
		const dir = s.dir('img');
		const d = await criuDump({ pid, imagesDir: dir, plugins: true });
		if (!t.equal(d.code, 0, describeRun('dump', d))) return;
		await waitForExit(pid);
		const r = await criuRestore({ imagesDir: dir, plugins: true });
		if (!t.equal(r.code, 0, describeRun('restore', r)) || !t.ok(isAlive(pid), 'restored process runs with its pid')) return;
		t.same(fields(inspectPid(pid).rings[0]), fields(before), 'inspect shows the same state after the restore');
		process.kill(pid, 'SIGUSR1');
		await waitForExit(pid, 30_000);
		t.equal(s.stderrOf('cr_regions'), '', 'the program found nothing wrong');
		t.match(readFileSync(s.file('cr_regions.out'), 'utf8'), /verified/, 'the program used the restored state');
	});
}

for (const [mode] of MODES) {
	t.test(`dump --leave-running: ${mode}`, { skip: NEEDS }, async (t) => {
		const s = scratch(t);
		const { pid } = await startWithTruth(s, 'cr_regions', [`--${mode}`, '--advance', '300']);
		if (!(await dumpLeavingRunning(t, s, pid))) return;
		await finishVerified(t, s, 'cr_regions', pid);
	});
}

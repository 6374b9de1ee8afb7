/*
 * Dump and restore of ring registrations through the built CRIU and the
 * plugin, on test/progs/cr_regs: io-wq limits and affinity, the registered
 * clock, NAPI settings, restrictions (enabled and still-disabled rings)
 * and personalities.  Each case compares inspect before the dump with
 * inspect after the restore for the fields the mode sets, then lets the
 * program use the feature (see the program's header comment).
 */
import t from 'tap';
import { dumpAndRestore, finishVerified, scratch, startWithTruth } from './lib/criu';
import { dumpLeavingRunning } from './lib/leave';
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
		const { pid } = await startWithTruth(s, 'cr_regs', [`--${mode}`, '--advance', '300']);
		const before = inspectPid(pid).rings[0];
		t.ok(fields(before), 'the mode set something inspect sees');
		if (!(await dumpAndRestore(t, s, pid))) return;
		t.same(fields(inspectPid(pid).rings[0]), fields(before), 'inspect shows the same registrations after the restore');
		await finishVerified(t, s, 'cr_regs', pid); /* it used the restored registrations */
	});
}

for (const [mode] of MODES) {
	t.test(`dump --leave-running: ${mode}`, async (t) => {
		const s = scratch(t);
		const { pid } = await startWithTruth(s, 'cr_regs', [`--${mode}`, '--advance', '300']);
		if (!(await dumpLeavingRunning(t, s, pid))) return;
		await finishVerified(t, s, 'cr_regs', pid);
	});
}

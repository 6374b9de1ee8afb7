/*
 * The plugin's boundary with its Node helper: a helper that crashes,
 * hangs, answers garbage or exits at any protocol step is an ordinary,
 * bounded failure (plugin-c/helper.c).
 *
 *  - dump: CRIU fails with a line saying what happened to the helper, the
 *    process keeps running with its rings exactly as before and still
 *    verifies itself; a helper that dies after the last hook (fini) leaves
 *    complete images that restore;
 *  - restore: CRIU fails and nothing runs;
 *  - in both, no helper process is left behind (a hung one is killed), and
 *    CRIU never mistakes the helper for one of its own children (it is not
 *    CRIU's child: no "exited unexpectedly" from CRIU's SIGCHLD handlers).
 *
 * The misbehaving helper is test/lib/fake-helper.ts, run by a copy of the
 * plugin through an io_uring_plugin.helper file, the way an installed
 * plugin finds its helper.
 */
import t, { type Test } from 'tap';
import { copyFileSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { criuDump, criuRestore, describeRun, finishVerified, isAlive, PLUGIN_DIR, scratch, startWithTruth, waitFor, waitForExit, type Scratch } from './lib/criu';
import { inspectPid, type Truth } from './lib/progs';
import { PROTOCOL_VERSION } from '../src/plugin/protocol';

const FAKE = path.join(__dirname, 'lib', 'fake-helper.js');
/*
 * per reply line: 8 s + the drain allowance.  A real step (the warm-up
 * capture at init, a checkpoint) took more than 3 s on a loaded machine
 * running three test files at once, and a timeout there turned a crash
 * case into a "did not answer" one.
 */
const ENV = { CRIU_URING_HELPER_TIMEOUT_MS: '8000', CRIU_URING_DRAIN_MS: '500' };

/*
 * A hang is bounded by the deadline of the reply that never comes; only
 * the real steps before it need the long one.  The start-up replies
 * (hello: Node's start; the dump's pause: drain and warm-up) have
 * CRIU_URING_HELPER_TIMEOUT_MS, every other reply CRIU_URING_HELPER_STEP_MS
 * (plugin-c/helper.c).  So a hang at hello (the fake hangs before the real
 * helper does anything) gets 1 s; one at a later step gets a short step
 * deadline, 1 s when no real step under it comes first, 4 s after a real
 * checkpoint or extfiles reply; a hang at pause is a hang of the warm-up's
 * reply itself, measured with the start-up deadline after a real hello,
 * and keeps 8 s.  The log must then name the hung step (the fake says so),
 * so a timeout of an earlier, real step cannot pass for it.
 */
function hangEnv(stage: 'dump' | 'restore', verb: string): Record<string, string> {
	if (verb === 'hello') return { ...ENV, CRIU_URING_HELPER_TIMEOUT_MS: '1000' };
	if (verb === 'pause') return ENV;
	const realStepFirst = (stage === 'dump' && verb === 'extfile') || (stage === 'restore' && verb === 'plan');
	return { ...ENV, CRIU_URING_HELPER_STEP_MS: realStepFirst ? '4000' : '1000' };
}

/* What the log must say a helper did at @verb; a hang: under which deadline, and at that step. */
function saysAt(mode: string, verb: string): RegExp[] {
	if (mode !== 'hang') return [SAYS[mode]];
	const startup = verb === 'hello' || verb === 'pause';
	return [new RegExp(`did not answer within \\d+ ms \\(CRIU_URING_HELPER_${startup ? 'TIMEOUT' : 'STEP'}_MS\\)`),
		new RegExp(`fake helper: hang at '${verb}'`)];
}

const DOES: Record<string, string> = {
	crash: 'crashes', exit: 'exits', hang: 'hangs', garbage: 'answers garbage', version: 'speaks another protocol version',
};

const SAYS: Record<string, RegExp> = {
	crash: /the Node helper exited/,
	exit: /the Node helper exited/,
	hang: /the Node helper did not answer within \d+ ms \(CRIU_URING_HELPER_(TIMEOUT|STEP)_MS\)/,
	garbage: /the Node helper broke the protocol/,
	version: /the Node helper speaks protocol 'criu-uring-0'.*different builds/,
};

/* A plugin directory whose plugin runs the fake helper. */
function fakePlugins(s: Scratch): string {
	const dir = s.dir('fake-plugins');
	copyFileSync(path.join(PLUGIN_DIR, 'io_uring_plugin.so'), path.join(dir, 'io_uring_plugin.so'));
	writeFileSync(path.join(dir, 'io_uring_plugin.helper'), `helper ${FAKE}\nnode ${realpathSync(process.execPath)}\n`);
	return dir;
}

/*
 * Processes running this test's fake helper (none may outlive CRIU).  The
 * fake of another checkout's run of this file is not ours: counting it
 * made cases wait the whole 10 s below and fail when one was still up.
 * Ours carry FAKE_HELPER_RUN=<this scratch dir> in their environment
 * (CRIU passes its own on to the helper).
 */
function fakeHelpers(s: Scratch): number[] {
	const mark = `FAKE_HELPER_RUN=${s.root}\0`;
	return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
		try {
			return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('fake-helper.js') &&
				readFileSync(`/proc/${pid}/environ`, 'utf8').includes(mark);
		} catch {
			return false;
		}
	});
}

/* CRIU's environment for a run with the fake helper doing @what ("MODE:VERB"). */
const fakeEnv = (s: Scratch, env: Record<string, string>, what: string): Record<string, string> =>
	({ ...env, FAKE_HELPER: what, FAKE_HELPER_RUN: s.root });

async function noHelperLeft(t: Test, s: Scratch, log: string): Promise<void> {
	await waitFor(() => fakeHelpers(s).length === 0, 'the helper to be gone', 10_000).catch(() => undefined);
	t.same(fakeHelpers(s), [], 'no helper process is left');
	t.notMatch(log, /exited unexpectedly|\d+ exited, status=|killed by signal/, "CRIU's SIGCHLD handling never saw the helper");
}

const ringsOf = (pid: number): Truth[] => inspectPid(pid).rings as Truth[];

const DUMP_STEPS: [string, string][] = [
	...['hello', 'pause', 'checkpoint', 'extfile', 'verify'].flatMap((verb) => ['crash', 'hang', 'garbage'].map((mode): [string, string] => [mode, verb])),
	['exit', 'extfile'],
	['version', 'hello'],
];

for (const [mode, verb] of DUMP_STEPS) {
	t.test(`dump: a helper that ${DOES[mode]} at '${verb}' fails the dump and leaves the process as it was`, async (t) => {
		const s = scratch(t);
		const p = await startWithTruth(s, 'cr_rw', ['--advance', '100']);
		const before = ringsOf(p.pid);
		const env = mode === 'hang' ? hangEnv('dump', verb) : ENV;
		const d = await criuDump({ pid: p.pid, imagesDir: s.dir('img'), plugins: fakePlugins(s), env: fakeEnv(s, env, `${mode}:${verb}`) });
		t.not(d.code, 0, 'the dump fails');
		for (const re of saysAt(mode, verb)) t.match(d.log, re, 'the log says what happened to the helper');
		await noHelperLeft(t, s, d.log);
		t.ok(isAlive(p.pid), 'the process keeps running');
		t.same(ringsOf(p.pid), before, 'with its rings exactly as before');
		await finishVerified(t, s, 'cr_rw', p.pid);
	});
}

t.test('dump: a helper that crashes at fini leaves complete images, which restore', async (t) => {
	const s = scratch(t);
	const p = await startWithTruth(s, 'cr_rw', ['--advance', '100']);
	const dir = s.dir('img');
	const d = await criuDump({ pid: p.pid, imagesDir: dir, plugins: fakePlugins(s), env: fakeEnv(s, ENV, 'crash:finish') });
	t.equal(d.code, 0, describeRun('dump', d));
	await noHelperLeft(t, s, d.log);
	await waitForExit(p.pid);
	const r = await criuRestore({ imagesDir: dir, plugins: true });
	if (!t.equal(r.code, 0, describeRun('restore with the real helper', r))) return;
	await finishVerified(t, s, 'cr_rw', p.pid);
});

const RESTORE_STEPS: [string, string][] = ['hello', 'extfiles', 'plan'].flatMap((verb) => ['crash', 'hang', 'garbage'].map((mode): [string, string] => [mode, verb]));

for (const [mode, verb] of RESTORE_STEPS) {
	t.test(`restore: a helper that ${DOES[mode]} at '${verb}' fails the restore and nothing runs`, async (t) => {
		const s = scratch(t);
		const p = await startWithTruth(s, 'cr_rw', ['--advance', '100']);
		const dir = s.dir('img');
		const d = await criuDump({ pid: p.pid, imagesDir: dir, plugins: true });
		if (!t.equal(d.code, 0, describeRun('dump', d))) return;
		await waitForExit(p.pid);
		const env = mode === 'hang' ? hangEnv('restore', verb) : ENV;
		/* CRIU_URING_SAVED_PLAN=0: the dump's saved plan would spare the restore its helper (docs/saved-plan.md) */
		const r = await criuRestore({ imagesDir: dir, plugins: fakePlugins(s), env: { ...fakeEnv(s, env, `${mode}:${verb}`), CRIU_URING_SAVED_PLAN: '0' } });
		t.not(r.code, 0, 'the restore fails');
		for (const re of saysAt(mode, verb)) t.match(r.log, re, 'the log says what happened to the helper');
		await noHelperLeft(t, s, r.log);
		/* CRIU SIGKILLs the restored tree when the hook fails; on a loaded machine it may still be exiting */
		await waitFor(() => !isAlive(p.pid), 'the killed tree to exit', 5_000).catch(() => undefined);
		t.notOk(isAlive(p.pid), 'nothing runs');
	});
}

t.test('the plugin and the helper of one build speak the same protocol version', async (t) => {
	const header = readFileSync(path.join(__dirname, '..', '..', 'plugin-c', 'helper.h'), 'utf8');
	const c = /#define HELPER_PROTOCOL "([^"]+)"/.exec(header)?.[1];
	t.equal(c, PROTOCOL_VERSION, 'plugin-c/helper.h HELPER_PROTOCOL = src/plugin/protocol.ts PROTOCOL_VERSION');
});

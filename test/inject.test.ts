/*
 * The in-task restore engine (plugin-c/inject.c, place.c, advance.c) on a
 * real child process, through the standalone harness
 * build/plugin-test/uring-harness (plugin-c/test/).  The harness stops a
 * sleeping child the way CRIU leaves restored tasks, creates a ring in
 * it, places the ring at a chosen address, advances the ring's cached
 * indices, detaches, and lets the child check its own ring (fdinfo plus
 * a real NOP whose CQE must land at the target index).  It prints one
 * "RESULT {json}" line; every case asserts on that and on the exit code.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t, { type Test } from 'tap';

const REPO = resolve(__dirname, existsSync(resolve(__dirname, '../package.json')) ? '..' : '../..');
const HARNESS = join(REPO, 'build', 'plugin-test', 'uring-harness');

interface HarnessResult {
	setup: string;
	where: string;
	entries: number;
	sq: number;
	cq: number;
	target: number;
	placeholders: number;
	attempts: number;
	ops: number;
	seconds: number;
	advance_rate: number;
	raw_nop_rate: number;
	progress_traps: number;
	regs_same: boolean;
	sigmask_same: boolean;
	xstate_same: boolean;
	maps_same: boolean;
	failed_as_expected: boolean;
	child_status: number;
}

interface Run {
	status: number | null;
	output: string;
	result: HarnessResult;
}

function runHarness(args: string[]): Run {
	const p = spawnSync(HARNESS, args, { encoding: 'utf8', timeout: 300_000 });
	const output = `${p.stdout ?? ''}${p.stderr ?? ''}`;
	const line = (p.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
	if (!line)
		throw new Error(`harness ${args.join(' ')} printed no RESULT line (exit ${p.status}):\n${output}`);
	return { status: p.status, output, result: JSON.parse(line.slice(7)) as HarnessResult };
}

/** What every run must leave behind: the task exactly as found. */
function assertUntouched(t: Test, r: HarnessResult): void {
	t.equal(r.regs_same, true, 'general registers unchanged after the engine ran');
	t.equal(r.sigmask_same, true, 'signal mask unchanged');
	t.equal(r.xstate_same, true, 'FPU/vector state unchanged');
	t.equal(r.maps_same, true, 'no mapping left behind or removed (apart from the ring)');
}

function assertRing(t: Test, run: Run, sq: number, cq: number): void {
	const r = run.result;
	t.equal(run.status, 0, 'harness exit code 0');
	t.equal(r.child_status, 0, 'child verified its ring (fdinfo indices, placement, NOP CQE index)');
	t.equal(r.sq, sq);
	t.equal(r.cq, cq);
	t.equal(r.ops, Math.max(sq, cq), 'ops = max(SQ distance, CQ distance)');
	assertUntouched(t, r);
}

t.before(() => {
	const make = spawnSync('make', ['-s', '-C', join(REPO, 'plugin-c', 'test')], { encoding: 'utf8' });
	if (make.status !== 0)
		throw new Error(`building the harness failed:\n${make.stdout}${make.stderr}`);
});

const SQ = 1000003;
const CQ = 2000001;

const kinds: Array<[string, string]> = [
	['plain', 'plain ring'],
	['big', 'SQE128 | CQE32'],
	['noarray', 'NO_SQARRAY'],
	['defer', 'SINGLE_ISSUER | DEFER_TASKRUN, owner = the injected thread'],
	['sqpoll', 'SQPOLL (the SQ thread consumes)'],
];

for (const [setup, name] of kinds) {
	t.test(`${name}: sq ${SQ}, cq ${CQ}`, async (t) => {
		const run = runHarness(['--setup', setup, '--sq', String(SQ), '--cq', String(CQ)]);
		assertRing(t, run, SQ, CQ);
		t.comment(`${setup}: advance ${Math.round(run.result.advance_rate)} ops/s`);
	});
}

t.test('ring with 8 entries (batches of 8)', async (t) => {
	const run = runHarness(['--setup', 'plain', '--entries', '8', '--sq', String(SQ), '--cq', String(CQ)]);
	assertRing(t, run, SQ, CQ);
	t.equal(run.result.entries, 8);
});

t.test('SQ head ahead of the CQ tail (SQ-only NOPs with CQE_SKIP_SUCCESS)', async (t) => {
	const run = runHarness(['--setup', 'plain', '--sq', String(CQ), '--cq', String(SQ)]);
	assertRing(t, run, CQ, SQ);
});

t.test('exact placement in a hole the kernel would not choose', async (t) => {
	const run = runHarness(['--where', 'hole', '--sq', '5', '--cq', '9']);
	assertRing(t, run, 5, 9);
	t.ok(run.result.placeholders > 0, 'placeholders were needed');
	t.equal(run.result.attempts, 1, 'filling the gaps above the target sufficed');
	t.match(run.output, /child: ring mapped at the chosen address=1 \(want 1\)/);
});

t.test('exact placement above mmap_base (needs all gaps filled)', async (t) => {
	const run = runHarness(['--where', 'high', '--sq', '5', '--cq', '9']);
	assertRing(t, run, 5, 9);
	t.equal(run.result.attempts, 2, 'top-down allocation cannot reach it: second attempt');
});

t.test('exact placement far below everything (4 GiB)', async (t) => {
	const run = runHarness(['--where', 'low', '--sq', '5', '--cq', '9']);
	assertRing(t, run, 5, 9);
	t.equal(run.result.target, 2 ** 32);
});

t.test('split ring VMA: rw page, unmapped page, read-only rest', async (t) => {
	const run = runHarness(['--entries', '512', '--split', '--sq', '77', '--cq', '5']);
	assertRing(t, run, 77, 5);
	t.match(run.output, /child: page 1 unmapped=0 \(want 0\)/);
	t.match(run.output, /child: read-only part at page 2=1 \(want 1\)/);
	t.match(run.output, /child: remote_write reached the read-only page=1 \(want 1\)/,
		'remote_write into a read-only shared ring page (temporary mprotect) landed');
});

t.test('placement onto an occupied range fails and leaves nothing behind', async (t) => {
	const run = runHarness(['--fail', 'place', '--sq', '5', '--cq', '9']);
	t.equal(run.status, 0);
	t.equal(run.result.failed_as_expected, true);
	t.match(run.output, /place_mapping failed as expected: cannot place ring at .*not free/);
	assertUntouched(t, run.result);
});

t.test('advance on a disabled ring fails and leaves nothing behind', async (t) => {
	const run = runHarness(['--fail', 'advance', '--sq', '5', '--cq', '9']);
	t.equal(run.status, 0);
	t.equal(run.result.failed_as_expected, true);
	t.match(run.output, /advance_ring failed as expected: .*File descriptor in bad state/);
	assertUntouched(t, run.result);
});

t.test('progress traps and advance rate next to the raw NOP rate', async (t) => {
	const run = runHarness(['--setup', 'plain', '--entries', '256', '--sq', String(4 * SQ), '--cq', String(4 * SQ),
		'--progress', '1000000', '--bench']);
	assertRing(t, run, 4 * SQ, 4 * SQ);
	const r = run.result;
	t.ok(r.progress_traps >= 3, `progress traps every 1M ops (${r.progress_traps})`);
	t.match(run.output, /progress: \d+\/4000012 ops, \d+ ops\/s/);
	t.ok(r.advance_rate > 0 && r.raw_nop_rate > 0, 'both rates measured');
	const line = `advance ${Math.round(r.advance_rate)} ops/s vs raw NOP ${Math.round(r.raw_nop_rate)} ops/s ` +
		`(${((100 * r.advance_rate) / r.raw_nop_rate).toFixed(0)}%), 256 entries`;
	t.comment(line);
	console.log(`# rate: ${line}`);
});

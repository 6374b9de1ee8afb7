/*
 * criu-uring's command line: help that teaches, one-line errors with a
 * non-zero status for bad input, machine-readable check output.
 */
import t from 'tap';
import { kernelFeatures } from '../src/uring/features';
import { SETUP_FLAGS } from '../src/uring/flags';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { CLI } from './lib/progs';

function cli(...args: string[]): { code: number | null; out: string; err: string } {
	const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
	return { code: r.status, out: r.stdout, err: r.stderr };
}

t.test('--help explains the commands with examples', async (t) => {
	const r = cli('--help');
	t.equal(r.code, 0);
	for (const word of ['inspect', 'check', '--json', '--no-bpf', 'Examples:', 'criu dump'])
		t.match(r.out, word, `help mentions ${word}`);
	t.equal(cli().code, 2, 'no command: usage and status 2');
});

t.test('bad input gives one line and a non-zero status', async (t) => {
	const cases: [string[], RegExp][] = [
		[['inspect', '-t', 'abc'], /-t expects a process id, got 'abc'/],
		[['inspect', '-t', '0'], /invalid pid 0/],
		[['inspect', '-t', '4194304'], /process 4194304 does not exist/],
		[['frobnicate'], /unknown command 'frobnicate'/],
	];
	for (const [args, re] of cases) {
		const r = cli(...args);
		t.not(r.code, 0, `${args.join(' ')}: fails`);
		t.match(r.err, re, `${args.join(' ')}: says why`);
		t.equal(r.err.trim().split('\n').length, 1, `${args.join(' ')}: one line`);
		t.equal(r.out, '', `${args.join(' ')}: nothing on stdout`);
	}
});

t.test('inspect of a thread id points to its process', async (t) => {
	const tid = readdirSync(`/proc/${process.pid}/task`).map(Number).find((x) => x !== process.pid);
	if (!t.ok(tid, 'node has threads besides the main one')) return;
	const r = cli('inspect', '-t', String(tid));
	t.equal(r.code, 1);
	t.match(r.err, `${tid} is a thread of process ${process.pid}; inspect -t ${process.pid}`);
	const self = cli('inspect', '-t', String(process.pid));
	t.equal(self.code, 0, 'the process itself can be inspected');
	t.match(self.out, new RegExp(`^pid ${process.pid} `), 'text output names the process');
});

t.test('check --json reports every component', async (t) => {
	const r = cli('check', '--json');
	const report = JSON.parse(r.out) as { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] };
	t.same(report.checks.map((c) => c.name), ['kernel', 'io_uring', 'bpf', 'criu', 'plugin']);
	t.equal(r.code, report.ok ? 0 : 1, 'status follows the verdict');
	t.ok(report.ok, `this machine is usable: ${report.checks.filter((c) => !c.ok).map((c) => c.detail).join('; ')}`);
});

t.test('check --json has the feature table of this kernel', async (t) => {
	const report = JSON.parse(cli('check', '--json').out) as {
		kernel: string; features: { feature: string; kernel: boolean; checkpoint: string; why?: string }[];
	};
	const f = kernelFeatures();
	t.equal(report.kernel, f.release, 'the running kernel');
	const byName = new Map(report.features.map((r) => [r.feature, r]));
	for (const [bit, name] of SETUP_FLAGS.entries()) {
		const row = byName.get(`IORING_SETUP_${name}`);
		t.equal(row?.kernel, (f.setup & (1 << bit)) !== 0, `IORING_SETUP_${name}: kernel column as probed`);
	}
	for (const r of report.features) {
		if (!r.kernel) t.equal(r.checkpoint, 'absent', `${r.feature}: absent where the kernel lacks it`);
		else if (r.checkpoint === 'refused') t.ok(r.why, `${r.feature}: refused with a reason`);
		else t.equal(r.checkpoint, 'yes', `${r.feature}: checkpointed`);
	}
	/* what is refused only follows from what the kernel lacks, never from the capture */
	const overflow = byName.get('CQ overflow list');
	t.equal(overflow?.checkpoint, f.register.SEND_MSG_RING && f.nop_inject ? 'yes' : 'refused', 'overflow lists: as the kernel allows');
});

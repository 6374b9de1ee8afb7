/*
 * Inspect must never perturb its target.  insp_hammer runs NOPs in a loop
 * and checks that every CQE it reaps is one it caused and that no index
 * moves unless it moves it.  While it runs we inspect it 1000 times with
 * the capture library the CLI runs (captureProcess, in this process: a
 * CLI start costs ~1 s of node startup on this 2-core machine, the
 * capture itself ~0.1 s), plus 25 times through the CLI itself, then
 * SIGTERM it and require a clean verdict.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI, REPO, startProg } from './lib/progs';

const run = promisify(execFile);
const LIB_ROUNDS = 1000;
const CLI_ROUNDS = 25;

t.setTimeout(20 * 60_000);

interface Captured { pid: number; source: string; rings: { inode: number }[] }
type CaptureFn = (pid: number, opts?: { noBpf?: boolean }) => Captured;

function loadCapture(): CaptureFn {
	const path = join(REPO, 'dist', 'src', 'capture');
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const mod = require(path) as { captureProcess?: CaptureFn };
	if (typeof mod.captureProcess !== 'function')
		throw new Error(`${path} does not export captureProcess (is the capture layer built?)`);
	return mod.captureProcess;
}

t.test(`${LIB_ROUNDS} + ${CLI_ROUNDS} inspections leave the hammer undisturbed`, async (t) => {
	const capture = loadCapture();
	const prog = await startProg(t, 'insp_hammer');
	const inode = prog.truth.rings[0].inode;
	const failures: string[] = [];
	let seen = 0;
	const note = (e: unknown) => {
		if (failures.length < 5)
			failures.push((e as Error).message.split('\n')[0]);
	};

	for (let i = 0; i < LIB_ROUNDS; i++) {
		try {
			const got = capture(prog.pid);
			if (got.source === 'bpf' && got.rings.some((r) => r.inode === inode))
				seen++;
		} catch (e) {
			note(e);
		}
		if (i % 50 === 0)
			await new Promise((r) => setImmediate(r)); /* let child-process events through */
	}
	for (let i = 0; i < CLI_ROUNDS; i++) {
		try {
			const { stdout } = await run(process.execPath, [CLI, 'inspect', '-t', String(prog.pid), '--json'],
				{ maxBuffer: 64 << 20, timeout: 60_000 });
			const got = JSON.parse(stdout) as Captured;
			if (got.source === 'bpf' && got.rings.some((r) => r.inode === inode))
				seen++;
		} catch (e) {
			note(e);
		}
	}
	t.same(failures, [], 'every inspection succeeded');
	t.equal(seen, LIB_ROUNDS + CLI_ROUNDS, 'the hammer\'s ring was found (with BPF) in every inspection');
	const code = await prog.stop('SIGTERM');
	const verdict = prog.readTruth();
	t.equal(verdict.verdict, 'clean', `hammer verdict (reports: ${JSON.stringify(verdict.reports)})`);
	t.equal(verdict.foreign, '0', 'no foreign CQE and no index moved by anyone else');
	t.ok(Number(verdict.batches) > 0, `hammer ran ${verdict.batches} batches`);
	t.equal(code, 0, 'hammer exits 0');
});

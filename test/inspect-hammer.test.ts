/*
 * Inspect must never perturb its target.  insp_hammer runs NOPs in a loop
 * and checks that every CQE it reaps is one it caused and that no index
 * moves unless it moves it.  We inspect it 1000 times while it runs (two
 * CLI processes at a time), then SIGTERM it and require a clean verdict.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI, startProg } from './lib/progs';

const run = promisify(execFile);
const ROUNDS = 1000;
const PARALLEL = 2;

t.setTimeout(30 * 60_000);

t.test('1000 inspections leave the hammer undisturbed', async (t) => {
	const prog = await startProg(t, 'insp_hammer');
	const inode = prog.truth.rings[0].inode;
	let done = 0;
	let seen = 0;
	const failures: string[] = [];
	const worker = async () => {
		while (done < ROUNDS) {
			done++;
			try {
				const { stdout } = await run(process.execPath, [CLI, 'inspect', '-t', String(prog.pid), '--json'],
					{ maxBuffer: 64 << 20, timeout: 60_000 });
				const got = JSON.parse(stdout);
				if (got.rings?.some((r: { inode: number }) => r.inode === inode))
					seen++;
			} catch (e) {
				if (failures.length < 5)
					failures.push((e as Error).message.split('\n')[0]);
			}
		}
	};
	await Promise.all(Array.from({ length: PARALLEL }, worker));
	t.same(failures, [], 'every inspection succeeded');
	t.equal(seen, ROUNDS, `the hammer's ring was found in all ${ROUNDS} inspections`);
	const code = await prog.stop('SIGTERM');
	const verdict = prog.readTruth();
	t.equal(verdict.verdict, 'clean', `hammer verdict (reports: ${JSON.stringify(verdict.reports)})`);
	t.equal(verdict.foreign, '0', 'no foreign CQE or index movement');
	t.ok(Number(verdict.batches) > 0, `hammer ran ${verdict.batches} batches`);
	t.equal(code, 0, 'hammer exits 0');
});

/*
 * A thread waiting in io_uring_enter(GETEVENTS) must not see an EINTR that
 * only the checkpoint caused (plugin-c/eintr.c), neither after
 * --leave-running nor after a restore (test/progs/cr_eintr.c treats EINTR
 * as fatal).
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { criuDump, criuRestore, describeRun, isAlive, scratch, sleep, waitFor, waitForExit } from './lib/criu';

for (const mode of ['leave-running', 'restore'] as const) {
	t.test(`a waiting thread sees no EINTR (${mode})`, async (t) => {
		const s = scratch(t);
		const truthFile = s.file('truth.json');
		process.env.TRUTH_FILE = truthFile;
		const pid = s.spawnProg('cr_eintr', []);
		delete process.env.TRUTH_FILE;
		await waitFor(() => existsSync(truthFile) || !isAlive(pid), 'cr_eintr to start');
		const dir = s.dir('img');
		const d = await criuDump({ pid, imagesDir: dir, plugins: true, extraArgs: mode === 'leave-running' ? ['--leave-running'] : [] });
		if (!t.equal(d.code, 0, describeRun('dump', d))) return;
		t.match(d.log, /io_uring_enter wait interrupted by the freeze, will be re-issued/, 'the interrupted wait was rewound');
		if (mode === 'restore') {
			await waitForExit(pid);
			const r = await criuRestore({ imagesDir: dir, plugins: true });
			if (!t.equal(r.code, 0, describeRun('restore', r))) return;
		}
		await sleep(300);
		t.ok(isAlive(pid), 'the waiter did not die of EINTR');
		process.kill(pid, 'SIGUSR1');
		await waitForExit(pid, 30_000);
		t.equal(s.stderrOf('cr_eintr'), '', 'the waiter got its completion');
		t.match(readFileSync(s.file('cr_eintr.out'), 'utf8'), /verified/);
	});
}

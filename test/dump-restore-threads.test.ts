/*
 * Rings and threads across checkpoints (test/progs/cr_threads.c): a
 * SINGLE_ISSUER|DEFER_TASKRUN ring owned by a non-main thread, two threads
 * sharing one ring, and a thread blocked in io_uring_enter(GETEVENTS),
 * all busy while the process is dumped and restored three times.
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { criuDump, criuRestore, describeRun, isAlive, scratch, sleep, waitFor, waitForExit } from './lib/criu';
import { inspectPid } from './lib/progs';

t.test('threads keep their rings across dump and restore', async (t) => {
	const s = scratch(t);
	const truthFile = s.file('truth.json');
	process.env.TRUTH_FILE = truthFile;
	const pid = s.spawnProg('cr_threads', []);
	delete process.env.TRUTH_FILE;
	await waitFor(() => existsSync(truthFile) || !isAlive(pid), 'cr_threads to start its threads');
	if (!t.ok(existsSync(truthFile), `cr_threads started: ${s.stderrOf('cr_threads')}`)) return;
	const truth = JSON.parse(readFileSync(truthFile, 'utf8'));

	for (let i = 0; i < 3; i++) {
		await sleep(100 + Math.floor(Math.random() * 300));
		const dir = s.dir(`img${i}`);
		const d = await criuDump({ pid, imagesDir: dir, plugins: true });
		if (!t.equal(d.code, 0, describeRun('dump', d))) return;
		await waitForExit(pid);
		const r = await criuRestore({ imagesDir: dir, plugins: true });
		if (!t.equal(r.code, 0, describeRun('restore', r))) return;
		const owned = inspectPid(pid).rings.find((x: { inode: number; setup_flags: number }) => x.setup_flags & 0x1000);
		t.equal(owned?.submitter_tid, truth.owner_tid, `restore ${i + 1}: the SINGLE_ISSUER ring is owned by the same thread`);
	}
	await sleep(200);
	process.kill(pid, 'SIGUSR1');
	await waitForExit(pid, 30_000);
	t.equal(s.stderrOf('cr_threads'), '', 'no thread saw a lost, duplicated or foreign completion');
	const out = readFileSync(s.file('cr_threads.out'), 'utf8');
	t.match(out, /waiter: woken/, 'the thread blocked in io_uring_enter got its completion after the restores');
	t.match(out, /verified/, 'every thread finished cleanly');
});

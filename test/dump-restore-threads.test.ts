/*
 * Rings and threads across checkpoints (test/progs/cr_threads.c): a
 * SINGLE_ISSUER|DEFER_TASKRUN ring owned by a non-main thread, two threads
 * sharing one ring, and a thread blocked in io_uring_enter(GETEVENTS),
 * all busy while the process is dumped and restored three times.
 */
import t from 'tap';
import { dumpAndRestore, finishVerified, scratch, sleep, startWithTruth } from './lib/criu';
import { inspectPid } from './lib/progs';
import { exclusive } from './lib/exclusive';

exclusive(t); /* a stress or podman file: never next to another one (test/lib/exclusive.ts) */

t.test('threads keep their rings across dump and restore', async (t) => {
	const s = scratch(t);
	const { pid, truth } = await startWithTruth(s, 'cr_threads');

	for (let i = 0; i < 3; i++) {
		await sleep(100 + Math.floor(Math.random() * 300));
		if (!(await dumpAndRestore(t, s, pid, { name: `img${i}` }))) return;
		const owned = inspectPid(pid).rings.find((x: { inode: number; setup_flags: number }) => x.setup_flags & 0x1000);
		t.equal(owned?.submitter_tid, truth.owner_tid, `restore ${i + 1}: the SINGLE_ISSUER ring is owned by the same thread`);
	}
	await sleep(200);
	/* no thread saw a lost, duplicated or foreign completion; the blocked one got its own */
	await finishVerified(t, s, 'cr_threads', pid, /waiter: woken[^]*verified/);
});

t.test('threads keep running correctly after dump --leave-running', async (t) => {
	const s = scratch(t);
	const { pid } = await startWithTruth(s, 'cr_threads');
	await sleep(100 + Math.floor(Math.random() * 300));
	/* busy threads: the rings move on by themselves, so only the program's own checks apply */
	if (!(await dumpAndRestore(t, s, pid, { dumpArgs: ['--leave-running'] }))) return;
	await sleep(200);
	await finishVerified(t, s, 'cr_threads', pid, /waiter: woken[^]*verified/);
});

/*
 * A thread waiting in io_uring_enter(GETEVENTS) must not see an EINTR that
 * only the checkpoint caused (plugin-c/eintr.c), neither after
 * --leave-running nor after a restore (test/progs/cr_eintr.c treats EINTR
 * as fatal).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { dumpAndRestore, finishVerified, isAlive, scratch, sleep, startWithTruth } from './lib/criu';

for (const mode of ['leave-running', 'restore'] as const) {
	t.test(`a waiting thread sees no EINTR (${mode})`, async (t) => {
		const s = scratch(t);
		const { pid } = await startWithTruth(s, 'cr_eintr');
		if (!(await dumpAndRestore(t, s, pid, { dumpArgs: mode === 'leave-running' ? ['--leave-running'] : [] }))) return;
		t.match(readFileSync(s.file('img/dump.log'), 'utf8'), /io_uring_enter wait interrupted by the freeze, will be re-issued/,
			'the interrupted wait was rewound');
		await sleep(300);
		t.ok(isAlive(pid), 'the waiter did not die of EINTR');
		await finishVerified(t, s, 'cr_eintr', pid); /* the waiter got its completion */
	});
}

/*
 * Reviewer-style programs (test/progs/cr_combo_*.c; each program's header
 * says what it sets up and checks), busy: the program does verified I/O
 * all the time and is dumped and restored at random moments.  The same
 * programs idle: test/dump-restore-combo-quiet.test.ts.
 */
import t from 'tap';
import { dumpAndRestore, scratch, sleep, startWithTruth } from './lib/criu';
import { BUSY, finish, pidsOf } from './lib/combo';
import { exclusive } from './lib/exclusive';

exclusive(t); /* a stress or podman file: never next to another one (test/lib/exclusive.ts) */

for (const c of BUSY) {
	t.test(`${c.prog} ${c.args.join(' ')}: ${c.what}: 6 dumps + restores at random moments`, async (t) => {
		const s = scratch(t);
		const { pid, truth } = await startWithTruth(s, c.prog, c.args);
		const pids = pidsOf(c, pid, truth);
		for (let i = 0; i < 6; i++) {
			await sleep(50 + Math.floor(Math.random() * 300));
			if (!(await dumpAndRestore(t, s, pid, { name: `img${i}`, pids }))) return;
		}
		await finish(t, s, c, pid, /^\d+ verified rounds/);
	});
}

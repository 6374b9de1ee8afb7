/*
 * The --leave-running half of a feature test: `criu dump --leave-running`
 * must leave every ring exactly as it was — the same kernel object, the
 * same indices, ring bytes and registrations — so inspect before and after
 * the dump must be equal.  Only an idle SQ thread's NEED_WAKEUP flag,
 * which the kernel raises and clears on its own, is left out.
 */
import type { Test } from 'tap';
import { dumpAndRestore, type Scratch } from './criu';
import { inspectPid, type Truth } from './progs';
import { SQ } from '../../src/uring/abi';


function stable(pid: number): Truth {
	const snap = inspectPid(pid);
	for (const r of snap.rings) if (r.sqpoll) r.sq.flags &= ~SQ.NEED_WAKEUP;
	return snap;
}

/** Dump with --leave-running and check every ring of `pid` is untouched; false if the dump failed. */
export async function dumpLeavingRunning(t: Test, s: Scratch, pid: number): Promise<boolean> {
	const before = stable(pid);
	if (!(await dumpAndRestore(t, s, pid, { name: 'img-leave-running', dumpArgs: ['--leave-running'] }))) return false;
	t.same(stable(pid), before, 'after --leave-running, inspect shows every ring exactly as before the dump');
	return true;
}

/*
 * The reviewer-style programs (test/progs/cr_combo_*.c) and what their two
 * test files share: test/dump-restore-combo-quiet.test.ts (idle programs)
 * and test/dump-restore-combo.test.ts (busy ones, a stress file).
 */
import { finishVerified, waitForExit, type Scratch } from './criu';
import { inspectPid, type Truth } from './progs';
import { SQ } from '../../src/uring/abi';

export interface Combo {
	what: string;
	prog: string;
	args: string[];
	/** Pids of the whole tree, from the truth (default: just the root). */
	pids?: (truth: Truth) => number[];
}

export const QUIET: Combo[] = [
	{ what: 'CQ of 8192 overflowed by 300, sparse files updated, fixed buffer', prog: 'cr_combo_overflow', args: [] },
	{ what: 'the same on SINGLE_ISSUER|DEFER_TASKRUN', prog: 'cr_combo_overflow', args: ['--flags', '3000'] },
	{ what: 'linked write/fsync/read chains, registered ring fd, sparse files, buffers, eventfd, reaper thread', prog: 'cr_combo_chain', args: [] },
	{ what: 'the same on SINGLE_ISSUER|DEFER_TASKRUN', prog: 'cr_combo_chain', args: ['--flags', '3000'] },
	{ what: 'the same on COOP_TASKRUN|TASKRUN_FLAG', prog: 'cr_combo_chain', args: ['--flags', '300'] },
	{ what: 'the same on SQPOLL', prog: 'cr_combo_chain', args: ['--flags', '2'] },
	{ what: 'two SQPOLL rings on one thread (ATTACH_WQ), MSG_RING both ways, buffer ring with BUFFER_SELECT reads', prog: 'cr_combo_sqpoll', args: [] },
	{ what: 'direct descriptors (openat_direct into an allocation range, close_direct), file and buffer tags, the allocation hint', prog: 'cr_combo_direct', args: ['--alloc-hint'] },
	{ what: 'the same on SINGLE_ISSUER|DEFER_TASKRUN, buffers in a sparse table', prog: 'cr_combo_direct', args: ['--flags', '3000', '--sparse-buffers', '--alloc-hint'] },
	{ what: 'a ring shared with a fork()ed child that reaps it, personalities registered by threads with their own creds, the child\'s R_DISABLED SINGLE_ISSUER|DEFER_TASKRUN ring', prog: 'cr_combo_fork', args: [], pids: (truth) => [truth.pid, truth.child] },
];

export const BUSY: Combo[] = [
	{ what: 'random overflowing NOP bursts and partial reaps, verified I/O', prog: 'cr_combo_overflow', args: ['--busy'] },
	{ what: 'the same on SINGLE_ISSUER|DEFER_TASKRUN', prog: 'cr_combo_overflow', args: ['--busy', '--flags', '3000'] },
	{ what: 'linked chains in flight while a reaper thread reaps', prog: 'cr_combo_chain', args: ['--busy'] },
	{ what: 'the same on SINGLE_ISSUER|DEFER_TASKRUN', prog: 'cr_combo_chain', args: ['--busy', '--flags', '3000'] },
	{ what: 'the same on SQPOLL', prog: 'cr_combo_chain', args: ['--busy', '--flags', '2'] },
	{ what: 'random BUFFER_SELECT read batches and messages between attached SQPOLL rings', prog: 'cr_combo_sqpoll', args: ['--busy'] },
	{ what: 'parent submits with personalities, child reaps, child uses its own ring', prog: 'cr_combo_fork', args: ['--busy'], pids: (truth) => [truth.pid, truth.child] },
];

/* IORING_SQ_NEED_WAKEUP only says whether an SQ thread went idle since: not state we restore */

/*
 * A restored ring is a new kernel object (inode, ctx) with a new SQ thread
 * (its tid): those identify, they are not ring state.
 */
function comparable(r: Truth): Truth {
	const { inode: _inode, ctx: _ctx, ...rest } = r;
	return {
		...rest,
		sq: { ...rest.sq, flags: rest.sq.flags & ~SQ.NEED_WAKEUP },
		sqpoll: rest.sqpoll && { ...rest.sqpoll, thread_pid: null, shared_with: rest.sqpoll.shared_with.length },
	};
}

/* Every ring of every pid, in fd order: rings are matched by position, not inode. */
export function snapshot(pids: number[]): Truth[] {
	return pids.map((pid) => {
		const got = inspectPid(pid);
		return { pid, unavailable: got.unavailable, rings: (got.rings as Truth[]).sort((a, b) => a.fds[0] - b.fds[0]).map(comparable) };
	});
}

export const pidsOf = (c: Combo, pid: number, truth: Truth) => (c.pids ? c.pids(truth) : [pid]);

/* Children first: a child that outlives its parent by a moment reports the parent gone on the shared stderr. */
export async function killAndWait(pids: number[]): Promise<void> {
	for (const p of [...pids].reverse()) process.kill(p, 'SIGKILL');
	for (const p of pids) await waitForExit(p);
}

export async function finish(t: Parameters<typeof finishVerified>[0], s: Scratch, c: Combo, pid: number, pattern?: RegExp) {
	await finishVerified(t, s, c.prog, pid, pattern);
}

/*
 * Reviewer-style programs: rings set up with liburing the way applications
 * do, combining features (test/progs/cr_combo_*.c; each program's header
 * says what it sets up and checks).  For every program:
 *
 *   - quiet: the whole inspect record before the dump equals the one after
 *     each of two dump + restore rounds (the second dumps the restored
 *     process), apart from the fields a restore legitimately changes
 *     (comparable() below, docs/design.md), then the program verifies its
 *     own state and keeps doing I/O;
 *   - --leave-running: the original runs on with an unchanged ring, and is
 *     then killed and restored from those images;
 *   - busy: the program does verified I/O all the time and is dumped and
 *     restored at random moments.
 */
import t from 'tap';
import { criuRestore, describeRun, dumpAndRestore, finishVerified, isAlive, scratch, sleep, startWithTruth, waitForExit, type Scratch } from './lib/criu';
import { inspectPid, type Truth } from './lib/progs';
import { SQ } from '../src/uring/abi';
import { exclusive } from './lib/exclusive';

exclusive(t); /* a stress or podman file: never next to another one (test/lib/exclusive.ts) */

interface Combo {
	what: string;
	prog: string;
	args: string[];
	/** Pids of the whole tree, from the truth (default: just the root). */
	pids?: (truth: Truth) => number[];
}

const QUIET: Combo[] = [
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

const BUSY: Combo[] = [
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
function snapshot(pids: number[]): Truth[] {
	return pids.map((pid) => {
		const got = inspectPid(pid);
		return { pid, unavailable: got.unavailable, rings: (got.rings as Truth[]).sort((a, b) => a.fds[0] - b.fds[0]).map(comparable) };
	});
}

const pidsOf = (c: Combo, pid: number, truth: Truth) => (c.pids ? c.pids(truth) : [pid]);

/* Children first: a child that outlives its parent by a moment reports the parent gone on the shared stderr. */
async function killAndWait(pids: number[]): Promise<void> {
	for (const p of [...pids].reverse()) process.kill(p, 'SIGKILL');
	for (const p of pids) await waitForExit(p);
}

async function finish(t: Parameters<typeof finishVerified>[0], s: Scratch, c: Combo, pid: number, pattern?: RegExp) {
	await finishVerified(t, s, c.prog, pid, pattern);
}

for (const c of QUIET) {
	/* what the program expects after the restore is what the kernel does without one */
	t.test(`${c.prog} ${c.args.join(' ')}: ${c.what}: the program's checks hold without a checkpoint`, async (t) => {
		const s = scratch(t);
		const { pid } = await startWithTruth(s, c.prog, c.args);
		await finish(t, s, c, pid);
	});

	t.test(`${c.prog} ${c.args.join(' ')}: ${c.what}: two dump + restore rounds`, async (t) => {
		const s = scratch(t);
		const { pid, truth } = await startWithTruth(s, c.prog, c.args);
		const pids = pidsOf(c, pid, truth);
		const before = snapshot(pids);
		t.same(before.map((p) => p.unavailable), pids.map(() => []), 'the capture saw everything');
		for (const round of [1, 2]) {
			if (!(await dumpAndRestore(t, s, pid, { name: `img${round}`, pids }))) return;
			t.same(snapshot(pids), before, `inspect shows the same rings after restore ${round}`);
		}
		await finish(t, s, c, pid);
	});

	t.test(`${c.prog} ${c.args.join(' ')}: ${c.what}: --leave-running, then a restore of those images`, async (t) => {
		const s = scratch(t);
		const { pid, truth } = await startWithTruth(s, c.prog, c.args);
		const pids = pidsOf(c, pid, truth);
		const before = snapshot(pids);
		if (!(await dumpAndRestore(t, s, pid, { dumpArgs: ['--leave-running'], pids }))) return;
		t.ok(pids.every(isAlive), 'the original processes run on');
		t.same(snapshot(pids), before, 'the dump left the rings as they were');
		await killAndWait(pids);
		if (!(await restoreFrom(t, s, pids))) return;
		t.same(snapshot(pids), before, 'inspect shows the same rings after the restore');
		await finish(t, s, c, pid);
	});
}

/* criu restore of the images a --leave-running dump wrote to "img" */
async function restoreFrom(t: Parameters<typeof finishVerified>[0], s: Scratch, pids: number[]): Promise<boolean> {
	const r = await criuRestore({ imagesDir: s.dir('img'), plugins: true });
	return t.equal(r.code, 0, describeRun('restore', r)) && t.ok(pids.every(isAlive), 'the restored processes run with their pids');
}

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

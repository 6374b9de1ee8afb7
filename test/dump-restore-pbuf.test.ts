/*
 * Provided buffers through a real dump and restore, on test/progs/cr_pbuf:
 * a user buffer ring whose tail wrapped, a kernel-allocated incremental
 * ring and a user incremental ring, each part-way consumed, and a legacy
 * group.  inspect must show the same provided buffers (bgid, entries,
 * head, tail, inc, addresses, legacy order) and mappings after the restore,
 * and the restored program must get the buffers, ids and byte offsets its
 * own model predicts (see the program's header comment).
 */
import t, { type Test } from 'tap';
import { dumpAndRestore, finishVerified, scratch, startWithTruth } from './lib/criu';
import { dumpLeavingRunning } from './lib/leave';
import { inspectPid } from './lib/progs';

interface Truth { pid: number; inode: number; heads: number[]; legacy_bids: number[] }

/* The fields restore must reproduce, for every provided-buffer group. */
function pbufView(ring: Record<string, unknown>): unknown {
	return { provided_buffers: ring.provided_buffers, mappings: ring.mappings, sq: ring.sq, cq: ring.cq };
}

async function dumpRestoreVerify(t: Test, flags: string, advance: string): Promise<void> {
	const s = scratch(t);
	const truth = (await startWithTruth(s, 'cr_pbuf', ['--flags', flags, '--advance', advance])).truth as Truth;
	const before = inspectPid(truth.pid).rings[0];
	/* the capture saw what the program did: otherwise equal-before-and-after proves nothing */
	const pb = before.provided_buffers as Record<string, unknown>[];
	t.same(pb.filter((b) => b.kind === 'ring').map((b) => b.head), truth.heads, 'buffer ring heads before the dump');
	t.same((pb.find((b) => b.kind === 'legacy')?.buffers as { bid: number }[]).map((b) => b.bid), truth.legacy_bids,
		'legacy buffers before the dump, in list order');

	if (!(await dumpAndRestore(t, s, truth.pid))) return;

	const after = inspectPid(truth.pid).rings[0];
	if (flags === '2') for (const x of [before, after]) x.sq.flags &= ~1; /* idle SQPOLL thread's NEED_WAKEUP */
	t.same(pbufView(after), pbufView(before), 'inspect shows the same provided buffers, mappings and indices');
	await finishVerified(t, s, 'cr_pbuf', truth.pid); /* it selected the buffers it expected */
}

const CASES: [string, string, string][] = [
	['plain ring, indices moved by 1000 NOPs', '0', '1000'],
	['plain ring, no extra requests (restore needs 10 of its 13)', '0', '0'],
	['SINGLE_ISSUER|DEFER_TASKRUN', '3000', '100'],
	['SQPOLL', '2', '100'],
];

for (const [what, flags, advance] of CASES)
	t.test(`provided buffers dump + restore: ${what}`, (t) => dumpRestoreVerify(t, flags, advance));

for (const [what, flags, advance] of CASES) {
	t.test(`provided buffers dump --leave-running: ${what}`, async (t) => {
		const s = scratch(t);
		const { pid } = await startWithTruth(s, 'cr_pbuf', ['--flags', flags, '--advance', advance]);
		if (!(await dumpLeavingRunning(t, s, pid))) return;
		await finishVerified(t, s, 'cr_pbuf', pid);
	});
}

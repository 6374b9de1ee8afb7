/*
 * Dump and restore of a ring with CQEs on the kernel's overflow list
 * (test/progs/cr_overflow): inspect must show the same indices, CQ
 * contents and overflow list (extras included) after the restore, and the
 * program must then reap every CQE, overflowed ones included, in the
 * original order with exactly their user_data, res, flags and extras, and
 * keep doing I/O on the ring (it checks that itself).  Big CQEs with
 * extras are rebuilt by NOPs on the ring itself (concerns/overflow.ts).
 */
import t from 'tap';
import { skipUnless } from './lib/kernel';

/* rebuilding an overflow list posts CQEs: REGISTER_SEND_MSG_RING (6.13) and NOP INJECT_RESULT */
const NEEDS = skipUnless({ register: ['SEND_MSG_RING'], nopInject: true, setup: 0x800 });
import type { RingState } from '../src/capture/model';
import { overflowUnsupported } from '../src/restore/concerns/overflow';
import { criuDump, criuRestore, describeRun, dumpAndRestore, finishVerified, isAlive, scratch, startWithTruth, waitForExit } from './lib/criu';
import { inspectPid } from './lib/progs';
import { SQ } from '../src/uring/abi';

const CASES: [string, string[]][] = [
	['plain ring, CQ full', []],
	['CQ partly reaped after the overflow, indices advanced', ['--consume', '3', '--advance', '1000']],
	['SINGLE_ISSUER|DEFER_TASKRUN', ['--flags', '3000', '--consume', '1']],
	['CQE32', ['--flags', '800', '--advance', '77']],
	['COOP_TASKRUN|TASKRUN_FLAG, CQ fully reaped', ['--flags', '300', '--consume', '8']],
	['CQE32 with big CQEs carrying extras', ['--flags', '800', '--big', '--advance', '77']],
	['CQE_MIXED with IORING_CQE_F_32 big CQEs', ['--flags', '40000', '--big', '--consume', '3']],
	['CQE_MIXED|SINGLE_ISSUER|DEFER_TASKRUN with big CQEs, CQ fully reaped', ['--flags', '43000', '--big', '--consume', '8', '--advance', '5']],
	['CQE32|SQE128|NO_SQARRAY with big CQEs', ['--flags', '10c00', '--big', '--consume', '2']],
	['CQE32|NO_MMAP with big CQEs', ['--flags', '4800', '--big']],
	['IOPOLL|CQE_MIXED with big CQEs', ['--flags', '40001', '--big', '--more', '9']],
	['SQPOLL|CQE32 with big CQEs', ['--flags', '802', '--big', '--advance', '9']],
	['SQPOLL|CQE_MIXED with big CQEs', ['--flags', '40002', '--big', '--consume', '2', '--more', '20']],
	['CQE32, 204 overflowed CQEs (half of them big), SQEs pending', ['--flags', '800', '--big', '--more', '196', '--pending', '3', '--consume', '4']],
	['CQE_MIXED|SINGLE_ISSUER|DEFER_TASKRUN, 308 overflowed CQEs, SQEs pending', ['--flags', '43000', '--big', '--more', '300', '--pending', '4', '--advance', '3000']],
	['plain ring, 100 overflowed CQEs, SQEs pending', ['--more', '95', '--pending', '2']],
	/* no fd: fillers and overflowed CQEs are all NOPs, so the program leaves out its MSG_RING CQEs */
	['REGISTERED_FD_ONLY|NO_MMAP, SQEs pending', ['--flags', 'c000', '--more', '10', '--pending', '2']],
	['REGISTERED_FD_ONLY|NO_MMAP|CQE_MIXED with big CQEs', ['--flags', '4c000', '--big', '--more', '11', '--consume', '3']],
	['REGISTERED_FD_ONLY|NO_MMAP|CQE32|SINGLE_ISSUER|DEFER_TASKRUN with big CQEs', ['--flags', 'f800', '--big', '--advance', '100']],
];

type Ring = RingState & { overflow_cqes: { user_data: string; res: number; flags: number; extra1?: string; extra2?: string }[] };

const fields = (l: Ring['overflow_cqes']) =>
	l.map((c) => ({ user_data: c.user_data, res: c.res, flags: c.flags, extras: [c.extra1 ?? '0', c.extra2 ?? '0'] }));
/* IORING_SQ_NEED_WAKEUP only says whether the SQ thread went idle since, which takes a second */
const observable = (r: Ring) =>
	({ sq: { ...r.sq, flags: r.sq.flags & ~SQ.NEED_WAKEUP }, cq: r.cq, sqes: r.pending_sqes, cqes: r.cqes, overflow: r.overflow_cqes });

for (const [what, args] of CASES) {
	const flags = args.includes('--flags') ? parseInt(args[args.indexOf('--flags') + 1], 16) : 0;
	t.test(`overflow list survives dump + restore: ${what}`, { skip: NEEDS || skipUnless({ setup: flags }) }, async (t) => {
		const s = scratch(t);
		const { pid, truth } = await startWithTruth(s, 'cr_overflow', args);
		const before = inspectPid(pid).rings[0] as Ring;
		t.same(fields(before.overflow_cqes), fields(truth.overflow_cqes), 'inspect sees the overflow list the program built');
		t.same(overflowUnsupported(before), [], 'the dump can take this overflow list');

		if (!(await dumpAndRestore(t, s, pid))) return;

		const after = inspectPid(pid).rings[0] as Ring;
		t.same(observable(after), observable(before), 'inspect shows the same indices, CQEs and overflow list');

		await finishVerified(t, s, 'cr_overflow', pid); /* every CQE reaped in the original order */
	});
}

t.test('big overflowed CQEs, --leave-running: the original goes on, the images restore later', { skip: NEEDS }, async (t) => {
	const s = scratch(t);
	const { pid } = await startWithTruth(s, 'cr_overflow', ['--flags', '40000', '--big', '--consume', '5']);
	const before = inspectPid(pid).rings[0] as Ring;
	const dir = s.dir('img');
	const d = await criuDump({ pid, imagesDir: dir, plugins: true, extraArgs: ['--leave-running'] });
	if (!t.equal(d.code, 0, describeRun('dump --leave-running', d))) return;
	t.same(observable(inspectPid(pid).rings[0] as Ring), observable(before), 'the dump left the ring as it was');
	await finishVerified(t, s, 'cr_overflow', pid); /* the original reaps its own list */
	await waitForExit(pid);

	const r = await criuRestore({ imagesDir: dir, plugins: true });
	if (!t.equal(r.code, 0, describeRun('restore', r)) || !t.ok(isAlive(pid), 'the restored process runs')) return;
	t.same(observable(inspectPid(pid).rings[0] as Ring), observable(before), 'the restored ring is the dumped one');
	await finishVerified(t, s, 'cr_overflow', pid);
});

t.test('overflowed big CQEs that no post can rebuild are refused with the reason', { skip: NEEDS }, async (t) => {
	const s = scratch(t);
	const { pid } = await startWithTruth(s, 'cr_overflow', ['--flags', '800', '--big']);
	const ring = inspectPid(pid).rings[0] as Ring;
	const big = ring.overflow_cqes.findIndex((c) => c.extra1 !== '0');
	t.ok(big >= 0, 'the list holds a CQE with extras');
	const flagged = { ...ring, overflow_cqes: ring.overflow_cqes.map((c, i) => (i === big ? { ...c, flags: 4 } : c)) };
	t.match(overflowUnsupported(flagged).join('; '), /1 big CQE\(s\) on the overflow list with extras and flags .*flags 0x4\)/,
		'extras together with flags: neither MSG_RING nor a NOP posts that');
	t.match(overflowUnsupported({ ...ring, restrictions: { register_ops: [], sqe_ops: [40], sqe_flags_allowed: 0, sqe_flags_required: 0 } } as Ring)
		.join('; '), /restrictions that forbid plain NOPs/, 'restrictions without NOP are refused');
	const extrasOnly = { ...ring, overflow_cqes: ring.overflow_cqes.map((c) => ({ ...c, extra1: '0', extra2: '0' })) };
	t.same(overflowUnsupported(extrasOnly), [], 'without extras everything goes through MSG_RING');
	const fdOnly = { ...ring, setup_flags: ring.setup_flags | 0xc000 };
	t.match(overflowUnsupported(fdOnly).join('; '), /3 overflow CQE\(s\) with flags on a REGISTERED_FD_ONLY ring \(first: user_data 701, flags 0x8003\)/,
		'a ring without an fd: its MSG_RING CQEs cannot be posted again');
	t.match(overflowUnsupported({ ...ring, sq: { ...ring.sq, cached_head: 1 } }).join('; '),
		/takes 2 NOPs, more than the ring's cached SQ head 1/, 'a rebuild that would need a 2^32 advance lap is refused');
	process.kill(pid, 'SIGTERM');
	await waitForExit(pid);
});

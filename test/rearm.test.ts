/*
 * In-flight requests re-armed at restore (docs/inflight.md), with
 * test/progs/cr_rearm: each request is armed before the checkpoint and,
 * once SIGUSR1 comes (after the restore, or in the original after
 * --leave-running), the program triggers every event and checks that each
 * request completes exactly once with its user_data and the right result.
 * The dump needs no option: every request is re-armable.
 */
import t from 'tap';
import { dumpAndRestore, finishVerified, scratch, startWithTruth } from './lib/criu';
import { inspectPid } from './lib/progs';
import { treeOf } from './lib/apps';

/* user_data of the requests that stay armed until the program triggers them (0xB4, a 2.5 s timeout, may fire any time) */
/* child: the program forked a child (truth child_pid), which is checkpointed with it */
interface Case { what: string; args: string[]; armed: number[]; cycles?: number; child?: boolean }
const BASIC = [0xB1, 0xB2, 0xB3, 0xB5, 0xB6];
const MORE = [0xC1, 0xC2, 0xC3, 0xD1, 0xD2, 0xD3];
/*
 * May complete any time: the 5 s LINK_TIMEOUT chain (0x121..0x123), the
 * absolute REALTIME TIMEOUT (0x143: the wall clock runs on while the
 * process is checkpointed), the SEND without POLL_FIRST (0x152: see
 * cr_rearm.c), the multishot TIMEOUTs.
 */
const CHAIN = [0x101, 0x102, 0x103, 0x111, 0x112, 0x131, 0x132];
interface Req { user_data: string; links?: Req[] }
/* every request in flight, the links of chains included */
const udsOf = (ring: { inflight: Req[] }): number[] =>
	ring.inflight.flatMap((q) => [q, ...(q.links ?? [])]).map((q) => Number(q.user_data));

const CASES: Case[] = [
	{ what: 'READ, RECV, fixed-file RECV, POLL_ADD, TIMEOUTs (plain ring)', args: ['--sets', 'basic'], armed: BASIC },
	{ what: 'READ, RECV, fixed-file RECV, POLL_ADD, TIMEOUTs (SINGLE_ISSUER|DEFER_TASKRUN)', args: ['--flags', '3000', '--sets', 'basic'], armed: BASIC },
	{ what: 'multishot POLL_ADD, RECV and READ_MULTISHOT on buffer rings, ACCEPT, multishot and direct ACCEPT (plain ring)',
		args: ['--sets', 'multishot,accept'], armed: MORE },
	{ what: 'multishot POLL_ADD, RECV and READ_MULTISHOT on buffer rings, ACCEPT, multishot and direct ACCEPT (SINGLE_ISSUER|DEFER_TASKRUN)',
		args: ['--flags', '3000', '--sets', 'multishot,accept'], armed: MORE },
	{ what: 'a count-based TIMEOUT keeps the completions it still waits for', args: ['--sets', 'count'], armed: [] },
	{ what: 'RECVMSG and multishot RECVMSG on a buffer ring (SINGLE_ISSUER|DEFER_TASKRUN)', args: ['--flags', '3000', '--sets', 'recvmsg'], armed: [0xF1, 0xF2] },
	{ what: 'linked chains: RECV -> WRITE -> NOP, POLL_ADD and RECV under LINK_TIMEOUTs, a hard link (plain ring)',
		args: ['--sets', 'chain'], armed: CHAIN },
	{ what: 'linked chains: RECV -> WRITE -> NOP, POLL_ADD and RECV under LINK_TIMEOUTs, a hard link (SINGLE_ISSUER|DEFER_TASKRUN)',
		args: ['--flags', '3000', '--sets', 'chain'], armed: CHAIN },
	{ what: 'absolute MONOTONIC, BOOTTIME and REALTIME timeouts across the time namespace, relative REALTIME, multishot timeouts',
		args: ['--sets', 'abs'], armed: [0x141, 0x142, 0x144] },
	/* the second dump is of a process in CRIU's time namespace: its offsets are part of the deadline */
	{ what: 'absolute timeouts across two checkpoints (the second dumps a process in a time namespace)',
		args: ['--sets', 'abs', '--abs-after', '40'], armed: [0x141, 0x142, 0x144], cycles: 2 },
	{ what: 'SEND with and without POLL_FIRST on full sockets, FUTEX_WAIT private and shared (SINGLE_ISSUER|DEFER_TASKRUN)',
		args: ['--flags', '3000', '--sets', 'send,futex'], armed: [0x151, 0x161, 0x162] },
	{ what: 'SEND with and without POLL_FIRST on full sockets, FUTEX_WAIT private and shared (plain ring)',
		args: ['--sets', 'send,futex'], armed: [0x151, 0x161, 0x162] },
	{ what: 'a ring waiting for a MSG_RING: POLL_ADD -> MSG_RING to another ring (plain ring)', args: ['--sets', 'msgring'], armed: [0x191, 0x193] },
	{ what: 'a ring waiting for a MSG_RING: POLL_ADD -> MSG_RING to another ring (SINGLE_ISSUER|DEFER_TASKRUN)',
		args: ['--flags', '3000', '--sets', 'msgring'], armed: [0x191, 0x193] },
	{ what: 'FUTEX_WAITV from the kernel\'s copy of its vector (plain ring)', args: ['--sets', 'waitv'], armed: [0x171] },
	{ what: 'FUTEX_WAITV from the kernel\'s copy of its vector (SINGLE_ISSUER|DEFER_TASKRUN)', args: ['--flags', '3000', '--sets', 'waitv'], armed: [0x171] },
	{ what: 'POLL_ADD with IOSQE_IO_DRAIN, alone on its ring: what is submitted after the restore still waits for it (plain ring)',
		args: ['--sets', 'drain'], armed: [0x1A1] },
	{ what: 'POLL_ADD with IOSQE_IO_DRAIN, alone on its ring: what is submitted after the restore still waits for it (SINGLE_ISSUER|DEFER_TASKRUN)',
		args: ['--flags', '3000', '--sets', 'drain'], armed: [0x1A1] },
	{ what: 'WAITID for a child of the tree (plain ring)', args: ['--sets', 'waitid'], armed: [0x181], child: true },
	{ what: 'WAITID for a child of the tree (SINGLE_ISSUER|DEFER_TASKRUN)', args: ['--flags', '3000', '--sets', 'waitid'], armed: [0x181], child: true },
	{ what: 'READ, RECV, POLL_ADD, TIMEOUTs and chains on an SQPOLL ring: its SQ thread takes them', args: ['--flags', '2', '--sets', 'basic,chain'],
		armed: [0xB1, 0xB2, 0xB3, 0xB5, 0xB6, ...CHAIN] },
	{ what: 'READ, RECV, POLL_ADD, TIMEOUTs and chains on a NO_MMAP ring (its memory is the application\'s)', args: ['--flags', '4000', '--sets', 'basic,chain'],
		armed: [0xB1, 0xB2, 0xB3, 0xB5, 0xB6, ...CHAIN] },
	/* the child's fd table has none of the requests' files: the parent, the ring's lowest-pid holder, re-arms them */
	{ what: 'READ, RECV, fixed-file RECV, POLL_ADD, TIMEOUTs on a ring shared with a child forked before their files were opened',
		args: ['--sets', 'basic', '--fork-first'], armed: BASIC },
	{ what: '19 requests on a 16-entry SQ: re-armed in batches that end where a chain ends',
		args: ['--sets', 'multishot,recvmsg,chain,send,futex'], armed: [0xC1, 0xC2, 0xC3, 0xF1, 0xF2, ...CHAIN, 0x151, 0x161, 0x162] },
];

for (const c of CASES) {
	t.test(`re-armed after dump + restore: ${c.what}`, async (t) => {
		const s = scratch(t);
		const { pid, truth } = await startWithTruth(s, 'cr_rearm', c.args);
		const pids = c.child ? [pid, truth.child_pid as number] : [pid];
		/* every ring's requests: inspect lists rings by inode, and a restore gives them new ones (the MSG_RING cases have two) */
		const heads = inspectPid(pid).rings.flatMap((r: { inflight: Req[] }) => r.inflight) as (Req & { rearm?: { ok: boolean } })[];
		const verdicts = new Map(heads.flatMap((q) => [q, ...(q.links ?? [])].map((x) => [Number(x.user_data), q.rearm?.ok])));
		t.ok(c.armed.every((ud) => verdicts.get(ud) === true), `inspect shows every waiting request as re-armable (${heads.map((q) => `${q.user_data}: ${JSON.stringify(q.rearm)}`).join(', ')})`);
		for (let i = 0; i < (c.cycles ?? 1); i++)
			if (!(await dumpAndRestore(t, s, pid, { name: `img${i}`, pids: [...new Set([...pids, ...treeOf(pid)])] }))) return;
		const after: number[] = inspectPid(pid).rings.flatMap((r: { inflight: Req[] }) => udsOf(r));
		t.ok(c.armed.every((ud) => after.includes(ud)), `the restored rings have them in flight again (${after.map((u) => u.toString(16))})`);
		await finishVerified(t, s, 'cr_rearm', pid, /verified/, 60_000);
	});
}

t.test('--leave-running leaves an IOSQE_IO_DRAIN request armed and draining in the original', async (t) => {
	const s = scratch(t);
	const { pid } = await startWithTruth(s, 'cr_rearm', ['--sets', 'drain']);
	if (!(await dumpAndRestore(t, s, pid, { dumpArgs: ['--leave-running'] }))) return;
	await finishVerified(t, s, 'cr_rearm', pid);
});

t.test('--leave-running leaves every request armed in the original', async (t) => {
	const s = scratch(t);
	const { pid } = await startWithTruth(s, 'cr_rearm', ['--sets', 'basic,multishot,accept,count,recvmsg,waitid,msgring,waitv']);
	if (!(await dumpAndRestore(t, s, pid, { dumpArgs: ['--leave-running'] }))) return;
	await finishVerified(t, s, 'cr_rearm', pid);
});

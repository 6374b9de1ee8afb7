/*
 * SENDMSG waiting for room in a full socket, re-armed at restore from the
 * header its preparation copied (docs/inflight.md), with
 * test/progs/cr_sendmsg: the program overwrites its msghdr, iovecs and
 * destination address right after submitting, so what comes back must be
 * the kernel's copies.  After the restore (or in the original after
 * --leave-running) the SENDMSG completes exactly once with its length and
 * the peer reads its bytes once, in order, after the filler (and the fd
 * it passes with SCM_RIGHTS).  A MSG_WAITALL SENDMSG that already sent
 * part of its message is refused, naming it.  A SEND to an address
 * (sendto) comes back with the kernel's copy of the address the same way.
 */
import t from 'tap';
import { criuDump, criuRestore, describeRun, finishVerified, isAlive, scratch, startWithTruth, waitForExit } from './lib/criu';
import { inspectPid } from './lib/progs';
import { unusedPort } from './lib/apps';
import type { ArmDetails } from '../src/capture/model';

const UD = 0x201;
const TCP_ARGS = ['--tcp-established', '--network-lock', 'nftables'];

interface Req { user_data: string; opcode: string; state: string; rearm?: { ok: boolean; why?: string }; arm?: ArmDetails }
interface Head extends Req { links?: Req[] }
/* the SENDMSG (or SEND), waiting or a link of the chain of what waits */
const sendmsgOf = (pid: number): Req | undefined =>
	inspectPid(pid).rings.flatMap((r: { inflight: Head[] }) => r.inflight).flatMap((q: Head) => [q, ...(q.links ?? [])])
		.find((q: Req) => Number(q.user_data) === UD);
const headOf = (pid: number): Head | undefined =>
	inspectPid(pid).rings.flatMap((r: { inflight: Head[] }) => r.inflight).find((q: Head) => (q.links ?? []).some((l) => Number(l.user_data) === UD));

interface Case { what: string; args: string[]; tcp?: boolean; leave?: boolean }
const CASES: Case[] = [
	{ what: 'unix stream, three iovecs and SCM_RIGHTS (plain ring)', args: ['--sock', 'stream'] },
	{ what: 'unix stream, three iovecs and SCM_RIGHTS (SINGLE_ISSUER|DEFER_TASKRUN)', args: ['--flags', '3000', '--sock', 'stream'] },
	{ what: 'unix datagram to an address, two iovecs and SCM_RIGHTS (plain ring)', args: ['--sock', 'dgram'] },
	{ what: 'unix datagram to an address, two iovecs and SCM_RIGHTS (SINGLE_ISSUER|DEFER_TASKRUN)', args: ['--flags', '3000', '--sock', 'dgram'] },
	{ what: 'a SEND to an address (sendto), unix datagram (plain ring)', args: ['--sock', 'dgram', '--op', 'send'] },
	{ what: 'a SEND to an address (sendto), unix datagram (SINGLE_ISSUER|DEFER_TASKRUN)', args: ['--flags', '3000', '--sock', 'dgram', '--op', 'send'] },
	{ what: 'TCP with MSG_WAITALL, restored with --tcp-established (plain ring)', args: ['--sock', 'tcp'], tcp: true },
	{ what: 'TCP with MSG_WAITALL, restored with --tcp-established (SINGLE_ISSUER|DEFER_TASKRUN)', args: ['--flags', '3000', '--sock', 'tcp'], tcp: true },
	{ what: 'unix datagram to an address on an SQPOLL ring (its SQ thread takes the re-armed SQE)', args: ['--flags', '2', '--sock', 'dgram'] },
	{ what: 'unix stream, a link of a POLL_ADD (plain ring)', args: ['--sock', 'stream', '--chain'] },
	{ what: 'unix stream, a link of a POLL_ADD (SINGLE_ISSUER|DEFER_TASKRUN)', args: ['--flags', '3000', '--sock', 'stream', '--chain'] },
	{ what: 'unix stream, --leave-running', args: ['--sock', 'stream'], leave: true },
	{ what: 'unix datagram to an address, --leave-running (SINGLE_ISSUER|DEFER_TASKRUN)', args: ['--flags', '3000', '--sock', 'dgram'], leave: true },
	{ what: 'TCP, --leave-running', args: ['--sock', 'tcp'], tcp: true, leave: true },
];

for (const c of CASES) {
	t.test(`${c.args.includes('send') ? 'SEND' : 'SENDMSG'} re-armed: ${c.what}`, async (t) => {
		const s = scratch(t);
		const args = c.tcp ? [...c.args, '--port', String(await unusedPort('tcp'))] : c.args;
		const { pid } = await startWithTruth(s, 'cr_sendmsg', args);
		const before = sendmsgOf(pid);
		t.equal(before?.opcode, c.args.includes('send') ? 'SEND' : 'SENDMSG', 'the request is in flight');
		if (c.args.includes('--chain')) {
			t.equal(before?.state, 'linked', 'it is the link of a waiting request');
			t.same(headOf(pid)?.rearm, { ok: true }, 'inspect shows the chain re-armed at restore');
		} else {
			t.equal(before?.state, 'poll', 'it waits in poll');
			t.same(before?.rearm, { ok: true }, 'inspect shows it re-armed at restore');
		}
		const send = before?.arm?.send;
		t.ok(send && send.iovs.length === (c.args.includes('send') ? 1 : send.nr_segs) && send.iovs.every((v) => Number(v.len) > 0),
			`the capture read the kernel's copy of its iovecs (${JSON.stringify(send?.iovs)})`);
		if (c.args.includes('dgram'))
			t.equal(Buffer.from(send?.name ?? '', 'hex').subarray(3).toString(), `cr_sendmsg-${pid}`, 'and of its destination address');
		else
			t.equal(send?.name, '', 'no destination address');
		const extra = [...(c.tcp ? TCP_ARGS : []), ...(c.leave ? ['--leave-running'] : [])];
		const d = await criuDump({ pid, imagesDir: s.dir('img'), plugins: true, extraArgs: extra });
		if (!t.equal(d.code, 0, describeRun('dump', d))) return;
		if (c.tcp) t.match(d.log, /TCP connection/, 'CRIU dumped the TCP connection');
		if (!c.leave) {
			await waitForExit(pid);
			const r = await criuRestore({ imagesDir: s.dir('img'), plugins: true, extraArgs: c.tcp ? TCP_ARGS : [] });
			if (!t.equal(r.code, 0, describeRun('restore', r))) return;
			t.ok(isAlive(pid), 'the restored program runs with its pid');
			/* a restored socket may have room at once (CRIU rebuilds its queue): then it has completed */
			const after = sendmsgOf(pid);
			if (after) t.same(after.arm?.send && { ...after.arm.send, segs_done: 0 }, { ...send, segs_done: 0 },
				'still waiting after the restore, from the same header: address, iovecs, control');
		} else {
			t.ok(isAlive(pid), 'the original runs on');
			t.same(sendmsgOf(pid)?.arm?.send, send, 'with its SENDMSG still armed, unchanged');
		}
		await finishVerified(t, s, 'cr_sendmsg', pid, /verified/, 60_000);
	});
}

t.test('a MSG_WAITALL SENDMSG that sent part of its message is refused, naming it', async (t) => {
	const s = scratch(t);
	const { pid } = await startWithTruth(s, 'cr_sendmsg', ['--sock', 'stream', '--partial']);
	const q = sendmsgOf(pid);
	t.match(q?.rearm?.why ?? '', /^\d+ bytes of it were already sent \(MSG_WAITALL\)$/, `inspect says why (${JSON.stringify(q?.rearm)})`);
	const d = await criuDump({ pid, imagesDir: s.dir('img'), plugins: true, env: { CRIU_URING_DRAIN_MS: '300' } });
	t.not(d.code, 0, 'the dump fails');
	t.match(d.log, new RegExp(`SENDMSG user_data ${UD}\\b[^;]*not re-armable, \\d+ bytes of it were already sent`), 'naming the SENDMSG and why');
	t.ok(isAlive(pid), 'the process runs on');
	await finishVerified(t, s, 'cr_sendmsg', pid, /verified/, 60_000); /* the whole MiB, once, and its result */
});

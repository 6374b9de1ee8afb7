/*
 * A TCP echo server on io_uring (test/progs/cr_tcpserver: a multishot
 * ACCEPT, a multishot RECV per connection on a provided-buffer ring, SENDs
 * for the replies) checkpointed with its clients connected.  The clients
 * live in this test process; the server's connected sockets are dumped
 * and restored by CRIU's --tcp-established (connections locked with
 * nftables: --network-lock nftables, docs/inflight.md).  Every request
 * the server had armed must come back armed: the same connections and
 * new ones keep echoing, every sequence number exactly once and in order
 * (the server checks its input, the clients their echoes), no -ECANCELED
 * (the server exits on any unexpected CQE), and no multishot request ends
 * (the server counts each one it has to arm again: "rearms" must stay 0).
 *
 * Data sent while the server could not run must arrive after the restore:
 *  - while it is stopped (SIGSTOP) before the dump: the data waits in its
 *    socket queue, which CRIU dumps and restores (the RECVs' poll wakeups
 *    never ran), and the re-armed RECVs find it at once;
 *  - while it is frozen, after everything was dumped (CRIU's post-dump
 *    action script): the network lock drops it and the client's TCP
 *    retransmits it to the restored server;
 *  - after the dump, before the restore (the lock is still in place).
 */
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { EchoClient } from './lib/echo-client';
import { criuDump, criuRestore, describeRun, isAlive, scratch, sleep, startWithTruth, waitFor, waitForExit } from './lib/criu';
import type { Scratch } from './lib/criu';
import { inspectPid } from './lib/progs';
import { unusedPort } from './lib/apps';
import type { RingState } from '../src/capture/model';
import { pbufRefusals } from '../src/restore/concerns/pbuf';
import { kernelFeatures } from '../src/uring/features';

const TCP_ARGS = ['--tcp-established', '--network-lock', 'nftables'];
const RECV = 3;
const ACCEPT = 2;

function procState(pid: number): string {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
		return stat.slice(stat.lastIndexOf(')') + 2)[0];
	} catch {
		return '';
	}
}

/* CRIU's post-dump action script: tell the test the tree is dumped and still frozen, wait (30 s at most) until it sent */
function postDumpScript(s: Scratch): string {
	const script = s.file('post-dump.sh');
	writeFileSync(script, `#!/bin/sh
[ "$CRTOOLS_SCRIPT_ACTION" = post-dump ] || exit 0
touch '${s.file('frozen')}'
i=0
while [ ! -e '${s.file('sent')}' ] && [ $i -lt 1500 ]; do sleep 0.02; i=$((i + 1)); done
exit 0
`, { mode: 0o755 });
	return script;
}

async function connectAll(port: number, n: number, prefix: string): Promise<EchoClient[]> {
	const out: EchoClient[] = [];
	for (let i = 0; i < n; i++) out.push(await EchoClient.connect(port, `${prefix}${i}`));
	return out;
}

/*
 * stopped: data sent while the server is stopped before the dump.  On a
 * plain ring the plugin posts those completions before its capture (they
 * take buffers from the buffer ring, whose head the restore then moves
 * with bundle RECVs: this server's SQ head is too small for one request
 * per buffer); on a DEFER_TASKRUN ring the data stays in the socket queue.
 */
interface Case { what: string; flags?: string; leaveRunning?: boolean; stopped?: boolean }
const CASES: Case[] = [
	{ what: 'plain ring' },
	{ what: 'plain ring, data sent while it was stopped', stopped: true },
	{ what: 'SINGLE_ISSUER|DEFER_TASKRUN ring, data sent while it was stopped', flags: '3000', stopped: true },
	{ what: 'plain ring, --leave-running: the original keeps serving', leaveRunning: true, stopped: true },
	{ what: 'SINGLE_ISSUER|DEFER_TASKRUN ring, --leave-running', flags: '3000', leaveRunning: true, stopped: true },
];

for (const c of CASES) {
	t.test(`TCP echo server with connected clients: ${c.what}`, async (t) => {
		const s = scratch(t);
		const clients: EchoClient[] = [];
		t.teardown(() => clients.forEach((cl) => cl.destroy()));
		const { pid, truth } = await startWithTruth(s, 'cr_tcpserver', [...(c.flags ? ['--flags', c.flags] : []), '--port', String(await unusedPort('tcp'))]);
		const port = truth.port as number;

		clients.push(...await connectAll(port, 6, 'client '));
		await Promise.all(clients.map((cl) => cl.exchange(50)));
		let st = await clients[0].stats();
		t.same([st.accepted, st.open, st.msgs, st.rearms], [6, 6, 300, 0], 'before the checkpoint: 6 connections, 300 echoes');

		/* the multishot ACCEPT and one multishot RECV per connection, each re-armable */
		const ring = inspectPid(pid).rings[0];
		const armed = ring.inflight as { user_data: string; opcode: string; rearm?: { ok: boolean } }[];
		t.equal(armed.filter((q) => Number(q.user_data) === ACCEPT).length, 1, 'the multishot ACCEPT is in flight');
		t.equal(armed.filter((q) => (Number(q.user_data) & 7) === RECV).length, 6, 'a RECV per connection is in flight');
		t.ok(armed.every((q) => q.rearm?.ok === true), 'inspect shows every one as re-armed at restore');

		/* stopped: data waits in the socket queues of clients 0 and 1 */
		if (c.stopped) {
			process.kill(pid, 'SIGSTOP');
			await waitFor(() => procState(pid) === 'T', 'the server to stop');
			clients[0].send(5);
			clients[1].send(3);
		}

		const img = s.dir('img');
		const script = postDumpScript(s);
		const dumping = criuDump({ pid, imagesDir: img, plugins: true,
			extraArgs: [...TCP_ARGS, '--action-script', script, ...(c.leaveRunning ? ['--leave-running'] : [])] });
		/* frozen and dumped, the network locked: clients 2 and 3 send */
		await waitFor(() => existsSync(s.file('frozen')) || !isAlive(pid), 'the post-dump action script', 60_000);
		t.ok(existsSync(s.file('frozen')), 'the post-dump action script ran');
		clients[2].send(4);
		clients[3].send(2);
		writeFileSync(s.file('sent'), '');
		const d = await dumping;
		if (!t.equal(d.code, 0, describeRun('dump', d))) return;
		t.match(d.log, /TCP connection/, 'CRIU dumped the TCP connections');

		if (!c.leaveRunning) {
			await waitForExit(pid);
			/* dumped, not yet restored: client 4 sends */
			clients[4].send(6);
			const r = await criuRestore({ imagesDir: img, plugins: true, extraArgs: TCP_ARGS });
			if (!t.equal(r.code, 0, describeRun('restore', r))) return;
			t.ok(isAlive(pid), 'the server runs again with its pid');
			const after = inspectPid(pid).rings[0].inflight as { user_data: string }[];
			const uds = after.map((q) => Number(q.user_data));
			t.ok(uds.includes(ACCEPT) && uds.filter((u) => (u & 7) === RECV).length === 6,
				`the restored ring has the ACCEPT and 6 RECVs in flight (${uds.join(' ')})`);
		} else {
			t.ok(isAlive(pid), 'the original runs on');
			clients[4].send(6);
		}
		/* CRIU gives the task back as it found it: stopped */
		if (c.stopped) process.kill(pid, 'SIGCONT');

		/* what was sent while the server could not run arrives, in order, once */
		await Promise.all(clients.map((cl) => cl.echoes(60_000)));
		t.pass('everything sent while the server was stopped, frozen or dumped was echoed');
		/* the same connections and new ones keep echoing */
		await Promise.all(clients.map((cl) => cl.exchange(50)));
		const fresh = await connectAll(port, 4, 'new client ');
		clients.push(...fresh);
		await Promise.all(clients.map((cl) => cl.exchange(20)));
		clients[5].close();
		const total = clients.reduce((n, cl) => n + cl.sent, 0);
		st = await clients[0].stats();
		/* the server sees the EOF when it sees it */
		for (let i = 0; i < 600 && st.closed !== 1; i++) {
			await sleep(50);
			st = await clients[0].stats();
		}
		t.same({ accepted: st.accepted, open: st.open, closed: st.closed, msgs: st.msgs, rearms: st.rearms },
			{ accepted: 10, open: 9, closed: 1, msgs: total, rearms: 0 },
			'every message echoed exactly once; no multishot request ended; the new connections were accepted');
		await clients[0].quit();
		await waitForExit(pid, 30_000);
		t.equal(s.stderrOf('cr_tcpserver'), '', 'the server found nothing wrong');
		t.match(readFileSync(s.file('cr_tcpserver.out'), 'utf8'), /^verified: accepted 10, closed 1, messages \d+, re-armed by the server 0/m,
			'the server verified itself');
	});
}


/*
 * The dump-time verdict on a buffer ring whose head needs more requests
 * than the SQ index leaves beside the re-armed ones (a multishot RECV
 * server): moved by bundle RECVs where the kernel has them, refused with
 * the reason where it does not (Linux before 6.10), and refused for a
 * kernel-allocated ring either way.
 */
t.test('buffer ring heads past the SQ budget: bundles, or a refusal that says why', async (t) => {
	const ring = (head: number, mmap = false): RingState => ({
		setup_flags: 0, mappings: [], sq: { cached_head: 20 }, cq: { cached_tail: 40 },
		provided_buffers: [{ bgid: 1, kind: 'ring', entries: 1024, addr: mmap ? null : '140000000000', mmap, head, tail: head + 1024, inc: false }],
	}) as unknown as RingState;
	const f = kernelFeatures();
	const saved = f.recv_bundle;
	try {
		f.recv_bundle = true;
		t.same(pbufRefusals(ring(10), 10), [], 'a head that fits one request per buffer');
		t.same(pbufRefusals(ring(30), 11), [], 'a head of 30 with 11 re-armed requests and an SQ head of 20: one bundle RECV');
		t.match(pbufRefusals(ring(30, true), 11).join(), /provided buffers that take 30 requests to restore and 11 re-armed/,
			'a kernel-allocated buffer ring is refused');
		f.recv_bundle = false;
		t.match(pbufRefusals(ring(30), 11).join(), /provided buffers that take 30 requests to restore and 11 re-armed request\(s\), more than the ring's SQ head 20/,
			'without bundles: refused, naming the requests and the SQ head');
	} finally {
		f.recv_bundle = saved;
	}
});

/*
 * A TCP server on a plain io_uring ring (no DEFER_TASKRUN) checkpointed
 * while its clients send all the time, in the host's network namespace.
 *
 * Each incoming segment wakes an armed RECV whose task work runs the next
 * time the frozen thread returns to user space (CRIU's parasite): a
 * completion after the plugin's capture that no image holds.  The plugin
 * catches that at DUMP_DEVICES_LATE and abandons the dump rather than
 * lose the data (docs/inflight.md), so before CRIU patch 0006 every dump
 * of such a server failed: CRIU locked each connection only when it
 * dumped its socket, long after the capture.  With 0006 the tree's TCP
 * connections are locked right after the freeze, before the plugins
 * checkpoint devices, and the segments that arrive from then on are
 * dropped and retransmitted by the client's TCP once the server runs
 * again.
 *
 * Required here: every dump succeeds while 4 clients send a line every
 * few milliseconds (three --leave-running dumps with CRIU's default
 * iptables lock, then a dump with the nftables lock and a restore), and
 * every line is echoed exactly once, in order (the clients check their
 * echoes, the server its input).
 *
 * UDP is not locked by CRIU in the host's namespace, and needs no lock:
 * CRIU keeps no datagram queue, so a datagram that completes a receive
 * after the capture is one the images do not have, like any datagram
 * queued at the dump (src/plugin/datagrams.ts).  liburing's io_uring-udp
 * (a multishot RECVMSG on a buffer ring, on a registered socket) must be
 * dumped while a client sends it a datagram every 2 ms.
 */
import t from 'tap';
import type { Test } from 'tap';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../src/util/paths';
import { EchoClient } from './lib/echo-client';
import { criuDump, criuRestore, describeRun, isAlive, scratch, sleep, startWithTruth, waitFor, waitForExit } from './lib/criu';
import { checkpointRestore, readText, startApp, unusedPort } from './lib/apps';

const CLIENTS = 4;
const EVERY_MS = 3;

/* Every client sends one line every EVERY_MS until stopped; returns the stop function. */
function stream(clients: EchoClient[]): () => void {
	const timer = setInterval(() => clients.forEach((c) => c.send(1)), EVERY_MS);
	return () => clearInterval(timer);
}

/*
 * Echoes keep coming: the connections are unlocked and the server serves
 * (after a --leave-running dump, after the restore).  Segments dropped by
 * the lock come back with TCP's retransmission backoff (200 ms and up).
 */
async function echoesFlow(t: Test, clients: EchoClient[], what: string): Promise<void> {
	const before = clients.map((c) => c.echoed);
	const flowing = (): boolean => clients.every((c, i) => c.echoed > before[i]);
	const deadline = Date.now() + 20_000;
	while (!flowing() && Date.now() < deadline) {
		await Promise.race([Promise.all(clients.map((c) => c.echoes(100).catch(() => {}))), sleep(100)]);
	}
	t.ok(flowing(), `${what}: every client gets echoes`);
}

for (const lock of ['iptables', 'nftables']) {
	t.test(`plain ring, clients sending every ${EVERY_MS} ms: --leave-running dumps and a dump + restore (${lock} lock)`, async (t) => {
		const s = scratch(t);
		const clients: EchoClient[] = [];
		let stop = (): void => {};
		t.teardown(() => { stop(); clients.forEach((c) => c.destroy()); });
		const { pid, truth } = await startWithTruth(s, 'cr_tcpserver', ['--port', String(await unusedPort('tcp'))]);
		for (let i = 0; i < CLIENTS; i++) clients.push(await EchoClient.connect(truth.port as number, `client ${i}`));
		await Promise.all(clients.map((c) => c.exchange(20)));

		const args = ['--tcp-established', '--network-lock', lock];
		stop = stream(clients);
		await sleep(100);
		for (let i = 0; i < 3; i++) {
			const d = await criuDump({ pid, imagesDir: s.dir(`img-${i}`), plugins: true, extraArgs: [...args, '--leave-running'] });
			if (!t.equal(d.code, 0, `--leave-running dump ${i + 1} under steady traffic: ${describeRun('dump', d)}`)) return;
			t.ok(isAlive(pid), 'the server runs on');
			await echoesFlow(t, clients, `after dump ${i + 1}`);
		}

		const d = await criuDump({ pid, imagesDir: s.dir('img'), plugins: true, extraArgs: args });
		if (!t.equal(d.code, 0, `dump under steady traffic: ${describeRun('dump', d)}`)) return;
		await waitForExit(pid);
		const r = await criuRestore({ imagesDir: s.dir('img'), plugins: true, extraArgs: args });
		if (!t.equal(r.code, 0, describeRun('restore', r))) return;
		await echoesFlow(t, clients, 'after the restore');
		stop();

		await Promise.all(clients.map((c) => c.echoes(60_000)));
		const total = clients.reduce((n, c) => n + c.sent, 0);
		const st = await clients[0].stats();
		t.same([st.accepted, st.open, st.msgs, st.rearms], [CLIENTS, CLIENTS, total, 0],
			`all ${total} lines echoed exactly once, in order; no multishot request ended`);
		await clients[0].quit();
		await waitForExit(pid, 30_000);
		t.equal(s.stderrOf('cr_tcpserver'), '', 'the server found nothing wrong');
		t.match(readFileSync(s.file('cr_tcpserver.out'), 'utf8'), /^verified: /m, 'the server verified itself');
	});
}

/*
 * Locking before the capture also lets CRIU's nftables lock serve many
 * connections: it used to lock each one after dup()ing its socket, and
 * libnftables aborted CRIU (`*** bit out of range 0 - FD_SETSIZE on
 * fd_set ***`) once its netlink socket's fd passed 1023, about 250
 * connections here.  Now every connection is locked before any is dup()ed.
 */
t.test('600 connections with the nftables lock: dump + restore, every connection echoes', async (t) => {
	const N = 600;
	const s = scratch(t);
	const clients: EchoClient[] = [];
	t.teardown(() => clients.forEach((c) => c.destroy()));
	const { pid, truth } = await startWithTruth(s, 'cr_tcpserver', ['--port', String(await unusedPort('tcp'))]);
	for (let i = 0; i < N; i++) clients.push(await EchoClient.connect(truth.port as number, `client ${i}`));
	await Promise.all(clients.map((c) => c.exchange(1)));
	const args = ['--tcp-established', '--network-lock', 'nftables'];
	const d = await criuDump({ pid, imagesDir: s.dir('img'), plugins: true, extraArgs: args, timeoutMs: 120_000 });
	if (!t.equal(d.code, 0, describeRun('dump', d))) return;
	await waitForExit(pid);
	const r = await criuRestore({ imagesDir: s.dir('img'), plugins: true, extraArgs: args, timeoutMs: 120_000 });
	if (!t.equal(r.code, 0, describeRun('restore', r))) return;
	await Promise.all(clients.map((c) => c.exchange(1, 60_000)));
	const st = await clients[0].stats();
	t.same([st.accepted, st.open, st.msgs], [N, N, 2 * N], `all ${N} connections echo after the restore, each message once`);
	await clients[0].quit();
	await waitForExit(pid, 30_000);
	t.equal(s.stderrOf('cr_tcpserver'), '', 'the server found nothing wrong');
});

/* Send a datagram to 127.0.0.1:@port every 2 ms; count the echoes.  Returns the counts and the stop function. */
async function udpFlood(port: number): Promise<{ sent: () => number; echoed: () => number; stop: () => void }> {
	const sock = createSocket('udp4');
	let sent = 0, echoed = 0;
	sock.on('message', () => echoed++);
	await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
	const timer = setInterval(() => sock.send(`datagram ${sent++}`, port, '127.0.0.1'), 2);
	let open = true;
	const stop = (): void => {
		clearInterval(timer);
		if (open) sock.close();
		open = false;
	};
	return { sent: () => sent, echoed: () => echoed, stop };
}

const UDP_EXAMPLE = path.join(ROOT, 'build', 'liburing-examples', 'io_uring-udp');

t.test('io_uring-udp receiving a datagram every 2 ms: --leave-running dumps and a dump + restore', async (t) => {
	if (!existsSync(UDP_EXAMPLE)) {
		t.fail(`${UDP_EXAMPLE} not built (scripts/fetch-liburing-examples.sh)`);
		return;
	}
	const s = scratch(t);
	const port = await unusedPort('udp');
	const app = startApp(t, s, UDP_EXAMPLE, ['-p', String(port)], 'io_uring-udp');
	const local = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
	await waitFor(() => readText('/proc/net/udp').includes(local) || app.status() !== undefined, 'io_uring-udp to bind');
	const flood = await udpFlood(port);
	t.teardown(() => flood.stop());
	await waitFor(() => flood.echoed() > 50, 'the first echoes');

	for (let i = 0; i < 3; i++) {
		const before = flood.echoed();
		const d = await criuDump({ pid: app.pid, imagesDir: s.dir(`img-${i}`), plugins: true, extraArgs: ['--leave-running'] });
		if (!t.equal(d.code, 0, `--leave-running dump ${i + 1} under steady datagrams: ${describeRun('dump', d)}`)) return;
		await waitFor(() => flood.echoed() > before + 50, 'echoes after the dump');
	}
	const cr = await checkpointRestore(app, s.dir('img'));
	if (!t.notOk(cr.problem, cr.problem ?? 'dumped and restored under steady datagrams')) return;
	const after = flood.echoed();
	await waitFor(() => flood.echoed() > after + 50, 'echoes after the restore', 20_000);
	t.pass('the restored server echoes');
	flood.stop();
	t.ok(isAlive(app.pid), 'io_uring-udp is still running');
	t.notMatch(readText(app.err), /bad res|error/i, 'it reported no failed completion');
	t.comment(`datagrams sent ${flood.sent()}, echoed ${flood.echoed()} (UDP: those queued at the final dump are dropped)`);
});

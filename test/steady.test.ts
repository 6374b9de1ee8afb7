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
 */
import t from 'tap';
import type { Test } from 'tap';
import { readFileSync } from 'node:fs';
import { EchoClient } from './lib/echo-client';
import { criuDump, criuRestore, describeRun, isAlive, scratch, sleep, startWithTruth, waitForExit } from './lib/criu';
import { unusedPort } from './lib/apps';

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

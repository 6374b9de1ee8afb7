/*
 * liburing's own example programs (Debian's liburing source package, built
 * by scripts/fetch-liburing-examples.sh into build/liburing-examples/):
 *
 *  - io_uring-cp and link-cp copy a 2 GiB file; checkpointed mid-copy and
 *    restored, the copy must finish byte-identical with exit status 0.
 *  - ucontext-cp always has a 1 s IORING_OP_TIMEOUT in flight: the dump
 *    records it, the restore re-arms it with the time it had left, and the
 *    copy completes correctly (also with CRIU_URING_CANCEL_INFLIGHT=1,
 *    which cancels nothing re-armable).
 *  - io_uring-udp (provided-buffer ring + multishot recvmsg on a fixed
 *    file): checkpointed and restored, its receive re-armed, it keeps
 *    echoing without an error (also with CRIU_URING_CANCEL_INFLIGHT=1).
 */
import t, { type Test } from 'tap';
import { createSocket } from 'node:dgram';
import { createReadStream, existsSync, statSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { isAlive, scratch, sleep, waitFor } from '../lib/criu';
import { checkpointRestore, keepLogs, unusedPort, readText, ringFds, ringSummary, sawEintr, startApp, uringErrors } from '../lib/apps';
import { ROOT } from '../../src/util/paths';
import { exclusive } from '../lib/exclusive';

exclusive(t); /* a stress or podman file: never next to another one (test/lib/exclusive.ts) */

const EXAMPLES = path.join(ROOT, 'build', 'liburing-examples');
const example = (name: string): string => path.join(EXAMPLES, name);

function sha256(file: string): Promise<string> {
	return new Promise((resolve, reject) => {
		const h = createHash('sha256');
		createReadStream(file).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
	});
}

/* 2 GiB of random data, written in 64 MiB pieces. */
function makeBigFile(file: string, mib: number): void {
	const piece = randomBytes(64 << 20);
	writeFileSync(file, '');
	for (let i = 0; i < mib / 64; i++) {
		piece.writeUInt32LE(i, 0); /* no two pieces alike */
		writeFileSync(file, piece, { flag: 'a' });
	}
}

async function copyCase(t: Test, prog: string): Promise<void> {
	const s = scratch(t);
	const src = s.file('src.bin');
	const dst = s.file('dst.bin');
	const MIB = 2048;
	makeBigFile(src, MIB);
	const want = await sha256(src);
	const app = startApp(t, s, example(prog), [src, dst], prog);
	/* checkpoint once a tenth is copied: well inside the copy */
	await waitFor(() => (existsSync(dst) && statSync(dst).size > (MIB * 1024 * 1024) / 10) || app.status() !== undefined,
		`${prog} to copy 10%`, 30_000);
	t.equal(app.status(), undefined, `${prog} is still copying at the checkpoint`);
	t.ok(ringFds(app.pid) >= 1, `${prog} holds its ring`);
	const cr = await checkpointRestore(app, s.dir('img'));
	if (cr.problem) {
		t.fail(cr.problem);
		const why = uringErrors((cr.restore ?? cr.dump).log);
		if (why.length) t.comment(`plugin said: ${why.join(' | ')}`);
		t.comment(`logs kept in ${keepLogs(prog, cr)}.*`);
		return;
	}
	t.pass(`checkpointed mid-copy and restored pid ${app.pid}`);
	let status: number;
	try {
		status = await app.exitStatus(120_000);
	} catch (e) {
		t.fail(`${(e as Error).message}; rings now: ${ringSummary(app.pid).join('; ')}; logs kept in ${keepLogs(prog, cr)}.*`);
		return;
	}
	const output = (readText(app.out) + readText(app.err)).trim().slice(0, 300);
	/* plugin-c/eintr.c re-issues waits the freeze interrupted: an EINTR here is a regression */
	const eintr = status !== 0 && sawEintr(app) ? ' (died of an EINTR the freeze caused)' : '';
	t.equal(status, 0, `${prog} exited 0${eintr} (output: ${output})`);
	t.equal(statSync(dst).size, MIB * 1024 * 1024, 'the copy has the full size');
	t.equal(await sha256(dst), want, 'the copy is byte-identical');
}

/*
 * Checkpoint and restore ucontext-cp mid-copy (up to 3 times, until a
 * checkpoint catches a timeout in flight: between a timeout's completion
 * and the next submission there is none) and check that the restore
 * re-armed it; the copy must then finish byte-identical.
 */
async function ucontextCase(t: Test, env: Record<string, string> = {}): Promise<void> {
	const s = scratch(t);
	const src = s.file('src.bin');
	const dst = s.file('dst.bin');
	/* 1 KiB per block, a 1 s timeout after each: about 12 s, room for up to three checkpoints */
	writeFileSync(src, randomBytes(12 * 1024));
	const app = startApp(t, s, example('ucontext-cp'), [src, dst], 'ucontext-cp');
	await waitFor(() => ringFds(app.pid) >= 1 || app.status() !== undefined, 'ucontext-cp to set up its ring');
	await sleep(1200);
	t.equal(app.status(), undefined, 'ucontext-cp is still copying at the checkpoint');
	const rearmed = (log: string | undefined): boolean => /re-arm \d+ in-flight/.test(log ?? '');
	let cr = await checkpointRestore(app, s.dir('img1'), [], [], env);
	for (let i = 2; i <= 3 && !cr.problem && !rearmed(cr.restore?.log) && app.status() === undefined; i++) {
		t.comment(`checkpoint ${i - 1} caught ucontext-cp between two timeouts (nothing to re-arm); checkpointing again`);
		cr = await checkpointRestore(app, s.dir(`img${i}`), [], [], env);
	}
	if (!t.notOk(cr.problem, cr.problem ?? 'checkpointed and restored')) return;
	t.ok(rearmed(cr.restore?.log), 'the restore re-armed the pending TIMEOUT');
	t.notMatch(cr.dump.log, /cancel TIMEOUT/, 'nothing was cancelled');
	const status = await app.exitStatus(60_000);
	t.equal(status, 0, `ucontext-cp exited 0 (output: ${(readText(app.out) + readText(app.err)).trim().slice(0, 300)})`);
	t.equal(await sha256(dst), await sha256(src), 'the copy is byte-identical');
}

/* Send @n datagrams to 127.0.0.1:@port and count the echoes that match. */
async function echoes(port: number, n: number): Promise<number> {
	const sock = createSocket('udp4');
	const seen = new Set<string>();
	sock.on('message', (m) => seen.add(m.toString()));
	await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
	try {
		for (let i = 0; i < n; i++) {
			const msg = `echo-${i}-${randomBytes(4).toString('hex')}`;
			sock.send(msg, port, '127.0.0.1');
			await waitFor(() => seen.has(msg), `echo of datagram ${i}`, 2000).catch(() => undefined);
		}
	} finally {
		sock.close();
	}
	return seen.size;
}

/*
 * io_uring-udp keeps a multishot RECVMSG armed on a buffer ring: the
 * restore re-arms it, and the server echoes after the restore as before,
 * without an error on its stderr.  The cancel option cancels nothing
 * re-armable.
 */
async function udpCase(t: Test, env: Record<string, string> = {}): Promise<void> {
	const s = scratch(t);
	const port = await unusedPort('udp');
	const app = startApp(t, s, example('io_uring-udp'), ['-p', String(port)], 'io_uring-udp');
	/* it says nothing once bound to a port it was given: /proc/net/udp does */
	const local = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
	await waitFor(() => readText('/proc/net/udp').includes(local) || app.status() !== undefined, 'io_uring-udp to bind');
	t.ok(readText('/proc/net/udp').includes(local), `io_uring-udp listens on 127.0.0.1:${port}`);
	t.equal(await echoes(port, 20), 20, 'it echoes 20/20 datagrams before the checkpoint');
	const cr = await checkpointRestore(app, s.dir('img'), [], [], env);
	if (!t.notOk(cr.problem, cr.problem ?? 'checkpointed and restored')) return;
	t.match(cr.restore?.log ?? '', /re-arm \d+ in-flight/, 'the restore re-armed its receive');
	t.notMatch(cr.dump.log, /cancel RECVMSG/, 'nothing was cancelled');
	t.equal(await echoes(port, 20), 20, 'it echoes 20/20 datagrams after the restore');
	t.ok(isAlive(app.pid), 'the server is still running');
	t.notMatch(readText(app.err), /bad res|error/i, 'it reported no failed completion');
}


const missing = ['io_uring-cp', 'link-cp', 'ucontext-cp', 'io_uring-udp'].filter((e) => !existsSync(example(e)));
if (missing.length) {
	t.test('liburing examples', { skip: `${missing.join(', ')} not built (scripts/fetch-liburing-examples.sh)` }, () => undefined);
} else if (process.getuid?.() !== 0) {
	t.test('liburing examples', { skip: 'CRIU needs root' }, () => undefined);
} else {
	t.test('io_uring-cp: checkpoint mid-copy of 2 GiB, restore, identical copy', (t) => copyCase(t, 'io_uring-cp'));
	t.test('link-cp: checkpoint mid-copy of 2 GiB, restore, identical copy', (t) => copyCase(t, 'link-cp'));
	t.test('ucontext-cp: its pending 1 s timeout is re-armed at restore; the copy completes', (t) => ucontextCase(t));
	t.test('io_uring-udp: its multishot recvmsg on a buffer ring is re-armed; it keeps echoing', (t) => udpCase(t));
	t.test('ucontext-cp with CRIU_URING_CANCEL_INFLIGHT=1: the re-armable timeout is not cancelled', (t) => ucontextCase(t, { CRIU_URING_CANCEL_INFLIGHT: '1' }));
	t.test('io_uring-udp with CRIU_URING_CANCEL_INFLIGHT=1: the re-armable receive is not cancelled', (t) => udpCase(t, { CRIU_URING_CANCEL_INFLIGHT: '1' }));
}

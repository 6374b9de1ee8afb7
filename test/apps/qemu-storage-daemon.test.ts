/*
 * qemu-storage-daemon (Debian's QEMU 7.2) exporting a raw disk over NBD
 * from an iothread, with the image read and written through io_uring
 * (`aio=io_uring`: one ring for the main loop's AioContext, one for the
 * iothread's, which serves the NBD requests).  A qemu-io client stays
 * connected over TCP on 127.0.0.1 while the daemon is checkpointed and
 * restored (CRIU's --tcp-established); the same client then reads back
 * what it wrote before, writes and reads new data, through the restored
 * iothread ring, and the image file holds it all.
 *
 * The client stays connected to the end: QEMU 7.2 aborts when an NBD
 * client of an iothread export disconnects (blockdev-nbd.c:62, assertion
 * `qemu_in_main_thread() && nbd_server'), with or without a checkpoint.
 */
import t from 'tap';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { openSync, readSync, closeSync } from 'node:fs';
import { scratch, waitFor } from '../lib/criu';
import { checkpointRestore, keepLogs, unusedPort, locksOnFile, readText, ringFds, runCmd, startApp, submittedTotal, uringErrors, which } from '../lib/apps';
import { exclusive } from '../lib/exclusive';

exclusive(t); /* a stress or podman file: never next to another one (test/lib/exclusive.ts) */

const QSD = which('qemu-storage-daemon');
const QEMU_IO = which('qemu-io');
const QEMU_IMG = which('qemu-img');
const ARGS = ['--tcp-established', '--network-lock', 'nftables', '--file-locks'];
const MiB = 1024 * 1024;

/* qemu-io reading commands from a pipe: one command, its output up to the line with the rate (or an error). */
class QemuIo {
	private out = '';
	private wake: (() => void) | undefined;
	constructor(readonly proc: ChildProcessWithoutNullStreams) {
		const take = (d: Buffer): void => { this.out += d.toString(); this.wake?.(); };
		proc.stdout.on('data', take);
		proc.stderr.on('data', take);
		proc.on('exit', () => this.wake?.());
	}

	async run(cmd: string, timeoutMs = 60_000): Promise<string> {
		this.out = '';
		this.proc.stdin.write(`${cmd}\n`);
		const deadline = Date.now() + timeoutMs;
		while (!/ops\/sec|failed|error/i.test(this.out)) {
			if (this.proc.exitCode !== null) return `${this.out}\n(qemu-io exited ${this.proc.exitCode})`;
			if (Date.now() > deadline) return `${this.out}\n(no answer within ${timeoutMs} ms)`;
			await new Promise<void>((r) => { const tm = setTimeout(r, 200); this.wake = () => { clearTimeout(tm); r(); }; });
		}
		return this.out;
	}
}

/* Whether @len bytes of @file at @off are all @byte. */
function fileHolds(file: string, off: number, len: number, byte: number): boolean {
	const fd = openSync(file, 'r');
	try {
		const b = Buffer.alloc(len);
		readSync(fd, b, 0, len, off);
		return b.every((x) => x === byte);
	} finally {
		closeSync(fd);
	}
}

const missing = [['qemu-storage-daemon', QSD], ['qemu-io', QEMU_IO], ['qemu-img', QEMU_IMG]].filter(([, p]) => !p).map(([n]) => n);
if (missing.length) {
	t.test('qemu-storage-daemon', { skip: `${missing.join(', ')} not installed (scripts/install-deps.sh installs qemu-utils and qemu-system-common)` }, () => undefined);
} else {
	t.test('qemu-storage-daemon, NBD export in an iothread, aio=io_uring: a connected client across a checkpoint', async (t) => {
		const s = scratch(t);
		const disk = s.file('disk.raw');
		const c = await runCmd(QEMU_IMG!, ['create', '-f', 'raw', disk, '64M'], s.root);
		if (!t.equal(c.code, 0, `qemu-img create ${c.out.trim()}`)) return;
		const port = await unusedPort('tcp');
		const app = startApp(t, s, QSD!, [
			'--blockdev', `driver=file,filename=${disk},aio=io_uring,node-name=file0`,
			'--blockdev', 'driver=raw,file=file0,node-name=disk',
			'--object', 'iothread,id=io0',
			'--nbd-server', `addr.type=inet,addr.host=127.0.0.1,addr.port=${port}`,
			'--export', 'type=nbd,id=exp0,node-name=disk,name=disk,writable=on,iothread=io0',
		], 'qemu-storage-daemon');
		const listening = (): boolean => readText(`/proc/net/tcp`).includes(`:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A`);
		await waitFor(() => listening() || app.status() !== undefined, 'qemu-storage-daemon to listen', 20_000);
		if (app.status() !== undefined) return void t.fail(`qemu-storage-daemon exited ${app.status()}: ${readText(app.err).trim()}`);
		t.ok(ringFds(app.pid) >= 2, `qemu-storage-daemon holds a ring per AioContext (${ringFds(app.pid)} ring fds)`);

		const proc = spawn(QEMU_IO!, ['-f', 'raw', `nbd://127.0.0.1:${port}/disk`], { cwd: s.root });
		t.teardown(() => { proc.kill('SIGKILL'); });
		const io = new QemuIo(proc);
		const ok = (out: string, what: string): boolean => t.ok(/(wrote|read) \d+\/\d+ bytes/.test(out) && !/fail|error/i.test(out), `${what}: ${out.trim().split('\n').slice(-2).join(' ')}`);

		const before = submittedTotal(app.pid);
		ok(await io.run('write -P 0x31 0 4M'), 'before the checkpoint: write 4M');
		ok(await io.run('write -P 0x32 5M 1M'), 'before the checkpoint: write 1M');
		ok(await io.run('read -P 0x31 0 4M'), 'before the checkpoint: read back');
		const mid = submittedTotal(app.pid);
		t.ok(mid > before, `the daemon served them through io_uring (ring SQ heads ${before} -> ${mid})`);

		const locks = locksOnFile(disk).length;
		const cr = await checkpointRestore(app, s.dir('img'), ARGS, ARGS);
		if (cr.problem) {
			t.fail(`checkpoint: ${cr.problem}`);
			const why = uringErrors((cr.restore ?? cr.dump).log);
			if (why.length) t.comment(`plugin said: ${why.join(' | ')}`);
			t.comment(`logs kept in ${keepLogs('qemu-storage-daemon', cr)}.*`);
			return;
		}
		t.pass(`dumped and restored qemu-storage-daemon (wrapper pid ${app.pid}) with the client connected`);
		t.equal(locksOnFile(disk).length, locks, `its ${locks} lock(s) on the image are back`);
		t.ok(ringFds(app.pid) >= 2, 'the restored daemon has its rings');

		const restored = submittedTotal(app.pid);
		ok(await io.run('read -P 0x31 0 4M'), 'after the restore: the same client reads back the first write');
		ok(await io.run('read -P 0x32 5M 1M'), 'after the restore: and the second');
		ok(await io.run('write -P 0x33 8M 4M'), 'after the restore: writes');
		ok(await io.run('read -P 0x33 8M 4M'), 'after the restore: reads that back');
		const after = submittedTotal(app.pid);
		t.ok(after > restored, `through the restored rings (SQ heads ${restored} -> ${after})`);
		t.ok(fileHolds(disk, 0, 4 * MiB, 0x31) && fileHolds(disk, 5 * MiB, MiB, 0x32) && fileHolds(disk, 8 * MiB, 4 * MiB, 0x33),
			'the image file holds every write');
		t.equal(app.status(), undefined, 'qemu-storage-daemon is still serving');
	});
}

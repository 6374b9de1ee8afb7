/*
 * QEMU's NBD server (Debian's qemu-nbd 7.2, `--aio=io_uring`: the image
 * file is read and written through an io_uring ring) serving a raw disk
 * image over a unix socket, checkpointed between client requests and
 * restored, twice.  Every client run (qemu-io writing known patterns) is
 * applied to a local reference image too; after each restore the served
 * disk must equal the reference (`qemu-img compare` over NBD, plus
 * pattern reads), writes after the restore must land, and they must go
 * through the restored ring.
 *
 * No client is connected while CRIU runs (a unix socket whose peer is
 * outside the dumped tree cannot be checkpointed).  qemu-nbd holds OFD
 * locks on the image: --file-locks on dump and restore.
 */
import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { scratch, waitFor } from '../lib/criu';
import {
	checkpointRestore, keepLogs, locksOnFile, readText, ringFds, runCmd, startApp, submittedTotal, uringErrors, which,
} from '../lib/apps';
import { exclusive } from '../lib/exclusive';

exclusive(t); /* a stress or podman file: never next to another one (test/lib/exclusive.ts) */

const QEMU_NBD = which('qemu-nbd');
const QEMU_IO = which('qemu-io');
const QEMU_IMG = which('qemu-img');

const LOCK_ARGS = ['--file-locks'];
const CYCLES = 2;

/** qemu-io commands of client run @n: pattern writes at offsets that differ per run, then read-backs. */
function clientRun(n: number): string[] {
	const p = (k: number): string => `0x${((n * 37 + k * 11) & 0xff).toString(16)}`;
	const mb = (x: number): string => `${x}M`;
	const base = (n - 1) * 8;
	return [
		`write -P ${p(1)} ${mb(base)} 4M`,
		`write -P ${p(2)} ${mb(base + 5)} 1M`,
		`write -P ${p(3)} ${base * 1024 * 1024 + 6 * 1024 * 1024 + 512} 4096`,
		/* overwrite part of the previous run's data */
		...(n > 1 ? [`write -P ${p(4)} ${mb(base - 6)} 2M`] : []),
	];
}

/** Pattern reads checking run @n's writes (the last writer of each range). */
function readChecks(n: number): string[] {
	return clientRun(n).map((c) => c.replace(/^write/, 'read'));
}

/** qemu-io -f raw -c CMD... @target (a file or an NBD URI). */
function qemuIo(target: string, cmds: string[], cwd: string): Promise<{ code: number; out: string }> {
	return runCmd(QEMU_IO!, ['-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), target], cwd, 60_000);
}

async function qemuCase(t: Test): Promise<void> {
	const s = scratch(t);
	const disk = s.file('disk.raw');
	const ref = s.file('ref.raw');
	const sock = s.file('nbd.sock');
	const uri = `nbd+unix:///?socket=${sock}`;
	for (const f of [disk, ref]) {
		const c = await runCmd(QEMU_IMG!, ['create', '-f', 'raw', f, '64M'], s.root);
		if (c.code !== 0) return void t.fail(`qemu-img create exited ${c.code}: ${c.out.trim()}`);
	}
	const app = startApp(t, s, QEMU_NBD!, ['-f', 'raw', '--aio=io_uring', '-t', '-k', sock, disk], 'qemu-nbd');
	await waitFor(() => existsSync(sock) || app.status() !== undefined, 'qemu-nbd to listen', 20_000);
	if (app.status() !== undefined) return void t.fail(`qemu-nbd exited ${app.status()}: ${readText(app.err).trim()}`);
	t.ok(ringFds(app.pid) >= 1, `qemu-nbd holds an io_uring fd (${ringFds(app.pid)})`);

	/* one client run: the same writes to the served disk and to the reference */
	const write = async (n: number, when: string): Promise<boolean> => {
		const before = submittedTotal(app.pid);
		const w = await qemuIo(uri, [...clientRun(n), ...readChecks(n)], s.root);
		const r = await qemuIo(ref, clientRun(n), s.root);
		if (r.code !== 0) throw new Error(`qemu-io on the reference exited ${r.code}: ${r.out.trim()}`);
		t.equal(w.code, 0, `${when}: client run ${n} writes and reads back over NBD ${w.code ? w.out.trim().slice(0, 300) : ''}`);
		const after = submittedTotal(app.pid);
		t.ok(after > before, `${when}: qemu-nbd served it through io_uring (ring SQ heads ${before} -> ${after})`);
		return w.code === 0;
	};
	const compare = async (when: string): Promise<void> => {
		const c = await runCmd(QEMU_IMG!, ['compare', '-f', 'raw', '-F', 'raw', ref, uri], s.root);
		t.equal(c.code, 0, `${when}: qemu-img compare finds the served disk identical to the reference (${c.out.trim()})`);
	};

	let run = 0;
	if (!await write(++run, 'before any checkpoint')) return;
	await compare('before any checkpoint');
	for (let cycle = 1; cycle <= CYCLES; cycle++) {
		const locks = locksOnFile(disk).length;
		const cr = await checkpointRestore(app, s.dir(`img${cycle}`), LOCK_ARGS, LOCK_ARGS);
		if (cr.problem) {
			t.fail(`checkpoint ${cycle}: ${cr.problem}`);
			const why = uringErrors((cr.restore ?? cr.dump).log);
			if (why.length) t.comment(`plugin said: ${why.join(' | ')}`);
			if (!cr.restore) await compare('after the refused dump (server left running)');
			t.comment(`logs kept in ${keepLogs(`qemu-nbd${cycle}`, cr)}.*`);
			return;
		}
		t.pass(`checkpoint ${cycle}: dumped and restored qemu-nbd (wrapper pid ${app.pid})`);
		t.equal(locksOnFile(disk).length, locks, `checkpoint ${cycle}: its ${locks} lock(s) on the image are back`);
		await compare(`after restore ${cycle}`);
		const reads = await qemuIo(uri, readChecks(run), s.root);
		t.equal(reads.code, 0, `after restore ${cycle}: the last run's patterns read back ${reads.code ? reads.out.trim().slice(0, 300) : ''}`);
		if (!await write(++run, `after restore ${cycle}`)) return;
		await compare(`after restore ${cycle} and new writes`);
	}
	t.equal(app.status(), undefined, 'qemu-nbd is still serving');
}

const missing = [['qemu-nbd', QEMU_NBD], ['qemu-io', QEMU_IO], ['qemu-img', QEMU_IMG]].filter(([, p]) => !p).map(([n]) => n);
if (missing.length) {
	t.test('qemu-nbd', { skip: `${missing.join(', ')} not installed (scripts/install-deps.sh installs qemu-utils)` }, () => undefined);
} else if (process.getuid?.() !== 0) {
	t.test('qemu-nbd', { skip: 'CRIU needs root' }, () => undefined);
} else {
	t.test('qemu-nbd --aio=io_uring: checkpoint between NBD clients, restore twice, disk intact, writes after restore', qemuCase);
}

/*
 * The restore plan the dump saves next to the images
 * (io_uring-restore.plan, src/plugin/saved-plan.ts, plugin-c/saved_plan.c,
 * docs/saved-plan.md): a restore on the kernel the dump ran on runs it
 * without starting the Node helper; whenever the plan was not made for
 * these images on this kernel, the helper plans the restore as before,
 * and the process comes back all the same.
 */
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { RestoreSession } from '../src/plugin/restore';
import { fileRef } from '../src/plugin/saved-plan';
import { criuDump, criuRestore, describeRun, finishVerified, isAlive, scratch, startWithTruth, waitForExit, type Scratch } from './lib/criu';

const PLAN = 'io_uring-restore.plan';
const USED = /restore plan of the dump used \(1 process\(es\), no helper\)/;
const HELPER = /io_uring: helper ready/;

/* cr_rw dumped with the plugin (killed by the dump): its pid and image dir. */
async function dumped(t: Test, s: Scratch, env: Record<string, string> = {}): Promise<{ pid: number; dir: string } | null> {
	const { pid } = await startWithTruth(s, 'cr_rw', ['--advance', '1000']);
	const dir = s.dir('img');
	const d = await criuDump({ pid, imagesDir: dir, plugins: true, env });
	if (!t.equal(d.code, 0, describeRun('dump', d))) return null;
	await waitForExit(pid);
	return { pid, dir };
}

/* Restore and check that the program comes back whole; the restore log is returned. */
async function restoredWhole(t: Test, s: Scratch, pid: number, dir: string, env: Record<string, string> = {}): Promise<string> {
	const r = await criuRestore({ imagesDir: dir, plugins: true, env });
	if (t.equal(r.code, 0, describeRun('restore', r)) && t.ok(isAlive(pid), 'the process runs again'))
		await finishVerified(t, s, 'cr_rw', pid);
	return r.log;
}

/* Change the plan with @edit and give it a valid checksum again, as a plan made elsewhere would have. */
function rewritePlan(dir: string, edit: (body: string) => string): void {
	const text = readFileSync(path.join(dir, PLAN), 'utf8');
	const body = edit(text.slice(0, text.lastIndexOf('sha256 ')));
	writeFileSync(path.join(dir, PLAN), body + `sha256 ${createHash('sha256').update(body).digest('hex')}\n`);
}

t.test('the dump saves the plan the helper would make, and the restore runs it without the helper', async (t) => {
	const s = scratch(t);
	const d = await dumped(t, s);
	if (!d) return;
	const text = readFileSync(path.join(d.dir, PLAN), 'utf8');
	const session = new RestoreSession(d.dir, true, true);
	const steps = session.namespacePlans(fileRef(session.imageFiles)).get(d.pid)!;
	t.match(text, `\nprocess ${d.pid} ${steps.length}\n${steps.join('\n')}\nend\n`, 'the saved steps are the restore planner\'s own');
	/* the ring and SQE bytes are named by where they lie in the image: the very bytes of the planner's hex writes */
	const hex = session.namespacePlans().get(d.pid)!;
	const refs = steps.flatMap((line, i) => (line.startsWith('writeimg ') ? [[line, hex[i]]] : []));
	t.ok(refs.length >= 2, `the ring and SQE regions are writeimg steps (${refs.length})`);
	for (const [line, want] of refs) {
		const [, addr, name, off, len] = line.split(' ');
		const bytes = readFileSync(path.join(d.dir, name)).subarray(Number(off), Number(off) + Number(len));
		t.equal(`write ${addr} ${bytes.toString('hex')}`, want, `${line}: the bytes the helper's plan writes`);
	}
	t.match(text, `\nextfiles ${session.ringFileIds().join(' ')}\n`, 'with the ring fds CRIU hands over');
	const log = await restoredWhole(t, s, d.pid, d.dir);
	t.match(log, USED, 'the restore used the saved plan');
	t.notMatch(log, HELPER, 'and started no helper');
});

/* Each way a saved plan does not fit: the helper plans instead, and the process comes back. */
const MISFITS: [string, (dir: string, pid: number) => void, RegExp][] = [
	['a damaged plan', (dir) => {
		const file = path.join(dir, PLAN);
		writeFileSync(file, readFileSync(file, 'utf8').replace(/\ntask (\d+)\n/, '\ntask 1$1\n'));
	}, /not used \(it is damaged\)/],
	['a plan made on another kernel', (dir) => rewritePlan(dir, (b) => b.replace(/^kernel .*$/m, 'kernel 5.4.0-other')),
		/not used \(it was made on another kernel\)/],
	['a plan made with another CPU count', (dir) => rewritePlan(dir, (b) => b.replace(/^cpus \d+$/m, 'cpus 977')),
		/not used \(it was made with another number of CPUs\)/],
	['a plan in the older format (hex bytes only)', (dir) => rewritePlan(dir, (b) => b.replace(/^criu-uring saved plan \d+$/m, 'criu-uring saved plan 1')),
		/not used \(it is in another format/],
	['a plan of another build', (dir) => rewritePlan(dir, (b) => b.replace(/^protocol .*$/m, 'protocol criu-uring-0')),
		/not used \(another build of criu-uring made it\)/],
	['an image that is not the one the plan was made from', (dir, pid) => rewritePlan(dir, (b) =>
		b.replace(new RegExp(`^image io_uring-${pid}\\.img [0-9a-f]+$`, 'm'), `image io_uring-${pid}.img ${'0'.repeat(64)}`)),
	/not used \(an image differs from the one it was made from\)/],
	['an io_uring image the plan does not name', (dir, pid) => writeFileSync(path.join(dir, `io_uring-${pid + 100000}.img`),
		readFileSync(path.join(dir, `io_uring-${pid}.img`))), /not used \(the directory holds io_uring images it was not made from\)/],
	['no plan', (dir) => writeFileSync(path.join(dir, PLAN), ''), /not used \(it is damaged\)/],
	['a damaged image (its envelope header as the plan names it)', (dir, pid) => {
		const file = path.join(dir, `io_uring-${pid}.img`);
		const bytes = readFileSync(file);
		bytes[bytes.length - 1] ^= 1;
		writeFileSync(file, bytes);
	}, /not used \(an image differs from the one it was made from\)/],
];

for (const [what, spoil, why] of MISFITS) {
	t.test(`${what}: the helper plans the restore`, async (t) => {
		const s = scratch(t);
		const d = await dumped(t, s);
		if (!d) return;
		spoil(d.dir, d.pid);
		if (what.startsWith('an io_uring image the plan') || what.startsWith('a damaged image')) {
			/* the helper refuses those images (an image without a process, a checksum mismatch): the fallback itself is what is checked */
			const r = await criuRestore({ imagesDir: d.dir, plugins: true });
			t.match(r.log, why, 'the log says why the saved plan is not used');
			t.match(r.log, HELPER, 'the helper was started');
			t.not(r.code, 0, 'and refused the images as without a saved plan');
			return;
		}
		const log = await restoredWhole(t, s, d.pid, d.dir);
		t.match(log, why, 'the log says why the saved plan is not used');
		t.match(log, HELPER, 'the helper planned the restore');
	});
}

t.test('CRIU_URING_SAVED_PLAN=0: the dump saves none, and a restore with it set uses none', async (t) => {
	const s = scratch(t);
	const d = await dumped(t, s, { CRIU_URING_SAVED_PLAN: '0' });
	if (!d) return;
	t.notOk(existsSync(path.join(d.dir, PLAN)), 'no plan saved');
	const log = await restoredWhole(t, s, d.pid, d.dir);
	t.match(log, /not used \(the dump saved none\)/, 'the restore says there is none');

	const s2 = scratch(t);
	const d2 = await dumped(t, s2);
	if (!d2) return;
	t.ok(existsSync(path.join(d2.dir, PLAN)), 'saved by default');
	const log2 = await restoredWhole(t, s2, d2.pid, d2.dir, { CRIU_URING_SAVED_PLAN: '0' });
	t.match(log2, /not used \(CRIU_URING_SAVED_PLAN=0\)/, 'the restore says it was told not to use it');
	t.match(log2, HELPER, 'the helper planned the restore');
});

t.test('a dump of 100 rings saves a plan, and the restore runs it', async (t) => {
	const s = scratch(t);
	const { pid } = await startWithTruth(s, 'bench_rings', ['100', '0']);
	const dir = s.dir('img');
	const d = await criuDump({ pid, imagesDir: dir, plugins: true });
	if (!t.equal(d.code, 0, describeRun('dump', d))) return;
	t.match(d.log, /restore plan saved in io_uring-restore\.plan/, 'the dump saved a plan');
	const text = readFileSync(path.join(dir, PLAN), 'utf8');
	t.equal(text.match(/^writeimg /gm)?.length, 200, 'each ring\'s ring and SQE bytes named in the image, not copied into the plan');
	await waitForExit(pid);
	const r = await criuRestore({ imagesDir: dir, plugins: true });
	t.equal(r.code, 0, describeRun('restore', r));
	t.match(r.log, USED, 'the restore used the saved plan');
	t.notMatch(r.log, HELPER, 'and started no helper');
	t.ok(isAlive(pid), 'the process runs again');
	t.equal(readdirSync(`/proc/${pid}/fd`).map((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`)).filter((l) => l === 'anon_inode:[io_uring]').length, 100,
		'with its 100 rings');
});

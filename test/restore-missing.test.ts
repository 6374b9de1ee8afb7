/*
 * A restore that lacks what the dump recorded fails before any task is
 * created, with an error that says what is missing:
 *  - the plugin itself: the dump names "io_uring" in CRIU's inventory, so
 *    CRIU refuses with its own "Missing required plugin" (and a dump
 *    without rings does not, so such images restore without the plugin);
 *  - an io_uring image, or the io_uring-files.img that lists them.
 */
import t, { type Test } from 'tap';
import { copyFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { criuDump, criuErrors, criuRestore, describeRun, isAlive, scratch, startWithTruth, waitForExit, type Scratch } from './lib/criu';

/* Dump cr_rw with the plugin (the process is gone afterwards); returns its pid and the image dir. */
async function dumped(t: Test, s: Scratch): Promise<{ pid: number; dir: string } | null> {
	const { pid } = await startWithTruth(s, 'cr_rw', ['--advance', '100']);
	const dir = s.dir('img');
	const d = await criuDump({ pid, imagesDir: dir, plugins: true });
	if (!t.equal(d.code, 0, describeRun('dump', d))) return null;
	await waitForExit(pid);
	return { pid, dir };
}

/* A copy of the images without the files @drop names. */
function without(s: Scratch, dir: string, name: string, drop: (f: string) => boolean): string {
	const out = s.dir(name);
	for (const f of readdirSync(dir)) if (f.endsWith('.img') && !drop(f)) copyFileSync(path.join(dir, f), path.join(out, f));
	return out;
}

t.test('restoring io_uring images without the plugin fails: CRIU names the missing plugin', async (t) => {
	const s = scratch(t);
	const d = await dumped(t, s);
	if (!d) return;
	const empty = s.dir('no-plugins');
	const r = await criuRestore({ imagesDir: d.dir, plugins: empty });
	t.not(r.code, 0, 'restore fails');
	t.match(r.log, /Missing required plugin: io_uring/, "CRIU's error names the plugin");
	t.notMatch(r.log, /Forking task/, 'before any task is forked');
	t.notOk(isAlive(d.pid), 'nothing runs');
});

t.test('a dump without rings does not require the plugin', async (t) => {
	const s = scratch(t);
	const pid = s.spawnProg('plain_sleeper', [s.file('progress')]);
	await new Promise((r) => setTimeout(r, 200));
	const dir = s.dir('img');
	const d = await criuDump({ pid, imagesDir: dir, plugins: true });
	if (!t.equal(d.code, 0, describeRun('dump', d))) return;
	await waitForExit(pid);
	const r = await criuRestore({ imagesDir: dir, plugins: s.dir('no-plugins') });
	t.equal(r.code, 0, describeRun('restore without the plugin', r));
	t.ok(isAlive(pid), 'the process runs');
});

t.test('a missing io_uring image fails the restore before any task exists, naming the file and pid', async (t) => {
	const s = scratch(t);
	const d = await dumped(t, s);
	if (!d) return;
	const dir = without(s, d.dir, 'img-no-ring', (f) => f === `io_uring-${d.pid}.img`);
	const r = await criuRestore({ imagesDir: dir, plugins: true });
	t.not(r.code, 0, 'restore fails');
	const errs = criuErrors(r.log).filter((l) => /io_uring/.test(l));
	t.ok(errs.some((l) => l.includes(`io_uring-${d.pid}.img is missing`) && l.includes(`process ${d.pid}`)), `one error line names the file and the pid: ${errs.join(' | ')}`);
	t.notMatch(r.log, /Forking task/, 'before any task is forked');
	t.notOk(isAlive(d.pid), 'nothing runs');
});

t.test('a missing io_uring-files.img fails the restore before any task exists', async (t) => {
	const s = scratch(t);
	const d = await dumped(t, s);
	if (!d) return;
	const dir = without(s, d.dir, 'img-no-files', (f) => f === 'io_uring-files.img');
	const r = await criuRestore({ imagesDir: dir, plugins: true });
	t.not(r.code, 0, 'restore fails');
	t.match(r.log, /io_uring-files\.img is missing/, 'the error names the file');
	t.notMatch(r.log, /Forking task/, 'before any task is forked');
	t.notOk(isAlive(d.pid), 'nothing runs');
	const all = without(s, d.dir, 'img-none', (f) => f.startsWith('io_uring-'));
	const r2 = await criuRestore({ imagesDir: all, plugins: true });
	t.not(r2.code, 0, 'restore with every io_uring image gone fails too');
	t.match(r2.log, /io_uring-files\.img is missing/, 'naming the list of images');
	t.notOk(isAlive(d.pid), 'nothing runs');
});

t.test('images of a process CRIU does not restore fail the restore and kill the tree', async (t) => {
	const s = scratch(t);
	const a = await dumped(t, s);
	if (!a) return;
	const other = scratch(t);
	const b = await dumped(t, other);
	if (!b) return;
	/* the rings of b would never be rebuilt: no task may run as if they were */
	copyFileSync(path.join(b.dir, `io_uring-${b.pid}.img`), path.join(a.dir, `io_uring-${b.pid}.img`));
	const r = await criuRestore({ imagesDir: a.dir, plugins: true });
	t.not(r.code, 0, 'restore fails');
	t.match(r.log, new RegExp(`process\\(es\\) ${b.pid} had io_uring rings at dump .* not among the restored tasks`), 'the error names the process');
	t.notOk(isAlive(a.pid), 'the restored tree was killed');
});

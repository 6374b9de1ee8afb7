/*
 * criu pre-dump of a process with io_uring rings.  Rings must not break
 * pre-dump: the plugin starts for the pre-dump stage, claims the ring
 * mappings (DUMP_EXT_VMA, criu-patches/0002) so CRIU neither reads them nor
 * fails on /proc/PID/map_files, and the process is left running.
 *
 * This kernel has no soft-dirty tracking, so CRIU's pre-dump cannot track
 * memory for any process: it aborts at "BUG at criu/mem.c:46", for a plain
 * process too.  What this test can check here: the io_uring part of
 * pre-dump ran, the failure is exactly that kernel limitation (the same
 * error as a process without io_uring), the process keeps running
 * unharmed, and a full dump + restore afterwards works.  On a kernel with
 * soft-dirty the pre-dump must succeed and the dump built on it
 * (--prev-images-dir) must restore.
 */
import t from 'tap';
import path from 'node:path';
import { criuErrors, dumpAndRestore, finishVerified, isAlive, lastCount, PLUGIN_DIR, runCriu, scratch, startWithTruth, waitFor } from './lib/criu';
import { inspectPid } from './lib/progs';

const NO_SOFT_DIRTY = /BUG at criu\/mem\.c:46/;

function preDump(pid: number, dir: string, plugins: boolean) {
	const log = path.join(dir, 'pre-dump.log');
	return runCriu(['pre-dump', '-t', String(pid), '-D', dir, '-v4', '-o', log, ...(plugins ? ['-L', PLUGIN_DIR] : [])], log, dir);
}

t.test('pre-dump of a process with rings', async (t) => {
	const s = scratch(t);
	const { pid } = await startWithTruth(s, 'cr_rw');
	const before = inspectPid(pid);
	t.ok(before.rings.length > 0, 'the process has rings');
	const pre = await preDump(pid, s.dir('pre'), true);
	t.match(pre.log, /io_uring: plugin initialised for pre-dump/, 'the plugin runs for pre-dump');
	t.match(pre.log, /\(anon_inode:\[io_uring\]\) is owned by a plugin/, 'the ring mappings are claimed by the plugin');
	t.notMatch(pre.log, /Unknown shit|Can't open PID's mapfile link/, 'CRIU does not trip over the ring mappings');
	if (pre.code !== 0) {
		t.same(criuErrors(pre.log).filter((e) => !NO_SOFT_DIRTY.test(e)), [], 'the only error is the missing soft-dirty tracking');
		t.match(pre.log, NO_SOFT_DIRTY, 'pre-dump stopped at the soft-dirty check');
		/* the same kernel limitation stops a process without io_uring the same way */
		const progress = s.file('progress');
		const plain = s.spawnProg('plain_sleeper', [progress]);
		await waitFor(() => lastCount(progress) >= 2, 'plain_sleeper to start counting');
		const control = await preDump(plain, s.dir('pre-plain'), false);
		t.not(control.code, 0, 'pre-dump of a process without io_uring fails too');
		t.match(control.log, NO_SOFT_DIRTY, 'at the same place');
		process.kill(plain, 'SIGKILL');
		t.ok(isAlive(pid), 'the process with rings still runs');
		t.same(inspectPid(pid).rings, before.rings, 'its rings are exactly as before the pre-dump');
		if (!(await dumpAndRestore(t, s, pid))) return;
	} else {
		if (!(await dumpAndRestore(t, s, pid, { dumpArgs: ['--prev-images-dir', '../pre', '--track-mem'] }))) return;
	}
	await finishVerified(t, s, 'cr_rw', pid);
});

/*
 * Node.js (the node running this test, 20 here) with UV_USE_IO_URING=1:
 * libuv sends file reads and writes through an SQPOLL ring and watches
 * the ring fd with its epoll set (events EPOLLIN).  test/apps/node-fileio.js
 * writes, reads back and checks 4 KiB blocks in a loop; it is checkpointed
 * mid-run, restored, must keep going through its restored rings and
 * finish with every block right and exit status 0.
 *
 * Before the fix of issue 12 the dump succeeded but every restore failed
 * in CRIU's epoll restore (EPERM: the ring fd held a /dev/null placeholder).
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { scratch, waitFor } from '../lib/criu';
import { checkpointRestore, keepLogs, readText, ringFds, ringSummary, startApp, submittedTotal, treeOf, uringErrors } from '../lib/apps';
import { captureProcess } from '../../src/capture';
import { ROOT } from '../../src/util/paths';
import { exclusive } from '../lib/exclusive';

exclusive(t); /* a stress or podman file: never next to another one (test/lib/exclusive.ts) */

const SCRIPT = path.join(ROOT, 'test', 'apps', 'node-fileio.js');

/* Last round the script finished; -1 before the first. */
function progress(dir: string): number {
	try {
		const text = readFileSync(path.join(dir, 'progress'), 'utf8').trim();
		return text === '' ? -1 : Number(text);
	} catch {
		return -1;
	}
}

/* Rings of the tree that an epoll set watches, and those watches. */
function watchedRings(root: number): { rings: number; watched: number } {
	let rings = 0, watched = 0;
	for (const pid of treeOf(root)) {
		try {
			for (const r of captureProcess(pid).rings) {
				rings++;
				if (r.epoll_watches.length) watched++;
			}
		} catch {
			/* gone, or no rings */
		}
	}
	return { rings, watched };
}

t.test('node with UV_USE_IO_URING=1 doing file I/O, checkpointed mid-run', async (t) => {
	const s = scratch(t);
	const dir = s.dir('work');
	const app = startApp(t, s, process.execPath, [SCRIPT, dir], 'node', { ...process.env, UV_USE_IO_URING: '1' });
	await waitFor(() => progress(dir) >= 300 || app.status() !== undefined, 'node to do 300 rounds of file I/O', 60_000);
	t.equal(app.status(), undefined, `node is running (stderr: ${readText(app.err).trim().slice(0, 300)})`);
	t.ok(ringFds(app.pid) >= 1, 'node holds io_uring rings');
	const w = watchedRings(app.pid);
	t.ok(w.watched >= 1, `libuv's epoll set watches its ring (${w.watched} of ${w.rings} rings watched)`);
	const submitted = submittedTotal(app.pid);
	const before = progress(dir);

	const cr = await checkpointRestore(app, s.dir('img'));
	if (cr.problem) {
		t.fail(cr.problem);
		const why = uringErrors((cr.restore ?? cr.dump).log);
		if (why.length) t.comment(`plugin said: ${why.join(' | ')}`);
		t.comment(`logs kept in ${keepLogs('node', cr)}.*`);
		return;
	}
	const at = progress(dir);
	t.ok(at >= before, `checkpointed at round ${at} and restored pid ${app.pid}`);
	try {
		await waitFor(() => progress(dir) >= at + 300 || app.status() !== undefined, 'node to do 300 more rounds', 60_000);
	} catch (e) {
		t.fail(`${(e as Error).message}; rings now: ${ringSummary(app.pid).join('; ')}; logs kept in ${keepLogs('node', cr)}.*`);
		return;
	}
	t.equal(app.status(), undefined, `node keeps running after the restore (stderr: ${readText(app.err).trim().slice(0, 300)})`);
	t.ok(submittedTotal(app.pid) > submitted, 'the restored rings take requests');
	writeFileSync(path.join(dir, 'stop'), '');
	const status = await app.exitStatus(60_000);
	t.equal(status, 0, `node exited 0 (stderr: ${readText(app.err).trim().slice(0, 300)})`);
	t.match(readText(app.out), /^verified \d+$/m, 'every block it wrote reads back right');
	t.equal(readText(app.err), '', 'nothing on stderr');
});

/*
 * Two SQPOLL rings sharing one poller thread (ATTACH_WQ) come back sharing
 * one thread again (test/progs/cr_attach.c verifies itself).
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { criuDump, criuRestore, describeRun, isAlive, scratch, waitFor, waitForExit } from './lib/criu';
import { inspectPid } from './lib/progs';

interface Ring { setup_flags: number; sqpoll: { thread_pid: number; shared_with: number[] } | null; sq: object; cq: object; mappings: object[]; fds: number[] }

t.test('ATTACH_WQ rings share one SQPOLL thread after restore', async (t) => {
	const s = scratch(t);
	const truthFile = s.file('truth.json');
	process.env.TRUTH_FILE = truthFile;
	const pid = s.spawnProg('cr_attach', []);
	delete process.env.TRUTH_FILE;
	await waitFor(() => existsSync(truthFile) || !isAlive(pid), 'cr_attach to start');
	const shape = (rings: Ring[]) => rings.map((r) => ({ flags: r.setup_flags, sharing: r.sqpoll?.shared_with.length, sq: r.sq, cq: r.cq, mappings: r.mappings, fds: r.fds }));
	const before = inspectPid(pid).rings as Ring[];
	const dir = s.dir('img');
	const d = await criuDump({ pid, imagesDir: dir, plugins: true });
	if (!t.equal(d.code, 0, describeRun('dump', d))) return;
	await waitForExit(pid);
	const r = await criuRestore({ imagesDir: dir, plugins: true });
	if (!t.equal(r.code, 0, describeRun('restore', r))) return;
	const after = inspectPid(pid).rings as Ring[];
	for (const x of [...before, ...after]) (x.sq as { flags: number }).flags &= ~1; /* NEED_WAKEUP comes and goes */
	t.same(shape(after), shape(before), 'same flags, sharing, indices, mappings and fds');
	t.equal(new Set(after.map((x) => x.sqpoll?.thread_pid)).size, 1, 'both rings are served by one poller thread');
	process.kill(pid, 'SIGUSR1');
	await waitForExit(pid, 30_000);
	t.equal(s.stderrOf('cr_attach'), '', 'both rings complete NOPs, one iou-sqp thread');
	t.match(readFileSync(s.file('cr_attach.out'), 'utf8'), /verified/);
});

/*
 * A completion that exists only as DEFER_TASKRUN task work at the
 * checkpoint (test/progs/cr_taskwork.c): the capture must see it as in
 * flight, the dump must let it be posted (GETEVENTS injected into the
 * frozen owner) and the image must carry the CQE.  Without that the
 * restored program waits forever for a completion that was lost.
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { criuDump, criuRestore, describeRun, isAlive, scratch, waitFor, waitForExit } from './lib/criu';
import { inspectPid } from './lib/progs';

t.test('a completion waiting as local task work survives the checkpoint', async (t) => {
	const s = scratch(t);
	const truthFile = s.file('truth.json');
	process.env.TRUTH_FILE = truthFile;
	const pid = s.spawnProg('cr_taskwork', ['--flags', '3000']);
	delete process.env.TRUTH_FILE;
	await waitFor(() => existsSync(truthFile) || !isAlive(pid), 'cr_taskwork to start');
	const truth = JSON.parse(readFileSync(truthFile, 'utf8'));
	t.equal(truth.cq_ready_before, 0, 'the CQE is not posted yet when the checkpoint starts');
	const ring = inspectPid(pid).rings[0];
	t.same(ring.inflight.map((q: { state: string; user_data: string }) => [q.state, q.user_data]), [['task_work', String(0x7a5c)]],
		'inspect shows the completed read waiting in task work');
	const dir = s.dir('img');
	const d = await criuDump({ pid, imagesDir: dir, plugins: true });
	if (!t.equal(d.code, 0, describeRun('dump', d))) return;
	await waitForExit(pid);
	const r = await criuRestore({ imagesDir: dir, plugins: true });
	if (!t.equal(r.code, 0, describeRun('restore', r))) return;
	const after = inspectPid(pid).rings[0];
	t.same(after.cqes.map((c: { user_data: string; res: number }) => [c.user_data, c.res]), [[String(0x7a5c), 4096]],
		'the restored ring holds the posted CQE');
	t.same(after.inflight, [], 'nothing in flight after the restore');
	process.kill(pid, 'SIGUSR1');
	await waitForExit(pid, 30_000);
	t.equal(s.stderrOf('cr_taskwork'), '', 'the program got its completion with the right data');
	t.match(readFileSync(s.file('cr_taskwork.out'), 'utf8'), /verified/);
});

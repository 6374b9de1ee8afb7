/*
 * Slow (npm run test:slow): a ring whose indices sit just below 2^32 is
 * dumped and restored, and continues across the wrap.
 *
 * test/progs/cr_rw advances its ring by 2^32 - 60 NOPs (plus 17 of its own
 * ops), leaving the SQ head and CQ tail 43 below 2^32; the restore must
 * bring the kernel's cached indices of a fresh ring there too (about 2^32
 * operations in the task), then the program's 65 verified ops after the
 * restore cross 2^32.  Several tens of minutes on 2 cores: the program's
 * own advance runs at roughly 2 M NOPs/s (docs/benchmarks.md).
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { criuDump, criuRestore, describeRun, isAlive, scratch, waitFor, waitForExit } from '../lib/criu';
import { inspectPid } from '../lib/progs';

const ADVANCE = 2 ** 32 - 60;
const OWN_OPS = 17; /* cr_rw: 16 block writes during setup + the unreaped NOP */
const HOUR = 3600_000;

t.test('indices 43 below 2^32 survive dump + restore and continue across the wrap', { timeout: 3 * HOUR }, async (t) => {
	const s = scratch(t);
	const truthFile = s.file('truth.json');
	process.env.TRUTH_FILE = truthFile;
	const pid = s.spawnProg('cr_rw', ['--entries', '256', '--advance', String(ADVANCE)]);
	delete process.env.TRUTH_FILE;
	await waitFor(() => existsSync(truthFile) || !isAlive(pid), 'cr_rw to advance to 2^32 - 43', 2 * HOUR);
	if (!existsSync(truthFile)) throw new Error(`cr_rw exited early: ${s.stderrOf('cr_rw')}`);
	const truth = JSON.parse(readFileSync(truthFile, 'utf8'));
	t.equal(truth.sq_head, ADVANCE + OWN_OPS, 'the program left its SQ head just below 2^32');
	t.ok(2 ** 32 - truth.sq_head < 65, 'its 65 ops after the restore will cross 2^32');

	const dir = s.dir('img');
	const d = await criuDump({ pid, imagesDir: dir, plugins: true });
	if (!t.equal(d.code, 0, describeRun('dump', d))) return;
	await waitForExit(pid);
	const r = await criuRestore({ imagesDir: dir, plugins: true, timeoutMs: HOUR });
	if (!t.equal(r.code, 0, describeRun('restore', r))) return;
	const m = /advance the kernel indices: (\d+) operations in ([\d.]+) s/.exec(r.log);
	if (m) t.comment(`restore advance: ${m[1]} operations in ${m[2]} s`);
	const ring = inspectPid(pid).rings[0];
	t.equal(ring.sq.cached_head, truth.sq_head, 'kernel cached SQ head restored just below 2^32');
	t.equal(ring.cq.cached_tail, truth.cq_tail, 'kernel cached CQ tail restored just below 2^32');

	process.kill(pid, 'SIGUSR1');
	await waitForExit(pid, 60_000);
	t.equal(s.stderrOf('cr_rw'), '', 'every op across the wrap verified');
	t.match(readFileSync(s.file('cr_rw.out'), 'utf8'), /verified/, 'the program verified its ring after the wrap');
});

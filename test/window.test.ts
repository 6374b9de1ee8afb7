/*
 * The completion-loss window (docs/inflight.md, "Events while the tree is
 * stopped"): an event for a re-armed request after the plugin captured
 * the ring and before CRIU dumped the file it came from.  On a ring
 * without DEFER_TASKRUN the poll wakeup's task work runs when CRIU's
 * parasite first returns the frozen thread to user space: the data leaves
 * the FIFO before CRIU dumps it, and its completion is posted after the
 * capture, so neither is in the images.  The plugin checks every ring
 * again once CRIU has dumped all files and memory (DUMP_DEVICES_LATE,
 * criu-patches/0005) and fails the dump if one changed; the process runs
 * on with its completion.
 *
 * test/progs/cr_window arms a READ on a FIFO; the test hook
 * CRIU_URING_TEST_AFTER_CAPTURE writes into the FIFO right after the
 * capture, every time: the event falls in the window deterministically.
 * Without the check the dump succeeds and the restored program never
 * gets its data.
 */
import t from 'tap';
import { criuDump, dumpAndRestore, finishVerified, isAlive, scratch, startWithTruth } from './lib/criu';
import { inspectPid } from './lib/progs';

const TEXT = 'sent-in-the-window';

const start = async (s: ReturnType<typeof scratch>, flags: string): Promise<{ pid: number; hook: string }> => {
	const fifo = s.file('window.fifo');
	const { pid } = await startWithTruth(s, 'cr_window', ['--flags', flags, '--fifo', fifo, '--expect', TEXT]);
	return { pid, hook: `printf %s '${TEXT}' > '${fifo}'` };
};

for (const leave of [false, true]) {
	t.test(`an event after the capture fails the dump, the process keeps its completion (plain ring${leave ? ', --leave-running' : ''})`, async (t) => {
		const s = scratch(t);
		const { pid, hook } = await start(s, '0');
		t.same(inspectPid(pid).rings[0].inflight.map((q: { user_data: string; rearm?: { ok: boolean } }) => [q.user_data, q.rearm?.ok]),
			[[String(0x3a1), true]], 'the READ is armed and re-armable');
		const dir = s.dir('img');
		const d = await criuDump({ pid, imagesDir: dir, plugins: true, extraArgs: leave ? ['--leave-running'] : [],
			env: { CRIU_URING_TEST_AFTER_CAPTURE: hook } });
		const log = d.log;
		t.not(d.code, 0, 'the dump fails');
		t.match(log, /io_uring: .*ring \d+ changed after it was captured: a completion \(user_data 929, res 18\) was posted/,
			'its log names the ring and the completion in one line');
		t.ok(isAlive(pid), 'the process runs on');
		await finishVerified(t, s, 'cr_window', pid); /* its completion, once, with the data */
	});
}

t.test('an event after the capture on a DEFER_TASKRUN ring waits in the FIFO: dump, restore, delivered once', async (t) => {
	const s = scratch(t);
	const { pid, hook } = await start(s, '3000');
	if (!(await dumpAndRestore(t, s, pid, { dumpEnv: { CRIU_URING_TEST_AFTER_CAPTURE: hook } }))) return;
	await finishVerified(t, s, 'cr_window', pid);
});
